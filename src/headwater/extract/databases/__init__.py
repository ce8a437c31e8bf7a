"""The database connectors: `postgres` and `mysql` (alias `mariadb`). `base` is what they share
(`DatabaseConnector`: config, cursors, chunked reads, parallel ranges), `postgres` and `mysql`
the drivers' side. (`headwater.sql` is something else: the compiler of the project's models.)

Config (the source's ``connection:`` merged with the table's ``extract:``)::

    host, port, user, database     where to connect (defaults: libpq's / localhost:3306)
    password_env                   name of the environment variable holding the password
    dsn_env                        a full DSN / URI in an environment variable instead
                                   (postgresql://u:p@h:5432/db, mysql://u:p@h:3306/db)
    table                          the remote table (default: the source table's name;
                                   ``schema.table`` allowed)
    query                          a custom SELECT instead of a table
    cursor                         incremental cursor column: rows with cursor > last - lag
    initial_cursor                 first run only: rows with cursor >= this value
    chunk_size                     rows per Batch (default 100_000)
    parallel                       {key: <integer column>, workers: N}: a full extract read as
                                   N key ranges concurrently (PostgreSQL: one shared snapshot)

plus the loader's keys (`lag`, `primary_key`, `columns`, ...). `lag` is applied here: an
ISO-8601 duration (``PT1H``, ``P1D``), ``"1 hour"`` / ``"30 minutes"``, or a number for numeric
cursors.

Incremental extraction is ``WHERE cursor > last - lag ORDER BY cursor``; every Batch carries the
largest cursor value it holds, and batches are cut only *between* two different cursor values,
so committing batch k and crashing resumes exactly after batch k (rows with the same cursor value
never straddle two batches). Rows whose cursor is NULL are read only by the first run (no cursor
yet). With a lag, rows re-read inside the lag window are deduplicated by the loader (primary key),
and a Batch's cursor never goes below the committed one. An extract with no rows yields one empty
Batch that carries the schema (and the unchanged cursor). A text cursor is compared by the
server's collation (case-insensitive by default on MySQL): prefer timestamps or integers.

How rows get out, chosen by measurement on this machine (2 cores, PostgreSQL 15 and MariaDB 10.11
on localhost; a table of bigint, int, numeric(14,2), float8, text, timestamp, timestamptz, date,
bool, jsonb and a nullable int; time and peak RSS of the whole process):

    PostgreSQL, 2M rows                       time     rows/s    peak RSS
    ADBC (adbc-driver-postgresql), streamed   2.9 s    0.68 M    176 MB   <- chosen
    psycopg 3 COPY CSV -> pyarrow.csv         3.0 s    0.67 M    612 MB   (whole COPY buffered)
    psycopg 3 COPY CSV streamed -> open_csv   3.9 s    0.52 M    240 MB
    connectorx                                3.0 s    0.67 M    265 MB   (2 partitions: 2.7 s)
    psycopg 3 COPY BINARY, Python rows       27.8 s    0.07 M   1979 MB
    psycopg 3 server cursor fetchmany        20.5 s    0.10 M    378 MB
    (psql COPY BINARY to /dev/null: 1.75 s -- the server is half of every fast path)

    MariaDB, 1M rows
    connectorx                                1.3 s    0.75 M    171 MB
    pymysql SSCursor, decoders on            12.9 s    0.08 M    276 MB
    pymysql SSCursor, raw text + Arrow casts  8.0 s    0.13 M    322 MB   <- chosen

Through this connector (100_000-row batches, types normalized): PostgreSQL 2M rows 3.1 s
(0.65 M rows/s, 211 MB), `parallel` with 2 workers 2.9 s; MariaDB 1M rows 7.7 s (0.13 M rows/s,
197 MB), 2 workers 8.0 s. On this 2-core machine the server (PostgreSQL) or the GIL (pymysql) is the
limit, so `parallel` pays off only with more cores on both sides.

PostgreSQL: ADBC ties connectorx and COPY CSV on speed (all three are server-bound) with the
lowest memory, streams record batches, and keeps the server's types (typmod of numerics, time
zones, bytea, json) in the Arrow schema; it installs ~27 MB against connectorx's ~180 MB.
MySQL/MariaDB: connectorx is ~6x faster, but it is a 180 MB dependency that drops declared decimal
precision (always decimal128(38,10)) and BOOLEAN; pymysql (pure Python, 0.4 MB) is read unbuffered
with its Python decoders switched off: values arrive as text and Arrow's C++ casts type them.

Types: integers, floats, numeric(p,s) -> decimal128(p,s) (decimal256 past 38 digits; an
unconstrained PostgreSQL numeric -> float64, as DuckDB's postgres scanner), timestamp ->
timestamp[us], timestamptz / MySQL TIMESTAMP -> timestamp[us, UTC], date -> date32, bool (and
MySQL tinyint(1)) -> bool, text -> string, json/jsonb -> string, bytea / blob / binary -> binary,
PostgreSQL time -> time64, interval -> month_day_nano, arrays -> lists; uuid, inet and other
PostgreSQL types without an Arrow counterpart -> their text form; MySQL TIME (may exceed 24 h)
-> string, YEAR -> int16, zero dates -> NULL.
"""
