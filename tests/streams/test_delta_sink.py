"""A Delta sink: the warehouse commit decides, the Delta table follows with one commit per batch
carrying the app transaction (headwater-stream:<name>, batch number). A crash between the two, or
two processes flushing the same batch, appends it once — also though delta-rs itself accepts a
repeated app-transaction version."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.context import Context
from tests.conftest import CliResult
from tests.streams import conftest as stream_fixtures
from tests.streams.conftest import REDIS_URL

redis_key = stream_fixtures.redis_key
produce_redis = stream_fixtures.produce_redis


def project(make_project: Callable[..., Path], key: str) -> Path:
    return make_project(
        {
            "streams/events.yml": f"""\
streams:
  - name: events
    source: {{connector: redis, url: "{REDIS_URL}", topic: {key}, group: g, claim_idle: 200 ms}}
    schema: {{id: BIGINT, kind: VARCHAR}}
    sink: {{delta: {{path: lake/events}}}}
    trigger: {{max_records: 100, max_seconds: 0.5}}
""",
            "models/marts/kinds.sql": "select kind, count(*) as n from {{ ref('events') }} group by 1",
        }
    )


def delta_ids(root: Path) -> list[int]:
    from deltalake import DeltaTable

    return sorted(
        DeltaTable(str(root / "lake" / "events")).to_pyarrow_table().column("id").to_pylist()
    )


def test_events_land_in_delta_once_and_models_ref_them(
    make_project: Callable[..., Path],
    redis_key: str,
    produce_redis: Callable,
    cli: Callable[..., CliResult],
) -> None:
    root = project(make_project, redis_key)
    first = cli(
        "build", "--project-dir", root
    )  # the empty Delta table and its view, then the model
    assert first.code == 0, first.out + first.err
    produce_redis([{"id": i, "kind": "ab"[i % 2]} for i in range(350)])
    assert cli("stream", "run", "events", "--until-idle", "--project-dir", root).code == 0
    assert delta_ids(root) == list(range(350))
    from deltalake import DeltaTable

    table = DeltaTable(str(root / "lake" / "events"))
    assert table.transaction_version("headwater-stream:events") == 4  # 350 events in batches of 100
    assert cli("build", "--project-dir", root, "--select", "kinds").code == 0
    with Context(root) as ctx:
        assert ctx.query("select kind, n from kinds order by 1")[1] == [("a", 175), ("b", 175)]


def test_a_new_warehouse_numbers_its_batches_after_the_tables(
    make_project: Callable[..., Path],
    redis_key: str,
    produce_redis: Callable,
    cli: Callable[..., CliResult],
) -> None:
    """The batch numbers are the warehouse's; the Delta table keeps the last one it appended. A
    new warehouse (a lost file, a new machine, CI) must not number from 1 again: those batches
    would read as appended already and their events would be lost."""
    from deltalake import DeltaTable

    root = project(make_project, redis_key)
    produce_redis([{"id": i, "kind": "a"} for i in range(150)])
    assert cli("stream", "run", "events", "--until-idle", "--project-dir", root).code == 0
    for path in (root / ".headwater").glob("warehouse.duckdb*"):
        path.unlink()
    produce_redis([{"id": i, "kind": "b"} for i in range(150, 250)])
    assert cli("stream", "run", "events", "--until-idle", "--project-dir", root).code == 0
    assert delta_ids(root) == list(range(250))
    table = DeltaTable(str(root / "lake" / "events"))
    assert table.transaction_version("headwater-stream:events") == 3  # batches 1-2, then 3


def test_a_crash_between_the_warehouse_and_delta_appends_once(
    make_project: Callable[..., Path],
    redis_key: str,
    produce_redis: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from headwater.streams import delta_sink

    root = project(make_project, redis_key)
    produce_redis([{"id": i, "kind": "x"} for i in range(250)])

    class Crash(Exception):
        pass

    original = delta_sink.DeltaSink._append
    calls = {"n": 0}

    def append_then_crash(self: delta_sink.DeltaSink, data: object, number: int) -> int:
        calls["n"] += 1
        if calls["n"] == 2:  # the second batch: appended to Delta, then the process dies
            original(self, data, number)
            raise Crash
        return original(self, data, number)

    monkeypatch.setattr(delta_sink.DeltaSink, "_append", append_then_crash)
    with Context(root) as ctx, pytest.raises(Crash):
        ctx.stream_run(["events"], until_idle=True)
    monkeypatch.undo()
    # the batch is still pending in the warehouse, and already in Delta: the next flush skips it
    with Context(root) as ctx:
        ctx.stream_run(["events"], until_idle=True, max_seconds=20)
    assert delta_ids(root) == list(range(250))


def test_delta_rs_accepts_a_repeated_app_version_so_headwater_checks(tmp_path: Path) -> None:
    """The trap the platform notes describe, kept as a test: if it ever stops holding, the
    version check may become redundant, never wrong."""
    import pyarrow as pa
    from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

    path = str(tmp_path / "t")
    data = pa.table({"id": [1]})
    for _ in range(2):
        write_deltalake(path, data, mode="append",
                        commit_properties=CommitProperties(app_transactions=[Transaction("app", 1)]))  # fmt: skip
    assert DeltaTable(path).to_pyarrow_table().num_rows == 2
