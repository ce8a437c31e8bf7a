"""The stream state tables, in the warehouse's state schema (`_headwater`, or
`<schema>__headwater` on a server, next to the loader's), and what reads and resets them outside a
micro-batch's commit (`headwater.streams.sink`):

* `stream_offsets`: a positioned broker's committed offset per partition (the source of truth a
  restart seeks to);
* `stream_committed` (`LEDGER`): the ids committed from an acknowledged broker, a row per
  partition and batch;
* `stream_state`: a stream's watermark, largest event time and batch count (its row serializes
  the stream's commits);
* `stream_dedup`: the latest time of each `dedup:` key;
* `stream_source`: the source (connector and topic) the committed offsets belong to.

Same DDL on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from headwater.engines.base import Engine, quote_identifier
from headwater.errors import ConfigError
from headwater.extract.load_state import state_schema

if TYPE_CHECKING:
    from headwater.streams.spec import StreamSpec

LEDGER = "stream_committed"
"""The ledger of committed ids of acknowledged brokers: a row per partition and batch, the ids as a
JSON array, with the range of their order keys."""
LEDGER_RETENTION = dt.timedelta(days=1)
"""How long committed ids of a broker without an acknowledgement floor (RabbitMQ, MQTT) are kept
to drop redeliveries."""


def state_table(engine: Engine, table: str) -> str:
    """A stream state table, in the warehouse's state schema."""
    return f"{quote_identifier(state_schema(engine))}.{table}"


def ensure_state_tables(engine: Engine) -> None:
    """The stream state tables (same DDL on DuckDB and PostgreSQL)."""
    engine.ensure_schema(state_schema(engine))
    engine.execute(
        f"CREATE TABLE IF NOT EXISTS {state_table(engine, 'stream_offsets')} (stream VARCHAR, "
        'partition VARCHAR, "offset" VARCHAR, committed_at TIMESTAMP, PRIMARY KEY (stream, partition))'
    )
    engine.execute(
        f"CREATE TABLE IF NOT EXISTS {state_table(engine, LEDGER)} (stream VARCHAR, partition VARCHAR, "
        "first_key VARCHAR, last_key VARCHAR, ids VARCHAR, committed_at TIMESTAMP)"
    )
    engine.execute(
        f"CREATE TABLE IF NOT EXISTS {state_table(engine, 'stream_state')} (stream VARCHAR PRIMARY KEY, "
        "watermark TIMESTAMP, max_event_time TIMESTAMP, batches BIGINT, updated_at TIMESTAMP)"
    )
    engine.execute(
        f"CREATE TABLE IF NOT EXISTS {state_table(engine, 'stream_dedup')} (stream VARCHAR, "
        "key VARCHAR, seen_at TIMESTAMP, PRIMARY KEY (stream, key))"
    )
    engine.execute(
        f"CREATE TABLE IF NOT EXISTS {state_table(engine, 'stream_source')} (stream VARCHAR PRIMARY KEY, "
        "source VARCHAR, updated_at TIMESTAMP)"
    )


def source_identity(spec: StreamSpec) -> str:
    """What the committed positions are positions in: the connector and its topic (Kafka topic,
    Kinesis stream, ...)."""
    return f"{spec.connector}:{spec.topic}"


def record_source(engine: Engine, spec: StreamSpec) -> None:
    """The positions now belong to the stream's current source (a first run, or `stream reset`)."""
    engine.execute(
        f"INSERT INTO {state_table(engine, 'stream_source')} VALUES (?, ?, ?) ON CONFLICT (stream) "
        "DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at",
        [spec.name, source_identity(spec), now_utc()],
    )  # an upsert: processes that start together record the same source


def check_source(engine: Engine, spec: StreamSpec) -> None:
    """A positioned stream's committed offsets are offsets in the source they were read from:
    after `topic:` changed they would skip (or re-read) the new topic's messages, so the stream
    refuses to run until `stream reset` says where to start."""
    found = engine.execute(
        f"SELECT source FROM {state_table(engine, 'stream_source')} WHERE stream = ?", [spec.name]
    )
    current = source_identity(spec)
    if found and str(found[0][0]) == current:
        return
    if found and all_positions(engine, spec.name):
        raise ConfigError(
            f"stream `{spec.name}` has committed offsets of `{found[0][0]}`, but its source is "
            f"now `{current}`: those offsets do not apply to it",
            hint=f"start the new source with `headwater stream reset {spec.name} --to earliest` "
            f"(or latest, or a time) ({spec.location})",
        )
    record_source(engine, spec)


def read_positions(engine: Engine, stream: str, partitions: Sequence[str]) -> dict[str, str | None]:
    """The committed offset of each partition (None: nothing committed yet)."""
    rows = engine.execute(
        f'SELECT partition, "offset" FROM {state_table(engine, "stream_offsets")} WHERE stream = ?',
        [stream],
    )
    found = {str(p): (None if o is None else str(o)) for p, o in rows}
    return {p: found.get(p) for p in partitions}


def all_positions(engine: Engine, stream: str) -> dict[str, str | None]:
    rows = engine.execute(
        f'SELECT partition, "offset" FROM {state_table(engine, "stream_offsets")} WHERE stream = ? '
        "ORDER BY partition",
        [stream],
    )
    return {str(p): (None if o is None else str(o)) for p, o in rows}


def reset_positions(engine: Engine, stream: str, positions: dict[str, str | None]) -> None:
    """`stream reset`: the committed offsets become ``positions``, the ledger of committed ids
    and the dedup keys are forgotten (the broker redelivers from the new position)."""
    with engine.transaction():
        engine.execute(
            f"DELETE FROM {state_table(engine, 'stream_offsets')} WHERE stream = ?", [stream]
        )
        engine.execute(f"DELETE FROM {state_table(engine, LEDGER)} WHERE stream = ?", [stream])
        engine.execute(
            f"DELETE FROM {state_table(engine, 'stream_dedup')} WHERE stream = ?", [stream]
        )
        now = now_utc()
        for partition, offset in positions.items():
            if offset is not None:
                engine.execute(
                    f"INSERT INTO {state_table(engine, 'stream_offsets')} VALUES (?, ?, ?, ?)",
                    [stream, partition, offset, now],
                )


def read_watermark(engine: Engine, stream: str) -> tuple[dt.datetime | None, int]:
    rows = engine.execute(
        f"SELECT watermark, batches FROM {state_table(engine, 'stream_state')} WHERE stream = ?",
        [stream],
    )
    return (rows[0][0], int(rows[0][1] or 0)) if rows else (None, 0)


def now_utc() -> dt.datetime:
    """Now, as the state tables' naive UTC timestamps."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
