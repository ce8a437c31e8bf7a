"""Models written as Delta tables: every build path on a real DuckDB warehouse and real delta-rs,
read back by delta-rs itself (an independent reader) and through the warehouse's view."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.context import Context
from tests.conftest import query, write_files

deltalake = pytest.importorskip("deltalake", reason="pip install -e '.[lake]' installs deltalake")

HEADER = "id,grp,amount,day\n"


def _rows(rows: list[tuple[int, str, int, str]]) -> str:
    return HEADER + "".join(f"{i},{g},{a},{d}\n" for i, g, a, d in rows)


V1 = [(1, "a", 10, "2026-01-01"), (2, "b", 20, "2026-01-01"), (3, "a", 30, "2026-01-02")]
V2 = [(1, "a", 11, "2026-01-01"), (2, "b", 20, "2026-01-01"), (3, "a", 30, "2026-01-02"),
      (4, "c", 40, "2026-01-03")]  # fmt: skip

SELECT = "select id, grp, amount, cast(day as date) as day from {{ ref('src') }}"


def _model(config: str, where: str = "") -> str:
    body = SELECT
    if where:
        body += f"\n{{% if is_incremental() %}} {where} {{% endif %}}"
    return f"{{{{ config({config}) }}}}\n{body}\n"


def _delta(root: Path, name: str = "m") -> list[tuple]:
    """The table as delta-rs reads it (not through headwater)."""
    table = deltalake.DeltaTable(str(root / "lake" / "main" / name))
    data = table.to_pyarrow_table()
    return sorted(tuple(r.values()) for r in data.to_pylist())


def _version(root: Path, name: str = "m") -> int:
    return int(deltalake.DeltaTable(str(root / "lake" / "main" / name)).version())


def _build(root: Path, **options) -> object:
    with Context(root) as ctx:
        return ctx.build(**options)


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Callable[..., Path]:
    def make(model: str, rows: list = V1, extra: dict[str, str] | None = None) -> Path:
        files = {"seeds/src.csv": _rows(rows), "models/m.sql": model, **(extra or {})}
        return make_project(files)

    return make


def test_table_is_written_and_read_by_delta_and_the_warehouse(project) -> None:
    root = project(_model("materialized='delta', partition_by=['day'], sort_by=['id']"),
                   extra={"models/down.sql": "select grp, sum(amount) as s from {{ ref('m') }} group by grp"})  # fmt: skip
    result = _build(root)
    assert result.exit_code == 0, result
    expected = sorted((i, g, a) for i, g, a, _ in V1)
    assert [r[:3] for r in _delta(root)] == expected
    assert sorted(query(root, "select id, grp, amount from main.m")) == expected
    assert sorted(query(root, "select * from main.down")) == [("a", 40), ("b", 20)]
    meta = deltalake.DeltaTable(str(root / "lake" / "main" / "m")).metadata()
    assert meta.partition_columns == ["day"]
    write_files(root, {"seeds/src.csv": _rows(V2)})
    assert _build(root).exit_code == 0
    assert _version(root) == 1
    assert [r[:3] for r in _delta(root)] == sorted((i, g, a) for i, g, a, _ in V2)
    history = deltalake.DeltaTable(str(root / "lake" / "main" / "m")).history()
    assert [h.get("headwater.node") for h in history] == ["model.t.m"] * 2


@pytest.mark.parametrize("strategy", ["merge", "delete+insert"])
def test_upserts_rewrite_only_files_with_changed_keys(project, strategy: str) -> None:
    root = project(_model(f"materialized='delta', incremental_strategy='{strategy}', "
                          "unique_key='id', partition_by=['day']"))  # fmt: skip
    assert _build(root).exit_code == 0
    table = deltalake.DeltaTable(str(root / "lake" / "main" / "m"))
    before = {p for p in table.file_uris()}
    write_files(root, {"seeds/src.csv": _rows(V2)})
    result = _build(root)
    assert result.exit_code == 0
    assert [r[:3] for r in _delta(root)] == sorted((i, g, a) for i, g, a, _ in V2)
    after = set(deltalake.DeltaTable(str(root / "lake" / "main" / "m")).file_uris())
    # the file of 2026-01-02 held no changed key... but every key is in the new rows here, so
    # each old file was rewritten; none of the old files is part of the new version
    assert not (before & after)
    again = _delta(root)
    assert _build(root).exit_code == 0  # the same rows again: same table, a new version
    assert _delta(root) == again


def test_merge_keeps_files_without_changed_keys(project) -> None:
    where = "where amount > (select max(amount) from {{ this }})"
    root = project(_model("materialized='delta', incremental_strategy='merge', unique_key='id', "
                          "partition_by=['day']", where))  # fmt: skip
    assert _build(root).exit_code == 0
    table = deltalake.DeltaTable(str(root / "lake" / "main" / "m"))
    before = set(table.file_uris())
    write_files(root, {"seeds/src.csv": _rows([*V1, (4, "c", 40, "2026-01-03")])})
    result = _build(root)
    assert result.exit_code == 0
    after = set(deltalake.DeltaTable(str(root / "lake" / "main" / "m")).file_uris())
    assert before <= after and len(after) == len(before) + 1  # only the new row's file added
    assert len(_delta(root)) == 4


def test_append_adds_files(project) -> None:
    where = "where id > (select max(id) from {{ this }})"
    root = project(_model("materialized='delta', incremental_strategy='append'", where))
    assert _build(root).exit_code == 0
    write_files(root, {"seeds/src.csv": _rows(V2)})
    assert _build(root).exit_code == 0
    assert [r[0] for r in _delta(root)] == [1, 2, 3, 4]
    assert _build(root).exit_code == 0  # nothing new
    assert [r[0] for r in _delta(root)] == [1, 2, 3, 4]


def test_failing_check_keeps_the_current_version(project) -> None:
    schema = """
version: 2
models:
  - name: m
    columns:
      - name: amount
        tests:
          - accepted_values: {values: [10, 20, 30]}
"""
    root = project(_model("materialized='delta', incremental_strategy='merge', unique_key='id'"),
                   extra={"models/schema.yml": schema})  # fmt: skip
    assert _build(root).exit_code == 0
    version, rows = _version(root), _delta(root)
    files = sorted(p.name for p in (root / "lake" / "main" / "m").rglob("*.parquet"))
    write_files(root, {"seeds/src.csv": _rows(V2)})  # 11 and 40 are not accepted
    result = _build(root)
    assert result.exit_code == 1
    assert "not published" in result.results[-1].message or any(
        "not published" in r.message for r in result.results
    )
    assert _version(root) == version and _delta(root) == rows
    # the rejected change's staged files are gone: no file beyond the current version's
    assert sorted(p.name for p in (root / "lake" / "main" / "m").rglob("*.parquet")) == files
    assert sorted(query(root, "select amount from main.m")) == [(10,), (20,), (30,)]


def test_snapshot_into_delta(make_project: Callable[..., Path]) -> None:
    snapshot = """
{% snapshot snap %}
{{ config(unique_key='id', strategy='check', check_cols=['amount'], file_format='delta') }}
select id, grp, amount from {{ ref('src') }}
{% endsnapshot %}
"""
    root = make_project({"seeds/src.csv": _rows(V1), "snapshots/snap.sql": snapshot})
    assert _build(root).exit_code == 0
    write_files(root, {"seeds/src.csv": _rows(V2)})
    assert _build(root).exit_code == 0
    rows = deltalake.DeltaTable(str(root / "lake" / "main" / "snap")).to_pyarrow_table()
    data = rows.to_pylist()
    # id 1 changed: its old version closed, a new one open; id 4 new
    assert sorted((r["id"], r["amount"], r["dbt_valid_to"] is None) for r in data) == [
        (1, 10, False), (1, 11, True), (2, 20, True), (3, 30, True), (4, 40, True)]  # fmt: skip


def test_insert_overwrite_replaces_only_the_new_rows_partitions(project) -> None:
    root = project(_model("materialized='delta', incremental_strategy='insert_overwrite', "
                          "partition_by='day'", "where day >= '2026-01-02'"))  # fmt: skip
    assert _build(root).exit_code == 0
    folder = root / "lake" / "main" / "m"
    first_day = {p.name for p in folder.glob("day=2026-01-01/*.parquet")}
    write_files(root, {"seeds/src.csv": _rows([*V1[:2], (3, "a", 33, "2026-01-02"),
                                               (5, "d", 50, "2026-01-02")])})  # fmt: skip
    assert _build(root).exit_code == 0
    assert [(r[0], r[2]) for r in _delta(root)] == [(1, 10), (2, 20), (3, 33), (5, 50)]
    table = deltalake.DeltaTable(str(folder))
    live = {u.rsplit("/", 1)[-1] for u in table.file_uris()}
    assert first_day <= live  # the untouched partition's file is still the live one


def test_schema_change_append_new_columns(project) -> None:
    root = project(_model("materialized='delta', incremental_strategy='append', "
                          "on_schema_change='append_new_columns'", "where false"))  # fmt: skip
    assert _build(root).exit_code == 0
    write_files(root, {"models/m.sql": "{{ config(materialized='delta', incremental_strategy='append', "
                       "on_schema_change='append_new_columns') }}\n"
                       "select id, grp, amount, cast(day as date) as day, 'x' as note from {{ ref('src') }}\n"
                       "{% if is_incremental() %} where id > 2 {% endif %}"})  # fmt: skip
    assert _build(root).exit_code == 0
    table = deltalake.DeltaTable(str(root / "lake" / "main" / "m"))
    import pyarrow as pa

    assert pa.schema(table.schema().to_arrow()).names == ["id", "grp", "amount", "day", "note"]
    notes = sorted((r["id"], r["note"] or "") for r in table.to_pyarrow_table().to_pylist())
    assert notes == [(1, ""), (2, ""), (3, ""), (3, "x")]


def test_full_refresh_rebuilds(project) -> None:
    root = project(_model("materialized='delta', incremental_strategy='append'", "where true"))
    assert _build(root).exit_code == 0
    assert _build(root).exit_code == 0
    assert len(_delta(root)) == 6  # appended twice
    assert _build(root, full_refresh=True).exit_code == 0
    assert len(_delta(root)) == 3


@pytest.mark.parametrize("kind", ["scd1", "scd3"])
def test_scd_models_on_delta(project, kind: str) -> None:
    extra = ", scd_columns=['amount']" if kind == "scd3" else ""
    root = project(f"{{{{ config(materialized='{kind}', file_format='delta', unique_key='id'{extra}) }}}}\n"
                   "select id, grp, amount from {{ ref('src') }}\n")  # fmt: skip
    assert _build(root).exit_code == 0
    write_files(root, {"seeds/src.csv": _rows(V2)})
    assert _build(root).exit_code == 0
    data = deltalake.DeltaTable(str(root / "lake" / "main" / "m")).to_pyarrow_table().to_pylist()
    assert sorted((r["id"], r["amount"]) for r in data) == [(1, 11), (2, 20), (3, 30), (4, 40)]
    if kind == "scd3":
        assert {r["id"]: r["previous_amount"] for r in data}[1] == 10
    again = sorted(tuple(r.values()) for r in data)
    assert _build(root).exit_code == 0  # nothing changed: the same rows
    data = deltalake.DeltaTable(str(root / "lake" / "main" / "m")).to_pyarrow_table().to_pylist()
    assert sorted(tuple(r.values()) for r in data) == again


def test_file_statistics_let_other_readers_filter(project) -> None:
    """delta-rs's own reader skips files by the statistics headwater writes: booleans, text that
    looks like a number, dates and zoned timestamps must be in the forms it expects, or it refuses
    the table or returns no rows."""
    root = project("{{ config(materialized='delta') }}\n"
                   "select id, id % 2 = 0 as even, case when id = 1 then '0123' else '99' end as zip, "
                   "cast(day as date) as day, cast(day as timestamptz) as at "
                   "from {{ ref('src') }}\n")  # fmt: skip
    assert _build(root).exit_code == 0
    table = deltalake.DeltaTable(str(root / "lake" / "main" / "m"))
    zipped = table.to_pyarrow_table(filters=[("zip", "=", "0123")]).to_pylist()
    assert [r["id"] for r in zipped] == [1]
    evens = table.to_pyarrow_table(filters=[("even", "=", True)]).to_pylist()
    assert sorted(r["id"] for r in evens) == [2]
    import datetime as dt

    later = table.to_pyarrow_table(filters=[("day", ">", dt.date(2026, 1, 1))]).to_pylist()
    assert sorted(r["id"] for r in later) == [3]
    assert {r["at"].tzinfo is not None for r in table.to_pyarrow_table().to_pylist()} == {True}


def test_partition_granularity_is_refused(project) -> None:
    root = project(_model("materialized='delta', incremental_strategy='insert_overwrite', "
                          "partition_by={'field': 'day', 'granularity': 'month'}"))  # fmt: skip
    result = _build(root)
    assert result.exit_code != 0
    message = result.results[-1].message
    assert "granularity" in message and "models/m.sql" in message and "date_trunc" in message
    assert not (root / "lake" / "main" / "m" / "_delta_log").exists()
