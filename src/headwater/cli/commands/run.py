"""`build`, `run`, `test`, `seed`, `snapshot`, `extract`: the commands that run a selection of
the project (`Context.build` and its siblings) and print its summary or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from headwater.cli.common import AddOptions, Handler, console_for, context_for, selection

if TYPE_CHECKING:
    from collections.abc import Callable

    from headwater.cli.common import Subparsers
    from headwater.context import Context
    from headwater.runner.events import RunResult

RUN_COMMANDS = (
    ("build", "build and check with write-audit-publish"),
    ("run", "build without checks"),
    ("test", "run checks against published tables"),
    ("seed", "load seeds/*.csv"),
    ("snapshot", "take snapshots (slowly changing dimensions, type 2)"),
    ("extract", "extract and load sources (files, S3, databases, APIs)"),
)
"""Each is the `Context` method of the same name."""


def run_options(p: argparse.ArgumentParser) -> None:
    selection(p)
    p.add_argument("--threads", type=int, help="nodes run in parallel (default: the target's)")
    p.add_argument("-x", "--fail-fast", action="store_true", help="stop at the first failure")
    p.add_argument("--full-refresh", action="store_true", help="rebuild incremental models")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def add_commands(sub: Subparsers, common: AddOptions) -> dict[str, Handler]:
    for name, text in RUN_COMMANDS:
        p = sub.add_parser(name, help=text)
        run_options(p)
        if name == "build":
            p.add_argument(
                "--lint",
                action="store_true",
                help="lint the selected models first; an error-level finding stops the build",
            )
        if name in ("build", "test"):
            p.add_argument(
                "--report", metavar="PATH", help="write an HTML quality report of this run's checks"
            )
        common(p)
    return {name: cmd_run for name, _ in RUN_COMMANDS}


def cmd_run(args: argparse.Namespace) -> int:
    console = console_for(args)
    with context_for(args, console) as ctx:
        if getattr(args, "lint", False) and not _lint_passes(ctx, args):
            return 1
        options = {
            "threads": args.threads,
            "fail_fast": args.fail_fast,
            "full_refresh": args.full_refresh,
        }
        command: Callable[..., RunResult] = getattr(ctx, args.command)
        result = command(args.select, args.exclude, **options)
        if args.json:
            print(json.dumps(result.to_dict(), indent=2, default=str))
        else:
            from headwater.cli.render.report import print_run_summary

            print_run_summary(console, result)
        report = getattr(args, "report", None)
        if report:
            from headwater.cli.render.quality_report import write_quality_report

            ctx.state.flush()
            path = write_quality_report(
                ctx.state, report, result.invocation_id, project=ctx.manifest.config.name
            )
            print(f"quality report: {path}", file=sys.stderr if args.json else sys.stdout)
        return result.exit_code


def _lint_passes(ctx: Context, args: argparse.Namespace) -> bool:
    """`build --lint`: lint the selection before anything runs. Findings are printed (on stderr
    with --json, whose stdout is one document); False when one is error-level."""
    from headwater.cli.render.lint import print_lint

    report = ctx.lint(args.select, args.exclude)
    if report.findings or report.exit_code:
        print_lint(report, False, sys.stderr if args.json else sys.stdout)
    if report.exit_code:
        print("build stopped: error-level lint findings", file=sys.stderr)
        return False
    return True
