"""`connector: mysql` and `mariadb`: pymysql read unbuffered, values as text typed by Arrow's casts;
the shared behaviour (config, cursors, chunks, parallel ranges) is
`headwater.extract.databases.base`."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from headwater.errors import ConfigError
from headwater.extract.base import (
    ConnectorError,
    register,
)
from headwater.extract.databases.base import (
    CONNECT_TIMEOUT,
    TRANSIENT_TEXT,
    DatabaseConnector,
)

if TYPE_CHECKING:
    import pyarrow as pa


_MY_TRANSIENT = {1205, 1213, 2006, 2013, 2014, 2055, 1927, 1053, 3024}
_MY_CREDENTIALS = {1044, 1045, 1698, 1251, 2059, 1227, 1142}
_MY_UNREACHABLE = {2002, 2003, 2005, 1040, 1129, 1130}
_MY_TABLE = {1146, 1109, 1051}
_MY_COLUMN = {1054, 1052}


@register
class MySQLConnector(DatabaseConnector):
    """MySQL and MariaDB through pymysql's unbuffered cursor; values typed by Arrow."""

    kind = "mysql"
    engine = "MySQL"
    default_port = 3306
    quote_char = "`"
    fetch_rows: ClassVar[int] = 20_000

    def _params(self) -> dict[str, Any]:
        dsn = self.secret("dsn")
        if dsn:
            from urllib.parse import unquote, urlsplit

            u = urlsplit(dsn)
            if u.scheme.split("+")[0] not in ("mysql", "mariadb"):
                raise ConfigError(
                    f"source `{self.name}`: the DSN in `{self.config['dsn_env']}` must look like "
                    "mysql://user:password@host:3306/database",
                    node=self.name,
                )
            return {
                "host": u.hostname or "localhost", "port": u.port or 3306,
                "user": unquote(u.username or ""), "password": unquote(u.password or ""),
                "database": unquote(u.path.lstrip("/")) or None,
            }  # fmt: skip
        cfg = self.config
        return {
            "host": str(cfg.get("host") or "localhost"), "port": int(cfg.get("port") or 3306),
            "user": str(cfg["user"]) if cfg.get("user") else None,
            "password": self.secret("password") or "", "database": cfg.get("database") or None,
        }  # fmt: skip

    def _connect(self) -> Any:
        import pymysql
        import pymysql.converters

        params = self._params()
        host = params.pop("host")
        kwargs: dict[str, Any] = {"host": host}
        if host.startswith("/"):
            kwargs = {"unix_socket": host}
        return pymysql.connect(
            **kwargs,
            **params,
            charset="utf8mb4",
            connect_timeout=CONNECT_TIMEOUT,
            conv=dict(pymysql.converters.encoders),  # no decoders: values arrive as text
            autocommit=True,
            init_command="SET time_zone = '+00:00', net_write_timeout = 3600, net_read_timeout = 3600",
        )

    def _fetch_one(self, conn: Any, sql: str) -> tuple[Any, ...]:
        with conn.cursor() as cur:
            cur.execute(sql)
            row = cur.fetchone()
            fields = cur._result.fields if cur._result else []
        out = []
        for value, f in zip(row, fields, strict=False):
            if value is not None and f.type_code in (1, 2, 3, 8, 9, 13):
                value = int(value)
            out.append(value)
        return tuple(out)

    def _literal(self, conn: Any, value: Any) -> str:
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"cursor value {value!r} is not finite")
        escaped: str = conn.escape(value)
        return escaped

    def _close(self, conn: Any) -> None:
        # Closing an unbuffered cursor would read every remaining row; closing the socket does not.
        with contextlib.suppress(Exception):
            cur = getattr(conn, "_hw_cursor", None)
            if cur is not None:
                cur.connection = None  # its close() would drain the rows
            result = getattr(conn, "_result", None)
            if result is not None:
                result.unbuffered_active = False
                conn._result = None
            conn._force_close()

    def _stream(self, conn: Any, sql: str) -> Iterator[pa.Table]:
        import pyarrow as pa
        import pymysql.cursors

        cur = conn._hw_cursor = pymysql.cursors.SSCursor(conn)
        cur.execute(sql)
        fields = cur._result.fields
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ConnectorError(
                f"source `{self.name}`: the query returns duplicate column names {dupes}",
                node=self.name, hint="give each column its own alias in the `query`",
            )  # fmt: skip
        plan = [_mysql_type(f) for f in fields]
        schema = pa.schema([pa.field(n, p[0]) for n, p in zip(names, plan, strict=True)])
        yielded = False
        while True:
            rows = cur.fetchmany(min(self.fetch_rows, self.chunk_size))
            if not rows:
                break
            columns = list(zip(*rows, strict=True))
            arrays = [
                _mysql_array(col, t, how) for col, (t, how) in zip(columns, plan, strict=True)
            ]
            yielded = True
            yield pa.Table.from_arrays(arrays, schema=schema)
        if not yielded:
            yield schema.empty_table()

    def _classify(self, exc: BaseException) -> str:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = str(exc).lower()
        if (
            code in _MY_TRANSIENT
            or isinstance(exc, ConnectionError)
            or (code is None and any(t in text for t in TRANSIENT_TEXT))
        ):
            return "transient"
        if code in _MY_CREDENTIALS or "access denied" in text:
            return "credentials"
        if code in _MY_UNREACHABLE or "can't connect" in text:
            return "unreachable"
        if code == 1049 or "unknown database" in text:
            return "database"
        if code in _MY_TABLE or "doesn't exist" in text:
            return "table"
        if code in _MY_COLUMN or "unknown column" in text:
            return "column"
        return "query"


@register
class MariaDBConnector(MySQLConnector):
    kind = "mariadb"
    engine = "MariaDB"


def _mysql_type(f: Any) -> tuple[Any, str]:
    """The Arrow type of a MySQL result field and how to build it from text."""
    import pyarrow as pa

    code, flags = f.type_code, f.flags
    unsigned = bool(flags & 32)
    binary = f.charsetnr == 63
    ints = {1: 8, 2: 16, 9: 32, 3: 32, 8: 64}
    if code == 1 and f.length == 1:  # tinyint(1) = BOOLEAN
        return pa.bool_(), "bool"
    if code in ints:
        bits = ints[code]
        return (getattr(pa, f"uint{bits}") if unsigned else getattr(pa, f"int{bits}"))(), "cast"
    if code == 13:
        return pa.int16(), "cast"
    if code in (0, 246):
        scale = f.scale
        precision = f.length - (1 if scale > 0 else 0) - (0 if unsigned else 1)
        precision = max(precision, scale, 1)
        if precision <= 38:
            return pa.decimal128(precision, scale), "cast"
        return pa.decimal256(min(precision, 76), scale), "cast"
    if code == 4:
        return pa.float32(), "cast"
    if code == 5:
        return pa.float64(), "cast"
    if code in (10, 14):
        return pa.date32(), "date"
    if code == 12:
        return pa.timestamp("us"), "date"
    if code == 7:
        return pa.timestamp("us", tz="UTC"), "date"
    if code == 6:
        return pa.null(), "null"
    if code == 245:  # MySQL's JSON (binary collation on the wire)
        return pa.string(), "text"
    if code in (16, 255) or (binary and code in (15, 249, 250, 251, 252, 253, 254)):
        return pa.binary(), "binary"
    return pa.string(), "text"


def _mysql_array(values: tuple[Any, ...], t: Any, how: str) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if how == "null":
        return pa.nulls(len(values))
    if how == "binary":
        return pa.array([v.encode() if isinstance(v, str) else v for v in values], pa.binary())
    if how == "text":
        if any(isinstance(v, bytes) for v in values):
            return pa.array(values, pa.binary()).cast(pa.string())
        return pa.array(values, pa.string())
    text = pa.array(values, pa.string())
    if how == "bool":
        return pc.not_equal(text.cast(pa.int8()), 0)
    if how == "date":
        naive = pa.timestamp("us") if pa.types.is_timestamp(t) else t
        try:
            out = text.cast(naive)
        except pa.ArrowInvalid:  # zero dates (0000-00-00) -> NULL
            zero = pc.starts_with(text, "0000-00-00")
            out = pc.if_else(zero, pa.scalar(None, pa.string()), text).cast(naive)
        return out.cast(t)  # TIMESTAMP: the session's time zone is UTC
    return text.cast(t)
