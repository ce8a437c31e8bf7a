"""SIGTERM is handled like SIGINT: the statements in flight are aborted and rolled back, the run is
recorded as `interrupted`, and a rerun completes it. A run whose process was killed outright is
marked `killed` by the next command that opens the state store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import query

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

FAST = "{{ config(materialized='table') }}\nselect 1 as version\n"
# ~10 s of DuckDB work on this machine: long enough to be caught in flight
SLOW = (
    "{{ config(materialized='table') }}\n"
    "select 2 as version, count(distinct (a * 7919) % 1000003) as n from range(0, 400000000) t(a)\n"
)


def _project(make_project: Callable[..., Path], threads: int) -> Path:
    yml = f"name: t\ntargets:\n  dev: {{engine: duckdb, path: .headwater/warehouse.duckdb, threads: {threads}}}\n"
    return make_project({"models/slow_a.sql": FAST, "models/slow_b.sql": FAST}, project_yml=yml)


def _start(root: Path, trace: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HEADWATER_SQL_TRACE": str(trace)}
    return subprocess.Popen(
        [sys.executable, "-m", "headwater", "build", "--project-dir", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _wait_for(
    predicate: Callable[[], bool], proc: subprocess.Popen[str], what: str, timeout: float = 60
) -> None:
    """Poll an observable event (not a fixed sleep): the build got to the point to interrupt."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the build ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _running_statements(trace: Path, needle: str) -> int:
    if not trace.exists():
        return 0
    return sum(
        needle in json.loads(line)
        for line in trace.read_text(encoding="utf-8").splitlines()
        if line.strip()
    )


def _invocations(root: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(root / ".headwater" / "state.db")
    try:
        return con.execute("SELECT command, status FROM invocations ORDER BY started_at").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("threads", [1, 2])
def test_sigterm_rolls_back_and_records_interrupted(
    make_project: Callable[..., Path], cli, threads: int
) -> None:
    root = _project(make_project, threads)
    assert cli("build", "--project-dir", root).code == 0
    for name in ("slow_a", "slow_b"):
        (root / "models" / f"{name}.sql").write_text(SLOW, encoding="utf-8")
    trace = root / "trace.jsonl"
    proc = _start(root, trace)
    _wait_for(
        lambda: _running_statements(trace, "range(0, 400000000)") >= min(threads, 2),
        proc,
        "the slow models started",
    )
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - started < 8, "the statements in flight were not aborted"
    assert proc.returncode == 128 + signal.SIGTERM, out + err
    assert "interrupted (SIGTERM)" in err and "Traceback" not in err
    assert query(
        root, "select version from main.slow_a union all select version from main.slow_b"
    ) == [(1,), (1,)]
    assert _invocations(root)[-1] == ("build", "interrupted")
    assert not list((root / ".headwater" / "runs").glob("*.lock"))


def test_a_killed_run_is_marked_killed_at_the_next_start(
    make_project: Callable[..., Path], cli
) -> None:
    root = _project(make_project, 1)
    (root / "models" / "slow_a.sql").write_text(SLOW, encoding="utf-8")
    trace = root / "trace.jsonl"
    proc = _start(root, trace)
    _wait_for(
        lambda: _running_statements(trace, "range(0, 400000000)") >= 1,
        proc,
        "the slow model started",
    )
    proc.kill()
    proc.communicate(timeout=60)
    assert _invocations(root) == [("build", "running")]
    res = cli("status", "--project-dir", root, "--json")
    assert res.code == 0, res.err
    assert _invocations(root) == [("build", "killed")]
    assert "killed" in res.out
    (root / "models" / "slow_a.sql").write_text(FAST, encoding="utf-8")
    assert cli("build", "--project-dir", root).code == 0
    assert [s for _, s in _invocations(root)] == ["killed", "success"]


def test_a_running_invocation_of_a_live_process_is_left_alone(
    make_project: Callable[..., Path],
) -> None:
    from headwater.state.sqlite import SQLiteStateStore

    root = _project(make_project, 1)
    path = root / ".headwater" / "state.db"
    first = SQLiteStateStore(path)
    first.runs.start("live", "build", {}, "dev")
    second = SQLiteStateStore(path)  # another process's view: the lock is held
    assert second.runs.reap_dead() == []
    first.close()  # the process ends without finishing the invocation: its lock goes with it
    assert second.runs.reap_dead() == ["live"]
    second.close()
