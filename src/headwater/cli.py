"""The `headwater` command: parse arguments, call `Context`, render the result.

Exit codes: 0 success, 1 failed nodes or error-level checks, 2 usage or configuration errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from headwater import __version__
from headwater.errors import HeadwaterError, UsageError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--project-dir",
        default=argparse.SUPPRESS,
        help="project folder (default: current directory)",
    )
    p.add_argument("--target", "-t", default=argparse.SUPPRESS, help="target from headwater.yml")
    p.add_argument("--vars", default=argparse.SUPPRESS, help="YAML/JSON mapping overriding `vars`")
    p.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )


def _selection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-s", "--select", nargs="+", action="extend", help="nodes to include (dbt syntax)"
    )
    p.add_argument("--exclude", nargs="+", action="extend", help="nodes to leave out")


def _run_options(p: argparse.ArgumentParser) -> None:
    _selection(p)
    p.add_argument("--threads", type=int, help="nodes run in parallel (default: the target's)")
    p.add_argument("-x", "--fail-fast", action="store_true", help="stop at the first failure")
    p.add_argument("--full-refresh", action="store_true", help="rebuild incremental models")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headwater",
        description="Extract, load, transform, check and publish tables. Embedded (DuckDB) by default.",
    )
    parser.add_argument("--version", action="version", version=f"headwater {__version__}")
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="create the e-commerce demo project and build it")
    p.add_argument(
        "dir",
        nargs="?",
        default="headwater_demo",
        help="folder to create (default: headwater_demo)",
    )
    p.add_argument("--scale", type=float, default=0.05, help="1 = about 1M orders (default 0.05)")
    p.add_argument("--seed", type=int, default=42, help="random seed of the data generator")
    p.add_argument("--no-build", action="store_true", help="only create the project and its data")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser(
        "deps", help="install the packages of packages.yml into dbt_packages/ (as `dbt deps`)"
    )
    p.add_argument(
        "--upgrade", action="store_true", help="resolve again, ignoring package-lock.yml"
    )
    p.add_argument("--lock", action="store_true", help="write package-lock.yml without installing")
    _common(p)

    p = sub.add_parser("init", help="create an empty project")
    p.add_argument("dir", help="folder to create")
    p.add_argument("--name", help="project name (default: the folder name)")
    _common(p)

    for name, text in (
        ("build", "build and check with write-audit-publish"),
        ("run", "build without checks"),
        ("test", "run checks against published tables"),
        ("seed", "load seeds/*.csv"),
        ("snapshot", "take snapshots (slowly changing dimensions, type 2)"),
        ("extract", "extract and load sources (files, S3, databases, APIs)"),
    ):
        p = sub.add_parser(name, help=text)
        _run_options(p)
        if name in ("build", "test"):
            p.add_argument(
                "--report", metavar="PATH", help="write an HTML quality report of this run's checks"
            )
        _common(p)

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
    _common(p)

    p = sub.add_parser("intervals", help="show the interval ledger of a model")
    p.add_argument("model", help="model name")
    p.add_argument("--json", action="store_true")
    _common(p)

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
    _common(p)

    p = sub.add_parser("ls", help="list nodes")
    _selection(p)
    p.add_argument("--resource-type", nargs="+", action="extend",
                   choices=["model", "source", "seed", "test", "snapshot", "analysis"])  # fmt: skip
    p.add_argument("--json", action="store_true", help="a JSON array of nodes")
    _common(p)

    p = sub.add_parser("compile", help="write compiled SQL to .headwater/compiled/")
    _selection(p)
    p.add_argument("--print", dest="print_sql", action="store_true", help="also print the SQL")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("query", help="run SQL on the warehouse and print the result")
    p.add_argument("sql", help="the query")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--limit", type=int, default=None, help="print at most N rows")
    _common(p)

    # observability commands: each module adds its parsers and returns {command: handler}
    import importlib

    for module in OBSERVE_COMMANDS:
        COMMANDS.update(importlib.import_module(module).add_commands(sub, _common))
    return parser


OBSERVE_COMMANDS = (
    "headwater.observe.status",     # status, metrics
    "headwater.observe.freshness",  # freshness
    "headwater.observe.lineage_cli",  # lineage
)  # fmt: skip
"""Modules with ``add_commands(subparsers, common) -> {name: handler(args) -> exit code}``;
a handler builds its Context with `headwater.cli.context_for(args)`."""


def context_for(args: argparse.Namespace, console: Any = None) -> Any:
    """The `Context` of a command's arguments (--project-dir, --target, --vars)."""
    return _context(args, console)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; everything it prints passes through `headwater.secrets.mask`."""
    from headwater.secrets import MaskingStream

    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = MaskingStream(stdout), MaskingStream(stderr)  # type: ignore[assignment]
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _on_sigterm(signum: int, frame: Any) -> None:
    from headwater.errors import Interrupted

    raise Interrupted(signum)


def _main(argv: Sequence[str] | None = None) -> int:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        try:
            return _command(argv)
        finally:
            _print_warnings()
    previous = signal.signal(
        signal.SIGTERM, _on_sigterm
    )  # like SIGINT: roll back, record, exit 143
    try:
        return _command(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)
        _print_warnings()


def _command(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except HeadwaterError as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        _error(exc.render())
        return exc.exit_code
    except KeyboardInterrupt as exc:
        from headwater.errors import Interrupted

        name = exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"
        _error(
            f"interrupted ({name}): statements in flight were rolled back, published tables are intact; rerun to finish"
        )
        return exc.exit_code if isinstance(exc, Interrupted) else 130
    except BrokenPipeError:
        return 0


def _error(text: str) -> None:
    if sys.stderr.isatty():
        print(f"\033[31merror:\033[0m {text}", file=sys.stderr)
    else:
        print(f"error: {text}", file=sys.stderr)


def _vars(args: argparse.Namespace) -> dict[str, Any]:
    text = getattr(args, "vars", None)
    if not text:
        return {}
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(
            f"--vars is not valid YAML: {exc}", hint="write e.g. --vars '{start: 2025-01-01}'"
        ) from None
    if not isinstance(value, dict):
        raise UsageError("--vars must be a mapping", hint="write e.g. --vars '{start: 2025-01-01}'")
    return value


def _context(args: argparse.Namespace, console: Any = None) -> Any:
    from headwater.context import Context

    ctx = Context(
        getattr(args, "project_dir", None) or os.getcwd(),
        target=getattr(args, "target", None),
        vars=_vars(args),
        console=console,
    )
    _CONTEXTS.append(ctx)
    return ctx


_CONTEXTS: list[Any] = []
"""The contexts of the running command, whose `warnings` are printed when it ends."""


def _print_warnings() -> None:
    while _CONTEXTS:
        ctx = _CONTEXTS.pop()
        for text in ctx.errors:
            _error(text)
        for text in ctx.warnings:
            print(f"warning: {text}", file=sys.stderr)


def _console(args: argparse.Namespace) -> Any:
    from headwater.console import make_console

    return make_console(bool(getattr(args, "json", False)))


# -- commands ------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    console = _console(args)
    with _context(args, console) as ctx:
        options = {
            "threads": args.threads,
            "fail_fast": args.fail_fast,
            "full_refresh": args.full_refresh,
        }
        result = getattr(ctx, args.command)(args.select, args.exclude, **options)
        if args.json:
            print(json.dumps(result.to_dict(), indent=2, default=str))
        else:
            from headwater.report import print_run_summary

            print_run_summary(console, result)
        report = getattr(args, "report", None)
        if report:
            from headwater.quality.html_report import write_quality_report

            ctx.state.flush()
            path = write_quality_report(
                ctx.state, report, result.invocation_id, project=ctx.manifest.config.name
            )
            print(f"quality report: {path}", file=sys.stderr if args.json else sys.stdout)
        return result.exit_code


def cmd_backfill(args: argparse.Namespace) -> int:
    console = _console(args)
    with _context(args, console) as ctx:
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
            console.print(result.summary())
            if result.skipped_models:
                console.print("not time-partitioned, left out: " + ", ".join(result.skipped_models))
        return result.exit_code


def cmd_intervals(args: argparse.Namespace) -> int:
    from headwater.report import print_rows

    with _context(args) as ctx:
        node, rows = ctx.intervals(args.model)
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
            return 0
        if not rows:
            print(
                f"{node.name}: no intervals recorded yet (is it a microbatch model that has run?)"
            )
            return 0
        import datetime as dt

        table = [
            (r["interval_start"], r["interval_end"], r["status"], r["rows"],
             dt.datetime.fromtimestamp(r["built_at"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
             f"{(r['duration'] or 0) * 1000:.0f} ms", (r["invocation_id"] or "")[:8])
            for r in rows
        ]  # fmt: skip
        print_rows(
            ["start", "end", "status", "rows", "built_at (UTC)", "took", "run"], table, "table"
        )
        bad = sum(r["status"] != "success" for r in rows)
        print(f"{node.name}: {len(rows)} intervals, {len(rows) - bad} built, {bad} failed")
        return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from headwater.quality.validate_cli import run_validate

    return run_validate(args)


def cmd_ls(args: argparse.Namespace) -> int:
    with _context(args) as ctx:
        types = tuple(args.resource_type) if args.resource_type else None
        nodes = ctx.ls(args.select, args.exclude, types)
        ctx.problems_as_warnings()  # listing works on a project with broken nodes; they are named
        if args.json:
            from headwater.report import node_json

            print(json.dumps([node_json(n) for n in nodes], indent=2))
        else:
            for node in nodes:
                print(f"{node.resource_type:<8} {node.display_name}")
        return 0


def cmd_compile(args: argparse.Namespace) -> int:
    with _context(args) as ctx:
        nodes = ctx.compile(args.select, args.exclude)
        if args.json:
            print(
                json.dumps(
                    [
                        {"unique_id": n.unique_id, "name": n.name, "compiled_sql": n.compiled_sql}
                        for n in nodes
                    ],
                    indent=2,
                )
            )
            return 0
        for node in nodes:
            if args.print_sql:
                print(f"-- {node.unique_id}\n{node.compiled_sql.strip()}\n")
        print(
            f"compiled {len(nodes)} nodes into {ctx.compiled_dir}",
            file=sys.stderr if args.print_sql else sys.stdout,
        )
        return 0


def cmd_query(args: argparse.Namespace) -> int:
    from headwater.report import print_rows

    with _context(args) as ctx:
        names, rows = ctx.query(args.sql, args.limit)
        print_rows(names, rows, args.format)
        return 0


def cmd_deps(args: argparse.Namespace) -> int:
    from headwater.project.deps import install
    from headwater.project.files import find_project_file

    root = Path(getattr(args, "project_dir", None) or os.getcwd())
    find_project_file(root)  # a clear error outside a project
    result = install(root, upgrade=args.upgrade, lock_only=args.lock, vars=_vars(args),
                     progress=lambda text: print(text, file=sys.stderr))  # fmt: skip
    if not result.packages:
        print("no packages to install (packages.yml has none)")
        return 0
    verb = "locked" if args.lock else "installed"
    print(f"{verb} {len(result.packages)} package(s) in {result.install_path}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from headwater.scaffold import init_project

    path = init_project(args.dir, args.name)
    print(f"created project `{path.name}` in {path}")
    print(f"next: cd {args.dir} && headwater build")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from headwater.scaffold import create_demo

    console = _console(args)
    root, counts, seconds = create_demo(args.dir, args.scale, args.seed)
    if not args.json:
        console.print(
            f"Generated {sum(counts.values()):,} raw rows in {seconds:.1f}s into {root / 'data' / 'raw'}"
        )
    if args.no_build:
        return 0
    args.project_dir = str(root)
    with _context(args, console) as ctx:
        result = ctx.build(threads=args.threads)
        if args.json:
            print(json.dumps(result.to_dict(), indent=2, default=str))
        else:
            from headwater.report import print_demo_summary

            print_demo_summary(console, result, root)
        return result.exit_code


COMMANDS = {
    "build": cmd_run, "run": cmd_run, "test": cmd_run, "seed": cmd_run, "snapshot": cmd_run, "extract": cmd_run, "ls": cmd_ls,
    "compile": cmd_compile, "query": cmd_query, "init": cmd_init, "demo": cmd_demo, "deps": cmd_deps,
    "validate": cmd_validate, "backfill": cmd_backfill, "intervals": cmd_intervals,
}  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
