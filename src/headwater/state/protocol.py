"""`StateStore`: what every state store offers, whatever keeps it (a SQLite file, the warehouse).

A store is a set of typed repositories — ``runs``, ``checks``, ``intervals``, ``backfills``,
``metrics``, ``incidents``, ``freshness``, ``schedules`` — each owning its tables and queries
(`headwater.state.runs`, ...), plus the store's `warning` (why its history is incomplete),
`flush` (write the queued rows) and `close`. Nothing outside `headwater.state` writes SQL against
the state tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from headwater.state.checks import Checks
    from headwater.state.freshness import Freshness
    from headwater.state.incidents import Incidents
    from headwater.state.ledger import Backfills, Intervals
    from headwater.state.metrics import Metrics
    from headwater.state.runs import Runs
    from headwater.state.schedules import Schedules


class StateStore(Protocol):
    """The state of one project on one target."""

    @property
    def path(self) -> Path:
        """The SQLite file (`state: warehouse`: where it would be; its folder keeps the run
        lock files)."""
        ...

    @property
    def runs(self) -> Runs: ...
    @property
    def checks(self) -> Checks: ...
    @property
    def intervals(self) -> Intervals: ...
    @property
    def backfills(self) -> Backfills: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def incidents(self) -> Incidents: ...
    @property
    def freshness(self) -> Freshness: ...
    @property
    def schedules(self) -> Schedules: ...

    @property
    def warning(self) -> str | None:
        """Why the state of this process is incomplete (the first failed write), or None."""
        ...

    def flush(self) -> None:
        """Write the rows queued for the next batch (node runs, check results)."""
        ...

    def close(self) -> None: ...
