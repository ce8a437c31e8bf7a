"""The `files` connector on local files: formats, compression, options, exactly-once, bad records, errors."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from headwater.errors import ConfigError
from headwater.extract.base import (
    Batch,
    ConnectorError,
    ExtractState,
    arrow_batches,
    connector_class,
)
from headwater.extract.files import FilesConnector, S3Connector, _glob_regex


def make(config: dict, base: Path | None = None, kind: str = "files") -> FilesConnector:
    cfg = dict(config)
    if base is not None:
        cfg.setdefault("base_dir", str(base))
    return connector_class(kind)("shop", "orders", cfg, env={})


def run(conn: FilesConnector, state: ExtractState | None = None) -> list[Batch]:
    """The batches, with the rows of a `scan` batch (read by the warehouse itself) materialized
    the way the loader's engine reads them."""
    out = []
    for batch in arrow_batches(conn.extract(state or ExtractState())):
        if hasattr(batch.file_checksum, "result"):  # as the loader does before committing
            batch.file_checksum = batch.file_checksum.result()
        out.append(batch)
    return out


def committed(state: ExtractState, batches: list[Batch]) -> ExtractState:
    """What the loader would commit after these batches."""
    files = dict(state.loaded_files)
    for b in batches:
        if b.final and b.source_file:
            files[b.source_file] = b.file_checksum
    return ExtractState(cursor=state.cursor, loaded_files=files, extra=dict(state.extra))


def rows(batches: list[Batch]) -> list[dict]:
    out = []
    for b in batches:
        out += b.table.to_pylist()
    return out


def zstd_bytes(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


CSV = "id,name,amount\n1,ann,1.5\n2,bob,2.25\n3,cy,3\n"


# -- registry and config -------------------------------------------------------------------------
def test_registered_kinds():
    assert connector_class("files") is FilesConnector
    assert connector_class("s3") is S3Connector
    assert issubclass(S3Connector, FilesConnector)


def test_unknown_key_and_bad_values_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"does not take `delimter`.*delimiter"):
        make({"path": "*.csv", "delimter": ";"}, tmp_path)
    with pytest.raises(ConfigError, match="unknown format `xls`"):
        make({"path": "*.csv", "format": "xls"}, tmp_path)
    with pytest.raises(ConfigError, match="unknown encoding"):
        make({"path": "*.csv", "encoding": "klingon"}, tmp_path)
    with pytest.raises(ConfigError, match="needs `path`"):
        make({}, tmp_path)
    with pytest.raises(ConfigError, match="must start with s3://"):
        make({"path": "data/*.csv"}, tmp_path, kind="s3")
    # loader keys are accepted (and ignored)
    make(
        {"path": "*.csv", "columns": {"id": {}}, "write_disposition": "append", "batch_size": 10},
        tmp_path,
    )


# -- formats ---------------------------------------------------------------------------------------
def test_csv_types_inferred(tmp_path):
    (tmp_path / "a.csv").write_text(CSV)
    [batch] = run(make({"path": "*.csv"}, tmp_path))
    assert batch.source_file == "a.csv"
    assert batch.file_checksum.startswith("blake3:")
    assert batch.final and batch.rejected == []
    assert batch.table.schema.field("id").type == pa.int64()
    assert batch.table.schema.field("amount").type == pa.float64()
    assert rows([batch]) == [
        {"id": 1, "name": "ann", "amount": 1.5},
        {"id": 2, "name": "bob", "amount": 2.25},
        {"id": 3, "name": "cy", "amount": 3.0},
    ]


def test_tsv_by_extension_and_by_format(tmp_path):
    (tmp_path / "a.tsv").write_text("id\tname\n1\tx,y\n")
    (tmp_path / "b.txt").write_text("id\tname\n2\tz\n")
    assert rows(run(make({"path": "a.tsv"}, tmp_path))) == [{"id": 1, "name": "x,y"}]
    assert rows(run(make({"path": "b.txt", "format": "tsv"}, tmp_path))) == [{"id": 2, "name": "z"}]


def test_json_array_ndjson_and_jsonl(tmp_path):
    records = [
        {"id": 1, "tags": ["a"], "nested": {"x": 1}},
        {"id": 2, "tags": [], "nested": {"x": 2}},
    ]
    (tmp_path / "a.json").write_text(json.dumps(records))
    (tmp_path / "b.ndjson").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    (tmp_path / "d.json").write_text(
        "\n".join(json.dumps(r) for r in records)
    )  # NDJSON named .json
    for name in ("a.json", "b.ndjson", "c.jsonl", "d.json"):
        [batch] = run(make({"path": name}, tmp_path))
        assert rows([batch]) == records, name
        assert batch.table.schema.field("nested").type == pa.struct([("x", pa.int64())])
    assert rows(run(make({"path": "c.jsonl", "format": "jsonl"}, tmp_path))) == records
    assert rows(run(make({"path": "a.json", "format": "json"}, tmp_path))) == records


def test_parquet(tmp_path):
    table = pa.table({"id": [1, 2], "ts": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)]})
    pq.write_table(table, tmp_path / "a.parquet")
    [batch] = run(make({"path": "*.parquet"}, tmp_path))
    assert batch.table.equals(table)


def test_parquet_with_duckdb_options(tmp_path):
    part = tmp_path / "orders" / "year=2024"
    part.mkdir(parents=True)
    pq.write_table(pa.table({"id": [1]}), part / "a.parquet")
    [batch] = run(
        make({"path": "orders/**/*.parquet", "options": {"hive_partitioning": True}}, tmp_path)
    )
    assert batch.source_file == "orders/year=2024/a.parquet"
    assert rows([batch]) == [{"id": 1, "year": 2024}]


@pytest.mark.parametrize("ext", ["gz", "zst"])
def test_compressed_files_every_format(tmp_path, ext):
    compress = gzip.compress if ext == "gz" else zstd_bytes
    records = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    (tmp_path / f"a.csv.{ext}").write_bytes(compress(b"id,name\n1,a\n2,b\n"))
    (tmp_path / f"a.tsv.{ext}").write_bytes(compress(b"id\tname\n1\ta\n2\tb\n"))
    (tmp_path / f"a.ndjson.{ext}").write_bytes(
        compress(b'{"id":1,"name":"a"}\n{"id":2,"name":"b"}\n')
    )
    (tmp_path / f"a.json.{ext}").write_bytes(compress(json.dumps(records).encode()))
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": [1, 2], "name": ["a", "b"]}), sink)
    (tmp_path / f"a.parquet.{ext}").write_bytes(compress(sink.getvalue().to_pybytes()))
    batches = run(make({"path": f"*.{ext}"}, tmp_path))
    assert [b.source_file for b in batches] == [
        f"a.{f}.{ext}" for f in ("csv", "json", "ndjson", "parquet", "tsv")
    ]
    for b in batches:
        assert b.table.to_pylist() == records, b.source_file


def test_compression_set_explicitly(tmp_path):
    (tmp_path / "a.data").write_bytes(gzip.compress(CSV.encode()))
    [batch] = run(make({"path": "a.data", "format": "csv", "compression": "gzip"}, tmp_path))
    assert batch.table.num_rows == 3


def test_unknown_extension_needs_a_format(tmp_path):
    (tmp_path / "a.data").write_text(CSV)
    with pytest.raises(ConnectorError, match=r"cannot tell the format of `a.data`") as err:
        run(make({"path": "a.data"}, tmp_path))
    assert "format" in err.value.hint


# -- options ---------------------------------------------------------------------------------------
def test_csv_delimiter_quote_null_values_and_no_header(tmp_path):
    (tmp_path / "a.csv").write_text("1;'x;y';NA\n2;z;5\n")
    conn = make(
        {"path": "a.csv", "delimiter": ";", "quote": "'", "header": False, "null_values": ["NA"]},
        tmp_path,
    )
    assert rows(run(conn)) == [
        {"column0": 1, "column1": "x;y", "column2": None},
        {"column0": 2, "column1": "z", "column2": 5},
    ]


def test_header_defaults_to_true_even_for_text_columns(tmp_path):
    (tmp_path / "a.csv").write_text("name,city\nann,paris\n")
    assert rows(run(make({"path": "a.csv"}, tmp_path))) == [{"name": "ann", "city": "paris"}]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16"])
def test_encoding_is_decoded_to_utf8(tmp_path, encoding):
    text = "name,city\nJosé,Zürich\nRenée,Besançon\n"
    (tmp_path / "a.csv").write_bytes(text.encode(encoding))
    (tmp_path / "b.ndjson").write_bytes('{"name": "José"}\n'.encode(encoding))
    assert rows(run(make({"path": "a.csv", "encoding": encoding}, tmp_path))) == [
        {"name": "José", "city": "Zürich"},
        {"name": "Renée", "city": "Besançon"},
    ]
    assert rows(run(make({"path": "b.ndjson", "encoding": encoding}, tmp_path))) == [
        {"name": "José"}
    ]


def test_latin1_gzip(tmp_path):
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress("n\nJosé\n".encode("latin-1")))
    assert rows(run(make({"path": "a.csv.gz", "encoding": "latin1"}, tmp_path))) == [{"n": "José"}]
    (tmp_path / "b.csv.zst").write_bytes(zstd_bytes("n\nJosé\n".encode("cp1252")))
    assert rows(run(make({"path": "b.csv.zst", "encoding": "cp1252"}, tmp_path))) == [{"n": "José"}]


def test_date_and_timestamp_formats(tmp_path):
    (tmp_path / "a.csv").write_text("d,ts\n02/01/2024,02/01/2024 13:45\n")
    conn = make(
        {"path": "a.csv", "date_format": "%d/%m/%Y", "timestamp_format": "%d/%m/%Y %H:%M"}, tmp_path
    )
    assert rows(run(conn)) == [{"d": dt.date(2024, 1, 2), "ts": dt.datetime(2024, 1, 2, 13, 45)}]
    (tmp_path / "b.ndjson").write_text('{"d": "02/01/2024"}\n')
    conn = make(
        {"path": "b.ndjson", "date_format": "%d/%m/%Y", "column_types": {"d": "DATE"}}, tmp_path
    )
    assert rows(run(conn)) == [{"d": dt.date(2024, 1, 2)}]


def test_column_types_override_inference(tmp_path):
    (tmp_path / "a.csv").write_text("id,code,amount\n1,007,1.5\n")
    conn = make(
        {
            "path": "a.csv",
            "column_types": {"code": "VARCHAR", "amount": "DECIMAL(10,2)", "gone": "INT"},
        },
        tmp_path,
    )
    [batch] = run(conn)
    assert batch.table.schema.field("code").type == pa.string()
    assert batch.table.schema.field("amount").type == pa.decimal128(10, 2)
    assert rows([batch])[0]["code"] == "007"
    pq.write_table(pa.table({"id": [1, 2], "v": ["1", "2"]}), tmp_path / "a.parquet")
    [batch] = run(make({"path": "a.parquet", "column_types": {"v": "INTEGER"}}, tmp_path))
    assert batch.table.schema.field("v").type == pa.int32()


def test_skip_rows(tmp_path):
    (tmp_path / "a.csv").write_text("exported by tool\n\nid,v\n1,x\n")
    assert rows(run(make({"path": "a.csv", "skip_rows": 2}, tmp_path))) == [{"id": 1, "v": "x"}]


def test_relative_path_uses_base_dir_and_absolute_path_works(tmp_path):
    (tmp_path / "raw" / "2024").mkdir(parents=True)
    (tmp_path / "raw" / "2024" / "a.csv").write_text(CSV)
    (tmp_path / "raw" / "b.csv").write_text(CSV)
    batches = run(make({"path": "**/*.csv"}, tmp_path / "raw"))
    assert [b.source_file for b in batches] == ["2024/a.csv", "b.csv"]
    batches = run(make({"path": str(tmp_path / "raw" / "*.csv")}, tmp_path / "elsewhere"))
    assert [b.source_file for b in batches] == [(tmp_path / "raw" / "b.csv").as_posix()]
    batches = run(make({"path": "raw"}, tmp_path))  # a folder: every file below it
    assert [b.source_file for b in batches] == ["raw/2024/a.csv", "raw/b.csv"]


def test_batch_size_splits_a_file(tmp_path):
    (tmp_path / "a.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(10)) + "x,y\n")
    batches = run(make({"path": "a.csv", "batch_size": 4, "column_types": {"id": "INT"}}, tmp_path))
    assert [b.table.num_rows for b in batches] == [4, 4, 2]
    assert [b.final for b in batches] == [False, False, True]
    assert {b.file_checksum for b in batches} == {batches[0].file_checksum}
    assert [len(b.rejected) for b in batches] == [0, 0, 1]
    assert [r["id"] for r in rows(batches)] == list(range(10))


def test_empty_file_is_an_empty_batch(tmp_path):
    (tmp_path / "a.csv").write_text("")
    [batch] = run(make({"path": "a.csv"}, tmp_path))
    assert batch.table.num_rows == 0 and batch.file_checksum


# -- exactly-once ----------------------------------------------------------------------------------
def test_exactly_once_skip_changed_and_new_files(tmp_path):
    (tmp_path / "a.csv").write_text(CSV)
    (tmp_path / "b.csv").write_text("id,name,amount\n9,zed,9\n")
    conn = make({"path": "*.csv"}, tmp_path)
    first = run(conn)
    assert [b.source_file for b in first] == ["a.csv", "b.csv"]
    state = committed(ExtractState(), first)
    assert run(conn, state) == []  # nothing new
    (tmp_path / "b.csv").write_text("id,name,amount\n9,zed,10\n")  # changed
    (tmp_path / "c.csv").write_text("id,name,amount\n10,new,1\n")  # new
    second = run(conn, state)
    assert [b.source_file for b in second] == ["b.csv", "c.csv"]
    assert second[0].file_checksum != state.loaded_files["b.csv"]
    assert rows(second) == [
        {"id": 9, "name": "zed", "amount": 10},
        {"id": 10, "name": "new", "amount": 1},
    ]
    state = committed(state, second)
    assert run(conn, state) == []
    # touching a file without changing its bytes does not reload it
    os.utime(tmp_path / "a.csv", (1, 1))
    assert run(conn, state) == []


def test_checksum_is_of_the_bytes(tmp_path):
    (tmp_path / "a.csv").write_text(CSV)
    (tmp_path / "b.csv").write_text(CSV)
    a, b = run(make({"path": "*.csv"}, tmp_path))
    assert a.file_checksum == b.file_checksum
    # a state that knows the checksum under another path does not skip the file
    state = ExtractState(loaded_files={"a.csv": a.file_checksum})
    assert [x.source_file for x in run(make({"path": "*.csv"}, tmp_path), state)] == ["b.csv"]


def test_files_are_yielded_in_sorted_order(tmp_path):
    for name in ["c.csv", "a.csv", "b.csv"]:
        (tmp_path / name).write_text(CSV)
    assert [b.source_file for b in run(make({"path": "*.csv"}, tmp_path))] == [
        "a.csv",
        "b.csv",
        "c.csv",
    ]


# -- bad records -----------------------------------------------------------------------------------
def test_csv_bad_rows_are_rejected_with_line_and_reason(tmp_path):
    (tmp_path / "a.csv").write_text(
        "id,name,amount\n"
        "1,ann,1.5\n"
        "2,bob\n"  # line 3: too few columns
        "3,cy,2.5,extra\n"  # line 4: too many columns
        '4,"d,x",3.5\n'
        "5,eve,notanumber\n"  # line 6: does not cast under column_types
        "6,fay,4\n"
    )
    [batch] = run(make({"path": "a.csv", "column_types": {"amount": "DOUBLE"}}, tmp_path))
    assert [r["id"] for r in rows([batch])] == [1, 4, 6]
    rej = batch.rejected
    assert [(r.line, r.raw, r.source_file) for r in rej] == [
        (3, "2,bob", "a.csv"),
        (4, "3,cy,2.5,extra", "a.csv"),
        (6, "5,eve,notanumber", "a.csv"),
    ]
    assert "MISSING COLUMNS" in rej[0].reason
    assert "TOO MANY COLUMNS" in rej[1].reason
    assert "amount" in rej[2].reason and "notanumber" in rej[2].reason


def test_csv_bad_rows_in_gzip_and_with_skip_rows_keep_file_line_numbers(tmp_path):
    data = "junk\nid,v\n1,2\n3\n4,5\n"
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(data.encode()))
    [batch] = run(make({"path": "a.csv.gz", "skip_rows": 1}, tmp_path))
    assert rows([batch]) == [{"id": 1, "v": 2}, {"id": 4, "v": 5}]
    assert [(r.line, r.raw) for r in batch.rejected] == [(4, "3")]


def test_csv_invalid_utf8_line_is_rejected(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"id,name\n1,ok\n2,caf\xe9\n3,fine\n")
    [batch] = run(make({"path": "a.csv"}, tmp_path))
    assert [r["id"] for r in rows([batch])] == [1, 3]
    [bad] = batch.rejected
    assert bad.line == 3 and "INVALID ENCODING" in bad.reason


def test_csv_value_beyond_the_type_sample_is_not_rejected(tmp_path):
    """DuckDB infers types from a sample; a later value that does not fit widens the column."""
    lines = "".join(f"{i},{i}\n" for i in range(30_000))
    (tmp_path / "a.csv").write_text("id,v\n" + lines + "30000,1.5\n30001,abc\n")
    [batch] = run(make({"path": "a.csv"}, tmp_path))
    assert batch.rejected == []
    assert batch.table.num_rows == 30_002
    assert batch.table.schema.field("id").type == pa.int64()
    assert batch.table.column("v").to_pylist()[-2:] == ["1.5", "abc"]


def test_ndjson_invalid_lines_rejected_good_lines_kept(tmp_path):
    (tmp_path / "a.ndjson").write_text(
        '{"id": 1, "v": "a"}\n'
        "\n"  # blank lines are skipped, not rejected
        '{"id": 2, "v": \n'  # line 3: truncated
        "[1, 2]\n"  # line 4: not an object
        '{"id": 3, "v": "c"}\n'
        "not json\n"  # line 6
        '{"id": 4, "v": "d"}'
    )
    [batch] = run(make({"path": "a.ndjson"}, tmp_path))
    assert rows([batch]) == [{"id": 1, "v": "a"}, {"id": 3, "v": "c"}, {"id": 4, "v": "d"}]
    assert [(r.line, r.raw) for r in batch.rejected] == [
        (3, '{"id": 2, "v": '),
        (4, "[1, 2]"),
        (6, "not json"),
    ]
    assert "invalid JSON" in batch.rejected[0].reason
    assert "not a JSON object" in batch.rejected[1].reason


def test_ndjson_leniency_does_not_depend_on_the_neighbours(tmp_path):
    """DuckDB's JSON parser accepts trailing commas and NaN; the line-by-line path (taken when
    some other line is bad) accepts exactly the same lines."""
    lenient = '{"id": 1, "x": 2,}\n{"id": 2, "x": NaN}\n'
    (tmp_path / "a.ndjson").write_text(lenient)
    (tmp_path / "b.ndjson").write_text(lenient + "{broken\n")
    a, b = run(make({"path": "*.ndjson"}, tmp_path))
    assert a.table.num_rows == b.table.num_rows == 2
    assert a.rejected == [] and [r.line for r in b.rejected] == [3]


def test_ndjson_gzip_with_bad_lines(tmp_path):
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(b'{"id": 1}\n{oops\n{"id": 2}\n'))
    [batch] = run(make({"path": "*.gz"}, tmp_path))
    assert rows([batch]) == [{"id": 1}, {"id": 2}]
    assert [(r.line, r.raw) for r in batch.rejected] == [(2, "{oops")]


def test_ndjson_value_that_does_not_cast_is_rejected_with_its_line(tmp_path):
    (tmp_path / "a.ndjson").write_text(
        '{"id": 1, "n": "5"}\n\n{"id": 2, "n": "five"}\n{"id": 3, "n": null}\n'
    )
    [batch] = run(make({"path": "a.ndjson", "column_types": {"n": "INTEGER"}}, tmp_path))
    assert rows([batch]) == [{"id": 1, "n": 5}, {"id": 3, "n": None}]
    [bad] = batch.rejected
    assert bad.line == 3 and "five" in bad.reason and "`n`" in bad.reason
    assert json.loads(bad.raw) == {"id": 2, "n": "five"}


def test_ndjson_type_change_beyond_sample_is_kept(tmp_path):
    lines = [json.dumps({"id": i}) for i in range(25_000)] + [json.dumps({"id": "x"})]
    (tmp_path / "a.ndjson").write_text("\n".join(lines))
    [batch] = run(make({"path": "a.ndjson"}, tmp_path))
    assert batch.table.num_rows == 25_001 and batch.rejected == []


def test_json_array_and_parquet_cast_failures_use_record_numbers(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"v": "1"}, {"v": "x"}, {"v": "3"}]))
    [batch] = run(make({"path": "a.json", "column_types": {"v": "INT"}}, tmp_path))
    assert rows([batch]) == [{"v": 1}, {"v": 3}]
    assert [(r.line, json.loads(r.raw)) for r in batch.rejected] == [(2, {"v": "x"})]
    pq.write_table(pa.table({"v": ["1", "2", "zz"]}), tmp_path / "a.parquet")
    [batch] = run(make({"path": "a.parquet", "column_types": {"v": "BIGINT"}}, tmp_path))
    assert rows([batch]) == [{"v": 1}, {"v": 2}]
    assert [r.line for r in batch.rejected] == [3]


def test_malformed_json_document_names_the_file(tmp_path):
    (tmp_path / "a.json").write_text('[{"id": 1}, {"id": 2]')
    with pytest.raises(ConnectorError, match=r"cannot read `a.json`.*[Mm]alformed JSON"):
        run(make({"path": "a.json"}, tmp_path))


# -- errors ----------------------------------------------------------------------------------------
def test_no_file_matches_names_source_glob_and_base_dir(tmp_path):
    with pytest.raises(ConnectorError) as err:
        run(make({"path": "orders/*.csv"}, tmp_path))
    msg = str(err.value)
    assert "shop.orders" in msg and "orders/*.csv" in msg and str(tmp_path) in msg
    with pytest.raises(ConnectorError, match="no file matches"):
        make({"path": "orders/*.csv"}, tmp_path).check()


def test_bad_gzip_names_the_file(tmp_path):
    (tmp_path / "a.csv.gz").write_bytes(b"\x1f\x8b\x08not really gzip" * 10)
    with pytest.raises(ConnectorError, match=r"cannot read `a.csv.gz`") as err:
        run(make({"path": "*.gz"}, tmp_path))
    assert "compress" in (err.value.hint or "")
    (tmp_path / "a.csv.gz").write_bytes(b"plain text, not gzip\n")
    with pytest.raises(ConnectorError, match=r"cannot read `a.csv.gz`"):
        run(make({"path": "*.gz"}, tmp_path))


def test_bad_zstd_and_bad_parquet_name_the_file(tmp_path):
    (tmp_path / "a.ndjson.zst").write_bytes(b"\x28\xb5\x2f\xfd garbage")
    with pytest.raises(ConnectorError, match=r"cannot read `a.ndjson.zst`"):
        run(make({"path": "*.zst"}, tmp_path))
    (tmp_path / "b.parquet").write_bytes(b"PAR1 not a parquet file")
    with pytest.raises(ConnectorError, match=r"cannot read `b.parquet`"):
        run(make({"path": "*.parquet"}, tmp_path))


def test_wrong_encoding_names_the_file(tmp_path):
    """A file that does not decode in a transcoded encoding fails whole (DuckDB's own encodings
    reject the bad lines instead, see test_csv_invalid_utf8_line_is_rejected)."""
    (tmp_path / "a.csv").write_bytes("n\nJosé\n".encode("latin-1"))
    with pytest.raises(ConnectorError, match=r"cannot read `a.csv`.*ascii") as err:
        run(make({"path": "a.csv", "encoding": "ascii"}, tmp_path))
    assert "encoding" in err.value.hint


def test_ndjson_invalid_utf8_line_is_rejected(tmp_path):
    (tmp_path / "a.ndjson").write_bytes(b'{"n": 1}\n{"n": "caf\xe9"}\n{"n": 3}\n')
    [batch] = run(make({"path": "a.ndjson"}, tmp_path))
    assert rows([batch]) == [{"n": 1}, {"n": 3}]
    assert [r.line for r in batch.rejected] == [2] and "UTF-8" in batch.rejected[0].reason


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_names_the_file(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(CSV)
    path.chmod(0)
    try:
        with pytest.raises(ConnectorError, match=r"cannot read `a.csv`.*[Pp]ermission"):
            run(make({"path": "*.csv"}, tmp_path))
    finally:
        path.chmod(0o644)


def test_permission_error_while_hashing_names_the_file(tmp_path, monkeypatch):
    """As root nothing is unreadable: make the checksum step fail as a non-root user would."""
    import headwater.extract.files.connector as files

    (tmp_path / "a.csv").write_text(CSV)

    def denied(path, *_):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(files, "checksum_local", denied)
    for state in (ExtractState(), ExtractState(loaded_files={"a.csv": "sha256:old"})):
        with pytest.raises(ConnectorError, match=r"cannot read `a.csv`: Permission denied") as err:
            run(make({"path": "*.csv"}, tmp_path), state)
        assert "permission" in err.value.hint


def test_unreadable_file_as_root_via_a_directory_named_like_a_file(tmp_path):
    """A path that matches the glob but cannot be opened as a file is skipped by the listing;
    a file that vanishes between listing and reading is a ConnectorError naming it."""
    (tmp_path / "a.csv").write_text(CSV)
    conn = make({"path": "*.csv"}, tmp_path)
    files = conn.list_files()
    (tmp_path / "a.csv").unlink()
    conn.list_files = lambda: files  # type: ignore[method-assign]
    with pytest.raises(ConnectorError, match=r"cannot read `a.csv`"):
        run(conn)


# -- helpers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "key", "match"),
    [
        ("raw/*.csv", "raw/a.csv", True),
        ("raw/*.csv", "raw/x/a.csv", False),
        ("raw/**/*.csv", "raw/a.csv", True),
        ("raw/**/*.csv", "raw/x/y/a.csv", True),
        ("raw/**", "raw/x/y/a.csv", True),
        ("raw/a?.csv", "raw/ab.csv", True),
        ("raw/[ab].csv", "raw/b.csv", True),
        ("raw/[!ab].csv", "raw/b.csv", False),
        ("raw/a.csv", "raw/a.csv.gz", False),
        ("raw/a+b.csv", "raw/a+b.csv", True),
    ],
)
def test_glob_regex(pattern, key, match):
    assert bool(_glob_regex(pattern).match(key)) is match


def test_plain_local_parquet_is_scanned_by_the_warehouse(tmp_path):
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "a.parquet")
    batch = next(iter(make({"path": "*.parquet"}, tmp_path).extract(ExtractState())))
    assert (
        batch.table is None
        and "read_parquet" in batch.scan
        and batch.file_checksum.result().startswith("blake3:")
    )
    with_types = next(
        iter(
            make({"path": "*.parquet", "column_types": {"id": "BIGINT"}}, tmp_path).extract(
                ExtractState()
            )
        )
    )
    assert with_types.table is not None and with_types.scan is None


def test_a_file_recorded_with_an_older_sha256_checksum_is_not_loaded_again(tmp_path):
    import hashlib

    (tmp_path / "a.csv").write_text(CSV)
    old = "sha256:" + hashlib.sha256(CSV.encode()).hexdigest()
    assert run(make({"path": "*.csv"}, tmp_path), ExtractState(loaded_files={"a.csv": old})) == []
    # changed since: loaded again (its checksum computed the way the recorded one was)
    (tmp_path / "a.csv").write_text(CSV + "4,dee,4\n")
    [batch] = run(make({"path": "*.csv"}, tmp_path), ExtractState(loaded_files={"a.csv": old}))
    assert batch.file_checksum.startswith("sha256:") and batch.table.num_rows == 4
