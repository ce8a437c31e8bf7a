"""`headwater lint [-s SEL] [--exclude SEL] [--json]`: the query lint of the selected models
(`Context.lint`); exit 1 when a finding is error-level."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from headwater.cli.common import AddOptions, Handler, context_for, selection

if TYPE_CHECKING:
    from headwater.cli.common import Subparsers


def add_commands(sub: Subparsers, common: AddOptions) -> dict[str, Handler]:
    p = sub.add_parser("lint", help="check models' SQL (select *, cartesian joins, ...)")
    selection(p)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    common(p)
    return {"lint": cmd_lint}


def cmd_lint(args: argparse.Namespace) -> int:
    from headwater.cli.render.lint import print_lint

    with context_for(args) as ctx:
        report = ctx.lint(args.select, args.exclude)
    print_lint(report, args.json)
    return report.exit_code
