"""Every connector end to end through `headwater stream run`, against its real broker: events
produced to it land in the warehouse once each, a poison message goes to the DLQ, and a second run
after more events adds exactly those."""

from __future__ import annotations

import importlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from headwater.context import Context
from headwater.streams.source import SourceConfig
from tests.streams import kafka_cluster as kafka_fixtures
from tests.streams.conftest import REDIS_URL, need

kafka_cluster = kafka_fixtures.kafka_cluster


@dataclass
class Broker:
    connector: str
    topic: str
    options: dict[str, Any]
    subscribe_first: bool = False
    """MQTT delivers only to sessions subscribed when a message is published."""

    def yaml(self) -> str:
        opts = "".join(f"      {k}: {json.dumps(v)}\n" for k, v in self.options.items())
        return (f"      connector: {self.connector}\n      topic: {self.topic}\n      group: g{uuid.uuid4().hex[:6]}\n"
                f"      start: earliest\n{opts}")  # fmt: skip

    def produce(self, values: list[bytes], group: str) -> None:
        module = importlib.import_module(f"headwater.streams.connectors.{self.connector}")
        config = SourceConfig(
            "events", self.connector, self.topic, group, "earliest", dict(self.options)
        )
        module.produce(config, values)


def reachable(host: str, port: int) -> None:
    import socket

    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        need(f"{host}:{port} is not reachable: {exc}")


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["kafka", "redis", "nats", "amqp", "mqtt", "kinesis"])
def broker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Broker]:
    name = request.param
    topic = f"hwe2e{uuid.uuid4().hex[:8]}"
    if name == "kafka":
        cluster = request.getfixturevalue("kafka_cluster")
        cluster.create_topic(topic, 3)
        fast = {"session.timeout.ms": 1500, "heartbeat.interval.ms": 150}
        yield Broker("kafka", topic, {"brokers": cluster.bootstrap, "kafka": fast})
    elif name == "redis":
        reachable("127.0.0.1", 6379)
        yield Broker("redis", topic, {"url": REDIS_URL, "claim_idle": "500 ms"})
    elif name == "nats":
        reachable("127.0.0.1", 4222)
        yield Broker("nats", topic, {"create_stream": True})
    elif name == "amqp":
        reachable("127.0.0.1", 5672)
        yield Broker("amqp", topic, {})
    elif name == "mqtt":
        reachable("127.0.0.1", 1883)
        yield Broker("mqtt", f"hw/{topic}", {"shared": False}, subscribe_first=True)
    else:
        import boto3

        endpoint = request.getfixturevalue("moto_endpoint")
        for key, value in (("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s"),
                           ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_EC2_METADATA_DISABLED", "true")):  # fmt: skip
            monkeypatch.setenv(key, value)
        admin = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1")
        admin.create_stream(StreamName=topic, ShardCount=2)
        admin.get_waiter("stream_exists").wait(
            StreamName=topic, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
        )
        yield Broker("kinesis", topic, {"endpoint_url": endpoint})


def test_events_land_once_from_every_broker(
    broker: Broker, make_project: Callable[..., Path]
) -> None:
    source = broker.yaml()
    group = source.split("group: ")[1].split("\n")[0]
    root = make_project(
        {
            "streams/events.yml": "streams:\n  - name: events\n    source:\n" + source
            + "    schema: {id: BIGINT, note: VARCHAR}\n    sink: {table: raw.events}\n"
            "    trigger: {max_records: 150, max_seconds: 0.5}\n"
        }
    )  # fmt: skip

    def run() -> Any:
        with Context(root) as ctx:
            return ctx.stream_run(["events"], until_idle=True, max_seconds=60)[0]

    if broker.subscribe_first:
        run()  # creates the persistent session that keeps what is published from now on
    broker.produce(
        [json.dumps({"id": i, "note": f"n{i}"}).encode() for i in range(400)] + [b"{oops"], group
    )
    first = run()
    if first.messages < 401:  # a broker that hands over in pieces: read on
        first.messages += run().messages
    broker.produce([json.dumps({"id": i, "note": "late"}).encode() for i in range(400, 450)], group)
    run()
    with Context(root) as ctx:
        _, rows = ctx.query("select count(*), count(distinct id), min(id), max(id) from raw.events")
        _, dead = ctx.query("select reason from raw.events__dlq")
    assert rows == [(450, 450, 0, 449)]
    assert dead == [("payload is not valid JSON",)]
