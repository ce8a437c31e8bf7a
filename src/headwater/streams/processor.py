"""The micro-batch loop of one stream in one process: poll, decode, commit, acknowledge, measure.

A micro-batch closes when it holds `trigger.max_records` messages or `trigger.max_seconds` have
passed since its first one. It is decoded (`headwater.streams.decode`), committed in one warehouse
transaction (`headwater.streams.sink`), and only then acknowledged to the broker. A commit that
loses its compare-and-swap (another process took the partition) is dropped and the partitions
this process still holds are read again from what is committed. A SIGTERM (`stop`) lets the
running micro-batch finish and commit, then the loop exits.

An embedded warehouse (DuckDB: one writer process per file) is opened for each commit and closed
after it, so several `stream run` processes, `stream status` and batch runs can share it; a
server warehouse stays connected.

Metrics (events/s, DLQ rate, end-to-end latency p50/p99 from the broker's timestamp to the commit,
lag per partition, watermark, last commit) go to the state store every few seconds
(`headwater.streams.monitor`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.errors import ExecutionError, HeadwaterError, LockError, TransientError
from headwater.streams.connectors import open_source
from headwater.streams.decode import Decoder
from headwater.streams.sink import LostPartition, StreamSink
from headwater.streams.source import Delivery, MessageBatch, StreamSource, ack_batch, poll_batch
from headwater.streams.state import check_source, ensure_state_tables, read_positions

if TYPE_CHECKING:
    from headwater.engines.base import Engine
    from headwater.streams.delta_sink import DeltaSink
    from headwater.streams.monitor import StreamMonitor
    from headwater.streams.spec import StreamSpec
    from headwater.streams.windows import WindowOperator

log = logging.getLogger("headwater.streams")

OUTAGE_LIMIT = 300.0
"""Seconds of broker or warehouse failures, without a success between them, before a stream gives
up (exit 1); shorter outages are ridden out with backoff."""
IDLE_SECONDS = 1.0
LATENCY_SAMPLES = 2000
"""End-to-end latencies measured per micro-batch (evenly spaced over its messages)."""
HOLD_SECONDS = 2.0
"""An embedded warehouse is kept open across back-to-back full micro-batches for at most this long."""
IDLE_LIMIT = 30.0
"""`--until-idle` gives up waiting for a consumer group to assign partitions (or for a broker to
say how far behind it is) after this many seconds without a message."""
"""`--until-idle`: the stream is idle when a poll this long brings nothing."""
PRUNE_EVERY = 20
FIRST_POLL = 16
"""Messages the first poll of a micro-batch asks for, before their size is known (each later
poll asks for at most twice what the batch holds: 16, 32, 64, ... a few more round trips per
micro-batch, and a bound on the bytes one poll can bring)."""
"""Committed-id ledgers and dedup keys are pruned every this many batches."""


@dataclass
class BatchReport:
    """What one committed micro-batch did (the console and the monitor read it)."""

    stream: str
    messages: int
    rows: int
    dlq: int
    duplicates: int
    late: int
    emitted: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    watermark: dt.datetime | None = None
    lost: bool = False
    """The commit lost its compare-and-swap: nothing was written, the messages will be read again."""


@dataclass
class RunSummary:
    stream: str
    batches: int = 0
    messages: int = 0
    rows: int = 0
    dlq: int = 0
    duplicates: int = 0
    late: int = 0
    emitted: int = 0
    lost: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    """CPU time of this process (every thread) from the first poll on: the steady state, without
    starting up (imports, reading the project, connecting)."""


def process_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Warehouse:
    """The warehouse connection of a stream process. A server stays connected. An embedded
    warehouse (DuckDB: one writer process per file) is held only while the stream has a backlog
    (full micro-batches back to back), for at most `HOLD_SECONDS`, and otherwise closed after each
    commit, so other `stream run` processes, `stream status` and batch runs get their turn; opening
    waits while another process holds it."""

    def __init__(self, open_engine: Callable[[], Engine], stop: threading.Event) -> None:
        self._open = open_engine
        self._engine: Engine | None = None
        self._server: bool | None = None
        self._held_since: float | None = None
        self.busy = False
        """Set by the processor: the last micro-batch was full (more is waiting)."""
        self._stop = stop

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Engine]:
        engine = self._engine or self._connect()
        try:
            yield engine
        finally:
            if not self._server:
                now = time.monotonic()
                if self._held_since is None:
                    self._held_since = now
                if self.busy and now - self._held_since < HOLD_SECONDS:
                    self._engine = engine  # a backlog: keep it for the next commit
                else:
                    engine.close()
                    self._engine, self._held_since = None, None

    def _connect(self) -> Engine:
        while True:
            try:
                engine = self._open()
                break
            except LockError:
                if self._stop.is_set():
                    raise
                time.sleep(0.05)  # another process commits; DuckDB gives no wait on a lock
        if self._server is None:
            self._server = engine.SERVER
        if self._server:
            self._engine = engine
        return engine

    def release(self) -> None:
        """Close a held embedded warehouse (a server connection stays)."""
        if not self._server:
            self.close()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine, self._held_since = None, None


class StreamProcessor:
    def __init__(
        self,
        spec: StreamSpec,
        open_engine: Callable[[], Engine],
        project_root: str,
        *,
        monitor: StreamMonitor | None = None,
        on_batch: Callable[[BatchReport], None] | None = None,
        stop: threading.Event | None = None,
        state_dir: str | None = None,
    ) -> None:
        self.spec = spec
        self.state_dir = state_dir or os.path.join(project_root, ".headwater")
        self.delta: DeltaSink | None = None
        self.stop = stop or threading.Event()
        self.warehouse = Warehouse(open_engine, self.stop)
        self.project_root = project_root
        self.monitor = monitor
        self.on_batch = on_batch
        self.source: StreamSource | None = None
        self.committed: dict[str, str | None] = {}
        """The committed offset of each partition this process reads (positioned brokers)."""
        self._lock = threading.Lock()
        self._quiet_since: float | None = None
        self._unacked: list[MessageBatch] = []
        """Committed batches the broker has not been told about yet."""
        self._generation: object = None
        """The source's `generation` when the batch being collected started (see `_commit`)."""
        self._trouble: tuple[float, BaseException] | None = None
        """Since when the broker or warehouse fails, and the last error (None: all is well)."""

    # -- positions ---------------------------------------------------------------------------------
    def _positions(self, partitions: list[str]) -> dict[str, str | None]:
        """Called by a positioned source on every assignment: the warehouse's offsets."""
        with self.warehouse() as engine:
            ensure_state_tables(engine)
            found = read_positions(engine, self.spec.name, partitions)
        with self._lock:
            self.committed.update(found)
        return found

    # -- windows -------------------------------------------------------------------------------------
    def _windows(self, engine: Engine) -> list[WindowOperator]:
        if not self.spec.windows:
            return []
        from headwater.streams.windows import WindowOperator

        ops = []
        for window in self.spec.windows:
            ops.append(
                WindowOperator(
                    engine,
                    window,
                    stream=self.spec.name,
                    event_time=str(self.spec.event_time),
                    late=self.spec.late,
                    output=self.spec.window_relation(window),
                    state=self.spec.relation_for(f"__hw_state_{window.name}"),
                    late_output=self.spec.relation_for("__late"),
                )
            )
        columns = [
            (c, t)
            for c, t in engine.query_columns("SELECT * FROM __hw_stream_out")
            if not c.startswith("_hw_")
        ]
        for op in ops:
            op.ensure(columns)
        return ops

    # -- outages -------------------------------------------------------------------------------------
    def _troubled(self, exc: BaseException) -> None:
        """The broker (or the warehouse) failed: remember since when; past `OUTAGE_LIMIT` of
        failures without a success in between, give up with the error."""
        now = time.monotonic()
        if self.monitor is not None:
            self.monitor.errors += 1
        if self._trouble is None:
            self._trouble = (now, exc)
            text, prefix = str(exc), f"stream `{self.spec.name}`: "
            log.warning("%s%s; retrying", "" if text.startswith(prefix) else prefix, text)
        elif now - self._trouble[0] > OUTAGE_LIMIT:
            raise exc
        else:
            self._trouble = (self._trouble[0], exc)

    def _back_off(self) -> None:
        assert self._trouble is not None
        waited = time.monotonic() - self._trouble[0]
        self.stop.wait(min(5.0, 0.2 + waited / 4))

    def _retry_acks(self, source: StreamSource) -> None:
        """Acknowledge committed batches; a broker that is away is told when it is back (until
        then it redelivers them, and the committed positions drop the repeats)."""
        while self._unacked:
            try:
                ack_batch(source, self._unacked[0])
            except (HeadwaterError, OSError) as exc:
                self._troubled(exc)
                return
            self._unacked.pop(0)

    def _commit_retrying(
        self, source: StreamSource, sink: StreamSink, decoder: Decoder, batch: MessageBatch
    ) -> BatchReport:
        """Commit, retrying the same batch while the warehouse is unreachable or busy."""
        while True:
            try:
                return self._commit(source, sink, decoder, batch)
            except (LockError, ExecutionError) as exc:
                if not _transient(exc) or (self.stop.is_set() and isinstance(exc, LockError)):
                    raise
                self._troubled(exc)
                self._back_off()

    def prepare(self, engine: Engine) -> None:
        """The state tables and the schemas of the stream's tables. Streams run as threads of one
        process create these one after the other (`run_streams`): DuckDB refuses two connections
        creating the same schema at once (a write-write conflict on the catalog)."""
        ensure_state_tables(engine)
        base = self.spec.sink.table or self.spec.dlq
        for schema in {base.schema, self.spec.dlq.schema}:
            if schema:
                engine.ensure_schema(schema)

    # -- the loop ------------------------------------------------------------------------------------
    def run(self, until_idle: bool = False, max_seconds: float | None = None) -> RunSummary:
        spec = self.spec
        summary = RunSummary(spec.name)
        started = time.monotonic()
        source = open_source(spec.source_config())
        self.source = source
        self.delta = delta_sink(spec, self.project_root, self.state_dir)
        sink = StreamSink(spec, source.delivery, source.order_key, self._windows, self.delta,
                          getattr(source, "ORDER_KEY_SQL", None),
                          getattr(source, "key_range", None))  # fmt: skip
        decoder = Decoder(spec, self.project_root)
        with self.warehouse() as engine:
            self.prepare(engine)
            if source.delivery is Delivery.POSITIONED:
                with engine.transaction():
                    check_source(engine, spec)
            if spec.expectations:
                sink.check_expectations(engine)
            if self.delta is not None:  # batches a crash left between the warehouse and Delta
                self.delta.flush(engine)
        try:
            source.open(self._positions)
            decoder.decode([])  # imports and starts the decoding engine before the clock runs
            cpu_start = time.process_time()
            while not self.stop.is_set():
                if max_seconds is not None and time.monotonic() - started >= max_seconds:
                    break
                self._retry_acks(source)
                batch = self._collect(source, until_idle, started, max_seconds)
                if not batch:
                    if self._trouble is not None:
                        self._back_off()
                        continue
                    if until_idle:
                        break
                    continue
                self.warehouse.busy = len(batch) >= spec.max_records
                report = self._commit_retrying(source, sink, decoder, batch)
                summary.batches += 1
                summary.messages += report.messages
                summary.rows += report.rows
                summary.dlq += report.dlq
                summary.duplicates += report.duplicates
                summary.late += report.late
                summary.emitted += report.emitted
                summary.lost += int(report.lost)
                if summary.batches % PRUNE_EVERY == 0:  # the ledger, and expired dedup keys
                    with contextlib.suppress(HeadwaterError):  # pruning waits for a better time
                        acked = source.delivery is Delivery.ACKED
                        floor = source.ack_floor() if acked else None
                        with self.warehouse() as engine, engine.transaction():
                            sink.prune_ledger(engine, floor)
                if self.on_batch is not None:
                    self.on_batch(report)
                if self.monitor is not None:
                    self.monitor.batch(report, source)
                if self._trouble is not None:
                    self._back_off()
        finally:
            summary.seconds = time.monotonic() - started
            summary.cpu_seconds = (
                time.process_time() - cpu_start if "cpu_start" in locals() else 0.0
            )
            if self.monitor is not None:
                with contextlib.suppress(Exception):
                    self.monitor.flush(source, final=True)
            source.close()
            decoder.close()
            self.warehouse.close()
        return summary

    def _collect(
        self, source: StreamSource, until_idle: bool, started: float, max_seconds: float | None
    ) -> MessageBatch:
        """Poll until the trigger fires: `max_records` messages, `max_bytes` of payloads, or
        `max_seconds` since the first. A poll asks for as many messages as the bytes left allow
        at the batch's mean size so far (see `FIRST_POLL`), so a topic of large messages cannot
        fill one poll past the memory the trigger allows."""
        spec = self.spec
        batch = MessageBatch.empty()
        size = 0
        self._generation = getattr(source, "generation", None)
        first_at: float | None = None
        while not self.stop.is_set():
            now = time.monotonic()
            if max_seconds is not None and now - started >= max_seconds:
                break
            if first_at is not None and now - first_at >= spec.max_seconds:
                break
            if first_at is None:  # waiting for the first message of a batch
                wait = IDLE_SECONDS if until_idle else 0.5
            else:  # the batch closes at max_seconds after its first message
                wait = min(max(0.0, spec.max_seconds - (now - first_at)), 0.5)
            # the sizes so far say how many more fit; at most twice as many as the batch holds,
            # so a topic whose messages grow cannot overshoot by much
            want = spec.max_records - len(batch)
            if batch:
                mean = max(1, size // len(batch))
                want = min(want, 2 * len(batch), max(1, (spec.max_bytes - size) // mean))
            else:
                want = min(want, FIRST_POLL)
            try:
                got = poll_batch(source, want, wait)
            except (HeadwaterError, OSError) as exc:  # the broker is away: commit what we have
                self._troubled(exc)
                break
            self._trouble = None
            if got:
                self._quiet_since = None
                if first_at is None:
                    first_at = time.monotonic()
                batch.extend(got)
                size += sum(map(len, filter(None, got.values)))
                if len(batch) >= spec.max_records or size >= spec.max_bytes:
                    break
                continue
            self.warehouse.release()  # nothing is waiting: others may have the warehouse
            if until_idle and (batch or self._idle(source)):
                break
            if self.monitor is not None:
                self.monitor.idle(source)
        return batch

    def _idle(self, source: StreamSource) -> bool:
        """`--until-idle`: nothing came, and the broker says nothing is waiting — a consumer that
        has not been given its partitions yet (a group still joining) or does not know its lag
        waits, up to `IDLE_LIMIT` seconds without a message."""
        now = time.monotonic()
        if self._quiet_since is None:
            self._quiet_since = now
        if now - self._quiet_since >= IDLE_LIMIT:
            return True
        try:
            if source.delivery is Delivery.POSITIONED and not source.assignment():
                return False
            lag = source.lag()
        except (HeadwaterError, OSError):
            return False
        return all(v == 0 for v in lag.values())

    def _commit(
        self, source: StreamSource, sink: StreamSink, decoder: Decoder, batch: MessageBatch
    ) -> BatchReport:
        t0 = time.monotonic()
        positioned = source.delivery is Delivery.POSITIONED
        generation = getattr(source, "generation", None)
        if positioned and (generation is None or generation != self._generation):
            # partitions were assigned, revoked or sought while the batch filled (or the source
            # cannot tell): keep what may be committed
            batch = _in_order(batch, source.assignment(), source.order_key)
        decoded = decoder.decode(batch)
        with self._lock:
            started = dict(self.committed)
        report = BatchReport(self.spec.name, len(batch), 0, 0, 0, 0, 0, 0.0)
        try:
            with self.warehouse() as engine:
                result = sink.commit(engine, batch, decoded, started)
        except LostPartition:
            report.lost = True
            if positioned:
                partitions = sorted(source.assignment())
                source.seek(self._positions(partitions))
            report.seconds = time.monotonic() - t0
            return report
        except ExecutionError:
            raise
        committed_at = time.time()
        self._unacked.append(batch)  # only now: the warehouse has the rows and the positions
        self._retry_acks(source)
        with self._lock:
            self.committed.update(result.offsets)
        if self.delta is not None:
            with self.warehouse() as engine:
                self.delta.flush(engine)
        report.rows, report.dlq, report.duplicates = result.rows, result.dlq, result.duplicates
        report.late, report.emitted, report.watermark = (
            result.late,
            result.emitted,
            result.watermark,
        )
        step = max(1, len(batch) // LATENCY_SAMPLES)  # quantiles from an even sample of the batch
        report.latencies = [committed_at - ts for ts in batch.timestamps[::step] if ts is not None]
        report.seconds = time.monotonic() - t0
        return report


def _in_order(batch: MessageBatch, held: set[str], order_key: Callable[[str], str]) -> MessageBatch:
    """A positioned batch as it may be committed: only partitions this process still holds, and
    per partition only messages past the ones before them — a partition revoked and assigned back
    while the batch filled is read again from its committed offset, and those repeats go."""
    keep: list[int] = []
    last: dict[str, str] = {}
    for i, (partition, offset) in enumerate(zip(batch.partitions, batch.offsets, strict=True)):
        if partition not in held:
            continue
        key = order_key(offset)
        before = last.get(partition)
        if before is not None and key <= before:
            continue
        last[partition] = key
        keep.append(i)
    return batch if len(keep) == len(batch) else batch.take(keep)


def delta_sink(spec: StreamSpec, project_root: str, state_dir: str) -> DeltaSink | None:
    if spec.sink.delta is None:
        return None
    from headwater.streams.delta_sink import DeltaSink

    return DeltaSink(spec, project_root, state_dir)


def _transient(exc: BaseException) -> bool:
    """A warehouse error a retry may fix: a lost connection, a lock, a serialization conflict."""
    if isinstance(exc, TransientError | LockError):
        return True
    cause = exc.__cause__
    text = f"{exc} {cause}".lower()
    return any(
        w in text
        for w in ("connection", "could not set lock", "conflict", "terminating", "timeout")
    )


def run_streams(
    processors: list[StreamProcessor], until_idle: bool, max_seconds: float | None
) -> list[RunSummary]:
    """Run several streams of one process, each in its own thread; the first failure stops all."""
    if len(processors) == 1:
        return [processors[0].run(until_idle, max_seconds)]
    for p in processors:  # one after the other: see `StreamProcessor.prepare`
        with p.warehouse() as engine:
            p.prepare(engine)
    results: dict[int, RunSummary] = {}
    errors: list[BaseException] = []

    def work(i: int, p: StreamProcessor) -> None:
        try:
            results[i] = p.run(until_idle, max_seconds)
        except BaseException as exc:  # reported by the caller's thread
            errors.append(exc)
            for other in processors:
                other.stop.set()

    threads = [
        threading.Thread(target=work, args=(i, p), daemon=True) for i, p in enumerate(processors)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [results[i] for i in sorted(results)]


def describe(value: Any) -> str:
    return "" if value is None else str(value)
