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
from headwater.engines.functions import Functions
from headwater.errors import ConfigError, did_you_mean
from headwater.quality.expectations.conditions import (
    SEMANTICS,
    condition_columns,
    translate_condition,
)
from headwater.quality.expectations.config import ExpectationConfig
from headwater.quality.expectations.pandastypes import PandasType, from_duckdb_type
from headwater.quality.expectations.results import ExpectationResult, to_json_value
from headwater.quality.expectations.typenames import is_numeric, is_text

POS = "__hw_pos"
PREV = "__hw_prev"
REL = "__hw_rel"  # the alias of a subquery relation (PostgreSQL requires one in FROM)
DUCKDB = Functions()  # DuckDB's spelling: the default when no engine's function map is given
MAX_RESULT_RECORDS = 200  # GX's cap on fetched unexpected values, even in COMPLETE
MAX_DISTINCT_VALUES = 20  # distinct values reported by distinct-set expectations
DEFAULT_PARTIAL_COUNT = 20
LEVELS = ("BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE")

Execute = Callable[[str], tuple[list[str], list[tuple[Any, ...]]]]
"""Runs one SELECT: (column names, rows)."""
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


def from_item(relation: str, alias: str = REL) -> str:
    """``relation`` as a FROM item: a subquery gets an alias (PostgreSQL requires one), a name is
    left as it is."""
    return f"{relation} AS {alias}" if relation.lstrip().startswith("(") else relation


def from_where(relation: str, predicate: str | None) -> str:
    return f"FROM {from_item(relation)}" + (f" WHERE {predicate}" if predicate else "")


def literal(value: Any, column_type: str | None = None, fn: Functions = DUCKDB) -> str:
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
            return fn.double_literal("'NaN'")
        if math.isinf(value):
            return fn.double_literal("'Infinity'" if value > 0 else "'-Infinity'")
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return quote_literal(value.isoformat())
    return quote_literal(str(value))


def in_list(expr: str, values: list[Any], column_type: str | None, fn: Functions = DUCKDB) -> str:
    """``expr IN (...)`` over the non-null values (nulls are never in a GX value set match)."""
    items = [literal(v, column_type, fn) for v in values if v is not None]
    return f"{expr} IN ({', '.join(items)})" if items else "false"


def metric_literal(value: Any, fn: Functions = DUCKDB) -> str:
    if value is None:
        return "NULL"
    return literal(float(value) if isinstance(value, Decimal) else value, fn=fn)


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
    """The relation under validation: its SQL, its columns, how to number its rows, and the
    back end whose semantics results follow (``sql``, or ``pandas`` for files and frames: see
    `pandastypes` and `conditions`)."""

    def __init__(
        self,
        relation: str,
        columns: list[tuple[str, str]] | None,
        execute: Execute | None = None,
        resolve_table: Callable[[str], str] | None = None,
        semantics: str = "sql",
        pandas_types: Callable[[], dict[str, PandasType] | None] | None = None,
        functions: Functions | None = None,
        relation_kind: str | None = None,
    ) -> None:
        if semantics not in SEMANTICS:
            raise ConfigError(f"unknown semantics `{semantics}`", hint="use sql or pandas")
        self.relation = relation
        self.fn: Functions = functions or DUCKDB
        """The engine's function map: every engine-specific piece of SQL comes from it."""
        self.engine = self.fn.ENGINE
        self.relation_kind = relation_kind
        """``table``, ``view`` or None (not known): a base table has a storage order."""
        self.known = columns is not None
        self.columns: dict[str, str] = dict(columns or [])
        self.execute = execute
        self.resolve_table = resolve_table
        self.semantics = semantics
        self._pandas_types = pandas_types
        self._dtypes: dict[str, PandasType] | None = None
        self._nulls: dict[str, bool] = {}
        self._position: str | None = None if execute else self.fn.row_position(True)

    @property
    def pandas(self) -> bool:
        return self.semantics == "pandas"

    def column_type(self, name: str) -> str | None:
        return self.columns.get(name)

    def pandas_type(self, name: str) -> PandasType:
        """The dtype GX's pandas back end would give the column (before nulls are considered)."""
        if self._dtypes is None:
            found = self._pandas_types() if self._pandas_types is not None else None
            self._dtypes = dict(found or {})
        if name in self._dtypes:
            return self._dtypes[name]
        return from_duckdb_type(self.columns.get(name, "VARCHAR"))

    def has_nulls(self, name: str) -> bool:
        """Whether the whole relation holds a null in the column (one small query, cached)."""
        if name not in self._nulls:
            assert self.execute is not None
            _, rows = self.execute(
                f"SELECT count(*) - count({q(name)}) FROM {from_item(self.relation)}"
            )
            self._nulls[name] = bool(rows[0][0])
        return self._nulls[name]

    def columnar(self) -> bool:
        """Whether one narrow query per column set beats one wide scan (see `planner`): Parquet
        files, registered Arrow tables/frames and DuckDB base tables; not CSV/JSON files, views
        or subqueries, which every query would read or compute again."""
        text = self.relation.lower()
        if "read_parquet(" in text or '"__hw_data_' in text:
            return "read_csv" not in text and "read_json" not in text
        if self.relation.lstrip().startswith("(") or self.execute is None or not self.fn.COLUMNAR:
            return False  # a row store (PostgreSQL) reads whole rows on every query: one scan
        return self.position() == "rowid"  # only base tables have a rowid

    def position(self) -> str:
        """A 0-based row position (`Functions.row_position`): DuckDB tables' ``rowid`` (insertion
        order), PostgreSQL tables numbered in ``ctid`` order, else ``row_number() OVER ()`` on the
        source (the order the engine reads it in: file order with ``preserve_insertion_order``)."""
        if self._position is None:
            subquery = self.relation.lstrip().startswith("(")
            row_id = self.fn.row_id()
            shadowed = row_id in {c.lower() for c in self.columns}  # a column of that name hides it
            if self.relation_kind is not None or not self.fn.COLUMNAR:
                # known from the catalog; PostgreSQL never probes (a failure aborts a transaction)
                table = not subquery and not shadowed and self.relation_kind == "table"
                self._position = self.fn.row_position(table)
            else:  # DuckDB: a cheap probe that fails on anything but a base table
                self._position = self.fn.row_position(False)
                if not subquery and not shadowed:
                    try:
                        assert self.execute is not None
                        self.execute(f"SELECT {row_id} FROM {self.relation} LIMIT 0")
                        self._position = self.fn.row_position(True)
                    except Exception:
                        pass
        return self._position

    def positioned(self) -> str:
        return f"(SELECT *, {self.position()} AS {POS} FROM {from_item(self.relation)})"

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
            translate_condition(condition, config.kwargs.get("condition_parser"), target.semantics)
            if condition
            else None
        )

    # what a subclass declares
    def columns(self) -> frozenset[str] | None:
        """The relation's columns the metrics read (None: not known). Scalar subqueries of a
        metric read on their own, so table-level plans read none."""
        kwargs = self.config.kwargs
        names = {
            kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)
        }
        names.update(kwargs.get("column_list") or [])
        condition = kwargs.get("row_condition")
        if condition:
            read = condition_columns(condition, kwargs.get("condition_parser"))
            if read is None:
                return None
            names.update(read)
        return frozenset(names)

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
    positional = False  # compares rows with their neighbours (increasing/decreasing)

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

    def shape(self, row: tuple[Any, ...]) -> Any:
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
        return lambda name: metric_literal(values[name], self.t.fn)

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

    def select_all(self, helpers: list[str]) -> str:
        """Every column of the relation, without the helper columns a source adds."""
        return self.t.fn.select_except(helpers, [*self.t.columns, *helpers]) if helpers else "*"

    def index_query(self, values: dict[str, Any]) -> str:
        m = self.literal_metrics(values) if self.phase2_names else self.subquery_metric
        relation, predicate, helpers = self.source(m, positioned=self.positional)
        return f"SELECT {self.select_all(helpers)} FROM {from_item(relation)} WHERE {predicate}"

    def samples(self, result: dict[str, Any], values: dict[str, Any], rf: ResultFormat) -> None:
        assert self.t.execute is not None
        execute = self.t.execute
        m = self.literal_metrics(values) if self.phase2_names else self.subquery_metric
        positioned = rf.at_least("SUMMARY") or bool(rf.index_columns) or self.positional
        relation, predicate, helpers = self.source(m, positioned)
        limit = MAX_RESULT_RECORDS if rf.at_least("COMPLETE") else rf.partial_count
        exprs = self.value_exprs()
        index_cols = [q(c) for c in rf.index_columns]
        for name in rf.index_columns:
            self.need_column(name)
        select = ([POS] if positioned else []) + exprs + index_cols
        order = f" ORDER BY {POS}" if positioned else ""
        _, rows = execute(
            f"SELECT {', '.join(select)} FROM {from_item(relation)} WHERE {predicate}{order} LIMIT {limit}"
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
            names, rows = execute(
                f"SELECT {self.select_all(helpers)} FROM {from_item(relation)} WHERE {predicate}{order} LIMIT {limit}"
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
        groups = ", ".join(str(i + 1) for i in range(len(exprs)))
        _, rows = self.t.execute(
            f"SELECT {keys}, count(*) AS {POS}_n FROM {from_item(relation)} WHERE {predicate} "
            f"GROUP BY {groups} ORDER BY {POS}_n DESC, {order} LIMIT {limit}"
        )
        return [{"value": self.shape(row[:-1]), "count": int(row[-1])} for row in rows]
