"""Great Expectations-compatible expectations on every engine, built through the CLI.

One representative set covers every plan kind (column maps, pairs, multicolumn, aggregates,
quantiles, distinct sets, most common value, regex, like, strftime, JSON, types, table-level,
row conditions, mostly, result formats); each verdict and count is computed here in Python from
the rows. Where PostgreSQL differs on purpose (documented in `PostgresFunctions.DIFFERENCES` and
the expectations module docstring) the test asserts DuckDB's result and is marked `differs`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# id, s, amount, d, ts, j, cat, pa, pb, ds
ROWS: list[tuple[Any, ...]] = [
    (1, "alpha", 10.5, "2024-01-01", "2024-01-01 10:00:00", '{"a": 1}', "x", 1, 1, "2024-01-05"),
    (2, "beta", 20.0, "2024-01-02", "2024-01-02 11:00:00", "[1, 2]", "x", 2, 1, "2024-13-01"),
    (3, "gamma", None, "2024-01-03", "2024-01-03 12:00:00", "not json", "y", 3, 4, "01/02/2024"),
    (4, "delta7", 35.25, "2024-01-04", None, '{"b": [1]}', "y", 4, 2, "soon"),
    (4, None, 40.0, "2024-01-05", "2024-01-05 14:30:00", None, "z", 5, 5, None),
    (6, "Epsilon", -5.0, None, "2024-01-06 15:00:00", '"str"', "x", None, 3, "2024-02-03"),
    (7, "eta", 12.0, "2024-01-07", "2024-01-07 09:00:00", "{}", "x", 7, 0, "2024-03-04"),
    (
        8,
        "theta",
        100.0,
        "2024-01-08",
        "2024-01-08 08:00:00",
        '{"k": null}',
        "y",
        None,
        None,
        "2023-12-31",
    ),
]
COLUMNS = ["id", "s", "amount", "d", "ts", "j", "cat", "pa", "pb", "ds"]
TYPES = [
    "integer",
    "varchar",
    "double precision",
    "date",
    "timestamp",
    "varchar",
    "varchar",
    "integer",
    "integer",
    "varchar",
]


def col(name: str) -> list[Any]:
    i = COLUMNS.index(name)
    return [r[i] for r in ROWS]


def _lit(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def model_sql(rows: list[tuple[Any, ...]], columns: list[str], types: list[str]) -> str:
    values = ",\n  ".join("(" + ", ".join(_lit(v) for v in row) + ")" for row in rows)
    select = ", ".join(f"cast({c} as {t}) as {c}" for c, t in zip(columns, types, strict=True))
    return f"select {select}\nfrom (values\n  {values}\n) as v({', '.join(columns)})\n"


def run_expectations(
    cli: Callable[..., Any], engine_project: Callable[..., Path], expectations: dict[str, tuple[str, dict[str, Any]]],
    rows: list[tuple[Any, ...]] = ROWS, columns: list[str] = COLUMNS, types: list[str] = TYPES,
    name: str = "proj", env: Any = None,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Build model `t` with ``expectations`` (case -> (type, kwargs)); the GX result per case."""
    entries = [
        {kind: {**kwargs, "meta": {"case": case}, "severity": "warning"}}
        for case, (kind, kwargs) in expectations.items()
    ]
    props = {"version": 2, "models": [{"name": "t", "expectations": entries}]}
    root = engine_project(
        {"models/t.sql": model_sql(rows, columns, types), "models/t.yml": json.dumps(props)},
        "models:\n  +materialized: table\n",
        name=name,
    )
    res = cli("build", "--project-dir", root, "--json")
    assert res.code == 0, res.out + res.err
    data = json.loads(res.out)
    out = {}
    for check in data["results"][0]["checks"]:
        result = check["result"]
        assert result is not None, check
        out[result["expectation_config"]["meta"]["case"]] = result
    assert set(out) == set(expectations)
    return out


def no_error(result: dict[str, Any]) -> dict[str, Any]:
    assert not result["exception_info"]["raised_exception"], result["exception_info"][
        "exception_message"
    ]
    return result["result"]


# -- the representative set, with what Python says about the rows ---------------------------------


def _map(name: str, bad: Callable[[Any], bool], mostly: float = 1.0) -> tuple[bool, int, list[Any]]:
    """(success, unexpected_count, unexpected values in row order) of a column map expectation."""
    values = [v for v in col(name) if v is not None]
    unexpected = [v for v in values if bad(v)]
    success = not values or (len(values) - len(unexpected)) / len(values) >= mostly
    return success, len(unexpected), unexpected


def _quantile_cont(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _quantile_disc(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _strptime_ok(text: str, fmt: str) -> bool:
    try:
        dt.datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


def _json_ok(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


AMOUNTS = [v for v in col("amount") if v is not None]
MEAN, STD = statistics.mean(AMOUNTS), statistics.stdev(AMOUNTS)
Q1, Q3 = _quantile_cont(AMOUNTS, 0.25), _quantile_cont(AMOUNTS, 0.75)

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "not_null": ("expect_column_values_to_not_be_null", {"column": "s"}),
    "unique": ("expect_column_values_to_be_unique", {"column": "id", "result_format": "COMPLETE"}),
    "in_set": ("expect_column_values_to_be_in_set", {"column": "cat", "value_set": ["x", "y"], "result_format": "SUMMARY"}),
    "not_in_set": ("expect_column_values_to_not_be_in_set", {"column": "id", "value_set": [4, 6]}),
    "between_mostly": ("expect_column_values_to_be_between", {"column": "amount", "min_value": 0, "max_value": 36, "mostly": 0.6}),
    "lengths": ("expect_column_value_lengths_to_be_between", {"column": "s", "min_value": 4, "max_value": 5}),
    "regex": ("expect_column_values_to_match_regex", {"column": "s", "regex": r"^[a-z]+\d?$"}),
    "not_regex": ("expect_column_values_to_not_match_regex", {"column": "s", "regex": r"\bdel|^E"}),
    "regex_list_all": ("expect_column_values_to_match_regex_list", {"column": "s", "regex_list": ["^[a-z]", "a$"], "match_on": "all"}),
    "like": ("expect_column_values_to_match_like_pattern", {"column": "s", "like_pattern": "%a%"}),
    "not_like_list": ("expect_column_values_to_not_match_like_pattern_list", {"column": "s", "like_pattern_list": ["g%", "%7"]}),
    "strftime": ("expect_column_values_to_match_strftime_format", {"column": "ds", "strftime_format": "%Y-%m-%d"}),
    "dateutil": ("expect_column_values_to_be_dateutil_parseable", {"column": "ds"}),
    "json": ("expect_column_values_to_be_json_parseable", {"column": "j"}),
    "of_type": ("expect_column_values_to_be_of_type", {"column": "id", "type_": "INTEGER"}),
    "of_type_pg_name": ("expect_column_values_to_be_of_type", {"column": "id", "type_": "int4"}),
    "in_type_list": ("expect_column_values_to_be_in_type_list", {"column": "s", "type_list": ["str", "int"]}),
    "type_to_be": ("expect_column_type_to_be", {"column": "amount", "type_": "float64"}),
    "type_wrong": ("expect_column_type_to_be", {"column": "d", "type_": "timestamp"}),
    "increasing": ("expect_column_values_to_be_increasing", {"column": "id", "strictly": True, "result_format": "SUMMARY"}),
    "z_scores": ("expect_column_value_z_scores_to_be_less_than", {"column": "amount", "threshold": 1.5, "double_sided": True}),
    "outliers": ("expect_column_values_to_not_be_outliers", {"column": "amount", "method": "iqr", "multiplier": 1.5}),
    "pair_greater": ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "pa", "column_B": "pb", "or_equal": True}),
    "pair_in_set": ("expect_column_pair_values_to_be_in_set", {"column_A": "pa", "column_B": "pb", "value_pairs_set": [[1, 1], [2, 1], [3, 4]]}),
    "compound_unique": ("expect_compound_columns_to_be_unique", {"column_list": ["id", "pa"]}),
    "within_record": ("expect_select_column_values_to_be_unique_within_record", {"column_list": ["pa", "pb"]}),
    "multi_sum": ("expect_multicolumn_sum_to_equal", {"column_list": ["pa", "pb"], "sum_total": 5}),
    "min_date": ("expect_column_min_to_be_between", {"column": "d", "min_value": "2024-01-01"}),
    "max_ts": ("expect_column_max_to_be_between", {"column": "ts", "max_value": "2024-01-05"}),
    "mean": ("expect_column_mean_to_be_between", {"column": "amount", "min_value": 20}),
    "median": ("expect_column_median_to_be_between", {"column": "amount", "min_value": 10, "max_value": 25}),
    "sum": ("expect_column_sum_to_be_between", {"column": "id", "min_value": 20}),
    "stdev": ("expect_column_stdev_to_be_between", {"column": "amount", "max_value": 30}),
    "unique_count": ("expect_column_unique_value_count_to_be_between", {"column": "cat", "min_value": 3}),
    "unique_share": ("expect_column_proportion_of_unique_values_to_be_between", {"column": "id", "min_value": 0.9}),
    "quantiles": ("expect_column_quantile_values_to_be_between", {
        "column": "amount", "quantile_ranges": {"quantiles": [0.1, 0.5, 0.9], "value_ranges": [[None, 0], [10, 30], [30, None]]}}),
    "distinct_in_set": ("expect_column_distinct_values_to_be_in_set", {"column": "cat", "value_set": ["x", "y"]}),
    "distinct_contain": ("expect_column_distinct_values_to_contain_set", {"column": "cat", "value_set": ["x", "w"]}),
    "distinct_equal": ("expect_column_distinct_values_to_equal_set", {"column": "id", "value_set": [1, 2, 3, 4, 6, 7, 8]}),
    "most_common": ("expect_column_most_common_value_to_be_in_set", {"column": "cat", "value_set": ["x"]}),
    "row_count": ("expect_table_row_count_to_be_between", {"min_value": 1, "max_value": 5}),
    "row_count_where": ("expect_table_row_count_to_equal", {"value": 4, "row_condition": "cat = 'x'"}),
    "columns_listed": ("expect_table_columns_to_match_ordered_list", {"column_list": COLUMNS}),
    "unexpected_rows": ("unexpected_rows_expectation", {"unexpected_rows_query": "SELECT * FROM {batch} WHERE amount < 0"}),
    "gx_condition": ("expect_column_values_to_be_between", {
        "column": "amount", "min_value": 0, "row_condition": 'col("cat")=="x"', "condition_parser": "great_expectations"}),
    "complete": ("expect_column_values_to_not_be_null", {
        "column": "s", "row_condition": "id > 2",
        "result_format": {"result_format": "COMPLETE", "unexpected_index_column_names": ["id"], "include_unexpected_rows": True}}),
}  # fmt: skip


def test_representative_expectations(
    engine_name: str, cli, engine_project: Callable[..., Path]
) -> None:
    results = run_expectations(cli, engine_project, CASES)
    r = {case: no_error(res) for case, res in results.items()}
    ok = {case: res["success"] for case, res in results.items()}

    def check_map(case: str, name: str, bad: Callable[[Any], bool], mostly: float = 1.0) -> None:
        success, count, values = _map(name, bad, mostly)
        assert (ok[case], r[case]["unexpected_count"]) == (success, count), case
        assert r[case]["partial_unexpected_list"] == values, case

    assert (ok["not_null"], r["not_null"]["unexpected_count"]) == (False, col("s").count(None))
    ids = Counter(col("id"))
    check_map("unique", "id", lambda v: ids[v] > 1)
    assert r["unique"]["unexpected_index_list"] == [
        i for i, v in enumerate(col("id")) if ids[v] > 1
    ]
    check_map("in_set", "cat", lambda v: v not in ("x", "y"))
    assert r["in_set"]["partial_unexpected_counts"] == [{"value": "z", "count": 1}]
    check_map("not_in_set", "id", lambda v: v in (4, 6))
    check_map("between_mostly", "amount", lambda v: not 0 <= v <= 36, mostly=0.6)
    check_map("lengths", "s", lambda v: not 4 <= len(v) <= 5)
    check_map("regex", "s", lambda v: re.search(r"^[a-z]+\d?$", v) is None)
    check_map("not_regex", "s", lambda v: re.search(r"\bdel|^E", v) is not None)
    check_map("regex_list_all", "s", lambda v: not (re.search("^[a-z]", v) and re.search("a$", v)))
    check_map("like", "s", lambda v: "a" not in v)
    check_map("not_like_list", "s", lambda v: v.startswith("g") or v.endswith("7"))
    check_map("strftime", "ds", lambda v: not _strptime_ok(v, "%Y-%m-%d"))
    check_map(
        "dateutil", "ds", lambda v: not (_strptime_ok(v, "%Y-%m-%d") or _strptime_ok(v, "%m/%d/%Y"))
    )
    check_map("json", "j", lambda v: not _json_ok(v))
    assert ok["of_type"] and ok["of_type_pg_name"] and ok["in_type_list"] and ok["type_to_be"]
    assert not ok["type_wrong"]
    ordered = [v for v in col("id") if v is not None]
    repeats = [b for a, b in itertools.pairwise(ordered) if b <= a]
    assert (ok["increasing"], r["increasing"]["unexpected_count"], r["increasing"]["partial_unexpected_list"]) == (
        not repeats, len(repeats), repeats)  # fmt: skip
    check_map("z_scores", "amount", lambda v: abs((v - MEAN) / STD) >= 1.5)
    check_map("outliers", "amount", lambda v: v < Q1 - 1.5 * (Q3 - Q1) or v > Q3 + 1.5 * (Q3 - Q1))

    pairs = [
        (a, b) for a, b in zip(col("pa"), col("pb"), strict=True) if not (a is None and b is None)
    ]
    greater_bad = [[a, b] for a, b in pairs if not (a is not None and b is not None and a >= b)]
    assert (ok["pair_greater"], r["pair_greater"]["unexpected_count"]) == (
        not greater_bad,
        len(greater_bad),
    )
    assert r["pair_greater"]["partial_unexpected_list"] == greater_bad
    in_set_bad = [[a, b] for a, b in pairs if [a, b] not in ([1, 1], [2, 1], [3, 4])]
    assert (ok["pair_in_set"], r["pair_in_set"]["unexpected_count"]) == (
        not in_set_bad,
        len(in_set_bad),
    )
    keys = Counter(zip(col("id"), col("pa"), strict=True))
    compound_bad = [
        k for k in zip(col("id"), col("pa"), strict=True) if keys[k] > 1 and k != (None, None)
    ]
    assert (ok["compound_unique"], r["compound_unique"]["unexpected_count"]) == (
        not compound_bad,
        len(compound_bad),
    )
    same = [p for p in pairs if p[0] == p[1]]
    assert (ok["within_record"], r["within_record"]["unexpected_count"]) == (not same, len(same))
    sums = [p for p in pairs if (p[0] or 0) + (p[1] or 0) != 5]
    assert (ok["multi_sum"], r["multi_sum"]["unexpected_count"]) == (not sums, len(sums))

    dates = [v for v in col("d") if v is not None]
    assert (ok["min_date"], r["min_date"]["observed_value"]) == (
        min(dates) >= "2024-01-01",
        min(dates),
    )
    stamps = [v for v in col("ts") if v is not None]
    assert r["max_ts"]["observed_value"] == max(stamps).replace(" ", "T") and not ok["max_ts"]
    assert r["mean"]["observed_value"] == pytest.approx(MEAN) and ok["mean"] == (MEAN >= 20)
    median = statistics.median(AMOUNTS)
    assert r["median"]["observed_value"] == pytest.approx(median) and ok["median"] == (
        10 <= median <= 25
    )
    assert r["sum"]["observed_value"] == sum(col("id")) and type(r["sum"]["observed_value"]) is int
    assert r["stdev"]["observed_value"] == pytest.approx(STD) and ok["stdev"] == (STD <= 30)
    cats = {v for v in col("cat") if v is not None}
    assert (ok["unique_count"], r["unique_count"]["observed_value"]) == (len(cats) >= 3, len(cats))
    share = len(set(col("id"))) / len(col("id"))
    assert r["unique_share"]["observed_value"] == pytest.approx(share) and ok["unique_share"] == (
        share >= 0.9
    )
    quantiles = [_quantile_disc(AMOUNTS, q) for q in (0.1, 0.5, 0.9)]
    assert r["quantiles"]["observed_value"] == {"quantiles": [0.1, 0.5, 0.9], "values": quantiles}
    assert r["quantiles"]["details"]["success_details"] == [
        quantiles[0] <= 0,
        10 <= quantiles[1] <= 30,
        quantiles[2] >= 30,
    ]
    counts = Counter(v for v in col("cat") if v is not None)
    assert r["distinct_in_set"]["observed_value"] == sorted(counts)
    assert r["distinct_in_set"]["details"]["value_counts"] == [
        {"value": v, "count": counts[v]} for v in sorted(counts)
    ]
    assert (ok["distinct_in_set"], r["distinct_in_set"]["partial_unexpected_list"]) == (
        False,
        sorted(cats - {"x", "y"}),
    )
    assert (ok["distinct_contain"], r["distinct_contain"]["partial_missing_list"]) == (False, ["w"])
    assert ok["distinct_equal"] == (set(col("id")) == {1, 2, 3, 4, 6, 7, 8})
    top = max(counts.values())
    modes = sorted(v for v, n in counts.items() if n == top)
    assert (ok["most_common"], r["most_common"]["observed_value"]) == (modes == ["x"], modes)
    assert (ok["row_count"], r["row_count"]["observed_value"]) == (1 <= len(ROWS) <= 5, len(ROWS))
    assert r["row_count_where"]["observed_value"] == col("cat").count("x")
    assert ok["columns_listed"]
    negative = [row for row in ROWS if row[2] is not None and row[2] < 0]
    assert (ok["unexpected_rows"], r["unexpected_rows"]["observed_value"]) == (
        not negative,
        len(negative),
    )
    x_amounts = [row[2] for row in ROWS if row[6] == "x" and row[2] is not None]
    assert r["gx_condition"]["unexpected_count"] == sum(1 for v in x_amounts if v < 0)
    assert r["gx_condition"]["element_count"] == col("cat").count("x")
    nulls = [row for row in ROWS if row[0] > 2 and row[1] is None]
    assert r["complete"]["unexpected_index_list"] == [{"id": row[0], "s": None} for row in nulls]
    assert [u["id"] for u in r["complete"]["unexpected_rows"]] == [row[0] for row in nulls]
    assert "unexpected_index_query" in r["complete"]


def test_type_expectations_accept_every_engines_names(
    engine_name: str, cli, engine_project: Callable[..., Path]
) -> None:
    """GX, numpy, DuckDB and PostgreSQL spellings of the same type give the same verdict."""
    cases: dict[str, tuple[str, dict[str, Any]]] = {}
    accepted = {"id": ["int", "INTEGER", "integer", "int4", "int32"], "big": ["int64", "BIGINT", "bigint"],
                "amount": ["float64", "DOUBLE", "double precision", "float8", "float"],
                "s": ["str", "VARCHAR", "varchar", "text", "character varying"],
                "price": ["DECIMAL(10,2)", "numeric(10,2)", "decimal", "number"],
                "d": ["date", "DATE"], "ts": ["timestamp", "datetime64[ns]", "timestamp without time zone"],
                "b": ["bool", "BOOLEAN", "boolean"]}  # fmt: skip
    refused = {
        "id": ["BIGINT", "str", "float64"],
        "price": ["DECIMAL(10,3)", "int"],
        "ts": ["date", "timestamptz"],
    }
    for column, names in accepted.items():
        for i, name in enumerate(names):
            cases[f"ok_{column}_{i}"] = (
                "expect_column_values_to_be_of_type",
                {"column": column, "type_": name},
            )
    for column, names in refused.items():
        for i, name in enumerate(names):
            cases[f"no_{column}_{i}"] = (
                "expect_column_type_to_be",
                {"column": column, "type_": name},
            )
    rows = [(1, 2**40, 1.5, "a", 1.25, "2024-01-01", "2024-01-01 00:00:00", True)]
    columns = ["id", "big", "amount", "s", "price", "d", "ts", "b"]
    types = [
        "integer",
        "bigint",
        "double precision",
        "varchar",
        "decimal(10,2)",
        "date",
        "timestamp",
        "boolean",
    ]
    results = run_expectations(cli, engine_project, cases, rows, columns, types)
    verdicts = {case: res["success"] for case, res in results.items()}
    assert verdicts == {case: case.startswith("ok_") for case in cases}


# -- documented differences: DuckDB's behaviour asserted, a strict xfail on PostgreSQL -------------


def _one(cli: Callable[..., Any], engine_project: Callable[..., Path], kind: str, kwargs: dict[str, Any],
         values: list[Any], type_: str = "varchar") -> dict[str, Any]:  # fmt: skip
    return run_expectations(cli, engine_project, {"case": (kind, {"column": "v", **kwargs})},
                            [(v,) for v in values], ["v"], [type_])["case"]  # fmt: skip


@pytest.mark.differs(
    {"postgres": "regex_literal: a negated class [^x] does not match a newline in PostgreSQL's ARE"}
)
def test_regex_negated_class_matches_a_newline(
    engine_name: str, cli, engine_project: Callable[..., Path]
) -> None:
    res = _one(
        cli,
        engine_project,
        "expect_column_values_to_match_regex",
        {"regex": "^a[^x]b$"},
        ["a\nb", "acb"],
    )
    assert no_error(res)["unexpected_count"] == 0


def test_regex_dot_and_word_boundaries_mean_the_same(
    engine_name: str, cli, engine_project: Callable[..., Path]
) -> None:
    """RE2's `.` stops at a newline, `\\b` is a word boundary, `(?i)`/`(?s)` lead: the same on both."""
    values = ["a\nb", "foo bar", "foobar", "ABC", "x\nab"]
    cases = {
        "dot": ("expect_column_values_to_match_regex", {"column": "v", "regex": "^a.b$"}),
        "dot_s": ("expect_column_values_to_match_regex", {"column": "v", "regex": "(?s)^a.b$"}),
        "word": ("expect_column_values_to_match_regex", {"column": "v", "regex": r"\bbar\b"}),
        "ci": ("expect_column_values_to_match_regex", {"column": "v", "regex": "(?i)abc"}),
        "multi": ("expect_column_values_to_match_regex", {"column": "v", "regex": "(?m)^ab$"}),
    }
    results = run_expectations(
        cli, engine_project, cases, [(v,) for v in values], ["v"], ["varchar"]
    )
    python = {
        "dot": "^a.b$",
        "dot_s": "(?s)^a.b$",
        "word": r"\bbar\b",
        "ci": "(?i)abc",
        "multi": "(?m)^ab$",
    }
    for case, pattern in python.items():
        expected = [v for v in values if re.search(pattern, v) is None]
        assert no_error(results[case])["partial_unexpected_list"] == expected, case


def test_like_has_no_default_escape(
    engine_name: str, cli, engine_project: Callable[..., Path]
) -> None:
    """A backslash in a LIKE pattern is a literal character unless `escape` says otherwise."""
    res = _one(cli, engine_project, "expect_column_values_to_match_like_pattern", {"like_pattern": "a\\_%"},
               ["a\\_b", "a_b", "a\\xb"])  # fmt: skip
    assert no_error(res)["partial_unexpected_list"] == ["a_b"]


def test_regex_postgresql_cannot_express_is_an_error_naming_the_engine(
    engine_name: str, cli, engine_project: Callable[..., Path]
) -> None:
    res = _one(
        cli,
        engine_project,
        "expect_column_values_to_match_regex",
        {"regex": "(?P<first>a)"},
        ["abc", "b"],
    )
    if engine_name == "postgres":
        assert res["success"] is False and res["exception_info"]["raised_exception"]
        assert "PostgreSQL" in res["exception_info"]["exception_message"]
    else:
        assert no_error(res)["unexpected_count"] == 1


@pytest.mark.differs(
    {"postgres": "strptime_is_valid: a regex per directive (zero-padded fields, no calendar check)"}
)
def test_strftime_reads_like_strptime(
    engine_name: str, cli, engine_project: Callable[..., Path]
) -> None:
    res = _one(cli, engine_project, "expect_column_values_to_match_strftime_format", {"strftime_format": "%Y-%m-%d"},
               ["2024-1-5", "2024-02-31", "2024-01-05"])  # fmt: skip
    assert no_error(res)["partial_unexpected_list"] == ["2024-02-31"]


@pytest.mark.differs(
    {"postgres": "json_valid: PostgreSQL's JSON parser refuses NaN and trailing commas"}
)
def test_json_parseable_is_lenient(
    engine_name: str, cli, engine_project: Callable[..., Path]
) -> None:
    res = _one(
        cli,
        engine_project,
        "expect_column_values_to_be_json_parseable",
        {},
        ["NaN", '{"a": 1,}', "[1]"],
    )
    assert no_error(res)["unexpected_count"] == 0


@pytest.mark.differs(
    {"postgres": "safe_timestamp: PostgreSQL's date/time input reads words such as `today`"}
)
def test_dateutil_parseable_refuses_words(
    engine_name: str, cli, engine_project: Callable[..., Path]
) -> None:
    res = _one(
        cli,
        engine_project,
        "expect_column_values_to_be_dateutil_parseable",
        {},
        ["today", "2024-01-05"],
    )
    assert no_error(res)["partial_unexpected_list"] == ["today"]


@pytest.mark.differs(
    {"postgres": "type_names: observed_value is the engine's own type name (`integer`)"}
)
def test_type_observed_value_is_duckdbs_name(
    engine_name: str, cli, engine_project: Callable[..., Path]
) -> None:
    res = _one(
        cli, engine_project, "expect_column_values_to_be_of_type", {"type_": "int"}, [1], "integer"
    )
    assert no_error(res)["observed_value"] == "INTEGER"


@pytest.mark.differs(
    {"postgres": "type_names: `int8` is PostgreSQL's bigint, numpy's 8-bit integer elsewhere"}
)
def test_int8_is_numpys_8_bit_integer(
    engine_name: str, cli, engine_project: Callable[..., Path]
) -> None:
    res = _one(
        cli, engine_project, "expect_column_values_to_be_of_type", {"type_": "int8"}, [1], "bigint"
    )
    assert res["success"] is False


@pytest.mark.differs(
    {"postgres": "median: percentile_cont takes numeric columns only; a date column is an error"}
)
def test_median_of_dates(engine_name: str, cli, engine_project: Callable[..., Path]) -> None:
    res = _one(cli, engine_project, "expect_column_median_to_be_between", {"min_value": "2024-01-01"},
               ["2024-01-01", "2024-01-03"], "date")  # fmt: skip
    assert no_error(res)["observed_value"] == "2024-01-02T00:00:00"


def test_expectations_and_checks_of_a_relation_share_its_scan(
    engine_name: str,
    cli,
    engine_project: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL (a row store) computes every metric of a relation in one scan, dbt checks
    included; DuckDB reads a base table in one narrow query per set of columns, plus one."""
    props = {
        "version": 2,
        "models": [{
            "name": "t",
            "expectations": [
                {"expect_column_values_to_be_between": {"column": "amount", "min_value": -100}},
                {"expect_column_values_to_match_regex": {"column": "s", "regex": "^[A-Za-z0-9]+$"}},
                {"expect_column_max_to_be_between": {"column": "id", "max_value": 100}},
                {"expect_table_row_count_to_be_between": {"min_value": 1}},
            ],
            "columns": [{"name": "cat", "data_tests": [{"accepted_values": {"values": ["x", "y", "z"]}}]}],
        }],
    }  # fmt: skip
    root = engine_project({"models/t.sql": model_sql(ROWS, COLUMNS, TYPES), "models/t.yml": json.dumps(props)},
                          "models:\n  +materialized: table\n")  # fmt: skip
    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv("HEADWATER_SQL_TRACE", str(trace))
    res = cli("build", "--project-dir", root, "--json")
    assert res.code == 0, res.out + res.err
    checks = json.loads(res.out)["results"][0]["checks"]
    assert {c["status"] for c in checks} == {"pass"} and len(checks) == 5
    statements = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]
    scans = [
        s for s in statements if s.startswith("SELECT") and '"t__hw_staged"' in s and "count(" in s
    ]
    column_sets = 3  # amount, s, id (the row count and the dbt check go with the first query)
    assert len(scans) == {"postgres": 1, "duckdb": 1 + column_sets}[engine_name], scans
    assert any("NOT IN ('x', 'y', 'z')" in s for s in scans[:1])


def test_an_ephemeral_model_is_audited_as_a_subquery(
    engine_name: str, cli, engine_project: Callable[..., Path]
) -> None:
    """Checks and expectations of an ephemeral model read its SQL as a subquery (which
    PostgreSQL only accepts with an alias)."""
    rows = [(1, "a"), (2, "b"), (2, None), (3, "a")]
    props = {
        "version": 2,
        "models": [{
            "name": "eph",
            "expectations": [
                {"expect_column_values_to_be_unique": {"column": "id", "meta": {"case": "unique"}}},
                {"expect_column_values_to_be_increasing": {"column": "id", "meta": {"case": "increasing"}}},
                {"expect_column_distinct_values_to_be_in_set": {"column": "s", "value_set": ["a"], "meta": {"case": "distinct"}}},
                {"expect_column_values_to_not_be_null": {"column": "s", "result_format": "COMPLETE", "meta": {"case": "complete"}}},
            ],
            "columns": [{"name": "id", "data_tests": [{"unique": {"config": {"where": "s is not null", "name": "unique_where"}}},
                                                      {"not_null_proportion": {"at_least": 0.9, "config": {"name": "share"}}}]}],
        }],
    }  # fmt: skip
    sql = "{{ config(materialized='ephemeral') }}\n" + model_sql(
        rows, ["id", "s"], ["integer", "varchar"]
    )
    root = engine_project({"models/eph.sql": sql, "models/eph.yml": json.dumps(props)})
    res = cli("test", "--project-dir", root, "--json")
    checks = {c["result"]["expectation_config"]["meta"]["case"] if c["result"] else c["name"]: c
              for r in json.loads(res.out)["results"] for c in r["checks"]}  # fmt: skip
    assert not [c["message"] for c in checks.values() if c["status"] == "error"]
    ids = Counter(r[0] for r in rows)
    assert checks["unique"]["result"]["result"]["unexpected_count"] == sum(
        n for n in ids.values() if n > 1
    )
    assert checks["increasing"]["result"]["success"] is True
    assert checks["distinct"]["result"]["result"]["partial_unexpected_list"] == sorted(
        {r[1] for r in rows if r[1]} - {"a"}
    )
    assert checks["complete"]["result"]["result"]["unexpected_index_list"] == [
        i for i, r in enumerate(rows) if r[1] is None
    ]
    with_s = Counter(r[0] for r in rows if r[1] is not None)
    assert checks["unique_where"]["failures"] == sum(1 for n in with_s.values() if n > 1)
    assert checks["share"]["status"] == "pass"
