"""The state store suite: every test that takes `backend` (directly or through `stores`) runs on
both backends — the SQLite file and `state: warehouse` on the real PostgreSQL server at
127.0.0.1:5432, database `test` (override with HW_TEST_PG_*; see tests/engines/conftest.py).

A warehouse test gets its own state schema and target schema, dropped after it. Under `CI=true`
an unreachable server fails the test; otherwise it is skipped with the reason.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from headwater.project.definition import Target
from headwater.state.base import SQLStateStore
from headwater.state.sqlite import SQLiteStateStore
from headwater.state.warehouse import WarehouseStateStore
from tests.engines.conftest import pg_settings, require

BACKENDS = ["sqlite", "warehouse"]


def pg_connect() -> Any:
    import psycopg

    s = pg_settings()
    return psycopg.connect(
        host=str(s["host"]), port=int(s["port"]), user=str(s["user"]),
        dbname=str(s["database"]), autocommit=True,
    )  # fmt: skip


def pg_target(schema: str, **extra: Any) -> Target:
    return Target(
        name="pg", engine="postgres", schema=schema, state="warehouse",
        settings=dict(pg_settings()), **extra,
    )  # fmt: skip


@dataclass
class Stores:
    """Opens stores of one backend. ``open(n)`` is machine ``n`` (its own state folder); on
    SQLite every machine shares one file (one machine's history), on the warehouse one
    database. ``break_table(name)`` drops a state table behind the stores' back, so that the
    next write to it fails."""

    backend: str
    tmp_path: Path
    state_schema: str = ""
    target_schema: str = ""
    opened: list[SQLStateStore] = field(default_factory=list)

    def open(self, n: int = 1, target_schema: str | None = None) -> SQLStateStore:
        folder = self.tmp_path / f"machine{n}"
        folder.mkdir(exist_ok=True)
        store: SQLStateStore
        if self.backend == "sqlite":
            store = SQLiteStateStore(self.tmp_path / "state.db")
        else:
            target = pg_target(target_schema or self.target_schema)
            store = WarehouseStateStore(
                folder / "state.db", target, str(folder), schema=self.state_schema
            )
        self.opened.append(store)
        return store

    def break_table(self, name: str) -> None:
        if self.backend == "sqlite":
            con = sqlite3.connect(self.tmp_path / "state.db")
            con.execute(f"DROP TABLE {name}")
            con.commit()
            con.close()
        else:
            with pg_connect() as conn:
                conn.execute(f'DROP TABLE "{self.state_schema}".{name}')

    def close(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if name == "warehouse":
        require("postgres")
    return name


def _stores(backend: str, tmp_path: Path) -> Iterator[Stores]:
    suffix = uuid.uuid4().hex[:10]
    found = Stores(backend, tmp_path, f"hwst_{suffix}", f"hwts_{suffix}")
    yield found
    found.close()
    if backend == "warehouse":
        with pg_connect() as conn:
            for schema in (found.state_schema, found.target_schema):
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def stores(backend: str, tmp_path: Path) -> Iterator[Stores]:
    """Stores of each backend, in turn."""
    yield from _stores(backend, tmp_path)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Stores]:
    """Stores of the warehouse backend only."""
    require("postgres")
    yield from _stores("warehouse", tmp_path)


@pytest.fixture
def store(stores: Stores) -> SQLStateStore:
    return stores.open()
