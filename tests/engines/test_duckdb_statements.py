"""The DuckDB engine runs exactly one statement per call, and reports a commit that DuckDB made
durable before its automatic checkpoint failed (a full disk) as committed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.engines.duckdb import DuckDBEngine
from headwater.errors import SQLExecutionError
from headwater.project.definition import Target


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine(Target(name="t", path=str(tmp_path / "w.duckdb")), str(tmp_path))
    eng.open()
    eng.execute("CREATE TABLE canary AS SELECT 1 AS x")
    yield eng
    eng.close()


@pytest.mark.parametrize("sql", ["SELECT 1; DROP TABLE canary", "SELECT 1 AS a;DROP TABLE canary;"])
def test_two_statements_are_refused_and_nothing_runs(engine: DuckDBEngine, sql: str) -> None:
    for run in (engine.execute, engine.query, engine.fetch_arrow):
        with pytest.raises(SQLExecutionError, match="refused to run 2 statements"):
            run(sql)
    assert engine.execute("SELECT count(*) FROM canary") == [(1,)]


def test_semicolons_in_strings_comments_and_at_the_end_are_one_statement(
    engine: DuckDBEngine,
) -> None:
    assert engine.execute("SELECT ';' AS s -- ; drop table canary\n;") == [(";",)]
    assert engine.query("SELECT 'a;b' AS s")[1] == [("a;b",)]


def _leave_free(folder: Path, free: int) -> None:
    st = os.statvfs(folder)
    fd = os.open(folder / "filler", os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        os.write(fd, b"\0" * max(0, st.f_bavail * st.f_frsize - free))
    finally:
        os.close(fd)


def test_a_durable_commit_whose_checkpoint_failed_is_published(
    small_disk: Path, tmp_path: Path, cli
) -> None:
    """The commit lands in the WAL, the automatic checkpoint then finds no room: the model is
    published (WARN, not ERROR) and stays published once space is freed."""
    from tests.conftest import write_files

    root = tmp_path / "proj"
    warehouse = small_disk / "w.duckdb"
    write_files(root, {
        "headwater.yml": f"name: t\ntargets:\n  dev: {{engine: duckdb, path: '{warehouse}', threads: 1, "
                         "settings: {checkpoint_threshold: 1KB}}\n",
        "models/m.sql": "{{ config(materialized='table') }}\nselect 1 as version\n",
    })  # fmt: skip
    assert cli("build", "--project-dir", root).code == 0
    (root / "models" / "m.sql").write_text(
        "{{ config(materialized='table') }}\nselect 2 as version, md5(range::varchar) as h from range(0, 3000)\n"
    )
    _leave_free(small_disk, 160 * 1024)  # room for the WAL entry, not for the checkpoint
    res = cli("build", "--project-dir", root)
    assert "COMMIT succeeded" not in res.out, res.out  # DuckDB's wording is translated
    assert "WARN" in res.out and "published, but the change was committed" in res.out, res.out
    assert "free disk space" in res.out
    (small_disk / "filler").unlink()
    q = cli("query", "--project-dir", root, "select max(version), count(*) from main.m")
    assert q.code == 0 and "3000" in q.out, q.out + q.err
