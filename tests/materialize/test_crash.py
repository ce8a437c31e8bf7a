"""Crash tests: a `headwater` process killed (SIGKILL) in the middle of an incremental merge or a
backfill leaves the published table as it was, and the next run produces exactly the table an
uninterrupted run produces — no interval lost or doubled."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.context import Context
from tests.conftest import query, write_files

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

# a predicate that keeps DuckDB busy for a while (seconds), so the process can be killed mid-statement
SLOW = "(select count(*) from range(3000000000) r where r.range % 7 = 3) > -1"


def _spawn(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "headwater", *args, "--project-dir", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})},
    )  # fmt: skip


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 90
    while not condition():
        assert proc.poll() is None, f"the process ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _checksum(root: Path, table: str) -> tuple:
    return tuple(query(root, f"select count(*), sum(hash(t)) from {table} t")[0])


MERGE = """
{{ config(materialized='incremental', incremental_strategy='merge', unique_key='id') }}
select id, amount, updated_at from {{ ref('src') }}
{% if is_incremental() %} where updated_at > (select max(t.updated_at) from {{ this }} as t) {% endif %}
"""
V1 = "id,amount,updated_at\n1,10,1\n2,20,1\n3,30,1\n"
V2 = "id,amount,updated_at\n1,11,2\n2,20,1\n3,30,1\n4,40,2\n"


@pytest.mark.parametrize("phase", ["staging the new rows", "auditing inside the transaction"])
def test_killed_merge_keeps_the_table_and_the_rerun_completes(
    make_project: Callable[..., Path], phase: str
) -> None:
    root = make_project({"seeds/src.csv": V1, "models/m.sql": MERGE})
    with Context(root) as ctx:
        assert ctx.build().exit_code == 0
    before = _checksum(root, "main.m")
    write_files(root, {"seeds/src.csv": V2})
    with Context(root) as ctx:
        assert ctx.seed().exit_code == 0
    if phase == "staging the new rows":
        write_files(
            root, {"models/m.sql": MERGE.replace("{% endif %}", f"and {SLOW} {{% endif %}}")}
        )
    else:  # the merge is applied, the transaction is open, a slow check is running
        write_files(root, {"models/m.yml": (
            "version: 2\nmodels:\n  - name: m\n    data_tests:\n"
            f"      - expression_is_true: {{expression: \"{SLOW}\"}}\n")})  # fmt: skip
    trace = root / "trace.jsonl"
    proc = _spawn(root, "build", "-s", "m", env={"HEADWATER_SQL_TRACE": str(trace)})
    # statements are traced before they run: wait until the slow one is executing, then kill
    marker = "range(3000000000)"
    if phase == "auditing inside the transaction":

        def in_audit() -> (
            bool
        ):  # the slow check runs after the merge's INSERT, inside the transaction
            text = trace.read_text(encoding="utf-8") if trace.exists() else ""
            merged = 'INSERT INTO \\"main\\".\\"m\\"'
            return merged in text and marker in text.split(merged, 1)[1]

        _wait_for(in_audit, proc, "the audit inside the merge transaction")
    else:
        _wait_for(
            lambda: trace.exists() and marker in trace.read_text(encoding="utf-8"),
            proc,
            "the slow staging",
        )
    _kill(proc)
    assert _checksum(root, "main.m") == before  # nothing half-merged is visible
    write_files(root, {"models/m.sql": MERGE, "models/m.yml": "version: 2\nmodels:\n  - name: m\n"})
    with Context(root) as ctx:
        assert ctx.build().exit_code == 0
    assert query(root, "select id, amount from main.m order by id") == [
        (1, 11),
        (2, 20),
        (3, 30),
        (4, 40),
    ]


EVENTS = "id,ts,amount\n" + "".join(
    f"{i},2026-01-{1 + i % 8:02d} 10:00:00,{i}\n" for i in range(1, 81)
)
STG = "{{ config(materialized='view', event_time='ts') }}\nselect id, cast(ts as timestamp) as ts, amount from {{ ref('events') }}"
FCT = """
{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='ts',
          batch_size='day', begin='2026-01-01', lookback=1) }}
select id, ts, amount from {{ ref('stg_events') }} where SLOWNESS
"""


def test_killed_backfill_resumes_without_losing_or_doubling_intervals(
    make_project: Callable[..., Path],
) -> None:
    slow = "(select count(*) from range(150000000) r where r.range % 7 = 3) > -1"
    root = make_project({"seeds/events.csv": EVENTS, "models/stg_events.sql": STG,
                         "models/fct.sql": FCT.replace("SLOWNESS", slow)})  # fmt: skip
    with Context(root) as ctx:
        assert ctx.run(["+stg_events"]).exit_code == 0
    state_db = root / ".headwater" / "state.db"

    def built() -> int:
        try:
            con = sqlite3.connect(f"file:{state_db}?mode=ro", uri=True, timeout=5)
            try:
                return con.execute(
                    "select count(*) from backfill_intervals where status = 'success'"
                ).fetchone()[0]
            finally:
                con.close()
        except sqlite3.OperationalError:
            return 0

    proc = _spawn(root, "backfill", "fct", "--start", "2026-01-01", "--end", "2026-01-09")
    _wait_for(lambda: built() >= 2, proc, "two intervals were built")
    _kill(proc)
    partial = query(root, "select count(*), count(distinct id) from main.fct")[0]
    assert (
        partial[0] == partial[1] and 0 < partial[0] < 80
    )  # committed intervals only, no duplicates
    res = subprocess.run(
        [sys.executable, "-m", "headwater", "backfill", "--continue", "--project-dir", str(root)],
        capture_output=True, text=True, env={**os.environ},
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert query(root, "select count(*), count(distinct id), sum(amount) from main.fct")[0] == (
        80,
        80,
        sum(range(1, 81)),
    )
    with Context(root) as ctx:
        _, ledger = ctx.intervals("fct")
    days = [r.interval_start for r in ledger if r.status == "success"]
    assert days == sorted(set(days)) and len(days) == 8  # each of Jan 1-8 exactly once
