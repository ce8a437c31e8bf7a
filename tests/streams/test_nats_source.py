"""The NATS JetStream source against the real nats-server on 127.0.0.1:4222 (JetStream on).

Each test creates its own stream (a uuid subject) and deletes it at the end. Without a reachable
server the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.errors import ConfigError, ExecutionError
from headwater.streams.connectors.nats import (
    NatsSource,
    _subject_within,
    consumer_name,
    produce,
    raw_consume,
    stream_name_for,
)
from headwater.streams.source import Delivery, Message, SourceConfig

NATS_URL = "nats://127.0.0.1:4222"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _nats_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=1):
            return True
    except OSError:
        return False


def _jsm(action: Callable[[Any], Any], url: str = NATS_URL, **login: str) -> Any:
    """Run ``action(jsm)`` against the server with a plain nats-py connection."""
    import nats

    async def run() -> Any:
        client = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0, **login)
        try:
            return await action(client.jsm())
        finally:
            await client.close()

    return asyncio.run(run())


@pytest.fixture(autouse=True)
def _prompt_ack_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ack_floor` reports floors FLOOR_DELAY seconds old (see its test); most tests want them
    at once."""
    from headwater.streams.connectors import nats as connector

    monkeypatch.setattr(connector, "FLOOR_DELAY", 0.0)


@pytest.fixture
def server() -> None:
    if not IN_CI:
        pytest.importorskip("nats")
    if not _nats_up():
        if IN_CI:
            pytest.fail("NATS is not reachable on 127.0.0.1:4222 (CI=true: it must be running)")
        pytest.skip("NATS is not reachable on 127.0.0.1:4222")


@pytest.fixture
def subject(server: None) -> Iterator[str]:
    """A fresh subject captured by a fresh stream, deleted afterwards."""
    token = uuid.uuid4().hex[:12]
    name, subj = f"HWTEST_{token}", f"hwtest.{token}"
    _jsm(lambda jsm: jsm.add_stream(name=name, subjects=[subj]))
    yield subj
    _jsm(lambda jsm: jsm.delete_stream(name))


def config(subject: str, group: str = "g", start: str = "earliest", **options: Any) -> SourceConfig:
    return SourceConfig(
        stream="orders_live",
        connector="nats",
        topic=subject,
        group=group,
        start=start,
        options={"url": NATS_URL, **options},
        location="streams/orders.yml:3",
    )


def nothing_committed(partitions: list[str]) -> dict[str, str | None]:
    return {p: None for p in partitions}


@pytest.fixture
def sources() -> Iterator[Callable[..., NatsSource]]:
    """``make(config, open=True)``: a NatsSource closed at the end of the test."""
    made: list[NatsSource] = []

    def make(cfg: SourceConfig, open: bool = True) -> NatsSource:
        source = NatsSource(cfg)
        made.append(source)
        if open:
            source.open(nothing_committed)
        return source

    yield make
    for source in made:
        source.close()


def poll_until(
    source: NatsSource, n: int, deadline: float = 10.0, batch: int = 1000
) -> list[Message]:
    """Poll until ``n`` messages came (or the deadline passed)."""
    out: list[Message] = []
    end = time.monotonic() + deadline
    while len(out) < n and time.monotonic() < end:
        out += source.poll(batch, 0.2)
    return out


def wait_for(condition: Callable[[], bool], deadline: float = 10.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def payloads(n: int, tag: str = "e") -> list[bytes]:
    return [
        b'{"id": %d, "tag": "%s", "pad": "%s"}' % (i, tag.encode(), b"x" * 150) for i in range(n)
    ]


# -- without a server ---------------------------------------------------------------------------


def test_unknown_option_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError) as err:
        NatsSource(config("a.b", ack_wiat="5s"))
    assert "ack_wiat" in str(err.value) and "ack_wait" in str(err.value)


def test_bad_ack_wait_and_max_ack_pending_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="ack_wait"):
        NatsSource(config("a.b", ack_wait="soon"))
    with pytest.raises(ConfigError, match="max_ack_pending"):
        NatsSource(config("a.b", max_ack_pending=0))
    with pytest.raises(ConfigError, match="not earliest, latest or a timestamp"):
        NatsSource(config("a.b", start="yesterday"))
    with pytest.raises(ConfigError, match="cannot represent"):  # int64 nanoseconds overflow
        NatsSource(config("a.b", start="2999-01-01T00:00:00Z"))


def test_nothing_connects_in_init_and_the_source_is_acked() -> None:
    source = NatsSource(config("a.b", url="nats://127.0.0.1:1"))  # nothing listens there
    assert source.delivery is Delivery.ACKED
    assert source.assignment() == {"a.b"}
    source.close()  # never opened: nothing to stop


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=2, max_size=20))
def test_order_key_sorts_like_the_sequences(seqs: list[int]) -> None:
    source = NatsSource(config("a.b"))
    keys = [source.order_key(str(s)) for s in seqs]
    assert sorted(keys) == [source.order_key(str(s)) for s in sorted(seqs)]
    assert {len(k) for k in keys} == {20}


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_consumer_names_are_valid_and_keep_groups_apart(a: str, b: str) -> None:
    na, nb = consumer_name(a), consumer_name(b)
    for name in (na, nb):
        assert name and all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
    if a != b:
        assert na != nb
    assert consumer_name("headwater-orders") == "headwater-orders"  # valid names stay as they are


@given(st.lists(st.sampled_from(["a", "b", "*"]), min_size=1, max_size=4))
def test_a_stream_subject_captures_what_it_matches(tokens: list[str]) -> None:
    subject = ".".join(tokens)
    assert _subject_within(subject, subject)
    assert _subject_within(subject, ">")
    assert _subject_within(subject, ".".join(["*"] * len(tokens)))
    assert not _subject_within(subject, ".".join(["*"] * (len(tokens) + 1)))
    if "*" in tokens:  # a wildcard subject is not inside a literal pattern
        assert not _subject_within(subject, subject.replace("*", "a"))


def test_unreachable_server_is_a_fast_config_error_without_the_password(
    sources: Callable[..., NatsSource],
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = sources(config("a.b", url=f"nats://alice:s3cret-pw@127.0.0.1:{port}"), open=False)
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        source.open(nothing_committed)
    assert time.monotonic() - started < 3.0
    text = str(err.value)
    assert f"127.0.0.1:{port}" in text and "s3cret-pw" not in text and "alice" not in text
    assert "hint:" in text


# -- against the server -------------------------------------------------------------------------


def test_produce_poll_all_and_ack(subject: str, sources: Callable[..., NatsSource]) -> None:
    values = payloads(500)
    before = time.time()
    produce(config(subject), values)
    source = sources(config(subject))
    got = poll_until(source, 500)
    assert [m.value for m in got] == values  # one subject: stream order
    assert [m.offset for m in got] == [str(i) for i in range(1, 501)]
    assert {m.partition for m in got} == {subject}
    assert all(m.timestamp is not None and before - 1 < m.timestamp < time.time() + 1 for m in got)
    assert source.poll(100, 0.1) == []  # nothing more, and no exception
    source.ack(got)
    assert wait_for(lambda: source.lag() == {subject: 0})
    assert source.ack_floor() == "500"


def test_poll_returns_the_batch_and_keeps_the_rest(
    subject: str, sources: Callable[..., NatsSource]
) -> None:
    produce(config(subject), payloads(250))
    source = sources(config(subject))
    first = source.poll(100, 1.0)
    assert len(first) == 100
    rest = poll_until(source, 150, batch=1000)
    assert [m.offset for m in first + rest] == [str(i) for i in range(1, 251)]


def test_a_closed_source_s_messages_are_redelivered_to_another(
    subject: str, sources: Callable[..., NatsSource]
) -> None:
    produce(config(subject), payloads(20))
    cfg = config(subject, ack_wait="1s")
    first = sources(cfg)
    taken = poll_until(first, 20)
    assert len(taken) == 20
    first.close()  # no ack
    second = sources(cfg)
    again = poll_until(second, 20, deadline=15.0, batch=100)
    assert sorted(int(m.offset) for m in again) == sorted(int(m.offset) for m in taken)
    assert {m.value for m in again} == {m.value for m in taken}
    second.ack(again)
    assert wait_for(lambda: second.lag() == {subject: 0})


@pytest.mark.slow
def test_a_killed_process_s_messages_come_back(
    subject: str, sources: Callable[..., NatsSource], tmp_path: Any
) -> None:
    produce(config(subject), payloads(30))
    child = textwrap.dedent(
        f"""
        import sys, time
        from headwater.streams.connectors.nats import NatsSource
        from headwater.streams.source import SourceConfig
        cfg = SourceConfig(stream="orders_live", connector="nats", topic={subject!r}, group="g",
                           start="earliest", options={{"url": {NATS_URL!r}, "ack_wait": "1s"}})
        source = NatsSource(cfg)
        source.open(lambda ps: {{p: None for p in ps}})
        got = []
        while len(got) < 30:
            got += source.poll(100, 0.5)
        print(",".join(m.offset for m in got), flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
        finally:
            proc.kill()
    offsets = sorted(int(o) for o in line.strip().split(","))
    assert offsets == list(range(1, 31))
    survivor = sources(config(subject, ack_wait="1s"))
    again = poll_until(survivor, 30, deadline=15.0, batch=100)
    assert sorted(int(m.offset) for m in again) == offsets


def test_two_sources_on_one_durable_split_the_messages(
    subject: str, sources: Callable[..., NatsSource]
) -> None:
    produce(config(subject), payloads(2000))
    a, b = sources(config(subject)), sources(config(subject))
    seen: dict[str, list[str]] = {"a": [], "b": []}
    end = time.monotonic() + 15
    while len(seen["a"]) + len(seen["b"]) < 2000 and time.monotonic() < end:
        for name, source in (("a", a), ("b", b)):
            batch = source.poll(100, 0.2)
            seen[name] += [m.offset for m in batch]
            source.ack(batch)
    assert seen["a"] and seen["b"]
    assert not set(seen["a"]) & set(seen["b"])
    assert sorted(int(o) for o in seen["a"] + seen["b"]) == list(range(1, 2001))
    assert wait_for(lambda: a.lag() == {subject: 0} and b.ack_floor() == "2000")


def test_ack_floor_moves_with_contiguous_acks(
    subject: str, sources: Callable[..., NatsSource]
) -> None:
    produce(config(subject), payloads(10))
    source = sources(config(subject))
    assert source.ack_floor() == "0"
    got = poll_until(source, 10)
    source.ack([got[0], got[1], got[2], got[3], got[6]])  # a gap at 5 and 6
    assert wait_for(lambda: source.ack_floor() == "4")
    source.ack([got[4], got[5]])
    assert wait_for(lambda: source.ack_floor() == "7")
    source.ack(got[7:])
    assert wait_for(lambda: source.ack_floor() == "10")


def test_ack_floor_is_reported_only_once_it_held_for_floor_delay(
    subject: str, sources: Callable[..., NatsSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed nats-server may restart with an older floor (it writes acks to disk lazily), so
    the floor the warehouse prunes its ids by must be one the server had time to keep."""
    from headwater.streams.connectors import nats as connector

    monkeypatch.setattr(connector, "FLOOR_DELAY", 0.5)
    produce(config(subject), payloads(10))
    source = sources(config(subject))
    source.ack(poll_until(source, 10))
    acked_at = time.monotonic()
    assert wait_for(lambda: source._consumer_info().ack_floor.stream_seq == 10)
    assert source.ack_floor() == "0"  # too fresh
    assert wait_for(lambda: source.ack_floor() == "10")
    assert time.monotonic() - acked_at >= 0.5


def test_lag_counts_undelivered_and_unacknowledged(
    subject: str, sources: Callable[..., NatsSource]
) -> None:
    produce(config(subject), payloads(30))
    watcher = sources(config(subject), open=False)
    assert watcher.lag() == {subject: None}  # no consumer yet: unknown
    source = sources(config(subject))
    assert source.lag() == {subject: 30}
    got = poll_until(source, 10, batch=10)
    assert len(got) == 10
    assert source.lag() == {subject: 30}  # delivered, not yet committed
    source.ack(got)
    assert wait_for(lambda: watcher.lag() == {subject: 20})


def test_reset_to_latest_a_time_and_earliest(
    subject: str, sources: Callable[..., NatsSource]
) -> None:
    produce(config(subject), payloads(5, "old"))
    between = datetime.now(UTC)
    time.sleep(0.002)  # the stream's clock must tick past `between`
    produce(config(subject), payloads(5, "new"))
    reader = sources(config(subject))
    admin = sources(config(subject), open=False)  # `headwater stream reset` never opens

    assert admin.reset("latest") == {subject: "10"}
    assert reader.poll(100, 0.2) == []
    produce(config(subject), [b"after"])
    assert [(m.offset, m.value) for m in poll_until(reader, 1)] == [("11", b"after")]

    assert admin.reset(between) == {subject: "5"}
    assert [m.offset for m in poll_until(reader, 6)] == [str(i) for i in range(6, 12)]

    assert admin.reset((between - timedelta(days=1)).isoformat()) == {subject: "0"}
    assert admin.reset("earliest") == {subject: "0"}
    assert [m.offset for m in poll_until(reader, 11)] == [str(i) for i in range(1, 12)]


def test_start_latest_and_a_timestamp_apply_when_the_consumer_is_created(
    subject: str, sources: Callable[..., NatsSource]
) -> None:
    produce(config(subject), payloads(3))
    latest = sources(config(subject, group="late", start="latest"))
    assert latest.poll(10, 0.2) == []
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    future = sources(config(subject, group="ts", start=soon))
    assert future.poll(10, 0.2) == []
    produce(config(subject), [b"x"])
    assert [m.offset for m in poll_until(latest, 1)] == ["4"]
    # JetStream turns a start time into a sequence when it creates the consumer: a time after
    # the last message means "from the next one", whatever time that one is stored at
    assert [m.offset for m in poll_until(future, 1)] == ["4"]


def test_missing_stream_is_a_config_error_naming_the_subject_and_the_fix(
    server: None, sources: Callable[..., NatsSource]
) -> None:
    subj = f"hwtest.missing.{uuid.uuid4().hex[:12]}"
    with pytest.raises(ConfigError) as err:
        sources(config(subj))
    text = str(err.value)
    assert subj in text and "create_stream: true" in text and "nats stream add" in text
    named = f"NOPE_{uuid.uuid4().hex[:8]}"
    with pytest.raises(ConfigError) as err:
        sources(config(subj, stream=named))
    assert named in str(err.value) and subj in str(err.value)


def test_a_stream_that_does_not_capture_the_subject_is_a_config_error(
    subject: str, sources: Callable[..., NatsSource]
) -> None:
    stream = _jsm(lambda jsm: jsm.find_stream_name_by_subject(subject))
    with pytest.raises(ConfigError, match="does not capture"):
        sources(config(subject + ".other", stream=stream))


def test_create_stream_makes_one_named_after_the_subject(
    server: None, sources: Callable[..., NatsSource]
) -> None:
    subj = f"hwtest.created.{uuid.uuid4().hex[:12]}"
    name = stream_name_for(subj)
    try:
        source = sources(config(subj, create_stream=True))
        produce(config(subj), [b"one", b"two"])
        assert [m.value for m in poll_until(source, 2)] == [b"one", b"two"]
        info = _jsm(lambda jsm: jsm.stream_info(name))
        assert info.config.subjects == [subj]
    finally:
        _jsm(lambda jsm: jsm.delete_stream(name))


def test_a_group_with_dots_gets_a_valid_durable_and_its_options(
    subject: str, sources: Callable[..., NatsSource]
) -> None:
    source = sources(config(subject, group="team.orders live", ack_wait="7s", max_ack_pending=500))
    stream = _jsm(lambda jsm: jsm.find_stream_name_by_subject(subject))
    durable = consumer_name("team.orders live")
    info = _jsm(lambda jsm: jsm.consumer_info(stream, durable))
    assert info.config.ack_wait == 7.0 and info.config.max_ack_pending == 500
    assert info.config.filter_subject == subject and info.config.deliver_subject is None
    source.close()
    sources(config(subject, group="team.orders live", ack_wait="9s", max_ack_pending=500))
    info = _jsm(lambda jsm: jsm.consumer_info(stream, durable))
    assert info.config.ack_wait == 9.0  # an existing consumer follows the config


def test_a_consumer_deleted_under_a_running_source_is_an_error_not_an_idle_stream(
    subject: str, sources: Callable[..., NatsSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull request to a deleted consumer just goes unanswered, like on an idle stream; empty
    polls check that the consumer exists (every CONSUMER_CHECK_EVERY seconds; here at once)."""
    from headwater.streams.connectors import nats as connector

    monkeypatch.setattr(connector, "CONSUMER_CHECK_EVERY", 0.0)
    source = sources(config(subject, group="doomed"))
    assert source.poll(10, 0.1) == []  # the consumer exists: an empty poll is just empty
    stream = _jsm(lambda jsm: jsm.find_stream_name_by_subject(subject))
    _jsm(lambda jsm: jsm.delete_consumer(stream, "doomed"))
    with pytest.raises(ExecutionError, match="was deleted") as err:
        source.poll(10, 0.1)
    assert "headwater stream reset orders_live" in str(err.value)


def test_close_stops_the_loop_thread(subject: str) -> None:
    source = NatsSource(config(subject))
    source.open(nothing_committed)
    names = {t.name for t in threading.enumerate()}
    assert "headwater-nats-orders_live" in names
    source.close()
    source.close()  # twice is fine
    assert wait_for(
        lambda: "headwater-nats-orders_live" not in {t.name for t in threading.enumerate()}, 2
    )


def test_raw_consume_reads_and_acknowledges(subject: str) -> None:
    produce(config(subject), payloads(300))
    assert raw_consume(config(subject, group="raw"), 300, 10.0) == 300
    assert raw_consume(config(subject, group="raw"), 10, 0.5) == 0  # all acknowledged


# -- against a private nats-server (restarted, or with a login) --------------------------------


class PrivateServer:
    """A nats-server with JetStream on a free port and its own store, that a test may kill and
    start again (same port, same store) without disturbing the shared one."""

    def __init__(self, root: Any, *args: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"nats://127.0.0.1:{self.port}"
        self.command = [
            shutil.which("nats-server") or "nats-server",
            "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(root), *args,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        up = wait_for(lambda: self._accepts(), 10)
        assert up, f"nats-server did not start on port {self.port}"

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def private_server(tmp_path: Any, server: None) -> Iterator[Callable[..., PrivateServer]]:
    if shutil.which("nats-server") is None:
        if IN_CI:
            pytest.fail("nats-server is not on PATH (CI=true: it must be installed)")
        pytest.skip("nats-server is not on PATH")
    started: list[PrivateServer] = []

    def start(*args: str) -> PrivateServer:
        srv = PrivateServer(tmp_path / f"js{len(started)}", *args)
        srv.start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.kill()


@pytest.mark.slow
def test_a_broker_restart_loses_nothing(
    private_server: Callable[..., PrivateServer], sources: Callable[..., NatsSource]
) -> None:
    """SIGKILL the server and start it again: polls see nothing meanwhile (no exception), acks
    wait for the reconnect, and every message arrives. A killed nats-server may forget the
    consumer's latest acks (it writes consumer state to disk lazily), so messages it forgot come
    back after ack_wait: only those already delivered, which the warehouse drops as committed."""
    srv = private_server()
    subj = f"hwtest.restart.{uuid.uuid4().hex[:8]}"
    cfg = config(subj, url=srv.url, create_stream=True, ack_wait="1s")
    produce(cfg, payloads(10, "before"))
    source = sources(cfg)
    first = poll_until(source, 10)
    assert [m.offset for m in first] == [str(i) for i in range(1, 11)]
    source.ack(first[:5])
    srv.kill()
    assert source.poll(100, 0.3) == []  # the broker is down: nothing, and no exception
    restarter = threading.Timer(0.5, srv.start)
    restarter.start()
    try:
        source.ack(first[5:])  # waits for the reconnect, then the buffered acks go out
    finally:
        restarter.join()
    produce(cfg, payloads(10, "after"))
    later: list[str] = []
    end = time.monotonic() + 20
    while time.monotonic() < end and not (
        {str(i) for i in range(11, 21)} <= set(later) and source.lag() == {subj: 0}
    ):
        batch = source.poll(100, 0.3)
        later += [m.offset for m in batch]
        source.ack(batch)
    assert {str(i) for i in range(11, 21)} <= set(later)  # nothing lost
    assert {int(o) for o in later} - set(range(11, 21)) <= set(range(1, 11))  # only redeliveries
    assert source.lag() == {subj: 0}
    assert wait_for(lambda: source.ack_floor() == "20")


def test_a_rejected_login_is_a_fast_config_error_without_the_password(
    private_server: Callable[..., PrivateServer], sources: Callable[..., NatsSource]
) -> None:
    srv = private_server("--user", "alice", "--pass", "right-pw")
    bad = sources(config("hwtest.auth", url=srv.url, user="alice", password="wrong-pw"), open=False)
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        bad.open(nothing_committed)
    assert time.monotonic() - started < 3.0
    text = str(err.value)
    # the server answers `-ERR 'Authorization Violation'` and closes: depending on which the client
    # reads first, the error names the violation or the reset connection, and the hint the login
    assert "authorization" in text.lower() or "check user/password/token" in text
    assert "wrong-pw" not in text
    assert f"127.0.0.1:{srv.port}" in text
    good = config("hwtest.auth", url=srv.url, user="alice", password="right-pw", create_stream=True)
    produce(good, [b"hello"])
    assert [m.value for m in poll_until(sources(good), 1)] == [b"hello"]


@settings(deadline=None)  # the first example imports pyarrow.compute
@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=20))
def test_key_range_is_the_smallest_and_largest_order_key(seqs: list[int]) -> None:
    source = NatsSource(config("a.b"))
    keys = [source.order_key(str(s)) for s in seqs]
    assert source.key_range([str(s) for s in seqs]) == (min(keys), max(keys))
