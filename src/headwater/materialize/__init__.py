"""Materializations: how a node's SELECT becomes a relation.

A materialization turns a node into (kind, SELECT) for the engine; the runner stages, audits and
publishes it. Adding one: a subclass of `Materialization` registered in `MATERIALIZATIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from headwater.engines.base import Engine, quote_identifier, quote_literal
from headwater.project.definition import Node, ProjectConfig


@dataclass
class Materialization:
    """Base: a node built from its compiled SELECT as a table or view."""

    name: str
    kind: str  # "table" | "view" | "" (nothing to build)

    def select_sql(self, node: Node, engine: Engine, project: ProjectConfig) -> str:
        return node.compiled_sql or ""


class SeedMaterialization(Materialization):
    def select_sql(self, node: Node, engine: Engine, project: ProjectConfig) -> str:
        path = Path(project.root) / node.path
        types = node.config.get("column_types") or {}
        args = [quote_literal(str(path)), "header = true", "auto_detect = true"]
        if node.config.get("delimiter"):
            args.append(f"delim = {quote_literal(node.config['delimiter'])}")
        if types:
            pairs = ", ".join(f"{quote_literal(k)}: {quote_literal(v)}" for k, v in types.items())
            args.append(f"types = {{{pairs}}}")
        return f"SELECT * FROM read_csv({', '.join(args)})"


MATERIALIZATIONS: dict[str, Materialization] = {
    "view": Materialization("view", "view"),
    "table": Materialization("table", "table"),
    "ephemeral": Materialization("ephemeral", ""),
    "seed": SeedMaterialization("seed", "table"),
}


def known_materializations() -> list[str]:
    return ["view", "table", "ephemeral", "incremental", "scd1", "scd3"]


# Materializations that read what is already in the warehouse, imported when first used.
STATEFUL = {
    "incremental": "headwater.materialize.incremental:IncrementalMaterialization",
    "snapshot": "headwater.materialize.snapshot:SnapshotMaterialization",
    "scd1": "headwater.materialize.scd:SCD1Materialization",
    "scd3": "headwater.materialize.scd:SCD3Materialization",
    "extract": "headwater.extract.materialization:ExtractMaterialization",
    "load": "headwater.materialize.source_load:SourceLoad",  # `files:` in sources.yml
}


def materialization_for(node: Node) -> Materialization:
    name = node.materialized or "view"
    if name not in MATERIALIZATIONS and name in STATEFUL:
        import importlib

        module, cls = STATEFUL[name].split(":")
        MATERIALIZATIONS[name] = getattr(importlib.import_module(module), cls)(name, "table")
    return MATERIALIZATIONS[name]


__all__ = ["Materialization", "materialization_for", "quote_identifier"]
