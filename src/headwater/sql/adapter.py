"""dbt's `adapter` object and the warehouse-facing Jinja functions: `run_query`, `statement` /
`load_result`.

At parse time there is no warehouse: like dbt's parser, introspection returns nothing
(`get_relation` → None, `get_columns_in_relation` → [], `run_query` → None) and the renderer
notes that the node introspects, so the runner renders it again, after its parents are built,
with `execute` true and a live engine (`headwater.sql.runtime`).

An attribute of `adapter` that headwater does not implement is an error naming it, never a
silent no-op.

Every engine answers through the Engine seam: relation kinds and columns from the engine's
catalog (`relation_kind`, `columns`: on PostgreSQL `pg_class` / `pg_attribute`, with column types
in dbt-postgres's conventions, `headwater.sql.relations.PostgresColumn`), queries with
`Engine.query`, and DDL built by `Engine.statements` in the engine's dialect. The few catalog
queries written here (`information_schema.schemata` / `.tables`) are ANSI SQL both engines answer
alike; PostgreSQL's materialized views are not in `information_schema.tables`, so
`list_relations` does not list them (headwater never creates any).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

from headwater.engines.base import quote_identifier
from headwater.project.definition import Relation
from headwater.sql.relations import DbtColumn, DbtRelation, column_for

if TYPE_CHECKING:
    from headwater.engines.base import Engine

RelationArg = DbtRelation | Relation
"""What a template passes where dbt's adapter takes a relation: `ref()`, `source()`, `this`,
`api.Relation.create(...)` (a `DbtRelation`), or a node's `Relation`."""


class QueryRow(tuple[Any, ...]):
    """A row of a `run_query` result: by position, or by column name (`row['n']`, `row.n`)."""

    _names: tuple[str, ...] = ()

    def __new__(cls, values: tuple[Any, ...], names: tuple[str, ...]) -> QueryRow:
        obj = super().__new__(cls, values)
        obj._names = names
        return obj

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._names.index(key))
            except ValueError:
                raise KeyError(key) from None
        return tuple.__getitem__(self, key)

    def __getattr__(self, name: str) -> Any:
        if name in self._names:
            return tuple.__getitem__(self, self._names.index(name))
        raise AttributeError(name)

    def keys(self) -> list[str]:
        return list(self._names)

    def values(self) -> list[Any]:
        return list(self)

    def items(self) -> list[tuple[str, Any]]:
        return list(zip(self._names, self, strict=True))

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._names else default


class QueryColumn:
    def __init__(self, name: str, values: list[Any], type_name: str) -> None:
        self.name = name
        self._values = values
        self.data_type = type_name

    def values(self) -> list[Any]:
        return list(self._values)

    def values_distinct(self) -> list[Any]:
        return list(dict.fromkeys(self._values))

    def values_without_nulls(self) -> list[Any]:
        return [v for v in self._values if v is not None]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index: int) -> Any:
        return self._values[index]


class _Columns(list[QueryColumn]):
    """`table.columns[0]` or `table.columns['name']`."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            for col in self:
                if col.name == key:
                    return col
            raise KeyError(key)
        return list.__getitem__(self, key)

    def keys(self) -> list[str]:
        return [c.name for c in self]


class QueryTable:
    """What `run_query` returns (agate's Table, the parts templates use): `rows`, `columns`,
    `column_names`, `column_types`, iteration, `len()`, `print_table()`."""

    def __init__(
        self, names: list[str], rows: list[tuple[Any, ...]], types: list[str] | None = None
    ) -> None:
        self.column_names = tuple(names)
        self.column_types = tuple(types or ["unknown"] * len(names))
        self.rows = [QueryRow(tuple(r), self.column_names) for r in rows]
        self.columns = _Columns(
            QueryColumn(n, [r[i] for r in rows], self.column_types[i]) for i, n in enumerate(names)
        )

    def __iter__(self) -> Iterator[QueryRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> QueryRow:
        return self.rows[index]

    def print_table(self, *args: Any, **kwargs: Any) -> str:
        return ""

    def select(self, names: list[str]) -> QueryTable:
        idx = [self.column_names.index(n) for n in names]
        return QueryTable(
            list(names),
            [tuple(r[i] for i in idx) for r in self.rows],
            [self.column_types[i] for i in idx],
        )


class Warehouse:
    """The live half of the Jinja context: an engine, or None at parse time."""

    def __init__(self, engine: Engine | None, on_introspect: Callable[[str], None]) -> None:
        self.engine = engine
        self._on_introspect = on_introspect

    @property
    def live(self) -> bool:
        return self.engine is not None

    def query(self, sql: str, what: str) -> QueryTable | None:
        self._on_introspect(what)
        if self.engine is None:
            return None
        names, rows = self.engine.query(sql)
        return QueryTable(names, rows)

    def execute(self, sql: str, what: str) -> None:
        self._on_introspect(what)
        if self.engine is not None and sql.strip():
            self.engine.execute(sql)

    def change(self, build: Callable[[Engine], str], what: str) -> None:
        """Run the DDL ``build`` makes from the live engine (its `statements`, in its dialect);
        the engine's catalog is read again afterwards, as the statement may change it."""
        self._on_introspect(what)
        if self.engine is not None:
            sql = build(self.engine)
            if sql.strip():
                self.engine.execute(sql)
            self.engine.invalidate_catalog()

    def relation_kind(self, schema: str, identifier: str) -> str | None:
        if self.engine is None:
            return None
        self.engine.invalidate_catalog()
        return self.engine.relation_kind(Relation(schema=schema, identifier=identifier))

    def columns(self, schema: str, identifier: str) -> list[tuple[str, str]]:
        if self.engine is None:
            return []
        return self.engine.columns(Relation(schema=schema, identifier=identifier))


class Adapter:
    """dbt's `adapter` in templates."""

    def __init__(
        self,
        adapter_type: str,
        warehouse: Warehouse,
        dispatch: Callable[..., Any],
        database: str | None,
        unsupported: Callable[[str], Exception],
    ) -> None:
        self._type = adapter_type
        self._warehouse = warehouse
        self._dispatch = dispatch
        self._database = database
        self._unsupported = unsupported

    def type(self) -> str:
        return self._type

    def dispatch(
        self, macro_name: str, macro_namespace: str | None = None, packages: list[str] | None = None
    ) -> Any:
        return self._dispatch(macro_name, macro_namespace, packages)

    # -- quoting ------------------------------------------------------------------------------
    def quote(self, identifier: Any) -> str:
        return quote_identifier(str(identifier))

    def quote_as_configured(self, identifier: Any, quote_key: str) -> str:
        return quote_identifier(str(identifier))

    def quote_seed_column(self, column: Any, quote_config: Any) -> str:
        return quote_identifier(str(column)) if quote_config in (None, True) else str(column)

    # -- introspection --------------------------------------------------------------------------
    def _relation(self, relation: object) -> tuple[str, str]:
        # a template may pass any value here: anything but a relation is an error naming it
        if isinstance(relation, DbtRelation):
            return str(relation.schema), str(relation.identifier)
        if isinstance(relation, Relation):
            return relation.schema, relation.identifier
        raise self._unsupported(
            f"a relation (ref(), source(), this or api.Relation.create(...)), not `{relation!r}`"
        )

    def get_relation(self, database: Any, schema: Any, identifier: Any) -> DbtRelation | None:
        self._warehouse._on_introspect("adapter.get_relation")
        kind = self._warehouse.relation_kind(str(schema), str(identifier))
        if kind is None:
            return None
        return DbtRelation(
            self._database, str(schema), str(identifier), kind, adapter_type=self._type
        )

    def load_relation(self, relation: RelationArg) -> DbtRelation | None:
        schema, identifier = self._relation(relation)
        return self.get_relation(self._database, schema, identifier)

    def get_columns_in_relation(self, relation: RelationArg) -> list[DbtColumn]:
        """The relation's columns from the engine's catalog, typed as the adapter's dbt plugin
        types them (DuckDB: `INTEGER`, `VARCHAR`; PostgreSQL: `integer`, `character varying`
        with `char_size` 20, `numeric` with precision and scale)."""
        self._warehouse._on_introspect("adapter.get_columns_in_relation")
        schema, identifier = self._relation(relation)
        return [
            column_for(self._type, name, dtype)
            for name, dtype in self._warehouse.columns(schema, identifier)
        ]

    def get_missing_columns(
        self, from_relation: RelationArg, to_relation: RelationArg
    ) -> list[DbtColumn]:
        have = {c.name.lower() for c in self.get_columns_in_relation(to_relation)}
        return [
            c for c in self.get_columns_in_relation(from_relation) if c.name.lower() not in have
        ]

    def expand_target_column_types(
        self, from_relation: RelationArg, to_relation: RelationArg
    ) -> str:
        """Widen the sized string columns of ``to_relation`` that are narrower than the same
        columns of ``from_relation`` (PostgreSQL's `character varying(n)`; DuckDB's VARCHAR has
        no length, so there is never anything to widen there)."""
        self._warehouse._on_introspect("adapter.expand_target_column_types")
        if not self._warehouse.live:
            return ""
        wider = {c.name.lower(): c for c in self.get_columns_in_relation(from_relation)}
        schema, identifier = self._relation(to_relation)
        target = Relation(schema=schema, identifier=identifier)
        for column in self.get_columns_in_relation(to_relation):
            source = wider.get(column.name.lower())
            if source is not None and column.char_size and column.can_expand_to(source):
                new_type = DbtColumn.string_type(source.string_size())
                self._warehouse.change(
                    partial(_alter_column_type, target, column.name, new_type),
                    "adapter.expand_target_column_types",
                )
        return ""

    def check_schema_exists(self, database: Any, schema: Any) -> bool:
        table = self._warehouse.query(
            "SELECT count(*) FROM information_schema.schemata WHERE lower(schema_name) = lower("
            + _literal(str(schema))
            + ")",
            "adapter.check_schema_exists",
        )
        return bool(table and table.rows[0][0])

    def list_relations(self, database: Any = None, schema: Any = None) -> list[DbtRelation]:
        table = self._warehouse.query(
            "SELECT table_schema, table_name, table_type FROM information_schema.tables"
            + (f" WHERE lower(table_schema) = lower({_literal(str(schema))})" if schema else ""),
            "adapter.list_relations",
        )
        out = []
        for row in table.rows if table else []:
            kind = "view" if str(row[2]).upper() == "VIEW" else "table"
            out.append(DbtRelation(self._database, row[0], row[1], kind, adapter_type=self._type))
        return out

    def list_relations_without_caching(self, schema_relation: Any) -> list[DbtRelation]:
        return self.list_relations(None, getattr(schema_relation, "schema", schema_relation))

    def list_schemas(self, database: Any = None) -> list[str]:
        table = self._warehouse.query(
            "SELECT schema_name FROM information_schema.schemata", "adapter.list_schemas"
        )
        return [r[0] for r in table.rows] if table else []

    def already_exists(self, schema: Any, name: Any) -> bool:
        return self.get_relation(self._database, schema, name) is not None

    # -- changes -----------------------------------------------------------------------------
    def create_schema(self, relation: RelationArg) -> str:
        schema = str(relation.schema)
        self._warehouse.change(
            lambda e: e.statements.create_schema(schema), "adapter.create_schema"
        )
        return ""

    def drop_schema(self, relation: RelationArg) -> str:
        # the same text on every engine; Statements has no DROP SCHEMA
        self._warehouse.change(
            lambda e: f"DROP SCHEMA IF EXISTS {quote_identifier(str(relation.schema))} CASCADE",
            "adapter.drop_schema",
        )
        return ""

    def drop_relation(self, relation: RelationArg) -> str:
        schema, identifier = self._relation(relation)
        kind = self._warehouse.relation_kind(schema, identifier)
        if kind is not None:
            target = Relation(schema=schema, identifier=identifier)
            self._warehouse.change(
                lambda e: e.statements.drop(target, kind), "adapter.drop_relation"
            )
        return ""

    def truncate_relation(self, relation: RelationArg) -> str:
        schema, identifier = self._relation(relation)
        # DELETE, not TRUNCATE: the same on every engine, and it stays inside the transaction
        self._warehouse.execute(
            f"DELETE FROM {quote_identifier(schema)}.{quote_identifier(identifier)}",
            "adapter.truncate_relation",
        )
        return ""

    def rename_relation(self, from_relation: RelationArg, to_relation: RelationArg) -> str:
        schema, identifier = self._relation(from_relation)
        _, new = self._relation(to_relation)
        kind = self._warehouse.relation_kind(schema, identifier)
        source = Relation(schema=schema, identifier=identifier)
        self._warehouse.change(
            lambda e: e.statements.rename(source, new, "view" if kind == "view" else "table"),
            "adapter.rename_relation",
        )
        return ""

    def commit(self) -> str:
        return ""

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("_"):
            raise AttributeError(name)
        raise self._unsupported(f"`adapter.{name}` is not supported by headwater")


def _alter_column_type(relation: Relation, column: str, type_name: str, engine: Engine) -> str:
    """The statement that changes ``column`` of ``relation`` to ``type_name`` on ``engine``."""
    return engine.statements.alter_column_type(relation, column, type_name)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


__all__ = ["Adapter", "QueryTable", "Warehouse"]
