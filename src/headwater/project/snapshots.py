"""Snapshots in dbt's two formats, read into `Node`s of resource type ``snapshot``.

* Legacy blocks: ``snapshots/*.sql`` holding one or more
  ``{% snapshot name %} {{ config(...) }} select ... {% endsnapshot %}``; the block body is the
  node's SQL, rendered like a model's (ref, source, var, macros, config()).
* YAML (dbt 1.9): ``snapshots:`` entries with ``relation: source('a', 'b')`` or ``ref('x')`` and a
  ``config:``, in any properties file of the snapshot or model paths. An entry without
  ``relation:`` describes a block snapshot of the same name (description, columns, tests).

Configs merge as for models: the ``snapshots:`` folder tree of the project file, then the YAML
entry, then ``config()`` in the block. `snapshot_settings` validates the merged config (it runs at
compile time, once ``config()`` is known) and `snapshot_relation` names the table.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError, Location, UnknownKeyError, did_you_mean
from headwater.project.definition import Node, Relation, Target
from headwater.project.validate import as_list, check_keys, expect_type, loc_of

if TYPE_CHECKING:
    from headwater.project.loader import ProjectReader
    from headwater.project.yaml import YMap

SNAPSHOT_KEYS = {
    "name", "relation", "description", "config", "columns", "data_tests", "tests", "meta", "docs",
    "tags", "expectations", "group",
}  # fmt: skip
STRATEGIES = ("timestamp", "check")
HARD_DELETES = ("ignore", "invalidate", "new_record")
META_COLUMNS = ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to", "dbt_is_deleted")

_BLOCK_RE = re.compile(
    r"\{%-?\s*snapshot\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}(.*?)\{%-?\s*endsnapshot\s*-?%\}", re.S
)
_OPEN_RE = re.compile(r"\{%-?\s*snapshot\b")
_RELATION_RE = re.compile(
    r"""^\s*(ref|source)\s*\(\s*['"][^'"]+['"](\s*,\s*['"][^'"]+['"])?\s*\)\s*$"""
)
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


# -- reading ------------------------------------------------------------------------------------
class SnapshotReader:
    """Adds the snapshots of a project to the nodes a `ProjectReader` has read."""

    def __init__(self, reader: ProjectReader, entries: list[tuple[Any, Path]]) -> None:
        self.reader = reader
        self.config = reader.config
        self.nodes = reader.project.nodes
        self.entries = entries
        self._described: dict[str, tuple[YMap, str]] = {}

    def read(self) -> None:
        self.reader._check_folder_tree(
            self.config.snapshots, self.config.snapshot_paths, "snapshots"
        )
        defined: list[tuple[YMap, Path]] = []
        for entry, path in self.entries:
            expect_type(entry, dict, "a snapshot entry", entry)
            check_keys(entry, SNAPSHOT_KEYS, "a snapshot")
            name = entry.get("name")
            if not name:
                raise ConfigError("a snapshot entry needs `name:`", location=loc_of(entry))
            if entry.get("relation") is not None:
                defined.append((entry, path))
                continue
            if str(name) in self._described:
                raise ConfigError(
                    f"snapshot `{name}` is described twice (also in `{self._described[str(name)][1]}`)",
                    location=loc_of(entry, "name"),
                    hint="keep one entry per snapshot",
                )
            self._described[str(name)] = (entry, self.reader._rel(path))
        for base in self.config.snapshot_paths:
            base_dir = self.reader.base / base
            if base_dir.is_dir():
                for path in sorted(base_dir.rglob("*.sql")):
                    self._read_blocks(path, base_dir)
        for entry, path in defined:
            self._read_entry(entry, path)
        names = {n.name for n in self.nodes.values() if n.resource_type == "snapshot"}
        for name, (entry, _) in self._described.items():
            if name not in names:
                raise ConfigError(
                    f"properties describe snapshot `{name}`, but no `{{% snapshot {name} %}}` block "
                    "defines it" + did_you_mean(name, names),
                    location=loc_of(entry, "name"),
                    hint="rename the entry, add the block under snapshots/, or give the entry a "
                    "`relation: source('...', '...')` to define the snapshot in YAML",
                )

    def _folders(self, path: Path) -> list[str]:
        for base in self.config.snapshot_paths + self.config.model_paths:
            try:
                return list(path.relative_to(self.reader.base / base).parent.parts)
            except ValueError:
                continue
        return []

    def _read_blocks(self, path: Path, base_dir: Path) -> None:
        text = self.reader._read_text(path)
        rel = self.reader._rel(path)
        found = list(_BLOCK_RE.finditer(text))
        if len(found) != len(_OPEN_RE.findall(text)):
            start = _OPEN_RE.search(text)
            line = text.count("\n", 0, start.start()) + 1 if start else 1
            raise ConfigError(
                "a `{% snapshot %}` block is not closed or has no name",
                location=Location(rel, line),
                hint="write `{% snapshot my_snapshot %} ... {% endsnapshot %}`",
            )
        for match in found:
            name = match.group(1)
            line = text.count("\n", 0, match.start()) + 1
            body_line = text.count("\n", 0, match.start(2)) + 1
            # pad so that line numbers in the body are line numbers of the file
            raw_sql = "\n" * (body_line - 1) + match.group(2)
            folders = list(path.relative_to(base_dir).parent.parts)
            node = self._new_node(name, rel, line, folders, raw_sql)
            node.checksum = self.reader.project.files[rel]
            self._add(node)

    def _read_entry(self, entry: YMap, path: Path) -> None:
        name = str(entry["name"])
        relation = entry.get("relation")
        where = loc_of(entry, "relation")
        if not isinstance(relation, str) or not _RELATION_RE.match(relation):
            raise ConfigError(
                f"`relation:` of snapshot `{name}` must be `source('name', 'table')` or `ref('model')`, "
                f"got `{relation!r}`",
                location=where,
                node=name,
                hint="e.g. `relation: source('shop', 'customers')`",
            )
        rel = self.reader._rel(path)
        line = where.line if where and where.line else (entry.line or 1)
        raw_sql = "\n" * (line - 1) + f"select * from {{{{ {relation.strip()} }}}}\n"
        node = self._new_node(name, rel, entry.line or line, self._folders(path), raw_sql)
        node.checksum = self.reader.project.files.get(rel, "")
        self.reader._apply_properties(node, entry)
        self._add(node)

    def _new_node(self, name: str, rel: str, line: int, folders: list[str], raw_sql: str) -> Node:
        config: dict[str, Any] = {"materialized": "snapshot"}
        config.update(self.reader._folder_config(self.config.snapshots, folders, "snapshots", name))
        config["materialized"] = "snapshot"
        return Node(
            unique_id=f"snapshot.{self.config.name}.{name}",
            name=name,
            resource_type="snapshot",
            path=rel,
            line=line,
            package=self.config.name,
            fqn=[self.config.name, *folders, name],
            raw_sql=raw_sql,
            config=config,
        )

    def _add(self, node: Node) -> None:
        other = self.nodes.get(node.unique_id)
        if other is not None:
            raise ConfigError(
                f"two snapshots are named `{node.name}`: `{other.path}` and `{node.path}`",
                location=Location(node.path, node.line),
                hint="snapshot names must be unique; rename one",
            )
        same = [
            n
            for n in self.nodes.values()
            if n.name == node.name and n.resource_type in ("model", "seed")
        ]
        if same:
            raise ConfigError(
                f"snapshot `{node.name}` has the name of {same[0].resource_type} `{same[0].path}`",
                location=Location(node.path, node.line),
                hint="ref() finds nodes by name: rename the snapshot",
            )
        props = self._described.get(node.name)
        if props is not None:
            self.reader._apply_properties(node, props[0])
        self.nodes[node.unique_id] = node


# -- settings -----------------------------------------------------------------------------------
@dataclass
class SnapshotSettings:
    """A snapshot's validated config."""

    unique_key: list[str]
    """Column names or SQL expressions (dbt allows both)."""
    strategy: str
    updated_at: str | None
    check_cols: list[str] | str
    """A list of columns, or ``"all"``."""
    hard_deletes: str
    columns: dict[str, str] = field(default_factory=dict)
    """Meta column names: dbt's name -> the name used in the table."""
    valid_to_current: str | None = None
    """SQL expression current rows carry in the valid-to column instead of NULL."""


def snapshot_settings(node: Node) -> SnapshotSettings:
    """Validate the merged config of a snapshot; `ConfigError` with file:line and the fix."""
    cfg = node.config
    where = Location(node.path, node.line)

    def fail(message: str, hint: str) -> ConfigError:
        return ConfigError(
            f"snapshot `{node.name}`: {message}", location=where, node=node.name, hint=hint
        )

    strategy = cfg.get("strategy")
    if not strategy:
        raise fail(
            "`strategy` is missing",
            "add `strategy: timestamp` (with `updated_at: <column>`) "
            "or `strategy: check` (with `check_cols: [<column>, ...]` or `all`) to its config",
        )
    strategy = str(strategy).lower()
    if strategy not in STRATEGIES:
        raise fail(
            f"unknown strategy `{strategy}`" + did_you_mean(strategy, STRATEGIES),
            "use `strategy: timestamp` or `strategy: check`",
        )
    keys = cfg.get("unique_key")
    if keys in (None, "", []):
        raise fail(
            "`unique_key` is missing",
            "add `unique_key: id` (a column, an expression, or a list of columns) to its config",
        )
    if not isinstance(keys, str | list | tuple) or not all(
        isinstance(k, str) and k.strip() for k in as_list(keys)
    ):
        raise fail(
            f"`unique_key` must be a column name or a list of them, got `{keys!r}`",
            "e.g. `unique_key: id` or `unique_key: [order_id, line_no]`",
        )
    updated_at = cfg.get("updated_at")
    if updated_at is not None and not isinstance(updated_at, str):
        raise fail(
            f"`updated_at` must be a column name, got `{updated_at!r}`",
            "e.g. `updated_at: updated_at`",
        )
    if strategy == "timestamp" and not updated_at:
        raise fail(
            "strategy `timestamp` needs `updated_at`",
            "add `updated_at: <timestamp column>` or use `strategy: check` with `check_cols`",
        )
    check_cols: list[str] | str = []
    if strategy == "check":
        raw = cfg.get("check_cols")
        if raw in (None, "", []):
            raise fail(
                "strategy `check` needs `check_cols`",
                "add `check_cols: [<column>, ...]` or `check_cols: all`",
            )
        if isinstance(raw, str) and raw.lower() == "all":
            check_cols = "all"
        elif isinstance(raw, list | tuple) and all(isinstance(c, str) for c in raw):
            check_cols = [str(c) for c in raw]
        else:
            raise fail(
                f"`check_cols` must be a list of columns or `all`, got `{raw!r}`",
                "e.g. `check_cols: [status, amount]` or `check_cols: all`",
            )
    hard = cfg.get("hard_deletes")
    if hard is None:
        hard = (
            "invalidate"
            if cfg.get("invalidate_hard_deletes") in (True, "true", "True")
            else "ignore"
        )
    hard = str(hard).lower()
    if hard not in HARD_DELETES:
        raise fail(
            f"unknown `hard_deletes: {hard}`" + did_you_mean(hard, HARD_DELETES),
            "use `ignore` (default), `invalidate` or `new_record`",
        )
    names = cfg.get("snapshot_meta_column_names") or {}
    if not isinstance(names, dict):
        raise fail(
            f"`snapshot_meta_column_names` must be a mapping, got `{names!r}`",
            "e.g. `snapshot_meta_column_names: {dbt_valid_from: valid_from, dbt_valid_to: valid_to}`",
        )
    for key, value in names.items():
        if key not in META_COLUMNS:
            raise UnknownKeyError(
                f"snapshot `{node.name}`: unknown key `{key}` in `snapshot_meta_column_names`"
                + did_you_mean(str(key), META_COLUMNS),
                location=loc_of(names, key) or where,
                node=node.name,
                hint="keys: " + ", ".join(META_COLUMNS),
            )
        if not isinstance(value, str) or not value.strip():
            raise fail(
                f"`snapshot_meta_column_names.{key}` must be a column name, got `{value!r}`",
                f"e.g. `{key}: {key.removeprefix('dbt_')}`",
            )
    columns = {k: str(names.get(k) or k) for k in META_COLUMNS}
    if len({c.lower() for c in columns.values()}) != len(columns):
        raise fail(
            "`snapshot_meta_column_names` gives two meta columns the same name",
            "use distinct names",
        )
    current = cfg.get("dbt_valid_to_current")
    if current is not None:
        if isinstance(current, datetime.date):  # YAML read `9999-12-31` as a date
            current = f"'{current.isoformat()}'"
        current = str(current).strip() or None
    return SnapshotSettings(
        unique_key=[str(k).strip() for k in as_list(keys)],
        strategy=strategy,
        updated_at=str(updated_at).strip() if updated_at else None,
        check_cols=check_cols,
        hard_deletes=hard,
        columns=columns,
        valid_to_current=current,
    )


def snapshot_relation(node: Node, target: Target) -> Relation:
    """Validate a compiled snapshot's config and name its table.

    dbt's rules: legacy `target_schema` is used as is; `schema` follows the custom-schema naming
    of models (`<target schema>_<schema>`); neither means the target's schema. `target_database`
    and `database` are accepted and, as `database` of models, not used: the target's database is.
    """
    from headwater.sql.compiler import _schema_name

    node.config["materialized"] = "snapshot"
    snapshot_settings(node)
    if node.config.get("target_schema"):
        schema = str(node.config["target_schema"]).strip()
    else:
        schema = _schema_name(target.schema, node.config.get("schema"))
    return Relation(schema=schema, identifier=str(node.config.get("alias") or node.name))


def is_identifier(text: str) -> bool:
    return bool(_IDENT_RE.match(text))
