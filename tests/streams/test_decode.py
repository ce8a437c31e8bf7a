"""Decoding payloads into the stream's schema: every message becomes a typed row or a reject with
its reason, for each format (json, avro, csv-line, raw), whatever bytes arrive."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.errors import ConfigError
from headwater.streams.decode import NO_PAYLOAD, Decoder
from headwater.streams.source import Message
from headwater.streams.spec import parse_stream

SCHEMA = {"id": "BIGINT", "amount": "DECIMAL(10,2)", "ts": "TIMESTAMP", "name": "VARCHAR"}


def decoder(fmt: str, tmp_path: Path, **source: Any) -> Decoder:
    raw: dict[str, Any] = {
        "name": "s", "source": {"connector": "redis", "topic": "t", "format": fmt, **source},
        "sink": {"table": "raw.s"},
    }  # fmt: skip
    if fmt != "raw":
        raw["schema"] = SCHEMA
    return Decoder(parse_stream(raw, path="streams/s.yml", default_schema="main"), tmp_path)


def messages(payloads: list[bytes]) -> list[Message]:
    return [Message("p", str(i), v, 1_700_000_000.5) for i, v in enumerate(payloads)]


def test_json_values_are_typed_and_bad_ones_explained(tmp_path: Path) -> None:
    d = decoder("json", tmp_path)
    out = d.decode(messages([
        b'{"id": 1, "amount": "12.5", "ts": "2026-01-01T01:00:00+02:00", "name": "a", "extra": 1}',
        b'{"id": 2, "ts": 1767225600000}',  # epoch milliseconds; missing keys are NULL
        b'{"id": "x"}', b"[1]", b"nope", b"\xff", b'{"ts": "yesterday"}',
    ]))  # fmt: skip
    rows = out.rows.to_pylist()
    assert [(r["id"], r["amount"], r["ts"], r["name"]) for r in rows] == [
        (1, Decimal("12.50"), dt.datetime(2025, 12, 31, 23, 0), "a"),
        (2, None, dt.datetime(2026, 1, 1, 0, 0), None),
    ]
    assert rows[0]["_hw_offset"] == "0" and rows[0]["_hw_broker_time"] == dt.datetime(
        2023, 11, 14, 22, 13, 20, 500000
    )
    assert out.rejects.to_pydict()["reason"] == [
        "column `id`: x is not BIGINT",
        "payload is a JSON array, not an object",
        "payload is not valid JSON",
        "payload is not UTF-8 text",
        "column `ts`: yesterday is not TIMESTAMP",
    ]
    assert out.rejects.to_pydict()["payload"][3] == "\\xff"  # kept, escaped
    d.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.builds(
    lambda i, a: json.dumps({"id": i, "amount": str(a)}).encode(),
    st.integers(-(2**63), 2**63 - 1), st.decimals(-10**7, 10**7, places=2, allow_nan=False),
)), max_size=30))  # fmt: skip
def test_every_message_is_a_row_or_a_reject(
    tmp_path_factory: pytest.TempPathFactory, payloads: list[bytes]
) -> None:
    d = decoder("json", tmp_path_factory.mktemp("d"))
    out = d.decode(messages(payloads))
    seen = sorted(
        out.rows.column("_hw_offset").to_pylist() + out.rejects.column("_hw_offset").to_pylist(),
        key=int,
    )
    assert seen == [str(i) for i in range(len(payloads))]
    for reason in out.rejects.column("reason").to_pylist():
        assert reason
    d.close()


AVRO_ORDER = {"type": "record", "name": "Order", "fields": [
    {"name": "name", "type": ["null", "string"]}, {"name": "id", "type": "long"},
    {"name": "amount", "type": "string"},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
]}  # fmt: skip
"""A union with null first: a record whose name is null starts with byte 0, like Confluent's
framing."""


def avro_encode(record: dict[str, Any]) -> bytes:
    import fastavro

    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(AVRO_ORDER), record)
    return buf.getvalue()


def test_plain_avro_records_are_read_whole_whatever_their_first_byte(tmp_path: Path) -> None:
    (tmp_path / "order.avsc").write_text(json.dumps(AVRO_ORDER))
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    nameless = avro_encode({"name": None, "id": 0, "amount": "0.5", "ts": when})
    assert nameless[0] == 0
    named = avro_encode({"name": "b", "id": 2, "amount": "3", "ts": when})
    d = decoder("avro", tmp_path, avro_schema="order.avsc")
    out = d.decode(messages([nameless, named, b"\x02", named + b"\x00\x01"]))
    assert [(r["id"], r["amount"], r["ts"], r["name"]) for r in out.rows.to_pylist()] == [
        (0, Decimal("0.50"), dt.datetime(2026, 1, 1), None),
        (2, Decimal("3.00"), dt.datetime(2026, 1, 1), "b"),
    ]
    reasons = out.rejects.column("reason").to_pylist()
    assert reasons[0].startswith("payload is not Avro of the stream's schema: EOFError")
    assert "0x" not in reasons[0]  # no object addresses in a reason
    assert reasons[1] == "payload is not Avro of the stream's schema: 2 bytes left after the record"
    with pytest.raises(ConfigError, match="avro_schema"):
        decoder("avro", tmp_path)
    with pytest.raises(ConfigError, match="not a file in the project"):
        decoder("avro", tmp_path, avro_schema="../outside.avsc")
    d.close()


def test_confluent_framed_avro_is_checked_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "order.avsc").write_text(json.dumps(AVRO_ORDER))
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    record = avro_encode({"name": None, "id": 7, "amount": "1.5", "ts": when})
    d = decoder("avro", tmp_path, avro_schema="order.avsc", avro_wire="confluent")
    unframed = avro_encode({"name": "b", "id": 8, "amount": "2", "ts": when})  # starts with 2
    out = d.decode(messages([b"\x00\x00\x00\x00\x07" + record, unframed, b"\x00\x00"]))
    assert [(r["id"], r["amount"]) for r in out.rows.to_pylist()] == [(7, Decimal("1.50"))]
    assert (
        out.rejects.column("reason").to_pylist()
        == ["payload is not in the Confluent wire format (byte 0, a schema id)"] * 2
    )
    with pytest.raises(ConfigError, match="avro_wire"):
        decoder("avro", tmp_path, avro_schema="order.avsc", avro_wire="registry")
    d.close()


def test_csv_lines_follow_the_schema_order(tmp_path: Path) -> None:
    d = decoder("csv-line", tmp_path, delimiter=";")
    out = d.decode(
        messages([b"1;2.5;2026-01-01 00:00:00;a\n", b'2;;;"b;c"', b"3;4", b"x;1;2026-01-01;z"])
    )
    assert [(r["id"], r["amount"], r["name"]) for r in out.rows.to_pylist()] == [
        (1, Decimal("2.50"), "a"), (2, None, "b;c")]  # fmt: skip
    assert out.rejects.column("reason").to_pylist() == [
        "CSV line has 2 fields, the schema 4", "column `id`: x is not BIGINT"]  # fmt: skip
    d.close()


def test_raw_payloads_are_text(tmp_path: Path) -> None:
    d = decoder("raw", tmp_path)
    out = d.decode(messages([b"hello", b"", b"\xfe"]))
    assert out.rows.column("value").to_pylist() == ["hello", ""]
    assert out.rejects.column("reason").to_pylist() == ["payload is not UTF-8 text"]
    d.close()


def test_epochs_out_of_range_are_rejects_not_failures(tmp_path: Path) -> None:
    """A number no timestamp can hold is one bad message, not a batch that cannot be decoded."""
    d = decoder("json", tmp_path)
    out = d.decode(messages([
        json.dumps({"id": 1, "ts": 2**70}).encode(), b'{"id": 2, "ts": 1e300}', b'{"id": 3, "ts": 5}',
    ]))  # fmt: skip
    assert out.rows.column("id").to_pylist() == [3]
    assert out.rows.column("ts").to_pylist() == [dt.datetime(1970, 1, 1, 0, 0, 5)]
    assert out.rejects.column("reason").to_pylist() == [
        f"column `ts`: {2**70} is not TIMESTAMP",
        "column `ts`: 1e300 is not TIMESTAMP",
    ]
    d.close()


def test_a_clean_batch_has_an_empty_reject_table(tmp_path: Path) -> None:
    d = decoder("json", tmp_path)
    out = d.decode(messages([b'{"id": 1}', b"{}", b' {"name": "x"}']))
    assert out.rows.column("id").to_pylist() == [1, None, None]
    assert out.rows.column("_hw_seq").to_pylist() == [0, 1, 2]
    assert out.rejects.num_rows == 0
    assert out.rejects.column_names == ["_hw_partition", "_hw_offset", "payload", "reason", "stage"]
    d.close()


def schema_decoder(tmp_path: Path, schema: dict[str, str]) -> Decoder:
    raw = {"name": "s", "source": {"connector": "redis", "topic": "t"}, "schema": schema,
           "sink": {"table": "raw.s"}}  # fmt: skip
    return Decoder(parse_stream(raw, path="streams/s.yml", default_schema="main"), tmp_path)


def test_json_nested_and_wide_decimal_columns_follow_json_not_text_casts(tmp_path: Path) -> None:
    d = schema_decoder(tmp_path, {
        "big": "DECIMAL(38,18)", "j": "JSON", "tags": "VARCHAR[]", "s": "STRUCT(a INTEGER, b VARCHAR)",
        "m": "MAP(VARCHAR, INTEGER)", "small": "DECIMAL(10,2)",
    })  # fmt: skip
    out = d.decode(messages([
        b'{"big": 12345678901234567.890123456789012345, "j": "plain", "tags": ["a\\nb", "c\\td"],'
        b' "s": {"b": "x"}, "m": {"k": 1}, "small": 1.25}',
        b'{"j": "007", "s": {"a": 1, "b": "y", "extra": true}}',
        b'{"j": null, "big": "1.5"}',
        b'{"big": "not a number"}',
    ]))  # fmt: skip
    rows = out.rows.to_pylist()
    assert [(r["big"], r["j"], r["tags"], r["s"], r["m"], r["small"]) for r in rows] == [
        (Decimal("12345678901234567.890123456789012345"), '"plain"', ["a\nb", "c\td"],
         {"a": None, "b": "x"}, [("k", 1)], Decimal("1.25")),
        (None, '"007"', None, {"a": 1, "b": "y"}, None, None),
        (Decimal("1.5"), None, None, None, None, None),
    ]  # fmt: skip
    assert out.rejects.column("reason").to_pylist() == [
        "column `big`: not a number is not DECIMAL(38,18)"
    ]
    d.close()


def test_timestamps_of_any_epoch_unit_and_out_of_range_ones_are_rejects(tmp_path: Path) -> None:
    d = schema_decoder(tmp_path, {
        "t": "TIMESTAMP", "tz": "TIMESTAMPTZ", "ns": "TIMESTAMP_NS", "day": "DATE",
    })  # fmt: skip
    second = 1_767_225_600  # 2026-01-01T00:00:00Z
    good = [
        {"t": second, "tz": second, "ns": "2026-01-01T01:00:00+01:00", "day": "2026-01-01"},
        {"t": second * 1000, "tz": second * 10**6, "ns": second * 10**9, "day": "2026-01-01"},
    ]
    bad = [{"t": "infinity"}, {"t": "10000-01-01"}, {"t": second * 10**12}, {"ns": "3000-01-01"},
           {"tz": "-infinity"}, {"day": "infinity"}]  # fmt: skip
    out = d.decode(messages([json.dumps(p).encode() for p in good + bad]))
    when = dt.datetime(2026, 1, 1)
    rows = out.rows.to_pylist()
    assert [(r["t"], r["tz"], r["ns"], r["day"]) for r in rows] == [
        (when, when.replace(tzinfo=dt.UTC), when, dt.date(2026, 1, 1))
    ] * 2
    reasons = out.rejects.column("reason").to_pylist()
    assert out.rejects.column("_hw_offset").to_pylist() == [str(i) for i in range(2, 8)]
    assert reasons[0] == "column `t`: infinity is not TIMESTAMP"
    assert reasons[3] == "column `ns`: 3000-01-01 is not TIMESTAMP_NS"
    assert reasons[5] == "column `day`: infinity is not DATE"
    d.close()


def test_whitespace_before_an_object_is_json_whitespace(tmp_path: Path) -> None:
    d = decoder("json", tmp_path)
    out = d.decode(messages([b"\n{}", b'\t\r\n {"id": 1}', b"\n[1]"]))
    assert out.rows.column("id").to_pylist() == [None, 1]
    assert out.rejects.column("reason").to_pylist() == ["payload is a JSON array, not an object"]
    d.close()


@pytest.mark.parametrize("fmt", ["json", "avro", "csv-line", "raw"])
def test_a_tombstone_is_a_reject_in_every_format(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "order.avsc").write_text(json.dumps(AVRO_ORDER))
    extra = {"avro_schema": "order.avsc"} if fmt == "avro" else {}
    d = decoder(fmt, tmp_path, **extra)
    out = d.decode([Message("p", "0", None, 1_700_000_000.5)])  # type: ignore[arg-type]
    assert out.rows.num_rows == 0
    assert out.rejects.column("reason").to_pylist() == [NO_PAYLOAD]
    d.close()


def test_text_with_a_nul_character_is_a_reject_and_the_dlq_escapes_it(tmp_path: Path) -> None:
    d = decoder("json", tmp_path)
    out = d.decode(messages([b'{"id": 1, "name": "nul\\u0000byte"}', b'{"id": 2, "name": "ok"}',
                             b"not json \x00 at all"]))  # fmt: skip
    assert out.rows.column("id").to_pylist() == [2]
    assert out.rejects.column("reason").to_pylist() == [
        "column `name`: text with a NUL character",
        "payload is not valid JSON",
    ]
    assert "\x00" not in "".join(out.rejects.column("payload").to_pylist())
    assert out.rejects.column("payload").to_pylist()[1] == "not json \\x00 at all"
    d.close()
