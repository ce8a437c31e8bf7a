"""The run model: what is scheduled (`Unit`), what one unit did (`UnitResult`), what a whole run
did (`RunResult`), and who hears about it (`RunListener`).

Every command that executes work (run, build, test, seed, snapshot, extract, backfill) is one
scheduler running units; the console, the state recorder and the observability parts are all
listeners of the same five events. This module imports nothing of the runner, so any layer may
implement a listener without an import cycle.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from headwater.engines.base import Engine
    from headwater.project.definition import Node
    from headwater.quality.evaluator import CheckResult

FAILED = ("error", "fail")

log = logging.getLogger("headwater")


@dataclass
class Unit:
    """One schedulable piece of work: a node to build (with the checks that audit it before it
    is published), a group of checks on published relations, or one interval of a
    time-partitioned model (``interval``: half-open [start, end) in UTC)."""

    id: str
    build: Node | None = None
    tests: list[Node] = field(default_factory=list)
    deps: set[str] = field(default_factory=set)
    interval: tuple[dt.datetime, dt.datetime] | None = None

    @property
    def name(self) -> str:
        if self.build is not None:
            if self.interval is not None:
                start, end = (_key(t) for t in self.interval)
                return f"{self.build.name} [{start} .. {end})"
            return self.build.display_name
        if len(self.tests) == 1:
            return self.tests[0].name
        return f"{len(self.tests)} checks on {self.id.split(':', 1)[1].rsplit('.', 1)[-1]}"

    @property
    def resource_type(self) -> str:
        return self.build.resource_type if self.build is not None else "test"


def _key(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class UnitResult:
    unit_id: str
    name: str
    resource_type: str
    materialized: str | None
    relation: str | None
    status: str
    started_at: float = 0.0
    duration: float = 0.0
    rows: int | None = None
    message: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    node_id: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    """What the write did beyond `rows`, when the materialization knows it: ``inserted``,
    ``updated``, ``deleted`` (incremental models, snapshots, loads)."""
    rejected: int | None = None
    """Records a source load set aside in `<table>__rejected` (the node warns)."""
    attempts: int = 0
    """How many times the unit's retried action ran (more than 1 after a transient failure)."""

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "unique_id": self.node_id or self.unit_id,
            "name": self.name,
            "resource_type": self.resource_type,
            "materialized": self.materialized,
            "relation": self.relation,
            "status": self.status,
            "started_at": self.started_at,
            "duration": round(self.duration, 4),
            "rows": self.rows,
            "message": self.message,
            "checks": [c.to_dict() for c in self.checks],
            "stats": dict(self.stats),
            "rejected": self.rejected,
        }


@dataclass
class RunResult:
    """What a run, build, test, seed, snapshot, extract or backfill did."""

    invocation_id: str
    command: str
    results: list[UnitResult]
    elapsed: float
    warehouse: str
    target: str
    log_path: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    problems: int = 0
    """Selected nodes the project could not load (reported as errors; the rest ran)."""

    @property
    def exit_code(self) -> int:
        if self.problems:
            return 2
        return 1 if any(r.failed for r in self.results) else 0

    @property
    def checks(self) -> list[CheckResult]:
        return [c for r in self.results for c in r.checks]

    def summary(self) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        for r in self.results:
            statuses[r.status] = statuses.get(r.status, 0) + 1
        checks: dict[str, int] = {}
        for c in self.checks:
            checks[c.status] = checks.get(c.status, 0) + 1
        return {"nodes": statuses, "checks": checks, "elapsed": round(self.elapsed, 3)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "invocation_id": self.invocation_id,
            "command": self.command,
            "target": self.target,
            "warehouse": self.warehouse,
            "success": self.exit_code == 0,
            "elapsed": round(self.elapsed, 3),
            "summary": self.summary(),
            "results": [r.to_dict() for r in self.results],
        }


@dataclass
class Run:
    """The invocation a listener hears about: its id, command, target and arguments."""

    invocation_id: str
    command: str
    target: str
    args: dict[str, Any] = field(default_factory=dict)


class RunListener:
    """Hears the events of a run. Every method has a no-op default; implement what you need.

    Threads: ``unit_started`` and ``unit_published`` are called on the worker thread running the
    unit, the others on the scheduler's thread, in completion order. A listener must not raise:
    `Listeners` logs the failure and goes on (a failing ``unit_published`` is also noted in the
    unit's message), so observing a run can never fail it.
    """

    def run_started(self, run: Run, units: Sequence[Unit]) -> None:
        """Before the first unit."""

    def unit_started(self, unit: Unit, result: UnitResult) -> None:
        """A unit starts."""

    def unit_published(self, unit: Unit, result: UnitResult, engine: Engine) -> None:
        """A build unit succeeded and its relation is published (same engine, same thread):
        measure it. Post-publish checks run after every listener has heard this."""

    def unit_finished(self, unit: Unit, result: UnitResult, index: int, total: int) -> None:
        """A unit finished, failed or was skipped (``index`` of ``total``)."""

    def run_finished(self, run: Run, results: Sequence[UnitResult], status: str) -> None:
        """After the last unit, also when the run was interrupted (``status``: success,
        failed, interrupted or error)."""


class Listeners(RunListener):
    """Several listeners as one, called in order."""

    def __init__(self, listeners: Sequence[RunListener]) -> None:
        self.listeners = list(listeners)

    def run_started(self, run: Run, units: Sequence[Unit]) -> None:
        for listener in self.listeners:
            _safely(listener.run_started, run, units)

    def unit_started(self, unit: Unit, result: UnitResult) -> None:
        for listener in self.listeners:
            _safely(listener.unit_started, unit, result)

    def unit_published(self, unit: Unit, result: UnitResult, engine: Engine) -> None:
        for listener in self.listeners:
            try:
                listener.unit_published(unit, result, engine)
            except Exception as exc:  # measuring must never fail the node it measures
                log.exception("listener %s failed", type(listener).__name__)
                result.message = (result.message + "; " if result.message else "") + (
                    f"observability: {type(exc).__name__}: {exc}"
                )

    def unit_finished(self, unit: Unit, result: UnitResult, index: int, total: int) -> None:
        for listener in self.listeners:
            _safely(listener.unit_finished, unit, result, index, total)

    def run_finished(self, run: Run, results: Sequence[UnitResult], status: str) -> None:
        for listener in self.listeners:
            _safely(listener.run_finished, run, results, status)


class Session:
    """One run between ``run_started`` and ``run_finished``: add the results of what it
    scheduled; ``status`` overrides what ``run_finished`` reports."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.results: list[UnitResult] = []
        self.status: str | None = None


@contextmanager
def run_session(listener: RunListener, run: Run, units: Sequence[Unit]) -> Iterator[Session]:
    """Listeners hear ``run_started`` now and ``run_finished`` when the block ends: status
    ``success`` or ``failed`` (a unit failed), ``interrupted`` (SIGINT/SIGTERM) or ``error`` (the
    block raised)."""
    session = Session(run)
    listener.run_started(run, units)
    status = "error"
    try:
        yield session
        status = "failed" if any(r.failed for r in session.results) else "success"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        listener.run_finished(run, session.results, session.status or status)


def _safely(fn: Callable[..., None], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # a listener's failure is logged, never the run's
        log.exception("listener %s failed", getattr(fn, "__qualname__", fn))
