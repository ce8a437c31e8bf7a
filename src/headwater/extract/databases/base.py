"""The shared database connector: config (`table` or `query`, `cursor`, `chunk_size`,
`parallel`, `lag`), connection errors that name the server and what to check (never the
password), incremental queries (``WHERE cursor > last - lag ORDER BY cursor``), chunked reads
(`headwater.extract.databases.chunks`) and parallel key ranges. Each database subclasses
`DatabaseConnector` in its own module (`postgres`, `mysql`) and provides the driver's side:
connecting, streaming Arrow tables, literals and the classification of its errors.
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from headwater.errors import ConfigError
from headwater.extract.base import (
    Batch,
    Connector,
    ConnectorError,
    ExtractState,
    TransientConnectorError,
)
from headwater.extract.cursors import apply_lag, later_cursor, parse_lag
from headwater.extract.databases.chunks import rebatch, with_final
from headwater.extract.keys import Section

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_CHUNK_SIZE = 100_000
CONNECT_TIMEOUT = 10
_SQL_KEYS = (
    "host", "port", "user", "password_env", "database", "dsn_env", "table", "query", "cursor",
    "initial_cursor", "chunk_size", "parallel",
)  # fmt: skip


class DatabaseConnector(Connector):
    """What PostgreSQL and MySQL share: config, query building, cursors, chunks, parallel ranges."""

    optional: ClassVar[tuple[str, ...]] = _SQL_KEYS
    sections: ClassVar[Mapping[str, Section]] = {"parallel": Section(frozenset({"key", "workers"}))}
    engine: ClassVar[str] = ""
    default_port: ClassVar[int] = 0
    quote_char: ClassVar[str] = '"'

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.config

        def bad(msg: str, hint: str | None = None) -> ConfigError:
            return ConfigError(
                f"source `{self.name}` ({self.kind}): {msg}", node=self.name, hint=hint
            )

        if cfg.get("table") and cfg.get("query"):
            raise bad("give either `table` or `query`, not both")
        query = cfg.get("query")
        if query is not None and not str(query).strip():
            raise bad("`query` is empty")
        self.query = str(query).strip().rstrip(";").strip() if query else None
        self.remote_table = str(cfg.get("table") or self.table)
        self.cursor = str(cfg["cursor"]) if cfg.get("cursor") else None
        try:
            self.chunk_size = int(
                cfg["chunk_size"] if cfg.get("chunk_size") is not None else DEFAULT_CHUNK_SIZE
            )
            if self.chunk_size < 1:
                raise ValueError
        except (TypeError, ValueError):
            raise bad(
                f"`chunk_size` must be a positive integer, got {cfg.get('chunk_size')!r}"
            ) from None
        try:
            self.lag = parse_lag(cfg.get("lag"))
        except ValueError as e:
            raise bad(f"`lag`: {e}") from None
        if cfg.get("port") not in (None, ""):
            try:
                int(cfg["port"])
            except (TypeError, ValueError):
                raise bad(f"`port` must be a number, got {cfg['port']!r}") from None
        self.parallel: tuple[str, int] | None = None
        par = cfg.get("parallel")
        if par:
            if not isinstance(par, dict) or not par.get("key"):
                raise bad("`parallel` needs `key` (an integer column) and `workers`",
                          hint="parallel: {key: id, workers: 4}")  # fmt: skip
            unknown = set(par) - {"key", "workers"}
            if unknown:
                raise bad(f"`parallel` does not take {', '.join(f'`{k}`' for k in sorted(unknown))}",
                          hint="parallel: {key: id, workers: 4}")  # fmt: skip
            try:
                workers = int(par.get("workers", 4))
                if workers < 1:
                    raise ValueError
            except (TypeError, ValueError):
                raise bad(
                    f"`parallel.workers` must be a positive integer, got {par.get('workers')!r}"
                ) from None
            if self.cursor:
                raise bad("`parallel` reads a full extract; it cannot be combined with `cursor`",
                          hint="incremental batches must stay in cursor order: drop `parallel`")  # fmt: skip
            self.parallel = (str(par["key"]), workers)

    @property
    def atomic(self) -> bool:
        """A full extract (no `cursor`) has nothing to resume from: its chunks are loaded all
        together or not at all, so a failure half-way leaves the table as it was."""
        return not self.cursor

    def hints(self) -> dict[str, Any]:
        """A full extract reads the whole table every run: it replaces the table (swapped in once
        every chunk has arrived) unless the table sets `write_disposition`."""
        return {} if self.cursor else {"write_disposition": "replace"}

    # ---- what the dialects provide

    def _connect(self) -> Any:
        raise NotImplementedError

    def _stream(self, conn: Any, sql: str) -> Iterator[pa.Table]:
        """Run ``sql`` and yield its rows as Arrow tables of any size (types normalized)."""
        raise NotImplementedError

    def _fetch_one(self, conn: Any, sql: str) -> tuple[Any, ...]:
        raise NotImplementedError

    def _literal(self, conn: Any, value: Any) -> str:
        raise NotImplementedError

    def _classify(self, exc: BaseException) -> str:
        """'unreachable' | 'credentials' | 'database' | 'table' | 'column' | 'query' | 'transient'."""
        raise NotImplementedError

    def _close(self, conn: Any) -> None:
        with contextlib.suppress(Exception):
            conn.close()

    def _begin_snapshot(self, conn: Any) -> str | None:
        return None

    def _join_snapshot(self, conn: Any, snapshot: str) -> None:
        return None

    # ---- config helpers

    def quote_ident(self, name: str) -> str:
        q = self.quote_char
        return ".".join(q + part.replace(q, q + q) + q for part in name.split("."))

    def _target(self) -> str:
        """host:port/database, for messages (never the password)."""
        dsn_var = self.config.get("dsn_env")
        if dsn_var:
            from urllib.parse import urlsplit

            dsn = self.env.get(str(dsn_var)) or ""
            if "://" not in dsn:  # libpq's key=value form
                from headwater.secrets import parse_dsn

                parts = parse_dsn(dsn)
                if parts.get("host") or parts.get("dbname"):
                    host = parts.get("host") or "localhost"
                    return f"{host}:{parts.get('port') or self.default_port}/{parts.get('dbname') or ''}"
                return f"the DSN in ${dsn_var}"
            try:
                u = urlsplit(dsn)
                if u.hostname or u.path:
                    return (
                        f"{u.hostname or 'localhost'}:{u.port or self.default_port}{u.path or '/'}"
                    )
            except ValueError:
                pass
            return f"the DSN in ${dsn_var}"
        host = self.config.get("host") or "localhost"
        port = self.config.get("port") or self.default_port
        return f"{host}:{port}/{self.config.get('database') or ''}"

    def _scrub(self, text: str) -> str:
        """``text`` without the password or the DSN's secrets, as whole tokens (`headwater.secrets`)."""
        from headwater import secrets

        for key in ("password", "dsn"):
            var = self.config.get(f"{key}_env")
            value = self.env.get(str(var)) if var else None
            secrets.register_dsn(value) if key == "dsn" else secrets.register(value)
        return secrets.mask(text)

    def _error(self, exc: BaseException, doing: str) -> ConnectorError | ConfigError:
        """A ConnectorError naming the source, the server and what to check (no password); an
        error that already is one (or a `ConfigError`) as it is."""
        if isinstance(exc, ConnectorError | ConfigError):
            return exc
        kind = self._classify(exc)
        detail = " ".join(str(exc).split()).split(" Query was: ")[0]  # ADBC repeats our SQL
        detail = self._scrub(detail)[:600]
        where = f"{self.engine} at {self._target()}"
        what = "the `query`" if self.query else f"table `{self.remote_table}`"
        head = f"source `{self.name}`: "
        cls: type[ConnectorError] = ConnectorError
        if kind == "unreachable":
            msg = f"cannot connect to {where}: {detail}"
            hint = "check `host` and `port` (or `dsn_env`) and that the server is running and reachable"
        elif kind == "credentials":
            user = self.config.get("user") or "(default user)"
            msg = f"{where} rejected the login of user `{user}`: {detail}"
            hint = (
                "check `user` and the password in the environment variable named by `password_env`"
            )
        elif kind == "database":
            msg = f"{where}: the database does not exist or cannot be opened: {detail}"
            hint = "check `database` (or the database in the DSN)"
        elif kind == "table":
            msg = f"{where}: {what} was not found: {detail}"
            hint = "check `table` (`schema.table` for another schema) or the `query`, and the user's privileges"
        elif kind == "column":
            msg = f"{where}: unknown column while reading {what}: {detail}"
            cols = [c for c in (self.cursor, self.parallel and self.parallel[0]) if c]
            hint = (
                "check "
                + (", ".join(f"`{c}`" for c in cols) + " and " if cols else "")
                + "the columns of the `query`"
            )
        elif kind == "transient":
            cls = TransientConnectorError
            msg = f"lost the connection to {where} while {doing}: {detail}"
            hint = "a retry may succeed"
        else:
            msg = f"{where} failed while {doing} {what}: {detail}"
            hint = "check the `query`, `table`, `cursor` and the server's log"
        return cls(head + msg, node=self.name, hint=hint)

    # ---- connections

    def _open(self) -> Any:
        try:
            return self._connect()
        except ImportError as e:
            raise ConnectorError(
                f"source `{self.name}` ({self.kind}) needs a driver that is not installed: {e}",
                node=self.name, hint=f"pip install 'headwater[{'postgres' if self.engine == 'PostgreSQL' else 'mysql'}]'",
            ) from None  # fmt: skip
        except Exception as e:
            raise self._error(e, "connecting") from None

    def check(self) -> None:
        conn = self._open()
        try:
            self._fetch_one(conn, "SELECT 1")
        except Exception as e:
            raise self._error(e, "running SELECT 1 on") from None
        finally:
            self._close(conn)

    # ---- queries

    def base_sql(self) -> str:
        if self.query:
            return f"SELECT * FROM ({self.query}) AS _hw_src"
        return f"SELECT * FROM {self.quote_ident(self.remote_table)}"

    def _incremental_where(self, conn: Any, state: ExtractState) -> tuple[str, Any]:
        """The WHERE condition for the cursor and the value the batches start from."""
        col = self.quote_ident(self.cursor or "")
        if state.cursor is not None:
            start = apply_lag(state.cursor, self.lag, self.name)
            return f"{col} > {self._literal(conn, start)}", state.cursor
        initial = self.config.get("initial_cursor")
        if initial not in (None, ""):
            return f"{col} >= {self._literal(conn, initial)}", None
        return "", None

    # ---- extraction

    def extract(self, state: ExtractState) -> Iterator[Batch]:
        if self.parallel:
            tables = self._extract_parallel()
            for table, final in with_final(tables):
                yield Batch(table=table, final=final)
            return
        conn = self._open()
        try:
            where, last = ("", None)
            if self.cursor:
                where, last = self._incremental_where(conn, state)
            sql = f"SELECT * FROM ({self.base_sql()}) AS _hw_q"
            if where:
                sql += f" WHERE {where}"
            if self.cursor:
                sql += f" ORDER BY {self.quote_ident(self.cursor)}" + self._nulls_first()
            tables = rebatch(
                self._guard(self._stream(conn, sql), "reading"), self.chunk_size, self.cursor
            )
            for table, final in with_final(tables):
                cursor = None
                if self.cursor:
                    last = later_cursor(last, self._max(table, self.cursor))
                    cursor = last
                yield Batch(table=table, cursor=cursor, final=final)
        finally:
            self._close(conn)

    def _nulls_first(self) -> str:
        return ""

    def _guard(self, tables: Iterator[pa.Table], doing: str) -> Iterator[pa.Table]:
        try:
            yield from tables
        except GeneratorExit:
            raise
        except Exception as e:
            raise self._error(e, doing) from None

    def _max(self, table: pa.Table, column: str) -> Any:
        import pyarrow.compute as pc

        if table.num_rows == 0:
            return None
        return pc.max(table.column(column)).as_py()

    # ---- parallel key ranges

    def _ranges(self, lo: int, hi: int, workers: int) -> list[tuple[int, int]]:
        """``workers`` half-open ranges [a, b) covering lo..hi (the last one closed)."""
        span = hi - lo + 1
        n = max(1, min(workers, span))
        step = math.ceil(span / n)
        out = []
        a = lo
        while a <= hi:
            out.append((a, min(a + step, hi + 1)))
            a += step
        return out

    def _extract_parallel(self) -> Iterator[pa.Table]:
        assert self.parallel
        key, workers = self.parallel
        k = self.quote_ident(key)
        base = f"SELECT * FROM ({self.base_sql()}) AS _hw_q"
        coord = self._open()
        try:
            snapshot = self._begin_snapshot(coord)
            lo, hi = self._fetch_one(coord, f"SELECT MIN({k}), MAX({k}) FROM ({base}) AS _hw_r")
        except ConnectorError:
            self._close(coord)
            raise
        except Exception as e:
            self._close(coord)
            raise self._error(e, "reading the key range of") from None
        try:
            if lo is None:  # empty, or every key NULL: one plain read
                conn = self._open()
                try:
                    if snapshot:
                        self._join_snapshot(conn, snapshot)
                    yield from rebatch(
                        self._guard(self._stream(conn, base), "reading"), self.chunk_size
                    )
                finally:
                    self._close(conn)
                return
            try:
                lo, hi = int(lo), int(hi)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"source `{self.name}`: `parallel.key` `{key}` must be an integer column (got {lo!r})",
                    node=self.name, hint="choose an integer key, e.g. the primary key",
                ) from None  # fmt: skip
            queries = []
            for i, (a, b) in enumerate(self._ranges(lo, hi, workers)):
                cond = f"{k} >= {a} AND {k} < {b}"
                if i == 0:
                    cond = f"({cond} OR {k} IS NULL)"
                queries.append(f"{base} WHERE {cond}")
            yield from self._run_workers(queries, snapshot)
        finally:
            self._close(coord)

    def _run_workers(self, queries: list[str], snapshot: str | None) -> Iterator[pa.Table]:
        out: queue.Queue[Any] = queue.Queue(maxsize=2 * len(queries))
        stop = threading.Event()
        done = object()

        def put(item: Any) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def work(sql: str) -> None:
            conn = None
            try:
                conn = self._open()
                if snapshot:
                    self._join_snapshot(conn, snapshot)
                for table in rebatch(
                    self._guard(self._stream(conn, sql), "reading"), self.chunk_size
                ):
                    if not put(table):
                        return
                put(done)
            except BaseException as e:
                put(e)
            finally:
                if conn is not None:
                    self._close(conn)

        threads = [threading.Thread(target=work, args=(q,), daemon=True, name=f"hw-sql-{i}")
                   for i, q in enumerate(queries)]  # fmt: skip
        for t in threads:
            t.start()
        running = len(threads)
        schema = None
        empty = None
        try:
            while running:
                item = out.get()
                if item is done:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                elif item.num_rows == 0:
                    empty = item
                else:
                    if schema is not None and item.schema != schema:
                        item = item.cast(schema)
                    schema = item.schema
                    yield item
            if schema is None and empty is not None:
                yield empty
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)


TRANSIENT_TEXT = (
    "connection reset", "server closed the connection", "terminating connection", "broken pipe",
    "lost connection", "connection timed out", "could not receive data", "no connection to the server",
    "server has gone away", "eof detected", "connection was killed", "query execution was interrupted",
)  # fmt: skip


def _sql_literal(value: Any) -> str:
    """A standard-SQL literal for a cursor value (strings with doubled quotes)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"cursor value {value!r} is not finite")
        return str(value)
    if isinstance(value, datetime):
        return "'" + value.isoformat(sep=" ") + "'"
    if isinstance(value, date):
        return "'" + value.isoformat() + "'"
    text = str(value)
    if "\x00" in text:
        raise ValueError("cursor value contains a NUL character")
    return "'" + text.replace("'", "''") + "'"
