"""Payloads to typed rows: every message of a micro-batch becomes a row of the stream's schema, or
a reject (with the reason) for the dead-letter table. Nothing is lost: a message is one or the other.

Decoding runs in a private in-memory DuckDB, vectorized, whatever the warehouse: the payloads go
in as one Arrow column, and one statement parses and types them all.

* **json**: an object per message. Each schema column is read as text (`json_extract_string`
  of its member) and cast to its type with `TRY_CAST`; a value present but not castable rejects the
  row, naming the column, the value and the type. A missing key or `null` is NULL (expectations
  decide whether that is allowed). Keys not in the schema are ignored. `TIMESTAMP` columns accept
  ISO 8601 with an offset (converted to UTC: `2026-01-01T01:00:00+02:00` is 23:00 the day before)
  and epoch seconds or milliseconds.
* **avro**: Avro binary against `avro_schema:` (a schema mapping, or a path to an `.avsc` file);
  with `avro_wire: confluent`, each payload starts with Confluent's framing (byte 0 and a 4-byte
  schema id), which is checked and skipped. The framing cannot be guessed per message: a plain
  record may start with byte 0 too (a null union, a zero, an empty string). Records are read with
  fastavro, must use up the payload, and are typed like JSON.
* **csv-line**: one delimited line per message, fields in the schema's order.
* **raw**: the payload as text, in one column `value`.

Invalid UTF-8, a payload that does not parse and a JSON value that is not an object are rejects.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.engines.base import quote_identifier, quote_literal
from headwater.errors import ConfigError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from headwater.streams.source import Message, MessageBatch
    from headwater.streams.spec import StreamSpec

META_COLUMNS = ("_hw_partition", "_hw_offset", "_hw_broker_time")
"""Columns every decoded row carries: where the message came from, and when the broker got it."""
NO_PAYLOAD = "message has no payload (a tombstone: a key with a null value)"
"""The reason of a message whose value is null (Kafka's tombstones on compacted topics)."""
SEQ = "_hw_seq"
"""The message's position in its micro-batch (dropped before the sink)."""


@dataclass
class Decoded:
    rows: pa.Table
    """The schema's columns, then `META_COLUMNS` and `_hw_seq`."""
    rejects: pa.Table
    """`_hw_partition`, `_hw_offset`, `payload`, `reason`, `stage` of every message that could not
    be decoded."""


def _is_timestamp(type_name: str) -> bool:
    """TIMESTAMP, TIMESTAMPTZ / WITH TIME ZONE, TIMESTAMP_S / _MS / _NS."""
    return type_name.upper().startswith("TIMESTAMP")


_NS_TYPES = ("TIMESTAMP_NS",)
_PYTHON_RANGE = ("'0001-01-01'", "'9999-12-31 23:59:59.999999'")
"""Timestamps and dates a Python `datetime` / `date` holds: a value outside (DuckDB's `infinity`, the
year 50000 of an epoch in the wrong unit) is a reject, not a batch that cannot be read back."""
_NS_RANGE = ("'1677-09-21 00:12:44'", "'2262-04-11 23:47:16'")
"""What a nanosecond timestamp (a signed 64-bit count) holds."""


def _range_check(typed: str, type_name: str) -> str | None:
    """A condition that ``typed`` (a UTC TIMESTAMP, or a DATE) fits ``type_name``; None for other
    types."""
    upper = type_name.upper()
    if _is_timestamp(upper):
        lo, hi = _NS_RANGE if upper in _NS_TYPES else _PYTHON_RANGE
        return f"{typed} BETWEEN TIMESTAMP {lo} AND TIMESTAMP {hi}"
    if upper == "DATE":
        return f"{typed} BETWEEN DATE '0001-01-01' AND DATE '9999-12-31'"
    return None


class Decoder:
    """Decodes the micro-batches of one stream (one per processor: it owns a DuckDB connection)."""

    def __init__(self, spec: StreamSpec, project_root: str | Path) -> None:
        self.spec = spec
        self.schema = dict(spec.schema) if spec.schema else {"value": "VARCHAR"}
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self._avro: Any = None
        if spec.format == "avro":
            self._avro = _avro_schema(spec, Path(project_root))
        self._sql = self._build_sql()

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            import duckdb

            con = duckdb.connect(":memory:")
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET threads = 1")  # one core decodes; the other polls and commits
            if len(con.extract_statements(self._sql)) != 1:  # the schema's types are pasted in
                con.close()
                raise ConfigError(
                    f"stream `{self.spec.name}`: the schema's types do not make one statement",
                    hint=f"write each type as a SQL type, e.g. DECIMAL(10,2) ({self.spec.location})",
                )
            self._con = con
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    # -- SQL -------------------------------------------------------------------------------------
    def _build_sql(self) -> str:
        """One SELECT over the registered `hw_payloads` (payload BLOB, text VARCHAR: prepared in
        Python for avro / csv-line): the schema's columns and `_hw_reason`, a row per payload in
        the payloads' order (a plain projection keeps it); the message's own columns are added
        from the batch, never copied through the engine."""
        if self.spec.format == "raw":
            return (
                "SELECT value, CASE WHEN value IS NULL THEN 'payload is not UTF-8 text' END "
                "AS _hw_reason FROM (SELECT coalesce(text, try(decode(payload))) AS value "
                "FROM hw_payloads) AS p"
            )
        # The JSON is parsed once (`json_extract_string` of every column's path, as text; an
        # error -> NULL: cheaper than `json_transform` to a struct of text). The reason
        # of a reject is worked out only for the rows that need one: a CASE evaluates a branch
        # only for the rows that reach it, so a clean batch pays for a few NULL tests per column.
        paths = ", ".join(quote_literal(_json_path(c)) for c in self.schema)
        raws, typed_cols, outs, problems, bad, absent = [], [], [], [], [], []
        exact: dict[str, str] = {}  # columns read by `json_transform` (see `_read_as_json`)
        for i, (col, type_name) in enumerate(self.schema.items()):
            field = f"r[{i + 1}]"
            raw, typed = f"_hw_r{i}", f"_hw_t{i}"
            if _is_timestamp(type_name):
                # ISO 8601 first (with an offset: to UTC); digits are epoch seconds, ms, us or ns
                # by magnitude (text of digits never casts as a timestamp, so the order does not
                # change a result). The connection's TimeZone is UTC: a cast to TIMESTAMP is the
                # UTC time (and costs half of `AT TIME ZONE 'UTC'`), and a UTC TIMESTAMP cast to
                # TIMESTAMPTZ is the same instant. The cast to the column's type comes after the
                # range check (below), so it cannot fail.
                number = f"TRY_CAST({raw} AS DOUBLE)"
                cast = (
                    f"coalesce(CAST(TRY_CAST({raw} AS TIMESTAMPTZ) AS TIMESTAMP), "
                    f"CASE WHEN regexp_full_match({raw}, '-?[0-9]+(\\.[0-9]+)?') THEN "
                    f"CAST(TRY(to_timestamp({number} / CASE WHEN abs({number}) >= 1e17 THEN 1e9 "
                    f"WHEN abs({number}) >= 1e14 THEN 1e6 WHEN abs({number}) >= 1e11 THEN 1e3 "
                    "ELSE 1 END)) AS TIMESTAMP) END)"
                )
            elif type_name.upper() in ("VARCHAR", "TEXT", "STRING"):
                cast = raw
            elif _read_as_json(type_name):
                cast = f"struct_extract(j, {quote_literal(col)})"
                exact[col] = type_name
            else:
                cast = f"TRY_CAST({raw} AS {type_name})"
            raws.append(f"{field} AS {raw}")
            typed_cols.append(f"{cast} AS {typed}")
            fits = _range_check(typed, type_name)
            out = typed
            if fits is not None:
                final = (
                    typed
                    if type_name.upper() in ("TIMESTAMP", "DATE")
                    else f"CAST({typed} AS {type_name})"
                )
                out = f"CASE WHEN {fits} THEN {final} END"
            outs.append(f"{out} AS {quote_identifier(col)}")
            if cast != raw:
                failed = (
                    f"{typed} IS NULL" if fits is None else f"({typed} IS NULL OR NOT ({fits}))"
                )
                bad.append(f"({raw} IS NOT NULL AND {failed})")
                problems.append(
                    f"CASE WHEN {raw} IS NOT NULL AND {failed} THEN "
                    f"{quote_literal(f'column `{col}`: ')} || left({raw}, 80) || "
                    f"{quote_literal(f' is not {type_name}')} END"
                )
            else:  # text: a NUL character is refused by PostgreSQL's text, so by every sink
                bad.append(f"contains({raw}, chr(0))")
                problems.append(
                    f"CASE WHEN contains({raw}, chr(0)) THEN "
                    f"{quote_literal(f'column `{col}`: text with a NUL character')} END"
                )
            absent.append(f"{raw} IS NULL")
        # a JSON value that is not an object has none of the members: a row with any present is
        # an object; only one with none is looked at again
        not_object = f"r IS NULL OR ({' AND '.join(absent)} AND NOT starts_with(ltrim(text, ' \t\r\n'), '{{'))"
        reason = (
            "CASE WHEN text IS NULL THEN 'payload is not UTF-8 text' "
            f"WHEN {not_object} THEN CASE WHEN json_valid(text) THEN 'payload is a JSON ' || "
            "lower(json_type(text)) || ', not an object' ELSE 'payload is not valid JSON' END "
        )
        if bad:
            reason += f"WHEN {' OR '.join(bad)} THEN concat_ws('; ', {', '.join(problems)}) "
        transform = (
            f", TRY(json_transform(text, {quote_literal(json.dumps(exact))})) AS j" if exact else ""
        )
        return (
            f"SELECT {', '.join(outs)}, {reason}END AS _hw_reason "
            f"FROM (SELECT *, {', '.join(typed_cols)} FROM ("
            f"SELECT text, r{', j' if exact else ''}, {', '.join(raws)} FROM (SELECT text, "
            f"TRY(json_extract_string(text, [{paths}])) AS r{transform} FROM "
            "(SELECT coalesce(text, try(decode(payload))) AS text FROM hw_payloads) AS p0"
            ") AS p1) AS p2) AS p3"
        )

    # -- decoding ------------------------------------------------------------------------------------
    def decode(self, messages: Sequence[Message] | MessageBatch) -> Decoded:
        import pyarrow as pa
        import pyarrow.compute as pc

        from headwater.streams.source import MessageBatch

        batch = MessageBatch.of(messages)
        payloads = batch.values
        n = len(payloads)
        texts: list[str | None] | None = None
        pre_rejects: dict[int, str] = {}
        if None in payloads:  # a Kafka tombstone (a key with a null value)
            for i, p in enumerate(payloads):
                if p is None:
                    pre_rejects[i] = NO_PAYLOAD
        if self.spec.format == "avro":
            texts = [self._avro_json(p, i, pre_rejects) for i, p in enumerate(payloads)]
        elif self.spec.format == "csv-line":
            texts = [self._csv_json(p, i, pre_rejects) for i, p in enumerate(payloads)]
        table = pa.table(
            {
                "payload": pa.array(payloads, pa.binary()),
                "text": pa.nulls(n, pa.string()) if texts is None else pa.array(texts, pa.string()),
            }
        )
        from headwater.engines.local import arrow_of

        with self._lock:
            con = self._connection()
            con.register("hw_payloads", table)
            try:
                typed = arrow_of(con.sql(self._sql))
            finally:
                con.unregister("hw_payloads")
        reasons = typed.column("_hw_reason")
        result = typed.drop_columns(["_hw_reason"])
        stamps = pa.array(batch.timestamps, pa.float64())
        for name, column in (
            ("_hw_partition", pa.array(batch.partitions, pa.string())),
            ("_hw_offset", pa.array(batch.offsets, pa.string())),
            ("_hw_broker_time", pc.cast(
                pc.round(pc.multiply(stamps, 1_000_000)), pa.int64(), safe=False
            ).cast(pa.timestamp("us"))),
            ("_hw_seq", _positions(n)),
        ):  # fmt: skip
            result = result.append_column(name, column)
        if pre_rejects:
            fixed = reasons.to_pylist()
            for i, why in pre_rejects.items():
                fixed[i] = why
            reasons = pa.chunked_array([pa.array(fixed, pa.string())])
        if reasons.null_count == len(reasons):  # the usual batch: nothing to reject
            return Decoded(result, _no_rejects())
        bad = pc.is_valid(reasons)
        good_rows = result.filter(pc.invert(bad))
        bad_idx = pc.indices_nonzero(bad).to_pylist()
        rejects = pa.table(
            {
                "_hw_partition": pa.array([batch.partitions[i] for i in bad_idx], pa.string()),
                "_hw_offset": pa.array([batch.offsets[i] for i in bad_idx], pa.string()),
                "payload": pa.array([batch_payload_text(batch, i) for i in bad_idx], pa.string()),
                "reason": pa.array([reasons[i].as_py() for i in bad_idx], pa.string()),
                "stage": pa.array(["decode"] * len(bad_idx), pa.string()),
            }
        )
        return Decoded(good_rows, rejects)

    def _avro_json(self, payload: bytes | None, i: int, rejects: dict[int, str]) -> str | None:
        import fastavro

        if payload is None:
            return None  # `NO_PAYLOAD`
        data = payload
        if self.spec.avro_wire == "confluent":
            if len(payload) < 5 or payload[0] != 0:
                rejects[i] = "payload is not in the Confluent wire format (byte 0, a schema id)"
                return None
            data = payload[5:]
        buf = io.BytesIO(data)
        try:
            record = fastavro.schemaless_reader(buf, self._avro)
        except Exception as exc:  # any decoding failure of untrusted bytes is a reject
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            rejects[i] = f"payload is not Avro of the stream's schema: {why}"[:300]
            return None
        if buf.tell() != len(data):  # a record of another schema can read as a prefix of it
            rejects[i] = (
                f"payload is not Avro of the stream's schema: {len(data) - buf.tell()} bytes "
                "left after the record"
            )
            return None
        if not isinstance(record, dict):
            rejects[i] = "Avro payload is not a record"
            return None
        return json.dumps(record, default=_json_default)

    def _csv_json(self, payload: bytes | None, i: int, rejects: dict[int, str]) -> str | None:
        if payload is None:
            return None  # `NO_PAYLOAD`
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            rejects[i] = "payload is not UTF-8 text"
            return None
        try:
            rows = list(csv.reader([text.rstrip("\r\n")], delimiter=self.spec.delimiter))
        except csv.Error as exc:
            rejects[i] = f"payload is not a CSV line: {exc}"
            return None
        fields = rows[0] if rows else []
        if len(fields) != len(self.schema):
            rejects[i] = f"CSV line has {len(fields)} fields, the schema {len(self.schema)}"
            return None
        return json.dumps(
            {c: (v if v != "" else None) for c, v in zip(self.schema, fields, strict=True)}
        )


def _positions(n: int) -> pa.Array:
    """0, 1, ..., n - 1 as an int64 array, made in Arrow (from a range it costs ~20x more)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.subtract(pc.cumulative_sum(pa.nulls(n, pa.int64()).fill_null(1)), 1)


_EXACT_DIGITS = 15
"""Significant digits a double keeps exactly: `json_extract_string` formats numbers from a
double, so a DECIMAL of more digits is read by `json_transform`, which reads the number's text."""


def _read_as_json(type_name: str) -> bool:
    """Whether a column of ``type_name`` is read with `json_transform` (by JSON's rules, like
    DuckDB's `from_json`) rather than cast from text: JSON (a string stays a JSON string), lists,
    structs and maps (a missing member or a value of another type inside is NULL), and DECIMALs
    of more than 15 digits (exact)."""
    upper = " ".join(type_name.upper().split())
    if upper == "JSON" or upper.endswith("]") or upper.startswith(("STRUCT", "MAP", "UNION")):
        return True
    sized = re.fullmatch(r"(?:DECIMAL|NUMERIC)\s*(?:\(\s*(\d+)[^)]*\))?", upper)
    return sized is not None and int(sized.group(1) or 18) > _EXACT_DIGITS


def _json_path(key: str) -> str:
    """The JSONPath of an object's member ``key`` (any text: quotes and backslashes escaped). A
    path, not a JSON pointer: ``/0`` would read an array's first element."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def payload_text(message: Message) -> str:
    """What the DLQ keeps of a message: its payload as text (invalid UTF-8 escaped), or, for a
    message with no payload (a Redis entry without the payload field), what the source put in
    its key (the entry's fields)."""
    return _dlq_text(message.value if message.value or not message.key else message.key)


def batch_payload_text(batch: MessageBatch, i: int) -> str:
    """`payload_text` of the batch's message ``i``."""
    value, key = batch.values[i], batch.key(i)
    return _dlq_text(value if value or not key else key)


def _dlq_text(raw: bytes | None) -> str:
    """Bytes as text any warehouse stores: invalid UTF-8 and NUL (which PostgreSQL's text
    refuses) escaped; nothing (a tombstone without a key) as ''."""
    if raw is None:
        return ""
    return raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def _no_rejects() -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            name: pa.array([], pa.string())
            for name in ("_hw_partition", "_hw_offset", "payload", "reason", "stage")
        }
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def _avro_schema(spec: StreamSpec, root: Path) -> Any:
    import fastavro

    raw = spec.avro_schema
    if raw is None:
        raise ConfigError(
            f"stream `{spec.name}`: format avro needs `avro_schema:` in `source:`",
            hint=f"avro_schema: schemas/orders.avsc (or the schema inline) ({spec.location})",
        )
    if isinstance(raw, str):
        path = (root / raw).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            raise ConfigError(
                f"stream `{spec.name}`: avro_schema `{raw}` is not a file in the project",
                hint=f"give a path relative to the project folder ({spec.location})",
            )
        raw = json.loads(path.read_text(encoding="utf-8"))
    try:
        return fastavro.parse_schema(raw)
    except Exception as exc:  # fastavro raises several types for a bad schema
        raise ConfigError(
            f"stream `{spec.name}`: avro_schema is not a valid Avro schema: {exc}",
            hint=spec.location,
        ) from None
