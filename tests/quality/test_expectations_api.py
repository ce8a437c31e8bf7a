"""validate(data, suite) on files, folders, globs, Arrow, pandas, polars and duckdb relations."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from headwater.errors import ConfigError
from headwater.quality.expectations import Suite, parse_expectation, validate, validate_data_source

TABLE = pa.table(
    {"id": [1, 2, 3, 4], "status": ["a", "b", "zz", None], "amount": [1.0, 2.5, 3.0, 4.0]}
)
SUITE = [
    {"expect_column_values_to_be_unique": {"column": "id"}},
    {
        "expect_column_values_to_be_in_set": {
            "column": "status",
            "value_set": ["a", "b"],
            "mostly": 0.6,
        }
    },
    {"expect_column_values_to_be_increasing": {"column": "id", "strictly": True}},
    {"expect_column_mean_to_be_between": {"column": "amount", "min_value": 2, "max_value": 3}},
    {"expect_table_row_count_to_equal": {"value": 4}},
]


def check(doc: dict) -> None:
    json.dumps(doc)
    assert doc["success"] is True, [r for r in doc["results"] if not r["success"]]
    assert doc["statistics"]["evaluated_expectations"] == 5
    in_set = doc["results"][1]["result"]
    assert (in_set["element_count"], in_set["unexpected_count"], in_set["missing_count"]) == (
        4,
        1,
        1,
    )
    assert in_set["partial_unexpected_list"] == ["zz"]


def write_csv(path: Path, sep: str = ",") -> None:
    lines = [sep.join(["id", "status", "amount"])]
    for i, s, a in zip(*(TABLE.column(n).to_pylist() for n in TABLE.column_names), strict=True):
        lines.append(sep.join([str(i), s or "", str(a)]))
    path.write_text("\n".join(lines) + "\n")


def test_parquet_csv_tsv_ndjson_and_compressed(tmp_path: Path) -> None:
    pq.write_table(TABLE, tmp_path / "d.parquet")
    check(validate(tmp_path / "d.parquet", SUITE))
    write_csv(tmp_path / "d.csv")
    check(validate(str(tmp_path / "d.csv"), SUITE))
    write_csv(tmp_path / "d.tsv", "\t")
    check(validate(str(tmp_path / "d.tsv"), SUITE))
    with gzip.open(tmp_path / "d.csv.gz", "wt") as fh:
        fh.write((tmp_path / "d.csv").read_text())
    check(validate(str(tmp_path / "d.csv.gz"), SUITE))
    (tmp_path / "d.ndjson").write_text("\n".join(json.dumps(r) for r in TABLE.to_pylist()))
    check(validate(str(tmp_path / "d.ndjson"), SUITE))


def test_folder_and_glob(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(TABLE.slice(0, 2), folder / "p1.parquet")
    pq.write_table(TABLE.slice(2), folder / "p2.parquet")
    check(validate(folder, SUITE))
    check(validate(str(folder / "*.parquet"), SUITE))
    with pytest.raises(ConfigError, match="no file matches"):
        validate(str(folder / "*.csv"), SUITE)


def test_arrow_duckdb_relation_and_suite_forms(tmp_path: Path) -> None:
    check(validate(TABLE, SUITE))
    check(validate(TABLE.to_batches()[0], SUITE))
    con = duckdb.connect()
    con.register("src", TABLE)
    rel = con.sql("SELECT * FROM src")
    con2 = duckdb.connect()
    assert validate_data_source(con2, TABLE).startswith('"__hw_data_')
    check(validate(rel, SUITE))
    check(validate(TABLE, {"name": "s", "expectations": SUITE}))
    check(validate(TABLE, Suite("s", [parse_expectation(e) for e in SUITE], {})))
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"name": "from_file", "expectations": [
        {"type": next(iter(e)), "kwargs": next(iter(e.values()))} for e in SUITE]}))  # fmt: skip
    doc = validate(TABLE, path, result_format="BOOLEAN_ONLY", suite_name="renamed")
    assert doc["suite_name"] == "renamed"
    assert doc["results"][0]["result"] == {}


def test_pandas_and_polars() -> None:
    pd = pytest.importorskip("pandas")
    check(validate(pd.DataFrame(TABLE.to_pydict()), SUITE))


def test_polars() -> None:
    pl = pytest.importorskip("polars")
    check(validate(pl.from_arrow(TABLE), SUITE))


def test_bad_data_sources(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        validate(str(tmp_path / "missing.parquet"), SUITE)
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(ConfigError, match="cannot tell the format"):
        validate(str(tmp_path / "x.xlsx"), SUITE)
    with pytest.raises(ConfigError, match="cannot validate a int"):
        validate(42, SUITE)
