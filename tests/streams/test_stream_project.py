"""Streams as project files: `streams/*.yml` entries become graph nodes (listed by `ls`, `ref()`-able),
and every mistake in one is an error naming the file, line, stream and fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.errors import ConfigError
from headwater.streams.spec import parse_stream
from tests.conftest import CliResult

STREAM = """\
streams:
  - name: orders_live
    source:
      connector: redis
      topic: orders
      group: g
    schema: {order_id: BIGINT, customer_id: BIGINT, amount: DECIMAL(10,2), ts: TIMESTAMP}
    event_time: ts
    watermark: 30 seconds
    sink:
      table: raw.orders_live
"""


def entry(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "name": "s",
        "source": {"connector": "redis", "topic": "t"},
        "schema": {"id": "BIGINT", "ts": "TIMESTAMP"},
        "sink": {"table": "raw.s"},
    }
    raw.update(overrides)
    return raw


def test_the_issue_example_parses_with_its_flow_mapping_types() -> None:
    import yaml

    from headwater.project.readers.streams import quote_sized_types

    spec = parse_stream(
        yaml.safe_load(quote_sized_types(STREAM))["streams"][0],
        path="streams/o.yml",
        default_schema="main",
    )
    assert spec.schema == {
        "order_id": "BIGINT",
        "customer_id": "BIGINT",
        "amount": "DECIMAL(10,2)",
        "ts": "TIMESTAMP",
    }
    assert spec.sink.table is not None and spec.sink.table.render() == '"raw"."orders_live"'
    assert spec.dlq.render() == '"raw"."orders_live__dlq"'
    assert spec.watermark.total_seconds() == 30
    assert (spec.max_records, spec.max_seconds) == (50_000, 5.0)


@given(st.lists(st.integers(1, 38), min_size=1, max_size=4))
def test_any_number_of_parenthesized_types_survive_yaml_flow_mappings(
    precisions: list[int],
) -> None:
    import yaml

    from headwater.project.readers.streams import quote_sized_types

    cols = ", ".join(f"c{i}: DECIMAL({p},{min(p, 2)})" for i, p in enumerate(precisions))
    text = f"{{name: s, source: {{connector: redis, topic: t}}, schema: {{{cols}}}, sink: {{table: x}}}}"
    raw = yaml.safe_load(quote_sized_types(text))
    spec = parse_stream(raw, path="s.yml", default_schema="main")
    assert spec.schema == {f"c{i}": f"DECIMAL({p},{min(p, 2)})" for i, p in enumerate(precisions)}


TYPES = st.sampled_from([
    "BIGINT", "VARCHAR", "TIMESTAMP", "DECIMAL(10,2)", "DECIMAL(38, 9)", "INTEGER[]",
    "DECIMAL(10,2)[]", "STRUCT(a DECIMAL(10,2), b INTEGER)", "MAP(VARCHAR, DECIMAL(12,4))",
    "STRUCT(x INTEGER[], y MAP(VARCHAR, VARCHAR))",
])  # fmt: skip


@given(
    st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), TYPES, min_size=1, max_size=6),
    st.booleans(),
)  # fmt: skip
def test_sized_and_nested_types_survive_a_flow_mapping_and_nothing_else_changes(
    schema: dict[str, str], wrap: bool
) -> None:
    import yaml

    from headwater.project.readers.streams import quote_sized_types

    sep = ",\n      " if wrap else ", "
    cols = sep.join(f"{name}: {kind}" for name, kind in schema.items())
    transform = "select *, cast(1 as DECIMAL(12,2)) as x, [1, 2] as l from {{ batch }}"
    text = (
        "streams:\n  - name: s\n    source: {connector: redis, topic: t}\n"
        f"    schema: {{{cols}}}\n    transform: {transform}\n    sink: {{table: raw.s}}\n"
    )
    quoted = quote_sized_types(text)
    assert quoted.count("\n") == text.count("\n")
    raw = yaml.safe_load(quoted)["streams"][0]
    assert raw["transform"] == transform
    spec = parse_stream(raw, path="s.yml", default_schema="main")
    assert spec.schema == schema


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"schema": None}, "`schema:` is missing"),
        ({"source": {"connector": "redis"}}, "needs `topic:`"),
        ({"source": {"connector": "redis", "topic": "t", "format": "xml"}}, "unknown format `xml`"),
        (
            {"source": {"connector": "redis", "topic": "t", "password": "hunter2"}},
            "may not be written in the file",
        ),
        (
            {"source": {"connector": "amqp", "topic": "q", "url": "amqp://guest:hunter2@host/"}},
            "holds a password",
        ),
        ({"event_time": "nope"}, "`event_time: nope` is not a column"),
        ({"event_time": "id"}, "must be a TIMESTAMP"),
        ({"watermark": "soon"}, "watermark"),
        ({"transform": "select 1"}, "must be SQL reading `{{ batch }}`"),
        ({"sink": {"table": "raw.s", "write_disposition": "merge"}}, "needs `primary_key:`"),
        ({"sink": {"table": "a.b.c"}}, "is not `schema.table`"),
        ({"late": "later"}, "unknown late policy"),
        ({"trigger": {"max_records": 0}}, "positive whole number"),
        (
            {
                "windows": [
                    {"name": "w", "type": "tumbling", "size": "1 minute", "select": "count(*) as n"}
                ]
            },
            "windows need `event_time:`",
        ),
        ({"slas": {"max_lag": "lots"}}, "is not a count"),
        ({"slas": {"max_lag": float("inf")}}, "is not a count"),
        ({"slas": {"max_lag": -5}}, "is not a count"),
        ({"slas": ["max_lag"]}, "`slas:` must be a mapping"),
        ({"slas": {"max_dlq_rate": "5%"}}, "between 0 and 1"),
        ({"slas": {"max_dlq_rate": 2}}, "between 0 and 1"),
        ({"dlq": "raw.s"}, "is the sink table"),
        ({"source": {"connector": "kafak", "topic": "t"}}, "unknown connector `kafak`"),
        (
            {"source": {"connector": "nats", "topic": "t", "url": "nats://s3cr3t@h:4222"}},
            "holds a password",
        ),
        (
            {"source": {"connector": "redis", "topic": "t", "url": "redis://h/0?password=x"}},
            "holds a password",
        ),
        (
            {
                "source": {
                    "connector": "kafka",
                    "topic": "t",
                    "kafka": {"ssl.key.pem": "-----BEGIN"},
                }
            },
            "may not be written in the file",
        ),
        (
            {
                "sink": {
                    "delta": {"path": "lake/s"},
                    "write_disposition": "merge",
                    "primary_key": "id",
                }
            },
            "needs a warehouse `table:`",
        ),
        ({"dlq": "RAW.S"}, "is the sink table"),
        (
            {"source": {"connector": "kafka", "topic": "t", "kafka": {"sasl.password": "x"}}},
            "may not be written in the file",
        ),
        (
            {"source": {"connector": "kafka", "topic": "t", "kafka": {"ssl.key.password": "x"}}},
            "may not be written in the file",
        ),
        ({"schema": {"id": "BIGINT", "_hw_offset": "VARCHAR"}}, "headwater's own"),
        ({"schema": {"id": "BIGINT", "ID": "VARCHAR"}}, "differ only in case"),
        ({"schema": {"id": "BIGINT) AS x; COPY (SELECT 1) TO 'f'; --"}}, "is not a SQL type"),
        ({"schema": {"id": "DECIMAL(10,2"}}, "is not a SQL type"),
        ({"dedup": {"key": "nope"}}, "is not a column"),
        ({"sinks": {}}, "unknown key `sinks`"),
    ],
)
def test_mistakes_name_the_stream_and_the_fix(overrides: dict[str, object], message: str) -> None:
    raw = entry(**overrides)
    if raw.get("schema") is None:
        raw.pop("schema")
    with pytest.raises(ConfigError) as err:
        parse_stream(raw, path="streams/s.yml", default_schema="main")
    assert message in str(err.value)


def test_slas_and_counts_parse() -> None:
    spec = parse_stream(
        entry(slas={"max_lag": "10k events", "max_latency": "30s"}),
        path="s.yml",
        default_schema="m",
    )
    assert spec.slas == {"max_lag": 10_000, "max_latency": 30.0}


def test_a_stream_is_a_node_that_models_ref(
    make_project: Callable[..., Path], cli: Callable[..., CliResult]
) -> None:
    root = make_project(
        {
            "streams/orders.yml": STREAM,
            "models/marts/totals.sql": "select customer_id, sum(amount) as total from {{ ref('orders_live') }} group by 1",
        }
    )
    listed = cli("ls", "--project-dir", root)
    assert listed.code == 0, listed.err
    assert "stream" in listed.out and "orders_live" in listed.out
    # a batch run creates the stream's (empty) tables, so the model that refs it builds
    run = cli("run", "--project-dir", root)
    assert run.code == 0, run.out + run.err
    from tests.conftest import query

    assert query(root, "select count(*) from totals") == [(0,)]
    cols = [
        r[0]
        for r in query(
            root,
            "select column_name from information_schema.columns where table_schema='raw' and table_name='orders_live' order by ordinal_position",
        )
    ]
    assert cols == [
        "order_id",
        "customer_id",
        "amount",
        "ts",
        "_hw_partition",
        "_hw_offset",
        "_hw_broker_time",
    ]
    dlq = [
        r[0]
        for r in query(
            root,
            "select column_name from information_schema.columns where table_name='orders_live__dlq' order by ordinal_position",
        )
    ]
    assert dlq == ["stream", "partition", "offset", "payload", "reason", "stage", "failed_at"]


def test_a_bad_stream_file_is_reported_with_its_line(
    make_project: Callable[..., Path], cli: Callable[..., CliResult]
) -> None:
    root = make_project(
        {"streams/bad.yml": STREAM.replace("    event_time: ts\n", "    event_time: when\n")}
    )
    result = cli("stream", "run", "orders_live", "--project-dir", root)
    assert result.code == 2
    assert "streams/bad.yml:8" in result.err and "`event_time: when` is not a column" in result.err
    assert "is not a stream" not in result.err


@pytest.mark.parametrize("window", ["orders_live", "orders_live__dlq", "orders_live__late"])
def test_a_window_may_not_take_the_name_of_its_streams_tables(
    make_project: Callable[..., Path], cli: Callable[..., CliResult], window: str
) -> None:
    windows = (
        "    windows:\n"
        f"      - {{name: {window}, type: tumbling, size: 1 minute, select: 'count(*) as n'}}\n"
    )
    root = make_project(
        {"streams/o.yml": STREAM.replace("    watermark:", windows + "    watermark:")}
    )
    result = cli("stream", "run", "orders_live", "--project-dir", root)
    assert result.code == 2
    assert f"window `{window}` of stream `orders_live` has the name of another node" in result.err


def test_an_unknown_stream_name_lists_the_streams(
    make_project: Callable[..., Path], cli: Callable[..., CliResult]
) -> None:
    root = make_project({"streams/orders.yml": STREAM})
    result = cli("stream", "run", "orders_lve", "--project-dir", root)
    assert result.code == 2
    assert (
        "did you mean `orders_live`" in result.err
        and "streams of this project: orders_live" in result.err
    )


def test_a_transform_is_one_statement(
    make_project: Callable[..., Path], cli: Callable[..., CliResult]
) -> None:
    stream = STREAM.replace(
        "    sink:",
        "    transform: select * from {{ batch }}; drop table raw.orders_live\n    sink:",
    )
    root = make_project({"streams/orders.yml": stream})
    result = cli("run", "--project-dir", root)
    assert result.code == 1
    assert "statement" in (result.out + result.err).lower()


def test_monitors_name_stream_metrics() -> None:
    spec = parse_stream(entry(monitors=["dlq_rate", {"metric": "events_per_s", "direction": "drop"}]),
                        path="s.yml", default_schema="m")  # fmt: skip
    assert [(m["metric"], m["direction"]) for m in spec.monitors] == [
        ("dlq_rate", "both"),
        ("events_per_s", "drop"),
    ]
    with pytest.raises(ConfigError, match="does not name a stream metric"):
        parse_stream(entry(monitors=["row_count"]), path="s.yml", default_schema="m")
    with pytest.raises(ConfigError, match="direction"):
        parse_stream(
            entry(monitors=[{"metric": "dlq_rate", "direction": "up"}]),
            path="s.yml",
            default_schema="m",
        )


def test_client_settings_are_checked_without_touching_the_stream() -> None:
    spec = parse_stream(
        entry(source={"connector": "kafka", "topic": "t", "kafka": {"fetch.wait.max.ms": 100}}),
        path="streams/s.yml",
        default_schema="main",
    )
    assert spec.name == "s" and spec.source_options["kafka"] == {"fetch.wait.max.ms": 100}
