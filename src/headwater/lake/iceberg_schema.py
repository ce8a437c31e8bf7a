"""Schemas, versions and partition values of Iceberg tables, between Arrow (DuckDB's side) and
pyiceberg (`headwater.lake.iceberg`).

* `iceberg_schema`: the Arrow schema of a SELECT as an Iceberg schema (fresh field ids, time zones
  as UTC); `arrow_schema`: back, as plain Arrow (no field ids, no large types) for DuckDB;
* `evolve_schema`: a full rebuild's new schema applied in a transaction, field ids kept by name
  (as Iceberg's replace-table does): in-place type updates for primitive columns, drop and add for
  nested ones, added and dropped columns, the new column order, nullable columns;
* `type_problems`: whether new files' columns fit a table's (equal or a promotion Iceberg allows);
* `versions`: snapshot id → headwater version (the sequence number);
* partition values: Iceberg's internal form (days, microseconds) → Python → text.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.table import Transaction
    from pyiceberg.table.metadata import TableMetadata
    from pyiceberg.types import IcebergType


def iceberg_schema(schema: pa.Schema) -> Schema:
    """An Arrow schema (as DuckDB returns it) as an Iceberg schema with fresh field ids; time
    zones become UTC (Iceberg stores instants), dictionary and view types their plain types."""
    import pyarrow as pa
    from pyiceberg.io.pyarrow import pyarrow_to_schema

    ids = itertools.count(1)

    def field(f: pa.Field) -> pa.Field:
        meta = {b"PARQUET:field_id": str(next(ids)).encode()}
        return pa.field(f.name, kind(f.type), nullable=f.nullable, metadata=meta)

    def kind(t: pa.DataType) -> pa.DataType:
        if pa.types.is_dictionary(t):
            return kind(t.value_type)
        if pa.types.is_timestamp(t) and t.tz is not None:
            return pa.timestamp(t.unit, "UTC")
        if pa.types.is_string_view(t):
            return pa.string()
        if pa.types.is_binary_view(t):
            return pa.binary()
        if pa.types.is_struct(t):
            return pa.struct([field(t.field(i)) for i in range(t.num_fields)])
        if pa.types.is_map(t):
            return pa.map_(field(t.key_field), field(t.item_field))
        if (
            pa.types.is_list(t)
            or pa.types.is_large_list(t)
            or pa.types.is_fixed_size_list(t)
            or pa.types.is_list_view(t)
            or pa.types.is_large_list_view(t)
        ):
            return pa.list_(field(t.value_field))
        return t

    return pyarrow_to_schema(pa.schema([field(f) for f in schema]))


def arrow_schema(schema: Schema) -> pa.Schema:
    """An Iceberg schema as a plain Arrow schema (no field ids, no large types)."""
    import pyarrow as pa
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    def plain(t: pa.DataType) -> pa.DataType:
        if pa.types.is_large_string(t):
            return pa.string()
        if pa.types.is_large_binary(t):
            return pa.binary()
        if pa.types.is_large_list(t) or pa.types.is_list(t):
            return pa.list_(strip(t.value_field))
        if pa.types.is_struct(t):
            return pa.struct([strip(t.field(i)) for i in range(t.num_fields)])
        if pa.types.is_map(t):
            return pa.map_(strip(t.key_field), strip(t.item_field))
        return t

    def strip(f: pa.Field) -> pa.Field:
        return pa.field(f.name, plain(f.type), nullable=f.nullable)

    return pa.schema([strip(f) for f in schema_to_pyarrow(schema, include_field_ids=False)])


def same_type(a: IcebergType, b: IcebergType) -> bool:
    """Equal types, ignoring the field ids inside nested types."""
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    if a.is_primitive or b.is_primitive:
        return a == b
    return bool(
        schema_to_pyarrow(a, include_field_ids=False)
        == schema_to_pyarrow(b, include_field_ids=False)
    )


def type_problems(table: Schema, new: pa.Schema) -> list[str]:
    """Why files with the Arrow schema ``new`` cannot be added to a table with schema ``table``
    (empty: they can — same types, or promotions Iceberg reads, like int into long)."""
    from pyiceberg.exceptions import ResolveError
    from pyiceberg.schema import promote

    problems = []
    for f in iceberg_schema(new).fields:
        try:
            target = table.find_field(f.name)
        except ValueError:
            problems.append(f"`{f.name}` is not a column of the table")
            continue
        if same_type(f.field_type, target.field_type):
            continue
        if f.field_type.is_primitive and target.field_type.is_primitive:
            try:
                promote(f.field_type, target.field_type)
                continue
            except ResolveError:
                pass
        problems.append(
            f"`{f.name}` is {target.field_type} in the table, {f.field_type} in the new files"
        )
    return problems


def evolve_schema(txn: Transaction, new: Schema) -> bool:
    """Make the table's schema ``new`` in ``txn``; whether it changed.

    Field ids are kept by name, as Iceberg's replace-table does: a primitive column whose type
    changed is updated in place (allowed although incompatible: the rebuild removes every file
    written with the old type, and older snapshots keep their own schema); a nested column whose
    type changed is dropped and added again with fresh ids; columns are added and dropped, made
    nullable (DuckDB's files may hold nulls anywhere), and put in the new order."""
    current = txn.table_metadata.schema()
    old = {f.name: f for f in current.fields}
    names = [f.name for f in new.fields]
    retyped = {
        f.name
        for f in new.fields
        if f.name in old and not same_type(old[f.name].field_type, f.field_type)
    }
    nested = {
        n
        for n in retyped
        if not (old[n].field_type.is_primitive and new.find_field(n).field_type.is_primitive)
    }
    required = [f.name for f in current.fields if f.required and f.name in names]
    dropped = [f.name for f in current.fields if f.name not in names]
    if not (retyped or required or dropped or names != [f.name for f in current.fields]):
        return False
    if dropped or nested:
        with txn.update_schema(allow_incompatible_changes=True) as update:
            for name in dropped + sorted(nested):
                update.delete_column(name)
    with txn.update_schema(allow_incompatible_changes=True) as update:
        for f in new.fields:
            if f.name not in old or f.name in nested:
                update.add_column(f.name, f.field_type)
            elif f.name in retyped:
                update.update_column(f.name, field_type=f.field_type)
        for name in required:
            update.update_column(name, required=False)
    if [f.name for f in txn.table_metadata.schema().fields] != names:
        with txn.update_schema(allow_incompatible_changes=True) as update:
            update.move_first(names[0])
            for before, name in itertools.pairwise(names):
                update.move_after(name, before)
    return True


def versions(metadata: TableMetadata) -> dict[int, int]:
    """Snapshot id -> headwater version: the sequence number (format 2+), else the position in
    time order (format 1 has no sequence numbers)."""
    snaps = metadata.snapshots
    if metadata.format_version >= 2:
        return {s.snapshot_id: int(s.sequence_number or 0) for s in snaps}
    ordered = sorted(snaps, key=lambda s: (s.timestamp_ms, s.snapshot_id))
    return {s.snapshot_id: i for i, s in enumerate(ordered, start=1)}


def is_identity(field: Any) -> bool:
    from pyiceberg.transforms import IdentityTransform

    return isinstance(field.transform, IdentityTransform)


def identity_columns(spec: PartitionSpec, schema: Schema) -> tuple[str, ...]:
    """The columns of a spec's identity partitions (other transforms are not columns)."""
    out = []
    for field in spec.fields:
        if is_identity(field):
            try:
                name = schema.find_column_name(field.source_id)
            except ValueError:
                name = None
            if name:
                out.append(name)
    return tuple(out)


def python_value(value: Any, source: IcebergType) -> Any:
    """A partition value from Iceberg's internal form (days, microseconds) to Python's."""
    from pyiceberg.types import DateType, TimestampType, TimestamptzType, TimeType
    from pyiceberg.utils.datetime import (
        days_to_date,
        micros_to_time,
        micros_to_timestamp,
        micros_to_timestamptz,
    )

    if value is None or not isinstance(value, int) or isinstance(value, bool):
        return value
    if isinstance(source, DateType):
        return days_to_date(value)
    if isinstance(source, TimestamptzType):
        return micros_to_timestamptz(value)
    if isinstance(source, TimestampType):
        return micros_to_timestamp(value)
    if isinstance(source, TimeType):
        return micros_to_time(value)
    return value


def same_value(a: str | None, b: str | None) -> bool:
    """Two partition texts that name the same value: DuckDB's (``1.5``, ``10:00:00.5``,
    ``…+00``) and the one from Iceberg's typed value (``1.50``, ``10:00:00.500000``, ``…+00:00``)."""
    if a is None or b is None:
        return a is b
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(a) == dt.datetime.fromisoformat(b)
    except ValueError:
        pass
    try:
        return dt.time.fromisoformat(a) == dt.time.fromisoformat(b)
    except ValueError:
        return False
