"""PostgreSQL's strategies: the shared ones, plus what PostgreSQL's catalog asks for.

* **Dependent views.** A view is bound to the table it reads (by OID), so replacing a table
  would drop (or refuse, without CASCADE) every view over it. A view whose columns stay is
  replaced in place (`CREATE OR REPLACE VIEW`, nothing else touched); otherwise `publish` reads
  the dependent views first and recreates them in the same transaction, each under a savepoint:
  a view the new columns no longer satisfy is left out (and rebuilt by the run when it is
  selected) instead of blocking the publish. Readers see the old relations until COMMIT.
* **Arrow in.** An Arrow table reaches SQL as a temporary table filled by `COPY ... FROM STDIN`
  (CSV written by pyarrow), the fastest path into the server.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from headwater.engines.strategies import Strategies
from headwater.errors import SQLExecutionError
from headwater.project.definition import Relation

if TYPE_CHECKING:
    import pyarrow as pa

    from headwater.engines.postgres.connection import PostgresEngine

_names = itertools.count()

_DEPENDENT_VIEWS = """
WITH RECURSIVE deps(oid, depth) AS (
  SELECT DISTINCT r.ev_class, 1 FROM pg_depend AS d JOIN pg_rewrite AS r ON r.oid = d.objid
  WHERE d.refobjid = to_regclass(?) AND d.classid = 'pg_rewrite'::regclass AND r.ev_class <> d.refobjid
  UNION
  SELECT r.ev_class, deps.depth + 1 FROM deps JOIN pg_depend AS d ON d.refobjid = deps.oid
  JOIN pg_rewrite AS r ON r.oid = d.objid WHERE d.classid = 'pg_rewrite'::regclass AND r.ev_class <> d.refobjid
)
SELECT n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid), max(deps.depth) AS depth
FROM deps JOIN pg_class AS c ON c.oid = deps.oid JOIN pg_namespace AS n ON n.oid = c.relnamespace
GROUP BY n.nspname, c.relname, c.relkind, c.oid ORDER BY depth, n.nspname, c.relname
"""


class PostgresStrategies(Strategies):
    engine: PostgresEngine

    def _swap_all(
        self, swaps: list[tuple[Relation, Relation, str]], existing: list[str | None], sql: str
    ) -> None:
        engine = self.engine
        dependents: list[tuple[str, str, str, str]] = []
        for (src, dest, dest_kind), old in zip(swaps, existing, strict=True):
            if dest_kind == "view" and old == "view" and self._replace_view(src, dest, sql):
                continue  # same columns: the views over it keep working untouched
            if old is not None:
                dependents += [
                    (r[0], r[1], r[2], r[3])  # schema, name, relkind, definition
                    for r in engine.execute(_DEPENDENT_VIEWS, [dest.render()])
                ]
            self._swap(src, dest, dest_kind, old, sql)
        self._recreate(dependents)

    def _replace_view(self, src: Relation, dest: Relation, sql: str) -> bool:
        """`CREATE OR REPLACE VIEW`, which PostgreSQL allows when the columns stay (new ones may
        follow): dependent views are not touched. False (and nothing changed) when it refuses."""
        engine = self.engine
        engine.execute("SAVEPOINT hw_view")
        try:
            engine.execute(self.sql.create_as(dest, sql, "view", replace=True))
        except SQLExecutionError:
            engine.execute("ROLLBACK TO SAVEPOINT hw_view")
            return False
        engine.execute("RELEASE SAVEPOINT hw_view")
        if src != dest:
            engine.execute(self.sql.drop(src, "view", cascade=True))
        return True

    def _swap(self, src: Relation, dest: Relation, kind: str, old: str | None, sql: str) -> None:
        engine = self.engine
        if old is not None:
            engine.execute(self.sql.drop(dest, old, cascade=True))
        if kind == "view":
            engine.execute(self.sql.create_as(dest, sql, "view"))
            if src != dest:
                engine.execute(self.sql.drop(src, "view", cascade=True))
            return
        engine.execute(self.sql.rename(src, dest.identifier))

    def _recreate(self, dependents: list[tuple[str, str, str, str]]) -> None:
        """Recreate the views CASCADE dropped, in dependency order, each under a savepoint."""
        engine = self.engine
        seen: set[tuple[str, str]] = set()
        for schema, name, relkind, definition in dependents:
            if (schema, name) in seen:
                continue
            seen.add((schema, name))
            view = Relation(schema, name)
            if (
                engine.relation_kind(view) is None
                and (schema.lower(), name.lower()) not in self._catalog_keys()
            ):
                continue
            engine.execute("SAVEPOINT hw_dependent")
            try:
                engine.execute(
                    self.sql.create_as(
                        view, definition, "materialized view" if relkind == "m" else "view"
                    )
                )
                engine.execute("RELEASE SAVEPOINT hw_dependent")
            except SQLExecutionError:
                engine.execute("ROLLBACK TO SAVEPOINT hw_dependent")
                engine._remember(view, None)

    def _catalog_keys(self) -> set[tuple[str, str]]:
        return set(self.engine._catalog or {})

    @contextmanager
    def arrow_relation(self, table: pa.Table, name: str) -> Iterator[Relation]:
        """The Arrow table as a temporary table of this thread's connection, filled by COPY."""
        from headwater.engines.postgres.arrow import pg_type

        temp = Relation("", f"{name}_{next(_names)}"[:63])
        columns = [(f.name, pg_type(f.type)) for f in table.schema]
        self.engine.execute(
            self.sql.create_table(temp, columns, "postgres").replace(
                "CREATE TABLE", "CREATE TEMPORARY TABLE", 1
            )
        )
        try:
            self.copy_in(temp, table)
            yield temp
        except BaseException:
            # an error aborts PostgreSQL's transaction, where the DROP fails too: the first error
            # is the one to report (the rollback drops the table)
            with contextlib.suppress(Exception):
                self.engine.execute(self.sql.drop(temp, "table"))
            raise
        self.engine.execute(self.sql.drop(temp, "table"))

    def copy_in(self, relation: Relation, table: pa.Table) -> int:
        """COPY the rows of an Arrow table into an existing relation (columns by name)."""
        engine = self.engine
        cols = ", ".join(self.sql.render(self.sql.column(n)) for n in table.column_names)
        stmt = f"COPY {relation.render()} ({cols}) FROM STDIN"
        with engine._errors(stmt):
            conn = engine._connection()
            with conn.cursor() as cur:
                data = _csv(table)
                if data is not None:
                    if engine._trace_path:
                        engine._record(
                            _traced_copy(engine._trace_path, stmt + " (FORMAT csv)", data)
                        )
                    with cur.copy(stmt + " (FORMAT csv)") as copy:
                        copy.write(data)
                else:
                    from headwater.engines.postgres.arrow import copy_rows

                    with cur.copy(stmt) as copy:
                        for row in copy_rows(table):
                            copy.write_row(row)
        return int(table.num_rows)

    def append_arrow(
        self, relation: Relation, table: pa.Table, columns: Sequence[str] | None = None
    ) -> int:
        if columns is not None and list(columns) != list(table.column_names):
            table = table.select(list(columns))
        return self.copy_in(relation, table)


def _traced_copy(trace: str, stmt: str, data: bytes) -> str:
    """The trace line of a COPY: the statement, and a comment naming a file beside the trace that
    holds the copied rows (so a replay can send the same bytes)."""
    from pathlib import Path

    folder = Path(f"{trace}.copy")
    folder.mkdir(exist_ok=True)
    path = folder / f"{next(_names)}.csv"
    path.write_bytes(data)
    return f"{stmt} -- hw-copy-data: {path}"


def _csv(table: pa.Table) -> bytes | None:
    """The table as CSV PostgreSQL reads back exactly (NULL unquoted, text quoted), or None when a
    column type has no faithful CSV form (nested, binary): then rows are copied one by one."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.types as t

    for f in table.schema:
        ty = f.type.value_type if t.is_dictionary(f.type) else f.type
        if (
            t.is_nested(ty)
            or t.is_binary(ty)
            or t.is_large_binary(ty)
            or t.is_fixed_size_binary(ty)
            or t.is_duration(ty)
        ):
            return None
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    data: bytes = sink.getvalue().to_pybytes()
    return data
