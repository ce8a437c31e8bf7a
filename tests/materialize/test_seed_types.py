"""Seeds are typed and loaded as dbt 1.11 + dbt-duckdb 1.11 type and load them.

Every expected type and value in `CASES` and `DBT_FAILS` is a fact observed by running `dbt seed`
(dbt-core 1.11.16, dbt-duckdb 1.11.1, DuckDB 2.0.1) on the same CSV text and config and
DESCRIBE-ing the table it created; the tests do not need dbt.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from headwater.context import Context
from headwater.errors import ConfigError
from headwater.materialize import materialization_for
from headwater.materialize.seed import (
    dedupe,
    has_fraction,
    is_boolean,
    is_date,
    is_datetime,
    is_iso_datetime,
    is_number,
    seed_columns,
    seed_select_sql,
)
from headwater.project.definition import Node, ProjectConfig
from tests.conftest import write_files

D, TS = dt.date, dt.datetime

# (name, CSV text, seed config, DESCRIBE (name, type) pairs, rows) — all as dbt-duckdb built them
CASES: list[tuple[str, str, dict[str, Any], list[tuple[str, str]], list[tuple]]] = [
    (
        "integers",
        "small,neg,lead,dec00,sci,plus,under,sp\n1,-5,007,1.00,1e3,+5,1_000, 5\n2,-6,010,2.0,2E2,6,6,6 \n",
        {},
        [("small", "INTEGER"), ("neg", "INTEGER"), ("lead", "INTEGER"), ("dec00", "INTEGER"), ("sci", "INTEGER"),
         ("plus", "INTEGER"), ("under", "INTEGER"), ("sp", "INTEGER")],
        [(1, -5, 7, 1, 1000, 5, 1000, 5), (2, -6, 10, 2, 200, 6, 6, 6)],
    ),
    (
        "int_limits_and_zeros",
        "x,y,z\n2147483647,-0,-0.0\n-2147483648,00,0.00\n",
        {},
        [("x", "INTEGER"), ("y", "INTEGER"), ("z", "INTEGER")],
        [(2147483647, 0, 0), (-2147483648, 0, 0)],
    ),
    (
        "decimals",
        "dec,mixed,trailing,long,scidec\n1.5,1,1.10,0.1234567890123456789,1.5e-3\n2.25,2.5,2.20,1,2\n",
        {},
        [("dec", "DOUBLE"), ("mixed", "DOUBLE"), ("trailing", "DOUBLE"), ("long", "DOUBLE"), ("scidec", "DOUBLE")],
        [(1.5, 1.0, 1.1, 0.12345678901234568, 0.0015), (2.25, 2.5, 2.2, 1.0, 2.0)],
    ),
    (
        "booleans",
        "b1,b2,b3,b4,b5,b6\ntrue,True,yes,TRUE,t,1\nfalse,False,no,FALSE,f,0\n",
        {},
        [("b1", "BOOLEAN"), ("b2", "BOOLEAN"), ("b3", "VARCHAR"), ("b4", "BOOLEAN"), ("b5", "VARCHAR"), ("b6", "INTEGER")],
        [(True, True, "yes", True, "t", 1), (False, False, "no", False, "f", 0)],
    ),
    (
        "dates",
        "d1,d2,d3,d4,d5,d6\n2024-01-05,2024-1-5,2024/01/05,05/01/2024, 2024-01-05,2024-02-30\n"
        "2024-12-31,2024-12-31,2024/12/31,31/12/2024,2024-12-31 ,2024-01-01\n",
        {},
        [("d1", "DATE"), ("d2", "DATE"), ("d3", "VARCHAR"), ("d4", "VARCHAR"), ("d5", "DATE"), ("d6", "VARCHAR")],
        [
            (D(2024, 1, 5), D(2024, 1, 5), "2024/01/05", "05/01/2024", D(2024, 1, 5), "2024-02-30"),
            (D(2024, 12, 31), D(2024, 12, 31), "2024/12/31", "31/12/2024", D(2024, 12, 31), "2024-01-01"),
        ],
    ),
    (
        "timestamps",
        "ts1,ts2,ts3,ts4,ts5,ts6,ts7,ts8\n"
        "2024-01-05 10:11:12,2024-01-05T10:11:12,2024-01-05T10:11:12Z,2024-01-05T10:11:12+02:00,"
        "2024-01-05 10:11:12.123,2024-01-05T10:11:12.123456,2024-01-05 10:11,2024-1-5 1:2:3\n"
        "2024-12-31 23:59:59,2024-12-31T23:59:59,2024-12-31T23:59:59Z,2024-12-31T23:59:59-05:00,"
        "2024-12-31 23:59:59.5,2024-12-31T23:59:59.5,2024-12-31 23:59,2024-01-05 10:11:12\n",
        {},
        [("ts1", "TIMESTAMP"), ("ts2", "TIMESTAMP"), ("ts3", "TIMESTAMP"), ("ts4", "TIMESTAMP"), ("ts5", "VARCHAR"),
         ("ts6", "TIMESTAMP"), ("ts7", "VARCHAR"), ("ts8", "TIMESTAMP")],
        [
            # an offset is dropped, not applied: DuckDB keeps the wall-clock time in a TIMESTAMP
            (TS(2024, 1, 5, 10, 11, 12), TS(2024, 1, 5, 10, 11, 12), TS(2024, 1, 5, 10, 11, 12), TS(2024, 1, 5, 10, 11, 12),
             "2024-01-05 10:11:12.123", TS(2024, 1, 5, 10, 11, 12, 123456), "2024-01-05 10:11", TS(2024, 1, 5, 1, 2, 3)),
            (TS(2024, 12, 31, 23, 59, 59), TS(2024, 12, 31, 23, 59, 59), TS(2024, 12, 31, 23, 59, 59),
             TS(2024, 12, 31, 23, 59, 59), "2024-12-31 23:59:59.5", TS(2024, 12, 31, 23, 59, 59, 500000),
             "2024-12-31 23:59", TS(2024, 1, 5, 10, 11, 12)),
        ],
    ),
    (
        "iso_with_zones",
        "t1,t2,t3\n2024-01-05T10:11:12.123Z,2024-01-05T10:11+01:00,2024-01-05T10:11:12-0330\n"
        "2024-01-06T00:00:00.5+05:30,2024-01-06T23:59Z,2024-01-06T10:11:12+01\n",
        {},
        [("t1", "TIMESTAMP"), ("t2", "TIMESTAMP"), ("t3", "TIMESTAMP")],
        [
            (TS(2024, 1, 5, 10, 11, 12, 123000), TS(2024, 1, 5, 10, 11), TS(2024, 1, 5, 10, 11, 12)),
            (TS(2024, 1, 6, 0, 0, 0, 500000), TS(2024, 1, 6, 23, 59), TS(2024, 1, 6, 10, 11, 12)),
        ],
    ),
    (
        "mixed_forms_are_text",
        "date_ts,iso_plain,clock\n2024-01-05,2024-01-05T10:11:12,12:30:00\n2024-01-05 10:11:12,2024-01-05 10:11:12,13:00:00\n",
        {},
        [("date_ts", "VARCHAR"), ("iso_plain", "VARCHAR"), ("clock", "VARCHAR")],
        [("2024-01-05", "2024-01-05T10:11:12", "12:30:00"), ("2024-01-05 10:11:12", "2024-01-05 10:11:12", "13:00:00")],
    ),
    (
        "empty_cells",
        'a,b,c,d,e\n1,x,,true,2024-01-01\n,,,,\n3,"",,false,\n',
        {},
        [("a", "INTEGER"), ("b", "VARCHAR"), ("c", "INTEGER"), ("d", "BOOLEAN"), ("e", "DATE")],
        # an empty cell, quoted or not, is NULL; an all-empty column is INTEGER
        [(1, "x", None, True, D(2024, 1, 1)), (None, None, None, None, None), (3, None, None, False, None)],
    ),
    (
        "null_words_in_text",
        "id,txt,blank\n1,null,\n2,NULL,\n3,None,\n",
        {},
        [("id", "INTEGER"), ("txt", "VARCHAR"), ("blank", "INTEGER")],
        [(1, "null", None), (2, "NULL", None), (3, "None", None)],
    ),
    (
        "quoted_strings",
        'name,note,num\n"Smith, John","say ""hi""",1\nplain, spaced ,2\n"multi\nline",x,3\n',
        {},
        [("name", "VARCHAR"), ("note", "VARCHAR"), ("num", "INTEGER")],
        [("Smith, John", 'say "hi"', 1), ("plain", " spaced ", 2), ("multi\nline", "x", 3)],
    ),
    (
        "header_only",
        "a,b\n",
        {},
        [("a", "INTEGER"), ("b", "INTEGER")],
        [],
    ),
    (
        "duplicate_and_empty_header_names",
        "x,x,y,,x\n1,2,3,4,5\n",
        {},
        [("x", "INTEGER"), ("x_2", "INTEGER"), ("y", "INTEGER"), ("d", "INTEGER"), ("x_3", "INTEGER")],
        [(1, 2, 3, 4, 5)],
    ),
    (
        "spaced_header_names",
        " id , Name Here \n1,x\n",
        {},
        [(" id ", "INTEGER"), (" Name Here ", "VARCHAR")],
        [(1, "x")],
    ),
    (
        "bom_and_crlf",
        "\ufeffid,name\r\n1,x\r\n2,y\r\n",
        {},
        [("id", "INTEGER"), ("name", "VARCHAR")],
        [(1, "x"), (2, "y")],
    ),
    (
        "non_ascii",
        "name,city,n\nJosé,Zürich,1\n日本,Ελλάδα,2\n",
        {},
        [("name", "VARCHAR"), ("city", "VARCHAR"), ("n", "INTEGER")],
        [("José", "Zürich", 1), ("日本", "Ελλάδα", 2)],
    ),
    (
        "column_types_override",
        "id,forced_text,forced_dec,forced_big,other\n1,007,1.5,5,a\n2,010,2.25,6,b\n",
        {"column_types": {"forced_text": "varchar", "forced_dec": "decimal(10,2)", "forced_big": "bigint"}},
        [("id", "INTEGER"), ("forced_text", "VARCHAR"), ("forced_dec", "DECIMAL(10,2)"), ("forced_big", "BIGINT"),
         ("other", "VARCHAR")],
        [(1, "007", Decimal("1.50"), 5, "a"), (2, "010", Decimal("2.25"), 6, "b")],
    ),
    (
        "column_types_match_names_exactly",
        "id,x\n1,a\n",
        {"column_types": {"ID": "bigint", "X": "varchar(3)"}},
        [("id", "INTEGER"), ("x", "VARCHAR")],
        [(1, "a")],
    ),
    (
        "delimiter",
        "a;b;c\n1;x,y;2.5\n2;z;3.5\n",
        {"delimiter": ";"},
        [("a", "INTEGER"), ("b", "VARCHAR"), ("c", "DOUBLE")],
        [(1, "x,y", 2.5), (2, "z", 3.5)],
    ),
    (
        "tab_delimiter",
        "a\tb\n1\tx y\n",
        {"delimiter": "\t"},
        [("a", "INTEGER"), ("b", "VARCHAR")],
        [(1, "x y")],
    ),
    (
        "quote_columns_false",
        "Id,Name\n1,a\n",
        {"quote_columns": False},
        [("Id", "INTEGER"), ("Name", "VARCHAR")],
        [(1, "a")],
    ),
]  # fmt: skip

# (name, CSV text, the type dbt chose, the value its load then could not convert)
DBT_FAILS: list[tuple[str, str, str, str]] = [
    ("null_word_in_integer", "n\n1\nnull\n", "INTEGER", "null"),
    ("null_word_in_boolean", "b\nTRUE\n\nnull\n", "BOOLEAN", "null"),
    ("percent", "p\n5%\n", "INTEGER", "5%"),
    ("currency", "m\n$5\n$6\n", "INTEGER", "$5"),
    ("thousands", 'n\n"1,000"\n2\n', "INTEGER", "1,000"),
    ("inf", "x\ninf\n1\n", "INTEGER", "inf"),
    ("spaced_boolean", "b\n true\nFALSE \n", "BOOLEAN", " true"),
    ("iso_basic", "t\n20240105T101112\n", "TIMESTAMP", "20240105T101112"),
    ("iso_week", "t\n2024-W01-1T10:00\n", "TIMESTAMP", "2024-W01-1T10:00"),
    ("iso_month_00", "t\n2024-00-05T10:00\n", "TIMESTAMP", "2024-00-05T10:00"),
]


def write_seed(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(text.encode("utf-8"))
    return path


def load(path: Path, config: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple]]:
    sql = seed_select_sql(path, config)
    con = duckdb.connect()
    try:
        described = [(str(r[0]), str(r[1])) for r in con.execute(f"DESCRIBE {sql}").fetchall()]
        return described, con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize(
    ("name", "text", "config", "types", "rows"), CASES, ids=[c[0] for c in CASES]
)
def test_types_and_values_match_dbt(
    tmp_path: Path,
    name: str,
    text: str,
    config: dict[str, Any],
    types: list[tuple[str, str]],
    rows: list[tuple],
) -> None:
    described, loaded = load(write_seed(tmp_path, name, text), config)
    assert described == types
    assert loaded == rows


def test_nan_makes_a_double_column(tmp_path: Path) -> None:
    # dbt-duckdb: `nan` counts as a number without decimals; `1.5` makes the column DOUBLE
    described, rows = load(write_seed(tmp_path, "nans", "x\nnan\nNaN\n1.5\n"), {})
    assert described == [("x", "DOUBLE")]
    assert math.isnan(rows[0][0]) and math.isnan(rows[1][0]) and rows[2] == (1.5,)


@pytest.mark.parametrize(
    ("name", "text", "dbt_type", "value"), DBT_FAILS, ids=[c[0] for c in DBT_FAILS]
)
def test_where_dbt_load_fails_headwater_fails_too(
    tmp_path: Path, name: str, text: str, dbt_type: str, value: str
) -> None:
    path = write_seed(tmp_path, name, text)
    assert [c.type for c in seed_columns(path)] == [dbt_type]
    with pytest.raises(
        duckdb.ConversionException,
        match=f'Could not convert string "{re.escape(value)}" to .{dbt_type}.',
    ):
        load(path, {})


def test_integer_beyond_32_bits_fails_with_the_fix(tmp_path: Path) -> None:
    # dbt types whole numbers INTEGER and its load fails on 3000000000; headwater says where and how
    path = write_seed(tmp_path, "bigints", "id,big\n1,3000000000\n2,1\n")
    with pytest.raises(ConfigError, match=r"`3000000000` in column `big`") as err:
        seed_select_sql(path, {})
    assert err.value.hint is not None and "column_types: {big: bigint}" in err.value.hint
    described, rows = load(path, {"column_types": {"big": "bigint"}})
    assert described == [("id", "INTEGER"), ("big", "BIGINT")] and rows == [(1, 3000000000), (2, 1)]


def test_a_seed_without_header_and_a_long_delimiter_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no header row"):
        seed_select_sql(write_seed(tmp_path, "empty", ""), {})
    with pytest.raises(ConfigError, match="one character"):
        seed_select_sql(write_seed(tmp_path, "s", "a\n1\n"), {"delimiter": "::"})


def test_a_ragged_seed_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the seed `ragged.csv`"):
        seed_select_sql(write_seed(tmp_path, "ragged", "a,b\n1,2\n3,4,5,6\n"), {})


# -- the rules one value at a time (agate's tests as dbt sets them up) ---------------------------------
@pytest.mark.parametrize(
    ("value", "number", "fraction"),
    [("7", True, False), ("-1.50", True, True), ("1.00", True, False), ("1e-3", True, True), ("1.5e3", True, False),
     ("$-5", True, False), ("-$5", True, False), ("5%", True, False), ("1,000.25", True, True), ("1_000", True, False),
     ("nan", True, False), ("Infinity", True, False), ("0x10", False, False), ("abc", False, False), (" NULL ", True, False),
     ("", True, False), ("--5", True, False), ("٣", True, False)],
)  # fmt: skip
def test_number_rule(value: str, number: bool, fraction: bool) -> None:
    assert is_number(value) is number
    if number:
        assert has_fraction(value) is fraction


@pytest.mark.parametrize(
    ("value", "date", "datetime_", "iso"),
    [("2024-01-05", True, False, False), ("2024-1-5", True, False, False), ("0000-01-05", False, False, False),
     ("2024-01-05 10:11:12", False, True, False), ("2024-01-05  10:11:12", False, True, False),
     ("2024-01-05 24:00:00", False, False, False), ("2024-01-05T10:11:12", False, False, True),
     ("2024-01-05T10", False, False, True), ("2024-01-05T10.5", False, False, True), ("2024-01-05T1011", False, False, True),
     ("2024-01-05T10:11,5", False, False, True), ("2024-01-05T24:00", False, False, False),
     ("2024-01-05T10:60", False, False, False), ("2024-02-30T10:00", False, False, False),
     ("2024-00-05T10:00", False, False, True), ("2024-01-00T10:00", False, False, False), ("2024-366T10:00", False, False, True),
     ("2024-W53-7T10:00", False, False, True), ("2024T10", False, False, True), ("20T10", False, False, True),
     ("2024-01-05t10:00", False, False, False), ("2024-01-05T10:00T", False, False, False),
     ("2024-01-05T10:11:12+25:99", False, False, True), ("null", True, True, True)],
)  # fmt: skip
def test_date_and_time_rules(value: str, date: bool, datetime_: bool, iso: bool) -> None:
    assert (is_date(value), is_datetime(value), is_iso_datetime(value)) == (date, datetime_, iso)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("FALSE", True),
        (" True ", True),
        ("t,rue", True),
        ("yes", False),
        ("1", False),
        ("", True),
    ],
)
def test_boolean_rule(value: str, expected: bool) -> None:
    assert is_boolean(value) is expected


def test_header_names_are_fixed_as_agate_does() -> None:
    assert dedupe(["a", "a", "", "a_2", "b", ""] + [""] * 22)[:6] == [
        "a",
        "a_2",
        "c",
        "a_2_2",
        "b",
        "f",
    ]
    assert dedupe([""] * 28)[26:] == ["aa", "bb"]


# -- the exact path for values the fast SQL test cannot decide --------------------------------------
def test_many_undecided_values_are_all_checked(tmp_path: Path) -> None:
    days = [f"2024-{m}-{d}" for m in range(1, 10) for d in range(1, 10)]  # 81 unpadded dates
    assert [
        c.type for c in seed_columns(write_seed(tmp_path, "ok", "d\n" + "\n".join(days) + "\n"))
    ] == ["DATE"]
    # the one value that fails comes after the first batch of undecided values
    bad = write_seed(tmp_path, "bad", "d\n" + "\n".join([*days, "2024/1/1"]) + "\n")
    assert [c.type for c in seed_columns(bad)] == ["VARCHAR"]
    plus = [f"+{i}" for i in range(100)]
    assert [
        c.type for c in seed_columns(write_seed(tmp_path, "ints", "n\n" + "\n".join(plus) + "\n"))
    ] == ["INTEGER"]
    frac = write_seed(tmp_path, "frac", "n\n" + "\n".join([*plus, "+0.5"]) + "\n")
    assert [c.type for c in seed_columns(frac)] == ["DOUBLE"]


def test_a_100k_row_seed_is_typed_quickly(tmp_path: Path) -> None:
    lines = ["id,amount,day,flag,label,ts"]
    for i in range(100_000):
        day = dt.date(2020, 1, 1) + dt.timedelta(days=i % 1000)
        lines.append(
            f"{i},{i % 997}.{i % 7}5,{day},{'true' if i % 2 else 'false'},name {i},{day}T{i % 24:02d}:00:00"
        )
    path = write_seed(tmp_path, "big", "\n".join(lines) + "\n")
    started = time.perf_counter()
    columns = seed_columns(path)
    elapsed = time.perf_counter() - started
    assert [c.type for c in columns] == [
        "INTEGER",
        "DOUBLE",
        "DATE",
        "BOOLEAN",
        "VARCHAR",
        "TIMESTAMP",
    ]
    assert elapsed < 10, (
        f"typing 100k rows took {elapsed:.1f}s"
    )  # ~0.3 s here; per-value Python would take far longer


# -- the runner builds seeds with these types ----------------------------------------------------------
PROJECT = """\
name: t
default_target: dev
targets:
  dev:
    engine: duckdb
    path: .headwater/warehouse.duckdb
"""


def test_seed_build_uses_dbt_types_column_types_and_delimiter(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_files(
        root,
        {
            "headwater.yml": PROJECT,
            "seeds/codes.csv": "id;code;amount;day\n1;007;1.5;2024-01-05\n2;010;2;2024-01-06\n",
            "seeds/plain.csv": "id,n\n1,2\n",
            "seeds/props.yml": """
                version: 2
                seeds:
                  - name: codes
                    config: {delimiter: ";", column_types: {code: varchar}}
            """,
        },
    )
    with Context(root) as ctx:
        result = ctx.seed()
    assert {r.name: r.status for r in result.results} == {"codes": "success", "plain": "success"}
    con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    try:
        # INTEGER, as dbt-duckdb creates it (DuckDB's own CSV sniffer would say BIGINT)
        assert con.execute("DESCRIBE main.plain").fetchall()[0][:2] == ("id", "INTEGER")
        assert [r[:2] for r in con.execute("DESCRIBE main.codes").fetchall()] == [
            ("id", "INTEGER"), ("code", "VARCHAR"), ("amount", "DOUBLE"), ("day", "DATE")
        ]  # fmt: skip
        assert con.execute("SELECT * FROM main.codes ORDER BY id").fetchall() == [
            (1, "007", 1.5, D(2024, 1, 5)), (2, "010", 2.0, D(2024, 1, 6))
        ]  # fmt: skip
    finally:
        con.close()


def test_seed_materialization_select_reads_the_project_file(tmp_path: Path) -> None:
    write_seed(tmp_path, "s", "a,b\n1,x\n")
    node = Node("seed.t.s", "s", "seed", "s.csv", "t", ["t", "s"], config={})
    sql = materialization_for(node).select_sql(
        node, None, ProjectConfig(name="t", root=str(tmp_path))
    )  # type: ignore[arg-type]
    assert "'a': 'INTEGER'" in sql and "'b': 'VARCHAR'" in sql
    assert duckdb.sql(sql).fetchall() == [(1, "x")]
