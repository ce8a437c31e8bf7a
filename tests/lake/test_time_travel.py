"""Reading older versions of lake tables (`ref(..., version=)`, `ref(..., as_of=)`) and existing
lake tables as sources (`format:` / `location:` in sources.yml)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.context import Context
from tests.conftest import query, write_files

deltalake = pytest.importorskip("deltalake", reason="pip install -e '.[lake]' installs deltalake")


def _seed(values: list[int]) -> str:
    return "id,amount\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values, 1))


MODEL = "{{ config(materialized='delta') }}\nselect id, amount from {{ ref('src') }}\n"


def _build(root: Path, select: str | None = None) -> object:
    with Context(root) as ctx:
        return ctx.build(select=select.split()) if select else ctx.build()


def test_ref_reads_an_older_version(make_project: Callable[..., Path]) -> None:
    root = make_project({"seeds/src.csv": _seed([1, 2]), "models/m.sql": MODEL})
    assert _build(root).exit_code == 0  # version 0: 1, 2
    write_files(root, {"seeds/src.csv": _seed([10, 20, 30])})
    assert _build(root).exit_code == 0  # version 1
    write_files(root, {"models/old.sql": "select sum(amount) as s, count(*) as n "
                       "from {{ ref('m', version=0) }}",
                       "models/now.sql": "select sum(amount) as s from {{ ref('m') }}"})  # fmt: skip
    result = _build(root, "old now")
    assert result.exit_code == 0, [r.message for r in result.results]
    assert query(root, "select * from main.old") == [(3, 2)]
    assert query(root, "select * from main.now") == [(60,)]
    # the old version's edge is a normal dependency
    with Context(root) as ctx:
        graph = ctx.ls(["+old"])
    assert "m" in {n.name for n in graph}


def test_ref_as_of_a_time(make_project: Callable[..., Path]) -> None:
    root = make_project({"seeds/src.csv": _seed([1, 2]), "models/m.sql": MODEL})
    assert _build(root).exit_code == 0
    history = deltalake.DeltaTable(str(root / "lake" / "main" / "m")).history()
    first = dt.datetime.fromtimestamp(history[-1]["timestamp"] / 1000, tz=dt.UTC)
    write_files(root, {"seeds/src.csv": _seed([10, 20, 30])})
    assert _build(root).exit_code == 0
    stamp = (first + dt.timedelta(milliseconds=1)).isoformat()
    write_files(
        root, {"models/old.sql": f"select count(*) as n from {{{{ ref('m', as_of='{stamp}') }}}}"}
    )
    assert _build(root, "old").exit_code == 0
    assert query(root, "select * from main.old") == [(2,)]


def test_ref_to_a_missing_version_is_a_clear_error(make_project: Callable[..., Path]) -> None:
    root = make_project({"seeds/src.csv": _seed([1]), "models/m.sql": MODEL})
    assert _build(root).exit_code == 0
    write_files(root, {"models/old.sql": "select * from {{ ref('m', version=7) }}"})
    result = _build(root, "old")
    assert result.exit_code != 0
    text = " ".join(str(r.message) for r in result.results) + str(getattr(result, "error", ""))
    assert "`m`" in text or "m" in text


def _delta_table(path: Path, rows: list[dict], mode: str = "overwrite") -> None:
    import pyarrow as pa

    deltalake.write_deltalake(str(path), pa.Table.from_pylist(rows), mode=mode)


def test_delta_source_is_read_at_its_current_and_pinned_versions(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    events = tmp_path / "events"
    _delta_table(events, [{"id": 1, "kind": "a"}, {"id": 2, "kind": "b"}])
    _delta_table(events, [{"id": 3, "kind": "a"}], mode="append")  # version 1
    sources = f"""
version: 2
sources:
  - name: lake
    tables:
      - name: events
        format: delta
        location: {events}
      - name: events_v0
        format: delta
        location: {events}
        version: 0
"""
    root = make_project({
        "models/sources.yml": sources,
        "models/counts.sql": "select (select count(*) from {{ source('lake', 'events') }}) as now, "
                             "(select count(*) from {{ source('lake', 'events_v0') }}) as then",
    })  # fmt: skip
    result = _build(root)
    assert result.exit_code == 0, [r.message for r in result.results]
    assert query(root, "select * from main.counts") == [(3, 2)]
    # a merge elsewhere leaves removed files on disk; the source reads only the current ones
    table = deltalake.DeltaTable(str(events))
    import pyarrow as pa

    table.merge(pa.Table.from_pylist([{"id": 1, "kind": "z"}]), "t.id = s.id", source_alias="s",
                target_alias="t").when_matched_update_all().execute()  # fmt: skip
    assert _build(root).exit_code == 0
    assert query(root, "select * from main.counts") == [(3, 2)]
    assert query(root, "select kind from lake.events where id = 1") == [("z",)]


def test_source_without_location_is_a_config_error(make_project: Callable[..., Path]) -> None:
    sources = """
version: 2
sources:
  - name: lake
    tables:
      - name: events
        format: delta
"""
    root = make_project({"models/sources.yml": sources,
                         "models/m.sql": "select * from {{ source('lake', 'events') }}"})  # fmt: skip
    result = _build(root)
    assert result.exit_code == 2 or any("location" in str(r.message) for r in result.results)


def test_unknown_source_format_is_reported_with_file_and_line(
    make_project: Callable[..., Path], cli
) -> None:
    sources = """
version: 2
sources:
  - name: lake
    tables:
      - name: events
        format: deltaa
        location: /tmp/x
"""
    root = make_project({"models/sources.yml": sources})
    result = cli("ls", "--project", str(root))
    assert "models/sources.yml:7" in result.err + result.out
    assert "did you mean `delta`" in result.err + result.out


def test_a_version_committed_after_compiling_is_seen(make_project: Callable[..., Path]) -> None:
    """The project cache never keeps a compilation that read a lake table's versions: a model
    reading version 1 before it exists fails, and works once it does, with no file changed."""
    root = make_project({"seeds/src.csv": _seed([1, 2]), "models/m.sql": MODEL,
                         "models/old.sql": "select count(*) as n from {{ ref('m', version=1) }}"})  # fmt: skip
    assert _build(root, "src m").exit_code == 0  # version 0
    assert _build(root, "old").exit_code != 0  # no version 1 yet
    write_files(root, {"seeds/src.csv": _seed([1, 2, 3])})
    assert _build(root, "src m").exit_code == 0  # version 1
    result = _build(root, "old")
    assert result.exit_code == 0, [r.message for r in result.results]
    assert query(root, "select * from main.old") == [(3,)]
