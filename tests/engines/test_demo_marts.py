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

REL_TOL, ABS_TOL = 1e-4, 0.01 + 1e-9
"""Floats and decimals are equal within a relative 1e-4 or one cent: the engines add in different
orders, and DuckDB divides decimals in double precision where PostgreSQL divides exact numerics,
so a half-cent can round either way (79.735 -> 79.73 on DuckDB, 79.74 on PostgreSQL). Every other
value (text, dates, timestamps, booleans) is compared exactly."""


def _headwater(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "headwater", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)  # fmt: skip


def _split(row: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[float, ...]]:
    """(exact part, approximate part) of a row: numbers are approximate (PostgreSQL's sum of
    bigints is a numeric where DuckDB's is an integer; integers still have to be equal)."""
    exact: list[Any] = []
    approx: list[float] = []
    for value in row:
        if isinstance(value, float | decimal.Decimal | int) and not isinstance(value, bool):
            exact.append("~")
            approx.append(float(value))
        elif isinstance(value, dt.datetime) and value.tzinfo is not None:
            exact.append(value.astimezone(dt.UTC).replace(tzinfo=None))
        else:
            exact.append(value)
    return tuple(exact), tuple(approx)


def _close(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(
        (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=REL_TOL, abs_tol=ABS_TOL)
        for x, y in zip(a, b, strict=True)
    )


def assert_same_rows(
    name: str, expected: list[tuple[Any, ...]], got: list[tuple[Any, ...]]
) -> None:
    """Order-independent: rows are grouped by their exact values, then each group's approximate
    values are compared pairwise in sorted order."""

    def groups(rows: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[tuple[float, ...]]]:
        out: dict[tuple[Any, ...], list[tuple[float, ...]]] = {}
        for row in rows:
            exact, approx = _split(row)
            out.setdefault(exact, []).append(approx)
        return out

    want, have = groups(expected), groups(got)
    missing = Counter({k: len(v) for k, v in want.items()}) - Counter(
        {k: len(v) for k, v in have.items()}
    )
    extra = Counter({k: len(v) for k, v in have.items()}) - Counter(
        {k: len(v) for k, v in want.items()}
    )
    assert not missing and not extra, (
        f"{name}: only on duckdb {list(missing)[:3]}, only on postgres {list(extra)[:3]}"
    )
    for key, values in want.items():
        for a, b in zip(sorted(values), sorted(have[key]), strict=True):
            assert _close(a, b), f"{name}: {key} has {a} on duckdb and {b} on postgres"


@pytest.mark.slow
def test_the_demo_marts_are_equal_on_duckdb_and_postgres(tmp_path: Path, schema_name: str) -> None:
    require("postgres")
    root = tmp_path / "shop"
    made = _headwater("demo", str(root), "--scale", "0.02", "--no-build", cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-3000:]
    yml = (root / "headwater.yml").read_text(encoding="utf-8")
    (root / "headwater.yml").write_text(
        yml.replace("targets:\n", "targets:\n" + target_yaml("pg", schema_name, 4), 1),
        encoding="utf-8",
    )
    on_duckdb = _headwater("build", cwd=root)
    on_postgres = _headwater("build", "--target", "pg", cwd=root)
    assert on_postgres.returncode == on_duckdb.returncode, (
        on_postgres.stdout[-4000:] + on_postgres.stderr[-2000:]
    )
    assert "ERROR" not in on_postgres.stdout, on_postgres.stdout[-4000:]
    marts = sorted(p.stem for p in (root / "models" / "marts").glob("*.sql"))
    assert len(marts) >= 6
    duck = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    s = pg_settings()
    pg = psycopg.connect(
        host=str(s["host"]), port=int(s["port"]), user=str(s["user"]), dbname=str(s["database"])
    )
    try:
        for mart in marts:
            # HyperLogLog sketches (and so their estimates) are built from each engine's own hash
            # function: equal only within an engine (README, aggregate tables)
            duck_cols = [
                r[0]
                for r in duck.execute(f"DESCRIBE main.{mart}").fetchall()
                if not r[0].endswith(("_sketch", "_approx"))
            ]
            cols = ", ".join(f'"{c}"' for c in duck_cols)
            expected = duck.execute(f"SELECT {cols} FROM main.{mart}").fetchall()
            got = pg.execute(f'SELECT {cols} FROM "{schema_name}"."{mart}"').fetchall()
            assert len(expected) > 0, mart
            assert_same_rows(mart, expected, got)
    finally:
        duck.close()
        pg.close()
    assert re.search(r"\d+ (success|pass)", on_postgres.stdout)
