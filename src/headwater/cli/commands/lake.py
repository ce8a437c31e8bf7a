"""`lake history|optimize|vacuum MODEL`: maintenance of a model's lake table
(`Context.lake_history`, `Context.lake_optimize`, `Context.lake_vacuum`).

``headwater lake history MODEL [--limit N] [--json]`` lists the table's versions, newest first.
``headwater lake optimize MODEL [--zorder COL ...] [--target-size BYTES] [--json]`` compacts small
files into a new version (the warehouse view reads it).
``headwater lake vacuum MODEL [--retain 168h] [--dry-run] [--json]`` deletes files that no version
inside the retention window needs.

Exit codes: 0 done, 1 the table or its format failed (e.g. an Iceberg table cannot be
compacted), 2 a name that is not a lake table, or bad options.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from headwater.cli.common import AddOptions, Handler, context_for
from headwater.errors import UsageError

if TYPE_CHECKING:
    from headwater.cli.common import Subparsers


def add_commands(sub: Subparsers, common: AddOptions) -> dict[str, Handler]:
    lake = sub.add_parser("lake", help="history, compaction and vacuum of a model's lake table")
    common(lake)
    actions = lake.add_subparsers(dest="lake_command", metavar="ACTION", required=True)
    p = actions.add_parser("history", help="the table's versions, newest first")
    p.add_argument("model", help="a model (or snapshot, or lake source) that is a lake table")
    p.add_argument("--limit", type=int, default=None, help="show the last N versions")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    common(p)
    p = actions.add_parser("optimize", help="compact small files into a new version")
    p.add_argument("model", help="a model (or snapshot) that is a lake table")
    p.add_argument(
        "--zorder",
        nargs="+",
        action="extend",
        metavar="COL",
        help="cluster rows by a Z-order curve of these columns (not partition columns)",
    )
    p.add_argument(
        "--target-size",
        type=int,
        default=None,
        metavar="BYTES",
        help="approximate size of the new files (Delta default: 100 MiB)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    common(p)
    p = actions.add_parser(
        "vacuum", help="delete files that no version inside the retention window needs"
    )
    p.add_argument("model", help="a model (or snapshot) that is a lake table")
    p.add_argument(
        "--retain",
        default="168h",
        metavar="DURATION",
        help="retention window: versions committed in it stay readable (default 168h; e.g. 7d, "
        "24h, 0h); rounded up to whole hours",
    )
    p.add_argument("--dry-run", action="store_true", help="list the files, delete nothing")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    common(p)
    return {"lake": cmd_lake}


def cmd_lake(args: argparse.Namespace) -> int:
    handler = {"history": _history, "optimize": _optimize, "vacuum": _vacuum}[args.lake_command]
    return handler(args)


def _history(args: argparse.Namespace) -> int:
    from headwater.cli.render.lake import print_history

    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}", hint="e.g. --limit 20")
    with context_for(args) as ctx:
        history = ctx.lake_history(args.model, args.limit)
    print_history(history, args.json)
    return history.exit_code


def _optimize(args: argparse.Namespace) -> int:
    from headwater.cli.render.lake import print_maintenance

    with context_for(args) as ctx:
        result = ctx.lake_optimize(args.model, args.zorder, args.target_size)
    print_maintenance(result, args.json)
    return result.exit_code


def _vacuum(args: argparse.Namespace) -> int:
    from headwater.cli.render.lake import print_maintenance

    with context_for(args) as ctx:
        result = ctx.lake_vacuum(args.model, args.retain, args.dry_run)
    print_maintenance(result, args.json)
    return result.exit_code
