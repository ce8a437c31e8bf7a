"""HyperLogLog sketches in plain SQL: registers built from a 64-bit hash, merged by register-wise
max, and the estimate computed from them.

**Registers.** A value's hash is reduced to 63 bits ``h`` (non-negative in a BIGINT). Its low
``p`` bits pick the register ``i = h & (2^p - 1)``; the rest, ``w = h >> p`` (63 - p bits), gives
the rank ``r = 1 + trailing zeros of w`` (capped at ``64 - p`` when ``w = 0``), computed as
``bit_count((w & -w) - 1) + 1``. (The classic rank counts leading zeros; trailing zeros of a
uniformly random word have the same geometric law and need no logarithm.) Each register keeps the
largest rank of its values.

**Storage.** A sketch is sparse: an INTEGER array of the non-empty registers, each encoded as
``i * 64 + r`` (``r < 64``), ascending. A group of n distinct values stores at most min(n, 2^p)
integers; NULL when the group has no non-null value. Since the encoding puts the register first,
merging sketches is: unnest them, group by ``e >> 6`` (the register), keep ``max(e)``
(the largest rank), aggregate again — register-wise max, never a recount.

**Estimate** (Flajolet et al. 2007, with linear counting for small cardinalities): with ``m = 2^p``
registers of which ``V`` are empty, ``raw = alpha_m m^2 / sum(2^-r_j)``; when
``m ln(m / V) <= 3m`` (i.e. ``V >= m e^-3``) linear counting ``m ln(m / V)`` is used instead.
Switching at 3m rather than the paper's 2.5m (simulated: raw's bias just above 2.5m is +2%,
linear counting's error at 3m ~1.3 standard errors) keeps the error near 1.04/sqrt(m) over the
whole range. ``sum(2^-r_j)`` is computed exactly as an integer, ``sum(2^(64-p-r_j))`` (HUGEINT on
DuckDB, NUMERIC on PostgreSQL), so the estimate is a function of the sketch alone, whatever the
order the engine sums in.

**Error bound.** Relative standard error 1.04/sqrt(2^p): 0.81% at the default p = 14 (1.6% at
p = 12, 0.41% at p = 16), up to ~1.3x that near 3m distinct values where the estimator switches;
below ~m distinct values linear counting does better (about 1/sqrt(2m), 0.55% at p = 14). The
tests allow 4 standard errors. An empty or NULL sketch estimates 0, exactly.

**Hashes.** DuckDB: ``hash(value)`` (64 bits) shifted right once. PostgreSQL:
``hashtextextended(value::text, 0)`` with the sign bit cleared (so text forms must be stable:
dates and numbers are; a float's text follows `extra_float_digits`). Sketches of one engine are
not comparable with another's, and a hash depends on the value's type and the engine's version:
sketches are merged within a bucket (rollup levels), which is always recomputed whole, so they
stay consistent; merging them across buckets in your own SQL assumes the column's type and the
engine's hash did not change since those buckets were built (else `--full-refresh`). Any other engine has no 64-bit hash headwater knows: a
`method: hll` measure there is a `ConfigError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from headwater.errors import ConfigError, Location

if TYPE_CHECKING:
    from sqlglot import exp

    from headwater.project.definition import Node

RANK_BITS = 6
"""An encoded register is ``index << 6 | rank``."""
LINEAR_COUNTING_MAX = 3.0
"""Linear counting while its estimate is at most this many times the register count."""


def alpha(m: int) -> float:
    """The bias constant alpha_m of the raw estimate."""
    return {16: 0.673, 32: 0.697, 64: 0.709}.get(m, 0.7213 / (1 + 1.079 / m))


def standard_error(precision: int) -> float:
    """The relative standard error of an estimate at ``precision``: 1.04 / sqrt(2^p)."""
    return 1.04 / math.sqrt(1 << precision)


def estimate(registers: Iterable[int], precision: int) -> int:
    """The estimate of a sketch's encoded registers, in Python: what the SQL computes (the
    tests check one against the other)."""
    m, cap = 1 << precision, 64 - precision
    ranks = [e & ((1 << RANK_BITS) - 1) for e in registers]
    zeros = m - len(ranks)
    if zeros >= m * math.exp(-LINEAR_COUNTING_MAX):
        return round(m * math.log(m / zeros))
    powers = float(sum(1 << (cap - r) for r in ranks)) / float(1 << cap)
    return round(alpha(m) * m * m / (zeros + powers))


def merge(*sketches: Iterable[int] | None) -> list[int]:
    """Register-wise max of encoded sketches, in Python (the SQL merge's reference)."""
    best: dict[int, int] = {}
    for sketch in sketches:
        for e in sketch or []:
            i = e >> RANK_BITS
            best[i] = max(best.get(i, e), e)
    return sorted(best.values())


class SketchSQL:
    """An engine's spelling of the two functions the registers need; the rest is shared SQL."""

    dialect = "duckdb"

    def hash63(self, value: exp.Expr) -> exp.Expr:
        """A 63-bit hash of ``value`` as a non-negative BIGINT."""
        from sqlglot import exp

        shifted = exp.BitwiseRightShift(
            this=exp.Anonymous(this="hash", expressions=[value]),
            expression=exp.Literal.number(1),
        )
        return exp.cast(exp.Paren(this=shifted), "BIGINT")

    def bit_count(self, value: exp.Expr) -> exp.Expr:
        """The number of set bits of a BIGINT (all 64 for -1)."""
        from sqlglot import exp

        return exp.Anonymous(this="bit_count", expressions=[value])

    # -- shared ----------------------------------------------------------------------------------
    def register(self, h: exp.Expr, precision: int) -> exp.Expr:
        """The encoded register (``index << 6 | rank``, an INTEGER) of a row's 63-bit hash ``h``
        (a column: it is read several times)."""
        from sqlglot import exp

        def num(n: int) -> exp.Expr:
            return exp.Literal.number(n)

        m, cap = 1 << precision, 64 - precision
        index = exp.Paren(this=exp.BitwiseAnd(this=h.copy(), expression=num(m - 1)))
        w = exp.Paren(this=exp.BitwiseRightShift(this=h.copy(), expression=num(precision)))
        lowest = exp.Paren(this=exp.BitwiseAnd(this=w, expression=exp.Neg(this=w.copy())))
        zeros = self.bit_count(exp.Sub(this=lowest, expression=num(1)))
        rank = exp.func("least", exp.Add(this=zeros, expression=num(1)), num(cap))
        shifted = exp.Paren(this=exp.BitwiseLeftShift(this=index, expression=num(RANK_BITS)))
        return exp.cast(exp.Paren(this=exp.Add(this=shifted, expression=rank)), "INT")

    def estimate(self, e: exp.Expr, precision: int) -> exp.Expr:
        """The estimate (BIGINT) of the register rows ``e`` of a group, as an aggregate."""
        from sqlglot import exp

        m, cap = 1 << precision, 64 - precision

        def dbl(x: float | int | exp.Expr) -> exp.Expr:
            value = x if isinstance(x, exp.Expr) else exp.Literal.number(repr(x))
            return exp.cast(value, "DOUBLE")

        rank = exp.Paren(this=exp.BitwiseAnd(this=e.copy(), expression=exp.Literal.number(63)))
        one = exp.cast(exp.Literal.number(1), "BIGINT")
        power = exp.BitwiseLeftShift(this=one, expression=exp.Paren(this=exp.Sub(this=exp.Literal.number(cap), expression=rank)))  # fmt: skip
        powers = exp.Div(this=dbl(exp.Sum(this=exp.Paren(this=power))), expression=dbl(1 << cap))
        zeros = exp.Paren(this=exp.Sub(this=dbl(m), expression=dbl(exp.Count(this=exp.Star()))))
        raw = exp.Div(
            this=dbl(alpha(m) * m * m),
            expression=exp.Paren(this=exp.Add(this=zeros, expression=powers)),
        )
        linear = exp.Mul(
            this=dbl(m), expression=exp.func("ln", exp.Div(this=dbl(m), expression=zeros.copy()))
        )
        switch = exp.GTE(this=zeros.copy(), expression=dbl(m * math.exp(-LINEAR_COUNTING_MAX)))
        chosen = exp.Case(ifs=[exp.If(this=switch, true=linear)], default=raw)
        return exp.cast(exp.func("round", chosen), "BIGINT")


class PostgresSketchSQL(SketchSQL):
    dialect = "postgres"

    def hash63(self, value: exp.Expr) -> exp.Expr:
        from sqlglot import exp

        hashed = exp.Anonymous(
            this="hashtextextended",
            expressions=[exp.cast(value, "TEXT"), exp.Literal.number(0)],
        )
        mask = exp.cast(exp.Literal.number((1 << 63) - 1), "BIGINT")
        return exp.Paren(this=exp.BitwiseAnd(this=hashed, expression=mask))

    def bit_count(self, value: exp.Expr) -> exp.Expr:
        from sqlglot import exp

        bits = exp.DataType(this=exp.DataType.Type.BIT, expressions=[exp.DataTypeParam(this=exp.Literal.number(64))])  # fmt: skip
        return exp.Anonymous(this="bit_count", expressions=[exp.Cast(this=exp.Paren(this=value), to=bits)])  # fmt: skip


SKETCHES: dict[str, type[SketchSQL]] = {"duckdb": SketchSQL, "postgres": PostgresSketchSQL}


def sketch_sql(dialect: str, node: Node, measure: str) -> SketchSQL:
    """The sketch spelling of an engine's dialect, or a `ConfigError` where there is none."""
    found = SKETCHES.get(dialect)
    if found is None:
        raise ConfigError(
            f"measure `{measure}` of `{node.name}` uses `method: hll`, which headwater cannot build in SQL on {dialect}",
            location=Location(node.path, node.line),
            node=node.name,
            hint="HyperLogLog sketches are built on duckdb and postgres (a 64-bit hash in SQL); "
            "use `method: exact` here",
        )
    return found()
