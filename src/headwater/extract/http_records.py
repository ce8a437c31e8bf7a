"""JSON records to Arrow for the `http` connector, with one schema for the whole run: types are
inferred from the values, widened when a later page disagrees, and a column seen only as null,
``[]`` or ``{}`` waits for its first value (as dlt does)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

_MISSING = object()


_NULL, _BOOL, _INT, _FLOAT, _STR = "null", "bool", "int", "float", "str"
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _infer(value: Any) -> Any:
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
        element: Any = _NULL
        for item in value:
            element = _unify(element, _infer(item))
        return ("list", element)
    if isinstance(value, dict):
        return ("struct", tuple((str(k), _infer(v)) for k, v in value.items()))
    return _STR


def _unify(a: Any, b: Any) -> Any:
    if a == b:
        return a
    if a == _NULL:
        return b
    if b == _NULL:
        return a
    if {a, b} == {_INT, _FLOAT}:
        return _FLOAT
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
        if a[0] == "list":
            return ("list", _unify(a[1], b[1]))
        fields = dict(a[1])
        for name, kind in b[1]:
            fields[name] = _unify(fields[name], kind) if name in fields else kind
        return ("struct", tuple(fields.items()))
    return _STR


def _arrow_type(kind: Any) -> pa.DataType:
    import pyarrow as pa

    if kind == _NULL:
        return pa.null()
    if kind == _BOOL:
        return pa.bool_()
    if kind == _INT:
        return pa.int64()
    if kind == _FLOAT:
        return pa.float64()
    if kind == _STR:
        return pa.string()
    if kind[0] == "list":
        return pa.list_(_arrow_type(kind[1]))
    return pa.struct([pa.field(name, _arrow_type(k)) for name, k in kind[1]])


def _concrete(kind: Any) -> Any:
    """``kind`` without the parts only ever seen as null (or ``[]`` / ``{}``), or None if nothing
    is left: DuckDB would make such a column of type "NULL", which no later value fits."""
    if kind == _NULL:
        return None
    if isinstance(kind, tuple):
        if kind[0] == "list":
            inner = _concrete(kind[1])
            return None if inner is None else ("list", inner)
        fields = tuple((name, c) for name, k in kind[1] if (c := _concrete(k)) is not None)
        return ("struct", fields) if fields else None
    return kind


def _has_text(kind: Any) -> bool:
    if kind == _STR:
        return True
    if isinstance(kind, tuple):
        if kind[0] == "list":
            return _has_text(kind[1])
        return any(_has_text(k) for _, k in kind[1])
    return False


def _coerce(value: Any, kind: Any) -> Any:
    """``value`` shaped for the Arrow type of ``kind`` (mixed values become JSON text)."""
    if value is None:
        return None
    if kind == _STR:
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(kind, tuple):
        if kind[0] == "list":
            return [_coerce(v, kind[1]) for v in value]
        return {name: _coerce(value.get(name), k) for name, k in kind[1]}
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
        self.columns: dict[str, Any] = {}

    def build(self, records: list[dict[str, Any]]) -> pa.Table:
        import pyarrow as pa

        rows = [_flatten(r) for r in records] if self.flatten else records
        columns = self.columns
        for row in rows:
            for key, value in row.items():
                kind = _infer(value)
                old = columns.get(key, _MISSING)
                if old is _MISSING:
                    columns[key] = kind
                elif old != kind:
                    columns[key] = _unify(old, kind)
        arrays, fields = [], []
        for name, seen in columns.items():
            kind = _concrete(seen)
            if kind is None:
                continue  # only nulls so far: the column appears with its first value
            values = [row.get(name) for row in rows]
            if _has_text(kind):
                values = [_coerce(v, kind) for v in values]
            arrow_type = _arrow_type(kind)
            arrays.append(pa.array(values, type=arrow_type))
            fields.append(pa.field(name, arrow_type))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
