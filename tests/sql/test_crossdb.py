"""dbt's cross-database macros (`headwater.sql.crossdb`), run on DuckDB and on PostgreSQL.

Every expected value and type in the tables below was checked against dbt-core 1.11.16 with
dbt-duckdb 1.11.1 (DuckDB 2.0.1) and with dbt-postgres 1.11.0 (PostgreSQL 15): a scratch dbt
project had one model per case calling `dbt.<macro>(...)` with these arguments, `dbt run` built
them as tables, and the tables' rows and DESCRIBEd column types were read back. The tests run
headwater's SQL for the same calls and compare with those facts; they need neither dbt nor the
scratch project.

PostgreSQL is the server at 127.0.0.1:5432 (user postgres, database test; override with
HW_TEST_PG_*): without one the PostgreSQL tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.errors import CompilationError
from headwater.sql.crossdb import (
    ADAPTER_PREFIXES,
    DIALECTS,
    MACRO_NAMES,
    adapter_prefixes,
    builtin_macros,
)

IN_CI = os.environ.get("CI", "").lower() == "true"

Case = tuple[str, tuple[Any, ...], Any, str]
"""(macro, positional arguments, expected value or values, expected column type)."""

# The table the aggregate and per-row cases read, in both engines.
ROWS_T = (
    "select * from (values (1, 'b', true, cast('2020-01-31' as date)), "
    "(2, 'a', false, cast('2020-02-29' as date)), (3, 'c', null, cast('2021-12-31' as date))) "
    "as v(id, s, flag, d)"
)

# --- facts from dbt-duckdb 1.11.1 (dbt-core 1.11.16, DuckDB 2.0.1) ----------------------------
# SCALARS: `select <macro> as r`; AGGREGATES: `select <macro> as r from t`;
# PER_ROW: `select id, <macro> as r from t`, values ordered by id.

DUCKDB_SCALARS: list[Case] = [
    ("cast", ("'12'", "bigint"), 12, "BIGINT"),
    ("cast", ("'2020-01-02'", "date"), date(2020, 1, 2), "DATE"),
    ("cast_bool_to_text", ("true",), "true", "VARCHAR"),
    ("concat", (["'x'"],), "x", "VARCHAR"),
    (
        "snapshot_string_as_time",
        ("2020-01-02 03:04:05",),
        datetime(2020, 1, 2, 3, 4, 5),
        "TIMESTAMP",
    ),
    ("date", (2020, 2, 29), date(2020, 2, 29), "DATE"),
    ("date", (1999, 12, 31), date(1999, 12, 31), "DATE"),
    ("date_trunc", ("day", "cast('2020-05-14' as date)"), datetime(2020, 5, 14, 0, 0), "TIMESTAMP"),
    (
        "date_trunc",
        ("day", "cast('2020-05-14 13:45:56.789' as timestamp)"),
        datetime(2020, 5, 14, 0, 0),
        "TIMESTAMP",
    ),
    (
        "date_trunc",
        ("week", "cast('2020-05-14' as date)"),
        datetime(2020, 5, 11, 0, 0),
        "TIMESTAMP",
    ),
    (
        "date_trunc",
        ("week", "cast('2020-05-14 13:45:56.789' as timestamp)"),
        datetime(2020, 5, 11, 0, 0),
        "TIMESTAMP",
    ),
    (
        "date_trunc",
        ("month", "cast('2020-05-14' as date)"),
        datetime(2020, 5, 1, 0, 0),
        "TIMESTAMP",
    ),
    (
        "date_trunc",
        ("month", "cast('2020-05-14 13:45:56.789' as timestamp)"),
        datetime(2020, 5, 1, 0, 0),
        "TIMESTAMP",
    ),
    (
        "date_trunc",
        ("quarter", "cast('2020-05-14' as date)"),
        datetime(2020, 4, 1, 0, 0),
        "TIMESTAMP",
    ),
    (
        "date_trunc",
        ("quarter", "cast('2020-05-14 13:45:56.789' as timestamp)"),
        datetime(2020, 4, 1, 0, 0),
        "TIMESTAMP",
    ),
    ("date_trunc", ("year", "cast('2020-05-14' as date)"), datetime(2020, 1, 1, 0, 0), "TIMESTAMP"),
    (
        "date_trunc",
        ("year", "cast('2020-05-14 13:45:56.789' as timestamp)"),
        datetime(2020, 1, 1, 0, 0),
        "TIMESTAMP",
    ),
    (
        "date_trunc",
        ("hour", "cast('2020-05-14' as date)"),
        datetime(2020, 5, 14, 0, 0),
        "TIMESTAMP",
    ),
    (
        "date_trunc",
        ("hour", "cast('2020-05-14 13:45:56.789' as timestamp)"),
        datetime(2020, 5, 14, 13, 0),
        "TIMESTAMP",
    ),
    ("dateadd", ("day", 1, "cast('2020-01-31' as date)"), datetime(2020, 2, 1, 0, 0), "TIMESTAMP"),
    (
        "dateadd",
        ("day", 1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 2, 1, 10, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("day", -40, "cast('2020-01-31' as date)"),
        datetime(2019, 12, 22, 0, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("day", -40, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2019, 12, 22, 10, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("week", 2, "cast('2020-01-31' as date)"),
        datetime(2020, 2, 14, 0, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("week", 2, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 2, 14, 10, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("week", -1, "cast('2020-01-31' as date)"),
        datetime(2020, 1, 24, 0, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("week", -1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 1, 24, 10, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("month", 1, "cast('2020-01-31' as date)"),
        datetime(2020, 2, 29, 0, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("month", 1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 2, 29, 10, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("month", -13, "cast('2020-01-31' as date)"),
        datetime(2018, 12, 31, 0, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("month", -13, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2018, 12, 31, 10, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("quarter", 1, "cast('2020-01-31' as date)"),
        datetime(2020, 4, 30, 0, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("quarter", 1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 4, 30, 10, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("quarter", -2, "cast('2020-01-31' as date)"),
        datetime(2019, 7, 31, 0, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("quarter", -2, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2019, 7, 31, 10, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("year", 1, "cast('2020-01-31' as date)"),
        datetime(2021, 1, 31, 0, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("year", 1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2021, 1, 31, 10, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("hour", 25, "cast('2020-01-31' as date)"),
        datetime(2020, 2, 1, 1, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("hour", 25, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 2, 1, 11, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("minute", -90, "cast('2020-01-31' as date)"),
        datetime(2020, 1, 30, 22, 30),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("minute", -90, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 1, 31, 8, 30),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("second", 3661, "cast('2020-01-31' as date)"),
        datetime(2020, 1, 31, 1, 1, 1),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("second", 3661, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 1, 31, 11, 1, 1),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("millisecond", 1500, "cast('2020-01-31' as date)"),
        datetime(2020, 1, 31, 0, 0, 1, 500000),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("millisecond", 1500, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 1, 31, 10, 0, 1, 500000),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("microsecond", 10, "cast('2020-01-31' as date)"),
        datetime(2020, 1, 31, 0, 0, 0, 10),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("microsecond", 10, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 1, 31, 10, 0, 0, 10),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("Month", 1, "cast('2020-01-31' as date)"),
        datetime(2020, 2, 29, 0, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("Month", 1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 2, 29, 10, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("YEAR", 2, "cast('2020-01-31' as date)"),
        datetime(2022, 1, 31, 0, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("YEAR", 2, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2022, 1, 31, 10, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("decade", 1, "cast('2020-01-31' as date)"),
        datetime(2030, 1, 31, 0, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("decade", 1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2030, 1, 31, 10, 0),
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("day", "'3'", "cast('2020-01-01' as date)"),
        datetime(2020, 1, 4, 0, 0),
        "TIMESTAMP",
    ),
    ("datediff", ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "day"), 74, "BIGINT"),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "day"),
        -74,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "day",
        ),
        1,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "day",
        ),
        -1,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "day"),
        -640,
        "BIGINT",
    ),
    ("datediff", ("cast('2020-01-01' as date)", "cast('2020-01-01' as date)", "week"), 0, "BIGINT"),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "week"),
        11,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "week"),
        -11,
        "BIGINT",
    ),
    ("datediff", ("cast('2019-12-31' as date)", "cast('2020-01-01' as date)", "week"), 0, "BIGINT"),
    ("datediff", ("cast('2020-01-04' as date)", "cast('2020-01-05' as date)", "week"), 1, "BIGINT"),
    (
        "datediff",
        ("cast('2020-01-05' as date)", "cast('2020-01-04' as date)", "week"),
        -1,
        "BIGINT",
    ),
    ("datediff", ("cast('2020-01-06' as date)", "cast('2020-01-13' as date)", "week"), 1, "BIGINT"),
    (
        "datediff",
        ("cast('2020-01-13' as date)", "cast('2020-01-06' as date)", "week"),
        -2,
        "BIGINT",
    ),
    ("datediff", ("cast('2020-01-08' as date)", "cast('2020-01-06' as date)", "week"), 0, "BIGINT"),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "week",
        ),
        0,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "week",
        ),
        0,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "week"),
        -92,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "month"),
        2,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "month"),
        -2,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "month",
        ),
        0,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "month",
        ),
        0,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "month"),
        -21,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "quarter"),
        0,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "quarter"),
        0,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "quarter",
        ),
        0,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "quarter",
        ),
        0,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "quarter"),
        -7,
        "BIGINT",
    ),
    ("datediff", ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "year"), 0, "BIGINT"),
    ("datediff", ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "year"), 0, "BIGINT"),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "year",
        ),
        0,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "year",
        ),
        0,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "year"),
        -1,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "hour"),
        1776,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "hour"),
        -1776,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "hour",
        ),
        1,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "hour",
        ),
        -1,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "hour"),
        -15348,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "minute"),
        106560,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "minute"),
        -106560,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "minute",
        ),
        1,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "minute",
        ),
        -1,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "minute"),
        -920880,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "second"),
        6393600,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "second"),
        -6393600,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "second",
        ),
        2,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "second",
        ),
        -2,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "second"),
        -55252800,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "millisecond"),
        6393600000,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "millisecond"),
        -6393600000,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "millisecond",
        ),
        2000,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "millisecond",
        ),
        -2250,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "millisecond"),
        -55252800000,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "microsecond"),
        6393600000000,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "microsecond"),
        -6393600000000,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "microsecond",
        ),
        2000000,
        "BIGINT",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "microsecond",
        ),
        -2250000,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "microsecond"),
        -55252800000000,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "WEEK"),
        10,
        "BIGINT",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "Month"),
        2,
        "BIGINT",
    ),
    ("equals", ("1", "1"), True, "BOOLEAN"),
    ("equals", ("null", "null"), None, "BOOLEAN"),
    ("get_powers_of_two", (1,), 1, "INTEGER"),
    ("get_powers_of_two", (2,), 1, "INTEGER"),
    ("get_powers_of_two", (3,), 2, "INTEGER"),
    ("get_powers_of_two", (4,), 2, "INTEGER"),
    ("get_powers_of_two", (5,), 3, "INTEGER"),
    ("get_powers_of_two", (1024,), 10, "INTEGER"),
    ("get_powers_of_two", (1025,), 11, "INTEGER"),
    ("hash", ("'abc'",), "900150983cd24fb0d6963f7d28e17f72", "VARCHAR"),
    ("hash", ("null",), None, "VARCHAR"),
    ("last_day", ("cast('2020-02-10' as date)", "day"), date(2020, 2, 10), "DATE"),
    ("last_day", ("cast('2020-11-10 10:00:00' as timestamp)", "day"), date(2020, 11, 10), "DATE"),
    ("last_day", ("cast('2020-02-10' as date)", "week"), date(2020, 2, 16), "DATE"),
    ("last_day", ("cast('2020-11-10 10:00:00' as timestamp)", "week"), date(2020, 11, 15), "DATE"),
    ("last_day", ("cast('2020-02-10' as date)", "month"), date(2020, 2, 29), "DATE"),
    ("last_day", ("cast('2020-11-10 10:00:00' as timestamp)", "month"), date(2020, 11, 30), "DATE"),
    ("last_day", ("cast('2020-02-10' as date)", "quarter"), date(2020, 3, 31), "DATE"),
    (
        "last_day",
        ("cast('2020-11-10 10:00:00' as timestamp)", "quarter"),
        date(2020, 12, 31),
        "DATE",
    ),
    ("last_day", ("cast('2020-02-10' as date)", "year"), date(2020, 12, 31), "DATE"),
    ("last_day", ("cast('2020-11-10 10:00:00' as timestamp)", "year"), date(2020, 12, 31), "DATE"),
    ("default_last_day", ("cast('2020-02-10' as date)", "month"), date(2020, 2, 29), "DATE"),
    ("length", ("'abc'",), 3, "BIGINT"),
    ("length", ("''",), 0, "BIGINT"),
    ("position", ("'b'", "'abc'"), 2, "BIGINT"),
    ("position", ("'z'", "'abc'"), 0, "BIGINT"),
    ("replace", ("'abcabc'", "'b'", "'XY'"), "aXYcaXYc", "VARCHAR"),
    ("right", ("'abcdef'", 3), "def", "VARCHAR"),
    ("right", ("'abc'", "0"), "", "VARCHAR"),
    ("safe_cast", ("'12'", "integer"), 12, "INTEGER"),
    ("safe_cast", ("'2020-01-02'", "date"), date(2020, 1, 2), "DATE"),
    ("split_part", ("'a,b,c'", "','", 1), "a", "VARCHAR"),
    ("split_part", ("'a,b,c'", "','", 2), "b", "VARCHAR"),
    ("split_part", ("'a,b,c'", "','", 3), "c", "VARCHAR"),
    ("split_part", ("'a,b,c'", "','", 5), None, "VARCHAR"),
    ("split_part", ("'a,b,c'", "','", -1), "c", "VARCHAR"),
    ("split_part", ("'a,b,c'", "','", -2), "b", "VARCHAR"),
    ("split_part", ("'a,b,c'", "','", -3), "a", "VARCHAR"),
    ("split_part", ("'a,b,c'", "','", -5), None, "VARCHAR"),
    ("split_part", ("'a,b,c'", "','", 0), None, "VARCHAR"),
    ("split_part", ("'a--b--c'", "'--'", -1), "c", "VARCHAR"),
    ("split_part", ("'a--b--c'", "'--'", 2), "b", "VARCHAR"),
    ("split_part", ("'abc'", "','", -1), "abc", "VARCHAR"),
    ("split_part", ("''", "','", 1), "", "VARCHAR"),
    ("string_literal", ("abc",), "abc", "VARCHAR"),
    ("string_literal", ("2020-01-01",), "2020-01-01", "VARCHAR"),
    ("array_append", ("array[1,2]", "3"), [1, 2, 3], "INTEGER[]"),
    ("array_concat", ("array[1,2]", "array[3]"), [1, 2, 3], "INTEGER[]"),
    ("array_construct", ([1, 2, 3],), [1, 2, 3], "INTEGER[]"),
    ("array_construct", ([],), [], "INTEGER[]"),
    ("array_construct", ([], "text"), [], "VARCHAR[]"),
    ("array_construct", (["'a'", "'b'"], "text"), ["a", "b"], "VARCHAR[]"),
    ("cast", ("'1.5'", "float"), 1.5, "FLOAT"),
]

DUCKDB_AGGREGATES: list[Case] = [
    ("bool_or", ("flag",), True, "BOOLEAN"),
    ("bool_or", ("flag and id > 5",), False, "BOOLEAN"),
    ("bool_or", ("id > 2",), True, "BOOLEAN"),
    ("listagg", ("s", "'|'", "order by s"), "a|b|c", "VARCHAR"),
    ("listagg", ("s", "', '", "order by id desc", 2), "c, a", "VARCHAR"),
    ("listagg", ("s", "'-'", "order by s desc", 1), "c", "VARCHAR"),
    ("listagg", ("s", "'-'", "order by s", 10), "a-b-c", "VARCHAR"),
    ("listagg", ("s", "'-'", "order by s", 0), "a-b-c", "VARCHAR"),
]

DUCKDB_PER_ROW: list[Case] = [
    ("cast", ("id", "text"), ["1", "2", "3"], "VARCHAR"),
    ("cast_bool_to_text", ("flag",), ["true", "false", None], "VARCHAR"),
    ("concat", (["'a'", "s", "'-'", "cast(id as text)"],), ["ab-1", "aa-2", "ac-3"], "VARCHAR"),
    ("concat", (["s", "null"],), [None, None, None], '"NULL"'),
    (
        "dateadd",
        ("day", "id", "d"),
        [datetime(2020, 2, 1, 0, 0), datetime(2020, 3, 2, 0, 0), datetime(2022, 1, 3, 0, 0)],
        "TIMESTAMP",
    ),
    (
        "dateadd",
        ("month", "id * 2", "d"),
        [datetime(2020, 3, 31, 0, 0), datetime(2020, 6, 29, 0, 0), datetime(2022, 6, 30, 0, 0)],
        "TIMESTAMP",
    ),
    ("datediff", ("d", "cast('2021-01-01' as date)", "week"), [48, 44, -53], "BIGINT"),
    ("datediff", ("d", "cast('2021-01-01' as date)", "month"), [12, 11, -11], "BIGINT"),
    ("equals", ("s", "'a'"), [False, True, False], "BOOLEAN"),
    ("equals", ("flag", "null"), [None, None, None], "BOOLEAN"),
    (
        "hash",
        ("id",),
        [
            "c4ca4238a0b923820dcc509a6f75849b",
            "c81e728d9d4c2f636f067f89cc14862c",
            "eccbc87e4b5ce2fe28308fd9f2a7baf3",
        ],
        "VARCHAR",
    ),
    (
        "hash",
        ("d",),
        [
            "2b0d57f6eea21cbed6899568b0a648a9",
            "c5085a501e9f2b380cb6e2234fc8f489",
            "44aabe5641b246c44b7baa4bf7ee858c",
        ],
        "VARCHAR",
    ),
    (
        "last_day",
        ("d", "month"),
        [date(2020, 1, 31), date(2020, 2, 29), date(2021, 12, 31)],
        "DATE",
    ),
    ("length", ("s",), [1, 1, 1], "BIGINT"),
    ("position", ("s", "'abc'"), [2, 1, 3], "BIGINT"),
    ("replace", ("s", "'a'", "''"), ["b", "", "c"], "VARCHAR"),
    ("right", ("s", "id"), ["b", "a", "c"], "VARCHAR"),
]

POSTGRES_SCALARS: list[Case] = [
    ("cast", ("'12'", "bigint"), 12, "bigint"),
    ("cast", ("'2020-01-02'", "date"), date(2020, 1, 2), "date"),
    ("cast_bool_to_text", ("true",), "true", "text"),
    ("concat", (["'x'"],), "x", "text"),
    (
        "snapshot_string_as_time",
        ("2020-01-02 03:04:05",),
        datetime(2020, 1, 2, 3, 4, 5),
        "timestamp without time zone",
    ),
    ("date", (2020, 2, 29), date(2020, 2, 29), "date"),
    ("date", (1999, 12, 31), date(1999, 12, 31), "date"),
    (
        "date_trunc",
        ("day", "cast('2020-05-14' as date)"),
        datetime(2020, 5, 14, 0, 0, tzinfo=UTC),
        "timestamp with time zone",
    ),
    (
        "date_trunc",
        ("day", "cast('2020-05-14 13:45:56.789' as timestamp)"),
        datetime(2020, 5, 14, 0, 0),
        "timestamp without time zone",
    ),
    (
        "date_trunc",
        ("week", "cast('2020-05-14' as date)"),
        datetime(2020, 5, 11, 0, 0, tzinfo=UTC),
        "timestamp with time zone",
    ),
    (
        "date_trunc",
        ("week", "cast('2020-05-14 13:45:56.789' as timestamp)"),
        datetime(2020, 5, 11, 0, 0),
        "timestamp without time zone",
    ),
    (
        "date_trunc",
        ("month", "cast('2020-05-14' as date)"),
        datetime(2020, 5, 1, 0, 0, tzinfo=UTC),
        "timestamp with time zone",
    ),
    (
        "date_trunc",
        ("month", "cast('2020-05-14 13:45:56.789' as timestamp)"),
        datetime(2020, 5, 1, 0, 0),
        "timestamp without time zone",
    ),
    (
        "date_trunc",
        ("quarter", "cast('2020-05-14' as date)"),
        datetime(2020, 4, 1, 0, 0, tzinfo=UTC),
        "timestamp with time zone",
    ),
    (
        "date_trunc",
        ("quarter", "cast('2020-05-14 13:45:56.789' as timestamp)"),
        datetime(2020, 4, 1, 0, 0),
        "timestamp without time zone",
    ),
    (
        "date_trunc",
        ("year", "cast('2020-05-14' as date)"),
        datetime(2020, 1, 1, 0, 0, tzinfo=UTC),
        "timestamp with time zone",
    ),
    (
        "date_trunc",
        ("year", "cast('2020-05-14 13:45:56.789' as timestamp)"),
        datetime(2020, 1, 1, 0, 0),
        "timestamp without time zone",
    ),
    (
        "date_trunc",
        ("hour", "cast('2020-05-14' as date)"),
        datetime(2020, 5, 14, 0, 0, tzinfo=UTC),
        "timestamp with time zone",
    ),
    (
        "date_trunc",
        ("hour", "cast('2020-05-14 13:45:56.789' as timestamp)"),
        datetime(2020, 5, 14, 13, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("day", 1, "cast('2020-01-31' as date)"),
        datetime(2020, 2, 1, 0, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("day", 1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 2, 1, 10, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("day", -40, "cast('2020-01-31' as date)"),
        datetime(2019, 12, 22, 0, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("day", -40, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2019, 12, 22, 10, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("week", 2, "cast('2020-01-31' as date)"),
        datetime(2020, 2, 14, 0, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("week", 2, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 2, 14, 10, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("week", -1, "cast('2020-01-31' as date)"),
        datetime(2020, 1, 24, 0, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("week", -1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 1, 24, 10, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("month", 1, "cast('2020-01-31' as date)"),
        datetime(2020, 2, 29, 0, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("month", 1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 2, 29, 10, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("month", -13, "cast('2020-01-31' as date)"),
        datetime(2018, 12, 31, 0, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("month", -13, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2018, 12, 31, 10, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("year", 1, "cast('2020-01-31' as date)"),
        datetime(2021, 1, 31, 0, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("year", 1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2021, 1, 31, 10, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("hour", 25, "cast('2020-01-31' as date)"),
        datetime(2020, 2, 1, 1, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("hour", 25, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 2, 1, 11, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("minute", -90, "cast('2020-01-31' as date)"),
        datetime(2020, 1, 30, 22, 30),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("minute", -90, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 1, 31, 8, 30),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("second", 3661, "cast('2020-01-31' as date)"),
        datetime(2020, 1, 31, 1, 1, 1),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("second", 3661, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 1, 31, 11, 1, 1),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("millisecond", 1500, "cast('2020-01-31' as date)"),
        datetime(2020, 1, 31, 0, 0, 1, 500000),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("millisecond", 1500, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 1, 31, 10, 0, 1, 500000),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("microsecond", 10, "cast('2020-01-31' as date)"),
        datetime(2020, 1, 31, 0, 0, 0, 10),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("microsecond", 10, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 1, 31, 10, 0, 0, 10),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("Month", 1, "cast('2020-01-31' as date)"),
        datetime(2020, 2, 29, 0, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("Month", 1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2020, 2, 29, 10, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("YEAR", 2, "cast('2020-01-31' as date)"),
        datetime(2022, 1, 31, 0, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("YEAR", 2, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2022, 1, 31, 10, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("decade", 1, "cast('2020-01-31' as date)"),
        datetime(2030, 1, 31, 0, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("decade", 1, "cast('2020-01-31 10:00:00' as timestamp)"),
        datetime(2030, 1, 31, 10, 0),
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("day", "'3'", "cast('2020-01-01' as date)"),
        datetime(2020, 1, 4, 0, 0),
        "timestamp without time zone",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "day"),
        74,
        "integer",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "day"),
        -74,
        "integer",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "day",
        ),
        1,
        "integer",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "day",
        ),
        -1,
        "integer",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "day"),
        -640,
        "integer",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-01-01' as date)", "week"),
        0,
        "integer",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "week"),
        11,
        "integer",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "week"),
        -11,
        "integer",
    ),
    (
        "datediff",
        ("cast('2019-12-31' as date)", "cast('2020-01-01' as date)", "week"),
        0,
        "integer",
    ),
    (
        "datediff",
        ("cast('2020-01-04' as date)", "cast('2020-01-05' as date)", "week"),
        1,
        "integer",
    ),
    (
        "datediff",
        ("cast('2020-01-05' as date)", "cast('2020-01-04' as date)", "week"),
        -1,
        "integer",
    ),
    (
        "datediff",
        ("cast('2020-01-06' as date)", "cast('2020-01-13' as date)", "week"),
        1,
        "integer",
    ),
    (
        "datediff",
        ("cast('2020-01-13' as date)", "cast('2020-01-06' as date)", "week"),
        -2,
        "integer",
    ),
    (
        "datediff",
        ("cast('2020-01-08' as date)", "cast('2020-01-06' as date)", "week"),
        0,
        "integer",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "week",
        ),
        0,
        "integer",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "week",
        ),
        0,
        "integer",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "week"),
        -92,
        "integer",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "month"),
        2.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "month"),
        -2.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "month",
        ),
        0.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "month",
        ),
        0.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "month"),
        -21.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "quarter"),
        0.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "quarter"),
        0.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "quarter",
        ),
        0.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "quarter",
        ),
        0.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "quarter"),
        -7.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "year"),
        0.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "year"),
        0.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "year",
        ),
        0.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "year",
        ),
        0.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "year"),
        -1.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "hour"),
        1776.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "hour"),
        -1776.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "hour",
        ),
        1.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "hour",
        ),
        -1.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "hour"),
        -15348.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "minute"),
        106560.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "minute"),
        -106560.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "minute",
        ),
        1.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "minute",
        ),
        -1.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "minute"),
        -920880.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "second"),
        6393600.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "second"),
        -6393600.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "second",
        ),
        2.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "second",
        ),
        -2.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "second"),
        -55252800.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "millisecond"),
        6393600000.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "millisecond"),
        -6393600000.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "millisecond",
        ),
        2000.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "millisecond",
        ),
        -2250.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "millisecond"),
        -55252800000.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "microsecond"),
        6393600000000.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2020-03-15' as date)", "cast('2020-01-01' as date)", "microsecond"),
        -6393600000000.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-01 23:59:59' as timestamp)",
            "cast('2020-01-02 00:00:01' as timestamp)",
            "microsecond",
        ),
        2000000.0,
        "double precision",
    ),
    (
        "datediff",
        (
            "cast('2020-01-02 00:00:01.5' as timestamp)",
            "cast('2020-01-01 23:59:59.25' as timestamp)",
            "microsecond",
        ),
        -2250000.0,
        "double precision",
    ),
    (
        "datediff",
        ("cast('2021-11-30' as date)", "cast('2020-02-29 12:00:00' as timestamp)", "microsecond"),
        -55252800000000.0,
        "double precision",
    ),
    ("equals", ("1", "1"), True, "boolean"),
    ("equals", ("null", "null"), None, "boolean"),
    ("get_powers_of_two", (1,), 1, "integer"),
    ("get_powers_of_two", (2,), 1, "integer"),
    ("get_powers_of_two", (3,), 2, "integer"),
    ("get_powers_of_two", (4,), 2, "integer"),
    ("get_powers_of_two", (5,), 3, "integer"),
    ("get_powers_of_two", (1024,), 10, "integer"),
    ("get_powers_of_two", (1025,), 11, "integer"),
    ("hash", ("'abc'",), "900150983cd24fb0d6963f7d28e17f72", "text"),
    ("hash", ("null",), None, "text"),
    ("last_day", ("cast('2020-02-10' as date)", "day"), date(2020, 2, 10), "date"),
    ("last_day", ("cast('2020-11-10 10:00:00' as timestamp)", "day"), date(2020, 11, 10), "date"),
    ("last_day", ("cast('2020-02-10' as date)", "week"), date(2020, 2, 16), "date"),
    ("last_day", ("cast('2020-11-10 10:00:00' as timestamp)", "week"), date(2020, 11, 15), "date"),
    ("last_day", ("cast('2020-02-10' as date)", "month"), date(2020, 2, 29), "date"),
    ("last_day", ("cast('2020-11-10 10:00:00' as timestamp)", "month"), date(2020, 11, 30), "date"),
    ("last_day", ("cast('2020-02-10' as date)", "quarter"), date(2020, 3, 31), "date"),
    (
        "last_day",
        ("cast('2020-11-10 10:00:00' as timestamp)", "quarter"),
        date(2020, 12, 31),
        "date",
    ),
    ("last_day", ("cast('2020-02-10' as date)", "year"), date(2020, 12, 31), "date"),
    ("last_day", ("cast('2020-11-10 10:00:00' as timestamp)", "year"), date(2020, 12, 31), "date"),
    ("default_last_day", ("cast('2020-02-10' as date)", "month"), date(2020, 2, 29), "date"),
    ("length", ("'abc'",), 3, "integer"),
    ("length", ("''",), 0, "integer"),
    ("position", ("'b'", "'abc'"), 2, "integer"),
    ("position", ("'z'", "'abc'"), 0, "integer"),
    ("replace", ("'abcabc'", "'b'", "'XY'"), "aXYcaXYc", "text"),
    ("right", ("'abcdef'", 3), "def", "text"),
    ("right", ("'abc'", "0"), "", "text"),
    ("safe_cast", ("'12'", "integer"), 12, "integer"),
    ("safe_cast", ("'2020-01-02'", "date"), date(2020, 1, 2), "date"),
    ("split_part", ("'a,b,c'", "','", 1), "a", "text"),
    ("split_part", ("'a,b,c'", "','", 2), "b", "text"),
    ("split_part", ("'a,b,c'", "','", 3), "c", "text"),
    ("split_part", ("'a,b,c'", "','", 5), "", "text"),
    ("split_part", ("'a,b,c'", "','", -1), "c", "text"),
    ("split_part", ("'a,b,c'", "','", -2), "b", "text"),
    ("split_part", ("'a,b,c'", "','", -3), "a", "text"),
    ("split_part", ("'a,b,c'", "','", -5), "c", "text"),
    ("split_part", ("'a--b--c'", "'--'", -1), "", "text"),
    ("split_part", ("'a--b--c'", "'--'", 2), "b", "text"),
    ("split_part", ("'abc'", "','", -1), "abc", "text"),
    ("split_part", ("''", "','", 1), "", "text"),
    ("string_literal", ("abc",), "abc", "text"),
    ("string_literal", ("2020-01-01",), "2020-01-01", "text"),
    ("array_append", ("array[1,2]", "3"), [1, 2, 3], "integer[]"),
    ("array_concat", ("array[1,2]", "array[3]"), [1, 2, 3], "integer[]"),
    ("array_construct", ([1, 2, 3],), [1, 2, 3], "integer[]"),
    ("array_construct", ([],), [], "integer[]"),
    ("array_construct", ([], "text"), [], "text[]"),
    ("array_construct", (["'a'", "'b'"], "text"), ["a", "b"], "text[]"),
    ("cast", ("'1.5'", "float"), 1.5, "double precision"),
]

POSTGRES_AGGREGATES: list[Case] = [
    ("bool_or", ("flag",), True, "boolean"),
    ("bool_or", ("flag and id > 5",), False, "boolean"),
    ("bool_or", ("id > 2",), True, "boolean"),
    ("listagg", ("s", "'|'", "order by s"), "a|b|c", "text"),
    ("listagg", ("s", "', '", "order by id desc", 2), "c, a", "text"),
    ("listagg", ("s", "'-'", "order by s desc", 1), "c", "text"),
    ("listagg", ("s", "'-'", "order by s", 10), "a-b-c", "text"),
    ("listagg", ("s", "'-'", "order by s", 0), "a-b-c", "text"),
]

POSTGRES_PER_ROW: list[Case] = [
    ("cast", ("id", "text"), ["1", "2", "3"], "text"),
    ("cast_bool_to_text", ("flag",), ["true", "false", None], "text"),
    ("concat", (["'a'", "s", "'-'", "cast(id as text)"],), ["ab-1", "aa-2", "ac-3"], "text"),
    ("concat", (["s", "null"],), [None, None, None], "text"),
    (
        "dateadd",
        ("day", "id", "d"),
        [datetime(2020, 2, 1, 0, 0), datetime(2020, 3, 2, 0, 0), datetime(2022, 1, 3, 0, 0)],
        "timestamp without time zone",
    ),
    (
        "dateadd",
        ("month", "id * 2", "d"),
        [datetime(2020, 3, 31, 0, 0), datetime(2020, 6, 29, 0, 0), datetime(2022, 6, 30, 0, 0)],
        "timestamp without time zone",
    ),
    ("datediff", ("d", "cast('2021-01-01' as date)", "week"), [48, 44, -53], "integer"),
    (
        "datediff",
        ("d", "cast('2021-01-01' as date)", "month"),
        [12.0, 11.0, -11.0],
        "double precision",
    ),
    ("equals", ("s", "'a'"), [False, True, False], "boolean"),
    ("equals", ("flag", "null"), [None, None, None], "boolean"),
    (
        "hash",
        ("id",),
        [
            "c4ca4238a0b923820dcc509a6f75849b",
            "c81e728d9d4c2f636f067f89cc14862c",
            "eccbc87e4b5ce2fe28308fd9f2a7baf3",
        ],
        "text",
    ),
    (
        "hash",
        ("d",),
        [
            "2b0d57f6eea21cbed6899568b0a648a9",
            "c5085a501e9f2b380cb6e2234fc8f489",
            "44aabe5641b246c44b7baa4bf7ee858c",
        ],
        "text",
    ),
    (
        "last_day",
        ("d", "month"),
        [date(2020, 1, 31), date(2020, 2, 29), date(2021, 12, 31)],
        "date",
    ),
    ("length", ("s",), [1, 1, 1], "integer"),
    ("position", ("s", "'abc'"), [2, 1, 3], "integer"),
    ("replace", ("s", "'a'", "''"), ["b", "", "c"], "text"),
    ("right", ("s", "id"), ["b", "a", "c"], "text"),
]


# --- running SQL ---------------------------------------------------------------------------------

Run = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute(f"create table t as {ROWS_T}")
    yield con
    con.close()


@pytest.fixture(scope="module")
def pg() -> Iterator[Run]:
    host = os.environ.get("HW_TEST_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("HW_TEST_PG_PORT", "5432"))
    user = os.environ.get("HW_TEST_PG_USER", "postgres")
    db = os.environ.get("HW_TEST_PG_DATABASE", "test")
    try:
        import adbc_driver_postgresql.dbapi as adbc_pg

        conn = adbc_pg.connect(
            f"postgresql://{user}@{host}:{port}/{db}?connect_timeout=5", autocommit=True
        )
    except Exception as e:
        reason = f"PostgreSQL at {host}:{port}/{db} is not available: {type(e).__name__}: {e}"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the server must be running)")
        pytest.skip(reason)

    def run(sql: str) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []

    run("set timezone = 'UTC'")  # date_trunc of a date is a timestamptz: show it in UTC, as dbt did
    run(f"create temp table t as {ROWS_T}")
    try:
        yield run
    finally:
        conn.close()


def duck_result(
    con: duckdb.DuckDBPyConnection, sql: str
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Rows and column types of a query, as `dbt run` would store it."""
    return con.execute(sql).fetchall(), [
        row[1] for row in con.execute(f"describe {sql}").fetchall()
    ]


def pg_result(run: Run, sql: str) -> tuple[list[tuple[Any, ...]], list[str]]:
    run(f"create temp table hw_crossdb_probe as {sql}")
    try:
        types = run(
            "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = "
            "'hw_crossdb_probe'::regclass and attnum > 0 and not attisdropped order by attnum"
        )
        return run("select * from hw_crossdb_probe"), [t[0] for t in types]
    finally:
        run("drop table if exists hw_crossdb_probe")


def sql_of(adapter: str, macro: str, args: tuple[Any, ...], **kwargs: Any) -> str:
    return builtin_macros(adapter)[macro](*args, **kwargs)


def _ids(cases: list[Case]) -> list[str]:
    return [f"{c[0]}{c[1]!r}"[:90] for c in cases]


# --- DuckDB --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", DUCKDB_SCALARS, ids=_ids(DUCKDB_SCALARS))
def test_duckdb_scalar(duck: duckdb.DuckDBPyConnection, case: Case) -> None:
    macro, args, value, type_ = case
    assert duck_result(duck, f"select {sql_of('duckdb', macro, args)} as r") == (
        [(value,)],
        [type_],
    )


@pytest.mark.parametrize("case", DUCKDB_AGGREGATES, ids=_ids(DUCKDB_AGGREGATES))
def test_duckdb_aggregate(duck: duckdb.DuckDBPyConnection, case: Case) -> None:
    macro, args, value, type_ = case
    sql = f"select {sql_of('duckdb', macro, args)} as r from t"
    assert duck_result(duck, sql) == ([(value,)], [type_])


@pytest.mark.parametrize("case", DUCKDB_PER_ROW, ids=_ids(DUCKDB_PER_ROW))
def test_duckdb_per_row(duck: duckdb.DuckDBPyConnection, case: Case) -> None:
    macro, args, values, type_ = case
    rows, types = duck_result(
        duck, f"select id, {sql_of('duckdb', macro, args)} as r from t order by id"
    )
    assert [r for _, r in rows] == values
    assert types == ["INTEGER", type_]


def test_duckdb_keyword_arguments_and_any_value(duck: duckdb.DuckDBPyConnection) -> None:
    m = builtin_macros("duckdb")
    listagg = m["listagg"]("s", delimiter_text="';'", order_by_clause="order by s")
    assert duck_result(duck, f"select {listagg} as r from t") == ([("a;b;c",)], ["VARCHAR"])
    rows, types = duck_result(
        duck, f"select {m['listagg']('s')} as r from (select * from t order by id) t"
    )
    assert (rows, types) == ([("b,a,c",)], ["VARCHAR"])
    array = m["array_construct"](inputs=["s"])
    assert duck_result(duck, f"select {array} as r from t order by id") == (
        [(["b"],), (["a"],), (["c"],)],
        ["VARCHAR[]"],
    )
    assert duck_result(duck, f"select {m['any_value']('s')} as r from t where id = 2") == (
        [("a",)],
        ["VARCHAR"],
    )
    assert duck_result(duck, f"select {m['any_value']('d')} as r from t where id = 3") == (
        [(date(2021, 12, 31),)],
        ["DATE"],
    )


def test_duckdb_types_and_timestamps(duck: duckdb.DuckDBPyConnection) -> None:
    m = builtin_macros("duckdb")
    # dbt-duckdb renders these texts; DuckDB reads `float` as a 4-byte FLOAT
    expected = {
        "type_bigint": ("bigint", "BIGINT"),
        "type_boolean": ("boolean", "BOOLEAN"),
        "type_float": ("float", "FLOAT"),
        "type_int": ("integer", "INTEGER"),
        "type_numeric": ("numeric(28,6)", "DECIMAL(28,6)"),
        "type_string": ("TEXT", "VARCHAR"),
        "type_timestamp": ("timestamp", "TIMESTAMP"),
    }
    for name, (text, type_) in expected.items():
        assert m[name]() == text
        assert duck_result(duck, f"select cast(null as {m[name]()}) as r") == ([(None,)], [type_])
    timestamps = {
        "current_timestamp": "TIMESTAMP WITH TIME ZONE",
        "current_timestamp_backcompat": "TIMESTAMP",
        "current_timestamp_in_utc_backcompat": "TIMESTAMP",
        "snapshot_get_time": "TIMESTAMP",
    }
    for name, type_ in timestamps.items():
        rows, types = duck_result(duck, f"select {m[name]()} as r")
        assert types == [type_] and rows[0][0] is not None


def test_duckdb_text_macros(duck: duckdb.DuckDBPyConnection) -> None:
    m = builtin_macros("duckdb")
    assert m["escape_single_quotes"]("it's a 'test'") == "it''s a ''test''"
    escaped = m["escape_single_quotes"]("it's a 'test'")
    quoted = f"select '{escaped}' as r"
    assert duck.execute(quoted).fetchall() == [("it's a 'test'",)]
    assert m["string_literal"]("2020-01-01") == "'2020-01-01'"
    pairs = "(select 1 as x union all select 2) {} (select 2)"
    assert duck.execute(f"select * from ({pairs.format(m['except']())}) q").fetchall() == [(1,)]
    assert duck.execute(f"select * from ({pairs.format(m['intersect']())}) q").fetchall() == [(2,)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9, 1000])
def test_duckdb_generate_series(duck: duckdb.DuckDBPyConnection, n: int) -> None:
    rows, types = duck_result(duck, sql_of("duckdb", "generate_series", (n,)))
    assert sorted(rows) == [(i,) for i in range(1, n + 1)] and types == ["BIGINT"]


SPINES: list[tuple[str, str, str, list[datetime]]] = [
    ("day", "cast('2020-01-01' as date)", "cast('2020-01-05' as date)", [datetime(2020, 1, d) for d in range(1, 5)]),
    ("day", "cast('2020-02-27' as date)", "cast('2020-03-02' as date)",
     [datetime(2020, 2, 27), datetime(2020, 2, 28), datetime(2020, 2, 29), datetime(2020, 3, 1)]),
    ("week", "cast('2020-01-01' as date)", "cast('2020-02-01' as date)", [datetime(2020, 1, d) for d in (1, 8, 15, 22)]),
    ("month", "cast('2019-11-15' as date)", "cast('2020-03-01' as date)",
     [datetime(2019, 11, 15), datetime(2019, 12, 15), datetime(2020, 1, 15), datetime(2020, 2, 15)]),
    ("year", "cast('2015-06-01' as date)", "cast('2020-01-01' as date)", [datetime(y, 6, 1) for y in range(2015, 2020)]),
    ("hour", "cast('2020-01-01 00:00:00' as timestamp)", "cast('2020-01-01 05:30:00' as timestamp)",
     [datetime(2020, 1, 1, h) for h in range(5)]),
    ("day", "cast('2020-01-01' as date)", "cast('2020-01-02' as date)", [datetime(2020, 1, 1)]),
]  # fmt: skip


@pytest.mark.parametrize("spine", SPINES, ids=[f"{s[0]}-{s[1][6:16]}" for s in SPINES])
def test_duckdb_date_spine(
    duck: duckdb.DuckDBPyConnection, spine: tuple[str, str, str, list[datetime]]
) -> None:
    part, start, end, expected = spine
    sql = sql_of("duckdb", "date_spine", (part, start, end))
    rows, types = duck_result(duck, f"select * from ({sql}) s order by 1")
    assert [r[0] for r in rows] == expected and types == ["TIMESTAMP"]
    assert duck.execute(f"select * from ({sql}) s").description[0][0] == f"date_{part}"


def test_duckdb_date_spine_edges(duck: duckdb.DuckDBPyConnection) -> None:
    quarters = sql_of(
        "duckdb",
        "date_spine",
        ("quarter", "cast('2019-01-01' as date)", "cast('2020-01-01' as date)"),
    )
    assert [r[0] for r in duck.execute(f"{quarters} order by 1").fetchall()] == [
        datetime(2019, m, 1) for m in (1, 4, 7, 10)
    ]
    for start, end in [
        ("2020-01-01", "2020-01-01"),
        ("2020-01-05", "2020-01-01"),
    ]:  # dbt-duckdb: no rows
        sql = sql_of(
            "duckdb", "date_spine", ("day", f"cast('{start}' as date)", f"cast('{end}' as date)")
        )
        assert duck_result(duck, sql) == ([], ["TIMESTAMP"])


def test_duckdb_differences_from_dbt(duck: duckdb.DuckDBPyConnection) -> None:
    m = builtin_macros("duckdb")
    # dbt runs the count at compile time and splices the integer 2 (INTEGER); headwater a subquery
    between = m["get_intervals_between"](
        "cast('2020-01-01' as date)", "cast('2020-03-15' as date)", "month"
    )
    assert duck_result(duck, f"select {between} as r") == ([(2,)], ["BIGINT"])
    # dbt's `{{ first_date }}::timestamp` casts only the last term of an expression: not here
    diff = m["datediff"]("d + 1", "cast('2020-02-10' as date)", "day")
    assert duck.execute(f"select {diff} from t where id = 1").fetchall() == [(9,)]


# --- PostgreSQL ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", POSTGRES_SCALARS, ids=_ids(POSTGRES_SCALARS))
def test_postgres_scalar(pg: Run, case: Case) -> None:
    macro, args, value, type_ = case
    assert pg_result(pg, f"select {sql_of('postgres', macro, args)} as r") == ([(value,)], [type_])


@pytest.mark.parametrize("case", POSTGRES_AGGREGATES, ids=_ids(POSTGRES_AGGREGATES))
def test_postgres_aggregate(pg: Run, case: Case) -> None:
    macro, args, value, type_ = case
    assert pg_result(pg, f"select {sql_of('postgres', macro, args)} as r from t") == (
        [(value,)],
        [type_],
    )


@pytest.mark.parametrize("case", POSTGRES_PER_ROW, ids=_ids(POSTGRES_PER_ROW))
def test_postgres_per_row(pg: Run, case: Case) -> None:
    macro, args, values, type_ = case
    rows, types = pg_result(
        pg, f"select id, {sql_of('postgres', macro, args)} as r from t order by id"
    )
    assert [r for _, r in sorted(rows)] == values
    assert types == ["integer", type_]


def test_postgres_keyword_arguments_types_and_timestamps(pg: Run) -> None:
    m = builtin_macros("postgres")
    listagg = m["listagg"]("s", delimiter_text="';'", order_by_clause="order by s")
    assert pg_result(pg, f"select {listagg} as r from t") == ([("a;b;c",)], ["text"])
    assert pg_result(pg, f"select {m['any_value']('s')} as r from t where id = 2") == (
        [("a",)],
        ["text"],
    )
    assert pg_result(
        pg, f"select {m['array_construct'](inputs=['s'])} as r from t where id = 3"
    ) == ([(["c"],)], ["text[]"])
    expected = {
        "type_bigint": "bigint",
        "type_boolean": "boolean",
        "type_float": "double precision",
        "type_int": "integer",
        "type_numeric": "numeric(28,6)",
        "type_string": "text",
        "type_timestamp": "timestamp without time zone",
    }
    for name, type_ in expected.items():
        assert pg_result(pg, f"select cast(null as {m[name]()}) as r") == ([(None,)], [type_])
    timestamps = {
        "current_timestamp": "timestamp with time zone",
        "current_timestamp_backcompat": "timestamp without time zone",
        "current_timestamp_in_utc_backcompat": "timestamp without time zone",
        "snapshot_get_time": "timestamp without time zone",
    }
    for name, type_ in timestamps.items():
        rows, types = pg_result(pg, f"select {m[name]()} as r")
        assert types == [type_] and rows[0][0] is not None


@pytest.mark.parametrize("n", [1, 2, 5, 9, 1000])
def test_postgres_generate_series(pg: Run, n: int) -> None:
    rows, types = pg_result(pg, sql_of("postgres", "generate_series", (n,)))
    assert sorted(rows) == [(float(i),) for i in range(1, n + 1)] and types == ["double precision"]


@pytest.mark.parametrize("spine", SPINES, ids=[f"{s[0]}-{s[1][6:16]}" for s in SPINES])
def test_postgres_date_spine(pg: Run, spine: tuple[str, str, str, list[datetime]]) -> None:
    part, start, end, expected = spine
    rows, types = pg_result(pg, sql_of("postgres", "date_spine", (part, start, end)))
    assert sorted(r[0] for r in rows) == expected and types == ["timestamp without time zone"]


def test_postgres_generate_series_with_an_sql_bound(pg: Run) -> None:
    # headwater's date_spine passes the count as SQL: the series keeps dbt's double precision
    rows, types = pg_result(
        pg, sql_of("postgres", "generate_series", ("(select 2.0::double precision + 1)",))
    )
    assert sorted(rows) == [(1.0,), (2.0,), (3.0,)] and types == ["double precision"]


def test_postgres_failures_and_differences(pg: Run) -> None:
    m = builtin_macros("postgres")
    # as with dbt-postgres: PostgreSQL has no `interval '1 quarter'`, and part 0 is an error
    for sql in [m["dateadd"]("quarter", 1, "current_date"), m["split_part"]("'a,b'", "','", 0)]:
        with pytest.raises(Exception, match=r"quarter|field position"):
            pg(f"select {sql}")
    with pytest.raises(
        CompilationError, match="Unsupported datepart for macro datediff in postgres: 'WEEK'"
    ):
        m["datediff"]("a", "b", "WEEK")
    # dbt-postgres fails to compile an empty spine (get_powers_of_two(0)); headwater has no rows
    empty = m["date_spine"]("day", "cast('2020-01-05' as date)", "cast('2020-01-01' as date)")
    assert pg_result(pg, empty) == ([], ["timestamp without time zone"])


# --- API, dispatch and validation ----------------------------------------------------------------

# dbt-core 1.11's macro signatures: (argument, default or EMPTY)
EMPTY = inspect.Parameter.empty
SIGNATURES: dict[str, list[tuple[str, Any]]] = {
    "any_value": [("expression", EMPTY)],
    "array_append": [("array", EMPTY), ("new_element", EMPTY)],
    "array_concat": [("array_1", EMPTY), ("array_2", EMPTY)],
    "array_construct": [
        ("inputs", ()),
        ("data_type", "integer"),
    ],  # dbt: [] and translate_type('integer')
    "bool_or": [("expression", EMPTY)],
    "cast": [("field", EMPTY), ("type", EMPTY)],
    "cast_bool_to_text": [("field", EMPTY)],
    "concat": [("fields", EMPTY)],
    "current_timestamp": [],
    "current_timestamp_backcompat": [],
    "current_timestamp_in_utc_backcompat": [],
    "date": [("year", EMPTY), ("month", EMPTY), ("day", EMPTY)],
    "date_spine": [("datepart", EMPTY), ("start_date", EMPTY), ("end_date", EMPTY)],
    "date_trunc": [("datepart", EMPTY), ("date", EMPTY)],
    "dateadd": [("datepart", EMPTY), ("interval", EMPTY), ("from_date_or_timestamp", EMPTY)],
    "datediff": [("first_date", EMPTY), ("second_date", EMPTY), ("datepart", EMPTY)],
    "default_last_day": [("date", EMPTY), ("datepart", EMPTY)],
    "equals": [("expr1", EMPTY), ("expr2", EMPTY)],
    "escape_single_quotes": [("expression", EMPTY)],
    "except": [],
    "generate_series": [("upper_bound", EMPTY)],
    "get_intervals_between": [("start_date", EMPTY), ("end_date", EMPTY), ("datepart", EMPTY)],
    "get_powers_of_two": [("upper_bound", EMPTY)],
    "hash": [("field", EMPTY)],
    "intersect": [],
    "last_day": [("date", EMPTY), ("datepart", EMPTY)],
    "length": [("expression", EMPTY)],
    "listagg": [
        ("measure", EMPTY),
        ("delimiter_text", "','"),
        ("order_by_clause", None),
        ("limit_num", None),
    ],
    "position": [("substring_text", EMPTY), ("string_text", EMPTY)],
    "replace": [("field", EMPTY), ("old_chars", EMPTY), ("new_chars", EMPTY)],
    "right": [("string_text", EMPTY), ("length_expression", EMPTY)],
    "safe_cast": [("field", EMPTY), ("type", EMPTY)],
    "snapshot_get_time": [],
    "snapshot_string_as_time": [("timestamp", EMPTY)],
    "split_part": [("string_text", EMPTY), ("delimiter_text", EMPTY), ("part_number", EMPTY)],
    "string_literal": [("value", EMPTY)],
    **{
        f"type_{t}": []
        for t in ("bigint", "boolean", "float", "int", "numeric", "string", "timestamp")
    },
}

SAMPLE_ARGS: dict[str, tuple[Any, ...]] = {
    "array_construct": ([1, 2],), "concat": (["a", "b"],), "date": (2020, 1, 2),
    "date_spine": ("day", "a", "b"), "date_trunc": ("day", "a"), "dateadd": ("day", 1, "a"),
    "datediff": ("a", "b", "week"), "default_last_day": ("a", "month"), "generate_series": (4,),
    "get_intervals_between": ("a", "b", "day"), "get_powers_of_two": (4,), "last_day": ("a", "quarter"),
    "listagg": ("a", "','", "order by a", 2), "snapshot_string_as_time": ("2020-01-01",),
    "split_part": ("a", "','", -1),
}  # fmt: skip


@pytest.mark.parametrize("adapter", ["duckdb", "postgres"])
def test_every_macro_has_dbts_signature_and_clean_sql(adapter: str) -> None:
    macros = builtin_macros(adapter)
    assert set(SIGNATURES) == MACRO_NAMES
    for name, params in SIGNATURES.items():
        got = [(p.name, p.default) for p in inspect.signature(macros[name]).parameters.values()]
        assert got == params, name
        args = SAMPLE_ARGS.get(name, ("a",) * len([p for p in params if p[1] is EMPTY]))
        sql = macros[name](*args)
        if name == "get_powers_of_two":
            assert sql == 2
            continue
        assert isinstance(sql, str) and sql == sql.strip() and sql, name
        if name not in {
            "except",
            "intersect",
            "escape_single_quotes",
            "string_literal",
        } and not name.startswith("type_"):
            query = sql if name in {"date_spine", "generate_series"} else f"select {sql}"
            sqlglot.parse_one(query, read=adapter)  # raises if it does not parse


def test_dispatch_prefixes_and_prefixed_names() -> None:
    assert ADAPTER_PREFIXES["duckdb"] == ["duckdb", "default"]
    assert adapter_prefixes("redshift") == ["redshift", "postgres", "default"]
    assert adapter_prefixes("snowflake") == ["snowflake", "default"]
    duck = builtin_macros("duckdb")
    assert duck["any_value"]("x") == duck["duckdb__any_value"]("x") == "arbitrary(x)"
    assert duck["default__any_value"]("x") == "any_value(x)"
    assert "postgres__any_value" not in duck and "default__default_last_day" not in duck
    assert builtin_macros("redshift")["any_value"]("x") == "min(x)"
    snowflake = builtin_macros("snowflake")
    assert snowflake["dateadd"]("day", 1, "d") == "dateadd(day, 1, d)"
    assert snowflake["datediff"]("a", "b", "week") == "datediff(week, a, b)"
    with pytest.raises(
        CompilationError, match="`current_timestamp` is not implemented for adapter `snowflake`"
    ):
        snowflake["current_timestamp"]()
    assert set(DIALECTS["duckdb"]) <= MACRO_NAMES and set(DIALECTS["postgres"]) <= MACRO_NAMES


def test_the_call_lookup_reaches_overrides(duck: duckdb.DuckDBPyConnection) -> None:
    """An integrator's lookup (dispatch) is what macros use to call each other."""
    seen: list[str] = []
    macros: dict[str, Any] = {}

    def dateadd(datepart: str, interval: Any, from_date_or_timestamp: Any) -> str:
        seen.append(datepart)
        return (
            f"cast({macros['duckdb__dateadd'](datepart, interval, from_date_or_timestamp)} as date)"
        )

    overrides = {
        "dateadd": dateadd,
        "get_intervals_between": lambda start_date, end_date, datepart: 3,
    }
    macros.update(builtin_macros("duckdb", call=lambda name: overrides.get(name) or macros[name]))
    spine = macros["date_spine"]("day", "cast('2020-01-01' as date)", "cast('2020-01-10' as date)")
    assert "generate_series(1, 3)" in spine and seen == ["day"]
    assert duck_result(duck, spine) == ([(date(2020, 1, d),) for d in (1, 2, 3)], ["DATE"])
    seen.clear()
    assert macros["last_day"]("cast('2020-02-10' as date)", "month").count("cast(cast(") == 1
    assert seen == ["month", "day"]


def _check_equals(adapter: str, run: Run) -> None:
    # dbt 1.11 with `flags: {enable_truthy_nulls_equals_macro: true}`: null equals null
    truthy = builtin_macros(adapter, behavior={"enable_truthy_nulls_equals_macro": True})["equals"]
    plain = builtin_macros(adapter)["equals"]
    assert run(f"select {truthy('null', 'null')}, {truthy('1', 'null')}, {truthy('1', '1')}") == [
        (True, False, True)
    ]
    assert run(f"select {plain('null', 'null')}, {plain('1', '1')}") == [(None, True)]


def test_equals_honours_the_behavior_flag_duckdb(duck: duckdb.DuckDBPyConnection) -> None:
    _check_equals("duckdb", lambda sql: duck.execute(sql).fetchall())


def test_equals_honours_the_behavior_flag_postgres(pg: Run) -> None:
    _check_equals("postgres", pg)


@pytest.mark.parametrize("adapter", ["default", "duckdb", "postgres"])
@pytest.mark.parametrize(
    "datepart", ["day'", "day; drop table t", "day\n", "", "1day", "day)", None, "da y", "week--"]
)
def test_bad_datepart_is_a_compilation_error(adapter: str, datepart: Any) -> None:
    m = builtin_macros(adapter)
    calls = [
        lambda: m["dateadd"](datepart, 1, "d"),
        lambda: m["datediff"]("a", "b", datepart),
        lambda: m["date_trunc"](datepart, "d"),
        lambda: m["last_day"]("d", datepart),
        lambda: m["date_spine"](datepart, "a", "b"),
        lambda: m["get_intervals_between"]("a", "b", datepart),
    ]
    for call in calls:
        with pytest.raises(CompilationError, match="expected a bare word") as info:
            call()
        assert info.value.hint and "datepart" in str(info.value)


def test_argument_errors() -> None:
    default = builtin_macros("default")
    with pytest.raises(CompilationError, match="day is out of range"):
        default["date"](2020, 2, 30)
    assert default["date"](2020, 2, 29) == "to_date('2020-02-29', 'YYYY-MM-DD')"
    with pytest.raises(CompilationError, match="must be positive"):
        default["get_powers_of_two"](0)
    with pytest.raises(CompilationError, match="needs the upper bound as a number"):
        default["generate_series"]("(select 3)")
    with pytest.raises(CompilationError, match="not implemented for adapter `default`"):
        default["snapshot_string_as_time"]("2020-01-01")
    assert re.fullmatch(
        r"with p as .*where generated_number <= 5\norder by generated_number",
        default["generate_series"](5),
        re.S,
    )


# --- properties: dateadd and datediff round-trip ------------------------------------------------

PARTS = [
    "day",
    "week",
    "month",
    "quarter",
    "year",
    "hour",
    "minute",
    "second",
    "millisecond",
    "microsecond",
]


def _expected_diff(part: str, n: int) -> int:
    # dbt's `week` (duckdb and postgres alike) adds -1 when going back to the same day of the week
    return n - 1 if part == "week" and n < 0 else n


def _literal(start: datetime, as_date: bool) -> str:
    return (
        f"cast('{start.date()}' as date)"
        if as_date
        else f"cast('{start.isoformat(sep=' ')}' as timestamp)"
    )


@settings(max_examples=150, deadline=None)
@given(
    part=st.sampled_from(PARTS),
    n=st.integers(-400, 400),
    start=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
    as_date=st.booleans(),
)
def test_duckdb_dateadd_datediff_round_trip(
    part: str, n: int, start: datetime, as_date: bool
) -> None:
    m = builtin_macros("duckdb")
    x = _literal(start, as_date)
    sql = f"select {m['datediff'](x, m['dateadd'](part, n, x), part)}"
    sqlglot.parse_one(sql, read="duckdb")
    with duckdb.connect() as con:
        assert con.execute(sql).fetchone() == (_expected_diff(part, n),)


@settings(max_examples=60, deadline=None)
@given(
    part=st.sampled_from(
        [p for p in PARTS if p != "quarter"]
    ),  # no `interval '1 quarter'` in PostgreSQL
    n=st.integers(-400, 400),
    start=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
    as_date=st.booleans(),
)
def test_postgres_dateadd_datediff_round_trip(
    pg: Run, part: str, n: int, start: datetime, as_date: bool
) -> None:
    m = builtin_macros("postgres")
    x = _literal(start.replace(microsecond=0), as_date)  # date_part's milliseconds are a float
    sql = f"select {m['datediff'](x, m['dateadd'](part, n, x), part)}"
    sqlglot.parse_one(sql, read="postgres")
    assert pg(sql) == [(_expected_diff(part, n),)]
