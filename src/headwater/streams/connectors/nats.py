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

This module holds the source itself (`NatsSource`, its pull protocol and its event loop thread);
the settings, the connection, the stream and consumer setup it shares with `produce` and
`raw_consume`, and those two tools, live in `headwater.streams.connectors.nats_client` and are
re-exported here.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import json
import logging
import threading
import time
from collections.abc import Coroutine, Mapping
from datetime import datetime
from typing import Any, TypeVar

from headwater.errors import ExecutionError
from headwater.streams.connectors.nats_client import (
    API_TIMEOUT,
    CONNECT_TIMEOUT,
    NatsUnavailable,
    _connect,
    _consumer_config,
    _describe,
    _ensure_consumer,
    _find_stream,
    _parse_settings,
    _parse_start,
)

# re-exported: the public names of this connector and what its tests reach for
from headwater.streams.connectors.nats_client import _subject_within as _subject_within
from headwater.streams.connectors.nats_client import consumer_name as consumer_name
from headwater.streams.connectors.nats_client import produce as produce
from headwater.streams.connectors.nats_client import raw_consume as raw_consume
from headwater.streams.connectors.nats_client import stream_name_for as stream_name_for
from headwater.streams.source import Delivery, Message, Positions, SourceConfig

__all__ = ["NatsSource", "NatsUnavailable", "produce", "raw_consume"]

log = logging.getLogger(__name__)

T = TypeVar("T")

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

_ACK = b"+ACK"
_NAK = b"-NAK"


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
