"""librdkafka settings and the clients around `headwater.streams.connectors.kafka`'s source: the
`kafka:` mapping turned into librdkafka settings (`kafka_settings`, the `RESERVED` keys headwater
owns, which keys are consumer-only), the text of a librdkafka error, `_Probe` (the offsets-by-time
fallback that reads single messages by offset), and the tools `produce` (bulk publish, for tests,
the demo and the benchmarks) and `raw_consume` (plain confluent-kafka consume + commit, the
benchmark's baseline). The module doc of `kafka` describes the behaviour; `kafka` re-exports the
public names."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError, ExecutionError
from headwater.streams.source import SourceConfig, env_value

if TYPE_CHECKING:
    from headwater.streams.connectors.kafka import KafkaSource

RESERVED = {
    "bootstrap.servers": "brokers:",
    "metadata.broker.list": "brokers:",
    "group.id": "group:",
    "enable.auto.commit": None,
    "enable.auto.offset.store": None,
    "enable.partition.eof": None,
    "error_cb": None,
    "on_commit": None,
    "logger": None,
    "stats_cb": None,
}
"""librdkafka settings `kafka:` may not set: headwater's exactly-once rests on them (or they are
set from another key, named here)."""
CONNECT_TIMEOUT = 5.0
"""Seconds `open`/`reset`/`produce` wait for the cluster's metadata before giving up."""
REQUEST_TIMEOUT = 10.0
"""Seconds a broker request (watermarks, offsets by time, commits) may take once connected."""
_PROBE_TIMEOUT = 5.0


def kafka_settings(config: SourceConfig) -> dict[str, Any]:
    """The `kafka:` mapping of ``config`` as librdkafka settings: ``<key>_env: VAR`` becomes
    ``<key>: $VAR`` (registered as a secret); settings headwater owns are refused."""
    from headwater import secrets

    raw = config.get("kafka") or {}
    where = f"stream `{config.stream}`"
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{where}: `kafka:` must be a mapping of librdkafka settings",
            hint=f"kafka: {{security.protocol: SASL_SSL, sasl.mechanism: PLAIN}} ({config.location})",
        )
    out: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key)
        if key.endswith("_env"):
            value = env_value(str(value), f"`kafka: {key}`", config.stream, config.location)
            secrets.register(value)
            key = key[: -len("_env")]
        if key in RESERVED:
            instead = RESERVED[key]
            raise ConfigError(
                f"{where}: `kafka: {key}` cannot be set: headwater sets it"
                + (f" from `{instead}`" if instead else " (exactly-once depends on it)"),
                hint=f"remove it from `kafka:` ({config.location})",
            )
        if not isinstance(value, str | int | float | bool):
            raise ConfigError(
                f"{where}: `kafka: {key}` must be a single value, not {type(value).__name__}",
                hint=f"librdkafka settings are strings, numbers or booleans ({config.location})",
            )
        out[key] = value
    return out


_CONSUMER_ONLY = {
    "partition.assignment.strategy", "session.timeout.ms", "heartbeat.interval.ms",
    "max.poll.interval.ms", "auto.offset.reset", "isolation.level", "check.crcs",
    "allow.auto.create.topics", "group.instance.id", "group.protocol", "group.remote.assignor",
    "auto.commit.interval.ms", "coordinator.query.interval.ms", "offset.store.method",
}  # fmt: skip


def _consumer_only(key: str) -> bool:
    """Whether a librdkafka setting applies to consumers only."""
    return key in _CONSUMER_ONLY or key.startswith(("fetch.", "queued."))


def _kafka_text(exc: BaseException) -> str:
    """The message of a KafkaException (its KafkaError's text), or of any other error."""
    arg: Any = exc.args[0] if exc.args else None
    return str(arg.str()) if hasattr(arg, "str") else str(exc)


class _Probe:
    """Reads single messages by offset, for the offsets-by-time fallback (its own consumer,
    never joining the group, with a short fetch wait so that each probe is one quick round trip)."""

    def __init__(self, source: KafkaSource, metadata_client: Any) -> None:
        self.source = source
        self.client = metadata_client
        self.errors: list[Any] = []
        self.consumer = source._new_consumer(self.errors, **{"fetch.wait.max.ms": 10})

    def timestamp(self, partition: int, offset: int) -> int | None:
        """The timestamp (ms) of the first message at or after ``offset``; None if none came."""
        from confluent_kafka import TopicPartition

        self.consumer.assign([TopicPartition(self.source.topic, partition, offset)])
        deadline = time.monotonic() + _PROBE_TIMEOUT
        while time.monotonic() < deadline:
            for m in self.consumer.consume(1, 0.5):
                if m.error() is None and m.partition() == partition:
                    kind, ts = m.timestamp()
                    return int(ts) if kind else None
        return None

    def first_at(self, partition: int, ms: int) -> int:
        from confluent_kafka import KafkaException, TopicPartition

        try:
            lo, hi = self.client.get_watermark_offsets(
                TopicPartition(self.source.topic, partition), timeout=REQUEST_TIMEOUT
            )
        except KafkaException as exc:
            raise ExecutionError(
                f"{self.source._where}: cannot read partition {partition}'s offsets: {_kafka_text(exc)}"
            ) from None
        if hi <= lo:
            return hi
        last = self.timestamp(partition, hi - 1)
        if last is None or last < ms:
            return hi  # the broker's "none" is right
        low, high = lo, hi - 1  # high: a message at or after `ms`
        while low < high:
            mid = (low + high) // 2
            ts = self.timestamp(partition, mid)
            if ts is not None and ts >= ms:
                high = mid
            else:
                low = mid + 1
        return low

    def close(self) -> None:
        self.consumer.close()


# -------------------------------------------------------------------- produce / raw_consume


class _Producer:
    """A producer kept for the process, so that producing at a steady rate in small calls
    (tests, the demo, the latency benchmark) does not connect for each call."""

    def __init__(self, source: KafkaSource) -> None:
        from confluent_kafka import KafkaException, Producer

        self.pid = os.getpid()
        self.errors: list[Any] = []
        self.failed: list[Any] = []
        self.next_partition: dict[str, int] = {}
        conf = source._client_config(
            self.errors,
            **{"linger.ms": 5, "delivery.report.only.error": True, "on_delivery": self._delivered},
        )
        for key in [k for k in conf if _consumer_only(k)]:
            del conf[key]  # the stream's `kafka:` is for its consumer; a producer warns about these
        try:
            self.producer = Producer(conf)
        except (KafkaException, ValueError, TypeError) as exc:
            raise source._settings_error(exc) from None

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.failed.append(err)


_PRODUCERS: dict[tuple[str, str], _Producer] = {}


def produce(config: SourceConfig, values: list[bytes]) -> None:
    """Publish ``values`` to the topic in bulk and wait until they are stored, spread
    round-robin over its partitions (continuing where this process's last call stopped; the
    default partitioner's sticky batches would put a small burst on a single partition); raises
    if any message is not delivered."""
    from headwater.streams.connectors.kafka import KafkaSource  # late: kafka imports this module

    source = KafkaSource(config)
    key = (source.brokers, repr(sorted(source.settings.items())))
    cached = _PRODUCERS.get(key)
    if cached is None or cached.pid != os.getpid():  # librdkafka handles do not survive fork()
        cached = _PRODUCERS[key] = _Producer(source)
    else:
        cached.producer.poll(0)  # errors from before this call (an outage since) are old news
        cached.errors.clear()
    producer = cached.producer
    cached.failed.clear()
    try:
        metadata = source._metadata(producer, cached.errors)
    except ConfigError:
        _PRODUCERS.pop(key, None)
        raise
    count = len(metadata.topics[config.topic].partitions)
    topic = config.topic
    start = cached.next_partition.get(topic, 0)
    for i, value in enumerate(values, start):
        while True:
            try:
                producer.produce(topic, value, partition=i % count)
                break
            except BufferError:
                producer.poll(0.05)  # the local queue is full: let deliveries drain it
    cached.next_partition[topic] = (start + len(values)) % count
    left = producer.flush(60)
    if left or cached.failed:
        reason = (
            cached.failed[0].str() if cached.failed else f"{left} messages still queued after 60 s"
        )
        raise ExecutionError(f"stream `{config.stream}`: producing to `{topic}` failed: {reason}")


def raw_consume(
    config: SourceConfig,
    n: int,
    timeout: float,
    land: Callable[[list[bytes | None]], None] | None = None,
    count: int = 10_000,
) -> int:
    """Read and commit up to ``n`` messages with plain confluent-kafka, no headwater in between
    (the benchmarks' baseline): batches of ``count``, each payload touched once, an asynchronous
    commit per batch, a synchronous one at the end. ``land``, if given, receives each batch's
    payloads before its commit. Returns how many were read before ``timeout``."""
    from confluent_kafka import Consumer, KafkaException

    from headwater.streams.connectors.kafka import KafkaSource  # late: kafka imports this module

    source = KafkaSource(config)
    errors: list[Any] = []
    conf = source._client_config(
        errors,
        **{
            "group.id": config.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "latest" if config.start == "latest" else "earliest",
        },
    )
    consumer = Consumer(conf)
    consumer.subscribe([config.topic])
    read = 0
    deadline = time.monotonic() + timeout
    try:
        while read < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            batch = consumer.consume(min(n - read, count), min(remaining, 0.5))
            values = [m.value() for m in batch if m.error() is None]
            if values:
                if land is not None:
                    land(values)
                read += len(values)
                consumer.commit(asynchronous=True)
        if read:
            # _NO_OFFSET: the last asynchronous commit already had these offsets
            with contextlib.suppress(KafkaException):
                consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return read
