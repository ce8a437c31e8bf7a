"""The RabbitMQ (AMQP 0-9-1) source against the real RabbitMQ on 127.0.0.1:5672 (guest/guest).

Each test uses its own queue (a uuid) and deletes it at the end. Without a reachable RabbitMQ the
tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater import secrets
from headwater.errors import ConfigError
from headwater.streams.connectors.amqp import (
    DEFAULT_URL,
    AmqpSource,
    AmqpUnavailable,
    produce,
    raw_consume,
)
from headwater.streams.source import Delivery, Message, SourceConfig

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _need_broker() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return
    except OSError as exc:
        reason = f"RabbitMQ is not reachable on 127.0.0.1:5672: {exc}"
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: it must be running)")
    pytest.skip(reason)


@pytest.fixture
def admin() -> Iterator[Any]:
    """A plain pika channel, for what the tests set up and check behind the source's back."""
    _need_broker()
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(DEFAULT_URL))
    yield conn.channel()
    conn.close()


@pytest.fixture
def queue(admin: Any) -> Iterator[str]:
    """A fresh queue name; the queue (if any was declared) is deleted afterwards."""
    import pika

    name = f"hw-test-{uuid.uuid4().hex}"
    yield name
    conn = pika.BlockingConnection(pika.URLParameters(DEFAULT_URL))
    conn.channel().queue_delete(name)
    conn.close()


def config(queue: str, stream: str = "orders_live", **options: Any) -> SourceConfig:
    return SourceConfig(
        stream=stream,
        connector="amqp",
        topic=queue,
        group="g",
        start=str(options.pop("start", "earliest")),
        options=options,
        location="streams/orders.yml:3",
    )


def nothing(partitions: list[str]) -> dict[str, str | None]:
    return {p: None for p in partitions}


def opened(queue: str, **options: Any) -> AmqpSource:
    source = AmqpSource(config(queue, **options))
    source.open(nothing)
    return source


def poll_until(
    source: AmqpSource, n: int, deadline: float = 10.0, batch: int = 1000
) -> list[Message]:
    """Poll until ``n`` messages arrived (or fail at the deadline)."""
    out: list[Message] = []
    end = time.monotonic() + deadline
    while len(out) < n:
        assert time.monotonic() < end, f"only {len(out)} of {n} messages within {deadline}s"
        out += source.poll(batch, 0.2)
    return out


def ready(admin: Any, queue: str) -> int:
    return int(admin.queue_declare(queue, passive=True).method.message_count)


def wait_for(condition: Callable[[], bool], what: str, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def events(n: int) -> list[bytes]:
    return [json.dumps({"order_id": i, "amount": "1.50"}).encode() for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the round trip ---------------------------------------------------------------------------


def test_produce_poll_ack_delivers_each_message_once_and_empties_the_queue(
    queue: str, admin: Any
) -> None:
    values = events(500)
    ids = [f"order-{i}" for i in range(500)]
    produce(config(queue), values, message_ids=ids)
    source = opened(queue)
    assert source.delivery is Delivery.ACKED
    assert source.assignment() == {queue}
    got = poll_until(source, 500)
    assert [m.value for m in got] == values  # one consumer: the queue's order
    assert [m.offset for m in got] == ids
    assert {m.partition for m in got} == {queue}
    assert all(m.timestamp is not None and abs(m.timestamp - time.time()) < 60 for m in got)
    assert source.poll(100, 0.1) == []  # nothing more, and an empty poll returns
    source.ack(got)
    source.close()
    # acknowledged: nothing ready, and nothing comes back once the consumer is gone
    assert ready(admin, queue) == 0
    again = opened(queue)
    assert again.poll(100, 0.3) == []
    again.close()


def test_message_id_timestamp_and_missing_id_surface_on_the_message(queue: str, admin: Any) -> None:
    import pika

    admin.queue_declare(queue, durable=True)
    admin.basic_publish(
        "", queue, b"a", pika.BasicProperties(message_id="evt-42", timestamp=1_700_000_000)
    )
    admin.basic_publish("", queue, b"b", pika.BasicProperties())  # no id, no timestamp
    admin.basic_publish(
        "",
        queue,
        b"c",
        pika.BasicProperties(message_id="evt-43", headers={"timestamp_in_ms": 1_700_000_000_250}),
    )
    source = opened(queue)
    a, b, c = poll_until(source, 3)
    assert (a.offset, a.value, a.timestamp) == ("evt-42", b"a", 1_700_000_000.0)
    assert (b.offset, b.value, b.timestamp) == ("", b"b", None)
    assert (c.offset, c.timestamp) == ("evt-43", 1_700_000_000.25)
    assert source.order_key("evt-42") == "evt-42"
    assert source.ack_floor() is None
    source.ack([a, b, c])
    source.close()
    assert ready(admin, queue) == 0


# -- crashes and redelivery -------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from headwater.streams.connectors.amqp import AmqpSource
    from headwater.streams.source import SourceConfig

    queue = sys.argv[1]
    source = AmqpSource(SourceConfig("orders_live", "amqp", queue, "g", "earliest", {}))
    source.open(lambda parts: {p: None for p in parts})
    got = []
    deadline = time.monotonic() + 10
    while len(got) < 100:
        if time.monotonic() > deadline:
            print(json.dumps({"error": f"only {len(got)} of 100 messages"}), flush=True)
            sys.exit(1)
        got += source.poll(100, 0.5)
    acked = got[:40] + got[70:80]  # a prefix (one multiple ack) and a gap (single acks)
    source.ack(acked)
    source.lag()  # a round trip: the acks are on the wire before we say so
    print(json.dumps({"acked": [m.offset for m in acked]}), flush=True)
    time.sleep(60)
    """
)


def test_a_killed_consumer_s_unacknowledged_messages_come_back(queue: str, admin: Any) -> None:
    ids = [f"m-{i:03d}" for i in range(100)]
    produce(config(queue), events(100), message_ids=ids)
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, queue], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            report = json.loads(child.stdout.readline() or '{"error": "no output"}')
            assert "error" not in report, report["error"]
            acked = set(report["acked"])
            assert len(acked) == 50
            assert ready(admin, queue) == 0  # all 100 are out with the child, 50 unacked
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
    wait_for(lambda: ready(admin, queue) == 50, "the killed consumer's messages to be requeued")
    source = opened(queue)
    back = poll_until(source, 50)
    assert {m.offset for m in back} == set(ids) - acked
    assert source.poll(100, 0.2) == []
    source.ack(back)
    source.close()


def test_close_without_ack_puts_messages_back(queue: str, admin: Any) -> None:
    produce(config(queue), events(20), message_ids=[str(i) for i in range(20)])
    source = opened(queue)
    first = poll_until(source, 20)
    source.close()
    again = opened(queue)
    second = poll_until(again, 20)
    assert sorted(m.offset for m in second) == sorted(m.offset for m in first)
    again.ack(second)
    again.close()
    assert ready(admin, queue) == 0


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_acks_in_any_grouping_and_order_leave_exactly_the_rest_unacknowledged(
    queue: str, admin: Any, data: st.DataObject
) -> None:
    """Whatever subsets are acknowledged, in whatever order and grouping (some twice), the
    messages that come back after the consumer leaves are exactly the unacknowledged ones: the
    multiple-ack shortcut never covers an unacknowledged tag, and no tag is acknowledged twice
    (which RabbitMQ punishes by closing the channel, requeueing everything)."""
    if _exists(queue):  # hypothesis runs every example on the same queue
        admin.queue_purge(queue)
    n = 30
    ids = [f"p-{i:02d}" for i in range(n)]
    produce(config(queue), [b"{}"] * n, message_ids=ids)
    source = opened(queue)
    try:  # hypothesis may abort an example inside a draw: a consumer left open would take the
        # next example's messages (RabbitMQ dispatches to every consumer of the queue)
        got = poll_until(source, n)
        chosen = data.draw(st.lists(st.sampled_from(got), unique_by=lambda m: m.offset))
        chunks = data.draw(st.integers(min_value=1, max_value=4))
        acked: set[str] = set()
        for i in range(chunks):
            part = chosen[i::chunks]
            if part and data.draw(st.booleans()):
                part = part + part[:1]  # the same message twice in one call
            source.ack(part)
            acked |= {m.offset for m in part}
        if chosen and data.draw(st.booleans()):
            source.ack(chosen[:3])  # already acknowledged: ignored
        source.poll(10, 0.05)  # let an (unexpected) channel error arrive
        assert source._channel is not None and source._channel.is_open
    finally:
        source.close()
    expected = set(ids) - acked
    wait_for(lambda: ready(admin, queue) == len(expected), "the unacked messages to be requeued")
    again = opened(queue)
    try:
        back = poll_until(again, len(expected)) if expected else again.poll(n, 0.1)
        assert {m.offset for m in back} == expected
        again.ack(back)
    finally:
        again.close()


def _exists(queue: str) -> bool:
    import pika
    import pika.exceptions

    conn = pika.BlockingConnection(pika.URLParameters(DEFAULT_URL))
    try:
        conn.channel().queue_declare(queue, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        conn.close()


def test_seek_redelivers_what_was_polled_and_ignores_acks_of_the_old_channel(
    queue: str, admin: Any
) -> None:
    produce(config(queue), events(10), message_ids=[str(i) for i in range(10)])
    source = opened(queue)
    first = poll_until(source, 10)
    source.seek({"another-queue": None})  # not ours: nothing happens
    assert source.poll(10, 0.1) == []
    source.seek({queue: None})
    source.ack(first)  # tags of the closed channel: ignored, not acknowledged
    second = poll_until(source, 10)
    assert sorted(m.offset for m in second) == sorted(m.offset for m in first)
    source.ack(second)
    source.close()
    assert ready(admin, queue) == 0
    again = opened(queue)
    assert again.poll(10, 0.2) == []
    again.close()


@pytest.mark.slow
def test_a_connection_closed_by_the_broker_is_reopened_and_its_messages_delivered_again(
    queue: str, admin: Any
) -> None:
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        if IN_CI:
            pytest.fail("rabbitmqctl is not installed (CI=true: it must be)")
        pytest.skip("rabbitmqctl is not installed")
    stream = f"conn-{uuid.uuid4().hex[:12]}"
    produce(config(queue), events(10), message_ids=[str(i) for i in range(10)])
    source = AmqpSource(config(queue, stream=stream))
    source.open(nothing)
    first = poll_until(source, 10)
    listing = subprocess.run(
        [rabbitmqctl, "-q", "list_connections", "pid", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pids = [line.split("\t")[0] for line in listing.splitlines() if stream in line]
    assert len(pids) == 1, listing
    subprocess.run([rabbitmqctl, "-q", "close_connection", pids[0], "test"], check=True)
    again: list[Message] = []
    end = time.monotonic() + 15
    while len(again) < 10:  # the first polls notice the loss and reconnect, then deliver again
        assert time.monotonic() < end, f"only {len(again)} redelivered"
        again += source.poll(100, 0.2)
    assert sorted(m.offset for m in again) == sorted(m.offset for m in first)
    source.ack(first)  # the dead channel's messages: ignored
    source.ack(again)
    source.close()
    assert ready(admin, queue) == 0


def test_a_deleted_queue_is_declared_again(queue: str, admin: Any) -> None:
    source = opened(queue)
    assert source.poll(10, 0.05) == []
    admin.queue_delete(queue)  # RabbitMQ cancels the consumer
    wait_for(lambda: not _exists(queue), "the queue to go")
    end = time.monotonic() + 10
    while not _exists(queue):
        assert time.monotonic() < end, "the queue was not declared again"
        source.poll(10, 0.1)
    produce(config(queue), events(3), message_ids=["a", "b", "c"])
    assert sorted(m.offset for m in poll_until(source, 3)) == ["a", "b", "c"]
    source.close()


# -- scale-out ----------------------------------------------------------------------------------


def test_two_consumers_split_the_queue_without_overlap(queue: str) -> None:
    ids = [f"s-{i:04d}" for i in range(400)]
    produce(config(queue), events(400), message_ids=ids)
    first, second = opened(queue, prefetch=20), opened(queue, prefetch=20)
    seen: dict[int, list[str]] = {0: [], 1: []}
    end = time.monotonic() + 15
    while len(seen[0]) + len(seen[1]) < 400:
        assert time.monotonic() < end, "the two consumers did not drain the queue"
        for i, source in enumerate((first, second)):
            batch = source.poll(50, 0.05)
            seen[i] += [m.offset for m in batch]
            source.ack(batch)
    assert seen[0] and seen[1], "RabbitMQ round-robins between consumers: both get some"
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == ids
    first.close()
    second.close()


# -- lag, reset, raw client ----------------------------------------------------------------------


def test_lag_is_the_queue_s_ready_messages(queue: str) -> None:
    source = AmqpSource(config(queue, prefetch=10))
    assert source.lag() == {queue: None}  # no queue yet, and no open() needed
    produce(config(queue), events(30))
    assert source.lag() == {queue: 30}
    source.open(nothing)
    got = poll_until(source, 10, batch=10)
    assert len(got) == 10
    assert source.lag() == {queue: 20}  # prefetch 10: the rest waits in the queue
    source.ack(got)
    rest: list[Message] = []
    while len(rest) < 20:  # each batch acknowledged, or the window stays shut
        batch = poll_until(source, 1, batch=10)
        source.ack(batch)
        rest += batch
    assert source.lag() == {queue: 0}
    source.close()


def test_reset_latest_purges_and_history_is_a_config_error(queue: str, admin: Any) -> None:
    source = AmqpSource(config(queue))
    with pytest.raises(ConfigError, match="does not exist"):
        source.reset("latest")
    produce(config(queue), events(25))
    assert source.reset("latest") == {queue: None}  # without open()
    assert ready(admin, queue) == 0
    with pytest.raises(ConfigError, match="no history") as info:
        source.reset("earliest")
    assert "stream queue" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="cannot start at a time"):
        source.reset("2024-05-01T00:00:00+00:00")
    source.open(nothing)
    produce(config(queue), events(2), message_ids=["x", "y"])
    assert sorted(m.offset for m in poll_until(source, 2)) == ["x", "y"]
    source.close()


def test_raw_consume_reads_and_acknowledges_n(queue: str, admin: Any) -> None:
    produce(config(queue), events(1500))
    assert raw_consume(config(queue), 1200, 10) == 1200
    wait_for(lambda: ready(admin, queue) == 300, "the extras to be requeued")
    assert raw_consume(config(queue), 1000, 0.5) == 300  # only what there is, within the timeout


# -- configuration errors -------------------------------------------------------------------------


def test_an_unreachable_broker_is_a_quick_config_error_without_the_password() -> None:
    port = free_port()
    source = AmqpSource(config("q", url=f"amqp://etl:s3cr3t-pw@127.0.0.1:{port}/%2F"))
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        source.open(nothing)
    assert time.monotonic() - started < 5
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text and "cannot reach" in text
    assert "s3cr3t-pw" not in text
    assert "s3cr3t-pw" not in secrets.mask("password s3cr3t-pw")  # registered as a secret
    assert "url" in (info.value.hint or "")
    with pytest.raises(ConfigError):
        produce(config("q", url=f"amqp://127.0.0.1:{port}/%2F"), [b"x"])


def test_wrong_credentials_and_vhost_are_config_errors(queue: str) -> None:
    with pytest.raises(ConfigError, match="refused the credentials") as info:
        opened(queue, url="amqp://guest:not-the-password@127.0.0.1:5672/%2F")
    assert "not-the-password" not in str(info.value)
    with pytest.raises(ConfigError, match="vhost"):
        opened(queue, url="amqp://guest:guest@127.0.0.1:5672/no-such-vhost")


def test_declare_false_needs_an_existing_queue_and_declare_true_makes_it_durable(
    queue: str, admin: Any
) -> None:
    import pika
    import pika.exceptions

    with pytest.raises(ConfigError, match="does not exist") as info:
        opened(queue, declare=False)
    assert "declare: true" in (info.value.hint or "")
    opened(queue).close()
    admin.queue_declare(queue, durable=True)  # same properties: accepted
    conn = pika.BlockingConnection(pika.URLParameters(DEFAULT_URL))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):  # it is durable
        conn.channel().queue_declare(queue, durable=False)
    conn.close()
    existing = opened(queue, declare=False)
    existing.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prefech": 10}, "did you mean `prefetch`"),
        ({"prefetch": 0}, "prefetch: 0"),
        ({"prefetch": 70000}, "prefetch: 70000"),
        ({"declare": "yes"}, "declare: 'yes'"),
        ({"url": "http://127.0.0.1:5672"}, "not an AMQP URL"),
        ({"start": "2024-05-01T00:00:00Z"}, "cannot start at a time"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        source = AmqpSource(config("q", **options))
        source.open(nothing)


def test_poll_before_open_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="open"):
        AmqpSource(config("q")).poll(1, 0)


def test_losing_the_broker_for_good_is_a_transient_error(queue: str) -> None:
    """A source whose broker went away raises `AmqpUnavailable` from poll (a retry may cure
    it), not a ConfigError: simulated by pointing the reconnect at a dead port."""
    source = opened(queue)
    source._drop_connection()
    source.url = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"
    with pytest.raises(AmqpUnavailable, match="cannot reconnect"):
        source.poll(10, 0.1)
    source.close()
