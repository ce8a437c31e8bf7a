"""MQTT source (MQTT v5, tested against Mosquitto 2.0): a topic filter read through a persistent
session, acknowledged (PUBACK) only after the warehouse commit.

MQTT has no log and no offsets. What makes it at-least-once is the *session*: a client that
connects with ``clean_start=False`` and a session expiry keeps its subscriptions and the QoS 1
messages it was sent but has not acknowledged while it is away, and the broker sends those again
when a client with the same client id comes back. The source subscribes at QoS 1 with paho's
``manual_ack=True``, so paho does not acknowledge on receipt: `ack` sends the PUBACKs after the
commit, and a process that dies before that gets its messages again under the same client id. So
this source is `Delivery.ACKED`: the warehouse keeps the ids it committed and drops a message
that comes again.

**Message ids.** MQTT's packet identifier is per connection and reused as soon as a message is
acknowledged, so it cannot identify an event. MQTT v5 has no message-id property either (the
Correlation Data property belongs to request/response), so the producer's id travels as the
*user property* ``message_id`` (the same name as AMQP's property), and becomes `Message.offset`;
without it the offset is ``""`` and the message is delivered at least once (the stream's
``dedup:`` key removes a redelivery). A user property ``timestamp`` (epoch seconds, as `produce`
sets it) becomes `Message.timestamp`: MQTT brokers stamp nothing.

``source:`` keys (``url_env`` arrives resolved as ``url``)::

    url: mqtt://user:password@127.0.0.1:1883   # the password is a secret
    qos: 1                   # the subscription's QoS: 1 is the only safe one (below)
    client_id: my-consumer   # default: derived from `group:`; the session is keyed by it
    shared: true             # `$share/<group>/<topic>`: the broker splits messages among members
    session_expiry: 7 days   # how long the broker keeps the session while no process runs

**QoS 2 is refused.** With QoS 2 the receiver answers PUBREC as soon as the message arrives (paho
does so before handing it over), and from then on the broker keeps only the packet id: a process
killed before the warehouse commit loses the message for good (verified with Mosquitto). QoS 1
plus the committed-id check is exactly once into the sink already; a publisher's QoS 2 messages
arrive at the subscription's QoS 1.

**Client ids and scale-out.** Several processes share the work through a shared subscription
(``$share/<group>/<topic>``, MQTT v5 and Mosquitto >= 1.6). Each needs its own session, and a
restarted process must find the session (and the unacknowledged messages) of the one that died.
So the client id is ``<client_id>-<slot>``, where the slot is the lowest number whose lock file
(in the temp directory, per broker and client id) no live process on this host holds: N processes
use slots 0..N-1 and a restart takes over the dead process's slot. With ``shared: false`` there is
one slot and a second process on the host is a ConfigError. Processes on several hosts need a
``client_id`` per host (e.g. from ``client_id_env``).

**Mosquitto limits worth knowing** (broker configuration, nothing a client can change):

* Mosquitto round-robins a shared subscription's messages to every member *session*, also to
  members that are offline: a process that stopped for good keeps receiving its share until its
  session expires. Scale down by restarting with fewer processes only after draining, or give the
  sessions a short ``session_expiry``.
* ``max_queued_messages`` (default 1000) caps what the broker holds for a session beyond the
  messages in flight; further messages for that session are *dropped*. The source asks for a
  receive maximum of 65535 in-flight messages, so a running process is far from it, but a stopped
  stream loses what exceeds it: raise it (or ``0``: no limit, with ``max_queued_bytes``) on a
  broker that feeds a stream that may be down.
* Messages published while no session is subscribed (before the first `open`, or after
  ``reset --to latest``) reach nobody: MQTT only delivers to existing subscriptions.

**Reading.** paho runs the network loop in its own thread (``loop_start``); the message callback
turns each message into a `Message` and appends it to a deque, and `poll` waits for the first
one and pops up to ``max_records``. After a reconnect (paho reconnects by itself, same client id,
``clean_start=False``) the broker sends the unacknowledged messages again; the ones polled before
are then stale, and acknowledging them does nothing (their handles carry the connection's
sequence numbers).

`_RoundTrip` (confirming that the broker processed the PUBACKs) and the tools `produce` (publish
with the user properties above, for tests and benchmarks) and `raw_consume` (plain paho on the
stream's session, the benchmark's baseline) live in `headwater.streams.connectors.mqtt_client`;
this module holds the source and re-exports the tools.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError, ExecutionError, TransientError
from headwater.streams.connectors.mqtt_client import _RoundTrip, produce, raw_consume
from headwater.streams.source import Delivery, Message, Positions, SourceConfig

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt_client

__all__ = ["OPTIONS", "MqttSource", "MqttUnavailable", "produce", "raw_consume"]

log = logging.getLogger(__name__)

DEFAULT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_SESSION_EXPIRY = 7 * 24 * 3600
MAX_SESSION_EXPIRY = 0xFFFFFFFE
"""0xFFFFFFFF means "never expires" in MQTT v5; a stream's session should end some day."""
RECEIVE_MAXIMUM = 65_535
"""QoS 1 messages the broker may have in flight to us unacknowledged (the protocol's maximum):
`ack` comes only after a commit, so this is the largest micro-batch a source can collect."""
CONNECT_TIMEOUT = 3.0
"""Seconds for the TCP connection and the CONNACK / SUBACK: an unreachable broker is a
ConfigError within this."""
KEEPALIVE = 30
RECONNECT_GRACE = 30.0
"""`poll` raises `MqttUnavailable` once paho has been reconnecting for this long."""
MAX_SLOTS = 256
_PROBE_MISSES = 8
"""`reset` stops looking for slot sessions after this many absent in a row."""
OPTIONS = ("url", "qos", "client_id", "shared", "session_expiry")
"""The connector-specific keys of an mqtt `source:` mapping (`url_env` arrives as `url`)."""
_BAD_CREDENTIALS = {0x86, 0x87, 0x8C}
"""CONNACK reason codes: bad user name or password, not authorized, bad authentication method."""
_TAKEN_OVER = 0x8E
"""DISCONNECT reason code: another connection used our client id."""


class MqttUnavailable(ExecutionError, TransientError):
    """The broker has been unreachable for a while after the source was open (a restart, a
    network cut); paho keeps reconnecting and the unacknowledged messages wait in the session."""


class MqttSource:
    """An MQTT topic filter read through a persistent session (see the module doc)."""

    delivery = Delivery.ACKED

    def __init__(self, config: SourceConfig) -> None:
        from headwater import secrets

        self.config = config
        _require_client(config)
        config.check_keys(OPTIONS)
        self.url = str(config.get("url") or DEFAULT_URL)
        if config.get("url"):  # the default carries no credentials
            secrets.register_dsn(self.url)
        self.host, self.port, self.username, self.password = self._parse_url(self.url)
        self.topic = config.topic
        if not self.topic or self.topic.startswith("$share/"):
            raise self._config_error(
                f"`topic: {self.topic!r}` is not a topic filter",
                "write the topic (wildcards + and # allowed); `shared: true` adds $share/ itself",
            )
        qos = config.get("qos", 1)
        if qos != 1 or isinstance(qos, bool):
            reason = (
                "QoS 0 messages are never acknowledged nor delivered again, so a crash loses them"
                if qos == 0
                else "with QoS 2 the broker forgets a message once it is received (PUBREC), "
                "before the warehouse commit, so a crash loses it"
                if qos == 2
                else "MQTT knows QoS 0, 1 and 2"
            )
            raise self._config_error(
                f"`qos: {qos!r}` is not supported: {reason}",
                "use `qos: 1` (at least once from the broker; the committed message ids make it "
                "exactly once into the sink; QoS 2 publishers are delivered at QoS 1)",
            )
        self.qos = 1
        shared = config.get("shared", True)
        if not isinstance(shared, bool):
            raise self._config_error(
                f"`shared: {shared!r}` is not true or false",
                "`shared: true` lets several processes split the topic",
            )
        self.shared = shared
        if shared and (not config.group or re.search(r"[/+#]", config.group)):
            raise self._config_error(
                f"group `{config.group}` cannot name a shared subscription (no /, + or #)",
                "set `group:` to a plain name, or `shared: false`",
            )
        client_id = config.get("client_id")
        if client_id is not None and (not isinstance(client_id, str) or not client_id):
            raise self._config_error(
                f"`client_id: {client_id!r}` is not a client id", "e.g. `client_id: orders-1`"
            )
        group = config.group or config.stream
        self.client_id_base = client_id or (
            group if group.startswith("headwater") else f"headwater-{group}"
        )
        self.session_expiry = self._session_expiry(
            config.get("session_expiry", DEFAULT_SESSION_EXPIRY)
        )
        _check_start(config, config.start, "start")
        self.subscription = f"$share/{config.group}/{self.topic}" if shared else self.topic
        self._key_from_topic = "+" in self.topic or "#" in self.topic
        self.client_id: str | None = None
        """The client id of the open session (``<client_id>-<slot>`` when shared)."""
        self._client: mqtt_client.Client | None = None
        self._lock_fd: int | None = None
        self._queue: deque[Message] = deque()
        self._ready = threading.Event()
        self._connack = threading.Event()
        self._suback = threading.Event()
        self._gone = threading.Event()
        self._ack_lock = threading.Lock()
        self._outstanding: set[int] = set()
        """Sequence numbers of messages delivered on the current connection and not acknowledged:
        a PUBACK is sent once per message, and never for a packet id the broker may have given
        to another message since."""
        self._seq = 0
        self._fatal: BaseException | None = None
        self._down_since: float | None = None
        self._round_trip = _RoundTrip()

    # -- configuration -----------------------------------------------------------------------

    def _config_error(self, what: str, hint: str) -> ConfigError:
        where = f" ({self.config.location})" if self.config.location else ""
        return ConfigError(f"stream `{self.config.stream}`: mqtt {what}", hint=hint + where)

    def _parse_url(self, url: str) -> tuple[str, int, str | None, str | None]:
        from urllib.parse import unquote, urlsplit

        try:
            parts = urlsplit(url)
            port = parts.port or 1883
        except ValueError as exc:
            raise self._config_error(
                f"`url` is not an MQTT URL: {exc}", "write mqtt://user:password@host:1883"
            ) from None
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise self._config_error(
                f"`url` is not an MQTT URL: {url}",
                "write mqtt://user:password@host:1883 (TLS is not supported by this connector)",
            )
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return parts.hostname, port, user, password

    def _session_expiry(self, value: object) -> int:
        from headwater.durations import DurationError, parse_duration

        try:
            seconds = parse_duration(value, key="session_expiry", file=self.config.location or None)
        except DurationError as exc:
            raise ConfigError(f"stream `{self.config.stream}`: {exc}", hint=exc.hint) from None
        return int(min(max(seconds, 1), MAX_SESSION_EXPIRY))

    @property
    def address(self) -> str:
        """Where the broker is, for messages: host:port, never the credentials."""
        return f"{self.host}:{self.port}"

    # -- client ids ----------------------------------------------------------------------------

    def _lock_path(self, client_id: str) -> str:
        digest = hashlib.sha256(f"{self.host}:{self.port}\0{client_id}".encode()).hexdigest()
        folder = os.path.join(tempfile.gettempdir(), "headwater-mqtt")
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"{digest[:24]}.lock")

    def _candidates(self) -> list[str]:
        if not self.shared:
            return [self.client_id_base]
        return [f"{self.client_id_base}-{slot}" for slot in range(MAX_SLOTS)]

    def _try_lock(self, client_id: str) -> int | None:
        """An fd holding the lock of ``client_id``, or None when a live process holds it. The
        kernel drops the lock when the process dies, so a SIGKILLed process frees its slot."""
        try:
            import fcntl
        except ImportError:  # no flock (Windows): one process per client id, unchecked
            return -1
        fd = os.open(self._lock_path(client_id), os.O_RDONLY | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def _claim_client_id(self) -> None:
        for client_id in self._candidates():
            fd = self._try_lock(client_id)
            if fd is not None:
                self._lock_fd, self.client_id = fd, client_id
                return
        if not self.shared:
            raise self._config_error(
                f"another process on this host consumes with client id `{self.client_id_base}`",
                "stop it, or set `shared: true` to let several processes split the topic",
            )
        raise self._config_error(
            f"all {MAX_SLOTS} client ids `{self.client_id_base}-N` are taken on this host",
            "run fewer processes of this stream",
        )

    def _release_client_id(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None and fd >= 0:
            os.close(fd)

    # -- the client ----------------------------------------------------------------------------

    def _new_client(self, client_id: str) -> mqtt_client.Client:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        client.connect_timeout = CONNECT_TIMEOUT
        return client

    def _connect(self, client: mqtt_client.Client, expiry: int) -> None:
        """TCP connect and send CONNECT (``clean_start=False``); a ConfigError when the broker
        cannot be reached."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = expiry
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        try:
            client.connect(
                self.host, self.port, keepalive=KEEPALIVE, clean_start=False, properties=props
            )
        except (OSError, ValueError) as exc:
            raise self._config_error(
                f"cannot reach the MQTT broker at {self.address}: {exc}",
                "start the broker there, or point `url:` / `url_env:` at it",
            ) from None

    def _start(self) -> None:
        """Connect the claimed client id, subscribe, and run paho's network thread; fails with a
        ConfigError (and nothing left running) when the broker refuses or does not answer."""
        assert self.client_id is not None
        client = self._new_client(self.client_id)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self._round_trip.install(client)
        client.reconnect_delay_set(1, 10)
        self._connack.clear()
        self._suback.clear()
        self._gone.clear()
        self._fatal = None
        self._connect(client, self.session_expiry)
        client.loop_start()
        self._client = client
        try:
            if not self._connack.wait(CONNECT_TIMEOUT):
                raise self._config_error(
                    f"the MQTT broker at {self.address} did not answer CONNECT within "
                    f"{CONNECT_TIMEOUT:g}s",
                    "check that `url:` points at an MQTT broker (port 1883)",
                )
            if self._fatal is None and not self._suback.wait(CONNECT_TIMEOUT):
                raise self._config_error(
                    f"the MQTT broker at {self.address} did not answer SUBSCRIBE within "
                    f"{CONNECT_TIMEOUT:g}s",
                    "check the broker's log",
                )
            if self._fatal is not None:
                raise self._fatal
        except BaseException:
            self._stop(flush=False)
            raise

    def _stop(self, flush: bool = True) -> None:
        """Disconnect (sending what is queued, PUBACKs included, when ``flush``) and stop paho's
        thread. The session stays on the broker, with whatever was not acknowledged."""
        client, self._client = self._client, None
        if client is None:
            return
        client.on_connect = None
        client.on_message = None
        if flush and client.is_connected():
            client.disconnect()
            self._gone.wait(CONNECT_TIMEOUT)
        else:
            client.disconnect()
        client.loop_stop()
        with self._ack_lock:
            self._queue.clear()
            self._outstanding.clear()

    # paho callbacks: they run in paho's network thread

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        import paho.mqtt.client as mqtt

        if reason.is_failure:
            code = reason.value
            if code in _BAD_CREDENTIALS:
                self._fatal = self._config_error(
                    f"the MQTT broker at {self.address} refused the connection: {reason}",
                    "check the user and password of `url` / `url_env` and the broker's ACL",
                )
            else:
                self._fatal = self._config_error(
                    f"the MQTT broker at {self.address} refused the connection: {reason}",
                    "check the broker's configuration and log",
                )
            client.disconnect()
            self._connack.set()
            return
        if self.shared and getattr(properties, "SharedSubscriptionAvailable", 1) == 0:
            self._fatal = self._config_error(
                f"the MQTT broker at {self.address} does not support shared subscriptions",
                "set `shared: false` (one process per stream), or use Mosquitto >= 1.6",
            )
            client.disconnect()
            self._connack.set()
            return
        with self._ack_lock:
            # the broker sends every unacknowledged message again on this connection: what the
            # previous one delivered is stale (not yet polled: dropped; polled: ack ignores it)
            self._queue.clear()
            self._outstanding.clear()
        self._down_since = None
        options = mqtt.SubscribeOptions(
            qos=self.qos, retainHandling=mqtt.SubscribeOptions.RETAIN_DO_NOT_SEND
        )
        client.subscribe(self.subscription, options=options)
        self._connack.set()

    def _on_subscribe(
        self, client: Any, userdata: Any, mid: int, reasons: list[Any], properties: Any
    ) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            hint = (
                "set `shared: false`, or use a broker with shared subscriptions"
                if failed[0].value == 0x9E
                else "check `topic:` and the broker's ACL for this user"
            )
            self._fatal = self._config_error(
                f"the MQTT broker at {self.address} refused the subscription to "
                f"`{self.subscription}`: {failed[0]}",
                hint,
            )
        self._suback.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        # the hot path: one Message per message, no locks
        offset = ""
        stamp = None
        props = message.properties
        users = getattr(props, "UserProperty", None) if props is not None else None
        if users:
            for name, value in users:
                if name == "message_id":
                    offset = value
                elif name == "timestamp":
                    stamp = _epoch(value)
        handle = None
        if message.qos:
            self._seq += 1
            handle = (self._seq, message.mid)
            self._outstanding.add(self._seq)
        key = message.topic.encode() if self._key_from_topic else None
        self._queue.append(Message(self.topic, offset, message.payload, stamp, key, handle))
        if not self._ready.is_set():
            self._ready.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if getattr(reason, "value", None) == _TAKEN_OVER:
            self._fatal = self._config_error(
                f"another MQTT client connected with the client id `{self.client_id}` and took "
                "over this stream's session",
                "give each host its own `client_id` (the slots only coordinate processes of "
                "one host), and do not run `stream reset` while the stream runs",
            )
            client.disconnect()  # do not fight over the session
        elif self._down_since is None:
            self._down_since = time.monotonic()
        self._gone.set()

    # -- the protocol ------------------------------------------------------------------------

    def open(self, positions: Positions) -> None:
        """Claim a client id (see the module doc), connect to its session and subscribe.
        ``positions`` are not used: MQTT has none."""
        if self._client is not None:
            return
        self._claim_client_id()
        try:
            self._start()
        except BaseException:
            self._release_client_id()
            raise

    def poll(self, max_records: int, timeout: float) -> list[Message]:
        """Up to ``max_records`` of the messages paho's thread received: waits at most
        ``timeout`` seconds for the first."""
        if self._client is None:
            raise RuntimeError("MqttSource.open() was not called (or close() was)")
        if self._fatal is not None:
            raise self._fatal
        queue = self._queue
        if not queue and timeout > 0:
            self._ready.clear()
            if not queue:
                self._ready.wait(timeout)
        if not queue:
            down = self._down_since
            if down is not None and time.monotonic() - down > RECONNECT_GRACE:
                raise MqttUnavailable(
                    f"stream `{self.config.stream}`: lost the MQTT broker at {self.address} "
                    f"{time.monotonic() - down:.0f}s ago; still reconnecting",
                    hint="the stream retries; check that the broker is up",
                )
            return []
        n = min(len(queue), max_records)
        pop = queue.popleft
        return [pop() for _ in range(n)]

    def assignment(self) -> set[str]:
        return {self.topic}

    def seek(self, positions: Mapping[str, str | None]) -> None:
        """Have the messages polled and not acknowledged delivered again: reconnect to the
        session (same client id), and the broker sends every unacknowledged message again."""
        if self.topic not in positions or self._client is None:
            return
        self._stop()
        self._start()

    def ack(self, messages: list[Message]) -> None:
        """PUBACK each committed message of the current connection, in the order they were
        received (MQTT v5 asks for that), then wait (one round trip) until the broker has
        processed them: see `_RoundTrip`. Should the broker not answer within
        ``CONNECT_TIMEOUT``, the messages may come again, which the committed ids absorb."""
        client = self._client
        if client is None or not messages:
            return
        with self._ack_lock:
            outstanding = self._outstanding
            handles = []
            for message in messages:
                handle = message.handle
                if handle is not None and handle[0] in outstanding:
                    outstanding.discard(handle[0])
                    handles.append(handle)
            if not handles:
                return
            handles.sort()
            for _, mid in handles:
                client.ack(mid, 1)
        if not self._round_trip.wait(client, CONNECT_TIMEOUT):
            log.warning(
                "mqtt stream %s: the broker did not confirm %d acknowledgements; they may be "
                "delivered again",
                self.config.stream,
                len(handles),
            )

    def ack_floor(self) -> str | None:
        """None: message ids are the producer's, in no order the broker knows."""
        return None

    ORDER_KEY_SQL = "{0}"
    """`order_key` in SQL: the id as it is."""

    def order_key(self, offset: str) -> str:
        """The message id as it is: ids have no order (see `ack_floor`)."""
        return offset

    def lag(self) -> dict[str, int | None]:
        """Nothing: an MQTT broker does not say how many messages wait for a session."""
        return {}

    def reset(self, to: str | datetime) -> dict[str, str | None]:
        """``latest``: end the stream's sessions (every slot's, on this broker), so the next
        `open` starts a new one that receives what is published from then on; the messages the
        old sessions held are dropped. ``earliest`` or a time is a ConfigError: MQTT keeps no
        history (a retained message is one last value per topic, not a history). A session that
        a running process of this host holds is a ConfigError: stop the stream first. This
        source is closed if it was open."""
        if not (isinstance(to, str) and to.strip().lower() == "latest"):
            _check_start(self.config, to, "reset --to")
            raise self._config_error(
                f"cannot reset to `{to}`: an MQTT broker keeps no history to go back to "
                "(retained messages are one last value per topic, not a history)",
                "use `--to latest` (drops what the stream's sessions hold); replaying needs a "
                "broker with retention (Kafka, NATS JetStream, Redis Streams)",
            )
        self.close()
        misses = 0
        for client_id in self._candidates():
            fd = self._try_lock(client_id)
            if fd is None:
                raise self._config_error(
                    f"cannot reset: a process on this host is consuming as `{client_id}`",
                    "stop the stream first",
                )
            try:
                present = self._end_session(client_id)
            finally:
                if fd >= 0:
                    os.close(fd)
            misses = 0 if present else misses + 1
            if misses >= _PROBE_MISSES:
                break
        return {self.topic: None}

    def _end_session(self, client_id: str) -> bool:
        """Connect as ``client_id`` with ``clean_start=False`` and a session expiry of 0, then
        disconnect: the broker says whether a session existed (CONNACK's session-present flag)
        and ends it when the connection closes."""
        client = self._new_client(client_id)
        result: dict[str, Any] = {}

        def connected(c: Any, u: Any, flags: Any, reason: Any, properties: Any) -> None:
            result["present"] = bool(flags.session_present)
            result["reason"] = reason

        client.on_connect = connected
        self._connect(client, 0)
        deadline = time.monotonic() + CONNECT_TIMEOUT
        try:
            while "reason" not in result:
                if time.monotonic() > deadline:
                    raise self._config_error(
                        f"the MQTT broker at {self.address} did not answer CONNECT",
                        "check that `url:` points at an MQTT broker",
                    )
                client.loop(0.05)
            if result["reason"].is_failure:
                raise self._config_error(
                    f"the MQTT broker at {self.address} refused the connection: {result['reason']}",
                    "check the user and password of `url` / `url_env`",
                )
        finally:
            client.disconnect()
            client.loop(0.05)
        return bool(result["present"])

    def close(self) -> None:
        """Disconnect (after sending the queued PUBACKs) and free the client id: the session,
        its subscription and its unacknowledged messages stay on the broker for the next
        process (until ``session_expiry``)."""
        try:
            self._stop()
        finally:
            self._release_client_id()
            self.client_id = None


# -- helpers -------------------------------------------------------------------------------------


def _require_client(config: SourceConfig) -> None:
    """`missing_client` when paho-mqtt is not installed (this module itself imports without it, so
    `open_source` cannot tell)."""
    try:
        import paho.mqtt.client  # noqa: F401
    except ModuleNotFoundError:
        from headwater.streams.connectors import missing_client

        raise missing_client(config) from None


def _check_start(config: SourceConfig, start: str | datetime, key: str) -> None:
    """``earliest`` and ``latest`` mean the same to MQTT (a new session receives what is
    published from its subscription on); a time cannot be honoured: a ConfigError."""
    if isinstance(start, str) and start.strip().lower() in ("", "earliest", "latest"):
        return
    where = f" ({config.location})" if config.location else ""
    raise ConfigError(
        f"stream `{config.stream}`: mqtt `{key}: {start}`: an MQTT broker keeps no history, so "
        "the stream cannot start at a time",
        hint="use `start: earliest` (messages from the first subscription on); replaying needs "
        "a broker with retention (Kafka, NATS JetStream, Redis Streams)" + where,
    )


def _epoch(value: str) -> float | None:
    """A ``timestamp`` user property as epoch seconds (None when it is not a number)."""
    try:
        return float(value)
    except ValueError:
        return None
