"""Anomaly monitors: declared on models and source tables, evaluated as post-publish checks
(`headwater.quality.post_publish`) after every build.

A monitor watches one metric series that `headwater.observe.metrics` records per node run and
asks the detector (`headwater.observe.anomaly`) whether this run's value is out of line with the
runs before it. Declared in a node's config (model `config:`, `{{ config(monitors=[...]) }}`,
folder configs in headwater.yml, or `monitors:` on a source / source table)::

    monitors:
      - volume                                  # row_count
      - volume: {metric: rows_added, sensitivity: 4, direction: drop, seasonality: day_of_week}
      - freshness                               # freshness_lag_seconds, direction spike
      - null_rate: {column: email}
      - distinct_count: {column: customer_id}
      - mean: {column: amount, severity: error}

Kinds: ``volume`` (``metric``: row_count (default), rows_added — the difference of consecutive
row counts, i.e. rows added per run interval —, rows_inserted, rows_updated, rows_deleted, bytes),
``freshness`` (freshness_lag_seconds), and the column kinds ``null_rate``, ``distinct_count``,
``mean``, ``min``, ``max`` (``column`` required; the column must be profiled, which the metrics
part does for monitored columns — see `monitored_metrics`).

Options: ``sensitivity`` (standard deviations, default 3), ``direction`` (both | spike | drop;
default both, spike for freshness), ``seasonality`` (none | day_of_week, weekdays in UTC),
``window`` (training points, default 14), ``min_points`` (default 7; no alert before),
``severity`` (warn (default) | error: an anomaly fails the node and skips its downstream).

A project default for every model, snapshot and loaded source that declares no monitors of its
own (``monitors: []`` on a node opts out; column kinds are not allowed here)::

    observability:
      monitors:
        default: [volume, freshness]

Each monitor gives a `CheckResult` (check ``anomaly:<kind>``, unique_id
``monitor.<node unique_id>.<kind>[.<metric>][.<column>]``, name ``volume_anomaly_fct_orders``):
``pass`` while training or in range, ``warn`` / ``fail`` (severity error) on an anomaly, with the
observed value, expected range, median, MAD, training points and seasonality in ``result``; and a
`Signal` ``anomaly`` on the bus, ``open`` on an anomaly and ``ok`` otherwise. Monitors run on
every command that builds (run, build, seed, snapshot, extract): the history is recorded by every
build, so is its judgement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError, Location, did_you_mean
from headwater.observe import Bus, Signal
from headwater.observe.anomaly import (
    DEFAULT_MIN_POINTS,
    DEFAULT_SENSITIVITY,
    DEFAULT_WINDOW,
    DIRECTIONS,
    SEASONALITIES,
    Detection,
    Point,
    detect,
    differences,
)
from headwater.project.definition import Node

if TYPE_CHECKING:
    from headwater.context import Context
    from headwater.engines.base import Engine
    from headwater.quality.evaluator import CheckResult
    from headwater.runner.events import Unit, UnitResult
    from headwater.state import StateStore

TABLE_KINDS = {"volume": "row_count", "freshness": "freshness_lag_seconds"}
COLUMN_KINDS = {
    "null_rate": "null_rate",
    "distinct_count": "distinct_count",
    "mean": "mean",
    "min": "min",
    "max": "max",
}
KINDS = {**TABLE_KINDS, **COLUMN_KINDS}
VOLUME_METRICS = (
    "row_count",
    "rows_added",
    "rows_inserted",
    "rows_updated",
    "rows_deleted",
    "bytes",
)
OPTIONS = (
    "sensitivity",
    "direction",
    "seasonality",
    "window",
    "min_points",
    "severity",
    "column",
    "metric",
)
SEVERITIES = ("warn", "error")
DEFAULT_RESOURCE_TYPES = ("model", "source", "snapshot")
"""Nodes the project default (`observability: monitors: default:`) applies to."""


@dataclass(frozen=True)
class Monitor:
    """One declared monitor of one node."""

    node: str
    """unique_id of the monitored node."""
    label: str
    """The node's name in check names (`source_table` for sources)."""
    kind: str
    metric: str
    column: str | None = None
    sensitivity: float = DEFAULT_SENSITIVITY
    direction: str = "both"
    seasonality: str = "none"
    window: int = DEFAULT_WINDOW
    min_points: int = DEFAULT_MIN_POINTS
    severity: str = "warn"

    @property
    def derived(self) -> bool:
        """True if the series is computed from another one (rows_added from row_count)."""
        return self.metric == "rows_added"

    @property
    def source_metric(self) -> str:
        """The recorded metric the series is read from."""
        return "row_count" if self.derived else self.metric

    @property
    def unique_id(self) -> str:
        out = f"monitor.{self.node}.{self.kind}"
        if self.metric != KINDS[self.kind]:
            out += f".{self.metric}"
        return out + (f".{self.column}" if self.column else "")

    @property
    def name(self) -> str:
        kind = self.kind if self.metric == KINDS[self.kind] else f"{self.kind}_{self.metric}"
        return f"{kind}_anomaly_{self.label}" + (f"_{self.column}" if self.column else "")

    @property
    def history_limit(self) -> int:
        """Past points to read: ``window`` same-weekday points of a series measured at least daily
        lie within the last 7 x ``window`` points."""
        return self.window * (7 if self.seasonality == "day_of_week" else 1)


# -- configuration ------------------------------------------------------------------------------
def node_label(node: Node) -> str:
    return (
        f"{node.source_name}_{node.name}"
        if node.resource_type == "source" and node.source_name
        else node.name
    )


def parse_monitors(node: Node, default: list[Any] | None = None) -> list[Monitor]:
    """The monitors of ``node`` (its `monitors:` config, else ``default`` when the project gives
    one and the node is of a kind it applies to). Raises `ConfigError` naming the node and key."""
    if "monitors" in node.config:
        raw, from_default = node.config.get("monitors"), False
    elif default and node.resource_type in DEFAULT_RESOURCE_TYPES and node.is_executable:
        raw, from_default = default, True
    else:
        return []
    if raw is None or raw is False:
        return []
    where = f"`monitors` of `{node.display_name}`"
    if not isinstance(raw, list):
        raise ConfigError(
            f"{where} must be a list, got {type(raw).__name__} `{raw!r}`",
            node=node.display_name, location=_loc(raw), hint="e.g. `monitors: [volume, {null_rate: {column: email}}]`",
        )  # fmt: skip
    out: list[Monitor] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        monitor = _parse_one(node, item, where, _loc(raw, i), from_default)
        if monitor.unique_id in seen:
            raise ConfigError(
                f"{where} declares `{monitor.name}` twice", node=node.display_name, location=_loc(raw, i),
                hint="give the second one another metric or column, or remove it",
            )  # fmt: skip
        seen.add(monitor.unique_id)
        out.append(monitor)
    return out


def _parse_one(
    node: Node, item: Any, where: str, loc: Location | None, from_default: bool
) -> Monitor:
    def fail(message: str, hint: str) -> ConfigError:
        return ConfigError(f"{where}: {message}", node=node.display_name, location=loc, hint=hint)

    kinds_text = ", ".join(KINDS)
    options: Any
    if isinstance(item, str):
        kind, options = item, {}
    elif isinstance(item, dict) and len(item) == 1:
        kind, options = next(iter(item.items()))
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise fail(
                f"the options of `{kind}` must be a mapping, got `{options!r}`",
                f"e.g. `- {kind}: {{sensitivity: 4}}`",
            )
    else:
        raise fail(
            f"each monitor is a name or a one-key mapping, got `{item!r}`",
            "e.g. `- volume` or `- null_rate: {column: email}`",
        )
    if kind not in KINDS:
        raise fail(
            f"unknown monitor `{kind}`{did_you_mean(str(kind), KINDS)}", f"monitors: {kinds_text}"
        )
    for key in options:
        if key not in OPTIONS:
            raise fail(
                f"unknown option `{key}` of `{kind}`{did_you_mean(str(key), OPTIONS)}",
                "options: " + ", ".join(OPTIONS),
            )
    column = options.get("column")
    if kind in COLUMN_KINDS:
        if not isinstance(column, str) or not column:
            raise fail(f"`{kind}` needs `column`", f"e.g. `- {kind}: {{column: customer_id}}`")
        if from_default:
            raise fail(f"`{kind}` is per column and cannot be a project default",
                       "declare it on the nodes that have the column")  # fmt: skip
    elif column is not None:
        raise fail(f"`{kind}` is a table-level monitor and takes no `column`", "remove `column`, or use a column monitor: "
                   + ", ".join(COLUMN_KINDS))  # fmt: skip
    metric = options.get("metric", KINDS[kind])
    if "metric" in options and (kind != "volume" or metric not in VOLUME_METRICS):
        if kind != "volume":
            raise fail(
                f"`metric` is an option of `volume` only, not of `{kind}`", "remove `metric`"
            )
        raise fail(f"unknown volume `metric: {metric}`{did_you_mean(str(metric), VOLUME_METRICS)}",
                   "metrics: " + ", ".join(VOLUME_METRICS))  # fmt: skip
    sensitivity = options.get("sensitivity", DEFAULT_SENSITIVITY)
    if (
        isinstance(sensitivity, bool)
        or not isinstance(sensitivity, int | float)
        or not 0 < sensitivity < 100
    ):
        raise fail(f"`sensitivity` of `{kind}` must be a number of standard deviations > 0, got `{sensitivity!r}`",
                   "e.g. `sensitivity: 3` (the default); higher alerts less")  # fmt: skip
    direction = options.get("direction", "spike" if kind == "freshness" else "both")
    if direction not in DIRECTIONS:
        raise fail(f"`direction` of `{kind}` must be one of {', '.join(DIRECTIONS)}, got `{direction!r}`",
                   "spike: alert on rises only; drop: on falls only")  # fmt: skip
    seasonality = options.get("seasonality", "none")
    seasonality = "none" if seasonality is None or seasonality is False else seasonality
    if seasonality not in SEASONALITIES:
        raise fail(f"`seasonality` of `{kind}` must be one of {', '.join(SEASONALITIES)}, got `{seasonality!r}`",
                   "day_of_week compares a Monday with past Mondays")  # fmt: skip
    min_points = options.get("min_points", DEFAULT_MIN_POINTS)
    if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 3:
        raise fail(
            f"`min_points` of `{kind}` must be an integer >= 3, got `{min_points!r}`",
            "the default is 7",
        )
    window = options.get("window", max(DEFAULT_WINDOW, min_points))
    if isinstance(window, bool) or not isinstance(window, int) or window < min_points:
        raise fail(f"`window` of `{kind}` must be an integer >= min_points ({min_points}), got `{window!r}`",
                   "the default is 14")  # fmt: skip
    severity = str(options.get("severity", "warn")).lower()
    if severity not in SEVERITIES:
        raise fail(f"`severity` of `{kind}` must be warn or error, got `{options.get('severity')!r}`",
                   "error fails the node (after publication) and skips its downstream")  # fmt: skip
    return Monitor(node=node.unique_id, label=node_label(node), kind=kind, metric=metric, column=column,
                   sensitivity=float(sensitivity), direction=direction, seasonality=seasonality, window=window,
                   min_points=min_points, severity=severity)  # fmt: skip


def project_default(
    observability: dict[str, Any], config_file: str = "headwater.yml"
) -> list[Any] | None:
    """The `observability: monitors: default:` list of headwater.yml, validated."""
    section = (observability or {}).get("monitors")
    if section is None:
        return None
    hint = "e.g. `observability: {monitors: {default: [volume, freshness]}}`"
    if not isinstance(section, dict):
        raise ConfigError(f"`observability: monitors` in {config_file} must be a mapping, got `{section!r}`",
                          location=_loc(observability, "monitors"), hint=hint)  # fmt: skip
    for key in section:
        if key != "default":
            raise ConfigError(f"unknown key `observability: monitors: {key}` in {config_file}",
                              location=_loc(section, key), hint=hint)  # fmt: skip
    default = section.get("default")
    if default is not None and not isinstance(default, list):
        raise ConfigError(f"`observability: monitors: default` in {config_file} must be a list, got `{default!r}`",
                          location=_loc(section, "default"), hint=hint)  # fmt: skip
    return list(default) if default else None


def monitors_by_node(nodes: dict[str, Node] | list[Node], observability: dict[str, Any] | None = None,
                     config_file: str = "headwater.yml") -> dict[str, list[Monitor]]:  # fmt: skip
    """Every node's monitors, validated (the whole project: a typo fails the run before it starts)."""
    default = project_default(observability or {}, config_file)
    out: dict[str, list[Monitor]] = {}
    for node in nodes.values() if isinstance(nodes, dict) else nodes:
        monitors = parse_monitors(node, default)
        if monitors:
            out[node.unique_id] = monitors
    return out


def monitored_metrics(
    node: Node, observability: dict[str, Any] | None = None
) -> set[tuple[str, str]]:
    """(metric, column or '') the monitors of ``node`` read: what the metrics part must record
    (a monitored column must be profiled even if the profile would not pick it)."""
    return {
        (m.source_metric, m.column or "")
        for m in parse_monitors(node, project_default(observability or {}))
    }


def _loc(obj: Any, key: Any = None) -> Location | None:
    loc = getattr(obj, "loc", None)
    return loc(key) if callable(loc) else None


# -- evaluation -----------------------------------------------------------------------------------
def evaluate(
    monitor: Monitor, state: StateStore, invocation_id: str
) -> tuple[CheckResult, Signal | None]:
    """Judge this invocation's point of the monitor's series: a `CheckResult` and the `Signal`
    (None when the run recorded no value: nothing to say about the incident either way)."""
    from headwater.quality.evaluator import CheckResult

    limit = monitor.history_limit + (2 if monitor.derived else 1)
    rows = state.metrics.history(
        monitor.node, monitor.source_metric, monitor.column or "", limit=limit
    )
    series: list[Point] = [(r.recorded_at, r.value) for r in rows]
    current = next(
        (i for i in range(len(rows) - 1, -1, -1) if rows[i].invocation_id == invocation_id), None
    )
    what = monitor.metric + (f" of `{monitor.column}`" if monitor.column else "")
    result = CheckResult(
        unique_id=monitor.unique_id, name=monitor.name, check=f"anomaly:{monitor.kind}", node=monitor.node,
        column=monitor.column, severity=monitor.severity, status="pass",
    )  # fmt: skip
    if current is not None and monitor.derived:
        if current == 0 or not _finite(series[current - 1][1]) or not _finite(series[current][1]):
            current = None  # no earlier row count: no difference yet
        else:
            diffs = differences(series[: current + 1])
            series, current = diffs, len(diffs) - 1
    if current is None or not _finite(series[current][1]):
        result.message = f"no {what} recorded for this run: nothing to judge"
        result.result = {
            "observed": None,
            "expected_range": None,
            "training_points": 0,
            "seasonality": monitor.seasonality,
        }
        return result, None
    det = detect(series[:current], series[current], sensitivity=monitor.sensitivity, direction=monitor.direction,
                 seasonality=monitor.seasonality, window=monitor.window, min_points=monitor.min_points)  # fmt: skip
    result.message = det.message if det.status == "training" else f"{what} {det.message}"
    result.result = detection_dict(det) | {"metric": monitor.metric}
    if det.is_anomaly:
        result.status = "fail" if monitor.severity == "error" else "warn"
        result.failures = 1
    signal = Signal(
        trigger="anomaly", subject=monitor.unique_id, status="open" if det.is_anomaly else "ok",
        message=f"{monitor.name}: {result.message}", severity=monitor.severity,
        details={**result.result, "node": monitor.node, "column": monitor.column, "check": result.check},
    )  # fmt: skip
    return result, signal


def detection_dict(det: Detection) -> dict[str, Any]:
    """The JSON-safe `result` of a monitor's check."""
    return {
        "observed": det.observed,
        "expected_range": list(det.expected_range) if det.expected_range else None,
        "median": det.median,
        "mad": det.mad,
        "scale": det.scale,
        "threshold": det.threshold,
        "score": det.score if math.isfinite(det.score) else None,
        "training_points": det.training_points,
        "seasonality": det.seasonality,
        "direction": det.direction,
        "deviation": det.deviation,
        "sensitivity": det.sensitivity,
        "is_anomaly": det.is_anomaly,
        "note": det.note,
    }


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class MonitorChecks:
    """Evaluates each published node's monitors after the metrics listener recorded its run."""

    def __init__(
        self, state: StateStore, invocation_id: str, bus: Bus, monitors: dict[str, list[Monitor]]
    ) -> None:
        self.state = state
        self.invocation_id = invocation_id
        self.bus = bus
        self.monitors = monitors

    def check(
        self, unit: Unit, result: UnitResult | None, engine: Engine | None
    ) -> list[CheckResult]:
        node = unit.build
        if node is None or node.unique_id not in self.monitors:
            return []
        out: list[CheckResult] = []
        for monitor in self.monitors[node.unique_id]:
            check, signal = evaluate(monitor, self.state, self.invocation_id)
            out.append(check)
            if signal is not None:
                self.bus.emit(signal)
        return out


def make(ctx: Context, command: str, invocation_id: str, bus: Bus) -> MonitorChecks | None:
    """The monitors' checks, or None when no node has monitors (no cost at all)."""
    config = ctx.manifest.config
    monitors = monitors_by_node(ctx.manifest.nodes, config.observability, config.config_file)
    if not monitors:
        return None
    return MonitorChecks(ctx.state, invocation_id, bus, monitors)
