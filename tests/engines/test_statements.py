"""Statements are built once (sqlglot) and rendered per dialect: every statement is exactly one
statement, names survive any characters, and cached templates give the same SQL as a fresh render."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from headwater.engines.statements import Statements
from headwater.project.definition import Relation

DIALECTS = ["duckdb", "postgres", "spark"]
names = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=20)


def every_statement(s: Statements, target: Relation, source: Relation, col: str) -> list[str]:
    return [
        s.create_as(target, "select 1 as x", "table", replace=True),
        s.create_as(target, "select 1 as x", "view"),
        s.create_empty_like(target, "select 1 as x"),
        s.create_table(target, [(col, "integer"), ("b", "text")], "postgres"),
        s.drop(target, "view", cascade=True),
        s.rename(source, target.identifier),
        s.add_column(target, col, "bigint"),
        s.drop_column(target, col),
        s.alter_column_type(target, col, "bigint"),
        s.create_schema(target.schema),
        s.insert_select(target, [col, "b"], source),
        s.delete_matching(target, source, [col]),
        s.delete_unmatched(target, source, [col, "b"]),
        s.update_from(target, source, {"b": "s.b"}, [col]),
        s.insert_missing(target, source, [col, "b"], [col]),
        s.merge(target, source, [col, "b"], [col], ["b"]),
        s.count_duplicate_keys(source, [col, "b"]),
    ]


@pytest.mark.parametrize("dialect", DIALECTS)
@settings(max_examples=40, deadline=None)
@given(schema=names, table=names, col=names)
def test_every_statement_is_one_statement_and_keeps_its_names(
    dialect: str, schema: str, table: str, col: str
) -> None:
    s = Statements(dialect)
    target, source = Relation(schema, table), Relation(schema, table + "_src")
    for sql in every_statement(s, target, source, col):
        parsed = sqlglot.parse(sql, read=dialect)
        assert len([p for p in parsed if p is not None]) == 1, sql
        found = {t.name for t in parsed[0].find_all(exp.Table)} | {
            i.name for i in parsed[0].find_all(exp.Identifier)
        }
        assert table in found or table + "_src" in found or schema in found, sql


@pytest.mark.parametrize("dialect", DIALECTS)
@settings(max_examples=30, deadline=None)
@given(schema=names, table=names, other=names)
def test_templates_render_what_a_fresh_render_does(
    dialect: str, schema: str, table: str, other: str
) -> None:
    cached, fresh = Statements(dialect), Statements(dialect)
    rel = Relation(schema, table)
    # fill the template cache with other names first, then compare with a first render
    cached.create_as(Relation(other, other), "select 2", "table", replace=True)
    cached.drop(Relation(other, other), "table")
    cached.rename(Relation(other, other), other)
    cached.create_schema(other)
    assert cached.create_as(rel, "select 1 as x", "table", replace=True) == fresh._create_as(
        rel, "select 1 as x", "table", True, False
    )
    assert cached.drop(rel, "table") == fresh._drop(rel, "table", True, False)
    assert cached.rename(rel, other) == Statements(dialect).rename(rel, other)
    assert cached.create_schema(schema) == Statements(dialect).create_schema(schema)


def test_templates_are_kept_sealed_for_the_next_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = tmp_path / ".headwater" / "cache" / "statements-postgres.pickle"
    first = Statements("postgres", path)
    expected = first.create_as(Relation("a", "b"), "select 1", "table")
    first.save()
    assert path.exists() and path.stat().st_mode & 0o077 == 0
    second = Statements("postgres", path)
    assert second._load() and second.create_as(Relation("a", "b"), "select 1", "table") == expected
    path.write_bytes(b"not sealed by this user")  # e.g. a cache shipped in a cloned repository
    assert Statements("postgres", path)._load() == {}


def test_spliced_sql_is_kept_as_written() -> None:
    body = "select 'a;b' as x -- comment\n"
    sql = Statements("postgres").create_as(Relation("s", "t"), body + ";", "table")
    assert sql.endswith("select 'a;b' as x -- comment") and sql.startswith(
        'CREATE TABLE "s"."t" AS'
    )
