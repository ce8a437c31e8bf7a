"""The typed rows of the state store: what the repositories take and return.

Every record is a frozen dataclass whose fields are the columns of its table, in table order (a
record is built from a row with ``Record(*row)``); `as_row` turns one into the plain dict the
JSON outputs and the HTML report print. JSON columns (`Invocation.args`, `CheckRecord.sample`,
`RelationSchema.columns`, ...) hold the JSON text as stored.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "AlertDelivery",
    "Backfill",
    "BackfillItem",
    "CheckPoint",
    "CheckRecord",
    "FreshnessRecord",
    "Incident",
    "Interval",
    "Invocation",
    "MetricPoint",
    "MetricValue",
    "NodeRun",
    "ScheduleRun",
    "SchemaChangeRecord",
    "SeriesPoint",
    "SlaBreach",
    "as_row",
    "as_values",
]


def as_row(record: DataclassInstance) -> dict[str, Any]:
    """A record as a dict of its columns (shallow: JSON columns stay text)."""
    return {name: getattr(record, name) for name in _names(type(record))}


def as_values(record: DataclassInstance) -> tuple[object, ...]:
    """A record's values in column order (the parameters of its INSERT)."""
    return tuple(getattr(record, name) for name in _names(type(record)))


@functools.cache
def _names(cls: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


# -- runs ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Invocation:
    """One command run (`invocations`): ``args`` and ``summary`` are JSON text."""

    invocation_id: str
    command: str
    args: str | None
    target: str | None
    started_at: float
    finished_at: float | None
    status: str
    summary: str | None


@dataclass(frozen=True, slots=True)
class NodeRun:
    """One node's result in one invocation (`node_runs`)."""

    invocation_id: str
    unique_id: str
    name: str
    resource_type: str
    materialized: str | None
    relation: str | None
    status: str
    started_at: float | None
    duration: float | None
    rows: int | None
    message: str | None
    rejected: int | None

    @classmethod
    def of(cls, invocation_id: str, row: Mapping[str, Any]) -> NodeRun:
        """From a unit result's ``to_dict()`` (extra keys such as ``checks`` are ignored)."""
        return cls(
            invocation_id, row["unique_id"], row["name"], row["resource_type"],
            row.get("materialized"), row.get("relation"), row["status"], row.get("started_at"),
            row.get("duration"), row.get("rows"), row.get("message"), row.get("rejected"),
        )  # fmt: skip


# -- checks ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CheckRecord:
    """One check result (`check_results`): ``sample`` and ``result`` are JSON text."""

    invocation_id: str
    unique_id: str
    name: str
    check_type: str | None
    node: str | None
    column_name: str | None
    severity: str | None
    status: str
    failures: int | None
    message: str | None
    query: str | None
    sample: str | None
    recorded_at: float | None
    rows_checked: int | None
    quarantined: int | None
    result: str | None

    @classmethod
    def of(
        cls, invocation_id: str, result: Mapping[str, Any], recorded_at: float | None = None
    ) -> CheckRecord:
        """From a check result's ``to_dict()``, recorded now (or at ``recorded_at``)."""
        raw = result.get("result")
        return cls(
            invocation_id, result["unique_id"], result["name"], result["check"], result["node"],
            result["column"], result["severity"], result["status"], result["failures"],
            result["message"], result["query"], json.dumps(result["sample"], default=str),
            time.time() if recorded_at is None else recorded_at, result.get("rows"),
            result.get("quarantined"), json.dumps(raw, default=str) if raw is not None else None,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CheckPoint:
    """One past result of a check, for its trend."""

    unique_id: str
    invocation_id: str
    status: str
    failures: int | None
    rows_checked: int | None
    quarantined: int | None
    recorded_at: float | None


# -- the interval ledger and backfill plans --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Interval:
    """One interval of a time-partitioned model (`intervals`)."""

    unique_id: str
    interval_start: str
    interval_end: str
    status: str
    rows: int | None
    invocation_id: str | None
    built_at: float | None
    duration: float | None
    message: str | None


@dataclass(frozen=True, slots=True)
class Backfill:
    """A backfill plan (`backfills`); ``end_`` is its end (``end`` is an SQL keyword)."""

    backfill_id: str
    created_at: float
    selection: str | None
    start: str
    end_: str
    rerun: str
    status: str
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class BackfillItem:
    """One interval of one model in a backfill plan (`backfill_intervals`)."""

    backfill_id: str
    unique_id: str
    interval_start: str
    interval_end: str
    status: str
    attempts: int
    rows: int | None
    message: str | None


# -- metrics and schemas ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MetricValue:
    """One measurement of one node run (`node_metrics`); ``column_name`` is '' for table metrics."""

    invocation_id: str
    unique_id: str
    recorded_at: float
    metric: str
    column_name: str
    value: float | None


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One point of one series (node, metric, column)."""

    invocation_id: str
    recorded_at: float
    value: float | None


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One point of one of a node's series."""

    metric: str
    column_name: str
    recorded_at: float
    value: float | None


@dataclass(frozen=True, slots=True)
class SchemaChangeRecord:
    """One recorded schema change (`schema_changes`)."""

    unique_id: str
    invocation_id: str
    recorded_at: float
    change: str
    column_name: str | None
    old: str | None
    new: str | None


# -- freshness, SLAs, schedules --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FreshnessRecord:
    """One node's freshness in one `headwater freshness` (`freshness_results`)."""

    invocation_id: str
    unique_id: str
    recorded_at: float
    status: str
    max_loaded_at: str | None
    age_seconds: float | None
    warn_after_seconds: float | None
    error_after_seconds: float | None
    message: str | None


@dataclass(frozen=True, slots=True)
class SlaBreach:
    """A missed SLA (`sla_breaches`), recorded once per (sla, kind, node, deadline)."""

    sla: str
    kind: str
    unique_id: str
    due_at: float
    detected_at: float
    invocation_id: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    """A scheduler's last and next run of one schedule (`schedule_runs`)."""

    schedule: str
    last_run_at: float | None
    next_run_at: float | None
    invocation_id: str | None
    status: str | None


# -- incidents -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Incident:
    """One (trigger, subject) incident (`incidents`)."""

    incident_key: str
    trigger: str
    subject: str
    status: str
    opened_at: float
    resolved_at: float | None
    last_seen_at: float | None
    last_alert_at: float | None
    occurrences: int
    message: str | None


@dataclass(frozen=True, slots=True)
class AlertDelivery:
    """One attempt to tell a channel about an incident (`alert_deliveries`)."""

    incident_key: str
    channel: str
    kind: str
    sent_at: float
    ok: bool
    error: str | None
