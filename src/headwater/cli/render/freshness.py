"""`headwater freshness`: a `FreshnessReport` as tables of the nodes and the SLAs and a summary
line (rich), or JSON."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

from headwater.observe.freshness import STATUSES, human_age

if TYPE_CHECKING:
    from headwater.observe.freshness import FreshnessReport, FreshnessResult


def print_freshness(report: FreshnessReport, as_json: bool = False) -> None:
    """The report as tables (`print_report`), or one JSON document."""
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print_report(report)


def print_report(report: FreshnessReport, stream: TextIO | None = None) -> None:
    """A table of the results (rich), then the SLAs and a summary line."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    stream = stream or sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    console = Console(file=stream, width=None if tty else 200, no_color=not tty, highlight=False)
    colors = {"pass": "green", "warn": "yellow", "error": "red", "runtime error": "red"}
    if report.results:
        table = Table(
            "node", "status", "max loaded at (UTC)", "age", "warn after", "error after", "note"
        )
        for r in report.results:
            table.add_row(
                r.name, f"[{colors[r.status]}]{r.status}[/]",
                r.max_loaded_at.strftime("%Y-%m-%d %H:%M:%S") if r.max_loaded_at else "-",
                human_age(r.age), str(r.spec.warn_after or "-"), str(r.spec.error_after or "-"),
                escape(_note(r)),
            )  # fmt: skip
        console.print(table)
    if report.slas:
        table = Table("sla", "status", "window start (UTC)", "deadline (UTC)", "missing")
        for s in report.slas:
            color = {"met": "green", "breached": "red"}.get(s.status, "yellow")
            table.add_row(
                s.name, f"[{color}]{s.status}[/]",
                s.due_from.strftime("%Y-%m-%d %H:%M:%S") if s.due_from else "-",
                s.due_at.strftime("%Y-%m-%d %H:%M:%S") if s.due_at else "-",
                escape(", ".join(u.rsplit(".", 1)[-1] for u in s.missing) or "-"),
            )  # fmt: skip
        console.print(table)
    counts = report.counts
    if not report.results and not report.slas:
        console.print("no selected node has `freshness:` configured and the project has no SLAs")
        return
    parts = [f"{counts.get(s, 0)} {s}" for s in STATUSES if counts.get(s)]
    breached = sum(s.status == "breached" for s in report.slas)
    if report.slas:
        parts.append(f"{breached} of {len(report.slas)} SLAs breached")
    console.print(
        f"freshness: {', '.join(parts) or 'nothing checked'} ({report.elapsed:.2f}s)", markup=False
    )


def _note(r: FreshnessResult) -> str:
    source = {"load_state": "last load", "node_runs": "last successful run"}.get(r.loaded_at_source)
    return "; ".join(t for t in (r.message, f"from the {source}" if source else "") if t)
