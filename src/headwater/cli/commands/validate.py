"""`validate DATA --suite SUITE`: expectations on files or a warehouse table (`Context.validate`),
no project needed for files. Prints one line per expectation; `--output` keeps the full result in
Great Expectations' JSON shape. Exit 1 when a critical expectation fails or cannot run."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.cli.common import AddOptions, Handler, context_for

if TYPE_CHECKING:
    from headwater.cli.common import Subparsers


def add_commands(sub: Subparsers, common: AddOptions) -> dict[str, Handler]:
    p = sub.add_parser("validate", help="check data files or a table against an expectation suite")
    p.add_argument(
        "data",
        help="a Parquet/CSV/JSON file, a folder or glob of them, or a warehouse table (with a project)",
    )
    p.add_argument(
        "--suite", required=True, help="a YAML suite or a Great Expectations suite JSON file"
    )
    p.add_argument(
        "--output", metavar="PATH", help="write the full result (Great Expectations' JSON shape)"
    )
    p.add_argument(
        "--result-format", choices=["BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE"], default=None
    )
    p.add_argument("--json", action="store_true", help="print the full result instead of a table")
    common(p)
    return {"validate": cmd_validate}


def cmd_validate(args: argparse.Namespace) -> int:
    from headwater.cli.render.validate import print_validation

    # the project's load problems are not this command's (a file needs no project): not printed
    with context_for(args, report=False) as ctx:
        result = ctx.validate(args.data, args.suite, result_format=args.result_format)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(result.to_dict(), indent=2, default=str), encoding="utf-8")
        os.replace(tmp, out)
    print_validation(result, args.json, args.output)
    return result.exit_code
