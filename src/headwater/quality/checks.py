"""Generic checks (dbt's `unique`, `not_null`, `accepted_values`, `relationships`) compiled to SQL.

A check is a query. Each generic check gives two forms:

* ``scan``: an aggregate expression over the relation that counts failing rows, so every check
  on one relation runs in a single scan (``None`` when the check needs a join);
* ``failing``: the dbt-shaped query returning the failing rows, run only for checks whose scan
  found failures (for the exact failure count and a sample) and kept on the result so a user can
  rerun it.

Adding a check: subclass `GenericCheck`, set ``name`` and ``required``, implement ``scan`` and
``failing``; it registers itself.

The SQL is ANSI where DuckDB and PostgreSQL agree (``count(*) FILTER (WHERE ...)``, CASE,
subqueries with an alias); what differs (the current time, intervals) comes from the engine's
function map (``CheckContext.functions``), so every check runs on both engines, all scan-able
checks of a relation still in one scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from headwater.engines.base import quote_identifier, quote_literal
from headwater.engines.functions import Functions
from headwater.errors import ConfigError, Location, did_you_mean

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REGISTRY: dict[str, type[GenericCheck]] = {}


def column_sql(column: str, quote: bool | None = None) -> str:
    """Quote plain column names; leave expressions (``lower(email)``) as written."""
    if quote is False or not _IDENT_RE.match(column):
        return column
    return quote_identifier(column)


def subquery_alias(relation: str, alias: str = "r") -> str:
    """``relation`` as a FROM item: a subquery (an ephemeral model) gets the alias PostgreSQL
    requires; a name stays as it is."""
    return f"{relation} AS {alias}" if relation.lstrip().startswith("(") else relation


def value_sql(value: Any, quote: bool = True) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) or not quote:
        return str(value)
    return quote_literal(str(value))


@dataclass
class CheckContext:
    """What a check compiles against: the relation SQL (a name or a parenthesized subquery)."""

    relation: str
    column: str | None
    kwargs: dict[str, Any]
    where: str | None = None
    resolve: Any = None  # callable: kwargs value {"__relation__": uid} -> relation SQL
    functions: Functions = field(default_factory=Functions)
    """The engine's function map (DuckDB's spelling by default)."""

    def filtered_relation(self) -> str:
        if not self.where:
            return self.relation
        return f"(SELECT * FROM {subquery_alias(self.relation)} WHERE {self.where})"

    def col(self) -> str:
        assert self.column is not None
        return column_sql(self.column, self.kwargs.get("quote_columns"))

    def filter(self, condition: str) -> str:
        if self.where:
            return f"({self.where}) AND ({condition})"
        return condition


class GenericCheck:
    name: ClassVar[str] = ""
    required: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()
    needs_column: ClassVar[bool] = True
    unit: ClassVar[str] = "failing rows"
    """What the failure count counts, for messages."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            REGISTRY[cls.name] = cls

    def scan(self, ctx: CheckContext) -> str | None:
        return None

    def failing(self, ctx: CheckContext) -> str:
        raise NotImplementedError

    def row_predicate(self, ctx: CheckContext) -> str | None:
        """SQL true for each row of the relation this check finds bad (for quarantine), or None
        when the check judges the relation as a whole."""
        return None


class Unique(GenericCheck):
    name = "unique"
    unit = "duplicated values"

    def scan(self, ctx: CheckContext) -> str:
        col = ctx.col()
        if ctx.where:
            return f"(count({col}) FILTER (WHERE {ctx.where}) - count(DISTINCT {col}) FILTER (WHERE {ctx.where}))"
        return f"(count({col}) - count(DISTINCT {col}))"

    def failing(self, ctx: CheckContext) -> str:
        col = ctx.col()
        return (
            f"SELECT {col} AS unique_field, count(*) AS n_records FROM {ctx.filtered_relation()} AS t "
            f"WHERE {col} IS NOT NULL GROUP BY {col} HAVING count(*) > 1"
        )

    def row_predicate(self, ctx: CheckContext) -> str:
        col = ctx.col()
        dups = f"SELECT {col} FROM {ctx.filtered_relation()} AS d WHERE {col} IS NOT NULL GROUP BY {col} HAVING count(*) > 1"
        return ctx.filter(f"{col} IN ({dups})")


class NotNull(GenericCheck):
    name = "not_null"
    unit = "null rows"

    def scan(self, ctx: CheckContext) -> str:
        return f"count(*) FILTER (WHERE {ctx.filter(f'{ctx.col()} IS NULL')})"

    def failing(self, ctx: CheckContext) -> str:
        return f"SELECT * FROM {ctx.filtered_relation()} AS t WHERE {ctx.col()} IS NULL"

    def row_predicate(self, ctx: CheckContext) -> str:
        return ctx.filter(f"{ctx.col()} IS NULL")


class AcceptedValues(GenericCheck):
    name = "accepted_values"
    required = ("values",)
    optional = ("quote",)
    unit = "unexpected values"

    def _not_in(self, ctx: CheckContext) -> str:
        values = ctx.kwargs["values"]
        if not isinstance(values, list) or not values:
            raise ConfigError("`values` of accepted_values must be a non-empty list")
        quote = ctx.kwargs.get("quote", True)
        listed = ", ".join(value_sql(v, quote) for v in values)
        return f"{ctx.col()} IS NOT NULL AND {ctx.col()} NOT IN ({listed})"

    def scan(self, ctx: CheckContext) -> str:
        return f"count(*) FILTER (WHERE {ctx.filter(self._not_in(ctx))})"

    def row_predicate(self, ctx: CheckContext) -> str:
        return ctx.filter(self._not_in(ctx))

    def failing(self, ctx: CheckContext) -> str:
        col = ctx.col()
        return (
            f"SELECT {col} AS value_field, count(*) AS n_records FROM {ctx.filtered_relation()} AS t "
            f"WHERE {self._not_in(ctx)} GROUP BY {col}"
        )


class Relationships(GenericCheck):
    name = "relationships"
    required = ("to", "field")
    unit = "rows without a parent"

    def failing(self, ctx: CheckContext) -> str:
        parent = ctx.resolve(ctx.kwargs["to"])
        field = column_sql(str(ctx.kwargs["field"]))
        col = ctx.col()
        return (
            f"SELECT {col} AS from_field FROM {ctx.filtered_relation()} AS child "
            f"WHERE {col} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {parent} AS parent WHERE parent.{field} = child.{col})"
        )

    def row_predicate(self, ctx: CheckContext) -> str:
        parent = ctx.resolve(ctx.kwargs["to"])
        field = column_sql(str(ctx.kwargs["field"]))
        col = ctx.col()
        return ctx.filter(
            f"{col} IS NOT NULL AND {col} NOT IN (SELECT p.{field} FROM {parent} AS p WHERE p.{field} IS NOT NULL)"
        )


# -- dbt-utils tests (same names, arguments and failing-row semantics as dbt-utils 1.x) ----------


class AcceptedRange(GenericCheck):
    name = "accepted_range"
    optional = ("min_value", "max_value", "inclusive")
    unit = "values out of range"

    def _outside(self, ctx: CheckContext) -> str:
        kw = ctx.kwargs
        if kw.get("min_value") is None and kw.get("max_value") is None:
            raise ConfigError("accepted_range needs `min_value`, `max_value` or both")
        inclusive = kw.get("inclusive", True)
        parts = []
        for key, op in (
            ("min_value", ">=" if inclusive else ">"),
            ("max_value", "<=" if inclusive else "<"),
        ):
            if kw.get(key) is not None:
                parts.append(
                    f"{ctx.col()} {op} {value_sql(kw[key], quote=not _is_number(kw[key]))}"
                )
        # dbt-utils: `where not (...)`, so a null value (unknown comparison) is not a failure
        return f"NOT ({' AND '.join(parts)})"

    def scan(self, ctx: CheckContext) -> str:
        return f"count(*) FILTER (WHERE {ctx.filter(self._outside(ctx))})"

    def failing(self, ctx: CheckContext) -> str:
        return f"SELECT * FROM {ctx.filtered_relation()} AS t WHERE {self._outside(ctx)}"

    def row_predicate(self, ctx: CheckContext) -> str:
        return ctx.filter(f"coalesce({self._outside(ctx)}, false)")


class ExpressionIsTrue(GenericCheck):
    name = "expression_is_true"
    required = ("expression",)
    needs_column = False
    unit = "rows where the expression is not true"

    def _expr(self, ctx: CheckContext) -> str:
        expr = str(ctx.kwargs["expression"])
        return f"{ctx.col()} {expr}" if ctx.column else expr

    def scan(self, ctx: CheckContext) -> str:
        return f"count(*) FILTER (WHERE {ctx.filter(f'NOT ({self._expr(ctx)})')})"

    def failing(self, ctx: CheckContext) -> str:
        return f"SELECT * FROM {ctx.filtered_relation()} AS t WHERE NOT ({self._expr(ctx)})"

    def row_predicate(self, ctx: CheckContext) -> str:
        return ctx.filter(f"coalesce(NOT ({self._expr(ctx)}), false)")


class UniqueCombinationOfColumns(GenericCheck):
    name = "unique_combination_of_columns"
    required = ("combination_of_columns",)
    needs_column = False
    unit = "duplicated combinations"

    def failing(self, ctx: CheckContext) -> str:
        cols = ctx.kwargs["combination_of_columns"]
        if not isinstance(cols, list) or not cols:
            raise ConfigError("`combination_of_columns` must be a non-empty list of column names")
        listed = ", ".join(column_sql(str(c), ctx.kwargs.get("quote_columns")) for c in cols)
        # the key columns only, as dbt_utils returns them (its `store_failures` table has that shape)
        return f"SELECT {listed} FROM {ctx.filtered_relation()} AS t GROUP BY {listed} HAVING count(*) > 1"


class NotNullProportion(GenericCheck):
    name = "not_null_proportion"
    required = ("at_least",)
    optional = ("at_most",)
    unit = "proportion out of range"

    def _bounds(self, ctx: CheckContext) -> tuple[float, float]:
        return float(ctx.kwargs["at_least"]), float(ctx.kwargs.get("at_most", 1.0))

    def scan(self, ctx: CheckContext) -> str:
        lo, hi = self._bounds(ctx)
        rows, non_null = "count(*)", f"count({ctx.col()})"
        if ctx.where:
            rows, non_null = (
                f"{rows} FILTER (WHERE {ctx.where})",
                f"{non_null} FILTER (WHERE {ctx.where})",
            )
        # a double division: PostgreSQL divides integers as integers
        prop = f"(CAST({non_null} AS DOUBLE PRECISION) / nullif({rows}, 0))"
        return f"CASE WHEN {prop} < {lo} OR {prop} > {hi} THEN 1 ELSE 0 END"

    def failing(self, ctx: CheckContext) -> str:
        lo, hi = self._bounds(ctx)
        return (
            f"SELECT * FROM (SELECT CAST(count({ctx.col()}) AS DOUBLE PRECISION) / nullif(count(*), 0) "
            f"AS not_null_proportion FROM {ctx.filtered_relation()} AS t) AS p "
            f"WHERE not_null_proportion < {lo} OR not_null_proportion > {hi}"
        )


class AtLeastOne(GenericCheck):
    name = "at_least_one"
    unit = "columns without a value"

    def scan(self, ctx: CheckContext) -> str:
        count = f"count({ctx.col()})" + (f" FILTER (WHERE {ctx.where})" if ctx.where else "")
        return f"CASE WHEN {count} = 0 THEN 1 ELSE 0 END"

    def failing(self, ctx: CheckContext) -> str:
        return f"SELECT count({ctx.col()}) AS filler_column FROM {ctx.filtered_relation()} AS t HAVING count({ctx.col()}) = 0"


class NotConstant(GenericCheck):
    name = "not_constant"
    unit = "constant columns"

    def scan(self, ctx: CheckContext) -> str:
        count = f"count(DISTINCT {ctx.col()})" + (
            f" FILTER (WHERE {ctx.where})" if ctx.where else ""
        )
        return f"CASE WHEN {count} = 1 THEN 1 ELSE 0 END"

    def failing(self, ctx: CheckContext) -> str:
        col = ctx.col()
        return f"SELECT count(DISTINCT {col}) AS filler_column FROM {ctx.filtered_relation()} AS t HAVING count(DISTINCT {col}) = 1"


_DATEPARTS = ("second", "minute", "hour", "day", "week", "month", "quarter", "year")


class Recency(GenericCheck):
    name = "recency"
    required = ("datepart", "field", "interval")
    optional = ("ignore_time_component", "group_by_columns")
    needs_column = False
    unit = "stale groups"

    def _threshold(self, ctx: CheckContext) -> str:
        part = str(ctx.kwargs["datepart"]).lower()
        if part not in _DATEPARTS:
            raise ConfigError(
                f"recency: unknown datepart `{part}`" + did_you_mean(part, _DATEPARTS)
            )
        interval = int(ctx.kwargs["interval"])
        fn = ctx.functions
        now = "current_date" if ctx.kwargs.get("ignore_time_component") else fn.now_timestamp()
        return f"({now} - {fn.interval(interval, part)})"

    def _field(self, ctx: CheckContext) -> str:
        field = column_sql(str(ctx.kwargs["field"]))
        return (
            f"CAST({field} AS DATE)"
            if ctx.kwargs.get("ignore_time_component")
            else f"CAST({field} AS TIMESTAMP)"
        )

    def scan(self, ctx: CheckContext) -> str | None:
        if ctx.kwargs.get("group_by_columns"):
            return None
        most_recent = f"max({self._field(ctx)})" + (
            f" FILTER (WHERE {ctx.where})" if ctx.where else ""
        )
        return f"CASE WHEN {most_recent} >= {self._threshold(ctx)} THEN 0 ELSE 1 END"

    def failing(self, ctx: CheckContext) -> str:
        groups = [column_sql(str(c)) for c in ctx.kwargs.get("group_by_columns") or []]
        select = ", ".join([*groups, f"max({self._field(ctx)}) AS most_recent"])
        group_by = f" GROUP BY {', '.join(groups)}" if groups else ""
        return (
            f"SELECT *, {self._threshold(ctx)} AS threshold FROM (SELECT {select} FROM {ctx.filtered_relation()} AS t"
            f"{group_by}) AS m WHERE most_recent < {self._threshold(ctx)} OR most_recent IS NULL"
        )


class EqualRowcount(GenericCheck):
    name = "equal_rowcount"
    required = ("compare_model",)
    needs_column = False
    unit = "row count differences"

    def failing(self, ctx: CheckContext) -> str:
        other = ctx.resolve(ctx.kwargs["compare_model"])
        return (
            f"SELECT a.n AS count_a, b.n AS count_b, abs(a.n - b.n) AS diff_count FROM "
            f"(SELECT count(*) AS n FROM {ctx.filtered_relation()} AS t) AS a, "
            f"(SELECT count(*) AS n FROM {other} AS o) AS b WHERE a.n != b.n"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_class(
    name: str, location: Location | None = None, node: str | None = None
) -> type[GenericCheck]:
    short = name.split(".")[-1]
    cls = REGISTRY.get(name) or REGISTRY.get(short)
    if cls is None:
        raise ConfigError(
            f"unknown check `{name}`" + did_you_mean(short, REGISTRY),
            location=location,
            node=node,
            hint="available checks: "
            + ", ".join(sorted(REGISTRY))
            + "; or write a SQL test in tests/",
        )
    return cls


# Arguments spliced into the generated SQL as expressions (the rest are literals or refs).
_EXPRESSION_ARGS = (
    "column_name",
    "field",
    "expression",
    "combination_of_columns",
    "group_by_columns",
)


def _check_fragments(
    name: str,
    kwargs: dict[str, Any],
    column: str | None,
    location: Location | None,
    node: str,
    where: Any,
) -> None:
    from headwater.sql.safety import check_expression

    def check(text: Any, what: str) -> None:
        if text is not None and not (isinstance(text, str) and _IDENT_RE.match(text)):
            check_expression(
                str(text), what=f"check `{name}`: {what}", location=location, node=node
            )

    check(column, "column")
    check(where, "`where`")
    for key in _EXPRESSION_ARGS:
        values = kwargs.get(key)
        for value in values if isinstance(values, list) else [values]:
            check(value, f"`{key}`")
    if name == "accepted_values" and kwargs.get("quote") is False:
        for value in kwargs.get("values") or []:
            check(value, "a value of `values` (quote: false)")


def validate_check(
    name: str, kwargs: dict[str, Any], column: str | None, location: Location | None, node: str,
    where: Any = None,
) -> None:  # fmt: skip
    """Raise a `ConfigError` for an unknown check, missing / unknown arguments, or a column, `where`
    or expression that is not exactly one SQL expression (`headwater.sql.safety`)."""
    cls = check_class(name, location, node)
    _check_fragments(name, kwargs, column, location, node, where)
    missing = [k for k in cls.required if k not in kwargs]
    if missing:
        raise ConfigError(
            f"check `{name}` on `{node}` needs {', '.join(f'`{m}`' for m in missing)}",
            location=location,
            node=node,
            hint=f"e.g. `- {name}: {{arguments: {{{missing[0]}: ...}}}}`",
        )
    allowed = set(cls.required) | set(cls.optional) | {"column_name", "quote_columns"}
    for key in kwargs:
        if key not in allowed:
            raise ConfigError(
                f"check `{name}` does not take `{key}`" + did_you_mean(key, allowed),
                location=location,
                node=node,
            )
    if name == "recency" and not re.fullmatch(r"[A-Za-z_]+", str(kwargs.get("datepart", "day"))):
        raise ConfigError(f"check `recency`: `datepart` must be a word such as day or hour, got `{kwargs['datepart']}`",
                          location=location, node=node)  # fmt: skip
    if cls.needs_column and column is None and "column_name" not in kwargs:
        raise ConfigError(
            f"check `{name}` on `{node}` must be declared under a column (or given `column_name`)",
            location=location,
            node=node,
        )
