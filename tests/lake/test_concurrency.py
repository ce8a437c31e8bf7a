"""Two writers on one Delta table: nothing lost, nothing doubled.

* **threads**: two `LakeTable.commit` calls from one base version, with real staged files written
  by DuckDB, released together by a barrier: exactly one commits, the other gets `LakeConflict`
  (creating the table, appending, and replacing the same file as a merge does);
* **processes**: two OS processes, each with its own project and warehouse (DuckDB locks a
  warehouse file per process) and one shared `location:`, run the same merge or append model
  round after round, released together by a barrier right before `Context.run`. Both succeed
  every round: the loser of a commit recomputes its change from the winner's version (the
  runner's `retrying`). The final table is checked against rows computed here, the Delta history
  against one commit per writer per round, and the test asserts that a conflict did happen and
  was retried (hooks in the worker processes count `LakeConflict` and the runner's attempts).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.engines.duckdb import DuckDBEngine
from headwater.lake import LakeConflict, LocalFiles, open_table
from headwater.lake.files import casted_select, scan_sql, write_files
from headwater.lake.storage import TableLocation
from headwater.lake.table import Change, LakeTable, Snapshot
from headwater.project.definition import Target
from tests.conftest import BASE_PROJECT
from tests.lake.racing import race

deltalake = pytest.importorskip("deltalake", reason="pip install -e '.[lake]' installs deltalake")


# -- threads: LakeTable.commit ---------------------------------------------------------------------
@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine(Target(name="dev", path=str(tmp_path / "w.duckdb")), str(tmp_path))
    eng.open()
    try:
        yield eng
    finally:
        eng.close()


def _stage(engine: DuckDBEngine, table: LakeTable, sql: str, **change: Any) -> Change:
    """``sql`` written as staged Parquet files by DuckDB, as the lake writer does."""
    files = LocalFiles(table, str(Path(engine.project_root) / "cache"))
    casted = casted_select(engine, sql, table.CASTS)
    schema = engine.fetch_arrow(f"select * from ({casted}) as q limit 0").schema
    staged = write_files(engine, casted, files.write_root, relative_to=files.write_root)
    return Change(staged, schema=schema, **change)


def _ids(engine: DuckDBEngine, table: LakeTable, snapshot: Snapshot) -> list[int]:
    """The version's ids as DuckDB reads exactly its files."""
    paths = LocalFiles(table, str(Path(engine.project_root) / "cache")).paths(snapshot.files)
    return sorted(
        int(r[0]) for r in engine.execute(f"select id from ({scan_sql(snapshot, paths)})")
    )


def _delta_ids(table: LakeTable) -> list[int]:
    """The current version as delta-rs reads it (an independent reader)."""
    data = deltalake.DeltaTable(table.location.uri).to_pyarrow_table()
    return sorted(data["id"].to_pylist())


def _ids_sql(ids: range) -> str:
    return f"select range::bigint as id from range({ids.start}, {ids.stop})"


def _table(tmp_path: Path) -> tuple[TableLocation, Callable[[], LakeTable]]:
    location = TableLocation.parse("lake/t", tmp_path)
    return location, lambda: open_table("delta", location, "t")


def _winner(table: LakeTable, version: int, changes: list[Change]) -> Change:
    """The change whose files make up ``version``."""
    snap = table.snapshot(version=version)
    assert snap is not None
    paths = {f.path for f in snap.files}
    (change,) = [c for c in changes if {f.path for f in c.adds} <= paths]
    return change


CREATE_ROUNDS = 20


def test_two_writers_creating_the_table_exactly_one_wins(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    """Round after round, two writers create a new table at once: exactly one creates it, the
    other gets `LakeConflict`, and the table holds only the winner's rows."""
    for n in range(CREATE_ROUNDS):
        location = TableLocation.parse(f"lake/t{n}", tmp_path)

        def fresh(location: TableLocation = location) -> LakeTable:
            return open_table("delta", location, "t")

        a = _stage(engine, fresh(), _ids_sql(range(0, 5)))
        b = _stage(engine, fresh(), _ids_sql(range(100, 107)))
        won, lost = race(
            [
                lambda a=a, f=fresh: f().commit(a, None, ()),
                lambda b=b, f=fresh: f().commit(b, None, ()),
            ]
        )
        assert won == [0] and len(lost) == 1 and isinstance(lost[0], LakeConflict), (n, won, lost)
        table = fresh()
        winner = _winner(table, 0, [a, b])
        assert _delta_ids(table) == (list(range(0, 5)) if winner is a else list(range(100, 107)))
        assert len(table.history()) == 1


@pytest.mark.parametrize("round_", range(5))
def test_two_appends_from_one_base_exactly_one_wins(
    engine: DuckDBEngine, tmp_path: Path, round_: int
) -> None:
    _location, fresh = _table(tmp_path)
    table = fresh()
    table.commit(_stage(engine, table, _ids_sql(range(0, 10))), None, ())
    base = table.snapshot()
    assert base is not None
    a = _stage(engine, table, _ids_sql(range(100, 103)), operation="APPEND")
    b = _stage(engine, table, _ids_sql(range(200, 204)), operation="APPEND")
    won, lost = race([lambda: fresh().commit(a, base, ()), lambda: fresh().commit(b, base, ())])
    assert won == [1]
    assert len(lost) == 1 and isinstance(lost[0], LakeConflict), lost
    assert "after version 0" in str(lost[0])
    winner = _winner(table, 1, [a, b])
    expected = sorted([*range(0, 10), *(range(100, 103) if winner is a else range(200, 204))])
    current = table.snapshot()
    assert current is not None and current.version == 1
    assert _ids(engine, table, current) == expected == _delta_ids(table)
    # the loser can commit once it has recomputed from the winner's version
    loser = b if winner is a else a
    assert fresh().commit(loser, current, ()) == 2
    assert _delta_ids(table) == sorted([*range(0, 10), *range(100, 103), *range(200, 204)])


def test_two_rewrites_of_one_file_exactly_one_wins(engine: DuckDBEngine, tmp_path: Path) -> None:
    """Both writers replace the same file (as a merge rewrites the files holding its keys): had
    both commits gone through, the kept rows would be there twice."""
    _location, fresh = _table(tmp_path)
    table = fresh()
    table.commit(_stage(engine, table, _ids_sql(range(0, 10))), None, ())
    base = table.snapshot()
    assert base is not None and len(base.files) == 1
    # writer a drops id 0 and adds 100; writer b drops id 1 and adds 200: each keeps the rest
    a = _stage(engine, table, "select id from range(1, 10) t(id) union all select 100",
               removes=base.files, operation="MERGE")  # fmt: skip
    b = _stage(engine, table, "select id from range(0, 10) t(id) where id <> 1 union all select 200",
               removes=base.files, operation="MERGE")  # fmt: skip
    won, lost = race([lambda: fresh().commit(a, base, ()), lambda: fresh().commit(b, base, ())])
    assert won == [1]
    assert len(lost) == 1 and isinstance(lost[0], LakeConflict), lost
    winner = _winner(table, 1, [a, b])
    expected = [*range(1, 10), 100] if winner is a else [0, *range(2, 10), 200]
    current = table.snapshot()
    assert current is not None
    assert _ids(engine, table, current) == sorted(expected) == _delta_ids(table)


# -- processes: two projects, one table ------------------------------------------------------------
KEYS = 50
ROUNDS = 4
START_TIMEOUT = 120.0

MERGE = """\
{{{{ config(materialized='delta', location='{location}', incremental_strategy='merge',
            unique_key='id') }}}}
{{% set writers = [1, 2] if var('writer') == 0 else [var('writer')] %}}
select (w * 1000 + i)::bigint as id, {{{{ var('round') }}}}::bigint as round, w::bigint as writer
from range({keys}) as r(i), (select unnest({{{{ writers }}}}) as w) as ws
"""
"""Writer w upserts its keys w*1000+i with the round number; writer 0 (the setup) writes the keys
of both, so the first file holds both writers' rows and every merge rewrites rows of the other
writer too: a lost update would show as a stale round, a doubled commit as a repeated id."""

APPEND = """\
{{{{ config(materialized='delta', location='{location}', incremental_strategy='append') }}}}
{{% set writers = [1, 2] if var('writer') == 0 else [var('writer')] %}}
select (w * 1000000 + {{{{ var('round') }}}} * 1000 + i)::bigint as id,
       {{{{ var('round') }}}}::bigint as round, w::bigint as writer
from range({keys}) as r(i), (select unnest({{{{ writers }}}}) as w) as ws
"""
"""Writer w appends new ids each round: a lost commit would show as missing ids, a commit
applied twice as repeated ids."""


def _expected(strategy: str, rounds: int) -> list[tuple[int, int, int]]:
    """(id, round, writer) of the final table, computed here."""
    rows: dict[int, tuple[int, int, int]] = {}
    for n in range(rounds + 1):
        for w in (1, 2):
            for i in range(KEYS):
                key = w * 1000 + i if strategy == "merge" else w * 1_000_000 + n * 1000 + i
                rows[key] = (key, n, w)
    return sorted(rows.values())


def _writer_process(
    root: str, writer: int, rounds: int, barrier: Any, results: Any
) -> None:  # pragma: no cover - runs in a child process
    """One writer: per round, open its project, wait for the other writer, run `m`."""
    import headwater.runner.executor as executor
    from headwater.context import Context
    from headwater.lake.delta import DeltaLakeTable

    conflicts: list[str] = []
    attempts: list[int] = []
    commit = DeltaLakeTable.commit

    def counting_commit(self: Any, change: Any, base: Any, partition_by: Any) -> int:
        try:
            return commit(self, change, base, partition_by)
        except LakeConflict as exc:
            conflicts.append(str(exc))
            raise

    retrying = executor.retrying

    def counting_retrying(action: Any, engine: Any, **kw: Any) -> Any:
        told = kw.get("tried")

        def tried(n: int) -> None:
            attempts.append(n)
            if told is not None:
                told(n)

        return retrying(action, engine, **{**kw, "tried": tried})

    DeltaLakeTable.commit = counting_commit  # type: ignore[method-assign]
    executor.retrying = counting_retrying  # type: ignore[assignment]
    for n in range(1, rounds + 1):
        before_conflicts, before_attempts = len(conflicts), len(attempts)
        with Context(root, vars={"writer": writer, "round": n}) as ctx:
            _ = ctx.graph, ctx.engine  # parse, compile, open the warehouse before the signal
            barrier.wait(timeout=START_TIMEOUT)
            result = ctx.run(select=["m"])
        (unit,) = [r for r in result.results if r.name == "m"]
        results.put({
            "writer": writer, "round": n, "exit_code": result.exit_code, "status": unit.status,
            "message": unit.message, "conflicts": len(conflicts) - before_conflicts,
            "attempts": max([*attempts[before_attempts:], unit.attempts], default=0),
        })  # fmt: skip


def _project(make_project: Callable[..., Path], name: str, model: str) -> Path:
    return make_project({"models/m.sql": model}, BASE_PROJECT, name=name)


@pytest.mark.parametrize("strategy", ["merge", "append"])
def test_two_processes_write_one_table_nothing_lost_or_doubled(
    make_project: Callable[..., Path], tmp_path: Path, strategy: str
) -> None:
    from headwater.context import Context

    shared = tmp_path / "shared" / "m"
    model = (MERGE if strategy == "merge" else APPEND).format(location=shared, keys=KEYS)
    roots = [_project(make_project, f"writer{w}", model) for w in (1, 2)]
    with Context(roots[0], vars={"writer": 0, "round": 0}) as ctx:  # both writers' keys
        assert ctx.run(select=["m"]).exit_code == 0

    spawn = multiprocessing.get_context("spawn")  # no forked DuckDB or thread state
    barrier = spawn.Barrier(2)
    results = spawn.Queue()
    procs = [
        spawn.Process(target=_writer_process, args=(str(roots[w - 1]), w, ROUNDS, barrier, results))
        for w in (1, 2)
    ]
    for p in procs:
        p.start()
    reports = [results.get(timeout=300) for _ in range(2 * ROUNDS)]
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert all(r["exit_code"] == 0 and r["status"] == "success" for r in reports), reports

    # nothing lost, nothing doubled: the final table is what the rounds add up to
    table = deltalake.DeltaTable(str(shared))
    rows = sorted(tuple(r.values()) for r in table.to_pyarrow_table().to_pylist())
    assert rows == _expected(strategy, ROUNDS)
    # one commit per writer per round, after the setup's: no commit was lost or made twice
    history = table.history()
    assert len(history) == 1 + 2 * ROUNDS
    assert table.version() == 2 * ROUNDS
    # ... and the writers did collide: a commit was refused and the build ran again
    conflicts = sum(r["conflicts"] for r in reports)
    assert conflicts >= 1, reports
    assert max(r["attempts"] for r in reports) >= 2, reports
    # a retried build reports success after its conflict, and its attempt count says so
    assert all(r["attempts"] >= 1 + r["conflicts"] for r in reports), reports
