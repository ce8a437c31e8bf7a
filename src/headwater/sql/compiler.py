"""Compile a project: render every node, resolve ref()/source() to relations and edges, inline
ephemeral models as CTEs, and add edges for table names sqlglot finds in the SQL.

Adding a feature to the Jinja context goes in `headwater.sql.render`; this module only wires
rendered nodes together.
"""

from __future__ import annotations

import re
from typing import Any

from headwater.engines.base import quote_identifier
from headwater.errors import (
    CompilationError,
    ConfigError,
    Location,
    NodeNotFoundError,
    did_you_mean,
)
from headwater.project.definition import BATCH_END, BATCH_START, Node, Relation, Target
from headwater.project.loader import Project
from headwater.project.validate import check_config_keys
from headwater.sql.parse import ParseCache
from headwater.sql.render import PLACEHOLDER_RE, RefCall, Renderer
from headwater.sql.safety import check_single_statement

EPHEMERAL_PREFIX = "__hw_eph_"
_REF_ARG_RE = re.compile(r"""^\s*(ref|source)\s*\(\s*(['"][^'"]+['"](?:\s*,\s*['"][^'"]+['"])?)\s*\)\s*$""")


class Compiler:
    """Turns a read `Project` into compiled nodes with dependencies."""

    def __init__(
        self, project: Project, target: Target, vars: dict[str, Any], dialect: str, parse_cache: ParseCache
    ) -> None:
        self.project = project
        self.target = target
        self.vars = {**project.config.vars, **vars}
        self.dialect = dialect
        self.parse_cache = parse_cache
        self.nodes = project.nodes
        self.env_vars: dict[str, str | None] = {}
        self._calls: dict[str, list[RefCall]] = {}
        self._rendered: dict[str, str] = {}
        self._variant_calls: dict[str, tuple[str, list[RefCall]]] = {}

    def compile(self) -> dict[str, Node]:
        renderer = Renderer(
            self.project.config.name,
            self.target,
            self.vars,
            self.project.macros,
            self._known_relations(),
            code_cache=self.parse_cache,
        )
        for node in self.nodes.values():
            if node.raw_sql is not None:
                self._render(renderer, node)
        self._drop_disabled()
        for node in self.nodes.values():
            if node.resource_type == "model" and node.config.get("materialized") == "incremental":
                rendered = renderer.render(node, incremental=True)
                self.env_vars.update(rendered.env_vars)
                self._variant_calls[node.unique_id] = (rendered.sql, rendered.calls)
        for node in self.nodes.values():
            if node.resource_type == "model":
                node.relation = self._model_relation(node)
            elif node.resource_type == "snapshot":
                from headwater.project.snapshots import snapshot_relation

                node.relation = snapshot_relation(node, self.target)
        for node in self.nodes.values():
            if node.unique_id in self._calls:
                self._resolve_calls(node)
        self._resolve_generic_tests()
        self._parse_edges()
        self._inline_ephemerals()
        return self.nodes

    # -- render ---------------------------------------------------------------------------
    def _known_relations(self) -> dict[str, tuple[str, str]]:
        out = {}
        for node in self.nodes.values():
            if node.resource_type == "source" and node.relation:
                out[f"{node.source_name}.{node.name}"] = (node.relation.schema, node.relation.identifier)
            elif node.resource_type in ("model", "seed", "snapshot"):
                schema = _schema_name(self.target.schema, node.config.get("schema"))
                if node.resource_type == "snapshot" and node.config.get("target_schema"):
                    schema = str(node.config["target_schema"])
                out[node.name] = (schema, str(node.config.get("alias") or node.name))
        return out

    def _render(self, renderer: Renderer, node: Node) -> None:
        rendered = renderer.render(node)
        if rendered.config:
            check_config_keys(
                rendered.config, f"config() of `{node.name}`", Location(node.path, _line_of(node.raw_sql or "", "config("))
            )
            from headwater.project.loader import _merge_config

            _merge_config(node.config, rendered.config)
        self.env_vars.update(rendered.env_vars)
        self._calls[node.unique_id] = rendered.calls
        self._rendered[node.unique_id] = rendered.sql

    def _drop_disabled(self) -> None:
        disabled = [uid for uid, n in self.nodes.items() if n.config.get("enabled") is False]
        for uid in disabled:
            del self.nodes[uid]

    def _model_relation(self, node: Node) -> Relation:
        mat = node.config.get("materialized", "view")
        from headwater.materialize import known_materializations

        known = known_materializations()
        if mat not in known:
            raise ConfigError(
                f"unknown materialization `{mat}` for model `{node.name}`" + did_you_mean(str(mat), known),
                location=Location(node.path),
                node=node.name,
                hint="use one of: " + ", ".join(known) + " (set by `config(materialized=...)`, the model's "
                "properties, or `+materialized` under `models:` in the project file)",
            )
        schema = _schema_name(self.target.schema, node.config.get("schema"))
        return Relation(schema=schema, identifier=str(node.config.get("alias") or node.name))

    # -- refs -----------------------------------------------------------------------------
    def _lookup(self, call: RefCall, node: Node) -> Node:
        if call.kind == "this":
            return node
        if call.kind == "ref":
            name = call.args[-1]
            found = self._by_name().get(name)
            if found is None:
                raise NodeNotFoundError(
                    f"`{node.name}` refers to `{name}`, which is not a model, seed or snapshot"
                    + did_you_mean(name, self._by_name()),
                    location=Location(node.path, _line_of(node.raw_sql or "", name)),
                    node=node.name,
                    hint="fix the name in ref(), or create the model `models/.../" + name + ".sql`",
                )
            return found
        sname, tname = call.args
        uid = f"source.{self.project.config.name}.{sname}.{tname}"
        if uid not in self.nodes:
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
        return self.nodes[uid]

    def _by_name(self) -> dict[str, Node]:
        if not hasattr(self, "_names"):
            self._names = {
                n.name: n for n in self.nodes.values() if n.resource_type in ("model", "seed", "snapshot")
            }
        return self._names

    def _resolve_calls(self, node: Node) -> None:
        node.compiled_sql = self._resolve(node, self._rendered[node.unique_id], self._calls[node.unique_id])
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

        def sub(match: re.Match) -> str:
            target = targets[int(match.group(1))]
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

    def _resolve_generic_tests(self) -> None:
        for node in self.nodes.values():
            if node.test is None or node.test.name == "singular":
                continue
            if node.test.attached_to not in self.nodes:
                continue
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
                node.compiled_sql = _with_ctes(ctes, node.compiled_sql, self.dialect)
                for key, sql in node.variants.items():
                    node.variants[key] = _with_ctes(ctes, sql, self.dialect)

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
                check_single_statement(variant, path=node.path, node=node.name, dialect=self.dialect)
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


def _schema_name(target_schema: str, custom: Any) -> str:
    """dbt's default `generate_schema_name`: `<target schema>_<custom>` or the target schema."""
    if not custom:
        return target_schema
    return f"{target_schema}_{str(custom).strip()}"


def _line_of(text: str, needle: str) -> int | None:
    for no, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return no
    return None


def _with_ctes(ctes: list[tuple[str, str]], sql: str, dialect: str) -> str:
    """Prefix ``sql`` with CTEs, merging into its own WITH clause when it has one."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.ParseError:
        tree = None
    key = "with_" if "with_" in exp.Select.arg_types else "with"
    if tree is not None and isinstance(tree, exp.Query) and tree.args.get(key) is not None:
        with_ = tree.args[key]
        own = list(with_.expressions)
        new = [exp.CTE(this=sqlglot.parse_one(body, read=dialect), alias=exp.TableAlias(this=exp.to_identifier(name))) for name, body in ctes]
        with_.set("expressions", new + own)
        return tree.sql(dialect=dialect, pretty=True)
    head = ",\n".join(f"{name} AS (\n{body}\n)" for name, body in ctes)
    return f"WITH {head}\n{sql.strip().rstrip(';')}"


__all__ = ["CompilationError", "Compiler"]
