"""`headwater status` and `headwater metrics` through the CLI, on a real project and state store."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.cli.render.status import BARS, fmt_change, sparkline
from headwater.context import Context
from tests.conftest import write_files

FILES = {
    "seeds/src.csv": "id,name\n1,a\n2,\n3,c\n",
    "models/marts/t.sql": "select id, name from {{ ref('src') }}",
    "models/marts/schema.yml": """
        models:
          - name: t
            columns:
              - name: name
                data_tests: [{not_null: {config: {severity: warn}}}]
    """,
}


@pytest.fixture
def project(make_project: Callable[..., Path], cli) -> Path:
    """Built twice, the second time with one more row and a renamed column."""
    root = make_project(FILES)
    assert cli("build", "--project-dir", root).code == 0
    write_files(root, {"seeds/src.csv": "id,name\n1,a\n2,\n3,c\n4,d\n",
                       "models/marts/t.sql": "select id, name, name as label from {{ ref('src') }}"})  # fmt: skip
    assert cli("build", "--project-dir", root).code == 0
    return root


def _other_parts(root: Path) -> None:
    """Rows the freshness, monitor and alert parts write (here written directly)."""
    now = time.time()
    with Context(root) as ctx:
        ctx.state.write("INSERT INTO freshness_results VALUES (?,?,?,?,?,?,?,?,?)", [
            ("f1", "source.t.raw.events", now - 10, "error", "2026-01-01 00:00:00", 90000.0, 3600.0, 86400.0, "25 h old"),
            ("f1", "source.t.raw.ok", now - 10, "pass", "2026-01-01 00:00:00", 1.0, 3600.0, None, ""),
            ("f0", "source.t.raw.ok", now - 99, "error", "2026-01-01 00:00:00", 1.0, 3600.0, None, "old result"),
        ])  # fmt: skip
        ctx.state.write(
            "INSERT INTO check_results (invocation_id, unique_id, name, check_type, node, severity, status, failures, "
            "message, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [("a1", "anomaly.model.t.t.row_count", "anomaly_t_row_count", "anomaly_row_count", "model.t.t", "warn", "warn",
              1, "row_count 4 outside [10, 12]", now)],
        )  # fmt: skip
        ctx.state.write(
            "INSERT INTO incidents (incident_key, trigger, subject, status, opened_at, message) VALUES (?,?,?,?,?,?)",
            [("sla:nightly", "sla", "nightly", "open", now - 60, "nightly missed 06:00"),
             ("sla:old", "sla", "old", "resolved", now - 600, "was late")],
        )  # fmt: skip


def test_status_screen(project: Path, cli) -> None:
    _other_parts(project)
    res = cli("status", "--project-dir", project)
    assert res.code == 0, res.err
    out = res.out
    for title in ("Last runs", "Failing and warning checks", "Stale sources and models", "Open anomalies",
                  "Recent schema changes", "Open incidents"):  # fmt: skip
        assert title in out
    assert out.count("build") >= 2 and "not_null_t_name" in out
    assert (
        "raw.events" in out and "25 h old" in out and "old result" not in out
    )  # only the latest result is stale
    assert "row_count 4 outside" in out
    assert "label" in out and "added" in out  # the schema change of t
    assert "nightly missed 06:00" in out and "was late" not in out


def test_status_json(project: Path, cli) -> None:
    _other_parts(project)
    res = cli("status", "--project-dir", project, "--json", "--limit", "5")
    assert res.code == 0
    data = json.loads(res.out)
    assert set(data) == {
        "generated_at",
        "invocations",
        "checks",
        "stale",
        "anomalies",
        "schema_changes",
        "rejected",
        "incidents",
    }
    assert [i["command"] for i in data["invocations"]] == ["build", "build"]
    assert data["invocations"][0]["nodes"] == {"success": 1, "warn": 1}
    assert {c["name"] for c in data["checks"]} == {
        "not_null_t_name"
    }  # schema_change and anomalies have their sections
    assert [r["unique_id"] for r in data["stale"]] == ["source.t.raw.events"]
    assert [a["check_type"] for a in data["anomalies"]] == ["anomaly_row_count"]
    assert [(c["unique_id"], c["change"], c["column_name"]) for c in data["schema_changes"]] == [
        ("model.t.t", "added", "label")
    ]
    subjects = [
        i["subject"] for i in data["incidents"]
    ]  # (alerting may have opened schema-change incidents too)
    assert (
        "nightly" in subjects
        and "old" not in subjects
        and all(i["status"] == "open" for i in data["incidents"])
    )


def test_status_of_an_empty_project(make_project, cli) -> None:
    root = make_project({"models/marts/t.sql": "select 1 as id"})
    res = cli("status", "--project-dir", root)
    assert res.code == 0 and "no runs yet" in res.out
    data = json.loads(cli("status", "--project-dir", root, "--json").out)
    assert data["invocations"] == [] and data["incidents"] == []
    assert cli("status", "--project-dir", root, "--limit", "0").code == 2


def test_metrics_lists_series_with_sparklines(project: Path, cli) -> None:
    res = cli("metrics", "t", "--project-dir", project)
    assert res.code == 0, res.err
    lines = {
        line.split("│")[0].strip() + "/" + line.split("│")[1].strip(): line
        for line in res.out.splitlines()
        if "│" in line
    }
    row = lines["row_count/"]
    assert " 4 " in row and "▁█" in row  # 3 then 4 rows
    assert "null_rate/name" in lines and "distinct_count/id" in lines


def test_metrics_one_series(project: Path, cli) -> None:
    res = cli("metrics", "t", "--metric", "row_count", "--project-dir", project)
    assert res.code == 0
    assert "+1 (+33.3%)" in res.out and "▁█" in res.out
    data = json.loads(
        cli("metrics", "t", "--metric", "row_count", "--project-dir", project, "--json").out
    )
    assert data["node"] == "model.t.t" and data["metric"] == "row_count" and data["column"] == ""
    assert [p["value"] for p in data["points"]] == [3, 4] and [
        p["change"] for p in data["points"]
    ] == [None, 1]
    assert set(data["points"][0]) == {"recorded_at", "invocation_id", "value", "change"}
    col = json.loads(
        cli(
            "metrics",
            "t",
            "--metric",
            "null_rate",
            "--column",
            "name",
            "--project-dir",
            project,
            "--json",
        ).out
    )
    assert [p["value"] for p in col["points"]] == [pytest.approx(1 / 3), 0.25]
    listed = json.loads(cli("metrics", "src", "--project-dir", project, "--json").out)
    assert listed["node"] == "seed.t.src"
    assert {(s["metric"], s["column"]) for s in listed["series"]} >= {
        ("row_count", ""),
        ("null_rate", "id"),
    }


def test_metrics_errors_and_empty_history(project: Path, make_project, cli) -> None:
    res = cli("metrics", "tt", "--project-dir", project)
    assert (
        res.code == 2
        and "no model, seed, snapshot, source or stream named `tt`" in res.err
        and "did you mean `t`" in res.err
    )
    res = cli("metrics", "t", "--metric", "row_cnt", "--project-dir", project)
    assert res.code == 2 and "did you mean `row_count`" in res.err
    res = cli("metrics", "t", "--metric", "null_rate", "--project-dir", project)
    assert res.code == 2 and "--column" in res.err
    res = cli("metrics", "t", "--metric", "mean", "--column", "nope", "--project-dir", project)
    assert res.code == 0 and "no history recorded" in res.out and "--metric row_count" in res.out
    fresh = make_project({"models/marts/t.sql": "select 1 as id"}, name="fresh")
    res = cli("metrics", "t", "--project-dir", fresh)
    assert res.code == 0 and "no metrics recorded yet" in res.out
    res = cli("metrics", "t", "--metric", "row_count", "--project-dir", fresh)
    assert res.code == 0 and "nothing is recorded for it yet" in res.out


# -- helpers -------------------------------------------------------------------------------------------------
@given(st.lists(st.one_of(st.none(), st.floats(-1e9, 1e9)), max_size=40))
def test_sparkline_property(values: list[float | None]) -> None:
    line = sparkline(values)
    assert len(line) == len(values)
    real = [v for v in values if v is not None]
    for v, ch in zip(values, line, strict=True):
        assert (ch == " ") == (v is None)
    if real and min(real) != max(real):
        assert (
            line[values.index(min(real))] == BARS[0] and line[values.index(max(real))] == BARS[-1]
        )
    # bars never go down when the value goes up
    ranked = sorted(
        (v, BARS.index(ch)) for v, ch in zip(values, line, strict=True) if v is not None
    )
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(ranked))


def test_fmt_change() -> None:
    assert fmt_change(None, 3) == "" and fmt_change(3, 3) == "="
    assert fmt_change(4, 2) == "-2 (-50.0%)" and fmt_change(0, 2) == "+2"
