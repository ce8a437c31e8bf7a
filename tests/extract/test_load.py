"""The loader: dispositions, metadata columns, exactly-once state, schema contracts, rejects,
`max_rejected` — on a real DuckDB file, fed by a small in-memory connector."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.context import Context
from headwater.engines.duckdb import DuckDBEngine
from headwater.errors import ConfigError, ExecutionError
from headwater.extract.base import Batch, Connector, ExtractState, Rejected, register
from headwater.extract.load import Loader
from headwater.extract.load_state import decode, encode
from headwater.project.definition import Relation
from tests.conftest import query


@register
class MemoryConnector(Connector):
    """Yields the batches put in `MemoryConnector.feeds[<source.table>]`; incremental by `cursor`."""

    kind = "memory"
    optional = ("cursor", "fail_after")
    feeds: ClassVar[dict[str, list[Batch]]] = {}

    def extract(self, state: ExtractState) -> Iterator[Batch]:
        field = self.config.get("cursor")
        for i, batch in enumerate(self.feeds.get(self.name, [])):
            if self.config.get("fail_after") is not None and i >= int(self.config["fail_after"]):
                raise ExecutionError("connection lost")
            table = batch.table
            if field and state.cursor is not None:
                import pyarrow.compute as pc

                table = table.filter(pc.greater(table[field], state.cursor))
                if table.num_rows == 0:
                    continue
            yield Batch(table, batch.source_file, batch.file_checksum, batch.cursor, batch.rejected)


REL = Relation("raw", "orders")


def _feed(*batches: Batch) -> None:
    MemoryConnector.feeds["shop.orders"] = list(batches)


def _load(engine: DuckDBEngine, **config: Any) -> Any:
    return Loader(engine, REL, MemoryConnector("shop", "orders", config)).run()


def _rows(engine: DuckDBEngine, cols: str = "id, amount") -> list[tuple]:
    return engine.execute(f"SELECT {cols} FROM raw.orders ORDER BY id")


def test_append_adds_metadata_columns(engine: DuckDBEngine) -> None:
    _feed(
        Batch(
            pa.table({"id": [1, 2], "amount": [10.0, 20.0]}), source_file="a.csv", file_checksum="x"
        )
    )
    result = _load(engine)
    assert result.rows == 2 and result.files == ["a.csv"]
    rows = engine.execute(
        "SELECT id, _hw_batch_id, _hw_source_file, _hw_loaded_at FROM raw.orders ORDER BY id"
    )
    assert [r[2] for r in rows] == ["a.csv", "a.csv"] and rows[0][1] == rows[1][1]
    assert isinstance(rows[0][3], dt.datetime)


def test_files_load_exactly_once(engine: DuckDBEngine) -> None:
    class Files(MemoryConnector):
        kind = "memory_files"

        def extract(self, state: ExtractState) -> Iterator[Batch]:
            for name, checksum, ids in (("a.csv", "1", [1, 2]), ("b.csv", "2", [3])):
                if state.loaded_files.get(name) != checksum:
                    yield Batch(pa.table({"id": ids}), source_file=name, file_checksum=checksum)

    loader = Loader(engine, REL, Files("shop", "orders", {}))
    assert loader.run().rows == 3
    again = Loader(engine, REL, Files("shop", "orders", {})).run()
    assert again.rows == 0 and again.files == []
    assert engine.execute("SELECT count(*) FROM raw.orders") == [(3,)]


def test_incremental_cursor_is_committed_with_the_rows(engine: DuckDBEngine) -> None:
    t1 = dt.datetime(2026, 1, 1, 12)
    _feed(Batch(pa.table({"id": [1, 2], "updated_at": [t1, t1]}), cursor=t1))
    assert _load(engine, cursor="updated_at").cursor == t1
    t2 = t1 + dt.timedelta(hours=1)
    _feed(Batch(pa.table({"id": [1, 2, 3], "updated_at": [t1, t1, t2]}), cursor=t2))
    result = _load(engine, cursor="updated_at")
    assert result.rows == 1 and result.cursor == t2  # only the row past the committed cursor


def test_crash_between_batches_resumes_without_duplicates(engine: DuckDBEngine) -> None:
    batches = [
        Batch(pa.table({"id": [i * 10 + j for j in range(3)], "seq": [i] * 3}), cursor=i)
        for i in range(1, 5)
    ]
    _feed(*batches)
    with pytest.raises(ExecutionError, match="connection lost"):
        _load(engine, cursor="seq", fail_after=2)
    assert engine.execute("SELECT count(*) FROM raw.orders") == [
        (6,)
    ]  # two batches committed, with their cursor
    result = _load(engine, cursor="seq")
    assert result.rows == 6
    assert engine.execute("SELECT count(*), count(DISTINCT id) FROM raw.orders") == [(12, 12)]


def test_small_batches_are_written_in_fewer_transactions(engine: DuckDBEngine) -> None:
    _feed(
        *[
            Batch(pa.table({"id": [i * 10 + j for j in range(10)], "seq": [i] * 10}), cursor=i)
            for i in range(1, 8)
        ]
    )
    result = _load(engine, cursor="seq", load_rows=25)
    assert result.rows == 70 and result.cursor == 7
    assert (
        result.batches == 3
    )  # 30 + 30 + 10 rows: each commit holds whole parts and their last cursor
    assert engine.execute("SELECT count(*), count(DISTINCT id) FROM raw.orders") == [(70, 70)]


def test_merge_by_primary_key_last_row_wins(engine: DuckDBEngine) -> None:
    _feed(Batch(pa.table({"id": [1, 2], "amount": [1.0, 2.0]})))
    _load(engine, write_disposition="merge", primary_key="id")
    _feed(Batch(pa.table({"id": [2, 3, 3], "amount": [20.0, 3.0, 30.0]})))
    _load(engine, write_disposition="merge", primary_key="id")
    assert _rows(engine) == [(1, 1.0), (2, 20.0), (3, 30.0)]


def test_replace_swaps_the_whole_table(engine: DuckDBEngine) -> None:
    _feed(Batch(pa.table({"id": [1, 2]})), Batch(pa.table({"id": [3]})))
    _load(engine, write_disposition="replace")
    _feed(Batch(pa.table({"id": [7]})))
    _load(engine, write_disposition="replace")
    assert engine.execute("SELECT id FROM raw.orders") == [(7,)]


def test_replace_reads_every_file_again(engine: DuckDBEngine) -> None:
    class Files(MemoryConnector):
        kind = "memory_files_replace"

        def extract(self, state: ExtractState) -> Iterator[Batch]:
            for name, ids in (("a.csv", [1, 2]), ("b.csv", [3])):
                if name not in state.loaded_files:
                    yield Batch(pa.table({"id": ids}), source_file=name, file_checksum="same")

    for _ in range(2):
        Loader(engine, REL, Files("shop", "orders", {"write_disposition": "replace"})).run()
        assert engine.execute("SELECT count(*) FROM raw.orders") == [(3,)]


def test_merge_needs_a_primary_key(engine: DuckDBEngine) -> None:
    with pytest.raises(ConfigError, match="no `primary_key`"):
        _load(engine, write_disposition="merge")


@pytest.mark.parametrize(
    ("contract", "columns", "rejected"),
    [
        ("evolve", ["id", "amount", "note"], 0),
        ("discard_value", ["id", "amount"], 0),
        ("discard_row", ["id", "amount"], 1),
    ],
)
def test_schema_contracts(
    engine: DuckDBEngine, contract: str, columns: list[str], rejected: int
) -> None:
    _feed(Batch(pa.table({"id": [1], "amount": [1.0]})))
    _load(engine, schema_contract=contract)
    _feed(Batch(pa.table({"id": [2, 3], "amount": [2.0, 3.0], "note": ["hi", None]})))
    result = _load(engine, schema_contract=contract)
    have = [
        r[0]
        for r in engine.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'orders'"
        )
    ]
    assert [c for c in have if not c.startswith("_hw_")] == columns
    assert result.rejected == rejected
    assert result.schema_changes  # every change is recorded and reported
    logged = engine.execute(
        "SELECT count(*) FROM _headwater.schema_changes WHERE source = 'shop.orders'"
    )[0][0]
    assert logged >= 1


def test_freeze_fails_with_the_diff_and_loads_nothing(engine: DuckDBEngine) -> None:
    _feed(Batch(pa.table({"id": [1]})))
    _load(engine, schema_contract="freeze")
    _feed(Batch(pa.table({"id": [2], "extra": ["x"]})))
    with pytest.raises(ExecutionError, match=r"\+extra VARCHAR"):
        _load(engine, schema_contract="freeze")
    assert engine.execute("SELECT count(*) FROM raw.orders") == [(1,)]


def test_the_first_load_records_the_inferred_schema(engine: DuckDBEngine) -> None:
    _feed(Batch(pa.table({"id": [1], "amount": [1.0]})))
    result = _load(engine)
    assert result.schema_changes == ["created"] and "schema: created" in result.message()
    assert engine.execute(
        "SELECT change FROM _headwater.schema_changes WHERE source = 'shop.orders'"
    ) == [("created with 2 columns: id BIGINT, amount DOUBLE",)]
    _feed(Batch(pa.table({"id": [2], "amount": [2.0]})))
    assert _load(engine).schema_changes == []  # the same schema again is no change


def test_replace_loads_record_schema_changes_and_honour_freeze(engine: DuckDBEngine) -> None:
    _feed(Batch(pa.table({"id": [1], "amount": [1.0]})))
    _load(engine, write_disposition="replace")
    _feed(Batch(pa.table({"id": [2], "amount": [2.0], "note": ["x"]})))
    with pytest.raises(ExecutionError, match=r"\+note VARCHAR"):
        _load(engine, write_disposition="replace", schema_contract="freeze")
    assert engine.execute("SELECT id FROM raw.orders") == [(1,)]  # the published table is untouched
    result = _load(engine, write_disposition="replace")
    assert result.schema_changes == ["added note VARCHAR"]
    assert engine.execute("SELECT id, note FROM raw.orders") == [(2, "x")]
    # a source that stops sending a column: the column stays (NULL), as dlt does
    _feed(Batch(pa.table({"id": [3]})))
    _load(engine, write_disposition="replace")
    assert engine.execute("SELECT id, amount, note FROM raw.orders") == [(3, None, None)]
    # nothing extracted: an empty source does not empty the table (the load fails, the table
    # stays as it is) and no staging table is left behind
    _feed()
    with pytest.raises(
        ExecutionError, match=r"refusing to replace raw.orders \(1 rows\) with an empty table"
    ):
        _load(engine, write_disposition="replace")
    assert engine.execute("SELECT id FROM raw.orders") == [(3,)]
    assert [
        r[0]
        for r in engine.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw'")
    ] == ["orders"]


def test_evolve_widens_types(engine: DuckDBEngine) -> None:
    _feed(Batch(pa.table({"id": pa.array([1], pa.int32())})))
    _load(engine)
    _feed(Batch(pa.table({"id": pa.array([2**40], pa.int64())})))
    result = _load(engine)
    assert "widened id INTEGER -> BIGINT" in result.schema_changes
    assert engine.execute("SELECT id FROM raw.orders ORDER BY id") == [(1,), (2**40,)]


def test_uncoercible_values_and_connector_rejects_go_to_the_rejected_table(
    engine: DuckDBEngine,
) -> None:
    _feed(Batch(pa.table({"id": [1], "amount": [1.0]})))
    _load(engine, schema_contract="freeze")
    bad = Rejected('{"id": oops', "invalid JSON", source_file="b.ndjson", line=7)
    _feed(
        Batch(
            pa.table({"id": ["2", "x3"], "amount": ["2.5", "3"]}),
            source_file="b.ndjson",
            file_checksum="c",
            rejected=[bad],
        )
    )
    result = _load(engine)
    assert result.rows == 1 and result.rejected == 2
    assert _rows(engine) == [(1, 1.0), (2, 2.5)]
    rows = engine.execute(
        "SELECT raw, reason, source_file, line FROM raw.orders__rejected ORDER BY reason"
    )
    # the reason names the column and the value
    assert rows[0][1] == "column `id`: cannot convert x3 to BIGINT" and '"x3"' in rows[0][0]
    assert rows[1] == ('{"id": oops', "invalid JSON", "b.ndjson", 7)


def test_max_rejected_turns_a_flood_into_a_failure(engine: DuckDBEngine) -> None:
    _feed(Batch(pa.table({"id": [1]}), rejected=[Rejected("x", "bad"), Rejected("y", "bad")]))
    with pytest.raises(ExecutionError, match="more than max_rejected"):
        _load(engine, max_rejected=0.5)
    # the batch was rolled back, the table it would have created included
    assert engine.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'orders'") == [
        (0,)
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.none(), st.integers(-(2**62), 2**62), st.text(max_size=20),
        st.datetimes(min_value=dt.datetime(1900, 1, 1)), st.dates(), st.decimals(allow_nan=False, allow_infinity=False),
    )
)  # fmt: skip
def test_cursor_encoding_round_trips(value: Any) -> None:
    assert decode(encode(value)) == value


def test_sources_yml_connector_runs_in_the_graph(make_project: Callable[..., Path], cli) -> None:
    _feed(Batch(pa.table({"id": [1, 2], "amount": [5.0, 7.0]})))
    root = make_project(
        {
            "sources.yml": (
                "version: 2\nsources:\n  - name: shop\n    connector: memory\n    tables:\n"
                "      - name: orders\n        extract: {write_disposition: merge, primary_key: id}\n"
                "        columns: [{name: id, data_tests: [unique]}]\n"
            ),
            "models/staging/stg_orders.sql": "select id, amount from {{ source('shop', 'orders') }}",
        }
    )
    res = cli("extract", "--project-dir", root)
    assert res.code == 0, res.out + res.err
    assert "extract shop.orders (2 rows" in res.out
    with Context(root) as ctx:
        ls = [n.name for n in ctx.select(["source:shop+"])]
    assert "stg_orders" in ls
    res = cli("build", "--project-dir", root)
    assert res.code == 0, res.out + res.err
    assert query(root, "select count(*) from main.stg_orders") == [
        (2,)
    ]  # merge: no duplicates on rerun


def test_unknown_connector_and_keys_are_clear_errors(
    make_project: Callable[..., Path], cli
) -> None:
    root = make_project(
        {
            "sources.yml": "version: 2\nsources:\n  - name: shop\n    connector: postgress\n    tables: [{name: orders}]\n"
        }
    )
    res = cli("extract", "--project-dir", root)
    # a configuration error found when the project is read: exit 2, with the file and line
    assert (
        res.code == 2
        and "sources.yml:4: unknown connector `postgress`" in res.err
        and "`postgres`" in res.err
    )
