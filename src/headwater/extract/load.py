"""The loader: one place that writes what any connector extracted into the warehouse.

For every `Batch`, in **one transaction**:

1. the rows get `_hw_loaded_at`, `_hw_batch_id` (and `_hw_source_file` for files);
2. the schema is reconciled with the table per the source's `schema_contract` (`evolve`: add
   columns and widen types; `freeze`: fail with the diff; `discard_row`: reject rows that carry
   values in unknown columns; `discard_value`: drop unknown columns) and every change is recorded;
3. values that cannot be coerced to the table's types, and the records the connector could not
   read, go to `<table>__rejected` with the raw record, the reason (naming the column; messages
   cut to a readable length), file and line (asked of the batch: `Batch.line_of`);
4. the rows are written per `write_disposition` (`append`; `merge` by `primary_key`, the last row
   of a key winning; `replace` swaps the whole table at the end of the run — unless it would
   empty, or with `max_row_drop` shrink, a table that has rows: `headwater.extract.guard`);
5. the extract state (files loaded with their checksums, the cursor) is updated.

A batch without rows (an empty file) still commits its rejected records and its state. A crash
between batches loses nothing and duplicates nothing: the next run starts from the last committed
state. A connector whose batches only make sense together (`Connector.atomic`: an API's pages
without a cursor) has all of them committed in one transaction. `max_rejected` (a count, or a
fraction such as `0.01`) turns too many bad records into a failure.

The policy is the same on every engine; the engine supplies the statements (`engine.statements`,
`engine.strategies`) and the functions that differ (`engine.functions`), and the rest is SQL both
DuckDB and PostgreSQL accept alike. How a batch's rows reach the warehouse is the engine's fastest
path: on DuckDB an Arrow batch is read in place (a registered view) and a file scan
(`Batch.scan`: `read_csv` / `read_parquet`) runs in the warehouse itself; on PostgreSQL an Arrow
batch is copied into a temporary table (`COPY`, `Strategies.arrow_relation`) and a file scan is
run by the local DuckDB (`headwater.engines.local`) into Arrow first. Either way the rows, their
rejects and the load state commit in one transaction of the warehouse.

Known differences on PostgreSQL (documented, tested in ``tests/engines/test_loads.py``): a value
of a file that does not convert to the table's type is rejected without its line number (DuckDB
re-reads the file with the table's types and reports the line); the raw JSON of a rejected row
spells timestamps as PostgreSQL does (``2024-01-01T10:00:00``); decimal precision changes of an
incoming column are not seen as schema changes (PostgreSQL describes a query's numeric columns
without their precision), the insert converts the values instead.

The schema side (step 2, and the rows a type or the contract rejects) is
`headwater.extract.load_schema`; merging small batches and batch ids `headwater.extract.load_batches`;
the state tables `headwater.extract.load_state`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from headwater.engines.base import Engine, quote_identifier, quote_literal
from headwater.errors import ConfigError, ExecutionError, SQLExecutionError
from headwater.extract.base import Batch, Connector, ExtractState, Rejected, Rescan, read_scan
from headwater.extract.clip import clip_message
from headwater.extract.guard import ReplaceGuard
from headwater.extract.keys import CONTRACTS, DISPOSITIONS
from headwater.extract.load_batches import LOAD_ROWS, coalesce, new_batch_id, no_rows
from headwater.extract.load_schema import META, BadRows, SchemaReconciler
from headwater.extract.load_state import (
    _state,
    encode,
    ensure_state_tables,
    read_state,
)
from headwater.project.definition import Relation

ROW = "__hw_row"
"""The position of a rejected row in its batch, to ask `Batch.line_of` for its source line."""
__all__ = ["CONTRACTS", "DISPOSITIONS", "LoadResult", "Loader", "new_batch_id"]


def _q(name: str) -> str:
    return quote_identifier(name)


@dataclass
class LoadResult:
    rows: int = 0
    batches: int = 0
    rejected: int = 0
    files: list[str] = field(default_factory=list)
    empty_files: list[str] = field(default_factory=list)
    """Files with nothing in them (recorded as loaded, so they are not read again)."""
    schema_changes: list[str] = field(default_factory=list)
    cursor: Any = None
    rejected_relation: str = ""
    first_rejected: str | None = None
    """Where and why the first record of the load was rejected (cut to a line), for the console."""

    def message(self) -> str:
        parts = [f"{self.rows:,} rows in {self.batches} batches"]
        if self.files:
            parts.append(
                f"{len(self.files)} files"
                + (f" ({len(self.empty_files)} empty)" if self.empty_files else "")
            )
        if self.rejected:
            parts.append(f"{self.rejected:,} rejected")
        if self.schema_changes:
            parts.append("schema: " + "; ".join(self.schema_changes))
        return ", ".join(parts)


# -- the loader -------------------------------------------------------------------------------------
class Loader:
    """Loads one source table from its connector."""

    def __init__(
        self, engine: Engine, relation: Relation, connector: Connector, invocation_id: str = ""
    ) -> None:
        self.engine = engine
        self.relation = relation
        self.connector = connector
        self.invocation_id = invocation_id
        cfg = {**connector.hints(), **connector.config}
        # the connector's hints may change the default (an API without a cursor: replace)
        self.disposition = str(cfg.get("write_disposition") or "append")
        if self.disposition not in DISPOSITIONS:
            raise ConfigError(
                f"source `{connector.name}`: unknown write_disposition `{self.disposition}`",
                hint="use append, replace or merge",
            )
        key = cfg.get("primary_key")
        self.primary_key = (
            [str(k) for k in key] if isinstance(key, list) else ([str(key)] if key else [])
        )
        if self.disposition == "merge" and not self.primary_key:
            raise ConfigError(
                f"source `{connector.name}` uses write_disposition merge but has no `primary_key`",
                hint="add `primary_key: <column>` (or a list) under the table's `extract:`",
            )
        self.contract = str(cfg.get("schema_contract") or "evolve")
        if self.contract not in CONTRACTS:
            raise ConfigError(
                f"source `{connector.name}`: unknown schema_contract `{self.contract}`",
                hint="use " + ", ".join(CONTRACTS),
            )
        self.max_rejected = cfg.get("max_rejected")
        # a landing table has no row order: letting DuckDB write it in parallel without keeping the
        # input order loads 10M CSV rows ~18% faster; merge keeps it (the last row of a key wins)
        self.preserve_order = bool(cfg.get("preserve_order", False)) or self.disposition == "merge"
        self.key = connector.name
        self.rejected_relation = Relation(
            relation.schema, relation.identifier + "__rejected", relation.database
        )
        self.target = relation
        self.guard = ReplaceGuard.from_config(cfg)
        # all batches in one transaction (a replace is all-or-nothing already: staged, then swapped)
        self.atomic = connector.atomic and self.disposition != "replace"
        self._outer = False
        self.result = LoadResult(rejected_relation=self.rejected_relation.render(quote=False))
        self.schema = SchemaReconciler(engine, self.key, self.contract, self.result.schema_changes)
        # a `Batch.scan` is DuckDB SQL (`read_csv` / `read_parquet` of a local file): an engine that
        # speaks DuckDB runs it itself, any other gets the rows read by the local DuckDB as Arrow
        self.scans_in_warehouse = engine.DIALECT == "duckdb"

    def run(self, full_refresh: bool = False) -> LoadResult:
        engine = self.engine
        engine.ensure_schema(self.relation.schema)
        ensure_state_tables(engine)
        if full_refresh:  # forget what was loaded: everything is extracted again
            with engine.transaction():
                engine.execute(
                    f"DELETE FROM {_state(engine, 'load_state')} WHERE source = ?", [self.key]
                )
                engine.execute(
                    f"DELETE FROM {_state(engine, 'loaded_files')} WHERE source = ?", [self.key]
                )
                if self.disposition != "replace":
                    engine.drop(self.relation)
        state = read_state(engine, self.key)
        if self.disposition == "replace":  # the new table is everything the source has now
            state.loaded_files, state.cursor = {}, None
        self.result.cursor = state.cursor
        if self.disposition == "replace":
            self.target = engine.staging_relation(self.relation)
            engine.drop(self.target)
            if engine.columns(self.relation):
                # the new table starts from the published one's columns, so a replace load evolves,
                # freezes and records schema changes like any other (columns are never dropped)
                engine.execute(
                    engine.statements.create_as(
                        self.target, f"SELECT * FROM {self.relation.render()} LIMIT 0"
                    )
                )
                engine._remember(self.target, "table")
        extracted = self.connector.extract(state)
        try:
            with self._all_or_nothing():
                for batch in coalesce(
                    extracted, int(self.connector.config.get("load_rows") or LOAD_ROWS)
                ):
                    self._load_batch(batch, state)
        finally:
            close = getattr(extracted, "close", None)
            if (
                close is not None
            ):  # a failed load releases the connector's files and connections now
                close()
        if self.disposition == "replace":
            self._swap_replace()
        return self.result

    @contextmanager
    def _all_or_nothing(self) -> Iterator[None]:
        """One transaction around every batch of an `atomic` source: a failure (page 3 of an API
        answering 500) rolls back the pages before it, so a retry cannot load them twice."""
        if not self.atomic:
            yield
            return
        with self.engine.transaction():
            self._outer = True
            try:
                yield
            finally:
                self._outer = False

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """A batch's transaction (the run's, when it is all-or-nothing)."""
        if self._outer:
            yield
        else:
            with self.engine.transaction():
                yield

    # -- temporary relations -------------------------------------------------------------------
    @contextmanager
    def _dropped_after(self, relation: Relation, kind: str) -> Iterator[None]:
        """Drop a temporary relation when the body is done. After a failure the drop may be
        refused (a failed statement aborts the open transaction): then the rollback removes what
        the transaction made, and the body's error is the one reported."""
        drop = self.engine.statements.drop(relation, kind)
        try:
            yield
        except BaseException:
            with contextlib.suppress(SQLExecutionError):
                self.engine.execute(drop)
            raise
        self.engine.execute(drop)

    @contextmanager
    def _arrow(self, table: Any, name: str) -> Iterator[Relation]:
        """An Arrow table readable by SQL (`Strategies.arrow_relation`: DuckDB reads it in place,
        PostgreSQL copies it into a temporary table), released like `_dropped_after` (DuckDB's
        unregistering of the view fails in an aborted transaction with its own error type)."""
        manager = self.engine.strategies.arrow_relation(table, name)
        relation = manager.__enter__()
        try:
            yield relation
        except BaseException as exc:
            with contextlib.suppress(Exception):
                manager.__exit__(type(exc), exc, exc.__traceback__)
            raise
        manager.__exit__(None, None, None)

    @contextmanager
    def _rows_of(self, batch: Batch, name: str) -> Iterator[Relation]:
        """The batch's rows as a temporary relation: its scan as a view, or its Arrow table."""
        if batch.scan is not None:
            view = Relation("", name)
            self.engine.execute(
                self.engine.statements.create_as(view, batch.scan, "view", temporary=True)
            )
            with self._dropped_after(view, "view"):
                yield view
            return
        assert batch.table is not None
        with self._arrow(
            batch.table.drop_columns([c for c in META if c in batch.table.column_names]), name
        ) as rel:
            yield rel

    # -- one batch ---------------------------------------------------------------------------
    def _load_batch(self, batch: Batch, state: ExtractState) -> None:
        if batch.scan is not None and not self.scans_in_warehouse:
            from headwater.engines import local

            read_scan(
                batch, local.execute, local.fetch_arrow
            )  # the rows as Arrow, with the lines it skipped
        attempts = 4
        changes = len(self.result.schema_changes)
        for _ in range(attempts):
            try:
                rows, rejected = self._load_once(batch, state)
                break
            except (
                Rescan
            ) as again:  # rolled back: the connector asks for another scan of the same input
                del self.result.schema_changes[changes:]  # rolled back with it
                batch.scan = again.sql
        else:  # pragma: no cover - a connector that never settles
            raise ExecutionError(f"source `{self.key}`: the scan of {batch.source_file or 'a batch'} did not settle "
                                 f"after {attempts} attempts", node=self.key)  # fmt: skip
        self.result.batches += 1
        self.result.rows += rows
        self.result.rejected += rejected
        if batch.source_file and batch.final:
            self.result.files.append(batch.source_file)
            if no_rows(batch) and not rejected:
                self.result.empty_files.append(batch.source_file)
        if batch.cursor is not None:
            state.cursor = batch.cursor if state.cursor is None else max(state.cursor, batch.cursor)
            self.result.cursor = state.cursor

    def _load_once(self, batch: Batch, state: ExtractState) -> tuple[int, int]:
        """Write one batch with its rejected records and state in one transaction: (rows, rejected)."""
        if no_rows(batch):
            return self._load_empty(batch, state)
        engine = self.engine
        batch_id = str(new_batch_id())
        view = Relation("", f"__hw_batch_{batch_id}")
        # metadata columns are constants of the view, not Python-built arrays (10M rows: 0 s vs ~1.5 s)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        # the batch id is a BIGINT: constant TIMESTAMP and BIGINT columns cost DuckDB almost nothing
        # to write, a UUID ~7% and a 36-character VARCHAR ~12% of a 10M-row Parquet load
        meta = [
            f"TIMESTAMP {quote_literal(now)} AS _hw_loaded_at",
            f"CAST({batch_id} AS BIGINT) AS _hw_batch_id",
        ]
        if batch.source_file is not None:
            meta.append(f"CAST({quote_literal(batch.source_file)} AS VARCHAR) AS _hw_source_file")
        try:
            with self._rows_of(batch, f"__hw_rows_{batch_id}") as raw:
                body = f"SELECT *, {', '.join(meta)} FROM {raw.render()}"
                engine.execute(engine.statements.create_as(view, body, "view", temporary=True))
                with self._dropped_after(view, "view"), self._transaction():
                    incoming = list(engine.query_columns(f"SELECT * FROM {view.render()}"))
                    columns, select, bad = self.schema.reconcile(
                        self.target, incoming, view, batch_id, batch
                    )
                    rejected = self._write_rejected(batch.rejected, batch_id)
                    rejected += self._write_bad_rows(bad, view, incoming, batch, batch_id)
                    rows = self._write_rows(columns, select, view, bad.predicate, batch.keep_order)
                    if batch.hooks is not None:  # the records the warehouse's scan skipped
                        rejected += self._write_rejected(
                            batch.hooks.harvest(engine.execute), batch_id
                        )
                    self._check_rejected(rejected, rows, batch)
                    self._write_state(batch, state, batch_id, rows)
                    self._remember_first_rejected(rejected, batch_id)
        except SQLExecutionError as exc:
            if batch.hooks is None:
                raise
            raise batch.hooks.error(exc) from None
        return rows, rejected

    def _load_empty(self, batch: Batch, state: ExtractState) -> tuple[int, int]:
        """A batch without rows (an empty file): its rejected records and state, committed together."""
        batch_id = str(new_batch_id())
        with self._transaction():
            rejected = self._write_rejected(batch.rejected, batch_id)
            self._check_rejected(rejected, 0, batch)
            self._write_state(batch, state, batch_id, 0)
            self._remember_first_rejected(rejected, batch_id)
        return 0, rejected

    def _rejected_table(self) -> str:
        rel = self.rejected_relation
        self.engine.execute(
            f"CREATE TABLE IF NOT EXISTS {rel.render()} (raw VARCHAR, reason VARCHAR, source_file VARCHAR, "
            "line BIGINT, _hw_batch_id BIGINT, _hw_loaded_at TIMESTAMP)"
        )
        self.engine._remember(rel, "table")
        return rel.render()

    def _write_rejected(self, records: list[Rejected], batch_id: str) -> int:
        """The records the connector (or the warehouse's scan) could not read; the whole record
        is kept, its reason cut to a readable length."""
        if not records:
            return 0
        import pyarrow as pa

        table = self._rejected_table()
        rows = pa.table({
            "raw": pa.array([r.raw for r in records], pa.string()),
            "reason": pa.array([clip_message(r.reason) for r in records], pa.string()),
            "source_file": pa.array([r.source_file for r in records], pa.string()),
            "line": pa.array([r.line for r in records], pa.int64()),
        })  # fmt: skip
        with self._arrow(rows, f"__hw_rejected_{batch_id}") as rel:
            self.engine.execute(
                f"INSERT INTO {table} SELECT raw, reason, source_file, line, CAST({batch_id} AS BIGINT), "
                f"{self.engine.functions.now_timestamp()} FROM {rel.render()}"
            )
        return len(records)

    def _write_bad_rows(
        self,
        bad: BadRows,
        view: Relation,
        incoming: list[tuple[str, str]],
        batch: Batch,
        batch_id: str,
    ) -> int:
        """The rows of the batch that the schema contract or a type rejects, each with its reason
        (naming the column) and, when the batch can tell, its line in the source."""
        if bad.predicate is None:
            return 0
        table = self._rejected_table()
        has_file = any(n == "_hw_source_file" for n, _ in incoming)
        if batch.scan is not None or batch.line_of is None:
            source = "v._hw_source_file" if has_file else "NULL"
            rows = self.engine.execute(
                f"INSERT INTO {table} SELECT {self.engine.functions.to_text('to_json(v)')}, {bad.reason}, {source}, NULL, "
                f"v._hw_batch_id, v._hw_loaded_at FROM {view.render()} AS v WHERE {bad.predicate}"
            )
            return int(rows[0][0]) if rows and rows[0] else 0
        return self._write_bad_rows_with_lines(
            bad, view, [n for n, _ in incoming], batch, batch_id, table, has_file
        )

    def _write_bad_rows_with_lines(
        self,
        bad: BadRows,
        view: Relation,
        names: Sequence[str],
        batch: Batch,
        batch_id: str,
        table: str,
        has_file: bool,
    ) -> int:
        """The bad rows of an Arrow batch with their source lines: their positions in the batch
        (in the order the warehouse reads the Arrow table: DuckDB's view, PostgreSQL's freshly
        copied temporary table) go to `Batch.line_of` — on the bad path only. The raw record is
        the JSON of the batch's own columns (a lateral projection leaves the position out)."""
        import pyarrow as pa

        assert batch.line_of is not None
        engine = self.engine
        found, reason = Relation("", f"__hw_bad_{batch_id}"), "__hw_reason"
        engine.execute(engine.statements.create_as(
            found,
            f"SELECT *, {bad.reason} AS {reason} FROM (SELECT row_number() OVER () - 1 AS {ROW}, * FROM {view.render()}) "
            f"AS n WHERE {bad.predicate}",
            "table", temporary=True,
        ))  # fmt: skip
        with self._dropped_after(found, "table"):
            positions = [
                int(r[0]) for r in engine.execute(f"SELECT {ROW} FROM {found.render()} ORDER BY 1")
            ]
            numbers = pa.table(
                {
                    "__hw_r": pa.array(positions, pa.int64()),
                    "__hw_l": pa.array(batch.line_of(positions), pa.int64()),
                }
            )
            with self._arrow(numbers, f"__hw_lines_{batch_id}") as lines:
                own = ", ".join(f"f.{_q(n)}" for n in names)
                source = "f._hw_source_file" if has_file else "NULL"
                rows = engine.execute(
                    f"INSERT INTO {table} SELECT {engine.functions.to_text('to_json(v)')}, f.{reason}, {source}, m.__hw_l, "
                    f"f._hw_batch_id, f._hw_loaded_at FROM {found.render()} AS f CROSS JOIN LATERAL (SELECT {own}) AS v "
                    f"LEFT JOIN {lines.render()} AS m ON f.{ROW} = m.__hw_r"
                )
        return int(rows[0][0]) if rows and rows[0] else 0

    def _remember_first_rejected(self, rejected: int, batch_id: str) -> None:
        """Where and why the run's first record was rejected, for the node's message."""
        if not rejected or self.result.first_rejected is not None:
            return
        rows = self.engine.execute(
            f"SELECT reason, source_file, line FROM {self.rejected_relation.render()} WHERE _hw_batch_id = ? "
            "ORDER BY line NULLS LAST LIMIT 1",
            [int(batch_id)],
        )
        if rows:
            reason, source_file, line = rows[0]
            where = " ".join(
                p for p in (source_file or "", f"line {line}" if line is not None else "") if p
            )
            self.result.first_rejected = (
                f"{where}: {reason}" if where else str(reason)
            )  # the reason is cut already

    def _check_rejected(self, rejected: int, rows: int, batch: Batch) -> None:
        limit = self.max_rejected
        if limit is None or not rejected:
            return
        total = rows + rejected
        limit_f = float(limit)
        over = rejected / max(total, 1) > limit_f if 0 < limit_f < 1 else rejected > limit_f
        if over:
            where = f" in {batch.source_file}" if batch.source_file else ""
            raise ExecutionError(
                f"source `{self.key}`: {rejected:,} of {total:,} records{where} were rejected, more than max_rejected ({limit})",
                node=self.key,
                hint=f"see {self.rejected_relation.render(quote=False)} for the records and reasons; nothing of this batch was loaded",
            )

    def _write_rows(
        self,
        columns: list[str],
        select: list[str],
        view: Relation,
        reject_pred: str | None,
        keep_order: bool = False,
    ) -> int:
        engine = self.engine
        target = self.target.render()
        cols = ", ".join(_q(c) for c in columns)
        where = f" WHERE NOT coalesce({reject_pred}, false)" if reject_pred else ""
        body = f"SELECT {', '.join(select)} FROM {view.render()}{where}"
        if self.disposition == "merge":
            part = ", ".join(_q(k) for k in self.primary_key)
            # the last row of a key wins inside a batch (boundary rows of a cursor, repeated pages)
            body = (
                f"SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY {part} ORDER BY __hw_rn DESC) AS __hw_last "
                f"FROM (SELECT *, row_number() OVER () AS __hw_rn FROM ({body}) AS b) AS b) AS b WHERE __hw_last = 1"
            )
            staged = Relation("", f"__hw_merge_{uuid.uuid4().hex}")
            engine.execute(engine.statements.create_as(staged, body, "table", temporary=True))
            # delete+insert (`Strategies.replace_by_key`) written as the ANSI text both engines
            # take: a warm run then never imports sqlglot to render it (~150 ms)
            match = " AND ".join(
                f"t.{_q(k)} IS NOT DISTINCT FROM s.{_q(k)}" for k in self.primary_key
            )
            with self._dropped_after(staged, "table"):
                engine.execute(
                    f"DELETE FROM {target} AS t WHERE EXISTS (SELECT 1 FROM {staged.render()} AS s WHERE {match})"
                )
                rows = engine.execute(
                    f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {staged.render()}"
                )
            return int(rows[0][0]) if rows and rows[0] else 0
        with self._insertion_order(keep_order):
            rows = engine.execute(f"INSERT INTO {target} ({cols}) {body}")
        return int(rows[0][0]) if rows and rows[0] else 0

    @contextmanager
    def _insertion_order(self, keep_order: bool) -> Iterator[None]:
        """The engine's setting that keeps the input order of an INSERT (DuckDB's
        `preserve_insertion_order`) off while the rows are written, unless the source asks for
        `preserve_order` or the batch keeps it (the setting is the database's: restored right
        after). An engine without one (PostgreSQL) writes as it writes."""
        setting = self.engine.functions.insertion_order_setting()
        if self.preserve_order or keep_order or setting is None:
            yield
            return
        [(current,)] = self.engine.execute(f"SELECT current_setting({quote_literal(setting)})")
        if not current:
            yield
            return
        self.engine.execute(f"SET {setting} = false")
        try:
            yield
        finally:
            self.engine.execute(f"SET {setting} = true")

    def _write_state(self, batch: Batch, state: ExtractState, batch_id: str, rows: int) -> None:
        """The files and cursor this batch loaded, in the batch's transaction. A row is replaced by
        delete + insert (ANSI: DuckDB's `INSERT OR REPLACE` has no PostgreSQL spelling)."""
        engine = self.engine
        now = engine.functions.now_timestamp()
        checksum = batch.file_checksum
        if hasattr(checksum, "result"):  # computed in the background while the rows were read
            checksum = checksum.result()
            batch.file_checksum = checksum
        if batch.source_file and checksum and batch.final:
            files = _state(engine, "loaded_files")
            engine.execute(
                f"DELETE FROM {files} WHERE source = ? AND path = ? AND checksum = ?",
                [self.key, batch.source_file, checksum],
            )
            engine.execute(
                f"INSERT INTO {files} VALUES (?, ?, ?, ?, ?, {now})",
                [self.key, batch.source_file, checksum, rows, batch_id],
            )
        cursor = state.cursor
        if batch.cursor is not None:
            cursor = batch.cursor if cursor is None else max(cursor, batch.cursor)
        load_state = _state(engine, "load_state")
        engine.execute(f"DELETE FROM {load_state} WHERE source = ?", [self.key])
        engine.execute(
            f"INSERT INTO {load_state} VALUES (?, ?, ?, {now})",
            [self.key, encode(cursor), json.dumps(state.extra, default=str)],
        )

    def _swap_replace(self) -> None:
        """Swap the staged table in as the published one — unless it would empty (or, with
        `max_row_drop`, shrink) a table that has rows: the node fails and the old table stays."""
        engine = self.engine
        staged, self.target = self.target, self.relation
        if not engine.columns(staged):  # nothing extracted, and no published table to start from
            engine.drop(staged)
            return
        refusal = self.guard.refusal(
            self.relation.render(quote=False), self._rows(self.relation), self._rows(staged)
        )
        if refusal is not None:
            engine.drop(staged)
            raise refusal
        engine.publish(staged, self.relation, "table", "")

    def _rows(self, relation: Relation) -> int:
        if self.engine.relation_kind(relation) != "table":
            return 0
        return int(self.engine.execute(f"SELECT count(*) FROM {relation.render()}")[0][0])
