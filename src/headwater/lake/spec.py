"""A node's lake table: its format, location, partitioning and sort order, from its config.

* `location:` a local path (relative to the project) or a URL; default
  ``<lake_root>/<schema>/<identifier>`` (the target's `lake_root`, default ``lake``). A source
  table must give its `location`.
* `partition_by:` columns (hive folders ``col=value/``); `sort_by:` columns the rows of each file
  are sorted by, so min/max statistics prune.
* `version:` / `as_of:` (sources): read that version of the table instead of the current one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from headwater.errors import ConfigError, Location
from headwater.lake import LakeTable, LocalFiles, open_table
from headwater.lake.storage import TableLocation
from headwater.project.definition import Node, ProjectConfig, lake_format


@dataclass(frozen=True)
class LakeSpec:
    """Where and how one node's lake table is written."""

    format: str
    location: TableLocation
    partition_by: tuple[str, ...] = ()
    sort_by: tuple[str, ...] = ()
    state_dir: str = ""
    version: int | None = None
    as_of: dt.datetime | None = None

    @classmethod
    def of(cls, node: Node, project: ProjectConfig, lake_root: str) -> LakeSpec:
        fmt = lake_format(node.config)
        assert fmt is not None, node.unique_id
        loc = Location(node.path, node.line)
        configured = node.config.get("location")
        relation = node.relation
        assert relation is not None, node.unique_id
        if configured:
            text = str(configured)
        elif node.resource_type == "source":
            raise ConfigError(
                f"source table `{node.display_name}` has `format: {fmt}` but no `location`",
                location=loc,
                node=node.display_name,
                hint="add `location:` with the table's folder or URL (e.g. `s3://bucket/events`)",
            )
        else:
            root = (lake_root or "lake").rstrip("/")
            text = f"{root}/{relation.schema}/{relation.identifier}"
        try:
            location = TableLocation.parse(text, project.root)
        except ConfigError as exc:
            exc.location, exc.node = loc, node.name
            raise
        if fmt == "parquet" and not location.is_local:
            raise ConfigError(
                f"`{node.name}` is a plain Parquet table at `{text}`: object stores have no atomic "
                "rename, so a Parquet folder there cannot be swapped without readers seeing half "
                "of it",
                location=loc,
                node=node.name,
                hint="make it `materialized: delta` (or iceberg), whose commits are atomic on "
                "object stores",
            )
        state_dir = str(Path(project.root) / project.state_dir)
        version = as_of = None
        if node.resource_type == "source":
            if node.config.get("version") is not None:
                version = parse_version(node.config["version"], node)
            if node.config.get("as_of") not in (None, ""):
                as_of = parse_as_of(node.config["as_of"], node)
        return cls(
            fmt,
            location,
            _columns(node, "partition_by"),
            _columns(node, "sort_by"),
            state_dir,
            version,
            as_of,
        )

    def table(self, name: str) -> LakeTable:
        return open_table(self.format, self.location, name, catalog_dir=self.state_dir)

    def files(self, table: LakeTable) -> LocalFiles:
        return LocalFiles(table, str(Path(self.state_dir) / "lake_cache"))


def _columns(node: Node, key: str) -> tuple[str, ...]:
    value = node.config.get(key)
    if value in (None, "", []):
        return ()
    if isinstance(value, dict):  # dbt-bigquery's {field: ..., data_type: ...}
        if value.get("granularity"):
            raise ConfigError(
                f"`{key}` of `{node.name}` asks for a `granularity`: a lake table is partitioned "
                "by the values of its partition columns",
                location=Location(node.path, node.line),
                node=node.name,
                hint="select a derived column (e.g. `date_trunc('month', ts) as month`) and "
                "partition by it",
            )
        value = value.get("field")
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    out = tuple(str(v).strip() for v in items if str(v).strip())
    for name in out:
        if not name.replace("_", "a").isalnum():
            raise ConfigError(
                f"`{key}` of `{node.name}` names `{name}`, which is not a column name",
                location=Location(node.path, node.line),
                node=node.name,
                hint=f"list the columns, e.g. `{key}: [order_date]` (expressions are not supported "
                "for lake tables)",
            )
    return out


def table_for(node: Node, project: ProjectConfig, lake_root: str) -> tuple[LakeSpec, LakeTable]:
    spec = LakeSpec.of(node, project, lake_root)
    return spec, spec.table(node.name)


def parse_as_of(value: object, node: Node) -> dt.datetime:
    """`as_of` as a datetime (a date means its midnight, UTC when no zone is given)."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    try:
        return dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(
            f"`as_of: {value}` of `{node.name}` is not a date or timestamp",
            location=Location(node.path, node.line),
            node=node.name,
            hint="write it as `2026-01-01` or `2026-01-01T12:00:00`",
        ) from None


def parse_version(value: object, node: Node) -> int:
    try:
        number = int(str(value))
    except ValueError:
        number = -1
    if number < 0:
        raise ConfigError(
            f"`version: {value}` of `{node.name}` is not a table version",
            location=Location(node.path, node.line),
            node=node.name,
            hint="versions are whole numbers: see them with `headwater lake history`",
        )
    return number
