"""Compile expectations to SQL: one `Plan` per expectation.

A plan says which aggregate expressions it needs in the shared scan (`metrics`), which it needs
in the second scan once those are known (`phase2`, for z-scores and outliers), and how to turn
the values into a GX result (`result`), fetching samples of unexpected rows only when there are
some. Row-level plans also give the predicate that is TRUE for exactly the rows GX counts as
unexpected (`row_predicate`), so the scan, the samples and quarantine agree by construction.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from headwater.engines.base import quote_identifier, quote_literal
from headwater.errors import ConfigError, did_you_mean
from headwater.quality.expectations.conditions import translate_condition
from headwater.quality.expectations.config import ExpectationConfig
from headwater.quality.expectations.results import ExpectationResult, to_json_value
from headwater.quality.expectations.typenames import base_type, is_numeric, is_text, type_matches

POS = "__hw_pos"
PREV = "__hw_prev"
MAX_RESULT_RECORDS = 200  # GX's cap on fetched unexpected values, even in COMPLETE
MAX_DISTINCT_VALUES = 20  # distinct values reported by distinct-set expectations
DEFAULT_PARTIAL_COUNT = 20
LEVELS = ("BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE")

Execute = Callable[[str], tuple[list[str], list[tuple]]]
MetricSQL = Callable[[str], str]  # metric name -> SQL (a literal, or a scalar subquery)

# Formats DuckDB tries for `expect_column_values_to_be_dateutil_parseable`, besides ISO 8601 casts.
DATEUTIL_FORMATS = (
    "%m/%d/%Y", "%m/%d/%y", "%d/%m/%Y", "%Y/%m/%d", "%Y%m%d", "%d.%m.%Y", "%Y.%m.%d",
    "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p",
    "%b %d %Y", "%b %d, %Y", "%B %d %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%a %b %d %Y",
    "%a, %d %b %Y %H:%M:%S %z", "%a, %d %b %Y %H:%M:%S", "%a %b %d %H:%M:%S %Y",
    "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M",
    "%b %Y", "%B %Y", "%Y-%m", "%Y", "%H:%M", "%H:%M:%S", "%I:%M %p", "%d-%b-%Y", "%d-%b-%y",
)  # fmt: skip


class EvaluationError(Exception):
    """The expectation cannot be evaluated on this data (bad column, unsupported type...)."""


# -- SQL helpers ----------------------------------------------------------------------------------


def q(name: str) -> str:
    return quote_identifier(name)


def where(*parts: str | None) -> str | None:
    present = [p for p in parts if p]
    if not present:
        return None
    return " AND ".join(f"({p})" for p in present)


def count_where(predicate: str | None) -> str:
    return f"count(*) FILTER (WHERE {predicate})" if predicate else "count(*)"


def filtered(aggregate: str, predicate: str | None) -> str:
    return f"{aggregate} FILTER (WHERE {predicate})" if predicate else aggregate


def from_where(relation: str, predicate: str | None) -> str:
    return f"FROM {relation}" + (f" WHERE {predicate}" if predicate else "")


def literal(value: Any, column_type: str | None = None) -> str:
    """A SQL literal for a user value; on a text column every value is compared as text."""
    if value is None:
        return "NULL"
    if column_type is not None and is_text(column_type) and not isinstance(value, str):
        return quote_literal(str(value).lower() if isinstance(value, bool) else str(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "'NaN'::DOUBLE"
        if math.isinf(value):
            return "'Infinity'::DOUBLE" if value > 0 else "'-Infinity'::DOUBLE"
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return quote_literal(value.isoformat())
    return quote_literal(str(value))


def in_list(expr: str, values: list[Any], column_type: str | None) -> str:
    """``expr IN (...)`` over the non-null values (nulls are never in a GX value set match)."""
    items = [literal(v, column_type) for v in values if v is not None]
    return f"{expr} IN ({', '.join(items)})" if items else "false"


def metric_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    return literal(float(value) if isinstance(value, Decimal) else value)


def mostly_success(considered: int, unexpected: int, mostly: Any) -> bool:
    """GX: the fraction of considered rows that are expected must be >= mostly.

    Python's int/int division is correctly rounded, so a ratio that equals the user's decimal
    (9/10 vs 0.9) or whose nearest float is the user's value (10/11 vs 0.9090909090909091)
    compares equal: the edge passes, as it should.
    """
    if considered == 0:
        return True
    return (considered - unexpected) / considered >= float(mostly)


def _comparable(observed: Any, bound: Any) -> tuple[Any, Any]:
    if isinstance(observed, Decimal):
        observed = float(observed)
    if isinstance(bound, str):
        if isinstance(observed, dt.datetime):
            parsed = dt.datetime.fromisoformat(bound)
            if observed.tzinfo is not None and parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=observed.tzinfo)
            return observed, parsed
        if isinstance(observed, dt.date):
            return observed, dt.date.fromisoformat(bound[:10]) if len(
                bound
            ) > 10 else dt.date.fromisoformat(bound)
        if isinstance(observed, int | float):
            return observed, float(bound)
    return observed, bound


def between(observed: Any, lo: Any, hi: Any, strict_min: bool, strict_max: bool) -> bool:
    """GX's between check; a missing observed value (empty input) is a failure, as in GX."""
    if observed is None:
        return False
    try:
        if lo is not None:
            value, low = _comparable(observed, lo)
            if value < low or (strict_min and value == low):
                return False
        if hi is not None:
            value, high = _comparable(observed, hi)
            if value > high or (strict_max and value == high):
                return False
    except (TypeError, ValueError) as exc:
        raise EvaluationError(
            f"cannot compare the observed value {observed!r} with the bounds: {exc}"
        ) from None
    return True


# -- result format --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultFormat:
    level: str = "BASIC"
    partial_count: int = DEFAULT_PARTIAL_COUNT
    index_columns: tuple[str, ...] = ()
    include_rows: bool = False
    exclude_values: bool = False
    return_query: bool = True

    @classmethod
    def parse(cls, value: Any) -> ResultFormat:
        if value is None:
            return cls()
        if isinstance(value, str):
            return cls(level=value.upper())
        if isinstance(value, dict):
            return cls(
                level=str(value.get("result_format", "BASIC")).upper(),
                partial_count=int(value.get("partial_unexpected_count", DEFAULT_PARTIAL_COUNT)),
                index_columns=tuple(value.get("unexpected_index_column_names") or ()),
                include_rows=bool(value.get("include_unexpected_rows", False)),
                exclude_values=bool(value.get("exclude_unexpected_values", False)),
                return_query=bool(value.get("return_unexpected_index_query", True)),
            )
        raise ConfigError(
            f"invalid result_format {value!r}", hint="use BOOLEAN_ONLY, BASIC, SUMMARY or COMPLETE"
        )

    def at_least(self, level: str) -> bool:
        return LEVELS.index(self.level) >= LEVELS.index(level)


# -- the relation being validated -----------------------------------------------------------------


class Target:
    """The relation under validation: its SQL, its columns, and how to number its rows."""

    def __init__(
        self,
        relation: str,
        columns: list[tuple[str, str]] | None,
        execute: Execute | None = None,
        resolve_table: Callable[[str], str] | None = None,
    ) -> None:
        self.relation = relation
        self.known = columns is not None
        self.columns: dict[str, str] = dict(columns or [])
        self.execute = execute
        self.resolve_table = resolve_table
        self._position: str | None = None if execute else "rowid"

    def column_type(self, name: str) -> str | None:
        return self.columns.get(name)

    def position(self) -> str:
        """``rowid`` for DuckDB tables (insertion order), else ``row_number() OVER ()`` on the source
        (the order DuckDB reads it in, which is file order with ``preserve_insertion_order``)."""
        if self._position is None:
            self._position = "row_number() OVER () - 1"
            if not self.relation.lstrip().startswith("(") and "rowid" not in {
                c.lower() for c in self.columns
            }:
                try:
                    assert self.execute is not None
                    self.execute(f"SELECT rowid FROM {self.relation} LIMIT 0")
                    self._position = "rowid"
                except Exception:
                    pass
        return self._position

    def positioned(self) -> str:
        return f"(SELECT *, {self.position()} AS {POS} FROM {self.relation})"

    def other_table(self, name: str) -> str:
        if self.resolve_table is not None:
            return self.resolve_table(name)
        return ".".join(q(part) for part in name.split("."))


# -- plans ----------------------------------------------------------------------------------------


class Plan:
    """Base: column checks and the translated row condition."""

    def __init__(self, config: ExpectationConfig, target: Target) -> None:
        self.config = config
        self.t = target
        self.kw = config.get
        condition = config.kwargs.get("row_condition")
        self.cond = (
            translate_condition(condition, config.kwargs.get("condition_parser"))
            if condition
            else None
        )

    # what a subclass declares
    def check(self) -> None:
        """Raise `EvaluationError` when the expectation cannot run on these columns."""

    def metrics(self) -> dict[str, str]:
        return {}

    def phase2(self, values: dict[str, Any]) -> dict[str, str]:
        return {}

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        raise NotImplementedError

    # helpers
    def need_column(self, name: str, kind: str | None = None) -> str:
        if self.t.known and name not in self.t.columns:
            raise EvaluationError(
                f"column `{name}` does not exist"
                + did_you_mean(name, self.t.columns)
                + f"; columns: {', '.join(self.t.columns) or '(none)'}"
            )
        ctype = self.t.columns.get(name)
        if ctype is not None and kind == "numeric" and not is_numeric(ctype):
            raise EvaluationError(f"{self.config.type} needs a numeric column; `{name}` is {ctype}")
        if ctype is not None and kind == "text" and not is_text(ctype):
            raise EvaluationError(
                f"{self.config.type} needs a text column; `{name}` is {ctype} "
                "(cast it in a model, or use a type-appropriate expectation)"
            )
        return q(name)

    def done(
        self, success: bool, result: dict[str, Any], rf: ResultFormat, **counts: Any
    ) -> ExpectationResult:
        return ExpectationResult(
            config=self.config,
            success=success,
            result={} if rf.level == "BOOLEAN_ONLY" else result,
            outcome="pass" if success else "fail",
            unexpected_count=counts.get("unexpected"),
            element_count=counts.get("element"),
        )


class MapPlan(Plan):
    """Row-level expectations: element, missing and unexpected counts, samples of bad rows."""

    phase2_names: tuple[str, ...] = ()  # metrics this plan needs before it can count

    def __init__(self, config: ExpectationConfig, target: Target) -> None:
        super().__init__(config, target)
        self.fixed_unexpected: int | None = None

    # -- per-type pieces
    def missing(self) -> str | None:
        """Rows GX ignores (null in the column); None when nulls are what is tested."""
        return f"{self.x} IS NULL"

    def unexpected(self, m: MetricSQL) -> str:
        raise NotImplementedError

    def value_exprs(self) -> list[str]:
        return [self.x]

    def shape(self, row: tuple) -> Any:
        return to_json_value(row[0])

    def prerequisites(self) -> dict[str, str]:
        """Aggregates over the considered rows that `unexpected` needs (phase 1 → phase 2)."""
        return {}

    @property
    def x(self) -> str:
        return q(self.config.kwargs["column"])

    def check(self) -> None:
        self.need_column(self.config.kwargs["column"], self.column_kind)

    column_kind: str | None = None

    # -- derived
    def considered(self) -> str | None:
        missing = self.missing()
        return where(self.cond, f"NOT ({missing})" if missing else None)

    def subquery_metric(self, name: str) -> str:
        return f"(SELECT {self.prerequisites()[name]} {from_where(self.t.relation, self.considered())})"

    def source(self, m: MetricSQL, positioned: bool) -> tuple[str, str, list[str]]:
        """(FROM, WHERE, helper columns) selecting the unexpected rows."""
        relation = self.t.positioned() if positioned else self.t.relation
        helpers = [POS] if positioned else []
        return relation, where(self.considered(), self.unexpected(m)) or "true", helpers

    def row_predicate(self) -> str:
        return where(self.considered(), self.unexpected(self.subquery_metric)) or "true"

    def metrics(self) -> dict[str, str]:
        out = {"element": count_where(self.cond)}
        missing = self.missing()
        if missing:
            out["missing"] = count_where(where(self.cond, missing))
        if self.phase2_names:
            for name, aggregate in self.prerequisites().items():
                out[name] = filtered(aggregate, self.considered())
        else:
            out["unexpected"] = self.count_unexpected(self.subquery_metric)
        return out

    def count_unexpected(self, m: MetricSQL) -> str:
        return count_where(where(self.considered(), self.unexpected(m)))

    def literal_metrics(self, values: dict[str, Any]) -> MetricSQL:
        return lambda name: metric_literal(values[name])

    def phase2(self, values: dict[str, Any]) -> dict[str, str]:
        if not self.phase2_names or self.fixed_unexpected is not None:
            return {}
        return {"unexpected": self.count_unexpected(self.literal_metrics(values))}

    # -- result
    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        element = int(values["element"])
        has_missing = self.missing() is not None
        missing = int(values.get("missing") or 0) if has_missing else 0
        unexpected = (
            self.fixed_unexpected
            if self.fixed_unexpected is not None
            else int(values["unexpected"])
        )
        considered = element - missing
        success = mostly_success(considered, unexpected, self.kw("mostly"))
        result: dict[str, Any] = {}
        if rf.level != "BOOLEAN_ONLY":
            result = {"element_count": element, "unexpected_count": unexpected}
            total = unexpected / element * 100 if element else None
            nonmissing = unexpected / considered * 100 if considered else None
            result["unexpected_percent"] = nonmissing if has_missing else total
            result["partial_unexpected_list"] = []
            if has_missing:
                result["missing_count"] = missing
                result["missing_percent"] = missing / element * 100 if element else None
                result["unexpected_percent_total"] = total
                result["unexpected_percent_nonmissing"] = nonmissing
            if unexpected:
                self.samples(result, values, rf)
            else:
                self.empty_samples(result, values, rf)
        return self.done(success, result, rf, unexpected=unexpected, element=element)

    def empty_samples(
        self, result: dict[str, Any], values: dict[str, Any], rf: ResultFormat
    ) -> None:
        if rf.at_least("SUMMARY"):
            result["partial_unexpected_counts"] = []
            result["partial_unexpected_index_list"] = []
        if rf.at_least("COMPLETE"):
            result["unexpected_list"] = []
            result["unexpected_index_list"] = []
            if rf.return_query:
                result["unexpected_index_query"] = self.index_query(values)
        if rf.include_rows:
            result["unexpected_rows"] = []
        if rf.exclude_values:
            result.pop("partial_unexpected_list", None)
            result.pop("unexpected_list", None)

    def index_query(self, values: dict[str, Any]) -> str:
        m = self.literal_metrics(values) if self.phase2_names else self.subquery_metric
        relation, predicate, helpers = self.source(m, positioned=isinstance(self, WindowPlan))
        select = f"* EXCLUDE ({', '.join(helpers)})" if helpers else "*"
        return f"SELECT {select} FROM {relation} WHERE {predicate}"

    def samples(self, result: dict[str, Any], values: dict[str, Any], rf: ResultFormat) -> None:
        assert self.t.execute is not None
        execute = self.t.execute
        m = self.literal_metrics(values) if self.phase2_names else self.subquery_metric
        positioned = (
            rf.at_least("SUMMARY") or bool(rf.index_columns) or isinstance(self, WindowPlan)
        )
        relation, predicate, helpers = self.source(m, positioned)
        limit = MAX_RESULT_RECORDS if rf.at_least("COMPLETE") else rf.partial_count
        exprs = self.value_exprs()
        index_cols = [q(c) for c in rf.index_columns]
        for name in rf.index_columns:
            self.need_column(name)
        select = ([POS] if positioned else []) + exprs + index_cols
        order = f" ORDER BY {POS}" if positioned else ""
        _, rows = execute(
            f"SELECT {', '.join(select)} FROM {relation} WHERE {predicate}{order} LIMIT {limit}"
        )
        offset = 1 if positioned else 0
        found = [self.shape(row[offset : offset + len(exprs)]) for row in rows]
        if rf.index_columns:
            tested = list(self.config.kwargs.get("column_list") or []) or [
                self.config.kwargs[k]
                for k in ("column", "column_A", "column_B")
                if k in self.config.kwargs
            ]
            indexes: list[Any] = []
            for row, value in zip(rows, found, strict=True):
                entry = {
                    n: to_json_value(v)
                    for n, v in zip(rf.index_columns, row[offset + len(exprs) :], strict=True)
                }
                if len(tested) == 1:
                    entry.setdefault(tested[0], value)
                indexes.append(entry)
        else:
            indexes = [int(row[0]) for row in rows] if positioned else []
        result["partial_unexpected_list"] = found[: rf.partial_count]
        if rf.at_least("SUMMARY"):
            result["partial_unexpected_counts"] = self.value_counts(
                relation, predicate, rf.partial_count
            )
            result["partial_unexpected_index_list"] = indexes[: rf.partial_count]
        if rf.at_least("COMPLETE"):
            result["unexpected_list"] = found
            result["unexpected_index_list"] = indexes
            if rf.return_query:
                result["unexpected_index_query"] = self.index_query(values)
        if rf.include_rows:
            select = f"* EXCLUDE ({', '.join(helpers)})" if helpers else "*"
            names, rows = execute(
                f"SELECT {select} FROM {relation} WHERE {predicate}{order} LIMIT {limit}"
            )
            result["unexpected_rows"] = [
                dict(zip(names, map(to_json_value, r), strict=True)) for r in rows
            ]
        if rf.exclude_values:
            result.pop("partial_unexpected_list", None)
            result.pop("unexpected_list", None)

    def value_counts(self, relation: str, predicate: str, limit: int) -> list[dict[str, Any]]:
        assert self.t.execute is not None
        exprs = self.value_exprs()
        keys = ", ".join(f"{e} AS v{i}" for i, e in enumerate(exprs))
        order = ", ".join(f"v{i} NULLS FIRST" for i in range(len(exprs)))
        _, rows = self.t.execute(
            f"SELECT {keys}, count(*) AS {POS}_n FROM {relation} WHERE {predicate} "
            f"GROUP BY ALL ORDER BY {POS}_n DESC, {order} LIMIT {limit}"
        )
        return [{"value": self.shape(row[:-1]), "count": int(row[-1])} for row in rows]


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


class InSet(MapPlan):
    negate = True

    def unexpected(self, m: MetricSQL) -> str:
        test = in_list(
            self.x, list(self.kw("value_set")), self.t.column_type(self.config.kwargs["column"])
        )
        return f"NOT ({test})" if self.negate else test


class NotInSet(InSet):
    negate = False


def _bounds(
    expr: str, lo: Any, hi: Any, strict_min: bool, strict_max: bool, ctype: str | None
) -> str:
    """SQL that is TRUE when ``expr`` lies outside the bounds."""
    parts = []
    if lo is not None:
        parts.append(f"{expr} {'<=' if strict_min else '<'} {literal(lo, ctype)}")
    if hi is not None:
        parts.append(f"{expr} {'>=' if strict_max else '>'} {literal(hi, ctype)}")
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
        )


class LengthsBetween(MapPlan):
    column_kind = "text"

    def unexpected(self, m: MetricSQL) -> str:
        return _bounds(
            f"length({self.x})",
            self.kw("min_value"),
            self.kw("max_value"),
            bool(self.kw("strict_min")),
            bool(self.kw("strict_max")),
            None,
        )


class LengthsEqual(MapPlan):
    column_kind = "text"

    def unexpected(self, m: MetricSQL) -> str:
        return f"length({self.x}) <> {int(self.kw('value'))}"


class TextMap(MapPlan):
    """String tests; ENUM/JSON columns are compared through their text."""

    column_kind = "text"

    @property
    def s(self) -> str:
        ctype = self.t.column_type(self.config.kwargs["column"])
        return (
            self.x
            if ctype is None or base_type(ctype) == "VARCHAR"
            else f"CAST({self.x} AS VARCHAR)"
        )

    def regex(self, pattern: str) -> str:
        return f"regexp_matches({self.s}, {quote_literal(pattern)})"

    def like(self, pattern: str) -> str:
        escape = self.kw("escape")
        return f"({self.s} LIKE {quote_literal(pattern)}" + (
            f" ESCAPE {quote_literal(escape)})" if escape else ")"
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
        return f"try_strptime({self.s}, {quote_literal(self.kw('strftime_format'))}) IS NULL"


class DateutilParseable(TextMap):
    """Approximates dateutil.parser.parse: ISO 8601 casts, then a list of common layouts."""

    def unexpected(self, m: MetricSQL) -> str:
        text = f"trim({self.s})"
        formats = "[" + ", ".join(quote_literal(f) for f in DATEUTIL_FORMATS) + "]"
        return (
            f"(try_cast({text} AS TIMESTAMP) IS NULL AND try_cast({text} AS TIMESTAMPTZ) IS NULL "
            f"AND try_strptime({text}, {formats}) IS NULL)"
        )


class JsonParseable(TextMap):
    def unexpected(self, m: MetricSQL) -> str:
        return f"NOT json_valid({self.s})"


class WindowPlan(MapPlan):
    """Increasing/decreasing: each non-null value against the previous non-null one, in the
    relation's natural order (see `Target.position`)."""

    def comparison(self) -> str:
        strictly = bool(self.kw("strictly"))
        if self.config.type.endswith("increasing"):
            return "<=" if strictly else "<"
        return ">=" if strictly else ">"

    def windowed(self, position: str) -> str:
        relation = f"(SELECT *, {position} AS {POS} FROM {self.t.relation})"
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
        return f"(SELECT count(*) FROM {relation} WHERE {predicate})"

    def row_predicate(self) -> str:
        relation = self.windowed("rowid")
        return f"rowid IN (SELECT {POS} FROM {relation} WHERE {self.x} {self.comparison()} {PREV})"


class ZScores(MapPlan):
    column_kind = "numeric"
    phase2_names = ("mean", "std")

    def prerequisites(self) -> dict[str, str]:
        return {"mean": f"avg({self.x})", "std": f"stddev_samp({self.x})"}

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
        threshold = literal(float(self.kw("threshold")))
        return f"abs{z} >= {threshold}" if self.kw("double_sided") else f"{z} >= {threshold}"


class Outliers(MapPlan):
    column_kind = "numeric"

    @property
    def phase2_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("q1", "q3") if self.kw("method") == "iqr" else ("mean", "std")

    def prerequisites(self) -> dict[str, str]:
        if self.kw("method") == "iqr":
            return {"q1": f"quantile_cont({self.x}, 0.25)", "q3": f"quantile_cont({self.x}, 0.75)"}
        return {"mean": f"avg({self.x})", "std": f"stddev_samp({self.x})"}

    def phase2(self, values: dict[str, Any]) -> dict[str, str]:
        if any(values[n] is None for n in self.phase2_names):
            self.fixed_unexpected = 0
        return super().phase2(values)

    def unexpected(self, m: MetricSQL) -> str:
        k = literal(float(self.kw("multiplier")))
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

    def shape(self, row: tuple) -> Any:
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
            return f"{expr} IS NULL" if value is None else f"{expr} = {literal(value, ctype)}"

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

    def shape(self, row: tuple) -> Any:
        return {
            n: to_json_value(v) for n, v in zip(self.config.kwargs["column_list"], row, strict=True)
        }


class CompoundUnique(MultiPlan):
    def unexpected(self, m: MetricSQL) -> str:
        cols = ", ".join(self.cols)
        dup = f"SELECT row({cols}) {from_where(self.t.relation, self.considered())} GROUP BY {cols} HAVING count(*) > 1"
        return f"row({cols}) IN ({dup})"


class UniqueWithinRecord(MultiPlan):
    def unexpected(self, m: MetricSQL) -> str:
        cols = self.cols
        pairs = [f"{a} IS NOT DISTINCT FROM {b}" for i, a in enumerate(cols) for b in cols[i + 1 :]]
        return "(" + (" OR ".join(pairs) or "false") + ")"


class MulticolumnSum(MultiPlan):
    column_kind = "numeric"

    def unexpected(self, m: MetricSQL) -> str:
        total = " + ".join(f"coalesce({c}, 0)" for c in self.cols)
        return f"({total}) <> {literal(self.kw('sum_total'))}"


class ColumnTypePlan(Plan):
    """Type expectations look at the column's declared type, as GX does on SQL back ends."""

    def check(self) -> None:
        self.need_column(self.config.kwargs["column"])

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        name = self.config.kwargs["column"]
        ctype = self.t.columns[name]
        if self.config.type == "expect_column_values_to_be_in_type_list":
            wanted = self.kw("type_list")
            success = wanted is None or any(type_matches(w, ctype) for w in wanted)
        else:
            success = type_matches(self.kw("type_"), ctype)
        return self.done(success, {"observed_value": ctype}, rf)


class AggregatePlan(Plan):
    """One observed value from the scan, checked against min_value/max_value."""

    STATS = {"min": "min({})", "max": "max({})", "mean": "avg({})", "median": "median({})",
             "sum": "sum({})", "stdev": "stddev_samp({})"}  # fmt: skip
    NUMERIC = ("mean", "sum", "stdev")

    @property
    def stat(self) -> str:
        return self.config.type.removeprefix("expect_column_").removesuffix("_to_be_between")

    @property
    def x(self) -> str:
        return q(self.config.kwargs["column"])

    def check(self) -> None:
        self.need_column(
            self.config.kwargs["column"], "numeric" if self.stat in self.NUMERIC else None
        )

    def metrics(self) -> dict[str, str]:
        x = self.x
        if self.stat in self.STATS:
            return {"observed": filtered(self.STATS[self.stat].format(x), self.cond)}
        if self.stat == "unique_value_count":
            return {"observed": filtered(f"count(DISTINCT {x})", self.cond)}
        if self.stat == "proportion_of_unique_values":
            return {
                "distinct": filtered(f"count(DISTINCT {x})", self.cond),
                "nonnull": filtered(f"count({x})", self.cond),
            }
        return {"nonnull": filtered(f"count({x})", self.cond), "element": count_where(self.cond)}

    def observed(self, values: dict[str, Any]) -> Any:
        if self.stat == "proportion_of_unique_values":
            return values["distinct"] / values["nonnull"] if values["nonnull"] else 0.0
        if self.stat == "proportion_of_non_null_values":
            return values["nonnull"] / values["element"] if values["element"] else None
        return values["observed"]

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        observed = self.observed(values)
        success = between(
            observed,
            self.kw("min_value"),
            self.kw("max_value"),
            bool(self.kw("strict_min")),
            bool(self.kw("strict_max")),
        )
        return self.done(success, {"observed_value": to_json_value(observed)}, rf)


class QuantilePlan(AggregatePlan):
    def metrics(self) -> dict[str, str]:
        quantiles = ", ".join(literal(float(v)) for v in self.kw("quantile_ranges")["quantiles"])
        return {"values": filtered(f"quantile_disc({self.x}, [{quantiles}])", self.cond)}

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        ranges = self.kw("quantile_ranges")
        observed = values["values"] or [None] * len(ranges["quantiles"])
        details = [
            between(v, lo, hi, False, False)
            for v, (lo, hi) in zip(observed, ranges["value_ranges"], strict=True)
        ]
        result = {
            "observed_value": {
                "quantiles": list(ranges["quantiles"]),
                "values": to_json_value(observed),
            },
            "details": {"success_details": details},
        }
        return self.done(all(details), result, rf)


class DistinctSetPlan(AggregatePlan):
    """distinct values in / contain / equal a set; the verdict is computed in SQL, only the
    report of observed values is capped at MAX_DISTINCT_VALUES."""

    def metrics(self) -> dict[str, str]:
        x, ctype = self.x, self.t.column_type(self.config.kwargs["column"])
        values = list(self.kw("value_set"))
        nonnull = where(self.cond, f"{x} IS NOT NULL")
        out = {
            "counts": (
                f"(SELECT list({{'value': v, 'count': n}} ORDER BY v) FROM (SELECT {x} AS v, count(*) AS n "
                f"{from_where(self.t.relation, nonnull)} GROUP BY {x} ORDER BY {x} LIMIT {MAX_DISTINCT_VALUES}))"
            ),
            "n_distinct": filtered(f"count(DISTINCT {x})", self.cond),
        }
        if not self.config.type.endswith("contain_set"):
            out["outside"] = filtered(
                f"count(DISTINCT {x})", where(nonnull, f"NOT ({in_list(x, values, ctype)})")
            )
        if not self.config.type.endswith("be_in_set"):
            items = [v for v in values if v is not None]
            if items:
                cast = "VARCHAR" if ctype is None or base_type(ctype) == "ENUM" else ctype
                lits = ", ".join(f"CAST({literal(v, ctype)} AS {cast})" for v in items)
                out["absent"] = (
                    f"(SELECT list(DISTINCT s.v ORDER BY s.v) FROM (SELECT unnest([{lits}]) AS v) AS s "
                    f"WHERE s.v NOT IN (SELECT {x} {from_where(self.t.relation, nonnull)}))"
                )
        return out

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        counts = [
            {"value": to_json_value(c["value"]), "count": int(c["count"])}
            for c in values["counts"] or []
        ]
        absent = values.get("absent") or []
        success = not values.get("outside") and not absent
        details: dict[str, Any] = {"value_counts": counts}
        if values["n_distinct"] > len(counts):
            details["value_counts_truncated"] = True
        if values.get("outside"):
            details["unexpected_distinct_count"] = int(values["outside"])
        if absent:
            details["missing_values"] = to_json_value(absent)
        return self.done(
            success, {"observed_value": [c["value"] for c in counts], "details": details}, rf
        )


class MostCommonPlan(AggregatePlan):
    def metrics(self) -> dict[str, str]:
        x, ctype = self.x, self.t.column_type(self.config.kwargs["column"])
        grouped = (
            f"SELECT {x} AS v, count(*) AS n, max(count(*)) OVER () AS top "
            f"{from_where(self.t.relation, where(self.cond, f'{x} IS NOT NULL'))} GROUP BY {x}"
        )
        ranked = f"SELECT v, row_number() OVER (ORDER BY v) AS rn FROM ({grouped}) WHERE n = top"
        return {
            "modes": (
                f"(SELECT {{'modes': list(v ORDER BY v) FILTER (WHERE rn <= {MAX_DISTINCT_VALUES}), "
                f"'n': count(*), 'in_set': count(*) FILTER (WHERE {in_list('v', list(self.kw('value_set')), ctype)})}} "
                f"FROM ({ranked}))"
            )
        }

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        modes = values["modes"] or {"modes": [], "n": 0, "in_set": 0}
        if self.kw("ties_okay"):
            success = modes["in_set"] > 0
        else:
            success = modes["n"] == 1 and modes["in_set"] == 1
        return self.done(success, {"observed_value": to_json_value(modes["modes"] or [])}, rf)


class TablePlan(Plan):
    def check(self) -> None:
        if self.config.type in ("expect_column_type_to_be",):
            self.need_column(self.config.kwargs["column"])

    def metrics(self) -> dict[str, str]:
        kind = self.config.type
        if kind.startswith("expect_table_row_count"):
            out = {"rows": count_where(self.cond)}
            if kind.endswith("other_table"):
                out["other"] = (
                    f"(SELECT count(*) FROM {self.t.other_table(self.kw('other_table_name'))})"
                )
            return out
        if kind == "unexpected_rows_expectation":
            return {"rows": f"(SELECT count(*) FROM ({self.query()}))"}
        return {}

    def query(self) -> str:
        return self.kw("unexpected_rows_query").replace("{batch}", self.t.relation)

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        kind, kw = self.config.type, self.kw
        columns = list(self.t.columns)
        result: dict[str, Any]
        if kind == "expect_table_row_count_to_be_between":
            success = between(
                values["rows"],
                kw("min_value"),
                kw("max_value"),
                bool(kw("strict_min")),
                bool(kw("strict_max")),
            )
            result = {"observed_value": values["rows"]}
        elif kind == "expect_table_row_count_to_equal":
            success, result = values["rows"] == kw("value"), {"observed_value": values["rows"]}
        elif kind == "expect_table_row_count_to_equal_other_table":
            success = values["rows"] == values["other"]
            result = {"observed_value": {"self": values["rows"], "other": values["other"]}}
        elif kind == "expect_table_column_count_to_be_between":
            success = between(
                len(columns),
                kw("min_value"),
                kw("max_value"),
                bool(kw("strict_min")),
                bool(kw("strict_max")),
            )
            result = {"observed_value": len(columns)}
        elif kind == "expect_table_column_count_to_equal":
            success, result = len(columns) == kw("value"), {"observed_value": len(columns)}
        elif kind == "expect_table_columns_to_match_set":
            success, result = self.match_set(columns)
        elif kind == "expect_table_columns_to_match_ordered_list":
            success, result = self.match_list(columns)
        elif kind == "expect_column_to_exist":
            name, index = kw("column"), kw("column_index")
            success = name in columns and (index is None or columns.index(name) == index)
            result = {}
        elif kind == "expect_column_type_to_be":
            ctype = self.t.columns[kw("column")]
            success, result = type_matches(kw("type_"), ctype), {"observed_value": ctype}
        else:  # unexpected_rows_expectation
            success, result = values["rows"] == 0, {"observed_value": values["rows"]}
            if values["rows"] and rf.level != "BOOLEAN_ONLY":
                assert self.t.execute is not None
                limit = MAX_RESULT_RECORDS if rf.at_least("COMPLETE") else rf.partial_count
                names, rows = self.t.execute(f"SELECT * FROM ({self.query()}) LIMIT {limit}")
                result["details"] = {
                    "unexpected_rows": [
                        dict(zip(names, map(to_json_value, r), strict=True)) for r in rows
                    ]
                }
        return self.done(bool(success), result, rf)

    def match_set(self, columns: list[str]) -> tuple[bool, dict[str, Any]]:
        wanted = self.kw("column_set")
        result: dict[str, Any] = {"observed_value": columns}
        if wanted is None:
            return True, result
        unexpected = [c for c in columns if c not in wanted]
        missing = [c for c in wanted if c not in columns]
        exact = self.kw("exact_match") is not False
        success = not missing and (not unexpected or not exact)
        if missing or unexpected:
            result["details"] = {"mismatched": {"unexpected": unexpected, "missing": missing}}
        return success, result

    def match_list(self, columns: list[str]) -> tuple[bool, dict[str, Any]]:
        wanted = self.kw("column_list")
        result: dict[str, Any] = {"observed_value": columns}
        if wanted is None or list(wanted) == columns:
            return True, result
        mismatched = [
            {"Expected Column Position": i, "Expected": e, "Found": f}
            for i, (e, f) in enumerate(_zip_longest(list(wanted), columns))
            if e != f
        ]
        result["details"] = {"mismatched": mismatched}
        return False, result


def _zip_longest(a: list[Any], b: list[Any]) -> list[tuple[Any, Any]]:
    from itertools import zip_longest

    return list(zip_longest(a, b))


PLANS: dict[str, type[Plan]] = {
    "expect_column_values_to_not_be_null": NotNull,
    "expect_column_values_to_be_null": BeNull,
    "expect_column_values_to_be_unique": Unique,
    "expect_column_values_to_be_in_set": InSet,
    "expect_column_values_to_not_be_in_set": NotInSet,
    "expect_column_values_to_be_between": Between,
    "expect_column_value_lengths_to_be_between": LengthsBetween,
    "expect_column_value_lengths_to_equal": LengthsEqual,
    "expect_column_values_to_match_regex": MatchRegex,
    "expect_column_values_to_not_match_regex": NotMatchRegex,
    "expect_column_values_to_match_regex_list": MatchRegexList,
    "expect_column_values_to_not_match_regex_list": NotMatchRegexList,
    "expect_column_values_to_match_like_pattern": MatchLike,
    "expect_column_values_to_not_match_like_pattern": NotMatchLike,
    "expect_column_values_to_match_like_pattern_list": MatchLikeList,
    "expect_column_values_to_not_match_like_pattern_list": NotMatchLikeList,
    "expect_column_values_to_match_strftime_format": StrftimeFormat,
    "expect_column_values_to_be_dateutil_parseable": DateutilParseable,
    "expect_column_values_to_be_json_parseable": JsonParseable,
    "expect_column_values_to_be_of_type": ColumnTypePlan,
    "expect_column_values_to_be_in_type_list": ColumnTypePlan,
    "expect_column_values_to_be_increasing": WindowPlan,
    "expect_column_values_to_be_decreasing": WindowPlan,
    "expect_column_value_z_scores_to_be_less_than": ZScores,
    "expect_column_values_to_not_be_outliers": Outliers,
    "expect_column_pair_values_a_to_be_greater_than_b": PairGreater,
    "expect_column_pair_values_to_be_equal": PairEqual,
    "expect_column_pair_values_to_be_in_set": PairInSet,
    "expect_compound_columns_to_be_unique": CompoundUnique,
    "expect_select_column_values_to_be_unique_within_record": UniqueWithinRecord,
    "expect_multicolumn_sum_to_equal": MulticolumnSum,
    "expect_column_quantile_values_to_be_between": QuantilePlan,
    "expect_column_distinct_values_to_be_in_set": DistinctSetPlan,
    "expect_column_distinct_values_to_contain_set": DistinctSetPlan,
    "expect_column_distinct_values_to_equal_set": DistinctSetPlan,
    "expect_column_most_common_value_to_be_in_set": MostCommonPlan,
}


def make_plan(config: ExpectationConfig, target: Target) -> Plan:
    cls = PLANS.get(config.type)
    if cls is None:
        cls = AggregatePlan if config.spec.kind == "aggregate" else TablePlan
    return cls(config, target)
