"""NATS JetStream source: a durable pull consumer shared by every process of a stream.

JetStream keeps a stream's messages and a *durable consumer* keeps the group's place in them: the
consumer hands each message to one of the processes pulling from it and redelivers it to whichever
process pulls next when it is not acknowledged within ``ack_wait``. That is both the scale-out (run
N processes of one stream: they share the consumer named after ``group:``) and the recovery (a
killed process's messages come back after ``ack_wait``), so this source is `Delivery.ACKED`: the
warehouse keeps the stream sequences it committed and drops a redelivered message it already has.

``source:`` keys (``*_env`` forms are resolved before they reach here)::

    url: nats://127.0.0.1:4222     # or url_env:; comma-separated for a cluster; may hold user:pass@
    user_env / password_env / token_env
    stream: ORDERS                 # the JetStream stream; default: the one capturing `topic`
    create_stream: false           # create a stream named after the subject when none captures it
    ack_wait: 30 seconds           # how long a delivered message waits for its ack
    max_ack_pending: -1            # unacknowledged messages the consumer allows (-1: no limit)

``topic:`` is the subject (the consumer's filter) and the one partition of this source.

nats-py is asyncio only, and headwater's processor is synchronous: the source owns one event loop
running in a daemon thread and every public method submits a coroutine to it
(`asyncio.run_coroutine_threadsafe`) and waits for the result. `close` stops the loop and joins
the thread. The broker client is imported inside functions so headwater imports without nats-py.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from headwater.errors import ConfigError, ExecutionError, TransientError, did_you_mean
from headwater.streams.source import Delivery, Message, Positions, SourceConfig

__all__ = ["NatsSource", "NatsUnavailable", "produce", "raw_consume"]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_URL = "nats://127.0.0.1:4222"
OPTIONS = (
    "url",
    "user",
    "password",
    "token",
    "stream",
    "create_stream",
    "ack_wait",
    "max_ack_pending",
)
"""The connector-specific `source:` keys (after `*_env` resolution)."""
GENERIC_KEYS = frozenset({"connector", "topic", "group", "start", "format"})
"""Keys every connector's mapping may carry; tolerated here in case the caller passes them on."""
DEFAULT_ACK_WAIT = 30.0
CONNECT_TIMEOUT = 5.0
"""Seconds `open` waits for a server before it reports it unreachable (a refused connection or a
rejected login fails at once, without waiting)."""
API_TIMEOUT = 10.0
"""Seconds a JetStream API request (stream/consumer info, create, delete) may take."""
CONSUMER_CHECK_EVERY = 10.0
"""Seconds between checks, while polls come back empty, that the durable consumer still exists:
a pull request to a deleted consumer just times out, which would look like an idle stream."""
FLOOR_DELAY = 5.0
"""Seconds an ack floor must have held before `ack_floor` reports it. nats-server writes a
consumer's acks to disk lazily (within about half a second, measured on 2.9): a server killed
(SIGKILL) right after acks restarts with an older floor and redelivers those messages, so the
warehouse must still hold their ids."""
ORDER_KEY_WIDTH = 20
"""Digits of `order_key`: a stream sequence is an unsigned 64-bit number (at most 20 digits)."""
PUBLISH_CHUNK = 10_000
"""`produce` publishes this many messages, then waits for their acknowledgements while it
publishes the next chunk (a bounded pipeline; nats-py itself caps the in-flight publishes)."""
REQUEST_GRACE = 5.0
"""Seconds past its expiry a pull request is still awaited before the source stops believing the
server holds it (requests die with a lost connection; a reconnect also forgets them)."""
NO_WAIT_PATIENCE = 0.25
"""Seconds a ``no_wait`` pull request may take to bring its first message, even past a poll's
timeout: cutting it short would leave its messages to a later poll (they are not lost)."""
SETTLE_GAP = 0.05
"""Seconds without a new message after which a poll stops waiting for the rest of a ``no_wait``
request's batch and returns what came."""
MIN_EXPIRES = 0.01
"""A poll with less time left than this does not send a waiting pull request."""
RAW_BATCH = 10_000
"""Messages per pull request of `raw_consume` (the benchmark's plain-client baseline)."""

_ACK = b"+ACK"
_NAK = b"-NAK"
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class NatsUnavailable(ExecutionError, TransientError):
    """The server did not answer in time or the connection is down; a retry may succeed (nats-py
    reconnects on its own)."""


@dataclass(frozen=True)
class _Settings:
    """The `source:` mapping, validated once (nothing connects)."""

    servers: list[str]
    address: str
    """The servers without credentials, for messages."""
    user: str | None
    password: str | None
    token: str | None
    stream: str | None
    create_stream: bool
    ack_wait: float
    max_ack_pending: int
    durable: str
    start: str | datetime
    """``earliest``, ``latest`` or an aware UTC datetime: the deliver policy of a new consumer."""


def _parse_settings(config: SourceConfig) -> _Settings:
    from headwater.durations import DurationError, parse_duration

    where = config.location or f"stream `{config.stream}`"
    for key in config.options:
        if key not in OPTIONS and key not in GENERIC_KEYS:
            raise ConfigError(
                f"stream `{config.stream}`: unknown NATS source key `{key}`"
                + did_you_mean(key, OPTIONS),
                hint=f"the nats connector takes {', '.join(OPTIONS)} ({where})",
            )
    if not config.topic:
        raise ConfigError(
            f"stream `{config.stream}`: the nats connector needs `topic:` (the subject)",
            hint=f"add `topic: orders.created` under `source:` ({where})",
        )
    url = str(config.get("url") or DEFAULT_URL)
    servers = [s.strip() for s in url.split(",") if s.strip()]
    address = ",".join(_strip_credentials(s) for s in servers)
    try:
        ack_wait = parse_duration(config.get("ack_wait", DEFAULT_ACK_WAIT))
    except DurationError as exc:
        raise ConfigError(
            f"stream `{config.stream}`: `ack_wait`: {exc.reason}", hint=f"{exc.hint} ({where})"
        ) from None
    max_ack_pending = config.get("max_ack_pending", -1)
    if (
        isinstance(max_ack_pending, bool)
        or not isinstance(max_ack_pending, int)
        or (max_ack_pending < 1 and max_ack_pending != -1)
    ):
        raise ConfigError(
            f"stream `{config.stream}`: `max_ack_pending` must be a positive whole number or -1, "
            f"not `{max_ack_pending!r}`",
            hint="it caps the messages delivered and not yet acknowledged across all processes; "
            f"keep it above the trigger's max_records times the processes ({where})",
        )
    create_stream = config.get("create_stream", False)
    if not isinstance(create_stream, bool):
        raise ConfigError(
            f"stream `{config.stream}`: `create_stream` must be true or false, "
            f"not `{create_stream!r}`",
            hint=f"write `create_stream: true` ({where})",
        )
    stream = config.get("stream")
    if stream is not None and (not isinstance(stream, str) or _BAD_NAME_CHARS.search(stream)):
        raise ConfigError(
            f"stream `{config.stream}`: `{stream}` is not a JetStream stream name",
            hint=f"a stream name has letters, digits, `_` and `-` only ({where})",
        )
    return _Settings(
        servers=servers,
        address=address,
        user=_text_or_none(config.get("user")),
        password=_text_or_none(config.get("password")),
        token=_text_or_none(config.get("token")),
        stream=stream,
        create_stream=create_stream,
        ack_wait=ack_wait,
        max_ack_pending=max_ack_pending,
        durable=consumer_name(config.group or f"headwater-{config.stream}"),
        start=_parse_start(config.start or "earliest", config, "start"),
    )


def _text_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _strip_credentials(url: str) -> str:
    """``nats://user:pass@host:4222`` -> ``nats://host:4222``: messages name the server, never
    the login."""
    scheme, sep, rest = url.rpartition("://")
    host = rest.rsplit("@", 1)[-1]
    return f"{scheme}{sep}{host}"


def consumer_name(group: str) -> str:
    """``group`` as a JetStream durable name: NATS refuses ``.``, ``*``, ``>``, slashes and
    whitespace, so other characters become ``_``; a name that had to change gets a short hash of
    the original so that two groups differing only there (``a.b`` and ``a_b``) stay apart."""
    clean = _BAD_NAME_CHARS.sub("_", group).strip("_") or "headwater"
    if clean != group:
        clean += "_" + hashlib.sha1(group.encode()).hexdigest()[:8]
    return clean


def stream_name_for(subject: str) -> str:
    """The name `create_stream: true` gives the stream it creates for ``subject``
    (``orders.created`` -> ``orders_created``)."""
    return _BAD_NAME_CHARS.sub("_", subject).strip("_") or "headwater"


def _parse_start(value: str | datetime, config: SourceConfig, key: str) -> str | datetime:
    """``earliest`` / ``latest`` or an aware UTC datetime (a naive one is taken as UTC)."""
    if isinstance(value, datetime):
        moment = value
    elif value in ("earliest", "latest"):
        return value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(
                f"stream `{config.stream}`: `{key}` is `{value}`, not earliest, latest or a "
                "timestamp",
                hint="write earliest, latest or an ISO timestamp like 2024-05-01T12:00:00Z "
                f"({config.location or config.stream})",
            ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if not datetime(1970, 1, 1, tzinfo=UTC) <= moment < datetime(2262, 1, 1, tzinfo=UTC):
        # NATS keeps times as int64 nanoseconds; past 2262 they overflow and the server then
        # delivers from the first message, the opposite of what was asked
        raise ConfigError(
            f"stream `{config.stream}`: `{key}` {moment.isoformat()} is outside 1970-2261, "
            "which NATS cannot represent",
            hint=f"use earliest, latest or a realistic timestamp ({config.location or config.stream})",
        )
    return moment


def _subject_within(subject: str, pattern: str) -> bool:
    """Whether every subject ``subject`` matches is also matched by ``pattern`` (NATS wildcards:
    ``*`` one token, ``>`` one or more trailing tokens), i.e. a stream with subject ``pattern``
    captures everything published to ``subject``."""
    want, have = subject.split("."), pattern.split(".")
    for i, token in enumerate(have):
        if token == ">":
            return len(want) > i
        if i >= len(want):
            return False
        if token == "*":
            if want[i] == ">":
                return False
            continue
        if token != want[i]:
            return False
    return len(want) == len(have)


def _describe(exc: BaseException) -> str:
    """A nats-py error as a short text (its API description when it has one)."""
    description = getattr(exc, "description", None)
    text = str(description or exc).strip()
    return text or type(exc).__name__


# -- the parts shared by the source, `produce` and `raw_consume` (all run inside an event loop) --


async def _connect(
    settings: _Settings,
    config: SourceConfig,
    on_reconnect: Callable[[], Awaitable[None]] | None = None,
) -> Any:
    """A connected nats-py client; ConfigError naming the servers when none answers.

    nats-py retries a failed first connect forever when reconnecting is allowed, and reconnecting
    must stay allowed (a broker restart must not end the stream). So errors reported while
    connecting (refused, login rejected), once every server had its try, end the attempt at once,
    and `CONNECT_TIMEOUT` bounds servers that do not answer at all."""
    from nats.aio.client import Client

    client = Client()
    failures: list[BaseException] = []
    failed = asyncio.Event()
    connecting = True

    async def on_error(exc: Exception) -> None:
        if connecting:
            failures.append(exc)
            if len(failures) >= len(settings.servers):  # each server of a cluster had its try
                failed.set()
        else:  # nats-py reconnects by itself; each failed attempt lands here
            log.debug("NATS %s: %s", settings.address, _describe(exc))

    async def on_disconnected() -> None:
        if not connecting and not client.is_closed:
            log.warning("lost the connection to NATS %s; reconnecting", settings.address)

    async def on_reconnected() -> None:
        log.warning("reconnected to NATS %s", settings.address)
        if on_reconnect is not None:
            await on_reconnect()

    attempt = asyncio.ensure_future(
        client.connect(
            servers=settings.servers,
            user=settings.user,
            password=settings.password,
            token=settings.token,
            name=f"headwater:{config.stream}",
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            connect_timeout=CONNECT_TIMEOUT,  # type: ignore[arg-type]  # nats-py says int
            reconnect_time_wait=1,
            max_reconnect_attempts=-1,
        )
    )
    gave_up = asyncio.ensure_future(failed.wait())
    done, _ = await asyncio.wait(
        {attempt, gave_up}, timeout=CONNECT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
    )
    gave_up.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await gave_up
    if attempt in done and attempt.exception() is None:
        connecting = False
        return client
    if attempt in done:
        failures.append(attempt.exception())  # type: ignore[arg-type]
    attempt.cancel()
    with contextlib.suppress(BaseException):
        await attempt
    with contextlib.suppress(Exception):
        await client.close()
    reason = _describe(failures[-1]) if failures else f"no answer in {CONNECT_TIMEOUT:g} s"
    raise ConfigError(
        f"stream `{config.stream}`: cannot connect to NATS at {settings.address}: {reason}",
        hint="start nats-server with JetStream (`nats-server -js`) or point `url:`/`url_env:` "
        f"at a running one; check user/password/token ({config.location or config.stream})",
    )


async def _find_stream(jsm: Any, settings: _Settings, config: SourceConfig, create: bool) -> str:
    """The JetStream stream that captures ``config.topic``: the one named by `stream:`, else the
    one the server finds for the subject; created (named after the subject, or `stream:`) when
    `create_stream: true`. ConfigError with the fix otherwise."""
    import nats.errors
    from nats.js.errors import NotFoundError

    where = config.location or config.stream
    topic = config.topic
    try:
        if settings.stream:
            name: str | None = settings.stream
            try:
                info = await jsm.stream_info(settings.stream)
            except NotFoundError:
                info = None
        else:
            try:
                name = await jsm.find_stream_name_by_subject(topic)
                info = await jsm.stream_info(name)
            except NotFoundError:
                name, info = None, None
        if info is None and create:
            name = settings.stream or stream_name_for(topic)
            info = await jsm.add_stream(name=name, subjects=[topic])
            log.info("created JetStream stream %s for subject %s", name, topic)
    except nats.errors.NoRespondersError:
        raise ConfigError(
            f"stream `{config.stream}`: NATS at {settings.address} has no JetStream",
            hint="start nats-server with JetStream enabled (`nats-server -js`) or enable it for "
            f"this account ({where})",
        ) from None
    except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as exc:
        raise NatsUnavailable(
            f"stream `{config.stream}`: NATS at {settings.address} did not answer the JetStream "
            f"API: {_describe(exc)}"
        ) from None
    except nats.errors.Error as exc:
        raise ConfigError(
            f"stream `{config.stream}`: JetStream refused to look up or create the stream for "
            f"subject `{topic}` at {settings.address}: {_describe(exc)}",
            hint=f"check the account's JetStream limits and permissions ({where})",
        ) from None
    if info is None:
        if settings.stream:
            raise ConfigError(
                f"stream `{config.stream}`: JetStream stream `{settings.stream}` does not exist "
                f"at {settings.address} (it should capture subject `{topic}`)",
                hint=f"create it (`nats stream add {settings.stream} --subjects '{topic}'`) or "
                f"set `create_stream: true` under `source:` ({where})",
            )
        raise ConfigError(
            f"stream `{config.stream}`: no JetStream stream captures subject `{topic}` at "
            f"{settings.address}",
            hint=f"create one (`nats stream add {stream_name_for(topic)} --subjects '{topic}'`), "
            "set `create_stream: true` under `source:` to let headwater create it, or name an "
            f"existing stream with `stream:` ({where})",
        )
    subjects = list(info.config.subjects or [])
    if not any(_subject_within(topic, pattern) for pattern in subjects):
        raise ConfigError(
            f"stream `{config.stream}`: JetStream stream `{name}` does not capture subject "
            f"`{topic}` (its subjects: {', '.join(subjects) or 'none'})",
            hint=f"add the subject to the stream (`nats stream edit {name} --subjects ...`) or "
            f"name the stream that captures it with `stream:` ({where})",
        )
    assert name is not None
    return name


def _consumer_config(settings: _Settings, config: SourceConfig, start: str | datetime) -> Any:
    """The durable pull consumer of the group: explicit acks, the subject as filter, never
    giving up on a message (``max_deliver: -1``: a message dropped after N deliveries would be
    lost to the sink), delivering from ``start``."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    policy = {"earliest": DeliverPolicy.ALL, "latest": DeliverPolicy.NEW}.get(
        start if isinstance(start, str) else "", DeliverPolicy.BY_START_TIME
    )
    return ConsumerConfig(
        durable_name=settings.durable,
        description=f"headwater stream {config.stream}",
        deliver_policy=policy,
        opt_start_time=start if isinstance(start, datetime) else None,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait,
        max_deliver=-1,
        max_ack_pending=settings.max_ack_pending,
        filter_subject=config.topic,
    )


async def _ensure_consumer(jsm: Any, stream: str, settings: _Settings, config: SourceConfig) -> Any:
    """The group's durable consumer, created with `start:` when it does not exist yet (an
    existing one keeps its place: that is the group's position). Its ``ack_wait`` and
    ``max_ack_pending`` follow the config; one that filters another subject or pushes is a
    ConfigError (two streams sharing a `group:`)."""
    import nats.errors
    from nats.js.errors import BadRequestError, NotFoundError

    where = config.location or config.stream
    try:
        try:
            info = await jsm.consumer_info(stream, settings.durable)
        except NotFoundError:
            wanted = _consumer_config(settings, config, settings.start)
            return await jsm.add_consumer(stream, wanted, timeout=API_TIMEOUT)
        have = info.config
        if have.deliver_subject or (have.filter_subject or "") not in ("", config.topic):
            raise ConfigError(
                f"stream `{config.stream}`: JetStream consumer `{settings.durable}` of stream "
                f"`{stream}` exists but "
                + (
                    "is a push consumer"
                    if have.deliver_subject
                    else f"filters `{have.filter_subject}`, not `{config.topic}`"
                ),
                hint="give this stream its own `group:`, or delete that consumer "
                f"(`nats consumer rm {stream} {settings.durable}`) ({where})",
            )
        if abs((have.ack_wait or 0) - settings.ack_wait) > 1e-3 or (
            (have.max_ack_pending or -1) != settings.max_ack_pending
        ):
            updated = have.evolve(
                ack_wait=settings.ack_wait, max_ack_pending=settings.max_ack_pending
            )
            try:
                info = await jsm.add_consumer(stream, updated, timeout=API_TIMEOUT)
            except BadRequestError as exc:  # an older server that cannot edit consumers
                log.warning(
                    "NATS consumer %s keeps ack_wait %s s / max_ack_pending %s: %s",
                    settings.durable,
                    have.ack_wait,
                    have.max_ack_pending,
                    _describe(exc),
                )
        return info
    except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as exc:
        raise NatsUnavailable(
            f"stream `{config.stream}`: NATS at {settings.address} did not answer the JetStream "
            f"API: {_describe(exc)}"
        ) from None
    except nats.errors.Error as exc:
        raise ConfigError(
            f"stream `{config.stream}`: JetStream refused the durable consumer "
            f"`{settings.durable}` on stream `{stream}`: {_describe(exc)}",
            hint=f"check the account's JetStream limits and permissions ({where})",
        ) from None


def _to_message(partition: str, msg: Any) -> Message:
    """A `Message` from a JetStream message, its stream sequence and timestamp read straight from
    the ack subject (``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>``,
    or the longer form with domain and account hash): the same numbers as ``msg.metadata`` at a
    fraction of the cost, since that builds three objects and a datetime per message."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9:
        return Message(partition, tokens[5], msg.data, int(tokens[7]) / 1e9, None, msg)
    if len(tokens) >= 11:
        return Message(partition, tokens[7], msg.data, int(tokens[9]) / 1e9, None, msg)
    meta = msg.metadata
    return Message(
        partition, str(meta.sequence.stream), msg.data, meta.timestamp.timestamp(), None, msg
    )


class NatsSource:
    """`StreamSource` over a JetStream durable pull consumer (see the module docstring).

    Polling speaks JetStream's pull protocol directly instead of nats-py's `fetch`: a pull
    request (``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``) asks for a batch, the server
    delivers the messages to this source's inbox and a status message (404 no messages, 408
    expired, 409 ...) ends a request it could not fill. A subscription callback appends the
    messages to a buffer, which `poll` hands out. nats-py's `fetch` awaits every message with
    its own timeout (a `wait_for` per message), which caps it near 40k messages/s here; the
    callback and buffer are 3-4 times faster in a bare loop, and the whole source (`Message`
    objects and the thread hop included) still reads 1.5-3 times as fast as `fetch` does.

    At most one pull request is open at a time: first one with ``no_wait`` (what is there, in
    one round trip), then, if that was nothing, one that waits on the server until the poll's
    timeout. A waiting request that outlives its poll keeps delivering into the buffer, which
    the next poll takes first. The attributes after ``# -- loop thread only --`` are touched by
    the event loop thread alone.
    """

    delivery = Delivery.ACKED

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self._settings = _parse_settings(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_check = 0.0
        self._floors: collections.deque[tuple[float, int]] = collections.deque()
        """(time, ack floor) samples of `ack_floor`."""
        # -- loop thread only --
        self._client: Any = None
        self._jsm: Any = None
        self._stream: str | None = None
        self._sub: Any = None
        self._next_subject = ""
        self._inbox = ""
        self._buffer: list[Any] = []
        """nats-py messages delivered and not yet returned by `poll`."""
        self._wake: asyncio.Event | None = None
        self._request_id = 0
        self._reply = ""
        """Reply subject of the open pull request (statuses for older ones are ignored)."""
        self._open = False
        self._no_wait = False
        self._left = 0
        self._last_arrival = 0.0
        self._open_until = 0.0
        self._status = ""
        """The status that ended the last pull request (``404``, ``408``, ``409 ...``, ``503``)."""

    # -- the event loop thread --------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the source's loop (started on first use) and wait for its result."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever,
                    name=f"headwater-nats-{self.config.stream}",
                    daemon=True,
                )
                thread.start()
                self._loop, self._thread = loop, thread
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise NatsUnavailable(
                f"stream `{self.config.stream}`: NATS at {self._settings.address} did not answer "
                f"within {timeout:g} s"
            ) from None

    def _ensure_connected(self, create: bool) -> str:
        """Connect (once) and find the JetStream stream; its name."""
        return self._call(self._connected(create), CONNECT_TIMEOUT + 4 * API_TIMEOUT)

    async def _connected(self, create: bool) -> str:
        if self._client is None or self._client.is_closed:
            self._client = await _connect(self._settings, self.config, self._on_reconnect)
            self._jsm = self._client.jsm(timeout=API_TIMEOUT)
            self._stream = None
        if self._stream is None:
            self._stream = await _find_stream(self._jsm, self._settings, self.config, create)
        return self._stream

    async def _on_reconnect(self) -> None:
        """Pull requests live in the server's connection: after a reconnect none is open."""
        self._open = False
        if self._wake is not None:
            self._wake.set()

    # -- StreamSource -----------------------------------------------------------------------

    def open(self, positions: Positions) -> None:
        """Connect, find (or create) the stream and the group's durable consumer, and subscribe
        this source's inbox. ``positions`` is not used: the consumer holds the group's place and
        the warehouse's committed ids drop what it redelivers."""
        self._call(self._open_source(), CONNECT_TIMEOUT + 6 * API_TIMEOUT)
        self._last_check = time.monotonic()

    async def _open_source(self) -> None:
        import nats.errors

        stream = await self._connected(create=self._settings.create_stream)
        await _ensure_consumer(self._jsm, stream, self._settings, self.config)
        if self._sub is not None:
            return
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{self._settings.durable}"
        self._inbox = self._client.new_inbox()
        self._wake = asyncio.Event()
        try:
            # No pending limits: the buffer drains the subscription as fast as it fills, and
            # what can arrive is bounded by the open pull request's batch.
            self._sub = await self._client.subscribe(
                self._inbox + ".*", cb=self._on_msg, pending_msgs_limit=0, pending_bytes_limit=0
            )
        except nats.errors.Error as exc:
            raise NatsUnavailable(
                f"stream `{self.config.stream}`: could not subscribe at {self._settings.address}: "
                f"{_describe(exc)}"
            ) from None

    async def _on_msg(self, msg: Any) -> None:
        """Every message to the inbox: a JetStream message goes to the buffer; a status ends the
        open pull request when it is that request's (heartbeats are ignored)."""
        headers = msg.headers
        if headers is not None and "Status" in headers:
            status = headers["Status"]
            if status != "100" and msg.subject == self._reply:
                self._status = f"{status} {headers.get('Description', '')}".strip()
                self._open = False
                if self._wake is not None:
                    self._wake.set()
            return
        self._buffer.append(msg)
        self._last_arrival = time.monotonic()
        self._left -= 1
        if self._left <= 0:
            self._open = False
        if (len(self._buffer) == 1 or not self._open) and self._wake is not None:
            self._wake.set()

    async def _request(self, batch: int, expires: float | None) -> None:
        """Send a pull request: ``no_wait`` without ``expires``, else wait that long."""
        self._request_id += 1
        self._reply = f"{self._inbox}.{self._request_id}"
        body: dict[str, Any] = {"batch": batch}
        if expires is None:
            body["no_wait"] = True
        else:
            body["expires"] = int(expires * 1e9)
        self._open, self._no_wait, self._left = True, expires is None, batch
        self._last_arrival = time.monotonic()
        # when to stop believing the server still holds it (it was lost with a connection)
        self._open_until = time.monotonic() + (expires or 0.0) + REQUEST_GRACE
        await self._client.publish(self._next_subject, json.dumps(body).encode(), reply=self._reply)

    async def _wait(self, settle: bool, deadline: float) -> None:
        """Wait, at most until ``deadline``, for the open request to end or for a message in the
        buffer; with ``settle``, after the first message, until the request ends or goes quiet
        for `SETTLE_GAP` (a ``no_wait`` request streams what is there back to back; one that
        hit ``max_ack_pending`` stalls without a status and delivers more once acks free room,
        into the buffer, for a later poll)."""
        assert self._wake is not None
        while self._open:
            now = time.monotonic()
            until = min(deadline, self._open_until)
            if self._buffer:
                if not settle or now - self._last_arrival >= SETTLE_GAP:
                    return
                until = min(until, self._last_arrival + SETTLE_GAP)
            if now >= self._open_until:
                self._open = False
                return
            if now >= deadline:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(until - now, 0.0))

    def poll(self, max_records: int, timeout: float) -> list[Message]:
        """Up to ``max_records`` messages: the buffer if it holds any, else what a ``no_wait``
        pull request brings, else what arrives within ``timeout`` (see the class docstring)."""
        if self._sub is None:
            raise ExecutionError(
                f"stream `{self.config.stream}`: poll() before open() on the NATS source"
            )
        if max_records <= 0:
            return []
        timeout = max(timeout, 0.0)
        messages = self._call(self._poll(max_records, timeout), timeout + API_TIMEOUT)
        if not messages and (
            self._status.startswith(("503", "409 Consumer Deleted"))
            or time.monotonic() - self._last_check > CONSUMER_CHECK_EVERY
        ):
            self._last_check = time.monotonic()
            self._status = ""
            self._call(self._check_consumer(), API_TIMEOUT + 1)
        return messages

    async def _poll(self, max_records: int, timeout: float) -> list[Message]:
        import nats.errors

        deadline = time.monotonic() + timeout
        try:
            if self._open:  # a request of an earlier poll: take what it brings first
                await self._wait(self._no_wait, deadline)
                if self._buffer or self._open:
                    return self._take(max_records)
            if self._buffer:
                return self._take(max_records)
            # more than max_ack_pending can never come at once: asking for it stalls the request
            limit = self._settings.max_ack_pending
            batch = max_records if limit < 0 else min(max_records, limit)
            await self._request(batch, None)
            await self._wait(True, max(deadline, time.monotonic() + NO_WAIT_PATIENCE))
            if self._buffer or self._open:
                return self._take(max_records)
            expires = deadline - time.monotonic()
            if expires < MIN_EXPIRES:
                return []
            await self._request(batch, expires)
            await self._wait(False, deadline)
            return self._take(max_records)
        except nats.errors.ConnectionClosedError:
            raise NatsUnavailable(
                f"stream `{self.config.stream}`: the connection to NATS at "
                f"{self._settings.address} is closed"
            ) from None

    def _take(self, n: int) -> list[Message]:
        taken = self._buffer[:n]
        del self._buffer[:n]
        partition = self.config.topic
        return [_to_message(partition, msg) for msg in taken]

    async def _check_consumer(self) -> None:
        from nats.js.errors import NotFoundError

        try:
            await self._jsm.consumer_info(self._stream, self._settings.durable)
        except NotFoundError:
            raise ExecutionError(
                f"stream `{self.config.stream}`: the JetStream consumer `{self._settings.durable}` "
                f"of stream `{self._stream}` was deleted while the stream ran",
                hint=f"recreate it with `headwater stream reset {self.config.stream} --to ...` "
                "(or restart the stream: it is recreated from `start:`)",
            ) from None
        except Exception as exc:  # a slow or reconnecting server: the next poll tells
            log.debug("NATS consumer check failed: %s", _describe(exc))

    def assignment(self) -> set[str]:
        """The subject: every process of the group reads all of it, the consumer splits it."""
        return {self.config.topic}

    def seek(self, positions: Mapping[str, str | None]) -> None:
        """A JetStream durable consumer has no per-process position to move: every message this
        process was delivered and did not acknowledge is redelivered after ``ack_wait`` (and the
        warehouse drops those it committed). What this does is hand the messages delivered but
        not yet polled back at once (a NAK each) instead of after ``ack_wait``."""
        if self._sub is not None and self.config.topic in positions:
            self._call(self._nak_buffer(), API_TIMEOUT + 1)

    async def _nak_buffer(self) -> None:
        taken, self._buffer = self._buffer, []
        for msg in taken:
            await self._client.publish(msg.reply, _NAK)

    def ack(self, messages: list[Message]) -> None:
        """Acknowledge ``messages`` in one pipelined burst: each ack is a fire-and-forget publish
        to the message's ack subject (buffered by nats-py and written in large chunks; a plain
        loop, as awaiting them through `asyncio.gather` is 3-5 times slower), and one flush (a
        PING/PONG) at the end confirms that the server has read them all. A message redelivered
        to another process meanwhile is acknowledged all the same (the ack names its stream
        sequence); that is right, since the warehouse committed it."""
        replies = [m.handle.reply for m in messages if m.handle is not None and m.handle.reply]
        if not replies:
            return
        if self._client is None or self._client.is_closed:
            raise NatsUnavailable(
                f"stream `{self.config.stream}`: ack() on a closed NATS source; the "
                f"{len(replies)} messages are redelivered after ack_wait and dropped as committed"
            )
        self._call(self._ack(replies), API_TIMEOUT + 1)

    async def _ack(self, replies: list[str]) -> None:
        import nats.errors

        publish = self._client.publish
        for reply in replies:
            await publish(reply, _ACK)
        try:
            await self._client.flush(timeout=API_TIMEOUT)
        except nats.errors.Error as exc:
            raise NatsUnavailable(
                f"stream `{self.config.stream}`: NATS at {self._settings.address} did not "
                f"confirm {len(replies)} acknowledgements ({_describe(exc)}); they are sent after "
                "a reconnect, or redelivered after ack_wait and dropped as committed"
            ) from None

    def _consumer_info(self) -> Any:
        """The durable consumer's info, or None when it does not exist (yet)."""
        return self._call(self._info(), CONNECT_TIMEOUT + 5 * API_TIMEOUT)

    async def _info(self) -> Any:
        import nats.errors
        from nats.js.errors import NotFoundError

        stream = await self._connected(create=False)
        try:
            return await self._jsm.consumer_info(stream, self._settings.durable)
        except NotFoundError:
            return None
        except nats.errors.Error as exc:
            raise NatsUnavailable(
                f"stream `{self.config.stream}`: NATS at {self._settings.address} did not return "
                f"consumer `{self._settings.durable}`: {_describe(exc)}"
            ) from None

    def ack_floor(self) -> str | None:
        """A stream sequence up to which every message of the subject is acknowledged *and* the
        server has had time to write that down (JetStream redelivers none of them, even after a
        crash): the consumer's ack floor as seen at least `FLOOR_DELAY` seconds ago, or the
        current one if lower (a restarted server forgot some acks); ``0`` until a sample is
        that old. None without a consumer."""
        info = self._consumer_info()
        if info is None:
            return None
        now, current = time.monotonic(), int(info.ack_floor.stream_seq)
        samples = self._floors
        samples.append((now, current))
        while len(samples) > 1 and now - samples[1][0] >= FLOOR_DELAY:
            samples.popleft()  # keep the newest sample that is old enough, and the younger ones
        seen_at, floor = samples[0]
        return str(min(floor, current)) if now - seen_at >= FLOOR_DELAY else "0"

    ORDER_KEY_SQL = "lpad({0}, 20, '0')"
    """`order_key` in SQL (DuckDB and PostgreSQL), for a whole batch of sequences at once."""

    def order_key(self, offset: str) -> str:
        """The stream sequence zero-padded to 20 digits (the width of a uint64)."""
        if not offset.isdigit():
            raise ValueError(f"not a NATS stream sequence: {offset!r}")
        return offset.zfill(ORDER_KEY_WIDTH)

    def key_range(self, offsets: list[str]) -> tuple[str, str]:
        """The smallest and largest `order_key` of these stream sequences, vectorized."""
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            bounds = pc.min_max(pc.cast(pa.array(offsets, pa.string()), pa.uint64()))
        except pa.ArrowInvalid:  # not all sequences: one at a time (raising on the bad one)
            keys = [self.order_key(o) for o in offsets]
            return min(keys), max(keys)
        return self.order_key(str(bounds["min"].as_py())), self.order_key(
            str(bounds["max"].as_py())
        )

    def lag(self) -> dict[str, int | None]:
        """Messages of the subject the group has not acknowledged: ``num_pending`` (not yet
        delivered to any process) plus ``num_ack_pending`` (delivered, not yet acknowledged, i.e.
        not yet committed to the warehouse), which is what a Kafka group's lag counts too. None
        while the consumer does not exist."""
        info = self._consumer_info()
        if info is None:
            return {self.config.topic: None}
        return {self.config.topic: int(info.num_pending or 0) + int(info.num_ack_pending or 0)}

    def reset(self, to: str | datetime) -> dict[str, str | None]:
        """Delete the group's durable consumer and create it again delivering from ``to``
        (``earliest``: all the stream keeps of the subject, ``latest``: only new messages, a
        time: from the first message stored at or after it; a time after the last
        message means from the next one). Returns ``{subject: sequence}``, the
        stream sequence just before the first message the new consumer delivers (``0`` for
        earliest). Processes still pulling keep working: they pull by the consumer's name."""
        start = _parse_start(to, self.config, "--to")
        return self._call(self._reset(start), CONNECT_TIMEOUT + 6 * API_TIMEOUT)

    async def _reset(self, start: str | datetime) -> dict[str, str | None]:
        import nats.errors
        from nats.js.errors import NotFoundError

        stream = await self._connected(create=self._settings.create_stream)
        try:
            with contextlib.suppress(NotFoundError):
                await self._jsm.delete_consumer(stream, self._settings.durable)
            wanted = _consumer_config(self._settings, self.config, start)
            info = await self._jsm.add_consumer(stream, wanted, timeout=API_TIMEOUT)
        except nats.errors.Error as exc:
            raise ExecutionError(
                f"stream `{self.config.stream}`: could not reset the JetStream consumer "
                f"`{self._settings.durable}` of stream `{stream}`: {_describe(exc)}",
                hint="run the reset again; if the consumer is gone, `headwater stream run` "
                "recreates it from `start:`",
            ) from None
        self._buffer.clear()  # delivered by the consumer that is gone
        self._open = False
        return {self.config.topic: str(info.delivered.stream_seq)}

    def close(self) -> None:
        """Hand back the messages delivered but not polled (a NAK each, so another process gets
        them now), close the connection (nats-py flushes what is buffered, acks included), then
        stop the loop and join its thread. Messages polled and not acknowledged come back after
        ``ack_wait``. Safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            with contextlib.suppress(Exception):
                self._call(self._shutdown(), API_TIMEOUT + 1)
            with contextlib.suppress(Exception):
                self._call(_cancel_other_tasks(), API_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(API_TIMEOUT)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = None
            self._client = self._jsm = self._sub = self._stream = None

    async def _shutdown(self) -> None:
        if self._client is None or self._client.is_closed:
            return
        try:
            if self._sub is not None:
                await self._sub.unsubscribe()
            await self._nak_buffer()
        finally:
            await self._client.close()


async def _cancel_other_tasks() -> None:
    """Cancel and await every task of the running loop but this one, so that stopping the loop
    leaves no pending task behind (asyncio warns about those when the loop is collected)."""
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- producing and the raw-client baseline (tests, demo, benchmarks) -----------------------------


def produce(config: SourceConfig, values: list[bytes]) -> None:
    """Publish ``values`` to the subject through JetStream and wait until the stream stored every
    one (its publish acks). Pipelined: `publish_async` in chunks of `PUBLISH_CHUNK`, each chunk's
    acks awaited while the next is written."""
    settings = _parse_settings(config)
    asyncio.run(_produce(settings, config, values))


async def _produce(settings: _Settings, config: SourceConfig, values: list[bytes]) -> None:
    import nats.errors

    client = await _connect(settings, config)
    try:
        await _find_stream(
            client.jsm(timeout=API_TIMEOUT), settings, config, settings.create_stream
        )
        js = client.jetstream(timeout=API_TIMEOUT, publish_async_max_pending=2 * PUBLISH_CHUNK)
        publish = js.publish_async
        subject = config.topic
        waiting: list[Any] = []
        for start in range(0, len(values), PUBLISH_CHUNK):
            chunk = [await publish(subject, v) for v in values[start : start + PUBLISH_CHUNK]]
            await _await_acks(waiting, settings, config)
            waiting = chunk
        await _await_acks(waiting, settings, config)
    except nats.errors.Error as exc:
        raise NatsUnavailable(
            f"stream `{config.stream}`: publishing to `{config.topic}` at {settings.address} "
            f"failed: {_describe(exc)}"
        ) from None
    finally:
        with contextlib.suppress(Exception):
            await client.close()


async def _await_acks(futures: list[Any], settings: _Settings, config: SourceConfig) -> None:
    if not futures:
        return
    try:
        await asyncio.wait_for(asyncio.gather(*futures), timeout=3 * API_TIMEOUT)
    except TimeoutError:
        raise NatsUnavailable(
            f"stream `{config.stream}`: JetStream at {settings.address} did not acknowledge "
            f"{len(futures)} publishes to `{config.topic}` in time"
        ) from None


def raw_consume(config: SourceConfig, n: int, timeout: float) -> int:
    """Read and acknowledge up to ``n`` messages of the group's durable consumer with plain
    nats-py (pull `fetch` of `RAW_BATCH`, ``msg.ack()`` each, one flush at the end) and nothing
    else, within ``timeout`` seconds: the baseline the benchmark holds the source against.
    Returns how many it read."""
    settings = _parse_settings(config)
    return asyncio.run(_raw_consume(settings, config, n, timeout))


async def _raw_consume(settings: _Settings, config: SourceConfig, n: int, timeout: float) -> int:
    client = await _connect(settings, config)
    try:
        jsm = client.jsm(timeout=API_TIMEOUT)
        stream = await _find_stream(jsm, settings, config, settings.create_stream)
        await _ensure_consumer(jsm, stream, settings, config)
        sub = await client.jetstream().pull_subscribe_bind(durable=settings.durable, stream=stream)
        deadline = time.monotonic() + timeout
        read = 0
        while read < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msgs = await sub.fetch(batch=min(n - read, RAW_BATCH), timeout=left)
            except TimeoutError:  # nats-py raises its own and asyncio's
                continue
            for msg in msgs:
                await msg.ack()
            read += len(msgs)
        await client.flush(timeout=API_TIMEOUT)
        return read
    finally:
        with contextlib.suppress(Exception):
            await client.close()
