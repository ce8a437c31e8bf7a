"""Stream benchmarks: throughput against the broker's raw client, end-to-end latency, memory.

    python benchmarks/streams.py [--quick] [--events N] [--brokers redis,kafka]

* **Throughput** — JSON events of ~200 bytes, already in the broker, consumed into a DuckDB sink
  with the default trigger (50,000 records / 5 s), in this process: events per CPU-second
  (`time.process_time`, every thread) of `headwater stream run --until-idle` against the broker's
  own client reading and acknowledging the same events without processing them
  (`raw_consume` of the connector module: XREADGROUP + XACK for Redis, consume + commit for
  Kafka), run side by side on the same data, after one untimed warm-up run of each (the
  process's one-time costs are not throughput). Variants add the stream's expectations and a
  tumbling window. Goal: >= 70% of raw.
* **Latency** — a producer writes at 10,000 events/s while the stream runs with the default
  trigger; p50/p99 of commit time minus the broker's timestamp. Goal: p99 <= 2 x max_seconds.
* **Memory** — 1,000,000 events (200,000 with --quick) through one process: peak RSS after the
  first quarter and at the end. Goal: no growth with the length of the run (bounded by the trigger).

Prints a table; `benchmarks/run.py --only streams` also records it in results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Row, log, render_table

REDIS_URL = os.environ.get("HW_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
EVENT_BYTES = 200


def events(start: int, n: int) -> list[bytes]:
    """JSON events of about 200 bytes (an order with a page, a user agent and a timestamp)."""
    out = []
    for i in range(start, start + n):
        out.append(
            json.dumps(
                {"order_id": i, "customer_id": i % 997, "amount": f"{i % 500}.{i % 100:02d}",
                 "ts": f"2026-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                 "page": f"/products/category-{i % 40}/item-{i}", "ua": "Mozilla/5.0 (X11; Linux x86_64)"}
            ).encode()
        )  # fmt: skip
    return out


PROJECT = """\
name: bench_streams
default_target: dev
targets:
  dev: {engine: duckdb, path: .headwater/warehouse.duckdb, threads: 2}
"""

STREAM = """\
streams:
  - name: orders
    source:
{source}    schema: {{order_id: BIGINT, customer_id: BIGINT, amount: DECIMAL(10,2), ts: TIMESTAMP, page: VARCHAR}}
    event_time: ts
    watermark: 10 seconds
{extra}    sink: {{table: raw.orders}}
"""
EXPECTATIONS = """\
    expectations:
      - expect_column_values_to_not_be_null: {column: customer_id}
      - expect_column_values_to_be_between: {column: amount, min_value: 0, max_value: 10000}
"""
WINDOW = """\
    windows:
      - {name: orders_per_minute, type: tumbling, size: 1 minute, group_by: [customer_id],
         select: "count(*) as orders, sum(amount) as revenue", emit: on_close}
"""


@dataclass
class Broker:
    name: str
    source: str
    config: Any
    module: Any
    cleanup: Any = None


def redis_broker(topic: str) -> Broker:
    from headwater.streams.connectors import redis as module
    from headwater.streams.source import SourceConfig

    config = SourceConfig("orders", "redis", topic, "bench", "earliest", {"url": REDIS_URL})
    source = f"      connector: redis\n      url: {REDIS_URL}\n      topic: {topic}\n      group: bench\n"

    def cleanup() -> None:
        import redis

        redis.Redis.from_url(REDIS_URL).delete(topic)

    return Broker("redis", source, config, module, cleanup)


KAFKA_GROUP = {"session.timeout.ms": 1500, "heartbeat.interval.ms": 150}
"""Short group sessions: the mock cluster's rebalances wait `session.timeout.ms - 1 s`."""


def kafka_broker(topic: str, cluster: Any) -> Broker:
    """A topic of 24 partitions on librdkafka's mock cluster (it keeps 5 MB per partition: 24
    hold the largest run's events)."""
    from headwater.streams.connectors import kafka as module
    from headwater.streams.source import SourceConfig

    cluster.create_topic(topic, 24)
    options = {"brokers": cluster.bootstrap, "kafka": dict(KAFKA_GROUP)}
    config = SourceConfig("orders", "kafka", topic, "bench", "earliest", options)
    source = (f"      connector: kafka\n      brokers: {cluster.bootstrap}\n      topic: {topic}\n"
              f"      group: bench\n      kafka: {json.dumps(KAFKA_GROUP)}\n")  # fmt: skip
    return Broker("kafka", source, config, module)


def project(root: Path, broker: Broker, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "streams").mkdir(exist_ok=True)
    (root / "headwater.yml").write_text(PROJECT)
    (root / "streams" / "orders.yml").write_text(STREAM.format(source=broker.source, extra=extra))
    return root


def cpu() -> float:
    return time.process_time()


def run_stream(root: Path, until_idle: bool = True, max_seconds: float | None = None,
               on_batch: Any = None, stop: threading.Event | None = None) -> Any:  # fmt: skip
    from headwater.context import Context

    with Context(root) as ctx:
        return ctx.stream_run(["orders"], until_idle=until_idle, max_seconds=max_seconds,
                              on_batch=on_batch, stop=stop)[0]  # fmt: skip


@dataclass
class Throughput:
    broker: str
    variant: str
    events: int
    raw_eps: float
    hw_eps: float
    raw_wall: float
    hw_wall: float
    hw_steady_eps: float = 0.0
    """Events per CPU-second from the first poll on (without the process's start-up)."""
    land_eps: float = 0.0
    """Events per CPU-second of the raw client with a minimal DuckDB landing (0: not measured)."""

    @property
    def ratio(self) -> float:
        return self.hw_eps / self.raw_eps if self.raw_eps else 0.0


LANDING_TABLE = """CREATE TABLE orders (order_id BIGINT, customer_id BIGINT, amount DECIMAL(10,2),
                                      ts TIMESTAMP, page VARCHAR)"""
LANDING_INSERT = """INSERT INTO orders
    SELECT v->>'order_id', v->>'customer_id', v->>'amount', v->>'ts', v->>'page' FROM batch"""


def minimal_landing(
    broker_factory: Any, payloads: list[bytes], workdir: Path
) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of the raw client landing ``payloads`` in DuckDB the way a user
    would write it by hand: each read of up to 50,000 (the default trigger) becomes one Arrow
    column, one INSERT ... SELECT with ``->>`` per column (autocommit), then the broker's ack.
    No validation, DLQ, offsets in the warehouse or exactly-once: the floor of landing."""
    import duckdb
    import pyarrow as pa

    topic = f"bench-{uuid.uuid4().hex[:8]}"
    broker = broker_factory(topic)
    broker.module.produce(broker.config, payloads)
    t0, c0 = time.perf_counter(), cpu()
    con = duckdb.connect(str(workdir / f"landing-{topic}.duckdb"))
    con.execute(LANDING_TABLE)

    def land(values: list[bytes | None]) -> None:
        batch = pa.table({"v": pa.array(values, pa.string())})  # noqa: F841 (read by the SQL)
        con.execute(LANDING_INSERT)

    got = broker.module.raw_consume(broker.config, len(payloads), 30.0, land=land, count=50_000)
    con.close()
    wall, spent = time.perf_counter() - t0, cpu() - c0
    assert got == len(payloads), f"raw client landed {got} of {len(payloads)}"
    if broker.cleanup:
        broker.cleanup()
    return spent, wall


def throughput(
    broker_factory: Any, n: int, variant: str, extra: str, workdir: Path, landing: bool = False
) -> Throughput:
    """Raw client and headwater over the same n events (each on a fresh topic holding them);
    with ``landing``, also the raw client with a minimal DuckDB landing (`minimal_landing`)."""
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    broker = broker_factory(topic)
    payloads = events(0, n)
    broker.module.produce(broker.config, payloads)
    t0, c0 = time.perf_counter(), cpu()
    got = broker.module.raw_consume(broker.config, n, 30.0)
    raw_wall, raw_cpu = time.perf_counter() - t0, cpu() - c0
    assert got == n, f"raw client read {got} of {n}"
    if broker.cleanup:
        broker.cleanup()
    land_eps = 0.0
    if landing:
        land_cpu, _ = minimal_landing(broker_factory, payloads, workdir)
        land_eps = n / land_cpu
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    broker = broker_factory(topic)
    broker.module.produce(broker.config, payloads)
    root = project(workdir / f"{broker.name}-{variant}-{topic}", broker, extra)
    t0, c0 = time.perf_counter(), cpu()
    summary = run_stream(root)
    hw_wall, hw_cpu = time.perf_counter() - t0, cpu() - c0
    assert summary.messages == n, f"headwater read {summary.messages} of {n}"
    if broker.cleanup:
        broker.cleanup()
    steady = n / summary.cpu_seconds if summary.cpu_seconds else 0.0
    return Throughput(
        broker.name, variant, n, n / raw_cpu, n / hw_cpu, raw_wall, hw_wall, steady, land_eps
    )


@dataclass
class Latency:
    broker: str
    rate: int
    seconds: float
    p50: float | None
    p99: float | None
    max_seconds: float = 5.0


def latency(broker_factory: Any, rate: int, seconds: float, workdir: Path) -> Latency:
    from headwater.streams.monitor import quantile

    topic = f"bench-{uuid.uuid4().hex[:8]}"
    broker = broker_factory(topic)
    root = project(workdir / f"latency-{topic}", broker)
    stop = threading.Event()
    latencies: list[float] = []
    total = int(rate * seconds)

    def producer() -> None:
        sent, t0 = 0, time.monotonic()
        while sent < total:
            due = min(total, int((time.monotonic() - t0) * rate))
            if due > sent:
                broker.module.produce(broker.config, events(sent, due - sent))
                sent = due
            time.sleep(0.01)

    def on_batch(report: Any) -> None:
        latencies.extend(report.latencies)
        if len(latencies) >= total:
            stop.set()

    feeder = threading.Thread(target=producer, daemon=True)
    feeder.start()
    run_stream(root, until_idle=False, max_seconds=seconds + 20, on_batch=on_batch, stop=stop)
    feeder.join()
    if broker.cleanup:
        broker.cleanup()
    return Latency(broker.name, rate, seconds, quantile(latencies, 0.5), quantile(latencies, 0.99))


@dataclass
class Memory:
    events: int
    rss_quarter: int
    rss_end: int


def memory(broker_factory: Any, n: int, workdir: Path) -> Memory:
    import psutil

    topic = f"bench-{uuid.uuid4().hex[:8]}"
    broker = broker_factory(topic)
    for start in range(0, n, 100_000):
        broker.module.produce(broker.config, events(start, min(100_000, n - start)))
    root = project(workdir / f"memory-{topic}", broker)
    proc = psutil.Process()
    seen = {"n": 0, "quarter": 0, "peak": 0}

    def on_batch(report: Any) -> None:
        seen["n"] += report.messages
        rss = proc.memory_info().rss
        seen["peak"] = max(seen["peak"], rss)
        if seen["n"] <= n // 4:
            seen["quarter"] = seen["peak"]

    summary = run_stream(root, on_batch=on_batch)
    assert summary.messages == n
    if broker.cleanup:
        broker.cleanup()
    return Memory(n, seen["quarter"], seen["peak"])


@dataclass
class StreamResult:
    throughput: list[Throughput] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)
    memory: Memory | None = None

    def rows(self) -> list[Row]:
        out = []
        for t in self.throughput:
            steady = t.hw_steady_eps / t.raw_eps if t.raw_eps else 0.0
            out.append(Row(
                f"streams: {t.broker} {t.variant}, {t.events:,} events",
                f"{t.hw_steady_eps:,.0f} ev/CPU-s running ({t.hw_eps:,.0f} with start-up; {t.events / t.hw_wall:,.0f}/s wall)",
                f"{t.raw_eps:,.0f} ev/CPU-s (raw client)", f"{steady:.2f}x ({t.ratio:.2f}x)",
                ">= 0.70x" if t.variant == "plain" else "—",
                steady >= 0.70 if t.variant == "plain" else None,
            ))  # fmt: skip
            if t.land_eps:
                out.append(Row(
                    f"streams: {t.broker} {t.variant}, against landing by hand",
                    f"{t.hw_steady_eps:,.0f} ev/CPU-s running",
                    f"{t.land_eps:,.0f} ev/CPU-s (raw client + INSERT)",
                    f"{t.hw_steady_eps / t.land_eps:.2f}x ({t.hw_eps / t.land_eps:.2f}x)", "—", None,
                ))  # fmt: skip
        for lat in self.latency:
            p99 = lat.p99 if lat.p99 is not None else float("inf")
            out.append(Row(
                f"streams: {lat.broker} latency at {lat.rate:,}/s",
                f"p50 {lat.p50 or 0:.2f} s, p99 {p99:.2f} s", "—", "—",
                f"p99 <= {2 * lat.max_seconds:g} s", p99 <= 2 * lat.max_seconds,
            ))  # fmt: skip
        if self.memory is not None:
            m = self.memory
            growth = m.rss_end / m.rss_quarter if m.rss_quarter else 0
            out.append(Row(
                f"streams: memory over {m.events:,} events",
                f"{m.rss_quarter / 2**20:.0f} MiB at 1/4, {m.rss_end / 2**20:.0f} MiB at end",
                "—", f"{growth:.2f}x", "<= 1.2x (bounded)", growth <= 1.2,
            ))  # fmt: skip
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "throughput": [t.__dict__ | {"ratio": round(t.ratio, 3)} for t in self.throughput],
            "latency": [lat.__dict__ for lat in self.latency],
            "memory": None if self.memory is None else self.memory.__dict__,
        }


def bench(
    workdir: Path, quick: bool, brokers: list[str] | None = None, n: int | None = None
) -> StreamResult:
    brokers = brokers or ["redis", "kafka"]
    n = n or (100_000 if quick else 300_000)
    result = StreamResult()
    factories: dict[str, Any] = {}
    mock = None
    if "redis" in brokers:
        factories["redis"] = redis_broker
    if "kafka" in brokers:
        from headwater.streams.mock_kafka import MockKafka

        mock = MockKafka(brokers=3)
        cluster = mock.__enter__()
        factories["kafka"] = lambda topic: kafka_broker(topic, cluster)
    try:
        for name, factory in factories.items():
            # one untimed run first, as a long-running stream is: the process's one-time costs
            # (lazy imports, DuckDB's JSON extension and first allocations) are not throughput
            log(f"streams: {name} warm-up, 20,000 events (not measured)")
            throughput(factory, 20_000, "warm-up", "", workdir)
            for variant, extra in (
                ("plain", ""),
                ("+ expectations", EXPECTATIONS),
                ("+ window", WINDOW),
            ):
                log(f"streams: {name} throughput ({variant}), {n:,} events")
                try:
                    result.throughput.append(
                        throughput(factory, n, variant, extra, workdir, landing=variant == "plain")
                    )
                except ImportError as exc:  # windows not available in this build
                    log(f"  skipped: {exc}")
            log(f"streams: {name} latency at 10,000 events/s")
            result.latency.append(latency(factory, 10_000, 10 if quick else 20, workdir))
        if "redis" in factories:
            total = 200_000 if quick else 1_000_000
            log(f"streams: memory over {total:,} events (redis)")
            result.memory = memory(factories["redis"], total, workdir)
    finally:
        if mock is not None:
            mock.__exit__(None, None, None)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--brokers", default="redis,kafka")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hw-bench-streams-") as tmp:
        result = bench(Path(tmp), args.quick, args.brokers.split(","), args.events)
    print(render_table(result.rows()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
