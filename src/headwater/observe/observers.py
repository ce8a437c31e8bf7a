"""The observability listeners a `Context` gives its run: every part, in the order they depend
on each other (metrics are recorded before the post-publish checks read the history; alerts
deliver last, from what the others emitted)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from headwater.observe import Bus
from headwater.runner.events import Listeners, Run, RunListener, UnitResult

PARTS = (
    "headwater.observe.metrics",  # metrics, profiles, schemas, schema changes
    "headwater.observe.sla",  # run-time budgets and schedule SLAs
    "headwater.observe.openlineage",  # OpenLineage events (off unless configured)
    "headwater.observe.alerts",  # incidents and delivery (last: reads what the others emitted)
)
"""Modules with ``make(ctx, command, invocation_id, bus) -> RunListener | None``."""


class Observability(Listeners):
    """The parts as one listener. What they collected is delivered at the end of a run whose
    units ran (also when a project hook failed after them), not of one that was interrupted or
    could not start."""

    def run_finished(self, run: Run, results: Sequence[UnitResult], status: str) -> None:
        if status in ("success", "failed") or (status == "error" and results):
            super().run_finished(run, results, status)


def build_observer(ctx: Any, command: str, invocation_id: str, bus: Bus) -> RunListener:
    parts: list[RunListener] = []
    for name in PARTS:
        part = importlib.import_module(name).make(ctx, command, invocation_id, bus)
        if part is not None:
            parts.append(part)
    return Observability(parts)
