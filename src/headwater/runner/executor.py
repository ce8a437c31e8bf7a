"""Execute units in graph order, in parallel, with write-audit-publish.

The life of a buildable node: SELECT -> staged relation -> checks -> publish (atomic swap), or,
when it has no error-level checks, an atomic create-or-replace followed by its warn checks.
Downstream units of a failed unit are skipped and say why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from headwater.engines.base import Engine
from headwater.errors import CommittedError, ExecutionError, HeadwaterError, SQLExecutionError
from headwater.graph.definition import Graph
from headwater.materialize import Materialization, materialization_for
from headwater.materialize.stateful import BuildContext, StatefulMaterialization
from headwater.project.definition import Node, ProjectConfig, Relation
from headwater.quality.contracts import contract_enforced, enforce_contract
from headwater.quality.evaluator import CheckResult, CheckRunner, sample_text
from headwater.quality.quarantine import apply_quarantine, quarantine_tests
from headwater.runner.events import (
    FAILED,
    Run,
    RunListener,
    Unit,
    UnitResult,
    run_session,
)
from headwater.runner.scheduler import Reason, Scheduler, retrying, upstream_reason

T = TypeVar("T")

if TYPE_CHECKING:
    from headwater.materialize.incremental import Microbatch
    from headwater.quality.post_publish import PostPublishCheck
    from headwater.sql.runtime import Runtime
    from headwater.state import StateStore

__all__ = ["FAILED", "Runner", "Unit", "UnitResult"]


class Runner:
    """Runs units against one engine: builds with write-audit-publish, checks, and intervals of
    time-partitioned models; `Scheduler` decides the order."""

    def __init__(
        self,
        engine: Engine,
        graph: Graph,
        project: ProjectConfig,
        listener: RunListener,
        *,
        threads: int = 1,
        fail_fast: bool = False,
        full_refresh: bool = False,
        invocation_id: str = "",
        state: StateStore | None = None,
        options: dict[str, Any] | None = None,
        post_publish: Sequence[PostPublishCheck] = (),
        runtime: Runtime | None = None,
        command: str = "run",
    ) -> None:
        self.runtime = runtime
        """Renders introspective nodes and hooks at run time (`headwater.sql.runtime.Runtime`)."""
        self.invocation_id = invocation_id
        self.command = command
        self.state = state
        self.options = dict(options or {})
        self.engine = engine
        self.graph = graph
        self.project = project
        self.listener = listener
        self.threads = max(1, threads)
        self.fail_fast = fail_fast
        self.full_refresh = full_refresh
        self._microbatches: dict[str, Microbatch] = {}
        self.post_publish = list(post_publish)
        """Judgements of a published node (anomaly monitors, schema-change contracts)."""

    # -- a run ------------------------------------------------------------------------------------
    def run(self, units: list[Unit]) -> list[UnitResult]:
        """Schedule ``units`` as one run (listeners hear it start and finish)."""
        run = Run(self.invocation_id, self.command, self.engine.target.name)
        with run_session(self.listener, run, units) as session:
            session.results += self.schedule(units)
            return session.results

    def schedule(self, units: list[Unit], reason: Reason = upstream_reason) -> list[UnitResult]:
        """Run ``units`` in dependency order on `threads` workers."""
        self._ensure_schemas(units)
        scheduler = Scheduler(
            self._execute,
            self._skipped,
            self.listener,
            threads=self.threads,
            fail_fast=self.fail_fast,
            reason=reason,
        )
        return scheduler.run(units)

    def _skipped(self, unit: Unit, reason: str) -> UnitResult:
        result = self._new_result(unit)
        result.status = "skipped"
        result.message = reason
        return result

    def _ensure_schemas(self, units: list[Unit]) -> None:
        schemas = {
            u.build.relation.schema for u in units if u.build is not None and u.build.relation
        }
        present = self.engine.catalog_schemas()  # the one catalog read of the run
        for schema in sorted(schemas):
            if schema.lower() not in present:
                self.engine.ensure_schema(schema)
        self.engine.drop_leftover_staged(schemas)

    # -- one unit --------------------------------------------------------------------------------
    def _new_result(self, unit: Unit) -> UnitResult:
        node = unit.build
        return UnitResult(
            unit_id=unit.id,
            node_id=node.unique_id
            if node
            else (unit.tests[0].unique_id if len(unit.tests) == 1 else unit.id),
            name=unit.name,
            resource_type=unit.resource_type,
            materialized=node.materialized if node else "test",
            relation=node.relation.render(quote=False) if node and node.relation else None,
            status="running",
        )

    def _execute(self, unit: Unit) -> UnitResult:
        result = self._new_result(unit)
        result.started_at = time.time()
        started = time.perf_counter()
        self.listener.unit_started(unit, result)
        try:
            if unit.build is not None and unit.build.problem is not None:
                result.status = "error"
                result.message = f"not loaded: {unit.build.problem}"
            elif unit.build is not None and unit.interval is not None:
                self._build_interval(unit, result)
            elif unit.build is not None:
                self._prepare(unit.build)
                self._hooks(unit.build, "pre_hook")
                self._build(unit, result)
                if result.status in ("success", "warn"):
                    self._persist_docs(unit.build)
                    self._hooks(unit.build, "post_hook")
                if result.status in ("success", "warn"):
                    result.duration = time.perf_counter() - started  # the build's own, for metrics
                    self._published(unit, result)
            else:
                self._test(unit, result)
        except CommittedError as exc:  # published, then the engine failed: the truth is "published"
            result.status = "warn"
            result.message = f"published, but {exc.message}"
        except HeadwaterError as exc:
            result.status = "error"
            where = f"{exc.location}: " if exc.location is not None else ""
            result.message = where + exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
        except Exception as exc:  # a bug or an engine crash: report it on the node, keep going
            result.status = "error"
            result.message = f"{type(exc).__name__}: {exc}"
        result.duration = time.perf_counter() - started
        return result

    def _published(self, unit: Unit, result: UnitResult) -> None:
        """The unit's relation is published: listeners measure it, then the post-publish checks
        (anomaly monitors, schema-change contracts) judge what was measured. A blocking one
        fails the node after the fact, so its downstream is skipped."""
        self.listener.unit_published(unit, result, self.engine)
        extra: list[CheckResult] = []
        for part in self.post_publish:
            try:
                extra += part.check(unit, result, self.engine)
            except Exception as exc:  # judging must never fail the node it judges
                result.message = (result.message + "; " if result.message else "") + (
                    f"observability: {type(exc).__name__}: {exc}"
                )
        if extra:
            result.checks += extra
            self._grade(result)
            blocking = [c for c in extra if c.blocks]
            if blocking:
                result.status = "fail"
                result.message = "; ".join(f"{c.name}: {c.message}" for c in blocking[:3])

    # -- intervals ---------------------------------------------------------------------------------
    def prepare_intervals(self, units: list[Unit]) -> None:
        """Create the tables of the interval units' models (empty, from the batch query's
        shape), in graph order, before any interval runs."""
        from headwater.materialize.incremental import Microbatch

        for unit in units:
            node = unit.build
            if node is None or unit.interval is None or node.unique_id in self._microbatches:
                continue
            ctx = BuildContext(
                engine=self.engine,
                node=node,
                project=self.project,
                full_refresh=False,
                invocation_id=self.invocation_id,
                audit=self._auditor(unit.tests, node),
                state=self.state,
            )
            mat = materialization_for(node)
            if isinstance(mat, StatefulMaterialization):
                mat.prepare(ctx)  # a lake table publishes each interval as a version
            mb = Microbatch(ctx)
            try:
                mb.ensure_table()
            except SQLExecutionError as exc:
                raise ExecutionError(
                    f"cannot prepare `{node.name}` for the backfill: {exc.message}",
                    node=node.name,
                    hint="build its inputs first, e.g. "
                    f"`headwater run -s +{node.name} --exclude {node.name}`",
                ) from None
            self._microbatches[node.unique_id] = mb

    def _build_interval(self, unit: Unit, result: UnitResult) -> None:
        """Replace one interval of a microbatch model (its checks audit it before it is kept)."""
        assert unit.build is not None and unit.interval is not None
        if unit.build.unique_id not in self._microbatches:
            self.prepare_intervals([unit])
        mb = self._microbatches[unit.build.unique_id]
        start, end = unit.interval

        def tried(n: int) -> None:
            result.attempts = n

        outcome = retrying(lambda: mb.build_interval(start, end), self.engine, tried=tried)
        result.rows = outcome.rows
        result.checks = outcome.checks
        result.stats = dict(outcome.stats)
        result.status = "success" if outcome.published else "fail"
        result.message = outcome.message

    def _build(self, unit: Unit, result: UnitResult) -> None:
        node = unit.build
        assert node is not None and node.relation is not None
        mat = materialization_for(node)
        if isinstance(mat, StatefulMaterialization):
            self._build_stateful(unit, mat, result)
            return
        with mat.prepared(node, self.engine, self.project) as sql:
            self._build_select(unit, mat, sql, result)

    def _build_select(self, unit: Unit, mat: Materialization, sql: str, result: UnitResult) -> None:
        """Build, audit and publish a node made from one SELECT (see the module docstring)."""
        node = unit.build
        assert node is not None and node.relation is not None
        relation = node.relation
        audit = [t for t in unit.tests if t.severity == "error"]
        to_quarantine = quarantine_tests(unit.tests) if node.resource_type == "model" else []
        contract = node.resource_type == "model" and contract_enforced(node)
        if not audit and not contract:
            result.rows = self._retrying(
                lambda: self.engine.create_or_replace(relation, sql, mat.kind)
            )
            result.status = "success"
            if unit.tests:
                result.checks = self._checks(unit.tests, {})
                self._grade(result)
            return
        staged = self.engine.staging_relation(node.relation)
        result.rows = self._retrying(lambda: self.engine.create_or_replace(staged, sql, mat.kind))
        also: list[tuple[Relation, Relation]] = []
        try:
            if contract:
                enforce_contract(self.engine, node, staged)
            quarantined = None
            if to_quarantine:
                runner = self._check_runner({node.unique_id: staged})
                quarantined = apply_quarantine(
                    self.engine,
                    node,
                    staged,
                    to_quarantine,
                    runner.row_predicate,
                    self.invocation_id,
                    result.rows,
                )
                also.append((quarantined.staged, quarantined.relation))
                if result.rows is not None:
                    result.rows -= quarantined.total
        except HeadwaterError:
            self.engine.drop(staged)
            raise
        result.checks = self._checks(unit.tests, {node.unique_id: staged})
        if quarantined is not None:
            for check in result.checks:
                if check.unique_id in quarantined.by_check:
                    check.quarantined = quarantined.by_check[check.unique_id]
                    if check.quarantined:
                        check.status = (
                            "warn"  # the bad rows were found and set aside: reported, not fatal
                        )
                        check.failures = check.quarantined
                        check.sample = self._quarantine_sample(quarantined.staged, check.name)
                        text = f"{check.quarantined:,} rows quarantined in {quarantined.relation.render(quote=False)}"
                        if check.sample:
                            text += ", e.g. " + sample_text(check.sample)
                        check.message = text + (f"; {check.message}" if check.message else "")
        blocking = [c for c in result.checks if c.blocks]
        if blocking:
            self.engine.drop(staged)
            for q_staged, _ in also:
                self.engine.drop(q_staged)
            result.status = "fail"
            names = ", ".join(f"`{c.name}`" for c in blocking)
            result.message = f"not published: {names} failed; the previous version stays"
            return
        self._retrying(lambda: self.engine.publish(staged, relation, mat.kind, sql, also))
        result.status = "success"
        self._grade(result)

    def _build_stateful(self, unit: Unit, mat: StatefulMaterialization, result: UnitResult) -> None:
        node = unit.build
        assert node is not None
        if quarantine_tests(unit.tests):
            from headwater.errors import ConfigError

            raise ConfigError(
                f"`on_failure: quarantine` on `{node.name}` is supported on table models, not yet on {node.materialized}",
                node=node.name,
                hint="quarantine in an upstream table model, or drop `on_failure: quarantine` here",
            )
        ctx = BuildContext(
            engine=self.engine,
            node=node,
            project=self.project,
            full_refresh=self.full_refresh,
            invocation_id=self.invocation_id,
            audit=self._auditor(unit.tests, node),
            state=self.state,
            options=self.options,
        )

        def tried(n: int) -> None:
            result.attempts = n

        outcome = retrying(lambda: mat.build(ctx), self.engine, tried=tried)
        result.rows = outcome.rows
        result.stats = dict(outcome.stats)
        result.checks = outcome.checks
        if not outcome.published:
            result.status = "fail"
            result.message = outcome.message
            return
        result.status = "success"
        result.message = outcome.message
        self._grade(result)
        if outcome.rejected:  # records set aside in <table>__rejected: reported, not fatal
            result.rejected, result.status, result.message = (
                outcome.rejected,
                "warn",
                outcome.message,
            )

    def _auditor(self, tests: list[Node], node: Node) -> Callable[..., list[CheckResult]]:
        """`BuildContext.audit` of a stateful node: ``audit()`` runs its checks against its
        relation (inside the build's transaction), ``audit(staged)`` against the staged copy a
        stage-and-swap build changed."""

        def audit(staged: Relation | None = None) -> list[CheckResult]:
            return self._checks(tests, {node.unique_id: staged} if staged is not None else {})

        return audit

    def _quarantine_sample(self, table: Relation, check: str, n: int = 5) -> list[dict[str, Any]]:
        from headwater.quality.quarantine import sample_sql

        names, rows = self.engine.query(sample_sql(self.engine, table, check, n))
        return [
            {
                k: v if v is None or isinstance(v, bool | int | float | str) else str(v)
                for k, v in zip(names, row, strict=True)
            }
            for row in rows
        ]

    def _grade(self, result: UnitResult) -> None:
        if any(c.status in ("warn", "fail", "error") or c.quarantined for c in result.checks):
            result.status = "warn"
            warned = [c for c in result.checks if c.status != "pass" or c.quarantined]
            result.message = "; ".join(f"{c.name}: {c.message}" for c in warned[:3])

    def _test(self, unit: Unit, result: UnitResult) -> None:
        result.checks = self._checks(unit.tests, {})
        statuses = {c.status for c in result.checks}
        if any(c.blocks for c in result.checks):
            result.status = "fail" if "fail" in statuses else "error"
        elif statuses & {"warn", "fail", "error"}:
            result.status = "warn"
        else:
            result.status = "pass"
        bad = [c for c in result.checks if c.status != "pass"]
        result.message = "; ".join(f"{c.name}: {c.message}" for c in bad[:3])

    def _checks(self, tests: list[Node], staged: dict[str, Relation]) -> list[CheckResult]:
        runner = self._check_runner(staged)
        broken = [t for t in tests if t.problem is not None]
        for test in tests:
            if test.introspective and test.problem is None:
                self._prepare(test, staged)
        results = runner.run([t for t in tests if t.problem is None])
        results += [runner._result(t, "error", message=f"not loaded: {t.problem}") for t in broken]
        return results

    def _persist_docs(self, node: Node) -> None:
        """dbt's `persist_docs`: the model's and its columns' descriptions as warehouse comments."""
        settings = node.config.get("persist_docs")
        if (
            not isinstance(settings, dict)
            or node.relation is None
            or node.resource_type not in ("model", "seed", "snapshot")
        ):
            return
        from headwater.engines.base import quote_identifier, quote_literal

        kind = self.engine.relation_kind(node.relation)
        if kind is None:
            return
        name = node.relation.render()
        if settings.get("relation") and node.description:
            self.engine.execute(
                f"COMMENT ON {'VIEW' if kind == 'view' else 'TABLE'} {name} IS {quote_literal(node.description)}"
            )
        if settings.get("columns"):
            present = {c.lower() for c, _ in self.engine.columns(node.relation)}
            for column in node.columns.values():
                if column.description and column.name.lower() in present:
                    self.engine.execute(
                        f"COMMENT ON COLUMN {name}.{quote_identifier(column.name)} IS {quote_literal(column.description)}"
                    )

    def _hooks(self, node: Node, which: str) -> None:
        """Run the node's `pre_hook` (before its build) or `post_hook` (after it is published)."""
        for i, sql in enumerate(node.hooks.get(which) or []):
            try:
                self.engine.execute(sql)
            except HeadwaterError as exc:
                raise type(exc)(
                    f"{which.replace('_', '-')} {i + 1} of `{node.name}` failed: {exc.message}",
                    node=node.name,
                    hint="the hook runs as written in the model's config; fix its SQL",
                ) from None

    def _prepare(self, node: Node, staged: dict[str, Relation] | None = None) -> None:
        """Render an introspective node again now that its parents exist (`headwater.sql.runtime`);
        a test of a staged node renders against the staged relation."""
        if node.introspective and self.runtime is not None:
            self.runtime.prepare(node, self.engine, staged)

    def _check_runner(self, staged: dict[str, Relation]) -> CheckRunner:
        def relation_sql(uid: str) -> str:
            if uid in staged:
                return staged[uid].render()
            node = self.graph.nodes[uid]
            if node.materialized == "ephemeral" or node.relation is None:
                return f"(\n{node.compiled_sql}\n)"
            return node.relation.render()

        schema = self.engine.target.schema
        return CheckRunner(self.engine, self.graph.nodes, relation_sql, audit_schema=schema)

    def _retrying(self, action: Callable[[], T]) -> T:
        return retrying(action, self.engine)
