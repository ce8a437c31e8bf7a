"""Row-level plans: column values, pairs of columns and several columns (GX's map expectations).

Each says which rows it ignores (`missing`) and which considered rows are unexpected
(`unexpected`); `MapPlan` turns that into counts, samples and GX's result.
"""

from __future__ import annotations

from typing import Any

from headwater.engines.base import quote_literal
from headwater.engines.functions import Functions
from headwater.quality.expectations.compiler import (
    DATEUTIL_FORMATS,
    POS,
    PREV,
    EvaluationError,
    MapPlan,
    MetricSQL,
    from_item,
    from_where,
    in_list,
    literal,
    q,
)
from headwater.quality.expectations.results import to_json_value
from headwater.quality.expectations.typenames import base_type


class NotNull(MapPlan):
    def missing(self) -> None:
        return None

    def unexpected(self, m: MetricSQL) -> str:
        return f"{self.x} IS NULL"


class BeNull(NotNull):
    def unexpected(self, m: MetricSQL) -> str:
        return f"{self.x} IS NOT NULL"


class Unique(MapPlan):
    def unexpected(self, m: MetricSQL) -> str:
        dup = f"SELECT {self.x} {from_where(self.t.relation, self.considered())} GROUP BY {self.x} HAVING count(*) > 1"
        return f"{self.x} IN ({dup})"

    def count_unexpected(self, m: MetricSQL) -> str:
        """The rows of duplicated values, summed over the groups: one GROUP BY, no semi-join."""
        groups = f"SELECT count(*) AS n {from_where(self.t.relation, self.considered())} GROUP BY {self.x} HAVING count(*) > 1"
        return f"(SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM ({groups}) AS g)"


class InSet(MapPlan):
    negate = True

    def unexpected(self, m: MetricSQL) -> str:
        test = in_list(
            self.x,
            list(self.kw("value_set")),
            self.t.column_type(self.config.kwargs["column"]),
            self.t.fn,
        )
        return f"NOT ({test})" if self.negate else test


class NotInSet(InSet):
    negate = False


def _bounds(
    expr: str,
    lo: Any,
    hi: Any,
    strict_min: bool,
    strict_max: bool,
    ctype: str | None,
    fn: Functions,
) -> str:
    """SQL that is TRUE when ``expr`` lies outside the bounds."""
    parts = []
    if lo is not None:
        parts.append(f"{expr} {'<=' if strict_min else '<'} {literal(lo, ctype, fn)}")
    if hi is not None:
        parts.append(f"{expr} {'>=' if strict_max else '>'} {literal(hi, ctype, fn)}")
    return " OR ".join(parts) or "false"


class Between(MapPlan):
    def unexpected(self, m: MetricSQL) -> str:
        ctype = self.t.column_type(self.config.kwargs["column"])
        return _bounds(
            self.x,
            self.kw("min_value"),
            self.kw("max_value"),
            bool(self.kw("strict_min")),
            bool(self.kw("strict_max")),
            ctype,
            self.t.fn,
        )


class LengthsBetween(MapPlan):
    column_kind = "text"

    def unexpected(self, m: MetricSQL) -> str:
        return _bounds(
            self.t.fn.length(self.x),
            self.kw("min_value"),
            self.kw("max_value"),
            bool(self.kw("strict_min")),
            bool(self.kw("strict_max")),
            None,
            self.t.fn,
        )


class LengthsEqual(MapPlan):
    column_kind = "text"

    def unexpected(self, m: MetricSQL) -> str:
        return f"{self.t.fn.length(self.x)} <> {int(self.kw('value'))}"


class TextMap(MapPlan):
    """String tests; ENUM/JSON columns are compared through their text."""

    column_kind = "text"

    @property
    def s(self) -> str:
        ctype = self.t.column_type(self.config.kwargs["column"])
        return (
            self.x if ctype is None or base_type(ctype) == "VARCHAR" else self.t.fn.to_text(self.x)
        )

    def regex(self, pattern: str) -> str:
        """An RE2 search (GX's SQL back ends, DuckDB); PostgreSQL reads it translated to an ARE
        of the same meaning (`Functions.regex_literal`)."""
        return self.t.fn.regex_match(self.s, self.t.fn.regex_literal(pattern))

    def like(self, pattern: str) -> str:
        escape = self.kw("escape")
        return self.t.fn.like(
            self.s, quote_literal(pattern), quote_literal(escape) if escape else None
        )

    def combine(self, tests: list[str], how: str) -> str:
        return "(" + (" AND " if how == "all" else " OR ").join(tests) + ")"


class MatchRegex(TextMap):
    def unexpected(self, m: MetricSQL) -> str:
        return f"NOT {self.regex(self.kw('regex'))}"


class NotMatchRegex(TextMap):
    def unexpected(self, m: MetricSQL) -> str:
        return self.regex(self.kw("regex"))


class MatchRegexList(TextMap):
    def unexpected(self, m: MetricSQL) -> str:
        return "NOT " + self.combine(
            [self.regex(r) for r in self.kw("regex_list")], self.kw("match_on")
        )


class NotMatchRegexList(TextMap):
    def unexpected(self, m: MetricSQL) -> str:
        return self.combine([self.regex(r) for r in self.kw("regex_list")], "any")


class MatchLike(TextMap):
    def unexpected(self, m: MetricSQL) -> str:
        return f"NOT {self.like(self.kw('like_pattern'))}"


class NotMatchLike(TextMap):
    def unexpected(self, m: MetricSQL) -> str:
        return self.like(self.kw("like_pattern"))


class MatchLikeList(TextMap):
    def unexpected(self, m: MetricSQL) -> str:
        return "NOT " + self.combine(
            [self.like(p) for p in self.kw("like_pattern_list")], self.kw("match_on")
        )


class NotMatchLikeList(TextMap):
    def unexpected(self, m: MetricSQL) -> str:
        return self.combine([self.like(p) for p in self.kw("like_pattern_list")], "any")


class StrftimeFormat(TextMap):
    def unexpected(self, m: MetricSQL) -> str:
        return f"NOT {self.t.fn.strptime_is_valid(self.s, [self.kw('strftime_format')])}"


class DateutilParseable(TextMap):
    """Approximates dateutil.parser.parse: ISO 8601 casts, then a list of common layouts."""

    def unexpected(self, m: MetricSQL) -> str:
        text = f"trim({self.s})"
        fn = self.t.fn
        return f"({fn.safe_timestamp(text)} IS NULL AND NOT {fn.strptime_is_valid(text, list(DATEUTIL_FORMATS))})"


class JsonParseable(TextMap):
    def unexpected(self, m: MetricSQL) -> str:
        return f"NOT {self.t.fn.json_valid(self.s)}"


class WindowPlan(MapPlan):
    """Increasing/decreasing: each non-null value against the previous non-null one, in the
    relation's natural order (see `Target.position`)."""

    def comparison(self) -> str:
        strictly = bool(self.kw("strictly"))
        if self.config.type.endswith("increasing"):
            return "<=" if strictly else "<"
        return ">=" if strictly else ">"

    def windowed(self, position: str) -> str:
        relation = f"(SELECT *, {position} AS {POS} FROM {from_item(self.t.relation)})"
        return (
            f"(SELECT *, lag({self.x}) OVER (ORDER BY {POS}) AS {PREV} "
            f"{from_where(relation, self.considered())})"
        )

    def unexpected(self, m: MetricSQL) -> str:  # pragma: no cover - sources are overridden
        raise AssertionError

    def source(self, m: MetricSQL, positioned: bool) -> tuple[str, str, list[str]]:
        return self.windowed(self.t.position()), f"{self.x} {self.comparison()} {PREV}", [POS, PREV]

    def count_unexpected(self, m: MetricSQL) -> str:
        relation, predicate, _ = self.source(m, True)
        return f"(SELECT count(*) FROM {from_item(relation)} WHERE {predicate})"

    def row_predicate(self) -> str:
        row_id = self.t.fn.row_id()
        relation = self.windowed(row_id)
        return f"{row_id} IN (SELECT {POS} FROM {from_item(relation)} WHERE {self.x} {self.comparison()} {PREV})"


class ZScores(MapPlan):
    column_kind = "numeric"
    phase2_names = ("mean", "std")

    def prerequisites(self) -> dict[str, str]:
        return {"mean": f"avg({self.x})", "std": self.t.fn.stddev_samp(self.x)}

    def phase2(self, values: dict[str, Any]) -> dict[str, str]:
        if values["std"] is None:
            self.fixed_unexpected = 0  # fewer than two values: no spread, nothing is an outlier
        elif values["std"] == 0:
            raise EvaluationError(
                "the column's standard deviation is 0, so its z-scores are undefined"
            )
        return super().phase2(values)

    def unexpected(self, m: MetricSQL) -> str:
        z = f"(({self.x} - {m('mean')}) / {m('std')})"
        threshold = literal(float(self.kw("threshold")), fn=self.t.fn)
        return f"abs{z} >= {threshold}" if self.kw("double_sided") else f"{z} >= {threshold}"


class Outliers(MapPlan):
    column_kind = "numeric"

    @property
    def phase2_names(self) -> tuple[str, ...]:  # type: ignore[override]  # MapPlan: attribute
        return ("q1", "q3") if self.kw("method") == "iqr" else ("mean", "std")

    def prerequisites(self) -> dict[str, str]:
        fn = self.t.fn
        if self.kw("method") == "iqr":
            return {"q1": fn.quantile_cont(self.x, 0.25), "q3": fn.quantile_cont(self.x, 0.75)}
        return {"mean": f"avg({self.x})", "std": fn.stddev_samp(self.x)}

    def phase2(self, values: dict[str, Any]) -> dict[str, str]:
        if any(values[n] is None for n in self.phase2_names):
            self.fixed_unexpected = 0
        return super().phase2(values)

    def unexpected(self, m: MetricSQL) -> str:
        k = literal(float(self.kw("multiplier")), fn=self.t.fn)
        if self.kw("method") == "iqr":
            spread = f"({m('q3')} - {m('q1')})"
            return (
                f"({self.x} < {m('q1')} - {k} * {spread} OR {self.x} > {m('q3')} + {k} * {spread})"
            )
        return f"({self.x} < {m('mean')} - {k} * {m('std')} OR {self.x} > {m('mean')} + {k} * {m('std')})"


class PairPlan(MapPlan):
    @property
    def a(self) -> str:
        return q(self.config.kwargs["column_A"])

    @property
    def b(self) -> str:
        return q(self.config.kwargs["column_B"])

    def check(self) -> None:
        self.need_column(self.config.kwargs["column_A"])
        self.need_column(self.config.kwargs["column_B"])

    def missing(self) -> str:
        how = self.kw("ignore_row_if")
        if how == "both_values_are_missing":
            return f"{self.a} IS NULL AND {self.b} IS NULL"
        if how == "either_value_is_missing":
            return f"{self.a} IS NULL OR {self.b} IS NULL"
        return "false"

    def value_exprs(self) -> list[str]:
        return [self.a, self.b]

    def shape(self, row: tuple[Any, ...]) -> Any:
        return [to_json_value(v) for v in row]


class PairGreater(PairPlan):
    def unexpected(self, m: MetricSQL) -> str:
        op = ">=" if self.kw("or_equal") else ">"
        return f"NOT coalesce({self.a} {op} {self.b}, false)"


class PairEqual(PairPlan):
    def unexpected(self, m: MetricSQL) -> str:
        return f"NOT coalesce({self.a} = {self.b}, false)"


class PairInSet(PairPlan):
    def unexpected(self, m: MetricSQL) -> str:
        ta = self.t.column_type(self.config.kwargs["column_A"])
        tb = self.t.column_type(self.config.kwargs["column_B"])

        def eq(expr: str, value: Any, ctype: str | None) -> str:
            return (
                f"{expr} IS NULL"
                if value is None
                else f"{expr} = {literal(value, ctype, self.t.fn)}"
            )

        pairs = [
            f"({eq(self.a, va, ta)} AND {eq(self.b, vb, tb)})"
            for va, vb in self.kw("value_pairs_set")
        ]
        return f"NOT coalesce({' OR '.join(pairs) or 'false'}, false)"


class MultiPlan(MapPlan):
    @property
    def cols(self) -> list[str]:
        return [q(c) for c in self.config.kwargs["column_list"]]

    def check(self) -> None:
        for name in self.config.kwargs["column_list"]:
            self.need_column(name, self.column_kind)

    def missing(self) -> str:
        how = self.kw("ignore_row_if")
        if how == "never":
            return "false"
        joiner = " AND " if how == "all_values_are_missing" else " OR "
        return joiner.join(f"{c} IS NULL" for c in self.cols)

    def value_exprs(self) -> list[str]:
        return self.cols

    def shape(self, row: tuple[Any, ...]) -> Any:
        return {
            n: to_json_value(v) for n, v in zip(self.config.kwargs["column_list"], row, strict=True)
        }


class CompoundUnique(MultiPlan):
    def unexpected(self, m: MetricSQL) -> str:
        """Rows whose value tuple occurs more than once, nulls grouped together (GROUP BY):
        DuckDB compares struct values (nulls equal); elsewhere each key column of a duplicated
        group is matched with IS NOT DISTINCT FROM."""
        cols = ", ".join(self.cols)
        source = from_where(self.t.relation, self.considered())
        if self.t.fn.SUPPORTS_STRUCTS:
            dup = f"SELECT row({cols}) {source} GROUP BY {cols} HAVING count(*) > 1"
            return f"row({cols}) IN ({dup})"
        keys = ", ".join(f"{c} AS __hw_k{i}" for i, c in enumerate(self.cols))
        same = " AND ".join(
            f"d.__hw_k{i} IS NOT DISTINCT FROM {c}" for i, c in enumerate(self.cols)
        )
        dup = f"SELECT {keys} {source} GROUP BY {cols} HAVING count(*) > 1"
        return f"EXISTS (SELECT 1 FROM ({dup}) AS d WHERE {same})"


class UniqueWithinRecord(MultiPlan):
    def unexpected(self, m: MetricSQL) -> str:
        cols = self.cols
        pairs = [f"{a} IS NOT DISTINCT FROM {b}" for i, a in enumerate(cols) for b in cols[i + 1 :]]
        return "(" + (" OR ".join(pairs) or "false") + ")"


class MulticolumnSum(MultiPlan):
    column_kind = "numeric"

    def unexpected(self, m: MetricSQL) -> str:
        total = " + ".join(f"coalesce({c}, 0)" for c in self.cols)
        return f"({total}) <> {literal(self.kw('sum_total'), fn=self.t.fn)}"
