"""The MQTT source against the real Mosquitto on 127.0.0.1:1883 (MQTT v5).

Each test uses its own topic and group (uuids), so its own client ids and sessions, and ends the
sessions at the end (`reset --to latest`). Without a reachable broker the tests skip, except under
CI=true, where they fail. MQTT only delivers to existing subscriptions, so every test opens (or
has opened) the source before it produces.
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
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater import secrets
from headwater.errors import ConfigError
from headwater.streams.connectors.mqtt import MqttSource, produce, raw_consume
from headwater.streams.source import Delivery, Message, SourceConfig

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _need_broker() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return
    except OSError as exc:
        reason = f"Mosquitto is not reachable on 127.0.0.1:1883: {exc}"
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: it must be running)")
    pytest.skip(reason)


class Stream:
    """One test's topic and group, with helpers to build configs and sources."""

    def __init__(self) -> None:
        self.topic = f"hw-test/{uuid.uuid4().hex}"
        self.group = f"hwt-{uuid.uuid4().hex[:12]}"
        self.opened: list[MqttSource] = []

    def config(self, topic: str | None = None, **options: Any) -> SourceConfig:
        options.setdefault("session_expiry", "10 minutes")  # tests leave nothing for long
        return SourceConfig(
            stream="orders_live",
            connector="mqtt",
            topic=topic or self.topic,
            group=self.group,
            start=str(options.pop("start", "earliest")),
            options=options,
            location="streams/orders.yml:3",
        )

    def open(self, topic: str | None = None, **options: Any) -> MqttSource:
        source = MqttSource(self.config(topic, **options))
        source.open(nothing)
        self.opened.append(source)
        return source


@pytest.fixture
def stream() -> Iterator[Stream]:
    _need_broker()
    s = Stream()
    yield s
    for source in s.opened:
        source.close()
    MqttSource(s.config()).reset("latest")  # end the test's sessions on the broker
    MqttSource(s.config(shared=False)).reset("latest")


def nothing(partitions: list[str]) -> dict[str, str | None]:
    return {p: None for p in partitions}


def poll_until(source: MqttSource, n: int, deadline: float = 10.0) -> list[Message]:
    out: list[Message] = []
    end = time.monotonic() + deadline
    while len(out) < n:
        assert time.monotonic() < end, f"only {len(out)} of {n} messages within {deadline}s"
        out += source.poll(1000, 0.2)
    return out


def quiet(source: MqttSource, seconds: float = 0.3) -> list[Message]:
    """What arrives within ``seconds`` (expected: nothing)."""
    out: list[Message] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out += source.poll(1000, 0.05)
    return out


def events(n: int) -> list[bytes]:
    return [json.dumps({"order_id": i, "amount": "1.50"}).encode() for i in range(n)]


def publish_raw(topic: str, payload: bytes, qos: int = 1, **user: str) -> None:
    """Publish one message with plain paho (to control its properties)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex}", protocol=mqtt.MQTTv5
    )
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    props = Properties(PacketTypes.PUBLISH)
    if user:
        props.UserProperty = list(user.items())
    client.publish(topic, payload, qos=qos, properties=props).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def source_client_id(stream: Stream, slot: int) -> str:
    return f"headwater-{stream.group}-{slot}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the round trip ---------------------------------------------------------------------------


def test_produce_poll_ack_delivers_each_message_once(stream: Stream) -> None:
    source = stream.open()
    assert source.delivery is Delivery.ACKED
    assert source.assignment() == {stream.topic}
    assert source.client_id == f"headwater-{stream.group}-0"
    values = events(5000)
    ids = [f"order-{i}" for i in range(5000)]
    produce(stream.config(), values, message_ids=ids)
    got = poll_until(source, 5000)
    assert [m.value for m in got] == values  # one publisher, one subscriber: in order
    assert [m.offset for m in got] == ids
    assert {m.partition for m in got} == {stream.topic}
    assert all(m.timestamp is not None and abs(m.timestamp - time.time()) < 60 for m in got)
    assert all(m.key is None for m in got)  # a plain topic: the key says nothing
    assert source.poll(100, 0.05) == []
    source.ack(got)  # 5000 PUBACKs, confirmed by the broker before ack returns
    source.close()
    again = stream.open()  # at once the same session (slot 0): nothing unacknowledged is left
    assert again.client_id == source_client_id(stream, 0)
    assert quiet(again) == []


def test_message_id_timestamp_wildcards_and_qos0_surface_on_the_message(stream: Stream) -> None:
    source = stream.open(topic=f"{stream.topic}/+")
    publish_raw(f"{stream.topic}/a", b"one", message_id="evt-42", timestamp="1700000000.5")
    publish_raw(f"{stream.topic}/b", b"two")  # no id, no timestamp
    publish_raw(f"{stream.topic}/c", b"three", qos=0, message_id="evt-43")
    one, two, three = poll_until(source, 3)
    assert (one.offset, one.value, one.timestamp, one.key) == (
        "evt-42",
        b"one",
        1_700_000_000.5,
        f"{stream.topic}/a".encode(),
    )
    assert (two.offset, two.timestamp, two.key) == ("", None, f"{stream.topic}/b".encode())
    assert one.partition == two.partition == f"{stream.topic}/+"
    assert three.offset == "evt-43" and three.handle is None  # QoS 0: nothing to acknowledge
    assert source.order_key("evt-42") == "evt-42"
    assert source.ack_floor() is None
    assert source.lag() == {}
    source.ack([one, two, three])
    source.close()
    assert quiet(stream.open(topic=f"{stream.topic}/+")) == []


# -- crashes and redelivery -------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from headwater.streams.connectors.mqtt import MqttSource
    from headwater.streams.source import SourceConfig

    topic, group = sys.argv[1], sys.argv[2]
    config = SourceConfig(
        "orders_live", "mqtt", topic, group, "earliest", {"session_expiry": "10 minutes"}
    )
    source = MqttSource(config)
    source.open(lambda parts: {p: None for p in parts})
    got = []
    deadline = time.monotonic() + 10
    while len(got) < 100:
        if time.monotonic() > deadline:
            print(json.dumps({"error": f"only {len(got)} of 100 messages"}), flush=True)
            sys.exit(1)
        got += source.poll(100, 0.5)
    acked = got[:30] + got[50:60]
    source.ack(acked)  # returns once the broker has processed the PUBACKs
    print(json.dumps({"client_id": source.client_id, "acked": [m.offset for m in acked]}))
    sys.stdout.flush()
    time.sleep(60)
    """
)


def test_a_killed_consumer_s_unacknowledged_messages_come_back_to_its_client_id(
    stream: Stream,
) -> None:
    stream.open().close()  # the session and its subscription exist: messages wait in it
    ids = [f"m-{i:03d}" for i in range(100)]
    produce(stream.config(), events(100), message_ids=ids)
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, stream.topic, stream.group], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            report = json.loads(child.stdout.readline() or '{"error": "no output"}')
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
    assert "error" not in report, report["error"]
    assert report["client_id"] == source_client_id(stream, 0)
    acked = set(report["acked"])
    assert len(acked) == 40
    source = stream.open()  # the killed process's slot is free again: same client id
    assert source.client_id == report["client_id"]
    back = poll_until(source, 60)
    assert {m.offset for m in back} == set(ids) - acked
    assert quiet(source, 0.2) == []
    source.ack(back)


def test_close_without_ack_keeps_the_messages_in_the_session(stream: Stream) -> None:
    source = stream.open()
    produce(stream.config(), events(20), message_ids=[str(i) for i in range(20)])
    first = poll_until(source, 20)
    source.close()
    again = stream.open()
    second = poll_until(again, 20)
    assert sorted(m.offset for m in second) == sorted(m.offset for m in first)
    again.ack(second)
    again.close()
    assert quiet(stream.open()) == []


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_acks_in_any_grouping_leave_exactly_the_rest_unacknowledged(
    stream: Stream, data: st.DataObject
) -> None:
    """Whatever subsets are acknowledged, in whatever order and grouping (some twice), exactly
    the unacknowledged messages come back to the session's next client."""
    topic = f"{stream.topic}/{uuid.uuid4().hex[:8]}"  # hypothesis reuses the fixture
    source = stream.open(topic=topic)
    try:  # closed also when hypothesis aborts the example inside a draw
        n = 20
        ids = [f"p-{i:02d}" for i in range(n)]
        produce(stream.config(topic=topic), [b"{}"] * n, message_ids=ids)
        got = poll_until(source, n)
        chosen = data.draw(st.lists(st.sampled_from(got), unique_by=lambda m: m.offset))
        order = data.draw(st.permutations(chosen))
        chunks = data.draw(st.integers(min_value=1, max_value=3))
        for i in range(chunks):
            part = list(order[i::chunks])
            source.ack(part + part[:1])  # the same message twice in one call: one PUBACK
        source.ack(chosen[:2])  # already acknowledged: ignored (its packet id may be reused)
    finally:
        source.close()
    again = stream.open(topic=topic)
    try:
        expected = set(ids) - {m.offset for m in chosen}
        back = poll_until(again, len(expected)) if expected else []
        assert {m.offset for m in back} == expected
        assert quiet(again, 0.1) == []
        again.ack(back)
    finally:
        again.close()


def test_seek_and_reconnects_deliver_again_and_stale_acks_are_ignored(stream: Stream) -> None:
    source = stream.open()
    produce(stream.config(), events(10), message_ids=[str(i) for i in range(10)])
    first = poll_until(source, 10)
    source.seek({"another/topic": None})  # not ours: nothing happens
    assert source.poll(10, 0.1) == []
    source.seek({stream.topic: None})  # reconnects: the broker sends the unacked again
    second = poll_until(source, 10)
    assert sorted(m.offset for m in second) == sorted(m.offset for m in first)
    source.ack(first)  # the old connection's messages: ignored
    # a connection lost under paho: it reconnects by itself and the messages come a third time
    client = source._client
    assert client is not None
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)
    third = poll_until(source, 10)
    assert sorted(m.offset for m in third) == sorted(m.offset for m in first)
    source.ack(second)  # stale again: ignored
    source.ack(third)
    source.close()
    assert quiet(stream.open()) == []


# -- scale-out ----------------------------------------------------------------------------------


def test_a_shared_subscription_splits_the_topic_without_overlap(stream: Stream) -> None:
    first, second = stream.open(), stream.open()
    assert {first.client_id, second.client_id} == {
        source_client_id(stream, 0),
        source_client_id(stream, 1),
    }
    ids = [f"s-{i:04d}" for i in range(200)]
    produce(stream.config(), events(200), message_ids=ids)
    seen: dict[int, list[str]] = {0: [], 1: []}
    end = time.monotonic() + 15
    while len(seen[0]) + len(seen[1]) < 200:
        assert time.monotonic() < end, "the two members did not get everything"
        for i, source in enumerate((first, second)):
            batch = source.poll(50, 0.05)
            seen[i] += [m.offset for m in batch]
            source.ack(batch)
    assert seen[0] and seen[1], "Mosquitto splits a shared subscription between members"
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == ids


def test_without_sharing_a_second_process_is_a_config_error(stream: Stream) -> None:
    source = stream.open(shared=False)
    assert source.client_id == f"headwater-{stream.group}"
    with pytest.raises(ConfigError, match="another process on this host") as info:
        stream.open(shared=False)
    assert "shared: true" in (info.value.hint or "")
    custom = stream.open(shared=False, client_id=f"mine-{stream.group}")
    assert custom.client_id == f"mine-{stream.group}"


# -- reset, raw client --------------------------------------------------------------------------


def test_reset_latest_ends_the_session_and_history_is_a_config_error(stream: Stream) -> None:
    source = stream.open()
    produce(stream.config(), events(5), message_ids=[str(i) for i in range(5)])
    poll_until(source, 5)  # delivered, never acknowledged
    other = MqttSource(stream.config())
    with pytest.raises(ConfigError, match="consuming as"):
        other.reset("latest")  # a running process of this host holds the session
    source.close()
    assert other.reset("latest") == {stream.topic: None}  # without open()
    fresh = stream.open()
    assert quiet(fresh) == []  # the old session and its 5 messages are gone
    produce(stream.config(), events(3), message_ids=["x", "y", "z"])
    assert [m.offset for m in poll_until(fresh, 3)] == ["x", "y", "z"]
    with pytest.raises(ConfigError, match="retained messages") as info:
        other.reset("earliest")
    assert "--to latest" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="cannot start at a time"):
        other.reset("2024-05-01T00:00:00+00:00")


def test_raw_consume_reads_and_acknowledges_n(stream: Stream) -> None:
    stream.open().close()
    produce(stream.config(), events(50), message_ids=[str(i) for i in range(50)])
    assert raw_consume(stream.config(), 30, 10) == 30
    rest = stream.open()
    back = poll_until(rest, 20)  # the 20 raw_consume received past n, not acknowledged
    assert len({m.offset for m in back}) == 20
    rest.ack(back)
    rest.close()
    assert raw_consume(stream.config(), 10, 0.3) == 0  # everything is acknowledged


# -- configuration errors -------------------------------------------------------------------------


def test_an_unreachable_broker_is_a_quick_config_error_without_the_password() -> None:
    port = free_port()
    config = SourceConfig(
        "orders_live",
        "mqtt",
        "t",
        f"g-{uuid.uuid4().hex[:8]}",
        "earliest",
        {"url": f"mqtt://etl:s3cr3t-pw@127.0.0.1:{port}"},
    )
    source = MqttSource(config)
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        source.open(nothing)
    assert time.monotonic() - started < 5
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text and "cannot reach" in text
    assert "s3cr3t-pw" not in text
    assert "s3cr3t-pw" not in secrets.mask("password s3cr3t-pw")  # registered as a secret
    with pytest.raises(ConfigError, match="cannot reach"):
        produce(config, [b"x"])
    with pytest.raises(ConfigError, match="cannot reach"):  # the client id was released
        source.open(nothing)


def test_a_port_that_does_not_speak_mqtt_is_a_config_error() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        config = SourceConfig(
            "s",
            "mqtt",
            "t",
            f"g-{uuid.uuid4().hex[:8]}",
            "earliest",
            {"url": f"mqtt://127.0.0.1:{port}"},
        )
        with pytest.raises(ConfigError, match="did not answer CONNECT"):
            MqttSource(config).open(nothing)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"qos": 2}, "PUBREC"),
        ({"qos": 0}, "never acknowledged"),
        ({"cleint_id": "x"}, "did you mean `client_id`"),
        ({"shared": "yes"}, "shared: 'yes'"),
        ({"url": "http://127.0.0.1:1883"}, "not an MQTT URL"),
        ({"session_expiry": "soon"}, "session_expiry"),
        ({"start": "2024-05-01T00:00:00Z"}, "cannot start at a time"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], message: str) -> None:
    start = str(options.pop("start", "earliest"))
    config = SourceConfig("s", "mqtt", "t", "g", start, options)
    with pytest.raises(ConfigError, match=message):
        MqttSource(config)


def test_a_group_that_cannot_name_a_shared_subscription_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="shared subscription"):
        MqttSource(SourceConfig("s", "mqtt", "t", "a/b", "earliest", {}))
    MqttSource(SourceConfig("s", "mqtt", "t", "a/b", "earliest", {"shared": False}))


def test_poll_before_open_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="open"):
        MqttSource(SourceConfig("s", "mqtt", "t", "g", "earliest", {})).poll(1, 0)
