"""The state that decides correctness, kept in the warehouse (`state: warehouse` on a target).

Two machines that build one PostgreSQL target must never disagree about which intervals of a
microbatch model are built, or which backfill plan is in progress: with a SQLite file each machine
has its own answer, and one rebuilds (or skips) what the other did. With `state: warehouse`:

* **Interval ledger and backfill plans** live in the target database, schema `headwater_state`
  (one fixed name per database, created on first use, outside the schemas models build into so
  that no `drop schema` of a target wipes it): tables `meta` (its schema version), `intervals`,
  `backfills` and `backfill_intervals`, with the columns of the SQLite tables plus `target_schema`
  (the target's `schema`), part of every primary key. A dev and a prod target in one database keep
  separate ledgers; two targets naming the same database and schema build the same relations and
  share one. Creating the schema needs the CREATE privilege on the database once (or create
  `headwater_state` for headwater's user beforehand).
* **Load state** (cursors and loaded files: exactly-once loading) is already in the warehouse,
  `_headwater.load_state` (`headwater.extract.load`), written in the transaction of the batch it
  describes; nothing changes for it.
* **History** — invocations, node runs, check results, metrics, relation schemas, freshness, SLA
  breaches, incidents and alert deliveries — stays in the local SQLite file: it is what this
  machine ran, nothing decides what to build from it, and its readers (`status`, reports, alerts)
  run SQLite SQL through `read()`/`write()`. So anomaly baselines and alert de-duplication are per
  machine; the ledger tables of the SQLite file stay empty.

The warehouse tables are written on a connection of their own (autocommit, a dedicated engine
instance): never inside a build's transaction, so a model whose audit rolls its transaction back
cannot roll a ledger row back, and without the build's advisory lock, so `backfill list` or
`intervals` work while another process builds. Every write is one statement or one short
transaction; `record_interval` is `INSERT ... ON CONFLICT DO UPDATE` on the primary key, so two
processes recording intervals of one node both land. Rows are ordered with `COLLATE "C"`, the
byte order SQLite uses.

Failures are those of the SQLite store: a ledger row or backfill item that cannot be written leaves
a `warning` (the interval is built again by the next run: intervals are idempotent), a plan that
cannot be created, a ledger that cannot be forgotten or read raises `StateStoreError`. A connection
lost in between (an idle connection closed by the server or a firewall) is opened again and the
statement retried once: every statement here can run twice without changing the result.

Switching a target from `sqlite` to `warehouse` starts an empty ledger (the SQLite ledger is not
keyed by target, so it is not copied): the next run builds the intervals it finds missing again.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from headwater.errors import ConfigError, HeadwaterError
from headwater.project.definition import Target
from headwater.state.store import StateStore, StateStoreError, _masked

log = logging.getLogger("headwater")
STATE_SCHEMA = "headwater_state"
"""Schema of the warehouse state tables in the target's database."""
WAREHOUSE_SCHEMA_VERSION = 1
_CHUNK = 1000  # backfill items per INSERT (5 parameters each, far below PostgreSQL's 65535)
_INTERVAL_COLUMNS = (
    "unique_id", "interval_start", "interval_end", "status", "rows", "invocation_id", "built_at", "duration", "message",
)  # fmt: skip
_BACKFILL_COLUMNS = (
    "backfill_id",
    "created_at",
    "selection",
    "start",
    "end_",
    "rerun",
    "status",
    "finished_at",
)
_ITEM_COLUMNS = (
    "backfill_id", "unique_id", "interval_start", "interval_end", "status", "attempts", "rows", "message",
)  # fmt: skip
_TABLES = (
    "CREATE TABLE IF NOT EXISTS {s}.meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS {s}.intervals (target_schema TEXT NOT NULL, unique_id TEXT NOT NULL, "
    "interval_start TEXT NOT NULL, interval_end TEXT NOT NULL, status TEXT NOT NULL, rows BIGINT, invocation_id TEXT, "
    "built_at DOUBLE PRECISION, duration DOUBLE PRECISION, message TEXT, "
    "PRIMARY KEY (target_schema, unique_id, interval_start))",
    "CREATE TABLE IF NOT EXISTS {s}.backfills (target_schema TEXT NOT NULL, backfill_id TEXT NOT NULL, "
    "created_at DOUBLE PRECISION NOT NULL, selection TEXT, start TEXT NOT NULL, end_ TEXT NOT NULL, rerun TEXT NOT NULL, "
    "status TEXT NOT NULL, finished_at DOUBLE PRECISION, PRIMARY KEY (target_schema, backfill_id))",
    "CREATE TABLE IF NOT EXISTS {s}.backfill_intervals (target_schema TEXT NOT NULL, backfill_id TEXT NOT NULL, "
    "unique_id TEXT NOT NULL, interval_start TEXT NOT NULL, interval_end TEXT NOT NULL, status TEXT NOT NULL, "
    "attempts INTEGER NOT NULL DEFAULT 0, rows BIGINT, message TEXT, "
    "PRIMARY KEY (target_schema, backfill_id, unique_id, interval_start))",
)
T = TypeVar("T")


def _state_engine(target: Target, root: str) -> Any:
    """An engine of ``target`` on one connection of its own, without the build lock."""
    from headwater.engines import engine_class

    cls = engine_class(target.engine)
    if not cls.SERVER or cls.NAME != "postgres":
        raise ConfigError(
            f"target `{target.name}`: `state: warehouse` needs a server engine (postgres), not `{target.engine}`",
            hint="remove `state: warehouse` (a local warehouse file is not shared: its state stays in the state folder)",
        )
    from headwater.engines.postgres.connection import PostgresEngine

    class StateEngine(PostgresEngine):
        """The target's PostgreSQL engine on one dedicated connection, shared by the threads
        of this process under the store's lock; `open` takes no advisory lock."""

        def __init__(self, target: Target, project_root: str) -> None:
            super().__init__(target, project_root)
            self._state_conn: Any = None

        def open(self) -> None:
            self._interrupted = False
            self._connection()  # fails early, naming the target

        def _connection(self) -> Any:
            conn = self._state_conn
            if conn is None or conn.closed:
                conn = self._state_conn = self._connect()  # autocommit
                with self._lock:
                    self._connections.append(conn)
            return conn

        def connection_lost(self) -> bool:
            conn = self._state_conn
            return conn is None or bool(conn.closed) or bool(getattr(conn, "broken", False))

    engine = StateEngine(target, root)
    engine.open()
    return engine


class WarehouseStateStore(StateStore):
    """The SQLite store, whose interval ledger and backfill plans are in the target's database."""

    def __init__(self, path: Any, target: Target, root: str, schema: str = STATE_SCHEMA) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise ConfigError(
                f"invalid state schema name `{schema}`", hint="lowercase letters, digits and `_`"
            )
        self.schema = schema
        self.scope = target.schema
        """The `target_schema` of this store's rows: the target's schema."""
        self._history_warning: str | None = None
        self._warehouse_warning: str | None = None
        self._wlock = threading.Lock()
        self._engine = _state_engine(target, root)
        try:
            self._ensure_tables()
            super().__init__(path)
        except BaseException:
            self._engine.close()
            raise

    # -- warnings: a failed ledger write does not stop the local history, nor the reverse --------
    @property  # type: ignore[override]
    def warning(self) -> str | None:
        """Why the history or the warehouse state of this process is incomplete, or None."""
        found = [w for w in (self._history_warning, self._warehouse_warning) if w]
        return "; ".join(found) if found else None

    @warning.setter
    def warning(self, value: str | None) -> None:
        self._history_warning = value

    def _history_failed(self) -> bool:
        return self._history_warning is not None

    # -- the warehouse connection ------------------------------------------------------------
    def _t(self, table: str) -> str:
        return f'"{self.schema}".{table}'

    def _run(self, fn: Callable[[], T]) -> T:
        """``fn`` under the lock; once more on a new connection when the connection was lost."""
        with self._wlock:
            try:
                return fn()
            except HeadwaterError:
                if not self._engine.connection_lost():
                    raise
            return fn()

    def _required(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return self._run(fn)
        except HeadwaterError as exc:
            raise StateStoreError(
                f"cannot {what} in the warehouse (schema `{self.schema}` of target `{self._engine.target.name}`): "
                f"{exc.message}",
                hint="check that the PostgreSQL server is reachable and that headwater's user may write "
                f"`{self.schema}`, then rerun",
            ) from None

    def _optional(self, what: str, fn: Callable[[], Any]) -> None:
        try:
            self._run(fn)
        except HeadwaterError as exc:
            reason = exc.message
            self._warehouse_warning = self._warehouse_warning or (
                f"{what} could not be saved in the warehouse (schema `{self.schema}`: {reason}); what is not "
                "recorded there is built again by the next run"
            )
            log.info(
                "%s", self._warehouse_warning
            )  # shown by the CLI at the end (`Context.warnings`)

    def _select(
        self, columns: tuple[str, ...], sql: str, params: list[Any]
    ) -> list[dict[str, Any]]:
        rows = self._required("read the state", lambda: self._engine.execute(sql, params))
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def _ensure_tables(self) -> None:
        """Create the schema and tables on first use (serialized by a transaction-level advisory
        lock: `CREATE ... IF NOT EXISTS` races between two sessions); refuse a newer version."""
        engine, meta = self._engine, self._t("meta")

        def version() -> int | None:
            found = engine.execute("SELECT to_regclass(?) IS NOT NULL", [f'"{self.schema}".meta'])
            if not found[0][0]:
                return None
            rows = engine.execute(f"SELECT value FROM {meta} WHERE key = 'schema_version'")
            return int(rows[0][0]) if rows else None

        def create() -> None:
            with engine.transaction():
                engine.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(?))", [f"headwater_state:{self.schema}"]
                )
                engine.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                for ddl in _TABLES:
                    engine.execute(ddl.format(s=f'"{self.schema}"'))
                engine.execute(
                    f"INSERT INTO {meta} VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
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

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._engine.close()

    # -- interval ledger ---------------------------------------------------------------------------
    def record_interval(
        self, unique_id: str, start: str, end: str, status: str, rows: int | None, invocation_id: str,
        duration: float, message: str = "",
    ) -> None:  # fmt: skip
        row = _masked(
            (
                self.scope,
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
        updated = ", ".join(f"{c} = EXCLUDED.{c}" for c in _INTERVAL_COLUMNS[2:])
        sql = (
            f"INSERT INTO {self._t('intervals')} (target_schema, {', '.join(_INTERVAL_COLUMNS)}) "
            f"VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (target_schema, unique_id, interval_start) DO UPDATE SET {updated}"
        )
        self._optional("the interval ledger", lambda: self._engine.execute(sql, list(row)))

    def intervals(self, unique_id: str) -> list[dict[str, Any]]:
        return self._select(
            _INTERVAL_COLUMNS,
            f"SELECT {', '.join(_INTERVAL_COLUMNS)} FROM {self._t('intervals')} WHERE target_schema = ? "
            'AND unique_id = ? ORDER BY interval_start COLLATE "C"',
            [self.scope, unique_id],
        )

    def forget_intervals(self, unique_id: str) -> None:
        sql = f"DELETE FROM {self._t('intervals')} WHERE target_schema = ? AND unique_id = ?"
        self._required(
            "forget the interval ledger", lambda: self._engine.execute(sql, [self.scope, unique_id])
        )

    # -- backfill plans ------------------------------------------------------------------------------
    def create_backfill(
        self,
        backfill_id: str,
        selection: str,
        start: str,
        end: str,
        rerun: str,
        items: list[tuple[str, str, str]],
    ) -> None:
        """Persist a plan at once, in one transaction (`ON CONFLICT DO NOTHING`: a retry after a
        lost connection that had committed it changes nothing)."""
        engine = self._engine

        def write() -> None:
            with engine.transaction():
                engine.execute(
                    f"INSERT INTO {self._t('backfills')} (target_schema, {', '.join(_BACKFILL_COLUMNS)}) "
                    "VALUES (?,?,?,?,?,?,?,'running',NULL) ON CONFLICT DO NOTHING",
                    list(
                        _masked(
                            (self.scope, backfill_id, time.time(), selection, start, end, rerun)
                        )
                    ),
                )
                for i in range(0, len(items), _CHUNK):
                    chunk = items[i : i + _CHUNK]
                    params = [
                        p for item in chunk for p in _masked((self.scope, backfill_id, *item))
                    ]
                    engine.execute(
                        f"INSERT INTO {self._t('backfill_intervals')} (target_schema, backfill_id, unique_id, "
                        "interval_start, interval_end, status) VALUES "
                        + ", ".join(["(?,?,?,?,?,'pending')"] * len(chunk))
                        + " ON CONFLICT DO NOTHING",
                        params,
                    )

        self._required("save the backfill plan", write)

    def backfills(self, status: str | None = None) -> list[dict[str, Any]]:
        return self._select(
            _BACKFILL_COLUMNS,
            f"SELECT {', '.join(_BACKFILL_COLUMNS)} FROM {self._t('backfills')} WHERE target_schema = ?"
            + (" AND status = ?" if status else "") + " ORDER BY created_at DESC",
            [self.scope, status] if status else [self.scope],
        )  # fmt: skip

    def backfill_items(self, backfill_id: str) -> list[dict[str, Any]]:
        return self._select(
            _ITEM_COLUMNS,
            f"SELECT {', '.join(_ITEM_COLUMNS)} FROM {self._t('backfill_intervals')} WHERE target_schema = ? "
            'AND backfill_id = ? ORDER BY unique_id COLLATE "C", interval_start COLLATE "C"',
            [self.scope, backfill_id],
        )

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
        row = _masked(
            (status, attempts, rows, message[:2000], self.scope, backfill_id, unique_id, start)
        )
        sql = (
            f"UPDATE {self._t('backfill_intervals')} SET status = ?, attempts = ?, rows = ?, message = ? "
            "WHERE target_schema = ? AND backfill_id = ? AND unique_id = ? AND interval_start = ?"
        )
        self._optional("the backfill plan", lambda: self._engine.execute(sql, list(row)))

    def finish_backfill(self, backfill_id: str, status: str) -> None:
        sql = f"UPDATE {self._t('backfills')} SET status = ?, finished_at = ? WHERE target_schema = ? AND backfill_id = ?"
        params = [status, time.time(), self.scope, backfill_id]
        self._optional("the backfill plan", lambda: self._engine.execute(sql, params))
