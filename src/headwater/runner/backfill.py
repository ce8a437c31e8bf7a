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

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from headwater.engines.base import Engine
from headwater.errors import (
    ExecutionError,
    HeadwaterError,
    SQLExecutionError,
    TransientError,
    UsageError,
)
from headwater.materialize.incremental import (
    Microbatch,
    interval_key,
    intervals,
    parse_time,
    strategy_of,
)
from headwater.materialize.stateful import BuildContext
from headwater.project.definition import Node
from headwater.runner.executor import Runner, UnitResult
from headwater.runner.plan import Unit, plan_units

RERUN = ("missing", "failed", "all")
ATTEMPTS = 3
BACKOFF_SECONDS = 0.2


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
        chosen = intervals(lo, hi, size)
        ledger = {r["interval_start"]: r["status"] for r in state.intervals(node.unique_id)}
        for a, b in chosen:
            status = ledger.get(interval_key(a))
            if rerun == "missing" and status == "success":
                continue
            if rerun == "failed" and status not in ("error", "fail"):
                continue
            items.append((node.unique_id, interval_key(a), interval_key(b)))
    backfill_id = str(uuid.uuid4())
    state.create_backfill(backfill_id, selection, interval_key(lo), interval_key(hi), rerun, items)
    return backfill_id


def _refuse_overlaps(state: Any, models: list[Node], lo: Any, hi: Any) -> None:
    wanted = {n.unique_id for n in models}
    for plan in state.backfills("running"):
        pending = [
            i for i in state.backfill_items(plan["backfill_id"])
            if i["status"] != "success" and i["unique_id"] in wanted
            and parse_time(i["interval_start"]) < hi and parse_time(i["interval_end"]) > lo
        ]  # fmt: skip
        if pending:
            names = sorted({i["unique_id"].rsplit(".", 1)[-1] for i in pending})
            raise UsageError(
                f"backfill {plan['backfill_id'][:8]} ({plan['start']} .. {plan['end_']}) is unfinished and overlaps "
                f"this range for {', '.join(names)} ({len(pending)} intervals left)",
                hint="finish it with `headwater backfill --continue`, or abandon it with "
                f"`headwater backfill --abandon {plan['backfill_id'][:8]}`",
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
    """Run the pending items of a persisted plan."""
    state = ctx.state
    started = time.perf_counter()
    items = [i for i in state.backfill_items(backfill_id) if i["status"] != "success"]
    by_model: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_model.setdefault(item["unique_id"], []).append(item)
    graph = ctx.graph
    order = [uid for uid in graph.sort(set(by_model)) if uid in by_model]
    invocation_id = str(uuid.uuid4())
    state.start_invocation(
        invocation_id,
        "backfill",
        {"backfill_id": backfill_id, "workers": workers},
        ctx.manifest.target.name,
    )
    result = BackfillResult(backfill_id, skipped_models=list(skipped or []))
    units = [
        Unit(id=f"{i['unique_id']}@{i['interval_start']}", build=graph.nodes[i["unique_id"]])
        for uid in order
        for i in by_model[uid]
    ]
    console = ctx.console
    console.run_started(units)
    runner = Runner(
        ctx.engine, graph, ctx.manifest.config, console, invocation_id=invocation_id, state=state
    )
    done = 0
    failed_upstream: set[str] = set()
    interrupted = False
    try:
        for uid in order:
            node = graph.nodes[uid]
            tests = _model_tests(graph, uid)
            mb = Microbatch(BuildContext(
                engine=ctx.engine, node=node, project=ctx.manifest.config, full_refresh=False,
                invocation_id=invocation_id, audit=runner._auditor(tests, node), state=state,
            ))  # fmt: skip
            try:
                mb.ensure_table()
            except SQLExecutionError as exc:
                raise ExecutionError(
                    f"cannot prepare `{node.name}` for the backfill: {exc.message}",
                    node=node.name,
                    hint=f"build its inputs first, e.g. `headwater run -s +{node.name} --exclude {node.name}`",
                ) from None
            blocked = [p for p in graph.ancestors(uid) if p in failed_upstream]

            def one(
                item: dict[str, Any],
                mb: Microbatch = mb,
                node: Node = node,
                blocked: list[str] = blocked,
            ) -> UnitResult:
                unit = Unit(id=f"{item['unique_id']}@{item['interval_start']}", build=node)
                return _run_item(ctx, backfill_id, mb, unit, item, blocked)

            with ThreadPoolExecutor(
                max_workers=max(1, workers), thread_name_prefix="hw-backfill"
            ) as pool:
                for unit_result in pool.map(one, by_model[uid]):
                    done += 1
                    result.results.append(unit_result)
                    state.record_node(
                        invocation_id, unit_result.to_dict() | {"unique_id": unit_result.unit_id}
                    )
                    console.unit_finished(
                        Unit(id=unit_result.unit_id, build=node), unit_result, done, len(units)
                    )
                    if unit_result.failed:
                        failed_upstream.add(uid)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        finish = getattr(console, "finish", None)
        if finish:
            finish()
        status = "interrupted" if interrupted else "success" if result.exit_code == 0 else "failed"
        remaining = [i for i in state.backfill_items(backfill_id) if i["status"] != "success"]
        state.finish_backfill(backfill_id, "success" if not remaining else "running")
        state.finish_invocation(invocation_id, status, {"intervals": len(units)})
    result.elapsed = time.perf_counter() - started
    return result


def _model_tests(graph: Any, uid: str) -> list[Node]:
    units = plan_units(graph, {uid, *graph.children.get(uid, ())}, build=True, tests=True)
    for unit in units:
        if unit.build is not None and unit.build.unique_id == uid:
            return unit.tests
    return []


def _run_item(
    ctx: Any, backfill_id: str, mb: Microbatch, unit: Unit, item: dict[str, Any], blocked: list[str]
) -> UnitResult:
    node = unit.build
    assert node is not None
    start, end = parse_time(item["interval_start"]), parse_time(item["interval_end"])
    result = UnitResult(
        unit_id=unit.id, name=f"{node.name} [{item['interval_start']} .. {item['interval_end']})",
        resource_type="model", materialized="incremental", relation=node.relation.render(quote=False) if node.relation else None,
        status="running", started_at=time.time(), node_id=node.unique_id,
    )  # fmt: skip
    began = time.perf_counter()
    attempts = int(item.get("attempts") or 0)
    if blocked:
        result.status, result.message = (
            "skipped",
            f"upstream `{blocked[0].rsplit('.', 1)[-1]}` has failed intervals",
        )
        return result
    for attempt in range(ATTEMPTS):
        attempts += 1
        try:
            outcome = mb.build_interval(start, end)
        except HeadwaterError as exc:
            if attempt < ATTEMPTS - 1 and _transient(exc, ctx.engine):
                ctx.engine.invalidate_catalog()
                time.sleep(BACKOFF_SECONDS * 2**attempt)  # backoff before retrying a conflict
                continue
            result.status, result.message = "error", exc.message
            break
        result.rows = outcome.rows
        result.checks = outcome.checks
        result.status = "success" if outcome.published else "fail"
        result.message = outcome.message
        break
    result.duration = time.perf_counter() - began
    ctx.state.update_backfill_item(
        backfill_id, item["unique_id"], item["interval_start"], "success" if result.status == "success" else "error",
        attempts, result.rows, result.message,
    )  # fmt: skip
    return result


def _transient(exc: HeadwaterError, engine: Engine) -> bool:
    return isinstance(exc, TransientError) or engine.is_transient(exc)
