"""What only the PostgreSQL engine has: the advisory build lock, connection errors that name the
target and hide the password, transient errors, cancelling a running statement."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from headwater.engines import create_engine
from headwater.engines.base import Engine
from headwater.errors import ConfigError, LockError, SQLExecutionError
from headwater.project.definition import Relation, Target
from tests.engines.conftest import pg_settings, require, target_for


@pytest.fixture(autouse=True)
def _server() -> None:
    require("postgres")


def _engine(schema: str, root: Path, **changes: object) -> Engine:
    target = target_for("postgres", schema, root)
    for key, value in changes.items():
        setattr(target, key, value)
    return create_engine(target, str(root))


def test_a_second_build_of_the_same_target_waits_for_the_advisory_lock(
    schema_name: str, tmp_path: Path
) -> None:
    first = _engine(schema_name, tmp_path)
    first.open()
    try:
        second = _engine(schema_name, tmp_path)
        with pytest.raises(LockError, match="being built by another headwater run"):
            second.open()
        reader = _engine(schema_name, tmp_path)
        reader.read_only = True
        reader.open()  # readers never wait for builders
        assert reader.execute("SELECT 1") == [(1,)]
        reader.close()
        other_schema = _engine(schema_name + "_other", tmp_path)
        other_schema.open()  # another schema of the same database is another target
        other_schema.close()
    finally:
        first.close()
    again = _engine(schema_name, tmp_path)
    again.open()  # released with the first run's session
    again.close()


def test_lock_timeout_waits_for_the_other_run(schema_name: str, tmp_path: Path) -> None:
    first = _engine(schema_name, tmp_path)
    first.open()
    released = threading.Event()

    def finish_first() -> None:
        released.wait(30)
        first.close()

    t = threading.Thread(target=finish_first)
    t.start()
    second = _engine(schema_name, tmp_path, lock_timeout=30.0)
    released.set()
    started = time.monotonic()
    second.open()
    assert time.monotonic() - started < 30
    second.close()
    t.join()


def test_read_only_engine_cannot_write(schema_name: str, tmp_path: Path) -> None:
    eng = _engine(schema_name, tmp_path)
    eng.read_only = True
    eng.open()
    with pytest.raises(SQLExecutionError, match="read-only"):
        eng.execute(f'CREATE SCHEMA "{schema_name}"')
    eng.close()


def test_connection_errors_name_the_target_and_mask_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW_PG_TEST_PASSWORD", "s3cr3t-Value-42")
    s = pg_settings()
    target = Target(
        name="shared",
        engine="postgres",
        schema="x",
        settings={**s, "user": "no_such_user_hw", "port": s["port"]},
    )
    target.password_env = "HW_PG_TEST_PASSWORD"  # type: ignore[attr-defined]
    eng = create_engine(target, str(tmp_path))
    with pytest.raises(ConfigError) as info:
        eng.open()
    text = str(info.value) + (info.value.hint or "")
    assert "target `shared`" in text and "no_such_user_hw" in text and "s3cr3t-Value-42" not in text


def test_a_missing_password_variable_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HW_PG_UNSET_PASSWORD", raising=False)
    target = Target(name="pg", engine="postgres", settings=pg_settings())
    target.password_env = "HW_PG_UNSET_PASSWORD"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="HW_PG_UNSET_PASSWORD"):
        create_engine(target, str(tmp_path)).open()


def test_serialization_failures_are_transient(schema_name: str, tmp_path: Path) -> None:
    eng = _engine(schema_name, tmp_path)
    eng.open()
    eng.ensure_schema(schema_name)
    try:
        with pytest.raises(SQLExecutionError) as info:
            eng.execute(
                "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'could not serialize'; END $$"
            )
        assert eng.is_transient(info.value)
        with pytest.raises(SQLExecutionError) as info:
            eng.execute("SELECT 1 / 0")
        assert not eng.is_transient(info.value)
    finally:
        eng.close()


def test_interrupt_cancels_a_running_statement(schema_name: str, tmp_path: Path) -> None:
    eng = _engine(schema_name, tmp_path)
    eng.open()
    watcher = _engine(schema_name, tmp_path)
    watcher.read_only = True
    outcome: dict[str, BaseException] = {}

    def slow() -> None:
        try:
            eng.execute("SELECT pg_sleep(60)")
        except BaseException as exc:
            outcome["exc"] = exc

    t = threading.Thread(target=slow)
    t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the server runs it, then cancel it
        if watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'"
        )[0][0]:
            break
    eng.interrupt()
    t.join(30)
    assert not t.is_alive() and isinstance(outcome.get("exc"), KeyboardInterrupt)
    eng.close()
    watcher.close()


def test_dependent_views_survive_a_publish_and_a_broken_one_is_dropped(
    schema_name: str, tmp_path: Path
) -> None:
    eng = _engine(schema_name, tmp_path)
    eng.open()
    eng.ensure_schema(schema_name)
    q = f'"{schema_name}"'
    try:
        base = Relation(schema_name, "base")
        eng.create_or_replace(base, "select 1 as id, 'a' as name", "table")
        eng.create_or_replace(Relation(schema_name, "v1"), f"select id from {q}.base", "view")
        eng.create_or_replace(
            Relation(schema_name, "v2"), f"select id * 2 as id2 from {q}.v1", "view"
        )
        eng.create_or_replace(Relation(schema_name, "v_name"), f"select name from {q}.base", "view")
        eng.create_or_replace(
            base, "select 5 as id", "table"
        )  # `name` is gone: v_name cannot be recreated
        assert eng.execute(f"select id2 from {q}.v2") == [(10,)]
        eng.invalidate_catalog()
        assert eng.relation_kind(Relation(schema_name, "v_name")) is None
        assert eng.relation_kind(Relation(schema_name, "v2")) == "view"
    finally:
        eng.close()


def test_a_view_keeping_its_columns_is_replaced_in_place(schema_name: str, tmp_path: Path) -> None:
    eng = _engine(schema_name, tmp_path)
    eng.open()
    eng.ensure_schema(schema_name)
    q = f'"{schema_name}"'
    oid_sql = f"SELECT to_regclass('{q}.downstream')::oid"
    try:
        eng.create_or_replace(Relation(schema_name, "up"), "select 1 as id", "view")
        eng.create_or_replace(Relation(schema_name, "downstream"), f"select id from {q}.up", "view")
        before = eng.execute(oid_sql)
        eng.create_or_replace(Relation(schema_name, "up"), "select 2 as id, 'new' as extra", "view")
        assert eng.execute(oid_sql) == before  # not dropped and recreated
        assert eng.execute(f"select id from {q}.downstream") == [(2,)]
        eng.create_or_replace(
            Relation(schema_name, "up"), "select 'x'::text as id", "view"
        )  # type change
        assert eng.execute(oid_sql) != before and eng.execute(f"select id from {q}.downstream") == [
            ("x",)
        ]
    finally:
        eng.close()
