"""Kafka source: a consumer-group member whose positions come from the warehouse.

Kafka is a *positioned* broker (`Delivery.POSITIONED`): every partition has one reader in the group
and a total order, so exactly-once needs no message ids, only the last offset committed per
partition. Those offsets live in the warehouse, committed in the same transaction as the rows; the
group's offsets in Kafka are a copy for tools (lag dashboards, ``kafka-consumer-groups``) and are
never read back. Hence:

* the consumer never commits or stores offsets on its own (``enable.auto.commit`` and
  ``enable.auto.offset.store`` are off);
* every time partitions are assigned, ``positions(partitions)`` is asked for the committed offsets
  and each partition is started at the offset after it (``start:`` when nothing is committed);
* ``ack`` (called after the warehouse commit) commits ``offset + 1`` to the group, asynchronously:
  the warehouse already holds the truth, so waiting a round trip per micro-batch would only slow the
  stream, and a lost commit is repaired by the next one (``close`` makes the last one synchronous).

Rebalancing is *cooperative* (``cooperative-sticky``) unless ``kafka: {partition.assignment.strategy:
...}`` says otherwise: when a process joins or leaves, only the partitions that change owner are
revoked, so the others keep flowing and keep their in-flight micro-batch (an eager rebalance
revokes and re-seeks every partition of every member, and each member's in-flight batch then loses
its compare-and-swap and is read again). Partitions that do move are fenced by the warehouse's
compare-and-swap, not by Kafka's generation.

Options (the stream's ``source:`` mapping): ``brokers`` (or ``brokers_env``), and ``kafka:``, extra
librdkafka settings passed through (``security.protocol``, ``sasl.mechanism``, ``session.timeout.ms``
...), where a key ending in ``_env`` names an environment variable holding the value
(``sasl.password_env: KAFKA_PASSWORD``), which is then masked in every output.

The librdkafka settings handling, the offsets-by-time probe and the tools `produce` (bulk publish,
for tests, the demo and the benchmarks) and `raw_consume` (plain confluent-kafka consume + commit,
the benchmark's baseline) live in `headwater.streams.connectors.kafka_client`; this module holds the
source itself and re-exports those names.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from headwater.errors import ConfigError, ExecutionError, HeadwaterError, did_you_mean
from headwater.streams.connectors.kafka_client import (
    CONNECT_TIMEOUT,
    REQUEST_TIMEOUT,
    RESERVED,
    _kafka_text,
    _Probe,
    kafka_settings,
    produce,
    raw_consume,
)
from headwater.streams.source import (
    Delivery,
    Message,
    MessageBatch,
    Positions,
    SourceConfig,
    no_cyclic_gc,
)
from headwater.streams.spec import parse_start

__all__ = [
    "CONNECT_TIMEOUT",
    "OPTIONS",
    "REQUEST_TIMEOUT",
    "RESERVED",
    "KafkaSource",
    "kafka_settings",
    "produce",
    "raw_consume",
]

log = logging.getLogger("headwater.streams.kafka")

OPTIONS = ("brokers", "kafka")
"""The connector's own keys of `source:` (``brokers_env`` arrives resolved as ``brokers``)."""
_FATAL_CONNECT = {"_ALL_BROKERS_DOWN", "_RESOLVE", "_AUTHENTICATION", "_SSL"}
"""Client errors that mean the brokers cannot be reached as configured (fail at once)."""
_CONFIG_ERRORS = {
    "UNKNOWN_TOPIC_OR_PART": "create the topic, or check `topic:`",
    "_UNKNOWN_TOPIC": "create the topic, or check `topic:`",
    "_UNKNOWN_PARTITION": "the topic lost partitions; check it with your Kafka tools",
    "TOPIC_AUTHORIZATION_FAILED": "grant the principal Read on the topic",
    "GROUP_AUTHORIZATION_FAILED": "grant the principal Read on the consumer group",
    "SASL_AUTHENTICATION_FAILED": "check the `kafka:` sasl.* settings and the credentials",
    "_AUTHENTICATION": "check the `kafka:` security.protocol/sasl.* settings and the credentials",
    "_SSL": "check the `kafka:` ssl.* settings",
}
"""Consumer errors a user fixes in the configuration or the cluster (not by retrying)."""
_MAX_BATCH = 1_000_000  # librdkafka's limit for one consume() call
_OFFSET_WIDTH = 20


class _Names(dict[int, str]):
    """Partition number -> its name, made once per partition instead of once per message."""

    def __missing__(self, key: int) -> str:
        value = self[key] = str(key)
        return value


class KafkaSource:
    """One member of the stream's consumer group on one topic (see the module doc)."""

    delivery = Delivery.POSITIONED

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self._where = f"stream `{config.stream}`"
        for key in config.options:
            if key not in OPTIONS:
                raise ConfigError(
                    f"{self._where}: unknown Kafka source option `{key}`"
                    + did_you_mean(key, OPTIONS),
                    hint=f"the kafka connector takes brokers: (or brokers_env:) and kafka: ({config.location})",
                )
        brokers = config.get("brokers")
        if isinstance(brokers, list | tuple):
            brokers = ",".join(str(b) for b in brokers)
        if not brokers or not isinstance(brokers, str):
            raise ConfigError(
                f"{self._where}: the kafka source needs `brokers:` (or `brokers_env:`)",
                hint=f"brokers: localhost:9092, or brokers_env: KAFKA_BROKERS ({config.location})",
            )
        self.brokers: str = brokers
        self.topic = config.topic
        self.settings = kafka_settings(config)
        strategy = str(self.settings.get("partition.assignment.strategy", "cooperative-sticky"))
        self._cooperative = strategy.replace(" ", "") == "cooperative-sticky"
        self._start_time: datetime | None = None
        if config.start not in ("earliest", "latest"):
            try:
                self._start_time = parse_start(config.start)
            except ValueError:
                raise ConfigError(
                    f"{self._where}: `start: {config.start}` is not earliest, latest or an ISO timestamp",
                    hint=f"start: 2026-01-01T00:00:00Z ({config.location})",
                ) from None
        self._consumer: Any = None
        self._positions: Positions | None = None
        self._assigned: set[int] = set()
        self._unpositioned: set[int] = set()
        """Assigned partitions whose start offset is not known yet (`positions` failed): paused."""
        self._starts: dict[int, int] = {}
        """The offset each assigned partition was started (or last sought) at."""
        self._callback_error: BaseException | None = None
        self._carry: MessageBatch | None = None
        """Messages read by a poll that then raised, returned by the next one."""
        self.generation = 0
        """Counts assignments, revocations and seeks: a batch polled within one generation holds
        each partition's messages once and in order (the processor checks only across one)."""
        self._errors: list[Any] = []
        self._revoked = False
        self._acked: dict[int, int] = {}
        self._ack_pending = False
        self._names = _Names()
        self._last_warning = 0.0

    # ---------------------------------------------------------------- connecting

    def _client_config(self, errors: list[Any], **overrides: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {
            "bootstrap.servers": self.brokers,
            "client.id": f"headwater-{self.config.stream}",
            "error_cb": errors.append,
            "logger": logging.getLogger("headwater.streams.kafka.librdkafka"),
        }
        conf.update(self.settings)
        conf.update(overrides)
        return conf

    def _consumer_config(self, errors: list[Any], **overrides: Any) -> dict[str, Any]:
        base = {
            "group.id": self.config.group,
            "partition.assignment.strategy": "cooperative-sticky",
            # used only when a committed position is out of range (deleted by retention)
            "auto.offset.reset": "earliest",
        }
        conf = self._client_config(errors, **overrides)
        return {
            **base,
            **conf,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
        }

    def _new_consumer(self, errors: list[Any], **overrides: Any) -> Any:
        from confluent_kafka import Consumer, KafkaException

        try:
            return Consumer(self._consumer_config(errors, **overrides))
        except (KafkaException, ValueError, TypeError) as exc:
            raise self._settings_error(exc) from None

    def _settings_error(self, exc: BaseException) -> ConfigError:
        return ConfigError(
            f"{self._where}: librdkafka rejected the Kafka settings: {_kafka_text(exc)}",
            hint=f"fix the `kafka:` settings of the source ({self.config.location})",
        )

    def open(self, positions: Positions) -> None:
        """Connect (a `ConfigError` within `CONNECT_TIMEOUT` if the brokers cannot be reached or
        the topic does not exist) and subscribe; partitions arrive, and are positioned, during
        `poll`."""
        if self._consumer is not None:
            return
        errors: list[Any] = []
        consumer = self._new_consumer(errors, on_commit=self._on_commit)
        try:
            self._metadata(consumer, errors)
            consumer.subscribe(
                [self.topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )
        except BaseException:
            consumer.close()
            raise
        self._errors = errors
        self._positions = positions
        self._consumer = consumer

    def _metadata(self, client: Any, errors: list[Any]) -> Any:
        """The topic's metadata, waiting at most `CONNECT_TIMEOUT`; unreachable brokers and a
        missing topic are `ConfigError`s (refused connections and unknown hosts fail at once)."""
        from confluent_kafka import KafkaException

        deadline = time.monotonic() + CONNECT_TIMEOUT
        last: str = "no answer"
        while True:
            remaining = deadline - time.monotonic()
            try:
                metadata = client.list_topics(self.topic, timeout=max(0.05, min(0.25, remaining)))
                break
            except KafkaException as exc:
                last = _kafka_text(exc)
            client.poll(0)  # serves error_cb: the client's own connection errors
            fatal = [e for e in errors if e.name() in _FATAL_CONNECT or e.fatal()]
            if fatal or remaining <= 0:
                reason = fatal[-1].str() if fatal else last
                raise ConfigError(
                    f"{self._where}: cannot reach the Kafka brokers {self.brokers}: {reason}",
                    hint="start Kafka or fix `brokers:`/`brokers_env:` (and the `kafka:` security "
                    f"settings) ({self.config.location})",
                )
        errors.clear()
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None:
            why = (
                topic.error.str() if topic is not None and topic.error is not None else "not listed"
            )
            raise ConfigError(
                f"{self._where}: Kafka topic `{self.topic}` is not available on {self.brokers}: {why}",
                hint=f"create the topic (or fix `topic:`) ({self.config.location})",
            )
        return metadata

    # ---------------------------------------------------------------- rebalancing

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        """Start each newly assigned partition after its warehouse position. If `positions`
        fails, the partitions are assigned paused and positioned on the next `poll` (which raises
        the error first): never assigned at whatever Kafka's group offset says."""
        from confluent_kafka import TopicPartition

        self.generation += 1

        numbers = [tp.partition for tp in partitions]
        try:
            targets = self._targets(consumer, numbers)
        except BaseException as exc:  # re-raised from poll()
            self._callback_error = exc
            targets = None
        if targets is None:
            # Paused at a concrete offset, to be sought when `positions` answers. Not at the
            # "invalid" offset: that makes librdkafka fetch the group's committed offset, and
            # its answer may land after our seek and undo it.
            tps = [TopicPartition(self.topic, p, 0) for p in numbers]
        else:
            tps = [TopicPartition(self.topic, p, targets[p]) for p in numbers]
        if self._cooperative:
            consumer.incremental_assign(tps)
            self._assigned.update(numbers)
        else:
            consumer.assign(tps)
            self._assigned = set(numbers)
            self._starts.clear()
            self._unpositioned.clear()
        if targets is None:
            consumer.pause(tps)
            self._unpositioned.update(numbers)
        else:
            self._starts.update(targets)
        if numbers:
            log.info("%s: assigned partitions %s", self._where, sorted(numbers))

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        gone = {tp.partition for tp in partitions}
        self.generation += 1
        self._assigned -= gone
        self._unpositioned -= gone
        for p in gone:
            self._starts.pop(p, None)
            self._acked.pop(p, None)
        if self._carry:
            self._carry = _without(self._carry, {str(p) for p in gone})
        self._revoked = True
        log.info("%s: revoked partitions %s", self._where, sorted(gone))

    def _targets(self, consumer: Any, numbers: list[int]) -> dict[int, int]:
        """Where each partition starts: after its warehouse position, else as `start:` says."""
        if not numbers:
            return {}
        assert self._positions is not None
        names = [str(p) for p in numbers]
        committed = self._positions(names)
        return self._offsets_after(consumer, {p: committed.get(str(p)) for p in numbers})

    def _offsets_after(self, consumer: Any, positions: Mapping[int, str | None]) -> dict[int, int]:
        """The offset to read first per partition: after the given one, or where `start:` says
        (resolved to a concrete offset now, so "latest" means the end at assignment time, and
        `lag` knows the position before the first message arrives)."""
        out: dict[int, int] = {}
        fresh: list[int] = []
        for p, offset in positions.items():
            if offset is None:
                fresh.append(p)
            else:
                out[p] = int(offset) + 1
        if fresh:
            out.update(self._list_offsets(consumer, fresh, self._start_spec()))
        return out

    def _start_spec(self) -> int:
        """`start:` as a ListOffsets timestamp: -2 earliest, -1 latest, else epoch ms."""
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END

        if self._start_time is not None:
            return int(self._start_time.timestamp() * 1000)
        return int(OFFSET_BEGINNING if self.config.start == "earliest" else OFFSET_END)

    def _position_pending(self) -> None:
        """Position the partitions an earlier `positions` failure left paused."""
        from confluent_kafka import TopicPartition

        consumer = self._consumer
        self.generation += 1
        pending = sorted(self._unpositioned)
        targets = self._targets(consumer, pending)
        tps = [TopicPartition(self.topic, p, targets[p]) for p in pending]
        for tp in tps:
            consumer.seek(tp)
        consumer.resume(tps)
        self._starts.update(targets)
        self._unpositioned.clear()

    # ---------------------------------------------------------------- reading

    def _require(self) -> Any:
        if self._consumer is None:
            raise ExecutionError(f"{self._where}: the Kafka source is not open")
        return self._consumer

    def poll(self, max_records: int, timeout: float) -> list[Message]:
        """Up to ``max_records`` messages: what librdkafka has prefetched, or, if nothing, the
        first message to arrive within ``timeout`` and whatever came with it."""
        return self.poll_batch(max_records, timeout).messages()

    def poll_batch(self, max_records: int, timeout: float) -> MessageBatch:
        """`poll`, as columns made straight from librdkafka's messages."""
        consumer = self._require()
        n = max(1, min(int(max_records), _MAX_BATCH))
        if self._carry:
            return self._take_carry(n)
        if self._unpositioned and self._callback_error is None:
            self._position_pending()
        self._revoked = False
        failure: BaseException | None = None
        with no_cyclic_gc():  # librdkafka's messages are tracked objects, made by the thousand
            batch = consumer.consume(n, 0)
            if not batch and timeout > 0:
                batch = consumer.consume(1, timeout)
                if batch and n > 1:
                    batch += consumer.consume(n - 1, 0)
            good = [m for m in batch if m.error() is None]
            if len(good) != len(batch):
                for m in batch:
                    err = m.error()
                    if err is not None:
                        failure = failure or self._message_error(err)
            out = _columns(good, self._names)
            del batch, good
        if self._revoked and out:
            # librdkafka purges revoked partitions' messages itself; this guards the batch that
            # straddled the revocation
            held = self.assignment()
            out = out.take([i for i, p in enumerate(out.partitions) if p in held])
        failure = self._callback_failure() or failure
        if failure is not None:
            # librdkafka has moved past these messages: keep them for the next poll rather
            # than leave a gap in this process's read
            self._carry = out
            raise failure
        return out

    def _take_carry(self, n: int) -> MessageBatch:
        """Messages a failed poll had read, of partitions still held."""
        assert self._carry is not None
        held = self.assignment()
        carry = self._carry.take([i for i, p in enumerate(self._carry.partitions) if p in held])
        self._carry = carry.take(range(n, len(carry))) if len(carry) > n else None
        return carry.take(range(min(n, len(carry))))

    def _callback_failure(self) -> BaseException | None:
        """What went wrong inside librdkafka's callbacks during the last call, to raise."""
        if self._callback_error is not None:
            exc, self._callback_error = self._callback_error, None
            return exc
        if self._errors:
            errors, self._errors[:] = list(self._errors), []
            for err in errors:
                failure = self._client_error(err)
                if failure is not None:
                    return failure
        return None

    def _client_error(self, err: Any) -> HeadwaterError | None:
        """A client-wide error (error_cb) as the error to raise; None for those librdkafka
        recovers from by itself (a broker down, a lost connection), which are logged."""
        if err.fatal():
            return ExecutionError(f"{self._where}: the Kafka client failed: {err.str()}")
        if err.name() in _CONFIG_ERRORS:
            return ConfigError(
                f"{self._where}: Kafka refused the consumer: {err.str()}",
                hint=f"{_CONFIG_ERRORS[err.name()]} ({self.config.location})",
            )
        self._warn(f"{self._where}: Kafka: {err.str()} (retrying)")
        return None

    def _message_error(self, err: Any) -> HeadwaterError | None:
        """An error that came in place of a message, as the error to raise: end of partition
        is none; a missing topic or a permission is the user's to fix; fatal errors stop the
        stream; the rest (broker restarts, leader changes) librdkafka retries by itself."""
        if err.name() == "_PARTITION_EOF":
            return None
        if err.name() in _CONFIG_ERRORS:
            return ConfigError(
                f"{self._where}: Kafka topic `{self.topic}`: {err.str()}",
                hint=f"{_CONFIG_ERRORS[err.name()]} ({self.config.location})",
            )
        if err.fatal() or not (err.retriable() or err.name().startswith("_")):
            return ExecutionError(f"{self._where}: Kafka topic `{self.topic}`: {err.str()}")
        self._warn(f"{self._where}: Kafka topic `{self.topic}`: {err.str()} (retrying)")
        return None

    def _warn(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last_warning > 10:
            self._last_warning = now
            log.warning(text)
        else:
            log.debug(text)

    def assignment(self) -> set[str]:
        return {str(p) for p in self._assigned}

    def seek(self, positions: Mapping[str, str | None]) -> None:
        """Restart the given partitions (those still assigned) after the given offsets; librdkafka
        drops what it had fetched for them."""
        from confluent_kafka import KafkaException, TopicPartition

        consumer = self._require()
        wanted = {int(p): offset for p, offset in positions.items() if int(p) in self._assigned}
        if not wanted:
            return
        targets = self._offsets_after(consumer, wanted)
        self.generation += 1
        if self._carry:
            self._carry = _without(self._carry, {str(p) for p in targets})
        for p, offset in sorted(targets.items()):
            try:
                consumer.seek(TopicPartition(self.topic, p, offset))
            except KafkaException as exc:
                raise ExecutionError(
                    f"{self._where}: cannot seek partition {p} to {offset}: {_kafka_text(exc)}"
                ) from None
        self._starts.update(targets)
        if self._unpositioned & targets.keys():
            resumed = self._unpositioned & targets.keys()
            consumer.resume([TopicPartition(self.topic, p) for p in resumed])
            self._unpositioned -= resumed

    # ---------------------------------------------------------------- acknowledging

    def ack(self, messages: list[Message]) -> None:
        """Commit ``offset + 1`` of the largest offset per partition to the group, asynchronously
        (the warehouse already has the truth; see the module doc). Partitions revoked meanwhile
        are skipped: their new owner commits them."""
        best: dict[int, int] = {}
        for m in messages:
            p, o = int(m.partition), int(m.offset)
            if o > best.get(p, -1):
                best[p] = o
        self._commit_offsets(best)

    def ack_batch(self, batch: MessageBatch) -> None:
        """`ack` of a committed batch, whose messages of a partition are in order (the processor
        commits no other): the last of each partition is its largest."""
        last = dict(zip(batch.partitions, batch.offsets, strict=True))
        self._commit_offsets({int(p): int(o) for p, o in last.items()})

    def _commit_offsets(self, best: dict[int, int]) -> None:
        from confluent_kafka import TopicPartition

        consumer = self._require()
        tps = [TopicPartition(self.topic, p, o + 1) for p, o in best.items() if p in self._assigned]
        if not tps:
            return
        for tp in tps:
            self._acked[tp.partition] = tp.offset
        consumer.commit(offsets=tps, asynchronous=True)
        self._ack_pending = True

    def _on_commit(self, err: Any, partitions: list[Any]) -> None:
        if err is not None:
            log.debug(
                "%s: Kafka offset commit failed (the warehouse has the offsets): %s",
                self._where,
                err,
            )

    def ack_floor(self) -> str | None:
        return None

    def order_key(self, offset: str) -> str:
        """Offsets as 20-digit text; negative ones (``-1``: before the first message) sort first."""
        n = int(offset)
        if n >= 0:
            return f"{n:0{_OFFSET_WIDTH}d}"
        return "-" + f"{10 ** (_OFFSET_WIDTH - 1) + n:0{_OFFSET_WIDTH - 1}d}"

    # ---------------------------------------------------------------- monitoring

    def lag(self) -> dict[str, int | None]:
        """High watermark minus this process's position, per assigned partition. The watermark is
        the one the last fetch brought (no round trip) unless nothing was fetched yet."""
        from confluent_kafka import KafkaException, TopicPartition

        consumer = self._require()
        parts = sorted(self._assigned)
        if not parts:
            return {}
        positions = consumer.position([TopicPartition(self.topic, p) for p in parts])
        out: dict[str, int | None] = {}
        for tp in positions:
            p = tp.partition
            lo, hi = consumer.get_watermark_offsets(TopicPartition(self.topic, p), cached=True)
            if hi < 0:
                try:
                    lo, hi = consumer.get_watermark_offsets(
                        TopicPartition(self.topic, p), timeout=REQUEST_TIMEOUT
                    )
                except KafkaException:
                    out[str(p)] = None
                    continue
            position = tp.offset
            if position < 0:  # nothing returned yet: where the partition was started
                start = self._starts.get(p)
                if start is None or p in self._unpositioned:
                    out[str(p)] = None
                    continue
                position = start
            if position > hi:  # past the end (a recreated topic): librdkafka resets it; unknown
                out[str(p)] = None
                continue
            out[str(p)] = hi - max(position, lo)
        return out

    # ---------------------------------------------------------------- reset

    def reset(self, to: str | datetime) -> dict[str, str | None]:
        """Offsets that make the group read from ``to`` on (earliest, latest or a time), per
        partition: the offset *before* the first message to read. Computed without joining the
        group, and committed to the group in Kafka too, so that Kafka's tools show the reset.

        Kafka takes that commit from outside the group only while the group has no members
        (librdkafka's mock cluster: only from a group that never had one). When it is refused,
        the reset still stands, with a warning: the warehouse positions are the truth, a running
        member's next commit loses its compare-and-swap and seeks to them, and its next `ack`
        brings Kafka's copy up to date."""
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END

        when: datetime | None = None
        if isinstance(to, datetime):
            when = to if to.tzinfo else to.replace(tzinfo=UTC)
        elif to not in ("earliest", "latest"):
            try:
                when = parse_start(to)
            except ValueError:
                raise ConfigError(
                    f"{self._where}: cannot reset to `{to}`: not earliest, latest or an ISO timestamp",
                    hint="--to earliest | latest | 2026-01-01T00:00:00Z",
                ) from None
        errors: list[Any] = []
        consumer = self._new_consumer(errors)
        try:
            metadata = self._metadata(consumer, errors)
            parts = sorted(metadata.topics[self.topic].partitions)
            if when is not None:
                spec = int(when.timestamp() * 1000)
            else:
                spec = int(OFFSET_BEGINNING if to == "earliest" else OFFSET_END)
            first = self._list_offsets(consumer, parts, spec)
            self._commit_reset(consumer, first)
        finally:
            consumer.close()
        return {str(p): str(offset - 1) for p, offset in sorted(first.items())}

    def _commit_reset(self, consumer: Any, first: dict[int, int]) -> bool:
        """Commit the reset offsets as a client outside the group; False (and a warning) when
        the group refuses it because it has members."""
        from confluent_kafka import KafkaException, TopicPartition

        tps = [TopicPartition(self.topic, p, offset) for p, offset in sorted(first.items())]
        try:
            result = consumer.commit(offsets=tps, asynchronous=False)
        except KafkaException as exc:
            name = exc.args[0].name() if exc.args else ""
            if name in ("UNKNOWN_MEMBER_ID", "ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS"):
                log.warning(
                    "%s: consumer group `%s` refused the reset offsets (%s): Kafka's tools show "
                    "the old offsets until a member of the group commits again",
                    self._where,
                    self.config.group,
                    _kafka_text(exc),
                )
                return False
            raise ExecutionError(
                f"{self._where}: committing the reset offsets failed: {_kafka_text(exc)}"
            ) from None
        failed = [tp for tp in result or [] if tp.error is not None]
        if failed:
            raise ExecutionError(
                f"{self._where}: committing the reset offsets failed for partition "
                f"{failed[0].partition}: {failed[0].error.str()}"
            )
        return True

    # ---------------------------------------------------------------- offsets by time

    def _list_offsets(self, consumer: Any, parts: list[int], spec: int) -> dict[int, int]:
        """Per partition, one request for all: the first offset (``spec`` -2), the end offset
        (-1), or the first offset whose timestamp is at or after ``spec`` ms (the end offset when
        there is none), as Kafka's ListOffsets answers them.

        librdkafka's mock cluster answers "none" for every timestamp; when the partition's last
        message is newer than the timestamp that answer cannot be true, and the offset is found
        by a binary search over the messages' timestamps instead (it assumes that they grow along
        the partition, which holds for one producer's CreateTime and for LogAppendTime).
        """
        from confluent_kafka import KafkaException, TopicPartition

        what = {-2: "earliest", -1: "latest"}.get(spec) or datetime.fromtimestamp(
            spec / 1000, UTC
        ).isoformat()
        try:
            found = consumer.offsets_for_times(
                [TopicPartition(self.topic, p, spec) for p in parts], timeout=REQUEST_TIMEOUT
            )
        except KafkaException as exc:
            raise ExecutionError(
                f"{self._where}: looking up the {what} offsets of `{self.topic}` failed: {_kafka_text(exc)}"
            ) from None
        out: dict[int, int] = {}
        unsure: list[int] = []
        for tp in found:
            if tp.error is not None:
                raise ExecutionError(
                    f"{self._where}: looking up the {what} offset of partition {tp.partition} "
                    f"failed: {tp.error.str()}"
                )
            if tp.offset >= 0:
                out[tp.partition] = tp.offset
            elif spec >= 0:
                unsure.append(tp.partition)
            else:
                raise ExecutionError(
                    f"{self._where}: the broker has no {what} offset for partition {tp.partition}"
                )
        if unsure:
            probe = _Probe(self, consumer)
            try:
                for p in unsure:
                    out[p] = probe.first_at(p, spec)
            finally:
                probe.close()
        return out

    # ---------------------------------------------------------------- closing

    def close(self) -> None:
        """Leave the group (its other members take the partitions at once); the last
        acknowledged offsets are committed synchronously first."""
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        from confluent_kafka import KafkaException, TopicPartition

        try:
            if self._ack_pending and self._acked:
                live = {p: o for p, o in self._acked.items() if p in self._assigned}
                if live:
                    tps = [TopicPartition(self.topic, p, o) for p, o in live.items()]
                    try:
                        consumer.commit(offsets=tps, asynchronous=False)
                    except KafkaException as exc:
                        log.debug("%s: final Kafka commit failed: %s", self._where, exc)
        finally:
            consumer.close()
            self._assigned.clear()
            self._unpositioned.clear()
            self._starts.clear()
            self._acked.clear()
            self._ack_pending = False
            self._carry = None


def _columns(messages: list[Any], names: _Names) -> MessageBatch:
    """librdkafka's messages (none an error) as a `MessageBatch`: one pass per column, no object
    per message. The caller pauses the cyclic GC (`no_cyclic_gc`)."""
    if not messages:
        return MessageBatch.empty()
    stamps = [m.timestamp() for m in messages]
    keys: list[bytes | None] = [m.key() for m in messages]
    return MessageBatch(
        [names[m.partition()] for m in messages],
        [str(m.offset()) for m in messages],
        [m.value() for m in messages],
        [ts / 1000.0 if kind else None for kind, ts in stamps],
        None if keys.count(None) == len(keys) else keys,
    )


def _without(batch: MessageBatch, partitions: set[str]) -> MessageBatch | None:
    """``batch`` without the messages of ``partitions`` (None when nothing is left)."""
    kept = batch.take([i for i, p in enumerate(batch.partitions) if p not in partitions])
    return kept if kept else None
