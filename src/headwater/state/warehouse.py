"""The state store in the warehouse (`state: warehouse` on a PostgreSQL target).

Two machines that build one PostgreSQL target must never disagree about which intervals of a
microbatch model are built or which backfill plan is in progress, and a team whose runs happen on
several machines wants one history. With `state: warehouse` every repository — runs, checks, the
interval ledger, backfill plans, metrics, schemas, freshness, SLA breaches, schedules, incidents
and alert deliveries — lives in the target database, schema `headwater_state`:

* one fixed schema per database, created on first use, outside the schemas models build into so
  that no `drop schema` of a target wipes it; creating it needs the CREATE privilege on the
  database once (or create `headwater_state` for headwater's user beforehand);
* the tables are the SQLite file's plus `target_schema` (the target's `schema`), first column of
  every primary key and index: a dev and a prod target in one database keep separate states, two
  targets naming the same database and schema build the same relations and share one; tables
  without a key get a `seq` identity column (SQLite's `rowid`: insertion order);
* `meta` holds the schema version (1: ledger and backfills only; 2: every repository).

Load state (cursors and loaded files: exactly-once loading) is already in the warehouse,
`_headwater.load_state`, written in the transaction of the batch it describes.

The tables are written on a connection of their own (autocommit): never inside a build's
transaction, so a model whose audit rolls its transaction back cannot roll a ledger row back, and
without the build's advisory lock, so `status`, `backfill list` or `intervals` work while another
process builds. Every write is one statement or one short transaction; upserts (`INSERT ... ON
CONFLICT`) let two processes record rows of one node. Text keys are ordered with `COLLATE "C"`,
the byte order SQLite uses. A connection lost in between (an idle connection closed by the server
or a firewall) is opened again and the statement sent once more.

Failures follow `headwater.state.db`: a history write that fails is a `warning` and the later
history writes of the process are skipped; a ledger row or backfill item that fails is a warning
(it is built again by the next run); a plan that cannot be created, a ledger that cannot be
forgotten, a read that fails raise `StateStoreError`.

Run lock files (`headwater.state.liveness`) stay on the machine that runs: a store reaps only the
`running` invocations it has a lock file for, never another machine's.

Switching a target from `sqlite` to `warehouse` starts an empty state (the SQLite file is not
keyed by target, so it is not copied): the next run builds the intervals it finds missing again.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from headwater.errors import ConfigError, HeadwaterError
from headwater.project.definition import Target
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
)
from headwater.state.liveness import RunLocks

log = logging.getLogger("headwater")
STATE_SCHEMA = "headwater_state"
"""Schema of the warehouse state tables in the target's database."""
WAREHOUSE_SCHEMA_VERSION = 2
_TYPES = {"TEXT": "TEXT", "REAL": "DOUBLE PRECISION", "INTEGER": "BIGINT"}
T = TypeVar("T")


def _check_engine(target: Target) -> None:
    from headwater.engines import engine_class

    cls = engine_class(target.engine)
    if not cls.SERVER or cls.NAME != "postgres":
        raise ConfigError(
            f"target `{target.name}`: `state: warehouse` needs a server engine (postgres), not `{target.engine}`",
            hint="remove `state: warehouse` (a local warehouse file is not shared: its state stays in the state folder)",
        )


def pg_sql(sql: str) -> str:
    """``sql`` for psycopg: `?` parameters (outside string literals) as ``%s``, ``%`` doubled."""
    parts = sql.split("'")
    for i, part in enumerate(parts):
        part = part.replace("%", "%%")
        parts[i] = part.replace("?", "%s") if i % 2 == 0 else part
    return "'".join(parts)


def _message(exc: BaseException) -> str:
    """An error in one line, secrets masked."""
    from headwater import secrets

    if isinstance(exc, HeadwaterError):
        return exc.message
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    lines = str(exc).strip().splitlines()
    return secrets.mask(primary or (lines[0] if lines else type(exc).__name__))


class WarehouseDatabase(BatchedWrites):
    """The state tables of one target schema (``scope``) in the target's PostgreSQL database, as
    a `Database`."""

    collate = ' COLLATE "C"'
    rowid = "seq"

    def __init__(self, target: Target, root: str, schema: str = STATE_SCHEMA) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise ConfigError(
                f"invalid state schema name `{schema}`", hint="lowercase letters, digits and `_`"
            )
        _check_engine(target)
        import psycopg

        from headwater.engines.postgres.connection import PostgresEngine

        self.schema = schema
        self.scope = target.schema
        """The `target_schema` of this store's rows: the target's schema."""
        self.target = target
        self._errors: tuple[type[BaseException], ...] = (psycopg.Error, HeadwaterError)
        self._engine = PostgresEngine(target, root)  # its connection settings and errors
        self._conn: Any = None
        self._lock = threading.Lock()
        self._batches = Batches()
        self._history_warning: str | None = None
        self._ledger_warning: str | None = None
        self._literal = "'" + self.scope.replace("'", "''") + "'"
        self._connection()  # fails early, naming the target
        try:
            self._ensure_tables()
        except BaseException:
            self.close()
            raise

    @property
    def location(self) -> str:
        """Where the state is, for messages and the lock folder."""
        return f"{self._engine.location}, schema `{self.schema}`, target schema `{self.scope}`"

    @property
    def warning(self) -> str | None:
        found = [w for w in (self._history_warning, self._ledger_warning) if w]
        return "; ".join(found) if found else None

    # -- the connection --------------------------------------------------------------------------
    def _connection(self) -> Any:
        conn = self._conn
        if conn is None or conn.closed:
            conn = self._conn = self._engine._connect()  # autocommit
        return conn

    def _run(self, fn: Callable[[Any], T]) -> T:
        """``fn(connection)`` under the lock; once more on a new connection when the connection
        was lost."""
        with self._lock:
            try:
                return fn(self._connection())
            except self._errors:
                conn = self._conn
                if conn is not None and not conn.closed and not getattr(conn, "broken", False):
                    raise
                if conn is not None:
                    conn.close()
                self._conn = None
            return fn(self._connection())

    def _t(self, table: Table | str) -> str:
        return f'"{self.schema}".{table if isinstance(table, str) else table.name}'

    def _required(self, what: str, fn: Callable[[Any], T]) -> T:
        try:
            return self._run(fn)
        except self._errors as exc:
            raise StateStoreError(
                f"cannot {what} in the warehouse (schema `{self.schema}` of target `{self.target.name}`): "
                f"{_message(exc)}",
                hint="check that the PostgreSQL server is reachable and that headwater's user may write "
                f"`{self.schema}`, then rerun",
            ) from None

    def _ensure_tables(self) -> None:
        """Create the schema and tables on first use (serialized by a transaction-level advisory
        lock: `CREATE ... IF NOT EXISTS` races between two sessions); refuse a newer version."""
        meta = self._t("meta")

        def version(conn: Any) -> int | None:
            found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{self.schema}".meta'])
            if not found.fetchone()[0]:
                return None
            row = conn.execute(f"SELECT value FROM {meta} WHERE key = 'schema_version'").fetchone()
            return int(row[0]) if row else None

        def create(conn: Any) -> None:
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"headwater_state:{self.schema}"]
                )
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {meta} (key TEXT PRIMARY KEY, value TEXT)"
                )
                for statement in self.ddl(TABLES):
                    conn.execute(statement)
                conn.execute(
                    f"INSERT INTO {meta} VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    [str(WAREHOUSE_SCHEMA_VERSION)],
                )

        current = self._required("read the state's version", version)
        if current is not None and current > WAREHOUSE_SCHEMA_VERSION:
            raise ConfigError(
                f"the warehouse state (schema `{self.schema}`) was written by a newer headwater (state schema "
                f"{current}, this one reads {WAREHOUSE_SCHEMA_VERSION})",
                hint="upgrade headwater on this machine: every machine sharing the target must run the same version",
            )
        if current != WAREHOUSE_SCHEMA_VERSION:
            self._required(f"create the state tables (schema `{self.schema}`)", create)

    def ddl(self, tables: Iterable[Table]) -> list[str]:
        """CREATE statements (IF NOT EXISTS) of ``tables``, scoped by `target_schema`."""
        out = []
        for t in tables:
            parts = ["target_schema TEXT NOT NULL", *(column_sql(c, _TYPES) for c in t.columns)]
            if t.key:
                parts.append(f"PRIMARY KEY (target_schema, {', '.join(t.key)})")
            else:
                parts.append("seq BIGINT GENERATED ALWAYS AS IDENTITY")
            out.append(f"CREATE TABLE IF NOT EXISTS {self._t(t)} ({', '.join(parts)})")
            out += [
                f"CREATE INDEX IF NOT EXISTS {i.name} ON {self._t(t)} (target_schema, {', '.join(i.columns)})"
                for i in t.indexes
            ]
        return out

    # -- statements ------------------------------------------------------------------------------
    def rel(self, table: Table, alias: str | None = None) -> str:
        cols = table.cols() + ("" if table.key else ", seq")
        return (
            f"(SELECT {cols} FROM {self._t(table)} WHERE target_schema = {self._literal}) "
            f"AS {alias or table.name}"
        )

    def insert(
        self, table: Table, rows: Iterable[Sequence[object]], conflict: Conflict = None
    ) -> Stmt:
        marks = ",".join("?" * (len(table.columns) + 1))
        sql = f"INSERT INTO {self._t(table)} (target_schema, {', '.join(table.names)}) VALUES ({marks})"
        if conflict == "ignore":
            sql += " ON CONFLICT DO NOTHING"
        elif conflict == "replace":
            others = [c for c in table.names if c not in table.key]
            action = (
                "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in others)
                if others
                else "DO NOTHING"
            )
            sql += f" ON CONFLICT (target_schema, {', '.join(table.key)}) {action}"
        return Stmt(sql, masked((self.scope, *row) for row in rows))

    def update(
        self, table: Table, assignments: str, where: str, rows: Iterable[Sequence[object]]
    ) -> Stmt:
        sql = f"UPDATE {self._t(table)} SET {assignments} WHERE ({where}) AND target_schema = ?"
        return Stmt(sql, masked((*row, self.scope) for row in rows))

    def delete(self, table: Table, where: str, rows: Iterable[Sequence[object]]) -> Stmt:
        sql = f"DELETE FROM {self._t(table)} WHERE ({where}) AND target_schema = ?"
        return Stmt(sql, masked((*row, self.scope) for row in rows))

    # -- writing ---------------------------------------------------------------------------------
    def write(self, what: str, stmts: Sequence[Stmt], kind: WriteKind = "history") -> bool:
        if kind == "history" and self._history_warning is not None:
            return False  # one failure is reported; the rest of this process's history is skipped
        try:
            self._run(lambda conn: _execute(conn, stmts))
            return True
        except self._errors as exc:
            why = _message(exc)
        where = f"schema `{self.schema}` of target `{self.target.name}`"
        if kind == "required":
            raise StateStoreError(
                f"cannot save {what} in the warehouse ({where}): {why}",
                hint="check that the PostgreSQL server is reachable and that headwater's user may write "
                f"`{self.schema}`, then rerun",
            )
        if kind == "ledger":
            self._ledger_warning = self._ledger_warning or (
                f"{what} could not be saved in the warehouse (schema `{self.schema}`: {why}); what is not "
                "recorded there is built again by the next run"
            )
        else:
            self._history_warning = (
                f"the run history could not be saved in the warehouse ({where}; {what}: {why}); what this "
                "run did to the warehouse is reported above as it happened. Check the connection to the "
                "server; the next run records again"
            )
        log.info("%s", self.warning)  # shown by the CLI at the end of the command
        return False

    # -- reading ---------------------------------------------------------------------------------
    def select(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        self.flush()
        query = pg_sql(sql)
        rows: list[tuple[Any, ...]] = self._required(
            "read the state", lambda conn: conn.execute(query, list(params)).fetchall()
        )
        return rows

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _execute(conn: Any, stmts: Sequence[Stmt]) -> None:
    """``stmts`` in one transaction (a single row: one autocommit statement)."""
    if len(stmts) == 1 and len(stmts[0].rows) == 1:
        conn.execute(pg_sql(stmts[0].sql), list(stmts[0].rows[0]))
        return
    with conn.transaction(), conn.cursor() as cur:
        for stmt in stmts:
            cur.executemany(pg_sql(stmt.sql), [list(r) for r in stmt.rows])


class WarehouseStateStore(SQLStateStore):
    """The state store in the target's database (schema ``schema``, rows of the target's
    schema); ``path`` is where the SQLite file would be: its folder keeps the run lock files."""

    def __init__(
        self, path: Path | str, target: Target, root: str, schema: str = STATE_SCHEMA
    ) -> None:
        db = WarehouseDatabase(target, root, schema)
        key = hashlib.sha256(db.location.encode()).hexdigest()[:16]
        locks = RunLocks(Path(path).parent / "runs" / f"warehouse-{key}", missing_is_dead=False)
        super().__init__(Path(path), db, locks)
        self._warehouse = db
        try:
            self.runs.reap_dead()
        except BaseException:
            db.close()
            raise

    @property
    def schema(self) -> str:
        """The schema of the state tables."""
        return self._warehouse.schema

    @property
    def scope(self) -> str:
        """The `target_schema` of this store's rows: the target's schema."""
        return self._warehouse.scope
