"""`headwater backfill`: build an explicit range of intervals of time-partitioned models.

The plan (every model and interval, half-open `[start, end)` in UTC) is persisted in the state
store before anything runs, so a killed backfill resumes with `--continue` exactly where it
stopped. Models run in graph order, so a downstream interval always reads upstream intervals
that are already built; the intervals of one model run on up to `--workers` threads (each its
own transaction), with retries and exponential backoff for transient failures (write conflicts,
lost connections). Every interval replaces its rows, so restating a range (`--rerun all`) is
atomic per interval and idempotent.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.errors import UsageError
from headwater.graph.definition import Graph
from headwater.materialize.incremental import strategy_of
from headwater.project.definition import Node
from headwater.runner.events import Listeners, Run, RunListener, Unit, UnitResult, run_session
from headwater.runner.executor import Runner
from headwater.runner.intervals import RERUN, Ledger, interval_key, intervals, parse_time
from headwater.runner.plan import plan_units
from headwater.runner.recorder import StateRecorder
from headwater.state.records import BackfillItem

if TYPE_CHECKING:
    from headwater.state.protocol import StateStore


@dataclass
class BackfillResult:
    backfill_id: str
    results: list[UnitResult] = field(default_factory=list)
    elapsed: float = 0.0
    skipped_models: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if any(r.failed for r in self.results) else 0

    def summary(self) -> str:
        ok = sum(r.status == "success" for r in self.results)
        bad = sum(r.failed for r in self.results)
        rows = sum(r.rows or 0 for r in self.results if r.status == "success")
        text = f"backfill {self.backfill_id[:8]}: {ok} intervals built, {bad} failed, {rows:,} rows in {self.elapsed:.1f}s"
        if bad:
            text += "; rerun the rest with `headwater backfill --continue`"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "backfill_id": self.backfill_id,
            "success": self.exit_code == 0,
            "elapsed": round(self.elapsed, 3),
            "results": [r.to_dict() for r in self.results],
        }


def plan_backfill(
    ctx: Any, models: list[Node], start: str, end: str, rerun: str, selection: str
) -> str:
    """Persist the plan for ``models`` over [start, end); returns its id."""
    if rerun not in RERUN:
        raise UsageError(f"unknown --rerun `{rerun}`", hint="use missing, failed or all")
    lo, hi = parse_time(start, "--start"), parse_time(end, "--end")
    if hi <= lo:
        raise UsageError(
            f"--end ({end}) must be after --start ({start})",
            hint="the range is half-open: [start, end)",
        )
    state = ctx.state
    _refuse_overlaps(state, models, lo, hi)
    items: list[tuple[str, str, str]] = []
    for node in models:
        size = str(node.config.get("batch_size")).lower()
        for a, b in Ledger(state, node.unique_id).choose(intervals(lo, hi, size), rerun):
            items.append((node.unique_id, interval_key(a), interval_key(b)))
    backfill_id = str(uuid.uuid4())
    state.backfills.create(backfill_id, selection, interval_key(lo), interval_key(hi), rerun, items)
    return backfill_id


def _refuse_overlaps(
    state: StateStore, models: list[Node], lo: dt.datetime, hi: dt.datetime
) -> None:
    wanted = {n.unique_id for n in models}
    for plan in state.backfills.plans("running"):
        pending = [
            i for i in state.backfills.items(plan.backfill_id)
            if i.status != "success" and i.unique_id in wanted
            and parse_time(i.interval_start) < hi and parse_time(i.interval_end) > lo
        ]  # fmt: skip
        if pending:
            names = sorted({i.unique_id.rsplit(".", 1)[-1] for i in pending})
            raise UsageError(
                f"backfill {plan.backfill_id[:8]} ({plan.start} .. {plan.end_}) is unfinished and overlaps "
                f"this range for {', '.join(names)} ({len(pending)} intervals left)",
                hint="finish it with `headwater backfill --continue`, or abandon it with "
                f"`headwater backfill --abandon {plan.backfill_id[:8]}`",
            )


def microbatch_models(
    ctx: Any, select: list[str] | None, exclude: list[str] | None
) -> tuple[list[Node], list[str]]:
    nodes = ctx.select(select, exclude, resource_types=("model",), with_tests=False)
    chosen, skipped = [], []
    for node in nodes:
        if node.materialized == "incremental" and strategy_of(node) == "microbatch":
            chosen.append(node)
        elif node.materialized != "ephemeral":
            skipped.append(node.name)
    if not chosen:
        raise UsageError(
            "the selection has no time-partitioned (microbatch) models to backfill",
            hint="select models with `incremental_strategy: microbatch`, `event_time`, `batch_size` and `begin`",
        )
    return chosen, skipped


def run_backfill(
    ctx: Any, backfill_id: str, workers: int = 1, skipped: list[str] | None = None
) -> BackfillResult:
    """Run the pending items of a persisted plan: one unit per (model, interval). An interval
    waits for every interval of the models upstream of it in the plan, so it reads upstream
    intervals that are built; the intervals of one model run on up to ``workers`` threads."""
    state = ctx.state
    started = time.perf_counter()
    graph = ctx.graph
    units = backfill_units(
        graph, [i for i in state.backfills.items(backfill_id) if i.status != "success"]
    )
    invocation_id = str(uuid.uuid4())
    run = Run(
        invocation_id,
        "backfill",
        ctx.manifest.target.name,
        {"backfill_id": backfill_id, "workers": workers},
    )
    items = _ItemRecorder(state, backfill_id)
    listeners = Listeners(
        [ctx.console, StateRecorder(state, ctx._file_logger(), count_as="intervals"), items]
    )
    runner = Runner(
        ctx.engine,
        graph,
        ctx.manifest.config,
        listeners,
        threads=workers,
        invocation_id=invocation_id,
        state=state,
        command="backfill",
    )
    result = BackfillResult(backfill_id, skipped_models=list(skipped or []))
    try:
        with run_session(listeners, run, units) as session:
            runner.prepare_intervals(units)
            session.results += runner.schedule(units, reason=_blocked)
            result.results = session.results
    finally:
        remaining = [i for i in state.backfills.items(backfill_id) if i.status != "success"]
        state.backfills.finish(backfill_id, "success" if not remaining else "running")
    result.elapsed = time.perf_counter() - started
    return result


def backfill_units(graph: Graph, items: list[BackfillItem]) -> list[Unit]:
    """One unit per pending plan item, in graph order; each waits for the units of the models
    upstream of its own."""
    by_model: dict[str, list[BackfillItem]] = {}
    for item in items:
        by_model.setdefault(item.unique_id, []).append(item)
    order = [uid for uid in graph.sort(set(by_model)) if uid in by_model]
    ids = {uid: [f"{uid}@{i.interval_start}" for i in by_model[uid]] for uid in order}
    units = []
    for uid in order:
        upstream = {u for p in graph.ancestors(uid) if p in ids for u in ids[p]}
        tests = _model_tests(graph, uid)
        for item in by_model[uid]:
            interval = (parse_time(item.interval_start), parse_time(item.interval_end))
            unit_id = f"{uid}@{item.interval_start}"
            units.append(
                Unit(
                    id=unit_id,
                    build=graph.nodes[uid],
                    tests=tests,
                    deps=set(upstream),
                    interval=interval,
                )
            )
    return units


def _blocked(unit: Unit, result: UnitResult) -> str:
    """Why the intervals downstream of a failed interval do not run."""
    if result.status == "skipped":
        return result.message
    model = unit.build.name if unit.build is not None else result.name
    return f"upstream `{model}` has failed intervals"


class _ItemRecorder(RunListener):
    """Marks each item of the plan as its interval finishes, with its attempts so far."""

    def __init__(self, state: StateStore, backfill_id: str) -> None:
        self.state = state
        self.backfill_id = backfill_id
        self.attempts: dict[str, int] = {}

    def run_started(self, run: Run, units: Sequence[Unit]) -> None:
        self.attempts = {
            f"{i.unique_id}@{i.interval_start}": i.attempts
            for i in self.state.backfills.items(self.backfill_id)
        }

    def unit_finished(self, unit: Unit, result: UnitResult, index: int, total: int) -> None:
        if unit.build is None or unit.interval is None:
            return
        status = "success" if result.status == "success" else "error"
        self.state.backfills.update_item(
            self.backfill_id,
            unit.build.unique_id,
            interval_key(unit.interval[0]),
            status,
            self.attempts.get(unit.id, 0) + result.attempts,
            result.rows,
            result.message,
        )


def _model_tests(graph: Any, uid: str) -> list[Node]:
    units = plan_units(graph, {uid, *graph.children.get(uid, ())}, build=True, tests=True)
    for unit in units:
        if unit.build is not None and unit.build.unique_id == uid:
            return unit.tests
    return []
