"""`Context`: the one object the CLI, tests and notebooks call — a project, a target and its state.

>>> ctx = Context("path/to/project")                    # doctest: +SKIP
>>> result = ctx.build(select=["+fct_orders"])          # doctest: +SKIP
>>> result.exit_code                                    # doctest: +SKIP
0

Methods return data (`RunResult`, nodes, rows, `LineageResult`, `ValidationResult`,
`StatusReport`, `MetricsReport`, `FreshnessReport`, `LintReport`, `LakeHistory`,
`LakeMaintenance`) and never print: the command line (`headwater.cli`) renders them. Progress goes
to ``console``, a `RunListener` (the CLI passes one of its consoles; the default hears nothing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater import secrets
from headwater.errors import HeadwaterError, Interrupted, UsageError
from headwater.manifest import Manifest, load_manifest, write_compiled
from headwater.project.definition import Node
from headwater.runner.events import RunListener, RunResult, UnitResult

if TYPE_CHECKING:
    import datetime as dt

    from headwater.engines.base import Engine
    from headwater.graph.definition import Graph
    from headwater.lake.maintenance import LakeHistory, LakeMaintenance
    from headwater.lint import LintReport
    from headwater.observe.freshness import FreshnessReport
    from headwater.observe.lineage_tree import LineageResult
    from headwater.observe.status import MetricsReport, StatusReport
    from headwater.quality.expectations import Suite
    from headwater.quality.validate import ValidationResult
    from headwater.runner.backfill import BackfillResult
    from headwater.state import StateStore
    from headwater.state.records import Interval
    from headwater.streams.commands import StatusReport as StreamStatusReport
    from headwater.streams.processor import BatchReport, RunSummary

log = logging.getLogger("headwater")


class _HookResult:
    """An entry of `results` in `on-run-end` (dbt's RunResult: `status`, `node`, `message`, ...)."""

    def __init__(self, result: UnitResult, node: Node | None, target: Any) -> None:
        from headwater.sql.render import node_dict

        self.status = result.status
        self.message = result.message
        self.execution_time = result.duration
        self.adapter_response = {"rows_affected": result.rows}
        self.failures = sum(c.failures or 0 for c in result.checks) if result.checks else None
        self.unique_id = result.node_id
        self.node = node_dict(node, target) if node is not None else {"unique_id": result.node_id}


class Context:
    """A project at a target. Loading is lazy: `ls` never opens the warehouse."""

    def __init__(
        self,
        project_dir: str | Path = ".",
        target: str | None = None,
        vars: dict[str, Any] | None = None,
        console: RunListener | None = None,
    ) -> None:
        self.project_dir = Path(project_dir)
        self.target_name = target
        self.vars = dict(vars or {})
        self.console = console if console is not None else RunListener()
        self._manifest: Manifest | None = None
        self._graph: Graph | None = None
        self._engine: Engine | None = None
        self._state: StateStore | None = None
        self._state_dir_checked = False
        self._warnings: list[str] = []
        self._errors: list[str] = []

    # -- lazy parts ---------------------------------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = load_manifest(
                self.project_dir, self.target_name, self.vars, strict=False
            )
            self._errors.extend(p.render() for p in self._manifest.problems)
            self._warnings.extend(self._manifest.warnings)
        return self._manifest

    @property
    def errors(self) -> list[str]:
        """Problems of the project's load, each with its file and line (the CLI prints them)."""
        return list(self._errors)

    def problems_as_warnings(self) -> None:
        """For listing commands: the load's problems are printed as warnings, not errors."""
        self._warnings.extend(self._errors)
        self._errors.clear()

    def check_problems(self, uids: list[str] | None = None) -> None:
        """Raise the load's problems that concern ``uids`` (or all of them). Raised, they are the
        command's error: the CLI prints `errors` too when a command ends, so they are forgotten
        here (as `compile` does) and printed once."""
        manifest = self.manifest
        chosen = None if uids is None else set(uids)
        relevant = [
            p
            for p in manifest.problems
            if chosen is None or p.node_id is None or p.node_id in chosen
        ]
        if not relevant:
            return
        try:
            type(manifest)(
                manifest.config, manifest.target, {}, manifest.dialect, problems=relevant
            ).raise_problems()
        except HeadwaterError:
            self._errors.clear()
            raise

    @property
    def root(self) -> Path:
        return Path(self.manifest.config.root)

    @property
    def state_dir(self) -> Path:
        """`.headwater/`: private (0700), it holds the warehouse, samples of failing rows and logs."""
        path = self.root / self.manifest.config.state_dir
        if not self._state_dir_checked:
            from headwater.private import private_dir

            private_dir(path)
            self._state_dir_checked = True
        return path

    @property
    def graph(self) -> Graph:
        if self._graph is None:
            from headwater.graph.definition import Graph

            self._graph = Graph(self.manifest.nodes)
        return self._graph

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self.open_engine(read_only=False)
        return self._engine

    def open_engine(self, read_only: bool = False) -> Engine:
        """A new connection to the target's warehouse (the caller closes it); ``read_only`` opens
        it read-only, unless it does not exist yet."""
        from headwater.engines import create_engine

        engine = create_engine(self.manifest.target, str(self.root))
        location = getattr(engine, "path", None)
        # DuckDB opens only an existing file read-only: a warehouse not built yet is created
        engine.read_only = read_only and (
            not location or (location != ":memory:" and Path(location).exists())
        )
        engine.open()
        return engine

    @contextlib.contextmanager
    def _read_only_for(self, nodes: list[Node]) -> Iterator[None]:
        """`test` writes nothing but `store_failures` tables and the project's run hooks: when
        none of ``nodes`` stores its failures, there are no hooks and the warehouse is not open
        yet, open it read-only for this command."""
        config = self.manifest.config
        writes = (
            any(n.config.get("store_failures") for n in nodes)
            or config.on_run_start
            or config.on_run_end
        )
        if self._engine is not None or writes:
            yield
            return
        self._engine = self.open_engine(read_only=True)
        try:
            yield
        finally:
            engine, self._engine = self._engine, None
            engine.close()

    @property
    def state(self) -> StateStore:
        if self._state is None:
            from headwater.state import STATE_FILE, open_state_store
            from headwater.state.sqlite import SQLiteStateStore

            try:
                manifest = self.manifest
            except HeadwaterError:  # a project that does not load still has its local history
                self._state = SQLiteStateStore(self.state_dir / STATE_FILE)
            else:
                self._state = open_state_store(manifest.config, manifest.target, self.root)
        return self._state

    @property
    def warnings(self) -> list[str]:
        """What the user should know that no node result says (the history could not be saved)."""
        live = self._state.warning if self._state is not None else None
        return self._warnings + ([live] if live else [])

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._state is not None:
            self._state.close()
            if self._state.warning:  # kept for `warnings` once the store is closed
                self._warnings.append(self._state.warning)
            self._state = None

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- selection --------------------------------------------------------------------------------
    def select(
        self,
        select: list[str] | None = None,
        exclude: list[str] | None = None,
        resource_types: tuple[str, ...] | None = None,
        with_tests: bool = True,
    ) -> list[Node]:
        """Selected nodes in graph order."""
        from headwater.graph.selection import Selector

        uids = Selector(self.graph).select(select, exclude, with_tests=with_tests)
        nodes = [self.graph.nodes[u] for u in self.graph.sort(uids)]
        if resource_types:
            nodes = [n for n in nodes if n.resource_type in resource_types]
        return nodes

    def ls(self, select: list[str] | None = None, exclude: list[str] | None = None,
           resource_types: tuple[str, ...] | None = None) -> list[Node]:  # fmt: skip
        return self.select(select, exclude, resource_types)

    def compile(
        self, select: list[str] | None = None, exclude: list[str] | None = None
    ) -> list[Node]:
        """The compiled nodes of the selection; raises the load's problems that concern it."""
        selected = self.select(select, exclude)
        self.check_problems([n.unique_id for n in selected] if select else None)
        self._errors.clear()  # raised: printed once, as the command's error
        nodes = [n for n in selected if n.compiled_sql is not None]
        if self.manifest.from_cache:  # a fresh parse has just written every compiled file
            write_compiled(self.manifest, nodes)
        return nodes

    @property
    def compiled_dir(self) -> Path:
        return self.state_dir / "compiled"

    def lint(self, select: list[str] | None = None, exclude: list[str] | None = None) -> LintReport:
        """Check the selected models' compiled SQL with the lint rules (`headwater.lint`) and the
        project's `lint:` config; never opens the warehouse. `LintReport.exit_code` is 1 when a
        finding is error-level."""
        from headwater.engines import engine_dialect
        from headwater.lint import lint_nodes

        manifest = self.manifest
        nodes = self.select(select, exclude, resource_types=("model",), with_tests=False)
        return lint_nodes(
            nodes,
            manifest.nodes,
            engine_dialect(manifest.target.engine),
            manifest.config.lint,
            str(manifest.config.root),
            self._lake_rows,
        )

    def _lake_rows(self, node: Node) -> int | None:
        """The rows of a lake table from its metadata (no warehouse, no data read); None for a
        warehouse relation, or a lake table that does not exist yet."""
        from headwater.lake.spec import LakeSpec
        from headwater.project.definition import lake_format

        if lake_format(node.config) is None or node.relation is None:
            return None
        manifest = self.manifest
        spec = LakeSpec.of(node, manifest.config, manifest.target.lake_root)
        snapshot = spec.table(node.name).snapshot()
        return snapshot.rows if snapshot is not None else None

    # -- running -------------------------------------------------------------------------------------
    def run(
        self, select: list[str] | None = None, exclude: list[str] | None = None, **options: Any
    ) -> RunResult:
        """Build the selected sources, seeds and models, without checks."""
        return self._execute("run", select, exclude, build=True, tests=False, **options)

    def build(
        self, select: list[str] | None = None, exclude: list[str] | None = None, **options: Any
    ) -> RunResult:
        """Build and check the selection with write-audit-publish."""
        return self._execute("build", select, exclude, build=True, tests=True, **options)

    def test(
        self, select: list[str] | None = None, exclude: list[str] | None = None, **options: Any
    ) -> RunResult:
        """Run the checks of the selection against published relations."""
        return self._execute("test", select, exclude, build=False, tests=True, **options)

    def extract(
        self, select: list[str] | None = None, exclude: list[str] | None = None, **options: Any
    ) -> RunResult:
        """Extract and load the selected sources (and run their checks), nothing downstream."""
        return self._execute(
            "extract",
            select,
            exclude,
            build=True,
            tests=True,
            resource_types=("source",),
            **options,
        )

    def snapshot(
        self, select: list[str] | None = None, exclude: list[str] | None = None, **options: Any
    ) -> RunResult:
        """Take the selected snapshots (slowly changing dimensions, type 2) and run their checks."""
        return self._execute(
            "snapshot",
            select,
            exclude,
            build=True,
            tests=True,
            resource_types=("snapshot",),
            **options,
        )

    def backfill(
        self,
        select: list[str] | None = None,
        exclude: list[str] | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        workers: int = 1,
        rerun: str = "missing",
        resume: str | bool = False,
    ) -> BackfillResult:
        """Build the intervals [start, end) of the selected microbatch models (persisted plan,
        resumable with ``resume=True`` or a plan id)."""
        from headwater.runner.backfill import microbatch_models, plan_backfill, run_backfill

        if resume:
            plan = self._unfinished_backfill(resume if isinstance(resume, str) else None)
            with self._interruptible():
                return run_backfill(self, plan, workers)
        if not start or not end:
            raise UsageError(
                "backfill needs --start and --end (or --continue)",
                hint="e.g. --start 2026-01-01 --end 2026-02-01",
            )
        models, skipped = microbatch_models(self, select, exclude)
        plan = plan_backfill(self, models, start, end, rerun, " ".join(select or []))
        with self._interruptible():
            return run_backfill(self, plan, workers, skipped)

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        """SIGINT and SIGTERM abort the statements running on every thread (their transactions
        roll back, so no half-written table is published) and raise `Interrupted`.

        Without this, a worker thread would finish its node while the main thread waits for it;
        signal handlers can only be set in the main thread, elsewhere the body runs as it is."""
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield
            return

        received: list[int] = []

        def stop(signum: int, frame: Any) -> None:
            received.append(signum)
            if self._engine is not None:
                self._engine.interrupt()
            raise Interrupted(signum)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        except KeyboardInterrupt as exc:  # DuckDB turns the handler's exception into its own
            if received and not isinstance(exc, Interrupted):
                raise Interrupted(received[0]) from None
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def abandon_backfill(self, backfill_id: str) -> str:
        plan = self._unfinished_backfill(backfill_id)
        self.state.backfills.finish(plan, "abandoned")
        return plan

    def _unfinished_backfill(self, prefix: str | None) -> str:
        plans = [
            p
            for p in self.state.backfills.plans("running")
            if not prefix or p.backfill_id.startswith(prefix)
        ]
        if not plans:
            raise UsageError(
                "no unfinished backfill" + (f" with id `{prefix}`" if prefix else ""),
                hint="start one with `headwater backfill SELECTION --start D --end D`",
            )
        return plans[0].backfill_id

    def intervals(self, name: str) -> tuple[Node, list[Interval]]:
        """The interval ledger of model ``name``."""
        from headwater.errors import NodeNotFoundError, did_you_mean

        models = {n.name: n for n in self.manifest.nodes.values() if n.resource_type == "model"}
        if name not in models:
            raise NodeNotFoundError(
                f"no model named `{name}`" + did_you_mean(name, models), hint="see `headwater ls`"
            )
        node = models[name]
        return node, self.state.intervals.for_node(node.unique_id)

    def seed(
        self, select: list[str] | None = None, exclude: list[str] | None = None, **options: Any
    ) -> RunResult:
        return self._execute(
            "seed", select, exclude, build=True, tests=False, resource_types=("seed",), **options
        )

    def _execute(
        self,
        command: str,
        select: list[str] | None,
        exclude: list[str] | None,
        *,
        build: bool,
        tests: bool,
        threads: int | None = None,
        fail_fast: bool = False,
        full_refresh: bool = False,
        resource_types: tuple[str, ...] = ("source", "seed", "model", "snapshot", "stream"),
        run_options: dict[str, Any] | None = None,
    ) -> RunResult:
        from headwater.graph.selection import Selector
        from headwater.observe import Bus
        from headwater.observe.observers import build_observer
        from headwater.quality.post_publish import post_publish_checks
        from headwater.runner.events import Listeners, Run, run_session
        from headwater.runner.executor import Runner
        from headwater.runner.plan import plan_units
        from headwater.runner.recorder import StateRecorder

        started = time.perf_counter()
        uids = Selector(self.graph).select(select, exclude, with_tests=tests)
        units = plan_units(
            self.graph, uids, build=build, tests=tests, resource_types=resource_types
        )
        invocation_id = str(uuid.uuid4())
        target = self.manifest.target
        args = {"select": select, "exclude": exclude, "threads": threads, "fail_fast": fail_fast}
        run = Run(invocation_id, command, target.name, args)
        bus = Bus()  # what the observability parts and the post-publish checks share
        observer = build_observer(self, command, invocation_id, bus)
        judges = post_publish_checks(self, command, invocation_id, bus)
        recorder = StateRecorder(self.state, self._file_logger())
        listeners = Listeners([self.console, recorder, observer])
        checks = [t for u in units for t in u.tests] if command == "test" else None
        with run_session(listeners, run, units) as session:
            read_only = self._read_only_for(checks) if checks is not None else None
            with read_only or contextlib.nullcontext():
                from headwater.sql.runtime import Runtime

                runtime = Runtime(self.manifest, full_refresh=full_refresh, command=command)
                runner = Runner(
                    self.engine,
                    self.graph,
                    self.manifest.config,
                    listeners,
                    threads=threads or target.threads,
                    fail_fast=fail_fast,
                    full_refresh=full_refresh,
                    invocation_id=invocation_id,
                    state=self.state,
                    options=run_options,
                    post_publish=judges,
                    runtime=runtime,
                    command=command,
                )
                with self._interruptible():
                    self._project_hooks(runtime, "on-run-start", command)
                    session.results += runner.schedule(units)
                    self._project_hooks(runtime, "on-run-end", command, results=session.results)
                warehouse = self.engine.location
            result = RunResult(
                invocation_id=invocation_id,
                command=command,
                results=session.results,
                elapsed=time.perf_counter() - started,
                warehouse=warehouse,
                target=target.name,
                log_path=str(self.state_dir / "logs" / "headwater.log"),
                problems=self._problem_count(uids, select),
            )
            session.status = "success" if result.exit_code == 0 else "failed"
            return result

    def _project_hooks(
        self, runtime: Any, which: str, command: str, results: list[UnitResult] | None = None
    ) -> None:
        """Run the project's `on-run-start` / `on-run-end` statements (dbt runs them for these commands)."""
        config = self.manifest.config
        if not (config.on_run_start if which == "on-run-start" else config.on_run_end):
            return
        if command not in ("run", "build", "seed", "snapshot", "test"):
            return
        context: dict[str, Any] = {}
        if results is not None:
            context["results"] = [
                _HookResult(r, self.graph.nodes.get(r.node_id or ""), self.manifest.target)
                for r in results
            ]
            schemas = sorted({n.relation.schema for n in self.graph.nodes.values()
                              if n.relation is not None and n.resource_type in ("model", "seed", "snapshot")})  # fmt: skip
            context["schemas"] = schemas
            context["database_schemas"] = [
                (runtime.renderer(self.engine).globals["target"].database, s) for s in schemas
            ]
        for i, sql in enumerate(runtime.project_hooks(which, self.engine, **context)):
            try:
                self.engine.execute(sql)
            except HeadwaterError as exc:
                from headwater.errors import Location

                raise type(exc)(
                    f"{which} hook {i + 1} failed: {exc.message}",
                    location=Location(config.config_file),
                    hint=f"fix the statement under `{which}:` in {config.config_file}",
                ) from None

    def _problem_count(self, uids: list[str] | set[str], select: list[str] | None) -> int:
        """Load problems that concern this run: its nodes', and the project's own when it runs everything."""
        chosen = set(uids)
        return sum(
            1 for p in self.manifest.problems
            if (p.node_id in chosen) or (p.node_id is None and not select)
        )  # fmt: skip

    def _file_logger(self) -> logging.Logger:
        logger = logging.getLogger(f"headwater.file.{self.root}")
        if not logger.handlers:
            from headwater.private import private_file

            logs = self.state_dir / "logs"
            private_file(logs / "headwater.log")
            handler = logging.FileHandler(logs / "headwater.log", encoding="utf-8", delay=True)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            handler.addFilter(secrets.logging_filter())
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False
        return logger

    # -- queries ------------------------------------------------------------------------------------
    def query(self, sql: str, limit: int | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a query on the warehouse: column names and rows."""
        names, rows = self.engine.query(sql)
        if limit is not None:
            rows = rows[:limit]
        return names, rows

    def lineage(
        self,
        node: str,
        column: str | None = None,
        downstream: bool = False,
        depth: int | None = None,
    ) -> LineageResult:
        """Table-level lineage of ``node`` (a name, unique_id, `source.table` or relation), or of
        its ``column``: upstream (what it is made from) or ``downstream`` (what is made from
        it), ``depth`` levels (all by default). Reads the warehouse read-only when it is free."""
        from headwater.observe.lineage_tree import lineage

        return lineage(self.manifest, self.root, node, column, downstream, depth)

    def validate(
        self,
        data: object,
        suite: str | os.PathLike[str] | Suite,
        result_format: str | None = None,
    ) -> ValidationResult:
        """Check ``data`` against an expectation ``suite`` (a YAML / GX JSON file, or a `Suite`).

        ``data`` is a file, a folder or glob of them, a URL, a data frame or Arrow table (no
        project needed), or a relation of the warehouse (a model, seed, `source.table` or
        `schema.table`, opened read-only)."""
        from headwater.quality.validate import (
            ValidationResult,
            is_files,
            load_suite_file,
            validate_files,
            validate_table,
        )

        parsed = load_suite_file(suite) if isinstance(suite, str | os.PathLike) else suite
        if not isinstance(data, str | os.PathLike):
            result = validate_files(data, parsed, result_format)
            return ValidationResult(type(data).__name__, parsed.name, result)
        name = os.fspath(data)
        if is_files(name):
            result = validate_files(name, parsed, result_format)
        else:
            result = validate_table(self, name, parsed, result_format)
        return ValidationResult(name, parsed.name, result)

    # -- observability ------------------------------------------------------------------------------
    def status(self, limit: int = 10) -> StatusReport:
        """What the state store knows: the last ``limit`` invocations, failing and warning checks,
        stale nodes, open anomalies, schema changes, loads with rejected records and open
        incidents (``limit`` rows each)."""
        from headwater.observe.status import status_report

        if limit < 1:
            raise UsageError(f"limit must be at least 1, got {limit}", hint="e.g. limit=20")
        return status_report(self.state, limit)

    def metrics(
        self,
        node: str,
        metric: str | None = None,
        column: str | None = None,
        limit: int = 30,
    ) -> MetricsReport:
        """The metric series of ``node`` (a name, unique_id or `source.table`) over its last
        ``limit`` runs; with ``metric`` (and ``column`` for a column metric such as null_rate),
        the history of that series with the change from each run to the next."""
        from headwater.observe.status import check_metric, find_node, metrics_report

        if limit < 1:
            raise UsageError(f"limit must be at least 1, got {limit}", hint="e.g. limit=30")
        check_metric(metric, column)
        found = find_node(self.manifest.nodes, node)
        return metrics_report(self.state, found, metric, column, limit)

    def freshness(
        self,
        select: list[str] | None = None,
        exclude: list[str] | None = None,
        now: dt.datetime | float | None = None,
    ) -> FreshnessReport:
        """Check the freshness of the selected sources and models (those with `freshness:`) and
        the project's schedule SLAs at ``now`` (default: the current time); record them as one
        invocation and hand their signals to alerting. `FreshnessReport.exit_code` is 1 when a
        node is stale past `error_after` (or could not be checked) or an SLA is breached."""
        from headwater.observe.freshness import run_freshness

        return run_freshness(self, select, exclude, now)

    # -- lake tables ---------------------------------------------------------------------------------
    def lake_history(self, model: str, limit: int | None = None) -> LakeHistory:
        """The versions of ``model``'s lake table (a Delta, Iceberg or Parquet model, snapshot
        or source), newest first, at most ``limit``."""
        from headwater.lake.maintenance import lake_history

        return lake_history(self, model, limit)

    def lake_optimize(
        self, model: str, zorder: list[str] | None = None, target_size: int | None = None
    ) -> LakeMaintenance:
        """Compact ``model``'s lake table into files of about ``target_size`` bytes (Z-ordered
        by ``zorder``) as a new version with the same rows; its warehouse view reads the new
        version. Recorded in the run history."""
        from headwater.lake.maintenance import lake_optimize

        return lake_optimize(self, model, zorder, target_size)

    def lake_vacuum(
        self, model: str, retain: str | dt.timedelta = "168h", dry_run: bool = False
    ) -> LakeMaintenance:
        """Delete the files of ``model``'s lake table that no version inside the last ``retain``
        (a duration: ``168h``, ``7d``, ``0h``) needs, including files no version refers to that
        are older than that; ``dry_run`` lists them only. Recorded in the run history."""
        from headwater.lake.maintenance import lake_vacuum

        return lake_vacuum(self, model, retain, dry_run)

    # -- streams -------------------------------------------------------------------------------------
    def stream_run(
        self,
        names: list[str],
        *,
        until_idle: bool = False,
        max_seconds: float | None = None,
        stop: threading.Event | None = None,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> list[RunSummary]:
        """Consume the named streams (each in a thread) until ``stop`` is set, the broker is idle
        (``until_idle``) or ``max_seconds`` pass; every micro-batch commits exactly once."""
        from headwater.streams.commands import stream_run

        return stream_run(self, names, until_idle=until_idle, max_seconds=max_seconds, stop=stop,
                          on_batch=on_batch)  # fmt: skip

    def stream_status(self, names: list[str] | None = None) -> StreamStatusReport:
        """Lag per partition, events/s, DLQ rate, latency, last commit and watermark of streams."""
        from headwater.streams.commands import stream_status

        return stream_status(self, names)

    def stream_reset(self, name: str, to: str) -> dict[str, str | None]:
        """Move stream ``name`` to ``earliest``, ``latest`` or an ISO timestamp."""
        from headwater.streams.commands import stream_reset

        return stream_reset(self, name, to)


__all__ = ["Context", "HeadwaterError", "RunResult"]
