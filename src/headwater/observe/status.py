"""What the state store knows, on one screen: the data of `Context.status` and `Context.metrics`
(`headwater status` and `headwater metrics` render them, `headwater.cli.render.status`).

`status_report` gathers the last invocations, the checks whose latest result is warn/fail/error,
stale sources and models (latest freshness result warn/error), open anomalies (latest
anomaly-monitor result warn/fail), recent schema changes, source loads whose latest run set
records aside in `<table>__rejected`, and open incidents. It reports, it does not judge:
`headwater status` always exits 0 (`build`/`test`/`freshness` are the commands whose exit code
gates a pipeline, and a status screen that fails would stop the scripts that print it right when
it matters most).

`metrics_report` is a node's series (row_count, null_rate of a column, ...) with their recent
values, or one series' history with the change from each run to the next.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.errors import NodeNotFoundError, UsageError, did_you_mean
from headwater.state.records import as_row

if TYPE_CHECKING:
    from headwater.project.definition import Node
    from headwater.state import StateStore
    from headwater.state.records import (
        CheckRecord,
        FreshnessRecord,
        Incident,
        NodeRun,
        SchemaChangeRecord,
    )

METRICS = ("row_count", "rows_inserted", "rows_updated", "rows_deleted", "bytes", "duration_seconds",
           "freshness_lag_seconds", "null_rate", "distinct_count", "min", "max", "mean",
           # a stream's (headwater.streams.monitor): the column is the process, or the partition
           "stream_events", "stream_events_per_s", "stream_dlq_rate", "stream_latency_p50",
           "stream_latency_p99", "stream_last_commit", "stream_lag", "stream_watermark",
           "stream_errors")  # fmt: skip
COLUMN_METRICS = ("null_rate", "distinct_count", "min", "max", "mean")

_CHECK_KEYS = ("invocation_id", "unique_id", "name", "check_type", "node", "column_name", "severity",
               "status", "failures", "message", "recorded_at")  # fmt: skip
_REJECTED_KEYS = ("unique_id", "name", "relation", "rows", "rejected", "message", "started_at")
_INCIDENT_KEYS = ("incident_key", "trigger", "subject", "status", "opened_at", "last_seen_at",
                  "occurrences", "message")  # fmt: skip


# -- status ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSummary:
    """One invocation of `headwater status`'s "Last runs": its node runs counted by status."""

    invocation_id: str
    command: str
    status: str
    target: str | None
    started_at: float
    finished_at: float | None
    nodes: dict[str, int]
    """How many node runs ended in each status."""

    @property
    def elapsed(self) -> float | None:
        """Seconds it took; None while it runs."""
        return (self.finished_at - self.started_at) if self.finished_at else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "invocation_id": self.invocation_id, "command": self.command, "status": self.status,
            "target": self.target, "started_at": self.started_at, "finished_at": self.finished_at,
            "elapsed": self.elapsed, "nodes": self.nodes,
        }  # fmt: skip


@dataclass
class StatusReport:
    """The sections of `headwater status`, at most ``limit`` rows each, newest first."""

    generated_at: float
    invocations: list[RunSummary] = field(default_factory=list)
    checks: list[CheckRecord] = field(default_factory=list)
    """Checks whose latest result is warn, fail or error (anomaly monitors are `anomalies`)."""
    stale: list[FreshnessRecord] = field(default_factory=list)
    """Nodes whose latest freshness is warn or error, oldest data first."""
    anomalies: list[CheckRecord] = field(default_factory=list)
    """Anomaly monitors whose latest result is warn or fail."""
    schema_changes: list[SchemaChangeRecord] = field(default_factory=list)
    rejected: list[NodeRun] = field(default_factory=list)
    """Loads whose latest run set records aside in `<table>__rejected`."""
    incidents: list[Incident] = field(default_factory=list)
    """Open incidents."""

    def to_dict(self) -> dict[str, Any]:
        """What `headwater status --json` prints."""
        return {
            "generated_at": self.generated_at,
            "invocations": [i.to_dict() for i in self.invocations],
            "checks": [{k: getattr(c, k) for k in _CHECK_KEYS} for c in self.checks],
            "stale": [as_row(r) for r in self.stale],
            "anomalies": [
                {
                    **{k: getattr(a, k) for k in _CHECK_KEYS},
                    "result": json.loads(a.result) if a.result else None,
                }
                for a in self.anomalies
            ],
            "schema_changes": [as_row(c) for c in self.schema_changes],
            "rejected": [{k: getattr(r, k) for k in _REJECTED_KEYS} for r in self.rejected],
            "incidents": [{k: getattr(i, k) for k in _INCIDENT_KEYS} for i in self.incidents],
        }


def status_report(state: StateStore, limit: int = 10) -> StatusReport:
    """The sections of `headwater status`, ``limit`` rows each."""
    invocations = [
        RunSummary(
            inv.invocation_id, inv.command, inv.status, inv.target, inv.started_at,
            inv.finished_at, state.runs.status_counts(inv.invocation_id),
        )
        for inv in state.runs.recent(limit)
    ]  # fmt: skip
    return StatusReport(
        generated_at=time.time(),
        invocations=invocations,
        checks=state.checks.latest_results(("warn", "fail", "error"), anomalies=False, limit=limit),
        stale=state.freshness.latest_stale(limit),
        anomalies=state.checks.latest_results(("warn", "fail"), anomalies=True, limit=limit),
        schema_changes=state.metrics.recent_changes(limit),
        rejected=state.runs.latest_rejected(limit),
        incidents=state.incidents.latest_open(limit),
    )


# -- metrics -------------------------------------------------------------------------------------------
@dataclass
class MetricSeries:
    """One series of a node (a metric, of a column for column metrics): its last values."""

    metric: str
    column: str
    """'' for table metrics."""
    values: list[float | None]
    """Oldest first."""
    last_recorded_at: float

    @property
    def last(self) -> float | None:
        return self.values[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "column": self.column, "values": self.values,
            "last": self.last, "last_recorded_at": self.last_recorded_at,
        }  # fmt: skip


@dataclass
class MetricChange:
    """One run's value of a series and its change from the previous value (None for the first)."""

    recorded_at: float
    invocation_id: str
    value: float | None
    change: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"recorded_at": self.recorded_at, "invocation_id": self.invocation_id,
                "value": self.value, "change": self.change}  # fmt: skip


@dataclass
class MetricsReport:
    """A node's series (``metric`` None), or the history of its series ``metric`` / ``column``."""

    node: Node
    limit: int
    """Runs per series."""
    series: list[MetricSeries] = field(default_factory=list)
    metric: str | None = None
    column: str = ""
    points: list[MetricChange] = field(default_factory=list)
    """The history of ``metric``, oldest first."""
    recorded: list[MetricSeries] = field(default_factory=list)
    """When ``metric`` has no history: the series the node has (their last value each)."""

    def to_dict(self) -> dict[str, Any]:
        """What `headwater metrics --json` prints."""
        if self.metric is None:
            return {"node": self.node.unique_id, "series": [s.to_dict() for s in self.series]}
        return {"node": self.node.unique_id, "metric": self.metric, "column": self.column,
                "points": [p.to_dict() for p in self.points]}  # fmt: skip


def find_node(nodes: dict[str, Node], name: str) -> Node:
    """A measurable node by unique_id, name or `source.table`; unknown or ambiguous -> exit 2."""
    candidates = [
        n
        for n in nodes.values()
        if n.resource_type in ("model", "seed", "source", "snapshot", "stream")
    ]
    if name in nodes and nodes[name] in candidates:
        return nodes[name]
    found = [n for n in candidates if name in (n.display_name, n.name)]
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(
            f"`{name}` names {len(found)} nodes: " + ", ".join(f"`{n.unique_id}`" for n in found),
            hint="pass the unique_id of the one you mean",
        )
    names = sorted({n.display_name for n in candidates})
    raise NodeNotFoundError(f"no model, seed, snapshot, source or stream named `{name}`" + did_you_mean(name, names),
                            hint="see `headwater ls` for the names")  # fmt: skip


def series_of(state: StateStore, unique_id: str, limit: int) -> list[MetricSeries]:
    """Every series of a node with its last ``limit`` values: table metrics first, then by
    column, in the order of `METRICS`."""
    out: dict[tuple[str, str], MetricSeries] = {}
    for p in state.metrics.series(unique_id, limit):
        s = out.get((p.metric, p.column_name))
        if s is None:
            s = out[p.metric, p.column_name] = MetricSeries(p.metric, p.column_name, [], 0.0)
        s.values.append(p.value)
        s.last_recorded_at = p.recorded_at
    order = {m: i for i, m in enumerate(METRICS)}
    return sorted(
        out.values(),
        key=lambda s: (s.column != "", s.column, order.get(s.metric, 99), s.metric),
    )


def check_metric(metric: str | None, column: str | None) -> None:
    """`UsageError` for an unknown metric, or a column without a metric."""
    if metric and metric not in METRICS:
        raise UsageError(f"unknown metric `{metric}`" + did_you_mean(metric, METRICS),
                         hint="one of: " + ", ".join(METRICS))  # fmt: skip
    if column and not metric:
        raise UsageError("a column needs a metric", hint="e.g. metric='null_rate', column='email'")


def metrics_report(
    state: StateStore,
    node: Node,
    metric: str | None = None,
    column: str | None = None,
    limit: int = 30,
) -> MetricsReport:
    """The series of ``node`` (last ``limit`` runs each), or the history of one of them."""
    if not metric:
        return MetricsReport(node, limit, series_of(state, node.unique_id, limit))
    column = column or ""
    if metric in COLUMN_METRICS and not column:
        raise UsageError(
            f"`{metric}` is measured per column",
            hint=f"add --column C, e.g. --metric {metric} --column id",
        )
    points: list[MetricChange] = []
    prev: float | None = None
    for h in state.metrics.history(node.unique_id, metric, column, limit=limit):
        change = None if prev is None or h.value is None else h.value - prev
        points.append(MetricChange(h.recorded_at, h.invocation_id, h.value, change))
        prev = h.value if h.value is not None else prev
    report = MetricsReport(node, limit, metric=metric, column=column, points=points)
    if not points:
        report.recorded = series_of(state, node.unique_id, 1)
    return report
