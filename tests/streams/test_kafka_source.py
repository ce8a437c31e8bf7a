"""The Kafka source against librdkafka's mock cluster, served from a child process
(`headwater.streams.mock_kafka`), which clients reach over TCP like a real cluster.

A `Warehouse` stands in for the sink: it keeps the committed offset per partition, as the sink's
transaction would, and `positions` reads it. Every test uses its own topic and group (uuids).
Without confluent-kafka the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater import secrets
from headwater.errors import ConfigError
from headwater.streams.connectors.kafka import KafkaSource, produce, raw_consume
from headwater.streams.mock_kafka import MockKafka
from headwater.streams.source import Delivery, Message, SourceConfig

try:  # tests/streams as a package, or as a rootdir-less directory of test modules
    from tests.streams.kafka_cluster import (
        FAST_GROUP,
        kafka_cluster,
        kafka_config,
        kafka_topic,
        require_confluent_kafka,
    )
except ImportError:  # pragma: no cover
    from kafka_cluster import (  # type: ignore[no-redef]  # noqa: F401
        FAST_GROUP,
        kafka_cluster,
        kafka_config,
        kafka_topic,
        require_confluent_kafka,
    )

require_confluent_kafka()

DEADLINE = 15.0


class Warehouse:
    """The sink's side of exactly-once: rows and the last committed offset per partition."""

    def __init__(self) -> None:
        self.offsets: dict[str, str] = {}
        self.rows: list[bytes] = []
        self.asked: list[list[str]] = []

    def positions(self, names: list[str]) -> dict[str, str | None]:
        self.asked.append(sorted(names))
        return {name: self.offsets.get(name) for name in names}

    def commit(self, messages: Iterable[Message]) -> None:
        for m in messages:
            last = self.offsets.get(m.partition)
            assert last is None or int(m.offset) == int(last) + 1, (
                f"partition {m.partition}: offset {m.offset} does not follow {last}"
            )
            self.offsets[m.partition] = m.offset
            self.rows.append(m.value)


def values(prefix: str, n: int, start: int = 0) -> list[bytes]:
    return [f'{{"id": "{prefix}-{i}"}}'.encode() for i in range(start, start + n)]


def poll_until(
    source: KafkaSource, n: int, *, max_records: int = 1000, deadline: float = DEADLINE
) -> list[Message]:
    """Poll until ``n`` messages came (fails at the deadline)."""
    got: list[Message] = []
    end = time.monotonic() + deadline
    while len(got) < n:
        assert time.monotonic() < end, f"only {len(got)} of {n} messages within {deadline} s"
        got += source.poll(max_records, 0.2)
    return got


def wait_until(
    condition: Callable[[], bool], what: str, *sources: KafkaSource, deadline: float = DEADLINE
) -> list[Message]:
    """Poll ``sources`` (which serves their rebalances) until ``condition()``; the messages."""
    got: list[Message] = []
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        for source in sources:
            got += source.poll(100, 0.05)
        if not sources:
            time.sleep(0.02)  # waiting on a condition, with a deadline
    return got


def committed(bootstrap: str, topic: str, group: str, partitions: int) -> dict[str, int | None]:
    """The group's offsets as Kafka's tools see them (None: nothing committed)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    finally:
        consumer.close()
    return {str(tp.partition): (tp.offset if tp.offset >= 0 else None) for tp in tps}


def by_partition(messages: Iterable[Message]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for m in messages:
        out.setdefault(m.partition, []).append(int(m.offset))
    return out


def produce_at(bootstrap: str, topic: str, rows: list[tuple[int, int, bytes]]) -> None:
    """Produce (partition, timestamp ms, value) rows with explicit timestamps."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for partition, ms, value in rows:
        producer.produce(topic, value, partition=partition, timestamp=ms)
    assert producer.flush(10) == 0


# ------------------------------------------------------------------------------------ reading


def test_poll_ack_close_and_reopen_continues_exactly_after_the_committed_offsets(
    kafka_cluster: MockKafka, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic(3)
    config = kafka_config(kafka_cluster.bootstrap, topic)
    first = values("a", 300)
    before = time.time()
    produce(config, first)
    after = time.time()

    warehouse = Warehouse()
    source = KafkaSource(config)
    assert source.delivery is Delivery.POSITIONED
    source.open(warehouse.positions)
    got = poll_until(source, 300)
    assert sorted(m.value for m in got) == sorted(first)
    offsets = by_partition(got)
    assert offsets == {p: list(range(100)) for p in ("0", "1", "2")}  # round-robin, in order
    assert all(m.timestamp is not None and before - 1 <= m.timestamp <= after + 1 for m in got)
    assert source.assignment() == {"0", "1", "2"}
    assert warehouse.asked == [["0", "1", "2"]]

    # the sink commits the first 150 polled messages, then the broker is told
    warehouse.commit(got[:150])
    source.ack(got[:150])
    source.close()
    expected_kafka = {p: int(o) + 1 for p, o in warehouse.offsets.items()}
    assert {
        p: o
        for p, o in committed(kafka_cluster.bootstrap, topic, config.group, 3).items()
        if o is not None
    } == expected_kafka

    second = values("b", 60)
    produce(config, second)
    source = KafkaSource(config)
    source.open(warehouse.positions)
    rest = poll_until(source, 150 + 60)
    wait_until(lambda: set(source.lag().values()) == {0}, "the end of every partition", source)
    rest += source.poll(1000, 0)
    done = {m.value for m in got[:150]}
    assert sorted(m.value for m in rest) == sorted([v for v in first if v not in done] + second)
    warehouse.commit(rest)
    assert sorted(warehouse.rows) == sorted(first + second)  # no loss
    source.close()


def test_positions_decide_where_each_partition_starts(
    kafka_cluster: MockKafka, kafka_topic: Callable[..., str]
) -> None:
    """Property: each partition starts right after its committed offset; with none committed,
    at its beginning (start: earliest) or at its end (start: latest)."""
    topic = kafka_topic(3)
    base = kafka_config(kafka_cluster.bootstrap, topic)
    produce(base, values("p", 30))  # 10 per partition

    @settings(max_examples=10, deadline=None)
    @given(
        positions=st.fixed_dictionaries(
            {p: st.none() | st.integers(-1, 9) for p in ("0", "1", "2")}
        ),
        start=st.sampled_from(["earliest", "latest"]),
    )
    def check(positions: dict[str, int | None], start: str) -> None:
        config = kafka_config(kafka_cluster.bootstrap, topic, start=start)
        source = KafkaSource(config)
        source.open(
            lambda names: {n: None if positions[n] is None else str(positions[n]) for n in names}
        )
        try:
            expected = {
                (p, o)
                for p, last in positions.items()
                for o in range(10)
                if (last is not None and o > last) or (last is None and start == "earliest")
            }
            got = wait_until(
                lambda: (
                    source.assignment() == {"0", "1", "2"} and set(source.lag().values()) == {0}
                ),
                "every partition read to its end",
                source,
            )
            assert {(m.partition, int(m.offset)) for m in got} == expected
            assert len(got) == len(expected)
        finally:
            source.close()

    check()


def test_start_latest_reads_only_what_comes_after_the_assignment(
    kafka_cluster: MockKafka, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic(2)
    config = kafka_config(kafka_cluster.bootstrap, topic, start="latest")
    produce(config, values("old", 20))
    source = KafkaSource(config)
    source.open(Warehouse().positions)
    early = wait_until(lambda: source.assignment() == {"0", "1"}, "the assignment", source)
    assert early == []
    assert source.lag() == {"0": 0, "1": 0}
    new = values("new", 12)
    produce(config, new)
    got = poll_until(source, 12)
    assert sorted(m.value for m in got) == sorted(new)
    assert by_partition(got) == {"0": list(range(10, 16)), "1": list(range(10, 16))}
    source.close()


def test_a_failing_positions_call_is_raised_and_the_partitions_wait_for_it(
    kafka_cluster: MockKafka, kafka_topic: Callable[..., str]
) -> None:
    """The partitions are never read from wherever Kafka's group offset points: they stay
    paused until `positions` answers."""
    topic = kafka_topic(2)
    config = kafka_config(kafka_cluster.bootstrap, topic)
    produce(config, values("x", 20))
    calls: list[list[str]] = []

    def positions(names: list[str]) -> dict[str, str | None]:
        calls.append(sorted(names))
        if len(calls) == 1:
            raise RuntimeError("warehouse unavailable")
        return {n: "6" for n in names}

    source = KafkaSource(config)
    source.open(positions)
    end = time.monotonic() + DEADLINE
    with pytest.raises(RuntimeError, match="warehouse unavailable"):
        while time.monotonic() < end:
            assert source.poll(100, 0.1) == []
    assert source.assignment() == {"0", "1"}
    assert source.lag() == {"0": None, "1": None}  # not positioned yet
    got = poll_until(source, 6)
    assert calls == [["0", "1"], ["0", "1"]]
    assert by_partition(got) == {"0": [7, 8, 9], "1": [7, 8, 9]}
    source.close()


def test_seek_rereads_after_the_given_offset_and_drops_what_was_fetched(
    kafka_cluster: MockKafka, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic(2)
    config = kafka_config(kafka_cluster.bootstrap, topic)
    produce(config, values("s", 40))
    source = KafkaSource(config)
    source.open(Warehouse().positions)
    poll_until(source, 40)

    source.seek({"0": "4", "7": "1"})  # partition 7 is not ours: ignored
    again = poll_until(source, 15)
    wait_until(lambda: set(source.lag().values()) == {0}, "the end", source)
    again += source.poll(1000, 0)
    assert by_partition(again) == {"0": list(range(5, 20))}

    source.seek({"1": None})  # nothing committed: start: earliest
    again = poll_until(source, 20)
    assert by_partition(again) == {"1": list(range(20))}

    # a seek while messages are prefetched: they are dropped, the stream restarts at 3
    produce(config, values("t", 40, 40))  # 20 more per partition, fetched in the background
    first = source.poll(2, 5.0)
    assert first
    source.seek({"0": "2", "1": "2"})
    rest = poll_until(source, 2 * (40 - 3))
    wait_until(lambda: set(source.lag().values()) == {0}, "the end", source)
    rest += source.poll(1000, 0)
    assert by_partition(rest) == {"0": list(range(3, 40)), "1": list(range(3, 40))}
    source.close()


def test_lag_is_the_high_watermark_minus_the_position(
    kafka_cluster: MockKafka, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic(2)
    config = kafka_config(kafka_cluster.bootstrap, topic)
    produce(config, values("l", 20))
    source = KafkaSource(config)
    source.open(Warehouse().positions)
    assert source.lag() == {}  # nothing assigned before the first poll

    got: list[Message] = []
    end = time.monotonic() + DEADLINE
    while source.assignment() != {"0", "1"} or not got:  # one message at a time
        assert time.monotonic() < end, "no assignment"
        got += source.poll(1, 0.2)
    got += source.poll(2, 5.0)
    assert 1 <= len(got) <= 3
    read = by_partition(got)
    assert source.lag() == {p: 10 - (max(read[p]) + 1 if p in read else 0) for p in ("0", "1")}

    poll_until(source, 20 - len(got))
    assert source.lag() == {"0": 0, "1": 0}
    produce(config, values("m", 7))  # 4 to partition 0, 3 to partition 1
    wait_until(lambda: source.lag() == {"0": 4, "1": 3}, "lag 4 and 3")
    source.close()


# ---------------------------------------------------------------------------------- rebalance


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["cooperative-sticky", "range"])
def test_two_members_split_the_partitions_and_take_them_over(
    kafka_cluster: MockKafka, kafka_topic: Callable[..., str], strategy: str
) -> None:
    """A second member joins: the partitions are split, the revoked partitions' prefetched
    messages never come out of the first member, and the new owner starts right after the
    warehouse position. The first leaves: the second takes everything over. Rows: exactly once
    (`Warehouse.commit` fails on any gap or repeat)."""
    topic = kafka_topic(4)
    everything = {"0", "1", "2", "3"}
    options = {"kafka": {**FAST_GROUP, "partition.assignment.strategy": strategy}}
    config = kafka_config(kafka_cluster.bootstrap, topic, **options)
    produced = values("r", 400)
    produce(config, produced)
    warehouse = Warehouse()

    def process(source: KafkaSource, messages: list[Message]) -> list[Message]:
        """What a member does with a batch: the warehouse commit (a compare-and-swap there),
        then the ack. Every message must be of a partition the member holds now."""
        assert {m.partition for m in messages} <= source.assignment(), (
            "a revoked partition's message"
        )
        warehouse.commit(messages)
        source.ack(messages)
        return messages

    class Member:
        """A source with a record of where it started each partition and what it was told."""

        def __init__(self) -> None:
            self.source = KafkaSource(config)
            self.told: dict[str, str | None] = {}
            self.first: dict[str, int] = {}

        def positions(self, names: list[str]) -> dict[str, str | None]:
            answer = warehouse.positions(names)
            for name in names:
                self.told.setdefault(name, answer[name])
            return answer

        def step(self, n: int) -> None:
            for m in process(self.source, self.source.poll(n, 0.05)):
                self.first.setdefault(m.partition, int(m.offset))

        def started_right_after_the_warehouse(self) -> None:
            for p, first in self.first.items():
                told = self.told[p]
                assert first == (int(told) + 1 if told is not None else 0), (p, first, told)

    a, b = Member(), Member()
    a.source.open(a.positions)
    end = time.monotonic() + DEADLINE
    while a.source.assignment() != everything or len(warehouse.rows) < 8:
        assert time.monotonic() < end, "a did not get the partitions"
        a.step(4)  # a few messages at a time; librdkafka prefetches the rest

    b.source.open(b.positions)
    end = time.monotonic() + DEADLINE
    while not (
        b.source.assignment() and a.source.assignment() | b.source.assignment() == everything
    ):
        assert time.monotonic() < end, "the group did not split the partitions"
        a.step(4)
        b.step(4)
    moved = b.source.assignment()
    assert moved and a.source.assignment() and not a.source.assignment() & moved

    # both read on until every produced message is in the warehouse
    end = time.monotonic() + DEADLINE
    while len(warehouse.rows) < 400:
        assert time.monotonic() < end, f"{len(warehouse.rows)} of 400 rows"
        a.step(50)
        b.step(50)
    assert sorted(warehouse.rows) == sorted(produced)
    assert set(b.first) <= moved
    b.started_right_after_the_warehouse()
    a.started_right_after_the_warehouse()

    # Kafka has b's offsets; a's stale ack of b's partitions is ignored, also by its close()
    wait_until(
        lambda: all(
            committed(kafka_cluster.bootstrap, topic, config.group, 4)[p]
            == int(warehouse.offsets[p]) + 1
            for p in moved
        ),
        "b's commits in Kafka",
        b.source,
    )
    a.source.ack([Message(p, "0", b"") for p in moved])
    a.source.close()
    kafka = committed(kafka_cluster.bootstrap, topic, config.group, 4)
    assert {p: kafka[p] for p in moved} == {p: int(warehouse.offsets[p]) + 1 for p in moved}

    # a has left; b takes everything over and reads on after the warehouse positions
    c_told = dict(warehouse.offsets)
    b.first.clear()
    wait_until(lambda: b.source.assignment() == everything, "b holds all", b.source)
    more = values("r", 40, 400)
    produce(config, more)
    end = time.monotonic() + DEADLINE
    while len(warehouse.rows) < 440:
        assert time.monotonic() < end, f"{len(warehouse.rows)} of 440 rows"
        b.step(100)
    assert all(first == int(c_told[p]) + 1 for p, first in b.first.items())
    b.source.close()
    assert sorted(warehouse.rows) == sorted(produced + more)  # exactly once
    kafka = committed(kafka_cluster.bootstrap, topic, config.group, 4)
    assert kafka == {p: int(o) + 1 for p, o in warehouse.offsets.items()}


@pytest.mark.slow
def test_a_failing_positions_call_during_a_takeover_loses_and_repeats_nothing(
    kafka_cluster: MockKafka, kafka_topic: Callable[..., str]
) -> None:
    """`positions` fails when a partition comes back to a member that reads another one while
    messages keep coming: that poll raises once, the partition waits paused, and then both
    partitions go on with no gap and no repeat (`Warehouse.commit` fails on either). Messages a
    raising poll had already taken from librdkafka are returned by the next poll; on the mock a
    join blocks the coordinator's connection, so that batch is usually empty here."""
    from confluent_kafka import Producer

    topic = kafka_topic(2)
    config = kafka_config(kafka_cluster.bootstrap, topic)
    warehouse = Warehouse()
    broken = threading.Event()
    stop = threading.Event()
    produced: list[bytes] = []

    def keep_producing() -> None:
        producer = Producer({"bootstrap.servers": kafka_cluster.bootstrap, "linger.ms": 1})
        while not stop.is_set():
            for _ in range(20):
                value = f"c-{len(produced)}".encode()
                producer.produce(topic, value, partition=len(produced) % 2)
                produced.append(value)
            producer.poll(0.005)  # a steady stream of ~4000 messages/s
        assert producer.flush(10) == 0

    def positions(names: list[str]) -> dict[str, str | None]:
        if broken.is_set():
            broken.clear()
            raise RuntimeError("warehouse unavailable")
        return warehouse.positions(names)

    def step(source: KafkaSource, n: int) -> None:
        batch = source.poll(n, 0.05)
        warehouse.commit(batch)
        source.ack(batch)

    producer = threading.Thread(target=keep_producing)
    producer.start()
    try:
        a, b = KafkaSource(config), KafkaSource(config)
        a.open(positions)
        b.open(warehouse.positions)
        end = time.monotonic() + DEADLINE
        while not (a.assignment() and b.assignment()):
            assert time.monotonic() < end, "the group did not split the partitions"
            step(a, 20)
            step(b, 20)
        broken.set()
        b.close()  # a gets b's partition back, and `positions` fails for it
        raised = 0
        end = time.monotonic() + DEADLINE
        while not raised or a.assignment() != {"0", "1"}:
            assert time.monotonic() < end, "the partition did not come back"
            try:
                step(a, 20)
            except RuntimeError:
                raised += 1
    finally:
        stop.set()
        producer.join()
    end = time.monotonic() + DEADLINE
    while len(warehouse.rows) < len(produced):
        assert time.monotonic() < end, f"{len(warehouse.rows)} of {len(produced)} rows"
        step(a, 1000)
    assert raised == 1
    assert sorted(warehouse.rows) == sorted(produced)
    a.close()


# -------------------------------------------------------------------------------------- reset


def test_reset_to_earliest_and_latest_without_joining(
    kafka_cluster: MockKafka, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic(3)
    config = kafka_config(kafka_cluster.bootstrap, topic)
    produce(config, values("e", 30))
    source = KafkaSource(config)  # never opened
    assert source.reset("earliest") == {"0": "-1", "1": "-1", "2": "-1"}
    assert committed(kafka_cluster.bootstrap, topic, config.group, 3) == {"0": 0, "1": 0, "2": 0}
    assert source.reset("latest") == {"0": "9", "1": "9", "2": "9"}
    assert committed(kafka_cluster.bootstrap, topic, config.group, 3) == {
        "0": 10,
        "1": 10,
        "2": 10,
    }

    positions = source.reset("earliest")
    source.open(lambda names: {n: positions[n] for n in names})
    assert len(poll_until(source, 30)) == 30
    source.close()


def test_reset_to_a_time_and_start_at_a_time(
    kafka_cluster: MockKafka, kafka_topic: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    """The mock answers no offsets by timestamp; the source finds them in the messages."""
    topic = kafka_topic(2)
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    ms0 = int(t0.timestamp() * 1000)
    produce_at(
        kafka_cluster.bootstrap,
        topic,
        [(p, ms0 + i * 1000, f"{p}-{i}".encode()) for p in (0, 1) for i in range(10)],
    )
    config = kafka_config(kafka_cluster.bootstrap, topic)
    source = KafkaSource(config)
    at = t0 + timedelta(seconds=4.5)
    assert source.reset(at) == {"0": "4", "1": "4"}  # the first message at or after: 5
    assert source.reset("2026-03-01T12:00:04Z") == {"0": "3", "1": "3"}  # exactly at 4
    assert source.reset(t0 - timedelta(days=1)) == {"0": "-1", "1": "-1"}
    assert source.reset(t0 + timedelta(days=1)) == {"0": "9", "1": "9"}
    with pytest.raises(ConfigError, match="not earliest, latest or an ISO timestamp"):
        source.reset("yesterday")

    started = kafka_config(kafka_cluster.bootstrap, topic, start="2026-03-01T12:00:07+00:00")
    reader = KafkaSource(started)
    reader.open(Warehouse().positions)
    got = wait_until(
        lambda: reader.assignment() == {"0", "1"} and set(reader.lag().values()) == {0},
        "the end",
        reader,
    )
    assert by_partition(got) == {"0": [7, 8, 9], "1": [7, 8, 9]}

    # while a member runs, Kafka refuses the outside commit: the reset stands, with a warning
    running = KafkaSource(kafka_config(kafka_cluster.bootstrap, topic, group=started.group))
    with caplog.at_level(logging.WARNING, logger="headwater.streams.kafka"):
        assert running.reset("earliest") == {"0": "-1", "1": "-1"}
    assert "refused the reset offsets" in caplog.text
    reader.close()


def test_reset_to_a_time_finds_the_first_message_at_or_after_it(
    kafka_cluster: MockKafka,
) -> None:
    """Property, against a reference: for non-decreasing timestamps, the offset before the first
    message whose timestamp is >= the time (the last offset when there is none)."""
    ms0 = 1_700_000_000_000

    @settings(max_examples=15, deadline=None)
    @given(
        gaps=st.lists(st.integers(0, 3000), max_size=30),
        at=st.integers(-1000, 60_000),
    )
    def check(gaps: list[int], at: int) -> None:
        topic = f"ts-{uuid.uuid4().hex[:12]}"
        kafka_cluster.create_topic(topic, 1)
        stamps = [ms0 + sum(gaps[: i + 1]) for i in range(len(gaps))]
        produce_at(kafka_cluster.bootstrap, topic, [(0, ms, b"x") for ms in stamps])
        expected = next((i for i, ms in enumerate(stamps) if ms >= ms0 + at), len(stamps))
        source = KafkaSource(kafka_config(kafka_cluster.bootstrap, topic))
        when = datetime.fromtimestamp((ms0 + at) / 1000, UTC)
        assert source.reset(when) == {"0": str(expected - 1)}

    check()


# ----------------------------------------------------------------------------- configuration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_brokers_are_a_config_error_within_seconds() -> None:
    address = f"127.0.0.1:{_free_port()}"
    config = kafka_config(address, "orders")
    for action in (
        lambda: KafkaSource(config).open(Warehouse().positions),
        lambda: KafkaSource(config).reset("earliest"),
        lambda: produce(config, [b"x"]),
    ):
        began = time.monotonic()
        with pytest.raises(ConfigError) as info:
            action()
        assert time.monotonic() - began < 3.0
        assert address in str(info.value) and "brokers" in (info.value.hint or "")
        assert info.value.exit_code == 2

    began = time.monotonic()
    with pytest.raises(ConfigError, match=re.escape("no-such-host.invalid")):
        KafkaSource(kafka_config("no-such-host.invalid:9092", "orders")).open(Warehouse().positions)
    assert time.monotonic() - began < 3.0


def test_a_missing_topic_is_a_config_error(kafka_cluster: MockKafka) -> None:
    config = kafka_config(kafka_cluster.bootstrap, f"missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ConfigError, match="is not available") as info:
        KafkaSource(config).open(Warehouse().positions)
    assert "create the topic" in (info.value.hint or "")


def test_options_are_checked_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    def make(**options: Any) -> KafkaSource:
        return KafkaSource(
            SourceConfig("s", "kafka", "orders", "g", "earliest", options, "streams/s.yml:2")
        )

    with pytest.raises(ConfigError, match="did you mean `brokers`"):
        make(broker="localhost:9092")
    with pytest.raises(ConfigError, match="needs `brokers:`"):
        make()
    with pytest.raises(ConfigError, match=re.escape("enable.auto.commit")):
        make(brokers="h:1", kafka={"enable.auto.commit": True})
    with pytest.raises(ConfigError, match="`group:`"):
        make(brokers="h:1", kafka={"group.id": "other"})
    with pytest.raises(ConfigError, match="KAFKA_TEST_PASSWORD"):
        make(brokers="h:1", kafka={"sasl.password_env": "KAFKA_TEST_PASSWORD"})
    with pytest.raises(ConfigError, match="not earliest, latest"):
        KafkaSource(SourceConfig("s", "kafka", "orders", "g", "soon", {"brokers": "h:1"}))

    monkeypatch.setenv("KAFKA_TEST_PASSWORD", "hunter2-kafka")
    source = make(
        brokers="h:1",
        kafka={"sasl.username": "etl", "sasl.password_env": "KAFKA_TEST_PASSWORD"},
    )
    assert source.settings == {"sasl.username": "etl", "sasl.password": "hunter2-kafka"}
    assert "hunter2-kafka" not in secrets.mask("auth failed for hunter2-kafka")

    with pytest.raises(ConfigError, match=re.escape("no.such.setting")):
        make(brokers="h:1", kafka={"no.such.setting": 1}).open(Warehouse().positions)


@given(st.lists(st.integers(-1, 2**63 - 1), min_size=2, max_size=20))
def test_order_key_sorts_like_the_offsets(offsets: list[int]) -> None:
    source = KafkaSource(SourceConfig("s", "kafka", "t", "g", "earliest", {"brokers": "h:1"}))
    keys = [source.order_key(str(o)) for o in offsets]
    assert sorted(offsets) == [offsets[keys.index(k)] for k in sorted(keys)]
    assert len({len(k) for k in keys}) == 1


# ------------------------------------------------------------------- produce, raw, mock cluster


def test_produce_spreads_and_raw_consume_reads_and_commits(
    kafka_cluster: MockKafka, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic(4)
    config = kafka_config(kafka_cluster.bootstrap, topic)
    produce(config, values("w", 500))
    assert raw_consume(config, 500, 10.0) == 500
    assert committed(kafka_cluster.bootstrap, topic, config.group, 4) == dict.fromkeys(
        ("0", "1", "2", "3"), 125
    )
    assert raw_consume(config, 10, 0.5) == 0  # all committed: nothing more
    for value in values("w", 3, 500):  # one at a time: the round-robin goes on across calls
        produce(config, [value])
    assert raw_consume(config, 3, 10.0) == 3
    assert committed(kafka_cluster.bootstrap, topic, config.group, 4) == {
        "0": 126,
        "1": 126,
        "2": 126,
        "3": 125,
    }


def test_a_broker_restart_keeps_the_data_and_the_stream_goes_on() -> None:
    with MockKafka(brokers=1) as cluster:
        topic = "restart"
        cluster.create_topic(topic, 2)
        config = kafka_config(cluster.bootstrap, topic)
        produce(config, values("k", 50))
        warehouse = Warehouse()
        source = KafkaSource(config)
        source.open(warehouse.positions)
        got = poll_until(source, 50)
        warehouse.commit(got)
        source.ack(got)
        before = committed(cluster.bootstrap, topic, config.group, 2)

        cluster.restart(downtime=0.5)
        assert committed(cluster.bootstrap, topic, config.group, 2) == before == {"0": 25, "1": 25}
        produce(config, values("k", 50, 50))
        more = poll_until(source, 50)
        warehouse.commit(more)
        assert sorted(warehouse.rows) == sorted(values("k", 100))
        source.close()


def test_the_mock_cluster_command_line_serves_until_sigterm() -> None:
    from confluent_kafka import Consumer

    proc = subprocess.Popen(
        [sys.executable, "-m", "headwater.streams.mock_kafka", "--brokers", "2",
         "--partitions", "5", "--topic", "events"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=DEADLINE)
        assert lines and lines[0].count(":") == 2, lines
        bootstrap = lines[0].strip()
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "cli"})
        metadata = consumer.list_topics("events", timeout=10)
        consumer.close()
        assert len(metadata.brokers) == 2
        assert len(metadata.topics["events"].partitions) == 5
        assert proc.poll() is None  # still serving
        proc.terminate()
        assert proc.wait(timeout=DEADLINE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert os.getpid() != proc.pid


def test_a_changed_topic_is_refused_until_a_reset_says_where_to_start(
    kafka_cluster: Any, tmp_path: Path
) -> None:
    """The warehouse's offsets are offsets in the topic they were read from: after `topic:`
    changed, applying them would skip the new topic's first messages without a word."""
    from headwater.cli import main

    first, second = f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    for topic in (first, second):
        kafka_cluster.create_topic(topic, 2)
    root = tmp_path / "p"
    (root / "streams").mkdir(parents=True)
    (root / "headwater.yml").write_text(
        "name: p\ndefault_target: dev\ntargets:\n  dev: {engine: duckdb, path: .headwater/w.duckdb}\n"
    )

    def stream(topic: str) -> None:
        (root / "streams" / "s.yml").write_text(
            "streams:\n  - name: s\n    source:\n      connector: kafka\n"
            f"      brokers: {kafka_cluster.bootstrap}\n      topic: {topic}\n      group: g\n"
            f"      kafka: {json.dumps(FAST_GROUP)}\n    schema: {{id: BIGINT}}\n    sink: {{table: raw.s}}\n"
        )

    config = kafka_config(kafka_cluster.bootstrap, first)
    produce(config, [json.dumps({"id": i}).encode() for i in range(30)])
    stream(first)
    assert main(["stream", "run", "s", "--until-idle", "--project-dir", str(root)]) == 0
    produce(
        kafka_config(kafka_cluster.bootstrap, second),
        [json.dumps({"id": 100 + i}).encode() for i in range(10)],
    )
    stream(second)
    assert main(["stream", "run", "s", "--until-idle", "--project-dir", str(root)]) == 2
    assert main(["stream", "reset", "s", "--to", "earliest", "--project-dir", str(root)]) == 0
    assert main(["stream", "run", "s", "--until-idle", "--project-dir", str(root)]) == 0
    con = duckdb.connect(str(root / ".headwater" / "w.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*), min(id) from raw.s where id >= 100").fetchall() == [
            (10, 100)
        ]
    finally:
        con.close()
