"""`Context.lake_history`, `lake_optimize` and `lake_vacuum` on real projects and real delta-rs,
with delta-rs itself as the independent reader: versions, the files of each version, and the
rows. The warehouse view is read with DuckDB directly."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import types
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.context import Context
from headwater.errors import ConfigError, ExecutionError, NodeNotFoundError, UsageError
from tests.conftest import query, write_files

deltalake = pytest.importorskip("deltalake", reason="pip install -e '.[lake]' installs deltalake")

HEADER = "id,grp,amount,day\n"
DAYS = ("2026-01-01", "2026-01-02", "2026-01-03")
APPEND = "incremental_strategy='append'"
MERGE = "incremental_strategy='merge', unique_key='id'"


def _seed(rows: list[tuple[int, str, int, str]]) -> str:
    return HEADER + "".join(f"{i},{g},{a},{d}\n" for i, g, a, d in rows)


def _batch(n: int, size: int = 3) -> list[tuple[int, str, int, str]]:
    """Rows of the ``n``-th batch: new ids, spread over the days."""
    return [
        (n * size + k, "abc"[k % 3], (n * size + k) * 10, DAYS[(n + k) % 3]) for k in range(size)
    ]


def _model(config: str) -> str:
    """A Delta model of the seed; an append reads only the new ids, a merge every row."""
    new_rows = "{% if is_incremental() %} where id > (select max(id) from {{ this }}) {% endif %}\n"
    return (
        f"{{{{ config(materialized='delta', {config}) }}}}\n"
        "select id, grp, amount, cast(day as date) as day from {{ ref('src') }}\n"
        + (new_rows if "append" in config else "")
    )


def _uri(root: Path, name: str = "m") -> str:
    return str(root / "lake" / "main" / name)


def _table(root: Path, version: int | None = None, name: str = "m") -> Any:
    return deltalake.DeltaTable(_uri(root, name), version=version)


def _rows(table: Any) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(r.values()) for r in table.to_pyarrow_table().to_pylist())


def _files(table: Any) -> set[str]:
    """The data files of a version, relative to the table's root (as the Delta log names them)."""
    return {str(p) for p in table.get_add_actions(flatten=True).column("path").to_pylist()}


def _on_disk(root: Path, name: str = "m") -> set[str]:
    base = Path(_uri(root, name))
    return {
        p.relative_to(base).as_posix()
        for p in base.rglob("*.parquet")
        if "_delta_log" not in p.parts
    }


def _build(root: Path, **options: Any) -> Any:
    with Context(root) as ctx:
        return ctx.build(**options)


@pytest.fixture
def appended(make_project: Callable[..., Path]) -> Callable[..., Path]:
    """A Delta model built ``versions`` times, each build appending one batch (one file per day
    it touches): many small files."""

    def make(versions: int, config: str = APPEND, extra: dict[str, str] | None = None) -> Path:
        rows = _batch(0)
        root = make_project({"seeds/src.csv": _seed(rows), "models/m.sql": _model(config),
                             **(extra or {})})  # fmt: skip
        assert _build(root).exit_code == 0
        for n in range(1, versions):
            rows += _batch(n)
            write_files(root, {"seeds/src.csv": _seed(rows)})
            assert _build(root).exit_code == 0
        assert _table(root).version() == versions - 1
        return root

    return make


# -- history -------------------------------------------------------------------------------------
def test_history_lists_the_versions_of_the_delta_log(appended: Callable[..., Path]) -> None:
    root = appended(4)
    with Context(root) as ctx:
        history = ctx.lake_history("m")
        last_two = ctx.lake_history("m", limit=2)
    log = _table(root).history()
    assert [e.version for e in history.entries] == [h["version"] for h in log] == [3, 2, 1, 0]
    assert [e.operation for e in history.entries] == [h["operation"] for h in log]
    assert history.current_version == _table(root).version()
    assert {e.details.get("headwater.node") for e in history.entries} == {"model.t.m"}
    # each version names the build that wrote it: four builds, four invocations
    assert len({e.details.get("headwater.invocation_id") for e in history.entries}) == 4
    assert [e.version for e in last_two.entries] == [3, 2]
    assert history.to_dict()["versions"][0]["version"] == 3


def test_history_of_a_lake_source_but_no_maintenance(make_project: Callable[..., Path],
                                                      tmp_path: Path) -> None:  # fmt: skip
    import pyarrow as pa

    events = tmp_path / "events"
    deltalake.write_deltalake(str(events), pa.table({"id": [1, 2]}))
    deltalake.write_deltalake(str(events), pa.table({"id": [3]}), mode="append")
    sources = f"""
version: 2
sources:
  - name: lake
    tables:
      - name: events
        format: delta
        location: {events}
"""
    model = "select * from {{ source('lake', 'events') }}"
    root = make_project({"models/sources.yml": sources, "models/m.sql": model})
    with Context(root) as ctx:
        history = ctx.lake_history("lake.events")
        assert [e.version for e in history.entries] == [1, 0]
        with pytest.raises(ConfigError, match="does not maintain it") as err:
            ctx.lake_vacuum("lake.events")
    assert err.value.location is not None and err.value.location.path.endswith("sources.yml")


# -- optimize ------------------------------------------------------------------------------------
def test_optimize_compacts_and_the_view_reads_the_new_version(
    appended: Callable[..., Path],
) -> None:
    root = appended(6, f"{APPEND}, partition_by=['day']")
    before = _table(root)
    rows, files = _rows(before), _files(before)
    days = {r[3] for r in rows}
    assert len(files) > len(days)  # several small files per day
    with Context(root) as ctx:
        result = ctx.lake_optimize("m")
        view_sql = ctx.query("select sql from duckdb_views() where view_name = 'm'")[1][0][0]
        recent = ctx.state.runs.recent(1)
    after = _table(root)
    assert after.version() == before.version() + 1 == result.version_after
    assert _rows(after) == rows  # the same rows, as a multiset
    assert len(_files(after)) == len(days) == result.files_after  # one file per partition
    assert result.files_before == len(files)
    assert set(result.removed) == files and set(result.added) == _files(after)
    assert result.rows_before == result.rows_after == sum(rows.values())
    assert after.history(1)[0]["operation"] == "OPTIMIZE"
    # the warehouse view reads exactly the new version's files
    assert Counter(query(root, "select id, grp, amount, day from main.m")) == rows
    assert all(os.path.basename(p) in view_sql for p in result.added)
    assert not any(os.path.basename(p) in view_sql for p in result.removed)
    assert recent[0].command == "lake optimize" and recent[0].status == "success"
    with Context(root) as ctx:
        again = ctx.lake_optimize("m")
    assert not again.changed and again.version_after == after.version()
    assert _table(root).version() == after.version()


def _range_model() -> str:
    return (
        "{{ config(materialized='delta', incremental_strategy='append') }}\n"
        "select (hash(i + {{ var('batch', 0) }} * 100000) % 100000)::bigint as id,\n"
        "       i::bigint as seq, {{ var('batch', 0) }}::bigint as batch\n"
        "from range(3000) t(i)\n"
    )


def _id_ranges(table: Any) -> list[tuple[int, int]]:
    actions = table.get_add_actions(flatten=True)
    return sorted(zip(actions.column("min.id").to_pylist(), actions.column("max.id").to_pylist(),
                      strict=True))  # fmt: skip


@pytest.mark.parametrize("zorder", [["id"], ["id", "seq"]])
def test_zorder_clusters_the_files_by_its_columns(
    make_project: Callable[..., Path], zorder: list[str]
) -> None:
    root = make_project({"models/m.sql": _range_model()})
    for batch in range(4):
        with Context(root, vars={"batch": batch}) as ctx:
            assert ctx.build().exit_code == 0
    before = _table(root)
    rows, ranges = _rows(before), _id_ranges(before)
    assert len(ranges) == 4 and ranges[0][1] > ranges[1][0]  # every batch spans all ids
    with Context(root) as ctx:
        result = ctx.lake_optimize("m", zorder=zorder, target_size=30_000)
        count = ctx.query("select count(*) from main.m")[1][0][0]
    after = _table(root)
    assert _rows(after) == rows and count == sum(rows.values()) == 12_000
    assert result.zorder == zorder and result.metrics.get("plannerStrategy") == "zOrder"
    assert result.files_after == len(_files(after)) > 1
    if zorder == ["id"]:  # on one column, Z-order is a sort: the files' ranges do not overlap
        new = _id_ranges(after)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(new))


def test_optimize_rejects_bad_options(appended: Callable[..., Path]) -> None:
    root = appended(1, f"{APPEND}, partition_by=['day']")
    with Context(root) as ctx:
        with pytest.raises(UsageError, match=r"no column `amout`.*did you mean `amount`"):
            ctx.lake_optimize("m", zorder=["amout"])
        with pytest.raises(UsageError, match="partition column"):
            ctx.lake_optimize("m", zorder=["day"])
        with pytest.raises(UsageError, match="positive number of bytes"):
            ctx.lake_optimize("m", target_size=0)
    assert _table(root).version() == 0


# -- vacuum --------------------------------------------------------------------------------------
def test_vacuum_keeps_what_versions_in_the_window_need(appended: Callable[..., Path]) -> None:
    """v0..v3 by merges (each rewrites the files holding changed keys); a window of 1000 hours
    holds them all, a window of 0 hours only the current one."""
    root = appended(1, f"{MERGE}, partition_by=['day']")
    rows = _batch(0)
    for n in range(1, 4):  # change every key's amount: each merge rewrites every file
        rows = [(i, g, a + n, d) for i, g, a, d in rows]
        write_files(root, {"seeds/src.csv": _seed(rows)})
        assert _build(root).exit_code == 0
    versions = {v: (_files(_table(root, v)), _rows(_table(root, v))) for v in range(4)}
    assert all(versions[v][0].isdisjoint(versions[3][0]) for v in range(3))
    needed = set().union(*(files for files, _ in versions.values()))
    assert _on_disk(root) == needed

    with Context(root) as ctx:
        kept = ctx.lake_vacuum("m", retain="1000h")
    assert kept.removed == [] and _on_disk(root) == needed
    for v, (_, expected) in versions.items():  # time travel to every version still reads
        assert _rows(_table(root, v)) == expected

    with Context(root) as ctx:
        listed = ctx.lake_vacuum("m", retain="0h", dry_run=True)
        assert _on_disk(root) == needed and _table(root).version() == 3  # a dry run deletes nothing
        done = ctx.lake_vacuum("m", retain="0h")
        recent = ctx.state.runs.recent(3)
    old = needed - versions[3][0]
    assert set(listed.removed) == set(done.removed) == old
    assert _on_disk(root) == versions[3][0]
    assert _rows(_table(root)) == versions[3][1]
    assert Counter(
        query(root, "select id, grp, amount, cast(day as varchar) from main.m")
    ) == Counter((i, g, a, d) for i, g, a, d in rows)
    with pytest.raises(Exception):  # noqa: B017 - delta-rs's own error: v0's files are gone
        _table(root, 0).to_pyarrow_table()
    # only the real vacuums are invocations; the dry run records nothing
    assert [r.command for r in recent[:2]] == ["lake vacuum", "lake vacuum"]
    assert recent[2].command == "build"


def _age(root: Path, paths: set[str], hours: float) -> None:
    """Set the files' modification time ``hours`` back."""
    stamp = (dt.datetime.now() - dt.timedelta(hours=hours)).timestamp()
    for path in paths:
        os.utime(Path(_uri(root)) / path, (stamp, stamp))


class _Clock(dt.datetime):
    """`datetime` whose `now` runs ``behind`` the real clock."""

    behind = dt.timedelta(0)

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _Clock:  # type: ignore[override]
        real = dt.datetime.now(tz) - cls.behind
        return cls.fromtimestamp(real.timestamp(), tz)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Clock]]:
    """headwater's Delta commits stamp their remove actions (when a file stopped being part of
    the table) with this clock; vacuum's window is measured against those stamps."""
    import headwater.lake.delta as delta

    fake = types.SimpleNamespace(datetime=_Clock, date=dt.date, UTC=dt.UTC, timedelta=dt.timedelta)
    monkeypatch.setattr(delta, "dt", fake)
    _Clock.behind = dt.timedelta(0)
    yield _Clock
    _Clock.behind = dt.timedelta(0)


def test_vacuum_window_opens_at_the_version_current_then(
    make_project: Callable[..., Path], clock: type[_Clock]
) -> None:
    """v0 written 72h ago, replaced by v1 48h ago, v2 12h ago, v3 now. A 24h window opens while
    v1 is current: v1, v2 and v3 stay readable; only v0's files (replaced 48h ago) go."""
    rows = _batch(0)
    root = make_project({"seeds/src.csv": _seed(rows), "models/m.sql": _model(MERGE)})
    for n, hours in enumerate((72, 48, 12, 0)):
        clock.behind = dt.timedelta(hours=hours)
        rows = [(i, g, a + n, d) for i, g, a, d in rows]
        write_files(root, {"seeds/src.csv": _seed(rows)})
        assert _build(root).exit_code == 0
    versions = {v: (_files(_table(root, v)), _rows(_table(root, v))) for v in range(4)}
    _age(root, _on_disk(root), hours=100)  # the window is measured from removal, not from writing
    with Context(root) as ctx:
        result = ctx.lake_vacuum("m", retain="24h")
    assert set(result.removed) == versions[0][0] and result.retention_hours == 24
    for v in (1, 2, 3):
        assert _rows(_table(root, v)) == versions[v][1]
    assert _on_disk(root) == versions[1][0] | versions[2][0] | versions[3][0]
    with Context(root) as ctx:
        # v1 was current 13h ago: nothing to delete (delta-rs still lists v0's deleted files)
        assert ctx.lake_vacuum("m", retain="13h").removed == []
        shorter = ctx.lake_vacuum("m", retain="90m")  # kept as 2h: v1 left the window
    assert shorter.retention_hours == 2 and set(shorter.removed) == versions[1][0]
    for v in (2, 3):
        assert _rows(_table(root, v)) == versions[v][1]
    assert _on_disk(root) == versions[2][0] | versions[3][0]


def test_vacuum_deletes_files_of_rejected_writes(
    appended: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write whose checks fail is never committed; its staged files are deleted, unless the
    process dies first. Those files are in the table's folder but in no version: vacuum deletes
    them once they are older than the window (younger ones may be a write in flight)."""
    from headwater.lake import LocalFiles

    schema = """
version: 2
models:
  - name: m
    columns:
      - name: amount
        tests: [{accepted_values: {values: [0, 10, 20, 30, 40, 50]}}]
"""
    root = appended(2, APPEND, extra={"models/schema.yml": schema})
    current = _files(_table(root))
    monkeypatch.setattr(LocalFiles, "discard", lambda self, files: None)  # killed before cleanup
    write_files(root, {"seeds/src.csv": _seed(_batch(0) + _batch(1) + [(99, "z", 7, DAYS[0])])})
    assert _build(root).exit_code == 1
    assert _table(root).version() == 1
    referenced = set().union(*(_files(_table(root, v)) for v in range(2)))
    orphans = _on_disk(root) - referenced
    assert orphans and current <= _on_disk(root)

    with Context(root) as ctx:
        assert ctx.lake_vacuum("m", retain="1000h").removed == []  # young: maybe in flight
    assert orphans <= _on_disk(root)
    _age(root, _on_disk(root), hours=48)
    with Context(root) as ctx:
        result = ctx.lake_vacuum("m", retain="24h")
    assert set(result.removed) == orphans
    assert _on_disk(root) == referenced
    assert _rows(_table(root)) == _rows(_table(root, 1))


def test_no_maintenance_while_a_build_holds_the_warehouse(appended: Callable[..., Path]) -> None:
    """optimize and vacuum open the warehouse for writing first: while another process (a build
    staging files) holds it, they stop before touching the table."""
    import subprocess
    import sys

    from headwater.errors import LockError

    root = appended(3, f"{MERGE}, partition_by=['day']")
    write_files(root, {"seeds/src.csv": _seed([(i, g, a + 1, d) for i, g, a, d in _batch(0)])})
    assert _build(root).exit_code == 0
    files, version = _on_disk(root), _table(root).version()
    holder = (
        "import duckdb, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    warehouse = str(root / ".headwater" / "warehouse.duckdb")
    with subprocess.Popen([sys.executable, "-c", holder, warehouse], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with Context(root) as ctx:
            with pytest.raises(LockError):
                ctx.lake_vacuum("m", retain="0h")
            with pytest.raises(LockError):
                ctx.lake_optimize("m")
        assert _on_disk(root) == files and _table(root).version() == version
        proc.communicate("\n")
    with Context(root) as ctx:
        assert ctx.lake_vacuum("m", retain="0h").removed
    assert _on_disk(root) == _files(_table(root))


# -- errors --------------------------------------------------------------------------------------
def test_names_that_are_not_lake_tables(appended: Callable[..., Path]) -> None:
    root = appended(1, extra={"models/plain.sql": "select 1 as x"})
    write_files(root, {"models/later.sql": _model(APPEND)})  # not built yet
    with Context(root) as ctx:
        with pytest.raises(NodeNotFoundError, match="did you mean `m`") as missing:
            ctx.lake_history("mm")
        assert "lake tables: `later`, `m`" in (missing.value.hint or "")
        with pytest.raises(ConfigError, match="not a lake table") as plain:
            ctx.lake_optimize("plain")
        assert plain.value.exit_code == 2 and "materialized: delta" in (plain.value.hint or "")
        assert plain.value.location is not None and plain.value.location.path.endswith("plain.sql")
        with pytest.raises(NodeNotFoundError, match="a seed"):
            ctx.lake_vacuum("src")
        with pytest.raises(ExecutionError, match="no delta table") as unbuilt:
            ctx.lake_vacuum("later")
        assert "headwater build -s later" in (unbuilt.value.hint or "")
        with pytest.raises(UsageError, match="not a duration"):
            ctx.lake_vacuum("m", retain="a week")
        with pytest.raises(UsageError, match="at least 1"):
            ctx.lake_history("m", limit=0)


def test_iceberg_cannot_compact_and_says_so(make_project: Callable[..., Path]) -> None:
    pytest.importorskip("pyiceberg", reason="pip install -e '.[lake]' installs pyiceberg")
    model = "{{ config(materialized='iceberg') }}\nselect 1 as id"
    root = make_project({"models/m.sql": model})
    assert _build(root).exit_code == 0
    with Context(root) as ctx:
        with pytest.raises(ExecutionError, match="cannot be compacted") as err:
            ctx.lake_optimize("m")
        recent = ctx.state.runs.recent(1)
        history = ctx.lake_history("m")
    assert err.value.location is not None and err.value.location.path.endswith("m.sql")
    assert recent[0].command == "lake optimize" and recent[0].status == "error"
    assert [e.version for e in history.entries] == [history.current_version]


# -- object storage --------------------------------------------------------------------------------
BUCKET, KEY, SECRET = "hw-maintenance", "hw-test-key", "hw-test-secret-maintenance"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto S3 server with an empty bucket; its endpoint and credentials in the environment."""
    import logging

    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        import boto3
        from moto.server import ThreadedMotoServer
    else:
        boto3 = pytest.importorskip("boto3", reason="pip install -e '.[test]' installs boto3")
        ThreadedMotoServer = pytest.importorskip("moto.server").ThreadedMotoServer
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1"}  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=KEY, aws_secret_access_key=SECRET)  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    try:
        yield client
    finally:
        server.stop()


def test_optimize_and_vacuum_on_s3(make_project: Callable[..., Path], s3: Any) -> None:
    rows = _batch(0)
    config = f"{APPEND}, partition_by=['day'], location='s3://{BUCKET}/marts/m'"
    root = make_project({"seeds/src.csv": _seed(rows), "models/m.sql": _model(config)})
    for n in range(1, 4):
        rows += _batch(n)
        write_files(root, {"seeds/src.csv": _seed(rows)})
        assert _build(root).exit_code == 0
    options = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
               "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
               "AWS_ALLOW_HTTP": "true"}  # fmt: skip

    def delta() -> Any:
        return deltalake.DeltaTable(f"s3://{BUCKET}/marts/m", storage_options=options)

    def keys() -> set[str]:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="marts/m/").get("Contents", [])
        return {o["Key"][len("marts/m/") :] for o in listed if "_delta_log" not in o["Key"]}

    expected = _rows(delta())
    before = _files(delta())
    with Context(root) as ctx:
        optimized = ctx.lake_optimize("m")
        cache = Path(ctx.state_dir) / "lake_cache"
    assert set(optimized.removed) == before and _rows(delta()) == expected
    assert Counter(query(root, "select id, grp, amount, day from main.m")) == expected
    cached = {p.name for p in cache.rglob("*.parquet")}
    assert {
        os.path.basename(p) for p in before
    } <= cached  # the old version was read from the cache
    with Context(root) as ctx:
        vacuumed = ctx.lake_vacuum("m", retain="0h")
    assert set(vacuumed.removed) == before and keys() == _files(delta())
    assert _rows(delta()) == expected
    cached = {p.name for p in cache.rglob("*.parquet")}
    assert not cached & {os.path.basename(p) for p in before}  # their cached copies went too
    assert Counter(query(root, "select id, grp, amount, day from main.m")) == expected
