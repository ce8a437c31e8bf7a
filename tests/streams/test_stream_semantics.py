"""A stream's meaning end to end, over a real Redis: the watermark follows the events the windows
see (after `transform:`), a merge sink keeps the last event of a key while its windows count them
all, `dedup: within` bounds how long a key is remembered, several streams of one process start on
a fresh warehouse, and a broken `transform:` or expectation is reported as itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult, query
from tests.streams.conftest import REDIS_URL

Produce = Callable[[list[bytes | dict]], None]


def project(make_project: Callable[..., Path], key: str, body: str, name: str = "s") -> Path:
    source = f"      connector: redis\n      url: {REDIS_URL}\n      topic: {key}\n      group: g\n"
    return make_project(
        {"streams/s.yml": f"streams:\n  - name: {name}\n    source:\n{source}{body}"}
    )


def at(second: int) -> str:
    return f"2026-01-01T00:{second // 60:02d}:{second % 60:02d}"


def run(cli: Callable[..., CliResult], root: Path, *names: str) -> CliResult:
    return cli("stream", "run", *(names or ("s",)), "--until-idle", "--project-dir", root)


def test_the_watermark_follows_the_transformed_event_time(
    make_project: Callable[..., Path], redis_key: str, produce_redis: Produce, cli: Any
) -> None:
    root = project(make_project, redis_key, """\
    schema: {id: BIGINT, ts: TIMESTAMP}
    event_time: ts
    watermark: 0 seconds
    transform: "select id, ts - interval 1 hour as ts from {{ batch }}"
    windows:
      - {name: per_minute, type: tumbling, size: 1 minute, select: "count(*) as n", emit: on_close}
    late: side_output
    sink: {table: raw.s}
    trigger: {max_records: 2}
""")  # fmt: skip
    produce_redis([{"id": i, "ts": at(s)} for i, s in enumerate([5, 6, 300, 301])])
    result = run(cli, root)
    assert result.code == 0, result.err
    # in order after the shift: nothing is late, and the first minute closed
    assert query(root, "select count(*) from raw.s__late") == [(0,)]
    assert query(root, "select window_start, n from raw.per_minute") == [
        (__import__("datetime").datetime(2025, 12, 31, 23, 0), 2)
    ]


def test_a_merge_sink_keeps_the_last_event_and_its_windows_count_every_event(
    make_project: Callable[..., Path], redis_key: str, produce_redis: Produce, cli: Any
) -> None:
    root = project(make_project, redis_key, """\
    schema: {user_id: BIGINT, page: VARCHAR, ts: TIMESTAMP}
    event_time: ts
    windows:
      - {name: views, type: tumbling, size: 1 minute, select: "count(*) as n", emit: on_update}
    sink: {table: raw.s, write_disposition: merge, primary_key: user_id}
""")  # fmt: skip
    produce_redis([{"user_id": i % 2, "page": f"p{i}", "ts": at(i)} for i in range(10)])
    result = run(cli, root)
    assert result.code == 0, result.err
    assert query(root, "select user_id, page from raw.s order by user_id") == [(0, "p8"), (1, "p9")]
    assert query(root, "select n from raw.views") == [(10,)]


def test_dedup_forgets_a_key_after_within(
    make_project: Callable[..., Path], redis_key: str, produce_redis: Produce, cli: Any
) -> None:
    root = project(make_project, redis_key, """\
    schema: {id: BIGINT, ts: TIMESTAMP}
    event_time: ts
    dedup: {key: id, within: 10 minutes}
    sink: {table: raw.s}
""")  # fmt: skip
    # id 1 again after 55 minutes of event time: a new event; id 2 again after 2: a duplicate
    events = [{"id": 1, "ts": at(0)}, {"id": 2, "ts": at(60)}]
    events += [{"id": 100 + m, "ts": at(120 * m)} for m in range(1, 28)]
    events += [{"id": 2, "ts": at(180)}, {"id": 1, "ts": at(3300)}]
    produce_redis(events[:10])
    assert run(cli, root).code == 0
    produce_redis(events[10:])
    assert run(cli, root).code == 0
    assert query(root, "select count(*) from raw.s where id = 1") == [(2,)]
    assert query(root, "select count(*) from raw.s where id = 2") == [(1,)]


def test_two_streams_start_together_on_a_fresh_warehouse(
    make_project: Callable[..., Path], redis_key: str, produce_redis: Produce, cli: Any
) -> None:
    import redis

    other = redis_key + "-b"
    body = "    schema: {id: BIGINT}\n    sink: {table: raw.%s}\n"
    source = "    source: {connector: redis, url: %s, topic: %s, group: g}\n"
    root = make_project({"streams/s.yml": (
        "streams:\n  - name: a\n" + source % (REDIS_URL, redis_key) + body % "a"
        + "  - name: b\n" + source % (REDIS_URL, other) + body % "b"
    )})  # fmt: skip
    produce_redis([{"id": i} for i in range(5)])
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for i in range(7):
            client.xadd(other, {"data": json.dumps({"id": i})})
        result = run(cli, root, "a", "b")
    finally:
        client.delete(other)
        client.close()
    assert result.code == 0, result.err
    assert query(root, "select (select count(*) from raw.a), (select count(*) from raw.b)") == [
        (5, 7)
    ]


@pytest.mark.parametrize(
    ("extra", "shown"),
    [
        ('    transform: "selec * from {{ batch }}"\n', "syntax error"),
        ('    transform: "select *, nosuchcol from {{ batch }}"\n', "nosuchcol"),
    ],
)
def test_a_broken_transform_is_reported_as_itself(
    make_project: Callable[..., Path],
    redis_key: str,
    produce_redis: Produce,
    cli: Any,
    extra: str,
    shown: str,
) -> None:
    root = project(
        make_project, redis_key, f"    schema: {{id: BIGINT}}\n{extra}    sink: {{table: raw.s}}\n"
    )
    produce_redis([{"id": 1}])
    result = run(cli, root)
    assert result.code != 0
    assert shown in result.err and "aborted" not in result.err, result.err


def test_an_expectation_on_a_missing_column_is_a_config_error(
    make_project: Callable[..., Path], redis_key: str, produce_redis: Produce, cli: Any
) -> None:
    root = project(make_project, redis_key, """\
    schema: {id: BIGINT, amount: DOUBLE}
    expectations:
      - expect_column_values_to_not_be_null: {column: amont}
    sink: {table: raw.s}
""")  # fmt: skip
    produce_redis([{"id": 1}])
    result = run(cli, root)
    assert result.code == 2
    assert "`column: amont`, which is not a column" in result.err and "amount" in result.err


def test_max_bytes_cuts_micro_batches_of_large_messages(
    make_project: Callable[..., Path], redis_key: str, produce_redis: Produce
) -> None:
    from headwater.context import Context

    root = project(make_project, redis_key, """\
    schema: {id: BIGINT, blob: VARCHAR}
    sink: {table: raw.s}
    trigger: {max_records: 1000, max_bytes: 2 MiB}
""")  # fmt: skip
    produce_redis([{"id": i, "blob": "x" * 100_000} for i in range(60)])
    sizes: list[int] = []
    with Context(root) as ctx:
        summary = ctx.stream_run(
            ["s"], until_idle=True, on_batch=lambda r: sizes.append(r.messages)
        )[0]
    assert summary.messages == 60 and sum(sizes) == 60
    # ~100 KB each: a batch stops at 2 MiB (21 messages; a poll asks for what is left to fill)
    assert len(sizes) >= 3 and max(sizes) <= 22, sizes
    assert query(root, "select count(distinct id) from raw.s") == [(60,)]


def test_a_merge_sink_with_windows_and_a_transform_keeps_the_last_event(
    make_project: Callable[..., Path], redis_key: str, produce_redis: Produce, cli: Any
) -> None:
    """The transform drops `_hw_seq` and the events share broker milliseconds: the sink must
    still get the last event of each key, and the windows every event."""
    root = project(make_project, redis_key, """\
    schema: {user_id: BIGINT, page: VARCHAR, ts: TIMESTAMP}
    event_time: ts
    transform: "select user_id, page, ts from {{ batch }}"
    windows:
      - {name: views, type: tumbling, size: 1 minute, select: "count(*) as n", emit: on_update}
    sink: {table: raw.s, write_disposition: merge, primary_key: user_id}
""")  # fmt: skip
    produce_redis([{"user_id": i % 3, "page": f"p{i}", "ts": at(i)} for i in range(20)])
    result = run(cli, root)
    assert result.code == 0, result.err
    assert query(root, "select user_id, page from raw.s order by user_id") == [
        (0, "p18"), (1, "p19"), (2, "p17")
    ]  # fmt: skip
    assert query(root, "select n from raw.views") == [(20,)]


@pytest.mark.parametrize(
    "transform",
    [
        "select * from {{ batch }}",  # kept: a batch whose times are all NULL has no maximum
        "select id from {{ batch }}",
        "select id, strftime(ts, '%Y-%m-%d') as ts from {{ batch }}",
    ],
)
def test_the_watermark_falls_back_to_the_decoded_time_when_a_transform_drops_it(
    make_project: Callable[..., Path],
    redis_key: str,
    produce_redis: Produce,
    cli: Any,
    transform: str,
) -> None:
    root = project(make_project, redis_key, f"""\
    schema: {{id: BIGINT, ts: TIMESTAMP}}
    event_time: ts
    transform: "{transform}"
    sink: {{table: raw.s}}
""")  # fmt: skip
    produce_redis([{"id": 1, "ts": at(5)}, {"id": 2}])  # a batch, then one with no time at all
    assert run(cli, root).code == 0
    produce_redis([{"id": 3}])
    result = run(cli, root)
    assert result.code == 0, result.err
    assert query(root, "select count(*) from raw.s") == [(3,)]
