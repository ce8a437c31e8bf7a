"""SQL connectors without a server: config validation, lag, chunk boundaries."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.errors import ConfigError
from headwater.extract.base import REGISTRY, connector_class
from headwater.extract.cursors import apply_lag, parse_lag
from headwater.extract.databases.base import _sql_literal
from headwater.extract.databases.chunks import rebatch
from headwater.extract.databases.mysql import MySQLConnector
from headwater.extract.databases.postgres import PostgresConnector, _numeric_type


def test_kinds_are_registered() -> None:
    assert connector_class("postgres") is PostgresConnector
    assert connector_class("mysql") is MySQLConnector
    assert issubclass(connector_class("mariadb"), MySQLConnector)
    assert REGISTRY["mariadb"].kind == "mariadb"
    for key in ("host", "port", "user", "password_env", "database", "dsn_env", "table", "query",
                "cursor", "initial_cursor", "chunk_size", "parallel"):  # fmt: skip
        assert key in PostgresConnector.optional


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"table": "a", "query": "select 1"}, "either `table` or `query`"),
        ({"chunk_size": 0}, "`chunk_size` must be a positive integer"),
        ({"chunk_size": "many"}, "`chunk_size` must be a positive integer"),
        ({"lag": "soon"}, "`lag`"),
        ({"lag": "3 fortnights"}, "unknown unit"),
        ({"parallel": {"workers": 2}}, "`parallel` needs `key`"),
        ({"parallel": {"key": "id", "workers": 0}}, "`parallel.workers`"),
        ({"parallel": {"key": "id", "wrkers": 2}}, "does not take `wrkers`"),
        ({"parallel": {"key": "id"}, "cursor": "updated_at"}, "cannot be combined with `cursor`"),
        ({"port": "fivefour"}, "`port` must be a number"),
        ({"hots": "x"}, "did you mean `host`"),
    ],
)
def test_config_errors(config: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        PostgresConnector("shop", "orders", config)
    assert message in str(e.value)
    assert "shop.orders" in str(e.value)


def test_loader_keys_are_accepted() -> None:
    c = MySQLConnector(
        "shop", "orders", {"columns": {"a": "int"}, "primary_key": "id", "lag": "PT1H"}
    )
    assert c.lag == timedelta(hours=1)
    assert c.remote_table == "orders"
    assert c.quote_ident("db.weird`name") == "`db`.`weird``name`"
    assert PostgresConnector("s", "t", {}).quote_ident('sch.ta"b') == '"sch"."ta""b"'


def test_password_env_missing_is_a_config_error() -> None:
    c = PostgresConnector("shop", "orders", {"password_env": "HW_NOT_SET_ANYWHERE"}, env={})
    with pytest.raises(ConfigError, match="HW_NOT_SET_ANYWHERE"):
        c._uri()


def test_uri_quotes_credentials() -> None:
    c = PostgresConnector(
        "s", "t", {"host": "db", "port": 5433, "user": "a@b", "password_env": "PW", "database": "d b"},
        env={"PW": "p@ss:/word"},
    )  # fmt: skip
    uri = c._uri()
    assert uri.startswith("postgresql://a%40b:p%40ss%3A%2Fword@db:5433/d%20b?")
    assert c._target() == "db:5433/d b"
    assert (
        c._scrub(f"boom {uri} p@ss:/word")
        == "boom postgresql://***@db:5433/d%20b?connect_timeout=10&application_name=headwater ***"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1H", timedelta(hours=1)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("PT0.5S", timedelta(seconds=0.5)),
        ("P2W", timedelta(weeks=2)),
        ("1 hour", timedelta(hours=1)),
        ("2 days 3 hours", timedelta(days=2, hours=3)),
        ("30 minutes", timedelta(minutes=30)),
        ("90s", timedelta(seconds=90)),
        (5, 5),
        ("5", 5),
        ("0.5", Decimal("0.5")),
        (None, None),
    ],
)
def test_parse_lag(text: object, expected: object) -> None:
    assert parse_lag(text) == expected


@pytest.mark.parametrize("text", ["P", "PT", "P1Y", "hour", "1 hour later", "nan", True])
def test_parse_lag_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_lag(text)


def test_apply_lag() -> None:
    ts = datetime(2024, 1, 2, 10, 0)
    assert apply_lag(ts, timedelta(hours=1), "s.t") == datetime(2024, 1, 2, 9, 0)
    assert apply_lag("2024-01-02T10:00:00", timedelta(hours=1), "s.t") == datetime(2024, 1, 2, 9, 0)
    assert apply_lag(date(2024, 1, 2), timedelta(hours=1), "s.t") == date(2024, 1, 1)
    assert apply_lag(100, 5, "s.t") == 95
    assert apply_lag("100", Decimal("5"), "s.t") == 95
    assert apply_lag(Decimal("1.5"), 1, "s.t") == Decimal("0.5")
    assert apply_lag(10.0, Decimal("0.5"), "s.t") == 9.5
    assert apply_lag(ts, None, "s.t") is ts
    with pytest.raises(ConfigError, match="not a date or timestamp"):
        apply_lag(100, timedelta(hours=1), "s.t")
    with pytest.raises(ConfigError, match="not numeric"):
        apply_lag(ts, 5, "s.t")


def test_sql_literal() -> None:
    assert _sql_literal(5) == "5"
    assert _sql_literal(Decimal("1.50")) == "1.50"
    assert _sql_literal("it's") == "'it''s'"
    assert _sql_literal(datetime(2024, 1, 1, 1, 2, 3)) == "'2024-01-01 01:02:03'"
    assert _sql_literal(date(2024, 1, 1)) == "'2024-01-01'"
    with pytest.raises(ValueError):
        _sql_literal(float("nan"))


def test_numeric_typmod() -> None:
    assert _numeric_type(((14 << 16) | 2) + 4) == pa.decimal128(14, 2)
    assert _numeric_type(((50 << 16) | 5) + 4) == pa.decimal256(50, 5)
    assert _numeric_type(-1) == pa.float64()


def test_ranges_cover_everything() -> None:
    c = PostgresConnector("s", "t", {"parallel": {"key": "id", "workers": 3}})
    for lo, hi, n in [(1, 10, 3), (-5, 5, 4), (7, 7, 3), (0, 1, 8), (1, 1_000_003, 7)]:
        ranges = c._ranges(lo, hi, n)
        assert ranges[0][0] == lo and ranges[-1][1] == hi + 1
        assert all(a < b for a, b in ranges)
        assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))
        assert len(ranges) <= n


def _pieces(table: pa.Table, sizes: list[int]) -> list[pa.Table]:
    out, at = [], 0
    for size in sizes:
        out.append(table.slice(at, size))
        at += size
    out.append(table.slice(at))
    return out


def test_rebatch_plain_sizes() -> None:
    table = pa.table({"id": list(range(1000))})
    batches = list(rebatch(iter(_pieces(table, [7, 300, 1, 250])), 128))
    assert [b.num_rows for b in batches] == [128] * 7 + [104]
    assert pa.concat_tables(batches).equals(table)


def test_rebatch_empty_keeps_schema() -> None:
    schema = pa.schema([("id", pa.int64())])
    (only,) = list(rebatch(iter([schema.empty_table()]), 10))
    assert only.num_rows == 0 and only.schema == schema
    assert list(rebatch(iter([]), 10)) == []


def test_rebatch_never_splits_a_cursor_value() -> None:
    cursor = [None, None] + sorted([v // 7 for v in range(200)]) + [40] * 50
    table = pa.table({"c": pa.array(cursor, pa.int64()), "i": list(range(len(cursor)))})
    batches = list(rebatch(iter(_pieces(table, [3, 60, 11])), 10, cursor="c"))
    assert pa.concat_tables(batches).equals(table)
    seen: set[int] = set()
    for b in batches:
        values = {v for v in b.column("c").to_pylist() if v is not None}
        assert not values & seen, "a cursor value straddles two batches"
        seen |= values
    assert batches[-1].column("c").to_pylist() == [40] * 50  # a long run is kept whole


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.integers(0, 30)), max_size=300),
    sizes=st.lists(st.integers(0, 50), max_size=10),
    chunk=st.integers(1, 40),
    use_cursor=st.booleans(),
)
def test_rebatch_property(
    values: list[int | None], sizes: list[int], chunk: int, use_cursor: bool
) -> None:
    values = sorted(values, key=lambda v: (v is not None, v or 0))  # NULLS FIRST, ascending
    table = pa.table({"c": pa.array(values, pa.int64()), "i": list(range(len(values)))})
    batches = list(rebatch(iter(_pieces(table, sizes)), chunk, cursor="c" if use_cursor else None))
    assert pa.concat_tables(batches).equals(table)
    for b in batches[:-1]:
        if use_cursor:
            assert b.num_rows >= 1
            nxt = batches[batches.index(b) + 1].column("c")[0].as_py()
            last = b.column("c")[-1].as_py()
            assert last is None or nxt != last
        else:
            assert b.num_rows == chunk
