"""A stream as `streams/*.yml` declares it, validated: `parse_stream` turns one entry into a
`StreamSpec`, with every mistake reported as a `ConfigError` naming the file, line, stream and fix.

The project reader (`headwater.project.readers.streams`) calls `parse_stream` to make the graph's
nodes (the stream, and one per window); the processor parses the entry again from the node's
config when it runs, so a cached manifest needs nothing but plain data.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.durations import DurationError, parse_timedelta
from headwater.errors import ConfigError, Location, did_you_mean
from headwater.project.definition import Relation
from headwater.secrets import is_secret_name

if TYPE_CHECKING:
    from headwater.streams.source import SourceConfig
    from headwater.streams.window_spec import WindowSpec

STREAM_KEYS = {
    "name", "description", "source", "schema", "event_time", "watermark", "dedup", "expectations",
    "transform", "windows", "late", "sink", "dlq", "trigger", "monitors", "slas", "tags", "meta",
}  # fmt: skip
SOURCE_KEYS = {
    "connector", "topic", "group", "format", "start", "avro_schema", "avro_wire", "delimiter"
}  # fmt: skip
"""Keys every source has; any other key belongs to the connector (checked by it when it opens)."""
FORMATS = ("json", "avro", "csv-line", "raw")
AVRO_WIRES = ("plain", "confluent")
LATE_POLICIES = ("drop", "side_output", "update")
DISPOSITIONS = ("append", "merge")
SINK_KEYS = {"table", "delta", "write_disposition", "primary_key"}
TRIGGER_KEYS = {"max_records", "max_seconds", "max_bytes"}
DEDUP_KEYS = {"key", "within"}
SLA_KEYS = {"max_lag", "max_latency", "max_dlq_rate"}
DEFAULT_MAX_RECORDS = 50_000
DEFAULT_MAX_SECONDS = 5.0
DEFAULT_MAX_BYTES = 64 * 2**20
"""Payload bytes a micro-batch holds at most (64 MiB): what bounds memory when messages are
large, since `max_records` counts messages (decoding and landing need several times this)."""
_BYTE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20,
               "gib": 2**30}  # fmt: skip
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class SinkSpec:
    table: Relation | None
    """The warehouse table the rows land in (None for a stream that only feeds windows)."""
    delta: str | None = None
    """A Delta table's location, when the sink is a lake table."""
    write_disposition: str = "append"
    primary_key: list[str] = field(default_factory=list)


@dataclass
class StreamSpec:
    name: str
    location: str
    """`file:line` of the entry."""
    connector: str
    topic: str
    group: str
    format: str
    start: str
    source_options: dict[str, Any]
    schema: dict[str, str]
    """Column -> SQL type of the decoded events, in order (raw: empty; one `value` column)."""
    event_time: str | None
    watermark: dt.timedelta
    dedup_key: list[str]
    dedup_within: dt.timedelta | None
    expectations: list[Any]
    transform: str | None
    windows: list[WindowSpec]
    late: str
    sink: SinkSpec
    dlq: Relation
    max_records: int
    max_seconds: float
    slas: dict[str, Any]
    monitors: list[Any]
    max_bytes: int = DEFAULT_MAX_BYTES
    avro_schema: Any = None
    avro_wire: str = "plain"
    """``plain`` (the Avro binary alone) or ``confluent`` (magic byte 0, a 4-byte schema id, then
    the binary: Confluent's Schema Registry serializers)."""
    delimiter: str = ","
    description: str = ""

    def source_config(self) -> SourceConfig:
        """The connector's view of `source:`, secrets resolved from the environment."""
        from headwater.streams.source import SourceConfig, resolve_env

        options = resolve_env(self.source_options, self.name, self.location)
        return SourceConfig(
            stream=self.name,
            connector=self.connector,
            topic=self.topic,
            group=self.group,
            start=self.start,
            options=options,
            location=self.location,
        )

    def window_relation(self, window: WindowSpec) -> Relation:
        base = self.sink.table or self.dlq
        return Relation(base.schema, window.name, base.database)

    def relation_for(self, suffix: str) -> Relation:
        """A companion table of the stream (`__late`, `__hw_state_<window>`)."""
        base = self.sink.table or self.dlq
        return Relation(base.schema, f"{self.name}{suffix}", base.database)


def parse_stream(raw: Mapping[str, Any], *, path: str, default_schema: str) -> StreamSpec:
    """Validate one `streams:` entry of ``path``."""
    from headwater.project.validate import check_keys, expect_type, loc_of

    expect_type(raw, Mapping, "a stream entry", raw)
    location = loc_of(raw) or Location(path)
    where = f"{location.path}:{location.line}" if location.line else location.path
    check_keys(raw, STREAM_KEYS, "a stream")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            "a stream needs `name:`, a plain identifier (letters, digits, `_`)",
            location=location,
            hint="name: orders_live",
        )

    def fail(
        message: str, key: str | None = None, hint: str | None = None, obj: Any = None
    ) -> ConfigError:
        at = loc_of(obj if obj is not None else raw, key) or location
        return ConfigError(f"stream `{name}`: {message}", location=at, node=name, hint=hint)

    def duration(value: Any, key: str, obj: Any = None, allow_zero: bool = False) -> dt.timedelta:
        try:
            return parse_timedelta(value, key=key, allow_zero=allow_zero)
        except DurationError as exc:
            raise fail(str(exc), key, exc.hint, obj) from None

    source = raw.get("source")
    if not isinstance(source, Mapping):
        raise fail("`source:` is missing", hint="source: {connector: kafka, topic: orders}")
    connector = str(source.get("connector") or "")
    if not connector:
        raise fail(
            "`source:` needs `connector:`",
            "source",
            "connector: kafka | redis | nats | kinesis | mqtt | amqp",
        )
    from headwater.streams.connectors import CONNECTORS

    if connector not in CONNECTORS:
        raise fail(
            f"unknown connector `{connector}`{did_you_mean(connector, CONNECTORS)}",
            "connector",
            "use one of " + ", ".join(CONNECTORS),
            source,
        )
    topic = source.get("topic")
    if not topic:
        raise fail(
            "`source:` needs `topic:`",
            "source",
            "the Kafka topic, Redis stream key, NATS subject, Kinesis stream, MQTT topic or AMQP queue",
        )
    fmt = str(source.get("format") or "json")
    if fmt not in FORMATS:
        raise fail(
            f"unknown format `{fmt}`{did_you_mean(fmt, FORMATS)}",
            "format",
            "use " + ", ".join(FORMATS),
            source,
        )
    avro_wire = str(source.get("avro_wire") or "plain")
    if avro_wire not in AVRO_WIRES:
        raise fail(
            f"unknown `avro_wire: {avro_wire}`",
            "avro_wire",
            "plain (the Avro binary alone) or confluent (Schema Registry framing: byte 0 and a "
            "4-byte schema id first)",
            source,
        )
    start = str(source.get("start") or "earliest")
    if start not in ("earliest", "latest"):
        try:
            parse_start(start)
        except ValueError:
            raise fail(
                f"`start: {start}` is not earliest, latest or an ISO timestamp",
                "start",
                "start: 2026-01-01T00:00:00Z",
                source,
            ) from None
    for key in source:
        if str(key).endswith("_env") and not isinstance(source[key], str):
            raise fail(f"`{key}` must name an environment variable", str(key), obj=source)
    for secret in ("password", "token", "secret", "sasl.password", "secret_access_key"):
        if secret in source:
            raise fail(
                f"`{secret}` may not be written in the file",
                secret,
                f"use `{secret}_env: VARIABLE`: secrets come only from the environment",
                source,
            )
    for key, value in source.items():  # client settings (`kafka:`): the same rule
        if isinstance(value, Mapping):
            for inner in value:
                setting = str(inner).lower()
                words = re.split(r"[._]", setting)
                if (
                    words[-1] in ("password", "secret", "token")
                    or setting.endswith("secret_access_key")
                    or (words[-1] == "pem" and "key" in words)  # ssl.key.pem: a private key
                    or setting == "sasl.oauthbearer.config"  # holds the client secret
                ):
                    raise fail(
                        f"`{key}: {{{inner}: ...}}` may not be written in the file",
                        str(key),
                        f"use `{inner}_env: VARIABLE` in `{key}:`: secrets come only from the "
                        "environment",
                        source,
                    )
    for key in ("url", "brokers", "endpoint_url"):
        text = source.get(key)
        # user info (`user:password@`, or a NATS token `token@`) or a secret-named query
        # parameter (`?password=`) is a credential written in the file
        if isinstance(text, str) and (
            re.search(r"://[^/@\s]+@", text)
            or any(is_secret_name(param) for param in re.findall(r"[?&;]([^=&;#]+)=", text))
        ):
            raise fail(
                f"`{key}` holds a password, which may not be written in the file",
                key,
                f"use `{key}_env: VARIABLE` with the URL in that environment variable",
                source,
            )
    options = {str(k): v for k, v in source.items() if k not in SOURCE_KEYS}

    schema_raw = raw.get("schema")
    schema: dict[str, str] = {}
    if schema_raw is None:
        if fmt != "raw":
            raise fail(
                "`schema:` is missing",
                hint="schema: {order_id: BIGINT, ts: TIMESTAMP} (or format: raw)",
            )
    else:
        if not isinstance(schema_raw, Mapping) or not schema_raw:
            raise fail("`schema:` must map column names to SQL types", "schema")
        for col, typ in _rejoin_types(list(schema_raw.items())):
            if not isinstance(typ, str) or not typ.strip():
                raise fail(f"column `{col}` needs a SQL type", str(col), obj=schema_raw)
            if re.search(r";|--|/\*|'", typ) or typ.count("(") != typ.count(")"):
                raise fail(
                    f"column `{col}`: `{typ}` is not a SQL type",
                    str(col),
                    "e.g. BIGINT, VARCHAR, DECIMAL(10,2), TIMESTAMP, STRUCT(a INTEGER)",
                    schema_raw,
                )
            if str(col).lower().startswith("_hw_"):
                raise fail(
                    f"column `{col}`: names starting with `_hw_` are headwater's own "
                    "(the message's partition, offset and broker time)",
                    str(col),
                    "rename the column (the payload's key is read by this name)",
                    schema_raw,
                )
            twin = next((c for c in schema if c.lower() == str(col).lower()), None)
            if twin is not None:
                raise fail(
                    f"columns `{twin}` and `{col}` differ only in case, and SQL names do not",
                    str(col),
                    "keep one of them",
                    schema_raw,
                )
            schema[str(col)] = typ.strip()
    columns = list(schema) if schema else ["value"]

    def column(value: Any, key: str, obj: Any = None) -> str:
        if not isinstance(value, str) or value not in columns:
            raise fail(
                f"`{key}: {value}` is not a column of the schema{did_you_mean(str(value), columns)}",
                key,
                obj=obj,
            )
        return value

    event_time = raw.get("event_time")
    if event_time is not None:
        event_time = column(event_time, "event_time")
        if (
            "TIME" not in schema.get(event_time, "").upper()
            and "DATE" not in schema.get(event_time, "").upper()
        ):
            raise fail(
                f"`event_time: {event_time}` must be a TIMESTAMP or DATE column", "event_time"
            )
    watermark = duration(raw.get("watermark", 0), "watermark", allow_zero=True)
    dedup = raw.get("dedup")
    dedup_key: list[str] = []
    dedup_within = None
    if dedup is not None:
        if not isinstance(dedup, Mapping) or "key" not in dedup:
            raise fail("`dedup:` needs `key:`", "dedup", "dedup: {key: order_id, within: 1 hour}")
        check_keys(dedup, DEDUP_KEYS, f"`dedup:` of stream `{name}`")
        keys = dedup["key"] if isinstance(dedup["key"], list) else [dedup["key"]]
        dedup_key = [column(k, "key", dedup) for k in keys]
        dedup_within = duration(dedup.get("within", "1 day"), "within", dedup)

    expectations = list(raw.get("expectations") or [])
    transform = raw.get("transform")
    if transform is not None and (not isinstance(transform, str) or "batch" not in transform):
        raise fail(
            "`transform:` must be SQL reading `{{ batch }}`",
            "transform",
            "transform: select *, amount * 1.2 as gross from {{ batch }}",
        )

    late = str(raw.get("late") or "drop")
    if late not in LATE_POLICIES:
        raise fail(
            f"unknown late policy `{late}`{did_you_mean(late, LATE_POLICIES)}",
            "late",
            "use " + ", ".join(LATE_POLICIES),
        )
    windows: list[WindowSpec] = []
    window_entries = raw.get("windows") or []
    if window_entries:
        from headwater.streams.window_spec import parse_window

        if event_time is None:
            raise fail(
                "windows need `event_time:`", "windows", "event_time: ts (a TIMESTAMP column)"
            )
        for entry in window_entries:
            windows.append(parse_window(entry, stream=name, location=where))
        names = [w.name for w in windows]
        for w in names:
            if names.count(w) > 1:
                raise fail(f"two windows are named `{w}`", "windows")

    sink_raw = raw.get("sink")
    if sink_raw is None and not windows:
        raise fail("`sink:` is missing", hint="sink: {table: raw.orders_live}")
    sink = SinkSpec(table=None)
    if sink_raw is not None:
        if not isinstance(sink_raw, Mapping):
            raise fail("`sink:` must be a mapping", "sink", "sink: {table: raw.orders_live}")
        check_keys(sink_raw, SINK_KEYS, f"`sink:` of stream `{name}`")
        disposition = str(sink_raw.get("write_disposition") or "append")
        if disposition not in DISPOSITIONS:
            raise fail(
                f"unknown write_disposition `{disposition}`",
                "write_disposition",
                "use append or merge",
                sink_raw,
            )
        pk = sink_raw.get("primary_key")
        primary_key = [str(k) for k in (pk if isinstance(pk, list) else [pk] if pk else [])]
        if disposition == "merge" and not primary_key:
            raise fail(
                "write_disposition merge needs `primary_key:`",
                "sink",
                "primary_key: order_id",
                sink_raw,
            )
        delta = sink_raw.get("delta")
        delta_path = None
        if delta is not None:
            if not isinstance(delta, Mapping) or not delta.get("path"):
                raise fail(
                    "`delta:` needs `path:`", "delta", "delta: {path: lake/orders_live}", sink_raw
                )
            delta_path = str(delta["path"])
            if disposition == "merge":
                raise fail(
                    "a `delta:` sink appends each micro-batch; `write_disposition: merge` needs a "
                    "warehouse `table:`",
                    "write_disposition",
                    "keep the events in Delta and build the latest row per key in a model that "
                    "refs the stream, or sink to `table:`",
                    sink_raw,
                )
        table = sink_raw.get("table")
        if table is None and delta_path is None:
            raise fail(
                "`sink:` needs `table:` or `delta:`", "sink", "sink: {table: raw.orders_live}"
            )
        relation = relation_of(str(table or name), default_schema, fail, "table")
        sink = SinkSpec(relation, delta_path, disposition, primary_key)
    dlq_raw = raw.get("dlq")
    base = sink.table or Relation(default_schema, name)
    dlq = (
        relation_of(str(dlq_raw), default_schema, fail, "dlq")
        if dlq_raw
        else Relation(base.schema, f"{base.identifier}__dlq")
    )

    if sink.table is not None and dlq.render().lower() == sink.table.render().lower():
        raise fail(
            f"`dlq: {dlq_raw}` is the sink table: rejected messages need a table of their own",
            "dlq",
            f"dlq: {sink.table.schema}.{sink.table.identifier}__dlq (the default)",
        )

    trigger = raw.get("trigger") or {}
    if not isinstance(trigger, Mapping):
        raise fail(
            "`trigger:` must be a mapping",
            "trigger",
            "trigger: {max_records: 50000, max_seconds: 5}",
        )
    check_keys(trigger, TRIGGER_KEYS, f"`trigger:` of stream `{name}`")
    max_records = trigger.get("max_records", DEFAULT_MAX_RECORDS)
    if not isinstance(max_records, int) or isinstance(max_records, bool) or max_records < 1:
        raise fail("`max_records` must be a positive whole number", "max_records", obj=trigger)
    max_seconds = duration(
        trigger.get("max_seconds", DEFAULT_MAX_SECONDS), "max_seconds", trigger
    ).total_seconds()
    size = re.fullmatch(
        r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(trigger.get("max_bytes", DEFAULT_MAX_BYTES))
    )
    unit = _BYTE_UNITS.get(size.group(2).lower()) if size else None
    if size is None or unit is None or float(size.group(1)) * unit < 1:
        raise fail(
            f"`max_bytes: {trigger.get('max_bytes')}` is not a size",
            "max_bytes",
            "max_bytes: 64 MiB (or a number of bytes)",
            trigger,
        )
    max_bytes = int(float(size.group(1)) * unit)

    slas_raw = raw.get("slas") or {}
    if not isinstance(slas_raw, Mapping):
        raise fail(
            "`slas:` must be a mapping", "slas", "slas: {max_lag: 10000 events, max_latency: 30s}"
        )
    slas = dict(slas_raw)
    check_keys(slas, SLA_KEYS, f"`slas:` of stream `{name}`")
    if "max_dlq_rate" in slas:
        rate = slas["max_dlq_rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= float(rate) <= 1:
            raise fail(
                f"`max_dlq_rate: {rate}` is not a share of the events between 0 and 1",
                "max_dlq_rate",
                "max_dlq_rate: 0.01 (1% of a batch's events)",
                slas_raw,
            )
        slas["max_dlq_rate"] = float(rate)
    if "max_lag" in slas:
        slas["max_lag"] = parse_count(slas["max_lag"], fail)
    if "max_latency" in slas:
        slas["max_latency"] = duration(
            slas["max_latency"], "max_latency", raw.get("slas")
        ).total_seconds()
    monitors = [_monitor(m, fail) for m in (raw.get("monitors") or [])]
    return StreamSpec(
        name=name, location=where, connector=connector, topic=str(topic),
        group=str(source.get("group") or f"headwater-{name}"), format=fmt, start=start,
        source_options=options, schema=schema, event_time=event_time, watermark=watermark,
        dedup_key=dedup_key, dedup_within=dedup_within, expectations=expectations,
        transform=transform, windows=windows, late=late, sink=sink, dlq=dlq,
        max_records=max_records, max_seconds=max_seconds, max_bytes=max_bytes, slas=slas,
        monitors=monitors, avro_schema=source.get("avro_schema"), avro_wire=avro_wire,
        delimiter=str(source.get("delimiter") or ","), description=str(raw.get("description") or ""),
    )  # fmt: skip


MONITOR_METRICS = ("events_per_s", "dlq_rate", "latency_p50", "latency_p99")
"""Series of a stream process that `monitors:` watch for anomalies (`headwater.observe.anomaly`)."""
MONITOR_KEYS = {"metric", "sensitivity", "direction", "window", "min_points"}


def _monitor(entry: Any, fail: Any) -> dict[str, Any]:
    """One `monitors:` entry: a metric name, or `{metric:, sensitivity:, direction:, window:,
    min_points:}` (the anomaly detector's settings)."""
    from headwater.observe.anomaly import DIRECTIONS

    spec = {"metric": entry} if isinstance(entry, str) else entry
    if not isinstance(spec, Mapping) or spec.get("metric") not in MONITOR_METRICS:
        raise fail(
            f"`monitors:` entry `{entry}` does not name a stream metric",
            "monitors",
            "one of "
            + ", ".join(MONITOR_METRICS)
            + ", e.g. `monitors: [{metric: events_per_s, direction: drop}]`",
        )
    unknown = set(spec) - MONITOR_KEYS
    if unknown:
        raise fail(
            f"unknown key `{sorted(unknown)[0]}` in a monitor",
            "monitors",
            "allowed: " + ", ".join(sorted(MONITOR_KEYS)),
        )
    out = {
        "metric": spec["metric"],
        "sensitivity": 3.0,
        "direction": "both",
        "window": 14,
        "min_points": 7,
    }
    for key in ("sensitivity", "window", "min_points"):
        if key in spec:
            value = spec[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise fail(f"monitor `{key}` must be a positive number", "monitors")
            out[key] = value
    if "direction" in spec:
        if spec["direction"] not in DIRECTIONS:
            raise fail(
                f"monitor direction `{spec['direction']}`",
                "monitors",
                "use " + ", ".join(DIRECTIONS),
            )
        out["direction"] = spec["direction"]
    return out


def _rejoin_types(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """YAML's flow mapping splits `{amount: DECIMAL(10,2), ts: TIMESTAMP}` at the comma inside
    the type (`amount: "DECIMAL(10"`, `"2)": null`): join such pieces back into the type."""
    out: list[tuple[Any, Any]] = []
    for key, value in items:
        if out and isinstance(out[-1][1], str) and out[-1][1].count("(") > out[-1][1].count(")"):
            piece = str(key) if value is None else f"{key}: {value}"
            out[-1] = (out[-1][0], f"{out[-1][1]},{piece}")
            continue
        out.append((key, value))
    return out


def relation_of(text: str, default_schema: str, fail: Any, key: str) -> Relation:
    parts = text.split(".")
    if len(parts) > 2 or not all(_NAME.match(p) for p in parts):
        raise fail(f"`{key}: {text}` is not `schema.table` or `table`", key)
    if len(parts) == 1:
        return Relation(default_schema, parts[0])
    return Relation(parts[0], parts[1])


def parse_count(value: Any, fail: Any) -> int:
    """`10000`, `"10000 events"`, `"10k"` -> 10000."""
    text = str(value).strip().lower().replace(",", "").replace("_", "")
    text = re.sub(r"\s*(events?|messages?|records?)$", "", text)
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    if scale > 1:
        text = text[:-1]
    try:
        count = int(float(text) * scale)
        if count < 0:
            raise ValueError(text)
    except (ValueError, OverflowError):  # words, negatives, inf, nan
        raise fail(
            f"`max_lag: {value}` is not a count of events", "max_lag", "max_lag: 10000 events"
        ) from None
    return count


def parse_start(text: str) -> dt.datetime:
    """An ISO timestamp (UTC when it has no offset)."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value
