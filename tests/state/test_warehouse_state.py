"""`state: warehouse`: the interval ledger and backfill plans of a PostgreSQL target live in its
database, so that two machines sharing the target agree on them (real server at 127.0.0.1:5432,
database `test`; each test uses its own state schema and target schema, dropped after)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.engines import create_engine
from headwater.errors import ConfigError, LockError
from headwater.project.definition import ProjectConfig, Target
from headwater.state import open_state_store
from headwater.state.store import StateStore, StateStoreError
from headwater.state.warehouse import STATE_SCHEMA, WAREHOUSE_SCHEMA_VERSION, WarehouseStateStore
from tests.engines.conftest import pg_settings, require

TIMES = ("built_at", "created_at", "finished_at")  # wall-clock columns, compared apart


def _pg() -> Any:
    import psycopg

    s = pg_settings()
    return psycopg.connect(
        host=str(s["host"]),
        port=int(s["port"]),
        user=str(s["user"]),
        dbname=str(s["database"]),
        autocommit=True,
    )


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    """(state schema, target schema), both fresh; dropped afterwards."""
    require("postgres")
    suffix = uuid.uuid4().hex[:10]
    state_schema, target_schema = f"hwst_{suffix}", f"hwts_{suffix}"
    yield state_schema, target_schema
    with _pg() as conn:
        for schema in (state_schema, target_schema):
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pg_target(schema: str, **extra: Any) -> Target:
    return Target(
        name="pg",
        engine="postgres",
        schema=schema,
        state="warehouse",
        settings=dict(pg_settings()),
        **extra,
    )


@pytest.fixture
def machines(
    names: tuple[str, str], tmp_path: Path
) -> Iterator[Callable[..., WarehouseStateStore]]:
    """``machine(n)``: a store with its own state folder (another machine), sharing the target."""
    state_schema, target_schema = names
    opened: list[WarehouseStateStore] = []

    def machine(n: int, target_schema: str = target_schema) -> WarehouseStateStore:
        folder = tmp_path / f"machine{n}"
        folder.mkdir(exist_ok=True)
        store = WarehouseStateStore(
            folder / "state.db", pg_target(target_schema), str(folder), schema=state_schema
        )
        opened.append(store)
        return store

    yield machine
    for store in opened:
        store.close()


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in TIMES} for r in rows]


def _exercise(store: StateStore) -> None:
    """The same ledger and plan operations, for any store."""
    store.record_interval(
        "model.t.fct", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "success", 10, "inv1", 0.5
    )
    store.record_interval(
        "model.t.fct",
        "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00Z",
        "error",
        None,
        "inv1",
        0.1,
        "boom 100%",
    )
    store.record_interval(
        "model.t.fct", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "success", 7, "inv2", 0.2
    )
    store.record_interval(
        "model.t.other",
        "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00Z",
        "fail",
        0,
        "inv2",
        0.2,
        "audit",
    )
    items = [
        ("model.t.fct", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z"),
        ("model.t.Zeta", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("model.t.fct", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
    ]
    store.create_backfill("bf-1", "fct+", "2026-01-01", "2026-01-04", "all", items)
    store.update_backfill_item("bf-1", "model.t.fct", "2026-01-01T00:00:00Z", "success", 1, 7, "")
    store.create_backfill("bf-2", "other", "2026-01-01", "2026-01-02", "missing", [])
    store.finish_backfill("bf-2", "success")


def _snapshot(store: StateStore) -> dict[str, Any]:
    return {
        "fct": _plain(store.intervals("model.t.fct")),
        "other": _plain(store.intervals("model.t.other")),
        "running": _plain(store.backfills("running")),
        "all": [b["backfill_id"] for b in store.backfills()],
        "items": _plain(store.backfill_items("bf-1")),
    }


def test_two_machines_see_one_ledger_and_plan_like_sqlite(
    machines: Callable[..., WarehouseStateStore], tmp_path: Path
) -> None:
    a, b = machines(1), machines(2)
    _exercise(a)
    local = StateStore(tmp_path / "sqlite.db")
    _exercise(local)
    expected = _snapshot(local)
    local.close()
    assert _snapshot(b) == expected  # same rows, same order, same types as SQLite
    assert [r["status"] for r in expected["fct"]] == ["success", "success"] and expected["items"][
        0
    ]["unique_id"] == "model.t.Zeta"
    b.forget_intervals("model.t.fct")
    assert a.intervals("model.t.fct") == [] and len(a.intervals("model.t.other")) == 1
    assert a.warning is None and b.warning is None
    # nothing of it went to the machines' local files
    assert a.read("SELECT count(*) AS n FROM intervals") == [{"n": 0}]


def test_each_target_schema_keeps_its_own_ledger(
    machines: Callable[..., WarehouseStateStore], names: tuple[str, str]
) -> None:
    prod, dev = machines(1), machines(2, target_schema=names[1] + "_dev")
    prod.record_interval("model.t.fct", "2026-01-01", "2026-01-02", "success", 1, "i", 0.1)
    dev.create_backfill(
        "bf",
        "fct",
        "2026-01-01",
        "2026-01-02",
        "all",
        [("model.t.fct", "2026-01-01", "2026-01-02")],
    )
    assert dev.intervals("model.t.fct") == [] and prod.backfills() == []
    assert len(machines(3).intervals("model.t.fct")) == 1  # same database and schema: shared


def test_concurrent_writers_lose_nothing(machines: Callable[..., WarehouseStateStore]) -> None:
    stores = [machines(1), machines(2)]
    per_writer = 40
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def write(store: WarehouseStateStore, writer: int) -> None:
        try:
            start.wait()
            for i in range(per_writer):
                day = f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}"
                # every writer also upserts the interval every other writer upserts
                store.record_interval("model.t.fct", day, day, "success", i, f"w{writer}", 0.0)
                store.record_interval(
                    "model.t.fct", f"w{writer}-{i:03d}", "x", "success", i, f"w{writer}", 0.0
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(stores[w % 2], w)) for w in range(4)
    ]  # 2 threads per store
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [s.warning for s in stores] == [None, None]
    ledger = stores[0].intervals("model.t.fct")
    own = [r["interval_start"] for r in ledger if r["interval_start"].startswith("w")]
    assert sorted(own) == sorted(f"w{w}-{i:03d}" for w in range(4) for i in range(per_writer))
    shared = [r for r in ledger if r["interval_start"].startswith("2026")]
    assert len(shared) == per_writer and {r["invocation_id"] for r in shared} <= {
        "w0",
        "w1",
        "w2",
        "w3",
    }


def test_schema_created_on_first_use_and_newer_version_refused(
    names: tuple[str, str], tmp_path: Path
) -> None:
    state_schema, target_schema = names
    with _pg() as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", [state_schema]
        ).fetchone() == (0,)
    store = WarehouseStateStore(
        tmp_path / "state.db", pg_target(target_schema), str(tmp_path), schema=state_schema
    )
    store.close()
    with _pg() as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
            [state_schema],
        ).fetchall()
        assert [t for (t,) in tables] == ["backfill_intervals", "backfills", "intervals", "meta"]
        conn.execute(
            f"UPDATE \"{state_schema}\".meta SET value = %s WHERE key = 'schema_version'",
            [str(WAREHOUSE_SCHEMA_VERSION + 1)],
        )
    with pytest.raises(ConfigError, match="newer headwater"):
        WarehouseStateStore(
            tmp_path / "state.db", pg_target(target_schema), str(tmp_path), schema=state_schema
        )


def test_ledger_is_not_rolled_back_with_the_build_and_ignores_the_build_lock(
    names: tuple[str, str], tmp_path: Path
) -> None:
    state_schema, target_schema = names
    build = create_engine(pg_target(target_schema), str(tmp_path))
    build.open()  # holds the target's build lock
    try:
        other = create_engine(pg_target(target_schema), str(tmp_path))
        with pytest.raises(LockError):  # a second build waits for (here: refuses) the lock...
            other.open()
        other.close()
        # ...the state store does not take it
        store = WarehouseStateStore(
            tmp_path / "state.db", pg_target(target_schema), str(tmp_path), schema=state_schema
        )
        build.execute("BEGIN")
        store.record_interval("model.t.fct", "2026-01-01", "2026-01-02", "success", 3, "i", 0.1)
        build.execute("ROLLBACK")  # an audit failed: the build's transaction rolls back
        assert [r["rows"] for r in store.intervals("model.t.fct")] == [3]
        store.close()
    finally:
        build.close()


def test_a_lost_connection_is_reopened(machines: Callable[..., WarehouseStateStore]) -> None:
    store = machines(1)
    pid = store._engine.execute("SELECT pg_backend_pid()")[0][0]
    with _pg() as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
    store.record_interval("model.t.fct", "2026-01-01", "2026-01-02", "success", 3, "i", 0.1)
    assert store.warning is None
    assert [r["rows"] for r in machines(2).intervals("model.t.fct")] == [3]


def test_a_failed_ledger_write_warns_and_keeps_the_history(
    machines: Callable[..., WarehouseStateStore], names: tuple[str, str]
) -> None:
    store = machines(1)
    with _pg() as conn:
        conn.execute(f'DROP TABLE "{names[0]}".intervals')
    store.record_interval("model.t.fct", "2026-01-01", "2026-01-02", "success", 3, "i", 0.1)
    assert (
        store.warning is not None
        and "interval ledger" in store.warning
        and "built again" in store.warning
    )
    store.start_invocation("inv", "build", {}, "pg")  # the local history is still written
    store.record_node(
        "inv",
        {"unique_id": "model.t.fct", "name": "fct", "resource_type": "model", "status": "success"},
    )
    store.finish_invocation("inv", "success", {})
    assert store.read("SELECT status FROM node_runs") == [{"status": "success"}]
    assert store.read("SELECT status FROM invocations") == [{"status": "success"}]
    with pytest.raises(StateStoreError, match="interval ledger"):
        store.forget_intervals("model.t.fct")
    with pytest.raises(StateStoreError, match="read the state"):
        store.intervals("model.t.fct")


# -- open_state_store --------------------------------------------------------------------------------
def test_default_is_the_sqlite_store(tmp_path: Path) -> None:
    config = ProjectConfig(name="t", root=str(tmp_path), state_dir="state_here")
    target = Target(name="dev", path=str(tmp_path / "w.duckdb"))
    store = open_state_store(config, target, tmp_path)
    try:
        assert type(store) is StateStore and store.path == tmp_path / "state_here" / "state.db"
        store.record_interval("model.t.fct", "2026-01-01", "2026-01-02", "success", 3, "i", 0.1)
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


def test_warehouse_state_on_postgres_uses_headwater_state(
    names: tuple[str, str], tmp_path: Path
) -> None:
    target_schema = names[1]
    store = open_state_store(
        ProjectConfig(name="t", root=str(tmp_path)), pg_target(target_schema), tmp_path
    )
    try:
        assert (
            isinstance(store, WarehouseStateStore)
            and store.schema == STATE_SCHEMA == "headwater_state"
        )
        assert store.path == tmp_path / ".headwater" / "state.db"
        store.record_interval("model.t.fct", "2026-01-01", "2026-01-02", "success", 3, "i", 0.1)
        with _pg() as conn:
            rows = conn.execute(
                "SELECT unique_id, rows FROM headwater_state.intervals WHERE target_schema = %s",
                [target_schema],
            ).fetchall()
        assert rows == [("model.t.fct", 3)]
    finally:
        store.close()
        with _pg() as conn:  # the shared schema stays: only this test's rows go
            for table in ("intervals", "backfills", "backfill_intervals"):
                conn.execute(
                    f"DELETE FROM headwater_state.{table} WHERE target_schema = %s", [target_schema]
                )
