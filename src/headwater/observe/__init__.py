"""Observability: what every node run leaves behind besides its table.

The runner calls an `Observer` at four points of a run; `headwater.observe.observers` builds the
one a `Context` uses from the project's settings (metrics and profiles, schema changes, anomaly
monitors, OpenLineage events, alerts). Each part lives in its own module of this package:

- `metrics`     rows / inserted / updated / deleted, bytes, duration, schema and column profiles per node run
- `schema`      schema changes between runs (added, removed, renamed, type changed)
- `anomaly`     the robust detector (median and scaled MAD over a training window)
- `monitors`    anomaly monitors declared on models and sources, evaluated as checks
- `freshness`   dbt's `freshness:` on sources and models; `headwater freshness`
- `sla`         schedule SLAs (finished by a time of day) and run-time budgets
- `alerts`      incidents, dedup, routes and rate limits; `channels`: console/log, webhook, SMTP
- `openlineage` OpenLineage run events with schema and column-lineage facets
- `lineage`     table- and column-level lineage; `lineage_cli` is `headwater lineage`
- `status`      `headwater status` and `headwater metrics`
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater.engines.base import Engine
    from headwater.quality.evaluator import CheckResult
    from headwater.runner.executor import UnitResult
    from headwater.runner.plan import Unit


TRIGGERS = (
    "node_failure",
    "check_error",
    "check_warn",
    "freshness",
    "sla",
    "anomaly",
    "schema_change",
)


@dataclass
class Signal:
    """Something alerting may act on. ``status`` "open" reports a problem on ``subject`` (a node or
    check unique_id, or an SLA name); "ok" says the same subject is healthy now, which resolves an
    open incident. One incident per (trigger, subject)."""

    trigger: str
    subject: str
    status: str
    message: str = ""
    severity: str = "error"
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.trigger}:{self.subject}"


class Bus:
    """The signals of one invocation, collected by the parts and delivered by `alerts` at the end."""

    def __init__(self) -> None:
        import threading

        self.signals: list[Signal] = []
        self._lock = threading.Lock()

    def emit(self, signal: Signal) -> None:
        with self._lock:
            self.signals.append(signal)


class Observer:
    """Hooks of a run. The default does nothing; subclasses override what they need. Hooks must
    not raise: an observer that fails is reported in the node's message, never fails the node."""

    def run_started(self, units: list[Unit]) -> None:
        """Before the first unit (main thread)."""

    def node_started(self, unit: Unit, result: UnitResult) -> None:
        """A unit starts (worker thread)."""

    def node_built(self, unit: Unit, result: UnitResult, engine: Engine) -> list[CheckResult]:
        """A build unit succeeded and its relation is published (worker thread, same engine):
        measure it; return extra check results (anomaly monitors, schema-change contracts)."""
        return []

    def node_finished(self, unit: Unit, result: UnitResult) -> None:
        """A unit finished, failed or was skipped (main thread, in completion order)."""

    def run_finished(self, results: list[UnitResult]) -> None:
        """After the last unit (main thread): deliver what was collected."""


class Observers(Observer):
    """Several observers as one, called in order; ``node_built`` results are concatenated."""

    def __init__(self, observers: list[Observer]) -> None:
        self.observers = list(observers)

    def run_started(self, units: list[Unit]) -> None:
        for o in self.observers:
            _safely(o.run_started, units)

    def node_started(self, unit: Unit, result: UnitResult) -> None:
        for o in self.observers:
            _safely(o.node_started, unit, result)

    def node_built(self, unit: Unit, result: UnitResult, engine: Engine) -> list[CheckResult]:
        out: list[CheckResult] = []
        for o in self.observers:
            try:
                out += o.node_built(unit, result, engine)
            except Exception as exc:  # measuring must never fail the node it measures
                result.message = (result.message + "; " if result.message else "") + (
                    f"observability: {type(exc).__name__}: {exc}"
                )
        return out

    def node_finished(self, unit: Unit, result: UnitResult) -> None:
        for o in self.observers:
            _safely(o.node_finished, unit, result)

    def run_finished(self, results: list[UnitResult]) -> None:
        for o in self.observers:
            _safely(o.run_finished, results)


def _safely(fn: Any, *args: Any) -> None:
    import logging

    try:
        fn(*args)
    except Exception:  # an observer's failure is logged, never the run's
        logging.getLogger("headwater").exception(
            "observer %s failed", getattr(fn, "__qualname__", fn)
        )
