"""Schema-change contracts: ``schema_change: warn | error | ignore`` on a node, judged after it is
published (`headwater.quality.post_publish`).

The metrics listener reads the published relation's columns, records them and their changes
since the node's last run on this target (`headwater.observe.schema`), and puts the comparison
on the run's `Bus`. This check turns it into a ``schema_change`` check result (pass, warn, or
fail for ``error``, which fails the node after the fact and skips its downstream) and a
``schema_change`` `Signal` for alerting. Views measured at the end of the run (their columns are
read together, see `headwater.observe.metrics`) are judged there with `contract_check`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater.observe import Bus, Signal
from headwater.observe.schema import SchemaChange, describe, severity_of

if TYPE_CHECKING:
    from headwater.context import Context
    from headwater.engines.base import Engine
    from headwater.project.definition import Node
    from headwater.quality.evaluator import CheckResult
    from headwater.runner.events import Unit, UnitResult


class SchemaContracts:
    """Judges the schema the metrics listener measured for each published node."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def check(self, unit: Unit, result: UnitResult, engine: Engine) -> list[CheckResult]:
        node = unit.build
        if node is None or node.unique_id not in self.bus.schemas:
            return []
        compared, changes = self.bus.schemas[node.unique_id]
        severity = severity_of(node)
        if not compared or severity == "ignore":
            return []
        return [contract_check(node, changes, severity, self.bus)]


def contract_check(node: Node, changes: list[SchemaChange], severity: str, bus: Bus) -> CheckResult:
    """The ``schema_change`` check of ``node`` (pass when nothing changed), and its signal."""
    from headwater.quality.evaluator import CheckResult

    if changes:
        status = "fail" if severity == "error" else "warn"
        message = f"schema changed: {describe(changes)}"
    else:
        status, message = "pass", ""
    check = CheckResult(
        unique_id=f"schema_change.{node.unique_id}",
        name=f"schema_change_{node.display_name.replace('.', '_')}",
        check="schema_change",
        node=node.unique_id,
        column=None,
        severity=severity,
        status=status,
        failures=len(changes),
        message=message,
        result={"changes": [c.to_dict() for c in changes]},
    )
    name = node.display_name
    bus.emit(
        Signal(
            trigger="schema_change",
            subject=node.unique_id,
            status="open" if changes else "ok",
            message=f"{name}: schema changed: {describe(changes)}"
            if changes
            else f"{name}: schema unchanged",
            severity=severity,
            # names the check, so alerting sees one incident for the check and this signal
            details={
                "changes": [c.to_dict() for c in changes],
                "check": f"schema_change.{node.unique_id}",
            },
        )
    )
    return check


def make(ctx: Context, command: str, invocation_id: str, bus: Bus) -> SchemaContracts:
    return SchemaContracts(bus)
