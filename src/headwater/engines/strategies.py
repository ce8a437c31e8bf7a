"""How an engine writes: create/replace, publish, append Arrow, and the incremental strategies.

`Strategies` is the shared implementation for engines with transactions: every statement comes
from the engine's `Statements` (sqlglot, its dialect), so DuckDB and PostgreSQL run the same
code; an engine's own ``strategies`` module overrides only what its SQL or catalog does
differently (DuckDB's `CREATE OR REPLACE TABLE`, PostgreSQL's dependent views and `MERGE`).

The *policy* (which strategy, schema changes, audits, the interval ledger) stays in
`headwater.materialize`; these methods are the statements one strategy step runs. Callers hold
the transaction (`audited`), except `create_or_replace` and `publish`, which are atomic on
their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from headwater.project.definition import Relation

if TYPE_CHECKING:
    import pyarrow as pa

    from headwater.engines.base import Engine, Row


def count(rows: list[Row]) -> int | None:
    """Rows a DML statement reports (engines return ``[(n,)]`` for INSERT/UPDATE/DELETE)."""
    return int(rows[0][0]) if rows and rows[0] and isinstance(rows[0][0], int) else None


class Strategies:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sql = engine.statements

    # -- create / publish ----------------------------------------------------------------------
    def create_or_replace(self, relation: Relation, sql: str, kind: str) -> int | None:
        """(Re)create ``relation`` from ``sql`` atomically: build beside it, then publish."""
        engine = self.engine
        if engine.relation_kind(relation) is None:
            rows = engine.execute(self.sql.create_as(relation, sql, kind))
            engine._remember(relation, kind)
            return count(rows) if kind == "table" else None
        if kind == "view":
            self.publish(relation, relation, "view", sql)
            return None
        staged = engine.staging_relation(relation)
        self.drop(staged)
        rows = engine.execute(self.sql.create_as(staged, sql, kind))
        engine._remember(staged, kind)
        self.publish(staged, relation, kind, sql)
        return count(rows)

    def publish(
        self,
        staged: Relation,
        relation: Relation,
        kind: str,
        sql: str,
        also: Sequence[tuple[Relation, Relation]] = (),
    ) -> None:
        """Swap ``staged`` in as ``relation`` (and each pair of ``also``) in one transaction."""
        with self.engine.transaction():
            self.publish_held(staged, relation, kind, sql, also)

    def publish_held(
        self,
        staged: Relation,
        relation: Relation,
        kind: str,
        sql: str,
        also: Sequence[tuple[Relation, Relation]] = (),
    ) -> None:
        """The swaps of `publish`, inside the caller's transaction (an audited full refresh)."""
        swaps = [(staged, relation, kind), *((s, r, "table") for s, r in also)]
        existing = [self.engine.relation_kind(r) for _, r, _ in swaps]
        self._swap_all(swaps, existing, sql)
        for src, dest, dest_kind in swaps:
            if src != dest:
                self.engine._remember(src, None)
            self.engine._remember(dest, dest_kind)

    def _swap_all(
        self, swaps: list[tuple[Relation, Relation, str]], existing: list[str | None], sql: str
    ) -> None:
        for (src, dest, dest_kind), old in zip(swaps, existing, strict=True):
            self._swap(src, dest, dest_kind, old, sql)

    def _swap(self, src: Relation, dest: Relation, kind: str, old: str | None, sql: str) -> None:
        """One swap inside the publish transaction."""
        engine = self.engine
        if kind == "view":
            if old is not None:
                engine.execute(self.sql.drop(dest, old))
            engine.execute(self.sql.create_as(dest, sql, "view"))
            if src != dest:
                engine.execute(self.sql.drop(src, "view"))
            return
        if old is not None:
            engine.execute(self.sql.drop(dest, old))
        engine.execute(self.sql.rename(src, dest.identifier))

    def drop(self, relation: Relation) -> None:
        engine = self.engine
        kind = engine.relation_kind(relation)
        if kind is not None:
            engine.execute(self.sql.drop(relation, kind))
            engine._remember(relation, None)

    # -- Arrow ---------------------------------------------------------------------------------------
    @contextmanager
    def arrow_relation(self, table: pa.Table, name: str) -> Iterator[Relation]:
        """``table`` (pyarrow) readable by SQL on this thread's connection as a relation."""
        raise NotImplementedError
        yield  # pragma: no cover

    def append_arrow(
        self, relation: Relation, table: pa.Table, columns: Sequence[str] | None = None
    ) -> int:
        """Insert the rows of a pyarrow table into an existing ``relation``: rows inserted."""
        cols = list(columns or table.column_names)
        with self.arrow_relation(table, f"__hw_arrow_{relation.identifier}") as rel:
            return count(self.engine.execute(self.sql.insert_select(relation, cols, rel))) or 0

    def create_from_arrow(self, relation: Relation, table: pa.Table) -> int:
        """Create ``relation`` (a table; replaced atomically if it exists) from a pyarrow table."""
        with self.arrow_relation(table, f"__hw_arrow_{relation.identifier}") as rel:
            return self.create_or_replace(relation, self.sql.select_all(rel), "table") or 0

    # -- incremental ---------------------------------------------------------------------------------
    def append(self, target: Relation, delta: Relation, columns: Sequence[str]) -> int | None:
        return count(self.engine.execute(self.sql.insert_select(target, columns, delta)))

    def replace_by_key(
        self,
        target: Relation,
        delta: Relation,
        columns: Sequence[str],
        keys: Sequence[str],
        predicates: str = "",
    ) -> tuple[int | None, int | None]:
        """delete+insert: delete the target's rows whose key is in the delta, insert the delta.
        Returns (deleted, inserted)."""
        deleted = count(
            self.engine.execute(self.sql.delete_matching(target, delta, keys, predicates))
        )
        inserted = count(self.engine.execute(self.sql.insert_select(target, columns, delta)))
        return deleted, inserted

    def replace_partitions(
        self, target: Relation, delta: Relation, columns: Sequence[str], partition: str
    ) -> tuple[int | None, int | None]:
        """insert_overwrite: replace the target's partitions present in the delta."""
        deleted = count(self.engine.execute(self.sql.delete_partitions(target, delta, partition)))
        inserted = count(self.engine.execute(self.sql.insert_select(target, columns, delta)))
        return deleted, inserted

    def merge(
        self,
        target: Relation,
        delta: Relation,
        columns: Sequence[str],
        keys: Sequence[str],
        update: Sequence[str],
        predicates: str = "",
    ) -> tuple[int, int]:
        """Update ``update`` columns of matched rows, insert the unmatched ones: (updated,
        inserted). UPDATE ... FROM then INSERT ... WHERE NOT EXISTS gives exact counts of each;
        an engine whose MERGE is faster overrides this."""
        updated = 0
        if update:
            sets = {c: self.sql.render(self.sql.column(c, "s")) for c in update}
            updated = (
                count(
                    self.engine.execute(self.sql.update_from(target, delta, sets, keys, predicates))
                )
                or 0
            )
        inserted = (
            count(
                self.engine.execute(
                    self.sql.insert_missing(target, delta, columns, keys, predicates)
                )
            )
            or 0
        )
        return updated, inserted

    def replace_interval(
        self,
        target: Relation,
        column: str,
        lo: str,
        hi: str,
        batch_sql: str,
        columns: Sequence[str],
    ) -> tuple[int | None, int | None]:
        """A microbatch interval: delete [lo, hi) of ``column``, insert the batch's rows in it.
        ``lo``/``hi`` are SQL literals. Returns (deleted, inserted)."""
        col = self.sql.render(self.sql.column(column))
        where = f"{col} >= {lo} AND {col} < {hi}"
        deleted = count(self.engine.execute(self.sql.delete_where(target, where)))
        inserted = count(
            self.engine.execute(self.sql.insert_select(target, columns, batch_sql, where=where))
        )
        return deleted, inserted

    def count_duplicate_keys(self, relation: Relation, keys: Sequence[str]) -> int:
        return int(self.engine.execute(self.sql.count_duplicate_keys(relation, keys))[0][0] or 0)

    # -- schema changes ------------------------------------------------------------------------------
    def add_column(self, relation: Relation, name: str, type_name: str) -> None:
        self.engine.execute(self.sql.add_column(relation, name, type_name))

    def drop_column(self, relation: Relation, name: str) -> None:
        self.engine.execute(self.sql.drop_column(relation, name))

    def alter_column_type(self, relation: Relation, name: str, type_name: str) -> None:
        self.engine.execute(self.sql.alter_column_type(relation, name, type_name))
