"""Post-publish checks: judgements that need the relation published and measured first.

Anomaly monitors compare this run's metrics with the history, and schema-change contracts
compare its schema with the last run's; both can only run after the node is published and the
metrics listener has recorded it. The runner calls them right after ``unit_published``; a
blocking result (severity error) fails the node after the fact, so its downstream is skipped.
Every other check audits the staged relation before it is published (write-audit-publish).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from headwater.context import Context
    from headwater.engines.base import Engine
    from headwater.observe import Bus
    from headwater.quality.evaluator import CheckResult
    from headwater.runner.events import Unit, UnitResult


class PostPublishCheck(Protocol):
    """Judges a published unit; returns its check results (none when it has nothing to say)."""

    def check(self, unit: Unit, result: UnitResult, engine: Engine) -> list[CheckResult]: ...


PARTS = (
    "headwater.quality.schema_contracts",  # schema changes against `schema_change` contracts
    "headwater.quality.monitors",  # anomaly monitors
)
"""Modules with ``make(ctx, command, invocation_id, bus) -> PostPublishCheck | None``."""


def post_publish_checks(
    ctx: Context, command: str, invocation_id: str, bus: Bus
) -> list[PostPublishCheck]:
    """The post-publish checks the project declares (none costs nothing)."""
    out: list[PostPublishCheck] = []
    for name in PARTS:
        part = importlib.import_module(name).make(ctx, command, invocation_id, bus)
        if part is not None:
            out.append(part)
    return out
