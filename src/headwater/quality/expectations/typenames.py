"""Type names users write in expectations (GX, numpy/pandas, Python, SQL) mapped to DuckDB types.

GX users copy suites between pandas, Spark and SQL back ends, so ``int64``, ``INTEGER`` and
``int`` all have to mean something for a DuckDB column. A name maps to the set of DuckDB base
types it accepts: exact SQL names (``BIGINT``) accept that type only, family names (``int``,
``float``, ``str``) accept the whole family, numpy names (``int32``) the type of that width.

PostgreSQL columns are typed by `format_type` (``integer``, ``character varying(20)``,
``numeric(10,2)``, ``timestamp without time zone``): `base_type` reads those as the DuckDB base
type of the same meaning, so every check works on both engines, and PostgreSQL's own names and
aliases (``int4``, ``float8``, ``varchar``, ``jsonb``, ``timestamptz``) are accepted names. One
name means two things: ``int8`` is numpy's 8-bit integer, and PostgreSQL's bigint; it takes the
engine's meaning (`accepted_types` with ``engine="postgres"``).
"""

from __future__ import annotations

import re

INTEGER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
     "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)  # fmt: skip
FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE"})
NUMERIC_TYPES = INTEGER_TYPES | FLOAT_TYPES | {"DECIMAL"}
TEXT_TYPES = frozenset({"VARCHAR", "JSON", "ENUM"})
TIMESTAMP_TYPES = frozenset({"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"})
TEMPORAL_TYPES = TIMESTAMP_TYPES | {
    "TIMESTAMP WITH TIME ZONE",
    "DATE",
    "TIME",
    "TIME WITH TIME ZONE",
}

_ALIASES: dict[str, frozenset[str]] = {}


def _add(types: set[str] | frozenset[str], *names: str) -> None:
    for name in names:
        _ALIASES[name.lower()] = frozenset(types)


_add(INTEGER_TYPES, "int", "long", "int_", "IntegerType")
_add({"BIGINT"}, "int64", "bigint", "LongType", "BigInteger")
_add({"INTEGER"}, "int32", "integer", "int4")
_add({"SMALLINT"}, "int16", "smallint", "int2", "SmallInteger", "ShortType")
_add({"TINYINT"}, "int8", "tinyint", "ByteType")
_add({"HUGEINT"}, "hugeint", "int128")
_add({"UBIGINT"}, "uint64", "ubigint")
_add({"UINTEGER"}, "uint32", "uinteger")
_add({"USMALLINT"}, "uint16", "usmallint")
_add({"UTINYINT"}, "uint8", "utinyint")
_add({"UHUGEINT"}, "uhugeint")
_add(FLOAT_TYPES, "float", "floating", "float_")
_add({"DOUBLE"}, "float64", "double", "double precision", "float8", "DoubleType")
_add({"FLOAT"}, "float32", "real", "float4", "FloatType")
_add({"DECIMAL"}, "decimal", "numeric", "DecimalType")
_add(NUMERIC_TYPES, "number")
_add(
    {"VARCHAR", "ENUM"},
    "str",
    "string",
    "object",
    "text",
    "varchar",
    "char",
    "bpchar",
    "StringType",
    "StringDtype",
    "unicode",
    "category",
)
_add({"BOOLEAN"}, "bool", "boolean", "bool_", "BooleanType", "logical")
_add(
    TIMESTAMP_TYPES,
    "timestamp",
    "datetime",
    "datetime64",
    "datetime64[ns]",
    "datetime64[us]",
    "datetime64[ms]",
    "datetime64[s]",
    "TimestampType",
    "TimestampNTZType",
    "timestamp without time zone",
)
_add(
    {"TIMESTAMP WITH TIME ZONE"},
    "timestamptz",
    "timestamp with time zone",
    "datetime64[ns, utc]",
    "datetime64[us, utc]",
    "DatetimeTZDtype",
)
_add({"TIMESTAMP_NS"}, "timestamp_ns")
_add({"TIMESTAMP_MS"}, "timestamp_ms")
_add({"TIMESTAMP_S"}, "timestamp_s")
_add({"DATE"}, "date", "DateType", "datetime.date")
_add({"TIME"}, "time", "datetime.time")
_add({"TIME WITH TIME ZONE"}, "timetz", "time with time zone")
_add({"INTERVAL"}, "interval", "timedelta", "timedelta64", "timedelta64[ns]")
_add({"BLOB"}, "blob", "bytes", "bytea", "binary", "varbinary", "BinaryType")
_add({"UUID"}, "uuid")
_add({"JSON"}, "json")
_add({"LIST"}, "list", "array", "ArrayType")
_add({"STRUCT"}, "struct", "StructType", "dict")
_add({"MAP"}, "map", "MapType")
_add({"BIT"}, "bit", "bitstring", "bit varying", "varbit")
# PostgreSQL's own names and aliases
_add({"VARCHAR"}, "character varying", "character", "name", "citext")
_add({"JSON"}, "jsonb")
_add({"INTEGER"}, "serial", "serial4")
_add({"BIGINT"}, "bigserial", "serial8")
_add({"SMALLINT"}, "smallserial", "serial2")
_add({"TIME"}, "time without time zone")

_ENGINE_ALIASES: dict[str, dict[str, frozenset[str]]] = {
    "postgres": {"int8": frozenset({"BIGINT"})}
}
"""Names whose meaning on an engine differs from numpy's: PostgreSQL's int8 is a bigint."""

# PostgreSQL's `format_type` names -> the DuckDB base type of the same meaning
_PG_BASES = {
    "CHARACTER VARYING": "VARCHAR", "CHARACTER": "VARCHAR", "TEXT": "VARCHAR", "BPCHAR": "VARCHAR",
    "NAME": "VARCHAR", "CITEXT": "VARCHAR", '"CHAR"': "VARCHAR", "NUMERIC": "DECIMAL",
    "DOUBLE PRECISION": "DOUBLE", "REAL": "FLOAT", "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
    "TIME WITHOUT TIME ZONE": "TIME", "JSONB": "JSON", "BYTEA": "BLOB", "BIT VARYING": "BIT",
}  # fmt: skip
_PG_PARAMS_RE = re.compile(r"\s*\(\s*\d+(?:\s*,\s*-?\d+)?\s*\)")

_PARAMS_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_ \[\],]*?)\s*\((.*)\)\s*$")


def known_type_names() -> list[str]:
    """Every accepted (lower-case) type name, for did-you-mean suggestions."""
    return sorted(_ALIASES)


def base_type(duckdb_type: str) -> str:
    """The base name of a DuckDB type string: ``DECIMAL(18,3)`` → ``DECIMAL``, ``INT[]`` → ``LIST``;
    a PostgreSQL type name gives the DuckDB base of the same meaning (``character varying(20)``
    → ``VARCHAR``, ``timestamp(3) with time zone`` → ``TIMESTAMP WITH TIME ZONE``)."""
    text = duckdb_type.strip().upper()
    if text.endswith("]"):
        return "LIST"
    for prefix in ("STRUCT", "MAP", "UNION", "ENUM", "DECIMAL"):
        if text.startswith(prefix + "(") or text == prefix:
            return prefix
    if text in _PG_BASES:
        return _PG_BASES[text]
    if (
        "(" in text
    ):  # PostgreSQL's modifiers: numeric(10,2), character varying(20), timestamp(3) ...
        bare = _PG_PARAMS_RE.sub("", text)
        return _PG_BASES.get(bare, bare)
    return text


_PARAMETERIZED = (
    "decimal",
    "numeric",
    "varchar",
    "char",
    "character varying",
    "character",
    "bit",
    "bit varying",
)


def accepted_types(name: str, engine: str = "duckdb") -> frozenset[str] | None:
    """DuckDB base types that the user's type name accepts; None when the name is unknown.

    Parameterized names (``DECIMAL(10,2)``) accept their base type; the exact parameters are
    compared by `type_matches`. ``engine`` gives a name the meaning it has there (`int8`).
    """
    key = name.strip()
    match = _PARAMS_RE.match(key)
    if match and match.group(1).strip().lower() in _PARAMETERIZED:
        key = match.group(1)
    key = key.lower()
    return _ENGINE_ALIASES.get(engine, {}).get(key) or _ALIASES.get(key)


def type_matches(name: str, duckdb_type: str, engine: str = "duckdb") -> bool:
    """True if a column of ``duckdb_type`` (or a PostgreSQL type name) is of the user's type
    ``name``, read with the meaning it has on ``engine``."""
    accepted = accepted_types(name, engine)
    if accepted is None:
        return False
    if base_type(duckdb_type) not in accepted:
        return False
    match = _PARAMS_RE.match(name.strip())
    if match and match.group(1).strip().lower() in ("decimal", "numeric"):
        wanted = re.sub(r"\s+", "", match.group(2))
        return duckdb_type.replace(" ", "").upper().endswith(f"({wanted})")
    return True


def is_numeric(duckdb_type: str) -> bool:
    return base_type(duckdb_type) in NUMERIC_TYPES


def is_text(duckdb_type: str) -> bool:
    return base_type(duckdb_type) in TEXT_TYPES
