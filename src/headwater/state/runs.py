"""The runs repository: invocations, the node runs of each, and which running invocations died.

Tables `invocations` (one row per command run: `running` until it ends) and `node_runs` (one row
per node and invocation, queued and written in batches). Lock files (`headwater.state.liveness`)
tell a live `running` invocation from one whose process is gone; `reap_dead` marks those.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from headwater.state.db import CHUNK, Column, Database, Index, Table, marks
from headwater.state.liveness import RunLocks
from headwater.state.records import Invocation, NodeRun, as_values

INVOCATIONS = Table(
    "invocations",
    (
        Column("invocation_id", "TEXT"),
        Column("command", "TEXT", not_null=True),
        Column("args", "TEXT"),
        Column("target", "TEXT"),
        Column("started_at", "REAL", not_null=True),
        Column("finished_at", "REAL"),
        Column("status", "TEXT", not_null=True),
        Column("summary", "TEXT"),
    ),
    key=("invocation_id",),
)
NODE_RUNS = Table(
    "node_runs",
    (
        Column("invocation_id", "TEXT", not_null=True),
        Column("unique_id", "TEXT", not_null=True),
        Column("name", "TEXT", not_null=True),
        Column("resource_type", "TEXT", not_null=True),
        Column("materialized", "TEXT"),
        Column("relation", "TEXT"),
        Column("status", "TEXT", not_null=True),
        Column("started_at", "REAL"),
        Column("duration", "REAL"),
        Column("rows", "INTEGER"),
        Column("message", "TEXT"),
        Column("rejected", "INTEGER"),  # rows a load set aside (schema version 5)
    ),
    key=("invocation_id", "unique_id"),
    indexes=(Index("node_runs_by_node", ("unique_id", "started_at")),),
)
TABLES = (INVOCATIONS, NODE_RUNS)
SUCCESS = ("success", "warn")
"""Node run statuses that count as a successful build (freshness, SLAs)."""


class Runs:
    """Invocations and node runs."""

    def __init__(self, db: Database, locks: RunLocks) -> None:
        self._db = db
        self.locks = locks

    # -- writes ----------------------------------------------------------------------------------
    def start(self, invocation_id: str, command: str, args: Mapping[str, Any], target: str) -> None:
        """Record a running invocation (after taking its lock file)."""
        with contextlib.suppress(OSError):  # no room for a lock file: the run goes on, unwatched
            self.locks.hold(invocation_id)
        row = (invocation_id, command, json.dumps(args, default=str), target, time.time(), None,
               "running", None)  # fmt: skip
        self._db.write("the start of the run", [self._db.insert(INVOCATIONS, [row])])

    def finish(self, invocation_id: str, status: str, summary: Mapping[str, Any]) -> None:
        """Record how an invocation ended (its queued rows first), then release its lock file
        (leaving the status in it when the row could not be written)."""
        self._db.flush()
        stmt = self._db.update(
            INVOCATIONS,
            "finished_at = ?, status = ?, summary = ?",
            "invocation_id = ?",
            [(time.time(), status, json.dumps(summary, default=str), invocation_id)],
        )
        written = self._db.write("the end of the run", [stmt])
        self.locks.release(invocation_id, None if written else status)

    def record_node(self, run: NodeRun) -> None:
        """One node's result (queued: written with the next batch)."""
        self._db.queue(self._db.insert(NODE_RUNS, [as_values(run)], conflict="replace"))

    def reap_dead(self) -> list[str]:
        """Mark `killed` the invocations left `running` by a process that is gone (or give them
        the status their process left in the lock file); return their ids."""
        rows = self._db.select(
            f"SELECT invocation_id FROM {self._db.rel(INVOCATIONS)} WHERE status = 'running'"
        )
        running = {str(r[0]) for r in rows}
        dead: dict[str, str] = {}
        for invocation_id in sorted(running):
            ended = self.locks.ended(invocation_id)
            if ended is not None:
                dead[invocation_id] = ended
        self.locks.remove_orphans(running)
        if not dead:
            return []
        now = time.time()
        # `AND status = 'running'`: a run that just finished keeps its status
        stmt = self._db.update(
            INVOCATIONS,
            "status = ?, finished_at = ?",
            "invocation_id = ? AND status = 'running'",
            [(status, now, invocation_id) for invocation_id, status in dead.items()],
        )
        if self._db.write("the status of runs that ended without recording it", [stmt]):
            for invocation_id in dead:
                self.locks.forget(invocation_id)
        return list(dead)

    # -- reads -----------------------------------------------------------------------------------
    def recent(self, limit: int = 20) -> list[Invocation]:
        """The newest ``limit`` invocations, newest first."""
        return [Invocation(*r) for r in self._db.select(
            f"SELECT {INVOCATIONS.cols()} FROM {self._db.rel(INVOCATIONS)} ORDER BY started_at DESC LIMIT ?",
            (limit,),
        )]  # fmt: skip

    def get(self, invocation_id: str) -> Invocation | None:
        rows = self._db.select(
            f"SELECT {INVOCATIONS.cols()} FROM {self._db.rel(INVOCATIONS)} WHERE invocation_id = ?",
            (invocation_id,),
        )
        return Invocation(*rows[0]) if rows else None

    def with_prefix(self, prefix: str, limit: int = 2) -> list[Invocation]:
        """Invocations whose id starts with ``prefix``, newest first."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return [Invocation(*r) for r in self._db.select(
            f"SELECT {INVOCATIONS.cols()} FROM {self._db.rel(INVOCATIONS)} WHERE invocation_id LIKE ? ESCAPE '\\' "
            "ORDER BY started_at DESC LIMIT ?",
            (pattern, limit),
        )]  # fmt: skip

    def latest_with_checks(self, commands: Sequence[str] = ("build", "test")) -> Invocation | None:
        """The newest finished invocation of one of ``commands`` that recorded check results."""
        from headwater.state.checks import CHECK_RESULTS

        db = self._db
        rows = db.select(
            f"SELECT {INVOCATIONS.cols('i')} FROM {db.rel(INVOCATIONS, 'i')} WHERE i.command IN "
            f"({marks(len(commands))}) AND i.finished_at IS NOT NULL AND EXISTS (SELECT 1 FROM "
            f"{db.rel(CHECK_RESULTS, 'c')} WHERE c.invocation_id = i.invocation_id) "
            "ORDER BY i.started_at DESC LIMIT 1",
            tuple(commands),
        )
        return Invocation(*rows[0]) if rows else None

    def node_runs(self, invocation_id: str) -> list[NodeRun]:
        """The node runs of one invocation, in the order they started."""
        return [NodeRun(*r) for r in self._db.select(
            f"SELECT {NODE_RUNS.cols()} FROM {self._db.rel(NODE_RUNS)} WHERE invocation_id = ? ORDER BY started_at",
            (invocation_id,),
        )]  # fmt: skip

    def status_counts(self, invocation_id: str) -> dict[str, int]:
        """How many of an invocation's node runs ended in each status."""
        rows = self._db.select(
            f"SELECT status, count(*) FROM {self._db.rel(NODE_RUNS)} WHERE invocation_id = ? GROUP BY status",
            (invocation_id,),
        )
        return {str(status): int(n) for status, n in rows}

    def last_success(self, unique_id: str) -> float | None:
        """When the node's last successful run (success or warn) finished (epoch seconds)."""
        rows = self._db.select(
            f"SELECT max(started_at + coalesce(duration, 0)) FROM {self._db.rel(NODE_RUNS)} "
            "WHERE unique_id = ? AND status IN ('success', 'warn') AND started_at IS NOT NULL",
            (unique_id,),
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def successful_finishes(
        self, unique_ids: Sequence[str], since: float, until: float
    ) -> dict[str, list[float]]:
        """Finish times of the successful runs of ``unique_ids`` that overlap ``[since, until]``
        (started by ``until``, finished from ``since`` on)."""
        out: dict[str, list[float]] = {u: [] for u in unique_ids}
        uids = list(unique_ids)
        for i in range(0, len(uids), CHUNK):
            chunk = uids[i : i + CHUNK]
            rows = self._db.select(
                f"SELECT unique_id, started_at + coalesce(duration, 0) FROM {self._db.rel(NODE_RUNS)} "
                f"WHERE unique_id IN ({marks(len(chunk))}) AND status IN ('success', 'warn') "
                "AND started_at IS NOT NULL AND started_at <= ? AND started_at + coalesce(duration, 0) >= ?",
                (*chunk, until, since),
            )
            for uid, finished in rows:
                out[str(uid)].append(float(finished))
        return out

    def latest_rejected(self, limit: int) -> list[NodeRun]:
        """Nodes (loads) whose latest run set records aside, newest first."""
        db = self._db
        return [NodeRun(*r) for r in db.select(
            f"SELECT {NODE_RUNS.cols()} FROM (SELECT {NODE_RUNS.cols()}, row_number() OVER (PARTITION BY "
            f"unique_id ORDER BY started_at DESC) AS rn FROM {db.rel(NODE_RUNS)}) AS latest "
            "WHERE rn = 1 AND rejected > 0 ORDER BY started_at DESC LIMIT ?",
            (limit,),
        )]  # fmt: skip
