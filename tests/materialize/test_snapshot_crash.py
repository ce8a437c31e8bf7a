"""Crash safety: `headwater snapshot` killed (SIGKILL) at random points leaves either the previous
snapshot table or the complete new one, never a half-applied change; the next run then produces
exactly what an uninterrupted run produces."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.materialize.test_snapshot_helpers import (
    checksum,
    fetch,
    new_project,
    set_source,
    snapshot_block,
)

N = 200_000
CONFIG = "unique_key='id', strategy='timestamp', updated_at='updated_at', hard_deletes='invalidate'"
T0, T1, T2 = datetime(2020, 1, 1), datetime(2020, 1, 2), datetime(2020, 1, 3)
NOW = "2023-01-01"  # snapshot times (a run's clock) are later than every data timestamp


def _state_a(root: Path) -> None:
    set_source(root, [], columns="id INTEGER, name VARCHAR, updated_at TIMESTAMP")
    _sql(root, f"INSERT INTO raw.src SELECT range, 'n' || range, TIMESTAMP '{T0}' FROM range({N})")


def _state_b(root: Path) -> None:
    """Every third row changed, every seventh deleted, 10% new keys."""
    _sql(
        root,
        f"UPDATE raw.src SET name = name || '+', updated_at = TIMESTAMP '{T1}' WHERE id % 3 = 0",
    )
    _sql(root, "DELETE FROM raw.src WHERE id % 7 = 0")
    _sql(
        root,
        f"INSERT INTO raw.src SELECT range, 'new', TIMESTAMP '{T1}' FROM range({N}, {N + N // 10})",
    )


def _state_c(root: Path) -> None:
    """Every fifth row changed again, some deleted keys back, every eleventh row deleted."""
    _sql(
        root,
        f"UPDATE raw.src SET name = name || '*', updated_at = TIMESTAMP '{T2}' WHERE id % 5 = 0",
    )
    _sql(root, f"INSERT INTO raw.src SELECT range, 'back', TIMESTAMP '{T2}' FROM range(7, {N}, 14)")
    _sql(root, "DELETE FROM raw.src WHERE id % 11 = 0")


def _sql(root: Path, sql: str) -> None:
    import duckdb

    con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"))
    try:
        con.execute(sql)
    finally:
        con.close()


def _start(root: Path, capture: bool = False) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "headwater", "snapshot", "--project-dir", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE if capture else subprocess.DEVNULL, env=env,
    )  # fmt: skip


def _run(root: Path) -> float:
    started = time.perf_counter()
    proc = _start(root, capture=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    return time.perf_counter() - started


def _state(root: Path) -> tuple[int, str] | None:
    exists = fetch(
        root, "select count(*) from information_schema.tables where table_name = 'snap'"
    )[0][0]
    return checksum(root, "main.snap", normalize_after=NOW) if exists else None


def _kill_at_random(root: Path, rng: random.Random, duration: float) -> bool:
    """Start a run and SIGKILL it after a random delay, half of the time once the warehouse's
    write-ahead log shows it writing. True if it was still running when killed."""
    wal = root / ".headwater" / "warehouse.duckdb.wal"
    proc = _start(root)
    deadline = time.perf_counter() + rng.uniform(0.05, duration)
    if rng.random() < 0.5:
        while (
            proc.poll() is None and not wal.exists() and time.perf_counter() < deadline + duration
        ):
            time.sleep(0.002)
        deadline = time.perf_counter() + rng.uniform(0, duration / 4)
    while proc.poll() is None and time.perf_counter() < deadline:
        time.sleep(0.002)
    running = proc.poll() is None
    if running:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return running


@pytest.mark.slow
def test_killed_snapshot_runs_leave_no_half_written_state(tmp_path: Path) -> None:
    files = {"snapshots/snap.sql": snapshot_block(CONFIG)}
    reference = new_project(tmp_path / "reference", files)
    root = new_project(tmp_path / "crash", files)
    (root / ".headwater").mkdir(parents=True, exist_ok=True)
    (reference / ".headwater").mkdir(parents=True, exist_ok=True)

    _state_a(reference)
    duration = _run(reference)
    after_a = _state(reference)
    _state_b(reference)
    duration = max(duration, _run(reference))
    after_b = _state(reference)
    _state_c(reference)
    duration = max(duration, _run(reference))
    after_c = _state(reference)
    assert len({after_a, after_b, after_c}) == 3

    rng = random.Random(20260101)
    interrupted = 0
    phases = [(_state_a, None, after_a), (_state_b, after_a, after_b), (_state_c, after_b, after_c)]
    for prepare, before, expected in phases:
        prepare(root)
        for _ in range(6):
            interrupted += _kill_at_random(root, rng, duration)
            now = _state(root)
            assert now in (before, expected)  # the old table or the complete new one
            if now == expected:
                break  # a run got to commit before the kill: nothing left to interrupt
        _run(root)
        assert _state(root) == expected
    assert interrupted >= 4  # most kills landed while the run was working
    leftovers = fetch(
        root, "select table_name from information_schema.tables where table_name like '%hw_staged'"
    )
    assert leftovers == []
    current = fetch(
        root, "select count(*), count(distinct id) from main.snap where dbt_valid_to is null"
    )[0]
    assert current == (fetch(root, "select count(*) from raw.src")[0][0],) * 2
