"""Source tables with `files:` in sources.yml (the simple form): every run reads all the matching
files into the table again with DuckDB's `read_*` — no load state, no rejects table.

The reload and the node's checks run in one transaction (write-audit-publish; staged and swapped
on an engine without transactional DDL: `stateful.audited`), and two things roll it back,
failing the node (exit 1) with the old table in place:

- a CSV line DuckDB cannot read (a ragged line, an unterminated quote, a value that does not fit
  the column): the error names the file, the line and the problem ("line 7 has 5 fields,
  expected 4"), and the fix — correct the file, or load it with `connector: files`, which sets
  bad lines aside in `<table>__rejected`. (Without this, DuckDB's sniffer may read a ragged file
  as one text column, and the error surfaced later as a missing column in a model.)
- a reload that would empty a table that has rows, unless `allow_empty: true` (and, with
  `max_row_drop`, one that loses more than that fraction of its rows): see
  `headwater.extract.guard`.

On an engine without DuckDB's file readers (PostgreSQL) the files are read the same way — the
same `read_*` SELECT, on DuckDB as local compute (`headwater.engines.local`) — and streamed into
the engine as Arrow batches inside the audited transaction: the first batch (re)creates the table
(`stateful.replace_table`), the others are appended (`engine.strategies.append_arrow`; COPY on
PostgreSQL). Column types are DuckDB's, mapped to the engine's by its Arrow mapping; bad lines are
found by the local reader and fail the load as above.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.engines.base import Engine, Row
from headwater.errors import ConfigError, ExecutionError, Location, SQLExecutionError
from headwater.extract.clip import clip_message
from headwater.extract.guard import ReplaceGuard
from headwater.materialize.stateful import (
    BuildContext,
    BuildOutcome,
    StatefulMaterialization,
    audited,
    replace_table,
)
from headwater.project.definition import Node, ProjectConfig, Relation

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

_REJECT_ARGS = ("ignore_errors", "store_rejects", "rejects_table", "rejects_scan", "rejects_limit")
BATCH_ROWS = 262_144
"""Rows per Arrow batch streamed into an engine without file readers (bounded memory)."""


def reads_files(engine: Engine) -> bool:
    """True when the engine reads files itself (DuckDB's `read_*` table functions)."""
    return getattr(engine.strategies, "read_files_sql", None) is not None


def _local_reader(project: ProjectConfig) -> Engine:
    """A never-opened DuckDB engine: it only spells the SELECT reading the files, which the local
    DuckDB runs (as `headwater.observe.lineage` does)."""
    from headwater.engines.duckdb import DuckDBEngine
    from headwater.project.definition import Target

    return DuckDBEngine(Target(name="local", path=":memory:", threads=1), str(project.root))


class SourceLoad(StatefulMaterialization):
    def select_sql(self, node: Node, engine: Engine, project: ProjectConfig) -> str:
        return self._sql(node, engine, project, node.files.options if node.files else {})

    def _sql(
        self, node: Node, engine: Engine, project: ProjectConfig, options: dict[str, Any]
    ) -> str:
        assert node.files is not None
        raw = Path(project.root) / project.raw_data
        glob = node.files.path
        if not Path(glob).is_absolute() and "://" not in glob:
            glob = str(raw / glob)
        if "://" not in glob and not _glob_matches(glob):
            raise ConfigError(
                f"no files match `{node.files.path}` for source `{node.display_name}` (looked for `{glob}`)",
                location=Location(node.path, node.line),
                node=node.display_name,
                hint=f"check `files: path:` in sources.yml and `raw_data:` in {project.config_file}",
            )
        reader = engine if reads_files(engine) else _local_reader(project)
        # an engine that `reads_files` has `read_files_sql` (DuckDB's)
        sql: str = reader.read_files_sql(glob, node.files.format, options)  # type: ignore[attr-defined]
        return sql

    def build(self, ctx: BuildContext) -> BuildOutcome:
        node, engine = ctx.node, ctx.engine
        assert node.files is not None and node.relation is not None
        relation = node.relation
        bad_lines = _BadLines.of(node)
        sql = self._sql(node, engine, ctx.project, {**node.files.options, **bad_lines.args})
        if engine.relation_kind(relation) not in (
            None,
            "table",
        ):  # a view of that name: replaced by the table
            engine.drop(relation)
        old = _rows(engine, relation)
        guard = ReplaceGuard(node.files.allow_empty, node.files.max_row_drop, where="files:")
        local = not reads_files(engine)

        def apply() -> int | None:
            rows: int | None
            if local:
                rows = _stream(engine, node, ctx.relation, sql, bad_lines, ctx.project)
            else:
                try:
                    rows = engine.create_or_replace(ctx.relation, sql, "table")
                except SQLExecutionError as exc:
                    if "conflict" in exc.message.lower():
                        raise  # the runner retries a write-write conflict between parallel workers
                    raise _read_error(node, exc.message) from None
                bad_lines.check(engine.execute, ctx.project)
            refusal = guard.refusal(relation.render(quote=False), old, rows or 0)
            if refusal is not None:
                raise refusal
            return rows

        return audited(ctx, apply, rebuild=True)


def _stream(
    engine: Engine,
    node: Node,
    relation: Relation,
    sql: str,
    bad_lines: _BadLines,
    project: ProjectConfig,
) -> int:
    """Read the files on the local DuckDB and write them into ``relation`` batch by batch, inside
    the caller's transaction: rows written."""
    import pyarrow as pa

    from headwater.engines import local

    failures: tuple[type[BaseException], ...] = (local.error_type(), pa.ArrowException)
    try:
        reader = batches_of(local.connection().sql(sql), BATCH_ROWS)
        first = _next_batch(reader)
    except failures as exc:
        raise _read_error(node, str(exc).strip()) from None
    batch = pa.Table.from_batches([first] if first is not None else [], schema=reader.schema)
    with engine.strategies.arrow_relation(batch, f"__hw_load_{relation.identifier}") as rel:
        rows = replace_table(engine, relation, engine.statements.select_all(rel)) or 0
    if rows == 0 and first is not None:
        rows = first.num_rows  # an engine that does not report the rows a CREATE ... AS wrote
    while True:
        try:
            more = _next_batch(reader)
        except failures as exc:
            raise _read_error(node, str(exc).strip()) from None
        if more is None:
            break
        rows += engine.strategies.append_arrow(relation, pa.Table.from_batches([more]))
    bad_lines.check(local.execute, project)
    return rows


def batches_of(relation: duckdb.DuckDBPyRelation, rows: int) -> pa.RecordBatchReader:
    """A DuckDB relation's rows as a pyarrow RecordBatchReader of ``rows`` per batch
    (`to_arrow_reader` since DuckDB 2.0, `fetch_arrow_reader` before; the old name warns on 2.x)."""
    to_reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
    return to_reader(rows)


def _next_batch(reader: pa.RecordBatchReader) -> pa.RecordBatch | None:
    """The reader's next record batch, or None at the end."""
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


class _BadLines:
    """DuckDB's rejects table for a CSV reload: the bad lines, to fail with instead of loading
    around them (the simple form has no `__rejected` table)."""

    def __init__(self, node: Node, tables: tuple[str, str] | None) -> None:
        self.node = node
        self.tables = tables

    @classmethod
    def of(cls, node: Node) -> _BadLines:
        assert node.files is not None
        if node.files.format not in ("csv", "tsv") or any(
            k in node.files.options for k in _REJECT_ARGS
        ):
            return cls(node, None)  # not CSV, or the project handles bad lines itself
        token = uuid.uuid4().hex
        return cls(node, (f"__hw_rejects_{token}", f"__hw_reject_scans_{token}"))

    @property
    def args(self) -> dict[str, object]:
        if self.tables is None:
            return {}
        # with `ignore_errors` DuckDB's sniffer also finds the dialect of a file with a ragged
        # line (without it, it may settle for one text column); the bad lines are then reported
        return {"ignore_errors": True, "store_rejects": True, "rejects_table": self.tables[0],
                "rejects_scan": self.tables[1]}  # fmt: skip

    def check(self, execute: Callable[[str], list[Row]], project: ProjectConfig) -> None:
        """Fail with the bad lines DuckDB set aside (``execute`` runs on the DuckDB that read the
        files: the engine's own connection, or the local one)."""
        if self.tables is None:
            return
        errors, scans = self.tables
        rows = execute(
            f"SELECT s.file_path, e.line, e.error_type::VARCHAR, e.error_message, e.column_name FROM temp.{errors} AS e "
            f"JOIN temp.{scans} AS s USING (scan_id, file_id) ORDER BY s.file_path, e.line"
        )
        execute(f"DROP TABLE IF EXISTS temp.{errors}")
        execute(f"DROP TABLE IF EXISTS temp.{scans}")
        if rows:
            raise self._error(rows, project)

    def _error(self, rows: list[Row], project: ProjectConfig) -> ExecutionError:
        path, line, kind, message, column = rows[0]
        shown = _shown_path(str(path), project)
        more = len({(r[0], r[1]) for r in rows}) - 1
        text = f"source `{self.node.display_name}`: {shown} line {line} {_problem(kind, message, column)}"
        if more:
            text += f" (and {more:,} more bad {'line' if more == 1 else 'lines'})"
        assert self.node.relation is not None
        hint = (
            "fix the file, or load it with `connector: files` (its bad lines go to "
            f"{self.node.relation.render(quote=False)}__rejected, with their line numbers, and the good rows load)"
        )
        if kind == "CAST":
            hint = ("a value does not fit the type DuckDB inferred from the first rows: set the column's type with "
                    "`options: {types: {...}}` or infer from every row with `options: {sample_size: -1}`; or " + hint)  # fmt: skip
        return ExecutionError(clip_message(text), node=self.node.display_name, location=Location(self.node.path, self.node.line),
                              hint=hint)  # fmt: skip


def _problem(kind: str, message: str, column: str | None) -> str:
    """DuckDB's reject as a sentence: `has 5 fields, expected 4`."""
    counts = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message or "")
    if kind in ("TOO MANY COLUMNS", "MISSING COLUMNS") and counts:
        return f"has {counts.group(2)} fields, expected {counts.group(1)}"
    where = f" (column `{column}`)" if column and kind != "CAST" else ""
    return f"cannot be read: {kind.lower()}: {message}{where}"


def _shown_path(path: str, project: ProjectConfig) -> str:
    try:
        return Path(path).resolve().relative_to(Path(project.root).resolve()).as_posix()
    except ValueError:
        return path


def _read_error(node: Node, message: str) -> ExecutionError:
    """DuckDB's error reading the files, with any echoed line cut."""
    return ExecutionError(
        f"source `{node.display_name}`: cannot read its files: {clip_message(message)}",
        node=node.display_name,
        location=Location(node.path, node.line),
        hint="check the files and `files:` (`format`, `options`) in sources.yml, or load them with `connector: files`",
    )


def _rows(engine: Engine, relation: Relation) -> int:
    if engine.relation_kind(relation) != "table":
        return 0
    return int(engine.execute(f"SELECT count(*) FROM {relation.render()}")[0][0])


def _glob_matches(pattern: str) -> bool:
    import glob as globmod

    return bool(globmod.glob(pattern, recursive=True))
