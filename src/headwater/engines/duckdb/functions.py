"""DuckDB's spelling of the function map: the reference the other engines are compared to."""

from __future__ import annotations

from headwater.engines.functions import Functions


class DuckDBFunctions(Functions):
    ENGINE = "duckdb"
