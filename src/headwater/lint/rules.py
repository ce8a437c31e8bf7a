"""The lint rules: small classes with an id, a name, a default severity, a hint, and
``check(node, tree, ctx) -> list[Finding]`` over the model's compiled SQL parsed by sqlglot in the
target's dialect. `RULES` lists them; a new rule is a class here added to `RULES`.

Decisions (also in the README's rule table):
- HW101 looks at the outermost query's projection only (each branch of a UNION): `select *` in an
  import CTE (``with orders as (select * from {{ ref('orders') }})``) is dbt style, and what a
  mart publishes is its final projection. `count(*)` is no star; `* EXCLUDE (...)` is one.
- HW102: an explicit `CROSS JOIN` is intentional and skipped, as are NATURAL joins, LATERAL and
  table functions (`unnest`, `generate_series`); a comma join whose tables are equated in WHERE
  (``from a, b where a.id = b.id``) is an inner join, not a cartesian one.
- HW105/HW106 know partition columns from the `partition_by` config of the model's direct inputs.
  HW106 fires when a query reads a large partitioned input with no predicate on a partition column
  in its WHERE (or in the ON of that input's join). Lint never opens the warehouse (it runs before
  `build`, and DuckDB allows one writer), so a warehouse table always counts as large; a lake
  table's row count comes from its metadata (`lint: large_rows`, default 1,000,000).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar

from headwater.lint.findings import Finding, Severity

if TYPE_CHECKING:
    from sqlglot import exp

    from headwater.lint.context import LintContext
    from headwater.project.definition import Node

STAR_NEEDLE = r"(^|[\s,])(\w+\.)?\*(\s|,|$)"


class Rule:
    """A lint rule; subclasses set the class variables and `check`."""

    id: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    hint: ClassVar[str]

    def check(self, node: Node, tree: exp.Expr, ctx: LintContext) -> list[Finding]:
        raise NotImplementedError


class SelectStarInMarts(Rule):
    """`SELECT *` in the final projection of a mart: its columns change with its inputs'."""

    id = "HW101"
    name = "select_star_in_marts"
    severity = "warn"
    hint = "list the columns the mart publishes"

    def check(self, node: Node, tree: exp.Expr, ctx: LintContext) -> list[Finding]:
        from sqlglot import exp

        if not ctx.is_mart() or node.materialized == "aggregate":
            return []  # an aggregate's SELECT is its input; the table's columns are its config's
        out = []
        for select in _final_selects(tree):
            for e in select.expressions:
                if isinstance(e, exp.Star) or (
                    isinstance(e, exp.Column) and isinstance(e.this, exp.Star)
                ):
                    message = f"`{e.sql()}` in the final SELECT of mart `{node.name}`"
                    out.append(ctx.finding(self, None, message, needle=STAR_NEEDLE, last=True))
        return out


class CartesianJoin(Rule):
    """A join with no ON/USING (or a comma join with no equality in WHERE): every row times
    every row. An explicit CROSS JOIN is taken as intended."""

    id = "HW102"
    name = "cartesian_join"
    severity = "error"
    hint = "add an ON condition, or write CROSS JOIN if the product is intended"

    def check(self, node: Node, tree: exp.Expr, ctx: LintContext) -> list[Finding]:
        from sqlglot import exp

        out = []
        for select in tree.find_all(exp.Select):
            for join in select.args.get("joins") or []:
                if join.args.get("on") or join.args.get("using"):
                    continue
                if str(join.args.get("kind") or "").upper() == "CROSS":
                    continue
                if str(join.args.get("method") or "").upper() == "NATURAL":
                    continue
                target = join.this
                if isinstance(target, exp.Table):
                    if not isinstance(target.this, exp.Identifier):
                        continue  # a table function: unnest(...), generate_series(...)
                elif not isinstance(target, exp.Subquery):
                    continue  # LATERAL, UNNEST
                name = target.alias_or_name
                if _equated_in_where(select, name.lower()):
                    continue
                message = f"`{name}` is joined with no condition (a cartesian product)"
                out.append(ctx.finding(self, join, message, needle=rf"\b{re.escape(name)}\b"))
        return out


class OrderByWithoutLimit(Rule):
    """ORDER BY on a model's outermost query without LIMIT: tables and views keep no row order,
    so the sort costs time and guarantees nothing."""

    id = "HW103"
    name = "order_by_without_limit"
    severity = "warn"
    hint = "drop the ORDER BY (sort where the data is read), or add a LIMIT"

    def check(self, node: Node, tree: exp.Expr, ctx: LintContext) -> list[Finding]:
        from sqlglot import exp

        root = tree.unnest() if isinstance(tree, exp.Subquery) else tree
        order = root.args.get("order")
        if order is None or root.args.get("limit") or root.args.get("fetch"):
            return []
        message = f"`{order.sql(dialect=ctx.dialect).strip()}` without LIMIT in model `{node.name}`"
        return [ctx.finding(self, order, message, needle=r"order\s+by", last=True)]


class UnusedCte(Rule):
    """A CTE that no other part of its query reads."""

    id = "HW104"
    name = "unused_cte"
    severity = "warn"
    hint = "remove the CTE, or read it"

    def check(self, node: Node, tree: exp.Expr, ctx: LintContext) -> list[Finding]:
        from sqlglot import exp

        out = []
        for with_ in tree.find_all(exp.With):
            query = with_.parent
            if query is None:
                continue
            tables = [t for t in query.find_all(exp.Table) if not t.args.get("db")]
            for cte in with_.expressions:
                alias = cte.alias_or_name.lower()
                used = any(t.name.lower() == alias and not _inside(t, cte) for t in tables)
                if not used:
                    message = f"CTE `{cte.alias_or_name}` is never read"
                    out.append(
                        ctx.finding(self, cte, message, needle=rf"\b{re.escape(alias)}\s+as\b")
                    )
        return out


class NonSargablePartitionPredicate(Rule):
    """A function or expression over a partition column in WHERE: the warehouse cannot prune
    partitions with it."""

    id = "HW105"
    name = "non_sargable_partition_predicate"
    severity = "warn"
    hint = "compare the bare partition column with a constant range (col >= x and col < y)"

    def check(self, node: Node, tree: exp.Expr, ctx: LintContext) -> list[Finding]:
        from sqlglot import exp

        parts = ctx.partitioned_inputs()
        if not parts:
            return []
        out = []
        kinds = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In)
        for select in tree.find_all(exp.Select):
            aliases = _inputs(select, parts)
            where = select.args.get("where")
            if not aliases or where is None:
                continue
            for pred in where.find_all(*kinds):
                if pred.parent_select is not select:
                    continue
                if isinstance(pred, exp.Between | exp.In):
                    sides = [pred.this]
                else:
                    sides = [pred.left, pred.right]
                for side in sides:
                    if isinstance(side, exp.Column):
                        continue
                    cols = [c for c in side.find_all(exp.Column) if _is_part(c, aliases, parts)]
                    if cols:
                        message = (
                            f"`{side.sql(dialect=ctx.dialect)}` wraps partition column "
                            f"`{cols[0].name}`: partitions cannot be pruned"
                        )
                        out.append(
                            ctx.finding(
                                self, side, message, needle=rf"\b{re.escape(cols[0].name)}\b"
                            )
                        )
                        break
        return out


class MissingPartitionFilter(Rule):
    """A query reads a partitioned input with no predicate on its partition column: a full scan
    of a (presumed large) table."""

    id = "HW106"
    name = "missing_partition_filter"
    severity = "warn"
    hint = "filter the input on its partition column in WHERE"

    def check(self, node: Node, tree: exp.Expr, ctx: LintContext) -> list[Finding]:
        from sqlglot import exp

        parts = ctx.partitioned_inputs()
        if node.materialized == "aggregate":  # its incremental runs filter the grain column
            grain = node.config.get("grain")
            column = str(grain.get("column") or "").lower() if isinstance(grain, dict) else ""
            parts = {k: v for k, v in parts.items() if column not in v[1]}
        if not parts:
            return []
        out = []
        for select in tree.find_all(exp.Select):
            aliases = _inputs(select, parts)
            for alias, ident in aliases.items():
                conditions: list[exp.Expression] = []
                if select.args.get("where") is not None:
                    conditions.append(select.args["where"])
                for join in select.args.get("joins") or []:
                    if join.this.alias_or_name.lower() == alias and join.args.get("on"):
                        conditions.append(join.args["on"])
                one = {alias: ident}
                filtered = any(
                    _is_part(c, one, parts)
                    for cond in conditions
                    for c in cond.find_all(exp.Column)
                    if c.parent_select is select
                )
                if not filtered:
                    parent, columns = parts[ident]
                    message = (
                        f"reads `{parent.name}` (partitioned by {', '.join(columns)}) "
                        "with no filter on its partition column"
                    )
                    table = next(
                        (t for t in _tables(select) if t.alias_or_name.lower() == alias), None
                    )
                    out.append(
                        ctx.finding(self, table, message, needle=rf"\b{re.escape(parent.name)}\b")
                    )
        return out


RULES: tuple[Rule, ...] = (
    SelectStarInMarts(),
    CartesianJoin(),
    OrderByWithoutLimit(),
    UnusedCte(),
    NonSargablePartitionPredicate(),
    MissingPartitionFilter(),
)
"""Every rule, in id order."""


# -- helpers -----------------------------------------------------------------------------------
def _final_selects(tree: exp.Expr) -> list[exp.Select]:
    from sqlglot import exp

    if isinstance(tree, exp.Subquery):
        return _final_selects(tree.unnest())
    if isinstance(tree, exp.Select):
        return [tree]
    if isinstance(tree, exp.SetOperation):
        return _final_selects(tree.this) + _final_selects(tree.expression)
    return []


def _inside(expr: exp.Expression, ancestor: exp.Expression) -> bool:
    parent = expr.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _tables(select: exp.Select) -> list[exp.Table]:
    """The tables the select reads directly (its FROM and JOINs)."""
    from sqlglot import exp

    return [
        t
        for t in select.find_all(exp.Table)
        if t.parent_select is select and isinstance(t.parent, exp.From | exp.Join)
    ]


def _inputs(select: exp.Select, parts: dict[str, tuple[Node, list[str]]]) -> dict[str, str]:
    """Alias (lower case) -> relation identifier of the partitioned inputs ``select`` reads."""
    return {
        t.alias_or_name.lower(): t.name.lower() for t in _tables(select) if t.name.lower() in parts
    }


def _is_part(
    col: exp.Column,
    aliases: dict[str, str],
    parts: dict[str, tuple[Node, list[str]]],
) -> bool:
    """Is ``col`` a partition column of one of ``aliases``? An unqualified column counts when a
    partitioned input has a column of that name."""
    name = col.name.lower()
    if col.table:
        ident = aliases.get(col.table.lower())
        return ident is not None and name in parts[ident][1]
    return any(name in parts[ident][1] for ident in aliases.values())


def _equated_in_where(select: exp.Select, name: str) -> bool:
    """Does WHERE equate a column of table ``name`` with a column of another table?"""
    from sqlglot import exp

    where = select.args.get("where")
    if where is None:
        return False
    for eq in where.find_all(exp.EQ):
        left = {c.table.lower() for c in eq.left.find_all(exp.Column)}
        right = {c.table.lower() for c in eq.right.find_all(exp.Column)}
        if (name in left and right - {name, ""}) or (name in right and left - {name, ""}):
            return True
    return False
