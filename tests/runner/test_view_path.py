"""The path of a view without error-level checks: one CREATE OR REPLACE VIEW, no staging relation,
no swap, no catalog read per view (SQL trace); a view with error-level checks keeps
write-audit-publish; a bad view fails visibly and leaves the old one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from headwater.context import Context
from tests.conftest import query, write_files

VIEWS = {  # `staging` is materialized as views in the test project
    "models/staging/a.sql": "select 1 as id, 'x' as name",
    "models/staging/b.sql": "select id from {{ ref('a') }}",
    "models/staging/c.sql": "select id, name from {{ ref('a') }}",
    "models/staging/d.sql": "select b.id from {{ ref('b') }} as b join {{ ref('c') }} as c using (id)",
    "models/staging/e.sql": "select * from {{ ref('d') }}",
}
CREATE_VIEW = re.compile(r'CREATE OR REPLACE VIEW "main"\."(\w+)"')


def run(root: Path, command: str = "run"):
    with Context(root) as ctx:
        return getattr(ctx, command)()


def traced(
    root: Path, monkeypatch: pytest.MonkeyPatch, command: str = "run"
) -> tuple[object, list[str]]:
    """Run ``command`` with the SQL trace on: (result, the statements it executed)."""
    trace = root / "trace.jsonl"
    trace.unlink(missing_ok=True)
    monkeypatch.setenv("HEADWATER_SQL_TRACE", str(trace))
    try:
        result = run(root, command)
    finally:
        monkeypatch.delenv("HEADWATER_SQL_TRACE")
    return result, [
        json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def about(statements: list[str], view: str) -> list[str]:
    """Statements acting on ``view``: its own CREATE, and anything naming it other than another
    view's CREATE (which reads it)."""
    out = []
    for sql in statements:
        created = CREATE_VIEW.match(sql)
        if created and created.group(1) != view:
            continue
        if f'"{view}"' in sql or f'"{view}__hw_staged"' in sql or f"'{view}'" in sql:
            out.append(sql)
    return out


@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "warm"])
def test_a_checkless_view_is_one_statement(
    make_project, monkeypatch: pytest.MonkeyPatch, warm: bool
) -> None:
    root = make_project(VIEWS)
    if warm:
        assert run(root).exit_code == 0  # the views exist: the second run replaces them
    result, statements = traced(root, monkeypatch)
    assert result.exit_code == 0 and {r.status for r in result.results} == {"success"}
    for view in "abcde":
        own = about(statements, view)
        assert len(own) == 1 and CREATE_VIEW.match(own[0]).group(1) == view, own
    creates = [s for s in statements if CREATE_VIEW.match(s)]
    assert len(creates) == 5
    rest = [s for s in statements if not CREATE_VIEW.match(s)]
    # per run, not per view: the schema, one catalog read, one read of the views' columns
    assert len(rest) <= 3, rest
    assert sum("duckdb_columns" in s for s in statements) <= 1
    assert not any(
        word in s for s in statements for word in ("__hw_staged", "BEGIN", "DROP", "ALTER")
    )
    # their schemas are still recorded (read together at the end of the run)
    with Context(root) as ctx:
        rows = ctx.state.read(
            "SELECT unique_id, columns FROM relation_schemas WHERE invocation_id = ?",
            [result.invocation_id],
        )
    assert {r["unique_id"]: json.loads(r["columns"]) for r in rows}["model.t.c"] == [
        ["id", "INTEGER"],
        ["name", "VARCHAR"],
    ]
    assert len(rows) == 5


def test_a_view_with_only_warn_checks_is_not_staged(
    make_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project({**VIEWS, "models/staging/props.yml": """
        version: 2
        models:
          - name: c
            columns:
              - name: name
                data_tests:
                  - accepted_values: {values: [y], config: {severity: warn}}
    """})  # fmt: skip
    result, statements = traced(root, monkeypatch, "build")
    assert {r.name: r.status for r in result.results}["c"] == "warn"
    own = about(statements, "c")
    assert CREATE_VIEW.match(own[0]).group(1) == "c"  # created in place, then checked
    assert not any("__hw_staged" in s or s.startswith(("BEGIN", "DROP", "ALTER")) for s in own)


def test_a_view_with_an_error_check_is_written_audited_published(
    make_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    props = """
        version: 2
        models:
          - name: c
            columns:
              - name: name
                data_tests: [not_null]
    """
    root = make_project({**VIEWS, "models/staging/props.yml": props})
    assert run(root, "build").exit_code == 0
    write_files(
        root, {"models/staging/c.sql": "select id, null::varchar as name from {{ ref('a') }}"}
    )
    result, statements = traced(root, monkeypatch, "build")
    by_name = {r.name: r for r in result.results}
    assert by_name["c"].status == "fail" and "the previous version stays" in by_name["c"].message
    assert by_name["d"].status == "skipped"
    assert any('CREATE OR REPLACE VIEW "main"."c__hw_staged"' in s for s in statements)
    assert not any(
        CREATE_VIEW.match(s) and CREATE_VIEW.match(s).group(1) == "c" for s in statements
    )
    assert query(root, "select id, name from main.c") == [
        (1, "x")
    ]  # the audited version is still published


def test_a_bad_view_fails_visibly_and_leaves_the_old_view(
    make_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(VIEWS)
    assert run(root).exit_code == 0
    write_files(root, {"models/staging/c.sql": "select id, nope from {{ ref('a') }}"})
    result, statements = traced(root, monkeypatch)
    by_name = {r.name: r for r in result.results}
    assert result.exit_code == 1
    assert by_name["c"].status == "error" and "nope" in by_name["c"].message
    assert by_name["d"].status == "skipped" and by_name["e"].status == "skipped"
    assert by_name["b"].status == "success"
    assert len(about(statements, "c")) == 1  # the one CREATE OR REPLACE, which DuckDB refused whole
    assert query(root, "select id, name from main.c") == [(1, "x")]


def test_a_view_schema_change_is_reported(make_project) -> None:
    root = make_project(VIEWS)
    assert run(root).exit_code == 0
    write_files(root, {"models/staging/c.sql": "select id, name, 2 as extra from {{ ref('a') }}"})
    result = run(root)
    by_name = {r.name: r for r in result.results}
    assert (
        by_name["c"].status == "warn" and "schema changed: +extra INTEGER" in by_name["c"].message
    )
    checks = {c.node: c for c in result.checks if c.check == "schema_change"}
    assert checks["model.t.c"].status == "warn" and checks["model.t.a"].status == "pass"
    assert result.exit_code == 0
    with Context(root) as ctx:
        changes = ctx.state.read(
            "SELECT column_name FROM schema_changes WHERE unique_id = 'model.t.c'"
        )
        recorded = ctx.state.read(
            "SELECT status FROM node_runs WHERE invocation_id = ? AND unique_id = 'model.t.c'",
            [result.invocation_id],
        )
        check_rows = ctx.state.checks.for_invocation(result.invocation_id)
        durations = ctx.state.read(
            "SELECT count(*) AS n FROM node_metrics WHERE invocation_id = ? AND metric = 'duration_seconds'",
            [result.invocation_id],
        )
    assert changes == [{"column_name": "extra"}] and recorded == [{"status": "warn"}]
    assert sum(r.check_type == "schema_change" for r in check_rows) == 5
    assert durations == [{"n": 5}]


def test_schema_change_error_on_a_view_still_stops_its_downstream(make_project) -> None:
    root = make_project(
        {
            **VIEWS,
            "models/staging/c.sql": "{{ config(schema_change='error') }}\nselect id, name from {{ ref('a') }}",
        }
    )
    assert run(root).exit_code == 0
    write_files(
        root,
        {
            "models/staging/c.sql": "{{ config(schema_change='error') }}\nselect id from {{ ref('a') }}"
        },
    )
    result = run(root)
    assert {r.name: r.status for r in result.results} == {
        "a": "success", "b": "success", "c": "fail", "d": "skipped", "e": "skipped",
    }  # fmt: skip


def test_a_warm_run_does_not_import_what_it_does_not_use(make_project) -> None:
    root = make_project(VIEWS)
    assert run(root).exit_code == 0  # fills the parse cache
    code = (
        "import sys\n"
        "from headwater.context import Context\n"
        f"with Context({str(root)!r}) as ctx:\n"
        "    assert ctx.run().exit_code == 0\n"
        "print(sorted(m for m in ('yaml', 'jinja2', 'sqlglot', 'croniter', 'urllib.request', 'smtplib') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
