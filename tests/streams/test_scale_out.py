"""Scale out: N `headwater stream run` processes of one stream share the work through the broker's
consumer group, each commits part of it, and together they land every event once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from headwater.context import Context
from tests.streams import conftest as stream_fixtures
from tests.streams.conftest import REDIS_URL

pytestmark = pytest.mark.slow
redis_key = stream_fixtures.redis_key
produce_redis = stream_fixtures.produce_redis


def test_three_processes_share_a_redis_stream(
    make_project: Callable[..., Path], redis_key: str, produce_redis: Callable
) -> None:
    root = make_project(
        {
            "streams/s.yml": f"""\
streams:
  - name: shared
    source: {{connector: redis, url: "{REDIS_URL}", topic: {redis_key}, group: g}}
    schema: {{id: BIGINT}}
    sink: {{table: raw.shared}}
    trigger: {{max_records: 200, max_seconds: 0.3}}
"""
        }
    )
    with Context(root) as ctx:  # the tables and the consumer group exist before anyone consumes
        ctx.stream_run(["shared"], until_idle=True)
    command = [sys.executable, "-m", "headwater", "stream", "run", "shared", "--quiet",
               "--max-seconds", "12", "--project-dir", str(root)]  # fmt: skip
    procs = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    time.sleep(3)  # all three have joined the group before the events arrive
    for start in range(0, 6000, 500):
        produce_redis([json.dumps({"id": i}).encode() for i in range(start, start + 500)])
        time.sleep(0.1)  # a steady producer
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err[-2000:]
    con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    try:
        ids = [r[0] for r in con.execute("select id from raw.shared").fetchall()]
    finally:
        con.close()
    assert len(ids) == len(set(ids)) == 6000
    with Context(root) as ctx:
        points = ctx.state.metrics.series(
            next(n.unique_id for n in ctx.manifest.nodes.values() if n.name == "shared"), 100
        )
    per_process: dict[str, float] = {}
    for p in points:
        if p.metric == "stream_events" and p.value:
            per_process[p.column_name] = per_process.get(p.column_name, 0) + p.value
    assert len([v for v in per_process.values() if v > 0]) >= 2, per_process  # the work was shared
