"""The demo's daily-partitioned incremental fact: built whole once, then partitions replaced."""

from __future__ import annotations

from pathlib import Path

from headwater.context import Context
from tests.conftest import query


def test_web_events_fact_is_incremental_and_idempotent(tmp_path: Path) -> None:
    from headwater.scaffold import create_demo

    root, _, _ = create_demo(str(tmp_path / "shop"), 0.005, 7)
    with Context(root) as ctx:
        assert ctx.run(["+fct_web_events"]).exit_code == 0
    raw = query(root, "select count(*) from main.stg_web_events where event_at is not null")[0][0]
    first = query(
        root, "select count(*), count(distinct event_id), max(event_date) from main.fct_web_events"
    )[0]
    assert first[0] == first[1] == raw
    with Context(root) as ctx:
        result = ctx.run(["fct_web_events"])
    node = result.results[0]
    assert node.status == "success" and node.message.startswith("insert_overwrite:")
    assert 0 < node.rows < raw  # only the last days were rebuilt
    assert (
        query(
            root,
            "select count(*), count(distinct event_id), max(event_date) from main.fct_web_events",
        )[0]
        == first
    )
