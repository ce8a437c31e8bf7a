"""JSON records to Arrow for the `http` connector, with one schema for the whole run: types are
inferred from the values, widened when a later page disagrees (int -> double, anything mixed ->
JSON text), and a column seen only as null, ``[]`` or ``{}`` waits for its first value (as dlt
does)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

Scalar = str
"""A scalar kind: one of `_NULL`, `_BOOL`, `_INT`, `_FLOAT`, `_STR`."""
_NULL, _BOOL, _INT, _FLOAT, _STR = "null", "bool", "int", "float", "str"
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class ListOf:
    """A JSON array whose elements are of ``element``."""

    element: Kind


@dataclass(frozen=True)
class StructOf:
    """A JSON object with these fields, in the order they were first seen."""

    fields: tuple[tuple[str, Kind], ...]


Kind = Scalar | ListOf | StructOf
"""What the values of a column have been so far."""


def _infer(value: Any) -> Kind:
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return _INT if _INT_MIN <= value <= _INT_MAX else _STR
    if isinstance(value, float):
        return _FLOAT
    if isinstance(value, str):
        return _STR
    if isinstance(value, list):
        element: Kind = _NULL
        for item in value:
            element = _unify(element, _infer(item))
        return ListOf(element)
    if isinstance(value, dict):
        return StructOf(tuple((str(k), _infer(v)) for k, v in value.items()))
    return _STR


def _unify(a: Kind, b: Kind) -> Kind:
    if a == b:
        return a
    if a == _NULL:
        return b
    if b == _NULL:
        return a
    if {a, b} == {_INT, _FLOAT}:
        return _FLOAT
    if isinstance(a, ListOf) and isinstance(b, ListOf):
        return ListOf(_unify(a.element, b.element))
    if isinstance(a, StructOf) and isinstance(b, StructOf):
        fields = dict(a.fields)
        for name, kind in b.fields:
            fields[name] = _unify(fields[name], kind) if name in fields else kind
        return StructOf(tuple(fields.items()))
    return _STR


def _arrow_type(kind: Kind) -> pa.DataType:
    import pyarrow as pa

    if isinstance(kind, ListOf):
        return pa.list_(_arrow_type(kind.element))
    if isinstance(kind, StructOf):
        return pa.struct([pa.field(name, _arrow_type(k)) for name, k in kind.fields])
    if kind == _NULL:
        return pa.null()
    if kind == _BOOL:
        return pa.bool_()
    if kind == _INT:
        return pa.int64()
    if kind == _FLOAT:
        return pa.float64()
    return pa.string()


def _concrete(kind: Kind) -> Kind | None:
    """``kind`` without the parts only ever seen as null (or ``[]`` / ``{}``), or None if nothing
    is left: DuckDB would make such a column of type "NULL", which no later value fits."""
    if kind == _NULL:
        return None
    if isinstance(kind, ListOf):
        inner = _concrete(kind.element)
        return None if inner is None else ListOf(inner)
    if isinstance(kind, StructOf):
        fields = tuple((name, c) for name, k in kind.fields if (c := _concrete(k)) is not None)
        return StructOf(fields) if fields else None
    return kind


def _has_text(kind: Kind) -> bool:
    if isinstance(kind, ListOf):
        return _has_text(kind.element)
    if isinstance(kind, StructOf):
        return any(_has_text(k) for _, k in kind.fields)
    return kind == _STR


def _coerce(value: Any, kind: Kind) -> Any:
    """``value`` shaped for the Arrow type of ``kind`` (mixed values become JSON text)."""
    if value is None:
        return None
    if kind == _STR:
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(kind, ListOf):
        return [_coerce(v, kind.element) for v in value]
    if isinstance(kind, StructOf):
        return {name: _coerce(value.get(name), k) for name, k in kind.fields}
    return value


def _flatten(
    record: Mapping[str, Any], prefix: str = "", out: dict[str, Any] | None = None
) -> dict[str, Any]:
    out = {} if out is None else out
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            _flatten(value, name + "__", out)
        elif isinstance(value, dict):
            out[name] = None
        else:
            out[name] = value
    return out


class TableBuilder:
    """Builds Arrow tables from JSON objects, keeping one growing schema across batches.

    A column (or struct field) seen only as null, ``[]`` or ``{}`` so far is left out until a value
    gives it a type (as dlt does); from then on it is in every batch."""

    def __init__(self, flatten: bool) -> None:
        self.flatten = flatten
        self.columns: dict[str, Kind] = {}

    def build(self, records: list[dict[str, Any]]) -> pa.Table:
        import pyarrow as pa

        rows = [_flatten(r) for r in records] if self.flatten else records
        columns = self.columns
        for row in rows:
            for key, value in row.items():
                kind = _infer(value)
                old = columns.get(key)
                if old is None:
                    columns[key] = kind
                elif old != kind:
                    columns[key] = _unify(old, kind)
        arrays, fields = [], []
        for name, seen in columns.items():
            concrete = _concrete(seen)
            if concrete is None:
                continue  # only nulls so far: the column appears with its first value
            values = [row.get(name) for row in rows]
            if _has_text(concrete):
                values = [_coerce(v, concrete) for v in values]
            arrow_type = _arrow_type(concrete)
            arrays.append(pa.array(values, type=arrow_type))
            fields.append(pa.field(name, arrow_type))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
