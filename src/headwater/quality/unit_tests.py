"""dbt unit tests (`unit_tests:` in properties files, dbt 1.8): a model's SQL run on given rows,
compared with expected rows.

At load, the model is rendered with the test's `overrides` (vars, env vars, macros such as
`is_incremental`), and every `ref()`/`source()`/`this` named in `given` becomes a CTE of fixture
rows (`headwater.sql.compiler`). When the test runs, each fixture is typed like the relation it
stands for (its columns are read from the warehouse; a column the rows leave out is NULL of that
type), the model's query runs on them, and its output is compared with `expect` as a multiset, on
the columns `expect` names, each expected value cast to the output column's type.

A unit test is a check of its model: in `build` it audits the model before it is published, so a
failing unit test keeps the previous table, as `dbt build` skips the model.

The SQL is ANSI (`SELECT ... UNION ALL`, `CAST(value AS type)` with the engine's own type names,
`EXCEPT ALL`), so unit tests run on DuckDB and PostgreSQL alike; the model's own WITH clause is
merged in the engine's dialect.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.engines.base import quote_identifier
from headwater.errors import ConfigError, Location
from headwater.project.definition import Node

if TYPE_CHECKING:
    from headwater.engines.base import Engine

UNIT_KEYS = {"name", "model", "given", "expect", "overrides", "description", "config", "versions"}
GIVEN_KEYS = {"input", "rows", "format", "fixture"}
FORMATS = ("dict", "csv", "sql")
_INPUT_RE = re.compile(r"""^\s*(ref|source)\s*\(\s*(.*?)\s*\)\s*$|^\s*(this)\s*$""", re.S)
_ARG_RE = re.compile(r"""\s*(?:['"]([^'"]*)['"]|(v|version)\s*=\s*['"]?([^'",)]+)['"]?)\s*""")


@dataclass
class Fixture:
    """One `given` (or `expect`) table: where its rows come from and, for inputs, what it replaces."""

    format: str
    rows: Any
    """A list of mappings (format: dict), else the CSV or SQL text."""
    kind: str = ""
    """`ref`, `source` or `this` for a given input; "" for `expect`."""
    args: tuple[str, ...] = ()
    version: str | None = None
    cte: str = ""
    relation: str | None = None
    """The unique_id of the node the input stands for (its columns type the rows)."""

    def matches(self, kind: str, args: tuple[str, ...], version: str | None) -> bool:
        if kind != self.kind:
            return False
        if kind == "this":
            return True
        mine = self.args[-1:] if kind == "ref" else self.args
        theirs = args[-1:] if kind == "ref" else args
        return mine == theirs and (self.version is None or self.version == version)


@dataclass
class UnitTest:
    name: str
    model: str
    given: list[Fixture] = field(default_factory=list)
    expect: Fixture | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


def parse_unit_test(entry: Any, path: str, root: Path, fixture_dirs: list[str]) -> UnitTest:
    """Check and read one `unit_tests:` entry (file:line on every mistake)."""
    from headwater.project.validate import check_keys, expect_type, loc_of

    expect_type(entry, dict, "a unit test", entry)
    check_keys(entry, UNIT_KEYS, "a unit test")
    name, model = entry.get("name"), entry.get("model")
    if not name or not model:
        raise ConfigError(
            "a unit test needs `name:` and `model:`", location=loc_of(entry) or Location(path)
        )
    given = []
    for i, item in enumerate(
        expect_type(entry.get("given") or [], list, "`given`", entry, "given")
    ):
        expect_type(item, dict, "a `given` entry", entry.get("given"), i)
        check_keys(item, GIVEN_KEYS, "a `given` entry")
        match = _INPUT_RE.match(str(item.get("input") or ""))
        if match is None:
            raise ConfigError(
                f"unit test `{name}`: `input` must be ref('...'), source('...', '...') or this, got `{item.get('input')!r}`",
                location=loc_of(item, "input") or loc_of(item),
            )
        fixture = _fixture(item, f"unit test `{name}`", root, fixture_dirs)
        if match.group(3):
            fixture.kind = "this"
        else:
            fixture.kind = match.group(1)
            fixture.args, fixture.version = _call_args(match.group(2))
        fixture.cte = f"__hw_given_{i}"
        given.append(fixture)
    if "expect" not in entry:
        raise ConfigError(f"unit test `{name}` needs `expect:`", location=loc_of(entry, "name"))
    expect_type(entry.get("expect") or {}, dict, "`expect`", entry, "expect")
    expect = _fixture(entry.get("expect") or {}, f"unit test `{name}`", root, fixture_dirs)
    overrides = dict(
        expect_type(entry.get("overrides") or {}, dict, "`overrides`", entry, "overrides")
    )
    check_keys(overrides, {"macros", "vars", "env_vars"}, "`overrides` of a unit test")
    return UnitTest(str(name), str(model), given, expect, overrides)


def _call_args(text: str) -> tuple[tuple[str, ...], str | None]:
    args: list[str] = []
    version = None
    for match in _ARG_RE.finditer(text):
        if match.group(1) is not None:
            args.append(match.group(1))
        elif match.group(3):
            version = match.group(3).strip()
    return tuple(args), version


def _fixture(item: dict[str, Any], what: str, root: Path, fixture_dirs: list[str]) -> Fixture:
    from headwater.project.validate import loc_of

    fmt = str(item.get("format") or "dict")
    if fmt not in FORMATS:
        raise ConfigError(
            f"{what}: unknown format `{fmt}`",
            location=loc_of(item, "format"),
            hint="use dict, csv or sql",
        )
    rows = item.get("rows")
    if item.get("fixture"):
        suffix = ".sql" if fmt == "sql" else ".csv"
        if fmt == "dict":
            raise ConfigError(
                f"{what}: a `fixture` file needs `format: csv` or `format: sql`",
                location=loc_of(item, "fixture"),
            )
        name = str(item["fixture"])
        paths = [root / d / "fixtures" / f"{name}{suffix}" for d in fixture_dirs]
        paths += (
            [p for d in fixture_dirs for p in (root / d).rglob(f"{name}{suffix}")]
            if any((root / d).is_dir() for d in fixture_dirs)
            else []
        )
        found = next((p for p in paths if p.is_file()), None)
        if found is None:
            raise ConfigError(f"{what}: fixture `{name}{suffix}` not found", location=loc_of(item, "fixture"),
                              hint="put it in tests/fixtures/")  # fmt: skip
        rows = found.read_text(encoding="utf-8")
    if fmt == "dict":
        if rows is None:
            rows = []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ConfigError(
                f"{what}: `rows` must be a list of mappings (format: dict)",
                location=loc_of(item, "rows"),
            )
        rows = [dict(r) for r in rows]
    elif not isinstance(rows, str):
        raise ConfigError(
            f"{what}: `rows` must be text for format: {fmt}", location=loc_of(item, "rows")
        )
    return Fixture(fmt, rows)


# -- running ----------------------------------------------------------------------------------
@dataclass
class Outcome:
    failures: int
    message: str
    query: str
    sample: list[dict[str, Any]]


def run_unit_test(engine: Engine, test: Node, nodes: dict[str, Node]) -> Outcome:
    """Run a compiled unit test: fixtures typed from the warehouse, then the comparison."""
    from headwater.sql.ephemerals import with_ctes as _with_ctes

    spec = test.test
    assert spec is not None
    unit: UnitTest = spec.kwargs["unit"]
    ctes = [(f.cte, fixture_sql(f, _columns_for(engine, f, nodes))) for f in unit.given]
    actual = (
        _with_ctes(ctes, str(spec.kwargs["sql"]), engine.DIALECT)
        if ctes
        else str(spec.kwargs["sql"])
    )
    out_cols = engine.query_columns(actual)
    assert unit.expect is not None
    expected_cols = _expected_columns(unit.expect)
    types = dict(out_cols)
    missing = [c for c in expected_cols if c not in types]
    if missing:
        raise ConfigError(
            f"unit test `{unit.name}` expects column(s) {', '.join(missing)} that `{unit.model}` does not return",
            node=test.name,
            hint="the model returns: " + ", ".join(n for n, _ in out_cols),
        )
    cols = expected_cols or [n for n, _ in out_cols]
    expected = fixture_sql(unit.expect, [(c, types[c]) for c in cols])
    pick = ", ".join(quote_identifier(c) for c in cols)
    query = (
        f"WITH __hw_actual AS (\n{actual}\n), __hw_expected AS (\n{expected}\n)\n"
        f"SELECT 'missing' AS __hw_diff, {pick} FROM (SELECT {pick} FROM __hw_expected EXCEPT ALL SELECT {pick} FROM __hw_actual) e\n"
        f"UNION ALL\nSELECT 'unexpected' AS __hw_diff, {pick} FROM (SELECT {pick} FROM __hw_actual EXCEPT ALL SELECT {pick} FROM __hw_expected) a"
    )
    names, rows = engine.query(query)
    if not rows:
        return Outcome(0, "", query, [])
    sample = [{n: _plain(v) for n, v in zip(names, r, strict=True)} for r in rows[:10]]
    missing_n = sum(1 for r in rows if r[0] == "missing")
    text = f"actual differs from expected: {missing_n} expected row(s) missing, {len(rows) - missing_n} unexpected row(s)"
    shown = "; ".join(
        f"{r['__hw_diff']}: (" + ", ".join(f"{k}={r[k]!r}" for k in r if k != "__hw_diff") + ")"
        for r in sample[:3]
    )
    return Outcome(len(rows), f"{text}, e.g. {shown}", query, sample)


def _columns_for(
    engine: Engine, fixture: Fixture, nodes: dict[str, Node]
) -> list[tuple[str, str]] | None:
    node = nodes.get(fixture.relation or "")
    if node is None or node.relation is None:
        return None
    engine.invalidate_catalog()
    if engine.relation_kind(node.relation) is None:
        return None  # not built yet: the rows' own literals give the types
    return engine.columns(node.relation)


def _expected_columns(expect: Fixture) -> list[str]:
    if expect.format == "dict":
        cols: list[str] = []
        for row in expect.rows:
            cols.extend(str(k) for k in row if str(k) not in cols)
        return cols
    if expect.format == "csv":
        reader = csv.reader(io.StringIO(str(expect.rows).strip()))
        return [c.strip() for c in next(reader, [])]
    return []


def fixture_sql(fixture: Fixture, columns: list[tuple[str, str]] | None) -> str:
    """A SELECT of the fixture's rows, typed by ``columns`` (name, type) when known."""
    if fixture.format == "sql":
        return str(fixture.rows).strip().rstrip(";")
    rows = fixture.rows if fixture.format == "dict" else _csv_rows(str(fixture.rows))
    names = [c for c, _ in columns] if columns else []
    for row in rows:
        names.extend(str(k) for k in row if str(k) not in names)
    types = dict(columns or [])
    if not names:
        raise ConfigError(
            "a unit test fixture has no columns",
            hint="give at least one row, or columns through the input's relation",
        )
    selects = []
    for row in rows or [{}]:
        parts = []
        for name in names:
            value = _literal(row.get(name)) if rows else "NULL"
            parts.append(
                f"CAST({value} AS {types[name]}) AS {quote_identifier(name)}"
                if name in types
                else f"{value} AS {quote_identifier(name)}"
            )
        selects.append("SELECT " + ", ".join(parts))
    sql = "\nUNION ALL\n".join(selects)
    return sql + ("\nLIMIT 0" if not rows else "")


def _csv_rows(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text.strip()))
    return [
        {k.strip(): (None if v is None or v.strip() == "" else v.strip()) for k, v in row.items()}
        for row in reader
    ]


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


__all__ = ["Fixture", "UnitTest", "fixture_sql", "parse_unit_test", "run_unit_test"]
