"""Chunked reads of the database connectors: a stream of Arrow tables of any size regrouped into
batches of ``chunk_size`` rows, cut only between two different cursor values, so that committing
batch k and crashing resumes exactly after batch k."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


def _cut_point(col: pa.ChunkedArray, size: int) -> int | None:
    """Where to end a batch of about ``size`` rows of ``col`` (sorted by cursor) so that no cursor
    value straddles two batches; None when that cannot be known before more rows arrive."""
    import pyarrow.compute as pc

    last = col[size - 1]
    if not last.is_valid:  # nulls come first and are never re-read by value: any cut works
        return size
    if len(col) == size:
        return None  # the next row may hold the same value
    if col[size] != last:
        return size
    first: int = pc.index(pc.equal(col.slice(0, size), last), True).as_py()
    if first > 0:
        return first  # end before the run of the last value
    after = pc.index(pc.not_equal(col.slice(size), last), True).as_py()
    return None if after < 0 else size + after


def rebatch(
    pieces: Iterator[pa.Table], chunk_size: int, cursor: str | None = None
) -> Iterator[pa.Table]:
    """Regroup a stream of tables into tables of ``chunk_size`` rows (the last one shorter). With
    a ``cursor`` column (the stream sorted by it), cuts fall between different cursor values.
    Yields one empty table (with the schema) if the stream holds no rows."""
    import pyarrow as pa

    buf: list[pa.Table] = []
    rows = 0
    schema = None
    yielded = False
    for piece in pieces:
        schema = piece.schema
        if piece.num_rows == 0:
            continue
        buf.append(piece)
        rows += piece.num_rows
        while rows >= chunk_size:
            table = pa.concat_tables(buf) if len(buf) > 1 else buf[0]
            cut: int | None = chunk_size
            if cursor is not None:
                cut = _cut_point(table.column(cursor), chunk_size)
            if cut is None:
                buf = [table]
                break
            yield table.slice(0, cut)
            yielded = True
            rest = table.slice(cut)
            buf, rows = ([rest] if rest.num_rows else []), rest.num_rows
    if rows:
        yield pa.concat_tables(buf) if len(buf) > 1 else buf[0]
    elif not yielded and schema is not None:
        yield schema.empty_table()


def with_final(tables: Iterator[pa.Table]) -> Iterator[tuple[pa.Table, bool]]:
    """Pair each table with whether it is the last one."""
    held = None
    for table in tables:
        if held is not None:
            yield held, False
        held = table
    if held is not None:
        yield held, True
