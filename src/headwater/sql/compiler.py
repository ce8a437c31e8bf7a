"""Compile a project: render every node, resolve ref()/source() to relations and edges, inline
ephemeral models as CTEs, and add edges for table names sqlglot finds in the SQL.

Adding a feature to the Jinja context goes in `headwater.sql.render`; this module only wires
rendered nodes together.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from headwater.engines.base import quote_identifier
from headwater.errors import (
    CompilationError,
    ConfigError,
    HeadwaterError,
    Location,
    NodeNotFoundError,
    did_you_mean,
)
from headwater.project.definition import (
    BATCH_END,
    BATCH_START,
    REFABLE,
    Node,
    Project,
    Relation,
    Target,
    lake_format,
    merge_config,
    normalize_lake_config,
)
from headwater.project.naming import default_alias_name, default_schema_name, parse_time_relation
from headwater.project.project_file import native
from headwater.project.validate import check_config_keys
from headwater.sql.data_tests import find_test_macro, render_unit_model, with_fixtures
from headwater.sql.ephemerals import EPHEMERAL_PREFIX, with_ctes
from headwater.sql.macros import MacroFile
from headwater.sql.parse import ParseCache
from headwater.sql.refs import PackageAnchor, find_ref, find_source
from headwater.sql.render import HOOK_KEYS, PLACEHOLDER_RE, RefCall, Renderer, target_database
from headwater.sql.safety import check_single_statement

T = TypeVar("T")
_REF_ARG_RE = re.compile(
    r"""^\s*(ref|source)\s*\(\s*(['"][^'"]+['"](?:\s*,\s*['"][^'"]+['"])?)\s*\)\s*$"""
)


class Compiler:
    """Turns a read `Project` into compiled nodes with dependencies.

    A node that fails to compile gets `problem` set and the error is kept in `problems`; the other
    nodes compile, so commands on the unaffected part of the project still work.
    """

    def __init__(
        self,
        project: Project,
        target: Target,
        vars: dict[str, Any],
        dialect: str,
        parse_cache: ParseCache,
    ) -> None:
        self.project = project
        self.target = target
        self.cli_vars = dict(vars)
        self.vars = {**project.config.vars, **vars}
        self.dialect = dialect
        self.parse_cache = parse_cache
        self.nodes = project.nodes
        self.env_vars: dict[str, str | None] = {}
        self.reads_lake_versions = False
        """A model reads a lake table at a version (`_time_travel`): the result is not cached."""
        self.problems: list[HeadwaterError] = list(project.problems)
        self.problem_nodes: dict[int, str] = dict(project.problem_nodes)
        """id() of a problem -> the node it stops."""
        self._calls: dict[str, list[RefCall]] = {}
        self._rendered: dict[str, str] = {}
        self._hooks: dict[str, dict[str, str | list[str]]] = {}
        self._variant_calls: dict[str, tuple[str, list[RefCall]]] = {}
        self.renderer: Renderer | None = None

    def _guard(self, node: Node | None, action: Callable[[], T]) -> T | None:
        try:
            return action()
        except HeadwaterError as exc:
            self.problems.append(exc)
            if node is not None:
                node.problem = _problem_text(exc)
                self.problem_nodes[id(exc)] = node.unique_id
            return None

    def compile(self) -> dict[str, Node]:
        config = self.project.config
        renderer = Renderer(
            config.name,
            self.target,
            config.vars,
            [MacroFile(*f) for f in self.project.macro_files],
            self._known_relations(),
            code_cache=self.parse_cache,
            packages=config.package_vars,
            dispatch=config.dispatch,
            cli_vars=self.cli_vars,
            graph_nodes=self.nodes,
        )
        from headwater.project.packages import declared_name, declared_packages

        renderer.declared_packages = {
            declared_name(d)
            for d in self._guard(None, lambda: declared_packages(Path(config.root))) or []
        }
        self.renderer = renderer
        self.problems.extend(renderer.problems)
        for node in self.nodes.values():
            if node.problem is None and any(_is_template(v) for v in node.config.values()):
                self._guard(node, partial(self._render_config_values, renderer, node))
        for node in self.nodes.values():
            if node.problem is None and node.raw_sql is not None:
                if node.language == "python":
                    self._guard(node, partial(self._python_calls, node))
                else:
                    self._guard(node, partial(self._render, renderer, node))
        self._drop_disabled()
        for node in self.nodes.values():
            if node.resource_type in ("model", "snapshot"):
                normalize_lake_config(node.config)
        for node in self.nodes.values():
            if (
                node.problem is None
                and node.resource_type == "model"
                and node.language == "sql"
                and node.config.get("materialized") == "incremental"
            ):
                self._guard(node, partial(self._render_variant, renderer, node))
        for node in self.nodes.values():
            if node.resource_type in ("model", "seed", "snapshot"):  # a stream names its tables
                self._guard(node, partial(self._set_relation, renderer, node))
        for node in self.nodes.values():
            if node.unique_id in self._calls and node.problem is None:
                self._guard(node, partial(self._resolve_calls, node))
        self._compile_tests(renderer)
        self._compile_unit_tests(renderer)
        granted = [n.name for n in self.nodes.values() if n.config.get("grants")]
        if granted and self.target.engine == "duckdb":  # dbt-duckdb warns the same way
            self.project.warnings.append(
                f"`grants` of {', '.join(f'`{g}`' for g in granted[:3])}{' and others' if len(granted) > 3 else ''} "
                "not applied: DuckDB has no privileges to grant"
            )
        self._parse_edges()
        self._inline_ephemerals()
        for node in (
            self.nodes.values()
        ):  # an inlined ephemeral that reads the warehouse makes its reader do so
            if (
                not node.introspective
                and node.compiled_sql is not None
                and node.materialized != "ephemeral"
            ):
                node.introspective = any(e.introspective for e in self._ephemeral_chain(node, []))
        return self.nodes

    # -- render ---------------------------------------------------------------------------
    def _known_relations(self) -> dict[str, tuple[str, str]]:
        out = {}
        for node in self.nodes.values():
            if node.resource_type == "source" and node.relation:
                out[f"{node.source_name}.{node.name}"] = (
                    node.relation.schema,
                    node.relation.identifier,
                )
            elif node.resource_type == "stream" and node.relation:
                out[node.name] = (node.relation.schema, node.relation.identifier)
            elif node.resource_type in REFABLE:
                out[node.name] = parse_time_relation(node, self.target.schema)
        return out

    def _render(self, renderer: Renderer, node: Node) -> None:
        rendered = renderer.render(node)
        if rendered.config:
            check_config_keys(
                rendered.config,
                f"config() of `{node.name}`",
                Location(node.path, _line_of(node.raw_sql or "", "config(")),
            )
            merge_config(node.config, rendered.config)
        self.env_vars.update(rendered.env_vars)
        self._calls[node.unique_id] = rendered.calls
        self._rendered[node.unique_id] = rendered.sql
        self._hooks[node.unique_id] = dict(rendered.hooks)
        node.introspective = bool(rendered.introspective)

    def _render_config_values(self, renderer: Renderer, node: Node) -> None:
        """Jinja in config values from properties files (`enabled: "{{ target.type == 'x' }}"`), as
        dbt renders them; hooks are rendered with the node, when it runs."""
        for key, value in list(node.config.items()):
            if key in HOOK_KEYS or key.startswith("_") or not _is_template(value):
                continue
            node.config[key] = native(
                renderer.render_string(str(value), node, f"{node.path}:config.{key}")
            )

    def _render_variant(self, renderer: Renderer, node: Node) -> None:
        rendered = renderer.render(node, incremental=True)
        self.env_vars.update(rendered.env_vars)
        self._variant_calls[node.unique_id] = (rendered.sql, rendered.calls)

    def _python_calls(self, node: Node) -> None:
        """A Python model's `dbt.ref()` / `dbt.source()` calls, read from its syntax tree at load."""
        info = node.config["_python"]
        calls = [
            RefCall("ref", tuple(a for a in (r.package, r.name) if a), r.version) for r in info.refs
        ]
        calls += [RefCall("source", (s.source, s.table)) for s in info.sources]
        self._calls[node.unique_id] = calls
        self._rendered[node.unique_id] = ""

    def _drop_disabled(self) -> None:
        disabled = [uid for uid, n in self.nodes.items() if n.config.get("enabled") is False]
        for uid in disabled:
            del self.nodes[uid]

    def _set_relation(self, renderer: Renderer, node: Node) -> None:
        if node.resource_type == "model":
            self._check_materialization(renderer, node)
        if node.resource_type == "snapshot":
            from headwater.project.snapshots import snapshot_relation

            node.relation = snapshot_relation(node, self.target)  # validates the snapshot's config
            if node.config.get("target_schema"):
                return  # dbt's legacy setting: used as written
        schema = self._name_macro(renderer, node, "generate_schema_name", node.config.get("schema"))
        alias = self._name_macro(renderer, node, "generate_alias_name", node.config.get("alias"))
        if node.config.get("database") is not None or renderer.macro(
            "generate_database_name", self.project.config.name
        ):
            database = self._name_macro(
                renderer, node, "generate_database_name", node.config.get("database")
            )
            expected = target_database(self.target)
            if database and expected and str(database) != expected:
                raise ConfigError(
                    f"`{node.name}` would be built in database `{database}`, but target `{self.target.name}` "
                    f"builds into one DuckDB database, `{expected}`",
                    location=Location(node.path, node.line),
                    node=node.name,
                    hint="remove the `database` config, or make generate_database_name return target.database",
                )
        node.relation = Relation(schema=schema, identifier=alias)

    def _name_macro(self, renderer: Renderer, node: Node, name: str, custom: Any) -> str:
        """The project's `generate_<x>_name` macro if it defines one (or a dispatched override),
        else dbt's default; the result is trimmed, as dbt does."""
        root = self.project.config.name
        overridden = renderer.macro(name, root) or any(
            renderer.macro(f"{p}__{name}", root) for p in ("default", self.target.engine)
        )
        if not overridden:
            if name == "generate_schema_name":
                return default_schema_name(self.target.schema, custom)
            if name == "generate_alias_name":
                return default_alias_name(node, custom)
        macro = renderer.macro(name)
        assert macro is not None
        value = renderer.call_macro(node, macro, None if custom in (None, "") else custom)
        text = str(value if value is not None else "").strip()
        if not text and name != "generate_database_name":
            raise ConfigError(
                f"`{name}` returned an empty name for `{node.name}`",
                location=Location(node.path, node.line),
                node=node.name,
                hint=f"make the project's `{name}` macro return a name for every node",
            )
        return text

    def _check_materialization(self, renderer: Renderer, node: Node) -> None:
        mat = node.config.get("materialized", "view")
        from headwater.materialize import known_materializations

        known = known_materializations()
        if mat in renderer.materializations and mat not in known:
            raise ConfigError(
                f"`{node.name}` uses the custom materialization `{mat}`, which headwater does not run",
                location=Location(node.path, node.line),
                node=node.name,
                hint="custom `{% materialization %}` blocks are not supported; use one of: "
                + ", ".join(known),
            )
        if mat not in known:
            raise ConfigError(
                f"unknown materialization `{mat}` for model `{node.name}`"
                + did_you_mean(str(mat), known),
                location=Location(node.path),
                node=node.name,
                hint="use one of: "
                + ", ".join(known)
                + " (set by `config(materialized=...)`, the model's "
                "properties, or `+materialized` under `models:` in the project file)",
            )

    # -- tests ------------------------------------------------------------------------------
    def _compile_tests(self, renderer: Renderer) -> None:
        for node in self.nodes.values():
            spec = node.test
            if spec is None or spec.kind != "generic" or node.problem is not None:
                continue
            if spec.attached_to not in self.nodes:
                continue
            macro = self._test_macro(renderer, spec.name)
            if macro is None:
                self._guard(node, partial(self._validate_generic, node))
                self._guard(node, partial(self._resolve_generic_test, node))
            else:
                self._guard(node, partial(self._render_macro_test, renderer, node, macro))
                if node.unique_id in self._calls and node.problem is None:
                    self._guard(node, partial(self._resolve_calls, node))

    def _compile_unit_tests(self, renderer: Renderer) -> None:
        from headwater.project.definition import CheckSpec
        from headwater.quality.unit_tests import parse_unit_test

        config = self.project.config
        for package, entry, path in self.project.unit_tests:
            unit = self._guard(
                None, partial(parse_unit_test, entry, path, Path(config.root), config.test_paths)
            )
            if unit is None:
                continue
            settings = dict(entry.get("config") or {})
            if settings.get("enabled") is False:
                continue
            model = find_ref(
                self._by_name(), config.name, unit.model, None, None, PackageAnchor(package)
            )
            uid = f"unit_test.{package}.{unit.model}.{unit.name}"
            node = Node(
                unique_id=uid, name=unit.name, resource_type="test", path=path, line=getattr(entry, "line", None),
                package=package, fqn=[package, unit.model, unit.name],
                config={"severity": "error", "tags": list(settings.get("tags") or []), "meta": dict(settings.get("meta") or {})},
                test=CheckSpec(name="unit_test", kind="unit", attached_to=model.unique_id if model else None,
                               kwargs={"unit": unit}),
                depends_on=[model.unique_id] if model else [],
            )  # fmt: skip
            self.nodes[uid] = node
            if model is None:
                missing = NodeNotFoundError(
                    f"unit test `{unit.name}` tests model `{unit.model}`, which does not exist"
                    + did_you_mean(unit.model, self._by_name()),
                    location=Location(path, getattr(entry, "line", None)),
                )
                self._guard(node, partial(_raise, missing))
                continue
            self._guard(node, partial(self._render_unit_test, renderer, node, model, unit))

    def _render_unit_test(self, renderer: Renderer, node: Node, model: Node, unit: Any) -> None:
        if model.language != "sql" or model.raw_sql is None:
            raise ConfigError(
                f"unit test `{unit.name}`: `{model.name}` is not a SQL model; unit tests run SQL models",
                location=Location(node.path, node.line), node=node.name,
            )  # fmt: skip
        rendered = render_unit_model(renderer, model, unit)
        calls = rendered.calls
        targets = [self._lookup(call, model) for call in calls]
        for fixture in unit.given:
            found = next((t for c, t in zip(calls, targets, strict=True)
                          if fixture.matches(c.kind, c.args, c.version)), None)  # fmt: skip
            if found is None:
                raise ConfigError(
                    f"unit test `{unit.name}`: `{model.name}` does not read the given input "
                    f"`{fixture.kind}({', '.join(repr(a) for a in fixture.args)})`",
                    location=Location(node.path, node.line), node=node.name,
                    hint="give only the refs and sources the model reads",
                )  # fmt: skip
            fixture.relation = found.unique_id

        def relation_of(i: int) -> str:
            target = targets[i]
            if target.materialized == "ephemeral" and target is not model:
                return EPHEMERAL_PREFIX + target.name
            return target.relation.render() if target.relation is not None else target.name

        sql = with_fixtures(rendered.sql, calls, unit, relation_of)
        chain = [e for e in self._ephemeral_chain(model, []) if EPHEMERAL_PREFIX + e.name in sql]
        if chain:
            sql = with_ctes(
                [(EPHEMERAL_PREFIX + e.name, self._ephemeral_body(e)) for e in chain],
                sql,
                self.dialect,
            )
        check_single_statement(sql, path=model.path, node=model.name, dialect=self.dialect)
        node.test.kwargs["sql"] = sql  # type: ignore[union-attr]
        node.introspective = model.introspective or bool(rendered.introspective)

    def _test_macro(self, renderer: Renderer, name: str) -> Callable[..., Any] | None:
        return find_test_macro(renderer, name, self.project.config.name)

    def _validate_generic(self, node: Node) -> None:
        from headwater.quality.checks import validate_check

        assert node.test is not None
        validate_check(
            node.test.name, node.test.kwargs, node.test.column, Location(node.path, node.line), node.name,
            where=node.config.get("where"),
        )  # fmt: skip

    def _render_macro_test(self, renderer: Renderer, node: Node, macro: Callable[..., Any]) -> None:
        assert node.test is not None and node.test.attached_to is not None
        target = self.nodes[node.test.attached_to]
        rendered = renderer.render_test(node, target, macro, node.test.kwargs, node.test.column)
        node.test.kind = "macro"
        self.env_vars.update(rendered.env_vars)
        self._calls[node.unique_id] = rendered.calls
        self._rendered[node.unique_id] = rendered.sql
        node.introspective = bool(rendered.introspective)

    # -- refs -----------------------------------------------------------------------------
    def _lookup(self, call: RefCall, node: Node) -> Node:
        if call.kind == "this":
            return node
        if call.kind == "ref":
            name = call.args[-1]
            package = call.args[0] if len(call.args) == 2 else None
            found = self._find_ref(name, package, call.version, node)
            if found is None and call.version is not None:  # a lake table's version?
                unversioned = self._find_ref(name, package, None, node)
                if unversioned is not None and lake_format(unversioned.config):
                    found = unversioned
            if found is None:
                what = f"`{package}.{name}`" if package else f"`{name}`"
                if call.version is not None:
                    what += f" version {call.version}"
                raise NodeNotFoundError(
                    f"`{node.name}` refers to {what}, which is not a model, seed or snapshot"
                    + did_you_mean(name, self._by_name()),
                    location=Location(node.path, _line_of(node.raw_sql or "", name)),
                    node=node.name,
                    hint="fix the name in ref(), or create the model `models/.../" + name + ".sql`",
                )
            return found
        sname, tname = call.args
        found = find_source(
            self.nodes,
            [node.package, self.project.config.name, *self.project.config.packages],
            sname,
            tname,
        )
        if found is not None:
            return found
        names = [n.display_name for n in self.nodes.values() if n.resource_type == "source"]
        raise NodeNotFoundError(
            f"`{node.name}` refers to source `{sname}.{tname}`, which is not declared"
            + did_you_mean(f"{sname}.{tname}", names),
            location=Location(node.path, _line_of(node.raw_sql or "", tname)),
            node=node.name,
            hint="declare it in sources.yml under `sources: - name: "
            + sname
            + "` / `tables: - name: "
            + tname
            + "`",
        )

    def _find_ref(
        self, name: str, package: str | None, version: str | None, node: Node
    ) -> Node | None:
        return find_ref(self._by_name(), self.project.config.name, name, package, version, node)

    def _by_name(self) -> dict[str, list[Node]]:
        if not hasattr(self, "_names"):
            self._names: dict[str, list[Node]] = {}
            for n in self.nodes.values():
                if n.resource_type in REFABLE:
                    self._names.setdefault(n.name, []).append(n)
        return self._names

    def _resolve_calls(self, node: Node) -> None:
        calls = self._calls[node.unique_id]
        node.compiled_sql = self._resolve(node, self._rendered[node.unique_id], calls)
        if node.language == "python":
            node.compiled_sql = None
            node.config["_python_refs"] = self._python_relations(node, calls)
        hooks = dict(self._hooks.get(node.unique_id) or {})
        header = str(node.config.get("sql_header") or "").strip()
        if header:  # dbt prepends it to the model's statement; here it runs just before, on the same connection
            hooks["pre_hook"] = [header, *hooks.get("pre_hook", [])]
        node.hooks = {
            key: [self._resolve(node, str(sql), calls) for sql in items]
            for key, items in hooks.items()
        }
        if node.unique_id in self._variant_calls:
            sql, calls = self._variant_calls[node.unique_id]
            node.variants["incremental"] = self._resolve(node, sql, calls)
            if str(node.config.get("incremental_strategy", "")).lower() == "microbatch":
                node.variants["batch"] = self._resolve(node, sql, calls, batch=True)

    def _resolve(self, node: Node, sql: str, calls: list[RefCall], batch: bool = False) -> str:
        """Replace the placeholders of ``sql``; with ``batch``, inputs that declare an
        `event_time` become subqueries filtered to the batch (dbt's microbatch)."""
        targets = [self._lookup(call, node) for call in calls]
        deps: list[str] = []
        for call, target in zip(calls, targets, strict=True):
            if call.kind != "this" and target.unique_id not in deps:
                deps.append(target.unique_id)
                if call.kind == "ref":
                    node.refs.append(target.unique_id)

        def sub(match: re.Match[str]) -> str:
            target = targets[int(match.group(1))]
            call = calls[int(match.group(1))]
            if (
                call.kind == "ref"
                and lake_format(target.config)
                and (
                    call.as_of is not None or (call.version is not None and target.version is None)
                )
            ):
                return self._time_travel(node, target, call)
            if target.materialized == "ephemeral" and target is not node:
                return EPHEMERAL_PREFIX + target.name
            if target.relation is None:  # `this` in a test or an analysis
                return target.name
            event_time = target.config.get("event_time") if target is not node else None
            if batch and event_time:
                col = quote_identifier(str(event_time))
                return (
                    f"(SELECT * FROM {target.relation.render()} WHERE {col} >= {BATCH_START} "
                    f"AND {col} < {BATCH_END})"
                )
            return target.relation.render()

        node.depends_on = deps + [d for d in node.depends_on if d not in deps]
        return PLACEHOLDER_RE.sub(sub, sql)

    def _time_travel(self, node: Node, target: Node, call: RefCall) -> str:
        """`ref('m', version=12)` / `ref('m', as_of='2026-01-01')` of a lake table: a subquery
        reading exactly the files of that version (versions are immutable, so it is resolved
        once, here)."""
        from headwater.lake.files import scan_sql
        from headwater.lake.spec import LakeSpec, parse_as_of, parse_version

        self.reads_lake_versions = True  # what this compiles to depends on the table's log
        spec = LakeSpec.of(target, self.project.config, self.target.lake_root)
        table = spec.table(target.name)
        version = parse_version(call.version, node) if call.version is not None else None
        as_of = parse_as_of(call.as_of, node) if call.as_of is not None else None
        where = f"version {version}" if version is not None else f"as of {call.as_of}"
        if not table.TIME_TRAVEL:
            raise ConfigError(
                f"`{node.name}` reads `{target.name}` {where}, but a {spec.format} table keeps no "
                "older versions",
                location=Location(node.path, _line_of(node.raw_sql or "", target.name)),
                node=node.name,
                hint="make it a Delta or Iceberg table, or drop `version=` / `as_of=`",
            )
        snapshot = table.snapshot(version, as_of)
        if snapshot is None:
            raise ConfigError(
                f"`{node.name}` reads `{target.name}` {where}, but the table does not exist yet",
                location=Location(node.path, _line_of(node.raw_sql or "", target.name)),
                node=node.name,
                hint=f"build it first: `headwater run -s {target.name}`",
            )
        return f"(\n{scan_sql(snapshot, spec.files(table).paths(snapshot.files))}\n)"

    def _python_relations(self, node: Node, calls: list[RefCall]) -> dict[str, str]:
        """`ref:<key>` / `source:<s>.<t>` -> the SQL a Python model's `dbt.ref()` reads."""
        from headwater.project.python_models import relation_map

        def rendered(call: RefCall) -> str:
            target = self._lookup(call, node)
            if target.materialized == "ephemeral":
                return f"(\n{self._ephemeral_body(target)}\n)"
            return target.relation.render() if target.relation is not None else target.name

        return relation_map(
            node.config["_python"],
            ref=lambda r: rendered(
                RefCall("ref", tuple(a for a in (r.package, r.name) if a), r.version)
            ),
            source=lambda s: rendered(RefCall("source", (s.source, s.table))),
        )

    def _resolve_generic_test(self, node: Node) -> None:
        assert node.test is not None
        for key, value in node.test.kwargs.items():
            if isinstance(value, str) and _REF_ARG_RE.match(value):
                target = self._resolve_ref_string(value, node)
                node.test.kwargs[key] = {"__relation__": target.unique_id}
                if target.unique_id not in node.depends_on:
                    node.depends_on.append(target.unique_id)

    def _resolve_ref_string(self, text: str, node: Node) -> Node:
        match = _REF_ARG_RE.match(text)
        assert match
        args = tuple(a.strip().strip("'\"") for a in match.group(2).split(","))
        return self._lookup(RefCall(match.group(1), args), node)

    # -- ephemeral ------------------------------------------------------------------------
    def _inline_ephemerals(self) -> None:
        for node in self.nodes.values():
            if node.compiled_sql is None or node.materialized == "ephemeral":
                continue
            chain = self._ephemeral_chain(node, [])
            if chain:
                ctes = [(EPHEMERAL_PREFIX + e.name, self._ephemeral_body(e)) for e in chain]
                node.compiled_sql = with_ctes(ctes, node.compiled_sql, self.dialect)
                for key, sql in node.variants.items():
                    node.variants[key] = with_ctes(ctes, sql, self.dialect)

    def _ephemeral_chain(self, node: Node, seen: list[Node]) -> list[Node]:
        for dep in node.depends_on:
            parent = self.nodes.get(dep)
            if parent is None or parent.materialized != "ephemeral" or parent in seen:
                continue
            self._ephemeral_chain(parent, seen)
            if parent not in seen:
                seen.append(parent)
        return seen

    def _ephemeral_body(self, node: Node) -> str:
        return (node.compiled_sql or "").strip().rstrip(";")

    # -- sqlglot edges ----------------------------------------------------------------------
    def _parse_edges(self) -> None:
        by_relation = {
            n.relation.render(quote=False).lower(): n.unique_id
            for n in self.nodes.values()
            if n.relation is not None and n.materialized != "ephemeral"
        }
        for node in self.nodes.values():
            if node.compiled_sql is None or node.resource_type == "analysis":
                continue
            for variant in node.variants.values():  # `tables` below checks compiled_sql itself
                check_single_statement(
                    variant, path=node.path, node=node.name, dialect=self.dialect
                )
            tables = self.parse_cache.tables(node, self.dialect)
            for table in tables:
                uid = by_relation.get(table.lower())
                if uid and uid != node.unique_id and uid not in node.depends_on:
                    node.depends_on.append(uid)
        for node in self.nodes.values():
            if node.materialized == "ephemeral":
                # downstream nodes depend on what the ephemeral reads
                continue
            extra = []
            for dep in node.depends_on:
                parent = self.nodes.get(dep)
                if parent is not None and parent.materialized == "ephemeral":
                    extra.extend(self._ephemeral_inputs(parent, set()))
            node.depends_on.extend(d for d in dict.fromkeys(extra) if d not in node.depends_on)

    def _ephemeral_inputs(self, node: Node, seen: set[str]) -> list[str]:
        out = []
        for dep in node.depends_on:
            if dep in seen:
                continue
            seen.add(dep)
            parent = self.nodes.get(dep)
            if parent is None:
                continue
            if parent.materialized == "ephemeral":
                out.extend(self._ephemeral_inputs(parent, seen))
            else:
                out.append(dep)
        return out


def _raise(exc: Exception) -> None:
    raise exc


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _problem_text(exc: HeadwaterError) -> str:
    where = (
        f"{exc.location.path}:{exc.location.line}"
        if exc.location and exc.location.line
        else (exc.location.path if exc.location else "")
    )
    return (
        (f"{where}: " if where else "") + exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
    )


def _line_of(text: str, needle: str) -> int | None:
    for no, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return no
    return None


__all__ = ["CompilationError", "Compiler"]
