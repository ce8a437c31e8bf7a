"""The state store: invocations, node runs and check results in SQLite (`.headwater/state.db`).

SQLite in WAL mode is safe for several processes; writes are batched per invocation so that
recording costs almost nothing per node.

A write that fails (a full disk, a read-only file) never fails the run or prints a traceback:
the store keeps one `warning` that the caller shows, and skips later writes of that process. What
is in the warehouse is reported as it is; only the history is incomplete. Backfill plans are the
exception (`StateStoreError`): a plan that cannot be saved cannot be resumed, so none starts.

A running invocation holds an exclusive `flock` on `runs/<invocation id>.lock` beside the store,
taken before its row says `running` and released after its row says how it ended. A process that
dies holding it (SIGKILL, power loss) releases the lock with it, so the next store opened finds a
`running` row whose lock it can take, and marks that run `killed` — or, when the run ended but
could not write its status (disk full), the status it left in the lock file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from headwater.errors import HeadwaterError

try:
    import fcntl
except ImportError:  # Windows: no liveness check, runs left `running` stay so
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("headwater")
SCHEMA_VERSION = 5
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS invocations (
    invocation_id TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    args TEXT,
    target TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS node_runs (
    invocation_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    name TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    materialized TEXT,
    relation TEXT,
    status TEXT NOT NULL,
    started_at REAL,
    duration REAL,
    rows INTEGER,
    message TEXT,
    rejected INTEGER,
    PRIMARY KEY (invocation_id, unique_id)
);
CREATE INDEX IF NOT EXISTS node_runs_by_node ON node_runs (unique_id, started_at);
CREATE TABLE IF NOT EXISTS check_results (
    invocation_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    name TEXT NOT NULL,
    check_type TEXT,
    node TEXT,
    column_name TEXT,
    severity TEXT,
    status TEXT NOT NULL,
    failures INTEGER,
    message TEXT,
    query TEXT,
    sample TEXT,
    recorded_at REAL,
    rows_checked INTEGER,
    quarantined INTEGER,
    result TEXT,
    PRIMARY KEY (invocation_id, unique_id)
);
CREATE INDEX IF NOT EXISTS check_results_by_check ON check_results (unique_id, recorded_at);
"""

# The interval ledger and backfill plans (schema version 3).
_LEDGER = """
CREATE TABLE IF NOT EXISTS intervals (
    unique_id TEXT NOT NULL,
    interval_start TEXT NOT NULL,
    interval_end TEXT NOT NULL,
    status TEXT NOT NULL,
    rows INTEGER,
    invocation_id TEXT,
    built_at REAL,
    duration REAL,
    message TEXT,
    PRIMARY KEY (unique_id, interval_start)
);
CREATE TABLE IF NOT EXISTS backfills (
    backfill_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    selection TEXT,
    start TEXT NOT NULL,
    end_ TEXT NOT NULL,
    rerun TEXT NOT NULL,
    status TEXT NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS backfill_intervals (
    backfill_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    interval_start TEXT NOT NULL,
    interval_end TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    rows INTEGER,
    message TEXT,
    PRIMARY KEY (backfill_id, unique_id, interval_start)
);
"""
# Observability (schema version 4): metric history, relation schemas and their changes, freshness
# results, SLA breaches, alert incidents and deliveries.
_OBSERVE = """
CREATE TABLE IF NOT EXISTS node_metrics (
    invocation_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    metric TEXT NOT NULL,
    column_name TEXT NOT NULL DEFAULT '',
    value REAL,
    PRIMARY KEY (invocation_id, unique_id, metric, column_name)
);
CREATE INDEX IF NOT EXISTS node_metrics_by_series ON node_metrics (unique_id, metric, column_name, recorded_at);
CREATE TABLE IF NOT EXISTS relation_schemas (
    invocation_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    columns TEXT NOT NULL,
    PRIMARY KEY (invocation_id, unique_id)
);
CREATE INDEX IF NOT EXISTS relation_schemas_by_node ON relation_schemas (unique_id, recorded_at);
CREATE TABLE IF NOT EXISTS schema_changes (
    unique_id TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    change TEXT NOT NULL,
    column_name TEXT,
    old TEXT,
    new TEXT
);
CREATE INDEX IF NOT EXISTS schema_changes_by_node ON schema_changes (unique_id, recorded_at);
CREATE TABLE IF NOT EXISTS freshness_results (
    invocation_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    status TEXT NOT NULL,
    max_loaded_at TEXT,
    age_seconds REAL,
    warn_after_seconds REAL,
    error_after_seconds REAL,
    message TEXT,
    PRIMARY KEY (invocation_id, unique_id)
);
CREATE TABLE IF NOT EXISTS sla_breaches (
    sla TEXT NOT NULL,
    kind TEXT NOT NULL,
    unique_id TEXT NOT NULL DEFAULT '',
    due_at REAL NOT NULL,
    detected_at REAL NOT NULL,
    invocation_id TEXT,
    message TEXT,
    PRIMARY KEY (sla, kind, unique_id, due_at)
);
CREATE TABLE IF NOT EXISTS incidents (
    incident_key TEXT PRIMARY KEY,
    trigger TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    opened_at REAL NOT NULL,
    resolved_at REAL,
    last_seen_at REAL,
    last_alert_at REAL,
    occurrences INTEGER NOT NULL DEFAULT 1,
    message TEXT
);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    incident_key TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    sent_at REAL NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS alert_deliveries_by_channel ON alert_deliveries (channel, sent_at);
"""
# Each entry upgrades a store from the version before it.
_MIGRATIONS = {
    2: """
ALTER TABLE check_results ADD COLUMN rows_checked INTEGER;
ALTER TABLE check_results ADD COLUMN quarantined INTEGER;
ALTER TABLE check_results ADD COLUMN result TEXT;
CREATE INDEX IF NOT EXISTS check_results_by_check ON check_results (unique_id, recorded_at);
""",
    3: _LEDGER,
    4: _OBSERVE,
    5: "ALTER TABLE node_runs ADD COLUMN rejected INTEGER;",  # records a load set aside
}


class StateStore:
    """Records what every invocation did. One instance per process."""

    def __init__(self, path: Path) -> None:
        from headwater.private import private_file

        self.path = path
        self.warning: str | None = None
        """Why the history of this process is incomplete (the first failed write), or None."""
        self._lock = threading.Lock()
        self._pending: list[tuple[str, tuple]] = []
        self._held: dict[str, int] = {}  # invocation id -> fd of its lock file
        try:
            private_file(path)  # SQLite gives its -wal and -shm files the database file's mode
            self._con = sqlite3.connect(
                str(path), timeout=30, check_same_thread=False, isolation_level=None
            )
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._ensure_schema()
        except (sqlite3.Error, OSError) as exc:
            raise StateStoreError(
                f"cannot open the state store {path}: {_reason(exc)}",
                hint="free disk space (or fix the folder's permissions) and rerun; the warehouse is not affected",
            ) from None
        self.reap_dead_runs()

    def _attempt(self, what: str, fn: Callable[[], Any], required: bool = False) -> None:
        """Run the write ``fn`` under the lock; on a SQLite error, roll back and keep `warning`
        (or raise `StateStoreError` when ``required``)."""
        with self._lock:
            if self._history_failed() and not required:
                return  # one failure is reported; the rest of this process's history is skipped
            try:
                fn()
                return
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    if self._con.in_transaction:
                        self._con.execute("ROLLBACK")
                reason = _reason(exc)
        if required:
            raise StateStoreError(
                f"cannot save {what} in {self.path}: {reason}", hint="free disk space and rerun"
            )
        self.warning = (
            f"the run history could not be saved in {self.path} ({what}: {reason}); what this run did to "
            "the warehouse is reported above as it happened. Free disk space; the next run records again"
        )
        log.info(
            "%s", self.warning
        )  # shown by the CLI at the end of the command (`Context.warnings`)

    def _history_failed(self) -> bool:
        """A write of the local history failed in this process (later ones are skipped)."""
        return self.warning is not None

    def _ensure_schema(self) -> None:
        row = None
        with contextlib.suppress(sqlite3.OperationalError):
            row = self._con.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
        if row is None:
            self._con.executescript(_SCHEMA + _LEDGER + _OBSERVE)
        else:
            version = int(row[0])
            if version > SCHEMA_VERSION:
                from headwater.errors import ConfigError

                raise ConfigError(
                    f"{self.path} was written by a newer headwater (state schema {version}, this one reads {SCHEMA_VERSION})",
                    hint="upgrade headwater, or move the state store away to start a new history",
                )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                self._con.executescript("BEGIN;" + _MIGRATIONS[step] + "COMMIT;")
            if version == SCHEMA_VERSION:
                return  # nothing to write: a full disk still lets a current store open
        self._con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    def close(self) -> None:
        self.flush()
        for fd in self._held.values():
            os.close(fd)
        self._held.clear()
        self._con.close()

    # -- liveness of running invocations ---------------------------------------------------------
    def _lock_path(self, invocation_id: str) -> Path:
        return self.path.parent / "runs" / f"{invocation_id}.lock"

    def _hold(self, invocation_id: str) -> None:
        if fcntl is None:
            return
        from headwater.private import private_dir

        path = self._lock_path(invocation_id)
        private_dir(path.parent)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._held[invocation_id] = fd
        os.write(fd, f"{os.getpid()}\n".encode())

    def _release(self, invocation_id: str, status: str | None = None) -> None:
        """Let go of the lock file; with ``status`` (the row could not be updated) leave the file
        with the status in it, for the next store to record."""
        fd = self._held.pop(invocation_id, None)
        if fd is None:
            return
        if status is None:
            self._lock_path(invocation_id).unlink(missing_ok=True)
        else:
            with contextlib.suppress(OSError):  # the file's first block exists: no new space needed
                os.pwrite(fd, f"{os.getpid()}\n{status}\n".encode(), 0)
        os.close(fd)

    def _ended(self, invocation_id: str) -> str | None:
        """None while the process of ``invocation_id`` holds its lock file; else how it ended:
        the status written into the file, or `killed`."""
        if fcntl is None or invocation_id in self._held:
            return None
        path = self._lock_path(invocation_id)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return "killed"  # recorded by a headwater that kept no lock files
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None
        else:
            lines = os.pread(fd, 200, 0).decode("ascii", "replace").split()
            return lines[1] if len(lines) > 1 and lines[1] in _FINAL_STATUSES else "killed"
        finally:
            os.close(fd)

    def reap_dead_runs(self) -> list[str]:
        """Mark `killed` the invocations left `running` by a process that is gone (or give them the
        status their process left in the lock file); return their ids."""
        with self._lock:
            rows = self._con.execute(
                "SELECT invocation_id FROM invocations WHERE status = 'running'"
            ).fetchall()
        dead: dict[str, str] = {}
        running = {str(r[0]) for r in rows}
        for invocation_id in running:
            ended = self._ended(invocation_id)
            if ended is not None:
                dead[invocation_id] = ended
        folder = self.path.parent / "runs"
        for orphan in (
            folder.glob("*.lock") if folder.is_dir() else ()
        ):  # runs whose row was never written
            if orphan.stem not in running and self._ended(orphan.stem) is not None:
                orphan.unlink(missing_ok=True)

        def mark() -> None:  # `AND status = 'running'`: a run that just finished keeps its status
            for invocation_id, status in dead.items():
                self._con.execute(
                    "UPDATE invocations SET status = ?, finished_at = ? WHERE invocation_id = ? AND status = 'running'",
                    (status, time.time(), invocation_id),
                )
            for invocation_id in dead:
                self._lock_path(invocation_id).unlink(missing_ok=True)

        if dead:
            self._attempt("the status of runs that ended without recording it", mark)
        return list(dead)

    # -- writes --------------------------------------------------------------------------------
    def start_invocation(
        self, invocation_id: str, command: str, args: dict[str, Any], target: str
    ) -> None:
        with contextlib.suppress(OSError):  # no room for a lock file: the run goes on, unwatched
            self._hold(invocation_id)
        row = _masked((invocation_id, command, json.dumps(args, default=str), target, time.time()))
        self._attempt(
            "the start of the run",
            lambda: self._con.execute(
                "INSERT INTO invocations VALUES (?, ?, ?, ?, ?, NULL, 'running', NULL)", row
            ),
        )

    def finish_invocation(self, invocation_id: str, status: str, summary: dict[str, Any]) -> None:
        self.flush()
        row = _masked((time.time(), status, json.dumps(summary, default=str), invocation_id))
        self._attempt(
            "the end of the run",
            lambda: self._con.execute(
                "UPDATE invocations SET finished_at = ?, status = ?, summary = ? WHERE invocation_id = ?",
                row,
            ),
        )
        self._release(invocation_id, status if self.warning else None)

    def record_node(self, invocation_id: str, row: dict[str, Any]) -> None:
        self._queue(
            "INSERT OR REPLACE INTO node_runs (invocation_id, unique_id, name, resource_type, materialized, "
            "relation, status, started_at, duration, rows, message, rejected) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                invocation_id, row["unique_id"], row["name"], row["resource_type"],
                row.get("materialized"), row.get("relation"), row["status"], row.get("started_at"),
                row.get("duration"), row.get("rows"), row.get("message"), row.get("rejected"),
            ),
        )  # fmt: skip

    def record_check(self, invocation_id: str, result: dict[str, Any]) -> None:
        self._queue(
            "INSERT OR REPLACE INTO check_results (invocation_id, unique_id, name, check_type, node, "
            "column_name, severity, status, failures, message, query, sample, recorded_at, rows_checked, "
            "quarantined, result) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                invocation_id, result["unique_id"], result["name"], result["check"], result["node"],
                result["column"], result["severity"], result["status"], result["failures"],
                result["message"], result["query"], json.dumps(result["sample"], default=str), time.time(),
                result.get("rows"), result.get("quarantined"),
                json.dumps(result["result"], default=str) if result.get("result") is not None else None,
            ),
        )  # fmt: skip

    def _queue(self, sql: str, params: tuple) -> None:
        params = _masked(params)
        with self._lock:
            self._pending.append((sql, params))
            if len(self._pending) < 200:
                return
        self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return

        def write() -> None:
            self._con.execute("BEGIN")
            for sql, params in pending:
                self._con.execute(sql, params)
            self._con.execute("COMMIT")

        self._attempt("node results", write)

    # -- interval ledger (written at once: it is what a crashed run resumes from) ---------------------
    def record_interval(
        self, unique_id: str, start: str, end: str, status: str, rows: int | None, invocation_id: str,
        duration: float, message: str = "",
    ) -> None:  # fmt: skip
        """Record one interval of a time-partitioned model; a rebuilt interval replaces its row.
        (Not recorded, the interval is built again by the next run: intervals are idempotent.)"""
        row = _masked(
            (
                unique_id,
                start,
                end,
                status,
                rows,
                invocation_id,
                time.time(),
                duration,
                message[:2000],
            )
        )
        self._attempt(
            "the interval ledger",
            lambda: self._con.execute(
                "INSERT OR REPLACE INTO intervals VALUES (?,?,?,?,?,?,?,?,?)", row
            ),
        )

    def intervals(self, unique_id: str) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._con.execute(
                "SELECT * FROM intervals WHERE unique_id = ? ORDER BY interval_start", (unique_id,)
            )
            return _dicts(cur)

    def forget_intervals(self, unique_id: str) -> None:
        self._attempt(
            "the interval ledger", lambda: self._con.execute("DELETE FROM intervals WHERE unique_id = ?", (unique_id,)),
            required=True,
        )  # fmt: skip

    # -- backfill plans ---------------------------------------------------------------------------------
    def create_backfill(
        self,
        backfill_id: str,
        selection: str,
        start: str,
        end: str,
        rerun: str,
        items: list[tuple[str, str, str]],
    ) -> None:
        """Persist a plan: (unique_id, interval_start, interval_end) items, all pending."""

        def write() -> None:
            self._con.execute("BEGIN")
            self._con.execute(
                "INSERT INTO backfills VALUES (?,?,?,?,?,?,'running',NULL)",
                (backfill_id, time.time(), selection, start, end, rerun),
            )
            self._con.executemany(
                "INSERT INTO backfill_intervals (backfill_id, unique_id, interval_start, interval_end, status) "
                "VALUES (?,?,?,?,'pending')",
                [(backfill_id, *item) for item in items],
            )
            self._con.execute("COMMIT")

        self._attempt("the backfill plan", write, required=True)

    def backfills(self, status: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            sql = (
                "SELECT * FROM backfills"
                + (" WHERE status = ?" if status else "")
                + " ORDER BY created_at DESC"
            )
            return _dicts(self._con.execute(sql, (status,) if status else ()))

    def backfill_items(self, backfill_id: str) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._con.execute(
                "SELECT * FROM backfill_intervals WHERE backfill_id = ? ORDER BY unique_id, interval_start",
                (backfill_id,),
            )
            return _dicts(cur)

    def update_backfill_item(
        self,
        backfill_id: str,
        unique_id: str,
        start: str,
        status: str,
        attempts: int,
        rows: int | None,
        message: str,
    ) -> None:
        row = _masked((status, attempts, rows, message[:2000], backfill_id, unique_id, start))
        self._attempt("the backfill plan", lambda: self._con.execute(
            "UPDATE backfill_intervals SET status = ?, attempts = ?, rows = ?, message = ? "
            "WHERE backfill_id = ? AND unique_id = ? AND interval_start = ?", row))  # fmt: skip

    def finish_backfill(self, backfill_id: str, status: str) -> None:
        self._attempt("the backfill plan", lambda: self._con.execute(
            "UPDATE backfills SET status = ?, finished_at = ? WHERE backfill_id = ?", (status, time.time(), backfill_id)))  # fmt: skip

    # -- observability (tables of `_OBSERVE`) ----------------------------------------------------
    def write(self, sql: str, rows: list[tuple]) -> None:
        """Run one INSERT/UPDATE for each row, at once and in one transaction (observability
        tables; the caller owns the SQL)."""
        if not rows:
            return

        def write() -> None:
            self._con.execute("BEGIN")
            self._con.executemany(sql, [_masked(row) for row in rows])
            self._con.execute("COMMIT")

        self._attempt("observability records", write)

    def read(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts (pending node and check rows are written first)."""
        self.flush()
        with self._lock:
            return _dicts(self._con.execute(sql, tuple(params)))

    def record_metrics(self, invocation_id: str, unique_id: str, metrics: dict[tuple[str, str], float | None],
                       recorded_at: float | None = None) -> None:  # fmt: skip
        """One node run's metrics: {(metric, column or ''): value}."""
        at = time.time() if recorded_at is None else recorded_at
        self.write(
            "INSERT OR REPLACE INTO node_metrics VALUES (?,?,?,?,?,?)",
            [(invocation_id, unique_id, at, m, c or "", v) for (m, c), v in metrics.items()],
        )

    def metric_history(self, unique_id: str, metric: str, column: str = "", limit: int = 100,
                       before: float | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """The last ``limit`` values of one series, oldest first: invocation_id, recorded_at, value."""
        sql = (
            "SELECT invocation_id, recorded_at, value FROM node_metrics WHERE unique_id = ? AND metric = ? "
            "AND column_name = ?" + (" AND recorded_at < ?" if before is not None else "") +
            " ORDER BY recorded_at DESC LIMIT ?"
        )  # fmt: skip
        params: list[Any] = [unique_id, metric, column or ""]
        if before is not None:
            params.append(before)
        return list(reversed(self.read(sql, [*params, limit])))

    # -- reads ---------------------------------------------------------------------------------
    def invocations(self, limit: int = 20) -> list[dict[str, Any]]:
        cur = self._con.execute(
            "SELECT * FROM invocations ORDER BY started_at DESC LIMIT ?", (limit,)
        )
        return _dicts(cur)

    def node_runs(self, invocation_id: str) -> list[dict[str, Any]]:
        cur = self._con.execute(
            "SELECT * FROM node_runs WHERE invocation_id = ? ORDER BY started_at", (invocation_id,)
        )
        return _dicts(cur)

    def check_results(self, invocation_id: str) -> list[dict[str, Any]]:
        cur = self._con.execute(
            "SELECT * FROM check_results WHERE invocation_id = ?", (invocation_id,)
        )
        return _dicts(cur)

    def latest_invocation(
        self, commands: tuple[str, ...] = ("build", "test")
    ) -> dict[str, Any] | None:
        """The newest finished invocation of one of ``commands`` that recorded check results."""
        marks = ",".join("?" * len(commands))
        cur = self._con.execute(
            f"SELECT * FROM invocations WHERE command IN ({marks}) AND finished_at IS NOT NULL AND EXISTS "
            "(SELECT 1 FROM check_results c WHERE c.invocation_id = invocations.invocation_id) "
            "ORDER BY started_at DESC LIMIT 1",
            commands,
        )
        rows = _dicts(cur)
        return rows[0] if rows else None

    def check_history(
        self, unique_ids: list[str], limit: int = 30
    ) -> dict[str, list[dict[str, Any]]]:
        """The last ``limit`` results of each check, oldest first: status, failures, rows, time."""
        out: dict[str, list[dict[str, Any]]] = {uid: [] for uid in unique_ids}
        if not unique_ids:
            return out
        marks = ",".join("?" * len(unique_ids))
        cur = self._con.execute(
            "SELECT unique_id, invocation_id, status, failures, rows_checked, quarantined, recorded_at FROM ("
            "SELECT *, row_number() OVER (PARTITION BY unique_id ORDER BY recorded_at DESC) AS rn "
            f"FROM check_results WHERE unique_id IN ({marks})) WHERE rn <= ? ORDER BY recorded_at",
            (*unique_ids, limit),
        )
        for row in _dicts(cur):
            out[row["unique_id"]].append(row)
        return out


_FINAL_STATUSES = frozenset({"success", "failed", "error", "interrupted"})


class StateStoreError(HeadwaterError):
    """The state store cannot be opened, or a record that a later command needs cannot be saved."""


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return text


def _masked(params: tuple) -> tuple:
    """``params`` with secrets masked in every string: nothing secret is ever stored."""
    from headwater.secrets import mask

    return tuple(mask(p) if isinstance(p, str) else p for p in params)


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
