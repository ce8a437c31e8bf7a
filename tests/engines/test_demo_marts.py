"""The demo project built on DuckDB and on PostgreSQL gives the same marts: every mart compared as
an order-independent multiset of rows, floats to a stated tolerance."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from tests.engines.conftest import pg_settings, require, target_yaml

FLOAT_DIGITS = 6
"""Floats are compared after rounding to 6 significant digits (sums over different plans and
engines add in different orders)."""


def _headwater(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "headwater", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)  # fmt: skip


def _norm(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return float(f"{value:.{FLOAT_DIGITS}g}")
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    return value


def _multiset(rows: list[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(_norm(v) for v in row) for row in rows)


@pytest.mark.slow
def test_the_demo_marts_are_equal_on_duckdb_and_postgres(tmp_path: Path, schema_name: str) -> None:
    require("postgres")
    root = tmp_path / "shop"
    made = _headwater("demo", str(root), "--scale", "0.02", "--no-build", cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-3000:]
    yml = (root / "headwater.yml").read_text(encoding="utf-8")
    (root / "headwater.yml").write_text(yml.replace("targets:\n", "targets:\n" + target_yaml("pg", schema_name, 4), 1), encoding="utf-8")
    on_duckdb = _headwater("build", cwd=root)
    on_postgres = _headwater("build", "--target", "pg", cwd=root)
    assert on_postgres.returncode == on_duckdb.returncode, on_postgres.stdout[-4000:] + on_postgres.stderr[-2000:]
    assert "ERROR" not in on_postgres.stdout, on_postgres.stdout[-4000:]
    marts = sorted(p.stem for p in (root / "models" / "marts").glob("*.sql"))
    assert len(marts) >= 6
    duck = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    s = pg_settings()
    pg = psycopg.connect(host=str(s["host"]), port=int(s["port"]), user=str(s["user"]), dbname=str(s["database"]))
    try:
        for mart in marts:
            duck_cols = [r[0] for r in duck.execute(f"DESCRIBE main.{mart}").fetchall()]
            cols = ", ".join(f'"{c}"' for c in duck_cols)
            expected = _multiset(duck.execute(f"SELECT {cols} FROM main.{mart}").fetchall())
            got = _multiset(pg.execute(f'SELECT {cols} FROM "{schema_name}"."{mart}"').fetchall())
            assert sum(expected.values()) > 0, mart
            missing, extra = expected - got, got - expected
            assert not missing and not extra, f"{mart}: only on duckdb {list(missing)[:3]}, only on postgres {list(extra)[:3]}"
    finally:
        duck.close()
        pg.close()
    assert re.search(r"\d+ (success|pass)", on_postgres.stdout)
