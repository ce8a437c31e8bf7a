"""The Engine seam: everything the runner, materializations and checks need from a warehouse.

Adding an engine: subclass `Engine` in `headwater/engines/<name>.py`, set the capability flags,
implement the abstract methods, and register the class in `ENGINES` of
`headwater/engines/__init__.py`. The runner reads the flags; it never checks engine classes.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from headwater.project.definition import Relation, Target

if TYPE_CHECKING:
    import pyarrow as pa


def quote_identifier(name: str) -> str:
    """Quote an identifier for ANSI SQL (double quotes, inner quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


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

    DIALECT: str = "ansi"
    SUPPORTS_TRANSACTIONS: bool = True
    SUPPORTS_TRANSACTIONAL_DDL: bool = True
    SUPPORTS_MERGE: bool = False
    SUPPORTS_PARALLEL_WRITES: bool = True
    SUPPORTS_CREATE_OR_REPLACE_TABLE: bool = True
    read_only: bool = False
    """Set before `open`: connect read-only (`headwater validate`, `test` without store_failures)."""

    def __init__(self, target: Target, project_root: str) -> None:
        self.target = target
        self.project_root = project_root
        self._catalog: dict[tuple[str, str], str] | None = None
        self._catalog_lock = threading.Lock()

    # -- connection ---------------------------------------------------------------------------
    @abstractmethod
    def open(self) -> None:
        """Connect; raise a `HeadwaterError` that names the target when that fails."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        """Run one statement on this thread's connection and return its rows."""

    @abstractmethod
    def fetch_arrow(self, sql: str) -> pa.Table: ...

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

    # -- DDL -------------------------------------------------------------------------------------
    @abstractmethod
    def ensure_schema(self, schema: str) -> None: ...

    @abstractmethod
    def create_or_replace(self, relation: Relation, sql: str, kind: str) -> int | None:
        """Atomically (re)create ``relation`` as a table or view from ``sql``; rows if known."""

    @abstractmethod
    def publish(
        self, staged: Relation, relation: Relation, kind: str, sql: str, also: list[tuple[Relation, Relation]] = ()
    ) -> None:
        """Atomically replace ``relation`` by the audited ``staged`` relation, together with the
        (staged table, relation) pairs of ``also`` (e.g. the model's quarantine table)."""

    @abstractmethod
    def drop(self, relation: Relation) -> None: ...

    STAGED_SUFFIX = "__hw_staged"

    def staging_relation(self, relation: Relation) -> Relation:
        return Relation(relation.schema, f"{relation.identifier}{self.STAGED_SUFFIX}", relation.database)

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
            if schema in wanted and name.endswith(self.STAGED_SUFFIX):
                self.drop(Relation(schema, name))
