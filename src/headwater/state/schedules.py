"""The schedules repository: missed SLAs (`sla_breaches`, one row per SLA, kind, node and
deadline: recorded once however often it is evaluated) and a scheduler's last and next run of
each schedule (`schedule_runs`)."""

from __future__ import annotations

from collections.abc import Iterable

from headwater.state.db import Column, Database, Table
from headwater.state.records import ScheduleRun, SlaBreach, as_values

SLA_BREACHES = Table(
    "sla_breaches",
    (
        Column("sla", "TEXT", not_null=True),
        Column("kind", "TEXT", not_null=True),
        Column("unique_id", "TEXT", not_null=True, default="''"),
        Column("due_at", "REAL", not_null=True),
        Column("detected_at", "REAL", not_null=True),
        Column("invocation_id", "TEXT"),
        Column("message", "TEXT"),
    ),
    key=("sla", "kind", "unique_id", "due_at"),
)
SCHEDULE_RUNS = Table(
    "schedule_runs",
    (
        Column("schedule", "TEXT"),
        Column("last_run_at", "REAL"),
        Column("next_run_at", "REAL"),
        Column("invocation_id", "TEXT"),
        Column("status", "TEXT"),
    ),
    key=("schedule",),
)
TABLES = (SLA_BREACHES, SCHEDULE_RUNS)


class Schedules:
    """SLA breaches and schedule runs."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record_breaches(self, breaches: Iterable[SlaBreach]) -> None:
        """New breaches; one already recorded (same SLA, kind, node and deadline) is kept."""
        rows = [as_values(b) for b in breaches]
        if rows:
            stmt = self._db.insert(SLA_BREACHES, rows, conflict="ignore")
            self._db.write("observability records", [stmt])

    def breaches(self, kind: str | None = None) -> list[SlaBreach]:
        """Recorded breaches (of ``kind`` only, when given), newest deadline first."""
        db = self._db
        where = " WHERE kind = ?" if kind else ""
        return [SlaBreach(*r) for r in db.select(
            f"SELECT {SLA_BREACHES.cols()} FROM {db.rel(SLA_BREACHES)}{where} ORDER BY due_at DESC",
            (kind,) if kind else (),
        )]  # fmt: skip

    def record_run(self, run: ScheduleRun) -> None:
        """A scheduler's latest run of one schedule (replaces the one before)."""
        stmt = self._db.insert(SCHEDULE_RUNS, [as_values(run)], conflict="replace")
        self._db.write("the schedule", [stmt], kind="ledger")

    def last_run(self, schedule: str) -> ScheduleRun | None:
        db = self._db
        rows = db.select(
            f"SELECT {SCHEDULE_RUNS.cols()} FROM {db.rel(SCHEDULE_RUNS)} WHERE schedule = ?",
            (schedule,),
        )
        return ScheduleRun(*rows[0]) if rows else None

    def runs(self) -> list[ScheduleRun]:
        """Every schedule's latest run, by name."""
        db = self._db
        return [ScheduleRun(*r) for r in db.select(
            f"SELECT {SCHEDULE_RUNS.cols()} FROM {db.rel(SCHEDULE_RUNS)} ORDER BY schedule{db.collate}"
        )]  # fmt: skip
