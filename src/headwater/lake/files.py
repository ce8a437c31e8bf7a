"""Parquet files in and out of DuckDB for lake tables.

**Writing** (`write_files`): one ``COPY (SELECT …) TO folder`` with DuckDB's own Parquet writer
(parallel, zstd), hive-partitioned by the table's partition columns (``col=value/`` folders,
values URL-escaped, null as ``__HIVE_DEFAULT_PARTITION__``: the conventions Delta and Hive use),
rows sorted by ``sort_by`` inside each file so min/max statistics prune, files named
``part-<uuid>`` so a staged file never collides with a live one. ``RETURN_STATS`` gives each file's
row count, size, partition values and column statistics, which become the table's metadata (Delta
``add`` actions with ``numRecords``, ``minValues``, ``maxValues``, ``nullCount``). Values a format
cannot store are cast first (`TableCasts`: e.g. Delta has no unsigned integers, UUID or TIME).

**Reading** (`scan_sql`): a version is read as exactly its files, ``read_parquet([f1, f2, …])``,
never a glob of the folder (which would also read files that merges replaced, staged files and
files of rejected changes). Partition columns that live only in the paths (Delta) come from the
hive folders with their types given (``hive_types``); when a file's folder does not say its
partition value (a table written with random prefixes), the files are read per partition with the
value as a typed constant. Columns come in the table's order. A version without files is a typed
``SELECT … WHERE false``.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from headwater.engines.base import Engine, quote_identifier, quote_literal
from headwater.lake.table import DataFile, Snapshot

if TYPE_CHECKING:
    import pyarrow as pa

TARGET_FILE_BYTES = "256MB"
"""Size at which DuckDB starts a new file of an unpartitioned write."""

DELTA_CASTS: dict[str, str] = {
    "UTINYINT": "SMALLINT",
    "USMALLINT": "INTEGER",
    "UINTEGER": "BIGINT",
    "UBIGINT": "DECIMAL(20, 0)",
    "HUGEINT": "DECIMAL(38, 0)",
    "UHUGEINT": "DECIMAL(38, 0)",
    "UUID": "VARCHAR",
    "JSON": "VARCHAR",
    "INTERVAL": "VARCHAR",
    "TIME": "VARCHAR",
    "TIME WITH TIME ZONE": "VARCHAR",
    "BIT": "VARCHAR",
    "BIGNUM": "VARCHAR",
    "VARINT": "VARCHAR",
    "TIMESTAMP_NS": "TIMESTAMP",
    "TIMESTAMP_MS": "TIMESTAMP",
    "TIMESTAMP_S": "TIMESTAMP",
}
"""DuckDB types Delta cannot store, and what they are written as."""


def casted_select(engine: Engine, sql: str, casts: Mapping[str, str]) -> str:
    """``sql`` with the columns whose type a format cannot store cast to one it can (ENUM
    columns as text)."""
    columns = engine.query_columns(sql)
    replaced = []
    for name, type_ in columns:
        upper = type_.upper()
        target = casts.get(upper) or ("VARCHAR" if upper.startswith("ENUM(") else None)
        if target is None and re.fullmatch(r".+\[\d+\]", type_):
            # DuckDB writes a fixed-size ARRAY with NULL rows as Parquet that pyarrow (and so
            # pyiceberg's and delta-rs's Arrow readers) cannot read; a variable-size list it can
            target = re.sub(r"\[\d+\]$", "[]", type_)
        if target:
            replaced.append(
                f"CAST({quote_identifier(name)} AS {target}) AS {quote_identifier(name)}"
            )
    if not replaced:
        return sql
    return f"SELECT * REPLACE ({', '.join(replaced)}) FROM (\n{sql}\n) AS hw_lake_source"


def write_files(
    engine: Engine,
    sql: str,
    folder: str,
    partition_by: Sequence[str] = (),
    sort_by: Sequence[str] = (),
    partitions_in_files: bool = False,
    relative_to: str | None = None,
    schema: pa.Schema | None = None,
) -> list[DataFile]:
    """Write the rows of ``sql`` as Parquet files under ``folder`` (a local, absolute path);
    the files, named relative to ``relative_to`` (None: by absolute path). ``schema``: the rows'
    Arrow schema, which says how each column's min/max go into the files' statistics (none
    without it)."""
    os.makedirs(folder, exist_ok=True)
    select = sql
    if sort_by:
        order = ", ".join(quote_identifier(c) for c in sort_by)
        select = f"SELECT * FROM (\n{sql}\n) AS hw_lake_sorted ORDER BY {order}"
    options = [
        "FORMAT parquet",
        "COMPRESSION zstd",
        f"FILENAME_PATTERN {quote_literal('part-{uuid}')}",
        "RETURN_STATS true",
        "OVERWRITE_OR_IGNORE true",
    ]
    if partition_by:
        options.append(f"PARTITION_BY ({', '.join(quote_identifier(c) for c in partition_by)})")
        options.append(f"WRITE_PARTITION_COLUMNS {'true' if partitions_in_files else 'false'}")
    else:
        options.append(f"FILE_SIZE_BYTES {quote_literal(TARGET_FILE_BYTES)}")
    rows = engine.execute(f"COPY (\n{select}\n) TO {quote_literal(folder)} ({', '.join(options)})")
    kinds = _stat_kinds(schema)
    out = []
    for filename, count, size, _footer, column_stats, partition_keys, *_ in rows:
        absolute = os.path.abspath(str(filename))
        path = (
            os.path.relpath(absolute, relative_to).replace(os.sep, "/")
            if relative_to is not None
            else absolute
        )
        partition = {
            str(k): (None if v is None else str(v)) for k, v in (partition_keys or {}).items()
        }
        out.append(
            DataFile(
                path=path,
                rows=int(count),
                size=int(size),
                partition=partition,
                stats=_delta_stats(int(count), column_stats or {}, kinds),
            )
        )
    return out


_EXACT_STATS = re.compile(r"^-?\d+(\.\d+)?$")


def _stat_kinds(schema: pa.Schema | None) -> dict[str, str]:
    """How each top-level column's bounds are written in Delta statistics: ``number``, ``bool``,
    ``text``, ``date``, ``timestamp`` (no time zone), ``timestamptz``, or ``nested`` (lists,
    structs and maps get none, as delta-rs writes them); a column not named has no known form."""
    if schema is None:
        return {}
    import pyarrow as pa

    t = pa.types
    kinds = (
        ("number", (t.is_integer, t.is_floating, t.is_decimal)),
        ("bool", (t.is_boolean,)),
        ("text", (t.is_string, t.is_large_string, t.is_string_view)),
        ("date", (t.is_date,)),
        ("nested", (t.is_list, t.is_large_list, t.is_struct, t.is_map, t.is_fixed_size_list)),
    )
    out = {}
    for f in schema:
        if t.is_timestamp(f.type):
            out[f.name] = "timestamptz" if f.type.tz else "timestamp"
            continue
        for kind, tests in kinds:
            if any(test(f.type) for test in tests):
                out[f.name] = kind
                break
    return out


_PART = re.compile(r'"((?:[^"]|"")*)"|([^."]+)')
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d(?::?\d\d)?)?$")


def _bound(kind: str | None, text: str) -> Any:
    """One DuckDB bound as Delta writes it (delta-rs's forms), or None when it has none."""
    if kind == "number":
        if not _EXACT_STATS.match(text):
            return None  # nan, inf
        return float(text) if "." in text else int(text)
    if kind == "bool":
        return {"0": False, "1": True, "false": False, "true": True}.get(text.lower())
    if kind == "text":
        return text
    if kind == "date":
        return text if _DATE.match(text) else None
    if kind in ("timestamp", "timestamptz"):
        match = _STAMP.match(text)
        if match is None:
            return None
        day, time, fraction, offset = match.groups()
        millis = ((fraction or ".")[1:] + "000")[:3]  # truncated: readers add 1 ms to a max
        if kind == "timestamp":
            return None if offset else f"{day} {time}.{millis}"
        import datetime as dt

        local = dt.datetime.fromisoformat(f"{day}T{time}.{millis}")
        digits = (offset or "+00")[1:].replace(":", "")
        shift = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        utc = local - shift if (offset or "+")[0] == "+" else local + shift
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return None


def _delta_stats(
    count: int, column_stats: Mapping[str, Mapping[str, str]], kinds: Mapping[str, str]
) -> str:
    """Delta's per-file statistics from DuckDB's: the row count, null counts, and the min/max of
    every top-level column in the form Delta readers expect (`_bound`). Bounds are written only
    when every column that can have them has exact ones: delta-rs's Arrow reader takes a missing
    bound as ``col >= null`` and skips the file for any filter on that column."""
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    complete = True
    for quoted, stats in column_stats.items():
        path = [a.replace('""', '"') if a else b for a, b in _PART.findall(quoted)]
        if len(path) != 1:
            continue  # a nested field: `"l"."element"`
        name = path[0]
        kind = kinds.get(name)
        if kind == "nested":
            continue
        null_count = None if stats.get("null_count") is None else int(stats["null_count"])
        if null_count is not None:
            nulls[name] = null_count
        if null_count == count:
            continue  # only nulls: no bounds needed
        low, high = stats.get("min"), stats.get("max")
        exact = stats.get("min_is_exact") == "true" and stats.get("max_is_exact") == "true"
        lo = None if low is None or not exact else _bound(kind, low)
        hi = None if high is None or not exact else _bound(kind, high)
        if lo is None or hi is None:
            complete = False
            continue
        mins[name], maxs[name] = lo, hi
    out: dict[str, Any] = {"numRecords": count, "nullCount": nulls}
    if mins and complete:
        out["minValues"], out["maxValues"] = mins, maxs
    return json.dumps(out)


def duck_types(schema: pa.Schema) -> dict[str, str]:
    """DuckDB's type of each column of an Arrow schema."""
    key = schema.serialize().to_pybytes()
    found = _TYPES.get(key)
    if found is None:
        found = _TYPES[key] = _duck_types(schema)
    return dict(found)


_TYPES: dict[bytes, dict[str, str]] = {}


def _duck_types(schema: pa.Schema) -> dict[str, str]:
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    try:  # from a reader: an Arrow table makes DuckDB import pandas (~0.3 s)
        rel = con.from_arrow(pa.RecordBatchReader.from_batches(schema, []))
        return {name: str(t) for name, t in zip(rel.columns, rel.types, strict=True)}
    finally:
        con.close()


def scan_sql(snapshot: Snapshot, paths: Sequence[str], filename: bool = False) -> str:
    """A SELECT of exactly the rows of ``snapshot``, whose files are at ``paths`` (local);
    ``filename``: with each row's file path as the last column, `hw_file`."""
    types = duck_types(snapshot.schema)
    columns = list(snapshot.schema.names)
    extra = ", filename AS hw_file" if filename else ""
    read_opts = ("filename = true",) if filename else ()
    if not snapshot.files:
        nulls = [f"CAST(NULL AS {types[c]}) AS {quote_identifier(c)}" for c in columns]
        if filename:
            nulls.append("CAST(NULL AS VARCHAR) AS hw_file")
        return f"SELECT {', '.join(nulls)} WHERE false"
    select = ", ".join(quote_identifier(c) for c in columns) + extra
    in_paths = [c for c in snapshot.partition_by if not snapshot.partitions_in_files]
    if not in_paths:
        return f"SELECT {select} FROM {_read(paths, *read_opts)}"
    if all(_path_says(f, in_paths) for f in snapshot.files):
        hive = ", ".join(f"{quote_literal(c)}: {quote_literal(types[c])}" for c in in_paths)
        options = ("hive_partitioning = true", f"hive_types = {{{hive}}}", *read_opts)
        return f"SELECT {select} FROM {_read(paths, *options)}"
    groups: dict[tuple[str | None, ...], list[str]] = {}
    for f, path in zip(snapshot.files, paths, strict=True):
        groups.setdefault(tuple(f.partition.get(c) for c in in_paths), []).append(path)
    parts = []
    for values, group in groups.items():
        constants = {
            c: "NULL" if v is None else quote_literal(v)
            for c, v in zip(in_paths, values, strict=True)
        }
        cols = ", ".join(
            f"CAST({constants[c]} AS {types[c]}) AS {quote_identifier(c)}"
            if c in constants
            else quote_identifier(c)
            for c in columns
        )
        parts.append(
            f"SELECT {cols}{extra} FROM {_read(group, 'hive_partitioning = false', *read_opts)}"
        )
    return "\nUNION ALL\n".join(parts)


def _read(paths: Iterable[str], *options: str) -> str:
    files = ", ".join(quote_literal(p) for p in paths)
    return f"read_parquet([{files}]{''.join(', ' + o for o in options)})"


def _path_says(f: DataFile, columns: Sequence[str]) -> bool:
    """The file's folders name each partition value as the table's metadata holds it."""
    segments = {}
    for segment in f.path.split("/")[:-1]:
        key, sep, value = segment.partition("=")
        if sep:
            segments[unquote(key)] = unquote(value)
    for column in columns:
        if column not in segments:
            return False
        value = segments[column]
        expected = f.partition.get(column)
        if (None if value == "__HIVE_DEFAULT_PARTITION__" else value) != expected:
            return False
    return True


def staging_folder(root: str) -> str:
    """A fresh folder name for a staged write that must not be inside the table (plain Parquet)."""
    parent, name = os.path.split(root.rstrip("/"))
    return os.path.join(parent, f".hw-tmp-{uuid.uuid4().hex[:12]}-{name}")
