"""The `postgres` and `mysql`/`mariadb` connectors against the real servers on this machine.

PostgreSQL at 127.0.0.1:5432 (user postgres, database test) and MariaDB/MySQL at 127.0.0.1:3306
(user root, empty password, database test); override with HW_TEST_PG_* / HW_TEST_MYSQL_*. Without
a server the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.errors import ConfigError
from headwater.extract.base import (
    Batch,
    ConnectorError,
    ExtractState,
    TransientConnectorError,
    connector_class,
)

IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass
class Server:
    kind: str
    config: dict[str, Any]
    execute: Callable[[str], list[tuple[Any, ...]]]
    quote: str

    def connector(self, name: str, **extra: Any) -> Any:
        return connector_class(self.kind)("src", name, {**self.config, **extra})

    def q(self, name: str) -> str:
        return self.quote + name + self.quote


def _unavailable(what: str, exc: BaseException) -> None:
    reason = f"{what} is not available: {type(exc).__name__}: {str(exc).strip()[:300]}"
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the SQL servers must be running)")
    pytest.skip(reason)


def _postgres() -> Iterator[Server]:
    host = os.environ.get("HW_TEST_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("HW_TEST_PG_PORT", "5432"))
    user = os.environ.get("HW_TEST_PG_USER", "postgres")
    db = os.environ.get("HW_TEST_PG_DATABASE", "test")
    try:
        import adbc_driver_postgresql.dbapi as pg

        conn = pg.connect(
            f"postgresql://{user}@{host}:{port}/{db}?connect_timeout=5", autocommit=True
        )
    except Exception as e:
        _unavailable(f"PostgreSQL at {host}:{port}/{db}", e)
    lock = threading.Lock()

    def execute(sql: str) -> list[tuple[Any, ...]]:
        with lock, conn.cursor() as cur:
            cur.execute(sql)
            try:
                return [tuple(r) for r in cur.fetchall()]
            except Exception:
                return []

    try:
        yield Server(
            "postgres", {"host": host, "port": port, "user": user, "database": db}, execute, '"'
        )
    finally:
        conn.close()


def _mysql() -> Iterator[Server]:
    host = os.environ.get("HW_TEST_MYSQL_HOST", "127.0.0.1")
    port = int(os.environ.get("HW_TEST_MYSQL_PORT", "3306"))
    user = os.environ.get("HW_TEST_MYSQL_USER", "root")
    db = os.environ.get("HW_TEST_MYSQL_DATABASE", "test")
    try:
        import pymysql

        conn = pymysql.connect(host=host, port=port, user=user, password="", database=db,
                               autocommit=True, connect_timeout=5)  # fmt: skip
    except Exception as e:
        _unavailable(f"MySQL/MariaDB at {host}:{port}/{db}", e)
    lock = threading.Lock()

    def execute(sql: str) -> list[tuple[Any, ...]]:
        with lock, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    try:
        yield Server(
            "mysql", {"host": host, "port": port, "user": user, "database": db}, execute, "`"
        )
    finally:
        conn.close()


@pytest.fixture(scope="module", params=["postgres", "mysql"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    yield from (_postgres() if request.param == "postgres" else _mysql())


@pytest.fixture(scope="module")
def pg() -> Iterator[Server]:
    yield from _postgres()


@pytest.fixture(scope="module")
def my() -> Iterator[Server]:
    yield from _mysql()


@pytest.fixture
def table_name(server: Server) -> Iterator[str]:
    name = f"hw_sql_{uuid.uuid4().hex[:12]}"
    yield name
    server.execute(f"DROP TABLE IF EXISTS {server.q(name)}")


def extract_all(connector: Any, cursor: Any = None) -> list[Batch]:
    return list(connector.extract(ExtractState(cursor=cursor)))


def rows(batches: list[Batch], *cols: str) -> list[tuple[Any, ...]]:
    table = pa.concat_tables([b.table for b in batches])
    data = table.select(list(cols)).to_pylist() if cols else table.to_pylist()
    return [tuple(r.values()) for r in data]


def ids(batches: list[Batch]) -> list[int]:
    return sorted(v for b in batches for v in b.table.column("id").to_pylist())


T0 = datetime(2024, 1, 1, 0, 0, 0)


def make_events(server: Server, name: str, n: int, start: int = 1) -> None:
    """Table (id, name, amount, updated_at) with updated_at = T0 + id minutes."""
    text = "TEXT" if server.kind == "postgres" else "VARCHAR(100)"
    ts = "TIMESTAMP" if server.kind == "postgres" else "DATETIME(6)"
    server.execute(
        f"CREATE TABLE IF NOT EXISTS {server.q(name)} (id BIGINT PRIMARY KEY, name {text}, "
        f"amount NUMERIC(12,2), updated_at {ts})"
    )
    insert_events(server, name, range(start, start + n))


def insert_events(
    server: Server, name: str, idents: Any, minutes: Callable[[int], int] = lambda i: i
) -> None:
    values = [
        f"({i}, 'name {i}', {i * 1.25:.2f}, '{(T0 + timedelta(minutes=minutes(i))).isoformat(sep=' ')}')"
        for i in idents
    ]
    for k in range(0, len(values), 1000):
        server.execute(f"INSERT INTO {server.q(name)} VALUES " + ", ".join(values[k : k + 1000]))


# ---------------------------------------------------------------------------------------------


def test_check(server: Server) -> None:
    server.connector("whatever").check()


def test_full_table(server: Server, table_name: str) -> None:
    make_events(server, table_name, 250)
    batches = extract_all(server.connector(table_name))
    assert len(batches) == 1 and batches[0].final and batches[0].cursor is None
    table = batches[0].table
    assert table.column_names == ["id", "name", "amount", "updated_at"]
    assert table.schema.field("amount").type == pa.decimal128(12, 2)
    assert table.schema.field("updated_at").type == pa.timestamp("us")
    got = sorted(rows(batches))
    assert got[0] == (1, "name 1", Decimal("1.25"), T0 + timedelta(minutes=1))
    assert [r[0] for r in got] == list(range(1, 251))


def test_table_option_with_schema(server: Server, table_name: str) -> None:
    make_events(server, table_name, 3)
    schema = "public" if server.kind == "postgres" else server.config["database"]
    batches = extract_all(server.connector("other_name", table=f"{schema}.{table_name}"))
    assert ids(batches) == [1, 2, 3]


def test_empty_table_yields_schema(server: Server, table_name: str) -> None:
    make_events(server, table_name, 0)
    (batch,) = extract_all(server.connector(table_name))
    assert batch.table.num_rows == 0 and batch.final
    assert batch.table.column_names == ["id", "name", "amount", "updated_at"]


def test_custom_query(server: Server, table_name: str) -> None:
    make_events(server, table_name, 100)
    query = f"SELECT id, upper(name) AS shout FROM {server.q(table_name)} WHERE id % 10 = 0;"
    batches = extract_all(server.connector("evens", query=query, chunk_size=4))
    assert sorted(rows(batches)) == [(i, f"NAME {i}") for i in range(10, 101, 10)]
    assert [b.table.num_rows for b in batches] == [4, 4, 2]


def test_incremental_runs_pick_up_exactly_new_rows(server: Server, table_name: str) -> None:
    make_events(server, table_name, 50)
    conn = server.connector(table_name, cursor="updated_at", chunk_size=20)
    first = extract_all(conn)
    assert ids(first) == list(range(1, 51))
    assert [b.table.num_rows for b in first] == [20, 20, 10]
    cursor = first[-1].cursor
    assert cursor == T0 + timedelta(minutes=50)

    insert_events(server, table_name, range(51, 61))
    second = extract_all(conn, cursor)
    assert ids(second) == list(range(51, 61))
    cursor = second[-1].cursor
    assert cursor == T0 + timedelta(minutes=60)

    nothing = extract_all(conn, cursor)
    assert len(nothing) == 1 and nothing[0].table.num_rows == 0
    assert nothing[0].cursor == cursor  # never moves back

    server.execute(
        f"UPDATE {server.q(table_name)} SET updated_at = '2024-01-02 00:00:00', name = 'changed' WHERE id = 7"
    )
    changed = extract_all(conn, cursor)
    assert rows(changed, "id", "name") == [(7, "changed")]
    assert changed[-1].cursor == datetime(2024, 1, 2)


def test_incremental_cursor_from_a_string_state(server: Server, table_name: str) -> None:
    """A state store may hand the cursor back as text (JSON)."""
    make_events(server, table_name, 30)
    conn = server.connector(table_name, cursor="updated_at", lag="PT5M")
    got = extract_all(conn, (T0 + timedelta(minutes=20)).isoformat())
    assert ids(got) == list(range(16, 31))


def test_initial_cursor(server: Server, table_name: str) -> None:
    make_events(server, table_name, 30)
    conn = server.connector(table_name, cursor="id", initial_cursor=25)
    batches = extract_all(conn)
    assert ids(batches) == [25, 26, 27, 28, 29, 30]
    assert batches[-1].cursor == 30
    assert ids(extract_all(conn, 30)) == []


def test_lag_picks_up_late_rows(server: Server, table_name: str) -> None:
    make_events(server, table_name, 100)
    plain = server.connector(table_name, cursor="updated_at")
    lagged = server.connector(table_name, cursor="updated_at", lag="PT30M")
    cursor = extract_all(plain)[-1].cursor
    assert cursor == T0 + timedelta(minutes=100)
    # Two rows arrive late: committed after the cursor moved, stamped 10 and 45 minutes earlier.
    insert_events(server, table_name, [101, 102], minutes=lambda i: {101: 90, 102: 55}[i])
    assert ids(extract_all(plain, cursor)) == []  # missed without a lag
    late = extract_all(lagged, cursor)
    got = ids(late)
    assert 101 in got and 102 not in got  # only within the lag window
    assert got == sorted([101, *range(71, 101)])  # the window is re-read; the loader dedupes by key
    assert late[-1].cursor == cursor  # the cursor does not move back


def test_numeric_lag(server: Server, table_name: str) -> None:
    make_events(server, table_name, 20)
    conn = server.connector(table_name, cursor="id", lag=3)
    assert ids(extract_all(conn, 15)) == [13, 14, 15, 16, 17, 18, 19, 20]
    with pytest.raises(ConfigError, match="not a date or timestamp"):
        extract_all(server.connector(table_name, cursor="id", lag="1 hour"), 15)


def test_chunks_and_their_cursors(server: Server, table_name: str) -> None:
    make_events(server, table_name, 1000)
    batches = extract_all(server.connector(table_name, cursor="id", chunk_size=128))
    assert [b.table.num_rows for b in batches] == [128] * 7 + [104]
    assert [b.final for b in batches] == [False] * 7 + [True]
    cursors = [b.cursor for b in batches]
    assert cursors == [max(b.table.column("id").to_pylist()) for b in batches]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    assert ids(batches) == list(range(1, 1001))

    plain = extract_all(server.connector(table_name, chunk_size=300))
    assert [b.table.num_rows for b in plain] == [300, 300, 300, 100]
    assert all(b.cursor is None for b in plain)


def test_resume_after_any_batch_with_tied_cursors(server: Server, table_name: str) -> None:
    """Many rows share a cursor value: a crash after batch k, resumed from its cursor, reads
    exactly the rows not yet committed."""
    make_events(server, table_name, 0)
    insert_events(server, table_name, range(1, 301), minutes=lambda i: i // 7)
    conn = server.connector(table_name, cursor="updated_at", chunk_size=10)
    batches = extract_all(conn)
    assert ids(batches) == list(range(1, 301))
    assert max(b.table.num_rows for b in batches) <= 10
    for k, batch in enumerate(batches[:-1]):
        committed = ids(batches[: k + 1])
        resumed = ids(extract_all(conn, batch.cursor))
        assert sorted(committed + resumed) == list(range(1, 301)), f"after batch {k}"


def test_null_cursor_rows_come_first_on_the_first_run(server: Server, table_name: str) -> None:
    make_events(server, table_name, 10)
    server.execute(f"INSERT INTO {server.q(table_name)} VALUES (11, 'no time', 1, NULL)")
    batches = extract_all(server.connector(table_name, cursor="updated_at", chunk_size=4))
    assert ids(batches) == list(range(1, 12))
    assert batches[0].table.column("id")[0].as_py() == 11
    assert batches[-1].cursor == T0 + timedelta(minutes=10)


def test_parallel_key_ranges_equal_a_serial_read(server: Server, table_name: str) -> None:
    make_events(server, table_name, 0)
    keys = sorted({(i * 7919) % 100_003 - 5_000 for i in range(3000)})  # gaps, negatives
    insert_events(server, table_name, keys)
    serial = ids(extract_all(server.connector(table_name)))
    for workers in (1, 3, 8):
        batches = extract_all(
            server.connector(table_name, parallel={"key": "id", "workers": workers}, chunk_size=500)
        )
        got = ids(batches)
        assert got == serial == keys, f"workers={workers}"
        assert all(b.table.num_rows <= 500 for b in batches)
        assert [b.final for b in batches][-1] and not any(b.final for b in batches[:-1])


def test_parallel_with_null_keys_and_a_query(server: Server, table_name: str) -> None:
    make_events(server, table_name, 100)
    query = (
        f"SELECT id, CASE WHEN id % 10 = 0 THEN NULL ELSE id END AS k FROM {server.q(table_name)}"
    )
    batches = extract_all(server.connector("q", query=query, parallel={"key": "k", "workers": 4}))
    assert ids(batches) == list(range(1, 101))


def test_parallel_on_an_empty_table(server: Server, table_name: str) -> None:
    make_events(server, table_name, 0)
    (batch,) = extract_all(server.connector(table_name, parallel={"key": "id", "workers": 3}))
    assert batch.table.num_rows == 0 and batch.table.column_names[0] == "id"


def test_abandoning_a_stream_releases_the_connection(server: Server, table_name: str) -> None:
    make_events(server, table_name, 3000)
    for extra in ({}, {"parallel": {"key": "id", "workers": 2}}):
        gen = server.connector(table_name, chunk_size=100, **extra).extract(ExtractState())
        first = next(gen)
        assert first.table.num_rows == 100
        gen.close()


# ---- types ------------------------------------------------------------------------------------


def test_postgres_types_round_trip(pg: Server) -> None:
    name = f"hw_sql_{uuid.uuid4().hex[:12]}"
    pg.execute(
        f"""CREATE TABLE {name} (
        id int, n numeric(10,3), big numeric(50,5), nu numeric, r real, d double precision,
        s smallint, b bigint, bo boolean, t text, vc varchar(5), ts timestamp(6), tstz timestamptz,
        dt date, tm time, j json, jb jsonb, by bytea, u uuid, ip inet, arr int[])"""
    )
    try:
        pg.execute(
            f"""INSERT INTO {name} VALUES
            (1, 1234567.891, 12345678901234567890123456789012345678901234.12345, 123.456789, 1.5,
             2.25, -3, 9007199254740993, true, 'héllo ☃', 'ab', '2024-02-29 23:59:59.123456',
             '2024-06-01 12:00:00+02', '1999-12-31', '12:34:56.5', '{{"a": 1}}', '{{"b": [1, 2]}}',
             '\\xdeadbeef00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '10.0.0.1', '{{1,NULL,3}}'),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, '', NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, '', NULL, NULL, NULL),
            (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, NULL, NULL, NULL)"""
        )
        (batch,) = extract_all(pg.connector(name))
        schema = batch.table.schema
        expected_types = {
            "id": pa.int32(), "n": pa.decimal128(10, 3), "big": pa.decimal256(50, 5), "nu": pa.float64(),
            "r": pa.float32(), "d": pa.float64(), "s": pa.int16(), "b": pa.int64(), "bo": pa.bool_(),
            "t": pa.string(), "vc": pa.string(), "ts": pa.timestamp("us"),
            "tstz": pa.timestamp("us", tz="UTC"), "dt": pa.date32(), "tm": pa.time64("us"),
            "j": pa.string(), "jb": pa.string(), "by": pa.binary(), "u": pa.string(), "ip": pa.string(),
        }  # fmt: skip
        for col, typ in expected_types.items():
            assert schema.field(col).type == typ, col
        assert pa.types.is_list(schema.field("arr").type)
        r1, r2, r3 = sorted(batch.table.to_pylist(), key=lambda r: r["id"])
        assert r1["n"] == Decimal("1234567.891")
        assert r1["big"] == Decimal("12345678901234567890123456789012345678901234.12345")
        assert r1["nu"] == pytest.approx(123.456789)
        assert (r1["r"], r1["d"], r1["s"], r1["b"]) == (1.5, 2.25, -3, 9007199254740993)
        assert (r1["bo"], r1["t"], r1["vc"]) == (True, "héllo ☃", "ab")
        assert r1["ts"] == datetime(2024, 2, 29, 23, 59, 59, 123456)
        assert r1["tstz"] == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
        assert r1["dt"] == date(1999, 12, 31)
        assert str(r1["tm"]) == "12:34:56.500000"
        assert r1["j"] == '{"a": 1}' and r1["jb"] == '{"b": [1, 2]}'
        assert r1["by"] == b"\xde\xad\xbe\xef\x00"
        assert r1["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        assert r1["ip"].startswith("10.0.0.1")
        assert r1["arr"] == [1, None, 3]
        assert (r2["bo"], r2["t"], r2["by"]) == (False, "", b"")  # empty is not NULL
        assert all(v is None for k, v in r3.items() if k != "id")
    finally:
        pg.execute(f"DROP TABLE IF EXISTS {name}")


def test_mysql_types_round_trip(my: Server) -> None:
    name = f"hw_sql_{uuid.uuid4().hex[:12]}"
    my.execute(
        f"""CREATE TABLE {name} (
        id INT, n DECIMAL(10,3), un DECIMAL(12,2) UNSIGNED, big DECIMAL(50,5), f FLOAT, d DOUBLE,
        ti TINYINT, si SMALLINT, mi MEDIUMINT, b BIGINT, ub BIGINT UNSIGNED, bo BOOLEAN, t TEXT,
        vc VARCHAR(20), dtm DATETIME(6), ts TIMESTAMP(6) NULL, dt DATE, tm TIME, y YEAR,
        j JSON, bl BLOB, vb VARBINARY(10), en ENUM('x','y'))"""
    )
    try:
        my.execute(
            f"""INSERT INTO {name} VALUES
            (1, 1234567.891, 99.5, 12345678901234567890123456789012345678901234.12345, 1.5, 2.25,
             -3, 300, 70000, 9007199254740993, 18446744073709551615, TRUE, 'héllo ☃', 'ab',
             '2024-02-29 23:59:59.123456', '2024-06-01 10:00:00', '1999-12-31', '-01:30:00', 2024,
             '{{"a": 1}}', X'DEADBEEF00', X'0102', 'y'),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, FALSE, '', NULL, NULL,
             NULL, NULL, NULL, NULL, NULL, X'', NULL, NULL),
            (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"""
        )
        # The connector's session is UTC: write the TIMESTAMP in UTC too.
        my.execute(
            f"UPDATE {name} SET ts = CONVERT_TZ('2024-06-01 10:00:00', '+00:00', @@session.time_zone) WHERE id = 1"
        )
        (batch,) = extract_all(my.connector(name))
        schema = batch.table.schema
        expected_types = {
            "id": pa.int32(), "n": pa.decimal128(10, 3), "un": pa.decimal128(12, 2),
            "big": pa.decimal256(50, 5), "f": pa.float32(), "d": pa.float64(), "ti": pa.int8(),
            "si": pa.int16(), "mi": pa.int32(), "b": pa.int64(), "ub": pa.uint64(), "bo": pa.bool_(),
            "t": pa.string(), "vc": pa.string(), "dtm": pa.timestamp("us"),
            "ts": pa.timestamp("us", tz="UTC"), "dt": pa.date32(), "tm": pa.string(), "y": pa.int16(),
            "j": pa.string(), "bl": pa.binary(), "vb": pa.binary(), "en": pa.string(),
        }  # fmt: skip
        for col, typ in expected_types.items():
            assert schema.field(col).type == typ, col
        r1, r2, r3 = sorted(batch.table.to_pylist(), key=lambda r: r["id"])
        assert r1["n"] == Decimal("1234567.891") and r1["un"] == Decimal("99.50")
        assert r1["big"] == Decimal("12345678901234567890123456789012345678901234.12345")
        assert (r1["f"], r1["d"], r1["ti"], r1["si"], r1["mi"]) == (1.5, 2.25, -3, 300, 70000)
        assert (r1["b"], r1["ub"]) == (9007199254740993, 18446744073709551615)
        assert (r1["bo"], r1["t"], r1["vc"]) == (True, "héllo ☃", "ab")
        assert r1["dtm"] == datetime(2024, 2, 29, 23, 59, 59, 123456)
        assert r1["ts"] == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
        assert r1["dt"] == date(1999, 12, 31)
        assert (r1["tm"], r1["y"], r1["en"]) == ("-01:30:00", 2024, "y")
        assert r1["j"].replace(" ", "") == '{"a":1}'
        assert (r1["bl"], r1["vb"]) == (b"\xde\xad\xbe\xef\x00", b"\x01\x02")
        assert (r2["bo"], r2["t"], r2["bl"]) == (False, "", b"")
        assert all(v is None for k, v in r3.items() if k != "id")
    finally:
        my.execute(f"DROP TABLE IF EXISTS {name}")


# ---- errors -----------------------------------------------------------------------------------


SECRET = "S3cr3t-pw-do-not-print"


def assert_no_secret(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc) + str(getattr(exc, "hint", ""))
    assert SECRET not in text
    assert "S3cr3t" not in text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connector_with(
    server: Server, table: str, env: dict[str, str] | None = None, **cfg: Any
) -> Any:
    return connector_class(server.kind)("src", table, {**server.config, **cfg}, env=env or {})


def test_unreachable_port(server: Server) -> None:
    port = free_port()
    conn = connector_with(server, "t", env={"PW": SECRET}, port=port, password_env="PW")
    for action in (conn.check, lambda: extract_all(conn)):
        with pytest.raises(ConnectorError) as e:
            action()
        msg = str(e.value)
        assert not isinstance(e.value, TransientConnectorError)
        assert "src.t" in msg and f"127.0.0.1:{port}/test" in msg
        assert "cannot connect" in msg and "check `host` and `port`" in msg
        assert_no_secret(e.value)


def test_wrong_credentials(server: Server) -> None:
    # PostgreSQL here trusts local logins whatever the password, so an unknown role stands in.
    user = "root" if server.kind == "mysql" else "hw_no_such_role"
    conn = connector_with(server, "t", env={"PW": SECRET}, user=user, password_env="PW")
    with pytest.raises(ConnectorError) as e:
        conn.check()
    msg = str(e.value)
    assert "src.t" in msg and "127.0.0.1:" in msg and f"user `{user}`" in msg
    assert "check `user` and the password" in msg and "password_env" in msg
    assert_no_secret(e.value)


def test_unknown_database(server: Server) -> None:
    conn = connector_with(
        server, "t", env={"PW": SECRET}, database="hw_no_such_db", password_env="PW"
    )
    if server.kind == "mysql":  # root has no password here: give it none
        conn = connector_with(server, "t", database="hw_no_such_db")
    with pytest.raises(ConnectorError) as e:
        conn.check()
    msg = str(e.value)
    assert "hw_no_such_db" in msg and "check `database`" in msg
    assert_no_secret(e.value)


def test_dsn_from_env_and_its_secret(server: Server, table_name: str) -> None:
    make_events(server, table_name, 5)
    c = server.config
    scheme = "postgresql" if server.kind == "postgres" else "mysql"
    good = f"{scheme}://{c['user']}@{c['host']}:{c['port']}/{c['database']}"
    conn = connector_class(server.kind)(
        "src", table_name, {"dsn_env": "HW_DSN"}, env={"HW_DSN": good}
    )
    assert ids(extract_all(conn)) == [1, 2, 3, 4, 5]
    bad = f"{scheme}://{c['user']}:{SECRET}@{c['host']}:{free_port()}/{c['database']}"
    conn = connector_class(server.kind)(
        "src", table_name, {"dsn_env": "HW_DSN"}, env={"HW_DSN": bad}
    )
    with pytest.raises(ConnectorError) as e:
        extract_all(conn)
    assert "cannot connect" in str(e.value) and "src." in str(e.value)
    assert_no_secret(e.value)


def test_missing_table_and_column(server: Server, table_name: str) -> None:
    with pytest.raises(ConnectorError) as e:
        extract_all(server.connector("hw_no_such_table"))
    msg = str(e.value)
    assert "src.hw_no_such_table" in msg and "hw_no_such_table" in msg and "was not found" in msg
    assert "check `table`" in msg and "127.0.0.1:" in msg

    make_events(server, table_name, 3)
    with pytest.raises(ConnectorError) as e:
        extract_all(server.connector(table_name, cursor="no_such_col"))
    assert "unknown column" in str(e.value) and "`no_such_col`" in str(e.value)

    with pytest.raises(ConnectorError) as e:
        extract_all(server.connector(table_name, parallel={"key": "nope", "workers": 2}))
    assert "unknown column" in str(e.value) and "`nope`" in str(e.value)

    with pytest.raises(ConnectorError) as e:
        extract_all(server.connector("q", query="SELEC 1"))
    assert "src.q" in str(e.value) and "the `query`" in str(e.value)


def test_killed_connection_is_transient(server: Server, table_name: str) -> None:
    make_events(server, table_name, 2000)
    marker = f"hw_kill_{uuid.uuid4().hex[:8]}"
    t = server.q(table_name)
    query = f"SELECT a.id AS id, b.name AS {marker}, repeat('x', 200) AS pad FROM {t} a CROSS JOIN {t} b"
    gen = server.connector("big", query=query, chunk_size=1000).extract(ExtractState())
    next(gen)
    if server.kind == "postgres":
        server.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE query LIKE '%{marker}%' AND pid <> pg_backend_pid()"
        )
    else:
        victims = server.execute(
            "SELECT id FROM information_schema.processlist "
            f"WHERE info LIKE '%{marker}%' AND id <> connection_id()"
        )
        assert victims
        for (victim,) in victims:
            server.execute(f"KILL {int(victim)}")
    with pytest.raises(TransientConnectorError) as e:
        for _ in gen:
            pass
    assert "src.big" in str(e.value) and "lost the connection" in str(e.value)


# ---- property -----------------------------------------------------------------------------------


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.lists(
        st.tuples(
            st.integers(-(2**40), 2**40),
            st.one_of(
                st.none(),
                st.text(
                    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8
                ),
            ),
            st.integers(0, 20),
        ),
        max_size=120,
        unique_by=lambda r: r[0],
    ),
    chunk=st.integers(1, 50),
    use_cursor=st.booleans(),
)
def test_batches_concatenate_to_the_table(
    server: Server,
    table_name: str,
    data: list[tuple[int, str | None, int]],
    chunk: int,
    use_cursor: bool,
) -> None:
    text = (
        "TEXT"
        if server.kind == "postgres"
        else "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    )
    server.execute(f"DROP TABLE IF EXISTS {server.q(table_name)}")
    server.execute(f"CREATE TABLE {server.q(table_name)} (id BIGINT PRIMARY KEY, s {text}, c INT)")
    if data:
        esc = (lambda v: v.replace("\\", "\\\\")) if server.kind == "mysql" else (lambda v: v)
        values = ", ".join(
            f"({i}, {'NULL' if s is None else repr_sql(esc(s))}, {c})" for i, s, c in data
        )
        server.execute(f"INSERT INTO {server.q(table_name)} VALUES {values}")
    extra = {"cursor": "c"} if use_cursor else {}
    batches = extract_all(server.connector(table_name, chunk_size=chunk, **extra))
    table = pa.concat_tables([b.table for b in batches])
    assert sorted(table.to_pylist(), key=lambda r: r["id"]) == [
        {"id": i, "s": s, "c": c} for i, s, c in sorted(data)
    ]
    if use_cursor:
        cursors = [b.cursor for b in batches if b.table.num_rows]
        assert cursors == sorted(cursors)
        assert table.column("c").to_pylist() == sorted(c for _, _, c in data)
    else:
        assert all(b.table.num_rows == chunk for b in batches[:-1])


def repr_sql(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
