"""Parquet files for the `files` / `s3` connectors. A plain Parquet file (no `column_types`,
`options` or `batch_size`) is scanned by the warehouse itself (`parquet_scan`: a DuckDB warehouse
reads it straight into the table) once its footer was checked; otherwise it is read into Arrow by
DuckDB's ``read_parquet`` on the local in-memory DuckDB (measured as fast as
``pyarrow.parquet``, and it takes `options`), with `column_types` applied.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import Any

from headwater.extract.base import Rejected
from headwater.extract.files.column_types import apply_types
from headwater.extract.files.config import ReadOptions
from headwater.extract.files.listing import ListedFile
from headwater.extract.files.reading import (
    CHUNK,
    Read,
    call,
    local_connection,
    open_stream,
    record_numbers,
    to_arrow,
)


def direct_parquet(config: Mapping[str, Any]) -> bool:
    """True when nothing but the plain rows is asked of a Parquet file (no casts, options or
    slicing), so the warehouse can scan it directly."""
    return not (config.get("column_types") or config.get("options") or config.get("batch_size"))


def parquet_scan(path: str) -> str:
    """The warehouse's scan of a local Parquet file (`Batch.scan`)."""
    from headwater.engines.base import quote_literal

    return f"SELECT * FROM read_parquet({quote_literal(path)})"


def check_footer(local: str) -> None:
    """Read the footer only: a truncated or non-Parquet file fails here (`OSError`,
    `ValueError` or pyarrow's error)."""
    import pyarrow.parquet as pq

    if os.path.getsize(local) == 0:
        raise ValueError("the file is empty")
    pq.read_metadata(local)


def read_parquet(f: ListedFile, local: str, tmp: str, options: ReadOptions) -> Read:
    """The rows of the Parquet file ``local`` (``f`` as it is named), `column_types` applied."""
    compression = options.compression_for(f)
    path = local
    if compression != "none":  # a compressed Parquet file (rare): decompress it first
        path = os.path.join(tempfile.mkdtemp(dir=tmp), "data.parquet")
        with open_stream(local, compression) as src, open(path, "wb") as dst:
            while chunk := src.read(CHUNK):
                dst.write(chunk)
    con = local_connection()
    table = to_arrow(con, "SELECT * FROM " + call("read_parquet", path, options.reader_options()))
    table, bad, kept = apply_types(con, table, options)
    rejected = [
        Rejected(raw=raw, reason=reason, source_file=f.key, line=i + 1) for i, raw, reason in bad
    ]
    return Read(table, rejected, record_numbers(kept))
