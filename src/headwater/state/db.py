"""What a state repository needs from a backend: its tables described once, and statements that
run the same on SQLite and PostgreSQL.

A repository (`headwater.state.runs`, ...) declares its tables as `Table` values and writes its
queries in the SQL both engines read (``?`` parameters, ``coalesce``, window functions, upsert
through `Database.insert`). The backend (`headwater.state.sqlite`, `headwater.state.warehouse`)
turns a table into DDL and into the relation a query reads (`Database.rel`: on PostgreSQL the
rows of this store's target schema only), runs statements under its failure policy and batches
the rows recorded per node.

Failure policy (`Database.write`), by the kind of write:

* ``history`` — what happened (runs, checks, metrics, incidents, ...): a failure never fails the
  run; the store keeps one `warning` and skips the later history writes of the process;
* ``ledger`` — the interval ledger and backfill progress: a failure is a `warning` too (an
  interval not recorded is built again: intervals are idempotent);
* ``required`` — what a later command cannot do without (a backfill plan, forgetting a ledger):
  a failure raises `StateStoreError`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from headwater.errors import HeadwaterError

SqlType = Literal["TEXT", "REAL", "INTEGER"]
Conflict = Literal["replace", "ignore"] | None
WriteKind = Literal["history", "ledger", "required"]
BATCH = 200
"""Queued rows (node runs, check results) written per transaction."""


class StateStoreError(HeadwaterError):
    """The state store cannot be opened, or a record that a later command needs cannot be saved."""


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType
    not_null: bool = False
    default: str | None = None
    """An SQL literal."""


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """One state table. A table without ``key`` keeps its insertion order (SQLite's ``rowid``,
    a ``seq`` identity column on PostgreSQL: `Database.rowid`)."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def cols(self, alias: str = "") -> str:
        """The column list of a SELECT, in table (and record) order."""
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + c.name for c in self.columns)


def column_sql(column: Column, types: dict[str, str]) -> str:
    sql = f"{column.name} {types[column.type]}"
    if column.not_null:
        sql += " NOT NULL"
    if column.default is not None:
        sql += f" DEFAULT {column.default}"
    return sql


@dataclass(frozen=True)
class Stmt:
    """One statement and the parameter rows it runs with (once per row)."""

    sql: str
    rows: tuple[tuple[object, ...], ...]


class Database(Protocol):
    """A backend as the repositories see it."""

    @property
    def collate(self) -> str:
        """Appended to a text sort key: SQLite's byte order on every backend."""
        ...

    @property
    def rowid(self) -> str:
        """The insertion-order column of a table without key."""
        ...

    @property
    def warning(self) -> str | None:
        """Why the state of this process is incomplete (the first failed writes), or None."""
        ...

    def rel(self, table: Table, alias: str | None = None) -> str:
        """``table`` as a FROM item (named ``alias``, else the table's name)."""
        ...

    def insert(
        self, table: Table, rows: Iterable[Sequence[object]], conflict: Conflict = None
    ) -> Stmt:
        """Insert rows of all the table's columns; ``replace`` a row with the same key, or
        ``ignore`` the new one."""
        ...

    def update(
        self, table: Table, assignments: str, where: str, rows: Iterable[Sequence[object]]
    ) -> Stmt:
        """``UPDATE table SET assignments WHERE where``; each row: the parameters of both."""
        ...

    def delete(self, table: Table, where: str, rows: Iterable[Sequence[object]]) -> Stmt: ...

    def write(self, what: str, stmts: Sequence[Stmt], kind: WriteKind = "history") -> bool:
        """Run ``stmts`` in one transaction now, under the policy of ``kind``; True if written.
        ``what`` names the record in a warning or error (`the interval ledger`)."""
        ...

    def queue(self, stmt: Stmt) -> None:
        """Write a history row later, in a batch (`flush`, or when `BATCH` rows wait)."""
        ...

    def flush(self) -> None: ...

    def select(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """The rows of a query (queued rows are written first); raises `StateStoreError`."""
        ...

    def close(self) -> None: ...


class Batches:
    """The queue of history rows a backend writes in batches (one transaction per batch)."""

    def __init__(self) -> None:
        self._pending: list[Stmt] = []
        self._queue_lock = threading.Lock()

    def add(self, stmt: Stmt) -> bool:
        """Queue ``stmt``; True when a batch is full."""
        with self._queue_lock:
            self._pending.append(stmt)
            return len(self._pending) >= BATCH

    def take(self) -> list[Stmt]:
        """The queued statements, consecutive ones with the same SQL merged; the queue empties."""
        with self._queue_lock:
            pending, self._pending = self._pending, []
        merged: list[Stmt] = []
        for stmt in pending:
            if merged and merged[-1].sql == stmt.sql:
                merged[-1] = Stmt(stmt.sql, merged[-1].rows + stmt.rows)
            else:
                merged.append(stmt)
        return merged


class BatchedWrites:
    """`Database.queue` and `flush` for a backend: history rows wait in `Batches` and go through
    the backend's own `write`, one transaction per batch."""

    _batches: Batches

    def write(self, what: str, stmts: Sequence[Stmt], kind: WriteKind = "history") -> bool:
        raise NotImplementedError  # each backend writes its own way

    def queue(self, stmt: Stmt) -> None:
        if self._batches.add(stmt):
            self.flush()

    def flush(self) -> None:
        stmts = self._batches.take()
        if stmts:
            self.write("node results", stmts)


def masked(rows: Iterable[Sequence[object]]) -> tuple[tuple[object, ...], ...]:
    """``rows`` with secrets masked in every string: nothing secret is ever stored."""
    from headwater.secrets import mask

    return tuple(tuple(mask(p) if isinstance(p, str) else p for p in row) for row in rows)


def reason(exc: BaseException) -> str:
    """A failure in a few words (an OSError's strerror, else its text)."""
    if isinstance(exc, HeadwaterError):
        return exc.message
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return text


def marks(n: int) -> str:
    """``?,?,...`` for an IN list of ``n``."""
    return ",".join("?" * n)


CHUNK = 500
"""Values per IN list (far below SQLite's and PostgreSQL's parameter limits)."""
