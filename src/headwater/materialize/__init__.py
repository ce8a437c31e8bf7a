"""Materializations: how a node's SELECT becomes a relation.

A materialization turns a node into (kind, SELECT) for the engine; the runner stages, audits and
publishes it. Adding one:

* built from a SELECT (the runner stages, checks and swaps it in): a `Materialization` in
  `MATERIALIZATIONS`;
* one that reads what is already there, or writes more than a relation (incremental models,
  snapshots, `external` files): a `headwater.materialize.stateful.StatefulMaterialization`
  registered by import path in `STATEFUL` (imported when first used). Its class attribute
  ``KIND`` says what the relation is (default ``"table"``).

A name a model may use in `materialized:` also goes into `MODEL_MATERIALIZATIONS`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from headwater.engines.base import Engine, quote_identifier
from headwater.project.definition import Node, ProjectConfig, lake_format


@dataclass
class Materialization:
    """Base: a node built from its compiled SELECT as a table or view."""

    name: str
    kind: str  # "table" | "view" | "" (nothing to build)

    def select_sql(self, node: Node, engine: Engine, project: ProjectConfig) -> str:
        return node.compiled_sql or ""

    @contextmanager
    def prepared(self, node: Node, engine: Engine, project: ProjectConfig) -> Iterator[str]:
        """The SELECT the runner builds the node from, valid while the block runs (a seed on an
        engine without DuckDB's file readers is copied into a temporary table first)."""
        yield self.select_sql(node, engine, project)


class SeedMaterialization(Materialization):
    """A seed CSV as a table, typed as dbt types it (see `headwater.materialize.seed`)."""

    def select_sql(self, node: Node, engine: Engine, project: ProjectConfig) -> str:
        """The SELECT reading the seed with DuckDB's `read_csv` (the DuckDB engine builds from it;
        lineage describes it on the local DuckDB)."""
        from headwater.errors import Location
        from headwater.materialize.seed import seed_select_sql

        return seed_select_sql(Path(project.root) / node.path, node.config, Location(node.path))

    @contextmanager
    def prepared(self, node: Node, engine: Engine, project: ProjectConfig) -> Iterator[str]:
        """An engine with DuckDB's file readers reads the file itself (`select_sql`); any other
        gets the seed parsed locally into Arrow, readable as a relation while the block runs, and
        SELECTed with the types dbt's SQL adapters give seeds (`seed.seed_select`)."""
        if getattr(engine.strategies, "read_files_sql", None) is not None:
            yield self.select_sql(node, engine, project)
            return
        from headwater.errors import Location
        from headwater.materialize.seed import seed_arrow, seed_select

        table, columns = seed_arrow(
            Path(project.root) / node.path, node.config, Location(node.path)
        )
        with engine.strategies.arrow_relation(table, f"seed_{node.name}") as relation:
            yield seed_select(relation.render(), columns)


MATERIALIZATIONS: dict[str, Materialization] = {
    "view": Materialization("view", "view"),
    "table": Materialization("table", "table"),
    "ephemeral": Materialization("ephemeral", ""),
    "seed": SeedMaterialization("seed", "table"),
}

# Materializations that read what is already in the warehouse (or write files), imported when
# first used: name -> "module:Class".
STATEFUL = {
    "incremental": "headwater.materialize.incremental:IncrementalMaterialization",
    "snapshot": "headwater.materialize.snapshot:SnapshotMaterialization",
    "scd1": "headwater.materialize.scd:SCD1Materialization",
    "scd3": "headwater.materialize.scd:SCD3Materialization",
    "external": "headwater.materialize.external:ExternalMaterialization",
    "extract": "headwater.extract.materialization:ExtractMaterialization",
    "load": "headwater.materialize.source_load:SourceLoad",  # `files:` in sources.yml
    "lake_source": "headwater.materialize.lake:LakeSource",  # `format: delta` in sources.yml
    "aggregate": "headwater.materialize.aggregate:AggregateMaterialization",
    "stream": "headwater.streams.materialization:StreamTables",  # streams/*.yml (tables only)
}

MODEL_MATERIALIZATIONS = ["view", "table", "ephemeral", "incremental", "scd1", "scd3", "external",
                          "delta", "iceberg", "parquet", "aggregate"]  # fmt: skip
"""What `materialized:` of a model may say."""


def known_materializations() -> list[str]:
    return list(MODEL_MATERIALIZATIONS)


def materialization_for(node: Node) -> Materialization:
    if node.language == "python":  # table or incremental, built by running the model's function
        from headwater.materialize.python_model import PythonModelMaterialization

        return PythonModelMaterialization("python", "table")
    name = node.materialized or "view"
    fmt = lake_format(node.config) if node.resource_type in ("model", "snapshot") else None
    if fmt is not None and name in ("table", "incremental", "snapshot", "scd1", "scd3"):
        key = f"{fmt}:{name}"  # a lake table built as `name` (headwater.materialize.lake)
        if key not in MATERIALIZATIONS:
            from headwater.materialize.lake import lake_materialization

            inner = None if name == "table" else _named(name)
            MATERIALIZATIONS[key] = lake_materialization(node, inner)
        return MATERIALIZATIONS[key]
    return _named(name)


def _named(name: str) -> Materialization:
    if name not in MATERIALIZATIONS and name in STATEFUL:
        import importlib

        module, cls_name = STATEFUL[name].split(":")
        cls = getattr(importlib.import_module(module), cls_name)
        MATERIALIZATIONS[name] = cls(name, getattr(cls, "KIND", "table"))
    return MATERIALIZATIONS[name]


__all__ = [
    "MATERIALIZATIONS",
    "MODEL_MATERIALIZATIONS",
    "STATEFUL",
    "Materialization",
    "known_materializations",
    "materialization_for",
    "quote_identifier",
]
