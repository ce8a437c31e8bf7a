"""GX 1.24 suites as GX writes them: structured row conditions, `.isin` in GX's string syntax.

Structured conditions and `great_expectations` strings follow the data's back end, as GX 1.24
does (it turns GX strings into structured conditions): pandas' two-valued logic on files and
frames, SQL's on warehouse tables. The expected counts of the GX-written suite below were
taken from GX 1.24.1's pandas back end on the same rows.
"""

from __future__ import annotations

import json
import operator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headwater
from headwater.errors import ConfigError
from headwater.quality.expectations import load_suite, parse_suite, validate_relation
from headwater.quality.expectations.conditions import translate_condition

# -- what GX 1.24.1 wrote (ExpectationSuite.to_json_dict(), ids shortened) ------------------------

GX_SUITE = {
    "name": "s",
    "id": "38dd2c1c",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "x", "row_condition": {"column": {"name": "s"}, "operator": "!=",
                                                     "parameter": "a", "type": "comparison"}},
         "meta": {}, "id": "10e8d89f", "severity": "critical"},
        {"type": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "x", "row_condition": {"conditions": [
             {"column": {"name": "s"}, "operator": "IN", "parameter": ["a", "b"], "type": "comparison"},
             {"column": {"name": "x"}, "is_null": False, "type": "nullity"}], "type": "and"}},
         "meta": {}, "id": "5838402d", "severity": "critical"},
        {"type": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "x", "row_condition": {"conditions": [
             {"column": {"name": "s"}, "operator": "==", "parameter": "a", "type": "comparison"},
             {"column": {"name": "x"}, "operator": ">", "parameter": 3, "type": "comparison"}], "type": "or"}},
         "meta": {}, "id": "1e06496e", "severity": "critical"},
        {"type": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "x", "row_condition": {"column": {"name": "s"}, "operator": "!=",
                                                     "parameter": "a", "type": "comparison"},
                    "condition_parser": "great_expectations"},
         "meta": {}, "id": "e0f39fd8", "severity": "critical"},
        {"type": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "x", "row_condition": {"column": {"name": "s"}, "operator": "NOT_IN",
                                                     "parameter": ["a"], "type": "comparison"}},
         "meta": {}, "id": "2cd31b5e", "severity": "critical"},
    ],
    "meta": {"great_expectations_version": "1.24.1"},
    "notes": None,
}  # fmt: skip
GX_ROWS = pa.table({"x": [1.0, 2.0, None, 4.0, 5.0], "s": ["a", "b", None, "a", "c"]})
# (element_count, unexpected_count) GX 1.24.1 reported for each expectation on GX_ROWS
GX_COUNTS = [(3, 1), (3, 0), (3, 0), (3, 1), (3, 1)]


def _counts(result: dict) -> list[tuple[int, int]]:
    return [
        (r["result"]["element_count"], r["result"]["unexpected_count"]) for r in result["results"]
    ]


def test_a_suite_saved_by_gx_1_24_loads_and_gives_gx_counts(tmp_path: Path) -> None:
    suite_file = tmp_path / "suite.json"
    suite_file.write_text(json.dumps(GX_SUITE), encoding="utf-8")
    pq.write_table(GX_ROWS, tmp_path / "d.parquet")
    result = headwater.validate(tmp_path / "d.parquet", load_suite(suite_file))
    assert _counts(result) == GX_COUNTS
    assert result["results"][4]["result"]["partial_unexpected_list"] == [None]
    # the suite's own kwargs round-trip in the result
    assert (
        result["results"][0]["expectation_config"]["kwargs"]["row_condition"]["type"]
        == "comparison"
    )


def test_the_cli_validates_with_a_gx_1_24_suite(tmp_path: Path, cli: Any) -> None:
    suite_file = tmp_path / "suite.json"
    suite_file.write_text(json.dumps(GX_SUITE), encoding="utf-8")
    pq.write_table(GX_ROWS, tmp_path / "d.parquet")
    out = cli("validate", tmp_path / "d.parquet", "--suite", suite_file, "--json")
    assert out.code == 1, out.err  # expectations 1, 4 and 5 find a null
    assert _counts(json.loads(out.out)) == GX_COUNTS


# -- structured and string forms give the same results --------------------------------------------

STRUCTURED_AND_STRINGS = [
    # (structured, great_expectations string, pandas string)
    ({"type": "comparison", "column": {"name": "s"}, "operator": "!=", "parameter": "a"},
     'col("s")!="a"', 's != "a"'),
    ({"type": "comparison", "column": {"name": "s"}, "operator": "IN", "parameter": ["a", "b"]},
     'col("s").isin(["a", "b"])', 's in ["a", "b"]'),
    ({"type": "comparison", "column": {"name": "s"}, "operator": "NOT_IN", "parameter": ["a"]},
     '~col("s").isin(["a"])', 's not in ["a"]'),
    ({"type": "and", "conditions": [
        {"type": "comparison", "column": {"name": "x"}, "operator": ">=", "parameter": 2},
        {"type": "nullity", "column": {"name": "s"}, "is_null": False}]},
     'col("x")>=2 & col("s").notNull()', "x >= 2 and s.notnull()"),
    ({"type": "or", "conditions": [
        {"type": "nullity", "column": {"name": "x"}, "is_null": True},
        {"type": "comparison", "column": {"name": "x"}, "operator": "<", "parameter": 2.5}]},
     'col("x").isNull() | col("x")<2.5', "x.isnull() or x < 2.5"),
]  # fmt: skip


def _suite(conditions: list[Any], parser: str | None) -> dict:
    expectations = []
    for condition in conditions:
        for kind, extra in (
            ("expect_column_values_to_not_be_null", {"column": "x"}),
            ("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a"]}),
            ("expect_table_row_count_to_be_between", {"min_value": 1}),
            ("expect_column_mean_to_be_between", {"column": "x", "min_value": 0}),
        ):
            kwargs = {**extra, "row_condition": condition}
            if parser:
                kwargs["condition_parser"] = parser
            expectations.append({"type": kind, "kwargs": kwargs})
    return {"name": "s", "expectations": expectations}


def _results(result: dict) -> list[tuple[bool, dict]]:
    return [(r["success"], r["result"]) for r in result["results"]]


@pytest.mark.parametrize("string_at", [1, 2], ids=["great_expectations", "pandas"])
def test_structured_suite_equals_the_string_suite_on_files(tmp_path: Path, string_at: int) -> None:
    pq.write_table(GX_ROWS, tmp_path / "d.parquet")
    structured = _suite([c[0] for c in STRUCTURED_AND_STRINGS], None)
    parser = "great_expectations" if string_at == 1 else "pandas"
    strings = _suite([c[string_at] for c in STRUCTURED_AND_STRINGS], parser)
    got = _results(headwater.validate(tmp_path / "d.parquet", structured))
    assert got == _results(headwater.validate(tmp_path / "d.parquet", strings))
    # pandas semantics: `s != "a"` keeps the row where s is null (GX 1.24.1: 3 elements)
    assert got[0][1]["element_count"] == 3


def test_structured_suite_equals_the_gx_string_suite_on_a_table() -> None:
    con = duckdb.connect()
    con.register("rows_view", GX_ROWS)
    con.execute("CREATE TABLE t AS SELECT * FROM rows_view")

    def execute(sql: str) -> tuple[list[str], list[tuple]]:
        cur = con.execute(sql)
        return [d[0] for d in cur.description], cur.fetchall()

    def run(suite: dict) -> list[tuple[bool, dict]]:
        parsed = parse_suite(suite)
        return _results(validate_relation(execute, '"t"', parsed.expectations).to_json_dict())

    structured = run(_suite([c[0] for c in STRUCTURED_AND_STRINGS], None))
    strings = run(_suite([c[1] for c in STRUCTURED_AND_STRINGS], "great_expectations"))
    assert structured == strings
    # SQL semantics: `s != 'a'` does not select the row where s is null
    assert structured[0][1]["element_count"] == 2


# -- property: structured conditions against their string forms and a reference evaluator --------

COLS = ("a", "b")
OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
       ">": operator.gt, ">=": operator.ge}  # fmt: skip
ints = st.integers(-2, 2)
leaf = st.one_of(
    st.builds(lambda c, op, v: {"type": "comparison", "column": {"name": c}, "operator": op, "parameter": v},
              st.sampled_from(COLS), st.sampled_from(list(OPS)), ints),
    st.builds(lambda c, op, vs: {"type": "comparison", "column": {"name": c}, "operator": op, "parameter": vs},
              st.sampled_from(COLS), st.sampled_from(["IN", "NOT_IN"]), st.lists(ints, max_size=3)),
    st.builds(lambda c, n: {"type": "nullity", "column": {"name": c}, "is_null": n},
              st.sampled_from(COLS), st.booleans()),
)  # fmt: skip
trees = st.recursive(
    leaf,
    lambda kids: st.builds(
        lambda kind, items: {"type": kind, "conditions": items},
        st.sampled_from(["and", "or"]),
        st.lists(kids, min_size=1, max_size=3),
    ),
    max_leaves=6,
)
rows = st.lists(
    st.tuples(st.one_of(st.none(), ints), st.one_of(st.none(), ints)), min_size=1, max_size=8
)


def gx_string(node: dict) -> str:
    if node["type"] == "nullity":
        return f'col("{node["column"]["name"]}").{"isNull" if node["is_null"] else "notNull"}()'
    if node["type"] == "comparison":
        col, op, value = f'col("{node["column"]["name"]}")', node["operator"], node["parameter"]
        if op in ("IN", "NOT_IN"):
            return ("~" if op == "NOT_IN" else "") + f"{col}.isin({value!r})"
        return f"{col}{op}{value!r}"
    joiner = " & " if node["type"] == "and" else " | "
    return "(" + joiner.join(gx_string(c) for c in node["conditions"]) + ")"


def pandas_string(node: dict) -> str:
    """As GX 1.24.1's pandas back end writes it for DataFrame.query."""
    if node["type"] == "nullity":
        name = node["column"]["name"]
        return f"{name}.isnull()" if node["is_null"] else f"~{name}.isnull()"
    if node["type"] == "comparison":
        name, op, value = node["column"]["name"], node["operator"], node["parameter"]
        if op in ("IN", "NOT_IN"):
            return f"{name} {'in' if op == 'IN' else 'not in'} [{', '.join(map(repr, value))}]"
        return f"{name} {op} {value!r}"
    joiner = " and " if node["type"] == "and" else " or "
    return "(" + joiner.join(pandas_string(c) for c in node["conditions"]) + ")"


def evaluate(node: dict, row: dict[str, int | None], pandas: bool) -> bool | None:
    """Reference: pandas' two-valued logic, or SQL's three-valued logic (None = unknown)."""
    kind = node["type"]
    if kind == "nullity":
        return (row[node["column"]["name"]] is None) == node["is_null"]
    if kind == "comparison":
        value, op, param = row[node["column"]["name"]], node["operator"], node["parameter"]
        if op in ("IN", "NOT_IN"):
            found = None if value is None and param else value in param
            if pandas and found is None:
                found = False
            return found if op == "IN" or found is None else not found
        if value is None:
            return (op == "!=") if pandas else None
        return OPS[op](value, param)
    parts = [evaluate(c, row, pandas) for c in node["conditions"]]
    if kind == "and":
        return False if False in parts else (None if None in parts else True)
    return True if True in parts else (None if None in parts else False)


def _selected(con: duckdb.DuckDBPyConnection, predicate: str) -> list[int]:
    return [r[0] for r in con.execute(f"SELECT i FROM t WHERE {predicate} ORDER BY i").fetchall()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, data=rows)
def test_structured_conditions_select_what_gx_selects(tree: dict, data: list[tuple]) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, a INTEGER, b INTEGER)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", [[i, *r] for i, r in enumerate(data)])
    for semantics in ("pandas", "sql"):
        pandas = semantics == "pandas"
        expected = [
            i for i, (a, b) in enumerate(data) if evaluate(tree, {"a": a, "b": b}, pandas) is True
        ]
        structured = _selected(con, translate_condition(tree, None, semantics))
        gx = _selected(con, translate_condition(gx_string(tree), "great_expectations", semantics))
        assert structured == gx == expected, (semantics, gx_string(tree))
    as_pandas = _selected(con, translate_condition(pandas_string(tree), "pandas"))
    assert as_pandas == _selected(con, translate_condition(tree, None, "pandas"))


# -- `.isin` in GX's string syntax ------------------------------------------------------------------


def test_isin_in_the_gx_string_syntax() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, s VARCHAR)")
    con.execute("INSERT INTO t VALUES (0, 'a'), (1, 'b'), (2, NULL), (3, 'c')")
    isin = translate_condition('col("s").isin(["a", "c"])', "great_expectations")
    assert _selected(con, isin) == [0, 3]
    negated = '~col("s").isin(["a", "c"])'
    assert _selected(con, translate_condition(negated, "great_expectations")) == [1]
    assert _selected(con, translate_condition(negated, "great_expectations", "pandas")) == [1, 2]
    combined = 'col("s").isin(["a", "b"]) & ~(col("i")==0)'
    assert _selected(con, translate_condition(combined, "great_expectations")) == [1]


# -- mistakes in structured conditions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"type": "comparison", "column": {"name": "x"}, "operator": "LIKE", "parameter": "a"}, "unknown operator"),
        ({"type": "comparison", "column": {"name": "x"}, "operator": "==", "parameter": None}, "is_null: true"),
        ({"type": "comparison", "column": {"name": "x"}, "operator": "IN", "parameter": "ab"}, "list"),
        ({"type": "comparison", "operator": "==", "parameter": 1}, '"column"'),
        ({"type": "nullity", "column": {"name": "x"}}, "is_null"),
        ({"type": "and", "conditions": []}, "non-empty"),
        ({"type": "xor", "conditions": []}, "unknown condition type 'xor'"),
        ({"type": "or", "conditions": [{"type": "nullity", "column": {"name": "x"}, "is_null": "no"}]},
         "row_condition.conditions[0]"),
    ],
)  # fmt: skip
def test_bad_structured_conditions_are_config_errors(condition: dict, message: str) -> None:
    suite = {"name": "s", "expectations": [{"type": "expect_column_values_to_not_be_null",
                                            "kwargs": {"column": "x", "row_condition": condition}}]}  # fmt: skip
    with pytest.raises(ConfigError) as info:
        parse_suite(suite, "suite.json")
    assert message in str(info.value)
    assert "suite.json" in str(info.value) and "expectation 1" in str(info.value)


def test_pass_through_conditions_use_their_parser() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, x INTEGER)")
    con.execute("INSERT INTO t VALUES (0, 1), (1, NULL), (2, 3)")
    node = {"type": "pass_through", "pass_through_filter": "x != 1"}
    assert _selected(con, translate_condition(node, "pandas")) == [1, 2]  # DataFrame.query
    assert _selected(con, translate_condition(node, "spark")) == [2]  # SQL
