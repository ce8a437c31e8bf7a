"""`lineage NODE [--column C] [--upstream|--downstream] [--depth N] [--json]`: the table- and
column-level lineage of a node (`Context.lineage`) as a tree or JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from headwater.cli.common import AddOptions, Handler, context_for
from headwater.errors import UsageError

if TYPE_CHECKING:
    from headwater.cli.common import Subparsers


def add_commands(sub: Subparsers, common: AddOptions) -> dict[str, Handler]:
    p = sub.add_parser(
        "lineage",
        help="show table- or column-level lineage of a node",
        description="Upstream (default) or downstream lineage of a node; with --column, of one of its columns.",
    )
    p.add_argument(
        "node", help="model, seed, snapshot or source (`source_name.table`), by name or unique_id"
    )
    p.add_argument("--column", "-c", help="a column of the node: show column-level lineage")
    direction = p.add_mutually_exclusive_group()
    direction.add_argument(
        "--upstream", dest="downstream", action="store_false", help="what it is made from (default)"
    )
    direction.add_argument(
        "--downstream", dest="downstream", action="store_true", help="what is made from it"
    )
    p.set_defaults(downstream=False)
    p.add_argument("--depth", type=int, default=None, help="levels to show (default: all)")
    p.add_argument("--json", action="store_true", help="print the tree as JSON")
    common(p)
    return {"lineage": cmd_lineage}


def cmd_lineage(args: argparse.Namespace) -> int:
    from headwater.cli.render.lineage import print_lineage

    if args.depth is not None and args.depth < 1:
        raise UsageError("--depth must be 1 or more", hint="e.g. --depth 2")
    with context_for(args) as ctx:
        result = ctx.lineage(args.node, args.column, args.downstream, args.depth)
        print_lineage(result, args.json)
        return 0
