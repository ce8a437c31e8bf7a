"""The anomaly detector on synthetic series: training, floors, directions, seasonality, calibration."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from headwater.observe.anomaly import (
    Detection,
    detect,
    differences,
    prediction_threshold,
    t_quantile,
    t_sf,
    weekday,
)

DAY = 86400.0
MONDAY = 1736121600.0  # 2025-01-06 00:00 UTC


def daily(values: list[float | None], start: float = MONDAY) -> list[tuple[float, float | None]]:
    return [(start + i * DAY, v) for i, v in enumerate(values)]


def noisy(n: int, level: float = 1000.0, sd: float = 20.0, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [level + rng.gauss(0, sd) for _ in range(n)]


def judge(values: list[float | None], new: float, **kw: object) -> Detection:
    series = daily([*values, new])
    return detect(series[:-1], series[-1], **kw)  # type: ignore[arg-type]


# -- training -----------------------------------------------------------------------------------
def test_too_short_history_never_alerts() -> None:
    det = judge([100, 101, 99], 1_000_000)
    assert det.status == "training" and not det.is_anomaly
    assert det.training_points == 3
    assert det.message == "training: 3 of 7 points"
    assert det.expected_range is None and det.median is None


def test_min_points_is_the_first_point_that_can_alert() -> None:
    assert judge([100.0] * 6, 500).status == "training"
    det = judge([100.0] * 7, 500)
    assert det.status == "anomaly" and det.is_anomaly and det.training_points == 7


def test_missing_values_do_not_count_as_training_points() -> None:
    det = judge([100, None, float("nan"), 101, 99, 100, 102, 98], 100)
    assert det.status == "training" and det.training_points == 6


def test_only_the_window_is_used() -> None:
    det = judge([5000.0] * 16 + noisy(14), 1000)  # the old level left the 14-point window
    assert det.training_points == 14 and not det.is_anomaly
    assert abs(det.median - 1000) < 30  # type: ignore[operator]


# -- flat series and the floor of the spread ---------------------------------------------------
def test_flat_series_tolerates_tiny_noise_and_alerts_on_a_real_change() -> None:
    flat = [1000.0] * 14
    small = judge(flat, 1004)
    assert small.mad == 0 and small.scale == pytest.approx(10)  # 1 % of the median
    assert not small.is_anomaly and small.status == "ok"
    up, down = judge(flat, 1100), judge(flat, 900)
    assert up.is_anomaly and up.deviation == "spike"
    assert down.is_anomaly and down.deviation == "drop"


def test_mostly_flat_series_does_not_alert_on_values_it_already_had() -> None:
    values = [1000.0] * 12 + [1030.0, 1030.0]  # MAD 0; mean absolute deviation 4.3
    assert not judge(values, 1030).is_anomaly
    assert judge(values, 1300).is_anomaly


def test_all_zero_series_alerts_on_any_value_and_min_scale_relaxes_it() -> None:
    zeros = [0.0] * 10
    assert not judge(zeros, 0).is_anomaly
    det = judge(zeros, 3)
    assert det.is_anomaly and math.isinf(det.score)
    assert not judge(zeros, 3, min_scale=1.0).is_anomaly


# -- directions --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("new", "direction", "expected"),
    [
        (1400, "both", True), (1400, "spike", True), (1400, "drop", False),
        (600, "both", True), (600, "spike", False), (600, "drop", True),
        (1010, "both", False), (1010, "spike", False), (1010, "drop", False),
    ],
)  # fmt: skip
def test_direction(new: float, direction: str, expected: bool) -> None:
    det = judge(noisy(14), new, direction=direction)
    assert det.is_anomaly is expected
    assert det.deviation == ("spike" if new > det.median else "drop")  # type: ignore[operator]
    assert det.status == ("anomaly" if expected else "ok")
    assert det.direction == direction


def test_range_score_and_message() -> None:
    det = judge(noisy(14), 1400)
    lo, hi = det.expected_range  # type: ignore[misc]
    assert lo < det.median < hi < 1400  # type: ignore[operator]
    assert hi - det.median == pytest.approx(det.threshold * det.scale)  # type: ignore[operator]
    assert det.score == pytest.approx((1400 - det.median) / det.scale)  # type: ignore[operator]
    assert det.message.startswith("1,400 is a spike: outside the expected range")
    assert "14 points" in det.message


def test_an_outlier_in_the_training_window_barely_moves_the_range() -> None:
    clean = judge(noisy(14), 1000)
    dirty = judge([*noisy(13), 50_000.0], 1000)
    assert dirty.median == pytest.approx(clean.median, rel=0.02)  # type: ignore[arg-type]
    assert dirty.scale < 2 * clean.scale  # type: ignore[operator]
    assert judge([*noisy(13), 50_000.0], 1500).is_anomaly


# -- seasonality -------------------------------------------------------------------------------
def monday_heavy(weeks: int) -> list[float]:
    """Mondays ~3000, every other day ~1000."""
    rng = random.Random(3)
    return [(3000.0 if d % 7 == 0 else 1000.0) + rng.gauss(0, 20) for d in range(weeks * 7)]


def test_day_of_week_compares_a_monday_with_past_mondays() -> None:
    values = monday_heavy(10)  # 70 days from a Monday: the next point is a Monday
    assert weekday(MONDAY + len(values) * DAY) == 0
    plain = judge(values, 3000)
    assert plain.is_anomaly and plain.seasonality == "none"
    seasonal = judge(values, 3000, seasonality="day_of_week")
    assert not seasonal.is_anomaly
    assert (
        seasonal.seasonality == "day_of_week"
        and seasonal.training_points == 10
        and seasonal.note == ""
    )
    assert seasonal.median == pytest.approx(3000, abs=40)
    assert judge(
        values, 1000, seasonality="day_of_week"
    ).is_anomaly  # a Monday at a Tuesday's level
    tuesday = daily([*values, 3000.0, 1000.0])
    assert not detect(tuesday[:-1], tuesday[-1], seasonality="day_of_week").is_anomaly


def test_day_of_week_falls_back_to_all_days_with_a_note() -> None:
    det = judge(monday_heavy(4), 3000, seasonality="day_of_week")
    assert det.seasonality == "none"
    assert "only 4 earlier Mondays" in det.note and "trained on all days" in det.note
    assert det.is_anomaly and det.note in det.message


def test_datetimes_are_timestamps_too() -> None:
    start = datetime(2025, 1, 6, 6, tzinfo=UTC)
    values = monday_heavy(8)
    series = [(start + timedelta(days=i), v) for i, v in enumerate(values)]
    det = detect(series, (start + timedelta(days=len(values)), 3000.0), seasonality="day_of_week")
    assert det.seasonality == "day_of_week" and not det.is_anomaly
    naive = [(t.replace(tzinfo=None), v) for t, v in series]
    assert detect(naive, (datetime(2025, 3, 3, 6), 3000.0), seasonality="day_of_week") == det


# -- calibration ---------------------------------------------------------------------------------
def test_t_quantile_matches_closed_forms() -> None:
    for p in (0.2, 0.05, 0.00135, 1e-6):
        assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (0.5 - p)), rel=1e-9)  # Cauchy
        q = 1 - 2 * p
        assert t_quantile(p, 2) == pytest.approx(q * math.sqrt(2 / (1 - q * q)), rel=1e-9)
        assert t_sf(t_quantile(p, 5.5), 5.5) == pytest.approx(p, rel=1e-9)


def test_threshold_widens_small_windows_and_tends_to_k() -> None:
    assert (
        prediction_threshold(3.0, 7)
        > prediction_threshold(3.0, 14)
        > prediction_threshold(3.0, 60)
        > 3
    )
    assert prediction_threshold(3.0, 100_000) == pytest.approx(3.0, abs=0.01)
    assert prediction_threshold(2.0, 14) < prediction_threshold(3.0, 14)


def test_false_alarm_rate_on_normal_noise_is_near_the_three_sigma_rate() -> None:
    """Seeded simulation: 14 normal training points, a 15th from the same distribution."""
    rng = random.Random(11)
    calibrated = plain = 0
    trials = 20_000
    for _ in range(trials):
        values = [rng.gauss(1000, 50) for _ in range(15)]  # sd 5 %: above the 1 % floor
        calibrated += judge(values[:14], values[14]).is_anomaly
        plain += judge(values[:14], values[14], calibrated=False).is_anomaly
    assert calibrated / trials < 0.006  # nominal 0.27 %
    assert plain / trials > 0.02  # why the window is calibrated: plain median ± 3·MAD alerts ~3 %


def test_bad_arguments() -> None:
    ok = daily([1.0] * 8)
    for kw in ({"direction": "up"}, {"seasonality": "weekly"}, {"sensitivity": 0}, {"window": 0}):
        with pytest.raises(ValueError):
            detect(ok, (MONDAY + 9 * DAY, 1.0), **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no finite value"):
        detect(ok, (MONDAY + 9 * DAY, None))


def test_differences_are_rows_added_per_interval() -> None:
    counts = daily([100, 150, None, 230, 230])
    assert differences(counts) == [(MONDAY + DAY, 50.0), (MONDAY + 4 * DAY, 0.0)]


# -- properties --------------------------------------------------------------------------------
values_st = st.lists(st.integers(-(10**6), 10**6), min_size=0, max_size=30)
directions = st.sampled_from(["both", "spike", "drop"])


@settings(max_examples=300, deadline=None)
@given(
    values_st, st.integers(-2 * 10**6, 2 * 10**6), st.integers(-20, 20), directions, st.booleans()
)
def test_scaling_by_a_power_of_two_keeps_the_verdict(
    values: list[int], new: int, exp: int, direction: str, dow: bool
) -> None:
    """Exact in floating point: every statistic scales by the same power of two."""
    factor = 2.0**exp
    season = "day_of_week" if dow else "none"
    a = judge([float(v) for v in values], float(new), direction=direction, seasonality=season)
    b = judge([v * factor for v in values], new * factor, direction=direction, seasonality=season)
    assert (a.is_anomaly, a.status, a.deviation, a.training_points) == (
        b.is_anomaly,
        b.status,
        b.deviation,
        b.training_points,
    )


@settings(max_examples=300, deadline=None)
@given(values_st, st.integers(-2 * 10**6, 2 * 10**6), st.floats(1e-3, 1e3), directions)
def test_scaling_by_any_positive_constant_keeps_the_verdict(
    values: list[int], new: int, factor: float, direction: str
) -> None:
    a = judge([float(v) for v in values], float(new), direction=direction)
    if a.status != "training" and math.isfinite(a.score):
        assume(abs(a.score - a.threshold) > 1e-6 * max(1.0, a.threshold))  # type: ignore[operator]
    b = judge([v * factor for v in values], new * factor, direction=direction)
    assert (a.is_anomaly, a.deviation) == (b.is_anomaly, b.deviation)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=7, max_size=30),
    directions,
    st.floats(0.1, 10),
)
def test_a_point_equal_to_the_median_never_alerts(
    values: list[float], direction: str, k: float
) -> None:
    median = judge(values, 0.0).median
    det = judge(values, median, direction=direction, sensitivity=k)  # type: ignore[arg-type]
    assert not det.is_anomaly and det.score == 0 and det.deviation == "none"


@settings(max_examples=300, deadline=None)
@given(values_st, st.integers(-2 * 10**6, 2 * 10**6), st.integers(0, 10**6))
def test_spike_and_drop_only_alert_on_their_side_and_further_out_stays_anomalous(
    values: list[int], new: int, more: int
) -> None:
    floats = [float(v) for v in values]
    spike = judge(floats, float(new), direction="spike")
    drop = judge(floats, float(new), direction="drop")
    both = judge(floats, float(new))
    assert not (spike.is_anomaly and spike.deviation != "spike")
    assert not (drop.is_anomaly and drop.deviation != "drop")
    assert both.is_anomaly == (spike.is_anomaly or drop.is_anomaly)
    if spike.is_anomaly:
        assert judge(floats, float(new + more), direction="spike").is_anomaly
    if drop.is_anomaly:
        assert judge(floats, float(new - more), direction="drop").is_anomaly


def test_the_benchmark_runs_and_meets_its_goal_on_a_small_set() -> None:
    """`benchmarks/anomaly.py` as `benchmarks/run.py` would call it (20 series per scenario)."""
    from tests.benchmark_modules import load_benchmark

    module = load_benchmark("anomaly")
    result = module.bench(seed=7, series=20)
    assert result.ok and result.total.injected > 400
    rows = result.rows()
    assert [r.ok for r in rows[:2]] == [True, True] and rows[0].goal == ">= 0.9"
    assert result.plain.precision < 0.8  # the uncalibrated rule does not meet the goal
    assert "stale: rows added" in result.table()
