"""The state that decides what to build: the interval ledger of time-partitioned models and the
backfill plans.

`intervals` holds one row per (model, interval start): its latest build. A row that cannot be
written is a warning, not an error — the interval is built again by the next run, intervals are
idempotent — but forgetting a model's ledger (a full refresh) and saving a backfill plan must
succeed (`StateStoreError`): a plan that cannot be saved cannot be resumed, so none starts.
Rows are read in byte order of their text keys on every backend.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from headwater.state.db import Column, Database, Table
from headwater.state.records import Backfill, BackfillItem, Interval

INTERVALS = Table(
    "intervals",
    (
        Column("unique_id", "TEXT", not_null=True),
        Column("interval_start", "TEXT", not_null=True),
        Column("interval_end", "TEXT", not_null=True),
        Column("status", "TEXT", not_null=True),
        Column("rows", "INTEGER"),
        Column("invocation_id", "TEXT"),
        Column("built_at", "REAL"),
        Column("duration", "REAL"),
        Column("message", "TEXT"),
    ),
    key=("unique_id", "interval_start"),
)
BACKFILLS = Table(
    "backfills",
    (
        Column("backfill_id", "TEXT"),
        Column("created_at", "REAL", not_null=True),
        Column("selection", "TEXT"),
        Column("start", "TEXT", not_null=True),
        Column("end_", "TEXT", not_null=True),
        Column("rerun", "TEXT", not_null=True),
        Column("status", "TEXT", not_null=True),
        Column("finished_at", "REAL"),
    ),
    key=("backfill_id",),
)
BACKFILL_INTERVALS = Table(
    "backfill_intervals",
    (
        Column("backfill_id", "TEXT", not_null=True),
        Column("unique_id", "TEXT", not_null=True),
        Column("interval_start", "TEXT", not_null=True),
        Column("interval_end", "TEXT", not_null=True),
        Column("status", "TEXT", not_null=True),
        Column("attempts", "INTEGER", not_null=True, default="0"),
        Column("rows", "INTEGER"),
        Column("message", "TEXT"),
    ),
    key=("backfill_id", "unique_id", "interval_start"),
)
TABLES = (INTERVALS, BACKFILLS, BACKFILL_INTERVALS)
MESSAGE_CHARS = 2000


class Intervals:
    """The interval ledger."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self, unique_id: str, start: str, end: str, status: str, rows: int | None,
        invocation_id: str, duration: float, message: str = "",
    ) -> None:  # fmt: skip
        """Record one interval (written at once: it is what a crashed run resumes from); a
        rebuilt interval replaces its row."""
        row = (unique_id, start, end, status, rows, invocation_id, time.time(), duration,
               message[:MESSAGE_CHARS])  # fmt: skip
        stmt = self._db.insert(INTERVALS, [row], conflict="replace")
        self._db.write("the interval ledger", [stmt], kind="ledger")

    def for_node(self, unique_id: str) -> list[Interval]:
        """The recorded intervals of one model, by start."""
        db = self._db
        return [Interval(*r) for r in db.select(
            f"SELECT {INTERVALS.cols()} FROM {db.rel(INTERVALS)} WHERE unique_id = ? "
            f"ORDER BY interval_start{db.collate}",
            (unique_id,),
        )]  # fmt: skip

    def forget(self, unique_id: str) -> None:
        """Delete a model's ledger (a full refresh rebuilds every interval); raises
        `StateStoreError` when it cannot."""
        stmt = self._db.delete(INTERVALS, "unique_id = ?", [(unique_id,)])
        self._db.write("the interval ledger", [stmt], kind="required")


class Backfills:
    """Backfill plans and their items."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self, backfill_id: str, selection: str, start: str, end: str, rerun: str,
        items: Sequence[tuple[str, str, str]],
    ) -> None:  # fmt: skip
        """Persist a plan at once, in one transaction: its (unique_id, interval_start,
        interval_end) items, all pending. Raises `StateStoreError` when it cannot."""
        db = self._db
        plan = (backfill_id, time.time(), selection, start, end, rerun, "running", None)
        rows = [(backfill_id, uid, lo, hi, "pending", 0, None, None) for uid, lo, hi in items]
        # `ignore`: a retry (after a lost connection) of a plan that was committed changes nothing
        stmts = [db.insert(BACKFILLS, [plan], conflict="ignore")]
        if rows:
            stmts.append(db.insert(BACKFILL_INTERVALS, rows, conflict="ignore"))
        db.write("the backfill plan", stmts, kind="required")

    def plans(self, status: str | None = None) -> list[Backfill]:
        """Plans (with ``status`` only, when given), newest first."""
        db = self._db
        where = " WHERE status = ?" if status else ""
        return [Backfill(*r) for r in db.select(
            f"SELECT {BACKFILLS.cols()} FROM {db.rel(BACKFILLS)}{where} ORDER BY created_at DESC",
            (status,) if status else (),
        )]  # fmt: skip

    def items(self, backfill_id: str) -> list[BackfillItem]:
        """A plan's items, by model and interval start."""
        db = self._db
        return [BackfillItem(*r) for r in db.select(
            f"SELECT {BACKFILL_INTERVALS.cols()} FROM {db.rel(BACKFILL_INTERVALS)} WHERE backfill_id = ? "
            f"ORDER BY unique_id{db.collate}, interval_start{db.collate}",
            (backfill_id,),
        )]  # fmt: skip

    def update_item(
        self, backfill_id: str, unique_id: str, start: str, status: str, attempts: int,
        rows: int | None, message: str,
    ) -> None:  # fmt: skip
        """How one item went."""
        stmt = self._db.update(
            BACKFILL_INTERVALS,
            "status = ?, attempts = ?, rows = ?, message = ?",
            "backfill_id = ? AND unique_id = ? AND interval_start = ?",
            [(status, attempts, rows, message[:MESSAGE_CHARS], backfill_id, unique_id, start)],
        )
        self._db.write("the backfill plan", [stmt], kind="ledger")

    def finish(self, backfill_id: str, status: str) -> None:
        stmt = self._db.update(
            BACKFILLS, "status = ?, finished_at = ?", "backfill_id = ?",
            [(status, time.time(), backfill_id)],
        )  # fmt: skip
        self._db.write("the backfill plan", [stmt], kind="ledger")
