"""Plain Parquet lake tables: a hive-partitioned folder any engine can list, swapped whole on
publish; and existing Parquet folders as sources."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from headwater.context import Context
from tests.conftest import query, write_files


def _seed(rows: list[tuple[int, str, int]]) -> str:
    return "id,grp,amount\n" + "".join(f"{i},{g},{a}\n" for i, g, a in rows)


def _build(root: Path, **options: object) -> object:
    with Context(root) as ctx:
        return ctx.build(**options)


def _folder(root: Path) -> list[tuple]:
    """The table as pyarrow reads the folder by listing it (an independent reader)."""
    table = ds.dataset(str(root / "lake" / "main" / "m"), format="parquet", partitioning="hive")
    return sorted((r["id"], r["grp"], r["amount"]) for r in table.to_table().to_pylist())


V1 = [(1, "a", 10), (2, "b", 20), (3, "a", 30)]
V2 = [(1, "a", 11), (4, "c", 40)]


def test_parquet_table_merge_and_listing_readers(make_project: Callable[..., Path]) -> None:
    model = ("{{ config(materialized='parquet', partition_by=['grp'], incremental_strategy='merge', "
             "unique_key='id') }}\nselect id, grp, amount from {{ ref('src') }}\n")  # fmt: skip
    root = make_project({"seeds/src.csv": _seed(V1), "models/m.sql": model})
    assert _build(root).exit_code == 0
    assert _folder(root) == V1
    folder = root / "lake" / "main" / "m"
    assert {p.name for p in folder.iterdir() if p.is_dir()} == {"grp=a", "grp=b"}
    untouched = next((folder / "grp=b").glob("*.parquet"))
    inode = untouched.stat().st_ino
    write_files(root, {"seeds/src.csv": _seed(V2)})
    assert _build(root).exit_code == 0
    assert _folder(root) == [(1, "a", 11), (2, "b", 20), (3, "a", 30), (4, "c", 40)]
    # the file of grp=b held no changed key: the new folder links it, nothing is copied
    assert next((folder / "grp=b").glob("*.parquet")).stat().st_ino == inode
    assert sorted(query(root, "select id, amount from main.m")) == [
        (1, 11),
        (2, 20),
        (3, 30),
        (4, 40),
    ]
    # no staging or old folders are left beside the table
    assert [
        p.name
        for p in folder.parent.iterdir()
        if p.name.startswith(".hw-") and "lock" not in p.name
    ] == []


def test_failing_check_leaves_the_folder(make_project: Callable[..., Path]) -> None:
    schema = """
version: 2
models:
  - name: m
    columns:
      - name: amount
        tests: [{accepted_values: {values: [10, 20, 30]}}]
"""
    model = "{{ config(materialized='parquet') }}\nselect id, grp, amount from {{ ref('src') }}\n"
    root = make_project({"seeds/src.csv": _seed(V1), "models/m.sql": model,
                         "models/schema.yml": schema})  # fmt: skip
    assert _build(root).exit_code == 0
    before = sorted(p.name for p in (root / "lake" / "main" / "m").rglob("*.parquet"))
    write_files(root, {"seeds/src.csv": _seed(V2)})
    assert _build(root).exit_code == 1
    assert _folder(root) == V1
    assert sorted(p.name for p in (root / "lake" / "main" / "m").rglob("*.parquet")) == before


def test_existing_parquet_folder_as_a_source(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    events = tmp_path / "events"
    data = pa.table({"id": [1, 2, 3], "day": ["2026-01-01", "2026-01-01", "2026-01-02"]})
    pq.write_to_dataset(data, str(events), partition_cols=["day"])  # day only in folder names
    sources = f"""
version: 2
sources:
  - name: raw
    tables:
      - name: events
        format: parquet
        location: {events}
"""
    root = make_project({"models/sources.yml": sources,
                         "models/c.sql": "select day, count(*) as n from {{ source('raw', 'events') }} "
                                         "group by day"})  # fmt: skip
    result = _build(root)
    assert result.exit_code == 0, [r.message for r in result.results]
    assert sorted(query(root, "select day, n from main.c")) == [
        ("2026-01-01", 2),
        ("2026-01-02", 1),
    ]
