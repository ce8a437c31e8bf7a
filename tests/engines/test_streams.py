"""Streams on every engine: a Redis stream landed in the warehouse exactly once, with its dead
letters, through a crash between the commit and the acknowledgement, and the compare-and-swap
that fences a process which lost its partition."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.context import Context
from headwater.engines.base import Engine
from headwater.streams.source import Delivery, Message, MessageBatch
from tests.conftest import CliResult
from tests.streams import conftest as stream_fixtures
from tests.streams.conftest import REDIS_URL

redis_key = stream_fixtures.redis_key  # fixtures of tests/streams, used here too
produce_redis = stream_fixtures.produce_redis


def stream_yml(key: str, extra: str = "", sink: str = "table: orders_live") -> str:
    return f"""\
streams:
  - name: orders_live
    source:
      connector: redis
      url: {REDIS_URL}
      topic: {key}
      group: g
      claim_idle: 200 ms
    schema: {{order_id: BIGINT, customer_id: BIGINT, amount: DECIMAL(10,2), ts: TIMESTAMP}}
    event_time: ts
    expectations:
      - expect_column_values_to_not_be_null: {{column: customer_id}}
    sink:
      {sink}
    trigger: {{max_records: 700, max_seconds: 1}}
{extra}"""


def event(i: int, **changes: object) -> dict[str, object]:
    e: dict[str, object] = {
        "order_id": i, "customer_id": i % 7, "amount": f"{i % 50}.25",
        "ts": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
    }  # fmt: skip
    e.update(changes)
    return e


def rows(ctx: Context, sql: str) -> list[tuple[object, ...]]:
    engine = ctx.open_engine(read_only=True)
    try:
        return [tuple(r) for r in engine.execute(sql)]
    finally:
        engine.close()


def test_events_land_once_with_their_dead_letters(
    engine_project: Callable[..., Path],
    schema_name: str,
    redis_key: str,
    produce_redis: Callable,
    cli: Callable[..., CliResult],
) -> None:
    root = engine_project({"streams/orders.yml": stream_yml(redis_key)})
    produce_redis([event(i) for i in range(2000)] + [b"not json", event(9001, customer_id=None),
                   event(9002, amount="lots")])  # fmt: skip
    first = cli("stream", "run", "orders_live", "--until-idle", "--project-dir", root)
    assert first.code == 0, first.err
    assert "2,003 events" in first.out and "3 to DLQ" in first.out
    ctx = Context(root)
    assert rows(
        ctx, f"select count(*), count(distinct order_id) from {schema_name}.orders_live"
    ) == [(2000, 2000)]
    dead = rows(
        ctx, f"select stage, reason from {schema_name}.orders_live__dlq order by stage, reason"
    )
    assert dead == [
        ("decode", "column `amount`: lots is not DECIMAL(10,2)"),
        ("decode", "payload is not valid JSON"),
        ("expectation", "failed expect_column_values_to_not_be_null(customer_id)"),
    ]
    # nothing new: a rerun writes nothing; new events land once
    again = cli("stream", "run", "orders_live", "--until-idle", "--project-dir", root)
    assert again.code == 0 and "0 events" in again.out
    produce_redis([event(i) for i in range(2000, 2500)])
    cli("stream", "run", "orders_live", "--until-idle", "--project-dir", root)
    assert rows(
        ctx, f"select count(*), count(distinct order_id) from {schema_name}.orders_live"
    ) == [(2500, 2500)]
    status = cli("stream", "status", "--json", "--project-dir", root)
    assert status.code == 0
    doc = json.loads(status.out)["streams"][0]
    assert (
        doc["stream"] == "orders_live" and doc["last_commit"] is not None and doc["total_lag"] == 0
    )
    ctx.close()


def test_a_crash_between_commit_and_ack_duplicates_nothing(
    engine_project: Callable[..., Path],
    schema_name: str,
    redis_key: str,
    produce_redis: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from headwater.streams.connectors import redis as redis_source

    root = engine_project({"streams/orders.yml": stream_yml(redis_key)})
    produce_redis([event(i) for i in range(1500)])

    class Crash(Exception):
        pass

    def crash(self: object, batch: MessageBatch) -> None:
        raise Crash  # the process dies after COMMIT, before XACK

    monkeypatch.setattr(redis_source.RedisSource, "ack_batch", crash)
    with Context(root) as ctx, pytest.raises(Crash):
        ctx.stream_run(["orders_live"], until_idle=True)
    monkeypatch.undo()
    with Context(root) as ctx:
        assert rows(ctx, f"select count(*) from {schema_name}.orders_live") == [
            (700,)
        ]  # the first batch
        # a new process claims the dead consumer's pending entries: they are committed already
        summary = ctx.stream_run(["orders_live"], until_idle=True, max_seconds=20)[0]
        assert summary.duplicates >= 700
        assert rows(
            ctx, f"select count(*), count(distinct order_id) from {schema_name}.orders_live"
        ) == [(1500, 1500)]


def test_merge_dedup_and_transform(
    engine_project: Callable[..., Path], schema_name: str, redis_key: str, produce_redis: Callable
) -> None:
    extra = (
        "    dedup: {key: order_id, within: 1 hour}\n"
        "    transform: select order_id, customer_id, amount, amount * 2 as doubled, ts from {{ batch }}\n"
    )
    sink = "{table: orders_live, write_disposition: merge, primary_key: customer_id}"
    root = engine_project({"streams/orders.yml": stream_yml(redis_key, extra, sink=sink)})
    # order 5 twice (dropped by dedup), then one order per customer wins the merge (the last)
    produce_redis([event(i) for i in range(30)] + [event(5, amount="99.00")])
    with Context(root) as ctx:
        summary = ctx.stream_run(["orders_live"], until_idle=True)[0]
        assert summary.duplicates == 1
        got = rows(
            ctx, f"select customer_id, order_id, doubled from {schema_name}.orders_live order by 1"
        )
    assert len(got) == 7
    assert got[0][:2] == (0, 28) and float(got[0][2]) == 2 * 28.25  # customer 0's last order: 28


def test_a_commit_from_a_stale_position_is_fenced(engine: Engine) -> None:
    """Two processes read one partition from the same committed offset: the first commit wins,
    the second finds another offset there and writes nothing (it would duplicate)."""
    from headwater.streams.decode import Decoder
    from headwater.streams.sink import LostPartition, StreamSink
    from headwater.streams.spec import parse_stream
    from headwater.streams.state import ensure_state_tables, read_positions

    spec = parse_stream(
        {"name": "fenced", "source": {"connector": "kafka", "topic": "t"},
         "schema": {"id": "BIGINT"}, "sink": {"table": f"{engine.target.schema}.fenced"}},
        path="streams/f.yml", default_schema=engine.target.schema,
    )  # fmt: skip
    sink = StreamSink(spec, Delivery.POSITIONED, str)
    decoder = Decoder(spec, ".")
    ensure_state_tables(engine)

    def batch(first: int, last: int) -> list[Message]:
        return [
            Message("0", str(o), json.dumps({"id": o}).encode()) for o in range(first, last + 1)
        ]

    a = batch(0, 9)
    sink.commit(engine, a, decoder.decode(a), {"0": None})
    b = batch(10, 19)
    sink.commit(engine, b, decoder.decode(b), {"0": "9"})  # process A goes on
    stale = batch(10, 14)  # process B, which also read from offset 9
    with pytest.raises(LostPartition):
        sink.commit(engine, stale, decoder.decode(stale), {"0": "9"})
    with pytest.raises(LostPartition):  # nor may a process that thinks nothing was committed
        sink.commit(engine, a, decoder.decode(a), {"0": None})
    assert read_positions(engine, "fenced", ["0"]) == {"0": "19"}
    table = f"{engine.target.schema}.fenced"
    assert [
        tuple(r) for r in engine.execute(f"select count(*), count(distinct id) from {table}")
    ] == [(20, 20)]
    decoder.close()


def test_the_watermark_never_goes_back(engine: Engine) -> None:
    from headwater.streams.decode import Decoder
    from headwater.streams.sink import StreamSink
    from headwater.streams.spec import parse_stream
    from headwater.streams.state import ensure_state_tables, read_watermark

    spec = parse_stream(
        {"name": "wm", "source": {"connector": "redis", "topic": "t"}, "schema": {"id": "BIGINT", "ts": "TIMESTAMP"},
         "event_time": "ts", "watermark": "10 seconds", "sink": {"table": f"{engine.target.schema}.wm"}},
        path="streams/w.yml", default_schema=engine.target.schema,
    )  # fmt: skip
    sink = StreamSink(spec, Delivery.ACKED, str)
    decoder = Decoder(spec, ".")
    ensure_state_tables(engine)
    for n, ts in enumerate(["2026-01-01T00:01:00", "2026-01-01T00:00:10"]):
        msgs = [Message("k", f"{n}-0", json.dumps({"id": n, "ts": ts}).encode())]
        sink.commit(engine, msgs, decoder.decode(msgs), {})
    assert read_watermark(engine, "wm")[0] == dt.datetime(2026, 1, 1, 0, 0, 50)
    decoder.close()


def test_windows_through_stream_run(
    engine_project: Callable[..., Path], schema_name: str, redis_key: str, produce_redis: Callable
) -> None:
    """A tumbling window emitted once per minute when the watermark passes it, a late event to
    the side output, on every engine, through `stream run`."""
    extra = (
        "    watermark: 10 seconds\n"
        "    late: side_output\n"
        "    windows:\n"
        "      - {name: per_minute, type: tumbling, size: 1 minute, group_by: [customer_id],\n"
        '         select: "count(*) as orders, sum(amount) as revenue", emit: on_close}\n'
    )
    root = engine_project({"streams/orders.yml": stream_yml(redis_key, extra)})

    def at(minute: int, second: int, i: int, customer: int = 1) -> dict[str, object]:
        return event(
            i, customer_id=customer, amount="1.00", ts=f"2026-01-01T00:{minute:02d}:{second:02d}Z"
        )

    batches = [
        [at(0, 5, 1), at(0, 50, 2), at(0, 30, 3, customer=2)],  # minute 0, still open
        [at(1, 20, 4)],  # watermark 00:01:10: minute 0 closes
        [at(0, 59, 5), at(2, 15, 6)],  # 00:00:59 is late; watermark 00:02:05 closes minute 1
    ]
    with Context(root) as ctx:
        for events in batches:
            produce_redis(events)
            ctx.stream_run(["orders_live"], until_idle=True)
        out = rows(
            ctx,
            f"select window_start, customer_id, orders, revenue from {schema_name}.per_minute order by 1, 2",
        )
        late = rows(ctx, f"select order_id from {schema_name}.orders_live__late")
    assert [(r[0].minute, r[1], r[2], float(r[3])) for r in out] == [
        (0, 1, 2, 2.0),
        (0, 2, 1, 1.0),
        (1, 1, 1, 1.0),
    ]
    assert late == [(5,)]


@given(
    st.lists(
        st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1)), min_size=1, max_size=20
    )
)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_order_keys_in_sql_equal_the_sources_own(
    engine: Engine, ids: list[tuple[int, int]]
) -> None:
    """The ledger computes a batch's order keys in SQL (`ORDER_KEY_SQL`); pruning compares them
    with the source's `order_key` of the broker's floor: both must spell every id alike."""
    from headwater.streams.connectors.nats import NatsSource
    from headwater.streams.connectors.redis import RedisSource

    for cls, offsets in (
        (RedisSource, [f"{ms}-{seq}" for ms, seq in ids]),
        (NatsSource, [str(ms) for ms, _ in ids]),
    ):
        expr = cls.ORDER_KEY_SQL.format("o")
        values = ", ".join(f"('{o}')" for o in offsets)
        got = [r[0] for r in engine.execute(f"SELECT {expr} FROM (VALUES {values}) AS v(o)")]
        assert got == [cls.order_key(cls.__new__(cls), o) for o in offsets]


@pytest.mark.parametrize("vectorized", [False, True], ids=["sql-range", "source-range"])
def test_the_ledger_finds_redeliveries_in_overlapping_batches(
    engine: Engine, vectorized: bool
) -> None:
    """Committed ids are kept a row per batch with the range of their order keys; a redelivered
    id is found whichever batch holds it, ranges interleaved (two consumers of one group), and
    only rows wholly below the acknowledgement floor are forgotten."""
    from headwater.streams.connectors.redis import RedisSource
    from headwater.streams.decode import Decoder
    from headwater.streams.sink import StreamSink
    from headwater.streams.source import SourceConfig
    from headwater.streams.spec import parse_stream
    from headwater.streams.state import ensure_state_tables

    spec = parse_stream(
        {"name": f"ledger_{int(vectorized)}", "source": {"connector": "redis", "topic": "t"},
         "schema": {"id": "BIGINT"}, "sink": {"table": f"{engine.target.schema}.ledger_{int(vectorized)}"}},
        path="streams/l.yml", default_schema=engine.target.schema,
    )  # fmt: skip
    source = RedisSource(SourceConfig(spec.name, "redis", "t", "g", "earliest", {}))
    sink = StreamSink(spec, Delivery.ACKED, source.order_key, None, None, source.ORDER_KEY_SQL,
                      source.key_range if vectorized else None)  # fmt: skip
    decoder = Decoder(spec, ".")
    ensure_state_tables(engine)

    def commit(ids: list[str]) -> tuple[int, int]:
        msgs = [Message("t", i, json.dumps({"id": int(i.split("-")[0])}).encode()) for i in ids]
        result = sink.commit(engine, msgs, decoder.decode(msgs), {})
        return result.rows, result.duplicates

    assert commit(["1-0", "9-0", "30-0"]) == (3, 0)
    assert commit(["2-0", "9-0", "10-0", "31-0"]) == (3, 1)  # 9-0 again (sorts as 9 < 10)
    assert commit(["30-0", "100-0"]) == (1, 1)
    with engine.transaction():
        sink.prune_ledger(engine, "31-0")  # the first batch ends at 30-0: forgotten
    assert commit(["1-0", "2-0"]) == (1, 1)  # 2-0 is still in the second batch's row
    # delivered twice into one batch (a redelivery while it filled): the first one counts
    assert commit(["200-0", "201-0", "200-0", "200-0", "100-0"]) == (2, 3)
    rows = engine.execute(f"SELECT id FROM {spec.sink.table.render()} ORDER BY id")
    assert [r[0] for r in rows] == [1, 1, 2, 9, 10, 30, 31, 100, 200, 201]
    decoder.close()
