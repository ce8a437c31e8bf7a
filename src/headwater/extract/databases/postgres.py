"""`connector: postgres`: PostgreSQL through ADBC (libpq, binary COPY straight into Arrow); the
shared behaviour (config, cursors, chunks, parallel ranges) is `headwater.extract.databases.base`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from headwater.extract.base import (
    ConnectorError,
    register,
)
from headwater.extract.databases.base import (
    CONNECT_TIMEOUT,
    TRANSIENT_TEXT,
    DatabaseConnector,
    _sql_literal,
)

if TYPE_CHECKING:
    import pyarrow as pa


_PG_TRANSIENT_STATES = ("08", "57P01", "57P02", "57P03", "40001", "40P01", "53300")


@register
class PostgresConnector(DatabaseConnector):
    """PostgreSQL through ADBC (libpq, binary COPY straight into Arrow)."""

    kind = "postgres"
    engine = "PostgreSQL"
    default_port = 5432

    def _uri(self) -> str:
        dsn = self.secret("dsn")
        if dsn:
            return dsn
        from urllib.parse import quote, urlencode

        cfg = self.config
        params = {"connect_timeout": str(CONNECT_TIMEOUT), "application_name": "headwater"}
        host = str(cfg.get("host") or "")
        netloc = ""
        if host.startswith("/"):
            params["host"] = host
        elif host:
            netloc = host if ":" not in host else f"[{host}]"
        if cfg.get("port"):
            if netloc:
                netloc += f":{int(cfg['port'])}"
            else:
                params["port"] = str(int(cfg["port"]))
        user = cfg.get("user")
        password = self.secret("password")
        if user or password:
            cred = quote(str(user or ""), safe="")
            if password:
                cred += ":" + quote(password, safe="")
            netloc = f"{cred}@{netloc}"
        db = quote(str(cfg.get("database") or ""), safe="")
        return f"postgresql://{netloc}/{db}?{urlencode(params)}"

    def _connect(self) -> Any:
        import adbc_driver_postgresql.dbapi as pg

        conn = pg.connect(self._uri(), autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")
                cur.execute("SET standard_conforming_strings = on")
        except Exception:
            conn.close()
            raise
        return conn

    def _fetch_one(self, conn: Any, sql: str) -> tuple[Any, ...]:
        with conn.cursor() as cur:
            cur.execute(sql)
            return tuple(cur.fetchone())

    def _begin_snapshot(self, conn: Any) -> str | None:
        with conn.cursor() as cur:
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cur.execute("SELECT pg_export_snapshot()")
            return str(cur.fetchone()[0])

    def _join_snapshot(self, conn: Any, snapshot: str) -> None:
        with conn.cursor() as cur:
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cur.execute(f"SET TRANSACTION SNAPSHOT {self._literal(conn, snapshot)}")

    def _nulls_first(self) -> str:
        return " NULLS FIRST"

    def _literal(self, conn: Any, value: Any) -> str:
        return _sql_literal(value)

    def _stream(self, conn: Any, sql: str) -> Iterator[pa.Table]:
        import pyarrow as pa

        # The schema first (LIMIT 0): types with no Arrow counterpart (uuid, inet, ...) are read
        # as text, numerics get their declared precision.
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM ({sql}) AS _hw_s LIMIT 0")
            probe = cur.fetch_record_batch().schema
        names = probe.names
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ConnectorError(
                f"source `{self.name}`: the query returns duplicate column names {dupes}",
                node=self.name, hint="give each column its own alias in the `query`",
            )  # fmt: skip
        as_text = [f.name for f in probe if _pg_needs_text(f.type)]
        if as_text:
            cols = ", ".join(
                f"{self.quote_ident_one(n)}::text AS {self.quote_ident_one(n)}" if n in as_text
                else self.quote_ident_one(n)
                for n in names
            )  # fmt: skip
            sql = f"SELECT {cols} FROM ({sql}) AS _hw_t"
        with conn.cursor() as cur:
            cur.execute(sql)
            reader = cur.fetch_record_batch()
            convert = _pg_converter(reader.schema, self.name)
            empty = True
            for rb in reader:
                empty = False
                yield convert(pa.Table.from_batches([rb]))
            if empty:
                yield convert(reader.schema.empty_table())

    def quote_ident_one(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def _classify(self, exc: BaseException) -> str:
        state = str(getattr(exc, "sqlstate", "") or "")
        text = str(exc).lower()
        transient = state.startswith(_PG_TRANSIENT_STATES) or any(t in text for t in TRANSIENT_TEXT)
        if transient and "failed to connect" not in text:
            return "transient"
        if (
            state.startswith("28")
            or "password authentication failed" in text
            or ("role" in text and "does not exist" in text)
            or "no pg_hba.conf entry" in text
        ):
            return "credentials"
        if state == "3D000" or ("database" in text and "does not exist" in text):
            return "database"
        if (
            "failed to connect" in text
            or "could not connect" in text
            or "connection refused" in text
            or ("could not translate host name" in text)
            or "timeout expired" in text
        ):
            return "unreachable"
        if (
            state in ("42P01", "3F000")
            or ("relation" in text and "does not exist" in text)
            or ("schema" in text and "does not exist" in text)
        ):
            return "table"
        if state == "42703" or ("column" in text and "does not exist" in text):
            return "column"
        return "query"


def _pg_needs_text(t: Any) -> bool:
    """True for a column ADBC hands over in PostgreSQL's binary form (uuid, inet, ...)."""
    import pyarrow as pa

    if isinstance(t, pa.BaseExtensionType):
        return not (
            t.extension_name == "arrow.json"
            or (t.extension_name == "arrow.opaque" and getattr(t, "type_name", "") == "numeric")
        )
    return _has_extension(t)


def _has_extension(t: Any) -> bool:
    import pyarrow as pa

    if isinstance(t, pa.BaseExtensionType):
        return True
    return any(_has_extension(t.field(i).type) for i in range(t.num_fields))


def _numeric_type(typmod: int) -> Any:
    import pyarrow as pa

    if typmod < 4:
        return pa.float64()
    precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
    if scale > precision or scale > 1000:  # negative scales (PG 15) come out wrapped
        return pa.float64()
    if precision <= 38:
        return pa.decimal128(precision, scale)
    if precision <= 76:
        return pa.decimal256(precision, scale)
    return pa.float64()


def _pg_converter(schema: Any, name: str) -> Callable[[pa.Table], pa.Table]:
    """A function that turns ADBC's tables into plain Arrow types (no extensions, no metadata)."""
    import pyarrow as pa

    steps: list[tuple[int, Any]] = []
    fields = []
    for i, f in enumerate(schema):
        t = f.type
        meta = f.metadata or {}
        pg_type = (meta.get(b"POSTGRESQL:type") or b"").decode()
        target = t.storage_type if isinstance(t, pa.BaseExtensionType) else t
        if pg_type == "numeric":
            target = _numeric_type(int(meta.get(b"POSTGRESQL:typmod") or -1))
        if target != t or meta:
            steps.append((i, target))
        fields.append(pa.field(f.name, target))
    out_schema = pa.schema(fields)

    def convert(table: pa.Table) -> pa.Table:
        if not steps:
            return table
        cols = list(table.columns)
        for i, target in steps:
            col = cols[i]
            if isinstance(col.type, pa.BaseExtensionType):
                col = pa.chunked_array([c.storage for c in col.chunks], type=col.type.storage_type)
            if col.type != target:
                try:
                    col = col.cast(target)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                    raise ConnectorError(
                        f"source `{name}`: column `{schema.field(i).name}` does not fit {target}: {e}",
                        node=name, hint="cast the column in a `query` (e.g. NaN in a numeric)",
                    ) from None  # fmt: skip
            cols[i] = col
        return pa.Table.from_arrays(cols, schema=out_schema)

    return convert
