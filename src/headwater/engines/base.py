"""The Engine seam: everything the runner, materializations and checks need from a warehouse.

An engine is a package `headwater/engines/<name>/` of four parts:

* **connection** (the `Engine` subclass): execute, fetch Arrow, transactions, read-only opening,
  `interrupt`, `is_transient`;
* **catalog**: relation kinds, columns, sizes (`_load_catalog`, `columns`, `columns_of`);
* **strategies** (`Strategies` subclass): create/replace, publish, append Arrow, merge,
  delete+insert, insert_overwrite, interval replace, schema changes, all built by `Statements`
  (sqlglot, rendered in the engine's dialect);
* **functions** (`Functions` subclass): the small map checks, expectations, metrics and
  freshness use.

Register the class in `ENGINES` of `headwater/engines/__init__.py`. The runner reads the
capability flags; it never checks engine classes.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

from headwater.engines.functions import Functions
from headwater.engines.statements import Statements
from headwater.project.definition import Relation, Target

if TYPE_CHECKING:
    import pyarrow as pa

    from headwater.engines.strategies import Strategies

Row: TypeAlias = tuple[Any, ...]
"""One row a statement returns: its values are whatever the driver gives (any value)."""


def quote_identifier(name: str) -> str:
    """Quote an identifier for ANSI SQL (double quotes, inner quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def inline_params(sql: str, params: list[Any], literal: Callable[[Any], str]) -> str:
    """``sql`` with its `?` parameters written as literals by ``literal`` (for the SQL trace)."""
    parts = sql.split("?")
    out = parts[0]
    for value, rest in zip(params, parts[1:], strict=False):
        out += literal(value) + rest
    return out


def group_columns(
    rows: list[Row], wanted: set[tuple[str, str]]
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(schema, table, column, type) rows, ordered, as `columns_of` returns them: by catalog key,
    only the ``wanted`` relations."""
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, type_ in rows:
        key = (str(schema).lower(), str(table).lower())
        if key in wanted:
            out.setdefault(key, []).append((str(column), str(type_)))
    return out


def catalog_key(relation: Relation) -> tuple[str, str]:
    """How the catalog cache and `Engine.columns_of` name a relation."""
    return relation.schema.lower(), relation.identifier.lower()


class Transaction:
    """Handle of `Engine.transaction_scope`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.done = False

    def rollback(self) -> None:
        if not self.done:
            self.engine.execute("ROLLBACK")
            self.engine.invalidate_catalog()
            self.done = True


class Engine(ABC):
    """A connection to one warehouse target."""

    NAME: str = "ansi"
    DIALECT: str = "ansi"
    SUPPORTS_TRANSACTIONS: bool = True
    """Multi-statement transactions: a stateful build (merge, snapshot, interval) is applied,
    audited and committed in one transaction. Without them the runner stages and swaps."""
    SUPPORTS_TRANSACTIONAL_DDL: bool = True
    """DDL (CREATE, DROP, RENAME) inside a transaction rolls back with it: `publish` swaps
    several relations at once."""
    SUPPORTS_MERGE: bool = False
    SUPPORTS_PARALLEL_WRITES: bool = True
    """Several connections may write at once (DuckDB: one process; PostgreSQL: many)."""
    SUPPORTS_CREATE_OR_REPLACE_TABLE: bool = True
    SUPPORTS_ARROW_VIEWS: bool = False
    """An Arrow table can be read in place (DuckDB's `register`); otherwise it is copied in."""
    SERVER: bool = False
    """The warehouse is a shared server (state may live in it: `state: warehouse`)."""
    read_only: bool = False
    """Set before `open`: connect read-only (`headwater validate`, `test` without store_failures)."""
    functions: Functions = Functions()
    STRATEGIES: type[Strategies] | None = None

    def __init__(self, target: Target, project_root: str) -> None:
        self.target = target
        self.project_root = project_root
        self._catalog: dict[tuple[str, str], str] | None = None
        self._catalog_lock = threading.Lock()
        from pathlib import Path

        self.statements = Statements(
            self.DIALECT,
            Path(project_root) / ".headwater" / "cache" / f"statements-{self.NAME}.pickle",
            null_safe_keys=self.functions.NULL_SAFE_KEYS,
        )
        from headwater.engines.strategies import Strategies

        self.strategies: Strategies = (self.STRATEGIES or Strategies)(self)

    @property
    def transactional_wap(self) -> bool:
        """Audit inside a transaction (the change is invisible until commit), or stage and swap."""
        return self.SUPPORTS_TRANSACTIONS and self.SUPPORTS_TRANSACTIONAL_DDL

    def is_transient(self, exc: BaseException) -> bool:
        """True when retrying the failed statement may succeed (a write conflict, a deadlock,
        a dropped connection); the runner retries those with backoff."""
        return False

    # -- connection ---------------------------------------------------------------------------
    @abstractmethod
    def open(self) -> None:
        """Connect; raise a `HeadwaterError` that names the target when that fails."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def execute(self, sql: str, params: list[Any] | None = None) -> list[Row]:
        """Run one statement on this thread's connection and return its rows."""

    @abstractmethod
    def fetch_arrow(self, sql: str) -> pa.Table: ...

    @abstractmethod
    def query(self, sql: str) -> tuple[list[str], list[Row]]:
        """Column names and rows of a query."""

    @abstractmethod
    def query_columns(self, sql: str) -> list[tuple[str, str]]:
        """(name, type) of the columns a SELECT returns, without running it."""

    def interrupt(self) -> None:
        """Abort running statements from another thread (a signal handler); their transactions
        roll back. The default does nothing: the running statement finishes."""
        return None

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]: ...

    @contextmanager
    def transaction_scope(self) -> Iterator[Transaction]:
        """A transaction the body may roll back (``txn.rollback()``) without raising; an
        exception rolls it back too. The catalog cache is dropped after a rollback."""
        txn = Transaction(self)
        self.execute("BEGIN TRANSACTION")
        try:
            yield txn
        except BaseException:
            if not txn.done:
                self.execute("ROLLBACK")
            self.invalidate_catalog()
            raise
        if not txn.done:
            self.execute("COMMIT")

    @property
    def location(self) -> str:
        """Where the warehouse is, for humans."""
        return self.target.name

    # -- catalog -------------------------------------------------------------------------------
    @abstractmethod
    def _load_catalog(self) -> dict[tuple[str, str], str]:
        """(schema, name) -> 'table' | 'view' for every relation, in one query."""

    def relation_kind(self, relation: Relation) -> str | None:
        """Kind of an existing relation, from a catalog read once per run and kept current."""
        with self._catalog_lock:
            if self._catalog is None:
                self._catalog = self._load_catalog()
            return self._catalog.get(catalog_key(relation))

    def _remember(self, relation: Relation, kind: str | None) -> None:
        with self._catalog_lock:
            if self._catalog is None:
                return
            key = catalog_key(relation)
            if kind is None:
                self._catalog.pop(key, None)
            else:
                self._catalog[key] = kind

    def invalidate_catalog(self) -> None:
        with self._catalog_lock:
            self._catalog = None

    @abstractmethod
    def columns(self, relation: Relation) -> list[tuple[str, str]]:
        """(name, type) of each column of ``relation``."""

    def columns_of(self, relations: list[Relation]) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """Columns of several relations, keyed like the catalog (lower-case schema, identifier);
        a relation that does not exist has no key. This default asks `columns` once per
        relation; an engine with a catalog function reads them all in one query."""
        out: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for relation in relations:
            cols = self.columns(relation)
            if cols:
                out[catalog_key(relation)] = cols
        return out

    # -- DDL (the strategies) --------------------------------------------------------------------
    def ensure_schema(self, schema: str) -> None:
        self.execute(self.statements.create_schema(schema))

    def create_or_replace(self, relation: Relation, sql: str, kind: str) -> int | None:
        """Atomically (re)create ``relation`` as a table or view from ``sql``; rows if known."""
        return self.strategies.create_or_replace(relation, sql, kind)

    def publish(
        self,
        staged: Relation,
        relation: Relation,
        kind: str,
        sql: str,
        also: Sequence[tuple[Relation, Relation]] = (),
    ) -> None:
        """Atomically replace ``relation`` by the audited ``staged`` relation, together with the
        (staged table, relation) pairs of ``also`` (e.g. the model's quarantine table)."""
        self.strategies.publish(staged, relation, kind, sql, also)

    def drop(self, relation: Relation) -> None:
        self.strategies.drop(relation)

    STAGED_SUFFIX = "__hw_staged"

    def staging_relation(self, relation: Relation) -> Relation:
        return Relation(
            relation.schema, f"{relation.identifier}{self.STAGED_SUFFIX}", relation.database
        )

    AUDIT_SUFFIX = "__hw_audit"

    def audit_relation(self, relation: Relation) -> Relation:
        """The copy of ``relation`` a stateful build changes and audits when the engine stages
        and swaps (`transactional_wap` false); distinct from `staging_relation`, where the
        materializations stage their new rows."""
        return Relation(
            relation.schema, f"{relation.identifier}{self.AUDIT_SUFFIX}", relation.database
        )

    def catalog_schemas(self) -> set[str]:
        """Lower-case names of the schemas holding a relation (so they exist), from the catalog
        read once per run."""
        self.relation_kind(Relation("", ""))  # loads the catalog once
        with self._catalog_lock:
            return {schema for schema, _ in self._catalog or {}}

    def drop_leftover_staged(self, schemas: set[str]) -> None:
        """Drop staged relations a killed run left behind (never visible under a real name)."""
        self.relation_kind(Relation("", ""))  # loads the catalog once
        assert self._catalog is not None
        wanted = {s.lower() for s in schemas}
        for schema, name in list(self._catalog):
            if schema in wanted and name.endswith((self.STAGED_SUFFIX, self.AUDIT_SUFFIX)):
                self.drop(Relation(schema, name))
