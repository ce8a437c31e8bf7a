"""What an aggregate model declares, as plain data: its grain, dimensions, measures and rollup.

`headwater.materialize.aggregate.builder` reads these from a model's config (and says what is
wrong, with file:line); `headwater.materialize.aggregate.query` turns them into SQL.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

AGGS = ("sum", "count", "min", "max", "count_distinct")
"""What a measure may compute."""
METHODS = ("exact", "hll")
"""How a `count_distinct` counts: exactly, or by a HyperLogLog sketch."""
GRANULARITIES = ("hour", "day", "week", "month", "quarter", "year")
"""The grain's buckets (`date_trunc` units; weeks start on Monday)."""
MODES = ("rollup", "cube")

LEVEL_COLUMN = "grouping_level"
"""The column telling rollup/cube levels apart (GROUPING over the rolled-up dimensions)."""
SKETCH_SUFFIX = "_sketch"
"""An HLL measure `x` keeps its registers in the column `x_sketch`."""

DEFAULT_PRECISION = 14
"""HyperLogLog precision p: 2^p registers, relative standard error 1.04 / sqrt(2^p) (0.81%)."""
MIN_PRECISION, MAX_PRECISION = 4, 16


@dataclass(frozen=True)
class Measure:
    """One output column computed per group."""

    name: str
    agg: str
    """One of `AGGS`."""
    column: str | None = None
    """The input column; None for ``count`` (``count(*)``)."""
    method: str = "exact"
    """`exact` or `hll` (``count_distinct`` only)."""
    precision: int = DEFAULT_PRECISION
    """HyperLogLog precision (``method: hll``)."""

    @property
    def hll(self) -> bool:
        return self.agg == "count_distinct" and self.method == "hll"

    @property
    def exact_distinct(self) -> bool:
        """An exact distinct count: not mergeable, recounted from the input at every level."""
        return self.agg == "count_distinct" and self.method == "exact"

    @property
    def sketch(self) -> str:
        """Name of the column holding the sketch (HLL measures)."""
        return self.name + SKETCH_SUFFIX


@dataclass(frozen=True)
class Grain:
    """The time column and the size of its buckets."""

    column: str
    granularity: str


@dataclass(frozen=True)
class AggregateSpec:
    """An aggregate model's definition, validated against its config (not yet its input)."""

    grain: Grain
    dimensions: tuple[str, ...]
    measures: tuple[Measure, ...]
    mode: str = ""
    """`rollup`, `cube`, or "" (one level: grain and every dimension)."""
    rolled: tuple[str, ...] = ()
    """The dimensions named by `rollup:`/`cube:`, in that order (a subset of `dimensions`)."""
    lookback: int = 0
    """Buckets before the latest stored one that an incremental run recomputes too."""
    fixed: tuple[str, ...] = field(init=False)
    """Dimensions in every grouping set (those not rolled up)."""

    def __post_init__(self) -> None:
        rolled = {d.lower() for d in self.rolled}
        object.__setattr__(
            self, "fixed", tuple(d for d in self.dimensions if d.lower() not in rolled)
        )

    def grouping_sets(self) -> list[tuple[str, ...]]:
        """The rolled-up dimensions kept at each level, finest first: `rollup` drops them from
        the right (``(a, b), (a), ()``), `cube` keeps every subset."""
        if self.mode == "rollup":
            return [self.rolled[:i] for i in range(len(self.rolled), -1, -1)]
        if self.mode == "cube":
            n = len(self.rolled)
            return [
                tuple(self.rolled[i] for i in kept)
                for size in range(n, -1, -1)
                for kept in itertools.combinations(range(n), size)
            ]
        return [()]

    def level(self, kept: tuple[str, ...]) -> int:
        """The `grouping_level` of the set keeping ``kept``: bit ``n-1-i`` is set when the i-th
        dimension of `rollup:`/`cube:` is rolled up (SQL's GROUPING(d1, ..., dn))."""
        n = len(self.rolled)
        return sum(1 << (n - 1 - i) for i, d in enumerate(self.rolled) if d not in kept)

    def columns(self) -> list[str]:
        """The table's columns, in order: grain bucket, dimensions, level, then each measure
        (an HLL measure's estimate followed by its sketch)."""
        out = [self.grain.column, *self.dimensions]
        if self.mode:
            out.append(LEVEL_COLUMN)
        for m in self.measures:
            out.append(m.name)
            if m.hll:
                out.append(m.sketch)
        return out

    def input_columns(self) -> list[str]:
        """Columns of the input the aggregate reads (each once, in order of first use)."""
        names = [self.grain.column, *self.dimensions]
        names += [m.column for m in self.measures if m.column is not None]
        seen: dict[str, str] = {}
        for name in names:
            seen.setdefault(name.lower(), name)
        return list(seen.values())
