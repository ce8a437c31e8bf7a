"""DuckDB engine: the embedded default. One database file, one connection per process, one cursor
per worker thread.

* `connection`: opening (file lock, extensions), execute/fetch, one-statement guard, interrupt;
* `catalog`: relation kinds and columns;
* `strategies`: `CREATE OR REPLACE`, Arrow views, file readers;
* `functions`: the function map (the reference spelling).
"""

from __future__ import annotations

from headwater.engines.duckdb.connection import DuckDBEngine, sql_value

__all__ = ["DuckDBEngine", "sql_value"]
