"""SQL from suites cannot add statements: row conditions are one expression, the query of
`unexpected_rows_expectation` one SELECT, column names are identifiers, every generated
statement is exactly one SELECT, and `headwater validate` opens a warehouse read-only."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.errors import ConfigError
from headwater.quality.expectations import parse_expectation, validate_relation
from headwater.quality.expectations.conditions import translate_condition
from headwater.quality.expectations.sqlsafety import check_condition, check_query
from tests.conftest import query

ROW_CONDITION_ATTACKS = [
    "x > 0; DROP TABLE {canary}; --",
    "x > 0; DROP TABLE {canary}",
    "x > 0) FROM t; DROP TABLE {canary}; SELECT (1",
    "x > 0 --",
    "x > 0 /* */ OR true",
    "true) OR (DROP TABLE {canary}",
    "x IN (SELECT 1); DELETE FROM {canary}",
    "x > 0 UNION SELECT 1",
    "'a\\' ; DROP TABLE {canary}; --'",
]
QUERY_ATTACKS = [
    "SELECT * FROM {batch}; DROP TABLE {canary}",
    "DROP TABLE {canary}",
    "SELECT * FROM {batch} WHERE x < 0; --",
    "DELETE FROM {canary} RETURNING *, (SELECT 1 FROM {batch})",
    "SELECT * INTO {canary}_copy FROM {batch}",
    "SELECT * FROM {batch} /* x */",
]


def _attack_suites(canary: str) -> list[dict]:
    suites: list[dict] = []
    for text in ROW_CONDITION_ATTACKS:
        kwargs = {"column": "x", "row_condition": text.format(canary=canary)}
        suites.append({"type": "expect_column_values_to_not_be_null", "kwargs": kwargs})
    for text in QUERY_ATTACKS:
        kwargs = {"unexpected_rows_query": text.replace("{canary}", canary)}
        suites.append({"type": "unexpected_rows_expectation", "kwargs": kwargs})
    return suites


# -- the checks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [t.format(canary="canary") for t in ROW_CONDITION_ATTACKS])
def test_row_condition_attacks_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"row_condition .* is refused"):
        translate_condition(text, None)


@pytest.mark.parametrize(
    "text",
    ["amount > 0 AND status = 'paid'", "x IN (SELECT 1)", "s = 'it''s; -- not a comment'",
     "regexp_matches(s, '^a')", "x::INTEGER BETWEEN 1 AND 2", "\"odd;name\" IS NOT NULL"],
)  # fmt: skip
def test_ordinary_row_conditions_pass_unchanged(text: str) -> None:
    assert check_condition(text) == text
    assert translate_condition(text, "sql") == f"({text})"


@pytest.mark.parametrize("text", [t.replace("{canary}", "canary") for t in QUERY_ATTACKS])
def test_unexpected_rows_query_attacks_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"unexpected_rows_query .* is refused"):
        check_query(text)


def test_unexpected_rows_query_may_end_with_a_semicolon() -> None:
    assert (
        check_query("SELECT * FROM {batch} WHERE x < 0 ;\n") == "SELECT * FROM {batch} WHERE x < 0"
    )
    assert check_query("WITH a AS (SELECT * FROM {batch}) SELECT * FROM a") is not None


PIECES = ["x", " > ", "0", ";", "--", "/*", "*/", "'", '"', "(", ")", " DROP TABLE c", " OR ",
          " SELECT 1", "\n", "\\", "$$", "e'", "AND", " "]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=10).map("".join))
def test_an_accepted_condition_is_always_one_expression(text: str) -> None:
    """Whatever the text, either it is refused, or DuckDB reads the statement it ends up in as
    exactly one SELECT."""
    try:
        predicate = translate_condition(text, None)
    except ConfigError:
        return
    statements = duckdb.connect().extract_statements(
        f"SELECT count(*) FILTER (WHERE {predicate}), count(*) FROM t"
    )
    assert len(statements) == 1 and statements[0].type.name == "SELECT"


def test_generated_statements_are_checked_before_they_run() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INTEGER); CREATE TABLE canary (x INTEGER)")
    ran: list[str] = []

    def execute(sql: str) -> tuple[list[str], list[tuple]]:
        ran.append(sql)
        cur = con.execute(sql)
        return [d[0] for d in cur.description or []], cur.fetchall()

    config = parse_expectation({"expect_table_row_count_to_be_between": {"min_value": 0}})
    result = validate_relation(
        execute, "t; DROP TABLE canary", [config], columns=[("x", "INTEGER")]
    )
    assert result.results[0].outcome == "error"
    assert "not exactly one SELECT" in result.results[0].exception_info["exception_message"]
    assert ran == []
    assert con.execute("SELECT count(*) FROM canary").fetchone() == (0,)


# -- files ----------------------------------------------------------------------------------------


def _canary_db(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE canary AS SELECT 1 AS x")
    con.close()


def _canary_rows(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT * FROM canary").fetchall()
    finally:
        con.close()


def test_attacks_on_files_give_exit_2_and_the_canary_survives(tmp_path: Path, cli: Any) -> None:
    pq.write_table(pa.table({"x": [1, None, 3]}), tmp_path / "d.parquet")
    canary_file = tmp_path / "canary.duckdb"
    _canary_db(canary_file)
    # each attack ATTACHes the canary's database file first, then drops its table
    target = f"ATTACH '{canary_file}' AS c; DROP TABLE c.canary"
    for expectation in _attack_suites("canary") + _attack_suites(target):
        suite = tmp_path / "suite.json"
        suite.write_text(
            json.dumps({"name": "attack", "expectations": [expectation]}), encoding="utf-8"
        )
        out = cli("validate", tmp_path / "d.parquet", "--suite", suite)
        assert out.code == 2, (expectation, out.out, out.err)
        assert "is refused" in out.err and "suite.json" in out.err and "expectation 1" in out.err
        assert "hint:" in out.err
        assert _canary_rows(canary_file) == [(1,)]


def test_column_names_are_identifiers(tmp_path: Path, cli: Any) -> None:
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "d.parquet")
    canary_file = tmp_path / "canary.duckdb"
    _canary_db(canary_file)
    name = f"x\" IS NULL) FROM t; ATTACH '{canary_file}' AS c; DROP TABLE c.canary; --"
    expectations = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": name}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": name, "min_value": 0}},
        {"type": "expect_column_distinct_values_to_be_in_set", "kwargs": {"column": name, "value_set": [1]}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["x", name]}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "x", "value_set": [1],
         "result_format": {"result_format": "COMPLETE", "unexpected_index_column_names": [name]}}},
        {"type": "expect_table_row_count_to_equal_other_table", "kwargs": {"other_table_name": name}},
    ]  # fmt: skip
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"name": "attack", "expectations": expectations}), encoding="utf-8")
    out = cli("validate", tmp_path / "d.parquet", "--suite", suite, "--json")
    assert out.code == 1, out.err  # the critical expectations cannot run: no such column
    results = json.loads(out.out)["results"]
    assert all(r["exception_info"]["raised_exception"] for r in results), results
    assert _canary_rows(canary_file) == [(1,)]


# -- warehouse tables -----------------------------------------------------------------------------


def _warehouse(make_project: Callable[..., Path], cli: Any) -> Path:
    root = make_project(
        {
            "models/marts/orders.sql": "select 1 as x union all select null",
            "models/marts/canary.sql": "select 42 as x",
        }
    )
    assert cli("build", "--project-dir", root).code == 0
    return root


def test_attacks_on_a_warehouse_table_give_exit_2_and_the_canary_survives(
    make_project: Callable[..., Path], cli: Any
) -> None:
    root = _warehouse(make_project, cli)
    for expectation in _attack_suites("main.canary"):
        suite = root / "suite.json"
        suite.write_text(
            json.dumps({"name": "attack", "expectations": [expectation]}), encoding="utf-8"
        )
        out = cli("validate", "orders", "--suite", suite, "--project-dir", root)
        assert out.code == 2, (expectation, out.out, out.err)
        assert "is refused" in out.err and "hint:" in out.err
        assert query(root, "select x from main.canary") == [(42,)]


def test_validate_opens_the_warehouse_read_only(
    make_project: Callable[..., Path], cli: Any
) -> None:
    from headwater.context import Context
    from headwater.quality.validate import read_only_engine as _read_only_engine

    root = _warehouse(make_project, cli)
    with Context(root) as ctx:
        engine = _read_only_engine(ctx)
        try:
            with pytest.raises(Exception, match="read-only"):
                engine.execute("DROP TABLE main.canary")
        finally:
            engine.close()
    # another process may read the warehouse at the same time (a writer would be refused)
    suite = root / "suite.yml"
    suite.write_text(
        "name: s\nexpectations:\n  - expect_table_row_count_to_equal: {value: 2}\n",
        encoding="utf-8",
    )
    reader = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "headwater", "validate", "orders", "--suite", str(suite), "--project-dir", str(root)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        reader.close()
    assert proc.returncode == 0, proc.stderr
    assert query(root, "select x from main.canary") == [(42,)]


def test_validate_passes_vars_to_the_project(make_project: Callable[..., Path], cli: Any) -> None:
    root = make_project(
        {"models/marts/orders.sql": "{{ config(alias=var('table_name')) }} select 1 as x"},
        project_yml=_project_yml() + "vars: {table_name: orders_default}\n",
    )
    assert cli("build", "--project-dir", root, "--vars", "{table_name: orders_v2}").code == 0
    suite = root / "suite.yml"
    suite.write_text(
        "name: s\nexpectations:\n  - expect_table_row_count_to_equal: {value: 1}\n",
        encoding="utf-8",
    )
    out = cli(
        "validate",
        "orders",
        "--suite",
        suite,
        "--project-dir",
        root,
        "--vars",
        "{table_name: orders_v2}",
    )
    assert out.code == 0, out.out + out.err
    assert (
        cli("validate", "orders", "--suite", suite, "--project-dir", root).code == 1
    )  # orders_default: absent


def _project_yml() -> str:
    from tests.conftest import BASE_PROJECT

    return BASE_PROJECT
