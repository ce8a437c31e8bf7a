"""DuckDBEngine.columns / columns_of: the same answer from every path (a table's own catalog entry,
the `duckdb_columns()` scan, the one-query read of many relations), and never a failed statement
inside an open transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.engines.base import catalog_key
from headwater.engines.duckdb import DuckDBEngine
from headwater.project.definition import Relation, Target

TABLE = Relation("My Schema", 'Odd "T"')
VIEW = Relation("main", "v")
MISSING = Relation("main", "gone")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine(Target(name="dev", path=str(tmp_path / "w.duckdb")), str(tmp_path))
    eng.open()
    eng.ensure_schema(TABLE.schema)
    eng.create_or_replace(
        TABLE,
        "select 1::decimal(12, 2) as \"Amount\", now() as ts, {'a': 1, 'b': [1, 2]} as st, 'x' as \"with space\"",
        "table",
    )
    eng.create_or_replace(VIEW, f'select "Amount", st from {TABLE.render()}', "view")
    yield eng
    eng.close()


def scanned(engine: DuckDBEngine, relation: Relation) -> list[tuple[str, str]]:
    rows = engine.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
        [relation.schema, relation.identifier],
    )
    return [(str(n), str(t)) for n, t in rows]


def test_a_table_and_a_view_give_the_catalog_scan_s_answer(engine: DuckDBEngine) -> None:
    assert engine.relation_kind(TABLE) == "table"  # the fast path: the table's own entry
    assert engine.columns(TABLE) == scanned(engine, TABLE) == [
        ("Amount", "DECIMAL(12,2)"), ("ts", "TIMESTAMP WITH TIME ZONE"),
        ("st", "STRUCT(a INTEGER, b INTEGER[])"), ("with space", "VARCHAR"),
    ]  # fmt: skip
    assert (
        engine.columns(VIEW)
        == scanned(engine, VIEW)
        == [("Amount", "DECIMAL(12,2)"), ("st", "STRUCT(a INTEGER, b INTEGER[])")]
    )


def test_a_table_dropped_behind_the_catalog_s_back_has_no_columns(engine: DuckDBEngine) -> None:
    engine.relation_kind(TABLE)  # catalog read
    engine._cursor().execute(
        f"DROP TABLE {TABLE.render()} CASCADE"
    )  # not through the engine: the cache still says table
    assert engine.relation_kind(TABLE) == "table"
    assert engine.columns(TABLE) == []


def test_inside_a_transaction_nothing_fails(engine: DuckDBEngine) -> None:
    engine.relation_kind(TABLE)
    engine._cursor().execute(f"DROP TABLE {TABLE.render()} CASCADE")
    with engine.transaction():
        assert engine.columns(TABLE) == []  # a failed statement here would abort the transaction
        assert engine.columns(MISSING) == []
        engine.execute("CREATE TABLE main.after AS SELECT 1 AS x")
    assert engine.execute("SELECT x FROM main.after") == [(1,)]


def test_columns_of_reads_many_at_once(engine: DuckDBEngine) -> None:
    found = engine.columns_of([TABLE, VIEW, MISSING])
    assert set(found) == {catalog_key(TABLE), catalog_key(VIEW)}  # the missing one has no key
    assert found[catalog_key(TABLE)] == engine.columns(TABLE)
    assert found[catalog_key(VIEW)] == engine.columns(VIEW)
    assert engine.columns_of([]) == {}
