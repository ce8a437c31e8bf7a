"""Lake tables in lineage and metrics: OpenLineage datasets at the storage location, and a metrics
record per published version."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.context import Context
from tests.conftest import BASE_PROJECT, write_files

pytest.importorskip("deltalake", reason="pip install -e '.[lake]' installs deltalake")

CONFIG = (
    BASE_PROJECT
    + """\
observability:
  openlineage:
    transport: file
    path: lineage/events.ndjson
"""
)


def test_openlineage_names_lake_tables_by_location(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "seeds/src.csv": "id,amount\n1,10\n2,20\n",
            "models/fct.sql": "{{ config(materialized='delta') }}\nselect * from {{ ref('src') }}",
            "models/rpt.sql": "select sum(amount) as s from {{ ref('fct') }}",
        },
        project_yml=CONFIG,
    )
    with Context(root) as ctx:
        assert ctx.build().exit_code == 0
    events = [
        json.loads(line) for line in (root / "lineage" / "events.ndjson").read_text().splitlines()
    ]
    complete = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    fct = next(e for name, e in complete.items() if name.endswith(".fct"))
    rpt = next(e for name, e in complete.items() if name.endswith(".rpt"))
    where = str(root / "lake" / "main" / "fct")
    assert [(d["namespace"], d["name"]) for d in fct["outputs"]] == [("file", where)]
    assert ("file", where) in [(d["namespace"], d["name"]) for d in rpt["inputs"]]


def test_each_version_is_measured(make_project: Callable[..., Path]) -> None:
    root = make_project({"seeds/src.csv": "id,amount\n1,10\n",
                         "models/fct.sql": "{{ config(materialized='delta') }}\nselect * from {{ ref('src') }}"})  # fmt: skip
    with Context(root) as ctx:
        assert ctx.build().exit_code == 0
    write_files(root, {"seeds/src.csv": "id,amount\n1,10\n2,20\n3,30\n"})
    with Context(root) as ctx:
        result = ctx.build()
        assert result.exit_code == 0
        unit = next(r for r in result.results if r.unit_id.endswith(".fct"))
        assert unit.rows == 3 and "delta version 1" in unit.message
        report = ctx.metrics("fct", "row_count")
    assert [p.value for p in report.points] == [1, 3], report


def test_lineage_names_the_files_of_a_lake_table(make_project: Callable[..., Path], cli) -> None:
    root = make_project({"seeds/src.csv": "id,amount\n1,10\n",
                         "models/fct.sql": "{{ config(materialized='delta') }}\nselect * from {{ ref('src') }}",
                         "models/rpt.sql": "select count(*) as n from {{ ref('fct') }}"})  # fmt: skip
    with Context(root) as ctx:
        tree = ctx.lineage("rpt").tree
    (fct,) = tree.children
    assert fct.name == "fct" and fct.location == f"delta {root / 'lake' / 'main' / 'fct'}"
    assert tree.location is None  # a warehouse view
    res = cli("lineage", "rpt", "--json", "--project-dir", str(root))
    data = json.loads(res.out)
    assert data["tree"]["children"][0]["location"] == fct.location
