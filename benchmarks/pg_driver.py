"""PostgreSQL driver benchmark: psycopg 3 (binary) vs ADBC (``adbc_driver_postgresql.dbapi``).

Which driver should headwater's PostgreSQL engine use, and for what? This times the workloads a
warehouse engine issues, on a real server, with both drivers, in one process (imports done
before; the two drivers alternate inside every repetition; medians of the repetitions):

1. **connect**: open a connection, ``SELECT 1``, close -- x50. For ADBC also with
   ``Connection.adbc_clone()``, which shares one ``AdbcDatabase`` (``connect()`` makes a new one
   each time, and the driver loads the server's type catalog per database).
2. **statements**: 2,000 round trips on one autocommit connection, as 500 cycles of
   ``CREATE TEMP TABLE`` / ``INSERT`` / ``SELECT count(*)`` (fetched) / ``DROP TABLE``
   (a 300-model build issues thousands of those); plus 2,000 bare ``SELECT 1``.
3. **fetch**: 1,000,000 rows x 5 columns (int, bigint, double precision, text with NULLs,
   timestamp), built once server-side with ``generate_series``, read into a ``pyarrow.Table``.
   psycopg: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` parsed by ``pyarrow.csv`` with explicit
   column types, and (for reference) ``cursor.fetchall()`` transposed into Arrow arrays.
   ADBC: ``cursor.fetch_arrow_table()``. The tables are checked to be equal.
4. **load**: the same 1,000,000 rows, as a ``pyarrow.Table`` built client-side, into a new table.
   psycopg: ``CREATE TABLE`` + ``COPY ... FROM STDIN (FORMAT csv)`` fed by
   ``pyarrow.csv.write_csv``; ADBC: ``cursor.adbc_ingest(mode="create")``. Both commit; the row
   count is checked.
5. **small fetch**: a 100-row catalog query (``pg_class`` join ``pg_namespace``) x500, as Python
   tuples (``fetchall``) -- and, for ADBC, as Arrow.

Ratio = psycopg / ADBC (below 1: psycopg faster). Everything is created in the schema
``hw_bench_driver``, dropped at the end. About 75 s in total here.

Run::

    pip install -e ".[bench]"        # psycopg[binary], adbc-driver-postgresql
    python benchmarks/pg_driver.py   # server: 127.0.0.1:5432, user postgres, database test

Override the server with ``HW_TEST_PG_HOST``, ``HW_TEST_PG_PORT``, ``HW_TEST_PG_USER`` and
``HW_TEST_PG_DATABASE`` (no password is sent; use ``PGPASSWORD`` / ``~/.pgpass`` if needed).
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

HOST = os.environ.get("HW_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("HW_TEST_PG_PORT", "5432"))
USER = os.environ.get("HW_TEST_PG_USER", "postgres")
DATABASE = os.environ.get("HW_TEST_PG_DATABASE", "test")
CONNINFO = f"host={HOST} port={PORT} user={USER} dbname={DATABASE}"
URI = f"postgresql://{USER}@{HOST}:{PORT}/{DATABASE}"

SCHEMA = "hw_bench_driver"
SOURCE = f"{SCHEMA}.fetch_source"
LOAD_TABLE = "load_target"
ROWS = 1_000_000
CONNECTS = 50
CYCLES = 500  # x4 statements
SELECTS = 2_000
SMALL_QUERIES = 500

ARROW_SCHEMA = pa.schema(
    [
        ("i", pa.int32()),
        ("b", pa.int64()),
        ("d", pa.float64()),
        ("t", pa.string()),
        ("ts", pa.timestamp("us")),
    ]
)
COLUMNS_DDL = "i integer, b bigint, d double precision, t text, ts timestamp"
SOURCE_SQL = f"""
    CREATE TABLE {SOURCE} AS
    SELECT
        g::integer AS i,
        g::bigint * 1000003 AS b,
        g * 0.25::double precision AS d,
        CASE WHEN g % 100 = 0 THEN NULL ELSE 'customer-' || g::text END AS t,
        TIMESTAMP '2025-01-01' + g * INTERVAL '1 second' AS ts
    FROM generate_series(1, {ROWS}) AS g
"""
FETCH_SQL = f"SELECT i, b, d, t, ts FROM {SOURCE}"
SMALL_SQL = """
    SELECT c.oid::bigint, n.nspname, c.relname, c.relkind::text, c.reltuples
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    ORDER BY c.oid
    LIMIT 100
"""
CSV_READ = {
    "read_options": pacsv.ReadOptions(column_names=ARROW_SCHEMA.names),
    "convert_options": pacsv.ConvertOptions(
        column_types=ARROW_SCHEMA,
        strings_can_be_null=True,  # COPY csv: NULL is an unquoted empty field
        quoted_strings_can_be_null=False,  # ... and "" is the empty string
    ),
}
CSV_WRITE = pacsv.WriteOptions(include_header=False)  # strings quoted, nulls empty: COPY csv


# ---------------------------------------------------------------- connections


def pg_connect(autocommit: bool = True) -> psycopg.Connection[Any]:
    return psycopg.connect(CONNINFO, autocommit=autocommit)


def adbc_connect(autocommit: bool = True) -> adbc.Connection:
    return adbc.connect(URI, autocommit=autocommit)


# ---------------------------------------------------------------- workloads


def pg_connect_loop() -> None:
    for _ in range(CONNECTS):
        conn = psycopg.connect(CONNINFO, autocommit=True)
        conn.execute("SELECT 1").fetchone()
        conn.close()


def adbc_connect_loop() -> None:
    for _ in range(CONNECTS):
        conn = adbc.connect(URI, autocommit=True)
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchone()
        cur.close()
        conn.close()


def adbc_clone_loop(base: adbc.Connection) -> None:
    """Connections sharing one AdbcDatabase (the driver loads the type catalog per database)."""
    for _ in range(CONNECTS):
        conn = base.adbc_clone()
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchone()
        cur.close()
        conn.close()


def ddl_cycles(cur: Any) -> None:
    for _ in range(CYCLES):
        cur.execute("CREATE TEMP TABLE hw_bench_tmp (a integer, b text)")
        cur.execute("INSERT INTO hw_bench_tmp VALUES (1, 'x')")
        cur.execute("SELECT count(*) FROM hw_bench_tmp")
        cur.fetchone()
        cur.execute("DROP TABLE hw_bench_tmp")


def select_ones(cur: Any) -> None:
    for _ in range(SELECTS):
        cur.execute("SELECT 1")
        cur.fetchone()


def pg_fetch_copy(conn: psycopg.Connection[Any]) -> pa.Table:
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(f"COPY ({FETCH_SQL}) TO STDOUT (FORMAT csv)") as copy:
        for block in copy:
            buf.write(block)
    buf.seek(0)
    return pacsv.read_csv(buf, **CSV_READ)


def pg_fetch_cursor(conn: psycopg.Connection[Any]) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(FETCH_SQL)
        rows = cur.fetchall()
    columns = list(zip(*rows, strict=True))
    return pa.Table.from_arrays(
        [pa.array(col, type=f.type) for col, f in zip(columns, ARROW_SCHEMA, strict=True)],
        schema=ARROW_SCHEMA,
    )


def adbc_fetch(conn: adbc.Connection, sql: str = FETCH_SQL) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table()


def pg_load(conn: psycopg.Connection[Any], table: pa.Table) -> None:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, write_options=CSV_WRITE)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {SCHEMA}.{LOAD_TABLE} ({COLUMNS_DDL})")
        with cur.copy(f"COPY {SCHEMA}.{LOAD_TABLE} FROM STDIN (FORMAT csv)") as copy:
            copy.write(buf.getbuffer())
    conn.commit()


def adbc_load(conn: adbc.Connection, table: pa.Table) -> None:
    with conn.cursor() as cur:
        cur.adbc_ingest(LOAD_TABLE, table, mode="create", db_schema_name=SCHEMA)
    conn.commit()


def small_fetch(cur: Any) -> None:
    for _ in range(SMALL_QUERIES):
        cur.execute(SMALL_SQL)
        rows = cur.fetchall()
        assert len(rows) == 100


def adbc_small_arrow(cur: Any) -> None:
    for _ in range(SMALL_QUERIES):
        cur.execute(SMALL_SQL)
        assert cur.fetch_arrow_table().num_rows == 100


def load_data() -> pa.Table:
    """The rows of `SOURCE_SQL`, built client-side."""
    import numpy as np
    import pyarrow.compute as pc

    g = np.arange(1, ROWS + 1, dtype=np.int64)
    text = pc.binary_join_element_wise("customer-", pc.cast(pa.array(g), pa.string()), "")
    text = pc.if_else(pa.array(g % 100 == 0), pa.scalar(None, pa.string()), text)
    ts = (np.datetime64("2025-01-01T00:00:00", "us") + g * np.timedelta64(1, "s")).astype(
        "datetime64[us]"
    )
    return pa.Table.from_arrays(
        [
            pa.array(g.astype(np.int32)),
            pa.array(g * 1000003),
            pa.array(g * 0.25),
            text,
            pa.array(ts, type=pa.timestamp("us")),
        ],
        schema=ARROW_SCHEMA,
    )


# ---------------------------------------------------------------- harness


@dataclass
class Result:
    workload: str
    ops: int
    pg_label: str
    pg: list[float]
    adbc_label: str
    adbc: list[float]

    @property
    def pg_median(self) -> float:
        return statistics.median(self.pg)

    @property
    def adbc_median(self) -> float:
        return statistics.median(self.adbc)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(
    workload: str,
    ops: int,
    reps: int,
    variants: list[tuple[str, Callable[[], object]]],
    between: Callable[[], object] | None = None,
    warmup: bool = True,
) -> dict[str, list[float]]:
    """Run every variant once untimed (warm-up), then `reps` times, alternating; samples by label."""
    samples: dict[str, list[float]] = {label: [] for label, _ in variants}
    for rep in range(0 if warmup else 1, reps + 1):
        for label, fn in variants:
            elapsed = timed(fn)
            if between is not None:
                between()
            if rep:
                samples[label].append(elapsed)
    summary = ", ".join(f"{k} {statistics.median(v):.3f}s" for k, v in samples.items())
    print(f"  {workload} ({ops:,} ops): {summary}", file=sys.stderr, flush=True)
    return samples


def check_same(pg_table: pa.Table, adbc_table: pa.Table, label: str) -> None:
    if adbc_table.schema != ARROW_SCHEMA:
        # ADBC may label the timestamp differently; compare values on our schema
        adbc_table = adbc_table.cast(ARROW_SCHEMA)
    # row order of a plain SELECT is not guaranteed (synchronized seq scans): compare sorted
    if not pg_table.sort_by("i").equals(adbc_table.sort_by("i")):
        raise SystemExit(f"{label}: psycopg and ADBC tables differ")


def main() -> int:
    print(f"server: {HOST}:{PORT} database {DATABASE} as {USER}", file=sys.stderr)
    pg = pg_connect()
    ad = adbc_connect()
    pg_cur = pg.cursor()
    ad_cur = ad.cursor()
    pg_tx = pg_connect(autocommit=False)
    ad_tx = adbc_connect(autocommit=False)
    server = pg.execute("SHOW server_version").fetchone()
    results: list[Result] = []
    try:
        pg.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        pg.execute(f"CREATE SCHEMA {SCHEMA}")

        s = compare(
            "connect",
            CONNECTS,
            3,
            [
                ("pg", pg_connect_loop),
                ("adbc", adbc_connect_loop),
                ("clone", lambda: adbc_clone_loop(ad)),
            ],
        )
        results.append(
            Result("connect + SELECT 1 + close", CONNECTS, "connect", s["pg"], "connect", s["adbc"])
        )
        results.append(
            Result(
                "connect + SELECT 1 + close", CONNECTS, "connect", s["pg"], "adbc_clone", s["clone"]
            )
        )

        s = compare(
            "ddl",
            CYCLES * 4,
            3,
            [("pg", lambda: ddl_cycles(pg_cur)), ("adbc", lambda: ddl_cycles(ad_cur))],
        )
        results.append(
            Result(
                "statements: temp CREATE/INSERT/SELECT/DROP", CYCLES * 4, "", s["pg"], "", s["adbc"]
            )
        )
        s = compare(
            "select1",
            SELECTS,
            5,
            [("pg", lambda: select_ones(pg_cur)), ("adbc", lambda: select_ones(ad_cur))],
        )
        results.append(Result("statements: SELECT 1", SELECTS, "", s["pg"], "", s["adbc"]))

        pg.execute(SOURCE_SQL)
        pg.execute(f"ANALYZE {SOURCE}")
        reference = adbc_fetch(ad_tx)
        ad_tx.commit()
        check_same(pg_fetch_copy(pg_tx), reference, "fetch (COPY csv)")
        check_same(pg_fetch_cursor(pg_tx), reference, "fetch (cursor)")
        pg_tx.commit()
        s = compare(
            "fetch",
            ROWS,
            3,
            [
                ("copy", lambda: pg_fetch_copy(pg_tx)),
                ("adbc", lambda: adbc_fetch(ad_tx)),
                ("cursor", lambda: pg_fetch_cursor(pg_tx)),
            ],
            between=lambda: (pg_tx.commit(), ad_tx.commit()),
            warmup=False,  # the checks above were the warm-up
        )
        results.append(
            Result(
                "fetch 1M x 5 -> Arrow",
                ROWS,
                "COPY csv + pyarrow.csv",
                s["copy"],
                "fetch_arrow_table",
                s["adbc"],
            )
        )
        results.append(
            Result(
                "fetch 1M x 5 -> Arrow",
                ROWS,
                "fetchall + pa.array",
                s["cursor"],
                "fetch_arrow_table",
                s["adbc"],
            )
        )

        data = load_data()

        def drop_and_check() -> None:
            count = pg.execute(f"SELECT count(*) FROM {SCHEMA}.{LOAD_TABLE}").fetchone()
            assert count is not None and count[0] == ROWS, count
            pg.execute(f"DROP TABLE {SCHEMA}.{LOAD_TABLE}")

        loaded_sql = f"SELECT i, b, d, t, ts FROM {SCHEMA}.{LOAD_TABLE} ORDER BY i"
        check_same(data, reference, "load data vs server-generated rows")
        del reference
        loaders: list[tuple[str, Callable[[], None]]] = [
            ("COPY csv", lambda: pg_load(pg_tx, data)),
            ("adbc_ingest", lambda: adbc_load(ad_tx, data)),
        ]
        for label, load in loaders:
            load()
            check_same(data, adbc_fetch(ad_tx, loaded_sql), f"load ({label}) round trip")
            ad_tx.commit()
            pg.execute(f"DROP TABLE {SCHEMA}.{LOAD_TABLE}")
        s = compare(
            "load",
            ROWS,
            3,
            [("copy", lambda: pg_load(pg_tx, data)), ("adbc", lambda: adbc_load(ad_tx, data))],
            between=drop_and_check,
            warmup=False,  # the round-trip checks above were the warm-up
        )
        results.append(
            Result(
                "load 1M x 5 from Arrow",
                ROWS,
                "write_csv -> COPY FROM STDIN",
                s["copy"],
                "adbc_ingest",
                s["adbc"],
            )
        )

        s = compare(
            "small",
            SMALL_QUERIES,
            5,
            [
                ("pg", lambda: small_fetch(pg_cur)),
                ("adbc", lambda: small_fetch(ad_cur)),
                ("adbc_arrow", lambda: adbc_small_arrow(ad_cur)),
            ],
        )
        results.append(
            Result(
                "small fetch: 100 rows", SMALL_QUERIES, "fetchall", s["pg"], "fetchall", s["adbc"]
            )
        )
        results.append(
            Result(
                "small fetch: 100 rows",
                SMALL_QUERIES,
                "fetchall",
                s["pg"],
                "fetch_arrow_table",
                s["adbc_arrow"],
            )
        )
    finally:
        for c in (pg_tx, ad_tx):
            c.rollback()
        pg.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        ad_cur.close()
        for c in (pg_tx, ad_tx, ad, pg):
            c.close()

    title = (
        f"PostgreSQL {server[0] if server else '?'} at {HOST}:{PORT}: "
        f"psycopg {psycopg.__version__} vs ADBC {adbc_version()} (median seconds)"
    )
    print_table(title, results)
    return 0


def adbc_version() -> str:
    import adbc_driver_postgresql

    return str(getattr(adbc_driver_postgresql, "__version__", "?"))


def per_op(seconds: float, ops: int) -> str:
    us = seconds / ops * 1e6
    return (
        f"{us / 1000:.2f} ms"
        if us >= 1000
        else f"{us:.1f} us"
        if us >= 1
        else f"{us * 1000:.0f} ns"
    )


def print_table(title: str, results: list[Result]) -> None:
    header = ["workload", "ops", "psycopg", "s", "ADBC", "s", "psycopg/ADBC", "per op (pg / ADBC)"]
    rows = [
        [
            r.workload,
            f"{r.ops:,}",
            r.pg_label,
            f"{r.pg_median:.3f}",
            r.adbc_label,
            f"{r.adbc_median:.3f}",
            f"{r.pg_median / r.adbc_median:.2f}x",
            f"{per_op(r.pg_median, r.ops)} / {per_op(r.adbc_median, r.ops)}",
        ]
        for r in results
    ]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
        print(title)
        for row in [header, *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        return
    table = Table(title=title)
    for i, name in enumerate(header):
        table.add_column(name, justify="right" if i in (1, 3, 5, 6) else "left")
    for row in rows:
        table.add_row(*row)
    Console(width=200).print(table)


if __name__ == "__main__":
    sys.exit(main())
