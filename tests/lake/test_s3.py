"""Delta models on S3: a moto server in its own process (`tests.lake.moto_s3`), credentials from
the environment, every build path, read back by delta-rs itself (an independent reader) and through
the warehouse. Also: what reaches the store when two writers commit at once, the errors a missing
bucket or refused credentials give, and that the secret key shows up in no output."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from headwater.context import Context
from headwater.engines.duckdb import DuckDBEngine
from headwater.errors import ExecutionError
from headwater.lake import LakeConflict, LocalFiles, open_table
from headwater.lake.files import casted_select, write_files
from headwater.lake.storage import TableLocation
from headwater.lake.table import Change, LakeTable, Snapshot
from headwater.project.definition import Target
from tests.conftest import BASE_PROJECT, CliResult
from tests.conftest import write_files as write_project_files

if os.environ.get("CI") == "true":
    import boto3  # noqa: F401 - CI must have the test extra: fail, never skip
    import deltalake
    import moto.server  # noqa: F401
else:
    pytest.importorskip("boto3", reason="pip install -e '.[test]' installs boto3")
    pytest.importorskip("moto.server", reason="pip install -e '.[test]' installs moto[server]")
    deltalake = pytest.importorskip("deltalake", reason="pip install -e '.[lake]' installs it")

from tests.lake.moto_s3 import MotoS3, moto_s3
from tests.lake.racing import race

Row = tuple[int, str, int | None, str]

V1: list[Row] = [(1, "a", 10, "2026-01-01"), (2, "b", 20, "2026-01-01"), (3, "a", 30, "2026-01-02")]
V2: list[Row] = [(1, "a", 11, "2026-01-01"), (4, "c", 40, "2026-01-03")]
"""Merged into V1: key 1 changes, key 4 is new, keys 2 and 3 stay."""
V3: list[Row] = [(2, "b", None, "2026-01-01")]
"""A null amount: the `not_null` check refuses it."""
V4: list[Row] = [(1, "a", 12, "2026-01-01"), (5, "e", 50, "2026-01-04")]
"""A full refresh with these keeps only them."""

MODEL = """\
{{{{ config(materialized='delta', location='{location}', incremental_strategy='merge',
            unique_key='id', partition_by=['day']) }}}}
select id, grp, amount, cast(day as date) as day from {{{{ ref('src') }}}}
"""
DOWN = "select grp, sum(amount) as total from {{ ref('m') }} group by grp\n"
CHECKS = """\
version: 2
models:
  - name: m
    columns:
      - name: amount
        tests: [not_null]
"""


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    with moto_s3(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def bucket(s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket, and the AWS_* variables headwater reads pointing at the server."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return s3.new_bucket()


def _csv(rows: list[Row]) -> str:
    body = "".join(f"{i},{g},{'' if a is None else a},{d}\n" for i, g, a, d in rows)
    return "id,grp,amount,day\n" + body


def _merged(*batches: list[Row]) -> list[Row]:
    """The table after merging each batch by `id` in turn (computed here, not by headwater)."""
    table: dict[int, Row] = {}
    for batch in batches:
        table.update({r[0]: r for r in batch})
    return sorted(table.values())


def _delta_rows(s3: MotoS3, uri: str, version: int | None = None) -> list[Row]:
    """The table as delta-rs reads it from S3 (not through headwater)."""
    table = deltalake.DeltaTable(uri, version=version, storage_options=s3.storage_options())
    return sorted(
        (r["id"], r["grp"], r["amount"], r["day"].isoformat())
        for r in table.to_pyarrow_table().to_pylist()
    )


def _versions(s3: MotoS3, uri: str) -> dict[int, set[str]]:
    """Every version of the table and the object keys of its files."""
    current = deltalake.DeltaTable(uri, storage_options=s3.storage_options()).version()
    bucket_prefix = uri.split("://", 1)[1].split("/", 1)[0] + "/"
    out = {}
    for version in range(current + 1):
        table = deltalake.DeltaTable(uri, version=version, storage_options=s3.storage_options())
        out[version] = {u.split("://", 1)[1].removeprefix(bucket_prefix) for u in table.file_uris()}
    return out


def _data_keys(s3: MotoS3, bucket: str, prefix: str) -> set[str]:
    return {k for k in s3.keys(bucket, prefix) if "/_delta_log/" not in k}


def _build(root: Path, **options: object) -> tuple[int, list[tuple[str, str, str]]]:
    with Context(root) as ctx:
        result = ctx.build(**options)
    return result.exit_code, [(r.name, r.status, r.message) for r in result.results]


def _secret_free(root: Path, secret: str, *outputs: str) -> None:
    """``secret`` is in none of ``outputs`` and in no file headwater wrote (logs, state, the
    warehouse, the lake cache)."""
    for text in outputs:
        assert secret not in text
    needle = secret.encode()
    for path in root.rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path


def test_delta_model_on_s3_through_every_build_path(
    s3: MotoS3, bucket: str, make_project: Callable[..., Path], cli: Callable[..., CliResult]
) -> None:
    uri = f"s3://{bucket}/marts/m"
    root = make_project({
        "seeds/src.csv": _csv(V1), "models/m.sql": MODEL.format(location=uri),
        "models/down.sql": DOWN, "models/schema.yml": CHECKS,
    })  # fmt: skip
    outputs: list[str] = []

    # first build: a new table, read by delta-rs from S3 and by the downstream model
    code, results = _build(root)
    outputs.append(repr(results))
    assert code == 0, results
    assert _delta_rows(s3, uri) == _merged(V1)
    versions = _versions(s3, uri)
    assert list(versions) == [0]
    assert _data_keys(s3, bucket, "marts/m/") == versions[0]
    with Context(root) as ctx:
        _cols, down = ctx.query("select grp, total from main.down order by grp")
    totals: dict[str, int] = {}
    for _i, g, a, _d in _merged(V1):
        totals[g] = totals.get(g, 0) + (a or 0)
    assert down == sorted(totals.items())

    # merge: key 1 changes, key 4 is added, the others stay
    write_project_files(root, {"seeds/src.csv": _csv(V2)})
    code, results = _build(root)
    outputs.append(repr(results))
    assert code == 0, results
    assert _delta_rows(s3, uri) == _merged(V1, V2)
    assert _delta_rows(s3, uri, version=0) == _merged(V1)  # time travel on S3
    history = deltalake.DeltaTable(uri, storage_options=s3.storage_options()).history()
    assert [h.get("headwater.node") for h in history] == ["model.t.m"] * 2

    # a failing check: the version stays, and no object of the rejected change remains
    before_keys = s3.keys(bucket, "marts/m/")
    before_versions = _versions(s3, uri)
    write_project_files(root, {"seeds/src.csv": _csv(V3)})
    code, results = _build(root)
    outputs.append(repr(results))
    assert code == 1
    assert any(name == "m" and status == "fail" for name, status, _ in results), results
    assert _versions(s3, uri) == before_versions
    assert s3.keys(bucket, "marts/m/") == before_keys  # staged objects deleted
    in_some_version = set().union(*before_versions.values())
    assert _data_keys(s3, bucket, "marts/m/") <= in_some_version
    assert _delta_rows(s3, uri) == _merged(V1, V2)
    cached = {
        p.relative_to(cache).as_posix()
        for cache in (root / ".headwater" / "lake_cache").iterdir()
        for p in cache.rglob("*.parquet")
    }
    assert {f"marts/m/{c}" for c in cached} <= in_some_version

    # `headwater query` reads the current version through the warehouse's view
    shown = cli("query", "select id, amount from main.m order by id", "--format", "json",
                "--project-dir", root)  # fmt: skip
    outputs += [shown.out, shown.err]
    assert shown.code == 0, shown.err
    assert [(r["id"], r["amount"]) for r in json.loads(shown.out)] == [
        (i, a) for i, _g, a, _d in _merged(V1, V2)
    ]

    # a full refresh replaces every file: only the new rows remain, older versions stay readable
    write_project_files(root, {"seeds/src.csv": _csv(V4)})
    built = cli("build", "--full-refresh", "--project-dir", root)
    outputs += [built.out, built.err]
    assert built.code == 0, built.out + built.err
    assert _delta_rows(s3, uri) == _merged(V4)
    assert _delta_rows(s3, uri, version=1) == _merged(V1, V2)
    assert max(_versions(s3, uri)) == 2
    _secret_free(root, s3.secret, *outputs)


def test_lake_root_on_s3_places_tables_by_schema_and_name(
    s3: MotoS3, bucket: str, make_project: Callable[..., Path]
) -> None:
    project = BASE_PROJECT.replace(
        "    threads: 2\n", f"    threads: 2\n    lake_root: s3://{bucket}/prefix/\n"
    )
    model = "{{ config(materialized='delta') }}\nselect id, grp, amount, cast(day as date) as day from {{ ref('src') }}\n"
    root = make_project({"seeds/src.csv": _csv(V1), "models/m.sql": model}, project)
    code, results = _build(root)
    assert code == 0, results
    uri = f"s3://{bucket}/prefix/main/m"
    assert _delta_rows(s3, uri) == _merged(V1)
    assert all(k.startswith("prefix/main/m/") for k in s3.keys(bucket))
    assert f"prefix/main/m/_delta_log/{0:020d}.json" in s3.keys(bucket)


def _failing_build(
    s3: MotoS3, bucket: str, make_project: Callable[..., Path], cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, problem: str,
) -> tuple[str, str]:  # fmt: skip
    """Build a Delta model whose storage fails: the table's URI and what the CLI printed (with
    no secret in it, nor in any file of the project)."""
    uri = f"s3://{bucket}/marts/m"
    secret = s3.secret
    if problem == "missing bucket":
        uri = "s3://hw-no-such-bucket/marts/m"
    else:
        secret = "hw-wrong-secret-" + s3.secret[:12]
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    root = make_project({"seeds/src.csv": _csv(V1), "models/m.sql": MODEL.format(location=uri)})
    result = cli("build", "--project-dir", root)
    assert result.code == 1
    shown = result.out + result.err
    _secret_free(root, secret, shown)
    _secret_free(root, s3.secret, shown)
    return uri, shown


@pytest.mark.parametrize("problem", ["missing bucket", "refused credentials"])
def test_storage_errors_name_the_location_and_never_show_the_secret(
    s3: MotoS3, bucket: str, make_project: Callable[..., Path], cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, problem: str,
) -> None:  # fmt: skip
    uri, shown = _failing_build(s3, bucket, make_project, cli, monkeypatch, problem)
    assert f"Delta table at {uri} (endpoint {s3.url})" in shown
    assert s3.keys(bucket) == set()  # nothing was written anywhere


@pytest.mark.parametrize(
    ("problem", "says"),
    [
        ("missing bucket", ["the bucket `hw-no-such-bucket` does not exist", "create the bucket"]),
        ("refused credentials", ["refused the credentials", "AWS_SECRET_ACCESS_KEY"]),
    ],
)
def test_storage_errors_say_what_is_wrong(
    s3: MotoS3, bucket: str, make_project: Callable[..., Path], cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, problem: str, says: list[str],
) -> None:  # fmt: skip
    _uri, shown = _failing_build(s3, bucket, make_project, cli, monkeypatch, problem)
    for words in says:
        assert words in shown


@pytest.mark.parametrize("problem", ["missing bucket", "refused credentials"])
def test_uploads_of_staged_files_say_what_is_wrong(
    s3: MotoS3, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    """Uploading a staged file (`LocalFiles.upload`, through pyarrow) to a missing bucket or with
    a wrong secret: the message names the file, the store's reason and what to check."""
    name = "hw-no-such-bucket" if problem == "missing bucket" else bucket
    if problem == "refused credentials":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hw-wrong-" + s3.secret[:10])
    engine = DuckDBEngine(Target(name="dev", path=str(tmp_path / "w.duckdb")), str(tmp_path))
    engine.open()
    try:
        table = open_table("delta", TableLocation.parse(f"s3://{name}/t", tmp_path), "t")
        with pytest.raises(ExecutionError) as caught:
            _stage(engine, table, tmp_path / "cache", "select 1 as id")
    finally:
        engine.close()
    error = caught.value
    assert f"s3://{name}/t/part-" in str(error)
    if problem == "missing bucket":
        assert "the bucket `hw-no-such-bucket` does not exist" in str(error)
        assert "create the bucket" in (error.hint or "")
    else:
        assert "refused the credentials" in str(error)
        assert "AWS_SECRET_ACCESS_KEY" in (error.hint or "")
    assert s3.secret not in str(error) and "hw-wrong-" not in str(error)


# -- what reaches the store when two writers commit ------------------------------------------------
def _stage(engine: DuckDBEngine, table: LakeTable, cache: Path, sql: str) -> Change:
    """Staged files of ``sql``, written by DuckDB and uploaded, as the lake writer does."""
    files = LocalFiles(table, str(cache))
    casted = casted_select(engine, sql, table.CASTS)
    schema = engine.fetch_arrow(f"select * from ({casted}) as q limit 0").schema
    staged = write_files(engine, casted, files.write_root, relative_to=files.write_root)
    files.upload(staged)
    return Change(staged, schema=schema, operation="APPEND")


ROUNDS = 12


def test_concurrent_commits_on_s3_are_decided_by_conditional_puts(
    s3: MotoS3, bucket: str, tmp_path: Path
) -> None:
    """Two writers commit appends from one base version, round after round. delta-rs writes each
    log entry with ``If-None-Match: *``; exactly one writer gets each version, the other gets
    `LakeConflict` whether delta-rs saw the new version before its PUT or the store refused the
    PUT; the table holds each round's winning rows once and no loser's."""
    engine = DuckDBEngine(Target(name="dev", path=str(tmp_path / "w.duckdb")), str(tmp_path))
    engine.open()
    try:
        location = TableLocation.parse(f"s3://{bucket}/race", tmp_path)
        table = open_table("delta", location, "race")
        cache = tmp_path / "cache"
        first = _stage(engine, table, cache, "select range::bigint as id from range(5)")
        table.commit(first, None, ())
        expected = set(range(5))
        for n in range(1, ROUNDS + 1):
            base = table.snapshot()
            assert base is not None
            a = _stage(
                engine, table, cache, f"select {n * 100} + range::bigint as id from range(3)"
            )
            b = _stage(engine, table, cache, f"select {n * 100 + 50} + range::bigint as id from range(3)")  # fmt: skip

            def commit(change: Change, base: Snapshot = base) -> int:
                return open_table("delta", location, "race").commit(change, base, ())

            won, lost = race([lambda c=a: commit(c), lambda c=b: commit(c)])
            assert won == [n] and len(lost) == 1 and isinstance(lost[0], LakeConflict), lost
            winner = _winner(table, n, a, b)
            expected |= {n * 100 + (0 if winner is a else 50) + i for i in range(3)}
        ids = deltalake.DeltaTable(location.uri, storage_options=s3.storage_options())
        assert sorted(ids.to_pyarrow_table()["id"].to_pylist()) == sorted(expected)
    finally:
        engine.close()
    puts = [p for p in s3.conditional_puts() if p[1].startswith(f"{bucket}/race/_delta_log/")]
    assert {header for _status, _key, header in puts} == {"*"}
    assert sum(status == 200 for status, _k, _h in puts) == ROUNDS + 1  # one per version
    # whether a round's loser was stopped by delta-rs (it saw the new version before its PUT)
    # or by the store (412) varies from run to run; both end as `LakeConflict` above


def _winner(table: LakeTable, version: int, a: Change, b: Change) -> Change:
    snap = table.snapshot(version=version)
    assert snap is not None
    paths = {f.path for f in snap.files}
    mine = [c for c in (a, b) if {f.path for f in c.adds} <= paths]
    assert len(mine) == 1
    return mine[0]


def test_iceberg_model_and_delta_source_on_s3(
    s3: MotoS3, bucket: str, make_project: Callable[..., Path]
) -> None:
    """The other formats' paths through object storage: an Iceberg model merged on S3 (its
    catalog in the state folder) and an existing Delta table on S3 read as a source, pinned to a
    version."""
    events = f"s3://{bucket}/raw/events"
    import pyarrow as pa

    opts = s3.storage_options()
    deltalake.write_deltalake(
        events, pa.table({"id": [1, 2], "kind": ["a", "b"]}), storage_options=opts
    )
    deltalake.write_deltalake(events, pa.table({"id": [3], "kind": ["a"]}), mode="append",
                              storage_options=opts)  # fmt: skip
    sources = f"""
version: 2
sources:
  - name: lake
    tables:
      - name: events
        format: delta
        location: {events}
      - name: events_v0
        format: delta
        location: {events}
        version: 0
"""
    iceberg = (f"{{{{ config(materialized='iceberg', location='s3://{bucket}/marts/m', "
               "incremental_strategy='merge', unique_key='id') }}\n"
               "select id, grp, amount, cast(day as date) as day from {{ ref('src') }}\n")  # fmt: skip
    root = make_project({
        "seeds/src.csv": _csv(V1), "models/m.sql": iceberg, "models/sources.yml": sources,
        "models/counts.sql": "select (select count(*) from {{ source('lake', 'events') }}) as current_rows, "
                             "(select count(*) from {{ source('lake', 'events_v0') }}) as first_rows",
    })  # fmt: skip
    code, results = _build(root)
    assert code == 0, results
    write_project_files(root, {"seeds/src.csv": _csv(V2)})
    code, results = _build(root)
    assert code == 0, results
    with Context(root) as ctx:
        _names, rows = ctx.query(
            "select id, grp, amount, cast(day as varchar) from main.m order by id"
        )
        _names, counts = ctx.query("select current_rows, first_rows from main.counts")
    assert [tuple(r) for r in rows] == _merged(V1, V2)
    assert [tuple(r) for r in counts] == [(3, 2)]
    # the Iceberg table's files are on S3, under the table's location
    assert any(k.startswith("marts/m/data/") for k in s3.keys(bucket, "marts/m/"))
