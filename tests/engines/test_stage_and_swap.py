"""Write-audit-publish by staging and swapping: a real DuckDB engine told it has neither
multi-statement transactions nor transactional DDL (`transactional_wap` false, as Spark will be)
builds stateful nodes on a copy of the table (`<name>__hw_audit`), audits the copy and swaps it
in. Results are compared with the same project built normally (in one transaction); the SQL
trace (`HEADWATER_SQL_TRACE`) shows that no BEGIN, COMMIT or ROLLBACK was issued."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from headwater.context import Context, RunResult
from headwater.engines.duckdb import DuckDBEngine
from tests.conftest import write_files
from tests.materialize.test_snapshot_helpers import fetch, new_project, set_source

SOURCES = """\
sources:
  - name: raw
    tables:
      - name: src
        config: {event_time: updated_at}
      - name: people
        files: {path: people.csv, format: csv}
"""

FILES = {
    "sources.yml": SOURCES,
    "models/inc.sql": "{{ config(materialized='incremental', incremental_strategy='merge', unique_key='id') }}\n"
    "select id, name, updated_at from {{ source('raw', 'src') }}\n",
    # only `name` is updated: the MERGE / UPDATE ... FROM path, not delete+insert
    "models/inc_upd.sql": "{{ config(materialized='incremental', incremental_strategy='merge', unique_key='id',"
    " merge_update_columns=['name']) }}\nselect id, name, updated_at from {{ source('raw', 'src') }}\n",
    "models/mb.sql": "{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='updated_at',"
    " batch_size='year', begin='2024-01-01', lookback=1) }}\nselect id, name, updated_at from {{ source('raw', 'src') }}\n",
    "models/dim.sql": "{{ config(materialized='scd1', unique_key='id', updated_at='updated_at') }}\n"
    "select * from {{ source('raw', 'src') }}\n",
    "models/py_inc.py": "def model(dbt, session):\n    dbt.config(materialized='incremental', unique_key='id')\n"
    "    return dbt.source('raw', 'src')\n",
    "data/raw/people.csv": "id,name\n1,ann\n2,bob\n",
    "snapshots/snap.sql": "{% snapshot snap %}\n{{ config(unique_key='id', strategy='timestamp', updated_at='updated_at') }}\n"
    "select * from {{ source('raw', 'src') }}\n{% endsnapshot %}\n",
}


def props(inc_tests: str = "") -> str:
    """A `not_null` check on `name` of every node (and ``inc_tests`` on `inc` itself)."""
    text = "models:\n" + "".join(
        f"  - name: {m}\n" + (f"    data_tests: [{inc_tests}]\n" if m == "inc" and inc_tests else "")
        + "    columns:\n      - name: name\n        data_tests: [not_null]\n"
        for m in ("inc", "inc_upd", "mb", "dim")
    )  # fmt: skip
    return (
        text
        + "snapshots:\n  - name: snap\n    columns:\n      - name: name\n        data_tests: [not_null]\n"
    )


FILES["models/props.yml"] = props()
CHECKED = ("main.inc", "main.inc_upd", "main.mb", "main.dim", "main.snap")
RELATIONS = (*CHECKED, "main.py_inc", "raw.people")
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "START TRANSACTION", "END", "ABORT")

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)
THIS_YEAR = dt.datetime(
    NOW.year, 1, 1, 12
)  # in the interval a microbatch run always rebuilds (lookback)
V1 = [
    (1, "a", dt.datetime(2024, 1, 5, 10)),
    (2, "b", dt.datetime(2025, 3, 1, 10)),
    (3, "c", THIS_YEAR),
]
V2 = [(1, "a2", dt.datetime(2024, 6, 1, 10)), (2, "b", dt.datetime(2025, 3, 1, 10)), (3, "c2", THIS_YEAR + dt.timedelta(hours=1)),
      (4, "d", THIS_YEAR + dt.timedelta(hours=2))]  # fmt: skip
BAD = [*V2, (5, None, THIS_YEAR + dt.timedelta(hours=3))]  # fails every node's not_null check


@contextmanager
def stage_and_swap() -> Iterator[None]:
    """The DuckDB engine class without transactions (restored afterwards, so a reference project
    can be built normally in the same test)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DuckDBEngine, "SUPPORTS_TRANSACTIONS", False)
        mp.setattr(DuckDBEngine, "SUPPORTS_TRANSACTIONAL_DDL", False)
        yield


def build(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RunResult, list[str]]:
    """`headwater build` in-process with the SQL trace on: (result, the statements executed)."""
    trace = root / "trace.jsonl"
    trace.unlink(missing_ok=True)
    monkeypatch.setenv("HEADWATER_SQL_TRACE", str(trace))
    try:
        with Context(root) as ctx:
            assert (
                ctx.engine.transactional_wap is DuckDBEngine.SUPPORTS_TRANSACTIONS
            )  # the path under test
            result = ctx.build()
    finally:
        monkeypatch.delenv("HEADWATER_SQL_TRACE")
    return result, [
        json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def transaction_control(statements: list[str]) -> list[str]:
    return [
        s
        for s in statements
        if s.strip().split(None, 1)[0].upper().rstrip(";") in TRANSACTION_CONTROL
    ]


def ok(result: RunResult) -> None:
    assert result.exit_code == 0, [(r.name, r.status, r.message) for r in result.results]


def rows(root: Path, relation: str) -> list[tuple]:
    return fetch(root, f"select * from {relation} order by all")


def leftovers(root: Path) -> list[tuple]:
    return fetch(
        root,
        "select table_name from information_schema.tables where table_name like '%\\_\\_hw\\_%' escape '\\'",
    )


def project(tmp_path: Path, name: str, extra: dict[str, str] | None = None) -> Path:
    return new_project(tmp_path / name, {**FILES, **(extra or {})})


def test_stateful_builds_stage_and_swap_and_match_a_transactional_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, staged = project(tmp_path, "reference"), project(tmp_path, "staged")
    for version in (V1, V2):  # the first build, then the incremental one
        set_source(reference, version)
        set_source(staged, version)
        result, statements = build(reference, monkeypatch)
        ok(result)
        assert transaction_control(statements)  # the reference does audit in transactions
        with stage_and_swap():
            result, statements = build(staged, monkeypatch)
        ok(result)
        assert {r.status for r in result.results} == {"success"}
        assert transaction_control(statements) == []
        # every node was built on its audit copy and swapped in
        for relation in RELATIONS:
            schema, name = relation.split(".")
            swap = f'CREATE OR REPLACE TABLE "{schema}"."{name}" AS SELECT * FROM "{schema}"."{name}__hw_audit"'
            assert any(s.startswith(swap) for s in statements), relation
        for relation in RELATIONS:
            assert rows(staged, relation) == rows(reference, relation), relation
        assert leftovers(staged) == []
    # the incremental build changed something (else the comparison proves little)
    for relation in ("main.inc", "main.inc_upd", "main.dim", "main.py_inc"):
        assert ("a2",) in fetch(staged, f"select name from {relation}"), relation
    assert fetch(staged, "select count(*) from main.snap")[0][0] > len(V1)
    copies = [
        s
        for s in statements
        if s.startswith('CREATE TABLE "main"."inc__hw_audit" AS SELECT * FROM "main"."inc"')
    ]
    assert len(copies) == 1  # the incremental build starts from a copy of the table


def test_a_failing_check_keeps_the_previous_rows_and_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path, "p")
    set_source(root, V1)
    with stage_and_swap():
        ok(build(root, monkeypatch)[0])
        before = {relation: rows(root, relation) for relation in CHECKED}
        set_source(root, BAD)
        result, statements = build(root, monkeypatch)
    assert result.exit_code == 1
    by_name = {r.name: r for r in result.results}
    for relation in CHECKED:
        name = relation.split(".")[1]
        assert by_name[name].status == "fail", (name, by_name[name].message)
        assert "previous version stays" in by_name[name].message
        assert rows(root, relation) == before[relation], name  # readers still see the old rows
    assert transaction_control(statements) == []
    assert any('"inc__hw_audit"' in s for s in statements)  # the change was made, on the copy
    assert leftovers(root) == []


def test_readers_see_the_old_rows_during_the_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check of `inc` that reads the published table by name (as any other reader) while `inc`
    is audited: staged, it still holds the old rows; in a transaction (same connection) the new
    ones."""
    reader = {
        "macros/reader.sql": "{% test reads_published(model) %}\nselect * from main.inc where name = 'a2'\n{% endtest %}\n",
        "models/props.yml": props("reads_published"),
    }
    staged, reference = project(tmp_path, "staged"), project(tmp_path, "reference")
    for root in (staged, reference):
        set_source(root, V1)
    with stage_and_swap():
        ok(build(staged, monkeypatch)[0])
    ok(build(reference, monkeypatch)[0])
    for root in (staged, reference):
        write_files(root, reader)
        set_source(root, V2)
    with stage_and_swap():
        result, _ = build(staged, monkeypatch)
    inc = next(r for r in result.results if r.name == "inc")
    assert [c.status for c in inc.checks if c.name.startswith("reads_published")] == ["pass"]
    assert inc.status == "success" and ("a2",) in fetch(staged, "select name from main.inc")
    result, _ = build(reference, monkeypatch)
    inc = next(r for r in result.results if r.name == "inc")
    assert [c.status for c in inc.checks if c.name.startswith("reads_published")] == ["fail"]
    assert ("a2",) not in fetch(reference, "select name from main.inc")


def test_parallel_backfill_intervals_are_swapped_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each interval copies, changes and swaps the whole table: concurrent intervals must not
    lose each other's rows."""
    reference, staged = project(tmp_path, "reference"), project(tmp_path, "staged")
    for root in (reference, staged):
        set_source(root, V1)
    ok(build(reference, monkeypatch)[0])
    with stage_and_swap():
        ok(build(staged, monkeypatch)[0])
    for root in (reference, staged):
        set_source(root, V2)
    start, end = "2024-01-01", f"{NOW.year + 1}-01-01"
    with Context(reference) as ctx:
        assert ctx.backfill(["mb"], start=start, end=end, rerun="all", workers=3).exit_code == 0
    with stage_and_swap(), Context(staged) as ctx:
        result = ctx.backfill(["mb"], start=start, end=end, rerun="all", workers=3)
    assert result.exit_code == 0, [(r.name, r.status, r.message) for r in result.results]
    assert len(result.results) >= 3
    assert rows(staged, "main.mb") == rows(reference, "main.mb")
    assert ("a2",) in fetch(
        staged, "select name from main.mb"
    )  # 2024 was rebuilt from the new rows
    assert leftovers(staged) == []
