"""Rendering at run time: introspective nodes, and the project's `on-run-start`/`on-run-end` hooks.

A node whose template reads the warehouse (`run_query`, `adapter.get_columns_in_relation`,
`dbt_utils.star`, anything behind `{% if execute %}`) was rendered at load with `execute` false,
as dbt's parser does. When the runner reaches it, its parents are built, so `Runtime.prepare`
renders it again with a live engine and real relation names (no placeholders), inlines the
ephemeral models it reads, and replaces the node's SQL, incremental variant and hooks.

Rendering shares one `Renderer` (templates compiled once) under a lock: a render is a few
milliseconds, queries included, against builds of seconds.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

from headwater.project.definition import REFABLE, Node, ProjectConfig, Relation, Target

if TYPE_CHECKING:
    from headwater.engines.base import Engine
    from headwater.sql.render import RefCall, Renderer


class RenderInputs(Protocol):
    """The project's macros and vars, kept with a compiled project (`manifest.RuntimeInputs`)."""

    @property
    def macro_files(self) -> list[tuple[str, str, str]]: ...
    @property
    def vars(self) -> dict[str, Any]: ...
    @property
    def cli_vars(self) -> dict[str, Any]: ...
    @property
    def package_vars(self) -> dict[str, dict[str, Any]]: ...
    @property
    def dispatch(self) -> dict[str, list[str]]: ...


class CompiledProject(Protocol):
    """What rendering at run time reads of a compiled project (`headwater.manifest.Manifest`)."""

    @property
    def config(self) -> ProjectConfig: ...
    @property
    def target(self) -> Target: ...
    @property
    def nodes(self) -> dict[str, Node]: ...
    @property
    def dialect(self) -> str: ...
    @property
    def runtime(self) -> RenderInputs | None: ...


class Runtime:
    """Renders nodes and project hooks against the warehouse, for one run."""

    def __init__(
        self, manifest: CompiledProject, full_refresh: bool = False, command: str = "run"
    ) -> None:
        self.manifest = manifest
        self.full_refresh = full_refresh
        self.command = command
        self._lock = threading.Lock()
        self._renderer: Renderer | None = None
        self._engine: Engine | None = None
        self._staged: dict[str, Relation] = {}
        self._by_name: dict[str, list[Node]] = {}
        for node in manifest.nodes.values():
            if node.resource_type in REFABLE:
                self._by_name.setdefault(node.name, []).append(node)

    def renderer(self, engine: Engine) -> Renderer:
        if self._renderer is None or self._engine is not engine:
            from headwater.sql.macros import MacroFile
            from headwater.sql.render import Renderer

            inputs = self.manifest.runtime
            assert inputs is not None
            config = self.manifest.config
            self._renderer = Renderer(
                config.name,
                self.manifest.target,
                inputs.vars,
                [MacroFile(*f) for f in inputs.macro_files],
                packages=inputs.package_vars,
                dispatch=inputs.dispatch,
                cli_vars=inputs.cli_vars,
                engine=engine,
                resolve=self._resolve,
                graph_nodes=self.manifest.nodes,
                full_refresh=self.full_refresh,
                command=self.command,
            )
            self._engine = engine
        return self._renderer

    def _resolve(self, call: RefCall, node: Node) -> Relation | None:
        from headwater.sql.ephemerals import EPHEMERAL_PREFIX
        from headwater.sql.refs import find_ref, find_source

        if call.kind == "this":
            return node.relation
        if call.kind == "ref":
            package = call.args[0] if len(call.args) == 2 else None
            found = find_ref(
                self._by_name, self.manifest.config.name, call.args[-1], package, call.version, node
            )
        else:
            config = self.manifest.config
            found = find_source(
                self.manifest.nodes, [node.package, config.name, *config.packages], *call.args
            )
        if found is None:
            return None
        if found.unique_id in self._staged:
            return self._staged[found.unique_id]
        if found.materialized == "ephemeral":
            return Relation(schema="", identifier=EPHEMERAL_PREFIX + found.name)
        return found.relation

    def prepare(
        self, node: Node, engine: Engine, staged: dict[str, Relation] | None = None
    ) -> None:
        """Render ``node`` again with the warehouse at hand; its SQL, variant and hooks change.

        ``staged`` maps nodes being audited to their staged relations: a test of a node that is
        not published yet reads (and introspects) the staged relation."""
        with self._lock:
            renderer = self.renderer(engine)
            self._staged = dict(staged or {})
            try:
                if node.test is not None and node.test.kind == "macro":
                    self._prepare_test(renderer, node)
                    return
                if node.test is not None and node.test.kind == "unit":
                    self._prepare_unit(renderer, node)
                    return
                rendered = renderer.render(node)
                node.compiled_sql = self._with_ephemerals(node, rendered.sql)
                node.hooks = rendered.hooks
                if "incremental" in node.variants:
                    node.variants["incremental"] = self._with_ephemerals(
                        node, renderer.render(node, incremental=True).sql
                    )
            finally:
                self._staged = {}

    def _prepare_test(self, renderer: Renderer, node: Node) -> None:
        from headwater.sql.data_tests import find_test_macro

        spec = node.test
        assert spec is not None and spec.attached_to is not None
        macro = find_test_macro(renderer, spec.name, self.manifest.config.name)
        target = self.manifest.nodes[spec.attached_to]
        if macro is None:
            return
        rendered = renderer.render_test(node, target, macro, spec.kwargs, spec.column)
        sql = self._with_ephemerals(node, rendered.sql)
        for (
            uid,
            staged,
        ) in self._staged.items():  # kept with the final names: the audit swaps them per run
            final = self.manifest.nodes[uid].relation
            if final is not None:
                sql = sql.replace(staged.render(), final.render())
        node.compiled_sql = sql

    def _prepare_unit(self, renderer: Renderer, node: Node) -> None:
        """A unit test of a model that reads the warehouse: the model rendered live, with the
        test's overrides, its given inputs reading the fixture CTEs."""
        from headwater.sql.data_tests import render_unit_model, with_fixtures
        from headwater.sql.ephemerals import EPHEMERAL_PREFIX

        spec = node.test
        assert spec is not None and spec.attached_to is not None
        model = self.manifest.nodes[spec.attached_to]
        unit = spec.kwargs["unit"]
        resolve, renderer._resolve = renderer._resolve, None  # placeholders, to put the fixtures in
        try:
            rendered = render_unit_model(renderer, model, unit)
        finally:
            renderer._resolve = resolve

        def relation_of(i: int) -> str:
            relation = self._resolve(rendered.calls[i], model)
            if relation is None:
                return rendered.calls[i].args[-1]
            return relation.identifier if relation.schema == "" else relation.render()

        sql = with_fixtures(rendered.sql, rendered.calls, unit, relation_of)
        if EPHEMERAL_PREFIX in sql:
            sql = self._with_ephemerals(model, sql)
        spec.kwargs["sql"] = sql

    def _with_ephemerals(self, node: Node, sql: str) -> str:
        from headwater.sql.ephemerals import EPHEMERAL_PREFIX, with_ctes

        chain: list[Node] = []

        def walk(n: Node) -> None:
            for dep in n.depends_on:
                parent = self.manifest.nodes.get(dep)
                if (
                    parent is not None
                    and parent.materialized == "ephemeral"
                    and parent not in chain
                ):
                    walk(parent)
                    chain.append(parent)

        walk(node)
        used = [e for e in chain if EPHEMERAL_PREFIX + e.name in sql]
        if not used:
            return sql
        renderer = self._renderer
        ctes = []
        for e in chain:
            # an ephemeral that reads the warehouse is rendered live too (it is never built)
            body = (
                renderer.render(e).sql
                if e.introspective and renderer is not None
                else e.compiled_sql
            )
            ctes.append((EPHEMERAL_PREFIX + e.name, (body or "").strip().rstrip(";")))
        return with_ctes(ctes, sql, self.manifest.dialect)

    def project_hooks(self, which: str, engine: Engine, **context: Any) -> list[str]:
        """The rendered `on-run-start` or `on-run-end` statements (`results`, `schemas` in context)."""
        config = self.manifest.config
        hooks = config.on_run_start if which == "on-run-start" else config.on_run_end
        out = []
        with self._lock:
            renderer = self.renderer(engine)
            for i, text in enumerate(hooks):
                sql = renderer.render_string(
                    text, None, f"{config.config_file}:{which}[{i}]", **context
                ).strip()
                if sql:
                    out.append(sql)
        return out


__all__ = ["Runtime"]
