"""`SQLStateStore`: the repositories of a `StateStore` on one SQL backend (`Database`).

Both stores — `SQLiteStateStore` (`headwater.state.sqlite`) and `WarehouseStateStore`
(`headwater.state.warehouse`) — are this class on their own backend: the repositories, their
queries and the records they return are the same; only the backend (connection, DDL, failure
policy, the target-schema scope of the warehouse) differs.
"""

from __future__ import annotations

from pathlib import Path

from headwater.state import checks, freshness, incidents, ledger, metrics, runs, schedules
from headwater.state.checks import Checks
from headwater.state.db import Database, Table
from headwater.state.freshness import Freshness
from headwater.state.incidents import Incidents
from headwater.state.ledger import Backfills, Intervals
from headwater.state.liveness import RunLocks
from headwater.state.metrics import Metrics
from headwater.state.runs import Runs
from headwater.state.schedules import Schedules

TABLES: tuple[Table, ...] = (
    *runs.TABLES, *checks.TABLES, *ledger.TABLES, *metrics.TABLES, *freshness.TABLES,
    *schedules.TABLES, *incidents.TABLES,
)  # fmt: skip
"""Every repository's tables."""


class SQLStateStore:
    """The repositories of one store, on ``db``."""

    def __init__(self, path: Path, db: Database, locks: RunLocks) -> None:
        self._path = path
        self._db = db
        self._locks = locks
        self._runs = Runs(db, locks)
        self._checks = Checks(db)
        self._intervals = Intervals(db)
        self._backfills = Backfills(db)
        self._metrics = Metrics(db)
        self._incidents = Incidents(db)
        self._freshness = Freshness(db)
        self._schedules = Schedules(db)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def runs(self) -> Runs:
        return self._runs

    @property
    def checks(self) -> Checks:
        return self._checks

    @property
    def intervals(self) -> Intervals:
        return self._intervals

    @property
    def backfills(self) -> Backfills:
        return self._backfills

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    @property
    def incidents(self) -> Incidents:
        return self._incidents

    @property
    def freshness(self) -> Freshness:
        return self._freshness

    @property
    def schedules(self) -> Schedules:
        return self._schedules

    @property
    def warning(self) -> str | None:
        """Why the state of this process is incomplete (the first failed write), or None."""
        return self._db.warning

    def flush(self) -> None:
        self._db.flush()

    def close(self) -> None:
        try:
            self._db.flush()
        finally:
            self._locks.close()
            self._db.close()
