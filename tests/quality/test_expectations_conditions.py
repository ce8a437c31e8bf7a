"""row_condition translation: GX and pandas syntaxes to SQL, checked against Python semantics."""

from __future__ import annotations

import operator

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.errors import ConfigError
from headwater.quality.expectations.conditions import translate_condition

OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
INT_COLS, STR_COLS = ("a", "b"), ("s",)
STRINGS = ["x", "y", "it's", 'say "hi"', "back\\slash"]

ints = st.integers(-2, 2)
atoms = st.one_of(
    st.tuples(st.just("cmp"), st.sampled_from(INT_COLS), st.sampled_from(list(OPS)), ints),
    st.tuples(
        st.just("cmp"),
        st.sampled_from(STR_COLS),
        st.sampled_from(["==", "!="]),
        st.sampled_from(STRINGS),
    ),
    st.tuples(st.just("isnull"), st.sampled_from(INT_COLS + STR_COLS), st.booleans()),
)
in_atom = st.tuples(
    st.just("in"), st.sampled_from(INT_COLS), st.lists(ints, max_size=3), st.booleans()
)


def trees(leaves: st.SearchStrategy) -> st.SearchStrategy:
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.tuples(st.just("and"), kids, kids),
            st.tuples(st.just("or"), kids, kids),
            st.tuples(st.just("not"), kids),
        ),
        max_leaves=6,
    )


rows = st.lists(
    st.tuples(
        st.one_of(st.none(), ints),
        st.one_of(st.none(), ints),
        st.one_of(st.none(), st.sampled_from(STRINGS)),
    ),
    min_size=1,
    max_size=8,
)


def quoted(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def gx_text(node: tuple) -> str:
    kind = node[0]
    if kind == "cmp":
        return f'col("{node[1]}"){node[2]}{quoted(node[3])}'
    if kind == "isnull":
        return f'col("{node[1]}").{"isNull" if node[2] else "notNull"}()'
    if kind == "not":
        return f"~({gx_text(node[1])})"
    joiner = " & " if kind == "and" else " | "
    return f"({gx_text(node[1])}{joiner}{gx_text(node[2])})"


def pandas_text(node: tuple, flip: bool = False) -> str:
    kind = node[0]
    if kind == "cmp":
        return f"{node[1]} {node[2]} {quoted(node[3])}"
    if kind == "isnull":
        return f"{node[1]}.{'isnull' if node[2] else 'notna'}()"
    if kind == "in":
        values = "[" + ", ".join(map(str, node[2])) + "]"
        return (
            f"{node[1]} {'not in' if node[3] else 'in'} {values}"
            if not flip
            else (f"{'~' if node[3] else ''}{node[1]}.isin({values})")
        )
    if kind == "not":
        return f"{'~' if flip else 'not '}({pandas_text(node[1], not flip)})"
    word = {"and": ("and", "&"), "or": ("or", "|")}[kind][int(flip)]
    return f"({pandas_text(node[1], not flip)} {word} {pandas_text(node[2], flip)})"


def kleene(node: tuple, row: dict) -> bool | None:
    """SQL three-valued logic (GX syntax on SQL back ends)."""
    kind = node[0]
    if kind == "cmp":
        value = row[node[1]]
        return None if value is None else OPS[node[2]](value, node[3])
    if kind == "isnull":
        return (row[node[1]] is None) == node[2]
    if kind == "not":
        inner = kleene(node[1], row)
        return None if inner is None else not inner
    left, right = kleene(node[1], row), kleene(node[2], row)
    if kind == "and":
        if left is False or right is False:
            return False
        return None if left is None or right is None else True
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


def pandas_eval(node: tuple, row: dict) -> bool:
    """DataFrame.query semantics: comparisons with a null are False, except != (True)."""
    kind = node[0]
    if kind == "cmp":
        value = row[node[1]]
        return node[2] == "!=" if value is None else OPS[node[2]](value, node[3])
    if kind == "isnull":
        return (row[node[1]] is None) == node[2]
    if kind == "in":
        inside = row[node[1]] is not None and row[node[1]] in node[2]
        return not inside if node[3] else inside
    if kind == "not":
        return not pandas_eval(node[1], row)
    if kind == "and":
        return pandas_eval(node[1], row) and pandas_eval(node[2], row)
    return pandas_eval(node[1], row) or pandas_eval(node[2], row)


def selected(sql: str, data: list[tuple]) -> list[bool]:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (rid INTEGER, a INTEGER, b INTEGER, s VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [[i, *r] for i, r in enumerate(data)])
    return [
        bool(r[0])
        for r in con.execute(f"SELECT coalesce(({sql}), false) FROM t ORDER BY rid").fetchall()
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees(atoms), data=rows)
def test_gx_syntax_matches_sql_three_valued_semantics(tree: tuple, data: list[tuple]) -> None:
    sql = translate_condition(gx_text(tree), "great_expectations")
    expected = [kleene(tree, dict(zip(("a", "b", "s"), r, strict=True))) is True for r in data]
    assert selected(sql, data) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees(st.one_of(atoms, in_atom)), data=rows, flip=st.booleans())
def test_pandas_syntax_matches_pandas_semantics(tree: tuple, data: list[tuple], flip: bool) -> None:
    sql = translate_condition(pandas_text(tree, flip), "pandas")
    expected = [pandas_eval(tree, dict(zip(("a", "b", "s"), r, strict=True))) for r in data]
    assert selected(sql, data) == expected


def test_examples() -> None:
    assert (
        translate_condition('col("a")>5 & col("b").notNull()', "great_expectations")
        == '(("a" > 5) AND ("b" IS NOT NULL))'
    )
    assert translate_condition("a > 5", None) == "(a > 5)"
    assert translate_condition("a > 5", "spark") == "(a > 5)"
    assert '"my col"' in translate_condition("`my col` == 'x'", "pandas")
    assert translate_condition("5 < a", "pandas") == 'coalesce("a" > 5, false)'
    assert translate_condition("a == -1.5e2", "pandas") == 'coalesce("a" = -150.0, false)'


@pytest.mark.parametrize(
    ("text", "parser", "fragment"),
    [
        ('col("a") ==', "great_expectations", "position 11"),
        ("col(a) == 1", "great_expectations", "quoted column name"),
        ("a == 1", "great_expectations", 'expected col("name")'),
        ('col("a") == None', "great_expectations", ".isNull()"),
        ('col("a").isnull()', "great_expectations", "unsupported method"),
        ("a == @x", "pandas", "unexpected character '@'"),
        ("a", "pandas", "expected a comparison"),
        ("1 == 2", "pandas", "at least one column"),
        ("a in [b]", "pandas", "literal values"),
        ("a.str.len() > 1", "pandas", "unsupported method"),
        ("(a == 1", "pandas", "expected `)`"),
        ("a == 1 b", "pandas", "expected `&`, `|` or the end"),
        ("a > 1", "sqlalchemy", "unknown condition_parser"),
    ],
)
def test_untranslatable_conditions(text: str, parser: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        translate_condition(text, parser)
    assert fragment in str(info.value)
