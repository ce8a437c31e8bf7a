"""`ls`, `compile`, `query`: looking at the project and the warehouse (`Context.ls`,
`Context.compile`, `Context.query`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from headwater.cli.common import AddOptions, Handler, context_for, selection

if TYPE_CHECKING:
    from headwater.cli.common import Subparsers


def add_commands(sub: Subparsers, common: AddOptions) -> dict[str, Handler]:
    p = sub.add_parser("ls", help="list nodes")
    selection(p)
    p.add_argument("--resource-type", nargs="+", action="extend",
                   choices=["model", "source", "seed", "test", "snapshot", "analysis"])  # fmt: skip
    p.add_argument("--json", action="store_true", help="a JSON array of nodes")
    common(p)

    p = sub.add_parser("compile", help="write compiled SQL to .headwater/compiled/")
    selection(p)
    p.add_argument("--print", dest="print_sql", action="store_true", help="also print the SQL")
    p.add_argument("--json", action="store_true")
    common(p)

    p = sub.add_parser("query", help="run SQL on the warehouse and print the result")
    p.add_argument("sql", help="the query")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--limit", type=int, default=None, help="print at most N rows")
    common(p)
    return {"ls": cmd_ls, "compile": cmd_compile, "query": cmd_query}


def cmd_ls(args: argparse.Namespace) -> int:
    from headwater.cli.render.report import print_nodes

    with context_for(args) as ctx:
        types = tuple(args.resource_type) if args.resource_type else None
        nodes = ctx.ls(args.select, args.exclude, types)
        ctx.problems_as_warnings()  # listing works on a project with broken nodes; they are named
        print_nodes(nodes, args.json)
        return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from headwater.cli.render.report import print_compiled

    with context_for(args) as ctx:
        nodes = ctx.compile(args.select, args.exclude)
        print_compiled(nodes, ctx.compiled_dir, args.print_sql, args.json)
        return 0


def cmd_query(args: argparse.Namespace) -> int:
    from headwater.cli.render.report import print_rows

    with context_for(args) as ctx:
        names, rows = ctx.query(args.sql, args.limit)
        print_rows(names, rows, args.format)
        return 0
