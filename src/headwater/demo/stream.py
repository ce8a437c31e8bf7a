"""`headwater demo --stream`: web events produced to Redis, landing in the demo's warehouse through
the `web_events_live` stream, with its status shown live.

A producer thread writes shop events at a steady rate (a few malformed ones among them, which land
in the dead-letter table with the reason); the stream runs in this process exactly as
`headwater stream run web_events_live` would; every two seconds the command prints what
`headwater stream status` shows. It stops when the producer is done and the stream has caught up.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError

STREAM = "web_events_live"
TYPES = ("page_view", "page_view", "page_view", "add_to_cart", "checkout", "purchase")
DEVICES = ("desktop", "mobile", "tablet")


@dataclass
class DemoStreamResult:
    produced: int
    landed: int
    dead_letters: int
    seconds: float


def _events(start: int, n: int, rng: random.Random) -> list[bytes]:
    now = datetime.now(UTC)
    out = []
    for i in range(start, start + n):
        if i % 997 == 13:  # now and then a broken payload: the DLQ keeps it with the reason
            out.append(b'{"event_id": "broken", "event_ts": ')
            continue
        session = rng.randrange(1, 5000)
        out.append(
            json.dumps(
                {"event_id": f"ev-{now:%Y%m%d%H%M%S}-{i}", "session_id": f"sess-{session:08d}",
                 "customer_id": session % 1700 or None, "event_ts": now.isoformat(),
                 "event_type": "refund" if i % 1499 == 7 else rng.choice(TYPES),
                 "page": f"/p/{rng.randrange(1, 400)}", "device": rng.choice(DEVICES)}
            ).encode()
        )  # fmt: skip
    return out


def _status_text(produced: int, report: dict[str, Any]) -> str:
    """One line of what `headwater stream status` shows."""
    lag, p99, dlq = report["total_lag"], report["latency_p99_s"], report["dlq_rate"]
    return " · ".join([
        f"produced {produced:,}", f"{report['events_per_s']:,.0f} events/s",
        "lag " + ("-" if lag is None else f"{lag:,}"),
        "p99 latency " + ("-" if p99 is None else f"{p99:.2f}s"),
        "DLQ rate " + ("-" if dlq is None else f"{dlq:.2%}"),
        "watermark " + (report["watermark"] or "-"),
    ])  # fmt: skip


def run_demo_stream(
    root: Path,
    seconds: float,
    rate: int,
    status_line: Callable[[str], None],
) -> DemoStreamResult:
    """Produce ``rate`` events/s for ``seconds`` and run the stream until it has caught up."""
    from headwater.context import Context
    from headwater.streams.commands import stream_nodes
    from headwater.streams.connectors.redis import produce

    ctx = Context(root)
    try:
        ((_, spec),) = stream_nodes(ctx, [STREAM])
        config = spec.source_config()
        try:
            produce(config, [])
        except ConfigError as exc:
            raise ConfigError(
                f"`headwater demo --stream` needs Redis: {exc}",
                hint="start Redis on 127.0.0.1:6379 (or edit streams/web_events_live.yml)",
            ) from None
        stop = threading.Event()
        total = int(seconds * rate)
        produced = {"n": 0}
        rng = random.Random(7)

        def producer() -> None:
            t0 = time.monotonic()
            while produced["n"] < total and not stop.is_set():
                due = min(total, int((time.monotonic() - t0) * rate) + 1)
                if due > produced["n"]:
                    produce(config, _events(produced["n"], due - produced["n"], rng))
                    produced["n"] = due
                time.sleep(0.05)  # the producer's pace

        errors: list[BaseException] = []

        def consumer() -> None:
            try:
                ctx.stream_run([STREAM], stop=stop)
            except BaseException as exc:  # shown by the main thread
                errors.append(exc)
                stop.set()

        feeder = threading.Thread(target=producer, daemon=True)
        runner = threading.Thread(target=consumer, daemon=True)
        started = time.monotonic()
        feeder.start()
        runner.start()
        deadline = started + seconds + 30
        while not stop.is_set():
            time.sleep(2.0)  # the refresh interval of the live status
            report = ctx.stream_status([STREAM]).streams[0].to_dict()
            status_line(_status_text(produced["n"], report))
            lag = report["total_lag"]
            caught_up = lag == 0 and report["last_commit"] is not None
            if (not feeder.is_alive() and caught_up) or time.monotonic() > deadline:
                stop.set()
        feeder.join()
        runner.join()
        if errors:
            raise errors[0]
        engine = ctx.open_engine(read_only=True)
        try:
            landed = int(engine.execute("SELECT count(*) FROM raw.web_events_live")[0][0])
            dead = int(engine.execute("SELECT count(*) FROM raw.web_events_live__dlq")[0][0])
        finally:
            engine.close()
        return DemoStreamResult(produced["n"], landed, dead, time.monotonic() - started)
    finally:
        ctx.close()
