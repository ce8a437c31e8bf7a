"""The kinesis connector against a real Kinesis API: moto's server mode on a free localhost port,
spoken to through boto3 (no mock of the client). Each test has its own stream (uuid name)."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.errors import ConfigError
from headwater.streams.source import Delivery, Message, SourceConfig

if os.environ.get("CI") == "true":
    import boto3
    from moto.server import ThreadedMotoServer
else:
    boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (pip install -e '.[test]')")
    ThreadedMotoServer = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed (pip install -e '.[test]')"
    ).ThreadedMotoServer

from headwater.streams.connectors import open_source
from headwater.streams.connectors.kinesis import (
    EARLIEST,
    KinesisSource,
    produce,
    raw_consume,
)

REGION = "us-east-1"
KEY, SECRET = "hw-kinesis-test-key", "hw-kinesis-test-secret-do-not-print"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials through boto3's default chain (the connector never takes them from the
    stream file), and no instance-metadata lookups."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


@pytest.fixture
def admin(endpoint: str) -> Iterator[Any]:
    client = boto3.client("kinesis", endpoint_url=endpoint, region_name=REGION)
    yield client
    client.close()


@pytest.fixture
def make_stream(admin: Any) -> Callable[[int], str]:
    def make(shards: int = 2) -> str:
        name = f"hw-{uuid.uuid4().hex[:12]}"
        admin.create_stream(StreamName=name, ShardCount=shards)
        admin.get_waiter("stream_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
        )
        return name

    return make


def config_for(endpoint: str, topic: str, start: str = "earliest", **options: Any) -> SourceConfig:
    opts: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region": REGION,
        "poll_interval": 0.01,
        "shard_refresh": 0.2,
    }
    opts.update(options)
    return SourceConfig(
        stream="clicks",
        connector="kinesis",
        topic=topic,
        group="headwater-clicks",
        start=start,
        options=opts,
        location="streams/clicks.yml:3",
    )


def nothing_committed(shards: list[str]) -> dict[str, str | None]:
    return dict.fromkeys(shards)


def committed(offsets: dict[str, str | None]) -> Callable[[list[str]], dict[str, str | None]]:
    return lambda shards: {s: offsets.get(s) for s in shards}


def values(prefix: str, n: int) -> list[bytes]:
    return [f'{{"id": "{prefix}-{i}", "pad": "{"x" * 150}"}}'.encode() for i in range(n)]


def drain(source: KinesisSource, n: int, within: float = 10.0, batch: int = 1000) -> list[Message]:
    """Poll until ``n`` messages came or ``within`` seconds passed (the caller checks what came)."""
    got: list[Message] = []
    deadline = time.monotonic() + within
    while len(got) < n and time.monotonic() < deadline:
        got += source.poll(batch, 0.2)
    return got


def last_offsets(messages: list[Message]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for m in messages:
        out[m.partition] = m.offset
    return out


def shard_ids(admin: Any, name: str) -> set[str]:
    return {s["ShardId"] for s in admin.list_shards(StreamName=name)["Shards"]}


def test_produce_then_poll_everything_once_in_shard_order(
    endpoint: str, admin: Any, make_stream: Callable[[int], str]
) -> None:
    name = make_stream(2)
    produced = values("a", 1203)  # more than two PutRecords chunks of 500
    produce(config_for(endpoint, name), produced)

    source = open_source(config_for(endpoint, name))
    assert isinstance(source, KinesisSource)
    assert source.delivery is Delivery.POSITIONED
    before = time.time()
    source.open(nothing_committed)
    try:
        assert source.assignment() == shard_ids(admin, name)
        got = drain(source, len(produced))
        assert sorted(m.value for m in got) == sorted(produced)  # each once, nothing lost
        assert source.poll(1000, 0.2) == []
        by_shard: dict[str, list[Message]] = {}
        for m in got:
            by_shard.setdefault(m.partition, []).append(m)
        assert set(by_shard) == source.assignment()  # both shards got records
        for msgs in by_shard.values():
            keys = [source.order_key(m.offset) for m in msgs]
            assert keys == sorted(keys) and len(set(keys)) == len(keys)
        index = {v: str(i).encode() for i, v in enumerate(produced)}
        assert all(m.key == index[m.value] for m in got)  # PartitionKey
        assert all(
            m.timestamp is not None and before - 60 < m.timestamp < time.time() + 60 for m in got
        )
        source.ack(got)  # nothing to tell Kinesis, but it must accept them
        assert source.ack_floor() is None
    finally:
        source.close()


def test_reopen_at_committed_offsets_continues_exactly_after_them(
    endpoint: str, make_stream: Callable[[int], str]
) -> None:
    name = make_stream(2)
    config = config_for(endpoint, name)
    first = values("first", 400)
    produce(config, first)
    source = KinesisSource(config)
    source.open(nothing_committed)
    try:
        part = source.poll(60, 1.0)  # 30 per shard: a partial read of both
        assert 0 < len(part) <= 60
    finally:
        source.close()
    offsets = last_offsets(part)
    second = values("second", 150)
    produce(config, second)

    again = KinesisSource(config)
    again.open(committed(offsets))
    try:
        rest = drain(again, len(first) + len(second) - len(part))
        assert again.poll(1000, 0.2) == []
    finally:
        again.close()
    seen = [m.value for m in part] + [m.value for m in rest]
    assert sorted(seen) == sorted(first + second)  # no loss, no duplicate across the restart
    for shard, offset in offsets.items():
        assert offset is not None
        resumed = [m for m in rest if m.partition == shard]
        assert int(resumed[0].offset) > int(offset)


@pytest.fixture(scope="module")
def hundred_records(endpoint: str) -> tuple[SourceConfig, list[Message]]:
    """One 2-shard stream with 100 records, read once, for the property test's examples."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", KEY)
        mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        name = f"hw-{uuid.uuid4().hex[:12]}"
        client = boto3.client("kinesis", endpoint_url=endpoint, region_name=REGION)
        client.create_stream(StreamName=name, ShardCount=2)
        client.close()
        config = config_for(endpoint, name)
        produce(config, values("p", 100))
        reader = KinesisSource(config)
        reader.open(nothing_committed)
        try:
            everything = drain(reader, 100)
        finally:
            reader.close()
    assert len(everything) == 100
    return config, everything


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cuts=st.lists(st.integers(min_value=-1, max_value=60), min_size=2, max_size=2))
def test_any_committed_position_resumes_at_the_next_record(
    hundred_records: tuple[SourceConfig, list[Message]], cuts: list[int]
) -> None:
    """Property: for any committed offset per shard (or none), the reopened source delivers exactly
    the records after it, in shard order."""
    config, everything = hundred_records
    per_shard: dict[str, list[Message]] = {}
    for m in everything:
        per_shard.setdefault(m.partition, []).append(m)
    assert len(per_shard) == 2
    offsets: dict[str, str | None] = {}
    expected: dict[str, list[bytes]] = {}
    for cut, (shard, msgs) in zip(cuts, sorted(per_shard.items()), strict=True):
        cut = min(cut, len(msgs) - 1)
        offsets[shard] = msgs[cut].offset if cut >= 0 else None
        expected[shard] = [m.value for m in msgs[cut + 1 :]]
    source = KinesisSource(config)
    source.open(committed(offsets))
    try:
        got = drain(source, sum(len(v) for v in expected.values()))
        assert source.poll(1000, 0.05) == []
    finally:
        source.close()
    for shard, want in expected.items():
        assert [m.value for m in got if m.partition == shard] == want


def test_start_earliest_latest_and_a_time(endpoint: str, make_stream: Callable[[int], str]) -> None:
    name = make_stream(2)
    old = values("old", 50)
    produce(config_for(endpoint, name), old)
    boundary = datetime.now(UTC)
    deadline = time.monotonic() + 2
    while datetime.now(UTC).timestamp() < boundary.timestamp() + 0.005:  # a later millisecond
        assert time.monotonic() < deadline

    latest = KinesisSource(config_for(endpoint, name, start="latest"))
    latest.open(nothing_committed)  # "latest" is the time of open, not of the first poll
    try:
        new = values("new", 30)
        produce(config_for(endpoint, name), new)
        assert sorted(m.value for m in drain(latest, 30)) == sorted(new)
        assert latest.poll(1000, 0.1) == []
    finally:
        latest.close()

    earliest = KinesisSource(config_for(endpoint, name, start="earliest"))
    earliest.open(nothing_committed)
    try:
        assert sorted(m.value for m in drain(earliest, 80)) == sorted(old + new)
    finally:
        earliest.close()

    # AT_TIMESTAMP goes by whole seconds: the records of that second before the time are skipped
    at_time = KinesisSource(config_for(endpoint, name, start=boundary.isoformat()))
    at_time.open(nothing_committed)
    try:
        assert sorted(m.value for m in drain(at_time, 30)) == sorted(new)
        assert at_time.poll(1000, 0.2) == []
    finally:
        at_time.close()


def test_reset_to_earliest_latest_and_a_time_without_open(
    endpoint: str, admin: Any, make_stream: Callable[[int], str]
) -> None:
    name = make_stream(2)
    shards = shard_ids(admin, name)
    config = config_for(endpoint, name, start="latest")
    old = values("old", 60)
    produce(config, old)
    boundary = datetime.now(UTC)
    deadline = time.monotonic() + 2
    while datetime.now(UTC).timestamp() < boundary.timestamp() + 0.005:
        assert time.monotonic() < deadline
    new = values("new", 40)
    produce(config, new)

    # earliest: a marker that beats `start: latest` (None would mean "as start: says")
    to_earliest = KinesisSource(config).reset("earliest")
    assert to_earliest == dict.fromkeys(shards, EARLIEST)
    source = KinesisSource(config)
    source.open(committed(to_earliest))
    try:
        everything = drain(source, 100)
        assert sorted(m.value for m in everything) == sorted(old + new)
    finally:
        source.close()

    # latest: the last sequence number of every shard, read to the end
    to_latest = KinesisSource(config).reset("latest")
    assert to_latest == last_offsets(everything)
    source = KinesisSource(config_for(endpoint, name, start="earliest"))
    source.open(committed(to_latest))
    try:
        assert source.poll(1000, 0.2) == []
        more = values("more", 20)
        produce(config, more)
        assert sorted(m.value for m in drain(source, 20)) == sorted(more)
    finally:
        source.close()

    # a time: `@<time>` markers; reading finds the first record at or after it
    to_time = KinesisSource(config).reset(boundary)
    assert set(to_time) == shards
    assert all(v is not None and v.startswith("@") for v in to_time.values())
    assert KinesisSource(config).reset(boundary.isoformat()) == to_time
    source = KinesisSource(config)
    source.open(committed(to_time))
    try:
        assert sorted(m.value for m in drain(source, 60)) == sorted(new + more)
        assert source.poll(1000, 0.2) == []
    finally:
        source.close()

    with pytest.raises(ConfigError, match="cannot reset to `yesterday-ish`"):
        KinesisSource(config).reset("yesterday-ish")


def test_reset_latest_of_an_empty_shard_reads_what_comes_after(
    endpoint: str, admin: Any, make_stream: Callable[[int], str]
) -> None:
    name = make_stream(1)
    config = config_for(endpoint, name, start="latest")
    [shard] = shard_ids(admin, name)
    to_latest = KinesisSource(config).reset("latest")
    assert to_latest == {shard: EARLIEST}  # no record to stand after
    produced = values("after", 15)
    produce(config, produced)  # after the reset, before the run
    source = KinesisSource(config)
    source.open(committed(to_latest))
    try:
        assert [m.value for m in drain(source, 15)] == produced
    finally:
        source.close()


def test_seek_rereads_a_shard_after_the_given_offset(
    endpoint: str, make_stream: Callable[[int], str]
) -> None:
    name = make_stream(2)
    config = config_for(endpoint, name)
    produce(config, values("s", 80))
    source = KinesisSource(config)
    source.open(nothing_committed)
    try:
        everything = drain(source, 80)
        shard = everything[0].partition
        of_shard = [m for m in everything if m.partition == shard]
        source.seek({shard: of_shard[4].offset})
        again = drain(source, len(of_shard) - 5)
        assert [m.offset for m in again] == [m.offset for m in of_shard[5:]]
        assert source.poll(1000, 0.1) == []  # the other shard was not moved
        source.seek({shard: None})  # None: as `start:` says (earliest)
        assert [m.offset for m in drain(source, len(of_shard))] == [m.offset for m in of_shard]
    finally:
        source.close()


def test_lag_is_zero_when_caught_up_and_unknown_otherwise(
    endpoint: str, admin: Any, make_stream: Callable[[int], str]
) -> None:
    name = make_stream(2)
    config = config_for(endpoint, name)
    produce(config, values("l", 100))
    source = KinesisSource(config)
    assert source.lag() == {}  # nothing is assigned before open
    source.open(nothing_committed)
    try:
        shards = shard_ids(admin, name)
        assert source.lag() == dict.fromkeys(shards)  # unknown until a GetRecords says
        got = source.poll(2, 1.0)  # one record per shard: behind
        assert len(got) == 2
        assert source.lag() == dict.fromkeys(shards)
        drain(source, 98)
        source.poll(1000, 0.05)
        assert source.lag() == dict.fromkeys(shards, 0)
    finally:
        source.close()


def _inject_once(client: Any, operation: str, code: str, times: int = 1) -> list[int]:
    """Make the next ``times`` calls of ``operation`` of ``client`` fail with ``code`` (through
    botocore's own event hook; the calls after them go to the server again). Returns a list
    counting the hits."""
    hits: list[int] = []
    status = 500 if code.startswith(("Internal", "Service")) else 400

    class _Http:
        status_code = status
        headers: dict[str, str] = {}

    def handler(**kwargs: Any) -> Any:
        if len(hits) >= times:
            return None
        hits.append(1)
        error = {"Error": {"Code": code, "Message": "injected"}}
        return _Http(), {**error, "ResponseMetadata": {"HTTPStatusCode": status}}

    client.meta.events.register(f"before-call.kinesis.{operation}", handler)
    return hits


def test_an_expired_iterator_is_renewed_from_the_last_record(
    endpoint: str, make_stream: Callable[[int], str]
) -> None:
    name = make_stream(1)
    config = config_for(endpoint, name)
    produced = values("e", 120)
    produce(config, produced)
    source = KinesisSource(config)
    source.open(nothing_committed)
    try:
        first = source.poll(50, 1.0)
        assert len(first) == 50
        hits = _inject_once(source._client, "GetRecords", "ExpiredIteratorException")
        rest = drain(source, 70)
        assert hits == [1]
    finally:
        source.close()
    assert [m.value for m in first + rest] == produced  # in order, none lost, none twice


def test_an_expired_latest_iterator_that_read_nothing_loses_nothing(
    endpoint: str, make_stream: Callable[[int], str]
) -> None:
    name = make_stream(1)
    config = config_for(endpoint, name, start="latest")
    source = KinesisSource(config)
    source.open(nothing_committed)
    try:
        assert source.poll(1000, 0.05) == []
        hits = _inject_once(source._client, "GetRecords", "ExpiredIteratorException")
        produced = values("x", 25)
        produce(config, produced)  # arrives while the LATEST iterator is expired
        assert [m.value for m in drain(source, 25)] == produced
        assert hits == [1]
    finally:
        source.close()


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "InternalFailure"])
def test_throttling_and_outages_back_off_and_lose_nothing(
    endpoint: str, make_stream: Callable[[int], str], code: str
) -> None:
    name = make_stream(1)
    config = config_for(endpoint, name)
    produced = values("t", 30)
    produce(config, produced)
    source = KinesisSource(config)
    source.open(nothing_committed)
    try:
        hits = _inject_once(source._client, "GetRecords", code, times=2)
        assert source.poll(1000, 0) == []  # failed: nothing this round, no error
        assert hits == [1]
        assert [m.value for m in drain(source, 30)] == produced
        assert hits == [1, 1]  # retried after a backoff
    finally:
        source.close()


def test_an_outage_that_lasts_raises_kinesis_unavailable(
    endpoint: str, make_stream: Callable[[int], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from headwater.streams.connectors import kinesis

    monkeypatch.setattr(kinesis, "GIVE_UP_AFTER", 0.3)
    name = make_stream(1)
    source = KinesisSource(config_for(endpoint, name))
    source.open(nothing_committed)
    try:
        _inject_once(source._client, "GetRecords", "ServiceUnavailable", times=10**6)
        deadline = time.monotonic() + 10
        with pytest.raises(kinesis.KinesisUnavailable, match="ServiceUnavailable"):
            while time.monotonic() < deadline:
                assert source.poll(1000, 0.2) == []
    finally:
        source.close()


def test_a_split_parent_is_read_to_its_end_before_its_children(
    endpoint: str, admin: Any, make_stream: Callable[[int], str]
) -> None:
    name = make_stream(1)
    config = config_for(endpoint, name)
    produced = values("r", 20)
    produce(config, produced)
    [parent] = shard_ids(admin, name)
    admin.split_shard(StreamName=name, ShardToSplit=parent, NewStartingHashKey=str(2**127))
    children = shard_ids(admin, name) - {parent}
    assert len(children) == 2

    source = KinesisSource(config)
    source.open(nothing_committed)
    try:
        assert source.assignment() == {parent}  # children wait for their closed parent
        got = drain(source, len(produced))
        assert sorted(m.value for m in got) == sorted(produced)
        deadline = time.monotonic() + 5
        while source.assignment() != {parent} | children:  # the parent's end is seen
            assert time.monotonic() < deadline, source.assignment()
            assert source.poll(1000, 0.1) == []
        # the parent stays assigned until its delivered records are committed (acknowledged):
        # the processor drops the messages of partitions that left the assignment
        source.ack(got[:-1])
        assert parent in source.assignment()
        source.ack(got[-1:])
        while source.assignment() != children:
            assert time.monotonic() < deadline, source.assignment()
            assert source.poll(1000, 0.1) == []
    finally:
        source.close()
    end = last_offsets(got)

    # a restart at the parent's last offset goes straight to the children
    resumed = KinesisSource(config)
    resumed.open(committed(end))
    try:
        assert resumed.assignment() == children
    finally:
        resumed.close()

    # ... and one in the middle of the parent reads the rest of it first
    middle = KinesisSource(config)
    middle.open(committed({parent: got[9].offset}))
    try:
        assert middle.assignment() == {parent}
        assert [m.value for m in drain(middle, 10)] == [m.value for m in got[10:]]
    finally:
        middle.close()

    # start: latest skips the closed parent (nothing new can arrive there)
    latest = KinesisSource(config_for(endpoint, name, start="latest"))
    latest.open(nothing_committed)
    try:
        assert latest.assignment() == children
    finally:
        latest.close()


def test_raw_consume_reads_n_records(endpoint: str, make_stream: Callable[[int], str]) -> None:
    name = make_stream(2)
    config = config_for(endpoint, name)
    produce(config, values("raw", 300))
    assert raw_consume(config, 300, 10.0) == 300
    assert raw_consume(config, 50, 10.0) == 50  # stops at n


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_endpoint_is_a_config_error_fast() -> None:
    bad = f"http://127.0.0.1:{_closed_port()}"
    config = config_for(bad, "anything")
    source = KinesisSource(config)  # nothing connects in __init__
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"cannot reach Kinesis at http://127\.0\.0\.1") as info:
        source.open(nothing_committed)
    assert time.monotonic() - started < 5
    assert "endpoint_url" in (info.value.hint or "")
    assert SECRET not in str(info.value)
    with pytest.raises(ConfigError, match="cannot reach Kinesis"):
        KinesisSource(config).reset("earliest")
    with pytest.raises(ConfigError, match="cannot reach Kinesis"):
        produce(config, [b"x"])


def test_missing_stream_and_missing_credentials_are_config_errors(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    missing = KinesisSource(config_for(endpoint, f"hw-missing-{uuid.uuid4().hex[:8]}"))
    with pytest.raises(ConfigError, match="does not exist") as info:
        missing.open(nothing_committed)
    assert "create-stream" in (info.value.hint or "")

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(ConfigError, match="no AWS credentials") as info:
        KinesisSource(config_for(endpoint, "whatever")).open(nothing_committed)
    assert "AWS_ACCESS_KEY_ID" in (info.value.hint or "")


def test_a_committed_offset_from_another_broker_is_a_config_error(
    endpoint: str, admin: Any, make_stream: Callable[[int], str]
) -> None:
    name = make_stream(1)
    [shard] = shard_ids(admin, name)
    source = KinesisSource(config_for(endpoint, name))
    with pytest.raises(ConfigError, match="not a Kinesis sequence number") as info:
        source.open(committed({shard: "1700000000000-0"}))  # a Redis entry id
    assert "headwater stream reset clicks" in (info.value.hint or "")
    source.close()
    with pytest.raises(ValueError, match="not a Kinesis sequence number"):
        source.order_key("1700000000000-0")


def test_bad_options_are_config_errors_naming_the_key(endpoint: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown kinesis source key `regoin`.*`region`"):
        KinesisSource(config_for(endpoint, "s", regoin="eu-west-1"))
    with pytest.raises(ConfigError, match="credentials are not read from the stream file"):
        KinesisSource(config_for(endpoint, "s", aws_secret_access_key=SECRET))
    with pytest.raises(ConfigError, match="poll_interval"):
        KinesisSource(config_for(endpoint, "s", poll_interval="soon"))
    with pytest.raises(ConfigError, match="neither earliest, latest nor a timestamp"):
        KinesisSource(config_for(endpoint, "s", start="tomorrow"))
    source = KinesisSource(config_for(endpoint, "s"))
    assert source.settings.region == REGION
    assert source.settings.poll_interval == 0.01


@given(
    a=st.integers(min_value=0, max_value=2**128 - 1),
    b=st.integers(min_value=0, max_value=2**128 - 1),
)
def test_order_key_sorts_like_the_sequence_numbers(a: int, b: int) -> None:
    source = KinesisSource(
        SourceConfig("s", "kinesis", "t", "g", "earliest", {}, "streams/s.yml:1")
    )
    ka, kb = source.order_key(str(a)), source.order_key(str(b))
    assert len(ka) == len(kb) == 40
    assert (ka < kb) == (a < b)
    assert source.order_key(EARLIEST) <= ka
    assert source.order_key("@2024-05-01T12:00:00+00:00") <= kb
