"""The freshness repository: each node's freshness in each `headwater freshness` run
(`freshness_results`), for `headwater status`."""

from __future__ import annotations

from collections.abc import Iterable

from headwater.state.db import Column, Database, Table
from headwater.state.records import FreshnessRecord, as_values

FRESHNESS_RESULTS = Table(
    "freshness_results",
    (
        Column("invocation_id", "TEXT", not_null=True),
        Column("unique_id", "TEXT", not_null=True),
        Column("recorded_at", "REAL", not_null=True),
        Column("status", "TEXT", not_null=True),
        Column("max_loaded_at", "TEXT"),
        Column("age_seconds", "REAL"),
        Column("warn_after_seconds", "REAL"),
        Column("error_after_seconds", "REAL"),
        Column("message", "TEXT"),
    ),
    key=("invocation_id", "unique_id"),
)
TABLES = (FRESHNESS_RESULTS,)


class Freshness:
    """Freshness results."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, results: Iterable[FreshnessRecord]) -> None:
        rows = [as_values(r) for r in results]
        if rows:
            stmt = self._db.insert(FRESHNESS_RESULTS, rows, conflict="replace")
            self._db.write("observability records", [stmt])

    def latest_stale(self, limit: int) -> list[FreshnessRecord]:
        """Nodes whose latest freshness is warn or error, oldest data first."""
        db = self._db
        cols = FRESHNESS_RESULTS.cols()
        return [FreshnessRecord(*r) for r in db.select(
            f"SELECT {cols} FROM (SELECT {cols}, row_number() OVER (PARTITION BY unique_id ORDER BY "
            f"recorded_at DESC) AS rn FROM {db.rel(FRESHNESS_RESULTS)}) AS latest WHERE rn = 1 "
            "AND status IN ('warn', 'error') ORDER BY age_seconds DESC LIMIT ?",
            (limit,),
        )]  # fmt: skip
