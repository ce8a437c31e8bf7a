"""Consoles: the terminal (rich, live progress), plain lines (not a TTY), and JSON for machines.
All three receive the same runner events; the CLI picks one."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from headwater.runner.events import Run, RunListener, Unit, UnitResult

STATUS_STYLE = {
    "success": ("OK", "green"), "pass": ("PASS", "green"), "warn": ("WARN", "yellow"),
    "fail": ("FAIL", "red"), "error": ("ERROR", "red"), "skipped": ("SKIP", "dim"),
}  # fmt: skip


def _describe(result: UnitResult) -> str:
    mat = result.materialized or result.resource_type
    label = {
        "load": "source load",
        "lake_source": "lake source",
        "seed": "seed",
        "test": "test",
    }.get(mat, mat)
    return f"{label} {result.name}"


def _detail(result: UnitResult) -> str:
    parts = []
    if result.rows is not None:
        parts.append(f"{result.rows:,} rows")
    if result.rejected:
        parts.append(f"{result.rejected:,} rejected")
    if result.status != "skipped":
        parts.append(f"{result.duration:.2f}s")
    return ", ".join(parts)


class PlainConsole(RunListener):
    """One line per finished unit; for logs and pipes."""

    def __init__(self, stream: IO[str] | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.started = time.perf_counter()

    def print(self, text: str = "") -> None:
        print(text, file=self.stream)

    def run_started(self, run: Run, units: Sequence[Unit]) -> None:
        if not self.quiet:
            self.print(f"Running {len(units)} {'unit' if len(units) == 1 else 'units'}")

    def unit_started(self, unit: Unit, result: UnitResult) -> None:
        pass

    def unit_finished(self, unit: Unit, result: UnitResult, index: int, total: int) -> None:
        if self.quiet:
            return
        label, _ = STATUS_STYLE.get(result.status, (result.status.upper(), ""))
        width = len(str(total))
        line = (
            f"{time.strftime('%H:%M:%S')} [{index:>{width}}/{total}] {label:<5} {_describe(result)}"
        )
        detail = _detail(result)
        self.print(line + (f" ({detail})" if detail else ""))
        for msg in _messages(result):
            self.print(f"{'':>{width * 2 + 12}}{msg}")

    def run_finished(self, run: Run, results: Sequence[UnitResult], status: str) -> None:
        self.finish()

    def finish(self) -> None:
        """Stop live output (progress bars); lines printed stay."""


class RichConsole(PlainConsole):
    """Live progress bar with the running nodes; finished units scroll above it."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        super().__init__(quiet=quiet)
        self.console = Console(highlight=False)
        self.progress: Any = None
        self.task: Any = None
        self.running: dict[str, str] = {}

    def print(self, text: str = "") -> None:
        self.console.print(text, markup=False)

    def run_started(self, run: Run, units: Sequence[Unit]) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=self.console, transient=True,
        )  # fmt: skip
        self.task = self.progress.add_task("starting", total=len(units))
        self.progress.start()

    def unit_started(self, unit: Unit, result: UnitResult) -> None:
        self.running[unit.id] = unit.name
        self._describe_running()

    def _describe_running(self) -> None:
        if self.progress is not None:
            names = list(self.running.values())
            text = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
            self.progress.update(self.task, description=text or "…")

    def unit_finished(self, unit: Unit, result: UnitResult, index: int, total: int) -> None:
        self.running.pop(unit.id, None)
        label, style = STATUS_STYLE.get(result.status, (result.status.upper(), ""))
        if not self.quiet:
            from rich.text import Text

            line = Text()
            line.append(f"{label:<5} ", style=f"bold {style}")
            line.append(_describe(result))
            detail = _detail(result)
            if detail:
                line.append(f"  {detail}", style="dim")
            self.console.print(line)
            for msg in _messages(result):
                self.console.print(
                    Text("      " + msg, style=style if result.status != "skipped" else "dim")
                )
        if self.progress is not None:
            self.progress.advance(self.task)
            self._describe_running()

    def finish(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class NullConsole(PlainConsole):
    def __init__(self) -> None:
        super().__init__(quiet=True)

    def print(self, text: str = "") -> None:
        pass


def _messages(result: UnitResult) -> list[str]:
    out = []
    if result.status in ("error", "skipped", "fail") and result.message:
        out.append(result.message.splitlines()[0] if result.status == "skipped" else result.message)
    elif (
        result.status == "warn" and result.message
    ):  # rejects, a commit whose checkpoint failed, ...
        out.append(result.message.splitlines()[0])
    for check in result.checks:
        if check.status == "pass":
            continue
        where = f"{check.node}.{check.column}" if check.column else (check.node or "")
        text = f"{check.status.upper()} {check.name}"
        if where:
            text += f" [{where}]"
        text += f": {check.message}"
        out.append(text)
    return out


def make_console(json_output: bool, quiet: bool = False) -> PlainConsole:
    if json_output:
        return NullConsole()
    if sys.stdout.isatty():
        return RichConsole(quiet=quiet)
    return PlainConsole(quiet=quiet)
