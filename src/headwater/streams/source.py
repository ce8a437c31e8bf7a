"""The stream source seam: how events get out of a broker, and back to it as acknowledgements.

A source only *delivers*: it polls `Message`s (the payload bytes, where they sit in the broker, the
broker's timestamp), or, on the hot path, a `MessageBatch` of them as columns. Decoding,
validation, windows and the sink are the same for every broker (`headwater.streams.processor`). Exactly-once rests on one rule: the sink commits the rows *and*
the positions they came from in one warehouse transaction, and the source is told (`ack`) only
after that commit. Brokers come in two kinds, which the processor treats differently:

* **positioned** (`Delivery.POSITIONED`: Kafka partitions, Kinesis shards): each partition has
  one reader at a time and a total order. The warehouse keeps the last committed offset of each
  partition; a commit is a compare-and-swap from the offset the batch started at, so a process that
  lost the partition to another (a rebalance) cannot commit, and a restart seeks to the committed
  offsets (`Positions`), whatever the broker thinks.
* **acknowledged** (`Delivery.ACKED`: Redis consumer groups, NATS JetStream durable consumers,
  RabbitMQ queues, MQTT persistent sessions): the broker hands each message to one consumer of the
  group and redelivers what was not acknowledged. The warehouse keeps the ids of the messages it
  committed (`Message.offset`) until the broker's acknowledgement floor passes them
  (`StreamSource.ack_floor`), and a redelivered message whose id is committed is dropped, not
  written twice.

Adding a broker: implement `StreamSource` in `headwater/streams/connectors/<name>.py` and name it
in `headwater.streams.connectors.CONNECTORS`. Config comes from the stream's `source:` mapping;
secrets only from environment variables named by keys ending in `_env`.
"""

from __future__ import annotations

import enum
import gc
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from headwater.errors import ConfigError

GENERIC_KEYS = frozenset(
    {"connector", "topic", "group", "start", "format", "avro_schema", "avro_wire", "delimiter"}
)
"""Keys every `source:` mapping may have (`headwater.streams.spec.SOURCE_KEYS`: the spec strips
them; every connector tolerates them if a caller does not)."""


class Delivery(enum.Enum):
    POSITIONED = "positioned"
    ACKED = "acked"


@dataclass(slots=True)
class Message:
    """One event as the broker delivered it. (Not frozen: a frozen dataclass costs five times as
    much to construct, and a source builds one per event; nothing changes a message once made.)"""

    partition: str
    """Kafka partition number, Kinesis shard id; for acknowledged brokers the stream, subject or
    queue the message came from (one per source)."""
    offset: str
    """Where the message sits: Kafka offset, Kinesis sequence number, Redis entry id, NATS stream
    sequence; for RabbitMQ and MQTT the `message_id` the producer set (empty when none: those
    messages are delivered at least once, see the module doc)."""
    value: bytes
    timestamp: float | None = None
    """When the broker received it (epoch seconds), for end-to-end latency; None if unknown."""
    key: bytes | None = None
    handle: Any = None
    """What the source needs to acknowledge this message (a delivery tag, a NATS message)."""


@dataclass(slots=True, eq=False)
class MessageBatch:
    """Messages as columns: what a micro-batch is inside the processor, and what a fast source
    returns from `poll_batch`. A source that builds one `Message` per event spends more on the
    objects than the broker's client spends reading the event (~0.3 us of ~1 us on Kafka), and
    every later step (decoding, the ledger, the acknowledgement) wants a column anyway.

    It is also a read-only sequence of `Message` (built on access), for code that wants them."""

    partitions: list[str]
    offsets: list[str]
    values: list[bytes]
    timestamps: list[float | None]
    keys: list[bytes | None] | None = None
    """None: no message of the batch has a key."""
    handles: list[Any] | None = None
    """None: no message of the batch has a handle."""

    @classmethod
    def empty(cls) -> MessageBatch:
        return cls([], [], [], [])

    @classmethod
    def of(cls, messages: Sequence[Message] | MessageBatch) -> MessageBatch:
        if isinstance(messages, MessageBatch):
            return messages
        keys = [m.key for m in messages]
        handles = [m.handle for m in messages]
        return cls(
            [m.partition for m in messages],
            [m.offset for m in messages],
            [m.value for m in messages],
            [m.timestamp for m in messages],
            keys if any(k is not None for k in keys) else None,
            handles if any(h is not None for h in handles) else None,
        )

    def __len__(self) -> int:
        return len(self.offsets)

    def __bool__(self) -> bool:
        return bool(self.offsets)

    def __getitem__(self, i: int) -> Message:
        return Message(
            self.partitions[i],
            self.offsets[i],
            self.values[i],
            self.timestamps[i],
            None if self.keys is None else self.keys[i],
            None if self.handles is None else self.handles[i],
        )

    def __iter__(self) -> Iterator[Message]:
        return (self[i] for i in range(len(self)))

    def messages(self) -> list[Message]:
        return list(self)

    def key(self, i: int) -> bytes | None:
        return None if self.keys is None else self.keys[i]

    def extend(self, other: MessageBatch) -> None:
        """Append ``other``'s messages (in place)."""
        mine, theirs = len(self), len(other)
        self.partitions += other.partitions
        self.offsets += other.offsets
        self.values += other.values
        self.timestamps += other.timestamps
        if self.keys is not None or other.keys is not None:
            keys: list[bytes | None] = self.keys if self.keys is not None else [None] * mine
            keys += other.keys if other.keys is not None else [None] * theirs
            self.keys = keys
        if self.handles is not None or other.handles is not None:
            handles: list[Any] = self.handles if self.handles is not None else [None] * mine
            handles += other.handles if other.handles is not None else [None] * theirs
            self.handles = handles

    def take(self, indices: Sequence[int]) -> MessageBatch:
        """The messages at ``indices``, in that order."""
        return MessageBatch(
            [self.partitions[i] for i in indices],
            [self.offsets[i] for i in indices],
            [self.values[i] for i in indices],
            [self.timestamps[i] for i in indices],
            None if self.keys is None else [self.keys[i] for i in indices],
            None if self.handles is None else [self.handles[i] for i in indices],
        )


Positions = Callable[[list[str]], dict[str, str | None]]
"""Committed offsets of the given partitions, read from the warehouse (None: nothing committed;
start as `start:` says). A positioned source calls it whenever partitions are assigned to it."""


def poll_batch(source: StreamSource, max_records: int, timeout: float) -> MessageBatch:
    """``source.poll_batch`` where the source has one (columns built straight from the broker's
    reply), else its `poll` as a `MessageBatch`."""
    fast = getattr(source, "poll_batch", None)
    if fast is not None:
        batch: MessageBatch = fast(max_records, timeout)
        return batch
    return MessageBatch.of(source.poll(max_records, timeout))


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a client's reply becomes a batch.

    A large read makes hundreds of thousands of objects (librdkafka's messages, redis-py's reply
    lists, the payloads) that all live until the batch is built. Each allocation counts towards a
    collection, so the collector would scan them again and again while they are made (measured:
    15-20% of a Kafka or Redis read), and none of them can be part of a cycle."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def ack_batch(source: StreamSource, batch: MessageBatch) -> None:
    """``source.ack_batch`` where the source has one, else its `ack` with the messages."""
    fast = getattr(source, "ack_batch", None)
    if fast is not None:
        fast(batch)
    else:
        source.ack(batch.messages())


class StreamSource(Protocol):
    """A connection to one broker topic / stream / queue for one consumer group."""

    delivery: Delivery

    def open(self, positions: Positions) -> None:
        """Connect and join the consumer group. A positioned source seeks each partition it is
        assigned, now and after every rebalance, to just after ``positions([partition])``."""

    def poll(self, max_records: int, timeout: float) -> list[Message]:
        """Up to ``max_records`` messages, waiting at most ``timeout`` seconds for the first.
        Never raises on an empty broker: returns []. (A source on the hot path may also have
        ``poll_batch`` with the same arguments, returning a `MessageBatch`, and
        ``ack_batch(batch)``; the processor prefers them: see `poll_batch` below.)"""

    def assignment(self) -> set[str]:
        """Partitions this process reads now (positioned sources; acknowledged ones return the
        one partition they read)."""

    def seek(self, positions: Mapping[str, str | None]) -> None:
        """Read these partitions again from just after the given offsets (None: `start:`);
        messages polled and not yet returned for them are dropped. Called when a commit lost its
        compare-and-swap, for the partitions this process still holds."""

    def ack(self, messages: list[Message]) -> None:
        """Tell the broker these messages are committed (after the warehouse commit): Kafka
        offset commit, XACK, JetStream ack, basic.ack, PUBACK."""

    def ack_floor(self) -> str | None:
        """Acknowledged sources: an offset below which the broker redelivers nothing of this
        group any more (committed ids below it may be forgotten); None when unknown."""

    def order_key(self, offset: str) -> str:
        """A text that sorts like the offsets do (zero-padded numbers), for `ack_floor`
        comparisons and `stream status`."""

    def lag(self) -> dict[str, int | None]:
        """Messages behind the broker's end, per partition this process can see."""

    def reset(self, to: str | datetime) -> dict[str, str | None]:
        """Move the group to ``earliest``, ``latest`` or a time; returns the offsets (per
        partition) the warehouse should record, the offset *before* the first message to read."""

    def close(self) -> None: ...


@dataclass
class SourceConfig:
    """The `source:` mapping of a stream, with its secrets resolved from the environment."""

    stream: str
    connector: str
    topic: str
    group: str
    start: str
    options: dict[str, Any]
    """Everything else of the mapping (connector-specific keys), `*_env` keys resolved: a key
    `brokers_env: KAFKA_BROKERS` becomes `brokers` with the variable's value."""
    location: str = ""
    """`file:line` of the stream, for errors."""

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def check_keys(self, allowed: tuple[str, ...] | frozenset[str]) -> None:
        """A connector-specific key the connector does not take is a configuration error naming
        it (with "did you mean"); the keys every source has are allowed."""
        from headwater.errors import did_you_mean

        for key in self.options:
            if key not in allowed and key not in GENERIC_KEYS:
                raise ConfigError(
                    f"stream `{self.stream}`: unknown {self.connector} source key `{key}`"
                    + did_you_mean(key, allowed),
                    hint=f"a {self.connector} source takes {', '.join(sorted(allowed))} ({self.location})",
                )


def env_value(name: str, origin: str, stream: str, location: str) -> str:
    """The environment variable ``name`` that ``origin`` (a key of the stream file) names; unset
    is a configuration error saying so."""
    if name not in os.environ:
        raise ConfigError(
            f"stream `{stream}`: environment variable `{name}` (from {origin}) is not set",
            hint=f"export {name}=... before running the stream ({location})",
        )
    return os.environ[name]


def resolve_env(options: Mapping[str, Any], stream: str, location: str) -> dict[str, Any]:
    """``options`` with every `<key>_env: VAR` replaced by `<key>: $VAR` (an unset variable is a
    configuration error naming it). The values become secrets, masked in every output."""
    from headwater import secrets

    out: dict[str, Any] = {}
    for key, value in options.items():
        if key.endswith("_env"):
            name = str(value)
            secret = env_value(name, f"`{key}`", stream, location)
            if key in ("url_env", "brokers_env", "endpoint_url_env"):
                if "@" in secret:  # a URL with credentials: the whole URL and its password
                    secrets.register_dsn(secret)
            elif key != "region_env":
                secrets.register(secret)
            out[key[: -len("_env")]] = secret
        else:
            out[key] = value
    return out
