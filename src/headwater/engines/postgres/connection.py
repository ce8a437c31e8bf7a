"""The PostgreSQL engine's connection: one psycopg 3 connection per worker thread (up to the
target's `threads`), in autocommit mode with explicit transactions, the one-statement guard,
an advisory lock that serializes concurrent builds of one target, and error translation.

Why psycopg 3 (measured in `benchmarks/pg_driver.py`): a warehouse build is thousands of small
statements, where psycopg's round trip is the cheapest; bulk Arrow goes through `COPY`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from headwater.engines.base import Engine, Row, inline_params
from headwater.engines.postgres.catalog import PostgresCatalog
from headwater.engines.postgres.functions import PostgresFunctions
from headwater.engines.postgres.strategies import PostgresStrategies
from headwater.errors import ConfigError, LockError, SQLExecutionError
from headwater.project.definition import Relation, Target

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa
    from psycopg.rows import TupleRow

_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "ABORT", "END", "START")
_COUNTED = ("INSERT", "UPDATE", "DELETE", "MERGE", "SELECT", "COPY")
# SQLSTATEs worth retrying: serialization failure, deadlock, lock not available, connection lost
_TRANSIENT = {"40001", "40P01", "55P03", "57P01", "08000", "08003", "08006"}
IDENTIFIER_MAX = 63
"""PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes)."""


class PostgresEngine(PostgresCatalog, Engine):
    NAME = "postgres"
    DIALECT = "postgres"
    SUPPORTS_TRANSACTIONS = True
    SUPPORTS_TRANSACTIONAL_DDL = True
    SUPPORTS_MERGE = True
    SUPPORTS_PARALLEL_WRITES = True
    SUPPORTS_CREATE_OR_REPLACE_TABLE = False
    SERVER = True
    functions = PostgresFunctions()
    STRATEGIES = PostgresStrategies
    strategies: PostgresStrategies

    def __init__(self, target: Target, project_root: str) -> None:
        super().__init__(target, project_root)
        self._local = threading.local()
        self._connections: list[psycopg.Connection[TupleRow]] = []
        self._lock = threading.Lock()
        self._lock_conn: psycopg.Connection[TupleRow] | None = None
        self._interrupted = False
        self._trace_path = os.environ.get("HEADWATER_SQL_TRACE")
        self._trace_lock = threading.Lock()
        self.read_only = False

    # -- connecting -------------------------------------------------------------------------------
    def conninfo(self) -> dict[str, Any]:
        """Connection keywords from the target; the password only from the environment."""
        from headwater import secrets

        t = self.target
        settings = dict(t.settings or {})
        info: dict[str, Any] = {  # str and int values, passed to psycopg.connect(**info)
            "host": getattr(t, "host", None) or settings.get("host") or "127.0.0.1",
            "port": int(getattr(t, "port", None) or settings.get("port") or 5432),
            "user": getattr(t, "user", None)
            or settings.get("user")
            or os.environ.get("PGUSER")
            or "postgres",
            "dbname": getattr(t, "database", None)
            or settings.get("dbname")
            or settings.get("database")
            or "postgres",
            "connect_timeout": int(getattr(t, "connect_timeout", None) or 10),
            "application_name": "headwater",
        }
        sslmode = getattr(t, "sslmode", None) or settings.get("sslmode")
        if sslmode:
            info["sslmode"] = str(sslmode)
        password_env = getattr(t, "password_env", None)
        password = os.environ.get(password_env) if password_env else settings.get("password")
        if password_env and password is None:
            raise ConfigError(
                f"target `{t.name}`: the environment variable `{password_env}` (password_env) is not set",
                hint=f"export {password_env}=...",
            )
        if password:
            secrets.register(str(password))
            info["password"] = str(password)
        return info

    @property
    def location(self) -> str:
        info = self.conninfo()
        return f"postgresql://{info['user']}@{info['host']}:{info['port']}/{info['dbname']}"

    def _connect(self) -> psycopg.Connection[TupleRow]:
        try:
            import psycopg
        except ImportError as exc:  # the registry turns this into the pip hint
            raise exc from None
        info = self.conninfo()
        try:
            return psycopg.connect(autocommit=True, **info)
        except psycopg.Error as exc:
            from headwater import secrets

            raise ConfigError(
                f"cannot connect to PostgreSQL for target `{self.target.name}` at {info['host']}:{info['port']}"
                f"/{info['dbname']} as `{info['user']}`: {secrets.mask(str(exc).strip())}",
                hint="check host, port, user, database and password_env of the target (and that the server runs)",
            ) from None

    def open(self) -> None:
        self._interrupted = False
        try:
            self._connection()  # fails early, naming the target
            if not self.read_only:
                self._take_build_lock()
        except BaseException:
            self.close()
            raise

    def _take_build_lock(self) -> None:
        """Serialize writers of one target (database and schema) with a session advisory lock:
        two machines sharing the target wait for each other, as two processes do on a DuckDB file."""
        key = zlib.crc32(f"headwater:{self.conninfo()['dbname']}:{self.target.schema}".encode())
        conn = self._lock_conn = self._connect()
        timeout = float(os.environ.get("HEADWATER_LOCK_TIMEOUT") or self.target.lock_timeout or 0)
        deadline = time.monotonic() + timeout
        while True:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()
            if row and row[0]:
                return
            if time.monotonic() >= deadline:
                holder = conn.execute(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted LIMIT 1",
                    [key & 0xFFFFFFFF],
                ).fetchone()
                conn.close()
                self._lock_conn = None
                raise LockError(
                    f"the target `{self.target.name}` (schema `{self.target.schema}`) is being built by another "
                    f"headwater run"
                    + (f" (server PID {holder[0]})" if holder else "")
                    + (f"; waited {timeout:g}s" if timeout else ""),
                    hint="wait for the other run to finish, or let this one wait: `lock_timeout: <seconds>` on the "
                    "target (or HEADWATER_LOCK_TIMEOUT=<seconds>)",
                )
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def _connection(self) -> psycopg.Connection[TupleRow]:
        conn: psycopg.Connection[TupleRow] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            from headwater.engines.postgres.functions import SESSION_FUNCTIONS

            conn = self._connect()
            for stmt in SESSION_FUNCTIONS:  # before a read-only session forbids creating them
                conn.execute(stmt)
            if self.read_only:
                conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        self.statements.save()
        with self._lock:
            conns, self._connections = self._connections, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                self._lock_conn.close()
            self._lock_conn = None
        self._local = threading.local()

    def interrupt(self) -> None:
        """Cancel the statements running on every connection; their transactions roll back."""
        self._interrupted = True
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.cancel()

    # -- statements -------------------------------------------------------------------------------
    def _record(self, sql: str) -> None:
        import json

        with self._trace_lock, open(self._trace_path or os.devnull, "a", encoding="utf-8") as f:
            f.write(json.dumps(sql) + "\n")

    def execute(self, sql: str, params: list[Any] | None = None) -> list[Row]:
        """Run one statement; rows, or ``[(n,)]`` for the rows a DML statement changed."""
        if self._trace_path:
            self._record(_inline(sql, params) if params else sql)
        head = sql[:12].lstrip().upper()
        if head.startswith(_TRANSACTION_CONTROL):
            self._local.in_transaction = head.startswith(("BEGIN", "START"))
        with self._errors(sql):
            cur = self._connection().execute(*_prepared(sql, params))
            if cur.description is not None:
                return cur.fetchall()
            status = (cur.statusmessage or "").split(" ", 1)[0]
            return [(cur.rowcount,)] if status in _COUNTED and cur.rowcount >= 0 else []

    def query(self, sql: str) -> tuple[list[str], list[Row]]:
        if self._trace_path:
            self._record(sql)
        with self._errors(sql):
            cur = self._connection().execute(*_prepared(sql, None))
            if cur.description is None:
                return [], []
            return [d.name for d in cur.description], cur.fetchall()

    def fetch_arrow(self, sql: str) -> pa.Table:
        """A query's rows as Arrow, typed from the result's columns."""
        import pyarrow as pa

        from headwater.engines.postgres.arrow import arrow_type

        with self._errors(sql):
            cur = self._connection().execute(*_prepared(sql, None))
            names = [d.name for d in cur.description or []]
            rows = cur.fetchall()
            types = self._type_names([d.type_code for d in cur.description or []])
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        arrays = [
            pa.array(list(col), type=arrow_type(t)) for col, t in zip(columns, types, strict=True)
        ]
        return pa.Table.from_arrays(arrays, names=names)

    def query_columns(self, sql: str) -> list[tuple[str, str]]:
        """(name, type) of the columns ``sql`` returns: its description, without rows."""
        body = sql.strip().rstrip(";")
        probe = (
            f"SELECT * FROM {body} AS __hw_q LIMIT 0"
            if body.startswith("(")
            else f"SELECT * FROM ({body}) AS __hw_q LIMIT 0"
        )
        with self._errors(probe):
            cur = self._connection().execute(*_prepared(probe, None))
            desc = cur.description or []
        names = self._type_names([d.type_code for d in desc])
        return [(d.name, _with_modifier(t, d)) for d, t in zip(desc, names, strict=True)]

    def _type_names(self, oids: list[int]) -> list[str]:
        """SQL type names (`format_type`) of type OIDs, cached per engine."""
        cache: dict[int, str] = self.__dict__.setdefault("_type_cache", {})
        missing = sorted({o for o in oids if o not in cache})
        if missing:
            cur = self._connection().execute(
                "SELECT t.oid, format_type(t.oid, NULL) FROM pg_type AS t WHERE t.oid = ANY(%s)",
                [missing],
            )
            cache.update({int(o): str(n) for o, n in cur.fetchall()})
        return [cache.get(o, "text") for o in oids]

    @contextmanager
    def _errors(self, sql: str) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            if self._interrupted or isinstance(exc, psycopg.errors.QueryCanceled):
                raise KeyboardInterrupt("interrupted") from None
            from headwater import secrets

            text = secrets.mask(_message(exc))
            error = SQLExecutionError(text, query=sql)
            error.sqlstate = getattr(exc, "sqlstate", None)
            raise error from None

    def is_transient(self, exc: BaseException) -> bool:
        return getattr(exc, "sqlstate", None) in _TRANSIENT

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(SQLExecutionError):
                self.execute("ROLLBACK")
            raise
        else:
            self.execute("COMMIT")

    def _in_transaction(self) -> bool:
        return bool(getattr(self._local, "in_transaction", False))

    def staging_relation(self, relation: Relation) -> Relation:
        name = f"{relation.identifier}{self.STAGED_SUFFIX}"
        if len(name.encode()) > IDENTIFIER_MAX:  # keep the suffix: leftovers are found by it
            digest = f"{zlib.crc32(relation.identifier.encode()):08x}"
            name = relation.identifier.encode()[
                : IDENTIFIER_MAX - len(self.STAGED_SUFFIX) - 9
            ].decode(errors="ignore")
            name = f"{name}_{digest}{self.STAGED_SUFFIX}"
        return Relation(relation.schema, name, relation.database)


def _with_modifier(type_name: str, column: psycopg.Column) -> str:
    """The type with the modifier the result column carries, as `format_type` writes it
    (`numeric(12,2)`, `character varying(20)`), so a precision change is a schema change."""
    if type_name == "numeric" and column.precision is not None:
        return f"numeric({column.precision},{column.scale or 0})"
    if type_name in ("character varying", "character") and column.display_size:
        return f"{type_name}({column.display_size})"
    return type_name


def _literal(value: Any) -> str:
    from headwater.engines.base import quote_literal

    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return (
            "ARRAY[" + ", ".join(_literal(v) for v in value) + "]" + ("" if value else "::text[]")
        )
    return quote_literal(str(value))


def _inline(sql: str, params: list[Any]) -> str:
    return inline_params(sql, params, _literal)


def _prepared(sql: str, params: list[Any] | None) -> tuple[str, list[Any] | None]:
    """The statement for psycopg: exactly one (checked), `?` parameters as `%s`."""
    _one_statement(sql)
    if not params:
        return sql, None
    return sql.replace("%", "%%").replace("?", "%s"), list(params)


def _one_statement(sql: str) -> None:
    """Refuse several statements sent as one (psycopg's simple protocol would run them all):
    every statement headwater generates is exactly one."""
    if ";" not in sql:
        return
    import sqlglot
    from sqlglot import TokenType

    try:
        tokens = sqlglot.Dialect.get_or_raise("postgres").tokenize(sql)
    except Exception:
        return  # not tokenizable: the server refuses it and says why
    seen_end = False
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            seen_end = True
        elif seen_end:
            raise SQLExecutionError(
                "refused to run several statements sent as one; headwater runs exactly one statement at a time",
                query=sql,
                hint="a value or an SQL fragment in the project holds a `;` that ends the statement early",
            )


def _message(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc).strip().splitlines()[0]
    detail = getattr(diag, "message_detail", None) if diag is not None else None
    hint = getattr(diag, "message_hint", None) if diag is not None else None
    return text + (f" ({detail})" if detail else "") + (f" HINT: {hint}" if hint else "")
