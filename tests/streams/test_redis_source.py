"""The Redis Streams source against the real Redis on 127.0.0.1:6379.

Each test uses its own stream key (a uuid) and deletes it at the end. Without a reachable Redis the
tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.errors import ConfigError
from headwater.streams.connectors.redis import (
    RedisSource,
    _id_before,
    produce,
    raw_consume,
)
from headwater.streams.source import Delivery, Message, SourceConfig

REDIS_URL = "redis://127.0.0.1:6379/0"
IN_CI = os.environ.get("CI", "").lower() == "true"
MAX_SEQ = 2**64 - 1


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_client() -> Iterator[Any]:
    redis = pytest.importorskip("redis") if not IN_CI else __import__("redis")
    if not _redis_up():
        if IN_CI:
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 (CI=true: it must be running)")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def key(redis_client: Any) -> Iterator[str]:
    name = f"hw-test-{uuid.uuid4().hex}"
    yield name
    redis_client.delete(name)


def config(key: str, start: str = "earliest", group: str = "g", **options: Any) -> SourceConfig:
    return SourceConfig(
        stream="orders_live",
        connector="redis",
        topic=key,
        group=group,
        start=start,
        options={"url": REDIS_URL, **options},
        location="streams/orders.yml:3",
    )


def nothing_committed(partitions: list[str]) -> dict[str, str | None]:
    return {p: None for p in partitions}


@pytest.fixture
def opened() -> Iterator[Callable[..., RedisSource]]:
    """Open sources, closed at the end of the test."""
    sources: list[RedisSource] = []

    def make(cfg: SourceConfig) -> RedisSource:
        source = RedisSource(cfg)
        source.open(nothing_committed)
        sources.append(source)
        return source

    yield make
    for source in sources:
        source.close()


def drain(source: RedisSource, n: int, deadline: float = 10.0, batch: int = 1000) -> list[Message]:
    """Poll until ``n`` messages arrived (or fail at the deadline)."""
    out: list[Message] = []
    end = time.monotonic() + deadline
    while len(out) < n:
        assert time.monotonic() < end, f"only {len(out)} of {n} messages within {deadline}s"
        out += source.poll(batch, 0.2)
    return out


def pending(redis_client: Any, key: str, group: str = "g") -> dict[str, int]:
    """Pending entries per consumer name."""
    summary = redis_client.xpending(key, group)
    return {c["name"].decode(): int(c["pending"]) for c in summary["consumers"]}


def payloads(n: int, tag: str = "") -> list[bytes]:
    return [json.dumps({"order_id": i, "tag": tag, "pad": "x" * 150}).encode() for i in range(n)]


# -- delivering and acknowledging ----------------------------------------------------------------


def test_produce_poll_ack(key: str, redis_client: Any, opened: Callable[..., RedisSource]) -> None:
    values = payloads(2500)
    produce(config(key), values)
    source = opened(config(key))
    assert source.delivery is Delivery.ACKED
    assert source.assignment() == {key}
    got = drain(source, 2500)
    assert [m.value for m in got] == values
    assert {m.partition for m in got} == {key}
    ids = [e[0].decode() for e in redis_client.xrange(key)]
    assert [m.offset for m in got] == ids
    first_ms = int(ids[0].split("-")[0])
    assert got[0].timestamp == first_ms / 1000
    assert pending(redis_client, key) == {source.consumer: 2500}
    source.ack(got)
    assert pending(redis_client, key) == {}
    assert source.poll(100, 0.05) == []


def test_poll_returns_empty_within_the_timeout(
    key: str, opened: Callable[..., RedisSource]
) -> None:
    source = opened(config(key, block_ms=5000))
    started = time.monotonic()
    assert source.poll(100, 0.2) == []
    assert time.monotonic() - started < 1.5


def test_ack_is_bulk_and_ignores_other_partitions(
    key: str, redis_client: Any, opened: Callable[..., RedisSource]
) -> None:
    produce(config(key), payloads(25_000))
    source = opened(config(key))
    got = drain(source, 25_000, batch=25_000)
    foreign = Message("another-stream", got[0].offset, b"x")
    source.ack([foreign])  # a message of a partition this source does not read: nothing happens
    assert pending(redis_client, key) == {source.consumer: 25_000}
    source.ack(got)  # more ids than one XACK carries
    assert pending(redis_client, key) == {}


def test_two_consumers_split_the_entries(
    key: str, redis_client: Any, opened: Callable[..., RedisSource]
) -> None:
    produce(config(key), payloads(600))
    a = opened(config(key, consumer="a"))
    b = opened(config(key, consumer="b"))
    got: dict[str, list[str]] = {"a": [], "b": []}
    end = time.monotonic() + 10
    while len(got["a"]) + len(got["b"]) < 600:
        assert time.monotonic() < end
        for name, source in (("a", a), ("b", b)):
            got[name] += [m.offset for m in source.poll(25, 0.05)]
    assert got["a"] and got["b"]
    assert not set(got["a"]) & set(got["b"])
    assert len(set(got["a"]) | set(got["b"])) == 600
    assert pending(redis_client, key) == {"a": len(got["a"]), "b": len(got["b"])}


def test_raw_consume_reads_and_acks(key: str, redis_client: Any) -> None:
    produce(config(key), payloads(3000))
    assert raw_consume(config(key, group="raw"), 3000, 10.0) == 3000
    assert pending(redis_client, key, "raw") == {}
    assert raw_consume(config(key, group="raw"), 10, 0.3) == 0  # nothing left: times out


# -- crashes and redelivery ----------------------------------------------------------------------

CRASHING_CONSUMER = textwrap.dedent(
    """
    import sys, time
    from headwater.streams.connectors.redis import RedisSource
    from headwater.streams.source import SourceConfig

    cfg = SourceConfig(stream="orders_live", connector="redis", topic=sys.argv[1], group="g",
                       start="earliest", options={"consumer": "doomed", "claim_idle": 0.3})
    source = RedisSource(cfg)
    source.open(lambda ps: {p: None for p in ps})
    got = 0
    while got < int(sys.argv[2]):
        got += len(source.poll(1000, 0.2))
    print("polled", got, flush=True)
    time.sleep(60)  # killed long before: the entries stay pending to "doomed"
    """
)


def test_a_killed_consumers_entries_are_claimed_by_a_survivor(
    key: str, redis_client: Any, opened: Callable[..., RedisSource]
) -> None:
    produce(config(key), payloads(500))
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_CONSUMER, key, "500"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().split() == ["polled", "500"]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        if child.stdout:
            child.stdout.close()
    assert pending(redis_client, key) == {"doomed": 500}
    produce(config(key), payloads(10, "new"))

    survivor = opened(config(key, consumer="survivor", claim_idle=0.3))
    got = drain(survivor, 510)
    assert len(got) == 510
    assert len({m.offset for m in got}) == 510
    in_order = sorted((m.offset for m in got), key=survivor.order_key)
    assert in_order == [e[0].decode() for e in redis_client.xrange(key)]
    assert pending(redis_client, key) == {"survivor": 510}
    survivor.ack(got)
    assert pending(redis_client, key) == {}


def test_in_flight_entries_are_not_claimed_back_by_their_own_consumer(
    key: str, redis_client: Any, opened: Callable[..., RedisSource]
) -> None:
    produce(config(key), payloads(50))
    source = opened(config(key, claim_idle=0.1))
    first = drain(source, 50)
    # poll until the claim scan has taken every entry (idle > claim_idle) again: XAUTOCLAIM
    # counts a delivery each time; the source must not hand them out a second time
    end = time.monotonic() + 5
    while min(r["times_delivered"] for r in _pending_rows(redis_client, key)) < 2:
        assert time.monotonic() < end, "the claim scan never ran"
        assert source.poll(100, 0.05) == []
    produce(config(key), payloads(5, "new"))
    later = drain(source, 5)
    assert len(later) == 5
    assert not {m.offset for m in later} & {m.offset for m in first}
    source.ack(first + later)
    assert pending(redis_client, key) == {}


def _pending_rows(redis_client: Any, key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = redis_client.xpending_range(key, "g", "-", "+", 1000)
    return rows


def test_a_restarted_consumer_gets_its_own_pending_entries_first(
    key: str, redis_client: Any, opened: Callable[..., RedisSource]
) -> None:
    produce(config(key), payloads(30))
    before = opened(config(key, consumer="stable", claim_idle=3600))
    got = drain(before, 30)
    before.ack(got[:10])
    before.close()  # 20 still pending: the consumer stays in the group
    assert pending(redis_client, key) == {"stable": 20}
    produce(config(key), payloads(5, "new"))
    after = opened(config(key, consumer="stable", claim_idle=3600))
    again = after.poll(1000, 0.2)
    assert [m.offset for m in again] == [m.offset for m in got[10:]]
    new = drain(after, 5)
    assert [json.loads(m.value)["tag"] for m in new] == ["new"] * 5


def test_seek_delivers_the_pending_entries_again(
    key: str, opened: Callable[..., RedisSource]
) -> None:
    produce(config(key), payloads(20))
    source = opened(config(key, claim_idle=3600))
    got = drain(source, 20)
    source.seek({key: got[4].offset})
    assert [m.offset for m in drain(source, 15)] == [m.offset for m in got[5:]]
    source.seek({"another-stream": None})  # not ours: nothing to do
    assert source.poll(100, 0.05) == []


def test_close_removes_the_consumer_only_without_pending_entries(
    key: str, redis_client: Any
) -> None:
    idle = RedisSource(config(key, consumer="idle"))
    idle.open(nothing_committed)
    assert idle.poll(10, 0.01) == []  # joins the group (XREADGROUP creates the consumer)
    produce(config(key), payloads(4))
    busy = RedisSource(config(key, consumer="busy"))
    busy.open(nothing_committed)
    assert len(drain(busy, 4)) == 4
    names = {c["name"] for c in redis_client.xinfo_consumers(key, "g")}
    assert names == {b"idle", b"busy"}
    idle.close()
    busy.close()
    busy.close()  # closing twice is harmless
    assert [c["name"] for c in redis_client.xinfo_consumers(key, "g")] == [b"busy"]


def test_a_deleted_group_is_created_again(
    key: str, redis_client: Any, opened: Callable[..., RedisSource]
) -> None:
    source = opened(config(key))
    redis_client.xgroup_destroy(key, "g")
    produce(config(key), payloads(3))
    assert len(drain(source, 3)) == 3


def test_a_dropped_connection_is_reestablished(
    key: str, redis_client: Any, opened: Callable[..., RedisSource]
) -> None:
    source = opened(config(key, consumer="c1"))
    assert source.poll(10, 0.01) == []
    ours = [c for c in redis_client.client_list() if c["name"] == "headwater:orders_live:c1"]
    assert len(ours) == 1
    redis_client.client_kill_filter(_id=ours[0]["id"])
    produce(config(key), payloads(3))
    assert len(drain(source, 3)) == 3


def test_an_entry_deleted_while_pending_is_acknowledged_and_skipped(
    key: str, redis_client: Any, opened: Callable[..., RedisSource]
) -> None:
    produce(config(key), payloads(3))
    before = opened(config(key, consumer="stable", claim_idle=3600))
    got = drain(before, 3)
    before.close()
    redis_client.xdel(key, got[1].offset)
    after = opened(config(key, consumer="stable", claim_idle=3600))
    assert [m.offset for m in after.poll(100, 0.05)] == [got[0].offset, got[2].offset]
    assert pending(redis_client, key) == {"stable": 2}


# -- positions: floor, lag, start, reset ---------------------------------------------------------


def test_ack_floor_moves(key: str, redis_client: Any, opened: Callable[..., RedisSource]) -> None:
    assert RedisSource(config(key)).ack_floor() is None  # no stream, no group
    produce(config(key), payloads(10))
    source = opened(config(key))
    assert source.ack_floor() == "0-0"  # nothing delivered, nothing pending
    got = drain(source, 10)
    assert source.ack_floor() == got[0].offset
    source.ack(got[:4])
    assert source.ack_floor() == got[4].offset
    source.ack(got[6:])  # out of order: the floor is the smallest pending id
    assert source.ack_floor() == got[4].offset
    source.ack(got[4:6])
    assert source.ack_floor() == got[-1].offset  # nothing pending: the last delivered id
    assert RedisSource(config(key)).ack_floor() == got[-1].offset  # works without open


def test_lag(key: str, opened: Callable[..., RedisSource]) -> None:
    assert RedisSource(config(key)).lag() == {key: None}  # no stream yet
    produce(config(key), payloads(40))
    source = opened(config(key))
    assert source.lag() == {key: 40}
    drain(source, 15, batch=15)
    assert source.lag() == {key: 25}
    drain(source, 25)
    assert source.lag() == {key: 0}
    produce(config(key), payloads(3))
    assert RedisSource(config(key)).lag() == {key: 3}


def test_start_latest_ignores_old_entries(key: str, opened: Callable[..., RedisSource]) -> None:
    produce(config(key), payloads(20, "old"))
    source = opened(config(key, start="latest"))
    assert source.poll(100, 0.1) == []
    produce(config(key), payloads(4, "new"))
    got = drain(source, 4)
    assert [json.loads(m.value)["tag"] for m in got] == ["new"] * 4


def add_at(redis_client: Any, key: str, ms_values: list[int]) -> list[str]:
    """Entries with explicit ids ``<ms>-0``, so times are exact."""
    return [
        redis_client.xadd(key, {"data": json.dumps({"ms": ms})}, id=f"{ms}-0").decode()
        for ms in ms_values
    ]


def test_a_missing_group_starts_after_the_committed_position(key: str, redis_client: Any) -> None:
    """A Redis that lost the group (or a deleted group) resumes where the warehouse is."""
    ids = add_at(redis_client, key, [1000, 2000, 3000])
    asked: list[list[str]] = []

    def committed(partitions: list[str]) -> dict[str, str | None]:
        asked.append(partitions)
        return {p: ids[0] for p in partitions}

    source = RedisSource(config(key, start="latest"))
    source.open(committed)
    try:
        assert asked == [[key]]
        assert [m.offset for m in drain(source, 2)] == ids[1:]
        redis_client.xgroup_destroy(key, "g")
        assert source.poll(10, 0.01) == []  # NOGROUP: created again after the position
        assert [m.offset for m in drain(source, 2)] == ids[1:]
    finally:
        source.close()
    again = RedisSource(config(key))
    again.open(committed)  # the group exists: the position is not asked for
    again.close()
    assert len(asked) == 2


def test_start_at_a_timestamp(
    key: str, redis_client: Any, opened: Callable[..., RedisSource]
) -> None:
    add_at(redis_client, key, [1000, 4999, 5000, 5001, 9000])
    source = opened(config(key, start="1970-01-01T00:00:05Z"))
    assert [m.offset for m in drain(source, 3)] == ["5000-0", "5001-0", "9000-0"]
    assert source.poll(100, 0.05) == []


def test_reset_earliest_latest_and_a_time(
    key: str, redis_client: Any, opened: Callable[..., RedisSource]
) -> None:
    ids = add_at(redis_client, key, [1000, 2000, 3000, 4000])
    unopened = RedisSource(config(key))
    # the group does not exist yet: reset creates it
    assert unopened.reset("latest") == {key: "4000-0"}
    assert unopened.lag() == {key: 0}
    assert unopened.reset("earliest") == {key: "0-0"}
    assert unopened.lag() == {key: 4}
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=2500)
    assert unopened.reset(moment) == {key: f"2499-{MAX_SEQ}"}
    source = opened(config(key))
    got = drain(source, 2)
    assert [m.offset for m in got] == ids[2:]
    # a reset drops the pending entries: latest means none of them is delivered again
    assert pending(redis_client, key) == {source.consumer: 2}
    assert unopened.reset("1970-01-01T00:00:01") == {key: f"999-{MAX_SEQ}"}  # naive: UTC
    assert pending(redis_client, key) == {}
    assert [m.offset for m in drain(source, 4)] == ids
    assert source.reset("latest") == {key: "4000-0"}
    assert source.poll(100, 0.1) == []
    assert add_at(redis_client, key, [5000]) == [m.offset for m in drain(source, 1)]


def test_reset_creates_a_missing_stream(key: str, redis_client: Any) -> None:
    source = RedisSource(config(key))
    assert source.reset("latest") == {key: "0-0"}
    assert redis_client.xinfo_groups(key)[0]["name"] == b"g"
    assert source.lag() == {key: 0}


def test_a_bad_start_or_reset_time_is_a_config_error(key: str) -> None:
    with pytest.raises(ConfigError, match="not earliest, latest or a timestamp"):
        RedisSource(config(key)).reset("yesterday")
    with pytest.raises(ConfigError, match="start `soon` is not earliest"):
        RedisSource(config(key, start="soon"))


# -- poison entries ------------------------------------------------------------------------------


def test_an_entry_without_the_field_is_delivered_as_poison(
    key: str, redis_client: Any, opened: Callable[..., RedisSource]
) -> None:
    redis_client.xadd(key, {"data": b'{"ok": 1}'})
    redis_client.xadd(key, {"other": "x", "bytes": b"\xff"})
    redis_client.xadd(key, {"meta": "m", "data": b'{"ok": 3}'})
    source = opened(config(key))
    good, poison, late_field = drain(source, 3)
    assert (good.value, good.key) == (b'{"ok": 1}', None)
    assert poison.value == b""
    assert poison.key is not None
    assert json.loads(poison.key) == {"other": "x", "bytes": "\\xff"}
    assert (late_field.value, late_field.key) == (b'{"ok": 3}', None)
    source.ack([good, poison, late_field])
    assert pending(redis_client, key) == {}


def test_a_custom_payload_field(
    key: str, redis_client: Any, opened: Callable[..., RedisSource]
) -> None:
    produce(config(key, field="payload"), [b"a", b"b"])
    assert redis_client.xrange(key)[0][1] == {b"payload": b"a"}
    source = opened(config(key, field="payload"))
    assert [m.value for m in drain(source, 2)] == [b"a", b"b"]


# -- configuration errors ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_unreachable_redis_is_a_config_error_fast(key: str) -> None:
    port = free_port()
    url = f"redis://etl:s3cr3t-pw@127.0.0.1:{port}/0"
    source = RedisSource(config(key, url=url))
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        source.open(nothing_committed)
    assert time.monotonic() - started < 5
    text = str(err.value)
    assert f"127.0.0.1:{port}" in text
    assert "s3cr3t" not in text
    assert "url_env" in text  # the hint says what to fix
    with pytest.raises(ConfigError):
        source.reset("earliest")  # reset connects on its own, and fails the same way
    with pytest.raises(ConfigError):
        produce(config(key, url=url), [b"x"])


def test_a_key_that_is_not_a_stream_is_a_config_error(key: str, redis_client: Any) -> None:
    redis_client.set(key, "a string")
    with pytest.raises(ConfigError, match="is not a stream"):
        RedisSource(config(key)).open(nothing_committed)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fild": "data"}, "redis source key `fild` is unknown (did you mean `field`?)"),
        ({"claim_idle": "soon"}, "`soon` is not a duration"),
        ({"claim_idle": -1}, "not a positive duration"),
        ({"block_ms": 0}, "`block_ms: 0` is not a positive number"),
        ({"field": ""}, "is not a field name"),
        ({"url": "http://127.0.0.1:6379"}, "is not a Redis URL"),
        ({"url": "redis://127.0.0.1:6379/99999"}, "refused the connection"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        source = RedisSource(config("k", **options))
        source.open(nothing_committed)
    assert message in str(err.value)


def test_options_and_defaults() -> None:
    source = RedisSource(config("k", claim_idle="2 minutes", consumer="me", block_ms=100))
    assert (source.claim_idle, source.consumer, source.block_ms) == (120.0, "me", 100)
    default = RedisSource(SourceConfig("s", "redis", "k", "g", "earliest", {}))
    assert default.url == "redis://127.0.0.1:6379/0"
    assert default.field == b"data"
    assert default.claim_idle == 30.0
    host, pid, suffix = default.consumer.rsplit("-", 2)
    assert (host, pid, len(suffix)) == (socket.gethostname(), str(os.getpid()), 6)
    assert RedisSource(SourceConfig("s", "redis", "k", "g", "earliest", {})).consumer != (
        default.consumer
    )


def test_poll_before_open_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="open"):
        RedisSource(config("k")).poll(10, 0.1)


# -- ids -----------------------------------------------------------------------------------------

ids = st.tuples(st.integers(0, MAX_SEQ), st.integers(0, MAX_SEQ))


@given(a=ids, b=ids)
def test_order_key_sorts_like_entry_ids(a: tuple[int, int], b: tuple[int, int]) -> None:
    source = RedisSource(config("k"))
    ka, kb = source.order_key(f"{a[0]}-{a[1]}"), source.order_key(f"{b[0]}-{b[1]}")
    assert (ka < kb) == (a < b)
    assert (ka == kb) == (a == b)
    assert len(ka) == 41


def test_order_key_rejects_what_is_not_an_id() -> None:
    source = RedisSource(config("k"))
    assert source.order_key("5") == source.order_key("5-0")
    for bad in ("", "x-1", "1-x", "-1-0", f"{MAX_SEQ + 1}-0"):
        with pytest.raises(ValueError, match="not a Redis stream entry id"):
            source.order_key(bad)


@given(
    moment=st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    entry_ms=st.integers(0, 7_258_118_400_000),
    seq=st.integers(0, MAX_SEQ),
)
def test_the_id_before_a_time_splits_entries_at_that_time(
    moment: datetime, entry_ms: int, seq: int
) -> None:
    """An entry is read after a reset to ``moment`` exactly when it was added at or after it."""
    source = RedisSource(config("k"))
    before = source.order_key(_id_before(moment))
    entry_time = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=entry_ms)
    read = source.order_key(f"{entry_ms}-{seq}") > before
    assert read == (entry_time >= moment)


@settings(deadline=None)  # the first example imports pyarrow.compute
@given(st.lists(ids, min_size=1, max_size=40))
def test_key_range_is_the_smallest_and_largest_order_key(entries: list[tuple[int, int]]) -> None:
    source = RedisSource(config("k"))
    offsets = [f"{ms}-{seq}" for ms, seq in entries]
    keys = [source.order_key(o) for o in offsets]
    assert source.key_range(offsets) == (min(keys), max(keys))
