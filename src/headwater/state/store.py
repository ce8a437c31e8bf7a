"""The state store: invocations, node runs and check results in SQLite (`.headwater/state.db`).

SQLite in WAL mode is safe for several processes; writes are batched per invocation so that
recording costs almost nothing per node.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 4
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
}


class StateStore:
    """Records what every invocation did. One instance per process."""

    def __init__(self, path: Path) -> None:
        from headwater.private import private_file

        self.path = path
        private_file(path)  # SQLite gives its -wal and -shm files the database file's mode
        self._con = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        self._pending: list[tuple[str, tuple]] = []
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        row = None
        with contextlib.suppress(sqlite3.OperationalError):
            row = self._con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
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
        self._con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self.flush()
        self._con.close()

    # -- writes --------------------------------------------------------------------------------
    def start_invocation(self, invocation_id: str, command: str, args: dict[str, Any], target: str) -> None:
        with self._lock:
            self._con.execute(
                "INSERT INTO invocations VALUES (?, ?, ?, ?, ?, NULL, 'running', NULL)",
                _masked((invocation_id, command, json.dumps(args, default=str), target, time.time())),
            )

    def finish_invocation(self, invocation_id: str, status: str, summary: dict[str, Any]) -> None:
        self.flush()
        with self._lock:
            self._con.execute(
                "UPDATE invocations SET finished_at = ?, status = ?, summary = ? WHERE invocation_id = ?",
                _masked((time.time(), status, json.dumps(summary, default=str), invocation_id)),
            )

    def record_node(self, invocation_id: str, row: dict[str, Any]) -> None:
        self._queue(
            "INSERT OR REPLACE INTO node_runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                invocation_id, row["unique_id"], row["name"], row["resource_type"],
                row.get("materialized"), row.get("relation"), row["status"], row.get("started_at"),
                row.get("duration"), row.get("rows"), row.get("message"),
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
            self._con.execute("BEGIN")
            for sql, params in pending:
                self._con.execute(sql, params)
            self._con.execute("COMMIT")

    # -- interval ledger (written at once: it is what a crashed run resumes from) ---------------------
    def record_interval(
        self, unique_id: str, start: str, end: str, status: str, rows: int | None, invocation_id: str,
        duration: float, message: str = "",
    ) -> None:  # fmt: skip
        """Record one interval of a time-partitioned model; a rebuilt interval replaces its row."""
        with self._lock:
            self._con.execute(
                "INSERT OR REPLACE INTO intervals VALUES (?,?,?,?,?,?,?,?,?)",
                _masked((unique_id, start, end, status, rows, invocation_id, time.time(), duration, message[:2000])),
            )

    def intervals(self, unique_id: str) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._con.execute(
                "SELECT * FROM intervals WHERE unique_id = ? ORDER BY interval_start", (unique_id,)
            )
            return _dicts(cur)

    def forget_intervals(self, unique_id: str) -> None:
        with self._lock:
            self._con.execute("DELETE FROM intervals WHERE unique_id = ?", (unique_id,))

    # -- backfill plans ---------------------------------------------------------------------------------
    def create_backfill(
        self, backfill_id: str, selection: str, start: str, end: str, rerun: str, items: list[tuple[str, str, str]]
    ) -> None:
        """Persist a plan: (unique_id, interval_start, interval_end) items, all pending."""
        with self._lock:
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

    def backfills(self, status: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            sql = "SELECT * FROM backfills" + (" WHERE status = ?" if status else "") + " ORDER BY created_at DESC"
            return _dicts(self._con.execute(sql, (status,) if status else ()))

    def backfill_items(self, backfill_id: str) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._con.execute(
                "SELECT * FROM backfill_intervals WHERE backfill_id = ? ORDER BY unique_id, interval_start",
                (backfill_id,),
            )
            return _dicts(cur)

    def update_backfill_item(
        self, backfill_id: str, unique_id: str, start: str, status: str, attempts: int, rows: int | None, message: str
    ) -> None:
        with self._lock:
            self._con.execute(
                "UPDATE backfill_intervals SET status = ?, attempts = ?, rows = ?, message = ? "
                "WHERE backfill_id = ? AND unique_id = ? AND interval_start = ?",
                _masked((status, attempts, rows, message[:2000], backfill_id, unique_id, start)),
            )

    def finish_backfill(self, backfill_id: str, status: str) -> None:
        with self._lock:
            self._con.execute(
                "UPDATE backfills SET status = ?, finished_at = ? WHERE backfill_id = ?", (status, time.time(), backfill_id)
            )

    # -- observability (tables of `_OBSERVE`) ----------------------------------------------------
    def write(self, sql: str, rows: list[tuple]) -> None:
        """Run one INSERT/UPDATE for each row, at once and in one transaction (observability
        tables; the caller owns the SQL)."""
        if not rows:
            return
        with self._lock:
            self._con.execute("BEGIN")
            try:
                self._con.executemany(sql, [_masked(row) for row in rows])
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

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
        cur = self._con.execute("SELECT * FROM invocations ORDER BY started_at DESC LIMIT ?", (limit,))
        return _dicts(cur)

    def node_runs(self, invocation_id: str) -> list[dict[str, Any]]:
        cur = self._con.execute("SELECT * FROM node_runs WHERE invocation_id = ? ORDER BY started_at", (invocation_id,))
        return _dicts(cur)

    def check_results(self, invocation_id: str) -> list[dict[str, Any]]:
        cur = self._con.execute("SELECT * FROM check_results WHERE invocation_id = ?", (invocation_id,))
        return _dicts(cur)

    def latest_invocation(self, commands: tuple[str, ...] = ("build", "test")) -> dict[str, Any] | None:
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

    def check_history(self, unique_ids: list[str], limit: int = 30) -> dict[str, list[dict[str, Any]]]:
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


def _masked(params: tuple) -> tuple:
    """``params`` with secrets masked in every string: nothing secret is ever stored."""
    from headwater.secrets import mask

    return tuple(mask(p) if isinstance(p, str) else p for p in params)


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
