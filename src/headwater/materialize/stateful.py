"""Materializations whose result depends on what is already in the warehouse: incremental models,
snapshots, SCD type 1 and 3 — the seam the runner calls for them.

Write-audit-publish, chosen by the engine's capability flags (`Engine.transactional_wap`):

* **in a transaction** (DuckDB, PostgreSQL), without copying the table: the change (a merge, a
  partition replace, a new snapshot version, or the first full build) is applied inside one
  engine transaction, the node's error-level checks run against the relation *inside that
  transaction* (same connection, so they see the uncommitted change while every other reader
  still sees the previous version), and the transaction commits only when they pass. A failing
  check or a killed process rolls it back.
* **stage and swap** (an engine without multi-statement transactions or transactional DDL, e.g.
  Spark; see "The Spark plan" in docs/architecture.md): the change is applied to a copy of the
  table (`Engine.audit_relation`, ``<name>__hw_audit``: ``CREATE TABLE ... AS SELECT *``; none for
  a first or full build), the checks run against the copy, and the copy is swapped in only when
  they pass (`_swap`: one ``CREATE OR REPLACE TABLE`` per relation, atomic on its own); else it is
  dropped and the previous version stays. Readers see the old table until the swap. No BEGIN or
  COMMIT is issued; a killed process leaves the copy, which the next run drops
  (`Engine.drop_leftover_staged`). The copy is a plain CTAS: table constraints and defaults of the
  target are not carried over (a Delta/Iceberg shallow clone would keep them).

Materializations write through `BuildContext.relation` inside ``apply`` (the node's relation, or
the copy while it is staged), never through ``node.relation``, so both paths run the same code.

Every statement comes from the engine (`engine.statements`, `engine.strategies`,
`engine.functions`): the materializations hold the policy, the engine the dialect.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from headwater.engines.base import Engine, catalog_key
from headwater.errors import ExecutionError
from headwater.materialize import Materialization
from headwater.project.definition import Node, ProjectConfig, Relation

if TYPE_CHECKING:
    from headwater.quality.evaluator import CheckResult


@dataclass
class BuildContext:
    """What a stateful materialization gets from the runner for one node."""

    engine: Engine
    node: Node
    project: ProjectConfig
    full_refresh: bool
    invocation_id: str
    audit: Callable[..., list[CheckResult]]
    """Run the node's checks on this thread: ``audit()`` against its relation (inside the open
    transaction), ``audit(staged)`` against the staged copy (stage and swap)."""
    state: Any = None
    """The state store (interval ledger), when the runner has one."""
    options: dict[str, Any] = field(default_factory=dict)
    """Run options, e.g. an explicit interval range from `backfill`."""
    staged: Relation | None = None
    """The copy the running ``apply`` writes into while the engine stages and swaps (`audited`)."""
    publisher: Publisher | None = None
    """Set for a lake table (`headwater.materialize.lake`): changes are always staged on a copy,
    and the audited copy becomes the table's next version through the publisher instead of a
    swap in the warehouse."""

    def target_kind(self) -> str | None:
        """What the node's relation is, as a materialization reasons about it: a lake table's
        relation is a view over its files, which counts as the table."""
        relation = self.node.relation
        assert relation is not None, self.node.unique_id
        kind = self.engine.relation_kind(relation)
        return "table" if kind == "view" and self.publisher is not None else kind

    @property
    def relation(self) -> Relation:
        """The relation the running ``apply`` writes into: the node's relation, or its staged copy
        during a staged apply."""
        relation = self.staged or self.node.relation
        assert relation is not None, self.node.unique_id
        return relation


@dataclass
class BuildOutcome:
    rows: int | None = None
    published: bool = True
    message: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    """Logical row changes when the materialization knows them: ``inserted``, ``updated`` (rows
    replaced by key count as updated), ``deleted`` — copied to `UnitResult.stats` for the metrics."""
    rejected: int = 0
    """Records a load set aside in `<table>__rejected`: the node warns (`UnitResult.rejected`)."""


class Publisher(Protocol):
    """Publishes a stateful build of a lake table (see `BuildContext.publisher`)."""

    def begin(self) -> None:
        """Read the table's current version (the base of the change) and point the node's
        relation at it, before the copy is made."""

    def publish(self, staged: Relation) -> None:
        """Commit the audited copy as the version after the base (compare-and-swap)."""

    def reset(self) -> None:
        """Empty the table (a full refresh that rebuilds it interval by interval)."""

    def create_empty(self, sql: str) -> None:
        """Create the table with the columns of ``sql`` and no rows."""


class StatefulMaterialization(Materialization):
    """A materialization that reads the existing relation to decide what to write."""

    def build(self, ctx: BuildContext) -> BuildOutcome:
        raise NotImplementedError

    def prepare(self, ctx: BuildContext) -> None:
        """Set up ``ctx`` for builds that do not go through `build` (a backfill's intervals):
        a lake table sets its `Publisher`."""


def audited(
    ctx: BuildContext, apply: Callable[[], int | None], rebuild: bool = False
) -> BuildOutcome:
    """Run ``apply`` (which writes into `ctx.relation`) and the node's checks; publish the change
    only if no error-level check blocks: in one transaction, or staged and swapped (module
    docstring). ``rebuild``: ``apply`` writes the whole relation from nothing (a first or full
    build), so a staged apply starts without a copy of the old rows."""
    if ctx.engine.transactional_wap and ctx.publisher is None:
        with ctx.engine.transaction_scope() as txn:
            rows = apply()
            checks = ctx.audit()
            if _blocking(checks):
                txn.rollback()
                return _refused(rows, checks)
        return BuildOutcome(rows, True, "", checks)
    return _staged(ctx, apply, rebuild)


def _blocking(checks: list[CheckResult]) -> list[CheckResult]:
    return [c for c in checks if c.blocks]


def _refused(rows: int | None, checks: list[CheckResult]) -> BuildOutcome:
    names = ", ".join(f"`{c.name}`" for c in _blocking(checks))
    return BuildOutcome(
        rows, False, f"not published: {names} failed; the previous version stays", checks
    )


_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(relation: Relation) -> threading.Lock:
    """One staged change of a relation at a time in this process (parallel backfill intervals
    would otherwise each copy the old table and the last swap would drop the others' rows)."""
    with _locks_guard:
        return _locks.setdefault(catalog_key(relation), threading.Lock())


def _staged(ctx: BuildContext, apply: Callable[[], int | None], rebuild: bool) -> BuildOutcome:
    """Stage and swap: apply to a copy, audit the copy, swap it in if no check blocks."""
    engine, st = ctx.engine, ctx.engine.statements
    relation = ctx.node.relation
    assert relation is not None, ctx.node.unique_id
    staged = engine.audit_relation(relation)
    with _lock(relation):
        engine.drop(staged)  # a leftover of a killed run
        if ctx.publisher is not None:
            ctx.publisher.begin()
        if not rebuild and engine.relation_kind(relation) is not None:
            engine.execute(st.create_as(staged, st.select_all(relation), "table"))
            engine._remember(staged, "table")
        ctx.staged = staged
        try:
            rows = apply()
            checks = ctx.audit(staged)
        except BaseException:
            engine.invalidate_catalog()  # apply may have created or dropped relations
            with contextlib.suppress(Exception):  # cleanup must not hide the build's own error
                engine.drop(staged)
            raise
        finally:
            ctx.staged = None
        if _blocking(checks):
            engine.drop(staged)
            return _refused(rows, checks)
        if ctx.publisher is not None:
            try:
                ctx.publisher.publish(staged)
            finally:
                engine.drop(staged)
        else:
            _swap(engine, staged, relation)
    return BuildOutcome(rows, True, "", checks)


def _swap(engine: Engine, staged: Relation, relation: Relation) -> None:
    """Publish the audited copy without a transaction: ``CREATE OR REPLACE TABLE relation AS
    SELECT * FROM staged`` (one atomic statement per relation, the Spark plan's publish), then
    drop the copy. A view of that name is dropped first (no engine without transactions can
    make that one step). An engine without CREATE OR REPLACE TABLE swaps with its own `publish`."""
    if not engine.SUPPORTS_CREATE_OR_REPLACE_TABLE:
        engine.publish(staged, relation, "table", "")
        return
    st = engine.statements
    if engine.relation_kind(relation) not in (None, "table"):
        engine.drop(relation)
    engine.execute(st.create_as(relation, st.select_all(staged), "table", replace=True))
    engine._remember(relation, "table")
    engine.drop(staged)


def count(rows: list[tuple]) -> int | None:
    """Rows a DML or CREATE ... AS statement reports (``[(n,)]`` on every engine), else None."""
    return int(rows[0][0]) if rows and rows[0] and isinstance(rows[0][0], int) else None


def replace_table(engine: Engine, relation: Relation, sql: str) -> int | None:
    """(Re)create ``relation`` as a table from ``sql`` inside the caller's (audited) transaction;
    the rows written if the engine reports them.

    * an engine with `CREATE OR REPLACE TABLE` (DuckDB) replaces it in one statement, as before;
    * otherwise a missing relation is created; an existing table whose columns the SELECT
      returns unchanged (same names and types) is emptied and refilled, which keeps the views
      over it, its grants and its identity (PostgreSQL binds views to a table's OID);
    * a table whose columns change is built beside it and swapped in: with the strategies'
      `publish_held` (publish inside the caller's transaction, dependent views recreated) when
      the engine has it, else DROP + RENAME, which PostgreSQL refuses while a view depends on
      the table (the build fails, rolled back, with the server's message; nothing is dropped
      silently).
    """
    st = engine.statements
    existing = engine.relation_kind(relation)
    if existing is not None and existing != "table":
        engine.execute(st.drop(relation, existing))
        engine._remember(relation, None)
        existing = None
    if existing is None:
        rows = engine.execute(st.create_as(relation, sql, "table"))
    elif engine.SUPPORTS_CREATE_OR_REPLACE_TABLE:
        rows = engine.execute(st.create_as(relation, sql, "table", replace=True))
    elif _same_columns(engine.columns(relation), engine.query_columns(sql)):
        columns = [name for name, _ in engine.columns(relation)]
        engine.execute(st.delete_where(relation, "1 = 1"))
        rows = engine.execute(st.insert_select(relation, columns, sql))
    else:
        staged = engine.staging_relation(relation)
        engine.strategies.drop(staged)
        rows = engine.execute(st.create_as(staged, sql, "table"))
        engine._remember(staged, "table")
        held = getattr(engine.strategies, "publish_held", None)
        if held is not None:
            held(staged, relation, "table", sql)
        else:
            engine.execute(st.drop(relation, "table"))
            engine.execute(st.rename(staged, relation.identifier))
            engine._remember(staged, None)
    engine._remember(relation, "table")
    return count(rows)


def _same_columns(have: list[tuple[str, str]], new: list[tuple[str, str]]) -> bool:
    """The table's columns are the SELECT's: names and types, in order. A catalog type with a
    modifier (`numeric(10,2)`, `varchar(20)`) counts as different, since a SELECT's description
    drops it and refilling could round or refuse values."""
    if len(have) != len(new):
        return False
    for (name_a, type_a), (name_b, type_b) in zip(have, new, strict=True):
        if name_a != name_b or "(" in type_a or type_a.lower() != type_b.lower():
            return False
    return True


def relation_exists(engine: Engine, relation: Relation) -> bool:
    return engine.relation_kind(relation) is not None


def require(node: Node, key: str, hint: str) -> Any:
    """A config value the materialization cannot work without, or a clear error."""
    value = node.config.get(key)
    if value in (None, "", []):
        from headwater.errors import ConfigError, Location

        raise ConfigError(
            f"`{node.name}` ({node.materialized}) needs `{key}`",
            location=Location(node.path, node.line),
            node=node.name,
            hint=hint,
        )
    return value


class BuildFailed(ExecutionError):
    """A stateful build could not complete; the previous version of the relation stays."""
