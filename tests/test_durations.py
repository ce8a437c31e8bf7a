"""`headwater.durations`: one parser for every duration a project writes."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from headwater.durations import (
    PERIODS,
    UNITS,
    DurationError,
    as_utc,
    parse_duration,
    parse_period,
    parse_timedelta,
)

AMOUNTS = st.one_of(
    st.integers(0, 10_000), st.decimals(0, 10_000, places=3, allow_nan=False, allow_infinity=False)
)
ISO = {"W": 604800, "D": 86400, "H": 3600, "M": 60, "S": 1}


# -- what every former parser accepted -------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30), (0.5, 0.5), ("90", 90), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400),
        ("1w", 604800), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("1.5h", 5400),
        ("250ms", 0.25), (" 10 m ", 600), ("2 secs", 2), ("1 hour", 3600), ("30 minutes", 1800),
        ("2 days 3 hours", 183600), ("1 hour and 30 minutes", 5400), ("1h, 30m", 5400),
        ("1H", 3600), ("PT1H", 3600), ("pt30m", 1800), ("P1DT2H30M", 95400), ("PT0.5S", 0.5),
        ("P2W", 1209600), ({"count": 12, "period": "hour"}, 43200), (dt.timedelta(minutes=2), 120),
        (Decimal("1.5"), 1.5),
    ],
)  # fmt: skip
def test_documented_forms(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    [0, -5, "0s", "", "  ", "ten minutes", "10x", "1h banana", "hour", "1 hour later", "P", "PT",
     "P1Y", "P1M", "P1DT", "nan", "inf", float("inf"), True, False, None, [1], {"count": 1},
     {"count": 0, "period": "hour"}, {"count": 1, "period": "hours"}, {"every": 1}, {}],
)  # fmt: skip
def test_rejected(value: object) -> None:
    with pytest.raises(DurationError):
        parse_duration(value)


def test_zero_only_when_allowed() -> None:
    assert (
        parse_duration("0s", allow_zero=True) == 0 and parse_duration("PT0S", allow_zero=True) == 0
    )
    with pytest.raises(DurationError, match="positive"):
        parse_duration("-1", allow_zero=True)


def test_errors_say_where_and_how() -> None:
    with pytest.raises(DurationError) as info:
        parse_duration("10 parsecs", key="observability.alerts.timeout", file="headwater.yml")
    err = info.value
    assert isinstance(err, ValueError) and err.key == "observability.alerts.timeout"
    assert str(err).startswith(
        "`observability.alerts.timeout` in headwater.yml: unknown unit `parsecs`"
    )
    assert "90s" in err.hint and "PT1H" in err.hint
    with pytest.raises(DurationError) as info:
        parse_duration("P1Y")
    assert "years and months" in info.value.hint


def test_dbt_periods_say_what_is_wrong() -> None:
    assert parse_period({"count": 12, "period": "hour"}, key="warn_after") == (12, "hour")
    assert parse_period({"count": None, "period": None}) is None  # dbt: unset
    cases = {
        "needs both `count` and `period`": {"count": 1},
        "is not a positive integer": {"count": 1.5, "period": "day"},
        "has an unknown key `every`": {"count": 1, "period": "day", "every": 2},
        "`warn_after.period: hours` is not minute, hour or day": {"count": 1, "period": "hours"},
    }
    for words, value in cases.items():
        with pytest.raises(DurationError) as info:
            parse_period(value, key="warn_after")
        assert words in info.value.reason
    with pytest.raises(DurationError) as info:
        parse_period({"count": 1, "period": "days"}, key="warn_after")
    assert info.value.hint == "write `period: day` (singular, as dbt)"


# -- properties ------------------------------------------------------------------------------------
@given(st.one_of(st.integers(1, 10**9), st.floats(1e-6, 1e9, allow_nan=False)))
def test_a_number_is_seconds(value: float) -> None:
    assert parse_duration(value) == float(value)
    assert parse_duration(repr(value)) == pytest.approx(float(value))


@given(
    parts=st.lists(st.tuples(AMOUNTS, st.sampled_from(sorted(UNITS))), min_size=1, max_size=5),
    joiner=st.sampled_from(["", " ", ", ", " and "]),
    space=st.sampled_from(["", " "]),
    upper=st.booleans(),
)
def test_numbers_with_units_add_up(
    parts: list[tuple[int | Decimal, str]], joiner: str, space: str, upper: bool
) -> None:
    total = sum(float(n) * UNITS[u] for n, u in parts)
    assume(total > 0)
    text = joiner.join(f"{n}{space}{u}" for n, u in parts)
    text = text.upper() if upper else text
    assert parse_duration(text) == pytest.approx(total)


@given(st.dictionaries(st.sampled_from(list(ISO)), st.integers(0, 1000), min_size=1))
def test_iso_8601(parts: dict[str, int]) -> None:
    total = sum(n * ISO[k] for k, n in parts.items())
    assume(total > 0)
    date = "".join(f"{parts[k]}{k}" for k in "WD" if k in parts)
    time = "".join(f"{parts[k]}{k}" for k in "HMS" if k in parts)
    text = "P" + date + ("T" + time if time else "")
    assert parse_duration(text) == total
    assert parse_timedelta(text) == dt.timedelta(seconds=total)


@given(st.integers(1, 10_000), st.sampled_from(sorted(PERIODS)))
def test_dbt_mapping(count: int, period: str) -> None:
    assert parse_duration({"count": count, "period": period}) == count * PERIODS[period]


@given(st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.none(), st.booleans()))
def test_anything_is_a_positive_finite_duration_or_a_duration_error(value: object) -> None:
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        assert exc.reason and exc.hint
    else:
        assert seconds > 0 and math.isfinite(seconds)


def test_as_utc() -> None:
    naive = dt.datetime(2024, 1, 1, 12)
    assert as_utc(naive) == dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
    assert as_utc(0) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    berlin = dt.datetime(2024, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert as_utc(berlin) == dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
    assert as_utc(None).tzinfo == dt.UTC
