"""The anomaly detector: is a new value of a metric series out of line with its recent past?

Robust statistics over a training window, pure functions, no I/O (the monitors read the history
from the state store; the benchmark feeds synthetic series).

The rule, for a new point ``x`` and the training points before it:

* **Training window**: the last ``window`` points (default 14). With ``seasonality="day_of_week"``
  only points of the new point's weekday (UTC for epoch timestamps) are used, so a Monday is
  compared with past Mondays; while there are fewer than ``min_points`` of them the detector falls
  back to all points and says so in ``note``.
* **Training**: with fewer than ``min_points`` training points (default 7) it never alerts
  (status ``training``, message "training: N of 7 points").
* **Centre and spread**: ``median`` of the training points and ``mad`` = 1.4826 x their median
  absolute deviation (the consistent estimate of a normal standard deviation; one outlier in the
  window barely moves either).
* **Floor of the spread** (``scale``): ``max(mad, 1% of |median|, min_scale)``, and when the MAD
  is 0 (more than half of the points identical) also at least 1.2533 x their mean absolute
  deviation from the median. So a flat series (1000, 1000, ... 1000) tolerates small noise
  (1000 -> 1004) but alerts on a real change (1000 -> 1100), and a mostly-flat one does not alert
  on the values it already had. A series that was exactly 0 every time has scale ``min_scale``
  (default 0): any non-zero value is then an anomaly.
* **Expected range**: ``median ± threshold x scale``. ``sensitivity`` k is in standard deviations,
  and ``threshold`` is k widened for the uncertainty of estimating median and spread from only n
  points: the two-sided Student-t prediction quantile at the tail probability of a k-sigma normal
  rule, with nu = 0.39·n degrees of freedom (the MAD's efficiency; fitted by simulation of normal
  noise, n = 7..40), times sqrt(1 + π/2n) for the median's own error. k = 3 thus keeps a 3-sigma
  rule's false-alarm rate (0.27 %) at any window: threshold 5.4 at n = 14, 12.5 at n = 7, 3.5 at
  n = 60 and → k as n grows. (A plain ``median ± 3·MAD`` over 14 points alerts on 3.3 % of
  perfectly normal points — a false alarm a month for a daily monitor.) ``calibrated=False``
  gives the plain rule.
* **Direction**: ``spike`` alerts only above the range, ``drop`` only below, ``both`` either way.
  ``score`` is |x - median| / scale (in standard deviations) and ``deviation`` the side x is on.

Measured by `benchmarks/anomaly.py` (spikes, drops, level shifts, stale data; seed 7, 200 series per
scenario, 128,600 scored points): precision 0.943, recall 0.999 with the defaults; the plain rule
(``calibrated=False``) has precision 0.557 on the same series. Details in that module's docstring.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import pairwise
from typing import TypedDict

MAD_SCALE = 1.4826
"""1 / Φ⁻¹(3/4): turns the median absolute deviation into a normal standard deviation."""
MEAN_AD_SCALE = 1.2533
"""sqrt(π/2): turns the mean absolute deviation into a normal standard deviation."""
RELATIVE_FLOOR = 0.01
"""The spread is never taken below this fraction of |median|."""
EFFECTIVE_DF = 0.39
"""Degrees of freedom of the MAD-based scale per training point (its efficiency at the normal)."""

DIRECTIONS = ("both", "spike", "drop")
SEASONALITIES = ("none", "day_of_week")
DEFAULT_SENSITIVITY = 3.0
DEFAULT_WINDOW = 14
DEFAULT_MIN_POINTS = 7

Timestamp = float | int | datetime
Point = tuple[Timestamp, float | int | None]


@dataclass(frozen=True)
class Detection:
    """The verdict on one new point."""

    observed: float
    median: float | None
    mad: float | None
    """1.4826 x the median absolute deviation of the training points."""
    scale: float | None
    """The standard deviation the range is built on: ``mad`` or its floor, whichever is larger."""
    threshold: float | None
    """Half-width of the expected range in units of ``scale``."""
    lower: float | None
    upper: float | None
    score: float
    """|observed - median| / scale: how many standard deviations away (0 while training)."""
    training_points: int
    is_anomaly: bool
    deviation: str
    """``spike`` (above the median), ``drop`` (below) or ``none``."""
    status: str
    """``anomaly``, ``ok`` or ``training``."""
    direction: str = "both"
    seasonality: str = "none"
    """The seasonality actually used (``none`` after a day-of-week fallback)."""
    sensitivity: float = DEFAULT_SENSITIVITY
    min_points: int = DEFAULT_MIN_POINTS
    note: str = ""

    @property
    def expected_range(self) -> tuple[float, float] | None:
        if self.lower is None or self.upper is None:
            return None
        return (self.lower, self.upper)

    @property
    def message(self) -> str:
        """One line for people: the value, the range and why."""
        if self.status == "training":
            text = f"training: {self.training_points} of {self.min_points} points"
        else:
            rng = f"{fmt(self.lower)} .. {fmt(self.upper)}"
            if self.is_anomaly:
                text = (
                    f"{fmt(self.observed)} is a {self.deviation}: outside the expected range {rng} "
                    f"(median {fmt(self.median)}, {fmt_score(self.score)} sd, {self.training_points} points)"
                )
            else:
                text = f"{fmt(self.observed)} within the expected range {rng} ({self.training_points} points)"
        return text + (f"; {self.note}" if self.note else "")


class _Common(TypedDict):
    """The fields of a `Detection` that do not depend on the verdict."""

    observed: float
    training_points: int
    direction: str
    seasonality: str
    sensitivity: float
    min_points: int
    note: str


def detect(
    history: Iterable[Point],
    point: Point,
    *,
    sensitivity: float = DEFAULT_SENSITIVITY,
    direction: str = "both",
    seasonality: str = "none",
    window: int = DEFAULT_WINDOW,
    min_points: int = DEFAULT_MIN_POINTS,
    min_scale: float = 0.0,
    calibrated: bool = True,
) -> Detection:
    """Judge ``point`` = (timestamp, value) against ``history``, the (timestamp, value) points
    before it (any order; None / NaN values are ignored)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    if seasonality not in SEASONALITIES:
        raise ValueError(
            f"seasonality must be one of {', '.join(SEASONALITIES)}, not {seasonality!r}"
        )
    if not sensitivity > 0 or window < 1 or min_points < 1 or min_scale < 0:
        raise ValueError("sensitivity must be > 0, window and min_points >= 1, min_scale >= 0")
    ts, raw = point
    if raw is None or not math.isfinite(float(raw)):
        raise ValueError(f"the new point has no finite value: {raw!r}")
    x = float(raw)
    points = sorted(
        ((_epoch(t), float(v)) for t, v in history if v is not None and _finite(v)),
        key=lambda p: p[0],
    )
    used, note = "none", ""
    if seasonality == "day_of_week":
        day = weekday(ts)
        same = [p for p in points if weekday(p[0]) == day]
        if len(same) >= min_points:
            points, used = same, "day_of_week"
        else:
            note = (
                f"day_of_week: only {len(same)} earlier {_DAYS[day]}s (< {min_points}); "
                "trained on all days"
            )
    values = [v for _, v in points[-window:]]
    n = len(values)
    base = _Common(observed=x, training_points=n, direction=direction, seasonality=used,
                   sensitivity=float(sensitivity), min_points=min_points, note=note)  # fmt: skip
    if n < min_points:
        return Detection(median=None, mad=None, scale=None, threshold=None, lower=None, upper=None, score=0.0,
                         is_anomaly=False, deviation="none", status="training", **base)  # fmt: skip
    med = statistics.median(values)
    mad = MAD_SCALE * statistics.median(abs(v - med) for v in values)
    scale = max(mad, RELATIVE_FLOOR * abs(med), min_scale)
    if mad == 0:
        scale = max(scale, MEAN_AD_SCALE * sum(abs(v - med) for v in values) / n)
    threshold = prediction_threshold(sensitivity, n) if calibrated else float(sensitivity)
    lower, upper = med - threshold * scale, med + threshold * scale
    deviation = "spike" if x > med else "drop" if x < med else "none"
    score = abs(x - med) / scale if scale > 0 else (math.inf if x != med else 0.0)
    high, low = x > upper, x < lower
    anomalous = (high and direction in ("both", "spike")) or (low and direction in ("both", "drop"))
    return Detection(median=med, mad=mad, scale=scale, threshold=threshold, lower=lower, upper=upper, score=score,
                     is_anomaly=anomalous, deviation=deviation, status="anomaly" if anomalous else "ok", **base)  # fmt: skip


def differences(series: Sequence[Point]) -> list[Point]:
    """Consecutive differences of a series (oldest first), stamped with the later point: the
    rows added per interval of a row-count series. A pair with a missing value gives no point."""
    out: list[Point] = []
    for (_, a), (t, b) in pairwise(series):
        if _finite(a) and _finite(b):
            out.append((t, float(b) - float(a)))  # type: ignore[arg-type]
    return out


@lru_cache(maxsize=4096)
def prediction_threshold(sensitivity: float, n: int) -> float:
    """Half-width, in robust standard deviations, of the range that a point of n-point-trained
    normal noise leaves with the probability a ``sensitivity``-sigma rule would (see the module
    docstring): Student-t quantile with 0.39·n degrees of freedom x sqrt(1 + π/2n)."""
    tail = 0.5 * math.erfc(sensitivity / math.sqrt(2))
    return t_quantile(tail, EFFECTIVE_DF * n) * math.sqrt(1 + math.pi / (2 * n))


def t_quantile(tail: float, df: float) -> float:
    """t such that P(T > t) = ``tail`` for Student's t with ``df`` (real, > 0) degrees of freedom."""
    if not 0 < tail < 0.5:
        raise ValueError("tail must be in (0, 0.5)")
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > tail:
        lo, hi = hi, hi * 2
        if hi > 1e300:
            return math.inf
    for _ in range(200):  # bisection: t_sf is monotone and the bracket halves each step
        mid = (lo + hi) / 2
        if t_sf(mid, df) > tail:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return (lo + hi) / 2


def t_sf(t: float, df: float) -> float:
    """P(T > t), t >= 0, for Student's t: half the regularized incomplete beta I_{df/(df+t²)}(df/2, 1/2)."""
    return 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) (continued fraction, Numerical Recipes §6.4)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def weekday(ts: Timestamp) -> int:
    """Monday = 0 .. Sunday = 6, in UTC (a naive datetime is taken as UTC)."""
    return datetime.fromtimestamp(_epoch(ts), UTC).weekday()


def _epoch(ts: Timestamp) -> float:
    if isinstance(ts, datetime):
        return ts.timestamp() if ts.tzinfo else ts.replace(tzinfo=UTC).timestamp()
    return float(ts)


def _finite(v: object) -> bool:
    return v is not None and isinstance(v, int | float) and math.isfinite(v)


def fmt(value: float | None) -> str:
    """A number for a message: thousands separators, at most 4 significant decimals."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def fmt_score(score: float) -> str:
    return "inf" if math.isinf(score) else f"{score:.1f}"
