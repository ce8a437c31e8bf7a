"""Lag and cursor values of incremental extraction, shared by the database connectors
(`headwater.extract.databases`) and the `http` connector: `parse_lag` reads a source's `lag`
(a duration in any form of `headwater.durations`, e.g. ``PT1H``, ``"1 hour"``, ``"30m"``, or a
number for numeric cursors), `apply_lag` computes ``last committed cursor - lag`` for the cursor's type, and
`coerce_cursor` / `later_cursor` compare committed cursor values (state stores may hand back text).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from headwater.errors import ConfigError

Lag = timedelta | int | float | Decimal
"""A parsed `lag`: a duration (timestamp and date cursors) or a number (numeric cursors)."""


def parse_lag(value: Any) -> timedelta | int | float | Decimal | None:
    """`lag` as a timedelta (durations) or a number (numeric cursors); ValueError if invalid."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"`{value}` is not a duration or a number")
    if isinstance(value, timedelta | int | float | Decimal):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = Decimal(text)
    except InvalidOperation:
        pass
    else:
        if not number.is_finite():
            raise ValueError(f"`{text}` is not a finite number")
        return number
    from headwater.durations import parse_timedelta

    return parse_timedelta(text, allow_zero=True)  # the one duration syntax (`headwater.durations`)


def coerce_cursor(value: Any) -> Any:
    """A committed cursor as a comparable Python value (state stores may hand back strings)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    for conv in (int, Decimal):
        try:
            return conv(text)
        except (ValueError, InvalidOperation):
            pass
    try:
        return (
            datetime.fromisoformat(text.replace("Z", "+00:00"))
            if len(text) > 10
            else date.fromisoformat(text)
        )
    except ValueError:
        return value


def apply_lag(last: Any, lag: Lag | None, name: str) -> Any:
    """``last - lag`` for the cursor's type."""
    if lag is None or lag == 0 or last is None:
        return last
    last = coerce_cursor(last)
    if isinstance(lag, timedelta):
        if isinstance(last, datetime):
            return last - lag
        if isinstance(last, date):
            return last - timedelta(days=math.ceil(lag / timedelta(days=1)))
        raise ConfigError(
            f"source `{name}`: `lag` is a duration but the cursor value {last!r} is not a date or timestamp",
            node=name, hint="use a number as `lag` for a numeric cursor",
        )  # fmt: skip
    if isinstance(last, bool) or not isinstance(last, int | float | Decimal):
        raise ConfigError(
            f"source `{name}`: `lag` is a number but the cursor value {last!r} is not numeric",
            node=name, hint="use a duration such as `PT1H` or `1 hour` for a timestamp cursor",
        )  # fmt: skip
    if isinstance(last, Decimal) or (isinstance(lag, Decimal) and isinstance(last, int)):
        result = Decimal(last) - Decimal(str(lag))
        return (
            int(result)
            if isinstance(last, int) and result == result.to_integral_value()
            else result
        )
    return last - float(lag) if isinstance(lag, Decimal) else last - lag


def later_cursor(a: Any, b: Any) -> Any:
    """The larger of two cursor values (``a`` when they cannot be compared)."""
    if a is None:
        return b
    if b is None:
        return a
    try:
        return b if coerce_cursor(b) > coerce_cursor(a) else a
    except TypeError:
        return a
