"""Generic checks (dbt's `unique`, `not_null`, `accepted_values`, `relationships`) compiled to SQL.

A check is a query. Each generic check gives two forms:

* ``scan``: an aggregate expression over the relation that counts failing rows, so every check
  on one relation runs in a single scan (``None`` when the check needs a join);
* ``failing``: the dbt-shaped query returning the failing rows, run only for checks whose scan
  found failures (for the exact failure count and a sample) and kept on the result so a user can
  rerun it.

Adding a check: subclass `GenericCheck`, set ``name`` and ``required``, implement ``scan`` and
``failing``; it registers itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from headwater.engines.base import quote_identifier, quote_literal
from headwater.errors import ConfigError, Location, did_you_mean

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REGISTRY: dict[str, type[GenericCheck]] = {}


def column_sql(column: str, quote: bool | None = None) -> str:
    """Quote plain column names; leave expressions (``lower(email)``) as written."""
    if quote is False or not _IDENT_RE.match(column):
        return column
    return quote_identifier(column)


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

    def filtered_relation(self) -> str:
        if not self.where:
            return self.relation
        return f"(SELECT * FROM {self.relation} WHERE {self.where})"

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


class NotNull(GenericCheck):
    name = "not_null"
    unit = "null rows"

    def scan(self, ctx: CheckContext) -> str:
        return f"count(*) FILTER (WHERE {ctx.filter(f'{ctx.col()} IS NULL')})"

    def failing(self, ctx: CheckContext) -> str:
        return f"SELECT * FROM {ctx.filtered_relation()} AS t WHERE {ctx.col()} IS NULL"


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


def check_class(name: str, location: Location | None = None, node: str | None = None) -> type[GenericCheck]:
    short = name.split(".")[-1]
    cls = REGISTRY.get(name) or REGISTRY.get(short)
    if cls is None:
        raise ConfigError(
            f"unknown check `{name}`" + did_you_mean(short, REGISTRY),
            location=location,
            node=node,
            hint="available checks: " + ", ".join(sorted(REGISTRY)) + "; or write a SQL test in tests/",
        )
    return cls


def validate_check(name: str, kwargs: dict[str, Any], column: str | None, location: Location | None, node: str) -> None:
    """Raise a `ConfigError` for an unknown check or missing / unknown arguments."""
    cls = check_class(name, location, node)
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
    if cls.needs_column and column is None and "column_name" not in kwargs:
        raise ConfigError(
            f"check `{name}` on `{node}` must be declared under a column (or given `column_name`)",
            location=location,
            node=node,
        )
