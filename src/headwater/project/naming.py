"""Relation naming: where dbt's default `generate_schema_name` / `generate_alias_name` put a node.

The compiler uses these when the project defines no macro of its own (a project's
`generate_*_name` macro is rendered by `headwater.sql`); snapshots use them for their table.
The Jinja built-ins templates call (`dbt.generate_schema_name`, ...) are `headwater.sql.builtins`.
"""

from __future__ import annotations

from typing import Any

from headwater.project.definition import Node


def default_schema_name(target_schema: str, custom: Any) -> str:
    """dbt's default `generate_schema_name`: `<target schema>_<custom>`, or the target's schema
    when no custom schema is configured."""
    if not custom:
        return target_schema
    return f"{target_schema}_{str(custom).strip()}"


def default_alias_name(node: Node, custom: Any) -> str:
    """dbt's default `generate_alias_name`: the configured alias (trimmed), else the node's name,
    with `_v<version>` for a version of a versioned model."""
    if custom:
        return str(custom).strip()
    return f"{node.name}_v{node.version}" if node.version is not None else node.name


def parse_time_relation(node: Node, target_schema: str) -> tuple[str, str]:
    """(schema, identifier) of a model, seed or snapshot before its relation is computed with the
    project's macros: what `ref()` sees while nodes are rendered at load."""
    schema = default_schema_name(target_schema, node.config.get("schema"))
    if node.resource_type == "snapshot" and node.config.get("target_schema"):
        schema = str(node.config["target_schema"])
    return schema, str(node.config.get("alias") or node.name)


def snapshot_schema(node: Node, target_schema: str) -> str:
    """A snapshot's schema: dbt's legacy `target_schema` as written, else the custom-schema naming
    of models (`<target schema>_<schema>`), else the target's schema."""
    if node.config.get("target_schema"):
        return str(node.config["target_schema"]).strip()
    return default_schema_name(target_schema, node.config.get("schema"))
