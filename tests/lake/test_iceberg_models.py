"""Models as Iceberg tables through the lake materialization: build, merge, a failing check,
time travel by sequence number, and an Iceberg table as a source; pyiceberg reads them back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.context import Context
from tests.conftest import query, write_files

pytest.importorskip("pyiceberg", reason="pip install -e '.[lake]' installs pyiceberg")


def _seed(rows: list[tuple[int, str, int]]) -> str:
    return "id,grp,amount\n" + "".join(f"{i},{g},{a}\n" for i, g, a in rows)


V1 = [(1, "a", 10), (2, "b", 20), (3, "a", 30)]
V2 = [(1, "a", 11), (4, "c", 40)]
MODEL = ("{{ config(materialized='iceberg', incremental_strategy='merge', unique_key='id', "
         "partition_by=['grp']) }}\nselect id, grp, amount from {{ ref('src') }}\n")  # fmt: skip


def _build(root: Path, select: list[str] | None = None) -> object:
    with Context(root) as ctx:
        return ctx.build(select)


def _iceberg_rows(root: Path) -> list[tuple]:
    """The table as pyiceberg scans it (an independent reader)."""
    from headwater.lake import open_table
    from headwater.lake.storage import TableLocation

    table = open_table("iceberg", TableLocation.parse("lake/main/m", root), "m",
                       catalog_dir=str(root / ".headwater"))  # fmt: skip
    native = table._load()  # type: ignore[attr-defined]
    assert native is not None
    data = native.scan().to_arrow().to_pylist()
    return sorted((r["id"], r["grp"], r["amount"]) for r in data)


def test_iceberg_model_merge_wap_and_time_travel(make_project: Callable[..., Path]) -> None:
    schema = """
version: 2
models:
  - name: m
    columns:
      - name: amount
        tests: [{accepted_values: {values: [10, 11, 20, 30, 40]}}]
"""
    root = make_project(
        {"seeds/src.csv": _seed(V1), "models/m.sql": MODEL, "models/schema.yml": schema}
    )
    assert _build(root).exit_code == 0
    write_files(root, {"seeds/src.csv": _seed(V2)})
    result = _build(root)
    assert result.exit_code == 0, [r.message for r in result.results]
    want = [(1, "a", 11), (2, "b", 20), (3, "a", 30), (4, "c", 40)]
    assert sorted(query(root, "select id, grp, amount from main.m")) == want
    assert _iceberg_rows(root) == want
    write_files(root, {"seeds/src.csv": _seed([(2, "b", 99)])})  # 99 is not accepted
    assert _build(root).exit_code == 1
    assert sorted(query(root, "select id, grp, amount from main.m")) == want
    assert _iceberg_rows(root) == want
    write_files(root, {"models/first.sql": "select count(*) as n, sum(amount) as s "
                       "from {{ ref('m', version=1) }}"})  # fmt: skip
    assert _build(root, ["first"]).exit_code == 0
    assert query(root, "select * from main.first") == [(3, 60)]
