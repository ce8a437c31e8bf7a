"""`demo`, `deps`, `init`: creating projects (`headwater.scaffold`), installing dbt packages
(`headwater.project.deps`) and building the demo (`Context.build`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.cli.common import (
    AddOptions,
    Handler,
    console_for,
    context_for,
    parse_vars,
    project_dir,
)
from headwater.errors import UsageError

if TYPE_CHECKING:
    from headwater.cli.common import Subparsers


def add_commands(sub: Subparsers, common: AddOptions) -> dict[str, Handler]:
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
    p.add_argument(
        "--stream",
        action="store_true",
        help="then produce live web events to Redis and show them landing (stream web_events_live)",
    )
    p.add_argument(
        "--seconds", type=float, default=20.0, help="--stream: how long to produce (default 20)"
    )
    p.add_argument(
        "--rate", type=int, default=2000, help="--stream: events per second (default 2000)"
    )
    p.add_argument("--threads", type=int)
    p.add_argument("--json", action="store_true")
    common(p)

    p = sub.add_parser(
        "deps", help="install the packages of packages.yml into dbt_packages/ (as `dbt deps`)"
    )
    p.add_argument(
        "--upgrade", action="store_true", help="resolve again, ignoring package-lock.yml"
    )
    p.add_argument("--lock", action="store_true", help="write package-lock.yml without installing")
    common(p)

    p = sub.add_parser("init", help="create an empty project")
    p.add_argument("dir", help="folder to create")
    p.add_argument("--name", help="project name (default: the folder name)")
    common(p)
    return {"demo": cmd_demo, "deps": cmd_deps, "init": cmd_init}


def cmd_deps(args: argparse.Namespace) -> int:
    from headwater.project.deps import install
    from headwater.project.files import find_project_file

    root = Path(project_dir(args))
    find_project_file(root)  # a clear error outside a project
    result = install(root, upgrade=args.upgrade, lock_only=args.lock, vars=parse_vars(args),
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

    console = console_for(args)
    built = Path(args.dir).resolve() / ".headwater" / "warehouse.duckdb"
    if args.stream and built.is_file() and (built.parents[1] / ".headwater-demo").is_file():
        return _demo_stream(args, built.parents[1])  # a built demo: only stream
    root, counts, seconds = create_demo(args.dir, args.scale, args.seed)
    if not args.json:
        console.print(
            f"Generated {sum(counts.values()):,} raw rows in {seconds:.1f}s into {root / 'data' / 'raw'}"
        )
    if args.no_build:
        return 0
    args.project_dir = str(root)
    with context_for(args, console) as ctx:
        result = ctx.build(threads=args.threads)
        if args.json:
            print(json.dumps(result.to_dict(), indent=2, default=str))
        else:
            from headwater.cli.render.report import print_demo_summary

            print_demo_summary(console, result, root)
        if result.exit_code or not args.stream:
            return result.exit_code
    return _demo_stream(args, root)


def _demo_stream(args: argparse.Namespace, root: Path) -> int:
    from headwater.demo.stream import run_demo_stream

    if args.seconds <= 0 or args.rate <= 0:
        raise UsageError(
            "--seconds and --rate must be positive", hint="e.g. --seconds 20 --rate 2000"
        )
    print(
        f"Streaming {args.rate:,} web events/s to Redis for {args.seconds:g}s → raw.web_events_live"
    )
    out = run_demo_stream(
        root, args.seconds, args.rate, lambda line: print("  " + line, flush=True)
    )
    print(
        f"Landed {out.landed:,} of {out.produced:,} events exactly once in {out.seconds:.1f}s; "
        f"{out.dead_letters:,} bad ones in raw.web_events_live__dlq"
    )
    print(
        f'next: cd {args.dir} && headwater stream status && headwater query "select * from '
        'live_events_per_minute order by window_start desc limit 5"'
    )
    return 0
