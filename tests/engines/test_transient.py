"""`Engine.is_transient` decides what the runner retries: a real conflict between writers, never
a failure whose message happens to mention one."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from headwater.engines import create_engine
from headwater.engines.base import Engine
from headwater.errors import SQLExecutionError
from headwater.runner.scheduler import retrying
from tests.engines.conftest import target_for


def test_an_error_that_mentions_a_conflict_is_not_transient(engine: Engine) -> None:
    with pytest.raises(SQLExecutionError) as info:
        engine.execute("SELECT * FROM conflict_on_update_nowhere")
    assert "conflict" in info.value.message.lower()
    assert not engine.is_transient(info.value)


def test_a_failure_that_is_not_transient_is_tried_once(engine: Engine) -> None:
    tries: list[int] = []
    with pytest.raises(SQLExecutionError):
        retrying(
            lambda: engine.execute("SELECT * FROM conflict_nowhere"), engine, tried=tries.append
        )
    assert tries == [1]


def test_a_write_write_conflict_on_duckdb_is_transient_and_retried(
    schema_name: str, tmp_path: Path
) -> None:
    engine = create_engine(target_for("duckdb", schema_name, tmp_path), str(tmp_path))
    engine.open()
    try:
        engine.ensure_schema(schema_name)
        table = f"{schema_name}.t"
        engine.execute(f"CREATE TABLE {table} (i INTEGER)")
        engine.execute(f"INSERT INTO {table} VALUES (1)")
        first_wrote, second_done = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def first() -> None:  # holds an uncommitted update until the second writer has failed
            with engine.transaction():
                engine.execute(f"UPDATE {table} SET i = 2")
                first_wrote.set()
                second_done.wait(timeout=30)

        def second() -> None:
            first_wrote.wait(timeout=30)
            try:
                with engine.transaction():
                    engine.execute(f"UPDATE {table} SET i = 3")
            except BaseException as exc:
                errors.append(exc)
            finally:
                second_done.set()

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        [error] = errors
        assert isinstance(error, SQLExecutionError) and engine.is_transient(error)
        # once the first writer has committed, the retried write goes through
        tries: list[int] = []
        attempts = iter([error])

        def write() -> None:
            pending = next(attempts, None)
            if pending is not None:
                raise pending
            engine.execute(f"UPDATE {table} SET i = 3")

        retrying(write, engine, tried=tries.append, backoff=0)
        assert tries == [1, 2]
        assert engine.execute(f"SELECT i FROM {table}") == [(3,)]
    finally:
        engine.close()
