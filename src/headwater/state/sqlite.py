"""The default state store: a SQLite file in the project's state folder (`.headwater/state.db`).

SQLite in WAL mode is safe for several processes; node runs and check results are written in
batches, so recording costs almost nothing per node.

A write that fails (a full disk, a read-only file) never fails the run or prints a traceback:
the store keeps one `warning` that the caller shows, and skips later writes of that process. What
is in the warehouse is reported as it is; only the history is incomplete. Writes that a later
command needs (a backfill plan, forgetting an interval ledger) raise `StateStoreError` instead.

The file's tables are the repositories' (`headwater.state.base.TABLES`); `meta` holds its schema
version. A file written by an older headwater is migrated on open (`_MIGRATIONS`), one written by
a newer one is refused; a file at the current version is opened without writing, so a full disk
still lets it open.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from headwater.state.base import TABLES, SQLStateStore
from headwater.state.db import (
    BatchedWrites,
    Batches,
    Conflict,
    StateStoreError,
    Stmt,
    Table,
    WriteKind,
    column_sql,
    masked,
    reason,
)
from headwater.state.liveness import RunLocks

log = logging.getLogger("headwater")
SCHEMA_VERSION = 6
_TYPES = {"TEXT": "TEXT", "REAL": "REAL", "INTEGER": "INTEGER"}
_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);\n"


def _tables(*names: str) -> tuple[Table, ...]:
    by_name = {t.name: t for t in TABLES}
    return tuple(by_name[n] for n in names)


# Each entry upgrades a file from the version before it: SQL, or the tables it created (created
# as the repositories declare them today; a later change to one of these tables is a new step
# that ALTERs it, and this step then keeps its SQL of the time).
_MIGRATIONS: dict[int, str | tuple[Table, ...]] = {
    2: """
ALTER TABLE check_results ADD COLUMN rows_checked INTEGER;
ALTER TABLE check_results ADD COLUMN quarantined INTEGER;
ALTER TABLE check_results ADD COLUMN result TEXT;
CREATE INDEX IF NOT EXISTS check_results_by_check ON check_results (unique_id, recorded_at);
""",
    3: _tables("intervals", "backfills", "backfill_intervals"),  # the interval ledger
    4: _tables(  # observability
        "node_metrics",
        "relation_schemas",
        "schema_changes",
        "freshness_results",
        "sla_breaches",
        "incidents",
        "alert_deliveries",
    ),
    5: "ALTER TABLE node_runs ADD COLUMN rejected INTEGER;",  # records a load set aside
    6: _tables("schedule_runs"),
}


def ddl(tables: Iterable[Table]) -> str:
    """CREATE statements (IF NOT EXISTS) of ``tables`` and their indexes."""
    out = []
    for t in tables:
        parts = [column_sql(c, _TYPES) for c in t.columns]
        if t.key:
            parts.append(f"PRIMARY KEY ({', '.join(t.key)})")
        out.append(f"CREATE TABLE IF NOT EXISTS {t.name} (\n    " + ",\n    ".join(parts) + "\n);")
        out += [
            f"CREATE INDEX IF NOT EXISTS {i.name} ON {t.name} ({', '.join(i.columns)});"
            for i in t.indexes
        ]
    return "\n".join(out) + "\n"


class SQLiteDatabase(BatchedWrites):
    """The SQLite file as a `Database`."""

    collate = ""
    rowid = "rowid"

    def __init__(self, path: Path) -> None:
        from headwater.private import private_file

        self.path = path
        self._warning: str | None = None
        self._lock = threading.Lock()
        self._batches = Batches()
        con: sqlite3.Connection | None = None
        try:
            private_file(path)  # SQLite gives its -wal and -shm files the database file's mode
            con = sqlite3.connect(
                str(path), timeout=30, check_same_thread=False, isolation_level=None
            )
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            _ensure_schema(con, path)
        except (sqlite3.Error, OSError) as exc:
            if con is not None:
                con.close()
            raise StateStoreError(
                f"cannot open the state store {path}: {reason(exc)}",
                hint="free disk space (or fix the folder's permissions) and rerun; the warehouse is not affected",
            ) from None
        except BaseException:
            if con is not None:
                con.close()
            raise
        self._con = con

    @property
    def warning(self) -> str | None:
        return self._warning

    # -- statements ------------------------------------------------------------------------------
    def rel(self, table: Table, alias: str | None = None) -> str:
        return f"{table.name} AS {alias}" if alias else table.name

    def insert(
        self, table: Table, rows: Iterable[Sequence[object]], conflict: Conflict = None
    ) -> Stmt:
        verb = {"replace": "INSERT OR REPLACE", "ignore": "INSERT OR IGNORE", None: "INSERT"}
        marks = ",".join("?" * len(table.columns))
        sql = f"{verb[conflict]} INTO {table.name} ({', '.join(table.names)}) VALUES ({marks})"
        return Stmt(sql, masked(rows))

    def update(
        self, table: Table, assignments: str, where: str, rows: Iterable[Sequence[object]]
    ) -> Stmt:
        return Stmt(f"UPDATE {table.name} SET {assignments} WHERE {where}", masked(rows))

    def delete(self, table: Table, where: str, rows: Iterable[Sequence[object]]) -> Stmt:
        return Stmt(f"DELETE FROM {table.name} WHERE {where}", masked(rows))

    # -- writing ---------------------------------------------------------------------------------
    def write(self, what: str, stmts: Sequence[Stmt], kind: WriteKind = "history") -> bool:
        con = self._con

        def run() -> None:
            con.execute("BEGIN")
            for stmt in stmts:
                con.executemany(stmt.sql, stmt.rows)
            con.execute("COMMIT")

        return self._attempt(what, run, kind)

    def _attempt(self, what: str, fn: Callable[[], None], kind: WriteKind) -> bool:
        """Run the write ``fn`` under the lock; on a SQLite error, roll back and keep `warning`
        (or raise `StateStoreError` when ``required``). True when written."""
        with self._lock:
            if self._warning is not None and kind != "required":
                return (
                    False  # one failure is reported; the rest of this process's history is skipped
                )
            try:
                fn()
                return True
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    if self._con.in_transaction:
                        self._con.execute("ROLLBACK")
                why = reason(exc)
        if kind == "required":
            raise StateStoreError(
                f"cannot save {what} in {self.path}: {why}", hint="free disk space and rerun"
            )
        self._warning = (
            f"the run history could not be saved in {self.path} ({what}: {why}); what this run did to "
            "the warehouse is reported above as it happened. Free disk space; the next run records again"
        )
        log.info("%s", self._warning)  # shown by the CLI at the end of the command
        return False

    # -- reading ---------------------------------------------------------------------------------
    def select(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        self.flush()
        with self._lock:
            try:
                return self._con.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise StateStoreError(
                    f"cannot read the state store {self.path}: {reason(exc)}",
                    hint="move the file away to start a new history if it is damaged",
                ) from None

    def dicts(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """The rows of a query as dicts (raw SQL on the file: tests and debugging)."""
        self.flush()
        with self._lock:
            cur = self._con.execute(sql, tuple(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def close(self) -> None:
        self._con.close()


def _ensure_schema(con: sqlite3.Connection, path: Path) -> None:
    row = None
    with contextlib.suppress(sqlite3.OperationalError):
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        con.executescript(_META + ddl(TABLES))
    else:
        version = int(row[0])
        if version > SCHEMA_VERSION:
            from headwater.errors import ConfigError

            raise ConfigError(
                f"{path} was written by a newer headwater (state schema {version}, this one reads {SCHEMA_VERSION})",
                hint="upgrade headwater, or move the state store away to start a new history",
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            migration = _MIGRATIONS[step]
            sql = migration if isinstance(migration, str) else ddl(migration)
            con.executescript("BEGIN;" + sql + "COMMIT;")
        if version == SCHEMA_VERSION:
            return  # nothing to write: a full disk still lets a current store open
    con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))


class SQLiteStateStore(SQLStateStore):
    """The state store in a SQLite file; run lock files in `runs/` beside it. One instance per
    process."""

    def __init__(self, path: Path) -> None:
        db = SQLiteDatabase(path)
        super().__init__(path, db, RunLocks(path.parent / "runs"))
        self._sqlite = db
        self.runs.reap_dead()

    # -- raw SQL on the file: tests and debugging only (not in the `StateStore` protocol; nothing
    # in src/ uses it) ------------------------------------------------------------------------------
    def read(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts (queued rows are written first)."""
        return self._sqlite.dicts(sql, params)

    def write(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement per row, in one transaction (a history write: a failure is the
        store's `warning`)."""
        if rows:
            self._sqlite.write("observability records", [Stmt(sql, masked(rows))])
