"""DuckDB as local compute, whatever the target engine: parsing and validating files (seeds,
`files:` sources, loads into another engine), reading file schemas for lineage, checking that
SQL is one statement. This is the one module outside `headwater.engines.duckdb` that imports
duckdb; anywhere else, `import duckdb` means the DuckDB engine.

Each thread gets its own private in-memory database (nothing is written to disk, nothing is
shared between threads).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from headwater.engines.base import Row

_local = threading.local()


def connection() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB connection."""
    con: duckdb.DuckDBPyConnection | None = getattr(_local, "con", None)
    if con is None:
        import duckdb

        con = _local.con = duckdb.connect(":memory:", config={"threads": 2})
    return con


def fresh_connection() -> duckdb.DuckDBPyConnection:
    """A new private in-memory DuckDB connection with DuckDB's default threads (all cores): for
    one job that owns it (validating a file or a frame), closed by the caller."""
    import duckdb

    return duckdb.connect(":memory:")


def is_relation(value: Any) -> bool:
    """True when ``value`` is a DuckDB relation (a user may hand one to `validate`)."""
    import duckdb

    return isinstance(value, duckdb.DuckDBPyRelation)


def fetch_arrow(sql: str, params: list[Any] | None = None) -> pa.Table:
    """Run ``sql`` on the local DuckDB and return the result as Arrow."""
    con = connection()
    if params:
        return arrow_of(con.execute(sql, params))
    return arrow_of(con.sql(sql))


def arrow_of(result: duckdb.DuckDBPyRelation | duckdb.DuckDBPyConnection) -> pa.Table:
    """A DuckDB relation (`con.sql(...)`, no extra copy) or result as an Arrow table
    (`to_arrow_table` since DuckDB 2.0, `fetch_arrow_table`/`arrow` before)."""
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        method = getattr(result, name, None)
        if method is not None:
            out = method()
            return out if hasattr(out, "num_rows") else out.read_all()
    raise AttributeError("this DuckDB version has no Arrow result method")


def execute(sql: str, params: list[Any] | None = None) -> list[Row]:
    result = connection().execute(sql, params)
    return result.fetchall() if result.description is not None else []


def describe(sql: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of the columns ``sql`` returns, without running it."""
    return [(str(r[0]), str(r[1])) for r in connection().execute(f"DESCRIBE {sql}").fetchall()]


def count_statements(sql: str) -> int:
    """How many statements DuckDB's parser finds in ``sql``; raises duckdb.Error if it cannot parse."""
    return len(connection().extract_statements(sql))


def error_type() -> type[Exception]:
    """duckdb.Error, for callers that catch the local engine's failures."""
    import duckdb

    return duckdb.Error
