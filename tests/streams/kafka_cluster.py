"""pytest fixtures for Kafka: librdkafka's mock cluster in a process of its own.

Import the fixtures into a test module (``from ...kafka_cluster import kafka_cluster, kafka_topic``).
The cluster is shared by the session (starting one takes ~0.3 s); every test makes its own topic
and group names (uuids), so tests do not see each other's data. It runs in a child process, never
in the test process, so that tests may SIGKILL consumer processes and restart them against it.

Without confluent-kafka the tests skip, except under ``CI=true``, where they fail.

Group settings for the mock: a rebalance there waits ``session.timeout.ms - 1 s`` for members to
rejoin (it does not finish early when all have, nor when the last member left: a group reopened
after its member closed waits the same), so with librdkafka's default of 45 s a consumer that
reopens a group reads nothing for 44 s. `kafka_config` therefore sets `FAST_GROUP` (rebalances of
~0.5 s) unless a test passes its own ``kafka:``. Crash tests need a short session timeout anyway: a
SIGKILLed member keeps its partitions until its session expires.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from headwater.streams.mock_kafka import MockKafka
from headwater.streams.source import SourceConfig

IN_CI = os.environ.get("CI", "").lower() == "true"
FAST_GROUP: dict[str, Any] = {
    "session.timeout.ms": 1500,
    "heartbeat.interval.ms": 150,
    "fetch.wait.max.ms": 100,
}
"""`kafka:` settings that make tests quick (see the module doc): short rebalances, and a seek
that waits for the fetch in flight at most 100 ms instead of 500."""


def require_confluent_kafka() -> None:
    """Skip (a module, when called at its top) without confluent-kafka; fail under CI=true."""
    try:
        import confluent_kafka  # noqa: F401
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"confluent-kafka is not installed ({exc}); CI=true needs it")
        pytest.skip(f"confluent-kafka is not installed ({exc})", allow_module_level=True)


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[MockKafka]:
    """A 3-broker mock cluster for the whole session."""
    require_confluent_kafka()
    with MockKafka(brokers=3) as cluster:
        yield cluster


@pytest.fixture
def kafka_topic(kafka_cluster: MockKafka) -> Callable[..., str]:
    """``kafka_topic(partitions=3)`` creates a topic with a unique name and returns the name."""

    def make(partitions: int = 3) -> str:
        name = f"t-{uuid.uuid4().hex[:12]}"
        kafka_cluster.create_topic(name, partitions)
        return name

    return make


def kafka_config(
    bootstrap: str,
    topic: str,
    *,
    group: str | None = None,
    start: str = "earliest",
    stream: str = "orders_live",
    **options: Any,
) -> SourceConfig:
    """The `SourceConfig` of a kafka stream on ``topic`` (a new group unless one is given; the
    `FAST_GROUP` settings unless ``kafka=`` is given)."""
    options.setdefault("kafka", dict(FAST_GROUP))
    return SourceConfig(
        stream=stream,
        connector="kafka",
        topic=topic,
        group=group or f"g-{uuid.uuid4().hex[:12]}",
        start=start,
        options={"brokers": bootstrap, **options},
        location="streams/orders.yml:3",
    )
