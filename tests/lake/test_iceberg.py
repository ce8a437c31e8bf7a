"""Iceberg lake tables (`headwater.lake.iceberg`) on a real DuckDB and real pyiceberg: files staged
by DuckDB, committed through the SQL catalog (SQLite in the state folder, PostgreSQL, S3 through
moto's server), read back by DuckDB from exactly the snapshot's files and, independently, by
pyiceberg's own reader."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import socket
import stat
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.engines.duckdb import DuckDBEngine
from headwater.errors import ConfigError, ExecutionError
from headwater.lake import LocalFiles, open_table
from headwater.lake.files import casted_select, scan_sql, write_files
from headwater.lake.iceberg import CATALOG_URI_ENV, IcebergTable
from headwater.lake.storage import TableLocation
from headwater.lake.table import Change, DataFile, LakeConflict, Snapshot
from headwater.project.definition import Target

pyiceberg = pytest.importorskip(
    "pyiceberg", reason="pip install -e '.[lake]' installs pyiceberg[sql-sqlite,pyiceberg-core]"
)
from pyiceberg.catalog.sql import SqlCatalog  # noqa: E402

from tests.lake.racing import race  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

ORDERS = """
select i as id, 'c' || (i % 4) as customer, (i * 7 % 100)::decimal(10, 2) as amount,
       date '2026-01-01' + (i % 3)::int as day
from range({lo}, {hi}) t(i)
"""


def orders(lo: int, hi: int) -> str:
    return ORDERS.format(lo=lo, hi=hi)


def _key(row: tuple) -> str:
    return repr(row)


def rows_of(table: pa.Table) -> list[tuple]:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=_key)


@dataclass
class Lake:
    """A DuckDB warehouse, a lake folder and a state folder in one tmp dir."""

    engine: DuckDBEngine
    root: Path
    env: Mapping[str, str]

    @property
    def state(self) -> Path:
        return self.root / ".headwater"

    def location(self, name: str = "orders") -> TableLocation:
        return TableLocation.parse(f"lake/main/{name}", self.root, env=self.env)

    def table(self, name: str = "orders", location: TableLocation | None = None) -> IcebergTable:
        table = open_table("iceberg", location or self.location(name), name, str(self.state))
        assert isinstance(table, IcebergTable)
        return table

    def files(self, table: IcebergTable) -> LocalFiles:
        return LocalFiles(table, str(self.state / "lake_cache"))

    def stage(
        self, table: IcebergTable, sql: str, partition_by: tuple[str, ...] = ()
    ) -> tuple[list[DataFile], pa.Schema]:
        """Write ``sql`` as staged files the way the lake materialization does."""
        casted = casted_select(self.engine, sql, table.CASTS)
        schema = self.engine.fetch_arrow(f"select * from ({casted}) as q limit 0").schema
        local = self.files(table)
        root = local.write_root
        staged = write_files(
            self.engine,
            casted,
            f"{root}/{table.DATA_PREFIX}",
            partition_by,
            partitions_in_files=table.PARTITIONS_IN_FILES,
            relative_to=root,
        )
        local.upload(staged)
        return staged, schema

    def read(self, table: IcebergTable, snap: Snapshot) -> list[tuple]:
        """The version's rows as DuckDB reads them from exactly its files."""
        sql = scan_sql(snap, self.files(table).paths(snap.files))
        return rows_of(self.engine.fetch_arrow(sql))

    def expect(self, table: IcebergTable, *sqls: str) -> list[tuple]:
        """The rows the SELECTs return (cast as the table stores them), computed by DuckDB."""
        union = "\nunion all\n".join(
            f"({casted_select(self.engine, s, table.CASTS)})" for s in sqls
        )
        return rows_of(self.engine.fetch_arrow(union))

    def catalog(self) -> SqlCatalog:
        """An independent pyiceberg catalog on the same database (not headwater's objects)."""
        uri = self.env.get(CATALOG_URI_ENV) or f"sqlite:///{self.state / 'iceberg_catalog.db'}"
        uri = uri.replace("postgresql://", "postgresql+psycopg://")
        props: dict[str, str] = {}
        if "AWS_ENDPOINT_URL" in self.env:
            props = {
                "s3.endpoint": self.env["AWS_ENDPOINT_URL"],
                "s3.access-key-id": self.env["AWS_ACCESS_KEY_ID"],
                "s3.secret-access-key": self.env["AWS_SECRET_ACCESS_KEY"],
                "s3.region": "us-east-1",
                "s3.force-virtual-addressing": "false",
            }
        return SqlCatalog("headwater", uri=uri, **props)

    def pyiceberg_rows(self, version: int | None = None) -> list[tuple]:
        """The rows pyiceberg itself reads for a version (sequence number) or the current one."""
        catalog = self.catalog()
        try:
            (identifier,) = catalog.list_tables("headwater")
            ice = catalog.load_table(identifier)
            snapshot_id = None
            if version is not None:
                (snapshot_id,) = [
                    s.snapshot_id for s in ice.snapshots() if s.sequence_number == version
                ]
            return rows_of(ice.scan(snapshot_id=snapshot_id).to_arrow())
        finally:
            catalog.close()


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    engine = DuckDBEngine(Target(name="dev", path=str(tmp_path / "w.duckdb")), str(tmp_path))
    engine.open()
    try:
        yield Lake(engine, tmp_path, {})
    finally:
        engine.close()


def commit(
    lake: Lake,
    table: IcebergTable,
    sql: str,
    base: Snapshot | None,
    partition_by: tuple[str, ...] = (),
    **change: Any,
) -> Snapshot:
    files, schema = lake.stage(table, sql, partition_by)
    version = table.commit(Change(files, schema=schema, **change), base, partition_by)
    snap = table.snapshot(version=version)
    assert snap is not None
    return snap


# -- create, append, remove, overwrite ----------------------------------------------------------------
def test_create_partitioned_then_append_adds_the_staged_files_as_they_are(lake: Lake) -> None:
    table = lake.table()
    assert not table.exists()
    assert table.snapshot() is None

    staged, schema = lake.stage(table, orders(0, 30), ("day",))
    written = {f.path: f for f in staged}
    sizes = {p: os.path.getsize(lake.location().join(p)) for p in written}
    version = table.commit(
        Change(staged, schema=schema, metadata={"headwater.node": "model.t.orders"}), None, ("day",)
    )
    assert table.exists()
    v1 = table.snapshot()
    assert v1 is not None and v1.version == version == 1
    assert v1.partition_by == ("day",) and v1.partitions_in_files
    # the very files DuckDB wrote, with its partition values, row counts and sizes: not rewritten
    assert {f.path: (f.rows, f.size, f.partition) for f in v1.files} == {
        p: (f.rows, sizes[p], f.partition) for p, f in written.items()
    }
    assert sorted(f.partition["day"] for f in v1.files) == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
    ]
    data_files = sorted(
        str(p.relative_to(lake.location().uri))
        for p in Path(lake.location().uri).rglob("*.parquet")
    )
    assert data_files == sorted(written)
    assert v1.schema.names == ["id", "customer", "amount", "day"]
    assert lake.read(table, v1) == lake.pyiceberg_rows(1) == lake.expect(table, orders(0, 30))

    v2 = commit(lake, table, orders(30, 40), v1, ("day",), operation="APPEND")
    assert v2.version == 2
    assert {f.path for f in v1.files} < {f.path for f in v2.files}
    expected = lake.expect(table, orders(0, 40))
    assert lake.read(table, v2) == lake.pyiceberg_rows(2) == lake.pyiceberg_rows() == expected
    # the older version is unchanged
    again = table.snapshot(version=1)
    assert again is not None and lake.read(table, again) == lake.expect(table, orders(0, 30))


def test_removing_files_and_adding_their_replacement_is_one_snapshot(lake: Lake) -> None:
    table = lake.table()
    v1 = commit(lake, table, orders(0, 30), None, ("day",))
    day2 = [f for f in v1.files if f.partition["day"] == "2026-01-02"]
    assert day2
    # rewrite the 2026-01-02 partition: its rows with doubled amounts
    rewrite = f"select id, customer, (amount * 2)::decimal(10, 2) as amount, day from ({orders(0, 30)}) where day = date '2026-01-02'"
    staged, schema = lake.stage(table, rewrite, ("day",))
    version = table.commit(
        Change(staged, removes=day2, schema=schema, operation="MERGE"), v1, ("day",)
    )
    assert version == 2
    v2 = table.snapshot()
    assert v2 is not None and v2.version == 2
    assert {f.path for f in v2.files} == {f.path for f in v1.files} - {f.path for f in day2} | {
        f.path for f in staged
    }
    expected = lake.expect(
        table,
        f"select * from ({orders(0, 30)}) where day <> date '2026-01-02'",
        rewrite,
    )
    assert lake.read(table, v2) == lake.pyiceberg_rows() == expected
    (entry, *_rest) = table.history()
    assert entry.version == 2 and entry.operation == "MERGE"
    assert entry.details["iceberg_operation"] == "overwrite"
    assert entry.details["deleted-data-files"] == str(len(day2))
    assert entry.details["added-data-files"] == str(len(staged))


def test_removing_a_file_that_is_not_in_the_version_is_refused(lake: Lake) -> None:
    table = lake.table()
    v1 = commit(lake, table, orders(0, 5), None)
    ghost = DataFile("data/part-not-there.parquet", 1, 10)
    with pytest.raises(ExecutionError, match="not a file of the table's current version"):
        table.commit(Change([], removes=[ghost], schema=v1.schema), v1, ())
    assert table.snapshot() == v1


def test_overwrite_without_schema_change_keeps_the_lineage(lake: Lake) -> None:
    table = lake.table()
    v1 = commit(lake, table, orders(0, 10), None)
    v2 = commit(lake, table, orders(100, 103), v1, overwrite=True)
    assert v2.version == 2
    assert not {f.path for f in v1.files} & {f.path for f in v2.files}
    assert lake.read(table, v2) == lake.pyiceberg_rows() == lake.expect(table, orders(100, 103))
    newest, oldest = table.history()
    assert newest.details["parent_snapshot_id"] == oldest.details["snapshot_id"]
    assert newest.details["deleted-records"] == "10"


def test_overwrite_changes_columns_types_and_partitioning(lake: Lake) -> None:
    table = lake.table()
    v1 = commit(lake, table, orders(0, 20), None, ("day",))
    # a rebuild: `day` (the partition column) dropped, `amount` retyped decimal -> varchar,
    # `region` new and partitioned on, `id` moved last
    rebuilt = """
        select 'c' || (i % 4) as customer, (i * 7 % 100)::varchar as amount,
               case when i % 2 = 0 then 'north' else 'south' end as region, i as id
        from range(50, 60) t(i)
    """
    v2 = commit(lake, table, rebuilt, v1, ("region",), overwrite=True)
    assert v2.version == 2
    assert v2.schema.names == ["customer", "amount", "region", "id"]
    assert v2.schema.field("amount").type == pa.string()
    assert v2.partition_by == ("region",)
    assert sorted({f.partition["region"] for f in v2.files}) == ["north", "south"]
    assert lake.read(table, v2) == lake.pyiceberg_rows() == lake.expect(table, rebuilt)
    # version 1 keeps its schema, partitioning and rows, for both readers
    old = table.snapshot(version=1)
    assert old is not None
    assert old.schema.names == ["id", "customer", "amount", "day"]
    assert old.partition_by == ("day",)
    assert lake.read(table, old) == lake.pyiceberg_rows(1) == lake.expect(table, orders(0, 20))
    # an append after the rebuild goes into the new schema and partitioning
    more = "select 'c9' as customer, '1' as amount, 'north' as region, 99::bigint as id"
    v3 = commit(lake, table, more, v2, ("region",))
    assert lake.read(table, v3) == lake.pyiceberg_rows() == lake.expect(table, rebuilt, more)


def test_a_commit_that_is_not_a_rebuild_must_match_the_table(lake: Lake) -> None:
    table = lake.table()
    v1 = commit(lake, table, orders(0, 5), None, ("day",))
    wider = "select 9::bigint as id, 'c' as customer, 1.5::decimal(18, 2) as amount, date '2026-01-01' as day"
    staged, schema = lake.stage(table, wider, ("day",))
    with pytest.raises(
        ExecutionError, match=r"`amount` is decimal\(10, 2\) in the table, decimal\(18, 2\)"
    ):
        table.commit(Change(staged, schema=schema), v1, ("day",))
    staged, schema = lake.stage(table, "select 1 as other", ())
    with pytest.raises(ExecutionError, match="columns"):
        table.commit(Change(staged, schema=schema), v1, ("day",))
    staged, schema = lake.stage(table, orders(5, 8), ("customer",))
    with pytest.raises(ExecutionError, match="partition_by"):
        table.commit(Change(staged, schema=schema), v1, ("customer",))
    assert table.snapshot() == v1


def test_types_duckdb_writes_are_stored_or_cast(lake: Lake) -> None:
    sql = """
        select 1::utinyint as u8, 4000000000::uinteger as u32, 18000000000000000000::ubigint as u64,
               99999999999999999999999999999999999999::hugeint as huge,
               interval 1 day as span, '{"a": 1}'::json as doc,
               timestamp_ns '2026-01-01 10:00:00.123456789' as ts_ns,
               'b9a2c6c0-5f3e-4c59-9a41-3f0c1d7e8a10'::uuid as uid, time '10:11:12' as t,
               timestamptz '2026-01-01 10:00:00+00' as tstz, [1, 2] as xs,
               {'a': 1, 'b': 'x'} as rec, map {'k': 1} as m, 'x'::blob as raw
    """
    table = lake.table()
    v1 = commit(lake, table, sql, None)
    types = dict(zip(v1.schema.names, v1.schema.types, strict=True))
    assert types["uid"] == pa.string() and types["t"] == pa.time64("us")
    assert types["u32"] == pa.int64() and types["u64"] == pa.decimal128(20, 0)
    assert types["huge"] == pa.decimal128(38, 0) and types["ts_ns"] == pa.timestamp("us")
    assert types["span"] == types["doc"] == pa.string()
    assert types["tstz"] == pa.timestamp("us", tz="UTC")
    got = lake.read(table, v1)
    assert got == lake.expect(table, sql)
    assert lake.pyiceberg_rows() == got


# -- versions, time travel, history ------------------------------------------------------------------
def test_time_travel_by_version_snapshot_id_and_timestamp(lake: Lake) -> None:
    table = lake.table()
    snaps = [commit(lake, table, orders(0, 10), None)]
    for i in range(1, 3):
        snaps.append(commit(lake, table, orders(10 * i, 10 * i + 10), snaps[-1]))
    assert [s.version for s in snaps] == [1, 2, 3]
    history = table.history()
    assert [h.version for h in history] == [3, 2, 1]
    for snap in snaps:
        assert table.snapshot(version=snap.version) == snap
    # a snapshot id (larger than every sequence number) names the same version
    by_id = {h.version: h.details["snapshot_id"] for h in history}
    assert table.snapshot(version=by_id[2]) == snaps[1]
    # as_of: the version current at that time
    stamps = {h.version: h.timestamp for h in history}
    assert all(s is not None for s in stamps.values())
    assert table.snapshot(as_of=stamps[2]) == snaps[1]
    assert table.snapshot(as_of=stamps[3] + dt.timedelta(days=1)) == snaps[2]
    naive = (stamps[1] + dt.timedelta(microseconds=500)).astimezone(dt.UTC).replace(tzinfo=None)
    assert table.snapshot(as_of=naive) == snaps[0]
    with pytest.raises(ExecutionError, match="no version at or before"):
        table.snapshot(as_of=stamps[1] - dt.timedelta(seconds=1))
    with pytest.raises(ExecutionError, match=r"no version 7 \(versions 1\.\.3\)"):
        table.snapshot(version=7)
    assert table.history(limit=2) == history[:2]


def test_history_records_operation_and_headwater_metadata(lake: Lake) -> None:
    table = lake.table()
    v1 = commit(
        lake,
        table,
        orders(0, 3),
        None,
        operation="CREATE",
        metadata={"headwater.invocation_id": "inv-1"},
    )
    commit(lake, table, orders(3, 5), v1, operation="APPEND", metadata={"node": "model.t.orders"})
    newest, oldest = table.history()
    assert (newest.operation, oldest.operation) == ("APPEND", "CREATE")
    assert oldest.details["headwater.invocation_id"] == "inv-1"
    assert (
        newest.details["headwater.node"] == "model.t.orders"
    )  # prefixed: Iceberg's keys stay apart
    assert newest.details["iceberg_operation"] == "append"
    assert newest.details["total-records"] == "5"
    assert isinstance(newest.timestamp, dt.datetime) and newest.timestamp.tzinfo is not None


def test_a_table_created_without_a_snapshot_is_version_0(lake: Lake) -> None:
    table = lake.table()
    assert not table.exists()  # opens (creates) the catalog in the state folder
    catalog = lake.catalog()
    try:
        catalog.create_namespace_if_not_exists("headwater")
        catalog.create_table(
            table.identifier,
            pa.schema([("id", pa.int64()), ("customer", pa.string())]),
            location=table.table_uri,
        )
    finally:
        catalog.close()
    empty = table.snapshot()
    assert empty is not None and empty.version == 0 and empty.files == ()
    assert empty.schema.names == ["id", "customer"]
    assert lake.read(table, empty) == []
    v1 = commit(lake, table, "select 1::bigint as id, 'a' as customer", empty)
    assert v1.version == 1 and lake.read(table, v1) == [(1, "a")]


# -- compare-and-swap ----------------------------------------------------------------------------------


@pytest.mark.parametrize("round_", range(3))
def test_two_writers_from_one_base_exactly_one_wins(lake: Lake, round_: int) -> None:
    table = lake.table()
    base = commit(lake, table, orders(0, 10), None, ("day",))
    a = lake.stage(table, orders(100, 105), ("day",))
    b = lake.stage(table, orders(200, 207), ("day",))

    def writer(change: tuple[list[DataFile], pa.Schema]) -> Callable[[], int]:
        # each writer has its own table object, as two builds would
        return lambda: lake.table().commit(Change(change[0], schema=change[1]), base, ("day",))

    won, lost = race([writer(a), writer(b)])
    assert won == [2]
    assert len(lost) == 1 and isinstance(lost[0], LakeConflict), lost
    assert "after version 1" in str(lost[0])
    current = table.snapshot()
    assert current is not None and current.version == 2
    rows = lake.read(table, current)
    assert rows == lake.pyiceberg_rows()
    assert rows in (
        lake.expect(table, orders(0, 10), orders(100, 105)),
        lake.expect(table, orders(0, 10), orders(200, 207)),
    )


def _commit_in_process(
    root: str, state: str, change: Change, base: Snapshot, barrier: Any, results: Any
) -> None:
    """One writer process: its own catalog connection, committing once the other is ready."""
    location = TableLocation.parse("lake/main/orders", root, env={})
    table = IcebergTable(location, "orders", catalog_dir=state)
    table.exists()  # connect before the start line, so both commit at once
    barrier.wait()
    try:
        results.put(("won", table.commit(change, base, ("day",))))
    except LakeConflict as exc:
        results.put(("conflict", str(exc)))
    except BaseException as exc:
        results.put(("error", repr(exc)))


@pytest.mark.slow
def test_two_writer_processes_from_one_base_exactly_one_wins(lake: Lake) -> None:
    import multiprocessing

    table = lake.table()
    base = commit(lake, table, orders(0, 10), None, ("day",))
    staged = [lake.stage(table, sql, ("day",)) for sql in (orders(100, 105), orders(200, 207))]
    changes = [Change(files, schema=schema) for files, schema in staged]
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(2), spawn.Queue()
    procs = [
        spawn.Process(
            target=_commit_in_process,
            args=(str(lake.root), str(lake.state), change, base, barrier, results),
        )
        for change in changes
    ]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert [kind for kind, _ in outcomes] == ["conflict", "won"], outcomes
    assert outcomes[1][1] == 2 and "after version 1" in outcomes[0][1]
    current = table.snapshot()
    assert current is not None and current.version == 2
    rows = lake.read(table, current)
    assert rows == lake.pyiceberg_rows()
    assert rows in (
        lake.expect(table, orders(0, 10), orders(100, 105)),
        lake.expect(table, orders(0, 10), orders(200, 207)),
    )


def test_two_writers_creating_the_table_exactly_one_wins(lake: Lake) -> None:
    table = lake.table()
    a = lake.stage(table, orders(0, 5))
    b = lake.stage(table, orders(5, 9))
    won, lost = race(
        [lambda c=c: lake.table().commit(Change(c[0], schema=c[1]), None, ()) for c in (a, b)]
    )
    assert won == [1]
    assert len(lost) == 1 and isinstance(lost[0], LakeConflict), lost
    assert "created the Iceberg table first" in str(lost[0])
    current = table.snapshot()
    assert current is not None
    assert lake.read(table, current) in (
        lake.expect(table, orders(0, 5)),
        lake.expect(table, orders(5, 9)),
    )


def test_a_commit_overtaken_after_its_base_check_fails_in_the_catalog(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer commits between this writer's base check and its catalog commit: the
    catalog's compare-and-swap refuses the (blind) append; pyiceberg's retry, which would rebase
    it onto the other writer's snapshot, is off."""
    table = lake.table()
    base = commit(lake, table, orders(0, 10), None)
    other = lake.stage(table, orders(10, 20))
    check = IcebergTable._check_base
    overtaken: list[int] = []
    first = threading.Event()

    def check_then_get_overtaken(self: IcebergTable, ice: Any, snap: Snapshot) -> None:
        check(self, ice, snap)
        if not first.is_set():
            first.set()
            overtaken.append(lake.table().commit(Change(other[0], schema=other[1]), base, ()))

    monkeypatch.setattr(IcebergTable, "_check_base", check_then_get_overtaken)
    staged, schema = lake.stage(table, orders(20, 30))
    with pytest.raises(LakeConflict, match="after version 1"):
        table.commit(Change(staged, schema=schema), base, ())
    assert overtaken == [2]
    current = table.snapshot()
    assert current is not None and current.version == 2
    assert lake.read(table, current) == lake.pyiceberg_rows() == lake.expect(table, orders(0, 20))


def test_a_table_written_elsewhere_gets_retries_turned_off(lake: Lake) -> None:
    table = lake.table()
    assert not table.exists()  # opens (creates) the catalog in the state folder
    catalog = lake.catalog()
    try:
        catalog.create_namespace_if_not_exists("headwater")
        ice = catalog.create_table(
            table.identifier, pa.schema([("id", pa.int64())]), location=table.table_uri
        )
        ice.append(pa.table({"id": pa.array([1, 2], pa.int64())}))
    finally:
        catalog.close()
    base = table.snapshot()
    assert base is not None and base.version == 1
    v2 = commit(lake, table, "select 3::bigint as id", base)
    assert v2.version == 2 and lake.read(table, v2) == [(1,), (2,), (3,)]
    catalog = lake.catalog()
    try:
        props = catalog.load_table(table.identifier).properties
    finally:
        catalog.close()
    assert props["commit.retry.num-retries"] == "0"


# -- catalogs -----------------------------------------------------------------------------------------
def test_the_sqlite_catalog_is_private_and_one_entry_per_location(lake: Lake) -> None:
    a, b = lake.table("orders"), lake.table("customers")
    commit(lake, a, orders(0, 3), None)
    commit(lake, b, "select 1 as id", None)
    db = lake.state / "iceberg_catalog.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(lake.state.stat().st_mode) == 0o700
    catalog = lake.catalog()
    try:
        names = sorted(i[1] for i in catalog.list_tables("headwater"))
        locations = sorted(catalog.load_table(("headwater", n)).location() for n in names)
    finally:
        catalog.close()
    assert names == sorted([a.identifier[1], b.identifier[1]])
    assert locations == sorted([a.table_uri, b.table_uri])
    # a name stable per location, and distinct for two locations with the same last segment
    other = lake.table("orders", TableLocation.parse("elsewhere/orders", lake.root, env={}))
    assert lake.table("orders").identifier == a.identifier != other.identifier


def test_a_deleted_table_folder_means_the_table_is_gone(lake: Lake) -> None:
    table = lake.table()
    v1 = commit(lake, table, orders(0, 5), None)
    assert v1.version == 1
    shutil.rmtree(lake.location().uri)
    assert not table.exists() and table.snapshot() is None
    again = commit(lake, table, orders(5, 7), None)
    assert again.version == 1
    assert lake.read(table, again) == lake.pyiceberg_rows() == lake.expect(table, orders(5, 7))


def test_without_a_catalog_nothing_is_committed(lake: Lake) -> None:
    table = IcebergTable(lake.location(), "orders")
    staged, schema = lake.stage(table, orders(0, 3))
    with pytest.raises(ConfigError, match="no Iceberg catalog"):
        table.commit(Change(staged, schema=schema), None, ())


def test_readers_without_the_catalog_find_the_current_version(lake: Lake) -> None:
    from pyiceberg.table import StaticTable

    table = lake.table()
    v1 = commit(lake, table, orders(0, 10), None)
    v2 = commit(lake, table, orders(10, 15), v1)
    metadata = Path(lake.location().uri) / "metadata"
    # a metadata file that a rejected commit left behind, numbered like the newest
    newest = max(metadata.glob("*.metadata.json"))
    (metadata / ("99999-" + newest.name.split("-", 1)[1])).write_bytes(
        min(metadata.glob("*.metadata.json")).read_bytes()
    )
    hint = (metadata / "version-hint.text").read_text()
    assert (metadata / f"{hint}.metadata.json").exists()
    outside = IcebergTable(lake.location(), "orders")  # no catalog: reads the files
    current = outside.snapshot()
    assert current is not None and current.version == 2 and current.files == v2.files
    assert lake.read(outside, current) == lake.expect(table, orders(0, 15))
    static = StaticTable.from_metadata(f"file://{lake.location().uri}")
    assert rows_of(static.scan().to_arrow()) == lake.expect(table, orders(0, 15))


def test_a_table_of_another_catalog_is_read_not_written(lake: Lake) -> None:
    location = lake.location("foreign")
    other = SqlCatalog("spark", uri=f"sqlite:///{lake.root / 'other.db'}")
    try:
        other.create_namespace("db")
        ice = other.create_table(
            ("db", "events"), pa.schema([("id", pa.int64()), ("kind", pa.string())]),
            location=f"file://{location.uri}",
        )  # fmt: skip
        ice.append(pa.table({"id": pa.array([1, 2], pa.int64()), "kind": ["a", "b"]}))
        ice.append(pa.table({"id": pa.array([3], pa.int64()), "kind": ["c"]}))
    finally:
        other.close()
    table = lake.table("foreign", location)
    assert table.exists()
    current = table.snapshot()
    assert current is not None and current.version == 2
    assert all(not f.path.startswith(("/", "file:")) for f in current.files)  # under the root
    assert lake.read(table, current) == [(1, "a"), (2, "b"), (3, "c")]
    first = table.snapshot(version=1)
    assert first is not None and lake.read(table, first) == [(1, "a"), (2, "b")]
    staged, schema = lake.stage(table, "select 4::bigint as id, 'd' as kind")
    with pytest.raises(ExecutionError, match="not in the catalog") as err:
        table.commit(Change(staged, schema=schema), current, ())
    assert "register_table" in (err.value.hint or "")


def _pg() -> dict[str, str]:
    return {
        "host": os.environ.get("HW_TEST_PG_HOST", "127.0.0.1"),
        "port": os.environ.get("HW_TEST_PG_PORT", "5432"),
        "user": os.environ.get("HW_TEST_PG_USER", "postgres"),
        "dbname": os.environ.get("HW_TEST_PG_DATABASE", "test"),
    }


@pytest.fixture
def pg_schema() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    s = _pg()
    try:
        conn = psycopg.connect(**s, connect_timeout=5, autocommit=True)
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is not available under CI=true: {exc}")
        pytest.skip(f"PostgreSQL is not available: {exc}")
    schema = f"hw_iceberg_{uuid.uuid4().hex[:10]}"
    conn.execute(f"create schema {schema}")
    try:
        yield schema
    finally:
        conn.execute(f"drop schema {schema} cascade")
        conn.close()


def test_postgresql_catalog(tmp_path: Path, pg_schema: str) -> None:
    s = _pg()
    password = f"pw-{uuid.uuid4().hex[:8]}"  # trust auth ignores it; it must never be printed
    uri = (
        f"postgresql://{s['user']}:{password}@{s['host']}:{s['port']}/{s['dbname']}"
        f"?options=-csearch_path%3D{pg_schema}"
    )
    engine = DuckDBEngine(Target(name="dev", path=str(tmp_path / "w.duckdb")), str(tmp_path))
    engine.open()
    try:
        lake = Lake(engine, tmp_path, {CATALOG_URI_ENV: uri})
        table = lake.table()
        assert password not in table.describe_catalog()
        v1 = commit(lake, table, orders(0, 12), None, ("day",))
        base = v1
        won, lost = race(
            [
                lambda c=c: lake.table().commit(Change(c[0], schema=c[1]), base, ("day",))
                for c in (lake.stage(table, orders(20, 25), ("day",)), lake.stage(table, orders(30, 33), ("day",)))
            ]
        )  # fmt: skip
        assert won == [2] and len(lost) == 1 and isinstance(lost[0], LakeConflict)
        current = table.snapshot()
        assert current is not None
        assert lake.read(table, current) == lake.pyiceberg_rows()
        assert lake.read(table, v1) == lake.pyiceberg_rows(1) == lake.expect(table, orders(0, 12))
        # the catalog rows are in PostgreSQL, in the schema of the URI; nothing in the state folder
        import psycopg

        with psycopg.connect(**s) as conn:
            rows = conn.execute(
                f"select table_namespace, table_name from {pg_schema}.iceberg_tables"
            ).fetchall()
        assert rows == [("headwater", table.identifier[1])]
        assert not (tmp_path / ".headwater" / "iceberg_catalog.db").exists()
    finally:
        engine.close()


def test_an_unreachable_catalog_is_reported_without_its_password(lake: Lake) -> None:
    port = _free_port()
    uri = f"postgresql://etl:hunter2-secret@127.0.0.1:{port}/lake?connect_timeout=2"
    table = IcebergTable(TableLocation.parse("lake/x", lake.root, env={CATALOG_URI_ENV: uri}), "x")
    with pytest.raises(ExecutionError, match="cannot open the catalog") as err:
        table.snapshot()
    assert "hunter2-secret" not in str(err.value)
    assert CATALOG_URI_ENV in (err.value.hint or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- S3 ---------------------------------------------------------------------------------------------------
if IN_CI:
    import boto3
    from moto.server import ThreadedMotoServer
else:
    boto3 = pytest.importorskip("boto3", reason="pip install -e '.[test]' installs boto3")
    ThreadedMotoServer = pytest.importorskip("moto.server").ThreadedMotoServer

KEY, SECRET, BUCKET = "hw-test-key", "hw-test-secret-iceberg", "hw-lake"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_lake(
    s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Lake, Any]]:
    env = {
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_REGION": "us-east-1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    client = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1",
        aws_access_key_id=KEY, aws_secret_access_key=SECRET,
    )  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    engine = DuckDBEngine(Target(name="dev", path=str(tmp_path / "w.duckdb")), str(tmp_path))
    engine.open()
    try:
        yield Lake(engine, tmp_path, env), client
    finally:
        engine.close()
        for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
        client.delete_bucket(Bucket=BUCKET)


def test_s3_create_append_overwrite_and_vacuum(
    s3_lake: tuple[Lake, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.s3.models import S3Backend

    lake, client = s3_lake
    multipart: list[str] = []
    create = S3Backend.create_multipart_upload

    def counted(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        multipart.append(key_name)
        return create(self, bucket_name, key_name, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "create_multipart_upload", counted)
    location = TableLocation.parse(f"s3://{BUCKET}/marts/orders", lake.root)  # env from os.environ
    table = lake.table("orders", location)
    assert table.io_properties()["s3.endpoint"] == lake.env["AWS_ENDPOINT_URL"]
    v1 = commit(lake, table, orders(0, 20), None, ("day",))
    # metadata, manifest lists and manifests are small: one PUT each, no multipart upload
    assert not [k for k in multipart if "/metadata/" in k], multipart
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert {f"marts/orders/{f.path}" for f in v1.files} <= keys
    assert any(
        k.startswith("marts/orders/metadata/") and k.endswith(".metadata.json") for k in keys
    )
    v2 = commit(lake, table, orders(20, 25), v1, ("day",))
    # a fresh cache: every file is downloaded from S3 again
    fresh = LocalFiles(table, str(lake.root / "other_cache"))
    sql = scan_sql(v2, fresh.paths(v2.files))
    assert (
        rows_of(lake.engine.fetch_arrow(sql))
        == lake.pyiceberg_rows()
        == lake.expect(table, orders(0, 25))
    )
    v3 = commit(lake, table, orders(100, 104), v2, ("day",), overwrite=True)
    assert lake.read(table, v3) == lake.pyiceberg_rows() == lake.expect(table, orders(100, 104))
    removed = table.vacuum(retention_hours=0)
    old = {f"s3://{BUCKET}/marts/orders/{f.path}" for f in v2.files}
    assert old <= set(removed)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert not {k for k in keys if f"s3://{BUCKET}/{k}" in old}
    assert lake.read(table, v3) == lake.pyiceberg_rows() == lake.expect(table, orders(100, 104))
    from headwater.secrets import mask

    assert mask(f"failed with {SECRET}") == "failed with ***"  # the location registered it


# -- maintenance ----------------------------------------------------------------------------------------
def _age(path: Path, hours: float) -> None:
    stamp = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)).timestamp()
    os.utime(path, (stamp, stamp))


def test_vacuum_keeps_what_the_window_needs_and_removes_the_rest(lake: Lake) -> None:
    table = lake.table()
    v1 = commit(lake, table, orders(0, 10), None)
    v2 = commit(lake, table, orders(50, 55), v1, overwrite=True)
    root = Path(lake.location().uri)
    # v1's files are old, but v1 was current until v2, inside a 1-hour window: kept
    for f in v1.files:
        _age(root / f.path, hours=5)
    stale_orphan = root / "data" / "part-killed-long-ago.parquet"
    fresh_orphan = root / "data" / "part-being-staged.parquet"
    stale_orphan.write_bytes(b"x")
    fresh_orphan.write_bytes(b"x")
    _age(stale_orphan, hours=5)
    assert table.vacuum(retention_hours=1, dry_run=True) == [str(stale_orphan)]
    assert stale_orphan.exists()
    assert table.vacuum(retention_hours=1) == [str(stale_orphan)]
    assert not stale_orphan.exists() and fresh_orphan.exists()
    assert all((root / f.path).exists() for f in v1.files)
    again = table.snapshot(version=1)
    assert again is not None and lake.read(table, again) == lake.expect(table, orders(0, 10))

    # a window of 0: v1 expires, its files and manifests go; the current version stays whole
    fresh_orphan.unlink()
    planned = table.vacuum(retention_hours=0, dry_run=True)
    assert table.snapshot(version=1) is not None  # a dry run changes nothing
    removed = table.vacuum(retention_hours=0)
    assert removed == planned
    assert {str(root / f.path) for f in v1.files} <= set(removed)
    assert any(r.endswith(".avro") for r in removed)
    with pytest.raises(ExecutionError, match="no version 1"):
        table.snapshot(version=1)
    assert [h.version for h in table.history()] == [2]
    assert lake.read(table, v2) == lake.pyiceberg_rows() == lake.expect(table, orders(50, 55))
    left = sorted(str(p.relative_to(root)) for p in (root / "data").rglob("*") if p.is_file())
    assert left == sorted(f.path for f in v2.files)
    assert table.vacuum(retention_hours=0) == []


def test_optimize_says_pyiceberg_cannot_compact(lake: Lake) -> None:
    table = lake.table()
    commit(lake, table, orders(0, 3), None)
    with pytest.raises(ExecutionError, match="pyiceberg has no rewrite-data-files") as err:
        table.optimize()
    assert "--full-refresh" in (err.value.hint or "")


def test_a_snapshot_with_delete_files_is_refused(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyiceberg.table import DataScan

    table = lake.table()
    commit(lake, table, orders(0, 3), None)
    real = DataScan.plan_files

    def with_deletes(self: DataScan) -> list[Any]:
        tasks = list(real(self))
        for task in tasks:
            task.delete_files = {task.file}  # any file stands in for a positional delete file
        return tasks

    monkeypatch.setattr(DataScan, "plan_files", with_deletes)
    with pytest.raises(ExecutionError, match="delete file") as err:
        table.snapshot()
    assert "rewrite_data_files" in (err.value.hint or "")


# -- a property: any sequence of commits reads the same through both readers ------------------------------
OPS = st.lists(
    st.tuples(st.sampled_from(["append", "remove", "replace", "overwrite"]), st.integers(1, 6)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_any_sequence_of_commits_reads_the_same_in_duckdb_and_pyiceberg(
    ops: list[tuple[str, int]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = DuckDBEngine(Target(name="dev", path=str(root / "w.duckdb")), str(root))
        engine.open()
        try:
            _run_ops(Lake(engine, root, {}), ops)
        finally:
            engine.close()


def _run_ops(lake: Lake, ops: list[tuple[str, int]]) -> None:
    table = lake.table()
    model: list[str] = [orders(0, 6)]  # the SELECTs whose rows the table holds, per file group
    snap = commit(lake, table, model[0], None, ("day",))
    start = 1000
    for op, n in ops:
        sql = orders(start, start + n)
        start += 100
        before = snap.version
        if op == "append":
            snap = commit(lake, table, sql, snap, ("day",))
            model.append(sql)
        elif op == "overwrite":
            snap = commit(lake, table, sql, snap, ("day",), overwrite=True)
            model = [sql]
        else:  # remove (or replace) every file of one day
            days = sorted({f.partition["day"] for f in snap.files})
            day = days[n % len(days)] if days else None
            gone = [f for f in snap.files if f.partition["day"] == day]
            adds = sql if op == "replace" else f"select * from ({sql}) where false"
            staged, schema = lake.stage(table, adds, ("day",))
            version = table.commit(Change(staged, removes=gone, schema=schema), snap, ("day",))
            snap = table.snapshot(version=version)  # type: ignore[assignment]
            keep = f"day <> date '{day}'" if day else "true"
            model = [f"select * from ({m}) where {keep}" for m in model] + [adds]
        assert snap is not None and snap.version == before + 1
        expected = lake.expect(table, *model)
        assert lake.read(table, snap) == lake.pyiceberg_rows() == expected
