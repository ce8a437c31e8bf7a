"""`validate(data, suite)`: GX-style validation of files and data frames on in-memory DuckDB."""

from __future__ import annotations

import glob as globmod
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.engines.base import quote_identifier, quote_literal
from headwater.errors import ConfigError
from headwater.quality.expectations.config import (
    ExpectationConfig,
    Suite,
    load_suite,
    parse_expectation,
    parse_suite,
)
from headwater.quality.expectations.evaluate import validate_relation
from headwater.quality.expectations.pandastypes import PandasType, from_arrow_schema, from_frame
from headwater.quality.expectations.sqlsafety import parse_with

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from headwater.engines.base import Row

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


def _register_frame(con: duckdb.DuckDBPyConnection, data: Any) -> tuple[str, Any] | None:
    """Register an in-memory table (arrow, pandas, polars): its relation SQL and what tells
    its pandas dtypes (the frame itself, or an Arrow schema)."""
    module = type(data).__module__.split(".")[0]
    name = f"__hw_data_{id(data):x}"
    if module == "pyarrow":
        import pyarrow as pa

        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        con.register(name, data)
        return quote_identifier(name), data.schema
    if module == "pandas":
        con.register(name, data)
        return quote_identifier(name), data
    if module == "polars":
        table = data.to_arrow()
        con.register(name, table)
        return quote_identifier(name), table.schema
    return None


def _arrow(result: duckdb.DuckDBPyRelation) -> pa.Table:
    """A DuckDB relation as an Arrow table, across DuckDB versions' method names."""
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        method = getattr(result, name, None)
        if method is not None:
            return method()
    raise AttributeError("this DuckDB cannot return Arrow tables")


def _pandas_types(
    con: duckdb.DuckDBPyConnection, relation: str, source: Any
) -> dict[str, PandasType] | None:
    """The pandas dtypes GX's pandas back end would see (see `pandastypes`)."""
    if source is not None and hasattr(source, "dtypes"):
        return from_frame(source)
    if source is None:
        source = _arrow(con.sql(f"SELECT * FROM {relation} LIMIT 0")).schema
    return from_arrow_schema(source)


def validate_data_source(con: duckdb.DuckDBPyConnection, data: Any) -> str:
    """The relation SQL for ``data`` on a DuckDB connection ``con`` (see `data_source`)."""
    return data_source(con, data)[0]


def data_source(con: duckdb.DuckDBPyConnection, data: Any) -> tuple[str, Any]:
    """The relation SQL for ``data`` on a DuckDB connection ``con``, and the frame or Arrow
    schema that tells its pandas dtypes (None for files: DuckDB's Arrow output tells them).

    ``data`` is a file path (Parquet/CSV/TSV/JSON/NDJSON, optionally .gz/.zst), a folder of
    such files, a glob, a pyarrow Table/RecordBatch, a pandas or polars DataFrame, or a duckdb
    relation (materialized through Arrow, since it may belong to another connection). Frames
    are registered on ``con`` under a generated name; files are read in place by DuckDB.
    """
    from headwater.engines import local

    if local.is_relation(data):
        # A relation belongs to its own connection: bring its rows over as an Arrow table.
        to_table = getattr(data, "to_arrow_table", None) or data.arrow
        name = f"__hw_data_{id(data):x}"
        table = to_table()
        con.register(name, table)
        return quote_identifier(name), table.schema
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
        return f"{function}({listed}{options})", None
    if any(c in path for c in "*?["):
        if not globmod.glob(path, recursive=True):
            raise ConfigError(f"no file matches `{path}`")
        function, options = _reader(path)
        return f"{function}({quote_literal(path)}{options})", None
    if not os.path.exists(path):
        raise ConfigError(f"data file not found: `{path}`", hint="check the path")
    function, options = _reader(path)
    return f"{function}({quote_literal(path)}{options})", None


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
    result_format: str | dict[str, Any] | None = None,
    suite_name: str | None = None,
    layout: str = "auto",
) -> dict[str, Any]:
    """Validate ``data`` against ``suite`` on an in-memory DuckDB and return GX's result dict.

    ``suite`` is a path (YAML/JSON), a `Suite`, a list of expectations or a suite mapping.
    Results follow GX's pandas back end (what users compare files and frames with): pandas
    dtypes, pandas' values for empty input, pandas semantics for GX row conditions.
    ``layout`` forces a scan layout (``single`` or ``columns``, see `planner`).
    """
    from headwater.engines import local

    parsed = _suite(suite)
    con = local.fresh_connection()
    try:
        source, dtypes_from = data_source(con, data)
        relation = f"(SELECT * FROM {source})" if "(" in source else source

        def execute(sql: str) -> tuple[list[str], list[Row]]:
            cur = con.execute(sql)
            names = [d[0] for d in cur.description] if cur.description else []
            return names, cur.fetchall()

        with parse_with(con):
            result = validate_relation(
                execute,
                relation,
                parsed.expectations,
                suite_name=suite_name or parsed.name,
                result_format=result_format,
                semantics="pandas",
                pandas_types=lambda: _pandas_types(con, relation, dtypes_from),
                layout=layout,
            )
        return result.to_json_dict()
    finally:
        con.close()
