"""JSON and NDJSON files into Arrow for the `files` / `s3` connectors, read by DuckDB's
``read_json`` on the local in-memory DuckDB (`headwater.engines.local`).

A JSON array whose records do not fit the types DuckDB sampled is read again with types inferred
from all its records; a document that does not parse at all is an error naming the file. NDJSON
takes the bad-record path when ``read_json`` refuses the file: its lines are split in Python and
validated with DuckDB's own JSON parser, a line that is not valid JSON or not an object is
rejected with its line number, and the good ones are read.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import TYPE_CHECKING, Any, BinaryIO

from headwater.extract.base import Rejected
from headwater.extract.files.column_types import apply_types
from headwater.extract.files.config import ReadOptions
from headwater.extract.files.listing import ListedFile
from headwater.extract.files.reading import (
    MAX_RAW,
    Read,
    call,
    input_error,
    lines,
    local_connection,
    ndjson_lines,
    open_stream,
    record_numbers,
    to_arrow,
    transcode,
)

if TYPE_CHECKING:
    import duckdb


def json_args(options: ReadOptions, fmt: str) -> dict[str, Any]:
    """`read_json` arguments for ``fmt`` (json, ndjson or json_auto), without path and compression."""
    c = options.config
    args: dict[str, Any] = {
        "format": {"json": "array", "ndjson": "newline_delimited", "json_auto": "auto"}[fmt],
        "records": True,  # a line that is not an object is a bad record, not a `json` column
    }
    if c.get("date_format") is not None:
        args["dateformat"] = c["date_format"]
    if c.get("timestamp_format") is not None:
        args["timestampformat"] = c["timestamp_format"]
    args.update(options.reader_options())
    return args


def read_json(f: ListedFile, local: str, fmt: str, tmp: str, options: ReadOptions) -> Read:
    """The records of a JSON (array) or NDJSON file ``local`` (``f`` as it is named)."""
    compression = options.compression_for(f)
    encoding = options.encoding()
    path = local
    if encoding not in ("utf-8",):
        path = transcode(local, compression, encoding, tmp)
        compression = "none"
    args = json_args(options, fmt)
    args["compression"] = compression
    array = fmt == "json" or (fmt == "json_auto" and _starts_with_bracket(path, compression))
    con = local_connection()
    try:
        table = to_arrow(con, "SELECT * FROM " + call("read_json", path, args))
    except Exception as exc:
        if not input_error(exc):
            raise
        if not array:
            return _read_ndjson_slow(f, path, compression, tmp, options)
        if "malformed json" in str(exc).lower():
            raise
        # a record whose type differs from the sampled ones: infer from all records
        table = to_arrow(
            con, "SELECT * FROM " + call("read_json", path, {**args, "sample_size": -1})
        )
    table, bad, kept = apply_types(con, table, options)
    if bad and not array:  # line numbers of NDJSON records are only known line by line
        return _read_ndjson_slow(f, path, compression, tmp, options)
    rejected = [
        Rejected(raw=raw, reason=reason, source_file=f.key, line=i + 1) for i, raw, reason in bad
    ]
    return Read(
        table,
        rejected,
        record_numbers(kept) if array else ndjson_lines(path, compression, kept),
    )


def _starts_with_bracket(path: str, compression: str) -> bool:
    with open_stream(path, compression) as src:
        head: bytes = src.read(4096)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def _read_ndjson_slow(
    f: ListedFile, path: str, compression: str, tmp: str, options: ReadOptions
) -> Read:
    """The bad-record path of NDJSON: split the lines in Python, validate them with DuckDB's
    own JSON parser (``json_valid``, as lenient as ``read_json``: trailing commas, NaN), write
    the good ones to a temporary file and read it with ``read_json``."""
    import pyarrow as pa

    good_path = os.path.join(tempfile.mkdtemp(dir=tmp), "good.ndjson")
    good_lines: list[int] = []
    rejected: list[Rejected] = []
    con = local_connection()
    with open(good_path, "wb") as dst:
        pending: list[tuple[int, bytes, str]] = []
        for line_no, text_b in lines(path, compression):
            if not text_b.strip():
                continue  # blank lines are no records
            try:
                pending.append((line_no, text_b, text_b.decode("utf-8")))
            except UnicodeDecodeError as exc:
                rejected.append(Rejected(raw=text_b.decode("utf-8", "replace")[:MAX_RAW],
                                         reason=f"invalid UTF-8: {exc.reason}", source_file=f.key, line=line_no))  # fmt: skip
            if len(pending) >= 10_000:
                _validate_ndjson(con, pending, dst, good_lines, rejected, f.key)
                pending = []
        _validate_ndjson(con, pending, dst, good_lines, rejected, f.key)
    if not good_lines:
        return Read(pa.table({}), sorted(rejected, key=lambda r: r.line or 0))
    args = json_args(options, "ndjson")
    args.update({"compression": "none", "sample_size": -1})
    table = to_arrow(con, "SELECT * FROM " + call("read_json", good_path, args))
    table, bad, kept = apply_types(con, table, options)
    rejected += [
        Rejected(raw=raw, reason=reason, source_file=f.key, line=good_lines[i])
        for i, raw, reason in bad
    ]
    rejected.sort(key=lambda r: r.line or 0)
    kept_lines = good_lines if kept is None else [good_lines[i] for i in kept]
    return Read(table, rejected, lambda rows: [kept_lines[i] for i in rows])


def _validate_ndjson(con: duckdb.DuckDBPyConnection, batch: list[tuple[int, bytes, str]],
                     dst: BinaryIO, good_lines: list[int], rejected: list[Rejected],
                     source_file: str) -> None:  # fmt: skip
    """Write the lines of ``batch`` that are JSON objects to ``dst``; reject the others."""
    if not batch:
        return
    kinds = con.execute(
        "SELECT CASE WHEN json_valid(l) THEN json_type(l) END FROM (SELECT unnest(?) AS l)",
        [[text for _, _, text in batch]],
    ).fetchall()
    for (line_no, text_b, text), (kind,) in zip(batch, kinds, strict=True):
        if kind == "OBJECT":
            dst.write(text_b + b"\n")
            good_lines.append(line_no)
            continue
        if kind is None:
            try:
                json.loads(text)
                reason = "invalid JSON"
            except ValueError as exc:
                reason = f"invalid JSON: {exc}"
        else:
            reason = f"not a JSON object ({kind.lower()})"
        rejected.append(
            Rejected(raw=text[:MAX_RAW], reason=reason, source_file=source_file, line=line_no)
        )
