"""Redis Streams: one stream key, read by a consumer group (`XREADGROUP`), acknowledged (`XACK`).

Redis is an *acknowledged* broker (`Delivery.ACKED`): the group hands each entry to one consumer and
keeps it in the group's pending entries list (PEL) until it is acknowledged. Exactly-once rests on
the processor (it keeps the ids it committed until `ack_floor` passes them); this module makes sure
every entry is delivered *at least* once, also when a process dies:

* **New entries** come from ``XREADGROUP … >`` with ``COUNT max_records`` and ``BLOCK``.
* **This consumer's own pending entries** (a restarted process that kept its ``consumer:`` name)
  are read again once after `open` (``XREADGROUP … 0``), before anything new.
* **Entries of dead consumers** (a SIGKILLed process) are claimed with ``XAUTOCLAIM`` once they have
  been idle longer than ``claim_idle``: every live consumer scans the group's PEL now and then, so
  a survivor picks them up. The same scan recovers entries of *this* consumer whose XREADGROUP
  reply was lost on a broken connection. Entries this process has delivered and not yet seen
  acknowledged (in flight in the current micro-batch) are never handed out twice: the source
  keeps their ids and drops them from a claim. ``claim_idle`` must therefore exceed the longest
  micro-batch (default 30 s; the default trigger is 5 s), or another process claims entries that
  are still being written — harmless for exactly-once (the committed ids are deduplicated) but
  wasted work.

**Poison entries.** An entry without the payload field (``field:``, default ``data``) is still
delivered, so the processor can route it to the DLQ instead of the stream stalling on it: its
`Message.value` is empty (``b""``, which no json / avro / csv-line payload parses as) and its
`Message.key` holds the entry's fields as a JSON object (text, bytes decoded as UTF-8 with
backslash escapes), so the DLQ keeps what the entry held even after the stream is trimmed. We do
*not* pass the entry's fields off as the payload: a flat entry that happened to fit the schema
would then be accepted silently instead of flagged.

**Offsets** are entry ids (``1700000000000-0``): `order_key` pads both halves to 20 digits so they
sort as text; `Message.timestamp` is the id's milliseconds (Redis' clock when the entry was added).

Connections use RESP2 with ``decode_responses=False`` and the replies of the hot commands are taken
as the raw nested lists (no per-entry dicts), and `poll_batch` turns them into columns (a
`MessageBatch`): no object per entry.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from headwater.errors import ConfigError, ExecutionError, TransientError, did_you_mean
from headwater.streams.source import (
    Delivery,
    Message,
    MessageBatch,
    Positions,
    SourceConfig,
    no_cyclic_gc,
)

if TYPE_CHECKING:
    import redis

__all__ = ["OPTIONS", "RedisSource", "RedisUnavailable", "produce", "raw_consume"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_FIELD = "data"
DEFAULT_CLAIM_IDLE = 30.0
DEFAULT_BLOCK_MS = 2000
CONNECT_TIMEOUT = 3.0
"""Seconds to wait for a TCP connection: an unreachable Redis is a ConfigError within this."""
OPTIONS = ("url", "field", "claim_idle", "consumer", "block_ms")
"""The connector-specific keys of a redis `source:` mapping (`url_env` arrives as `url`)."""
_GENERIC_KEYS = frozenset(
    {"connector", "topic", "group", "start", "format", "avro_schema", "delimiter"}
)
"""`headwater.streams.spec.SOURCE_KEYS`: the spec strips them; tolerated if a caller does not."""
_MAX_SEQ = 2**64 - 1
_XACK_CHUNK = 10_000
_PRODUCE_CHUNK = 1_000


class RedisUnavailable(ExecutionError, TransientError):
    """Redis stopped answering after the client's own retries (a restart, a network cut): the
    caller may retry the micro-batch; nothing was acknowledged that was not committed."""


def _identity(response: Any, **options: Any) -> Any:
    return response


class RedisSource:
    """A Redis stream key read by one consumer of a consumer group (see the module doc)."""

    delivery = Delivery.ACKED

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        for key in config.options:
            if key not in OPTIONS and key not in _GENERIC_KEYS:
                raise self._config_error(
                    f"source key `{key}` is unknown" + did_you_mean(key, OPTIONS),
                    f"a redis source takes {', '.join(OPTIONS)} (and `url_env`)",
                )
        if not config.topic:
            raise self._config_error("`topic` (the stream key) is empty", "set `topic: <key>`")
        if not config.group:
            raise self._config_error("`group` is empty", "set `group: <consumer group>`")
        self.url = str(config.get("url") or DEFAULT_URL)
        field = config.get("field", DEFAULT_FIELD)
        if not isinstance(field, str) or not field:
            raise self._config_error(
                f"`field: {field!r}` is not a field name", "e.g. `field: data`"
            )
        self.field = field.encode()
        self.claim_idle = self._duration("claim_idle", config.get("claim_idle", DEFAULT_CLAIM_IDLE))
        consumer = config.get("consumer") or (
            f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        )
        self.consumer = str(consumer)
        block_ms = config.get("block_ms", DEFAULT_BLOCK_MS)
        if isinstance(block_ms, bool) or not isinstance(block_ms, int) or block_ms <= 0:
            raise self._config_error(
                f"`block_ms: {block_ms!r}` is not a positive number of milliseconds",
                "e.g. `block_ms: 2000` (the longest one XREADGROUP waits)",
            )
        self.block_ms = block_ms
        self._start_id(config.start)  # a bad `start:` is a config error now, not at open
        self.key = config.topic.encode()
        self.group = config.group.encode()
        self._consumer_b = self.consumer.encode()
        self._claim_idle_ms = max(1, int(self.claim_idle * 1000))
        self._claim_every = min(max(self.claim_idle / 2, 0.05), 5.0)
        self._client: redis.Redis | None = None
        self._positions: Positions | None = None
        self._own_cursor: bytes | None = None
        """Where the re-reading of this consumer's own pending entries stands (None: done)."""
        self._claim_cursor = b"0-0"
        self._next_claim = 0.0
        self._inflight: set[str] = set()
        """Ids delivered by `poll` and not yet acknowledged: never handed out again by a claim."""

    # -- configuration -----------------------------------------------------------------------

    def _config_error(self, what: str, hint: str) -> ConfigError:
        where = f" ({self.config.location})" if self.config.location else ""
        return ConfigError(f"stream `{self.config.stream}`: redis {what}", hint=hint + where)

    def _duration(self, key: str, value: object) -> float:
        from headwater.durations import DurationError, parse_duration

        try:
            return parse_duration(value, key=key, file=self.config.location or None)
        except DurationError as exc:
            raise ConfigError(f"stream `{self.config.stream}`: {exc}", hint=exc.hint) from None

    @property
    def address(self) -> str:
        """Where Redis is, for messages: host:port/db, never the credentials of the URL."""
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(self.url)
            host = parts.hostname or "127.0.0.1"
            if parts.scheme == "unix":
                return f"unix:{parts.path}"
            return f"{host}:{parts.port or 6379}{parts.path or ''}"
        except ValueError:
            return "the configured url"

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> redis.Redis:
        """A client that answered a PING, or a ConfigError naming the address: the first contact
        does not retry (an unreachable Redis fails within ``CONNECT_TIMEOUT``); afterwards the
        client retries lost connections briefly, which rides out a quick broker restart."""
        name = re.sub(r"[^\w.:-]", "_", f"headwater:{self.config.stream}:{self.consumer}")
        client = _client(self.url, self.block_ms, self.config, name)
        try:
            client.ping()
        except Exception as exc:
            client.close()
            self._raise(exc, "connect", first=True)
        from redis.backoff import ExponentialWithJitterBackoff
        from redis.retry import Retry

        client.set_retry(Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), 8))
        return client

    @contextmanager
    def _session(self) -> Iterator[redis.Redis]:
        """The open client, or a short-lived one (`reset`, `lag` and `ack_floor` work unopened)."""
        if self._client is not None:
            yield self._client
            return
        client = self._connect()
        try:
            yield client
        finally:
            client.close()

    def _raise(self, exc: BaseException, doing: str, first: bool = False) -> NoReturn:
        """Turn a redis-py error into headwater's: what the user can fix is a ConfigError."""
        import redis

        where = f"Redis at {self.address}"
        stream = f"stream `{self.config.stream}`"
        loc = f" ({self.config.location})" if self.config.location else ""
        if isinstance(exc, redis.AuthenticationError | redis.exceptions.NoPermissionError):
            raise ConfigError(
                f"{stream}: {where} refused the credentials ({doing}): {exc}",
                hint=f"check the user and password of `url_env`{loc}",
            ) from None
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError | OSError):
            if first:
                raise ConfigError(
                    f"{stream}: cannot reach {where}: {exc}",
                    hint=f"start Redis there, or point `url:` / `url_env:` at it{loc}",
                ) from None
            raise RedisUnavailable(
                f"{stream}: lost the connection to {where} ({doing}): {exc}",
                hint="the stream retries; check that Redis is up",
            ) from exc
        if isinstance(exc, redis.ResponseError) and str(exc).startswith("WRONGTYPE"):
            raise ConfigError(
                f"{stream}: the key `{self.config.topic}` on {where} is not a stream",
                hint=f"use another `topic:` or delete the key{loc}",
            ) from None
        if first and isinstance(exc, redis.RedisError):  # e.g. a database index out of range
            raise ConfigError(
                f"{stream}: {where} refused the connection: {exc}",
                hint=f"check `url:` / `url_env:`{loc}",
            ) from None
        if isinstance(exc, redis.RedisError):
            raise ExecutionError(f"{stream}: {where} failed to {doing}: {exc}") from exc
        raise exc

    # -- the protocol ------------------------------------------------------------------------

    def open(self, positions: Positions) -> None:
        """Connect and make sure the group exists (created at ``start:`` when missing)."""
        if self._client is not None:
            return
        self._positions = positions
        client = self._connect()
        try:
            self._ensure_group(client)
        except BaseException:
            client.close()
            raise
        self._client = client
        self._own_cursor = b"0"
        self._claim_cursor = b"0-0"
        self._next_claim = 0.0
        self._inflight.clear()

    def _ensure_group(self, client: redis.Redis) -> None:
        """Create the group if missing (``MKSTREAM``; another process creating it first is fine).

        Where it starts: just after the position the warehouse committed for the stream, when it
        has one (a group lost with a Redis that forgot its data resumes where the warehouse is,
        not at ``start:``, which would deliver everything again), else at ``start:``."""
        import redis

        try:
            groups = client.execute_command("XINFO", "GROUPS", self.key)
            if _find_group(groups, self.group) is not None:
                return
        except redis.ResponseError as exc:
            if "no such key" not in str(exc).lower():
                self._raise(exc, "read the stream's groups")
        except Exception as exc:
            self._raise(exc, "read the stream's groups")
        start: str | None = None
        if self._positions is not None:
            start = self._positions([self.config.topic]).get(self.config.topic)
        if start:
            _parse_id(start)  # a committed position that is not an entry id is a bug: fail loudly
        else:
            start = self._start_id(self.config.start)
        try:
            client.xgroup_create(self.key, self.group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                self._raise(exc, "create the consumer group")
        except Exception as exc:
            self._raise(exc, "create the consumer group")

    def _start_id(self, start: str | datetime) -> str:
        """The id a group starts after: ``0`` (earliest), ``$`` (latest) or the id just before a
        time (entries added at or after it are read)."""
        if isinstance(start, str) and start.strip().lower() in ("earliest", ""):
            return "0-0"
        if isinstance(start, str) and start.strip().lower() == "latest":
            return "$"
        return _id_before(self._instant(start))

    def _instant(self, value: str | datetime) -> datetime:
        if isinstance(value, datetime):
            moment = value
        else:
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise self._config_error(
                    f"start `{value}` is not earliest, latest or a timestamp",
                    "write `earliest`, `latest` or an ISO timestamp like `2024-05-01T12:00:00Z`",
                ) from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment

    def poll(self, max_records: int, timeout: float) -> list[Message]:
        """Own pending entries first (once after `open`), then idle entries of other consumers
        (every ``claim_idle / 2``, at most 5 s apart), then new entries, blocking up to
        ``min(timeout, block_ms)`` for the first."""
        return self.poll_batch(max_records, timeout).messages()

    def poll_batch(self, max_records: int, timeout: float) -> MessageBatch:
        """`poll`, as columns."""
        import redis

        client = self._require_open()
        if max_records <= 0:
            return MessageBatch.empty()
        try:
            if self._own_cursor is not None:
                out = self._read_own(client, max_records)
                if out:
                    return out
            if time.monotonic() >= self._next_claim:
                out = self._claim(client, max_records)
                if out:
                    return out
            block = min(timeout * 1000, self.block_ms)
            args: list[Any] = ["XREADGROUP", "GROUP", self.group, self._consumer_b]
            args += ["COUNT", max_records]
            if block >= 1:
                args += ["BLOCK", int(block)]
            with no_cyclic_gc():
                reply = client.execute_command(*args, "STREAMS", self.key, ">")
        except redis.ResponseError as exc:
            text = str(exc)
            if text.startswith(("NOGROUP", "UNBLOCKED")):
                # the group or the key vanished (deleted, a Redis that lost its data, a reset
                # that recreated the group while we blocked): recreate it and read next time
                self._ensure_group(client)
                return MessageBatch.empty()
            self._raise(exc, "read the stream")
        except Exception as exc:
            self._raise(exc, "read the stream")
        if not reply:
            return MessageBatch.empty()
        with no_cyclic_gc():
            return self._batch(client, reply[0][1])

    def _read_own(self, client: redis.Redis, max_records: int) -> MessageBatch:
        """The next page of this consumer's pending entries (those a previous process of the same
        consumer name received and never acknowledged)."""
        assert self._own_cursor is not None
        reply = client.execute_command(
            "XREADGROUP", "GROUP", self.group, self._consumer_b, "COUNT", max_records,
            "STREAMS", self.key, self._own_cursor,
        )  # fmt: skip
        entries = reply[0][1] if reply else []
        if not entries:
            self._own_cursor = None
            return MessageBatch.empty()
        self._own_cursor = entries[-1][0]
        return self._batch(client, entries)

    def _claim(self, client: redis.Redis, max_records: int) -> MessageBatch:
        """One ``XAUTOCLAIM`` step over the group's PEL: entries idle longer than ``claim_idle``
        become this consumer's. The scan goes on at the next poll until it has covered the PEL,
        then rests for ``_claim_every`` seconds."""
        reply = client.execute_command(
            "XAUTOCLAIM", self.key, self.group, self._consumer_b, self._claim_idle_ms,
            self._claim_cursor, "COUNT", max_records,
        )  # fmt: skip
        cursor, entries = reply[0], reply[1]
        if len(reply) > 2 and reply[2]:  # Redis 7: ids deleted from the stream, gone from the PEL
            self._inflight.difference_update(i.decode() for i in reply[2])
        if cursor in (b"0-0", b"0"):
            self._claim_cursor = b"0-0"
            self._next_claim = time.monotonic() + self._claim_every
        else:
            self._claim_cursor = cursor
        if self._inflight:
            entries = [e for e in entries if e and e[0].decode() not in self._inflight]
        return self._batch(client, entries) if entries else MessageBatch.empty()

    def _batch(self, client: redis.Redis, entries: list[Any]) -> MessageBatch:
        """The columns of raw RESP2 entries ``[id, [field, value, …]]``. An entry deleted while
        pending (``[id, nil]``) has nothing left to deliver: it is acknowledged and skipped."""
        field = self.field
        usual = True  # every entry present, with one field: the payload
        for entry in entries:
            if entry is None or (fields := entry[1]) is None or len(fields) != 2:
                usual = False
                break
            if fields[0] != field:
                usual = False
                break
        if usual:
            raw_ids = [entry[0] for entry in entries]
            offsets = list(map(bytes.decode, raw_ids))
            batch = MessageBatch(
                [self.config.topic] * len(offsets),
                offsets,
                [entry[1][1] for entry in entries],
                [int(offset.partition("-")[0]) / 1000 for offset in offsets],
                handles=raw_ids,  # XACK takes them as they came (encoding text costs ~30%)
            )
        else:
            batch = self._unusual(client, entries)
        self._inflight.update(batch.offsets)
        return batch

    def _unusual(self, client: redis.Redis, entries: list[Any]) -> MessageBatch:
        """`_batch` of entries that are not all one payload field: deleted ones are acknowledged
        and skipped, the others' payload found (or kept as a poison entry)."""
        out: list[Message] = []
        partition = self.config.topic
        gone: list[bytes] = []
        for entry in entries:
            if entry is None:
                continue
            raw_id, fields = entry[0], entry[1]
            if fields is None:
                gone.append(raw_id)
                continue
            offset = raw_id.decode()
            ms = int(offset.partition("-")[0])
            if fields[0] == self.field:
                out.append(Message(partition, offset, fields[1], ms / 1000))
            else:
                out.append(self._other_entry(offset, ms, fields))
        if gone:
            client.execute_command("XACK", self.key, self.group, *gone)
        return MessageBatch.of(out)

    def _other_entry(self, offset: str, ms: int, fields: list[bytes]) -> Message:
        """An entry whose first field is not the payload: the payload further on, or a poison
        entry without it (empty value, the fields as JSON in `key`; see the module doc)."""
        for i in range(0, len(fields) - 1, 2):
            if fields[i] == self.field:
                return Message(self.config.topic, offset, fields[i + 1], ms / 1000)
        entry = {
            fields[i].decode("utf-8", "backslashreplace"): fields[i + 1].decode(
                "utf-8", "backslashreplace"
            )
            for i in range(0, len(fields) - 1, 2)
        }
        key = json.dumps(entry, ensure_ascii=False).encode()
        return Message(self.config.topic, offset, b"", ms / 1000, key=key)

    def assignment(self) -> set[str]:
        return {self.config.topic}

    def seek(self, positions: Mapping[str, str | None]) -> None:
        """Deliver this consumer's pending entries after the given id again (None: all of them):
        the messages polled since the last `ack` were not committed and are to be read again."""
        if self.config.topic not in positions:
            return
        after = positions[self.config.topic]
        self._own_cursor = (after or "0").encode()
        self._inflight.clear()

    def ack(self, messages: list[Message]) -> None:
        """``XACK`` the committed entries, 10 000 ids per command, all in one round trip."""
        self.ack_batch(MessageBatch.of(messages))

    def ack_batch(self, batch: MessageBatch) -> None:
        """`ack` of a committed batch."""
        if not batch:
            return
        client = self._require_open()
        topic = self.config.topic
        ids = batch.offsets
        if batch.partitions.count(topic) != len(ids) or ids.count("") or not ids:
            ids = [o for p, o in zip(batch.partitions, ids, strict=True) if p == topic and o]
        if not ids:
            return
        raw: list[Any] = ids
        if len(ids) == len(batch) and batch.handles is not None and None not in batch.handles:
            raw = batch.handles  # the ids as Redis sent them
        pipe = client.pipeline(transaction=False)
        for i in range(0, len(raw), _XACK_CHUNK):
            pipe.execute_command("XACK", self.key, self.group, *raw[i : i + _XACK_CHUNK])
        try:
            pipe.execute()
        except Exception as exc:
            self._raise(exc, "acknowledge entries")
        self._inflight.difference_update(ids)

    def ack_floor(self) -> str | None:
        """The smallest pending id of the group; when nothing is pending, the group's
        last-delivered id (everything up to it is acknowledged). Both read in one ``MULTI``, so
        no delivery falls between them. None when the group does not exist."""
        import redis

        with self._session() as client:
            pipe = client.pipeline(transaction=True)
            pipe.execute_command("XPENDING", self.key, self.group)
            pipe.execute_command("XINFO", "GROUPS", self.key)
            try:
                summary, groups = pipe.execute()
            except redis.ResponseError as exc:
                if _missing(exc):
                    return None
                self._raise(exc, "read the pending entries")
            except Exception as exc:
                self._raise(exc, "read the pending entries")
        if summary and summary[0]:
            return str(summary[1].decode())
        group = _find_group(groups, self.group)
        if group is None:
            return None
        return str(group[b"last-delivered-id"].decode())

    ORDER_KEY_SQL = (
        "lpad(split_part({0}, '-', 1), 20, '0') || '-' || lpad(split_part({0}, '-', 2), 20, '0')"
    )
    """`order_key` in SQL (DuckDB and PostgreSQL), for a whole batch of ids at once."""

    def order_key(self, offset: str) -> str:
        ms, seq = _parse_id(offset)
        return f"{ms:020d}-{seq:020d}"

    def key_range(self, offsets: list[str]) -> tuple[str, str]:
        """The smallest and largest `order_key` of these entry ids, vectorized (an `order_key`
        call per id of a batch costs more than the rest of its ledger)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            parts = pc.split_pattern(pa.array(offsets, pa.string()), "-", max_splits=1)
            ms = pc.cast(pc.list_element(parts, 0), pa.uint64())
            seq = pc.cast(pc.list_element(parts, 1), pa.uint64())
        except (pa.ArrowInvalid, IndexError):  # not all `ms-seq`: one at a time
            keys = [self.order_key(o) for o in offsets]
            return min(keys), max(keys)
        bounds = pc.min_max(ms)
        low, high = bounds["min"], bounds["max"]
        low_seq = pc.min(pc.filter(seq, pc.equal(ms, low))).as_py()
        high_seq = pc.max(pc.filter(seq, pc.equal(ms, high))).as_py()
        return (
            self.order_key(f"{low.as_py()}-{low_seq}"),
            self.order_key(f"{high.as_py()}-{high_seq}"),
        )

    def lag(self) -> dict[str, int | None]:
        """Entries not yet delivered to the group (``XINFO GROUPS`` ``lag``, Redis 7). None when
        Redis cannot tell: the group was set to an id in the middle of the stream (a timestamp
        `start:` / `reset`) and has not caught up yet, entries were deleted with XDEL, or the
        group does not exist."""
        import redis

        with self._session() as client:
            try:
                groups = client.execute_command("XINFO", "GROUPS", self.key)
            except redis.ResponseError as exc:
                if _missing(exc):
                    return {self.config.topic: None}
                self._raise(exc, "read the stream's groups")
            except Exception as exc:
                self._raise(exc, "read the stream's groups")
        group = _find_group(groups, self.group)
        value = None if group is None else group.get(b"lag")
        return {self.config.topic: None if value is None else int(value)}

    def reset(self, to: str | datetime) -> dict[str, str | None]:
        """Move the group to ``earliest``, ``latest`` or a time, creating it if missing; returns
        the id just before the first entry to read.

        The group is destroyed and created again in one ``MULTI`` rather than moved with
        ``XGROUP SETID``: SETID keeps the pending entries list, whose entries would then be
        claimed and processed whatever the new position says (before it for `latest`), and its
        consumers. Entries after the new position are delivered again by ``>`` either way."""
        import redis

        start = self._start_id(to)
        with self._session() as client:
            pipe = client.pipeline(transaction=True)
            pipe.execute_command("XGROUP", "DESTROY", self.key, self.group)
            pipe.execute_command("XGROUP", "CREATE", self.key, self.group, start, "MKSTREAM")
            pipe.execute_command("XINFO", "GROUPS", self.key)
            try:
                destroyed, created, groups = pipe.execute(raise_on_error=False)
            except Exception as exc:
                self._raise(exc, "reset the consumer group")
        for result in (created, groups):
            if isinstance(result, Exception):
                self._raise(result, "reset the consumer group")
        if isinstance(destroyed, redis.ResponseError) and not _missing(destroyed):
            self._raise(destroyed, "reset the consumer group")
        group = _find_group(groups, self.group)
        assert group is not None, "the group was created in the same MULTI"
        self._own_cursor = None if self._client is None else b"0"
        self._inflight.clear()
        return {self.config.topic: str(group[b"last-delivered-id"].decode())}

    def close(self) -> None:
        """Leave the group: delete this consumer when it has nothing pending (random consumer
        names would otherwise pile up in the group, one per process ever started); with pending
        entries it stays, and another consumer claims them after ``claim_idle``. Best effort: a
        Redis that is gone leaves the consumer behind, which harms nothing."""
        import redis

        client, self._client = self._client, None
        if client is None:
            return
        try:
            consumers = client.execute_command("XINFO", "CONSUMERS", self.key, self.group)
            for row in consumers:
                info = _pairs(row)
                if info.get(b"name") == self._consumer_b and not int(info.get(b"pending", 0)):
                    client.execute_command(
                        "XGROUP", "DELCONSUMER", self.key, self.group, self._consumer_b
                    )
        except redis.RedisError:
            pass  # closing must not fail because Redis went away; see the docstring
        finally:
            client.close()
            self._inflight.clear()

    def _require_open(self) -> redis.Redis:
        if self._client is None:
            raise RuntimeError("RedisSource.open() was not called (or close() was)")
        return self._client


# -- helpers -------------------------------------------------------------------------------------


def _client(url: str, block_ms: int, config: SourceConfig, name: str) -> redis.Redis:
    """A redis-py client for ``url``: RESP2, bytes, bounded connect, no retries yet, and the hot
    commands' replies left as the server's nested lists (parsed by `RedisSource._messages`).
    ``name`` shows in ``CLIENT LIST``, so an operator sees which stream a connection serves."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        client = redis.Redis.from_url(
            url,
            decode_responses=False,
            protocol=2,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=block_ms / 1000 + 10.0,
            retry=Retry(NoBackoff(), 0),
            client_name=name,
        )
    except ValueError as exc:
        loc = f" ({config.location})" if config.location else ""
        raise ConfigError(
            f"stream `{config.stream}`: redis `url` is not a Redis URL: {exc}",
            hint=f"write redis://host:6379/0, rediss://… (TLS) or unix:///path{loc}",
        ) from None
    for command in ("XREADGROUP", "XAUTOCLAIM", "XPENDING", "XINFO"):
        client.set_response_callback(command, _identity)
    return client


def _pairs(flat: Any) -> dict[bytes, Any]:
    """A RESP2 flat ``[k, v, k, v]`` reply as a dict (RESP3 already sends a map)."""
    if isinstance(flat, dict):
        return {k if isinstance(k, bytes) else str(k).encode(): v for k, v in flat.items()}
    return {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def _find_group(groups: Iterable[Any], name: bytes) -> dict[bytes, Any] | None:
    for row in groups:
        info = _pairs(row)
        if info.get(b"name") == name:
            return info
    return None


def _missing(exc: BaseException) -> bool:
    """The key or the group does not exist (the phrasing differs between commands)."""
    text = str(exc).lower()
    return "no such key" in text or "nogroup" in text or "requires the key to exist" in text


def _parse_id(offset: str) -> tuple[int, int]:
    """``ms-seq`` (or ``ms``) as two integers; anything else is a ValueError naming it."""
    ms, _, seq = offset.partition("-")
    try:
        out = int(ms), int(seq or 0)
    except ValueError:
        raise ValueError(f"`{offset}` is not a Redis stream entry id (<ms>-<seq>)") from None
    if not (0 <= out[0] <= _MAX_SEQ and 0 <= out[1] <= _MAX_SEQ) or not ms.isdigit():
        raise ValueError(f"`{offset}` is not a Redis stream entry id (<ms>-<seq>)")
    return out


def _id_before(moment: datetime) -> str:
    """The largest entry id before ``moment``: entries added at or after it come after it."""
    micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    first_ms = math.ceil(micros / 1000) if micros > 0 else 0
    return "0-0" if first_ms <= 0 else f"{first_ms - 1}-{_MAX_SEQ}"


# -- benchmarks and tests ------------------------------------------------------------------------


def produce(config: SourceConfig, values: list[bytes]) -> None:
    """``XADD <topic> * <field> <value>`` for every value, 1000 per pipelined round trip."""
    source = RedisSource(config)
    client = source._connect()
    try:
        for i in range(0, len(values), _PRODUCE_CHUNK):
            pipe = client.pipeline(transaction=False)
            for value in values[i : i + _PRODUCE_CHUNK]:
                pipe.execute_command("XADD", source.key, "*", source.field, value)
            pipe.execute()
    except Exception as exc:
        source._raise(exc, "add entries")
    finally:
        client.close()


def raw_consume(
    config: SourceConfig,
    n: int,
    timeout: float,
    land: Callable[[list[bytes | None]], None] | None = None,
    count: int = 1000,
) -> int:
    """Read and ``XACK`` up to ``n`` entries with plain redis-py (XREADGROUP ``>``, ``count`` a
    read, then XACK of the batch), no headwater in between: the benchmark's baseline. ``land``,
    if given, receives each read's payloads (the ``field`` of every entry) before the ``XACK``.
    Returns how many were read before ``n`` or the ``timeout``."""
    import redis

    source = RedisSource(config)
    probe = source._connect()  # the same reachability check and group creation as the source
    try:
        source._ensure_group(probe)
    finally:
        probe.close()
    client = redis.Redis.from_url(source.url, decode_responses=False)
    consumer = f"raw-{os.getpid()}-{os.urandom(3).hex()}"
    read = 0
    deadline = time.monotonic() + timeout
    try:
        while read < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            reply: Any = client.xreadgroup(
                config.group,
                consumer,
                {source.key: ">"},
                count=min(count, n - read),
                block=max(1, int(min(left, 1.0) * 1000)),
            )
            if not reply:
                continue
            entries = reply[0][1]
            if land is not None:
                land([fields.get(source.field) for _, fields in entries])
            client.xack(source.key, source.group, *[entry_id for entry_id, _ in entries])
            read += len(entries)
        client.xgroup_delconsumer(source.key, source.group, consumer)
    finally:
        client.close()
    return read
