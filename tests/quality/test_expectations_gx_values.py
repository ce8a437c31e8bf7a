"""GX's values, not only its verdicts: files, Arrow tables and data frames follow GX's pandas
back end; warehouse tables (`validate_relation`) GX's SQL back ends.

Expected values were taken from GX 1.24.1's pandas back end (pandas 3.1) on the same rows:
`pd.read_parquet` of the file, then each expectation through `batch.validate`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import headwater
from tests.quality.test_expectations_helpers import Runner, one

ROWS = pa.table(
    {
        "i": pa.array([1, 2, 3, 4], pa.int64()),
        "f": pa.array([1.5, None, 2.0, 3.0], pa.float64()),
        "s": pa.array(["a", "b", None, "zz"], pa.string()),
        "b": pa.array([True, False, True, True], pa.bool_()),
        "t": pa.array([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2), None, dt.datetime(2024, 1, 4)],
                      pa.timestamp("us")),
        "n": pa.array([1, None, 3, 4], pa.int64()),  # an integer column with a null: float64 in pandas
        "q": pa.array([True, None, False, True], pa.bool_()),  # a boolean one: object
    }
)  # fmt: skip
# str(dtype) / dtype.type.__name__ of pandas' string dtype: "str" in pandas 3, "object" before
STR = str(pd.DataFrame({"s": ["a"]}).dtypes["s"])
STR_SCALAR = pd.DataFrame({"s": ["a"]}).dtypes["s"].type.__name__
# column -> (expect_column_type_to_be's observed, expect_column_values_to_be_of_type's observed)
PANDAS_TYPES = {
    "i": ("int64", "int64"),
    "f": ("float64", "float64"),
    "s": (STR, STR_SCALAR),
    "b": ("bool", "bool"),
    "t": ("datetime64[us]", "datetime64"),
    "n": ("float64", "float64"),
    "q": ("object", "object_"),
}
DUCKDB_TYPES = {"i": "BIGINT", "f": "DOUBLE", "s": "VARCHAR", "b": "BOOLEAN", "t": "TIMESTAMP",
                "n": "BIGINT", "q": "BOOLEAN"}  # fmt: skip


def _type_suite() -> list[dict]:
    out = []
    for column in ROWS.column_names:
        out.append(
            {"type": "expect_column_type_to_be", "kwargs": {"column": column, "type_": "int64"}}
        )
        out.append(
            {
                "type": "expect_column_values_to_be_of_type",
                "kwargs": {"column": column, "type_": "int64"},
            }
        )
        out.append({"type": "expect_column_values_to_be_in_type_list",
                    "kwargs": {"column": column, "type_list": ["int64"]}})  # fmt: skip
    return out


def _check_pandas_types(result: dict) -> None:
    for k, column in enumerate(ROWS.column_names):
        type_to_be, of_type, in_list = result["results"][3 * k : 3 * k + 3]
        assert type_to_be["result"]["observed_value"] == PANDAS_TYPES[column][0], column
        assert of_type["result"]["observed_value"] == PANDAS_TYPES[column][1], column
        assert in_list["result"]["observed_value"] == PANDAS_TYPES[column][1], column
        for r in (type_to_be, of_type, in_list):
            assert r["result"]["details"] == {"engine_type": DUCKDB_TYPES[column]}


def test_types_on_files_and_arrow_are_pandas_dtypes(tmp_path: Path) -> None:
    pq.write_table(ROWS, tmp_path / "d.parquet")
    _check_pandas_types(headwater.validate(tmp_path / "d.parquet", _type_suite()))
    _check_pandas_types(headwater.validate(ROWS, _type_suite()))


def test_types_on_a_pandas_frame_are_its_own_dtypes() -> None:
    frame = pd.DataFrame({"i": pd.array([1, None], dtype="Int64"), "c": pd.Categorical(["x", "y"])})
    suite = [
        {"type": "expect_column_type_to_be", "kwargs": {"column": c, "type_": "int64"}}
        for c in ("i", "c")
    ]
    suite.append(
        {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "c", "type_": "str"}}
    )
    results = headwater.validate(frame, suite)["results"]
    assert [r["result"]["observed_value"] for r in results] == [
        "Int64",
        "category",
        "CategoricalDtypeType",
    ]


def test_types_on_a_warehouse_table_are_duckdb_types() -> None:
    result = one("x BIGINT", [(1,)], "expect_column_type_to_be", column="x", type_="int64")
    assert result.result == {"observed_value": "BIGINT"}
    result = one(
        "x BIGINT", [(1,)], "expect_column_values_to_be_of_type", column="x", type_="int64"
    )
    assert result.result == {"observed_value": "BIGINT"}


def test_type_verdicts_do_not_change_with_the_back_end(tmp_path: Path) -> None:
    pq.write_table(ROWS, tmp_path / "d.parquet")
    verdicts = [
        r["success"] for r in headwater.validate(tmp_path / "d.parquet", _type_suite())["results"]
    ]
    runner = Runner(
        "i BIGINT, f DOUBLE, s VARCHAR, b BOOLEAN, t TIMESTAMP, n BIGINT, q BOOLEAN", []
    )
    on_table = [r.success for r in runner.run(*_type_suite()).results]
    assert verdicts == on_table


# -- table columns: sorted, as GX reports them on every back end ---------------------------------------


def test_columns_to_match_set_reports_sorted_columns(tmp_path: Path) -> None:
    pq.write_table(ROWS, tmp_path / "d.parquet")
    suite = [
        {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": ["s", "i", "zz", "a"]}},
        {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": list(reversed(ROWS.column_names))}},
        {"type": "expect_table_columns_to_match_set",
         "kwargs": {"column_set": ["t", "i"], "exact_match": False}},
    ]  # fmt: skip
    results = [r["result"] for r in headwater.validate(tmp_path / "d.parquet", suite)["results"]]
    observed = ["b", "f", "i", "n", "q", "s", "t"]
    assert results[0] == {
        "observed_value": observed,
        "details": {
            "mismatched": {"unexpected": ["b", "f", "n", "q", "t"], "missing": ["a", "zz"]}
        },
    }
    assert results[1] == {"observed_value": observed}
    # GX lists only the non-empty side of a mismatch
    assert results[2] == {"observed_value": observed,
                          "details": {"mismatched": {"unexpected": ["b", "f", "n", "q", "s"]}}}  # fmt: skip


# -- distinct-value sets: GX 1.24's counts -------------------------------------------------------------


def _distinct(rows: list[tuple], type_: str, value_set: list[Any], **rf: Any) -> dict:
    result = one("x VARCHAR", rows, type_, column="x", value_set=value_set, **rf)
    return result.to_json_dict()["result"]


def test_distinct_value_sets_report_gx_1_24_counts() -> None:
    rows = [("a",), ("b",), (None,), ("zz",), ("a",)]
    in_set = _distinct(rows, "expect_column_distinct_values_to_be_in_set", ["a", "b"])
    assert (in_set["unexpected_count"], in_set["partial_unexpected_list"]) == (1, ["zz"])
    assert "missing_count" not in in_set
    contain = _distinct(rows, "expect_column_distinct_values_to_contain_set", ["a", "d", "c"])
    assert (contain["missing_count"], contain["partial_missing_list"]) == (2, ["c", "d"])
    assert "unexpected_count" not in contain
    equal = _distinct(rows, "expect_column_distinct_values_to_equal_set", ["a", "c"])
    assert (equal["unexpected_count"], equal["partial_unexpected_list"]) == (2, ["b", "zz"])
    assert (equal["missing_count"], equal["partial_missing_list"]) == (1, ["c"])


def test_distinct_value_lists_are_capped_at_20_and_follow_partial_count() -> None:
    rows = [(f"v{i:03d}",) for i in range(50)]
    in_set = _distinct(rows, "expect_column_distinct_values_to_be_in_set", ["v000"])
    assert in_set["unexpected_count"] == 49
    assert in_set["partial_unexpected_list"] == [f"v{i:03d}" for i in range(1, 21)]
    none = _distinct(rows, "expect_column_distinct_values_to_equal_set", ["v000", "w"],
                     result_format={"result_format": "BASIC", "partial_unexpected_count": 0})  # fmt: skip
    assert (none["unexpected_count"], none["missing_count"]) == (49, 1)
    assert "partial_unexpected_list" not in none and "partial_missing_list" not in none
    assert _distinct(rows, "expect_column_distinct_values_to_be_in_set", ["v000"],
                     result_format="BOOLEAN_ONLY") == {}  # fmt: skip


# -- empty input ------------------------------------------------------------------------------------

EMPTY_SUITE = [
    {"type": "expect_column_sum_to_be_between", "kwargs": {"column": "i", "min_value": 0}},
    {"type": "expect_column_sum_to_be_between", "kwargs": {"column": "f", "min_value": 0}},
    {"type": "expect_column_proportion_of_non_null_values_to_be_between", "kwargs": {"column": "f", "min_value": 0}},
    {"type": "expect_column_min_to_be_between", "kwargs": {"column": "t", "min_value": "2000-01-01"}},
    {"type": "expect_column_max_to_be_between", "kwargs": {"column": "t"}},
    {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "f", "min_value": 0}},
    {"type": "expect_column_min_to_be_between", "kwargs": {"column": "i", "min_value": 0}},
]  # fmt: skip
# GX 1.24.1, pandas back end, zero rows: (success, observed_value)
PANDAS_EMPTY = [
    (True, 0),
    (True, 0.0),
    (True, 0),
    (False, "NaT"),
    (True, "NaT"),
    (False, None),
    (False, None),
]
# SQL semantics: no sum, no min/max of nothing (the non-null proportion is 0 on every GX back end)
SQL_EMPTY = [
    (False, None),
    (False, None),
    (True, 0),
    (False, None),
    (False, None),
    (False, None),
    (False, None),
]


def _observed(results: list[dict]) -> list[tuple[bool, Any]]:
    return [(r["success"], r["result"].get("observed_value")) for r in results]


def test_empty_files_and_frames_give_pandas_values(tmp_path: Path) -> None:
    empty = ROWS.slice(0, 0)
    pq.write_table(empty, tmp_path / "empty.parquet")
    assert (
        _observed(headwater.validate(tmp_path / "empty.parquet", EMPTY_SUITE)["results"])
        == PANDAS_EMPTY
    )
    assert _observed(headwater.validate(empty, EMPTY_SUITE)["results"]) == PANDAS_EMPTY
    assert _observed(headwater.validate(empty.to_pandas(), EMPTY_SUITE)["results"]) == PANDAS_EMPTY


def test_all_null_integers_sum_to_a_float_zero_in_pandas() -> None:
    table = pa.table({"i": pa.array([None, None], pa.int64())})  # float64 once pandas loads it
    suite = [{"type": "expect_column_sum_to_be_between", "kwargs": {"column": "i", "min_value": 0}}]
    result = headwater.validate(table, suite)["results"][0]
    assert (result["success"], result["result"]["observed_value"]) == (True, 0.0)
    assert isinstance(result["result"]["observed_value"], float)


def test_empty_warehouse_tables_keep_sql_values() -> None:
    runner = Runner("i BIGINT, f DOUBLE, t TIMESTAMP", [])
    results = [r.to_json_dict() for r in runner.run(*EMPTY_SUITE).results]
    assert _observed(results) == SQL_EMPTY


@pytest.mark.parametrize("semantics", ["pandas", "sql"])
def test_values_with_rows_do_not_depend_on_the_back_end(tmp_path: Path, semantics: str) -> None:
    pq.write_table(ROWS, tmp_path / "d.parquet")
    if semantics == "pandas":
        results = headwater.validate(tmp_path / "d.parquet", EMPTY_SUITE)["results"]
    else:
        runner = Runner(
            "i BIGINT, f DOUBLE, t TIMESTAMP", [(1, 1.5, "2024-01-01"), (2, None, None)]
        )
        results = [r.to_json_dict() for r in runner.run(*EMPTY_SUITE).results]
    observed = _observed(results)
    assert observed[3] == (True, "2024-01-01T00:00:00")
    assert observed[2][0] is True and 0 < observed[2][1] <= 1
