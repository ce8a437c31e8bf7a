"""The SELECT of an aggregate table, as one sqlglot tree rendered in the engine's dialect.

Shape (CTEs; internal columns are ``hw_*`` so no user name can collide with another)::

    hw_src    SELECT bucket(grain) AS hw_b, dims AS hw_d0.., measure inputs AS hw_c0..
              FROM (<the model's SELECT>) AS hw_in
              WHERE grain IS NOT NULL [AND grain >= <first recomputed bucket>]
    hw_fine   one row per (bucket, dimensions):
                the plain measures      GROUP BY hw_b, hw_d..     over hw_src
                each HLL measure        registers: max(code) GROUP BY keys, register;
                                        then array_agg(code) and the estimate GROUP BY keys
              the parts are put side by side with UNION ALL + GROUP BY keys (max/min of the
              one non-NULL value per part): NULL-safe on NULL dimension values, hash-aggregated
              on every engine (a join on nullable keys is not hash-joinable on PostgreSQL)
    rollup/cube only, from hw_fine (GROUPING SETS, each set with the bucket):
                sum -> sum, count -> sum (as BIGINT), min -> min, max -> max
                sketches: unnest, max(code) per (set, register), array_agg  (the merge)
                exact count_distinct: GROUPING SETS over hw_src (a distinct count does not merge)

The grain bucket is ``date_trunc(granularity, grain)`` (a DATE column goes through TIMESTAMP and
back, so its buckets stay dates). Rows whose grain is NULL belong to no bucket and are left out.
With ``since`` (an incremental run) the input is filtered on the *bare* grain column, which the
warehouse can prune with (DuckDB's min/max zone maps, a PostgreSQL index): since ``since`` is a
bucket start, ``grain >= since`` selects exactly the rows of the buckets ``>= since``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from headwater.materialize.aggregate.definition import LEVEL_COLUMN, AggregateSpec, Measure
from headwater.materialize.aggregate.hll import RANK_BITS, SketchSQL

if TYPE_CHECKING:
    from sqlglot import exp

BODY = "__hw_aggregate_input__"
"""Placeholder of the model's SELECT in the rendered statement (spliced in as text)."""
B, LEVEL, E, H, IDX = "hw_b", "hw_level", "hw_e", "hw_h", "hw_i"


def _id(name: str) -> exp.Identifier:
    from sqlglot import exp

    return exp.to_identifier(name, quoted=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    from sqlglot import exp

    return exp.column(_id(name), table=_id(table) if table else None)


def _as(expr: exp.Expr, name: str) -> exp.Expr:
    from sqlglot import exp

    return exp.alias_(expr, _id(name))


def _table(name: str) -> exp.Table:
    from sqlglot import exp

    return exp.Table(this=_id(name))


def _sub(query: exp.Query, alias: str) -> exp.Subquery:
    from sqlglot import exp

    return exp.Subquery(this=query, alias=exp.TableAlias(this=_id(alias)))


def bucket(column: exp.Expr, granularity: str, kind: str) -> exp.Expr:
    """The start of ``column``'s bucket (`grain`), of the column's own type."""
    from sqlglot import exp

    unit = exp.Var(this=granularity.upper())
    if kind == "date":
        trunc = exp.TimestampTrunc(this=exp.cast(column, "TIMESTAMP"), unit=unit)
        return exp.cast(trunc, "DATE")
    return exp.TimestampTrunc(this=column, unit=unit)


@dataclass
class AggregateQuery:
    """Builds the aggregate's SELECT for one spec on one engine."""

    spec: AggregateSpec
    dialect: str
    kind: str
    """The grain column's kind: `date`, `timestamp` or `timestamptz`."""
    sketches: SketchSQL | None = None
    """The engine's HLL spelling (needed when a measure uses `method: hll`)."""
    columns: dict[str, str] = field(default_factory=dict)
    """The input's column names by lower case: the config may spell them in another case, which
    a quoted identifier on PostgreSQL would not match."""
    inputs: dict[str, str] = field(init=False)
    """Input column (lower case) -> its internal name in hw_src."""

    def __post_init__(self) -> None:
        self.inputs = {}
        for m in self.spec.measures:
            if m.column is not None:
                self.inputs.setdefault(m.column.lower(), f"hw_c{len(self.inputs)}")

    # -- names ---------------------------------------------------------------------------------
    def dims(self, names: tuple[str, ...] | None = None) -> list[str]:
        """Internal names of dimensions (all, or ``names``)."""
        index = {d: i for i, d in enumerate(self.spec.dimensions)}
        return [f"hw_d{index[d]}" for d in (self.spec.dimensions if names is None else names)]

    def keys(self) -> list[str]:
        return [B, *self.dims()]

    def value(self, m: Measure) -> str:
        return f"hw_m{self.spec.measures.index(m)}"

    def sketch(self, m: Measure) -> str:
        return f"hw_k{self.spec.measures.index(m)}"

    def input(self, name: str) -> exp.Column:
        """A column of the model's SELECT, as the SELECT spells it."""
        return _col(self.columns.get(name.lower(), name), "hw_in")

    def source(self, m: Measure) -> str:
        assert m.column is not None
        return self.inputs[m.column.lower()]

    # -- the statement -------------------------------------------------------------------------
    def sql(self, model_sql: str, since: exp.Expr | None = None) -> str:
        """The aggregate's SELECT over ``model_sql`` (in the engine's dialect), all buckets or
        those ``>= since`` (a literal of the grain column's type)."""
        text = self.tree(since).sql(dialect=self.dialect)
        body = model_sql.strip().rstrip(";").strip()
        return text.replace(BODY, "\n" + body + "\n", 1)  # a trailing `-- comment` stays inside

    def tree(self, since: exp.Expr | None = None) -> exp.Select:
        from sqlglot import exp

        spec = self.spec
        final = "hw_rolled" if spec.mode else "hw_fine"
        projection = [_as(_col(B), spec.grain.column)]
        projection += [
            _as(_col(d), name) for d, name in zip(self.dims(), spec.dimensions, strict=True)
        ]
        if spec.mode:
            projection.append(_as(_col(LEVEL), LEVEL_COLUMN))
        for m in spec.measures:
            value: exp.Expr = _col(self.value(m))
            if m.hll:
                value = exp.func("coalesce", value, exp.Literal.number(0))
            projection.append(_as(value, m.name))
            if m.hll:
                projection.append(_as(_col(self.sketch(m)), m.sketch))
        select = exp.select(*projection).from_(_table(final))
        ctes = [("hw_src", self.src(since)), ("hw_fine", self.fine())]
        if spec.mode:
            ctes.append(("hw_rolled", self.rolled()))
        for name, query in ctes:
            select = select.with_(_id(name), as_=query)
        return select

    def src(self, since: exp.Expr | None) -> exp.Select:
        from sqlglot import exp

        spec = self.spec
        grain = self.input(spec.grain.column)
        projection = [_as(bucket(grain.copy(), spec.grain.granularity, self.kind), B)]
        projection += [_as(self.input(d), i) for d, i in zip(spec.dimensions, self.dims(), strict=True)]  # fmt: skip
        projection += [_as(self.input(c), i) for c, i in self.inputs.items()]
        where: exp.Expr = exp.Not(this=exp.Is(this=grain.copy(), expression=exp.Null()))
        if since is not None:
            where = exp.and_(where, exp.GTE(this=grain.copy(), expression=since))
        model = exp.Subquery(this=exp.var(BODY), alias=exp.TableAlias(this=_id("hw_in")))
        return exp.select(*projection).from_(model).where(where)

    # -- the finest level ----------------------------------------------------------------------
    def fine(self) -> exp.Query:
        """One row per bucket and dimensions: the plain measures and the sketches (not the exact
        distinct counts of a rollup, which are counted per level from hw_src)."""
        from sqlglot import exp

        keys = [_col(k) for k in self.keys()]
        plain = [m for m in self.spec.measures if not m.hll and not (self.spec.mode and m.exact_distinct)]  # fmt: skip
        base = exp.select(*[k.copy() for k in keys], *[_as(self.fine_agg(m), self.value(m)) for m in plain])  # fmt: skip
        parts: list[tuple[exp.Select, list[str]]] = [
            (base.from_(_table("hw_src")).group_by(*[k.copy() for k in keys]), [self.value(m) for m in plain])
        ]  # fmt: skip
        for m in self.spec.measures:
            if m.hll:
                parts.append((self.fine_sketch(m), [self.value(m), self.sketch(m)]))
        return self.side_by_side(parts, self.keys())

    def fine_agg(self, m: Measure) -> exp.Expr:
        from sqlglot import exp

        if m.agg == "count" and m.column is None:
            return exp.Count(this=exp.Star())
        column = _col(self.source(m))
        if m.agg == "sum":
            return exp.Sum(this=column)
        if m.agg == "min":
            return exp.Min(this=column)
        if m.agg == "max":
            return exp.Max(this=column)
        if m.agg == "count":
            return exp.Count(this=column)
        return exp.Count(this=exp.Distinct(expressions=[column]))

    def fine_sketch(self, m: Measure) -> exp.Select:
        """Registers of measure ``m`` per bucket and dimensions, then its sketch and estimate."""
        from sqlglot import exp

        sk = self._sketches()
        keys = self.keys()
        column = _col(self.source(m))
        hashed = (
            exp.select(*[_col(k) for k in keys], _as(sk.hash63(column), H))
            .from_(_table("hw_src"))
            .where(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())))
        )
        index = exp.BitwiseAnd(this=_col(H), expression=exp.Literal.number((1 << m.precision) - 1))
        registers = (
            exp.select(*[_col(k) for k in keys], _as(exp.Max(this=sk.register(_col(H), m.precision)), E))
            .from_(_sub(hashed, "hw_hashed"))
            .group_by(*[_col(k) for k in keys], exp.Paren(this=index))
        )  # fmt: skip
        return self._collect(m, registers, keys)

    def _collect(self, m: Measure, registers: exp.Select, keys: list[str]) -> exp.Select:
        """array_agg of the register codes and the estimate, per ``keys``."""
        from sqlglot import exp

        sk = self._sketches()
        ordered = exp.Order(expressions=[exp.Ordered(this=_col(E))])
        agg = exp.ArrayAgg(this=exp.Order(this=_col(E), expressions=ordered.expressions))
        return (
            exp.select(*[_col(k) for k in keys], _as(sk.estimate(_col(E), m.precision), self.value(m)), _as(agg, self.sketch(m)))
            .from_(_sub(registers, "hw_registers"))
            .group_by(*[_col(k) for k in keys])
        )  # fmt: skip

    def _sketches(self) -> SketchSQL:
        assert self.sketches is not None, "an HLL measure needs the engine's sketch spelling"
        return self.sketches

    # -- rollup / cube -----------------------------------------------------------------------------
    def grouping_sets(self, extra: list[str] | None = None) -> exp.Group:
        from sqlglot import exp

        fixed = self.dims(self.spec.fixed)
        sets = []
        for kept in self.spec.grouping_sets():
            names = [B, *fixed, *self.dims(kept), *(extra or [])]
            sets.append(exp.Tuple(expressions=[_col(n) for n in names]))
        return exp.Group(expressions=[exp.GroupingSets(expressions=sets)])

    def level(self) -> exp.Expr:
        from sqlglot import exp

        return _as(exp.Grouping(expressions=[_col(d) for d in self.dims(self.spec.rolled)]), LEVEL)

    def rolled(self) -> exp.Query:
        """Every level of the rollup/cube: mergeable measures and sketches from hw_fine, exact
        distinct counts from hw_src."""
        from sqlglot import exp

        keys = [*self.keys(), LEVEL]
        merged = [m for m in self.spec.measures if not m.hll and not m.exact_distinct]
        base = exp.select(*[_col(k) for k in self.keys()], self.level(), *[_as(self.merged_agg(m), self.value(m)) for m in merged])  # fmt: skip
        base.set("group", self.grouping_sets())
        parts: list[tuple[exp.Select, list[str]]] = [(base.from_(_table("hw_fine")), [self.value(m) for m in merged])]  # fmt: skip
        exact = [m for m in self.spec.measures if m.exact_distinct]
        if exact:
            counted = exp.select(*[_col(k) for k in self.keys()], self.level(), *[_as(self.fine_agg(m), self.value(m)) for m in exact])  # fmt: skip
            counted.set("group", self.grouping_sets())
            parts.append((counted.from_(_table("hw_src")), [self.value(m) for m in exact]))
        for m in self.spec.measures:
            if m.hll:
                parts.append((self.rolled_sketch(m), [self.value(m), self.sketch(m)]))
        return self.side_by_side(parts, keys)

    def merged_agg(self, m: Measure) -> exp.Expr:
        """A coarser level of a mergeable measure from the finer rows."""
        from sqlglot import exp

        value = _col(self.value(m))
        if m.agg == "sum":
            return exp.Sum(this=value)
        if m.agg == "count":
            return exp.cast(exp.Sum(this=value), "BIGINT")
        return exp.Min(this=value) if m.agg == "min" else exp.Max(this=value)

    def rolled_sketch(self, m: Measure) -> exp.Select:
        """The sketch of measure ``m`` at every level: the fine sketches unnested and merged
        register-wise (max of the codes per register), never recounted from the input."""
        from sqlglot import exp

        keys = self.keys()
        unnested = exp.select(*[_col(k) for k in keys], _as(exp.Explode(this=_col(self.sketch(m))), E)).from_(_table("hw_fine"))  # fmt: skip
        indexed = exp.select(*[_col(k) for k in keys], _col(E), _as(exp.BitwiseRightShift(this=_col(E), expression=exp.Literal.number(RANK_BITS)), IDX))  # fmt: skip
        indexed = indexed.from_(_sub(unnested, "hw_codes"))
        registers = exp.select(*[_col(k) for k in keys], self.level(), _as(exp.Max(this=_col(E)), E))  # fmt: skip
        registers = registers.from_(_sub(indexed, "hw_indexed"))
        registers.set("group", self.grouping_sets([IDX]))
        return self._collect(m, registers, [*keys, LEVEL])

    def null(self, column: str) -> exp.Expr:
        """NULL for ``column`` in a part that does not compute it, typed where the type is known
        (PostgreSQL types a column NULL in the first two branches of a UNION as text)."""
        from sqlglot import exp

        for m in self.spec.measures:
            if m.hll and column == self.sketch(m):
                return exp.cast(exp.Null(), exp.DataType.build("INT[]"))
            if column == self.value(m) and (m.agg in ("count", "count_distinct")):
                return exp.cast(exp.Null(), "BIGINT")
        return exp.Null()  # sum, min, max: given by the first part, whose type the others take

    # -- parts side by side ------------------------------------------------------------------------
    def side_by_side(self, parts: list[tuple[exp.Select, list[str]]], keys: list[str]) -> exp.Query:
        """One row per key from parts that each give some columns for (some of) the keys:
        UNION ALL, padded with NULLs, then GROUP BY the keys keeping each column's one value."""
        from sqlglot import exp

        if len(parts) == 1:
            return parts[0][0]
        columns = [c for _, cols in parts for c in cols]
        padded: list[exp.Select] = []
        for query, cols in parts:
            select = query.copy()
            given = {c: e for c, e in zip(cols, select.expressions[-len(cols) :], strict=True)} if cols else {}  # fmt: skip
            head = select.expressions[: len(select.expressions) - len(cols)]
            select.set(
                "expressions", [*head, *[given.get(c) or _as(self.null(c), c) for c in columns]]
            )
            padded.append(select)
        union: exp.Query = padded[0]
        for select in padded[1:]:
            union = exp.union(union, select, distinct=False)
        pick = {self.value(m): m for m in self.spec.measures}
        combined = [
            _as((exp.Min if c in pick and pick[c].agg == "min" else exp.Max)(this=_col(c)), c)
            for c in columns
        ]
        return (
            exp.select(*[_col(k) for k in keys], *combined)
            .from_(_sub(union, "hw_parts"))
            .group_by(*[_col(k) for k in keys])
        )
