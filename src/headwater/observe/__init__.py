"""Observability: what every node run leaves behind besides its table.

Each part is a `headwater.runner.events.RunListener`; `headwater.observe.observers` builds the
ones a `Context` gives its run from the project's settings (metrics and profiles, schema changes,
SLAs, OpenLineage events, alerts). Judgements made after a node is published (anomaly monitors,
schema-change contracts) are post-publish checks of `headwater.quality`. Each part lives in its own module of this package:

- `metrics`     rows / inserted / updated / deleted, bytes, duration, schema and column profiles per node run
- `schema`      schema changes between runs (added, removed, renamed, type changed)
- `anomaly`     the robust detector (median and scaled MAD over a training window)
- `freshness`   dbt's `freshness:` on sources and models; `headwater freshness`
- `sla`         schedule SLAs (finished by a time of day) and run-time budgets
- `alerts`      incidents, dedup, routes and rate limits; `channels`: console/log, webhook, SMTP
- `openlineage` OpenLineage run events with schema and column-lineage facets
- `lineage`     table- and column-level lineage; `lineage_tree` is `Context.lineage`
- `status`      the data of `Context.status` and `Context.metrics` (printed by `cli/render/status.py`)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    """What the parts of one invocation share: the signals they emit (delivered by `alerts` at the
    end), and what the metrics listener measured for the post-publish checks to judge (each
    node's schema changes since its last run)."""

    def __init__(self) -> None:
        import threading

        self.signals: list[Signal] = []
        self.schemas: dict[str, tuple[bool, list[Any]]] = {}
        """unique_id -> (it had a previous schema, its `SchemaChange`s), for nodes measured so far."""
        self._lock = threading.Lock()

    def emit(self, signal: Signal) -> None:
        with self._lock:
            self.signals.append(signal)

    def measured_schema(self, unique_id: str, compared: bool, changes: list[Any]) -> None:
        with self._lock:
            self.schemas[unique_id] = (compared, list(changes))
