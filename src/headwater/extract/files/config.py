"""The configuration of the `files` / `s3` connectors (keys documented in
`headwater.extract.files`): its checks, the format of a file (`format`, else its extension) and
`ReadOptions`, what the readers take from it (compression, encoding, `column_types`, `options`,
date and timestamp formats).
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError
from headwater.extract.base import ConnectorError
from headwater.extract.files.listing import ListedFile
from headwater.extract.files.reading import compression_of, strip_compression

FORMATS = ("csv", "tsv", "json", "ndjson", "jsonl", "parquet")
COMPRESSIONS = ("auto", "gzip", "zstd", "none")
_EXT_FORMAT = {
    ".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".ndjson": "ndjson",
    ".jsonl": "ndjson", ".parquet": "parquet", ".pq": "parquet",
}  # fmt: skip
DUCKDB_ENCODINGS = {"utf8": "utf-8", "utf-8": "utf-8", "latin-1": "latin-1", "latin1": "latin-1",
                    "iso-8859-1": "latin-1", "iso8859-1": "latin-1", "utf-16": "utf-16", "utf16": "utf-16"}  # fmt: skip
"""Encodings DuckDB's CSV reader decodes itself; others are transcoded to UTF-8 first."""


def check_config(name: str, c: Mapping[str, Any]) -> None:
    """`ConfigError` for a value the readers cannot take (format, compression, encoding, ...)."""
    fmt = c.get("format")
    if fmt is not None and str(fmt).lower() not in FORMATS:
        raise ConfigError(
            f"source `{name}`: unknown format `{fmt}`",
            node=name,
            hint="formats: " + ", ".join(FORMATS),
        )
    comp = c.get("compression")
    if comp is not None and str(comp).lower() not in COMPRESSIONS:
        raise ConfigError(
            f"source `{name}`: unknown compression `{comp}`",
            node=name,
            hint="compressions: " + ", ".join(COMPRESSIONS),
        )
    for key in ("column_types", "options"):
        if c.get(key) is not None and not isinstance(c[key], Mapping):
            raise ConfigError(f"source `{name}`: `{key}` must be a mapping", node=name)
    if c.get("header") is not None and not isinstance(c["header"], bool):
        raise ConfigError(f"source `{name}`: `header` must be true or false", node=name)
    if c.get("skip_rows") is not None and (
        not isinstance(c["skip_rows"], int) or c["skip_rows"] < 0
    ):
        raise ConfigError(f"source `{name}`: `skip_rows` must be a number >= 0", node=name)
    enc = c.get("encoding")
    if enc:
        try:
            codecs.lookup(str(enc))
        except LookupError:
            raise ConfigError(f"source `{name}`: unknown encoding `{enc}`", node=name) from None


def format_of(name: str, config: Mapping[str, Any], f: ListedFile) -> str:
    """The reader of a file: `format`, else its extension's (``json_auto`` for ``.json``: an array
    or NDJSON); `ConnectorError` when neither tells."""
    fmt = config.get("format")
    if fmt:
        fmt = str(fmt).lower()
        return "ndjson" if fmt == "jsonl" else fmt
    ext = Path(strip_compression(f.location)).suffix.lower()
    guessed = _EXT_FORMAT.get(ext)
    if guessed is None:
        raise ConnectorError(
            f"source `{name}`: cannot tell the format of `{f.key}` from its extension",
            node=name,
            hint="set `format:` (" + ", ".join(FORMATS) + ")",
        )
    return "json_auto" if guessed == "json" else guessed


class ReadOptions:
    """What the readers take from a source table's config (checked by `check_config`)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    def compression_for(self, f: ListedFile) -> str:
        """`compression`, or the one the file's extension says (``auto``)."""
        comp = str(self.config.get("compression") or "auto").lower()
        return compression_of(f.location) if comp == "auto" else comp

    def encoding(self) -> str:
        """`encoding`, normalized: 'latin1' -> 'latin-1', 'utf8' -> 'utf-8' (default utf-8)."""
        enc = str(self.config.get("encoding") or "utf-8").lower()
        name = codecs.lookup(enc).name  # normalized: 'latin-1' -> 'iso8859-1', 'utf8' -> 'utf-8'
        return {"iso8859-1": "latin-1", "utf-8": "utf-8", "utf-16": "utf-16"}.get(name, name)

    def reader_options(self) -> dict[str, Any]:
        """`options`: more arguments for DuckDB's reader."""
        return dict(self.config.get("options") or {})

    def column_types(self) -> dict[str, str]:
        """`column_types`: column -> DuckDB type."""
        return {str(k): str(v) for k, v in (self.config.get("column_types") or {}).items()}
