"""The loader's state in the warehouse, committed in the same transaction as the rows it
describes: cursors (`load_state`), the files already loaded (`loaded_files`) and the schema
changes a load made (`schema_changes`); cursor values keep their types through `encode`/`decode`."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
from typing import Any

from headwater.engines.base import Engine, quote_identifier
from headwater.extract.base import ExtractState

STATE_SCHEMA = "_headwater"
# -- state (in the warehouse, so it commits with the data) ---------------------------------------
_STATE_DDL_LOCK = threading.Lock()


def state_schema(engine: Engine) -> str:
    """The schema of the load-state tables. An embedded warehouse (DuckDB: one file per target)
    keeps them in `_headwater`; on a server several targets (dev, prod, a CI schema) share one
    database, and each must keep its own record of the files and cursors it loaded — else a dev
    run would mark files as loaded for prod — so they live beside the target's schema, in
    ``<schema>__headwater``."""
    if not engine.SERVER:
        return STATE_SCHEMA
    return f"{engine.target.schema}__headwater"


def _state(engine: Engine, table: str) -> str:
    """A state table's name in SQL (its own name is a plain lower-case word: unquoted)."""
    return f"{quote_identifier(state_schema(engine))}.{table}"


def ensure_state_tables(engine: Engine) -> None:
    """Create the load-state tables once per engine. Serialized: two sources loading in parallel
    would otherwise both run the DDL and one would fail with a catalog write-write conflict."""
    if getattr(engine, "_hw_load_state_ready", False):
        return
    with _STATE_DDL_LOCK:
        if not getattr(engine, "_hw_load_state_ready", False):
            _create_state_tables(engine)
            engine._hw_load_state_ready = True  # type: ignore[attr-defined]


def _create_state_tables(engine: Engine) -> None:
    """The same DDL on every engine (types both DuckDB and PostgreSQL know)."""
    engine.ensure_schema(state_schema(engine))
    engine.execute(
        f"CREATE TABLE IF NOT EXISTS {_state(engine, 'load_state')} (source VARCHAR PRIMARY KEY, cursor VARCHAR, "
        "extra VARCHAR, updated_at TIMESTAMP)"
    )
    engine.execute(
        f"CREATE TABLE IF NOT EXISTS {_state(engine, 'loaded_files')} (source VARCHAR, path VARCHAR, checksum VARCHAR, "
        "rows BIGINT, batch_id VARCHAR, loaded_at TIMESTAMP, PRIMARY KEY (source, path, checksum))"
    )
    engine.execute(
        f"CREATE TABLE IF NOT EXISTS {_state(engine, 'schema_changes')} (source VARCHAR, change VARCHAR, "
        "batch_id VARCHAR, changed_at TIMESTAMP)"
    )


def read_state(engine: Engine, source: str) -> ExtractState:
    ensure_state_tables(engine)
    state = ExtractState()
    rows = engine.execute(
        f"SELECT cursor, extra FROM {_state(engine, 'load_state')} WHERE source = ?", [source]
    )
    if rows:
        state.cursor = decode(rows[0][0])
        state.extra = json.loads(rows[0][1]) if rows[0][1] else {}
    files = engine.execute(
        f"SELECT path, checksum FROM {_state(engine, 'loaded_files')} WHERE source = ?", [source]
    )
    state.loaded_files = {p: c for p, c in files}
    return state


def encode(value: Any) -> str | None:
    """A cursor value as JSON that keeps its type (dates, timestamps, decimals)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return json.dumps({"t": "datetime", "v": value.isoformat()})
    if isinstance(value, dt.date):
        return json.dumps({"t": "date", "v": value.isoformat()})
    if isinstance(value, decimal.Decimal):
        return json.dumps({"t": "decimal", "v": str(value)})
    return json.dumps({"t": "json", "v": value})


def decode(text: str | None) -> Any:
    if not text:
        return None
    data = json.loads(text)
    kind, value = data.get("t"), data.get("v")
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "decimal":
        return decimal.Decimal(value)
    return value
