"""Shared by the extract tests: a fresh DuckDB warehouse, and a `files` load into `raw.orders`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.engines.duckdb import DuckDBEngine
from headwater.extract.base import connector_class
from headwater.extract.load import Loader, LoadResult
from headwater.project.definition import Relation, Target

REL = Relation("raw", "orders")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine(Target(name="dev", path=str(tmp_path / "w.duckdb")), str(tmp_path))
    eng.open()
    yield eng
    eng.close()


def load(engine: DuckDBEngine, base: Path, pattern: str, **config: Any) -> LoadResult:
    """Load the files matching ``pattern`` under ``base`` with the `files` connector."""
    cfg = {"path": pattern, "base_dir": str(base), **config}
    return Loader(engine, REL, connector_class("files")("shop", "orders", cfg, env={})).run()
