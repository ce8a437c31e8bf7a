"""Entries of properties files that take more than a key check: a model version's columns
(`- include: all` / `exclude:`), and a source table's dbt-duckdb `external_location` and its
`freshness:` merged into its source's.
"""

from __future__ import annotations

from typing import Any

from headwater.errors import ConfigError
from headwater.project.definition import Column, Node
from headwater.project.validate import as_list, loc_of
from headwater.project.yaml import YMap


def without_include(version: YMap) -> YMap:
    out = YMap(version)
    out.path, out.line = version.path, version.line
    out["columns"] = [
        c for c in as_list(version.get("columns")) if isinstance(c, dict) and "name" in c
    ]
    return out


def version_columns(
    base: dict[str, Column], own: dict[str, Column], version: YMap
) -> dict[str, Column]:
    """A version's columns: `- include: all` (or a list) / `exclude:` of the model's, plus its own."""
    include: Any = "all"
    exclude: list[str] = []
    for col in as_list(version.get("columns")):
        if isinstance(col, dict) and "include" in col:
            include = col.get("include")
            exclude = [str(c) for c in as_list(col.get("exclude"))]
    if include in ("*", "all"):
        keep = {k: v for k, v in base.items() if k not in exclude}
    else:
        keep = {
            k: v
            for k, v in base.items()
            if k in [str(c) for c in as_list(include)] and k not in exclude
        }
    return {**keep, **own}


def external_location(src: YMap, table: YMap, node: Node) -> str | None:
    """dbt-duckdb's `external_location` (in `meta` or `config` of the source or the table),
    formatted with the table's name, identifier, schema and meta (`{name}`)."""
    settings: dict[str, Any] = {}
    for level in (src, table):
        settings.update(level.get("meta") or {})
    for level in (src, table):
        settings.update(
            {
                k: v
                for k, v in (level.get("config") or {}).items()
                if k in ("external_location", "formatter", "plugin")
            }
        )
    where = loc_of(table, "name")
    if "plugin" in settings:
        raise ConfigError(
            f"source `{node.display_name}` uses the dbt-duckdb plugin `{settings['plugin']}`, which headwater does not run",
            location=where,
            hint="load it with a headwater connector (`connector:` / `files:` in sources.yml) or `external_location`",
        )
    template = settings.get("external_location")
    if not template:
        return None
    assert node.relation is not None
    values = {"name": node.name, "identifier": node.relation.identifier, "schema": node.relation.schema,
              "database": None, "tags": list(node.config.get("tags") or []), **settings}  # fmt: skip
    formatter = str(settings.get("formatter", "newstyle"))
    try:
        if formatter == "newstyle":
            location = str(template).format_map(values)
        elif formatter == "oldstyle":
            location = str(template) % values
        elif formatter == "template":
            from string import Template

            location = Template(str(template)).substitute(values)
        else:
            raise ConfigError(
                f"unknown `formatter: {formatter}`",
                location=where,
                hint="use newstyle, oldstyle or template",
            )
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise ConfigError(
            f"`external_location` of `{node.display_name}` cannot be formatted: {exc}",
            location=where,
        ) from None
    if "(" not in location and not location.startswith("'"):
        location = "'" + location.replace("'", "''") + "'"
    return location


def merge_freshness(base: Any, update: Any) -> Any:
    """dbt's merge of a table's `freshness:` into its source's: `freshness: null` turns it off;
    otherwise the table's keys override the source's, `warn_after`/`error_after` key by key."""
    if update is None:
        return None
    if not isinstance(base, dict) or not isinstance(update, dict):
        return update
    out = {**base, **update}
    for key in ("warn_after", "error_after"):
        if isinstance(base.get(key), dict) and isinstance(update.get(key), dict):
            out[key] = {**base[key], **update[key]}
    return out
