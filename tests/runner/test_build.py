"""Integration tests of run / build / test on a real DuckDB file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from headwater.context import Context
from tests.conftest import query, write_files

SOURCES = """\
version: 2
sources:
  - name: raw
    tables:
      - name: events
        files: {path: events.csv, format: csv}
        columns:
          - name: id
            data_tests: [not_null]
"""


@pytest.fixture
def project(make_project) -> Path:
    root = make_project(
        {
            "sources.yml": SOURCES,
            "data/raw/events.csv": "id,kind,amount\n1,a,10\n2,b,20\n3,a,30\n",
            "seeds/kinds.csv": "kind,label\na,Alpha\nb,Beta\n",
            "models/staging/stg_events.sql": "select id, kind, amount from {{ source('raw', 'events') }}",
            "models/marts/fct_events.sql": (
                "select e.id, e.amount, k.label from {{ ref('stg_events') }} e join {{ ref('kinds') }} k using (kind)"
            ),
            "models/marts/agg.sql": "select label, sum(amount) as total from {{ ref('fct_events') }} group by label",
            "models/marts/props.yml": """
                version: 2
                models:
                  - name: fct_events
                    columns:
                      - name: id
                        data_tests: [unique, not_null]
                      - name: label
                        data_tests:
                          - accepted_values: {values: [Alpha, Beta]}
            """,
            "tests/assert_totals_positive.sql": "select * from {{ ref('agg') }} where total <= 0",
        }
    )
    return root


def build(root: Path, command: str = "build", **kw):
    with Context(root) as ctx:
        return getattr(ctx, command)(**kw)


def statuses(result) -> dict[str, str]:
    return {r.name: r.status for r in result.results}


def test_build_creates_everything_and_records_state(project: Path) -> None:
    result = build(project)
    assert result.exit_code == 0, result.to_dict()
    assert statuses(result) == {
        "raw.events": "success", "kinds": "success", "stg_events": "success", "fct_events": "success",
        "agg": "success", "assert_totals_positive": "pass",
    }  # fmt: skip
    rows = {r.name: r.rows for r in result.results}
    assert rows["raw.events"] == 3 and rows["fct_events"] == 3
    assert query(project, "select label, total from main.agg order by 1") == [
        ("Alpha", 40),
        ("Beta", 20),
    ]
    assert {c.status for c in result.checks} == {"pass"} and len(result.checks) == 5
    with Context(project) as ctx:
        runs = ctx.state.runs.node_runs(result.invocation_id)
        assert {r.name for r in runs} == set(statuses(result))
        assert ctx.state.runs.recent(1)[0].status == "success"
        assert len(ctx.state.checks.for_invocation(result.invocation_id)) == 5
    assert (project / ".headwater" / "logs" / "headwater.log").read_text().count(
        result.invocation_id[:8]
    ) >= 6


def test_failed_error_check_keeps_previous_table_and_skips_downstream(project: Path) -> None:
    assert build(project).exit_code == 0
    write_files(project, {"data/raw/events.csv": "id,kind,amount\n1,a,10\n1,b,20\n3,a,30\n4,a,5\n"})
    result = build(project)
    assert result.exit_code == 1
    s = statuses(result)
    assert s["fct_events"] == "fail"
    assert s["agg"] == "skipped" and s["assert_totals_positive"] == "skipped"
    skipped = next(r for r in result.results if r.name == "agg")
    assert "fct_events" in skipped.message
    failed = [c for c in result.checks if c.status == "fail"]
    assert [c.name for c in failed] == ["unique_fct_events_id"]
    assert failed[0].sample == [{"unique_field": 1, "n_records": 2}]
    # readers still see the last good version; no staged table is left visible under the real name
    assert query(project, "select count(*) from main.fct_events") == [(3,)]
    assert query(project, "select total from main.agg where label = 'Alpha'") == [(40,)]
    names = {r[0] for r in query(project, "select table_name from information_schema.tables")}
    assert not any(n.endswith("__hw_staged") for n in names)


def test_run_ignores_checks_and_test_reads_published(project: Path) -> None:
    write_files(project, {"data/raw/events.csv": "id,kind,amount\n1,a,10\n1,b,20\n"})
    result = build(project, "run")
    assert result.exit_code == 0
    assert not result.checks
    assert query(project, "select count(*) from main.fct_events") == [(2,)]
    tested = build(project, "test")
    assert tested.exit_code == 1
    assert {c.name for c in tested.checks if c.status == "fail"} == {"unique_fct_events_id"}


def test_warn_severity_publishes(project: Path) -> None:
    write_files(project, {"models/marts/props.yml": """
        version: 2
        models:
          - name: fct_events
            columns:
              - name: label
                data_tests:
                  - accepted_values: {values: [Alpha], config: {severity: warn}}
    """})  # fmt: skip
    result = build(project)
    assert result.exit_code == 0
    assert statuses(result)["fct_events"] == "warn"
    assert query(project, "select count(*) from main.fct_events") == [(3,)]


def test_sql_error_fails_node_and_skips_children(project: Path) -> None:
    write_files(
        project, {"models/marts/fct_events.sql": "select nope from {{ ref('stg_events') }}"}
    )
    result = build(project, "run")
    assert result.exit_code == 1
    s = statuses(result)
    assert s["fct_events"] == "error" and s["agg"] == "skipped" and s["stg_events"] == "success"
    assert "nope" in next(r.message for r in result.results if r.name == "fct_events")


def test_parallel_threads_give_same_tables(project: Path) -> None:
    one = build(project, threads=1)
    first = query(project, "select sum(hash(t)) from main.fct_events t")
    four = build(project, threads=4)
    assert one.exit_code == four.exit_code == 0
    assert statuses(one) == statuses(four)
    assert query(project, "select sum(hash(t)) from main.fct_events t") == first


def test_fail_fast_stops_scheduling(project: Path) -> None:
    write_files(project, {"models/staging/stg_events.sql": "select nope"})
    result = build(project, "run", fail_fast=True, threads=1)
    assert result.exit_code == 1
    assert any(
        "fail-fast" in r.message or "upstream" in r.message
        for r in result.results
        if r.status == "skipped"
    )


def test_materialization_change_replaces_relation_kind(project: Path) -> None:
    assert build(project, "run").exit_code == 0
    write_files(
        project,
        {
            "models/staging/stg_events.sql": "{{ config(materialized='table') }}select 1 as id, 'a' as kind, 5 as amount"
        },
    )
    assert build(project, "run").exit_code == 0
    assert query(
        project, "select table_type from information_schema.tables where table_name = 'stg_events'"
    ) == [("BASE TABLE",)]


def test_killed_build_leaves_published_tables_and_rerun_completes(project: Path) -> None:
    assert build(project).exit_code == 0
    before = query(project, "select sum(hash(t)), count(*) from main.fct_events t")
    # make fct_events slow (a long-running aggregate) and kill the build while it runs
    write_files(project, {
        "models/marts/fct_events.sql": (
            "select e.id, e.amount, k.label from {{ ref('stg_events') }} e join {{ ref('kinds') }} k using (kind) "
            "where (select count(*) from range(100000000000) r where r.range % 7 = 3) > -1"
        ),
    })  # fmt: skip
    log = project / ".headwater" / "logs" / "headwater.log"
    seen = log.read_text().count("success stg_events")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "headwater", "build", "--project-dir", str(project), "--threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while (
        log.read_text().count("success stg_events") == seen
    ):  # wait until the slow node is running
        assert proc.poll() is None, "build ended before it could be killed"
        assert time.monotonic() < deadline, "build did not reach fct_events"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert query(project, "select sum(hash(t)), count(*) from main.fct_events t") == before
    write_files(project, {"models/marts/fct_events.sql": (
        "select e.id, e.amount * 2 as amount, k.label from {{ ref('stg_events') }} e join {{ ref('kinds') }} k using (kind)"
    )})  # fmt: skip
    result = build(project)
    assert result.exit_code == 0
    assert query(project, "select sum(amount) from main.fct_events") == [(120,)]
    names = {r[0] for r in query(project, "select table_name from information_schema.tables")}
    assert not any(n.endswith("__hw_staged") for n in names)


def test_locked_warehouse_gives_clear_error(project: Path) -> None:
    assert build(project, "run").exit_code == 0
    code = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(project / ".headwater" / "warehouse.duckdb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        from headwater.errors import LockError

        with pytest.raises(LockError, match="in use by another process"):
            build(project, "run")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()


def test_second_run_waits_for_the_lock_when_configured(project: Path) -> None:
    assert build(project, "run").exit_code == 0
    code = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(project / ".headwater" / "warehouse.duckdb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    log = project / ".headwater" / "logs" / "headwater.log"
    before = log.read_text(encoding="utf-8").count(" start run ")
    waiter = None
    try:
        assert holder.stdout.readline().strip() == "ready"
        env = {**os.environ, "HEADWATER_LOCK_TIMEOUT": "60"}
        waiter = subprocess.Popen(
            [sys.executable, "-m", "headwater", "run", "--project-dir", str(project)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        # the waiter logs its start before it opens the warehouse; from then on it waits for the lock
        while log.read_text(encoding="utf-8").count(" start run ") == before:
            assert waiter.poll() is None, waiter.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert waiter.poll() is None  # still waiting: the holder has the file
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()
    out, err = waiter.communicate(timeout=90)
    assert waiter.returncode == 0, out + err


def test_missing_raw_files_name_the_source(project: Path) -> None:
    (project / "data" / "raw" / "events.csv").unlink()
    result = build(project, "run")
    assert result.exit_code == 1
    msg = next(r.message for r in result.results if r.name == "raw.events")
    assert "events.csv" in msg and "raw.events" in msg


def test_ephemeral_model_checks_run_on_inlined_sql(make_project) -> None:
    root = make_project({
        "models/e.sql": "{{ config(materialized='ephemeral') }}select * from (values (1), (1)) v(id)",
        "models/e.yml": "version: 2\nmodels:\n  - name: e\n    columns:\n      - name: id\n        data_tests: [unique]\n",
    })  # fmt: skip
    result = build(root, "test")
    assert [c.failures for c in result.checks] == [1]
    assert duckdb  # the warehouse module is importable for direct reads
