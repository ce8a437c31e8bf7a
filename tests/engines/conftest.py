"""The engine conformance suite: every test here that takes `engine_name` (directly or through
`engine` / `engine_project`) runs once per engine.

A known difference between engines is a typed marker, never a skip (as in ibis's backend suite):

* ``@pytest.mark.differs({"postgres": "why"})``: the engine's semantics differ, on purpose and
  documented (README, `Functions.DIFFERENCES`); the test asserts DuckDB's behaviour and is a
  strict xfail on that engine, so it fails the day the difference disappears;
* ``@pytest.mark.notimpl({"postgres": "why"})``: headwater does not do it on that engine yet.

PostgreSQL is the server at 127.0.0.1:5432 (user postgres, database test; override with
HW_TEST_PG_HOST/PORT/USER/DATABASE). Each test gets its own schema, dropped afterwards. Under
`CI=true` an unreachable server fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from headwater.engines import create_engine
from headwater.engines.base import Engine
from headwater.project.definition import Target

ENGINES = ["duckdb", "postgres"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pg_settings() -> dict[str, object]:
    return {
        "host": os.environ.get("HW_TEST_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("HW_TEST_PG_PORT", "5432")),
        "user": os.environ.get("HW_TEST_PG_USER", "postgres"),
        "database": os.environ.get("HW_TEST_PG_DATABASE", "test"),
    }


def _pg_available() -> str | None:
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc})"
    s = pg_settings()
    try:
        psycopg.connect(
            host=str(s["host"]),
            port=int(s["port"]),
            user=str(s["user"]),
            dbname=str(s["database"]),
            connect_timeout=5,
        ).close()
    except Exception as exc:
        return f"PostgreSQL at {s['host']}:{s['port']}/{s['database']} is not available: {exc}"
    return None


def require(engine_name: str) -> None:
    if engine_name != "postgres":
        return
    reason = _pg_available()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the PostgreSQL server must be running)")
        pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("engine_name") if callspec is not None else None
        if name is None:
            continue
        for marker_name in ("differs", "notimpl"):
            for marker in item.iter_markers(marker_name):
                reasons = marker.args[0] if marker.args else {}
                if name in reasons:
                    item.add_marker(
                        pytest.mark.xfail(
                            strict=True, reason=f"{marker_name} on {name}: {reasons[name]}"
                        )
                    )


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    require(request.param)
    return str(request.param)


@pytest.fixture
def schema_name() -> Iterator[str]:
    """A fresh schema name; on PostgreSQL it and the schemas derived from it are dropped after."""
    name = f"hwt_{uuid.uuid4().hex[:10]}"
    yield name
    if _pg_available() is None:
        import psycopg

        s = pg_settings()
        with psycopg.connect(
            host=str(s["host"]),
            port=int(s["port"]),
            user=str(s["user"]),
            dbname=str(s["database"]),
            autocommit=True,
        ) as conn:
            rows = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [name + "%"]
            ).fetchall()
            for (schema,) in rows:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def target_for(engine_name: str, schema: str, root: Path, threads: int = 2) -> Target:
    if engine_name == "duckdb":
        return Target(
            name=engine_name,
            engine="duckdb",
            path=str(root / "warehouse.duckdb"),
            schema=schema,
            threads=threads,
        )
    s = pg_settings()
    return Target(
        name=engine_name, engine="postgres", schema=schema, threads=threads, settings=dict(s)
    )


@pytest.fixture
def engine(engine_name: str, schema_name: str, tmp_path: Path) -> Iterator[Engine]:
    """An open engine whose target schema exists and is empty."""
    eng = create_engine(target_for(engine_name, schema_name, tmp_path), str(tmp_path))
    eng.open()
    eng.ensure_schema(schema_name)
    yield eng
    eng.close()


def target_yaml(engine_name: str, schema: str, threads: int = 2) -> str:
    """The `targets:` entry of a project built on ``engine_name``."""
    if engine_name == "duckdb":
        return (
            f"  {engine_name}:\n    engine: duckdb\n    path: .headwater/warehouse.duckdb\n"
            f"    schema: {schema}\n    threads: {threads}\n"
        )
    s = pg_settings()
    return (
        f"  {engine_name}:\n    engine: postgres\n    host: {s['host']}\n    port: {s['port']}\n"
        f"    user: {s['user']}\n    database: {s['database']}\n    schema: {schema}\n    threads: {threads}\n"
    )


@pytest.fixture
def engine_project(engine_name: str, schema_name: str, tmp_path: Path) -> Callable[..., Path]:
    """``engine_project(files, extra_yml="")``: a project whose default target is the engine
    under test (schema `schema_name`). ``extra_yml`` is appended to headwater.yml."""
    from tests.conftest import write_files

    def make(files: dict[str, str], extra_yml: str = "", name: str = "proj") -> Path:
        root = tmp_path / name
        root.mkdir(exist_ok=True)
        yml = f"name: t\ndefault_target: {engine_name}\ntargets:\n{target_yaml(engine_name, schema_name)}{extra_yml}"
        write_files(root, {"headwater.yml": yml, **files})
        return root

    return make
