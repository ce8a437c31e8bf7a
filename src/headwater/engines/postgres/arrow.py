"""PostgreSQL types <-> Arrow types, for fetching results and for `COPY`-ing Arrow tables in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from headwater.engines.base import Row

_TO_ARROW = {
    "smallint": "int16", "integer": "int32", "bigint": "int64", "real": "float32", "double precision": "float64",
    "boolean": "bool", "text": "string", "character varying": "string", "character": "string", "date": "date32",
    "timestamp without time zone": "timestamp_us", "timestamp with time zone": "timestamp_us_utc",
    "bytea": "binary", "json": "string", "jsonb": "string", "uuid": "string", "time without time zone": "time64",
    "interval": "duration", "numeric": "decimal",
}  # fmt: skip


def arrow_type(pg_type: str) -> pa.DataType | None:
    """The Arrow type for a PostgreSQL type name (`format_type`); None lets pyarrow infer it."""
    import pyarrow as pa

    base = pg_type.split("(")[0].strip().lower()
    kind = _TO_ARROW.get(base)
    return {
        "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(), "float32": pa.float32(),
        "float64": pa.float64(), "bool": pa.bool_(), "string": pa.string(), "date32": pa.date32(),
        "timestamp_us": pa.timestamp("us"), "timestamp_us_utc": pa.timestamp("us", tz="UTC"), "binary": pa.binary(),
        "time64": pa.time64("us"), "duration": None, "decimal": None,
    }.get(kind or "")  # fmt: skip


def pg_type(arrow: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type."""
    import pyarrow as pa
    import pyarrow.types as t

    if t.is_boolean(arrow):
        return "boolean"
    if t.is_int8(arrow) or t.is_int16(arrow) or t.is_uint8(arrow):
        return "smallint"
    if t.is_int32(arrow) or t.is_uint16(arrow):
        return "integer"
    if t.is_integer(arrow):
        return "bigint" if not t.is_uint64(arrow) else "numeric(20, 0)"
    if t.is_float16(arrow) or t.is_float32(arrow):
        return "real"
    if t.is_floating(arrow):
        return "double precision"
    if t.is_decimal(arrow):
        return f"numeric({arrow.precision}, {arrow.scale})"
    if t.is_timestamp(arrow):
        return "timestamp with time zone" if arrow.tz else "timestamp"
    if t.is_date(arrow):
        return "date"
    if t.is_time(arrow):
        return "time"
    if t.is_duration(arrow):
        return "interval"
    if t.is_binary(arrow) or t.is_large_binary(arrow) or t.is_fixed_size_binary(arrow):
        return "bytea"
    if t.is_struct(arrow) or t.is_list(arrow) or t.is_large_list(arrow) or t.is_map(arrow):
        return "jsonb"
    if t.is_dictionary(arrow):
        return pg_type(arrow.value_type)
    if arrow == pa.null():
        return "text"
    return "text"


def copy_rows(table: pa.Table) -> Iterator[Row]:
    """The rows of an Arrow table as Python tuples for `COPY ... FROM STDIN` (binary-safe values:
    nested values as JSON text)."""
    import json

    import pyarrow.types as t

    nested = [i for i, f in enumerate(table.schema) if t.is_struct(f.type) or t.is_list(f.type)
              or t.is_large_list(f.type) or t.is_map(f.type)]  # fmt: skip
    for batch in table.to_batches(max_chunksize=65536):
        columns = [col.to_pylist() for col in batch.columns]
        for i in nested:
            columns[i] = [None if v is None else json.dumps(v, default=str) for v in columns[i]]
        yield from zip(*columns, strict=True)
