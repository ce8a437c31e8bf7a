"""`column_types` on records a reader already typed (JSON, NDJSON, Parquet): each listed column is
cast in one projection on the local DuckDB, and a row with a value that does not cast is left out
of the table and rejected, with the column and the value (cut to 200 characters) as its reason.
CSV files get their `column_types` from `read_csv` itself (`headwater.extract.files.csv`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from headwater.extract.clip import clipped_sql
from headwater.extract.files.config import ReadOptions
from headwater.extract.files.reading import MAX_RAW, ident, quote, to_arrow

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

BadRecord = tuple[int, str, str]
"""A rejected row: (0-based index in the input, raw JSON, reason)."""


def apply_types(
    con: duckdb.DuckDBPyConnection, table: pa.Table, options: ReadOptions
) -> tuple[pa.Table, list[BadRecord], list[int] | None]:
    """Cast the `column_types` columns of ``table``; rows with a value that does not cast are
    returned as (0-based index, raw JSON, reason) and left out of the table, whose rows are
    then the input rows ``kept`` (None: all of them)."""
    import pyarrow.compute as pc

    types = {k: v for k, v in options.column_types().items() if k in table.column_names}
    if not types or table.num_rows == 0:
        return table, [], None
    err = "__hw_reject_reason"
    con.register("__hw_src", table)
    try:
        # a projection only: DuckDB keeps the input order (preserve_insertion_order), so row i
        # of the output is row i of the input
        replace, checks = _casts(table, types, options)
        out = to_arrow(
            con,
            f"SELECT * REPLACE ({', '.join(replace)}), concat_ws('; ', {', '.join(checks)}) AS {ident(err)} "
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


def _casts(
    table: pa.Table, types: dict[str, str], options: ReadOptions
) -> tuple[list[str], list[str]]:
    """The cast of each `column_types` column and the reason a value does not cast (its
    column, and the value cut to 200 characters)."""
    import pyarrow as pa

    c = options.config
    replace, checks = [], []
    for name, typ in types.items():
        q = ident(name)
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
