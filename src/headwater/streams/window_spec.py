"""The `windows:` entries of a stream, validated: `parse_window` turns one into a `WindowSpec`
(type, size / hop / gap, group_by, the aggregate `select`, emit mode, allowed lateness), with
every mistake a `ConfigError` naming the stream, the window, the file and the fix. The semantics
are `headwater.streams.windows`' (the operator that runs them)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headwater.durations import DurationError, parse_timedelta
from headwater.errors import ConfigError, Location, did_you_mean

WINDOW_TYPES = ("tumbling", "hopping", "session")
EMIT_MODES = ("on_close", "on_update")
LATE_POLICIES = ("drop", "side_output", "update")
WINDOW_KEYS = (
    "name",
    "type",
    "size",
    "hop",
    "gap",
    "group_by",
    "select",
    "emit",
    "allowed_lateness",
)
UPDATE_DEFAULT_LATENESS = dt.timedelta(hours=1)
"""How long ``late: update`` keeps a closed window's events when ``allowed_lateness`` is 0:
without a bound the state would grow forever."""
MAX_WINDOWS_PER_EVENT = 1000
"""A hopping window stores each event once per window it is in (size / hop): beyond this the
state would be mostly copies."""
RESERVED_PREFIX = "_hw_"
WINDOW_COLUMNS = ("window_start", "window_end")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


_US = dt.timedelta(microseconds=1)


def _micros(delta: dt.timedelta) -> int:
    return delta // _US


def as_utc_naive(value: dt.datetime | dt.date) -> dt.datetime:
    """An event time as a naive UTC datetime: an aware one in UTC without its zone, a naive one
    (UTC already) as it is, a date at its midnight."""
    if not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


# -- configuration -------------------------------------------------------------------------------
@dataclass
class WindowSpec:
    """One entry of a stream's ``windows:`` (validated by `parse_window`)."""

    name: str
    type: str
    """tumbling | hopping | session"""
    size: dt.timedelta | None
    hop: dt.timedelta | None
    gap: dt.timedelta | None
    group_by: list[str]
    select: str
    """The aggregates, as a SELECT list: ``count(*) as orders, sum(amount) as revenue``."""
    emit: str = "on_close"
    """on_close | on_update"""
    allowed_lateness: dt.timedelta = dt.timedelta(0)

    @property
    def windows_per_event(self) -> int:
        """How many windows one event is in (hopping: ceil(size / hop); otherwise 1)."""
        if self.type == "hopping" and self.size and self.hop:
            return math.ceil(_micros(self.size) / _micros(self.hop))
        return 1


@dataclass
class WindowStats:
    """What one `WindowOperator.process` did."""

    emitted: int = 0
    """Output rows written for windows that had no row yet."""
    updated: int = 0
    """Output rows written in place of the window's earlier row (on_update, late: update)."""
    late: int = 0
    """Events too late for every window they belong to (and events with a NULL event time)."""
    dropped: int = 0
    """Late events dropped (late: drop); the others went to the late table."""
    open_windows: int = 0
    """Windows in the state not closed yet, after the batch."""
    retracted: int = 0
    """Session rows deleted because a late event merged their session into another one."""


def _problem(
    message: str, hint: str, *, stream: str, window: str | None, location: str
) -> ConfigError:
    where = f"stream `{stream}`" + (f", window `{window}`" if window else "")
    return ConfigError(f"{where}: {message}", hint=hint, location=Location(location))


def _duration(
    value: object, key: str, *, stream: str, window: str | None, location: str, zero: bool
) -> dt.timedelta:
    try:
        found = parse_timedelta(value, key=key, allow_zero=zero)
    except DurationError as exc:
        raise _problem(
            str(exc), exc.hint, stream=stream, window=window, location=location
        ) from None
    if not zero and found < _US:
        raise _problem(
            f"`{key}: {value}` is shorter than a microsecond",
            f"write a `{key}` of at least 1 ms (e.g. `{key}: 1 minute`)",
            stream=stream,
            window=window,
            location=location,
        )
    return found


def parse_window(entry: Mapping[str, Any], *, stream: str, location: str) -> WindowSpec:
    """Validate one ``windows:`` entry. Every mistake raises `ConfigError` naming the stream, the
    window and the file, with a hint saying how to write it."""
    if not isinstance(entry, Mapping):
        raise _problem(
            f"a `windows:` entry must be a mapping, not `{entry!r}`",
            "write e.g. `- {name: per_minute, type: tumbling, size: 1 minute, "
            'select: "count(*) as events"}`',
            stream=stream,
            window=None,
            location=location,
        )
    raw_name = entry.get("name")
    name = str(raw_name) if raw_name is not None else None

    def fail(message: str, hint: str) -> ConfigError:
        return _problem(message, hint, stream=stream, window=name, location=location)

    for key in entry:
        if key not in WINDOW_KEYS:
            raise fail(
                f"unknown key `{key}`" + did_you_mean(str(key), WINDOW_KEYS),
                "a window takes " + ", ".join(f"`{k}`" for k in WINDOW_KEYS),
            )
    if not name or not _NAME.fullmatch(name):
        raise fail(
            f"a window needs a `name` made of letters, digits and `_`, not `{raw_name!r}`",
            "write e.g. `name: orders_per_minute`",
        )
    kind = str(entry.get("type") or "")
    if kind not in WINDOW_TYPES:
        raise fail(
            (f"`type: {kind}` is not a window type" if kind else "`type` is missing")
            + did_you_mean(kind, WINDOW_TYPES),
            "write `type: tumbling` (size), `type: hopping` (size and hop) or `type: session` (gap)",
        )
    needed = {"tumbling": ("size",), "hopping": ("size", "hop"), "session": ("gap",)}[kind]
    examples = {"size": "size: 1 minute", "hop": "hop: 30 seconds", "gap": "gap: 30 minutes"}
    for key in needed:
        if entry.get(key) is None:
            raise fail(f"a {kind} window needs `{key}`", f"add `{examples[key]}`")
    for key in ("size", "hop", "gap"):
        if key not in needed and entry.get(key) is not None:
            wanted = " and ".join(f"`{k}`" for k in needed)
            raise fail(
                f"a {kind} window takes no `{key}`",
                f"remove `{key}` (a {kind} window takes {wanted})"
                + (
                    "; for windows that overlap write `type: hopping` with `size` and `hop`"
                    if key == "hop"
                    else ""
                ),
            )
    durations: dict[str, dt.timedelta | None] = {}
    for key in ("size", "hop", "gap"):
        value = entry.get(key)
        durations[key] = (
            None
            if value is None
            else _duration(value, key, stream=stream, window=name, location=location, zero=False)
        )
    size, hop, gap = durations["size"], durations["hop"], durations["gap"]
    if kind == "hopping" and size is not None and hop is not None:
        if hop > size:
            raise fail(
                f"`hop: {entry.get('hop')}` is longer than `size: {entry.get('size')}`: the "
                "events between two windows would be in none",
                "make `hop` at most `size` (hop = size is a tumbling window)",
            )
        per_event = math.ceil(_micros(size) / _micros(hop))
        if per_event > MAX_WINDOWS_PER_EVENT:
            raise fail(
                f"`size / hop` puts each event in {per_event} windows (at most "
                f"{MAX_WINDOWS_PER_EVENT}): the state would keep that many copies of it",
                "use a larger `hop` (or a smaller `size`)",
            )
    group_by = entry.get("group_by") or []
    if isinstance(group_by, str):
        group_by = [group_by]
    if not isinstance(group_by, list | tuple) or not all(
        isinstance(c, str) and c for c in group_by
    ):
        raise fail(
            f"`group_by` must be a list of column names, not `{group_by!r}`",
            "write e.g. `group_by: [customer_id]`",
        )
    group_by = [str(c) for c in group_by]
    for column in group_by:
        if column.startswith(RESERVED_PREFIX) or column in WINDOW_COLUMNS:
            raise fail(
                f"`group_by` names `{column}`, a column the window itself writes",
                f"rename that column (names starting with `{RESERVED_PREFIX}`, `window_start` "
                "and `window_end` are taken)",
            )
    if len(set(group_by)) != len(group_by):
        raise fail("`group_by` names a column twice", "list each column once")
    select = entry.get("select")
    if not isinstance(select, str) or not select.strip():
        raise fail(
            "a window needs `select`: the aggregates to compute",
            'write e.g. `select: "count(*) as orders, sum(amount) as revenue"`',
        )
    select = select.strip().rstrip(";").strip()
    _check_select(select, group_by, fail)
    emit = str(entry.get("emit") or "on_close")
    if emit not in EMIT_MODES:
        raise fail(
            f"`emit: {emit}` is not on_close or on_update" + did_you_mean(emit, EMIT_MODES),
            "write `emit: on_close` (append each window once, when it closes) or "
            "`emit: on_update` (merge the current aggregate every batch)",
        )
    lateness = entry.get("allowed_lateness")
    allowed = (
        dt.timedelta(0)
        if lateness is None
        else _duration(
            lateness, "allowed_lateness", stream=stream, window=name, location=location, zero=True
        )
    )
    return WindowSpec(
        name=name,
        type=kind,
        size=size,
        hop=hop,
        gap=gap,
        group_by=group_by,
        select=select,
        emit=emit,
        allowed_lateness=allowed,
    )


def _check_select(select: str, group_by: list[str], fail: Any) -> None:
    """Each aggregate of ``select`` needs a name (its output column, the same on every engine) that
    no other column of the output has. SQL sqlglot cannot parse is left to the warehouse (it is
    the engine's dialect), which `WindowOperator.ensure` reports as a config error."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        parsed = sqlglot.parse_one(f"SELECT {select}")
    except SqlglotError:
        return
    extra = [k for k, v in parsed.args.items() if v and k != "expressions"]
    if not isinstance(parsed, exp.Select) or extra:
        raise fail(
            f"`select: {select}` holds more than a list of aggregates",
            "write only the aggregates; the window adds FROM, WHERE and GROUP BY itself "
            "(filter with `count(*) FILTER (WHERE ...)` or the stream's `transform:`)",
        )
    taken = {c.lower() for c in (*WINDOW_COLUMNS, *group_by)}
    seen: set[str] = set()
    for projection in parsed.expressions:
        if isinstance(projection, exp.Star):
            raise fail(
                "`select` cannot be `*`: it is a list of aggregates",
                'write e.g. `select: "count(*) as orders"`',
            )
        if isinstance(projection, exp.Alias):
            name = projection.alias
        elif isinstance(projection, exp.Column):
            name = projection.name
        else:
            raise fail(
                f"`{projection.sql()}` in `select` has no name",
                f"name it: `{projection.sql()} as <column>`",
            )
        if name.lower() in taken or name.lower().startswith(RESERVED_PREFIX):
            raise fail(
                f"`select` names a column `{name}`, which the window writes itself",
                "rename it (window_start, window_end, the group_by columns and names starting "
                f"with `{RESERVED_PREFIX}` are taken)",
            )
        if name.lower() in seen:
            raise fail(f"`select` names two columns `{name}`", "give each aggregate its own name")
        seen.add(name.lower())


def parse_windows(entries: object, *, stream: str, location: str) -> list[WindowSpec]:
    """The stream's ``windows:`` list (None: no windows); names must be unique."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise _problem(
            "`windows:` must be a list of windows",
            "write `windows:` followed by `- name: ...` entries",
            stream=stream,
            window=None,
            location=location,
        )
    specs = [parse_window(entry, stream=stream, location=location) for entry in entries]
    names = [s.name for s in specs]
    for name in names:
        if names.count(name) > 1:
            raise _problem(
                f"two windows are named `{name}`",
                "give each window its own name (it names its output table)",
                stream=stream,
                window=name,
                location=location,
            )
    return specs


def parse_watermark(value: object, *, stream: str, location: str) -> dt.timedelta:
    """The stream's ``watermark:`` delay (how late an event may be, past the largest event time
    seen); 0 when unset."""
    if value is None:
        return dt.timedelta(0)
    return _duration(value, "watermark", stream=stream, window=None, location=location, zero=True)


def parse_late(value: object, *, stream: str, location: str) -> str:
    """The stream's ``late:`` policy: drop (the default, as in Flink and Spark), side_output or
    update."""
    if value is None:
        return "drop"
    text = str(value)
    if text not in LATE_POLICIES:
        raise _problem(
            f"`late: {text}` is not a late-data policy" + did_you_mean(text, LATE_POLICIES),
            "write `late: drop`, `late: side_output` (into `<stream>__late`) or `late: update` "
            "(re-compute the window)",
            stream=stream,
            window=None,
            location=location,
        )
    return text


def advance_watermark(
    previous: dt.datetime | None, max_event_time: dt.datetime | None, delay: dt.timedelta
) -> dt.datetime | None:
    """The watermark after a batch: the largest event time seen minus ``delay``, never moving
    back (an older ``max_event_time`` keeps ``previous``)."""
    if max_event_time is None:
        return previous
    candidate = max_event_time - delay
    if previous is None:
        return candidate
    return max(as_utc_naive(previous), as_utc_naive(candidate))
