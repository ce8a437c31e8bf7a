"""Scan layouts: one wide scan or one query per set of columns give the same results, and the
planner picks per relation (columns on Parquet, Arrow and DuckDB tables; one scan on CSV/JSON,
views and subqueries)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headwater
from headwater.quality.expectations import parse_expectation, validate_relation
from headwater.quality.expectations.compiler import Target
from headwater.quality.expectations.planner import choose_layout
from tests.quality.test_expectations_engine import ROWS, SCHEMA, twenty
from tests.quality.test_expectations_helpers import Runner
from tests.quality.test_expectations_types import CASES, _case_id, _kwargs


def _both(
    schema: str, rows: list[tuple], expectations: list[dict]
) -> tuple[list[dict], list[dict]]:
    out = []
    for layout in ("single", "columns"):
        runner = Runner(schema, rows)
        runner.con.execute("CREATE TABLE other AS SELECT 1 AS y UNION ALL SELECT 2")
        suite = runner.run(*expectations, layout=layout, result_format="SUMMARY")
        out.append([r.to_json_dict() for r in suite.results] + [{"rows": suite.row_count}])
    return out[0], out[1]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_every_type_gives_the_same_result_in_both_layouts(case: tuple) -> None:
    type_, kwargs, schema, good, bad = case
    for rows in (good, bad, []):
        if rows is None:
            continue
        single, columns = _both(schema, rows, [{type_: _kwargs(type_, kwargs)}])
        assert single == columns


MIXED = [
    *twenty(),
    {"expect_column_values_to_be_in_set": {"column": "status", "value_set": ["paid"],
     "row_condition": 'col("amount") > 0 & col("email").notNull()', "condition_parser": "great_expectations"}},
    {"expect_column_values_to_be_in_set": {"column": "status", "value_set": ["paid"],
     "row_condition": {"type": "comparison", "column": {"name": "id"}, "operator": "NOT_IN", "parameter": [1]}}},
    {"expect_column_values_to_not_be_null": {"column": "email", "row_condition": "id > 2", "condition_parser": "pandas"}},
    {"expect_column_distinct_values_to_equal_set": {"column": "status", "value_set": ["paid", "lost"]}},
    {"expect_column_most_common_value_to_be_in_set": {"column": "status", "value_set": ["paid"]}},
    {"expect_column_value_z_scores_to_be_less_than": {"column": "amount", "threshold": 1, "double_sided": True}},
    {"expect_column_values_to_not_be_outliers": {"column": "amount", "multiplier": 0.5}},
    {"expect_column_pair_values_a_to_be_greater_than_b": {"column_A": "amount", "column_B": "id"}},
    {"expect_compound_columns_to_be_unique": {"column_list": ["status", "created"]}},
    {"expect_column_values_to_be_increasing": {"column": "id"}},
    {"expect_column_quantile_values_to_be_between": {"column": "amount",
     "quantile_ranges": {"quantiles": [0.5], "value_ranges": [[0, 20]]}}},
    {"unexpected_rows_expectation": {"unexpected_rows_query": "SELECT * FROM {batch} WHERE amount < 0"}},
    {"expect_table_row_count_to_equal": {"value": 2, "row_condition": "status = 'paid' AND amount > 10"}},
    {"expect_column_mean_to_be_between": {"column": "no_such_column", "min_value": 0}},
]  # fmt: skip


def test_a_mixed_suite_gives_the_same_results_in_both_layouts() -> None:
    single, columns = _both(SCHEMA, ROWS, MIXED)
    assert single == columns
    assert columns[-2]["exception_info"]["raised_exception"] is True  # the broken one is isolated
    assert sum(r.get("success") is False for r in columns[:-1]) > 3  # some fail, with samples


def test_the_columns_layout_reads_each_column_set_once() -> None:
    runner = Runner(SCHEMA, ROWS)
    exps = [
        {"expect_column_values_to_not_be_null": {"column": "id"}},
        {"expect_column_values_to_be_unique": {"column": "id"}},
        {"expect_column_mean_to_be_between": {"column": "amount", "min_value": 0}},
        {"expect_column_max_to_be_between": {"column": "amount", "max_value": 100}},
        {"expect_column_values_to_be_in_set": {"column": "status", "value_set": ["paid", "refunded"],
         "row_condition": 'col("amount") > 0', "condition_parser": "great_expectations"}},
        {"expect_column_values_to_not_be_null": {"column": "amount"}},
        {"expect_table_row_count_to_be_between": {"min_value": 1}},
    ]  # fmt: skip
    result = runner.run(
        *exps, layout="columns", columns=[(c.split()[0], c.split()[1]) for c in SCHEMA.split(", ")]
    )
    assert all(r.outcome == "pass" for r in result.results)
    scans = runner.statements
    # the row count; id; amount + status (the row condition reads amount, so amount joins it)
    assert len(scans) == 3, scans
    assert scans[0] == 'SELECT count(*) FROM "t"'
    id_scan = next(s for s in scans if '"id"' in s)
    assert '"status"' not in id_scan and '"amount"' not in id_scan
    assert '"status"' in scans[1] + scans[2] and '"amount"' in scans[1] + scans[2]


def _data(tmp_path: Path) -> dict[str, str]:
    table = pa.table({"id": [1, 2, 3], "s": ["a", "b", None]})
    pq.write_table(table, tmp_path / "d.parquet")
    pacsv.write_csv(table, tmp_path / "d.csv")
    return {"parquet": str(tmp_path / "d.parquet"), "csv": str(tmp_path / "d.csv")}


def test_the_planner_picks_per_relation(tmp_path: Path) -> None:
    files = _data(tmp_path)
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 1 AS x; CREATE VIEW v AS SELECT * FROM t")
    con.register("__hw_data_1", pa.table({"x": [1]}))

    def execute(sql: str) -> tuple[list[str], list[tuple]]:
        cur = con.execute(sql)
        return [d[0] for d in cur.description or []], cur.fetchall()

    def layout(relation: str) -> str:
        return choose_layout(Target(relation, [("x", "INTEGER")], execute))

    assert layout(f"(SELECT * FROM read_parquet('{files['parquet']}'))") == "columns"
    assert layout(f"read_csv('{files['csv']}')") == "single"
    assert layout('"t"') == "columns"
    assert layout('"v"') == "single"
    assert layout('"__hw_data_1"') == "columns"
    assert layout("(SELECT x FROM t)") == "single"


def test_files_give_the_same_results_in_both_layouts(tmp_path: Path) -> None:
    files = _data(tmp_path)
    suite = [
        {"expect_column_values_to_be_unique": {"column": "id"}},
        {"expect_column_values_to_be_in_set": {"column": "s", "value_set": ["a"]}},
        {"expect_column_sum_to_be_between": {"column": "id", "min_value": 7}},
        {"expect_table_row_count_to_equal": {"value": 3}},
    ]
    for path in files.values():
        single = headwater.validate(path, suite, layout="single", result_format="COMPLETE")
        columns = headwater.validate(path, suite, layout="columns", result_format="COMPLETE")
        for a, b in zip(single["results"], columns["results"], strict=True):
            assert a == b
        assert [r["success"] for r in single["results"]] == [True, False, False, True]


values = st.one_of(st.none(), st.integers(-3, 3))
row_lists = st.lists(st.tuples(values, values, st.sampled_from([None, "a", "b", "c"])), max_size=12)
expectation_pool = [
    {"expect_column_values_to_be_between": {"column": "a", "min_value": -1, "max_value": 2}},
    {"expect_column_values_to_be_unique": {"column": "b"}},
    {"expect_column_values_to_not_be_null": {"column": "s", "mostly": 0.5}},
    {"expect_column_sum_to_be_between": {"column": "a", "min_value": 0}},
    {"expect_column_min_to_be_between": {"column": "b", "min_value": -2}},
    {"expect_column_distinct_values_to_be_in_set": {"column": "s", "value_set": ["a", "b"]}},
    {"expect_column_pair_values_to_be_equal": {"column_A": "a", "column_B": "b"}},
    {"expect_column_values_to_be_in_set": {"column": "s", "value_set": ["a"],
     "row_condition": 'col("a") >= 0 | col("b").isNull()', "condition_parser": "great_expectations"}},
    {"expect_column_proportion_of_non_null_values_to_be_between": {"column": "b", "min_value": 0.5}},
    {"expect_table_row_count_to_be_between": {"min_value": 1, "row_condition": "a > b"}},
]  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=row_lists, picked=st.lists(st.sampled_from(expectation_pool), min_size=1, max_size=6))
def test_random_suites_agree_across_layouts(rows: list[tuple], picked: list[dict]) -> None:
    single, columns = _both("a INTEGER, b INTEGER, s VARCHAR", rows, picked)
    assert single == columns


def test_phase_two_runs_per_column_set() -> None:
    runner = Runner(SCHEMA, ROWS)
    configs = [
        parse_expectation({"expect_column_value_z_scores_to_be_less_than": {"column": "amount", "threshold": 3,
                                                                            "double_sided": True}}),
        parse_expectation({"expect_column_values_to_not_be_outliers": {"column": "id", "method": "std"}}),
    ]  # fmt: skip
    result = validate_relation(runner.execute, '"t"', configs, columns=[("id", "INTEGER"), ("amount", "DOUBLE")],
                               layout="columns")  # fmt: skip
    assert all(r.outcome == "pass" for r in result.results)
    # the row count, amount, id; then amount and id again with the means and deviations inlined
    assert len(runner.statements) == 5, json.dumps(runner.statements, indent=1)
