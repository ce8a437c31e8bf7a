"""One micro-batch, one warehouse transaction: the rows, the dead letters, the windows, the
watermark and the broker positions commit together or not at all.

Inside the transaction, in this order:

1. the stream's row of `stream_state` is updated first: on a server it is a row lock that
   serializes the commits of every process running the stream (windows and the watermark are
   shared), and it gives the watermark before this batch;
2. positions: for a positioned broker (Kafka, Kinesis) each partition's committed offset moves
   from the offset the batch started at to its last one, a compare-and-swap — a process whose
   partition was taken over (a rebalance) finds another offset there and its commit fails
   (`LostPartition`): it rolls back and reads on from what the new owner committed. For an
   acknowledged broker (Redis, NATS, RabbitMQ, MQTT) the ids of the batch go into
   `stream_committed` (a row of ids per partition and batch); ids already there are
   redeliveries of committed messages, and are dropped;
3. the expectations run over the batch: rows that fail any go to the dead-letter table with
   the names of the expectations, with the rows that could not be decoded;
4. `dedup:` drops rows whose key was seen within the window (`stream_dedup`);
5. `transform:` runs over the batch (`{{ batch }}`), once, into a temporary table that the sink
   and every window read;
6. the sink is appended to (or merged into, by `primary_key`); created on the first batch with
   the transform's columns, and new columns are added when the transform grows;
7. windows (`headwater.streams.windows`) add the batch to their state and emit what the new
   watermark closes.

The broker is told only after COMMIT returns (`StreamSource.ack`, by the processor).
The state tables are `headwater.streams.state`'s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.engines.base import Engine, quote_identifier
from headwater.errors import ConfigError, ConflictError, did_you_mean
from headwater.project.definition import Relation
from headwater.streams.decode import META_COLUMNS, SEQ, Decoded, batch_payload_text
from headwater.streams.source import Delivery, Message, MessageBatch
from headwater.streams.state import LEDGER, LEDGER_RETENTION, now_utc, read_watermark, state_table
from headwater.streams.window_spec import as_utc_naive

if TYPE_CHECKING:
    import pyarrow as pa

    from headwater.streams.delta_sink import DeltaSink
    from headwater.streams.spec import StreamSpec
    from headwater.streams.windows import WindowOperator

OUT = "__hw_stream_out"
"""The temporary table holding a batch after `transform:` (what the sink and windows read)."""
OUT_EVENTS = "__hw_stream_events"
"""The batch's own columns (without headwater's `_hw_*` ones): what the windows read."""
OUT_SINK = "__hw_stream_sink_out"
"""A merge sink's own copy of the transformed batch when windows need every event (`commit`)."""
_BATCH_REF = re.compile(r"\{\{\s*batch\s*\}\}")


class LostPartition(ConflictError):
    """A commit found another offset than the one its batch started at: another process owns the
    partition now (or reset it). Nothing was written."""


@dataclass
class CommitResult:
    rows: int = 0
    """Rows written to the sink."""
    dlq: int = 0
    duplicates: int = 0
    """Redeliveries of committed messages, and rows dropped by `dedup:`."""
    late: int = 0
    emitted: int = 0
    """Window rows written (appended or merged)."""
    watermark: dt.datetime | None = None
    offsets: dict[str, str] = field(default_factory=dict)
    """The last offset committed per partition."""


def render_transform(sql: str, relation: str, spec: StreamSpec) -> str:
    """`transform:` with `{{ batch }}` replaced by the batch's relation; any other template
    expression is an error (the transform is plain SQL over the batch)."""
    out = _BATCH_REF.sub(relation, sql)
    if "{{" in out or "{%" in out:
        raise ConfigError(
            f"stream `{spec.name}`: `transform:` may only use `{{{{ batch }}}}`",
            hint=f"write plain SQL over {{{{ batch }}}} ({spec.location})",
        )
    return out.strip().rstrip(";")


class StreamSink:
    """Commits the micro-batches of one stream into one warehouse."""

    def __init__(
        self,
        spec: StreamSpec,
        delivery: Delivery,
        order_key: Callable[[str], str],
        windows: Callable[[Engine], list[WindowOperator]] | None = None,
        delta: DeltaSink | None = None,
        order_key_sql: str | None = None,
        key_range: Callable[[list[str]], tuple[str, str]] | None = None,
    ) -> None:
        self.spec = spec
        self.delta = delta
        self.order_key_sql = order_key_sql
        """The source's `ORDER_KEY_SQL`: `order_key` as SQL over `{0}`, the offset column."""
        self.key_range = key_range
        """The source's `key_range`: the smallest and largest `order_key` of some offsets, when it
        has a faster way than SQL (fixed-width keys, which sort alike in every collation)."""
        self.delivery = delivery
        self.order_key = order_key
        self._windows = windows
        self._predicates: list[tuple[str, Any]] | None = None
        self._sink_columns: list[str] | None = None
        self._dlq_ready = False

    # -- expectations ----------------------------------------------------------------------------
    def _expectations(self) -> list[tuple[str, Any]]:
        if self._predicates is None:
            from headwater.errors import Location
            from headwater.quality.expectations import parse_expectation

            parsed = []
            path, _, line = self.spec.location.partition(":")
            for raw in self.spec.expectations:
                config = parse_expectation(
                    raw,
                    location=Location(path, int(line) if line.isdigit() else None),
                    node=self.spec.name,
                )
                parsed.append((config.type, config))
            self._predicates = parsed
        return self._predicates

    def check_expectations(self, engine: Engine) -> None:
        """Every expectation of the stream must be about single rows (it runs per micro-batch)."""
        from headwater.quality.expectations import row_predicate

        columns = [(c, t) for c, t in (self.spec.schema or {"value": "VARCHAR"}).items()]
        known = [c for c, _ in columns] + list(META_COLUMNS)
        for name, config in self._expectations():
            for key in ("column", "column_A", "column_B", "column_list"):
                named = config.kwargs.get(key)
                for column in named if isinstance(named, list) else [named]:
                    if column is not None and str(column) not in known:
                        raise ConfigError(
                            f"stream `{self.spec.name}`: expectation `{name}` names `{key}: "
                            f"{column}`, which is not a column of the stream's schema"
                            f"{did_you_mean(str(column), known)}",
                            hint=f"use one of {', '.join(known)} ({self.spec.location})",
                        )
            if row_predicate(config, "batch", columns, functions=engine.functions) is None:
                raise ConfigError(
                    f"stream `{self.spec.name}`: expectation `{name}` is not about single rows, and "
                    "a stream checks each micro-batch row by row",
                    hint="put table-level checks on the sink table (tests or expectations of a model "
                    f"that refs it) ({self.spec.location})",
                )

    # -- the commit --------------------------------------------------------------------------------
    def commit(
        self,
        engine: Engine,
        messages: Sequence[Message] | MessageBatch,
        decoded: Decoded,
        started: dict[str, str | None],
    ) -> CommitResult:
        """Write one micro-batch in one transaction (see the module docstring). ``started`` is the
        committed offset each partition's messages follow (positioned brokers)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        batch = MessageBatch.of(messages)
        spec = self.spec
        result = CommitResult()
        rows, rejects = decoded.rows, decoded.rejects
        now = now_utc()
        with engine.transaction_scope():
            wm_before, max_seen, number = self._lock_state(engine, now)
            if self.delivery is Delivery.POSITIONED:
                result.offsets = self._swap_offsets(engine, batch, started, now)
            else:
                dupes, repeats = self._ledger(engine, batch, now)
                if dupes:
                    result.duplicates += len(dupes)
                    rows = _drop_keys(rows, dupes)
                    rejects = _drop_keys(rejects, dupes)
                if repeats:  # delivered twice into this batch: the first delivery counts
                    rows, dropped = _drop_repeats(rows, repeats)
                    rejects, dropped_rejects = _drop_repeats(rejects, repeats)
                    result.duplicates += dropped + dropped_rejects
            # expectations: failing rows leave the batch for the DLQ
            failed: dict[int, str] = {}
            if spec.expectations and rows.num_rows:
                failed = self._failing(engine, rows)
            dlq_rows = [rejects]
            if failed:
                keep = pc.invert(pc.is_in(rows.column(SEQ), pa.array(list(failed), pa.int64())))
                dlq_rows.append(self._expectation_rejects(batch, failed))
                rows = rows.filter(keep)
            if spec.dedup_key and rows.num_rows:
                rows, dropped = self._dedup(engine, rows, now)
                result.duplicates += dropped
            # a merge sink keeps the last event of each key, picked before a `transform:` can
            # drop `_hw_seq`; the windows need every event, so with windows and a transform the
            # sink gets its own transformed copy of the picked events (`OUT_SINK`)
            merge = spec.sink.write_disposition == "merge"
            sink_rows = _last_per_key(rows, spec.sink.primary_key) if merge else rows
            if not spec.windows:
                rows = sink_rows
            separate = bool(merge and spec.windows and spec.transform and sink_rows is not rows)
            result.dlq = sum(t.num_rows for t in dlq_rows)
            if result.dlq:
                self._write_dlq(engine, pa.concat_tables(dlq_rows), now)
            with engine.strategies.arrow_relation(rows, "__hw_stream_batch") as rel:
                # a transform runs once, into a table the sink and the windows read; without
                # one they read the batch where it is. `_hw_seq` stays (the sink's merge keeps
                # the last event of a key by it) but is never written.
                kind = "TABLE" if spec.transform else "VIEW"
                select = (
                    render_transform(spec.transform, rel.render(), spec)
                    if spec.transform
                    else f"SELECT * FROM {rel.render()}"
                )
                engine.execute(f"CREATE TEMPORARY {kind} {OUT} AS {select}")
                try:
                    if separate:
                        assert spec.transform is not None
                        with engine.strategies.arrow_relation(sink_rows, "__hw_stream_sink") as s:
                            engine.execute(
                                f"CREATE TEMPORARY TABLE {OUT_SINK} AS "
                                + render_transform(spec.transform, s.render(), spec)
                            )
                    # the watermark follows the events the windows see: after the transform
                    batch_max = self._max_event_time(engine, rows) if rows.num_rows else None
                    if batch_max is not None and (max_seen is None or batch_max > max_seen):
                        max_seen = batch_max
                    wm_after = None if max_seen is None else max_seen - spec.watermark
                    if wm_before is not None and (wm_after is None or wm_after < wm_before):
                        wm_after = wm_before
                    result.watermark = wm_after
                    self._land(
                        engine, result, number, wm_before, wm_after, OUT_SINK if separate else OUT
                    )
                except BaseException:
                    # the failed statement may have aborted the transaction, where these fail
                    # too: report the first error (the rollback drops them)
                    with contextlib.suppress(Exception):
                        engine.execute(f"DROP VIEW IF EXISTS {OUT_EVENTS}")
                        engine.execute(f"DROP TABLE IF EXISTS {OUT_SINK}")
                        engine.execute(f"DROP {kind} IF EXISTS {OUT}")
                    raise
                engine.execute(f"DROP VIEW IF EXISTS {OUT_EVENTS}")
                engine.execute(f"DROP TABLE IF EXISTS {OUT_SINK}")
                engine.execute(f"DROP {kind} IF EXISTS {OUT}")
            engine.execute(
                f"UPDATE {state_table(engine, 'stream_state')} SET watermark = ?, max_event_time = ?, "
                "updated_at = ? WHERE stream = ?",
                [wm_after, max_seen, now, spec.name],
            )
        return result

    def _max_event_time(self, engine: Engine, rows: pa.Table) -> dt.datetime | None:
        """The largest event time of the transformed batch (`OUT`), as naive UTC; of the decoded
        ``rows`` if the transform dropped the column or made it something else than a time (a
        stream without windows may)."""
        import pyarrow.compute as pc

        name = self.spec.event_time
        if not name:
            return None
        kind = (
            {c.lower(): t.upper() for c, t in engine.query_columns(f"SELECT * FROM {OUT}")}
            if self.spec.transform
            else {}  # without one, `OUT` is ``rows``: no query needed
        )
        if "TIME" in kind.get(name.lower(), "") or "DATE" in kind.get(name.lower(), ""):
            found = engine.execute(f"SELECT max({quote_identifier(name)}) FROM {OUT}")
            value = found[0][0] if found else None
        else:
            value = pc.max(event_times(rows.column(name))).as_py()
        return None if value is None else as_utc_naive(value)

    def _land(
        self,
        engine: Engine,
        result: CommitResult,
        number: int,
        wm_before: dt.datetime | None,
        wm_after: dt.datetime | None,
        sink_source: str = OUT,
    ) -> None:
        """The batch (``sink_source``: `OUT`, or `OUT_SINK`) into the sink, then `OUT` into
        every window."""
        spec = self.spec
        if self.delta is not None:
            result.rows = self.delta.stage(engine, sink_source, number)
        elif spec.sink.table is not None:
            result.rows = self._write_sink(engine, spec.sink.table, sink_source)
        windows = self._windows(engine) if self._windows else []
        if windows:
            own = [
                c
                for c, _ in engine.query_columns(f"SELECT * FROM {OUT}")
                if not c.startswith("_hw_")
            ]
            cols = ", ".join(quote_identifier(c) for c in own)
            engine.execute(f"CREATE TEMPORARY VIEW {OUT_EVENTS} AS SELECT {cols} FROM {OUT}")
        for window in windows:
            stats = window.process(OUT_EVENTS, wm_before, wm_after)
            result.late += int(getattr(stats, "late", 0) or 0)
            result.emitted += int(getattr(stats, "emitted", 0) or 0) + int(
                getattr(stats, "updated", 0) or 0
            )

    def create_tables(self, engine: Engine, empty: pa.Table) -> list[str]:
        """Create the sink, dead-letter and window tables a first batch would create (from the
        schema and the transform, with no rows), so batch models that `ref()` them build before
        the stream has run. Returns the names of the tables created."""
        created = []
        sink = None if self.delta is not None else self.spec.sink.table
        relations = [r for r in (sink, self.spec.dlq) if r is not None]
        missing = [r for r in relations if not engine.columns(r)]
        with engine.transaction():
            rows = empty.drop_columns([SEQ]) if SEQ in empty.column_names else empty
            with engine.strategies.arrow_relation(rows, "__hw_stream_batch") as batch:
                select = (
                    render_transform(self.spec.transform, batch.render(), self.spec)
                    if self.spec.transform
                    else f"SELECT * FROM {batch.render()}"
                )
                engine.execute(f"CREATE TEMPORARY TABLE {OUT} AS {select}")
            try:
                if self.delta is not None:
                    self.delta.create_empty(engine, OUT)
                elif self.spec.sink.table is not None:
                    self._write_sink(engine, self.spec.sink.table)
                for window in self._windows(engine) if self._windows else []:
                    del window  # `ensure` (in the factory) created its tables
                import pyarrow as pa

                if self.spec.dlq in missing:
                    self._write_dlq(engine, pa.table({
                        "_hw_partition": pa.array([], pa.string()), "_hw_offset": pa.array([], pa.string()),
                        "payload": pa.array([], pa.string()), "reason": pa.array([], pa.string()),
                        "stage": pa.array([], pa.string()),
                    }), now_utc())  # fmt: skip
            finally:
                engine.execute(f"DROP TABLE IF EXISTS {OUT}")
        created = [r.render(quote=False) for r in missing]
        return created

    def _lock_state(self, engine: Engine, now: dt.datetime) -> tuple[Any, Any, int]:
        """Update the stream's state row first (a row lock that serializes the stream's commits):
        the watermark and largest event time before this batch, and this batch's number."""
        rows = engine.execute(
            f"UPDATE {state_table(engine, 'stream_state')} SET batches = batches + 1, updated_at = ? "
            "WHERE stream = ? RETURNING watermark, max_event_time, batches",
            [now, self.spec.name],
        )
        if rows:
            return rows[0][0], rows[0][1], int(rows[0][2])
        first = 1 + (self.delta.appended() if self.delta is not None else 0)
        try:
            engine.execute(
                f"INSERT INTO {state_table(engine, 'stream_state')} VALUES (?, NULL, NULL, ?, ?)",
                [self.spec.name, first, now],
            )
        except Exception as exc:
            raise LostPartition(
                f"stream `{self.spec.name}`: another process started the stream at the same time"
            ) from exc
        return None, None, first

    def _swap_offsets(
        self,
        engine: Engine,
        batch: MessageBatch,
        started: dict[str, str | None],
        now: dt.datetime,
    ) -> dict[str, str]:
        # messages of a partition arrive in order: the last one of each is the one to commit
        last = dict(zip(batch.partitions, batch.offsets, strict=True))
        table = state_table(engine, "stream_offsets")
        fresh = [(p, o) for p, o in last.items() if started.get(p) is None]
        moving = [(p, started[p], o) for p, o in last.items() if started.get(p) is not None]
        if fresh:  # nothing committed for them yet: a second process's insert fails
            try:
                engine.execute(
                    f"INSERT INTO {table} VALUES {', '.join(['(?, ?, ?, ?)'] * len(fresh))}",
                    [x for p, o in fresh for x in (self.spec.name, p, o, now)],
                )
            except Exception as exc:
                raise LostPartition(
                    f"stream `{self.spec.name}`: partition {fresh[0][0]} was committed by another "
                    "process"
                ) from exc
        if moving:  # one compare-and-swap for every partition of the batch
            moved = engine.execute(
                f'UPDATE {table} AS o SET "offset" = v.after, committed_at = ? FROM (VALUES '
                f"{', '.join(['(?, ?, ?)'] * len(moving))}) AS v(part, before, after) "
                'WHERE o.stream = ? AND o.partition = v.part AND o."offset" = v.before '
                "RETURNING o.partition",
                [now, *(x for row in moving for x in row), self.spec.name],
            )
            if len(moved) != len(moving):
                done = {str(r[0]) for r in moved}
                partition, before, _ = next(m for m in moving if m[0] not in done)
                raise LostPartition(
                    f"stream `{self.spec.name}`: partition {partition} is no longer at offset {before}"
                )
        return last

    def _ledger(
        self, engine: Engine, batch: MessageBatch, now: dt.datetime
    ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """Record the ids of the batch; return those already committed (redeliveries), and those
        the batch holds more than once (redelivered while it filled: JetStream past `ack_wait`,
        or a producer's retry with the same `message_id`).

        The ids of a batch are one row per partition (a JSON array, with the smallest and the
        largest of their order keys), not a row per id: a row per id made the ledger the largest
        part of a commit. A redelivery check reads only the rows whose key range overlaps the
        batch's, usually none (new messages sort after everything committed)."""

        if not any(batch.offsets):
            return set(), set()
        ids_of: dict[str, list[str]] = {}
        if batch.partitions.count(batch.partitions[0]) == len(batch):
            ids_of[batch.partitions[0]] = [o for o in batch.offsets if o]
        else:
            for partition, offset in zip(batch.partitions, batch.offsets, strict=True):
                if offset:  # messages without an id are delivered at least once
                    ids_of.setdefault(partition, []).append(offset)
        repeats: set[tuple[str, str]] = set()
        for partition, ids in ids_of.items():
            unique = list(dict.fromkeys(ids))
            if len(unique) != len(ids):
                counts = Counter(ids)
                repeats.update((partition, o) for o, n in counts.items() if n > 1)
                ids_of[partition] = unique
        ranges = self._key_ranges(engine, {p: ids for p, ids in ids_of.items() if ids})
        ledger = state_table(engine, LEDGER)
        dupes: set[tuple[str, str]] = set()
        # commits of one stream are serialized by the `stream_state` row each updates first, so
        # what the committed rows do not hold is new
        for partition, low, high in ranges:
            partition = str(partition)
            ids = ids_of[partition]
            seen: set[str] = set()
            for (text,) in engine.execute(
                f"SELECT ids FROM {ledger} WHERE stream = ? AND partition = ? AND last_key >= ? "
                "AND first_key <= ?",
                [self.spec.name, partition, low, high],
            ):
                seen.update(json.loads(text))
            if seen:
                again = {o for o in ids if o in seen}
                if again:
                    dupes.update((partition, o) for o in again)
                    ids = [o for o in ids if o not in again]
            if ids:  # (the key range may be wider than the ids left: it only selects rows)
                engine.execute(
                    f"INSERT INTO {ledger} (stream, partition, first_key, last_key, ids, "
                    "committed_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [self.spec.name, partition, low, high, json.dumps(ids), now],
                )
        return dupes, repeats

    def _key_ranges(
        self, engine: Engine, ids_of: dict[str, list[str]]
    ) -> list[tuple[str, str, str]]:
        """(partition, smallest order key, largest order key) of each partition's ids: the
        source's `key_range` where it has one, else in SQL (in the warehouse's collation, which
        the ledger's comparisons use too)."""
        import pyarrow as pa

        if self.key_range is not None:
            return [(p, *self.key_range(ids)) for p, ids in ids_of.items()]
        columns = {
            "_hw_partition": pa.array([p for p, ids in ids_of.items() for _ in ids], pa.string()),
            "_hw_offset": pa.array([o for ids in ids_of.values() for o in ids], pa.string()),
        }
        if self.order_key_sql is None:
            columns["order_key"] = pa.array(
                [self.order_key(o) for ids in ids_of.values() for o in ids], pa.string()
            )
        order = self.order_key_sql.format("i._hw_offset") if self.order_key_sql else "i.order_key"
        with engine.strategies.arrow_relation(pa.table(columns), "__hw_stream_ids") as rel:
            return [
                (str(p), str(low), str(high))
                for p, low, high in engine.execute(
                    f"SELECT i._hw_partition, min({order}), max({order}) FROM {rel.render()} AS i "
                    "GROUP BY i._hw_partition"
                )
            ]

    def prune_ledger(self, engine: Engine, floor: str | None) -> None:
        """Forget committed ids the broker will not redeliver: below its acknowledgement floor, or
        (no floor) older than `LEDGER_RETENTION`."""
        ledger = state_table(engine, LEDGER)
        if floor is not None:
            engine.execute(
                f"DELETE FROM {ledger} WHERE stream = ? AND last_key < ?",
                [self.spec.name, self.order_key(floor)],
            )
        else:
            engine.execute(
                f"DELETE FROM {ledger} WHERE stream = ? AND committed_at < ?",
                [self.spec.name, now_utc() - LEDGER_RETENTION],
            )
        if self.spec.dedup_within is not None:
            engine.execute(
                f"DELETE FROM {state_table(engine, 'stream_dedup')} WHERE stream = ? AND seen_at < ?",
                [self.spec.name, self._dedup_floor(engine)],
            )

    def _dedup_floor(self, engine: Engine) -> dt.datetime:
        assert self.spec.dedup_within is not None
        if self.spec.event_time:
            wm, _ = read_watermark(engine, self.spec.name)
            if wm is not None:
                floor: dt.datetime = wm - self.spec.dedup_within
                return floor
        return now_utc() - self.spec.dedup_within

    def _failing(self, engine: Engine, rows: pa.Table) -> dict[int, str]:
        """`_hw_seq` -> names of the expectations the row fails."""
        from headwater.quality.expectations import row_predicate

        with engine.strategies.arrow_relation(rows, "__hw_stream_check") as rel:
            relation = rel.render()
            columns = engine.query_columns(f"SELECT * FROM {relation}")
            cases = []
            for name, config in self._expectations():
                predicate = row_predicate(config, relation, columns, functions=engine.functions)
                if predicate is None:
                    continue
                label = (
                    name
                    if not config.kwargs.get("column")
                    else f"{name}({config.kwargs['column']})"
                )
                cases.append(
                    f"CASE WHEN {predicate} THEN '{label.replace(chr(39), chr(39) * 2)}' END"
                )
            if not cases:
                return {}
            found = engine.execute(
                f"SELECT {SEQ}, failed FROM (SELECT {SEQ}, concat_ws(', ', {', '.join(cases)}) AS failed "
                f"FROM {relation}) AS c WHERE failed <> ''"
            )
        return {int(s): f"failed {f}" for s, f in found}

    def _expectation_rejects(self, batch: MessageBatch, failed: dict[int, str]) -> pa.Table:
        import pyarrow as pa

        seqs = sorted(failed)
        return pa.table(
            {
                "_hw_partition": pa.array([batch.partitions[s] for s in seqs], pa.string()),
                "_hw_offset": pa.array([batch.offsets[s] for s in seqs], pa.string()),
                "payload": pa.array([batch_payload_text(batch, s) for s in seqs], pa.string()),
                "reason": pa.array([failed[s] for s in seqs], pa.string()),
                "stage": pa.array(["expectation"] * len(seqs), pa.string()),
            }
        )

    def _dedup(self, engine: Engine, rows: pa.Table, now: dt.datetime) -> tuple[pa.Table, int]:
        """The batch without duplicates: an event whose key was seen (in an earlier batch, or
        before it in this one) at most `within` apart in event time (processing time without
        `event_time:`) is dropped. The store keeps each key's latest time; `prune_ledger` forgets
        keys `within` behind the watermark."""
        import pyarrow as pa

        spec = self.spec
        assert spec.dedup_within is not None
        within = spec.dedup_within
        key_cols = [rows.column(k).to_pylist() for k in spec.dedup_key]
        keys = [json.dumps(list(vals), default=str) for vals in zip(*key_cols, strict=True)]
        times: list[dt.datetime] = [
            t or now
            for t in (
                event_times(rows.column(spec.event_time)).to_pylist()
                if spec.event_time
                else [now] * len(keys)
            )
        ]
        distinct = pa.table({"key": pa.array(list(dict.fromkeys(keys)), pa.string())})
        store = state_table(engine, "stream_dedup")
        with engine.strategies.arrow_relation(distinct, "__hw_stream_keys") as rel:
            last: dict[str, dt.datetime] = {
                str(k): as_utc_naive(t)
                for k, t in engine.execute(
                    f"SELECT d.key, max(d.seen_at) FROM {rel.render()} AS k JOIN {store} AS d "
                    "ON d.stream = ? AND d.key = k.key GROUP BY d.key",
                    [spec.name],
                )
            }
            keep: list[int] = []
            for i, (key, t) in enumerate(zip(keys, times, strict=True)):
                before = last.get(key)
                if before is not None and abs(t - before) <= within:
                    continue
                keep.append(i)
                last[key] = t if before is None else max(t, before)
            kept_keys = list(dict.fromkeys(keys[i] for i in keep))
            if kept_keys:
                latest = pa.table(
                    {"key": pa.array(kept_keys, pa.string()),
                     "seen_at": pa.array([last[k] for k in kept_keys], pa.timestamp("us"))}
                )  # fmt: skip
                with engine.strategies.arrow_relation(latest, "__hw_stream_seen") as fresh:
                    engine.execute(
                        f"DELETE FROM {store} WHERE stream = ? AND key IN "
                        f"(SELECT key FROM {fresh.render()})",
                        [spec.name],
                    )
                    engine.execute(
                        f"INSERT INTO {store} SELECT ?, key, seen_at FROM {fresh.render()}",
                        [spec.name],
                    )
        kept = rows.take(pa.array(keep, pa.int64()))
        return kept, rows.num_rows - kept.num_rows

    def _write_sink(self, engine: Engine, relation: Relation, source: str = OUT) -> int:
        engine.ensure_schema(relation.schema)
        all_cols = engine.query_columns(f"SELECT * FROM {source}")
        out_cols = [(c, t) for c, t in all_cols if c != SEQ]
        have = engine.columns(relation)
        if not have:
            listed = ", ".join(quote_identifier(c) for c, _ in out_cols)
            engine.execute(
                f"CREATE TABLE {relation.render()} AS SELECT {listed} FROM {source} LIMIT 0"
            )
            engine._remember(relation, "table")
            have = out_cols
        else:
            known = {c.lower() for c, _ in have}
            for col, type_name in out_cols:
                if col.lower() not in known:  # the transform grew: the sink grows with it
                    engine.strategies.add_column(relation, col, type_name)
        names = [c for c, _ in out_cols]
        if self.spec.sink.write_disposition == "merge":
            keys = self.spec.sink.primary_key
            missing = [k for k in keys if k not in names]
            if missing:
                raise ConfigError(
                    f"stream `{self.spec.name}`: primary_key `{missing[0]}` is not a column of the batch",
                    hint=f"keep it in `transform:` ({self.spec.location})",
                )
            # the last event of each key wins: in the batch's order (`_hw_seq`) if the transform
            # kept it, else by broker time
            latest = Relation("", "__hw_stream_latest")
            part = ", ".join(quote_identifier(k) for k in keys)
            listed = ", ".join(quote_identifier(c) for c in names)
            order = SEQ if any(c == SEQ for c, _ in all_cols) else "_hw_broker_time"
            engine.execute(
                f"CREATE TEMPORARY TABLE {latest.render()} AS SELECT {listed} FROM (SELECT *, row_number() "
                f"OVER (PARTITION BY {part} ORDER BY {order} DESC) AS __hw_rn FROM {source}) AS r "
                "WHERE __hw_rn = 1"
                if order == SEQ or "_hw_broker_time" in names
                else f"CREATE TEMPORARY TABLE {latest.render()} AS SELECT DISTINCT ON ({part}) {listed} FROM {source}"
            )
            update = [c for c in names if c not in keys]
            updated, inserted = engine.strategies.merge(relation, latest, names, keys, update)
            engine.execute(f"DROP TABLE IF EXISTS {latest.render()}")  # a failure rolls it back
            return updated + inserted
        appended = engine.strategies.append(relation, Relation("", source), names)
        return int(appended or 0)

    def _write_dlq(self, engine: Engine, rejects: pa.Table, now: dt.datetime) -> None:
        import pyarrow as pa

        relation = self.spec.dlq
        if not self._dlq_ready:
            engine.ensure_schema(relation.schema)
            engine.execute(
                f"CREATE TABLE IF NOT EXISTS {relation.render()} (stream VARCHAR, partition VARCHAR, "
                '"offset" VARCHAR, payload VARCHAR, reason VARCHAR, stage VARCHAR, failed_at TIMESTAMP)'
            )
            self._dlq_ready = True
        n = rejects.num_rows
        table = pa.table(
            {
                "stream": pa.array([self.spec.name] * n, pa.string()),
                "partition": rejects.column("_hw_partition"),
                "offset": rejects.column("_hw_offset"),
                "payload": rejects.column("payload"),
                "reason": rejects.column("reason"),
                "stage": rejects.column("stage"),
                "failed_at": pa.array([now] * n, pa.timestamp("us")),
            }
        )
        engine.strategies.append_arrow(relation, table)


def event_times(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """An event-time column as naive UTC microsecond timestamps, the type of the watermark and of
    the dedup store, whatever the column's type: TIMESTAMPTZ (to its UTC time), DATE (midnight),
    seconds to nanoseconds."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_timestamp(kind) and kind.tz is None and kind.unit == "us":
        return column
    return column.cast(pa.timestamp("us"), safe=False)


def _last_per_key(rows: pa.Table, keys: list[str]) -> pa.Table:
    """Only the last row (in broker order) of each primary key in the batch. Keys the transform
    makes are left to the sink's SQL."""
    import pyarrow as pa

    if not keys or not rows.num_rows or not all(k in rows.column_names for k in keys):
        return rows
    last: dict[tuple[object, ...], int] = {}
    for i, key in enumerate(zip(*(rows.column(k).to_pylist() for k in keys), strict=True)):
        last[key] = i
    if len(last) == rows.num_rows:
        return rows
    return rows.take(pa.array(sorted(last.values()), pa.int64()))


def _drop_repeats(table: pa.Table, keys: set[tuple[str, str]]) -> tuple[pa.Table, int]:
    """``table`` with only the first row (in batch order) of each of ``keys`` (partition, id);
    and how many rows went."""
    import pyarrow as pa

    if not table.num_rows:
        return table, 0
    wanted = {f"{p}\x00{o}" for p, o in keys}
    kept: list[int] = []
    first: set[str] = set()
    ids = zip(
        table.column("_hw_partition").to_pylist(),
        table.column("_hw_offset").to_pylist(),
        strict=True,
    )
    for i, (p, o) in enumerate(ids):
        key = f"{p}\x00{o}"
        if key in wanted:
            if key in first:
                continue
            first.add(key)
        kept.append(i)
    if len(kept) == table.num_rows:
        return table, 0
    return table.take(pa.array(kept, pa.int64())), table.num_rows - len(kept)


def _drop_keys(table: pa.Table, keys: set[tuple[str, str]]) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not table.num_rows:
        return table
    joined = pc.binary_join_element_wise(
        table.column("_hw_partition"), table.column("_hw_offset"), "\x00"
    )
    drop = pa.array([f"{p}\x00{o}" for p, o in keys], pa.string())
    return table.filter(pc.invert(pc.is_in(joined, drop)))
