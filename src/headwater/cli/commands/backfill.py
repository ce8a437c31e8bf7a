"""`backfill` and `intervals`: building ranges of intervals of time-partitioned (microbatch)
models (`Context.backfill`) and showing a model's interval ledger (`Context.intervals`)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from headwater.cli.common import AddOptions, Handler, console_for, context_for

if TYPE_CHECKING:
    from headwater.cli.common import Subparsers


def add_commands(sub: Subparsers, common: AddOptions) -> dict[str, Handler]:
    p = sub.add_parser("backfill", help="build a range of intervals of time-partitioned models")
    p.add_argument("selection", nargs="*", help="models to backfill (dbt selection syntax)")
    p.add_argument("--exclude", nargs="+", action="extend", help="nodes to leave out")
    p.add_argument("--start", help="first interval (inclusive), e.g. 2026-01-01")
    p.add_argument("--end", help="end of the range (exclusive), e.g. 2026-02-01")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="intervals of one model built in parallel (default 1)",
    )
    p.add_argument("--rerun", choices=["missing", "failed", "all"], default="missing",
                   help="which intervals of the range to build (default: those not built yet)")  # fmt: skip
    p.add_argument("--continue", dest="resume", nargs="?", const=True, default=False, metavar="ID",
                   help="resume the unfinished backfill (the newest, or ID)")  # fmt: skip
    p.add_argument("--abandon", metavar="ID", help="mark an unfinished backfill as abandoned")
    p.add_argument("--json", action="store_true")
    common(p)

    p = sub.add_parser("intervals", help="show the interval ledger of a model")
    p.add_argument("model", help="model name")
    p.add_argument("--json", action="store_true")
    common(p)
    return {"backfill": cmd_backfill, "intervals": cmd_intervals}


def cmd_backfill(args: argparse.Namespace) -> int:
    console = console_for(args)
    with context_for(args, console) as ctx:
        if args.abandon:
            plan = ctx.abandon_backfill(args.abandon)
            print(f"backfill {plan[:8]} abandoned")
            return 0
        result = ctx.backfill(
            args.selection or None, args.exclude, start=args.start, end=args.end,
            workers=args.workers, rerun=args.rerun, resume=args.resume,
        )  # fmt: skip
        if args.json:
            print(json.dumps(result.to_dict(), indent=2, default=str))
        else:
            from headwater.cli.render.report import print_backfill_summary

            print_backfill_summary(console, result)
        return result.exit_code


def cmd_intervals(args: argparse.Namespace) -> int:
    from headwater.state.records import as_row

    with context_for(args) as ctx:
        node, rows = ctx.intervals(args.model)
        if args.json:
            print(json.dumps([as_row(r) for r in rows], indent=2, default=str))
            return 0
        from headwater.cli.render.report import print_intervals

        print_intervals(node.name, rows)
        return 0
