"""CSV files loaded through the warehouse's own `read_csv` scan: bad lines land in
`<table>__rejected` in the same transaction as the good rows, `max_rejected` rolls the file back,
a sample-inferred type that does not fit is re-inferred from the whole file, and read errors name
the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from headwater.engines.duckdb import DuckDBEngine
from headwater.errors import ExecutionError
from headwater.extract.base import ConnectorError, connector_class
from headwater.extract.load import Loader
from headwater.project.definition import Relation

REL = Relation("raw", "orders")


def load(engine: DuckDBEngine, base: Path, **config):
    cfg = {"path": "*.csv*", "base_dir": str(base), **config}
    return Loader(engine, REL, connector_class("files")("shop", "orders", cfg, env={})).run()


BAD = "id,name,amount\n1,ann,1.5\n2,bob\n3,cy,2.5,extra\n4,dee,4\n5,eve,notanumber\n6,fay,6\n"


def test_bad_lines_are_rejected_in_the_same_load_as_the_good_rows(engine, tmp_path):
    (tmp_path / "a.csv").write_text(BAD)
    result = load(engine, tmp_path, column_types={"amount": "DOUBLE"})
    assert result.rows == 3 and result.rejected == 3 and result.files == ["a.csv"]
    assert engine.execute("SELECT id, amount, _hw_source_file FROM raw.orders ORDER BY id") == [
        (1, 1.5, "a.csv"), (4, 4.0, "a.csv"), (6, 6.0, "a.csv"),
    ]  # fmt: skip
    rejected = engine.execute(
        "SELECT line, raw, source_file, reason FROM raw.orders__rejected ORDER BY line"
    )
    assert [r[:3] for r in rejected] == [
        (3, "2,bob", "a.csv"),
        (4, "3,cy,2.5,extra", "a.csv"),
        (6, "5,eve,notanumber", "a.csv"),
    ]
    assert "MISSING COLUMNS" in rejected[0][3] and "TOO MANY COLUMNS" in rejected[1][3]
    assert "amount" in rejected[2][3]
    # the batch ids of the rows and of their rejected neighbours are the same load
    ids = engine.execute(
        "SELECT DISTINCT _hw_batch_id FROM raw.orders UNION SELECT DISTINCT _hw_batch_id FROM raw.orders__rejected"
    )
    assert len(ids) == 1
    # no reject bookkeeping tables are left behind on the warehouse connection
    assert not engine.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '__hw_reject%'"
    )
    # loaded once: a rerun reads nothing
    again = load(engine, tmp_path, column_types={"amount": "DOUBLE"})
    assert again.rows == 0 and again.rejected == 0
    assert engine.execute("SELECT count(*) FROM raw.orders__rejected") == [(3,)]


def test_max_rejected_rolls_the_file_back_and_a_rerun_after_the_fix_loads_it(engine, tmp_path):
    (tmp_path / "a.csv").write_text(BAD)
    with pytest.raises(ExecutionError, match=r"3 of 6 records in a.csv were rejected"):
        load(engine, tmp_path, column_types={"amount": "DOUBLE"}, max_rejected=0.25)
    assert not engine.columns(REL) or engine.execute("SELECT count(*) FROM raw.orders") == [(0,)]
    assert not engine.execute(
        "SELECT * FROM duckdb_tables() WHERE schema_name = '_headwater' AND table_name = 'loaded_files'"
    ) or engine.execute("SELECT count(*) FROM _headwater.loaded_files") == [(0,)]
    (tmp_path / "a.csv").write_text("id,name,amount\n1,ann,1.5\n2,bob,2\n")
    result = load(engine, tmp_path, column_types={"amount": "DOUBLE"}, max_rejected=0.25)
    assert result.rows == 2 and result.rejected == 0
    assert load(engine, tmp_path, max_rejected=1).rows == 0


def test_max_rejected_as_a_count_accepts_up_to_the_limit(engine, tmp_path):
    (tmp_path / "a.csv").write_text(BAD)
    assert load(engine, tmp_path, column_types={"amount": "DOUBLE"}, max_rejected=3).rows == 3


def test_a_type_inferred_from_the_sample_is_widened_from_the_whole_file(engine, tmp_path):
    """30,000 integers, then values that are not: no row is rejected, the column is re-inferred."""
    lines = ["id,v,w"] + [f"{i},{i},{i}" for i in range(30_000)] + ["30000,1.5,x", "30001,abc,2"]
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    result = load(engine, tmp_path)
    assert result.rows == 30_002 and result.rejected == 0
    types = dict(engine.columns(REL))
    assert types["id"] == "BIGINT" and types["v"] == "VARCHAR" and types["w"] == "VARCHAR"
    assert engine.execute("SELECT v, w FROM raw.orders WHERE id >= 30000 ORDER BY id") == [
        ("1.5", "x"),
        ("abc", "2"),
    ]
    assert not engine.columns(Relation("raw", "orders__rejected"))


def test_a_user_type_that_does_not_fit_is_a_rejected_record_not_a_retry(engine, tmp_path):
    lines = ["id,v"] + [f"{i},{i}" for i in range(30_000)] + ["30000,abc"]
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    result = load(engine, tmp_path, column_types={"v": "INTEGER"})
    assert result.rows == 30_000 and result.rejected == 1
    assert engine.execute("SELECT line, raw FROM raw.orders__rejected") == [(30_002, "30000,abc")]


def test_gzip_and_options_go_through_the_scan(engine, tmp_path):
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(b"id;when\n1;05/01/2024\n2;NA\n"))
    result = load(engine, tmp_path, delimiter=";", date_format="%d/%m/%Y", null_values=["NA"])
    assert result.rows == 2
    assert engine.execute('SELECT id, CAST("when" AS VARCHAR) FROM raw.orders ORDER BY id') == [
        (1, "2024-01-05"),
        (2, None),
    ]


def test_a_corrupt_file_fails_naming_it_and_loads_nothing(engine, tmp_path):
    (tmp_path / "a.csv").write_text("id\n1\n")
    (tmp_path / "b.csv.gz").write_bytes(b"\x1f\x8b\x08\x00not gzip at all")
    with pytest.raises(
        ConnectorError, match=r"source `shop.orders`: cannot read `b.csv.gz`"
    ) as err:
        load(engine, tmp_path)
    assert "compress" in (err.value.hint or "")
    # a.csv committed before b.csv.gz failed; b is not marked loaded
    assert engine.execute("SELECT path FROM _headwater.loaded_files") == [("a.csv",)]
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(b"id\n2\n"))
    assert load(engine, tmp_path).rows == 1
    assert engine.execute("SELECT id FROM raw.orders ORDER BY id") == [(1,), (2,)]


def test_a_table_from_an_older_load_with_a_text_batch_id_keeps_loading_under_freeze(
    engine, tmp_path
):
    engine.execute("CREATE SCHEMA raw")
    engine.execute(
        "CREATE TABLE raw.orders (id BIGINT, _hw_loaded_at TIMESTAMP, _hw_batch_id VARCHAR, _hw_source_file VARCHAR)"
    )
    engine.execute("INSERT INTO raw.orders VALUES (0, now()::TIMESTAMP, 'old-batch', 'old.csv')")
    (tmp_path / "a.csv").write_text("id\n1\n")
    result = load(engine, tmp_path, schema_contract="freeze")
    assert result.rows == 1 and result.schema_changes == []
    assert dict(engine.columns(REL))["_hw_batch_id"] == "VARCHAR"
    [(batch,)] = engine.execute("SELECT _hw_batch_id FROM raw.orders WHERE id = 1")
    assert batch.isdigit() and batch != "old-batch"
