"""End to end: a PostgreSQL / MariaDB table declared in sources.yml, extracted by `headwater
extract` into DuckDB — full, incremental with merge, and a load killed mid-way then resumed:
every source row arrives exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import query
from tests.extract.test_sql_connectors import Server, _mysql, _postgres


@pytest.fixture(scope="module", params=["postgres", "mysql"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    yield from (_postgres() if request.param == "postgres" else _mysql())


@pytest.fixture
def table(server: Server) -> Iterator[str]:
    name = f"hw_e2e_{uuid.uuid4().hex[:10]}"
    server.execute(f"CREATE TABLE {server.q(name)} (id INT PRIMARY KEY, amount INT, seq INT)")
    yield name
    server.execute(f"DROP TABLE IF EXISTS {server.q(name)}")


def _insert(server: Server, table: str, rows: range, seq: int, amount: int = 1) -> None:
    values = ", ".join(f"({i}, {amount}, {seq})" for i in rows)
    server.execute(f"INSERT INTO {server.q(table)} VALUES {values}")


def _project(
    make_project: Callable[..., Path],
    server: Server,
    table: str,
    chunk: int = 1000,
    disposition: str = "merge",
) -> Path:
    cfg = server.config
    return make_project(
        {
            "sources.yml": (
                "version: 2\nsources:\n  - name: app\n    schema: raw\n"
                f"    connector: {server.kind}\n"
                f"    connection: {{host: '{cfg['host']}', port: {cfg['port']}, user: {cfg['user']}, database: {cfg['database']}}}\n"
                "    tables:\n      - name: items\n"
                f"        extract: {{table: {table}, cursor: seq, primary_key: id, write_disposition: {disposition}, chunk_size: {chunk}, load_rows: {chunk}}}\n"
            )
        },
        name=f"p_{server.kind}_{table}",
    )


def test_full_then_incremental_merge(
    make_project: Callable[..., Path], cli, server: Server, table: str
) -> None:
    _insert(server, table, range(1, 101), seq=1)
    root = _project(make_project, server, table)
    res = cli("extract", "--project-dir", root)
    assert res.code == 0, res.out + res.err
    assert query(root, "select count(*), sum(amount) from raw.items") == [(100, 100)]
    # ten rows change (higher cursor), ten are new: merge keeps one row per id
    server.execute(f"UPDATE {server.q(table)} SET amount = 5, seq = 2 WHERE id <= 10")
    _insert(server, table, range(101, 111), seq=2, amount=7)
    res = cli("extract", "--project-dir", root)
    assert res.code == 0, res.out + res.err
    assert query(root, "select count(*), count(distinct id), sum(amount) from raw.items") == [
        (110, 110, 90 + 50 + 70)
    ]
    # nothing new: nothing changes
    before = query(root, "select count(*), sum(hash(t)) from raw.items t")
    assert cli("extract", "--project-dir", root).code == 0
    assert query(root, "select count(*), sum(hash(t)) from raw.items t") == before


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_load_resumes_exactly_once(
    make_project: Callable[..., Path], server: Server, table: str
) -> None:
    for seq in range(1, 41):  # 40 cursor values, 250 rows each: many small batches
        _insert(server, table, range(seq * 1000, seq * 1000 + 250), seq=seq)
    # append: a duplicate would show; only the cursor committed with each batch prevents it
    root = _project(make_project, server, table, chunk=250, disposition="append")
    trace = root / "trace.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "headwater", "extract", "--project-dir", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "HEADWATER_SQL_TRACE": str(trace)},
    )  # fmt: skip
    deadline = time.monotonic() + 90
    # kill once a few batches have committed (each batch's state write is traced before it runs)
    while not (
        trace.exists() and trace.read_text(encoding="utf-8").count("load_state VALUES") >= 5
    ):
        assert proc.poll() is None, "the load ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    res = subprocess.run(
        [sys.executable, "-m", "headwater", "extract", "--project-dir", str(root)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert query(root, "select count(*), count(distinct id) from raw.items") == [(10_000, 10_000)]


def test_a_full_extract_is_replace_and_all_or_nothing(
    make_project: Callable[..., Path], cli, server: Server, table: str
) -> None:
    """Without a cursor a retry reads everything again: a run that fails half-way must leave the
    table as it was, and the retry must load each row once."""
    _insert(server, table, range(1, 3001), seq=1)
    cfg = server.config
    fail_at = "CASE WHEN id = 2500 AND seq = 2 THEN (SELECT 1 UNION ALL SELECT 2) ELSE 0 END"
    sources = (
        "version: 2\nsources:\n  - name: app\n    schema: raw\n"
        f"    connector: {server.kind}\n"
        f"    connection: {{host: '{cfg['host']}', port: {cfg['port']}, user: {cfg['user']}, database: {cfg['database']}}}\n"
        "    tables:\n      - name: items\n"
        f"        extract: {{query: 'SELECT id, amount, seq, {fail_at} AS boom FROM {table} ORDER BY id', chunk_size: 500, load_rows: 500}}\n"
    )
    root = make_project({"sources.yml": sources}, name=f"full_{server.kind}_{table}")
    assert cli("extract", "--project-dir", root).code == 0
    assert query(root, "select count(*), count(distinct id) from raw.items") == [(3000, 3000)]
    server.execute(
        f"UPDATE {server.q(table)} SET seq = 2"
    )  # now row 2500 fails the query mid-stream
    res = cli("extract", "--project-dir", root)
    assert res.code == 1, res.out
    assert query(root, "select count(*), count(distinct id), max(seq) from raw.items") == [
        (3000, 3000, 1)
    ]
    server.execute(f"UPDATE {server.q(table)} SET seq = 3")
    assert cli("extract", "--project-dir", root).code == 0
    assert query(root, "select count(*), count(distinct id), max(seq) from raw.items") == [
        (3000, 3000, 3)
    ]
