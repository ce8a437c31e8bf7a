"""The DuckDB engine's connection: opening the file (locks, extensions, private permissions),
one cursor per worker thread, execute and fetch, interrupt, and the one-statement guard."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from headwater.engines.base import Engine, Row, inline_params, quote_literal
from headwater.engines.duckdb.catalog import DuckDBCatalog
from headwater.engines.duckdb.functions import DuckDBFunctions
from headwater.engines.duckdb.strategies import DuckDBStrategies
from headwater.engines.local import arrow_of
from headwater.errors import CommittedError, ConfigError, LockError, SQLExecutionError
from headwater.project.definition import Target

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "ABORT", "END")

SERIALIZATION_FAILURE = "40001"
"""The SQLSTATE a DuckDB write-write conflict gets (PostgreSQL's for the same failure)."""


class DuckDBEngine(DuckDBCatalog, Engine):
    NAME = "duckdb"
    DIALECT = "duckdb"
    SUPPORTS_TRANSACTIONS = True
    SUPPORTS_TRANSACTIONAL_DDL = True
    SUPPORTS_MERGE = True
    SUPPORTS_PARALLEL_WRITES = True
    SUPPORTS_ARROW_VIEWS = True
    functions = DuckDBFunctions()
    STRATEGIES = DuckDBStrategies
    strategies: DuckDBStrategies

    def __init__(self, target: Target, project_root: str) -> None:
        super().__init__(target, project_root)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._local = threading.local()
        # every thread's cursor, for `interrupt`
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._interrupted = False
        self._invalidated: str | None = None  # DuckDB's error after a failed automatic checkpoint
        self.path = self._resolve_path(target)
        self._trace_path = os.environ.get("HEADWATER_SQL_TRACE")
        self._trace_file: TextIO | None = None
        self._trace_lock = threading.Lock()
        self.read_only = False  # set before open(): connect read-only (headwater validate)

    def _resolve_path(self, target: Target) -> str:
        path = target.path or ".headwater/warehouse.duckdb"
        if path == ":memory:":
            return path
        p = Path(os.path.expanduser(path))
        if not p.is_absolute():
            p = Path(self.project_root) / p
        return str(p)

    @property
    def location(self) -> str:
        return self.path

    # -- connection ---------------------------------------------------------------------------
    def open(self) -> None:
        import duckdb

        from headwater.private import private_dir, private_file, private_umask

        if self.path != ":memory:":
            path = Path(self.path)
            if not path.parent.exists():
                private_dir(path.parent)
            elif path.exists():
                private_file(path)  # narrow a warehouse created before files were private
        config: dict[str, Any] = {
            "threads": max(1, min(self.target.threads * 2, os.cpu_count() or 2))
        }
        if self.target.memory_limit:
            config["memory_limit"] = str(self.target.memory_limit)
        for key, value in self.target.settings.items():
            config[str(key)] = value
        timeout = float(os.environ.get("HEADWATER_LOCK_TIMEOUT") or self.target.lock_timeout or 0)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with private_umask():  # DuckDB creates the file: 0600
                    self._con = duckdb.connect(self.path, read_only=self.read_only, config=config)
                self._load_extensions()
                return
            except duckdb.IOException as exc:
                text = str(exc)
                if "lock" not in text.lower():
                    raise ConfigError(
                        f"cannot open the DuckDB file `{self.path}`: {text}"
                    ) from None
                if time.monotonic() < deadline:
                    time.sleep(
                        min(0.25, max(0.0, deadline - time.monotonic()))
                    )  # the other run holds the file
                    continue
                pid = re.search(r"PID (\d+)", text)
                raise LockError(
                    f"the warehouse `{self.path}` is in use by another process"
                    + (f" (PID {pid.group(1)})" if pid else "")
                    + (f"; waited {timeout:g}s" if timeout else ""),
                    hint="wait for the other headwater run to finish, or let this one wait: `lock_timeout: <seconds>` "
                    "on the target (or HEADWATER_LOCK_TIMEOUT=<seconds>)",
                ) from None
            except duckdb.Error as exc:
                raise ConfigError(
                    f"cannot open DuckDB for target `{self.target.name}`: {exc}",
                    hint="check `memory_limit`, `threads` and `settings` of the target in headwater.yml",
                ) from None

    def _load_extensions(self) -> None:
        """The target's `extensions` (dbt-duckdb's profile key): loaded, installed first if needed."""
        import duckdb

        con = self._opened()
        for name in self.target.extensions:
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise ConfigError(
                    f"`{name}` is not a DuckDB extension name",
                    hint="e.g. extensions: [httpfs, spatial]",
                )
            try:
                con.execute(f"LOAD {name}")
            except duckdb.Error:
                try:
                    con.execute(f"INSTALL {name}")
                    con.execute(f"LOAD {name}")
                except duckdb.Error as exc:
                    raise ConfigError(
                        f"the DuckDB extension `{name}` of target `{self.target.name}` could not be loaded: {_clean(exc)}",
                        hint="install it once with network access (`INSTALL name`), or remove it from `extensions`",
                    ) from None

    def close(self) -> None:
        self.statements.save()
        self._cursors.clear()
        if self._trace_file is not None:
            self._trace_file.close()
            self._trace_file = None
        if self._con is not None:
            self._con.close()
            self._con = None

    def _opened(self) -> duckdb.DuckDBPyConnection:
        """The connection `open` made."""
        con = self._con
        assert con is not None, "the DuckDB engine is not open"
        return con

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            if self._con is None:
                self.open()
            con = self._opened()
            cur = con if threading.current_thread() is threading.main_thread() else con.cursor()
            self._local.cursor = cur
            self._cursors.append(cur)
        return cur

    def interrupt(self) -> None:
        """Abort the statements running on every thread's connection (they raise, and their
        transactions roll back): what SIGINT and SIGTERM do to a run."""
        self._interrupted = True
        for cur in [self._con, *self._cursors]:
            if cur is not None:
                with contextlib.suppress(Exception):
                    cur.interrupt()

    def _record(self, sql: str) -> None:
        """Append a statement to the `HEADWATER_SQL_TRACE` file before running it (one JSON
        string per line, flushed: a killed run's trace shows the statement it died in)."""
        import json

        with self._trace_lock:
            if self._trace_file is None:
                path = self._trace_path or os.devnull  # set: `execute` records only then
                self._trace_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            self._trace_file.write(json.dumps(sql) + "\n")
            self._trace_file.flush()

    def execute(self, sql: str, params: list[Any] | None = None) -> list[Row]:
        if self._trace_path:
            self._record(sql if not params else _inline(sql, params))
        head = sql[:10].lstrip().upper()
        if head.startswith(_TRANSACTION_CONTROL):
            self._local.in_transaction = head.startswith(
                "BEGIN"
            )  # set before: a failed COMMIT ends it too
        with self._errors(sql):
            result = self._cursor().execute(_one_statement(sql), params)
            return result.fetchall() if result.description is not None else []

    def fetch_arrow(self, sql: str) -> pa.Table:
        with self._errors(sql):
            relation = self._cursor().sql(_one_statement(sql))
            if relation is None:  # a statement without a result
                import pyarrow as pa

                return pa.table({})
            return arrow_of(relation)

    def query(self, sql: str) -> tuple[list[str], list[Row]]:
        if self._trace_path:
            self._record(sql)
        with self._errors(sql):
            result = self._cursor().execute(_one_statement(sql))
            if result.description is None:
                return [], []
            names = [d[0] for d in result.description]
            return names, result.fetchall()

    @contextmanager
    def _errors(self, sql: str) -> Iterator[None]:
        """DuckDB's errors as `SQLExecutionError` (keeping the statement), with two exceptions:

        * after `interrupt` any failure is the interruption (`KeyboardInterrupt`), so a run stops
          instead of going on to the next node;
        * a COMMIT that DuckDB made durable before its automatic checkpoint failed (a full disk)
          is `CommittedError`: the change is published, the database must be reopened.
        """
        import duckdb

        try:
            yield
        except Exception as exc:
            if self._interrupted:
                raise KeyboardInterrupt("interrupted") from None
            if not isinstance(exc, duckdb.Error):
                raise
            text = _clean(exc)
            if _DURABLE_COMMIT in text:
                self._invalidated = text
                raise CommittedError(_checkpoint_message(self.path, text), query=sql) from None
            if self._invalidated and "invalidated" in text:
                raise SQLExecutionError(
                    _checkpoint_message(self.path, self._invalidated), query=sql
                ) from None
            error = SQLExecutionError(text, query=sql)
            if isinstance(exc, duckdb.TransactionException) and "conflict" in text.lower():
                error.sqlstate = SERIALIZATION_FAILURE  # not "transaction is aborted" and the like
            raise error from None

    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Expose an Arrow table as a view on this thread's connection (no copy)."""
        self._cursor().register(name, table)

    def unregister_arrow(self, name: str) -> None:
        self._cursor().unregister(name)

    def query_columns(self, sql: str) -> list[tuple[str, str]]:
        """(name, type) of the columns ``sql`` returns, without running it."""
        with self._errors(sql):
            rows = self._cursor().execute(_one_statement(f"DESCRIBE {sql}")).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def read_files_sql(self, glob: str, fmt: str, options: dict[str, Any]) -> str:
        return self.strategies.read_files_sql(glob, fmt, options)

    def is_transient(self, exc: BaseException) -> bool:
        """DuckDB's optimistic concurrency: a write-write conflict between worker threads, which
        DuckDB raises as a `TransactionException` saying "conflict" (`_errors` gives it SQLSTATE
        40001, serialization failure). Any other error whose message says "conflict" is not one."""
        return isinstance(exc, SQLExecutionError) and exc.sqlstate == SERIALIZATION_FAILURE

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK")
            raise
        else:
            self.execute("COMMIT")


def sql_value(value: Any) -> str:
    """A Python value as a DuckDB literal (table-function arguments: structs, lists, scalars)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{quote_literal(str(k))}: {sql_value(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(sql_value(v) for v in value) + "]"
    return quote_literal(str(value))


def _inline(sql: str, params: list[Any]) -> str:
    return inline_params(sql, params, sql_value)


def _clean(exc: BaseException) -> str:
    return str(exc).strip()


_DURABLE_COMMIT = "COMMIT succeeded and is durable"
_parser = threading.local()


def _one_statement(sql: str) -> str:
    """``sql`` if it is one statement (by DuckDB's own parser), else `SQLExecutionError`: every
    statement headwater generates is exactly one, and a second one smuggled in through a value
    must never run. Statements without `;` (nearly all) are not parsed again."""
    if ";" not in sql:
        return sql
    import duckdb

    con = getattr(_parser, "con", None)
    if con is None:
        con = _parser.con = duckdb.connect(":memory:")
    try:
        count = len(con.extract_statements(sql))
    except duckdb.Error:
        return sql  # not parseable: DuckDB refuses to run it and says why
    if count > 1:
        raise SQLExecutionError(
            f"refused to run {count} statements sent as one; headwater runs exactly one statement at a time",
            query=sql,
            hint="a value or an SQL fragment in the project holds a `;` that ends the statement early",
        )
    return sql


def _checkpoint_message(path: str, text: str) -> str:
    reason = text.split("because of error:", 1)[-1].strip()
    return (
        f"the change was committed, then DuckDB could not checkpoint `{path}` ({reason}); the "
        "warehouse must be reopened: free disk space and rerun (committed work is kept)"
    )
