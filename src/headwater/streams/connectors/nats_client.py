"""NATS JetStream plumbing under `headwater.streams.connectors.nats`: the `source:` settings
validated (`_parse_settings`), durable consumer and stream names, the nats-py connection with its
connect timeout, finding (or creating) the stream that captures a subject and the group's durable
pull consumer, and the two plain-client tools `produce` and `raw_consume`. Everything here that
talks to the server is a coroutine run inside an event loop: `NatsSource` runs them on its own
loop thread, `produce` and `raw_consume` under `asyncio.run`. The module doc of `nats` describes
the behaviour; nats-py is imported inside functions so headwater imports without it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from headwater.errors import ConfigError, ExecutionError, HeadwaterError, TransientError
from headwater.streams.source import SourceConfig

log = logging.getLogger("headwater.streams.connectors.nats")
"""The connector's logger (not this module's name): its records keep the name they always had."""

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
DEFAULT_ACK_WAIT = 30.0
CONNECT_TIMEOUT = 5.0
"""Seconds `open` waits for a server before it reports it unreachable (a refused connection or a
rejected login fails at once, without waiting)."""
API_TIMEOUT = 10.0
"""Seconds a JetStream API request (stream/consumer info, create, delete) may take."""
PUBLISH_CHUNK = 10_000
"""`produce` publishes this many messages, then waits for their acknowledgements while it
publishes the next chunk (a bounded pipeline; nats-py itself caps the in-flight publishes)."""
RAW_BATCH = 10_000
"""Messages per pull request of `raw_consume` (the benchmark's plain-client baseline)."""

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
    config.check_keys(OPTIONS)
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


def _api_failure(
    exc: BaseException, config: SourceConfig, settings: _Settings, refused: str, where: str
) -> HeadwaterError:
    """A failed JetStream API call: a timeout or a closed connection is NATS being away (retried),
    anything else JetStream refusing ``refused`` (the user's to fix)."""
    import nats.errors

    if isinstance(exc, nats.errors.TimeoutError | nats.errors.ConnectionClosedError):
        return NatsUnavailable(
            f"stream `{config.stream}`: NATS at {settings.address} did not answer the JetStream "
            f"API: {_describe(exc)}"
        )
    return ConfigError(
        f"stream `{config.stream}`: JetStream refused {refused}: {_describe(exc)}",
        hint=f"check the account's JetStream limits and permissions ({where})",
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
    except nats.errors.Error as exc:
        what = f"to look up or create the stream for subject `{topic}` at {settings.address}"
        raise _api_failure(exc, config, settings, what, where) from None
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
    except nats.errors.Error as exc:
        what = f"the durable consumer `{settings.durable}` on stream `{stream}`"
        raise _api_failure(exc, config, settings, what, where) from None


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
