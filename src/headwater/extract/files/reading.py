"""What every reader of the `files` / `s3` connectors shares: the `Read` a reader returns,
decompressing streams, transcoding to UTF-8, empty files, line and record numbers, and DuckDB
table-function calls (``read_csv('path', k = v)``) run on the local in-memory DuckDB
(`headwater.engines.local`), whatever the warehouse.

Every reader returns a `Read`: the rows, the records it rejected, and ``line_of``, which maps a
row of the table to its line in the file (NDJSON) or its record number (JSON arrays, Parquet) —
asked only when the loader rejects rows, so the good path never pays for it.
"""

from __future__ import annotations

import codecs
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.engines.base import quote_literal
from headwater.engines.duckdb import sql_value
from headwater.extract.base import Rejected

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

LineOf = Callable[[list[int]], list[int | None]]
"""Source line (or record number) of rows of a table, by their 0-based positions."""
CHUNK = 1 << 20
"""Bytes read at a time from a file or stream."""
EMPTY_JSON = re.compile(rb"\[\s*\]")
MAX_RAW = 1_000_000
"""Characters of a rejected record kept in `<table>__rejected` (the whole record, short of a
runaway line; messages show at most `headwater.extract.clip.SHOWN` of it)."""
EXT_COMPRESSION = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}


@dataclass
class Read:
    """What a reader got from one file."""

    table: pa.Table
    rejected: list[Rejected] = field(default_factory=list)
    line_of: LineOf | None = None


def compression_of(name: str) -> str:
    """The compression a file name's extension says (``none`` without one)."""
    return EXT_COMPRESSION.get(Path(name).suffix.lower(), "none")


def strip_compression(name: str) -> str:
    """The file name without its compression extension."""
    p = Path(name)
    return p.stem if p.suffix.lower() in EXT_COMPRESSION else p.name


def quote(value: str) -> str:
    return quote_literal(str(value))


def ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def call(func: str, path: str, args: Mapping[str, Any]) -> str:
    """``func('path', k = v, ...)``."""
    return (
        f"{func}({', '.join([quote(path)] + [f'{k} = {sql_value(v)}' for k, v in args.items()])})"
    )


def local_connection() -> duckdb.DuckDBPyConnection:
    """This thread's local DuckDB connection (`headwater.engines.local`)."""
    from headwater.engines import local

    return local.connection()


_INPUT_ERRORS = ("InvalidInputException", "BinderException", "ConversionException")
"""DuckDB's errors of a JSON document it cannot read with the sampled types or options."""


def input_error(exc: BaseException) -> bool:
    """True for DuckDB's error of an input it cannot read as asked (types, options)."""
    from headwater.engines import local

    return isinstance(exc, local.error_type()) and type(exc).__name__ in _INPUT_ERRORS


def to_arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The result of ``sql`` as an Arrow table."""
    rel = con.sql(sql)
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        fn = getattr(rel, name, None)
        if fn is not None:
            out = fn()
            return out if hasattr(out, "num_rows") else out.read_all()
    raise AttributeError("duckdb relation without an Arrow export")  # pragma: no cover


def open_stream(path: str, compression: str) -> pa.NativeFile:
    """A stream of the file's bytes, decompressed."""
    import pyarrow as pa

    return pa.input_stream(path, compression=None if compression == "none" else compression)


def blank_content(path: str, compression: str) -> bytes | None:
    """The content of a file that holds (almost) nothing once decompressed, without whitespace
    and byte order mark (``b""`` for an empty file, a gzip of nothing, blank lines); None for a
    file with content. Reads at most a few chunks of a file that has content."""
    kept = b""
    with open_stream(path, compression) as src:
        while chunk := src.read(1 << 16):
            kept += chunk.replace(b"\xef\xbb\xbf", b"").strip()
            if len(kept) > 64:
                return None
    return kept


def transcode(local: str, compression: str, encoding: str, tmp: str) -> str:
    """Decompress and decode a text file into a UTF-8 temporary file (same lines)."""
    out = os.path.join(tempfile.mkdtemp(dir=tmp), "utf8" + Path(strip_compression(local)).suffix)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with (
        open_stream(local, compression) as src,
        open(out, "w", encoding="utf-8", newline="") as dst,
    ):
        while True:
            chunk = src.read(CHUNK)
            dst.write(decoder.decode(chunk, final=not chunk))
            if not chunk:
                break
    return out


def record_numbers(kept: list[int] | None) -> LineOf:
    """Record numbers (1-based) of the rows of a table that keeps the records ``kept`` (all if None)."""
    if kept is None:
        return lambda rows: [i + 1 for i in rows]
    return lambda rows: [kept[i] + 1 for i in rows]


def ndjson_lines(path: str, compression: str, kept: list[int] | None) -> LineOf:
    """Line numbers of the rows of an NDJSON file read whole (blank lines hold no record), found
    by reading the file again — only when asked."""

    def line_of(rows: list[int]) -> list[int | None]:
        records = [kept[i] if kept is not None else i for i in rows]
        found = _nth_records(path, compression, set(records))
        return [found.get(r) for r in records]

    return line_of


def _nth_records(path: str, compression: str, wanted: set[int]) -> dict[int, int]:
    """record index (0-based, blank lines skipped) -> line number (1-based), for ``wanted``."""
    out: dict[int, int] = {}
    last = max(wanted, default=-1)
    record = 0
    for line_no, text in lines(path, compression):
        if not text.strip():
            continue
        if record in wanted:
            out[record] = line_no
        if record >= last:
            break
        record += 1
    return out


def lines(path: str, compression: str) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without its end) of a text file."""
    line_no = 0
    rest = b""
    with open_stream(path, compression) as src:
        while True:
            chunk = src.read(CHUNK)
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop() if chunk else b""
            for raw in parts:
                line_no += 1
                yield line_no, raw.rstrip(b"\r")
            if not chunk:
                return
