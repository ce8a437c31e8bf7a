"""The `headwater` command: build the parser from the command modules, run one command, turn
errors into messages and exit codes.

Exit codes: 0 success, 1 failed nodes or error-level checks, 2 usage or configuration errors,
130/143 interrupted (SIGINT/SIGTERM). Everything printed passes through `headwater.secrets.mask`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import FrameType

from headwater.cli.common import CONTEXTS, Handler, common, error, print_warnings
from headwater.errors import HeadwaterError
from headwater.version import __version__

__all__ = ["COMMAND_MODULES", "CONTEXTS", "build_parser", "main"]

COMMAND_MODULES = (
    "headwater.cli.commands.project",   # demo, deps, init
    "headwater.cli.commands.run",       # build, run, test, seed, snapshot, extract
    "headwater.cli.commands.backfill",  # backfill, intervals
    "headwater.cli.commands.validate",  # validate
    "headwater.cli.commands.inspect",   # ls, compile, query
    "headwater.cli.commands.observe",   # status, metrics, freshness
    "headwater.cli.commands.lineage",   # lineage
    "headwater.cli.commands.lint",      # lint
    "headwater.cli.commands.stream",    # stream run, status, reset
    "headwater.cli.commands.lake",      # lake history, lake optimize, lake vacuum
)  # fmt: skip
"""Modules with ``add_commands(subparsers, common) -> {name: handler}``, in the order `--help`
lists their commands."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (imports no heavy module)."""
    return _build()[0]


def _build() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    parser = argparse.ArgumentParser(
        prog="headwater",
        description="Extract, load, transform, check and publish tables. Embedded (DuckDB) by default.",
    )
    parser.add_argument("--version", action="version", version=f"headwater {__version__}")
    common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers: dict[str, Handler] = {}
    for module in COMMAND_MODULES:
        handlers.update(importlib.import_module(module).add_commands(sub, common))
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; everything it prints passes through `headwater.secrets.mask`."""
    from headwater.secrets import MaskingStream

    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = MaskingStream(stdout), MaskingStream(stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    from headwater.errors import Interrupted

    raise Interrupted(signum)


def _main(argv: Sequence[str] | None = None) -> int:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        try:
            return _command(argv)
        finally:
            print_warnings()
    # like SIGINT: roll back, record, exit 143
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _command(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)
        print_warnings()


def _command(argv: Sequence[str] | None = None) -> int:
    parser, handlers = _build()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return handlers[args.command](args)
    except HeadwaterError as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        error(exc.render())
        return exc.exit_code
    except KeyboardInterrupt as exc:
        from headwater.errors import Interrupted

        name = exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"
        error(
            f"interrupted ({name}): statements in flight were rolled back, published tables are intact; rerun to finish"
        )
        return exc.exit_code if isinstance(exc, Interrupted) else 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: shown here, where stderr still masks secrets
        import traceback

        traceback.print_exc()
        error(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "hint: this is a bug in headwater; the traceback above says where"
        )
        return 1
