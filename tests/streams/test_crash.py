"""Exactly once, proven by killing: `headwater stream run` processes are SIGKILLed at random points
while a producer writes at a steady rate, a second process joins and leaves (the group
rebalances), and a poison message sits in the middle. After a final drain the sink holds exactly
the produced events: none lost, none twice. Each process is a real `headwater` process against
the real broker."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.streams import kafka_cluster as kafka_fixtures
from tests.streams.conftest import REDIS_URL, need

kafka_cluster = kafka_fixtures.kafka_cluster

pytestmark = pytest.mark.slow

PROJECT = """\
name: crash
default_target: dev
targets:
  dev: {engine: duckdb, path: .headwater/warehouse.duckdb, threads: 1}
"""


@dataclass
class Broker:
    name: str
    source_yaml: str
    """The `source:` mapping's lines (indented 6 spaces)."""
    produce: Callable[[list[bytes]], None]


def redis_broker(key: str) -> Iterator[Broker]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        need(f"Redis at {REDIS_URL} is not available: {exc}")

    def produce(values: list[bytes]) -> None:
        pipe = client.pipeline(transaction=False)
        for v in values:
            pipe.xadd(key, {"data": v})
        pipe.execute()

    yaml = f"      connector: redis\n      url: {REDIS_URL}\n      topic: {key}\n      group: g\n      claim_idle: 500 ms\n"
    yield Broker("redis", yaml, produce)
    client.delete(key)


def kafka_broker(topic: str, cluster: Any) -> Iterator[Broker]:
    """librdkafka's mock cluster in its own process: consumers in other processes, SIGKILLed at
    will, talk the Kafka protocol to it (short sessions: a killed member's partitions move on)."""
    from headwater.streams.connectors.kafka import produce as kafka_produce
    from headwater.streams.source import SourceConfig

    cluster.create_topic(topic, 3)
    config = SourceConfig("events", "kafka", topic, "g", "earliest", {"brokers": cluster.bootstrap})
    yaml = (f"      connector: kafka\n      brokers: {cluster.bootstrap}\n      topic: {topic}\n      group: g\n"
            "      kafka: {session.timeout.ms: 1500, heartbeat.interval.ms: 150, fetch.wait.max.ms: 100}\n")  # fmt: skip
    yield Broker("kafka", yaml, lambda values: kafka_produce(config, values))


@pytest.fixture(params=["redis", "kafka"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    import uuid

    topic = f"hwcrash-{uuid.uuid4().hex[:8]}"
    if request.param == "kafka":
        yield from kafka_broker(topic, request.getfixturevalue("kafka_cluster"))
    else:
        yield from redis_broker(topic)


def write_project(root: Path, broker: Broker) -> None:
    (root / "streams").mkdir(parents=True)
    (root / "headwater.yml").write_text(PROJECT)
    (root / "streams" / "events.yml").write_text(
        "streams:\n  - name: events\n    source:\n" + broker.source_yaml
        + "    schema: {id: BIGINT, ts: TIMESTAMP}\n    event_time: ts\n"
        "    expectations:\n      - expect_column_values_to_not_be_null: {column: id}\n"
        "    sink: {table: raw.events}\n    trigger: {max_records: 300, max_seconds: 0.3}\n"
    )  # fmt: skip


def start(root: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HEADWATER_LOCK_TIMEOUT": "0"}
    with open(root / "runs.log", "ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "headwater", "stream", "run", "events", "--quiet",
             "--project-dir", str(root), *extra],
            stdout=log, stderr=log, env=env,
        )  # fmt: skip


def committed(root: Path) -> int:
    """Rows in the sink, read while no process holds the warehouse (0 before the first commit)."""
    path = root / ".headwater" / "warehouse.duckdb"
    if not path.exists():
        return 0
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return 0
    try:
        return int(con.execute("select count(*) from raw.events").fetchone()[0])  # type: ignore[index]
    except duckdb.CatalogException:
        return 0
    finally:
        con.close()


def test_sigkill_rebalance_and_poison_lose_and_duplicate_nothing(
    broker: Broker, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    root = tmp_path / "p"
    write_project(root, broker)
    total, rate = 4000, 1000  # events, events per second
    done = threading.Event()

    def producer() -> None:
        sent = 0
        t0 = time.monotonic()
        while sent < total:
            due = min(total, int((time.monotonic() - t0) * rate) + 50)
            values = [
                json.dumps({"id": i, "ts": f"2026-01-01T00:00:{i % 60:02d}"}).encode()
                for i in range(sent, due)
            ]
            if sent <= total // 2 < due:
                values.insert(total // 2 - sent, b'{"id": null, "poison": true}')
            broker.produce(values)
            sent = due
            time.sleep(0.02)  # the producer's pace, not a wait for the consumer
        done.set()

    feeder = threading.Thread(target=producer, daemon=True)
    feeder.start()
    kills = starved = 0
    # at least three kills, and go on until a killed process had committed something: a start-up
    # and group join (which waits out the session of the member killed before) can outlast a short
    # life, so each life that ends with nothing committed makes the next one longer
    while not done.is_set() or kills < 3 or (starved and kills < 12):
        procs = [start(root)]
        if rng.random() < 0.5:  # a second member joins the group for a while: a rebalance
            procs.append(start(root))
        time.sleep(rng.uniform(0.8, 2.0) + 0.75 * starved)  # to a random point of its work
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
        kills += 1
        starved = starved + 1 if committed(root) == 0 else 0
    feeder.join()
    drain = subprocess.run(
        [sys.executable, "-m", "headwater", "stream", "run", "events", "--until-idle", "--project-dir", str(root)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert drain.returncode == 0, drain.stderr + (root / "runs.log").read_text()
    drained = int(re.search(r"events: ([\d,]+) events", drain.stdout).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert drained < total, (
        f"the killed processes committed nothing in {kills} lives (seed {seed}): "
        + (root / "runs.log").read_text()[-3000:]
    )
    con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    try:
        ids = [r[0] for r in con.execute("select id from raw.events").fetchall()]
        dead = con.execute("select payload, reason from raw.events__dlq").fetchall()
    finally:
        con.close()
    assert len(ids) == len(set(ids)), f"duplicates (seed {seed})"
    assert set(ids) == set(range(total)), (
        f"lost {sorted(set(range(total)) - set(ids))[:10]} (seed {seed})"
    )
    assert dead == [
        ('{"id": null, "poison": true}', "failed expect_column_values_to_not_be_null(id)")
    ]
