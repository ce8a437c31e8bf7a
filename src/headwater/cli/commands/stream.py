"""`stream run|status|reset`: consume streams declared in `streams/*.yml` (`Context.stream_run`,
`Context.stream_status`, `Context.stream_reset`).

``headwater stream run NAME... [--until-idle] [--max-seconds N]`` consumes until stopped: SIGTERM
or Ctrl-C finishes the running micro-batch, commits it and exits. Run the same command in N
processes to share the partitions through the broker's consumer group.
``headwater stream status [NAME...] [--json]`` shows lag per partition, events/s, DLQ rate,
end-to-end latency p50/p99, last commit and watermark.
``headwater stream reset NAME --to earliest|latest|TIMESTAMP`` moves the consumer group.

Exit codes: 0 done, 1 a stream failed, 2 a name that is not a stream or bad options.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from headwater.cli.common import AddOptions, Handler, context_for
from headwater.errors import UsageError

if TYPE_CHECKING:
    from headwater.cli.common import Subparsers


def add_commands(sub: Subparsers, common: AddOptions) -> dict[str, Handler]:
    stream = sub.add_parser("stream", help="consume, monitor and reset event streams")
    common(stream)
    actions = stream.add_subparsers(dest="stream_command", metavar="ACTION", required=True)
    p = actions.add_parser("run", help="consume streams into their sinks, exactly once")
    p.add_argument("names", nargs="+", metavar="NAME", help="streams to run (each in a thread)")
    p.add_argument(
        "--until-idle", action="store_true", help="stop when the broker has nothing more"
    )
    p.add_argument(
        "--max-seconds", type=float, default=None, metavar="N", help="stop after N seconds"
    )
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    common(p)
    p = actions.add_parser("status", help="lag, throughput, DLQ rate, latency and watermark")
    p.add_argument("names", nargs="*", metavar="NAME", help="streams (default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    common(p)
    p = actions.add_parser("reset", help="move a stream's consumer group")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--to", required=True, help="earliest, latest or an ISO timestamp")
    common(p)
    return {"stream": cmd_stream}


def cmd_stream(args: argparse.Namespace) -> int:
    handler = {"run": _run, "status": _status, "reset": _reset}[args.stream_command]
    return handler(args)


def _run(args: argparse.Namespace) -> int:
    from headwater.cli.render.stream import print_batch, print_summaries

    if args.max_seconds is not None and not (
        math.isfinite(args.max_seconds) and args.max_seconds > 0
    ):  # nan compares false to everything: without isfinite it would run forever
        raise UsageError(
            f"--max-seconds must be a positive number of seconds, not {args.max_seconds:g}",
            hint="e.g. --max-seconds 60 (leave it out to run until stopped)",
        )
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def finish(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        stop.set()
        print("stopping: finishing the micro-batch…", file=sys.stderr, flush=True)

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, finish)
    try:
        with context_for(args) as ctx:
            summaries = ctx.stream_run(
                args.names, until_idle=args.until_idle, max_seconds=args.max_seconds, stop=stop,
                on_batch=None if args.quiet else print_batch,
            )  # fmt: skip
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print_summaries(summaries)
    return 0


def _status(args: argparse.Namespace) -> int:
    from headwater.cli.render.stream import print_status

    with context_for(args) as ctx:
        report = ctx.stream_status(args.names or None)
    print_status(report, args.json)
    return 0


def _reset(args: argparse.Namespace) -> int:
    with context_for(args) as ctx:
        positions = ctx.stream_reset(args.name, args.to)
    where = ", ".join(
        f"{p}: {o if o is not None else 'start'}" for p, o in sorted(positions.items())
    )
    print(f"{args.name}: reset to {args.to}" + (f" ({where})" if where else ""))
    return 0
