"""SLAs: run-time budgets on nodes and schedule SLAs (the selected nodes finished by a time of day).

Run-time budget — a node's ``max_duration`` (seconds, or a duration as `headwater.durations`
reads it: ``"90s"``, ``"10m"``, ``"1h"``, ``"1h30m"``, ``"PT1H"``, ...): a run that takes longer than its budget is a breach, recorded in ``sla_breaches``
(kind ``duration``, ``sla = "max_duration"``) and signalled as ``sla:max_duration:<unique_id>``.

Schedule SLA — ``observability.slas`` of headwater.yml::

    observability:
      slas:
        - name: daily_marts
          select: "tag:daily"          # dbt selection syntax (a string or a list); `exclude` too
          finish_by: "07:00"           # time of day in `timezone`
          schedule: "0 6 * * 1-5"      # cron: when a run is due (optional; default: daily)
          timezone: Europe/Berlin      # IANA name (default UTC)
          severity: error              # or warn (of the alert)

A cron fire time F is due by the first ``finish_by`` at or after F (wall time in ``timezone``:
a 06:00 run is due at 07:00 the same day, a 23:00 run at 07:00 the next day). When several fire
times are due by the same deadline (an hourly schedule), the window opens at the first of them.
Without ``schedule`` the window is the day before each deadline (the previous ``finish_by`` to
this one). The SLA is met for a deadline when every selected node has a successful run
(``success``/``warn``) whose finish (started_at + duration) lies in ``[window start, deadline]``,
both ends included. The most recent deadline that has passed is evaluated at the end of every run
and by ``headwater freshness``; a breach is recorded once per (SLA, deadline) and signalled as
``sla:<name>`` (open; ``ok`` when met, which resolves the incident).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.durations import DurationError, as_utc, parse_duration
from headwater.errors import ConfigError, HeadwaterError, Location, did_you_mean
from headwater.observe import Bus, Signal
from headwater.runner.events import Run, RunListener, Unit, UnitResult
from headwater.state.records import SlaBreach

if TYPE_CHECKING:
    from headwater.context import Context
    from headwater.project.definition import Node
    from headwater.state import StateStore

log = logging.getLogger("headwater")

UTC = dt.UTC
SLA_KEYS = (
    "name",
    "select",
    "exclude",
    "finish_by",
    "schedule",
    "timezone",
    "severity",
    "description",
)
SUCCESS = ("success", "warn")
DURATION_SLA = "max_duration"
_MAX_FIRES = 20_000  # cron fire times examined per evaluation (an every-minute cron: two weeks)


# -- run-time budgets ----------------------------------------------------------------------------
def parse_budget(value: Any) -> float:
    """Seconds of a ``max_duration``: a positive duration (`headwater.durations`: ``90``,
    ``"90s"``, ``"10m"``, ``"1h30m"``, ``"PT1H"``, ...). Raises ValueError (`DurationError`)
    when it is not one."""
    return parse_duration(value, key="max_duration")


def node_budget(node: Node) -> float | None:
    """The validated ``max_duration`` of a node in seconds (None: no budget)."""
    value = (node.config or {}).get("max_duration")
    if value is None or value is False:
        return None
    try:
        return parse_budget(value)
    except DurationError:
        raise ConfigError(
            f"`max_duration: {value!r}` of `{node.display_name}` is not a duration",
            location=Location(node.path, node.line) if node.path else None,
            node=node.display_name,
            hint='write seconds (`max_duration: 90`) or a number with a unit: `"90s"`, `"10m"`, `"1h"`, `"1h30m"`',
        ) from None


# -- schedule SLAs: configuration ------------------------------------------------------------------
@dataclass
class ScheduleSLA:
    """One entry of ``observability.slas``."""

    name: str
    select: list[str]
    finish_by: dt.time
    schedule: str | None = None
    timezone: str = "UTC"
    exclude: list[str] = field(default_factory=list)
    severity: str = "error"
    description: str = ""

    @property
    def key(self) -> str:
        """The subject of its signals (the incident is ``sla:<name>``)."""
        return self.name


def _error(
    message: str, where: str, file: str, obj: Any = None, key: Any = None, hint: str | None = None
) -> ConfigError:
    from headwater.project.validate import loc_of

    location = loc_of(obj, key) if obj is not None else None
    return ConfigError(
        f"`{where}` in {file}: {message}", location=location or Location(file), hint=hint
    )


def parse_time_of_day(value: Any) -> dt.time:
    """``"07:00"``, ``"7:30:15"``; an int is YAML 1.1's reading of an unquoted ``7:30`` (base 60)."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):  # `finish_by: 7:30` unquoted is 450 (sexagesimal) in YAML 1.1
        if not 0 <= value < 24 * 60:
            raise ValueError(value)
        return dt.time(value // 60, value % 60)
    if isinstance(value, dt.time):
        return value
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*", str(value))
    if not m:
        raise ValueError(value)
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    return dt.time(h, mi, s)  # raises ValueError out of range


def parse_slas(raw: Any, file: str = "headwater.yml") -> list[ScheduleSLA]:
    """The schedule SLAs of a raw ``observability.slas`` value (validated; ConfigError names the
    file, the key and the fix)."""
    if raw is None or raw is False:
        return []
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only with SLAs: not on every run's path

    from croniter import croniter

    if not isinstance(raw, list):
        raise _error("must be a list of SLAs", "observability.slas", file,
                     hint="write `slas: [{name: daily, select: \"tag:daily\", finish_by: \"07:00\"}]`")  # fmt: skip
    out: list[ScheduleSLA] = []
    for i, spec in enumerate(raw):
        where = f"observability.slas[{i}]"
        if not isinstance(spec, dict):
            raise _error("each SLA must be a mapping", where, file, raw, i,
                         hint="write `- {name: daily, select: \"tag:daily\", finish_by: \"07:00\"}`")  # fmt: skip
        for key in spec:
            if key not in SLA_KEYS:
                raise _error(f"unknown key `{key}`" + did_you_mean(str(key), SLA_KEYS), where, file, spec, key,
                             hint="an SLA takes " + ", ".join(f"`{k}`" for k in SLA_KEYS))  # fmt: skip
        name = spec.get("name")
        if not name or not isinstance(name, str):
            raise _error(
                "needs `name:` (a string)",
                where,
                file,
                spec,
                None,
                hint="add e.g. `name: daily_marts`",
            )
        where = f"observability.slas[{i}] ({name})"
        if any(s.name == name for s in out):
            raise _error(
                f"two SLAs are named `{name}`",
                where,
                file,
                spec,
                "name",
                hint="give every SLA a different name",
            )
        select = _strings(spec.get("select"))
        if not select:
            raise _error("needs `select:` (dbt selection syntax)", where, file, spec, None,
                         hint="e.g. `select: \"tag:daily\"` or `select: [fct_orders, fct_payments]`")  # fmt: skip
        if "finish_by" not in spec:
            raise _error(
                "needs `finish_by:` (a time of day)",
                where,
                file,
                spec,
                None,
                hint='e.g. `finish_by: "07:00"`',
            )
        try:
            finish_by = parse_time_of_day(spec["finish_by"])
        except (ValueError, TypeError):
            raise _error(f"`finish_by: {spec['finish_by']!r}` is not a time of day", where, file, spec, "finish_by",
                         hint="write HH:MM in quotes, e.g. `finish_by: \"07:00\"`") from None  # fmt: skip
        tz = str(spec.get("timezone") or "UTC")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise _error(f"unknown timezone `{tz}`", where, file, spec, "timezone",
                         hint="use an IANA name such as `Europe/Berlin`, `America/New_York` or `UTC`") from None  # fmt: skip
        schedule = spec.get("schedule")
        if schedule is not None:
            schedule = str(schedule).strip()
            if not croniter.is_valid(schedule):
                raise _error(f"`schedule: {schedule!r}` is not a cron expression", where, file, spec, "schedule",
                             hint="write five fields: minute hour day-of-month month day-of-week, e.g. `\"0 6 * * 1-5\"`")  # fmt: skip
        severity = str(spec.get("severity") or "error").lower()
        if severity not in ("warn", "error"):
            raise _error(f"`severity: {severity}` is not warn or error", where, file, spec, "severity",
                         hint="use `severity: warn` or `severity: error`")  # fmt: skip
        out.append(ScheduleSLA(
            name=name, select=select, exclude=_strings(spec.get("exclude")), finish_by=finish_by,
            schedule=schedule, timezone=tz, severity=severity, description=str(spec.get("description") or ""),
        ))  # fmt: skip
    return out


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None and str(v).strip()]
    return [str(value)] if str(value).strip() else []


def sla_config(ctx: Context) -> list[ScheduleSLA]:
    """The project's schedule SLAs, validated, each with a selection that matches nodes."""
    cfg = ctx.manifest.config
    file = getattr(cfg, "config_file", None) or "headwater.yml"
    slas = parse_slas((cfg.observability or {}).get("slas"), file)
    for i, sla in enumerate(slas):
        if not sla_nodes(ctx, sla, file, i):
            raise ConfigError(
                f"`observability.slas[{i}] ({sla.name})` in {file}: `select: {' '.join(sla.select)}` matches no node that runs",
                location=Location(file),
                hint="select models, seeds, snapshots or loaded sources (see `headwater ls -s ...`)",
            )
    return slas


def sla_nodes(
    ctx: Context, sla: ScheduleSLA, file: str = "headwater.yml", index: int | None = None
) -> list[str]:
    """unique_ids of the nodes an SLA covers: the selection's nodes that run (no checks)."""
    from headwater.graph.selection import Selector

    try:
        uids = Selector(ctx.graph).select(sla.select, sla.exclude, with_tests=False)
    except HeadwaterError as exc:
        where = (
            f"observability.slas[{index}] ({sla.name})"
            if index is not None
            else f"SLA `{sla.name}`"
        )
        raise ConfigError(
            f"`{where}` in {file}: {exc.message}", location=Location(file), hint=exc.hint
        ) from None
    nodes = ctx.graph.nodes
    return sorted(u for u in uids if nodes[u].resource_type != "test" and nodes[u].is_executable)


# -- schedule SLAs: evaluation ---------------------------------------------------------------------
@dataclass
class SLAResult:
    """The state of one SLA at its most recent passed deadline."""

    name: str
    status: str
    """``met``, ``breached`` or ``pending`` (no deadline has passed yet)."""
    due_from: dt.datetime | None = None
    due_at: dt.datetime | None = None
    nodes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    message: str = ""
    severity: str = "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "status": self.status, "severity": self.severity,
            "due_from": self.due_from.isoformat() if self.due_from else None,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "nodes": list(self.nodes), "missing": list(self.missing), "message": self.message,
        }  # fmt: skip


def _to_utc(local: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A naive wall time in ``tz`` as UTC (a time in a DST gap takes the offset before it)."""
    return local.replace(tzinfo=tz).astimezone(UTC)


def _deadline_wall(sla: ScheduleSLA, fire: dt.datetime) -> dt.datetime:
    """The first ``finish_by`` at or after a (naive, wall) fire time."""
    deadline = dt.datetime.combine(fire.date(), sla.finish_by)
    return deadline if deadline >= fire else deadline + dt.timedelta(days=1)


def last_deadline(
    sla: ScheduleSLA, now: dt.datetime | float | None = None
) -> tuple[dt.datetime, dt.datetime] | None:
    """(window start, deadline), both UTC, of the most recent deadline at or before ``now``;
    None when the schedule has never been due."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    tz = ZoneInfo(sla.timezone)
    now_utc = as_utc(now)
    now_wall = now_utc.astimezone(tz).replace(tzinfo=None)
    if sla.schedule is None:  # daily: the day before each `finish_by`
        deadline = dt.datetime.combine(now_wall.date(), sla.finish_by)
        if _to_utc(deadline, tz) > now_utc:
            deadline -= dt.timedelta(days=1)
        return _to_utc(deadline - dt.timedelta(days=1), tz), _to_utc(deadline, tz)
    # cron in wall time: start a minute ahead so that a fire exactly at `now` is seen
    fires = croniter(
        sla.schedule, now_wall.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    )
    deadline_wall: dt.datetime | None = None
    due_from: dt.datetime | None = None
    try:
        for _ in range(_MAX_FIRES):
            fire = fires.get_prev(dt.datetime)
            wall = _deadline_wall(sla, fire)
            if deadline_wall is None:
                if fire > now_wall or _to_utc(wall, tz) > now_utc:
                    continue
                deadline_wall, due_from = wall, fire
            elif wall == deadline_wall:
                due_from = fire  # an earlier fire due by the same deadline: the window opens there
            else:
                break
    except Exception:  # croniter found no earlier fire (e.g. `0 0 30 2 *`)
        pass
    if deadline_wall is None or due_from is None:
        return None
    return _to_utc(due_from, tz), _to_utc(deadline_wall, tz)


def evaluate_schedule_sla(sla: ScheduleSLA, runs: Mapping[str, Iterable[float]],
                          now: dt.datetime | float | None = None) -> SLAResult:  # fmt: skip
    """Was the most recent deadline before ``now`` met? ``runs`` maps every node the SLA covers to
    the finish times (epoch seconds) of its successful runs; a node without one in
    ``[window start, deadline]`` (inclusive) misses it."""
    window = last_deadline(sla, now)
    nodes = sorted(runs)
    if window is None:
        return SLAResult(sla.name, "pending", nodes=nodes, severity=sla.severity,
                         message=f"`{sla.name}`: no deadline has passed yet")  # fmt: skip
    start, deadline = window
    lo, hi = start.timestamp(), deadline.timestamp()
    missing = [uid for uid in nodes if not any(lo <= float(t) <= hi for t in runs[uid])]
    result = SLAResult(
        sla.name,
        "breached" if missing else "met",
        start,
        deadline,
        nodes,
        missing,
        severity=sla.severity,
    )
    when = _local_text(deadline, sla.timezone)
    if missing:
        names = ", ".join(u.rsplit(".", 1)[-1] for u in missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        result.message = f"SLA `{sla.name}` missed: {names} had not finished successfully by {when}"
    else:
        result.message = f"SLA `{sla.name}` met: {len(nodes)} nodes finished by {when}"
    return result


def _local_text(at: dt.datetime, tz: str) -> str:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S") + f" {tz}"


def successful_finishes(
    state: StateStore, uids: list[str], since: float, until: float
) -> dict[str, list[float]]:
    """Finish times of the successful runs of ``uids`` in ``[since, until]`` (from ``node_runs``)."""
    return state.runs.successful_finishes(uids, since, until)


def check_schedule_slas(ctx: Context, invocation_id: str, now: dt.datetime | float | None = None,
                        slas: list[ScheduleSLA] | None = None,
                        only: set[str] | None = None) -> tuple[list[SLAResult], list[Signal]]:  # fmt: skip
    """Evaluate the project's schedule SLAs (those covering a node of ``only``, when given): record
    each new breach once per (SLA, deadline) and return the results and their signals."""
    slas = sla_config(ctx) if slas is None else slas
    now_utc = as_utc(now)
    results: list[SLAResult] = []
    signals: list[Signal] = []
    breaches: list[SlaBreach] = []
    for sla in slas:
        uids = sla_nodes(ctx, sla)
        if only is not None and not set(uids) & only:
            continue
        window = last_deadline(sla, now_utc)
        if window is None:
            runs: dict[str, list[float]] = {u: [] for u in uids}
        else:
            runs = successful_finishes(
                ctx.state, uids, window[0].timestamp(), window[1].timestamp()
            )
        result = evaluate_schedule_sla(sla, runs, now_utc)
        results.append(result)
        details = result.to_dict()
        if result.status == "breached":
            assert result.due_at is not None
            breaches.append(SlaBreach(sla.name, "schedule", "", result.due_at.timestamp(), now_utc.timestamp(),
                                      invocation_id, result.message))  # fmt: skip
            signals.append(Signal("sla", sla.key, "open", result.message, sla.severity, details))
        elif result.status == "met":
            signals.append(Signal("sla", sla.key, "ok", result.message, "info", details))
    ctx.state.schedules.record_breaches(breaches)
    return results, signals


# -- the observer -------------------------------------------------------------------------------------
class SLAObserver(RunListener):
    """Compares each node's run time with its budget; evaluates the schedule SLAs at the end."""

    def __init__(
        self,
        ctx: Context,
        invocation_id: str,
        bus: Bus,
        budgets: dict[str, float],
        slas: list[ScheduleSLA],
    ) -> None:
        self.ctx = ctx
        self.invocation_id = invocation_id
        self.bus = bus
        self.budgets = budgets
        self.slas = slas
        self.breaches: list[SlaBreach] = []
        self.results: list[SLAResult] = []

    def unit_finished(self, unit: Unit, result: UnitResult, index: int, total: int) -> None:
        node = unit.build
        if node is None or result.status == "skipped" or node.unique_id not in self.budgets:
            return
        budget = self.budgets[node.unique_id]
        subject = f"{DURATION_SLA}:{node.unique_id}"
        details = {
            "unique_id": node.unique_id,
            "node": node.display_name,
            "duration": result.duration,
            "budget": budget,
        }
        if result.duration > budget:
            message = (f"`{node.display_name}` took {_seconds(result.duration)}, over its budget "
                       f"`max_duration` of {_seconds(budget)}")  # fmt: skip
            due_at = float(result.started_at) + budget
            breach = SlaBreach(
                DURATION_SLA, "duration", node.unique_id, due_at, time.time(), self.invocation_id, message
            )  # fmt: skip
            self.ctx.state.schedules.record_breaches([breach])
            self.breaches.append(breach)
            self.bus.emit(Signal("sla", subject, "open", message, "error", details))
        else:
            message = (
                f"`{node.display_name}` took {_seconds(result.duration)}, within {_seconds(budget)}"
            )
            self.bus.emit(Signal("sla", subject, "ok", message, "info", details))

    def run_finished(self, run: Run, results: Sequence[UnitResult], status: str) -> None:
        if not self.slas:
            return
        try:
            self.results, signals = check_schedule_slas(
                self.ctx, self.invocation_id, slas=self.slas
            )
        except Exception:  # an SLA that cannot be evaluated must not fail the run
            log.exception("sla: evaluating the schedule SLAs failed")
            return
        for signal in signals:
            self.bus.emit(signal)


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.3g} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def make(ctx: Context, command: str, invocation_id: str, bus: Bus) -> RunListener | None:
    """The SLA observer, when a node has a ``max_duration`` or the project has ``slas``; both are
    validated here so that a mistake stops the run before it starts."""
    budgets = {}
    for node in ctx.manifest.nodes.values():
        budget = node_budget(node)
        if budget is not None:
            budgets[node.unique_id] = budget
    slas = sla_config(ctx)
    if not budgets and not slas:
        return None
    return SLAObserver(ctx, invocation_id, bus, budgets, slas)
