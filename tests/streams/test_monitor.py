"""Stream monitoring: what a running stream records (the state store's node metrics), what
`stream status` makes of it, and SLAs that open and resolve incidents."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from headwater.context import Context
from headwater.streams.monitor import quantile
from tests.conftest import CliResult
from tests.streams import conftest as stream_fixtures
from tests.streams.conftest import REDIS_URL

redis_key = stream_fixtures.redis_key
produce_redis = stream_fixtures.produce_redis


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200), st.floats(0, 1))
def test_quantile_is_within_the_values_and_monotone(values: list[float], q: float) -> None:
    got = quantile(values, q)
    assert got is not None and min(values) <= got <= max(values)
    assert quantile(values, 0.0) == min(values) and quantile(values, 1.0) == max(values)
    assert quantile(values, min(1.0, q + 0.1)) >= got  # type: ignore[operator]


def test_status_and_sla_incidents(
    make_project: Callable[..., Path],
    redis_key: str,
    produce_redis: Callable,
    cli: Callable[..., CliResult],
) -> None:
    root = make_project(
        {
            "streams/s.yml": f"""\
streams:
  - name: clicks
    source: {{connector: redis, url: "{REDIS_URL}", topic: {redis_key}, group: g}}
    schema: {{id: BIGINT}}
    sink: {{table: raw.clicks}}
    slas: {{max_latency: 1s}}
"""
        }
    )
    produce_redis([{"id": i} for i in range(300)] + [b"bad"])
    time.sleep(1.5)  # the events wait in the broker: their end-to-end latency exceeds the SLA
    with Context(root) as ctx:
        ctx.stream_run(["clicks"], until_idle=True)
        opened = ctx.state.incidents.open_incidents()
    assert [i.trigger for i in opened.values()] == ["sla"]
    incident = next(iter(opened.values()))
    assert "clicks" in incident.message and "max_latency" in incident.message
    status = json.loads(cli("stream", "status", "clicks", "--json", "--project-dir", root).out)[
        "streams"
    ][0]
    assert status["latency_p99_s"] >= 1.5 and status["dlq_rate"] == 1 / 301
    assert status["total_lag"] == 0 and status["running"] is False and status["last_commit"]
    # fresh events, consumed at once: back within the SLA, the incident resolves
    with Context(root) as ctx:
        latencies: list[float] = []
        produce_redis([{"id": i} for i in range(300, 310)])
        ctx.stream_run(
            ["clicks"], until_idle=True, on_batch=lambda r: latencies.extend(r.latencies)
        )
        assert max(latencies) < 1, latencies
        assert ctx.state.incidents.open_incidents() == {}
    table = cli("stream", "status", "--project-dir", root)
    assert table.code == 0 and "clicks" in table.out and "(1 streams)" in table.out


def test_a_monitor_opens_an_anomaly_when_the_rate_falls(
    make_project: Callable[..., Path], redis_key: str, produce_redis: Callable
) -> None:
    from headwater.state.records import MetricValue
    from headwater.streams.processor import process_id

    root = make_project(
        {
            "streams/s.yml": f"""\
streams:
  - name: clicks
    source: {{connector: redis, url: "{REDIS_URL}", topic: {redis_key}, group: g}}
    schema: {{id: BIGINT}}
    sink: {{table: raw.clicks}}
    trigger: {{max_seconds: 0.2}}
    monitors: [{{metric: events_per_s, direction: drop}}]
"""
        }
    )
    with Context(root) as ctx:  # this process's history: about a million events a second
        uid = next(n.unique_id for n in ctx.manifest.nodes.values() if n.name == "clicks")
        now = time.time()
        ctx.state.metrics.record(
            MetricValue(
                f"past-{i}",
                uid,
                now - 100 + i,
                "stream_events_per_s",
                process_id(),
                1e6 + 1000 * (i % 3),
            )
            for i in range(10)
        )
        ctx.state.flush()
        produce_redis([{"id": i} for i in range(50)])
        ctx.stream_run(["clicks"], until_idle=True)
        opened = ctx.state.incidents.open_incidents()
    assert [(i.trigger, i.subject) for i in opened.values()] == [("anomaly", f"{uid}:events_per_s")]
    assert "outside" in next(iter(opened.values())).message
