"""PostgreSQL engine: a shared server (`engine: postgres`).

* `connection`: psycopg 3 connections (one per worker thread), the one-statement guard, the
  advisory build lock, errors and `is_transient`;
* `catalog`: relation kinds and columns from `pg_class`/`pg_attribute`;
* `strategies`: publish with dependent views kept, Arrow in through `COPY`;
* `functions`: the function map, with the documented differences from DuckDB;
* `arrow`: type mapping between PostgreSQL and Arrow.
"""

from __future__ import annotations

from headwater.engines.postgres.connection import PostgresEngine

__all__ = ["PostgresEngine"]
