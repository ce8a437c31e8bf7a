"""SIGTERM to `headwater stream run` finishes the micro-batch, commits it and exits 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from headwater.context import Context
from tests.streams import conftest as stream_fixtures
from tests.streams.conftest import REDIS_URL

redis_key = stream_fixtures.redis_key
produce_redis = stream_fixtures.produce_redis


def waiting(key: str) -> int | None:
    """Entries of the stream not yet delivered to the group (None before the group exists)."""
    import redis

    groups = (
        redis.Redis.from_url(REDIS_URL).xinfo_groups(key)
        if redis.Redis.from_url(REDIS_URL).exists(key)
        else []
    )
    return int(groups[0]["lag"] or 0) if groups else None


def test_sigterm_commits_and_exits(
    make_project: Callable[..., Path], redis_key: str, produce_redis: Callable
) -> None:
    root = make_project({"streams/s.yml": f"""\
streams:
  - name: events
    source: {{connector: redis, url: "{REDIS_URL}", topic: {redis_key}, group: g}}
    schema: {{id: BIGINT}}
    sink: {{table: raw.events}}
    trigger: {{max_records: 100000, max_seconds: 30}}
"""})  # fmt: skip
    run = subprocess.Popen(
        [sys.executable, "-m", "headwater", "stream", "run", "events", "--project-dir", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    produce_redis([json.dumps({"id": i}).encode() for i in range(500)])
    deadline = time.monotonic() + 30
    with Context(root) as ctx:  # wait until the process has the events in its (30 s) micro-batch
        uid = next(n.unique_id for n in ctx.manifest.nodes.values() if n.name == "events")
    while waiting(redis_key) != 0:  # the events are delivered, into the open micro-batch
        assert time.monotonic() < deadline and run.poll() is None
        time.sleep(0.1)
    run.send_signal(signal.SIGTERM)  # long before the trigger's 30 s
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    assert "finishing the micro-batch" in err and "500 events" in out
    with Context(root) as ctx:
        assert ctx.query("select count(distinct id) from raw.events")[1] == [(500,)]
        assert any(p.metric == "stream_stopped" for p in ctx.state.metrics.series(uid, 10))
