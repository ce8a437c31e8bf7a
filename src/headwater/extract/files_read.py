"""Reading JSON, NDJSON and Parquet files into Arrow for the `files` / `s3` connectors (CSV is read by
the warehouse itself: `headwater.extract.files_csv`), and what every reader shares: compression,
encodings, `column_types`, empty files.

Every reader returns a `Read`: the rows, the records it rejected, and ``line_of``, which maps a
row of the table to its line in the file (NDJSON) or its record number (JSON arrays, Parquet) —
asked only when the loader rejects rows, so the good path never pays for it.

The readers run on the local in-memory DuckDB (`headwater.engines.local`), whatever the warehouse.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.extract.base import Rejected
from headwater.extract.clip import clipped_sql
from headwater.extract.files_csv import MAX_RAW, call, quote

if TYPE_CHECKING:
    import pyarrow as pa

LineOf = Callable[[list[int]], list[int | None]]
_EXT_COMPRESSION = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_CHUNK = 1 << 20
_EMPTY_JSON = re.compile(rb"\[\s*\]")


@dataclass
class _File:
    key: str
    """The file's name in `source_file` and `state.loaded_files`."""
    location: str
    """Local path, or `bucket/key` on S3."""
    size: int | None = None


@dataclass
class Read:
    """What a reader got from one file."""

    table: pa.Table
    rejected: list[Rejected] = field(default_factory=list)
    line_of: LineOf | None = None


def _compression_of(name: str) -> str:
    return _EXT_COMPRESSION.get(Path(name).suffix.lower(), "none")


def _strip_compression(name: str) -> str:
    p = Path(name)
    return p.stem if p.suffix.lower() in _EXT_COMPRESSION else p.name


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _local() -> Any:
    """This thread's local DuckDB connection (`headwater.engines.local`)."""
    from headwater.engines import local

    return local.connection()


_INPUT_ERRORS = ("InvalidInputException", "BinderException", "ConversionException")
"""DuckDB's errors of a JSON document it cannot read with the sampled types or options."""


def _input_error(exc: BaseException) -> bool:
    from headwater.engines import local

    return isinstance(exc, local.error_type()) and type(exc).__name__ in _INPUT_ERRORS


def _to_arrow(con: Any, sql: str) -> pa.Table:
    rel = con.sql(sql)
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        fn = getattr(rel, name, None)
        if fn is not None:
            out = fn()
            return out if hasattr(out, "num_rows") else out.read_all()
    raise AttributeError("duckdb relation without an Arrow export")  # pragma: no cover


def _stream(path: str, compression: str) -> Any:
    import pyarrow as pa

    return pa.input_stream(path, compression=None if compression == "none" else compression)


def blank_content(path: str, compression: str) -> bytes | None:
    """The content of a file that holds (almost) nothing once decompressed, without whitespace
    and byte order mark (``b""`` for an empty file, a gzip of nothing, blank lines); None for a
    file with content. Reads at most a few chunks of a file that has content."""
    kept = b""
    with _stream(path, compression) as src:
        while chunk := src.read(1 << 16):
            kept += chunk.replace(b"\xef\xbb\xbf", b"").strip()
            if len(kept) > 64:
                return None
    return kept


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
    for line_no, text in _lines(path, compression):
        if not text.strip():
            continue
        if record in wanted:
            out[record] = line_no
        if record >= last:
            break
        record += 1
    return out


def _lines(path: str, compression: str) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without its end) of a text file."""
    line_no = 0
    rest = b""
    with _stream(path, compression) as src:
        while True:
            chunk = src.read(_CHUNK)
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop() if chunk else b""
            for raw in parts:
                line_no += 1
                yield line_no, raw.rstrip(b"\r")
            if not chunk:
                return


class ArrowReads:
    """The readers of `FilesConnector` that go through Arrow (a mixin: it reads ``self.config``)."""

    config: dict[str, Any]

    def _compression_for(self, f: _File) -> str:
        comp = str(self.config.get("compression") or "auto").lower()
        return _compression_of(f.location) if comp == "auto" else comp

    def _encoding(self) -> str:
        enc = str(self.config.get("encoding") or "utf-8").lower()
        import codecs

        name = codecs.lookup(enc).name  # normalized: 'latin-1' -> 'iso8859-1', 'utf8' -> 'utf-8'
        return {"iso8859-1": "latin-1", "utf-8": "utf-8", "utf-16": "utf-16"}.get(name, name)

    def _transcode(self, local: str, compression: str, encoding: str, tmp: str) -> str:
        """Decompress and decode a text file into a UTF-8 temporary file (same lines)."""
        import codecs

        out = os.path.join(
            tempfile.mkdtemp(dir=tmp), "utf8" + Path(_strip_compression(local)).suffix
        )
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        with (
            _stream(local, compression) as src,
            open(out, "w", encoding="utf-8", newline="") as dst,
        ):
            while True:
                chunk = src.read(_CHUNK)
                dst.write(decoder.decode(chunk, final=not chunk))
                if not chunk:
                    break
        return out

    def _reader_options(self) -> dict[str, Any]:
        return dict(self.config.get("options") or {})

    def _column_types(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.config.get("column_types") or {}).items()}

    # JSON ------------------------------------------------------------------------------------------
    def _json_args(self, fmt: str) -> dict[str, Any]:
        c = self.config
        args: dict[str, Any] = {
            "format": {"json": "array", "ndjson": "newline_delimited", "json_auto": "auto"}[fmt],
            "records": True,  # a line that is not an object is a bad record, not a `json` column
        }
        if c.get("date_format") is not None:
            args["dateformat"] = c["date_format"]
        if c.get("timestamp_format") is not None:
            args["timestampformat"] = c["timestamp_format"]
        args.update(self._reader_options())
        return args

    def _read_json(self, f: _File, local: str, fmt: str, tmp: str) -> Read:
        compression = self._compression_for(f)
        encoding = self._encoding()
        path = local
        if encoding not in ("utf-8",):
            path = self._transcode(local, compression, encoding, tmp)
            compression = "none"
        args = self._json_args(fmt)
        args["compression"] = compression
        array = fmt == "json" or (
            fmt == "json_auto" and self._starts_with_bracket(path, compression)
        )
        con = _local()
        try:
            table = _to_arrow(con, "SELECT * FROM " + call("read_json", path, args))
        except Exception as exc:
            if not _input_error(exc):
                raise
            if not array:
                return self._read_ndjson_slow(f, path, compression, tmp)
            if "malformed json" in str(exc).lower():
                raise
            # a record whose type differs from the sampled ones: infer from all records
            table = _to_arrow(
                con, "SELECT * FROM " + call("read_json", path, {**args, "sample_size": -1})
            )
        table, bad, kept = self._apply_types(con, table)
        if bad and not array:  # line numbers of NDJSON records are only known line by line
            return self._read_ndjson_slow(f, path, compression, tmp)
        rejected = [
            Rejected(raw=raw, reason=reason, source_file=f.key, line=i + 1)
            for i, raw, reason in bad
        ]
        return Read(
            table,
            rejected,
            record_numbers(kept) if array else ndjson_lines(path, compression, kept),
        )

    @staticmethod
    def _starts_with_bracket(path: str, compression: str) -> bool:
        with _stream(path, compression) as src:
            head = src.read(4096)
        return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")

    def _read_ndjson_slow(self, f: _File, path: str, compression: str, tmp: str) -> Read:
        """The bad-record path of NDJSON: split the lines in Python, validate them with DuckDB's
        own JSON parser (``json_valid``, as lenient as ``read_json``: trailing commas, NaN), write
        the good ones to a temporary file and read it with ``read_json``."""
        import pyarrow as pa

        good_path = os.path.join(tempfile.mkdtemp(dir=tmp), "good.ndjson")
        lines: list[int] = []
        rejected: list[Rejected] = []
        con = _local()
        with open(good_path, "wb") as dst:
            pending: list[tuple[int, bytes, str]] = []
            for line_no, text_b in _lines(path, compression):
                if not text_b.strip():
                    continue  # blank lines are no records
                try:
                    pending.append((line_no, text_b, text_b.decode("utf-8")))
                except UnicodeDecodeError as exc:
                    rejected.append(Rejected(raw=text_b.decode("utf-8", "replace")[:MAX_RAW],
                                             reason=f"invalid UTF-8: {exc.reason}", source_file=f.key, line=line_no))  # fmt: skip
                if len(pending) >= 10_000:
                    self._validate_ndjson(con, pending, dst, lines, rejected, f.key)
                    pending = []
            self._validate_ndjson(con, pending, dst, lines, rejected, f.key)
        if not lines:
            return Read(pa.table({}), sorted(rejected, key=lambda r: r.line or 0))
        args = self._json_args("ndjson")
        args.update({"compression": "none", "sample_size": -1})
        table = _to_arrow(con, "SELECT * FROM " + call("read_json", good_path, args))
        table, bad, kept = self._apply_types(con, table)
        rejected += [
            Rejected(raw=raw, reason=reason, source_file=f.key, line=lines[i])
            for i, raw, reason in bad
        ]
        rejected.sort(key=lambda r: r.line or 0)
        good_lines = lines if kept is None else [lines[i] for i in kept]
        return Read(table, rejected, lambda rows: [good_lines[i] for i in rows])

    @staticmethod
    def _validate_ndjson(con: Any, batch: list[tuple[int, bytes, str]], dst: Any, lines: list[int],
                         rejected: list[Rejected], source_file: str) -> None:  # fmt: skip
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
                lines.append(line_no)
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

    # Parquet ---------------------------------------------------------------------------------------
    def _read_parquet(self, f: _File, local: str, tmp: str) -> Read:
        compression = self._compression_for(f)
        path = local
        if compression != "none":  # a compressed Parquet file (rare): decompress it first
            path = os.path.join(tempfile.mkdtemp(dir=tmp), "data.parquet")
            with _stream(local, compression) as src, open(path, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    dst.write(chunk)
        con = _local()
        # DuckDB's reader into Arrow measured as fast as pyarrow.parquet's, and takes `options`
        table = _to_arrow(
            con, "SELECT * FROM " + call("read_parquet", path, self._reader_options())
        )
        table, bad, kept = self._apply_types(con, table)
        rejected = [
            Rejected(raw=raw, reason=reason, source_file=f.key, line=i + 1)
            for i, raw, reason in bad
        ]
        return Read(table, rejected, record_numbers(kept))

    # column_types on already-typed records -------------------------------------------------------
    def _apply_types(
        self, con: Any, table: pa.Table
    ) -> tuple[pa.Table, list[tuple[int, str, str]], list[int] | None]:
        """Cast the `column_types` columns of ``table``; rows with a value that does not cast are
        returned as (0-based index, raw JSON, reason) and left out of the table, whose rows are
        then the input rows ``kept`` (None: all of them)."""
        import pyarrow.compute as pc

        types = {k: v for k, v in self._column_types().items() if k in table.column_names}
        if not types or table.num_rows == 0:
            return table, [], None
        err = "__hw_reject_reason"
        con.register("__hw_src", table)
        try:
            # a projection only: DuckDB keeps the input order (preserve_insertion_order), so row i
            # of the output is row i of the input
            replace, checks = self._casts(table, types)
            out = _to_arrow(
                con,
                f"SELECT * REPLACE ({', '.join(replace)}), concat_ws('; ', {', '.join(checks)}) AS {_ident(err)} "
                "FROM __hw_src",
            )
        finally:
            con.unregister("__hw_src")
        reasons = out.column(err)
        bad_mask = pc.not_equal(reasons, "")
        bad_idx = pc.indices_nonzero(bad_mask)
        if not len(bad_idx):
            return out.drop_columns([err]), [], None
        good = out.filter(pc.invert(bad_mask)).drop_columns([err])
        bad = []
        bad_reason = reasons.filter(bad_mask).to_pylist()
        originals = table.take(bad_idx).to_pylist()
        for i, reason, record in zip(bad_idx.to_pylist(), bad_reason, originals, strict=True):
            bad.append((int(i), json.dumps(record, default=str)[:MAX_RAW], reason))
        return good, bad, pc.indices_nonzero(pc.invert(bad_mask)).to_pylist()

    def _casts(self, table: pa.Table, types: dict[str, str]) -> tuple[list[str], list[str]]:
        """The cast of each `column_types` column and the reason a value does not cast (its
        column, and the value cut to 200 characters)."""
        import pyarrow as pa

        c = self.config
        replace, checks = [], []
        for name, typ in types.items():
            q = _ident(name)
            expr = f"TRY_CAST({q} AS {typ})"
            base = typ.strip().upper()
            column_type = table.schema.field(name).type
            if pa.types.is_string(column_type) or pa.types.is_large_string(column_type):
                if base == "DATE" and c.get("date_format"):
                    expr = f"TRY_CAST(try_strptime({q}, {quote(c['date_format'])}) AS DATE)"
                elif base.startswith("TIMESTAMP") and c.get("timestamp_format"):
                    expr = f"TRY_CAST(try_strptime({q}, {quote(c['timestamp_format'])}) AS {typ})"
            replace.append(f"{expr} AS {q}")
            checks.append(
                f"CASE WHEN {q} IS NOT NULL AND {expr} IS NULL THEN "
                f"'cannot convert column `' || {quote(name)} || '` value ' || {clipped_sql(f'CAST({q} AS VARCHAR)')} "
                f"|| ' to {typ.replace(chr(39), '')}' END"
            )
        return replace, checks
