"""`state: warehouse`: every repository of a PostgreSQL target's state lives in its database, so
that machines sharing the target share one ledger and one history (real server at
127.0.0.1:5432, database `test`; each test uses its own state schema and target schema, dropped
after). What both backends do alike is in test_repositories.py; here, what only the warehouse
does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from headwater.engines import create_engine
from headwater.errors import ConfigError, LockError
from headwater.project.definition import ProjectConfig, Target
from headwater.state import open_state_store
from headwater.state.base import TABLES
from headwater.state.records import MetricValue, NodeRun
from headwater.state.sqlite import SQLiteStateStore
from headwater.state.warehouse import STATE_SCHEMA, WAREHOUSE_SCHEMA_VERSION, WarehouseStateStore
from tests.state.conftest import Stores, pg_connect, pg_target


def test_two_machines_share_one_history(warehouse: Stores) -> None:
    a, b = warehouse.open(1), warehouse.open(2)
    a.runs.start("inv", "build", {}, "pg")
    a.runs.record_node(
        NodeRun.of(
            "inv",
            {"unique_id": "model.t.m", "name": "m", "resource_type": "model", "status": "success"},
        )
    )
    a.runs.finish("inv", "success", {"units": 1})
    assert [(i.invocation_id, i.status) for i in b.runs.recent()] == [("inv", "success")]
    assert [r.unique_id for r in b.runs.node_runs("inv")] == ["model.t.m"]
    # nothing of it is in the machines' state folders: no SQLite file at all
    assert not (warehouse.tmp_path / "machine1" / "state.db").exists()
    assert not (warehouse.tmp_path / "machine2" / "state.db").exists()


def test_each_target_schema_keeps_its_own_state(warehouse: Stores) -> None:
    prod, dev = warehouse.open(1), warehouse.open(2, target_schema=warehouse.target_schema + "_dev")
    prod.intervals.record("model.t.fct", "2026-01-01", "2026-01-02", "success", 1, "i", 0.1)
    prod.runs.start("prod-run", "build", {}, "pg")
    dev.backfills.create(
        "bf",
        "fct",
        "2026-01-01",
        "2026-01-02",
        "all",
        [("model.t.fct", "2026-01-01", "2026-01-02")],
    )
    assert dev.intervals.for_node("model.t.fct") == [] and prod.backfills.plans() == []
    assert dev.runs.recent() == [] and [i.invocation_id for i in prod.runs.recent()] == ["prod-run"]
    assert len(warehouse.open(3).intervals.for_node("model.t.fct")) == 1  # same schema: shared


def test_another_machines_running_invocation_is_left_alone(warehouse: Stores) -> None:
    a = warehouse.open(1)
    a.runs.start("on-a", "build", {}, "pg")
    b = warehouse.open(2)  # no lock file of `on-a` here: not b's to judge
    assert b.runs.reap_dead() == []
    running = b.runs.get("on-a")
    assert running is not None and running.status == "running"


def test_schema_created_on_first_use_and_newer_version_refused(warehouse: Stores) -> None:
    state_schema = warehouse.state_schema
    with pg_connect() as conn:
        found = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [state_schema])
        assert found.fetchone() == (0,)
    warehouse.open().close()
    with pg_connect() as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
            [state_schema],
        ).fetchall()
        assert [t for (t,) in tables] == sorted(["meta", *(t.name for t in TABLES)])
        conn.execute(
            f"UPDATE \"{state_schema}\".meta SET value = %s WHERE key = 'schema_version'",
            [str(WAREHOUSE_SCHEMA_VERSION + 1)],
        )
    with pytest.raises(ConfigError, match="newer headwater"):
        warehouse.open()


# The tables of the first `state: warehouse` (schema version 1: the ledger and backfill plans).
_VERSION_1 = (
    "CREATE TABLE {s}.meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE {s}.intervals (target_schema TEXT NOT NULL, unique_id TEXT NOT NULL, "
    "interval_start TEXT NOT NULL, interval_end TEXT NOT NULL, status TEXT NOT NULL, rows BIGINT, invocation_id TEXT, "
    "built_at DOUBLE PRECISION, duration DOUBLE PRECISION, message TEXT, "
    "PRIMARY KEY (target_schema, unique_id, interval_start))",
    "CREATE TABLE {s}.backfills (target_schema TEXT NOT NULL, backfill_id TEXT NOT NULL, "
    "created_at DOUBLE PRECISION NOT NULL, selection TEXT, start TEXT NOT NULL, end_ TEXT NOT NULL, rerun TEXT NOT NULL, "
    "status TEXT NOT NULL, finished_at DOUBLE PRECISION, PRIMARY KEY (target_schema, backfill_id))",
    "CREATE TABLE {s}.backfill_intervals (target_schema TEXT NOT NULL, backfill_id TEXT NOT NULL, "
    "unique_id TEXT NOT NULL, interval_start TEXT NOT NULL, interval_end TEXT NOT NULL, status TEXT NOT NULL, "
    "attempts INTEGER NOT NULL DEFAULT 0, rows BIGINT, message TEXT, "
    "PRIMARY KEY (target_schema, backfill_id, unique_id, interval_start))",
    "INSERT INTO {s}.meta VALUES ('schema_version', '1')",
)


def test_a_version_1_warehouse_state_keeps_its_ledger_and_gains_the_history(
    warehouse: Stores,
) -> None:
    s, scope = f'"{warehouse.state_schema}"', warehouse.target_schema
    with pg_connect() as conn:
        conn.execute(f"CREATE SCHEMA {s}")
        for statement in _VERSION_1:
            conn.execute(statement.format(s=s))
        conn.execute(
            f"INSERT INTO {s}.intervals VALUES (%s, 'model.t.fct', 'a', 'b', 'success', 3, 'old', 1.0, 0.1, '')",
            [scope],
        )
    store = warehouse.open()
    assert [
        (i.interval_start, i.rows, i.invocation_id) for i in store.intervals.for_node("model.t.fct")
    ] == [("a", 3, "old")]
    store.runs.start("inv", "build", {}, "pg")
    store.runs.finish("inv", "success", {})
    assert [i.status for i in store.runs.recent()] == ["success"] and store.warning is None
    with pg_connect() as conn:
        row = conn.execute(f"SELECT value FROM {s}.meta WHERE key = 'schema_version'").fetchone()
    assert row == (str(WAREHOUSE_SCHEMA_VERSION),)


def test_ledger_is_not_rolled_back_with_the_build_and_ignores_the_build_lock(
    warehouse: Stores,
) -> None:
    target = pg_target(warehouse.target_schema)
    build = create_engine(target, str(warehouse.tmp_path))
    build.open()  # holds the target's build lock
    try:
        other = create_engine(target, str(warehouse.tmp_path))
        with pytest.raises(LockError):  # a second build waits for (here: refuses) the lock...
            other.open()
        other.close()
        store = warehouse.open()  # ...the state store does not take it
        build.execute("BEGIN")
        store.intervals.record("model.t.fct", "2026-01-01", "2026-01-02", "success", 3, "i", 0.1)
        build.execute("ROLLBACK")  # an audit failed: the build's transaction rolls back
        assert [i.rows for i in store.intervals.for_node("model.t.fct")] == [3]
    finally:
        build.close()


def test_a_lost_connection_is_reopened(warehouse: Stores) -> None:
    store = warehouse.open(1)
    assert isinstance(store, WarehouseStateStore)
    pid = store._warehouse._run(lambda conn: conn.execute("SELECT pg_backend_pid()").fetchone()[0])
    with pg_connect() as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
    store.intervals.record("model.t.fct", "2026-01-01", "2026-01-02", "success", 3, "i", 0.1)
    assert store.warning is None
    assert [i.rows for i in warehouse.open(2).intervals.for_node("model.t.fct")] == [3]


def test_a_failed_ledger_write_keeps_the_history_and_the_reverse(warehouse: Stores) -> None:
    store = warehouse.open()
    warehouse.break_table("intervals")
    store.intervals.record("model.t.fct", "2026-01-01", "2026-01-02", "success", 3, "i", 0.1)
    assert (
        store.warning is not None
        and "interval ledger" in store.warning
        and "built again" in store.warning
    )
    store.runs.start("inv", "build", {}, "pg")  # the history is still written
    store.runs.record_node(
        NodeRun.of(
            "inv",
            {
                "unique_id": "model.t.fct",
                "name": "fct",
                "resource_type": "model",
                "status": "success",
            },
        )
    )
    store.runs.finish("inv", "success", {})
    assert [r.status for r in store.runs.node_runs("inv")] == ["success"]
    # a failed history write skips the rest of the history, not the ledger
    warehouse.break_table("node_metrics")
    store.metrics.record([MetricValue("inv", "model.t.fct", time.time(), "row_count", "", 1.0)])
    assert "run history could not be saved" in (store.warning or "")
    store.backfills.create("bf", "fct", "a", "b", "all", [])
    store.backfills.finish("bf", "success")
    assert [b.status for b in store.backfills.plans()] == ["success"]


# -- open_state_store --------------------------------------------------------------------------------
def test_default_is_the_sqlite_store(tmp_path: Path) -> None:
    config = ProjectConfig(name="t", root=str(tmp_path), state_dir="state_here")
    target = Target(name="dev", path=str(tmp_path / "w.duckdb"))
    store = open_state_store(config, target, tmp_path)
    try:
        assert (
            type(store) is SQLiteStateStore and store.path == tmp_path / "state_here" / "state.db"
        )
        store.intervals.record("model.t.fct", "2026-01-01", "2026-01-02", "success", 3, "i", 0.1)
        assert [r["rows"] for r in store.read("SELECT rows FROM intervals")] == [3]
    finally:
        store.close()
    assert (tmp_path / "state_here" / "state.db").stat().st_mode & 0o077 == 0


def test_warehouse_state_on_duckdb_or_unknown_is_a_config_error(tmp_path: Path) -> None:
    config = ProjectConfig(name="t", root=str(tmp_path))
    duck = Target(name="dev", path=str(tmp_path / "w.duckdb"), state="warehouse")
    with pytest.raises(ConfigError, match="server engine"):
        open_state_store(config, duck, tmp_path)
    with pytest.raises(ConfigError, match="unknown `state: files`"):
        open_state_store(config, Target(name="dev", state="files"), tmp_path)


def test_warehouse_state_on_postgres_uses_headwater_state(warehouse: Stores) -> None:
    target_schema, root = warehouse.target_schema, warehouse.tmp_path
    store = open_state_store(
        ProjectConfig(name="t", root=str(root)), pg_target(target_schema), root
    )
    try:
        assert (
            isinstance(store, WarehouseStateStore)
            and store.schema == STATE_SCHEMA == "headwater_state"
        )
        assert store.path == root / ".headwater" / "state.db"
        store.intervals.record("model.t.fct", "2026-01-01", "2026-01-02", "success", 3, "i", 0.1)
        with pg_connect() as conn:
            rows = conn.execute(
                "SELECT unique_id, rows FROM headwater_state.intervals WHERE target_schema = %s",
                [target_schema],
            ).fetchall()
        assert rows == [("model.t.fct", 3)]
    finally:
        store.close()
        with pg_connect() as conn:  # the shared schema stays: only this test's rows go
            for table in TABLES:
                conn.execute(
                    f"DELETE FROM headwater_state.{table.name} WHERE target_schema = %s",
                    [target_schema],
                )
