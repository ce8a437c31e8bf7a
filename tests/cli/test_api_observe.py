"""Commands are API: `Context.status`, `Context.metrics` and `Context.freshness` return typed
reports and print nothing; `headwater status / metrics / freshness --json` print their
`to_dict()`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headwater.context import Context
from headwater.errors import NodeNotFoundError, UsageError
from headwater.observe.freshness import FreshnessReport, FreshnessResult
from headwater.observe.status import (
    MetricChange,
    MetricSeries,
    MetricsReport,
    RunSummary,
    StatusReport,
)
from headwater.state.records import CheckRecord, SchemaChangeRecord
from tests.conftest import write_files

FILES = {
    "seeds/src.csv": "id,name\n1,a\n2,\n3,c\n",
    "models/marts/t.sql": "select id, name from {{ ref('src') }}",
    "models/marts/schema.yml": """
        models:
          - name: t
            config:
              freshness: {warn_after: {count: 1, period: hour}}
            columns:
              - name: name
                data_tests: [{not_null: {config: {severity: warn}}}]
    """,
}


@pytest.fixture
def project(make_project, cli) -> Path:
    """Built twice, the second time with one more row and one more column."""
    root = make_project(FILES)
    assert cli("build", "--project-dir", root).code == 0
    write_files(root, {"seeds/src.csv": "id,name\n1,a\n2,\n3,c\n4,d\n",
                       "models/marts/t.sql": "select id, name, name as label from {{ ref('src') }}"})  # fmt: skip
    assert cli("build", "--project-dir", root).code == 0
    return root


def test_status_is_a_typed_report(project: Path, cli, capsys) -> None:
    with Context(project) as ctx:
        report = ctx.status(limit=5)
    assert capsys.readouterr() == ("", "")
    assert isinstance(report, StatusReport)
    assert [type(i) for i in report.invocations] == [RunSummary, RunSummary]
    latest = report.invocations[0]
    assert latest.command == "build" and latest.nodes == {"success": 1, "warn": 1}
    assert latest.elapsed is not None and latest.elapsed >= 0
    [check] = report.checks
    assert isinstance(check, CheckRecord) and check.name == "not_null_t_name"
    [change] = report.schema_changes
    assert isinstance(change, SchemaChangeRecord)
    assert (change.change, change.column_name) == ("added", "label")
    assert report.stale == [] and report.anomalies == [] and report.rejected == []
    # the CLI prints the same document (but the time it was made)
    doc = json.loads(cli("status", "--project-dir", project, "--json", "--limit", "5").out)
    api = report.to_dict()
    assert list(doc) == list(api)
    doc.pop("generated_at"), api.pop("generated_at")
    assert doc == api
    with Context(project) as ctx, pytest.raises(UsageError, match="limit must be at least 1"):
        ctx.status(limit=0)


def test_metrics_series_and_one_history(project: Path, cli, capsys) -> None:
    with Context(project) as ctx:
        series = ctx.metrics("t")
        history = ctx.metrics("t", "row_count")
        column = ctx.metrics("model.t.t", "null_rate", column="name", limit=1)
        unknown_column = ctx.metrics("t", "null_rate", column="nope")
    assert capsys.readouterr() == ("", "")
    assert isinstance(series, MetricsReport) and series.metric is None
    assert all(isinstance(s, MetricSeries) for s in series.series)
    row_count = series.series[0]
    assert (row_count.metric, row_count.column, row_count.values) == ("row_count", "", [3, 4])
    assert row_count.last == 4
    assert [type(p) for p in history.points] == [MetricChange, MetricChange]
    assert [(p.value, p.change) for p in history.points] == [(3, None), (4, 1)]
    assert [p.value for p in column.points] == [0.25]  # the last run only
    assert unknown_column.points == [] and "row_count" in {
        s.metric for s in unknown_column.recorded
    }
    for args, report in (
        ([], series),
        (["--metric", "row_count"], history),
        (["--metric", "null_rate", "--column", "name", "--limit", "1"], column),
    ):
        res = cli("metrics", "t", *args, "--json", "--project-dir", project)
        assert res.code == 0, res.err
        assert json.loads(res.out) == report.to_dict()


def test_metrics_errors(project: Path) -> None:
    with Context(project) as ctx:
        with pytest.raises(
            NodeNotFoundError, match="no model, seed, snapshot, source or stream named"
        ):
            ctx.metrics("nope")
        with pytest.raises(UsageError, match="unknown metric `rows`"):
            ctx.metrics("t", "rows")
        with pytest.raises(UsageError, match="is measured per column"):
            ctx.metrics("t", "null_rate")
        with pytest.raises(UsageError, match="a column needs a metric"):
            ctx.metrics("t", column="name")
        with pytest.raises(UsageError, match="limit must be at least 1"):
            ctx.metrics("t", limit=0)


def test_freshness_is_a_typed_report(project: Path, cli, capsys) -> None:
    with Context(project) as ctx:
        report = ctx.freshness()
        assert capsys.readouterr() == ("", "")
        assert isinstance(report, FreshnessReport) and report.exit_code == 0
        [result] = report.results
        assert isinstance(result, FreshnessResult)
        assert (result.name, result.status, result.loaded_at_source) == ("t", "pass", "node_runs")
        assert report.counts == {"pass": 1} and report.slas == []
        [inv] = [i for i in ctx.status().invocations if i.command == "freshness"]
        assert inv.invocation_id == report.invocation_id
        assert ctx.freshness(exclude=["t"]).results == []
    res = cli("freshness", "--project-dir", project, "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    api = report.to_dict()
    for d in (doc, api):
        d.pop("invocation_id"), d.pop("elapsed")
        for r in d["results"]:
            for key in ("snapshotted_at", "max_loaded_at_time_ago_in_s", "execution_time"):
                r.pop(key)
    assert doc == api
