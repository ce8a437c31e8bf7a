"""`status`, `metrics` and `freshness`: what the state store knows (`Context.status`,
`Context.metrics`) and the freshness of sources and models (`Context.freshness`).

``headwater status [--json] [--limit N]`` always exits 0: it reports, it does not judge.
``headwater metrics NODE [--metric M [--column C]] [--limit N] [--json]`` lists a node's series,
or one series' history; an unknown node exits 2 with suggestions.
``headwater freshness [-s SEL] [--exclude SEL] [--json]`` exits 1 when a node is stale past
``error_after`` (or could not be checked) or an SLA is breached, as dbt's ``source freshness``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from headwater.cli.common import AddOptions, Handler, context_for
from headwater.errors import UsageError

if TYPE_CHECKING:
    from headwater.cli.common import Subparsers


def add_commands(sub: Subparsers, common: AddOptions) -> dict[str, Handler]:
    p = sub.add_parser(
        "status", help="last runs, failing checks, stale data, anomalies, schema changes, incidents"
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON document with the same sections"
    )
    p.add_argument("--limit", type=int, default=10, help="rows per section (default 10)")
    common(p)
    p = sub.add_parser("metrics", help="the metric history of a node (row counts, profiles, ...)")
    p.add_argument("node", help="model, seed, snapshot or source (`source.table`) name")
    p.add_argument(
        "--metric", help="one series, e.g. row_count, null_rate (without: list the node's series)"
    )
    p.add_argument(
        "--column", help="the column of a column metric (null_rate, distinct_count, min, max, mean)"
    )
    p.add_argument("--limit", type=int, default=30, help="runs to show (default 30)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    common(p)
    p = sub.add_parser(
        "freshness", help="check the freshness of sources and models, and the schedule SLAs"
    )
    p.add_argument(
        "-s",
        "--select",
        nargs="+",
        action="extend",
        help="nodes to check (dbt syntax; default: all)",
    )
    p.add_argument("--exclude", nargs="+", action="extend", help="nodes to leave out")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    common(p)
    return {"status": cmd_status, "metrics": cmd_metrics, "freshness": cmd_freshness}


def cmd_status(args: argparse.Namespace) -> int:
    from headwater.cli.render.status import print_status

    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}", hint="e.g. --limit 20")
    with context_for(args) as ctx:
        report = ctx.status(args.limit)
    print_status(report, args.json)
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from headwater.cli.render.status import print_metrics

    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}", hint="e.g. --limit 30")
    if args.column and not args.metric:
        raise UsageError("--column needs --metric", hint="e.g. --metric null_rate --column email")
    with context_for(args) as ctx:
        report = ctx.metrics(args.node, args.metric, args.column, limit=args.limit)
    print_metrics(report, args.json)
    return 0


def cmd_freshness(args: argparse.Namespace) -> int:
    from headwater.cli.render.freshness import print_freshness

    with context_for(args) as ctx:
        report = ctx.freshness(args.select, args.exclude)
        print_freshness(report, args.json)
        return report.exit_code
