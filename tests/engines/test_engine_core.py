"""The Engine seam itself, on every engine: create and replace, publish with `also=`, the
strategies' row counts, Arrow in and out, transactions seen from another connection, the
one-statement guard and the catalog."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pyarrow as pa
import pytest

from headwater.engines.base import Engine
from headwater.errors import SQLExecutionError
from headwater.project.definition import Relation


def rows(engine: Engine, sql: str) -> Counter[tuple[Any, ...]]:
    """The result as a multiset (order-independent)."""
    return Counter(tuple(r) for r in engine.execute(sql))


def in_other_thread(fn: Any) -> Any:
    """Run ``fn`` on another worker thread (another connection / transaction) and return its result."""
    out: dict[str, Any] = {}

    def work() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # re-raised in the test thread
            out["error"] = exc

    t = threading.Thread(target=work)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive(), "the other connection did not answer"
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_create_or_replace_tables_and_views_and_switch_kinds(
    engine: Engine, schema_name: str
) -> None:
    a, v = Relation(schema_name, "a"), Relation(schema_name, "v")
    assert engine.create_or_replace(a, "select 1 as id union all select 2", "table") == 2
    engine.create_or_replace(v, f'select id * 10 as x from "{schema_name}"."a"', "view")
    assert engine.relation_kind(a) == "table" and engine.relation_kind(v) == "view"
    assert rows(engine, f'select x from "{schema_name}"."v"') == Counter([(10,), (20,)])
    # replacing the table keeps the view over it working (PostgreSQL binds views to tables)
    assert engine.create_or_replace(a, "select 3 as id", "table") == 1
    assert rows(engine, f'select x from "{schema_name}"."v"') == Counter([(30,)])
    # a view becomes a table and back
    engine.create_or_replace(v, "select 7 as x", "table")
    assert engine.relation_kind(v) == "table"
    engine.invalidate_catalog()
    assert engine.relation_kind(v) == "table"
    engine.create_or_replace(v, "select 8 as x", "view")
    engine.invalidate_catalog()
    assert engine.relation_kind(v) == "view" and rows(
        engine, f'select x from "{schema_name}"."v"'
    ) == Counter([(8,)])


def test_publish_swaps_the_relation_and_its_also_pairs_together(
    engine: Engine, schema_name: str
) -> None:
    target, quarantine = (
        Relation(schema_name, "orders"),
        Relation(schema_name, "orders__quarantine"),
    )
    engine.create_or_replace(target, "select 1 as id", "table")
    staged, q_staged = engine.staging_relation(target), engine.staging_relation(quarantine)
    engine.create_or_replace(staged, "select 2 as id union all select 3", "table")
    engine.create_or_replace(q_staged, "select 4 as id", "table")
    engine.publish(staged, target, "table", "", also=[(q_staged, quarantine)])
    engine.invalidate_catalog()
    assert rows(engine, f'select id from "{schema_name}"."orders"') == Counter([(2,), (3,)])
    assert rows(engine, f'select id from "{schema_name}"."orders__quarantine"') == Counter([(4,)])
    assert engine.relation_kind(staged) is None and engine.relation_kind(q_staged) is None


def test_leftover_staged_relations_are_dropped(engine: Engine, schema_name: str) -> None:
    target = Relation(schema_name, "t")
    engine.create_or_replace(engine.staging_relation(target), "select 1 as id", "table")
    engine.invalidate_catalog()
    engine.drop_leftover_staged({schema_name})
    engine.invalidate_catalog()
    assert engine.relation_kind(engine.staging_relation(target)) is None


def test_long_names_get_a_staging_relation_the_engine_can_hold(
    engine: Engine, schema_name: str
) -> None:
    target = Relation(schema_name, "m" * 60)
    engine.create_or_replace(target, "select 1 as id", "table")
    engine.create_or_replace(target, "select 2 as id", "table")  # builds beside it, then swaps
    assert rows(engine, f'select id from "{schema_name}"."{"m" * 60}"') == Counter([(2,)])
    assert engine.staging_relation(target) != engine.staging_relation(
        Relation(schema_name, "m" * 61)
    )


@pytest.fixture
def orders(engine: Engine, schema_name: str) -> tuple[Relation, Relation]:
    target, delta = Relation(schema_name, "orders"), Relation(schema_name, "delta")
    engine.create_or_replace(
        target,
        "select 1 as id, 'a' as v, 10 as day union all select 2, 'b', 10 union all select 3, 'c', 11",
        "table",
    )
    engine.create_or_replace(
        delta, "select 2 as id, 'B' as v, 11 as day union all select 4, 'd', 11", "table"
    )
    return target, delta


def test_strategies_report_what_they_changed(
    engine: Engine, orders: tuple[Relation, Relation], schema_name: str
) -> None:
    target, delta = orders
    s = engine.strategies
    cols = ["id", "v", "day"]
    with engine.transaction_scope() as txn:
        assert s.replace_by_key(target, delta, cols, ["id"]) == (1, 2)
        assert rows(engine, f'select id, v from "{schema_name}"."orders"') == Counter(
            [(1, "a"), (2, "B"), (3, "c"), (4, "d")]
        )
        txn.rollback()
    with engine.transaction_scope() as txn:
        assert s.merge(target, delta, cols, ["id"], ["v"]) == (1, 1)
        assert rows(engine, f'select id, v, day from "{schema_name}"."orders"') == Counter(
            [(1, "a", 10), (2, "B", 10), (3, "c", 11), (4, "d", 11)]
        )
        txn.rollback()
    with engine.transaction_scope() as txn:
        assert s.replace_partitions(target, delta, cols, '"day"') == (1, 2)
        assert rows(engine, f'select id from "{schema_name}"."orders"') == Counter(
            [(1,), (2,), (2,), (4,)]
        )
        txn.rollback()
    with engine.transaction_scope() as txn:
        assert s.append(target, delta, cols) == 2
        txn.rollback()
    lo, hi = s.sql.literal(11), s.sql.literal(12)
    with engine.transaction_scope():
        assert s.replace_interval(
            target, "day", lo, hi, f'select * from "{schema_name}"."delta"', cols
        ) == (1, 2)
    assert rows(engine, f'select id, day from "{schema_name}"."orders"') == Counter(
        [(1, 10), (2, 10), (2, 11), (4, 11)]
    )
    assert s.count_duplicate_keys(target, ["id"]) == 1


def test_schema_changes(
    engine: Engine, orders: tuple[Relation, Relation], schema_name: str
) -> None:
    target, _ = orders
    engine.strategies.add_column(target, "note x", "varchar")
    engine.strategies.drop_column(target, "v")
    engine.strategies.alter_column_type(target, "day", "bigint")
    cols = {n: t.lower() for n, t in engine.columns(target)}
    assert list(cols) == ["id", "day", "note x"]
    assert cols["day"] == "bigint" and cols["note x"] in ("varchar", "character varying", "text")


def test_a_transaction_is_invisible_to_other_connections_until_commit(
    engine: Engine, orders: tuple[Relation, Relation], schema_name: str
) -> None:
    target, delta = orders
    count_sql = f'select count(*) from "{schema_name}"."orders"'
    with engine.transaction_scope() as txn:
        engine.strategies.append(target, delta, ["id", "v", "day"])
        assert engine.execute(count_sql) == [(5,)]
        assert in_other_thread(lambda: engine.execute(count_sql)) == [
            (3,)
        ]  # readers see the old version
        txn.rollback()
    assert engine.execute(count_sql) == [(3,)]
    with engine.transaction_scope():
        engine.strategies.append(target, delta, ["id", "v", "day"])
    assert in_other_thread(lambda: engine.execute(count_sql)) == [(5,)]


def test_an_exception_rolls_the_transaction_back(
    engine: Engine, orders: tuple[Relation, Relation], schema_name: str
) -> None:
    target, delta = orders
    with pytest.raises(SQLExecutionError), engine.transaction_scope():
        engine.strategies.append(target, delta, ["id", "v", "day"])
        engine.execute(f'select no_such_column from "{schema_name}"."orders"')
    assert engine.execute(f'select count(*) from "{schema_name}"."orders"') == [(3,)]


def test_arrow_in_and_out_keeps_values_and_nulls(engine: Engine, schema_name: str) -> None:
    import datetime as dt

    table = pa.table({
        "id": pa.array([1, 2, None], pa.int64()),
        "name": pa.array(["a", "", None]),
        "price": pa.array([1.5, None, -2.25]),
        "ok": pa.array([True, False, None]),
        "day": pa.array([dt.date(2026, 1, 2), None, dt.date(1999, 12, 31)]),
        "at": pa.array([dt.datetime(2026, 1, 2, 3, 4, 5, 6), None, dt.datetime(2000, 1, 1)], pa.timestamp("us")),
        "quote": pa.array(['say "hi", then,\nleave', "x'y", "\\N"]),
    })  # fmt: skip
    target = Relation(schema_name, "from_arrow")
    assert engine.strategies.create_from_arrow(target, table) == 3
    assert engine.strategies.append_arrow(target, table) == 3
    back = engine.fetch_arrow(f'select * from "{schema_name}"."from_arrow"')
    assert back.num_rows == 6
    got = Counter(tuple(r.values()) for r in back.to_pylist())
    assert got == Counter(tuple(r.values()) for r in table.to_pylist() * 2)


def test_query_columns_and_catalog(engine: Engine, schema_name: str) -> None:
    a = Relation(schema_name, "a")
    engine.create_or_replace(a, "select 1 as id, 'x' as name", "table")
    assert [n for n, _ in engine.query_columns(f'select * from "{schema_name}"."a"')] == [
        "id",
        "name",
    ]
    found = engine.columns_of([a, Relation(schema_name, "missing")])
    assert list(found) == [(schema_name.lower(), "a")] and [
        n for n, _ in found[(schema_name.lower(), "a")]
    ] == ["id", "name"]
    assert engine.columns(Relation(schema_name, "missing")) == []
    assert schema_name.lower() in engine.catalog_schemas()


@pytest.mark.parametrize("sql", ["SELECT 1; SELECT 2", "SELECT 1 AS a;DROP SCHEMA x;"])
def test_two_statements_are_refused(engine: Engine, sql: str) -> None:
    for run in (engine.execute, engine.query, engine.fetch_arrow):
        with pytest.raises(SQLExecutionError, match="statements sent as one"):
            run(sql)
    assert engine.execute("SELECT ';' AS x") == [(";",)]  # a semicolon in a literal is fine


def test_statements_quote_hostile_names(engine: Engine, schema_name: str) -> None:
    odd = Relation(schema_name, 'we"ird; drop table x --')
    engine.create_or_replace(odd, 'select 1 as "col""umn"', "table")
    engine.strategies.add_column(odd, 'new"col', "integer")
    assert [n for n, _ in engine.columns(odd)] == ['col"umn', 'new"col']
    engine.drop(odd)
    engine.invalidate_catalog()
    assert engine.relation_kind(odd) is None
