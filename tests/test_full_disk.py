"""A full disk under the state store: the run reports what it did to the warehouse, warns once
that its history could not be saved (no traceback), and the next run records again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import write_files


def _fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)


def _headwater(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "headwater", *args, "--project-dir", str(root)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _project(small_disk: Path, tmp_path: Path) -> Path:
    root = small_disk / "proj"
    warehouse = tmp_path / "warehouse.duckdb"  # on another disk: only the state store is starved
    write_files(root, {
        "headwater.yml": f"name: t\ntargets:\n  dev: {{engine: duckdb, path: '{warehouse}', threads: 1}}\n",
        "models/m.sql": "{{ config(materialized='table') }}\nselect 1 as version\n",
    })  # fmt: skip
    first = _headwater(root, "build")
    assert first.returncode == 0, first.stdout + first.stderr
    (root / "models" / "m.sql").write_text(
        "{{ config(materialized='table') }}\nselect 2 as version\n"
    )
    assert (
        _headwater(root, "compile").returncode == 0
    )  # the parse cache is written while there is room
    return root


def test_disk_fills_during_a_run(small_disk: Path, tmp_path: Path, cli, monkeypatch) -> None:
    from headwater.state import sqlite

    root = _project(small_disk, tmp_path)
    opened = sqlite.SQLiteStateStore.__init__

    def open_then_fill(self: sqlite.SQLiteStateStore, path: Path) -> None:
        opened(self, path)
        _fill(small_disk)  # the disk fills up after the store was opened, before the run writes

    monkeypatch.setattr(sqlite.SQLiteStateStore, "__init__", open_then_fill)
    res = cli("build", "--project-dir", root)
    assert "Traceback" not in res.err and "OperationalError" not in res.err, res.err
    assert res.code == 0, res.out + res.err
    assert "OK" in res.out and "table m" in res.out  # the true state: m was published
    assert res.err.count("run history could not be saved") == 1 and "state.db" in res.err
    monkeypatch.setattr(sqlite.SQLiteStateStore, "__init__", opened)
    q = _headwater(root, "query", "select version from main.m")
    assert q.returncode == 0 and q.stdout.splitlines()[2].strip() == "2"
    (small_disk / "filler").unlink()
    again = _headwater(root, "build")
    assert again.returncode == 0 and "could not be saved" not in again.stderr
    status = _headwater(root, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert '"killed"' not in status.stdout  # the run that could not record its end left its status


def test_full_disk_before_a_run_stops_it_with_a_clear_message(
    small_disk: Path, tmp_path: Path
) -> None:
    root = _project(small_disk, tmp_path)
    _fill(small_disk)
    res = _headwater(root, "build")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert "cannot open the state store" in res.stderr and "free disk space" in res.stderr
    (small_disk / "filler").unlink()
    q = _headwater(root, "query", "select version from main.m")
    assert q.stdout.splitlines()[2].strip() == "1"  # nothing ran
