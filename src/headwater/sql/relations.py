"""The relation and column objects templates see: what `ref()`, `source()`, `this`,
`api.Relation.create()` and `adapter.get_columns_in_relation()` return.

They follow dbt's `BaseRelation` and `Column` closely enough for packages that inspect them:
a relation is a mapping (`dbt_utils._is_relation` tests `obj is mapping` and
`obj.get('metadata').type`), renders as its quoted name, and has `database`, `schema`,
`identifier`, `type`, `include()`, `incorporate()`, `render()`, `is_table`/`is_view`/`is_cte`.

At parse time a relation's name may not be final (a model's `config(alias=...)` is read while
rendering), so `ref()` relations carry a placeholder text that the compiler replaces once every
node's config is known; their `schema`/`identifier` attributes are the best-known names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from headwater.engines.base import quote_identifier


class DbtRelation(Mapping[str, Any]):
    """A relation as dbt templates know it."""

    def __init__(
        self,
        database: str | None,
        schema: str | None,
        identifier: str | None,
        type: str | None = None,
        *,
        text: str | None = None,
        include_policy: dict[str, bool] | None = None,
        adapter_type: str = "duckdb",
    ) -> None:
        self.database = database
        self.schema = schema
        self.identifier = identifier
        self.type = type
        # dbt-duckdb renders `"database"."schema"."identifier"` (its `_dbt_source_relation` values
        # and similar strings carry it), so the database is included when known
        self.include_policy = include_policy or {
            "database": database is not None,
            "schema": True,
            "identifier": True,
        }
        self.quote_policy = {"database": True, "schema": True, "identifier": True}
        self._text = text
        self._adapter_type = adapter_type

    # -- dbt's API ---------------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self.identifier

    @property
    def table(self) -> str | None:
        return self.identifier

    @property
    def metadata(self) -> dict[str, str]:
        return {"type": f"{self._adapter_type.capitalize()}Relation"}

    @property
    def is_table(self) -> bool:
        return self.type == "table"

    @property
    def is_view(self) -> bool:
        return self.type == "view"

    @property
    def is_materialized_view(self) -> bool:
        return self.type == "materialized_view"

    @property
    def is_cte(self) -> bool:
        return self.type == "cte"

    @property
    def path(self) -> dict[str, str | None]:
        return {"database": self.database, "schema": self.schema, "identifier": self.identifier}

    def include(
        self,
        database: bool | None = None,
        schema: bool | None = None,
        identifier: bool | None = None,
    ) -> DbtRelation:
        policy = dict(self.include_policy)
        for key, value in (("database", database), ("schema", schema), ("identifier", identifier)):
            if value is not None:
                policy[key] = bool(value)
        # a placeholder stands for schema + identifier; another part list renders the known names
        text = self._text if policy == self.include_policy else None
        return self._copy(include_policy=policy, text=text)

    def incorporate(
        self, path: dict[str, Any] | None = None, type: str | None = None, **_: Any
    ) -> DbtRelation:
        path = path or {}
        return self._copy(
            database=path.get("database", self.database),
            schema=path.get("schema", self.schema),
            identifier=path.get("identifier", self.identifier),
            type=type or self.type,
            text=self._text if not path else None,
        )

    def quote(
        self,
        database: bool | None = None,
        schema: bool | None = None,
        identifier: bool | None = None,
    ) -> DbtRelation:
        copy = self._copy()
        for key, value in (("database", database), ("schema", schema), ("identifier", identifier)):
            if value is not None:
                copy.quote_policy[key] = bool(value)
        return copy

    def render(self) -> str:
        if self._text is not None:
            return self._text
        parts = []
        for key in ("database", "schema", "identifier"):
            value = getattr(self, key)
            if value and self.include_policy.get(key, True):
                parts.append(
                    quote_identifier(str(value)) if self.quote_policy.get(key, True) else str(value)
                )
        return ".".join(parts)

    def render_pretty(self) -> str:
        return self.render()

    def _copy(self, **changes: Any) -> DbtRelation:
        values: dict[str, Any] = {
            "database": self.database, "schema": self.schema, "identifier": self.identifier,
            "type": self.type, "text": self._text, "include_policy": dict(self.include_policy),
        }  # fmt: skip
        values.update(changes)
        copy = DbtRelation(adapter_type=self._adapter_type, **values)
        copy.quote_policy = dict(self.quote_policy)
        return copy

    # -- str-like ------------------------------------------------------------------------------
    def __str__(self) -> str:
        return self.render()

    def __html__(self) -> str:
        return self.render()

    def __add__(self, other: Any) -> str:
        return self.render() + str(other)

    def __radd__(self, other: Any) -> str:
        return str(other) + self.render()

    def __getattr__(self, name: str) -> Any:
        # string methods (`ref('x').upper()`, `.replace(...)`) on the rendered name, as on dbt's
        # relations, which templates often treat as strings
        if not name.startswith("_") and hasattr(str, name):
            return getattr(self.render(), name)
        raise AttributeError(name)

    # -- mapping -------------------------------------------------------------------------------
    _KEYS = (
        "database",
        "schema",
        "identifier",
        "type",
        "metadata",
        "path",
        "include_policy",
        "quote_policy",
    )

    def __getitem__(self, key: str) -> Any:
        if key in self._KEYS:
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DbtRelation):
            return self.render() == other.render()
        if isinstance(other, str):
            return self.render() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.render())

    def __repr__(self) -> str:
        return f"<{self.metadata['type']} {self.render()}>"

    # -- api.Relation ----------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        database: str | None = None,
        schema: str | None = None,
        identifier: str | None = None,
        type: str | None = None,
        **_: Any,
    ) -> DbtRelation:
        return cls(database, schema, identifier, type)


_STRING_TYPES = ("varchar", "text", "char", "character", "string", "character varying", "bpchar")
_INTEGER_TYPES = ("integer", "int", "bigint", "smallint", "tinyint", "hugeint", "int2", "int4", "int8",
                  "ubigint", "uinteger", "usmallint", "utinyint", "uhugeint", "serial", "bigserial")  # fmt: skip
_FLOAT_TYPES = ("double", "float", "real", "float4", "float8", "double precision")
_SIZE_RE = re.compile(r"^\s*([A-Za-z ]+?)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)\s*$")


class DbtColumn:
    """A column as dbt templates know it (`api.Column`)."""

    def __init__(
        self,
        column: str,
        dtype: str,
        char_size: int | None = None,
        numeric_precision: int | None = None,
        numeric_scale: int | None = None,
    ) -> None:
        self.column = column
        self.dtype = dtype
        self.char_size = char_size
        self.numeric_precision = numeric_precision
        self.numeric_scale = numeric_scale
        match = _SIZE_RE.match(dtype)
        if match and numeric_precision is None and char_size is None:
            base = match.group(1).lower()
            if base in ("decimal", "numeric"):
                self.numeric_precision = int(match.group(2))
                self.numeric_scale = int(match.group(3) or 0)
            elif base in _STRING_TYPES:
                self.char_size = int(match.group(2))

    @property
    def name(self) -> str:
        return self.column

    @property
    def quoted(self) -> str:
        return quote_identifier(self.column)

    @property
    def data_type(self) -> str:
        if self.is_string() and self.char_size:
            return f"{self.dtype.split('(')[0]}({self.char_size})"
        return self.dtype

    def _base(self) -> str:
        return self.dtype.split("(")[0].strip().lower()

    def is_string(self) -> bool:
        return self._base() in _STRING_TYPES

    def is_integer(self) -> bool:
        return self._base() in _INTEGER_TYPES

    def is_float(self) -> bool:
        return self._base() in _FLOAT_TYPES

    def is_numeric(self) -> bool:
        return self._base() in ("decimal", "numeric")

    def is_number(self) -> bool:
        return self.is_integer() or self.is_float() or self.is_numeric()

    def string_size(self) -> int:
        return self.char_size or 256

    def can_expand_to(self, other: DbtColumn) -> bool:
        return self.is_string() and other.is_string() and self.string_size() < other.string_size()

    @classmethod
    def string_type(cls, size: int) -> str:
        return f"character varying({size})"

    @classmethod
    def numeric_type(cls, dtype: str, precision: Any, scale: Any) -> str:
        return dtype if precision is None or scale is None else f"{dtype}({precision},{scale})"

    @classmethod
    def create(cls, name: str, label_or_dtype: str) -> DbtColumn:
        return cls(name, label_or_dtype)

    def __repr__(self) -> str:
        return f"<Column {self.column} ({self.data_type})>"

    def __str__(self) -> str:
        return self.column


_PG_SIZED = re.compile(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")
_PG_CHAR_SIZED = ("character varying", "character", "bit", "bit varying")
_PG_INTEGER_PRECISION = {"smallint": 16, "integer": 32, "bigint": 64}
_PG_FLOAT_PRECISION = {"real": 24, "double precision": 53}


class PostgresColumn(DbtColumn):
    """A column as dbt-postgres gives it: `dtype` is `information_schema.columns.data_type`
    (`character varying`, `numeric`, `timestamp without time zone`), the size apart in
    `char_size` / `numeric_precision` / `numeric_scale`, and `data_type` is dbt-postgres's
    rendering of them (`character varying(20)`, `numeric(10,2)`, `text`; an unsized
    `character varying` stays unsized; dbt renders a sized `character(5)` as
    `character varying(5)`, and so does this).

    Where headwater gives more than dbt-postgres: arrays keep PostgreSQL's own name
    (`integer[]`, where dbt says `ARRAY`), and so do enums and domains (dbt: `USER-DEFINED`), so
    `data_type` can be used in a cast or a CREATE TABLE.
    """

    @classmethod
    def from_catalog(cls, name: str, type_name: str) -> PostgresColumn:
        """The column of ``type_name`` as `format_type` spells it (`character varying(20)`)."""
        text = type_name.strip()
        if text.endswith("]"):
            return cls(name, text)
        sizes = _PG_SIZED.search(text)
        base = " ".join(_PG_SIZED.sub("", text).split())
        if base.startswith("interval"):
            base = "interval"  # `interval day to second(2)`: the fields are not in dbt's data_type
        lower = base.lower()
        if sizes is None:
            if lower in _PG_INTEGER_PRECISION:
                return cls(
                    name, base, numeric_precision=_PG_INTEGER_PRECISION[lower], numeric_scale=0
                )
            if lower in _PG_FLOAT_PRECISION:
                return cls(name, base, numeric_precision=_PG_FLOAT_PRECISION[lower])
            return cls(name, base)
        if lower in _PG_CHAR_SIZED:
            return cls(name, base, char_size=int(sizes.group(1)))
        if lower in ("numeric", "decimal"):
            return cls(
                name,
                base,
                numeric_precision=int(sizes.group(1)),
                numeric_scale=int(sizes.group(2) or 0),
            )
        return cls(name, base)  # a time precision: `timestamp(3) without time zone`

    def is_string(self) -> bool:
        return self._base() in ("text", "character varying", "character", "varchar")

    @property
    def data_type(self) -> str:
        base = self._base()
        if base == "text" or (base == "character varying" and self.char_size is None):
            return self.dtype
        if self.is_string():
            return self.string_type(self.string_size())
        if self.is_numeric():
            return self.numeric_type(self.dtype, self.numeric_precision, self.numeric_scale)
        return self.dtype


def column_for(adapter_type: str, name: str, type_name: str) -> DbtColumn:
    """The `api.Column` of a column the engine's catalog describes, in the adapter's conventions."""
    if adapter_type == "postgres":
        return PostgresColumn.from_catalog(name, type_name)
    return DbtColumn(name, type_name)


class Api:
    """dbt's `api` namespace: `api.Relation.create(...)`, `api.Column(...)`."""

    Relation = DbtRelation
    Column = DbtColumn


__all__ = ["Api", "DbtColumn", "DbtRelation", "PostgresColumn", "column_for"]
