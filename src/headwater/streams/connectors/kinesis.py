"""Amazon Kinesis Data Streams: every shard of one stream, read by this process with GetRecords.

Kinesis is a *positioned* broker (`Delivery.POSITIONED`): partitions are shard ids
(``shardId-000000000001``) and offsets are the records' sequence numbers (decimal text of up to 128
bits; `order_key` zero-pads them to 40 digits). The committed sequence numbers live in the
warehouse, in the sink's transaction, and `open` / `seek` start each shard with an
``AFTER_SEQUENCE_NUMBER`` iterator just after them, so `ack` has nothing to tell Kinesis.

**One process per stream.** Kinesis has no consumer groups (only the KCL builds them, with a
DynamoDB lease table), so this process reads *all* shards and ``group:`` names nothing on the
broker. Scale-out across processes is not supported for Kinesis: a second ``headwater stream run``
of the same stream reads the same shards, and the warehouse's compare-and-swap on the committed
offsets makes it harmless (one of the two loses every commit race and rolls its batch back), but
it adds no throughput.

**Resharding.** A split or a merge closes shards and opens children (``ParentShardId`` /
``AdjacentParentShardId``). To keep the per-key order the producer wrote, a child is read only
after its parents are *done*: read to their end (GetRecords returns no ``NextShardIterator``, or
the committed/read sequence number reached the parent's ``EndingSequenceNumber``, or a page came
back empty with ``MillisBehindLatest`` 0 from a closed shard, which the API documents as "caught
up, nothing more"). `assignment` is the set of shards being read now: every open shard whose
parents are done, plus closed parents that still have records to read, plus finished parents whose
last delivered records `ack` has not confirmed yet (the processor drops a batch's messages of
partitions outside the assignment, and those records must still be committed). The shard list
is refreshed
every ``shard_refresh`` seconds and whenever a shard finishes. A child with no committed offset
continues where its parent left off (``TRIM_HORIZON``, or ``AT_TIMESTAMP`` when the parent itself
started from a time and delivered nothing); only shards with no read or committed ancestor start
as ``start:`` says (``latest`` skips closed shards altogether).

**Offsets that are not sequence numbers.** `reset` must return "the offset before the first
record to read", but Kinesis sequence numbers are not contiguous: ``S - 1`` is no record's number
and GetShardIterator need not accept it, and the record *before* the first one at a time is only
found by scanning the shard. So `reset` (and therefore the warehouse, and `open` / `seek`) also
use two markers, which `order_key` sorts before every sequence number:

* ``@earliest``: read the shard from ``TRIM_HORIZON`` (its oldest retained record), whatever
  ``start:`` says. `reset("earliest")` returns it for every shard, rather than None, because None
  means "start as ``start:`` says", which for ``start: latest`` would not be the earliest.
* ``@<ISO-8601 UTC time>`` (``@2024-05-01T12:00:00+00:00``): read from the first record that
  arrived at or after that time (``AT_TIMESTAMP``). It finds the same first record on every open as
  long as that record is retained. boto3 sends ``AT_TIMESTAMP`` with whole seconds, so records of
  that second that arrived before the time (``ApproximateArrivalTimestamp``, milliseconds) are
  skipped by the source.

`reset("latest")` returns real sequence numbers: the ``EndingSequenceNumber`` of closed shards and
the last record of each open shard, found by reading the shard to its end from a recent
``AT_TIMESTAMP`` (one minute, one hour, one day back, then ``TRIM_HORIZON``); an empty open shard
gets ``@earliest`` (everything produced after the reset is read).

**Lag.** GetRecords only says ``MillisBehindLatest`` (a time, not a count) and Kinesis has no
cheap way to count the records after a position, so `lag` reports a count only when it knows one:
``0`` for a shard whose last GetRecords was caught up (fewer records than asked for and
``MillisBehindLatest`` 0), ``None`` (unknown) otherwise. It costs no call (it is as of the last
`poll`).

**Iterators** expire after five minutes unused; an expired one is renewed from the last record
read (``AFTER_SEQUENCE_NUMBER``), or from the shard's origin when nothing was read yet. The one
imprecise case is a shard opened at ``LATEST`` that delivered nothing before its iterator expired:
"latest" has moved on since, so it is renewed ``AT_TIMESTAMP`` 30 s before the last successful
GetRecords. Records that arrived after `open` and before that call would have been returned by it,
so the 30 s only absorb clock skew between this machine and Kinesis: nothing is lost, and at most
records from just before `open` are read too.

**Limits.** GetRecords allows 5 calls per second per shard: `poll` makes at most one call per
shard every ``poll_interval`` seconds (default 0.2), one call per shard per round with ``Limit``
= ``max_records`` split over the shards (at most 10,000), the shards in parallel, and backs off on
``ProvisionedThroughputExceededException``. The client makes no retries of its own (so an
unreachable endpoint is a ConfigError within ``CONNECT_TIMEOUT``); a shard whose calls fail with a
lost connection or a 5xx backs off and is retried by the next rounds, and only an outage longer
than ``GIVE_UP_AFTER`` seconds raises `KinesisUnavailable`. KPL-aggregated records are delivered
as the aggregate blob (one `Message` per Kinesis record).

**Options** (the `source:` mapping): ``region`` (or ``region_env``; default ``AWS_DEFAULT_REGION``,
``AWS_REGION``, then ``us-east-1``), ``endpoint_url`` (or ``endpoint_url_env``: moto, LocalStack,
a VPC endpoint), ``poll_interval`` and ``shard_refresh`` (durations). ``topic`` is the stream name
(or its ARN). Credentials come only from boto3's default chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, an instance or task role),
never from the stream file: a credential-looking key is a ConfigError.

The settings, the boto3 client with its error mapping, and the tools `produce` (bulk PutRecords,
for tests and benchmarks) and `raw_consume` (plain boto3, the benchmark's baseline) live in
`headwater.streams.connectors.kinesis_client`; this module holds the source and re-exports the
public names.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from headwater.errors import ConfigError, ExecutionError
from headwater.streams.connectors.kinesis_client import (
    _MAX_BACKOFF,
    _ORDER_WIDTH,
    _THROTTLED,
    EARLIEST,
    GIVE_UP_AFTER,
    LATEST_RENEW_MARGIN,
    MAX_GET_RECORDS,
    OPTIONS,
    KinesisUnavailable,
    _checked_offset,
    _config_error,
    _connect,
    _epoch,
    _error_code,
    _is_seq,
    _is_transient,
    _list_shards,
    _marker,
    _parse_time,
    _raise,
    _settings,
    _ShardInfo,
    produce,
    raw_consume,
)
from headwater.streams.source import Delivery, Message, Positions, SourceConfig

__all__ = [
    "EARLIEST",
    "OPTIONS",
    "KinesisSource",
    "KinesisUnavailable",
    "produce",
    "raw_consume",
]

# -- the source ------------------------------------------------------------------------------


class _Shard:
    """What the source knows about one shard, and where its reading stands."""

    __slots__ = (
        "acked",
        "backoff",
        "caught_up",
        "delivered",
        "done",
        "ending",
        "exhausted",
        "failing_since",
        "id",
        "iterator",
        "latest_ok",
        "next_call",
        "parents",
        "position",
        "read_seq",
        "skip_before",
        "visited",
    )

    def __init__(self, info: _ShardInfo) -> None:
        self.id = info.id
        self.parents = info.parents
        self.ending = info.ending
        self.position: str | None = None
        """The committed offset, then the last *delivered* sequence number (or a marker)."""
        self.read_seq: str | None = None
        """The last sequence number read from Kinesis (delivered or skipped): renewals go on
        from it."""
        self.delivered: str | None = None
        """The last sequence number `poll` returned in this process (None: none since `open` or
        `seek`)."""
        self.acked: str | None = None
        """The last sequence number `ack` confirmed committed."""
        self.iterator: str | None = None
        self.exhausted = False
        """Read to its end (a closed shard): its children may be read."""
        self.done = False
        self.visited = False
        """It was in the assignment of this process (its children continue where it ended)."""
        self.skip_before: float | None = None
        """Records that arrived before this epoch are skipped (``AT_TIMESTAMP``'s whole seconds)."""
        self.latest_ok: float | None = None
        """Epoch of the last successful GetRecords of an iterator opened at LATEST that has not
        delivered a record yet (for renewing it, see the module doc)."""
        self.next_call = 0.0
        """`time.monotonic()` before which GetRecords is not called (5 calls/s per shard)."""
        self.backoff = 0.0
        self.failing_since: float | None = None
        """`time.monotonic()` of the first of the transient failures in a row (None: none)."""
        self.caught_up = False

    def restart(self, offset: str | None) -> None:
        """Read again from just after ``offset`` (`seek`)."""
        self.position = offset
        self.read_seq = None
        self.delivered = None
        self.acked = None
        self.iterator = None
        self.exhausted = False
        self.skip_before = None
        self.latest_ok = None
        self.caught_up = False


_Origin = tuple[str, Any]
"""Where a shard's reading starts: (``seq``, number) | (``trim``, None) | (``time``, datetime) |
(``latest``, None) | (``skip``, None)."""


class KinesisSource:
    """Every shard of one Kinesis stream, read by this process (see the module doc)."""

    delivery = Delivery.POSITIONED

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.settings = _settings(config)
        self._client: Any = None
        self._positions: Positions | None = None
        self._shards: dict[str, _Shard] = {}
        self._active: list[_Shard] = []
        self._pool: ThreadPoolExecutor | None = None
        self._next_refresh = 0.0

    # -- the protocol ------------------------------------------------------------------------

    def open(self, positions: Positions) -> None:
        """List the shards (a ConfigError if the endpoint, the credentials or the stream are
        wrong), read the committed offsets of all of them, and create the iterators of the shards
        whose parents are done (so ``start: latest`` is the time of `open`)."""
        self.close()
        client, infos = _connect(self.settings, pool=16)
        self._client = client
        self._positions = positions
        self._shards = {}
        self._merge_listing(infos)
        self._next_refresh = time.monotonic() + self.settings.shard_refresh
        self._rebuild()
        self._prime(self._active)

    def poll(self, max_records: int, timeout: float) -> list[Message]:
        """One GetRecords per assigned shard whose rate allows it, the shards in parallel
        (``Limit`` = ``max_records`` split over them); if nothing came, again every
        ``poll_interval`` until ``timeout``. Throttled or failing shards back off (see
        `GIVE_UP_AFTER`)."""
        self._require_open()
        if max_records <= 0:
            return []
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            now = time.monotonic()
            if now >= self._next_refresh:
                self._refresh(tolerant=True)
            ready = [s for s in self._active if s.next_call <= now]
            if ready:
                messages = self._fetch_all(ready, max_records)
                if messages:
                    return messages
            now = time.monotonic()
            if now >= deadline:
                return []
            if any(s.next_call <= now for s in self._active):
                continue  # a finished shard handed over to its children: read them now
            wake = min((s.next_call for s in self._active), default=now + self._interval)
            time.sleep(max(0.0, min(wake, self._next_refresh, deadline) - now))

    def assignment(self) -> set[str]:
        """The shards being read: open shards whose parents are done, closed parents that still
        have records to read, and finished shards whose last delivered records are not yet
        acknowledged (the processor drops a batch's messages of partitions that left the
        assignment; those must still be committed). Empty before `open`."""
        held = {s.id for s in self._active}
        held.update(
            s.id
            for s in self._shards.values()
            if s.done and s.delivered is not None and s.delivered != s.acked
        )
        return held

    def seek(self, positions: Mapping[str, str | None]) -> None:
        """New iterators just after these offsets (None: as a shard with nothing committed)."""
        self._require_open()
        if any(shard not in self._shards for shard in positions):
            self._refresh(rebuild=False)
        for shard_id, offset in positions.items():
            shard = self._shards.get(shard_id)
            if shard is not None:
                shard.restart(_checked_offset(self.settings, shard_id, offset))
        self._rebuild()
        self._prime([s for s in self._active if s.id in positions])

    def ack(self, messages: list[Message]) -> None:
        """Nothing to tell Kinesis (the committed positions live in the warehouse); only note
        how far each shard is committed, so that a finished shard leaves `assignment` once its
        last records are. Shards no longer known are ignored."""
        last = {m.partition: m.offset for m in messages}  # a shard's messages arrive in order
        for shard_id, offset in last.items():
            shard = self._shards.get(shard_id)
            if shard is not None:
                shard.acked = offset

    def ack_floor(self) -> str | None:
        """Positioned source: no acknowledgement floor."""
        return None

    def order_key(self, offset: str) -> str:
        """Sequence numbers zero-padded to 40 digits; the ``@`` markers sort before them all."""
        if offset.startswith("@"):
            return "0" * _ORDER_WIDTH
        if not offset.isdigit():
            raise ValueError(f"`{offset}` is not a Kinesis sequence number")
        return offset.zfill(_ORDER_WIDTH)

    def lag(self) -> dict[str, int | None]:
        """0 for an assigned shard whose last GetRecords was caught up, None (unknown) otherwise:
        Kinesis reports a time behind, not a count (see the module doc). No call is made."""
        return {s.id: (0 if s.caught_up else None) for s in self._active}

    def reset(self, to: str | datetime) -> dict[str, str | None]:
        """The offsets to record for ``to`` (works unopened): ``@earliest`` or an ``@<time>``
        marker for every shard, or for ``latest`` the last sequence number of each shard."""
        target: str | datetime
        if isinstance(to, str) and to.strip().lower() in ("earliest", "latest"):
            target = to.strip().lower()
        else:
            try:
                target = _parse_time(to)
            except ValueError:
                raise _config_error(
                    self.config,
                    f"cannot reset to `{to}`",
                    "use --to earliest, --to latest or --to 2024-05-01T12:00:00Z",
                ) from None
        if self._client is not None:
            client, own = self._client, False
            infos = self._call(lambda: _list_shards(client, self.settings), "list the shards")
        else:
            client, infos = _connect(self.settings)
            own = True
        try:
            if target == "earliest":
                return {info.id: EARLIEST for info in infos}
            if isinstance(target, datetime):
                marker = _marker(target)
                return {info.id: marker for info in infos}
            out: dict[str, str | None] = {}
            for info in infos:
                if info.ending is not None:
                    out[info.id] = info.ending
                else:
                    out[info.id] = self._last_sequence_number(client, info.id) or EARLIEST
            return out
        finally:
            if own:
                client.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
        self._active = []

    # -- shards and their lineage ------------------------------------------------------------

    @property
    def _interval(self) -> float:
        return self.settings.poll_interval

    def _require_open(self) -> None:
        if self._client is None:
            raise ExecutionError(
                f"stream `{self.settings.stream}`: the kinesis source is not open (call open())"
            )

    def _call(self, fn: Callable[[], Any], doing: str) -> Any:
        try:
            return fn()
        except Exception as exc:
            _raise(self.settings, exc, doing)

    def _refresh(self, rebuild: bool = True, tolerant: bool = False) -> None:
        """List the shards again: closed shards get their ending, children appear. ``tolerant``:
        a transient failure only postpones it (the reads of the shards report an outage)."""
        client = self._client
        self._next_refresh = time.monotonic() + self.settings.shard_refresh
        try:
            infos = _list_shards(client, self.settings)
        except Exception as exc:
            if tolerant and (_is_transient(exc) or _error_code(exc) in _THROTTLED):
                if rebuild:
                    self._rebuild()  # a shard that just finished still hands over
                return
            _raise(self.settings, exc, "list the shards")
        self._merge_listing(infos)
        if rebuild:
            self._rebuild()

    def _merge_listing(self, infos: list[_ShardInfo]) -> None:
        """Take a shard listing in: new shards get their committed offsets (one `positions`
        call), known ones their ending; shards past retention are forgotten."""
        listed = {info.id for info in infos}
        for gone in [shard_id for shard_id in self._shards if shard_id not in listed]:
            del self._shards[gone]
        new: list[str] = []
        for info in infos:
            shard = self._shards.get(info.id)
            if shard is None:
                self._shards[info.id] = _Shard(info)
                new.append(info.id)
            else:
                shard.ending = info.ending
        if new and self._positions is not None:
            committed = self._positions(new)
            for shard_id in new:
                self._shards[shard_id].position = _checked_offset(
                    self.settings, shard_id, committed.get(shard_id)
                )

    def _origin(self, shard: _Shard, memo: dict[str, _Origin] | None = None) -> _Origin:
        """Where ``shard`` is read from when it has no iterator and nothing was read from it."""
        memo = {} if memo is None else memo
        if shard.id in memo:
            return memo[shard.id]
        position = shard.position
        origin: _Origin
        if position is not None:
            if position == EARLIEST:
                origin = ("trim", None)
            elif position.startswith("@"):
                origin = ("time", _parse_time(position[1:]))
            else:
                origin = ("seq", position)
        else:
            times: list[datetime] = []
            inherit_trim = False
            for parent_id in shard.parents:
                parent = self._shards.get(parent_id)
                if parent is None:
                    continue  # past retention: nothing to continue from
                kind, value = self._origin(parent, memo)
                if kind in ("seq", "trim", "latest"):
                    inherit_trim = True  # the parent was (being) read: go on where it ended
                elif kind == "time":
                    times.append(value)
            if inherit_trim:
                origin = ("trim", None)
            elif times:
                origin = ("time", min(times))
            elif self.settings.start == "earliest":
                origin = ("trim", None)
            elif self.settings.start == "time":
                origin = ("time", self.settings.start_at)
            elif shard.ending is None or shard.visited:
                origin = ("latest", None)
            else:
                origin = ("skip", None)  # start: latest, and this shard is closed
        memo[shard.id] = origin
        return origin

    def _is_done(self, shard: _Shard, origin: _Origin) -> bool:
        if shard.exhausted or origin[0] == "skip":
            return True
        if shard.ending is None:
            return False
        last = shard.read_seq or (shard.position if _is_seq(shard.position) else None)
        return last is not None and int(last) >= int(shard.ending)

    def _rebuild(self) -> None:
        """Recompute which shards are done and which are read now (parents done, self not)."""
        memo: dict[str, _Origin] = {}
        for shard in self._shards.values():
            shard.done = self._is_done(shard, self._origin(shard, memo))
        active = []
        for shard in self._shards.values():
            if shard.done:
                continue
            if all(
                self._shards[p].done for p in shard.parents if p in self._shards
            ):  # parents past retention count as done
                shard.visited = True
                active.append(shard)
        self._active = active

    # -- reading -----------------------------------------------------------------------------

    def _iterator_args(self, shard: _Shard) -> dict[str, Any]:
        """GetShardIterator arguments to go on from where ``shard`` stands."""
        if shard.read_seq is not None:
            return {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "StartingSequenceNumber": shard.read_seq,
            }
        kind, value = self._origin(shard)
        if kind == "seq":
            return {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": value}
        if kind == "time":
            shard.skip_before = value.timestamp()
            if value.timestamp() > time.time():  # AT_TIMESTAMP wants a past time
                return {"ShardIteratorType": "LATEST"}
            return {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": value}
        if kind == "latest":
            if shard.latest_ok is not None:  # an expired LATEST iterator (see the module doc)
                since = datetime.fromtimestamp(shard.latest_ok - LATEST_RENEW_MARGIN, UTC)
                return {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": since}
            shard.latest_ok = time.time()
            return {"ShardIteratorType": "LATEST"}
        return {"ShardIteratorType": "TRIM_HORIZON"}

    def _new_iterator(self, shard: _Shard) -> str:
        args = self._iterator_args(shard)
        try:
            response = self._client.get_shard_iterator(
                **self.settings.stream_args, ShardId=shard.id, **args
            )
        except Exception as exc:
            if _error_code(exc) == "InvalidArgumentException" and "StartingSequenceNumber" in args:
                raise ConfigError(
                    f"stream `{self.settings.stream}`: Kinesis does not accept the offset "
                    f"`{args['StartingSequenceNumber']}` for shard `{shard.id}`: {exc}",
                    hint=f"run `headwater stream reset {self.settings.stream} --to earliest` "
                    "(or latest, or a time)",
                ) from None
            raise
        return str(response["ShardIterator"])

    def _map(self, fn: Callable[[_Shard], Any], shards: list[_Shard]) -> list[Any]:
        """``fn`` over ``shards``, in parallel when there are several (one HTTP call each)."""
        if len(shards) <= 1:
            return [fn(s) for s in shards]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="kinesis")
        return list(self._pool.map(fn, shards))

    def _prime(self, shards: list[_Shard]) -> None:
        """Create the iterators of ``shards`` now, so that ``start: latest`` means the time of
        `open` / `seek` and not of the first `poll`. A throttled or vanished shard is left to
        `poll`, which retries."""

        def make(shard: _Shard) -> Exception | None:
            try:
                shard.iterator = self._new_iterator(shard)
            except Exception as exc:
                return exc
            return None

        todo = [s for s in shards if s.iterator is None]
        for shard, error in zip(todo, self._map(make, todo), strict=True):
            if error is None or _is_transient(error) or _error_code(error) in _THROTTLED:
                continue  # `poll` tries again, with its backoff
            if _error_code(error) == "ResourceNotFoundException":
                continue
            if isinstance(error, ConfigError):
                raise error
            _raise(self.settings, error, f"open shard {shard.id}")

    def _fetch(self, shard: _Shard, limit: int) -> tuple[dict[str, Any] | None, Exception | None]:
        """One GetRecords on ``shard`` (in a worker thread): the response, or the error. An
        expired iterator is renewed from where the shard stands and the call made again."""
        try:
            if shard.iterator is None:
                shard.iterator = self._new_iterator(shard)
            try:
                return self._client.get_records(ShardIterator=shard.iterator, Limit=limit), None
            except Exception as exc:
                if _error_code(exc) != "ExpiredIteratorException":
                    raise
                shard.iterator = self._new_iterator(shard)
                return self._client.get_records(ShardIterator=shard.iterator, Limit=limit), None
        except Exception as exc:
            return None, exc

    def _fetch_all(self, ready: list[_Shard], max_records: int) -> list[Message]:
        limit = max(1, min(MAX_GET_RECORDS, math.ceil(max_records / len(ready))))
        results = self._map(lambda s: self._fetch(s, limit), ready)
        messages: list[Message] = []
        finished = False
        now = time.monotonic()
        for shard, (response, error) in zip(ready, results, strict=True):
            shard.next_call = now + self._interval
            if error is not None:
                code = _error_code(error)
                if code in _THROTTLED or _is_transient(error):
                    shard.backoff = min(max(2 * shard.backoff, self._interval), _MAX_BACKOFF)
                    shard.next_call = now + shard.backoff
                    if code in _THROTTLED:
                        continue
                    if shard.failing_since is None:
                        shard.failing_since = now
                    if now - shard.failing_since < GIVE_UP_AFTER:
                        continue
                if code == "ResourceNotFoundException" and self._stream_exists():
                    shard.exhausted = finished = True  # the shard is past retention
                    continue
                if isinstance(error, ConfigError):
                    raise error
                _raise(self.settings, error, f"read shard {shard.id}")
            assert response is not None
            shard.backoff = 0.0
            shard.failing_since = None
            finished |= self._take(shard, response, limit, messages)
        if finished:
            self._refresh(tolerant=True)
        return messages

    def _take(
        self, shard: _Shard, response: dict[str, Any], limit: int, out: list[Message]
    ) -> bool:
        """Append the records of one GetRecords to ``out``; True when the shard just finished."""
        records: list[dict[str, Any]] = response.get("Records") or []
        shard.iterator = response.get("NextShardIterator")
        millis = response.get("MillisBehindLatest")
        page = len(records)
        shard.caught_up = millis == 0 and page < limit
        if records:
            shard.read_seq = records[-1]["SequenceNumber"]
            shard.latest_ok = None
            if shard.skip_before is not None:
                records = self._skip_early(shard, records)
            if records:
                shard.position = shard.delivered = records[-1]["SequenceNumber"]
                sid = shard.id
                out.extend(
                    [
                        Message(
                            sid,
                            r["SequenceNumber"],
                            r["Data"],
                            _epoch(r.get("ApproximateArrivalTimestamp")),
                            r["PartitionKey"].encode(),
                        )
                        for r in records
                    ]
                )
        elif shard.latest_ok is not None:
            shard.latest_ok = time.time()
        if shard.iterator is None or (
            shard.ending is not None
            and (
                (page == 0 and millis == 0)  # closed and caught up: nothing more will come
                or (shard.read_seq is not None and int(shard.read_seq) >= int(shard.ending))
            )
        ):
            shard.exhausted = True
            shard.iterator = None
            return True
        return False

    @staticmethod
    def _skip_early(shard: _Shard, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop the records that arrived before ``shard.skip_before`` (until the first after)."""
        cutoff = shard.skip_before
        assert cutoff is not None
        for i, record in enumerate(records):
            arrived = _epoch(record.get("ApproximateArrivalTimestamp"))
            if arrived is None or arrived >= cutoff:
                shard.skip_before = None
                return records[i:]
        return []

    def _stream_exists(self) -> bool:
        """Tell a shard past retention (the stream is there) from a deleted stream (it is not)."""
        client = self._client
        try:
            client.describe_stream_summary(**self.settings.stream_args)
        except Exception as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                return False
            _raise(self.settings, exc, "describe the stream")
        return True

    def _last_sequence_number(self, client: Any, shard_id: str) -> str | None:
        """The last record of an open shard, read to the end from a recent time (a minute, an
        hour, a day back, then TRIM_HORIZON): the first window holding a record gives it."""
        now = datetime.now(UTC)
        starts: list[dict[str, Any]] = [
            {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": now - timedelta(seconds=back)}
            for back in (60, 3600, 86400)
        ]
        starts.append({"ShardIteratorType": "TRIM_HORIZON"})
        for start in starts:
            last = self._read_to_end(client, shard_id, start)
            if last is not None:
                return last
        return None

    def _read_to_end(self, client: Any, shard_id: str, start: dict[str, Any]) -> str | None:
        """The sequence number of the last record after ``start`` (None: there is none)."""

        def iterator_at(where: dict[str, Any]) -> str:
            try:
                response = client.get_shard_iterator(
                    **self.settings.stream_args, ShardId=shard_id, **where
                )
            except Exception as exc:
                _raise(self.settings, exc, f"read shard {shard_id}")
            return str(response["ShardIterator"])

        iterator: str | None = iterator_at(start)
        last: str | None = None
        backoff = self._interval
        while iterator:
            try:
                response = client.get_records(ShardIterator=iterator, Limit=MAX_GET_RECORDS)
            except Exception as exc:
                code = _error_code(exc)
                if code in _THROTTLED and backoff < 60:
                    time.sleep(backoff)
                    backoff *= 2
                    continue
                if code != "ExpiredIteratorException":
                    _raise(self.settings, exc, f"read shard {shard_id}")
                after = {
                    "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                    "StartingSequenceNumber": last,
                }
                iterator = iterator_at(after if last else start)
                continue
            records = response.get("Records") or []
            if records:
                last = records[-1]["SequenceNumber"]
            iterator = response.get("NextShardIterator")
            if not records and response.get("MillisBehindLatest", 0) == 0:
                break
            time.sleep(self._interval)  # 5 GetRecords per second per shard
        return last
