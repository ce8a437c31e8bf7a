"""Durations as headwater.yml and node configs write them, parsed in one place.

Every duration a user writes — an alert's ``renotify_after``, ``timeout`` and ``rate_limit.per``,
a node's ``max_duration``, a freshness threshold, a loader's ``lag`` — is one of these forms:

* a number: seconds (``30``, ``0.5``, ``"90"``);
* a number with a unit, or several (``"90s"``, ``"15m"``, ``"1h30m"``, ``"250ms"``, ``"2d"``,
  ``"1w"``, ``"1 hour"``, ``"2 days 3 hours"``, ``"1 hour and 30 minutes"``); units are
  ``ms``, ``s``/``sec``/``second``, ``m``/``min``/``minute``, ``h``/``hr``/``hour``,
  ``d``/``day``, ``w``/``week`` (plurals too), in any case;
* ISO-8601 without years or months (``"PT1H"``, ``"P1DT2H30M"``, ``"PT0.5S"``, ``"P2W"``);
* dbt's mapping ``{count: 12, period: hour}`` (``period`` is ``minute``, ``hour`` or ``day``,
  ``count`` a positive whole number).

`parse_duration` returns seconds (a float) or raises `DurationError`, a ValueError that says what
is wrong, how to write it, and the key and file when the caller passes them. Which forms a setting
takes is the caller's business: freshness thresholds stay dbt's mapping (so a dbt project reads
the same), everything else takes every form. `parse_period` is the mapping form alone, for
callers that keep ``count`` and ``period`` (freshness prints "12 hours").

`as_utc` turns the instants durations are measured from (a datetime, epoch seconds, now) into an
aware UTC datetime.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Mapping
from decimal import Decimal

__all__ = [
    "DURATION_HINT",
    "PERIODS",
    "UNITS",
    "DurationError",
    "as_utc",
    "parse_duration",
    "parse_period",
    "parse_timedelta",
]

UNITS: dict[str, float] = {
    "ms": 0.001, "msec": 0.001, "msecs": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "w": 604800.0, "week": 604800.0, "weeks": 604800.0,
}  # fmt: skip
"""Seconds per unit of the ``<number><unit>`` form (matched case-insensitively)."""
PERIODS: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400}
"""dbt's ``period`` values of the ``{count, period}`` form, in seconds."""
PERIOD_KEYS = ("count", "period")
DURATION_HINT = (
    "write seconds (`30`), a number with a unit (`90s`, `15m`, `1h30m`, `2d`, `1w`, `1 hour`), "
    "ISO-8601 (`PT1H`) or `{count: 12, period: hour}`"
)

_NUMBER = r"\d+(?:\.\d+)?"
_ISO = re.compile(
    rf"P(?:(?P<w>{_NUMBER})W)?(?:(?P<d>{_NUMBER})D)?"
    rf"(?:T(?:(?P<h>{_NUMBER})H)?(?:(?P<m>{_NUMBER})M)?(?:(?P<s>{_NUMBER})S)?)?",
    re.IGNORECASE,
)
_ISO_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(rf"({_NUMBER})\s*([a-z]+)")


class DurationError(ValueError):
    """A value that is not a duration: ``reason`` says why, ``hint`` how to write one; ``key``
    and ``file`` say where, when the caller knows."""

    def __init__(
        self,
        reason: str,
        hint: str = DURATION_HINT,
        key: str | None = None,
        file: str | None = None,
    ) -> None:
        self.reason = reason
        self.hint = hint
        self.key = key
        self.file = file
        where = f"`{key}`" if key and not reason.startswith(f"`{key}") else ""
        if file:
            where = f"{where} in {file}" if where else file
        super().__init__(f"{where}: {reason}" if where else reason)


def parse_duration(
    value: object, *, key: str | None = None, file: str | None = None, allow_zero: bool = False
) -> float:
    """Seconds of ``value`` in any form of the module docstring; positive (or zero, with
    ``allow_zero``) and finite. Raises `DurationError` naming ``key`` and ``file``."""

    def fail(reason: str, hint: str = DURATION_HINT) -> DurationError:
        return DurationError(reason, hint, key, file)

    if isinstance(value, bool) or value is None:
        raise fail(f"`{value!r}` is not a duration")
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, numbers.Real | Decimal):
        seconds = float(value)
    elif isinstance(value, Mapping):
        found = parse_period(value, key=key, file=file)
        if found is None:
            raise fail(
                f"`{key or 'duration'}` sets neither `count` nor `period`",
                f"write `{key or 'duration'}: {{count: 12, period: hour}}`",
            )
        seconds = float(found[0] * PERIODS[found[1]])
    elif isinstance(value, str):
        seconds = _text_seconds(value, key, file)
    else:
        raise fail(f"`{value!r}` is not a duration")
    if math.isnan(seconds) or math.isinf(seconds):
        raise fail(f"`{value!r}` is not a finite duration")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise fail(f"`{value!r}` is not a positive duration")
    return seconds


def parse_timedelta(
    value: object, *, key: str | None = None, file: str | None = None, allow_zero: bool = False
) -> dt.timedelta:
    """`parse_duration` as a timedelta."""
    return dt.timedelta(seconds=parse_duration(value, key=key, file=file, allow_zero=allow_zero))


def parse_period(
    value: Mapping[object, object], *, key: str | None = None, file: str | None = None
) -> tuple[int, str] | None:
    """(count, period) of dbt's ``{count: 12, period: hour}``; None when both are unset (dbt:
    no threshold). Raises `DurationError` for another key, one of the two missing, a count that
    is not a positive whole number, or a period that is not minute, hour or day."""
    from headwater.errors import did_you_mean

    label = key or "duration"
    example = f"`{label}: {{count: 12, period: hour}}`"
    for k in value:
        if k not in PERIOD_KEYS:
            raise DurationError(
                f"`{label}` has an unknown key `{k}`" + did_you_mean(str(k), PERIOD_KEYS),
                f"`{label}` takes `count` and `period` only",
                key,
                file,
            )
    count, period = value.get("count"), value.get("period")
    if count is None and period is None:
        return None
    if count is None or period is None:
        raise DurationError(
            f"`{label}` needs both `count` and `period`", f"write {example}", key, file
        )
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise DurationError(
            f"`{label}.count: {count!r}` is not a positive integer",
            f"write a whole number, e.g. {example}",
            key,
            file,
        )
    text = str(period)
    if text not in PERIODS:
        hint = "use minute, hour or day"
        if text.rstrip("s") in PERIODS:
            hint = f"write `period: {text.rstrip('s')}` (singular, as dbt)"
        raise DurationError(
            f"`{label}.period: {text}` is not minute, hour or day" + did_you_mean(text, PERIODS),
            hint,
            key,
            file,
        )
    return count, text


def _text_seconds(value: str, key: str | None, file: str | None) -> float:
    def fail(reason: str, hint: str = DURATION_HINT) -> DurationError:
        return DurationError(reason, hint, key, file)

    text = value.strip()
    if not text:
        raise fail("an empty value is not a duration")
    try:
        return float(text)
    except ValueError:
        pass
    if text[:1] in "pP":
        m = _ISO.fullmatch(text)
        if not m or text.upper() in ("P", "PT") or text.upper().endswith("T"):
            raise fail(
                f"`{text}` is not an ISO-8601 duration",
                "write e.g. `PT1H`, `PT30M`, `P1DT2H` (weeks, days, hours, minutes, seconds: "
                "years and months have no fixed length)",
            )
        return sum(float(v) * _ISO_SECONDS[k] for k, v in m.groupdict().items() if v)
    low = text.lower().replace(",", " ").replace(" and ", " ")
    parts = _PART.findall(low)
    if not parts or _PART.sub("", low).strip():
        raise fail(f"`{text}` is not a duration")
    total = 0.0
    for amount, unit in parts:
        if unit not in UNITS:
            from headwater.errors import did_you_mean

            raise fail(f"unknown unit `{unit}` in `{text}`" + did_you_mean(unit, UNITS))
        total += float(amount) * UNITS[unit]
    return total


def as_utc(now: dt.datetime | float | None) -> dt.datetime:
    """A time as an aware UTC datetime: now for None, epoch seconds, naive = UTC."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if isinstance(now, int | float):
        return dt.datetime.fromtimestamp(now, dt.UTC)
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
