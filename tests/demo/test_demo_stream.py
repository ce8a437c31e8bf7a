"""`headwater demo --stream`: web events produced to the real Redis land in the demo's warehouse
exactly once (bad ones in the DLQ), the live status shows them, and the printed commands work."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import duckdb

from tests.conftest import CliResult
from tests.streams import conftest as stream_fixtures

redis_key = stream_fixtures.redis_key  # a fixture: fails under CI=true when Redis is not there


def test_demo_stream_lands_every_event_once(
    tmp_path: Path, cli: Callable[..., CliResult], redis_key: str
) -> None:
    import redis

    redis.Redis().delete("headwater_demo:web_events")
    root = tmp_path / "demo"
    built = cli("demo", str(root), "--scale", "0.002", "--no-build")
    assert built.code == 0
    assert cli("build", "--project-dir", root, "--select", "web_events_live+").code == 0
    res = cli("demo", str(root), "--stream", "--seconds", "3", "--rate", "800")
    assert res.code == 0, res.err
    assert "events/s" in res.out and "lag" in res.out  # the live status lines
    landed, produced, dead = map(
        lambda s: int(s.replace(",", "")),
        re.search(
            r"Landed ([\d,]+) of ([\d,]+) events exactly once.*; ([\d,]+) bad ones", res.out
        ).groups(),  # type: ignore[union-attr]
    )
    con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    try:
        rows, distinct = con.execute(
            "select count(*), count(distinct event_id) from raw.web_events_live"
        ).fetchone()  # type: ignore[misc]
        windowed = con.execute("select sum(events) from raw.live_events_per_minute").fetchone()[0]  # type: ignore[index]
        reasons = {
            r[0] for r in con.execute("select reason from raw.web_events_live__dlq").fetchall()
        }
    finally:
        con.close()
    assert produced == 2400 and landed == rows == distinct and landed + dead == produced
    assert windowed == landed  # every landed event is in its minute's window
    assert reasons == {
        "payload is not valid JSON",
        "failed expect_column_values_to_be_in_set(event_type)",
    }
    status = cli("stream", "status", "--project-dir", root)
    assert status.code == 0 and "web_events_live" in status.out
    redis.Redis().delete("headwater_demo:web_events")
