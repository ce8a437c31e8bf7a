"""Empty files in a `connector: files` source (issue 11, item 5): a file with nothing in it — 0
bytes, a gzip of nothing, a JSON `[]` — loads as empty and is recorded as loaded (not read again,
the other files still load); an empty Parquet file is no Parquet file: it is rejected by name, and
the other files still load."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from headwater.engines.duckdb import DuckDBEngine
from tests.extract.conftest import REL, load


def _parquet(ids: list[int]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({"id": ids}), out)
    return out.getvalue()


GOOD = {"csv": b"id\n1\n", "tsv": b"id\n1\n", "ndjson": b'{"id": 1}\n', "json": b'[{"id": 1}]'}
EMPTY = {
    "0 bytes": b"",
    "blank lines": b"\n \n",
    "gzip of nothing": gzip.compress(b""),
}


@pytest.mark.parametrize("fmt", ["csv", "tsv", "ndjson", "json"])
@pytest.mark.parametrize("empty", list(EMPTY))
def test_an_empty_file_loads_as_empty_and_is_not_read_again(
    engine: DuckDBEngine, tmp_path: Path, fmt: str, empty: str
) -> None:
    compressed = empty == "gzip of nothing"
    (tmp_path / f"a.{fmt}").write_bytes(GOOD[fmt])
    (tmp_path / f"b.{fmt}{'.gz' if compressed else ''}").write_bytes(EMPTY[empty])
    (tmp_path / f"c.{fmt}").write_bytes(GOOD[fmt].replace(b"1", b"3"))
    result = load(engine, tmp_path, f"*.{fmt}*")
    # every file loads, the empty one included (recorded as loaded), and adds no column
    assert (
        result.rows == 2
        and result.rejected == 0
        and len(result.files) == 3
        and len(result.empty_files) == 1
    )
    assert engine.execute("SELECT id FROM raw.orders ORDER BY id") == [(1,), (3,)]
    assert [n for n, _ in engine.columns(REL) if not n.startswith("_hw_")] == ["id"]
    assert engine.execute("SELECT count(*) FROM _headwater.loaded_files") == [(3,)]
    again = load(engine, tmp_path, f"*.{fmt}*")  # nothing is retried
    assert again.rows == 0 and again.batches == 0


@pytest.mark.parametrize("content", [b"[]", b" [ ]\n"])
def test_a_json_file_with_no_records_loads_as_empty(
    engine: DuckDBEngine, tmp_path: Path, content: bytes
) -> None:
    (tmp_path / "a.json").write_bytes(GOOD["json"])
    (tmp_path / "b.json").write_bytes(content)
    result = load(engine, tmp_path, "*.json")
    assert result.rows == 1 and result.empty_files == ["b.json"]
    assert load(engine, tmp_path, "*.json").batches == 0


@pytest.mark.parametrize(
    ("name", "content", "config"),
    [
        ("b.parquet", b"", {}),  # read by the warehouse itself
        ("b.parquet", b"", {"column_types": {"id": "BIGINT"}}),  # read through Arrow
        ("b.parquet.gz", gzip.compress(b""), {}),
    ],
)
def test_an_empty_parquet_file_is_rejected_by_name_and_the_others_load(
    engine: DuckDBEngine, tmp_path: Path, name: str, content: bytes, config: dict[str, Any]
) -> None:
    (tmp_path / "a.parquet").write_bytes(_parquet([1]))
    (tmp_path / name).write_bytes(content)
    (tmp_path / "c.parquet").write_bytes(_parquet([3]))
    result = load(engine, tmp_path, "*.parquet*", **config)
    assert result.rows == 2 and result.rejected == 1
    assert engine.execute("SELECT id FROM raw.orders ORDER BY id") == [(1,), (3,)]
    [(source_file, reason)] = engine.execute("SELECT source_file, reason FROM raw.orders__rejected")
    assert source_file == name and f"`{name}` is empty" in reason and "not a Parquet file" in reason
    assert result.first_rejected is not None and name in result.first_rejected
    # rejected once: a rerun does not fail on it again; a fixed file (new checksum) loads
    assert load(engine, tmp_path, "*.parquet*", **config).batches == 0
    (tmp_path / name).write_bytes(
        gzip.compress(_parquet([2])) if name.endswith(".gz") else _parquet([2])
    )
    assert load(engine, tmp_path, "*.parquet*", **config).rows == 1
    assert engine.execute("SELECT id FROM raw.orders ORDER BY id") == [(1,), (2,), (3,)]


def test_max_rejected_still_stops_an_empty_parquet_file(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    (tmp_path / "a.parquet").write_bytes(_parquet([1]))
    (tmp_path / "b.parquet").write_bytes(b"")
    from headwater.errors import ExecutionError

    with pytest.raises(ExecutionError, match=r"1 of 1 records in b.parquet were rejected"):
        load(engine, tmp_path, "*.parquet", max_rejected=0)
    assert engine.execute("SELECT path FROM _headwater.loaded_files") == [("a.parquet",)]
