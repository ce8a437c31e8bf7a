"""`validate(data, suite)`: GX-style validation of files and data frames on in-memory DuckDB."""

from __future__ import annotations

import glob as globmod
import os
from pathlib import Path
from typing import Any

from headwater.engines.base import quote_identifier, quote_literal
from headwater.errors import ConfigError
from headwater.quality.expectations.config import (
    ExpectationConfig,
    Suite,
    load_suite,
    parse_expectation,
    parse_suite,
)
from headwater.quality.expectations.engine import validate_relation

_READERS = {
    ".parquet": "read_parquet",
    ".pq": "read_parquet",
    ".csv": "read_csv",
    ".tsv": "read_csv",
    ".txt": "read_csv",
    ".json": "read_json_auto",
    ".ndjson": "read_json_auto",
    ".jsonl": "read_json_auto",
}
_COMPRESSIONS = (".gz", ".zst", ".gzip", ".zstd")


def _reader(path: str) -> tuple[str, str]:
    """(DuckDB table function, extra options) for a file name, looking through .gz/.zst."""
    name = path.lower()
    for suffix in _COMPRESSIONS:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    ext = os.path.splitext(name)[1]
    if ext not in _READERS:
        raise ConfigError(
            f"cannot tell the format of `{path}`",
            hint="use a .parquet, .csv, .tsv, .json or .ndjson file (optionally .gz/.zst)",
        )
    options = ", delim = '\\t'" if ext == ".tsv" else ""
    if ext in (".ndjson", ".jsonl"):
        options = ", format = 'newline_delimited'"
    return _READERS[ext], options


def _register_frame(con: Any, data: Any) -> str | None:
    """Register an in-memory table (arrow, pandas, polars) and return its relation SQL."""
    module = type(data).__module__.split(".")[0]
    name = f"__hw_data_{id(data):x}"
    if module == "pyarrow":
        import pyarrow as pa

        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        con.register(name, data)
    elif module == "pandas":
        con.register(name, data)
    elif module == "polars":
        con.register(name, data.to_arrow())
    else:
        return None
    return quote_identifier(name)


def validate_data_source(con: Any, data: Any) -> str:
    """The relation SQL for ``data`` on a DuckDB connection ``con``.

    ``data`` is a file path (Parquet/CSV/TSV/JSON/NDJSON, optionally .gz/.zst), a folder of
    such files, a glob, a pyarrow Table/RecordBatch, a pandas or polars DataFrame, or a duckdb
    relation (materialized through Arrow, since it may belong to another connection). Frames
    are registered on ``con`` under a generated name; files are read in place by DuckDB.
    """
    import duckdb

    if isinstance(data, duckdb.DuckDBPyRelation):
        # A relation belongs to its own connection: bring its rows over as an Arrow table.
        to_table = getattr(data, "to_arrow_table", None) or data.arrow
        name = f"__hw_data_{id(data):x}"
        con.register(name, to_table())
        return quote_identifier(name)
    frame = _register_frame(con, data)
    if frame is not None:
        return frame
    if not isinstance(data, str | os.PathLike):
        raise ConfigError(
            f"cannot validate a {type(data).__name__}",
            hint="pass a file path, folder or glob, a pyarrow Table, a pandas/polars DataFrame or a duckdb relation",
        )
    path = os.fspath(data)
    if os.path.isdir(path):
        files = sorted(
            str(p)
            for p in Path(path).rglob("*")
            if p.is_file() and not p.name.startswith((".", "_"))
        )
        if not files:
            raise ConfigError(f"folder `{path}` holds no data files")
        function, options = _reader(files[0])
        listed = "[" + ", ".join(quote_literal(f) for f in files) + "]"
        return f"{function}({listed}{options})"
    if any(c in path for c in "*?["):
        if not globmod.glob(path, recursive=True):
            raise ConfigError(f"no file matches `{path}`")
        function, options = _reader(path)
        return f"{function}({quote_literal(path)}{options})"
    if not os.path.exists(path):
        raise ConfigError(f"data file not found: `{path}`", hint="check the path")
    function, options = _reader(path)
    return f"{function}({quote_literal(path)}{options})"


def _suite(suite: Any) -> Suite:
    if isinstance(suite, Suite):
        return suite
    if isinstance(suite, str | os.PathLike):
        return load_suite(suite)
    if isinstance(suite, ExpectationConfig):
        return Suite("default", [suite], {})
    if isinstance(suite, list):
        items = [s if isinstance(s, ExpectationConfig) else parse_expectation(s) for s in suite]
        return Suite("default", items, {})
    return parse_suite(suite)


def validate(
    data: Any,
    suite: Any,
    *,
    result_format: str | dict | None = None,
    suite_name: str | None = None,
) -> dict:
    """Validate ``data`` against ``suite`` on an in-memory DuckDB and return GX's result dict.

    ``suite`` is a path (YAML/JSON), a `Suite`, a list of expectations or a suite mapping.
    """
    import duckdb

    parsed = _suite(suite)
    con = duckdb.connect()
    try:
        relation = validate_data_source(con, data)

        def execute(sql: str) -> tuple[list[str], list[tuple]]:
            cur = con.execute(sql)
            names = [d[0] for d in cur.description] if cur.description else []
            return names, cur.fetchall()

        result = validate_relation(
            execute,
            f"(SELECT * FROM {relation})" if "(" in relation else relation,
            parsed.expectations,
            suite_name=suite_name or parsed.name,
            result_format=result_format,
        )
        return result.to_json_dict()
    finally:
        con.close()
