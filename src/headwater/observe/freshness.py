"""Freshness with dbt's semantics, on sources and models: `Context.freshness` (`headwater
freshness` renders its `FreshnessReport`, `headwater.cli.render.freshness`).

Configuration (dbt's syntax)::

    sources:
      - name: raw
        loaded_at_field: _loaded_at            # a column or a SQL expression (as in dbt)
        freshness:                             # inherited by every table of the source
          warn_after: {count: 12, period: hour}   # minute | hour | day; either may be left out
          error_after: {count: 24, period: hour}
          filter: "country = 'DE'"            # rows that count (a SQL condition)
        tables:
          - name: orders
          - name: countries
            freshness: null                    # not checked

    models:
      - name: fct_orders
        config:
          freshness: {warn_after: {count: 6, period: hour}}
          loaded_at_field: ordered_at          # else `event_time`, else the last successful build

Age = now - max(loaded_at_field) over the rows that pass ``filter``. Naive timestamps are UTC (as
in dbt), TIMESTAMPTZ values are absolute, a DATE is its midnight UTC. Without a loaded_at_field
the age is that of the last load: for a source with a connector the loader's
``_headwater.load_state.updated_at``, else (file sources, models) the finish of the last
successful run in the state store's ``node_runs``.

Status (dbt's rule, ``Time.exceeded``: ``age > threshold``): ``error`` when the age is strictly
greater than ``error_after``, else ``warn`` when strictly greater than ``warn_after``, else
``pass``; an age exactly equal to a threshold passes it. An empty table (or no row matching the
filter) is ``error`` ("no rows"); a query that fails (a missing column) is ``runtime error``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.durations import PERIODS, DurationError, as_utc, parse_period
from headwater.errors import ConfigError, HeadwaterError, Location, did_you_mean
from headwater.observe import Signal
from headwater.state.records import FreshnessRecord

if TYPE_CHECKING:
    from headwater.context import Context
    from headwater.engines.base import Engine
    from headwater.observe.alerts import AlertReport
    from headwater.observe.sla import SLAResult
    from headwater.project.definition import Node
    from headwater.state import StateStore

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
FRESHNESS_KEYS = ("warn_after", "error_after", "filter")
MODEL_ONLY_KEYS = (
    "build_after",
)  # dbt 1.10's model freshness for state-aware runs: accepted, not checked here
THRESHOLD_KEYS = ("count", "period")
STATUSES = ("pass", "warn", "error", "runtime error")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


# -- configuration -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Threshold:
    count: int
    period: str

    @property
    def seconds(self) -> int:
        return self.count * PERIODS[self.period]

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "period": self.period}

    def __str__(self) -> str:
        return f"{self.count} {self.period}{'' if self.count == 1 else 's'}"


@dataclass(frozen=True)
class FreshnessSpec:
    """The validated freshness of one node."""

    warn_after: Threshold | None = None
    error_after: Threshold | None = None
    filter: str | None = None
    loaded_at_field: str | None = None

    def status(self, age_us: int) -> str:
        """dbt's `FreshnessThreshold.status`: error before warn, each when ``age > threshold``."""
        if self.error_after is not None and age_us > self.error_after.seconds * 1_000_000:
            return "error"
        if self.warn_after is not None and age_us > self.warn_after.seconds * 1_000_000:
            return "warn"
        return "pass"

    def criteria(self) -> dict[str, Any]:
        return {
            "warn_after": self.warn_after.to_dict() if self.warn_after else {},
            "error_after": self.error_after.to_dict() if self.error_after else {},
            "filter": self.filter,
        }


def _config_error(node: Node, message: str, hint: str) -> ConfigError:
    where = f"{node.resource_type} `{node.display_name}`"
    return ConfigError(
        f"freshness of {where}: {message}",
        location=Location(node.path, node.line) if node.path else None,
        node=node.display_name,
        hint=hint,
    )


_EXAMPLE = "e.g. `freshness: {warn_after: {count: 12, period: hour}, error_after: {count: 24, period: hour}}`"


def _threshold(node: Node, key: str, value: Any) -> Threshold | None:
    """dbt's ``{count, period}`` (`headwater.durations.parse_period`: the only form a freshness
    threshold takes, so that a dbt project reads the same); None when unset."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise _config_error(node, f"`{key}: {value!r}` must be a mapping with `count` and `period`",
                            f"write `{key}: {{count: 12, period: hour}}`")  # fmt: skip
    try:
        found = parse_period(value, key=key)
    except DurationError as exc:
        raise _config_error(node, exc.reason, exc.hint) from None
    return Threshold(*found) if found is not None else None  # None: dbt's unset threshold


def raw_freshness(node: Node) -> Any:
    """The node's ``freshness`` as configured (sources: dbt's node attribute, else ``config:``)."""
    if node.resource_type == "source":
        if node.freshness is not None:
            return node.freshness
        return (node.config or {}).get("freshness")
    return (node.config or {}).get("freshness")


def loaded_at_field(node: Node) -> str | None:
    """Sources: dbt's ``loaded_at_field``; models: config ``loaded_at_field``, else ``event_time``."""
    config = node.config or {}
    if node.resource_type == "source":
        value = node.loaded_at_field or config.get("loaded_at_field")
    else:
        value = config.get("loaded_at_field") or config.get("event_time")
    return str(value) if value else None


def freshness_spec(node: Node) -> FreshnessSpec | None:
    """The validated freshness of ``node``; None when it has none (absent, ``null``, or neither
    threshold set). Raises ConfigError naming the node and the fix."""
    raw = raw_freshness(node)
    if raw is None or raw is False or raw == {}:
        return None
    if not isinstance(raw, dict):
        raise _config_error(
            node, f"`freshness: {raw!r}` must be a mapping (or null to turn it off)", _EXAMPLE
        )
    allowed = FRESHNESS_KEYS + (MODEL_ONLY_KEYS if node.resource_type == "model" else ())
    for key in raw:
        if key not in allowed:
            raise _config_error(node, f"unknown key `{key}`" + did_you_mean(str(key), allowed),
                                "`freshness:` takes `warn_after`, `error_after` and `filter`")  # fmt: skip
    warn = _threshold(node, "warn_after", raw.get("warn_after"))
    error = _threshold(node, "error_after", raw.get("error_after"))
    if warn is None and error is None:
        return None  # dbt: no threshold, nothing to check
    flt = raw.get("filter")
    if flt is not None and not isinstance(flt, str):
        raise _config_error(
            node,
            f"`filter: {flt!r}` must be a SQL condition (a string)",
            "e.g. `filter: \"country = 'DE'\"`",
        )
    return FreshnessSpec(
        warn,
        error,
        flt.strip() if isinstance(flt, str) and flt.strip() else None,
        loaded_at_field(node),
    )


# -- evaluation ------------------------------------------------------------------------------------------
@dataclass
class FreshnessResult:
    """One node's freshness at ``snapshotted_at`` (dbt's `sources.json` entry)."""

    unique_id: str
    name: str
    resource_type: str
    status: str
    snapshotted_at: dt.datetime
    spec: FreshnessSpec
    max_loaded_at: dt.datetime | None = None
    age: float | None = None
    """Seconds between ``max_loaded_at`` and ``snapshotted_at``."""
    loaded_at_source: str = ""
    """Where ``max_loaded_at`` came from: ``loaded_at_field``, ``load_state`` or ``node_runs``."""
    message: str = ""
    execution_time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status in ("error", "runtime error")

    def to_dict(self) -> dict[str, Any]:
        return {
            "unique_id": self.unique_id, "name": self.name, "resource_type": self.resource_type,
            "status": self.status,
            "max_loaded_at": self.max_loaded_at.isoformat() if self.max_loaded_at else None,
            "snapshotted_at": self.snapshotted_at.isoformat(),
            "max_loaded_at_time_ago_in_s": self.age,
            "criteria": self.spec.criteria(), "loaded_at_field": self.spec.loaded_at_field,
            "loaded_at_source": self.loaded_at_source, "message": self.message,
            "execution_time": round(self.execution_time, 4),
        }  # fmt: skip


def _us(at: dt.datetime) -> int:
    return (at - EPOCH) // dt.timedelta(microseconds=1)


def _from_us(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=int(us))


class _NoRows(Exception):
    pass


def _relation_sql(node: Node) -> str:
    if node.relation is not None and node.materialized != "ephemeral":
        rendered: str = node.relation.render()
        return rendered
    if node.compiled_sql:
        return f"(\n{node.compiled_sql}\n) AS _hw_source"
    raise HeadwaterError(f"`{node.display_name}` has no relation to query")


def _field_sql(name: str) -> str:
    """A plain column name is quoted; anything else is a SQL expression, used as written (dbt)."""
    from headwater.engines.base import quote_identifier

    return quote_identifier(name) if _IDENT.fullmatch(name) else name


def _parse_text(value: str) -> int:
    text = value.strip().replace("Z", "+00:00")
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise HeadwaterError(f"`{value}` is not a timestamp") from None
    return _us(at.replace(tzinfo=UTC) if at.tzinfo is None else at)


_TEXT_TYPES = ("VARCHAR", "TEXT", "BPCHAR", "CHAR", "STRING")
"""Text types whose max is parsed here (DuckDB: VARCHAR; PostgreSQL: text, character varying,
character)."""


def max_loaded_at_us(engine: Engine, node: Node, spec: FreshnessSpec) -> int:
    """Epoch microseconds of ``max(loaded_at_field)`` over the rows that pass the filter (naive
    timestamps and dates as UTC). Raises `_NoRows` for no rows, HeadwaterError otherwise.

    The same on every engine: the type of the max comes from `engine.query_columns` (DuckDB's
    and PostgreSQL's spellings are both understood) and the epoch from `engine.functions`. A
    timestamp with time zone is absolute; a timestamp without one, or a date, is read as UTC
    whatever the session's time zone (DuckDB's ``epoch_us`` and PostgreSQL's ``extract(epoch
    ...)`` of a naive timestamp both are); text is parsed in Python (an ISO timestamp with or
    without offset, naive = UTC)."""
    assert spec.loaded_at_field is not None
    expr = _field_sql(spec.loaded_at_field)
    inner = f"SELECT max({expr}) AS m, count(*) AS n FROM {_relation_sql(node)}"
    if spec.filter:
        inner += f" WHERE ({spec.filter})"
    types = dict(engine.query_columns(inner))
    kind = types.get("m", "").upper()
    fn = engine.functions
    if kind in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        value = fn.epoch_us("m")
    elif kind.startswith("TIMESTAMP") or kind == "DATE":
        value = fn.epoch_us("m::TIMESTAMP")  # naive: UTC, as dbt
    elif kind in _TEXT_TYPES or kind.startswith(("VARCHAR", "CHARACTER")):
        value = "m"
    else:
        raise HeadwaterError(
            f"`loaded_at_field: {spec.loaded_at_field}` of `{node.display_name}` is {kind or 'unknown'}, not a timestamp or date",
            hint=f'cast it, e.g. `loaded_at_field: "cast({spec.loaded_at_field} as timestamp)"`',
        )
    rows = engine.execute(f"SELECT n, {value} FROM ({inner}) AS _hw_freshness")
    count, result = rows[0] if rows else (0, None)
    if not count:
        raise _NoRows("no rows" + (f" match `filter: {spec.filter}`" if spec.filter else ""))
    if result is None:
        raise _NoRows(
            f"`{spec.loaded_at_field}` is NULL in every row"
            + (" that matches the filter" if spec.filter else "")
        )
    return _parse_text(result) if isinstance(result, str) else int(result)


def last_load_us(ctx: Context, node: Node) -> tuple[int, str] | None:
    """When the node's data was last written without a loaded_at_field: the loader's load state
    (connector sources), else the finish of its last successful run. None: never."""
    from headwater.project.definition import Relation

    if node.resource_type == "source" and (node.config or {}).get("connector"):
        from headwater.extract.load_state import state_schema

        engine = ctx.engine
        schema = state_schema(engine)
        if engine.columns(Relation(schema, "load_state")):
            # written as now()::TIMESTAMP (session wall time): read back through the same zone
            rows = engine.execute(
                f"SELECT {engine.functions.epoch_us('max(updated_at)::TIMESTAMPTZ')} FROM {Relation(schema, 'load_state').render()} "
                "WHERE source = ?",
                [f"{node.source_name}.{node.name}"],
            )
            if rows and rows[0][0] is not None:
                return int(rows[0][0]), "load_state"
    finished = ctx.state.runs.last_success(node.unique_id)
    if finished is not None:
        return round(finished * 1_000_000), "node_runs"
    return None


def evaluate_freshness(
    ctx: Context, nodes: list[Node], now: dt.datetime | float | None = None
) -> list[FreshnessResult]:
    """The freshness of each node of ``nodes`` that has one (others are left out), at ``now``
    (default: the current time; injectable so tests can sit exactly on a threshold)."""
    snapshot = as_utc(now)
    now_us = _us(snapshot)
    specs = [
        (n, s) for n in nodes if (s := freshness_spec(n)) is not None
    ]  # validate everything first
    out: list[FreshnessResult] = []
    for node, spec in specs:
        started = time.perf_counter()
        result = FreshnessResult(
            node.unique_id, node.display_name, node.resource_type, "runtime error", snapshot, spec
        )
        try:
            if spec.loaded_at_field:
                loaded_us, result.loaded_at_source = (
                    max_loaded_at_us(ctx.engine, node, spec),
                    "loaded_at_field",
                )
            else:
                found = last_load_us(ctx, node)
                if found is None:
                    raise HeadwaterError(
                        f"`{node.display_name}` has no `loaded_at_field` and headwater has no record of loading or building it",
                        hint="add `loaded_at_field: <timestamp column>`" if node.resource_type == "source"
                        else "add `loaded_at_field: <timestamp column>` to its config, or build it first",
                    )  # fmt: skip
                loaded_us, result.loaded_at_source = found
                if spec.filter:
                    result.message = "filter ignored: no loaded_at_field"
            age_us = now_us - loaded_us
            result.max_loaded_at = _from_us(loaded_us)
            result.age = age_us / 1_000_000
            result.status = spec.status(age_us)
            if result.status != "pass":
                limit = spec.error_after if result.status == "error" else spec.warn_after
                result.message = f"`{node.display_name}` is {human_age(result.age)} old ({result.status} after {limit})"
        except _NoRows as exc:
            result.status = "error"
            result.message = str(exc)
        except HeadwaterError as exc:
            result.status = "runtime error"
            result.message = exc.message.strip().splitlines()[0] + (
                f" (hint: {exc.hint})" if exc.hint else ""
            )
        except Exception as exc:  # a bug or an engine crash: reported on the node, the others go on
            result.status = "runtime error"
            result.message = f"{type(exc).__name__}: {exc}"
        result.execution_time = time.perf_counter() - started
        out.append(result)
    return out


def human_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 60:
        return f"{sign}{s:.0f}s"
    if s < 3600:
        return f"{sign}{int(s // 60)}m {int(s % 60)}s"
    if s < 86400:
        return f"{sign}{int(s // 3600)}h {int(s % 3600 // 60)}m"
    return f"{sign}{int(s // 86400)}d {int(s % 86400 // 3600)}h"


def freshness_signals(results: list[FreshnessResult]) -> list[Signal]:
    """One signal per node: open (warn / error / runtime error), or ok when it passes."""
    out = []
    for r in results:
        details = {"unique_id": r.unique_id, "node": r.name, **r.to_dict()}
        if r.status == "pass":
            out.append(
                Signal("freshness", r.unique_id, "ok", f"`{r.name}` is fresh", "info", details)
            )
        else:
            severity = "warn" if r.status == "warn" else "error"
            message = r.message or f"`{r.name}`: freshness {r.status}"
            out.append(Signal("freshness", r.unique_id, "open", message, severity, details))
    return out


def record_results(state: StateStore, invocation_id: str, results: list[FreshnessResult]) -> None:
    """A ``freshness_results`` row per node (the ``freshness_lag_seconds`` metric is the metrics
    part's, measured at build time: ages sampled here would skew its anomaly series)."""
    at = time.time()
    state.freshness.record(
        FreshnessRecord(invocation_id, r.unique_id, at, r.status, r.max_loaded_at.isoformat() if r.max_loaded_at else None,
                        r.age, r.spec.warn_after.seconds if r.spec.warn_after else None,
                        r.spec.error_after.seconds if r.spec.error_after else None, r.message[:2000])
        for r in results
    )  # fmt: skip


# -- the report -------------------------------------------------------------------------------------------
@dataclass
class FreshnessReport:
    """What one `Context.freshness` (`headwater freshness`) did."""

    invocation_id: str
    results: list[FreshnessResult]
    slas: list[SLAResult]
    elapsed: float
    alerts: AlertReport | None = None

    @property
    def exit_code(self) -> int:
        """1 when a node is stale past ``error_after`` (or could not be checked) or an SLA is
        breached, as dbt's ``source freshness``; else 0."""
        return (
            1
            if any(r.failed for r in self.results) or any(s.status == "breached" for s in self.slas)
            else 0
        )

    @property
    def counts(self) -> dict[str, int]:
        """Results per status, in the order first met."""
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """What `headwater freshness --json` prints."""
        return {
            "invocation_id": self.invocation_id, "command": "freshness", "success": self.exit_code == 0,
            "elapsed": round(self.elapsed, 3), "summary": self.counts,
            "results": [r.to_dict() for r in self.results], "slas": [s.to_dict() for s in self.slas],
        }  # fmt: skip


def run_freshness(ctx: Context, select: list[str] | None = None, exclude: list[str] | None = None,
                  now: dt.datetime | float | None = None) -> FreshnessReport:  # fmt: skip
    """Evaluate freshness and the schedule SLAs of the selection, record them as one invocation
    and hand their signals to alerting (`Context.freshness`)."""
    from headwater.observe.alerts import process_signals
    from headwater.observe.sla import check_schedule_slas, sla_config

    started = time.perf_counter()
    nodes = ctx.select(select, exclude, with_tests=False)
    slas = sla_config(ctx)  # validated before anything runs
    for node in nodes:
        freshness_spec(node)
    invocation_id = str(uuid.uuid4())
    ctx.state.runs.start(
        invocation_id, "freshness", {"select": select, "exclude": exclude}, ctx.manifest.target.name
    )
    status = "error"
    results: list[FreshnessResult] = []
    try:
        results = evaluate_freshness(ctx, nodes, now)
        record_results(ctx.state, invocation_id, results)
        sla_results, sla_signals = check_schedule_slas(
            ctx, invocation_id, now, slas, only={n.unique_id for n in nodes}
        )
        report = FreshnessReport(invocation_id, results, sla_results, time.perf_counter() - started)
        report.alerts = process_signals(
            ctx, freshness_signals(results) + sla_signals, invocation_id
        )
        status = "success" if report.exit_code == 0 else "failed"
        return report
    finally:
        counts: dict[str, int] = {}
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
        ctx.state.runs.finish(invocation_id, status, {"freshness": counts})
