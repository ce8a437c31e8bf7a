"""The loader on every engine: a connector's batches (Arrow rows, or files parsed by DuckDB) land
in the warehouse with their rejects and their load state in one transaction.

Each test runs on DuckDB (Arrow read in place, files scanned by the warehouse itself) and on
PostgreSQL (Arrow copied in with COPY, files parsed by the local DuckDB first): the dispositions
(append, replace, merge), schema contracts, rejects, exactly-once reruns, and what a failure in
the middle of a load leaves behind (nothing of the failed batch: neither its rows nor its state).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from headwater.engines.base import Engine
from headwater.errors import ExecutionError, SQLExecutionError
from headwater.extract.base import (
    Batch,
    Connector,
    ExtractState,
    Rejected,
    connector_class,
    register,
)
from headwater.extract.load import Loader, LoadResult
from headwater.extract.load_state import read_state, state_schema
from headwater.project.definition import Relation

SOURCE = "shop.orders"


@register
class FeedConnector(Connector):
    """Yields the batches of `FeedConnector.feeds[<source.table>]`: incremental by ``cursor``
    (rows above the committed cursor) and by file (a batch whose `source_file` was loaded with
    its checksum is skipped), failing before batch ``fail_after`` when it is set."""

    kind = "engines_feed"
    optional = ("cursor", "fail_after", "atomic")
    feeds: ClassVar[dict[str, list[Batch]]] = {}

    @property
    def atomic(self) -> bool:
        return bool(self.config.get("atomic"))

    def extract(self, state: ExtractState) -> Iterator[Batch]:
        field = self.config.get("cursor")
        for i, batch in enumerate(self.feeds.get(self.name, [])):
            if self.config.get("fail_after") is not None and i >= int(self.config["fail_after"]):
                raise ExecutionError("connection lost")
            if (
                batch.source_file
                and state.loaded_files.get(batch.source_file) == batch.file_checksum
            ):
                continue
            table = batch.table
            if field and state.cursor is not None and table is not None:
                table = table.filter(pc.greater(table[field], state.cursor))
                if table.num_rows == 0:
                    continue
            yield Batch(table, batch.source_file, batch.file_checksum, batch.cursor, list(batch.rejected),
                        line_of=batch.line_of)  # fmt: skip


def feed(*batches: Batch) -> None:
    FeedConnector.feeds["shop.orders"] = list(batches)


def rel(schema: str, name: str = "orders") -> Relation:
    return Relation(schema, name)


def load(engine: Engine, schema: str, **config: Any) -> LoadResult:
    return Loader(engine, rel(schema), FeedConnector("shop", "orders", config)).run()


def load_files(
    engine: Engine, schema: str, base: Path, pattern: str, full_refresh: bool = False, **config: Any
) -> LoadResult:
    cfg = {"path": pattern, "base_dir": str(base), **config}
    return Loader(engine, rel(schema), connector_class("files")("shop", "orders", cfg, env={})).run(
        full_refresh=full_refresh
    )


def rows(
    engine: Engine, schema: str, cols: str = "id, amount", name: str = "orders"
) -> list[tuple]:
    return [
        tuple(r)
        for r in engine.execute(f"SELECT {cols} FROM {rel(schema, name).render()} ORDER BY 1, 2")
    ]


def rejected(engine: Engine, schema: str) -> list[tuple]:
    return [tuple(r) for r in engine.execute(
        f"SELECT line, source_file, reason, raw FROM {rel(schema, 'orders__rejected').render()} ORDER BY source_file, line"
    )]  # fmt: skip


def state_rows(engine: Engine) -> tuple[list[tuple], list[tuple]]:
    """What the warehouse holds of the load state: (load_state, loaded_files) of the source."""
    schema = '"' + state_schema(engine) + '"'
    cursors = engine.execute(f"SELECT cursor FROM {schema}.load_state WHERE source = ?", [SOURCE])
    files = engine.execute(
        f"SELECT path, checksum FROM {schema}.loaded_files WHERE source = ? ORDER BY path", [SOURCE]
    )
    return [tuple(r) for r in cursors], [tuple(r) for r in files]


def count(engine: Engine, schema: str, name: str = "orders") -> int:
    if not engine.columns(rel(schema, name)):
        return 0
    return int(engine.execute(f"SELECT count(*) FROM {rel(schema, name).render()}")[0][0])


# -- files ------------------------------------------------------------------------------------------
def write(path: Path, fmt: str, table: pa.Table) -> None:
    """``table`` as a file of ``fmt``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "ndjson":
        path.write_text("".join(json.dumps(r) + "\n" for r in table.to_pylist()))
    else:
        names = table.column_names
        lines = [",".join(names)] + [",".join(str(r[n]) for n in names) for r in table.to_pylist()]
        path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("fmt", ["csv", "parquet", "ndjson"])
def test_files_load_once_and_only_new_or_changed_files_again(
    engine: Engine, schema_name: str, tmp_path: Path, fmt: str
) -> None:
    data = tmp_path / "data"
    write(data / f"a.{fmt}", fmt, pa.table({"id": [1, 2], "amount": [1.5, 2.5]}))
    write(data / f"b.{fmt}", fmt, pa.table({"id": [3], "amount": [3.5]}))
    first = load_files(engine, schema_name, data, f"*.{fmt}")
    assert (first.rows, first.files) == (3, [f"a.{fmt}", f"b.{fmt}"])
    assert rows(engine, schema_name, "id, amount, _hw_source_file") == [
        (1, 1.5, f"a.{fmt}"), (2, 2.5, f"a.{fmt}"), (3, 3.5, f"b.{fmt}"),
    ]  # fmt: skip
    # one batch id per file, shared by its rows
    batch_ids = engine.execute(
        f"SELECT _hw_source_file, count(DISTINCT _hw_batch_id) FROM {rel(schema_name).render()} GROUP BY 1"
    )
    assert sorted(tuple(r) for r in batch_ids) == [(f"a.{fmt}", 1), (f"b.{fmt}", 1)]
    # a rerun reads nothing: the files are in the load state, committed with their rows
    again = load_files(engine, schema_name, data, f"*.{fmt}")
    assert (again.rows, again.files) == (0, [])
    assert count(engine, schema_name) == 3
    assert [p for p, _ in state_rows(engine)[1]] == [f"a.{fmt}", f"b.{fmt}"]
    # a new file and a changed file are loaded; the unchanged one is not
    write(data / f"c.{fmt}", fmt, pa.table({"id": [4], "amount": [4.5]}))
    write(data / f"b.{fmt}", fmt, pa.table({"id": [5], "amount": [5.5]}))
    third = load_files(engine, schema_name, data, f"*.{fmt}")
    assert sorted(third.files) == [f"b.{fmt}", f"c.{fmt}"] and third.rows == 2
    assert [r[0] for r in rows(engine, schema_name)] == [1, 2, 3, 4, 5]


def test_gzip_csv_with_bad_lines_rejects_them_with_their_lines(
    engine: Engine, schema_name: str, tmp_path: Path
) -> None:
    bad = "id,name,amount\n1,ann,1.5\n2,bob\n3,cy,2.5,extra\n4,dee,4\n5,eve,notanumber\n6,fay,6\n"
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(bad.encode()))
    result = load_files(
        engine, schema_name, tmp_path, "*.csv.gz", column_types={"amount": "DOUBLE"}
    )
    assert (result.rows, result.rejected) == (3, 3)
    assert rows(engine, schema_name) == [(1, 1.5), (4, 4.0), (6, 6.0)]
    found = rejected(engine, schema_name)
    assert [(line, file, raw) for line, file, _, raw in found] == [
        (3, "a.csv.gz", "2,bob"), (4, "a.csv.gz", "3,cy,2.5,extra"), (6, "a.csv.gz", "5,eve,notanumber"),
    ]  # fmt: skip
    assert (
        "MISSING COLUMNS" in found[0][2]
        and "TOO MANY COLUMNS" in found[1][2]
        and "amount" in found[2][2]
    )
    assert result.first_rejected is not None and result.first_rejected.startswith(
        "a.csv.gz line 3:"
    )
    # the rows and their rejected neighbours are one batch
    ids = engine.execute(
        f"SELECT _hw_batch_id FROM {rel(schema_name).render()} UNION SELECT _hw_batch_id FROM {rel(schema_name, 'orders__rejected').render()}"
    )
    assert len(ids) == 1


TYPED_LATER = ("a.csv", "id,amount\n1,10\n2,20\n"), ("b.csv", "id,amount\n3,30\n4,oops\n5,50\n")
"""The second file has a value that does not fit the type the first file gave the column."""


def _load_typed_later(engine: Engine, schema: str, base: Path) -> list[tuple]:
    for name, text in TYPED_LATER:
        (base / name).write_text(text)
        load_files(engine, schema, base, name)
    return rejected(engine, schema)


def test_a_file_value_that_does_not_fit_the_table_is_rejected(
    engine: Engine, schema_name: str, tmp_path: Path
) -> None:
    found = _load_typed_later(engine, schema_name, tmp_path)
    assert rows(engine, schema_name) == [(1, 10), (2, 20), (3, 30), (5, 50)]
    assert (
        len(found) == 1
        and found[0][1] == "b.csv"
        and "amount" in found[0][2]
        and "oops" in found[0][2] + found[0][3]
    )


@pytest.mark.differs({"postgres": "the value is converted by PostgreSQL after the local DuckDB parsed the file: the "
                                  "rejected row keeps its values but not its line (DuckDB re-reads the file with the "
                                  "table's types and reports the line)"})  # fmt: skip
def test_a_file_value_that_does_not_fit_the_table_is_rejected_with_its_line(
    engine: Engine, schema_name: str, tmp_path: Path
) -> None:
    found = _load_typed_later(engine, schema_name, tmp_path)
    assert [(line, file) for line, file, _, _ in found] == [(3, "b.csv")]


def test_ndjson_records_that_do_not_fit_keep_their_line(
    engine: Engine, schema_name: str, tmp_path: Path
) -> None:
    """An Arrow batch that knows its lines (`Batch.line_of`): the rows a type rejects in the
    warehouse are found by position and reported with their line."""
    (tmp_path / "a.ndjson").write_text('{"id": 1, "amount": 1.5}\n{"id": 2, "amount": 2.5}\n')
    (tmp_path / "b.ndjson").write_text(
        '{"id": 3, "amount": 3.5}\n\n{"id": 4, "amount": "x"}\n{"id": 5, "amount": 5}\n'
    )
    load_files(engine, schema_name, tmp_path, "a.ndjson")
    result = load_files(engine, schema_name, tmp_path, "b.ndjson")
    assert (result.rows, result.rejected) == (2, 1)
    assert rows(engine, schema_name) == [(1, 1.5), (2, 2.5), (3, 3.5), (5, 5.0)]
    [(line, file, reason, raw)] = rejected(engine, schema_name)
    assert (line, file) == (3, "b.ndjson") and reason.startswith(
        'column `amount`: cannot convert "x" to '
    )
    record = json.loads(raw)
    # (the column is JSON in that file: its value is kept as JSON text)
    assert (record["id"], json.loads(record["amount"]), record["_hw_source_file"]) == (
        4,
        "x",
        "b.ndjson",
    )
    assert "__hw_row" not in record


# -- dispositions -------------------------------------------------------------------------------------
def test_append_with_a_cursor_is_exactly_once(engine: Engine, schema_name: str) -> None:
    feed(
        Batch(pa.table({"id": [1, 2], "amount": [10.0, 20.0]}), cursor=2),
        Batch(pa.table({"id": [3], "amount": [30.0]}), cursor=3),
    )
    assert load(engine, schema_name, cursor="id").rows == 3
    assert (
        load(engine, schema_name, cursor="id").rows == 0
    )  # rerun: nothing above the committed cursor
    assert rows(engine, schema_name) == [(1, 10.0), (2, 20.0), (3, 30.0)]
    assert read_state(engine, SOURCE).cursor == 3
    feed(Batch(pa.table({"id": [3, 4], "amount": [30.0, 40.0]}), cursor=4))
    assert load(engine, schema_name, cursor="id").rows == 1
    assert rows(engine, schema_name) == [(1, 10.0), (2, 20.0), (3, 30.0), (4, 40.0)]


def test_replace_swaps_in_the_new_rows(engine: Engine, schema_name: str) -> None:
    feed(Batch(pa.table({"id": [1, 2, 3], "amount": [1.0, 2.0, 3.0]})))
    assert load(engine, schema_name, write_disposition="replace").rows == 3
    feed(
        Batch(pa.table({"id": [7], "amount": [7.0]})), Batch(pa.table({"id": [8], "amount": [8.0]}))
    )
    result = load(engine, schema_name, write_disposition="replace")
    assert result.rows == 2
    assert rows(engine, schema_name) == [(7, 7.0), (8, 8.0)]
    assert not engine.columns(engine.staging_relation(rel(schema_name)))  # nothing staged is left


def test_replace_that_fails_half_way_keeps_the_published_table(
    engine: Engine, schema_name: str
) -> None:
    feed(Batch(pa.table({"id": [1, 2], "amount": [1.0, 2.0]})))
    load(engine, schema_name, write_disposition="replace")
    feed(
        Batch(pa.table({"id": [5], "amount": [5.0]})), Batch(pa.table({"id": [6], "amount": [6.0]}))
    )
    with pytest.raises(ExecutionError, match="connection lost"):
        load(engine, schema_name, write_disposition="replace", fail_after=1, load_rows=1)
    assert rows(engine, schema_name) == [(1, 1.0), (2, 2.0)]
    assert load(engine, schema_name, write_disposition="replace", load_rows=1).rows == 2
    assert rows(engine, schema_name) == [(5, 5.0), (6, 6.0)]


def test_merge_replaces_rows_by_key_and_the_last_row_of_a_key_wins(
    engine: Engine, schema_name: str
) -> None:
    feed(Batch(pa.table({"id": [1, 2], "amount": [1.0, 2.0]})))
    load(engine, schema_name, write_disposition="merge", primary_key="id")
    feed(Batch(pa.table({"id": [2, 3, 2], "amount": [20.0, 30.0, 21.0]})))
    load(engine, schema_name, write_disposition="merge", primary_key="id")
    assert rows(engine, schema_name) == [(1, 1.0), (2, 21.0), (3, 30.0)]
    # a composite key with a NULL part matches itself
    feed(
        Batch(pa.table({"id": [3, None], "amount": [31.0, 99.0]})),
        Batch(pa.table({"id": [None], "amount": [98.0]})),
    )
    load(engine, schema_name, write_disposition="merge", primary_key="id", load_rows=1)
    assert rows(engine, schema_name, "coalesce(id, -1), amount") == [
        (-1, 98.0),
        (1, 1.0),
        (2, 21.0),
        (3, 31.0),
    ]


def test_full_refresh_loads_every_file_again_once(
    engine: Engine, schema_name: str, tmp_path: Path
) -> None:
    write(tmp_path / "a.csv", "csv", pa.table({"id": [1, 2], "amount": [1.5, 2.5]}))
    load_files(engine, schema_name, tmp_path, "*.csv")
    assert load_files(engine, schema_name, tmp_path, "*.csv", full_refresh=True).rows == 2
    assert rows(engine, schema_name) == [(1, 1.5), (2, 2.5)]


def test_a_replaced_files_source_holds_exactly_the_current_files(
    engine: Engine, schema_name: str, tmp_path: Path
) -> None:
    write(tmp_path / "a.parquet", "parquet", pa.table({"id": [1, 2], "amount": [1.5, 2.5]}))
    write(tmp_path / "b.parquet", "parquet", pa.table({"id": [3], "amount": [3.5]}))
    assert (
        load_files(engine, schema_name, tmp_path, "*.parquet", write_disposition="replace").rows
        == 3
    )
    (tmp_path / "b.parquet").unlink()
    write(tmp_path / "a.parquet", "parquet", pa.table({"id": [7], "amount": [7.5]}))
    assert (
        load_files(engine, schema_name, tmp_path, "*.parquet", write_disposition="replace").rows
        == 1
    )
    assert rows(engine, schema_name, "id, amount, _hw_source_file") == [(7, 7.5, "a.parquet")]


# -- schema contracts -----------------------------------------------------------------------------------
def _type(engine: Engine, schema: str, column: str) -> str:
    return dict(engine.columns(rel(schema)))[column].lower()


def test_evolve_adds_columns_and_widens_types(engine: Engine, schema_name: str) -> None:
    feed(
        Batch(pa.table({"id": pa.array([1], pa.int32()), "amount": [1.0]})),
        Batch(pa.table({"id": pa.array([2], pa.int64()), "amount": [2.0], "note": ["new"]})),
    )
    result = load(engine, schema_name, load_rows=1)
    assert result.rows == 2 and result.schema_changes[0] == "created"
    assert _type(engine, schema_name, "id") == "bigint" and _type(engine, schema_name, "note") in (
        "varchar",
        "text",
    )
    assert rows(engine, schema_name, "id, note") == [(1, None), (2, "new")]
    changes = engine.execute(
        f'SELECT change FROM "{state_schema(engine)}".schema_changes WHERE source = ? ORDER BY change',
        [SOURCE],
    )
    texts = [c for (c,) in changes]
    assert any(t.startswith("added note ") for t in texts) and any(
        t.startswith("widened id ") for t in texts
    )


def test_freeze_refuses_a_changed_schema_and_commits_nothing_of_that_batch(
    engine: Engine, schema_name: str
) -> None:
    feed(
        Batch(pa.table({"id": [1], "amount": [1.0]}), cursor=1),
        Batch(pa.table({"id": [2], "amount": [2.0], "x": [1]}), cursor=2),
    )
    with pytest.raises(ExecutionError, match=r"schema_contract is `freeze`: \+x"):
        load(engine, schema_name, schema_contract="freeze", cursor="id", load_rows=1)
    assert rows(engine, schema_name) == [(1, 1.0)] and [
        c for c, _ in engine.columns(rel(schema_name))
    ][:2] == ["id", "amount"]
    assert "x" not in dict(engine.columns(rel(schema_name)))
    assert (
        read_state(engine, SOURCE).cursor == 1
    )  # the first batch's state, committed with its rows


def test_discard_row_and_discard_value(engine: Engine, schema_name: str) -> None:
    feed(
        Batch(pa.table({"id": [1], "amount": [1.0]})),
        Batch(pa.table({"id": [2, 3], "amount": [2.0, 3.0], "x": [None, 5]})),
    )
    result = load(engine, schema_name, schema_contract="discard_row", load_rows=1)
    assert (result.rows, result.rejected) == (2, 1)
    assert rows(engine, schema_name) == [(1, 1.0), (2, 2.0)]
    [(_, _, reason, raw)] = rejected(engine, schema_name)
    assert "column `x` is not in the table" in reason and json.loads(raw)["id"] == 3
    feed(Batch(pa.table({"id": [4], "amount": [4.0], "x": [6]})))
    assert load(engine, schema_name, schema_contract="discard_value").rows == 1
    assert rows(engine, schema_name)[-1] == (4, 4.0) and "x" not in dict(
        engine.columns(rel(schema_name))
    )


# -- rejects --------------------------------------------------------------------------------------------
def test_values_that_do_not_convert_are_rejected_naming_the_column(
    engine: Engine, schema_name: str
) -> None:
    long = "y" * 10_000
    feed(
        Batch(pa.table({"id": [1], "amount": [1]}), source_file="a.json", file_checksum="1"),
        Batch(pa.table({"id": [2, 3, 4], "amount": ["2", "zz", long]}), source_file="b.json", file_checksum="2",
              rejected=[Rejected(raw="{oops", reason="invalid JSON", source_file="b.json", line=9)]),
    )  # fmt: skip
    result = load(engine, schema_name)
    assert (result.rows, result.rejected) == (2, 3)
    assert rows(engine, schema_name) == [(1, 1), (2, 2)]
    found = {
        raw[:20]: (line, file, reason) for line, file, reason, raw in rejected(engine, schema_name)
    }
    assert found["{oops"] == (9, "b.json", "invalid JSON")
    bad = [v for k, v in found.items() if k != "{oops"]
    assert sorted(r[2][:31] for r in bad) == ["column `amount`: cannot convert"] * 2
    reasons = sorted(r[2] for r in bad)
    assert any(r.startswith("column `amount`: cannot convert zz to ") for r in reasons)
    assert any(
        "… (9,800 more characters) to " in r for r in reasons
    )  # the value is cut, the count grouped


def test_max_rejected_rolls_the_batch_back_with_its_rejects_and_state(
    engine: Engine, schema_name: str
) -> None:
    feed(Batch(pa.table({"id": [1], "amount": [1]}), source_file="a", file_checksum="1"))
    load(engine, schema_name, max_rejected=0)
    before = state_rows(engine)
    feed(Batch(pa.table({"id": [2, 3], "amount": ["x", "3"]}), source_file="b", file_checksum="2"))
    with pytest.raises(ExecutionError, match="1 of 2 records in b were rejected"):
        load(engine, schema_name, max_rejected=0)
    assert rows(engine, schema_name) == [(1, 1)]
    assert count(engine, schema_name, "orders__rejected") == 0
    assert state_rows(engine) == before


# -- failures in the middle of a load --------------------------------------------------------------------
def test_a_connector_that_fails_after_a_batch_keeps_that_batch_and_the_rerun_loads_the_rest(
    engine: Engine, schema_name: str
) -> None:
    feed(*(Batch(pa.table({"id": [i], "amount": [float(i)]}), cursor=i) for i in (1, 2, 3)))
    with pytest.raises(ExecutionError, match="connection lost"):
        load(engine, schema_name, cursor="id", fail_after=1, load_rows=1)
    # the batch before the failure committed with its cursor; nothing after it
    assert rows(engine, schema_name) == [(1, 1.0)]
    assert read_state(engine, SOURCE).cursor == 1
    assert load(engine, schema_name, cursor="id", load_rows=1).rows == 2
    assert rows(engine, schema_name) == [(1, 1.0), (2, 2.0), (3, 3.0)]


def test_an_atomic_source_that_fails_commits_no_batch(engine: Engine, schema_name: str) -> None:
    feed(
        *(
            Batch(
                pa.table({"id": [i], "amount": [float(i)]}), source_file=f"p{i}", file_checksum="c"
            )
            for i in (1, 2, 3)
        )
    )
    with pytest.raises(ExecutionError, match="connection lost"):
        load(engine, schema_name, atomic=True, fail_after=2)
    assert count(engine, schema_name) == 0
    assert state_rows(engine) == ([], [])
    assert load(engine, schema_name, atomic=True).rows == 3
    assert rows(engine, schema_name) == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert load(engine, schema_name, atomic=True).rows == 0  # the pages are in the state now


@pytest.fixture
def failing_after_state(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``fail(n)``: the n-th batch (1-based) of the next loads writes its rows and its state, then a
    statement of the same transaction fails."""
    original = Loader._write_state

    def fail(n: int) -> None:
        calls = {"n": 0}

        def write_state(
            self: Loader, batch: Batch, state: ExtractState, batch_id: str, rows: int
        ) -> None:
            original(self, batch, state, batch_id, rows)
            calls["n"] += 1
            if calls["n"] == n:
                self.engine.execute("SELECT * FROM __hw_no_such_table")

        monkeypatch.setattr(Loader, "_write_state", write_state)

    return fail


def test_a_failing_statement_after_the_state_rolls_back_rows_and_state_together(
    engine: Engine,
    schema_name: str,
    tmp_path: Path,
    failing_after_state: Callable[[int], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, ids in (("a.csv", [1, 2]), ("b.csv", [3, 4]), ("c.csv", [5])):
        write(tmp_path / name, "csv", pa.table({"id": ids, "amount": [float(i) for i in ids]}))
    failing_after_state(2)
    # (DuckDB's scan of the file names the file the failed statement was loading)
    with pytest.raises(ExecutionError, match="__hw_no_such_table"):
        load_files(engine, schema_name, tmp_path, "*.csv")
    # read back both: the first file is loaded and recorded, the second neither
    assert rows(engine, schema_name) == [(1, 1.0), (2, 2.0)]
    assert [p for p, _ in state_rows(engine)[1]] == ["a.csv"]
    monkeypatch.undo()
    result = load_files(engine, schema_name, tmp_path, "*.csv")
    assert result.files == ["b.csv", "c.csv"]
    assert [r[0] for r in rows(engine, schema_name)] == [1, 2, 3, 4, 5]
    assert [p for p, _ in state_rows(engine)[1]] == ["a.csv", "b.csv", "c.csv"]
    assert load_files(engine, schema_name, tmp_path, "*.csv").rows == 0


def test_a_failing_statement_leaves_the_cursor_where_the_rows_are(
    engine: Engine,
    schema_name: str,
    failing_after_state: Callable[[int], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    feed(*(Batch(pa.table({"id": [i], "amount": [float(i)]}), cursor=i) for i in (1, 2, 3)))
    failing_after_state(3)
    with pytest.raises(SQLExecutionError, match="__hw_no_such_table"):
        load(engine, schema_name, cursor="id", load_rows=1)
    assert rows(engine, schema_name) == [(1, 1.0), (2, 2.0)]
    assert state_rows(engine)[0] == [(json.dumps({"t": "json", "v": 2}),)]
    monkeypatch.undo()
    assert load(engine, schema_name, cursor="id", load_rows=1).rows == 1
    assert rows(engine, schema_name) == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert read_state(engine, SOURCE).cursor == 3


def test_an_atomic_source_whose_statement_fails_commits_no_batch(
    engine: Engine,
    schema_name: str,
    failing_after_state: Callable[[int], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed statement aborts the one transaction of all the batches: what they made is
    rolled back (temporary relations too), and the error reported is the statement's."""
    feed(
        *(
            Batch(
                pa.table({"id": [i], "amount": [float(i)]}), source_file=f"p{i}", file_checksum="c"
            )
            for i in (1, 2, 3)
        )
    )
    failing_after_state(2)
    with pytest.raises(SQLExecutionError, match="__hw_no_such_table"):
        load(engine, schema_name, atomic=True)
    assert count(engine, schema_name) == 0 and state_rows(engine) == ([], [])
    monkeypatch.undo()
    assert load(engine, schema_name, atomic=True).rows == 3
    assert rows(engine, schema_name) == [(1, 1.0), (2, 2.0), (3, 3.0)]


def test_an_empty_file_is_recorded_as_loaded(
    engine: Engine, schema_name: str, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("")
    write(tmp_path / "b.csv", "csv", pa.table({"id": [1], "amount": [1.5]}))
    result = load_files(engine, schema_name, tmp_path, "*.csv")
    assert (result.rows, result.files, result.empty_files) == (1, ["a.csv", "b.csv"], ["a.csv"])
    assert [p for p, _ in state_rows(engine)[1]] == ["a.csv", "b.csv"]
    assert load_files(engine, schema_name, tmp_path, "*.csv").files == []


# -- through the CLI -------------------------------------------------------------------------------------
def _project_engine(engine_name: str, schema: str, root: Path) -> Engine:
    """An engine on the warehouse a project built (read-only)."""
    from headwater.engines import create_engine
    from headwater.project.definition import Target
    from tests.engines.conftest import target_for

    target = target_for(engine_name, schema, root)
    if engine_name == "duckdb":
        target = Target(
            name="duckdb",
            engine="duckdb",
            path=str(root / ".headwater" / "warehouse.duckdb"),
            schema=schema,
        )
    engine = create_engine(target, str(root))
    engine.read_only = True
    engine.open()
    return engine


def test_a_files_source_extracts_and_builds_on_the_target(
    engine_project: Callable[..., Path], engine_name: str, schema_name: str, cli: Callable[..., Any]
) -> None:
    sources = (
        f"version: 2\nsources:\n  - name: shop\n    schema: {schema_name}_raw\n    connector: files\n"
        "    tables:\n      - name: orders\n        extract: {path: '*.csv', write_disposition: merge, primary_key: id}\n"
    )
    model = "select id, amount * 2 as doubled from {{ source('shop', 'orders') }}\n"
    root = engine_project({
        "sources.yml": sources, "models/doubled.sql": model,
        "data/raw/a.csv": "id,amount\n1,10\n2,20\n", "data/raw/b.csv": "id,amount\n2,25\n3,30\n",
    })  # fmt: skip
    for _ in range(2):  # the second build finds nothing new to load
        res = cli("build", "--project-dir", root)
        assert res.code == 0, res.out + res.err
    engine = _project_engine(engine_name, schema_name, root)
    try:
        loaded = engine.execute(f'SELECT id, amount FROM "{schema_name}_raw".orders ORDER BY id')
        built = engine.execute(f'SELECT id, doubled FROM "{schema_name}".doubled ORDER BY id')
        files = engine.execute(
            f'SELECT path FROM "{state_schema(engine)}".loaded_files ORDER BY path'
        )
    finally:
        engine.close()
    assert [tuple(r) for r in loaded] == [(1, 10), (2, 25), (3, 30)]
    assert [tuple(r) for r in built] == [(1, 20), (2, 50), (3, 60)]
    assert [p for (p,) in files] == ["a.csv", "b.csv"]
