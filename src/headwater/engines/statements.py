"""Warehouse statements as sqlglot expressions, rendered in one engine's dialect.

This is the one code path every engine shares: the strategies (create, publish, merge,
delete+insert, insert_overwrite, interval replace, snapshot close/insert, scd, quarantine split)
ask `Statements` for their SQL, and an engine differs only by its dialect and by the few
statements its `strategies` module overrides.

A model's SELECT (or a user's predicate) is project SQL written in the engine's dialect already:
it is spliced into the rendered statement as text, never re-parsed (`_BODY` placeholders), so a
statement costs one small tree and one render (~50 µs) and the user's SQL reaches the engine
exactly as written.

The statements every build issues (create, drop, rename, create schema) are also kept as
templates: rendered once by sqlglot with sentinel names, then filled in by string replacement.
`Engine.close` keeps them in a sealed file of the project's cache (`.headwater/cache/`, readable
only by the user who wrote it), so a warm run does not import sqlglot at all (~150 ms).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from headwater.project.definition import Relation

if TYPE_CHECKING:
    from sqlglot import exp

TemplateKey: TypeAlias = tuple[Hashable, ...]
"""A statement's kind and options, then the shape of its relations (which parts are set)."""

_BODY = "__hw_body_{}__"
_BODY_RE = re.compile(r"__hw_body_(\d+)__")
_PARTS = ("database", "schema", "identifier")
TEMPLATE_FORMAT = 1
"""Bump when a templated statement changes: older cached templates are then ignored."""


def _sentinel(i: int, part: str) -> str:
    return f"__hw_r{i}_{part}__"


class Statements:
    """Builders for one dialect (`duckdb`, `postgres`, `spark`, ...)."""

    def __init__(
        self, dialect: str, cache_file: Path | None = None, null_safe_keys: bool = True
    ) -> None:
        self.dialect = dialect
        self.null_safe_keys = null_safe_keys
        self.cache_file = cache_file
        self._templates: dict[TemplateKey, str] | None = None
        self._quoting: tuple[str, str, str] | None = None  # open, close, escaped close
        self._dirty = False

    # -- templates -----------------------------------------------------------------------------
    def _load(self) -> dict[TemplateKey, str]:
        if self._templates is None:
            self._templates = {}
            if self.cache_file is not None:
                from headwater.private import read_sealed

                found = read_sealed(self.cache_file)
                if isinstance(found, dict) and found.get("format") == (
                    self.dialect,
                    TEMPLATE_FORMAT,
                ):
                    self._templates = dict(found.get("templates") or {})
                    self._quoting = found.get("quoting")
        return self._templates

    def save(self) -> None:
        """Keep the templates made in this process for the next one (sealed, private)."""
        if not self._dirty or self.cache_file is None or self._templates is None:
            return
        from headwater.private import write_sealed

        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            write_sealed(
                self.cache_file,
                {
                    "format": (self.dialect, TEMPLATE_FORMAT),
                    "templates": self._templates,
                    "quoting": self._quoting,
                },
            )
            self._dirty = False
        except OSError:
            pass  # a read-only project: the next run renders again

    def _quote(self, name: str) -> str:
        if self._quoting is None:
            from sqlglot import exp

            plain = exp.to_identifier("a", quoted=True).sql(dialect=self.dialect)
            opening, closing = plain[0], plain[-1]
            escaped = exp.to_identifier(closing, quoted=True).sql(dialect=self.dialect)[1:-1]
            self._quoting = (opening, closing, escaped)
            self._dirty = True
        opening, closing, escaped = self._quoting
        return opening + name.replace(closing, escaped) + closing

    def _templated(
        self, key: TemplateKey, relations: Sequence[Relation], build: Callable[..., str]
    ) -> str:
        """``build(*relations)`` through a template keyed by ``key`` and the relations' shape:
        rendered once with sentinel names, then filled in."""
        shape = tuple(tuple(bool(getattr(r, p)) for p in _PARTS) for r in relations)
        full = (*key, shape)
        templates = self._load()
        template = templates.get(full)
        if template is None:
            sentinels = [
                Relation(
                    _sentinel(i, "schema") if r.schema else "",
                    _sentinel(i, "identifier"),
                    _sentinel(i, "database") if r.database else None,
                )
                for i, r in enumerate(relations)
            ]
            template = templates[full] = build(*sentinels)
            self._quote("a")
            self._dirty = True
        opening, closing, _ = self._quoting or ('"', '"', '""')
        for i, relation in enumerate(relations):
            for part in _PARTS:
                value = getattr(relation, part)
                if value:
                    template = template.replace(
                        opening + _sentinel(i, part) + closing, self._quote(str(value))
                    )
        return template

    # -- pieces --------------------------------------------------------------------------------
    @staticmethod
    def table(relation: Relation, alias: str | None = None) -> exp.Table:
        from sqlglot import exp

        parts = {"this": exp.to_identifier(relation.identifier, quoted=True)}
        if relation.schema:
            parts["db"] = exp.to_identifier(relation.schema, quoted=True)
        if relation.database:
            parts["catalog"] = exp.to_identifier(relation.database, quoted=True)
        table = exp.Table(**parts)
        if alias:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        return table

    @staticmethod
    def column(name: str, table: str | None = None) -> exp.Column:
        from sqlglot import exp

        return exp.column(
            exp.to_identifier(name, quoted=True), table=exp.to_identifier(table) if table else None
        )

    def type_(self, type_name: str, source_dialect: str | None = None) -> exp.DataType:
        """A column type read from a catalog (any engine's spelling) as a sqlglot type."""
        from sqlglot import exp
        from sqlglot.errors import ParseError

        try:
            return exp.DataType.build(type_name, dialect=source_dialect or self.dialect)
        except (ParseError, ValueError):
            return exp.DataType.build(type_name, udt=True)

    @staticmethod
    def raw(index: int) -> exp.Expression:
        """A placeholder for spliced text (a SELECT, a predicate)."""
        from sqlglot import exp

        return exp.var(_BODY.format(index))

    def render(self, expression: exp.Expression, *bodies: str) -> str:
        """The statement in this dialect, with the placeholders replaced by ``bodies``."""
        text = expression.sql(dialect=self.dialect)
        if not bodies:
            return text
        cleaned = [b.strip().rstrip(";").strip() for b in bodies]
        return _BODY_RE.sub(lambda m: cleaned[int(m.group(1))], text)

    def key_match(self, keys: Sequence[str], left: str, right: str) -> exp.Condition:
        from sqlglot import exp

        match = exp.NullSafeEQ if self.null_safe_keys else exp.EQ
        parts = [match(this=self.column(k, left), expression=self.column(k, right)) for k in keys]
        return exp.and_(*parts) if len(parts) > 1 else parts[0]

    def _and_raw(
        self, condition: exp.Condition, predicates: str
    ) -> tuple[exp.Condition, list[str]]:
        """``condition`` AND the spliced ``predicates`` text (dbt's `incremental_predicates`)."""
        from sqlglot import exp

        if not predicates:
            return condition, []
        return exp.and_(condition, exp.Paren(this=self.raw(0))), [predicates]

    # -- DDL ------------------------------------------------------------------------------------
    def create_as(
        self,
        relation: Relation,
        body: str,
        kind: str = "table",
        replace: bool = False,
        temporary: bool = False,
    ) -> str:
        template = self._templated(
            ("create_as", kind, replace, temporary),
            [relation],
            lambda r: self._create_as(r, _BODY.format(0), kind, replace, temporary),
        )
        return template.replace(_BODY.format(0), body.strip().rstrip(";").strip(), 1)

    def _create_as(
        self, relation: Relation, body: str, kind: str, replace: bool, temporary: bool
    ) -> str:
        from sqlglot import exp

        props = exp.Properties(expressions=[exp.TemporaryProperty()]) if temporary else None
        create = exp.Create(
            this=self.table(relation),
            kind=kind.upper(),
            expression=self.raw(0),
            replace=replace,
            properties=props,
        )
        return self.render(create, body)

    def create_empty_like(self, relation: Relation, body: str) -> str:
        """CREATE TABLE relation AS the shape of ``body`` with no rows."""
        from sqlglot import exp

        select = (
            exp.select("*")
            .from_(
                exp.Subquery(this=self.raw(0), alias=exp.TableAlias(this=exp.to_identifier("b")))
            )
            .limit(0)
        )
        return self.render(
            exp.Create(this=self.table(relation), kind="TABLE", expression=select), body
        )

    def create_table(
        self,
        relation: Relation,
        columns: Sequence[tuple[str, str]],
        source_dialect: str | None = None,
    ) -> str:
        from sqlglot import exp

        schema = exp.Schema(
            this=self.table(relation),
            expressions=[
                exp.ColumnDef(
                    this=exp.to_identifier(n, quoted=True), kind=self.type_(t, source_dialect)
                )
                for n, t in columns
            ],
        )
        return self.render(exp.Create(this=schema, kind="TABLE"))

    def drop(
        self, relation: Relation, kind: str = "table", if_exists: bool = True, cascade: bool = False
    ) -> str:
        return self._templated(
            ("drop", kind, if_exists, cascade),
            [relation],
            lambda r: self._drop(r, kind, if_exists, cascade),
        )

    def _drop(self, relation: Relation, kind: str, if_exists: bool, cascade: bool) -> str:
        from sqlglot import exp

        return self.render(
            exp.Drop(
                tables=[self.table(relation)], kind=kind.upper(), exists=if_exists, cascade=cascade
            )
        )

    def rename(self, relation: Relation, new_identifier: str, kind: str = "table") -> str:
        def build(old: Relation, new: Relation) -> str:
            from sqlglot import exp

            action = exp.AlterRename(
                this=exp.Table(this=exp.to_identifier(new.identifier, quoted=True))
            )
            return self.render(exp.Alter(this=self.table(old), kind=kind.upper(), actions=[action]))

        return self._templated(("rename", kind), [relation, Relation("", new_identifier)], build)

    def add_column(
        self, relation: Relation, name: str, type_name: str, source_dialect: str | None = None
    ) -> str:
        from sqlglot import exp

        col = exp.ColumnDef(
            this=exp.to_identifier(name, quoted=True), kind=self.type_(type_name, source_dialect)
        )
        return self.render(exp.Alter(this=self.table(relation), kind="TABLE", actions=[col]))

    def drop_column(self, relation: Relation, name: str) -> str:
        from sqlglot import exp

        action = exp.Drop(tables=[self.column(name)], kind="COLUMN")
        return self.render(exp.Alter(this=self.table(relation), kind="TABLE", actions=[action]))

    def alter_column_type(
        self, relation: Relation, name: str, type_name: str, source_dialect: str | None = None
    ) -> str:
        from sqlglot import exp

        action = exp.AlterColumn(
            this=exp.to_identifier(name, quoted=True), dtype=self.type_(type_name, source_dialect)
        )
        return self.render(exp.Alter(this=self.table(relation), kind="TABLE", actions=[action]))

    def create_schema(self, schema: str) -> str:
        def build(r: Relation) -> str:
            from sqlglot import exp

            return self.render(
                exp.Create(
                    this=exp.Table(db=exp.to_identifier(r.identifier, quoted=True)),
                    kind="SCHEMA",
                    exists=True,
                )
            )

        return self._templated(("create_schema",), [Relation("", schema)], build)

    # -- DML ------------------------------------------------------------------------------------
    def insert_select(
        self,
        target: Relation,
        columns: Sequence[str],
        source: Relation | str,
        where: str = "",
        values: Sequence[str] | None = None,
    ) -> str:
        """INSERT INTO target (columns) SELECT columns|values FROM source [WHERE where].

        ``source`` is a relation or a SELECT (text); ``values`` are SQL texts replacing the
        selected columns (snapshot metadata); ``where`` is SQL text."""
        from sqlglot import exp

        bodies: list[str] = []
        if isinstance(source, Relation):
            src: exp.Expression = self.table(source, alias="s")
        else:
            src = exp.Subquery(
                this=self.raw(len(bodies)), alias=exp.TableAlias(this=exp.to_identifier("s"))
            )
            bodies.append(source)
        if values is None:
            projection: list[exp.Expression] = [self.column(c) for c in columns]
        else:
            projection = []
            for value in values:
                projection.append(self.raw(len(bodies)))
                bodies.append(value)
        select = exp.select(*projection).from_(src)
        if where:
            select = select.where(self.raw(len(bodies)))
            bodies.append(where)
        insert = exp.Insert(
            this=exp.Schema(
                this=self.table(target),
                expressions=[exp.to_identifier(c, quoted=True) for c in columns],
            ),
            expression=select,
        )
        return self.render(insert, *bodies)

    def delete_where(self, target: Relation, where: str) -> str:
        from sqlglot import exp

        return self.render(
            exp.Delete(this=self.table(target), where=exp.Where(this=self.raw(0))), where
        )

    def delete_matching(
        self, target: Relation, source: Relation, keys: Sequence[str], predicates: str = ""
    ) -> str:
        """Delete the target's rows whose key is in ``source`` (delete+insert, merge as replace)."""
        from sqlglot import exp

        on, bodies = self._and_raw(self.key_match(keys, "t", "s"), predicates)
        exists = exp.Exists(this=exp.select("1").from_(self.table(source, alias="s")).where(on))
        delete = exp.Delete(this=self.table(target, alias="t"), where=exp.Where(this=exists))
        return self.render(delete, *bodies)

    def delete_unmatched(self, target: Relation, source: Relation, keys: Sequence[str]) -> str:
        """Delete the target's rows whose key is not in ``source`` (scd1 hard deletes)."""
        from sqlglot import exp

        exists = exp.Exists(
            this=exp.select("1")
            .from_(self.table(source, alias="s"))
            .where(self.key_match(keys, "t", "s"))
        )
        delete = exp.Delete(
            this=self.table(target, alias="t"), where=exp.Where(this=exp.Not(this=exists))
        )
        return self.render(delete)

    def delete_partitions(self, target: Relation, source: Relation, partition: str) -> str:
        """Delete the target's partitions present in ``source`` (insert_overwrite).
        ``partition`` is SQL text: a column, a tuple of columns, or an expression over them."""
        from sqlglot import exp

        inner = exp.select(self.raw(0)).from_(self.table(source)).distinct()
        cond = exp.In(this=exp.Paren(this=self.raw(0)), query=exp.Subquery(this=inner))
        return self.render(
            exp.Delete(this=self.table(target), where=exp.Where(this=cond)), partition
        )

    def update_from(
        self,
        target: Relation,
        source: Relation,
        assignments: dict[str, str],
        keys: Sequence[str],
        predicates: str = "",
    ) -> str:
        """UPDATE target AS t SET col = <sql> FROM source AS s WHERE keys match.
        ``assignments`` map a target column to SQL text over ``s`` (and ``t``)."""
        from sqlglot import exp

        on, bodies = self._and_raw(self.key_match(keys, "t", "s"), predicates)
        sets = []
        for column, value in assignments.items():
            sets.append(
                exp.EQ(
                    this=exp.column(exp.to_identifier(column, quoted=True)),
                    expression=self.raw(len(bodies)),
                )
            )
            bodies.append(value)
        update = exp.Update(
            this=self.table(target, alias="t"),
            expressions=sets,
            from_=exp.From(this=self.table(source, alias="s")),
            where=exp.Where(this=on),
        )
        return self.render(update, *bodies)

    def update_where(self, target: Relation, assignments: dict[str, str], where: str) -> str:
        from sqlglot import exp

        bodies: list[str] = []
        sets = []
        for column, value in assignments.items():
            sets.append(
                exp.EQ(
                    this=exp.column(exp.to_identifier(column, quoted=True)),
                    expression=self.raw(len(bodies)),
                )
            )
            bodies.append(value)
        update = exp.Update(
            this=self.table(target), expressions=sets, where=exp.Where(this=self.raw(len(bodies)))
        )
        return self.render(update, *bodies, where)

    def insert_missing(
        self,
        target: Relation,
        source: Relation,
        columns: Sequence[str],
        keys: Sequence[str],
        predicates: str = "",
    ) -> str:
        """Insert the rows of ``source`` whose key is not in ``target`` (merge's insert half)."""
        from sqlglot import exp

        on, bodies = self._and_raw(self.key_match(keys, "t", "s"), predicates)
        exists = exp.Exists(this=exp.select("1").from_(self.table(target, alias="t")).where(on))
        select = (
            exp.select(*[self.column(c, "s") for c in columns])
            .from_(self.table(source, alias="s"))
            .where(exp.Not(this=exists))
        )
        insert = exp.Insert(
            this=exp.Schema(
                this=self.table(target),
                expressions=[exp.to_identifier(c, quoted=True) for c in columns],
            ),
            expression=select,
        )
        return self.render(insert, *bodies)

    def merge(
        self,
        target: Relation,
        source: Relation,
        columns: Sequence[str],
        keys: Sequence[str],
        update: Sequence[str],
        predicates: str = "",
    ) -> str:
        """MERGE INTO target USING source ON keys: update ``update`` columns, insert the rest."""
        from sqlglot import exp

        on, bodies = self._and_raw(self.key_match(keys, "t", "s"), predicates)
        whens = []
        if update:
            sets = [
                exp.EQ(
                    this=exp.column(exp.to_identifier(c, quoted=True)),
                    expression=self.column(c, "s"),
                )
                for c in update
            ]
            whens.append(exp.When(matched=True, then=exp.Update(expressions=sets)))
        values = exp.Tuple(expressions=[self.column(c, "s") for c in columns])
        cols = exp.Tuple(
            expressions=[exp.column(exp.to_identifier(c, quoted=True)) for c in columns]
        )
        whens.append(exp.When(matched=False, then=exp.Insert(this=cols, expression=values)))
        merge = exp.Merge(
            this=self.table(target, alias="t"),
            using=self.table(source, alias="s"),
            on=on,
            whens=exp.Whens(expressions=whens),
        )
        return self.render(merge, *bodies)

    # -- queries ----------------------------------------------------------------------------------
    def count_duplicate_keys(self, relation: Relation, keys: Sequence[str]) -> str:
        """SELECT the number of rows beyond the first per key."""
        from sqlglot import exp

        grouped = (
            exp.select(exp.alias_(exp.Count(this=exp.Star()), "n"))
            .from_(self.table(relation))
            .group_by(*[self.column(k) for k in keys])
        )
        total = exp.func(
            "coalesce", exp.Sum(this=exp.column("n") - exp.Literal.number(1)), exp.Literal.number(0)
        )
        return self.render(
            exp.select(total).from_(
                exp.Subquery(this=grouped, alias=exp.TableAlias(this=exp.to_identifier("g")))
            )
        )

    def select_all(self, relation: Relation, limit: int | None = None) -> str:
        from sqlglot import exp

        select = exp.select("*").from_(self.table(relation))
        if limit is not None:
            select = select.limit(limit)
        return self.render(select)

    def literal(self, value: Any) -> str:
        """A Python scalar as a literal of this dialect."""
        from sqlglot import exp

        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return self.render(exp.Boolean(this=value))
        if isinstance(value, int | float):
            return self.render(exp.Literal.number(value))
        return self.render(exp.Literal.string(str(value)))

    def timestamp_literal(self, text: str, with_time_zone: bool = False) -> str:
        from sqlglot import exp

        kind = exp.DataType.Type.TIMESTAMPTZ if with_time_zone else exp.DataType.Type.TIMESTAMP
        return self.render(exp.cast(exp.Literal.string(text), kind))
