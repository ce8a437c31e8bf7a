"""The observer a `Context` gives its runner: every observability part, in the order they depend
on each other (metrics are recorded before monitors read the history; alerts deliver last)."""

from __future__ import annotations

import importlib
from typing import Any

from headwater.observe import Bus, Observer, Observers

# module -> each provides `make(ctx, command, invocation_id, bus) -> Observer | None`
PARTS = (
    "headwater.observe.metrics",      # metrics, profiles, schemas, schema changes
    "headwater.observe.monitors",     # anomaly monitors as checks
    "headwater.observe.sla",          # run-time budgets and schedule SLAs
    "headwater.observe.openlineage",  # OpenLineage events (off unless configured)
    "headwater.observe.alerts",       # incidents and delivery (last: reads what the others emitted)
)  # fmt: skip


def build_observer(ctx: Any, command: str, invocation_id: str, bus: Bus | None = None) -> Observer:
    bus = bus or Bus()
    parts: list[Observer] = []
    for name in PARTS:
        make = importlib.import_module(name).make
        observer = make(ctx, command, invocation_id, bus)
        if observer is not None:
            parts.append(observer)
    return Observers(parts)
