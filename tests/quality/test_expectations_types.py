"""Each expectation type: a passing case, a failing case, nulls, empty input, mostly edges."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from headwater.quality.expectations import SPECS, row_predicate
from headwater.quality.expectations.config import parse_expectation
from tests.quality.test_expectations_helpers import Runner, one

INT, S, D = "x INTEGER", "x VARCHAR", "x DOUBLE"
AB = "a INTEGER, b INTEGER"
ABC = "a INTEGER, b INTEGER, c INTEGER"

# type, kwargs, schema, rows that pass, rows that fail
CASES: list[tuple[str, dict, str, list[tuple], list[tuple]]] = [
    ("expect_column_values_to_not_be_null", {}, INT, [(1,), (2,)], [(1,), (None,)]),
    ("expect_column_values_to_be_null", {}, INT, [(None,), (None,)], [(1,), (None,)]),
    (
        "expect_column_values_to_be_unique",
        {},
        INT,
        [(1,), (2,), (None,), (None,)],
        [(1,), (2,), (2,)],
    ),
    ("expect_column_values_to_be_in_set", {"value_set": [1, 2]}, INT, [(1,), (2,)], [(1,), (3,)]),
    ("expect_column_values_to_not_be_in_set", {"value_set": [3]}, INT, [(1,), (2,)], [(1,), (3,)]),
    (
        "expect_column_values_to_be_between",
        {"min_value": 0, "max_value": 10},
        INT,
        [(0,), (10,)],
        [(5,), (11,)],
    ),
    (
        "expect_column_values_to_be_between",
        {"min_value": 0, "strict_min": True},
        INT,
        [(1,)],
        [(0,), (1,)],
    ),
    (
        "expect_column_values_to_be_between",
        {"max_value": "2024-01-31"},
        "x DATE",
        [("2024-01-01",)],
        [("2024-02-01",)],
    ),
    (
        "expect_column_value_lengths_to_be_between",
        {"min_value": 2, "max_value": 3},
        S,
        [("ab",), ("abc",)],
        [("a",), ("ab",)],
    ),
    (
        "expect_column_value_lengths_to_equal",
        {"value": 2},
        S,
        [("ab",), ("cd",)],
        [("ab",), ("abc",)],
    ),
    (
        "expect_column_values_to_match_regex",
        {"regex": "^[a-z]+$"},
        S,
        [("ab",), ("c",)],
        [("ab",), ("A1",)],
    ),
    ("expect_column_values_to_match_regex", {"regex": "b"}, S, [("abc",)], [("ac",)]),
    (
        "expect_column_values_to_not_match_regex",
        {"regex": "[0-9]"},
        S,
        [("ab",)],
        [("a1",), ("b",)],
    ),
    (
        "expect_column_values_to_match_regex_list",
        {"regex_list": ["^a", "^b"]},
        S,
        [("ax",), ("bx",)],
        [("ax",), ("cx",)],
    ),
    (
        "expect_column_values_to_match_regex_list",
        {"regex_list": ["^a", "x$"], "match_on": "all"},
        S,
        [("ax",)],
        [("ax",), ("bx",)],
    ),
    (
        "expect_column_values_to_not_match_regex_list",
        {"regex_list": ["^a", "^b"]},
        S,
        [("cx",)],
        [("cx",), ("bx",)],
    ),
    (
        "expect_column_values_to_match_like_pattern",
        {"like_pattern": "a%"},
        S,
        [("ab",)],
        [("ab",), ("ba",)],
    ),
    (
        "expect_column_values_to_match_like_pattern",
        {"like_pattern": "a!%%", "escape": "!"},
        S,
        [("a%b",)],
        [("ab",)],
    ),
    (
        "expect_column_values_to_not_match_like_pattern",
        {"like_pattern": "a%"},
        S,
        [("ba",)],
        [("ab",), ("ba",)],
    ),
    (
        "expect_column_values_to_match_like_pattern_list",
        {"like_pattern_list": ["a%", "b%"]},
        S,
        [("ax",), ("bx",)],
        [("ax",), ("cx",)],
    ),
    (
        "expect_column_values_to_match_like_pattern_list",
        {"like_pattern_list": ["a%", "%x"], "match_on": "all"},
        S,
        [("ax",)],
        [("ax",), ("ay",)],
    ),
    (
        "expect_column_values_to_not_match_like_pattern_list",
        {"like_pattern_list": ["a%", "b%"]},
        S,
        [("cx",)],
        [("cx",), ("ax",)],
    ),
    (
        "expect_column_values_to_match_strftime_format",
        {"strftime_format": "%Y-%m-%d"},
        S,
        [("2024-01-31",)],
        [("2024-01-31",), ("31/01/2024",)],
    ),
    (
        "expect_column_values_to_be_dateutil_parseable",
        {},
        S,
        [("2024-01-31",), ("01/31/2024",), ("Jan 31 2024",), ("2024-01-31T10:00:00+02:00",)],
        [("2024-01-31",), ("not a date",)],
    ),
    (
        "expect_column_values_to_be_json_parseable",
        {},
        S,
        [('{"a": 1}',), ("[1, 2]",), ("3",)],
        [("{}",), ("{a:",)],
    ),
    ("expect_column_values_to_be_of_type", {"type_": "int32"}, INT, [(1,)], None),
    ("expect_column_values_to_be_of_type", {"type_": "float64"}, INT, None, [(1,)]),
    (
        "expect_column_values_to_be_in_type_list",
        {"type_list": ["int64", "INTEGER"]},
        INT,
        [(1,)],
        None,
    ),
    (
        "expect_column_values_to_be_in_type_list",
        {"type_list": ["str", "DOUBLE"]},
        INT,
        None,
        [(1,)],
    ),
    (
        "expect_column_values_to_be_increasing",
        {},
        INT,
        [(1,), (None,), (1,), (3,)],
        [(1,), (3,), (2,)],
    ),
    (
        "expect_column_values_to_be_increasing",
        {"strictly": True},
        INT,
        [(1,), (None,), (2,)],
        [(1,), (1,)],
    ),
    ("expect_column_values_to_be_decreasing", {}, INT, [(3,), (3,), (None,), (1,)], [(3,), (4,)]),
    ("expect_column_values_to_be_decreasing", {"strictly": True}, INT, [(3,), (2,)], [(3,), (3,)]),
    (
        "expect_column_value_z_scores_to_be_less_than",
        {"threshold": 2, "double_sided": True},
        D,
        [(1.0,), (2.0,), (3.0,)],
        [(0.0,)] * 9 + [(1.0,)] + [(100.0,)],
    ),
    (
        "expect_column_value_z_scores_to_be_less_than",
        {"threshold": 1, "double_sided": False},
        D,
        [(1.0,), (1.1,), (None,)],
        [(1.0,), (2.0,), (3.0,)],
    ),
    (
        "expect_column_values_to_not_be_outliers",
        {},
        D,
        [(1.0,), (2.0,), (3.0,), (4.0,)],
        [(1.0,), (2.0,), (3.0,), (4.0,), (100.0,)],
    ),
    (
        "expect_column_values_to_not_be_outliers",
        {"method": "std", "multiplier": 1.0},
        D,
        [(1.0,), (2.0,)],
        [(1.0,), (1.0,), (1.0,), (10.0,)],
    ),
    (
        "expect_column_pair_values_a_to_be_greater_than_b",
        {"column_A": "a", "column_B": "b"},
        AB,
        [(2, 1), (None, None)],
        [(2, 1), (1, 1)],
    ),
    (
        "expect_column_pair_values_a_to_be_greater_than_b",
        {"column_A": "a", "column_B": "b", "or_equal": True},
        AB,
        [(2, 1), (1, 1)],
        [(0, 1)],
    ),
    (
        "expect_column_pair_values_to_be_equal",
        {"column_A": "a", "column_B": "b"},
        AB,
        [(1, 1), (None, None)],
        [(1, 1), (1, None)],
    ),
    (
        "expect_column_pair_values_to_be_in_set",
        {"column_A": "a", "column_B": "b", "value_pairs_set": [[1, 2], [3, 4]]},
        AB,
        [(1, 2), (3, 4)],
        [(1, 2), (2, 1)],
    ),
    (
        "expect_compound_columns_to_be_unique",
        {"column_list": ["a", "b"]},
        AB,
        [(1, 2), (2, 1), (None, None), (None, None)],
        [(1, 2), (1, 2), (1, 3)],
    ),
    (
        "expect_select_column_values_to_be_unique_within_record",
        {"column_list": ["a", "b", "c"]},
        ABC,
        [(1, 2, 3), (None, None, None)],
        [(1, 2, 3), (1, 2, 1)],
    ),
    (
        "expect_multicolumn_sum_to_equal",
        {"column_list": ["a", "b"], "sum_total": 10},
        AB,
        [(4, 6), (10, None)],
        [(4, 6), (4, 5)],
    ),
    (
        "expect_column_min_to_be_between",
        {"min_value": 1, "max_value": 2},
        INT,
        [(1,), (5,)],
        [(0,), (5,)],
    ),
    (
        "expect_column_max_to_be_between",
        {"min_value": 1, "max_value": 5},
        INT,
        [(1,), (5,)],
        [(1,), (6,)],
    ),
    (
        "expect_column_max_to_be_between",
        {"max_value": "2024-12-31"},
        "x DATE",
        [("2024-01-01",)],
        [("2025-01-01",)],
    ),
    (
        "expect_column_mean_to_be_between",
        {"min_value": 2, "max_value": 2},
        INT,
        [(1,), (3,), (None,)],
        [(1,), (4,)],
    ),
    (
        "expect_column_median_to_be_between",
        {"min_value": 2.5, "max_value": 2.5},
        INT,
        [(1,), (2,), (3,), (4,)],
        [(1,), (2,), (3,)],
    ),
    (
        "expect_column_sum_to_be_between",
        {"min_value": 3, "max_value": 3, "strict_max": False},
        INT,
        [(1,), (2,)],
        [(1,), (3,)],
    ),
    ("expect_column_stdev_to_be_between", {"max_value": 1}, D, [(1.0,), (2.0,)], [(1.0,), (5.0,)]),
    (
        "expect_column_unique_value_count_to_be_between",
        {"min_value": 2, "max_value": 2},
        INT,
        [(1,), (2,), (2,), (None,)],
        [(1,), (1,)],
    ),
    (
        "expect_column_proportion_of_unique_values_to_be_between",
        {"min_value": 0.5},
        INT,
        [(1,), (2,), (2,)],
        [(1,), (1,), (1,)],
    ),
    (
        "expect_column_proportion_of_non_null_values_to_be_between",
        {"min_value": 0.5},
        INT,
        [(1,), (None,)],
        [(1,), (None,), (None,)],
    ),
    (
        "expect_column_quantile_values_to_be_between",
        {
            "quantile_ranges": {
                "quantiles": [0.0, 0.5, 1.0],
                "value_ranges": [[0, 1], [2, 3], [None, 5]],
            }
        },
        INT,
        [(1,), (2,), (3,), (5,)],
        [(1,), (2,), (3,), (6,)],
    ),
    (
        "expect_column_distinct_values_to_be_in_set",
        {"value_set": [1, 2, 3]},
        INT,
        [(1,), (1,), (None,)],
        [(1,), (4,)],
    ),
    (
        "expect_column_distinct_values_to_contain_set",
        {"value_set": [1, 2]},
        INT,
        [(1,), (2,), (3,)],
        [(1,), (3,)],
    ),
    (
        "expect_column_distinct_values_to_equal_set",
        {"value_set": [1, 2]},
        INT,
        [(1,), (2,), (2,)],
        [(1,), (2,), (3,)],
    ),
    (
        "expect_column_distinct_values_to_equal_set",
        {"value_set": ["2024-01-01"]},
        "x DATE",
        [("2024-01-01",)],
        [("2024-01-02",)],
    ),
    (
        "expect_column_most_common_value_to_be_in_set",
        {"value_set": [1]},
        INT,
        [(1,), (1,), (2,)],
        [(1,), (2,), (2,)],
    ),
    (
        "expect_column_most_common_value_to_be_in_set",
        {"value_set": [1], "ties_okay": True},
        INT,
        [(1,), (2,)],
        [(3,), (2,)],
    ),
    (
        "expect_table_row_count_to_be_between",
        {"min_value": 1, "max_value": 2},
        INT,
        [(1,), (2,)],
        [(1,), (2,), (3,)],
    ),
    ("expect_table_row_count_to_equal", {"value": 2}, INT, [(1,), (2,)], [(1,)]),
    (
        "expect_table_row_count_to_equal_other_table",
        {"other_table_name": "other"},
        INT,
        [(1,), (2,)],
        [(1,)],
    ),
    (
        "expect_table_column_count_to_be_between",
        {"min_value": 1, "max_value": 1},
        INT,
        [(1,)],
        None,
    ),
    ("expect_table_column_count_to_equal", {"value": 2}, AB, [(1, 2)], None),
    ("expect_table_column_count_to_equal", {"value": 3}, AB, None, [(1, 2)]),
    ("expect_table_columns_to_match_set", {"column_set": ["b", "a"]}, AB, [(1, 2)], None),
    (
        "expect_table_columns_to_match_set",
        {"column_set": ["a"], "exact_match": False},
        AB,
        [(1, 2)],
        None,
    ),
    ("expect_table_columns_to_match_set", {"column_set": ["a", "c"]}, AB, None, [(1, 2)]),
    ("expect_table_columns_to_match_ordered_list", {"column_list": ["a", "b"]}, AB, [(1, 2)], None),
    ("expect_table_columns_to_match_ordered_list", {"column_list": ["b", "a"]}, AB, None, [(1, 2)]),
    ("expect_column_to_exist", {"column": "b", "column_index": 1}, AB, [(1, 2)], None),
    ("expect_column_to_exist", {"column": "c"}, AB, None, [(1, 2)]),
    ("expect_column_type_to_be", {"column": "a", "type_": "INTEGER"}, AB, [(1, 2)], None),
    ("expect_column_type_to_be", {"column": "a", "type_": "VARCHAR"}, AB, None, [(1, 2)]),
    (
        "unexpected_rows_expectation",
        {"unexpected_rows_query": "SELECT * FROM {batch} WHERE x < 0"},
        INT,
        [(1,)],
        [(1,), (-1,)],
    ),
]
COLUMN_KINDS = ("map", "aggregate")


def _kwargs(type_: str, kwargs: dict) -> dict:
    spec = SPECS[type_]
    if spec.domain == ("column",) and "column" not in kwargs:
        return {"column": "x", **kwargs}
    return kwargs


def _run(type_: str, kwargs: dict, schema: str, rows: list[tuple], **extra):
    runner = Runner(schema, rows)
    runner.con.execute("CREATE TABLE other AS SELECT 1 AS y UNION ALL SELECT 2")
    result = runner.run({type_: _kwargs(type_, kwargs)}, **extra).results[0]
    json.dumps(result.to_json_dict())  # always serializable
    return result


def _case_id(case: tuple) -> str:
    return case[0].removeprefix("expect_")


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_pass_and_fail(case: tuple) -> None:
    type_, kwargs, schema, good, bad = case
    if good is not None:
        result = _run(type_, kwargs, schema, good)
        assert result.outcome == "pass", result.to_json_dict()
        assert result.success is True
    if bad is not None:
        result = _run(type_, kwargs, schema, bad)
        assert result.outcome == "fail", result.to_json_dict()
        assert result.success is False


def test_every_type_is_covered() -> None:
    assert {c[0] for c in CASES} == set(SPECS)


MAP_CASES = [c for c in CASES if SPECS[c[0]].row_level and c[4] is not None and "type" not in c[0]]


@pytest.mark.parametrize("case", MAP_CASES, ids=_case_id)
def test_mostly_edges(case: tuple) -> None:
    """mostly exactly at the expected fraction passes; a hair above fails."""
    type_, kwargs, schema, _, bad = case
    first = _run(type_, kwargs, schema, bad)
    unexpected = first.result["unexpected_count"]
    considered = first.result["element_count"] - first.result.get("missing_count", 0)
    assert 0 < unexpected <= considered
    edge = float(Fraction(considered - unexpected, considered))
    assert _run(type_, {**kwargs, "mostly": edge}, schema, bad).success is True
    assert _run(type_, {**kwargs, "mostly": min(1.0, edge + 1e-9)}, schema, bad).success is False


@pytest.mark.parametrize(
    "case", [c for c in CASES if SPECS[c[0]].row_level and "type" not in c[0]], ids=_case_id
)
def test_map_types_on_empty_and_all_null_input(case: tuple) -> None:
    """GX: no rows, or only missing values, is vacuously successful (except null tests)."""
    type_, kwargs, schema, _, _ = case
    empty = _run(type_, kwargs, schema, [])
    assert empty.success is True
    assert empty.result["element_count"] == 0
    assert empty.result["unexpected_count"] == 0
    assert empty.result["unexpected_percent"] is None
    width = schema.count(",") + 1
    nulls = _run(type_, kwargs, schema, [(None,) * width] * 3)
    assert nulls.outcome != "error"
    assert nulls.success is (type_ != "expect_column_values_to_not_be_null")


@pytest.mark.parametrize(
    "type_",
    [
        "expect_column_min_to_be_between",
        "expect_column_mean_to_be_between",
        "expect_column_sum_to_be_between",
        "expect_column_median_to_be_between",
        "expect_column_stdev_to_be_between",
    ],
)
def test_aggregates_on_empty_and_all_null_input_fail_with_null_observed_value(type_: str) -> None:
    for rows in ([], [(None,), (None,)]):
        result = _run(type_, {"min_value": 0}, D, rows)
        assert result.success is False
        assert result.result == {"observed_value": None}
        assert result.outcome == "fail"


def test_counts_on_empty_input() -> None:
    assert _run("expect_table_row_count_to_equal", {"value": 0}, INT, []).success is True
    assert (
        _run("expect_column_unique_value_count_to_be_between", {"max_value": 0}, INT, []).success
        is True
    )
    result = _run(
        "expect_column_proportion_of_unique_values_to_be_between", {"max_value": 0}, INT, [(None,)]
    )
    assert result.result == {"observed_value": 0.0}
    # GX (every back end, `nonnull_proportion`): no rows -> 0, not a missing value
    result = _run(
        "expect_column_proportion_of_non_null_values_to_be_between", {"min_value": 0}, INT, []
    )
    assert (result.success, result.result) == (True, {"observed_value": 0})


# -- result dicts written by hand from GX's documentation -----------------------------------------


def test_in_set_result_matches_gx_documentation() -> None:
    result = one("status VARCHAR", [("a",), ("b",), ("zz",), (None,), ("a",)],
                 "expect_column_values_to_be_in_set", column="status", value_set=["a", "b"], mostly=0.7,
                 result_format="SUMMARY")  # fmt: skip
    assert result.to_json_dict() == {
        "success": True,
        "expectation_config": {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "status", "value_set": ["a", "b"], "mostly": 0.7},
            "meta": {},
            "severity": "critical",
        },
        "result": {
            "element_count": 5,
            "unexpected_count": 1,
            "unexpected_percent": 25.0,
            "partial_unexpected_list": ["zz"],
            "missing_count": 1,
            "missing_percent": 20.0,
            "unexpected_percent_total": 20.0,
            "unexpected_percent_nonmissing": 25.0,
            "partial_unexpected_counts": [{"value": "zz", "count": 1}],
            "partial_unexpected_index_list": [2],
        },
        "meta": {},
        "exception_info": {
            "raised_exception": False,
            "exception_traceback": None,
            "exception_message": None,
        },
    }


def test_not_in_set_documentation_example() -> None:
    # GX docs: my_col = [1,2,2,3,3,3], value_set [1, 2] -> 3 unexpected, 50 %, [1, 2, 2]
    result = one(INT, [(1,), (2,), (2,), (3,), (3,), (3,)], "expect_column_values_to_not_be_in_set",
                 column="x", value_set=[1, 2])  # fmt: skip
    assert result.success is False
    assert result.result["unexpected_count"] == 3
    assert result.result["unexpected_percent"] == 50.0
    assert result.result["unexpected_percent_nonmissing"] == 50.0
    assert result.result["partial_unexpected_list"] == [1, 2, 2]


def test_not_null_has_no_missing_block_and_lists_nulls() -> None:
    result = one(
        INT, [(1,), (None,), (None,), (4,)], "expect_column_values_to_not_be_null", column="x"
    )
    assert result.result == {
        "element_count": 4,
        "unexpected_count": 2,
        "unexpected_percent": 50.0,
        "partial_unexpected_list": [None, None],
    }


def test_unique_marks_every_duplicated_row() -> None:
    result = one(INT, [(1,), (2,), (2,), (None,), (3,), (3,), (3,)], "expect_column_values_to_be_unique",
                 column="x", result_format="COMPLETE")  # fmt: skip
    r = result.result
    assert (r["element_count"], r["missing_count"], r["unexpected_count"]) == (7, 1, 5)
    assert r["unexpected_list"] == [2, 2, 3, 3, 3]
    assert r["unexpected_index_list"] == [1, 2, 4, 5, 6]
    assert r["partial_unexpected_counts"] == [{"value": 3, "count": 3}, {"value": 2, "count": 2}]
    runner = Runner(INT, [(1,), (2,), (2,), (None,)])
    assert runner.execute(
        f"SELECT count(*) FROM t WHERE {r['unexpected_index_query'].split(' WHERE ', 1)[1]}"
    )[1] == [(2,)]


def test_distinct_values_result_shape() -> None:
    # GX docs: test = [1, 2, 4], value_set [1, 2, 4] -> observed [1, 2, 4] with value counts
    result = one(
        INT,
        [(1,), (2,), (4,)],
        "expect_column_distinct_values_to_equal_set",
        column="x",
        value_set=[1, 2, 4],
    )
    assert result.to_json_dict()["result"] == {
        "observed_value": [1, 2, 4],
        "details": {
            "value_counts": [
                {"value": 1, "count": 1},
                {"value": 2, "count": 1},
                {"value": 4, "count": 1},
            ]
        },
        # GX 1.24's counts: distinct values outside the set, set values not seen
        "unexpected_count": 0,
        "partial_unexpected_list": [],
        "missing_count": 0,
        "partial_missing_list": [],
    }
    # GX docs: my_col = [1,2,2,3,3,3], value_set [2, 3, 4] -> fails, observed [1, 2, 3]
    result = one(INT, [(1,), (2,), (2,), (3,), (3,), (3,)], "expect_column_distinct_values_to_be_in_set",
                 column="x", value_set=[2, 3, 4])  # fmt: skip
    assert result.success is False
    assert result.result["observed_value"] == [1, 2, 3]


def test_distinct_values_verdict_does_not_depend_on_the_report_cap() -> None:
    rows = [(i,) for i in range(100)]
    result = one(
        INT,
        rows,
        "expect_column_distinct_values_to_be_in_set",
        column="x",
        value_set=list(range(99)),
    )
    assert result.success is False
    assert len(result.result["observed_value"]) == 20
    assert result.result["details"]["value_counts_truncated"] is True
    result = one(
        INT, rows, "expect_column_distinct_values_to_contain_set", column="x", value_set=[99, 0]
    )
    assert result.success is True


def test_table_result_shapes() -> None:
    result = one(AB, [(1, 2)], "expect_table_columns_to_match_set", column_set=["a", "c"])
    assert result.result == {
        "observed_value": ["a", "b"],
        "details": {"mismatched": {"unexpected": ["b"], "missing": ["c"]}},
    }
    result = one(AB, [(1, 2)], "expect_column_values_to_be_of_type", column="a", type_="INTEGER")
    assert result.result == {"observed_value": "INTEGER"}
    result = one(INT, [(1,), (2,), (3,)], "expect_column_quantile_values_to_be_between", column="x",
                 quantile_ranges={"quantiles": [0.5], "value_ranges": [[2, 2]]})  # fmt: skip
    assert result.result == {
        "observed_value": {"quantiles": [0.5], "values": [2]},
        "details": {"success_details": [True]},
    }


def test_result_format_levels() -> None:
    rows = [("a",), ("zz",), ("zz",), ("yy",)]
    kw = {"column": "x", "value_set": ["a"]}
    assert (
        one(S, rows, "expect_column_values_to_be_in_set", result_format="BOOLEAN_ONLY", **kw).result
        == {}
    )
    basic = one(S, rows, "expect_column_values_to_be_in_set", **kw).result
    assert "partial_unexpected_counts" not in basic
    summary = one(
        S, rows, "expect_column_values_to_be_in_set", result_format="SUMMARY", **kw
    ).result
    assert summary["partial_unexpected_counts"] == [
        {"value": "zz", "count": 2},
        {"value": "yy", "count": 1},
    ]
    assert summary["partial_unexpected_index_list"] == [1, 2, 3]
    complete = one(
        S, rows, "expect_column_values_to_be_in_set", result_format="COMPLETE", **kw
    ).result
    assert complete["unexpected_list"] == ["zz", "zz", "yy"]
    assert complete["unexpected_index_list"] == [1, 2, 3]
    assert "unexpected_index_query" in complete
    limited = one(S, rows, "expect_column_values_to_be_in_set",
                  result_format={"result_format": "SUMMARY", "partial_unexpected_count": 1,
                                 "unexpected_index_column_names": ["x"], "include_unexpected_rows": True}, **kw).result  # fmt: skip
    assert limited["partial_unexpected_list"] == ["zz"]
    assert limited["partial_unexpected_index_list"] == [{"x": "zz"}]
    assert limited["unexpected_rows"] == [{"x": "zz"}]


def test_complete_lists_are_capped_at_200() -> None:
    rows = [(i,) for i in range(500)]
    result = one(
        INT,
        rows,
        "expect_column_values_to_be_between",
        column="x",
        max_value=-1,
        result_format="COMPLETE",
    )
    assert result.result["unexpected_count"] == 500
    assert len(result.result["unexpected_list"]) == 200
    assert len(result.result["partial_unexpected_list"]) == 20


def test_row_condition_filters_element_count() -> None:
    rows = [(1, 5), (2, -1), (1, -3), (None, -4)]
    result = one(AB, rows, "expect_column_values_to_be_between", column="b", min_value=0,
                 row_condition='col("a")==1', condition_parser="great_expectations")  # fmt: skip
    assert (result.result["element_count"], result.result["unexpected_count"]) == (2, 1)
    result = one(
        AB,
        rows,
        "expect_column_values_to_be_between",
        column="b",
        min_value=0,
        row_condition="a = 2",
    )
    assert (result.result["element_count"], result.result["unexpected_count"]) == (1, 1)
    result = one(
        AB,
        rows,
        "expect_table_row_count_to_equal",
        value=1,
        row_condition="a == 2",
        condition_parser="pandas",
    )
    assert result.success is True


def test_increasing_on_a_view_uses_read_order() -> None:
    runner = Runner(INT, [(1,), (3,), (2,)])
    runner.con.execute("CREATE VIEW v AS SELECT * FROM t")
    configs = [parse_expectation({"expect_column_values_to_be_increasing": {"column": "x"}})]
    from headwater.quality.expectations import validate_relation

    result = validate_relation(runner.execute, '"v"', configs, result_format="SUMMARY").results[0]
    assert result.result["unexpected_count"] == 1
    assert result.result["partial_unexpected_index_list"] == [2]


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if SPECS[c[0]].row_level and c[4] and "type" not in c[0]],
    ids=_case_id,
)
def test_row_predicate_selects_exactly_the_unexpected_rows(case: tuple) -> None:
    type_, kwargs, schema, _, bad = case
    runner = Runner(schema, bad)
    config = parse_expectation({type_: _kwargs(type_, kwargs)})
    predicate = row_predicate(config, '"t"', runner.execute("DESCRIBE t")[1] and None)
    assert predicate is not None
    found = runner.execute(f"SELECT count(*) FROM t WHERE {predicate}")[1][0][0]
    assert found == _run(type_, kwargs, schema, bad).result["unexpected_count"]


def test_row_predicate_is_none_for_aggregates_and_tables() -> None:
    for type_ in (
        "expect_column_mean_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_column_values_to_be_of_type",
    ):
        kwargs = {"column": "x", "min_value": 1, "value": 1, "type_": "int"}
        params = SPECS[type_].all_params()
        config = parse_expectation({type_: {k: v for k, v in kwargs.items() if k in params}})
        assert row_predicate(config, '"t"') is None
