"""The paho plumbing around `headwater.streams.connectors.mqtt`'s source: `_RoundTrip` (how a
client learns that the broker has processed the PUBACKs it sent, which MQTT does not answer), and
the two plain-paho tools, `produce` (publish at QoS 1 with the ``message_id`` and ``timestamp``
user properties the source reads, for tests and benchmarks) and `raw_consume` (the stream's
session read and acknowledged with paho alone, the benchmark's baseline). The module doc of `mqtt`
describes the behaviour; `mqtt` re-exports the tools.

The tools parse the `source:` mapping with `MqttSource` itself (so they connect exactly as the
source does), imported inside them because `mqtt` imports this module."""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, NoReturn

from headwater.errors import ConfigError, ExecutionError
from headwater.streams.source import SourceConfig

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt_client

    from headwater.streams.connectors.mqtt import MqttSource

__all__ = ["produce", "raw_consume"]


class _RoundTrip:
    """Waits until the broker has processed everything sent before: an UNSUBSCRIBE of a topic
    nobody subscribes to, answered (UNSUBACK) only after the packets ahead of it on the
    connection. PUBACK has no answer, and Mosquitto discards the unread PUBACKs of a connection
    when another connection takes over its session, so `ack` confirms them this way (measured:
    thousands of PUBACKs lost when a process closed and the next one connected at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, threading.Event] = {}
        self._topic = f"headwater/sync/{uuid.uuid4().hex}"

    def install(self, client: mqtt_client.Client) -> None:
        client.on_unsubscribe = self._answered

    def _answered(
        self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        with self._lock:
            event = self._waiting.pop(mid, None)
        if event is not None:
            event.set()

    def wait(self, client: mqtt_client.Client, timeout: float) -> bool:
        """True when the broker answered within ``timeout``."""
        event = threading.Event()
        with self._lock:  # registered before the answer can be handled
            rc, mid = client.unsubscribe(self._topic)
            if rc != 0 or mid is None:
                return False
            self._waiting[mid] = event
        answered = event.wait(timeout)
        if not answered:
            with self._lock:
                self._waiting.pop(mid, None)
        return answered


def _fail(source: MqttSource, doing: str, exc: BaseException) -> NoReturn:
    raise ExecutionError(
        f"stream `{source.config.stream}`: the MQTT broker at {source.address} failed to {doing}: "
        f"{exc}"
    ) from exc


def produce(
    config: SourceConfig, values: list[bytes], message_ids: list[str] | None = None
) -> None:
    """Publish ``values`` to the topic at QoS 1, in order, on one connection, each with the user
    properties ``message_id`` (``message_ids``, or a fresh unique id each) and ``timestamp``;
    returns when the broker has acknowledged every one. Only sessions subscribed by then
    receive them (open the source first). Mosquitto lets 20 QoS 1 messages be in flight per
    publisher, so this runs at a few thousand messages a second."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    # late: mqtt imports this module
    from headwater.streams.connectors.mqtt import CONNECT_TIMEOUT, MqttSource

    if message_ids is not None and len(message_ids) != len(values):
        raise ValueError("produce: message_ids must be as many as values")
    source = MqttSource(config)
    if source._key_from_topic:
        raise source._config_error(
            f"cannot publish to the topic filter `{source.topic}`", "publish to a plain topic"
        )
    client = source._new_client(f"headwater-produce-{uuid.uuid4().hex[:12]}")
    source._connect(client, 0)
    prefix = uuid.uuid4().hex[:16]
    deadline = time.monotonic() + CONNECT_TIMEOUT
    try:
        while not client.is_connected():
            if time.monotonic() > deadline:
                raise source._config_error(
                    f"the MQTT broker at {source.address} did not accept the connection",
                    "check `url:` and the credentials",
                )
            client.loop(0.05)
        infos = []
        topic = source.topic
        for i, value in enumerate(values):
            props = Properties(PacketTypes.PUBLISH)
            mid = message_ids[i] if message_ids is not None else f"{prefix}-{i:010d}"
            props.UserProperty = [("message_id", mid), ("timestamp", f"{time.time():.6f}")]
            infos.append(client.publish(topic, value, qos=1, properties=props))
            if i % 20 == 19:
                client.loop(0)  # read PUBACKs, which lets queued publishes go out
        deadline = time.monotonic() + 30 + len(values) / 500
        pending = [info for info in infos if not info.is_published()]
        while pending:
            if time.monotonic() > deadline:
                raise ExecutionError(
                    f"stream `{config.stream}`: the MQTT broker at {source.address} did not "
                    f"acknowledge {len(pending)} of {len(values)} published messages"
                )
            client.loop(0.05)
            pending = [info for info in pending if not info.is_published()]
    except (ConfigError, ExecutionError):
        raise
    except Exception as exc:
        _fail(source, "publish", exc)
    finally:
        client.disconnect()
        client.loop(0.05)


def raw_consume(config: SourceConfig, n: int, timeout: float) -> int:
    """Read and acknowledge up to ``n`` messages with plain paho (the stream's session: the same
    client id, subscription and QoS; PUBACK from the message callback), no headwater in between:
    the benchmark's baseline. Returns how many were read before ``n`` or the ``timeout``."""
    import paho.mqtt.client as mqtt

    # late: mqtt imports this module
    from headwater.streams.connectors.mqtt import CONNECT_TIMEOUT, MqttSource

    source = MqttSource(config)
    source._claim_client_id()
    assert source.client_id is not None
    client = source._new_client(source.client_id)
    count = [0]
    done = threading.Event()

    def connected(c: Any, u: Any, flags: Any, reason: Any, properties: Any) -> None:
        options = mqtt.SubscribeOptions(
            qos=1, retainHandling=mqtt.SubscribeOptions.RETAIN_DO_NOT_SEND
        )
        c.subscribe(source.subscription, options=options)

    def received(c: Any, u: Any, message: Any) -> None:
        if count[0] < n:  # past n: not acknowledged, sent again to the session's next client
            count[0] += 1
            c.ack(message.mid, message.qos)
            if count[0] >= n:
                done.set()

    client.on_connect = connected
    client.on_message = received
    round_trip = _RoundTrip()
    round_trip.install(client)
    try:
        source._connect(client, source.session_expiry)
        client.loop_start()
        done.wait(timeout)
        round_trip.wait(client, CONNECT_TIMEOUT)  # the PUBACKs are processed (see _RoundTrip)
        client.disconnect()
        client.loop_stop()
    finally:
        source._release_client_id()
    return min(count[0], n)
