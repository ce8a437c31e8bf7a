"""DuckDB's strategies: the shared ones, except that a table or view is replaced with DuckDB's own
`CREATE OR REPLACE` (atomic, no staging name), Arrow tables are read in place (`register`),
and files are read by DuckDB's table functions."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from headwater.engines.base import quote_literal
from headwater.engines.strategies import Strategies, count
from headwater.project.definition import Relation

if TYPE_CHECKING:
    import pyarrow as pa

    from headwater.engines.duckdb.connection import DuckDBEngine

_names = itertools.count()

READERS = {
    "parquet": "read_parquet", "csv": "read_csv", "tsv": "read_csv",
    "json": "read_json", "ndjson": "read_json", "jsonl": "read_json",
}  # fmt: skip


class DuckDBStrategies(Strategies):
    engine: DuckDBEngine

    def create_or_replace(self, relation: Relation, sql: str, kind: str) -> int | None:
        engine = self.engine
        existing = engine.relation_kind(relation)
        stmt = self.sql.create_as(relation, sql, kind, replace=True)
        if existing is not None and existing != kind:
            with engine.transaction():
                engine.execute(self.sql.drop(relation, existing, if_exists=False))
                rows = engine.execute(stmt)
        else:
            rows = engine.execute(stmt)
        engine._remember(relation, kind)
        return count(rows) if kind == "table" else None

    def _swap(self, src: Relation, dest: Relation, kind: str, old: str | None, sql: str) -> None:
        engine = self.engine
        if kind == "view":
            if old == "table":
                engine.execute(self.sql.drop(dest, "table", if_exists=False))
            engine.execute(self.sql.create_as(dest, sql, "view", replace=True))
            if src != dest:
                engine.execute(self.sql.drop(src, "view"))
            return
        super()._swap(src, dest, kind, old, sql)

    @contextmanager
    def arrow_relation(self, table: pa.Table, name: str) -> Iterator[Relation]:
        """The Arrow table as a view of this thread's connection: read in place, no copy."""
        view = f"{name}_{next(_names)}"
        self.engine.register_arrow(view, table)
        try:
            yield Relation("", view)
        except BaseException:
            # the statement that failed may have aborted the transaction, where the clean-up
            # fails too: the first error is the one to report (a rollback drops the view)
            with contextlib.suppress(Exception):
                self.engine.unregister_arrow(view)
            raise
        self.engine.unregister_arrow(view)

    def read_files_sql(self, glob: str, fmt: str, options: dict[str, Any]) -> str:
        """A SELECT reading files with DuckDB's table functions."""
        from headwater.engines.duckdb.connection import sql_value

        opts = dict(options)
        if fmt == "tsv":
            opts.setdefault("delim", "\t")
        if fmt in ("ndjson", "jsonl"):
            opts.setdefault("format", "newline_delimited")
        args = [quote_literal(glob)] + [f"{k} = {sql_value(v)}" for k, v in opts.items()]
        return f"SELECT * FROM {READERS[fmt]}({', '.join(args)})"
