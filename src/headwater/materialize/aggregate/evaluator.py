"""Build an aggregate table: the first time (and on `--full-refresh`) from all of its input, then
by recomputing only the buckets new input can touch.

Every statement runs inside `headwater.materialize.stateful.audited`: the table changes, the
model's error-level checks run against the changed table, and the change is published only if
they pass (one transaction on DuckDB and PostgreSQL; stage and swap elsewhere).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from headwater.materialize.aggregate.builder import check_input, spec_of
from headwater.materialize.aggregate.definition import AggregateSpec
from headwater.materialize.aggregate.hll import SketchSQL, sketch_sql
from headwater.materialize.aggregate.query import AggregateQuery, bucket
from headwater.materialize.stateful import (
    BuildContext,
    BuildOutcome,
    StatefulMaterialization,
    audited,
    count,
    replace_table,
)
from headwater.project.definition import Node, Relation

if TYPE_CHECKING:
    from sqlglot import exp

    from headwater.engines.base import Engine

CAST_TYPES = {"date": "DATE", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ"}
STEPS = {"week": (7, "DAY"), "quarter": (3, "MONTH")}
"""Lookback units sqlglot spells alike everywhere: a week is 7 days, a quarter 3 months."""


class AggregateMaterialization(StatefulMaterialization):
    """`materialized: aggregate` (see `headwater.materialize.aggregate`)."""

    KIND = "table"

    def build(self, ctx: BuildContext) -> BuildOutcome:
        outcome = self._build(ctx)
        fmt = ctx.node.config.get("file_format")
        if fmt and outcome.published:  # e.g. `+file_format: delta` on the aggregate's folder
            outcome.message += (
                f"; file_format {fmt} ignored: aggregate tables stay in the warehouse"
            )
        return outcome

    def _build(self, ctx: BuildContext) -> BuildOutcome:
        node, engine = ctx.node, ctx.engine
        relation = node.relation
        assert relation is not None, node.unique_id
        spec = spec_of(node)
        model_sql = (node.compiled_sql or "").strip().rstrip(";").strip()
        columns = engine.query_columns(model_sql)
        kind = check_input(node, spec, columns)
        names = {name.lower(): name for name, _ in columns}
        query = AggregateQuery(spec, engine.statements.dialect, kind, _sketches(engine, node, spec), names)  # fmt: skip
        full = ctx.full_refresh and node.config.get("full_refresh") is not False
        if full or engine.relation_kind(relation) != "table":
            return _full_build(ctx, query, model_sql, "full build")
        have = [name.lower() for name, _ in engine.columns(relation)]
        if have != [name.lower() for name in spec.columns()]:
            return _full_build(
                ctx, query, model_sql, "full build (the aggregate's columns changed)"
            )
        since = first_bucket(engine, relation, spec, kind)
        if since is None:
            return _full_build(ctx, query, model_sql, "full build (the table was empty)")
        return _recompute(ctx, query, model_sql, since, kind)


def _sketches(engine: Engine, node: Node, spec: AggregateSpec) -> SketchSQL | None:
    hll = [m for m in spec.measures if m.hll]
    return sketch_sql(engine.statements.dialect, node, hll[0].name) if hll else None


def _full_build(ctx: BuildContext, query: AggregateQuery, model_sql: str, message: str) -> BuildOutcome:  # fmt: skip
    sql = query.sql(model_sql)
    outcome = audited(ctx, lambda: replace_table(ctx.engine, ctx.relation, sql), rebuild=True)
    if outcome.published:
        outcome.message = message + (f": {outcome.rows:,} rows" if outcome.rows is not None else "")
        if outcome.rows is not None:
            outcome.stats = {"inserted": outcome.rows}
    return outcome


def first_bucket(engine: Engine, relation: Relation, spec: AggregateSpec, kind: str) -> str | None:
    """The first bucket an incremental run recomputes, as text: the latest bucket the table
    holds (it may be partial), ``lookback`` buckets earlier; None when the table has no rows."""
    from sqlglot import exp

    st = engine.statements
    latest: exp.Expr = exp.Max(this=st.column(spec.grain.column))
    if spec.lookback:
        n, unit = STEPS.get(spec.grain.granularity, (1, spec.grain.granularity.upper()))
        step = exp.Interval(
            this=exp.Literal.string(str(n * spec.lookback)), unit=exp.Var(this=unit)
        )
        latest = bucket(exp.Sub(this=latest, expression=step), spec.grain.granularity, kind)
    rows = engine.execute(st.render(exp.select(latest).from_(st.table(relation))))
    value = rows[0][0] if rows else None
    return None if value is None else _text(value)


def _text(value: object) -> str:
    """A bucket start read back from the table, as text the engine casts back exactly (an aware
    timestamp keeps its offset)."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _recompute(ctx: BuildContext, query: AggregateQuery, model_sql: str, since: str, kind: str) -> BuildOutcome:  # fmt: skip
    """Replace the buckets ``>= since`` by their recomputation from the input."""
    from sqlglot import exp

    engine, spec = ctx.engine, query.spec
    st = engine.statements
    literal = exp.cast(exp.Literal.string(since), CAST_TYPES[kind])
    where = st.render(exp.GTE(this=st.column(spec.grain.column), expression=literal))
    select = query.sql(model_sql, literal)
    stats: dict[str, int] = {}

    def apply() -> int | None:
        deleted = count(engine.execute(st.delete_where(ctx.relation, where)))
        inserted = count(engine.execute(st.insert_select(ctx.relation, spec.columns(), select)))
        if deleted is not None and inserted is not None:
            updated = min(deleted, inserted)  # a group recomputed is a row updated
            stats.update(inserted=inserted - updated, updated=updated, deleted=deleted - updated)
        return inserted

    outcome = audited(ctx, apply)
    outcome.stats = stats
    if outcome.published:
        rows = f": {outcome.rows:,} rows" if outcome.rows is not None else ""
        outcome.message = f"recomputed the buckets from {since}{rows}"
    return outcome
