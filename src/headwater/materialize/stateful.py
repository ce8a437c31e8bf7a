"""Materializations whose result depends on what is already in the warehouse: incremental models,
snapshots, SCD type 1 and 3 — the seam the runner calls for them.

Write-audit-publish without copying the table: the change (a merge, a partition replace, a new
snapshot version, or the first full build) is applied inside one engine transaction, the node's
error-level checks run against the relation *inside that transaction* (same connection, so they
see the uncommitted change while every other reader still sees the previous version), and the
transaction commits only when they pass. A failing check or a killed process rolls it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.engines.base import Engine
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
    audit: Callable[[], list[CheckResult]]
    """Run the node's checks against its relation on this thread (inside an open transaction)."""
    state: Any = None
    """The state store (interval ledger), when the runner has one."""
    options: dict[str, Any] = field(default_factory=dict)
    """Run options, e.g. an explicit interval range from `backfill`."""


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


class StatefulMaterialization(Materialization):
    """A materialization that reads the existing relation to decide what to write."""

    def build(self, ctx: BuildContext) -> BuildOutcome:
        raise NotImplementedError


def audited(ctx: BuildContext, apply: Callable[[], int | None]) -> BuildOutcome:
    """Run ``apply`` and the node's checks in one transaction; commit only if no check blocks."""
    engine = ctx.engine
    with engine.transaction_scope() as txn:
        rows = apply()
        checks = ctx.audit()
        blocking = [c for c in checks if c.blocks]
        if blocking:
            txn.rollback()
            names = ", ".join(f"`{c.name}`" for c in blocking)
            return BuildOutcome(rows, False, f"not published: {names} failed; the previous version stays", checks)
    return BuildOutcome(rows, True, "", checks)


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
