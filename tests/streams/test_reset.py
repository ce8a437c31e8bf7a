"""`headwater stream reset NAME --to earliest|latest|TIMESTAMP` moves the stream at the broker and in
the warehouse: the next run reads from there (an append sink then holds the re-read events again)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

from headwater.context import Context
from tests.conftest import CliResult
from tests.streams import conftest as stream_fixtures
from tests.streams import kafka_cluster as kafka_fixtures
from tests.streams.conftest import REDIS_URL

kafka_cluster = kafka_fixtures.kafka_cluster
redis_key = stream_fixtures.redis_key
produce_redis = stream_fixtures.produce_redis


def count(root: Path) -> int:
    with Context(root) as ctx:
        return int(ctx.query("select count(*) from raw.events")[1][0][0])


def run(cli: Callable[..., CliResult], root: Path) -> None:
    res = cli("stream", "run", "events", "--until-idle", "--project-dir", root)
    assert res.code == 0, res.err


def test_reset_a_kafka_stream(
    make_project: Callable[..., Path], kafka_cluster: object, cli: Callable[..., CliResult]
) -> None:
    from headwater.streams.connectors.kafka import produce
    from headwater.streams.source import SourceConfig

    topic = f"reset-{uuid.uuid4().hex[:10]}"
    kafka_cluster.create_topic(topic, 3)  # type: ignore[attr-defined]
    bootstrap = kafka_cluster.bootstrap  # type: ignore[attr-defined]
    root = make_project({"streams/s.yml": f"""\
streams:
  - name: events
    source: {{connector: kafka, brokers: "{bootstrap}", topic: {topic}, group: g,
              kafka: {{session.timeout.ms: 1500, heartbeat.interval.ms: 150}}}}
    schema: {{id: BIGINT}}
    sink: {{table: raw.events}}
"""})  # fmt: skip
    config = SourceConfig("events", "kafka", topic, "g", "earliest", {"brokers": bootstrap})
    produce(config, [json.dumps({"id": i}).encode() for i in range(100)])
    run(cli, root)
    assert count(root) == 100
    res = cli("stream", "reset", "events", "--to", "earliest", "--project-dir", root)
    assert res.code == 0 and "reset to earliest" in res.out, res.err
    run(cli, root)
    assert count(root) == 200  # everything read again
    assert cli("stream", "reset", "events", "--to", "latest", "--project-dir", root).code == 0
    produce(config, [json.dumps({"id": i}).encode() for i in range(100, 110)])
    run(cli, root)
    assert count(root) == 210  # only what came after the reset
    bad = cli("stream", "reset", "events", "--to", "someday", "--project-dir", root)
    assert bad.code == 2 and "not earliest, latest or an ISO timestamp" in bad.err


def test_reset_a_redis_stream_to_a_time(
    make_project: Callable[..., Path],
    redis_key: str,
    produce_redis: Callable,
    cli: Callable[..., CliResult],
) -> None:
    import datetime as dt
    import time

    root = make_project({"streams/s.yml": f"""\
streams:
  - name: events
    source: {{connector: redis, url: "{REDIS_URL}", topic: {redis_key}, group: g}}
    schema: {{id: BIGINT}}
    sink: {{table: raw.events}}
"""})  # fmt: skip
    produce_redis([{"id": i} for i in range(50)])
    time.sleep(0.05)  # entry ids are milliseconds: the cut falls between the two groups
    cut = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    produce_redis([{"id": i} for i in range(50, 80)])
    run(cli, root)
    assert count(root) == 80
    assert (
        cli("stream", "reset", "events", "--to", cut.isoformat(), "--project-dir", root).code == 0
    )
    run(cli, root)
    with Context(root) as ctx:
        _, rows = ctx.query(
            "select id, count(*) from raw.events group by 1 having count(*) > 1 order by 1"
        )
    assert [r[0] for r in rows] == list(range(50, 80))  # the events after the cut, read twice
