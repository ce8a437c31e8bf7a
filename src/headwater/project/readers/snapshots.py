"""Snapshot nodes in dbt's two formats (see `headwater.project.snapshots` for the settings).

* Legacy blocks: ``snapshots/*.sql`` holding one or more
  ``{% snapshot name %} {{ config(...) }} select ... {% endsnapshot %}``; the block body is the
  node's SQL, rendered like a model's (ref, source, var, macros, config()).
* YAML (dbt 1.9): ``snapshots:`` entries with ``relation: source('a', 'b')`` or ``ref('x')`` and a
  ``config:``, in any properties file of the snapshot or model paths. An entry without
  ``relation:`` describes a block snapshot of the same name (description, columns, tests).

Configs merge as for models: the ``snapshots:`` folder tree of the project file, then the YAML
entry, then ``config()`` in the block.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, Location, did_you_mean
from headwater.project.definition import Node
from headwater.project.readers.base import Reader, ReadScope
from headwater.project.readers.data_tests import DataTestReader
from headwater.project.readers.describe import apply_properties
from headwater.project.readers.properties import Properties
from headwater.project.validate import check_keys, expect_type, loc_of
from headwater.project.yaml import YMap

SNAPSHOT_KEYS = {
    "name", "relation", "description", "config", "columns", "data_tests", "tests", "meta", "docs",
    "tags", "expectations", "group",
}  # fmt: skip

_BLOCK_RE = re.compile(
    r"\{%-?\s*snapshot\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}(.*?)\{%-?\s*endsnapshot\s*-?%\}", re.S
)
_OPEN_RE = re.compile(r"\{%-?\s*snapshot\b")
_RELATION_RE = re.compile(
    r"""^\s*(ref|source)\s*\(\s*['"][^'"]+['"](\s*,\s*['"][^'"]+['"])?\s*\)\s*$"""
)


class SnapshotReader(Reader):
    """Adds the snapshots of a package: its blocks, and the `snapshots:` entries of its
    properties files."""

    def __init__(self, scope: ReadScope, properties: Properties, tests: DataTestReader) -> None:
        super().__init__(scope)
        self.entries = properties.snapshots
        self.tests = tests
        self.nodes = scope.project.nodes
        self._described: dict[str, tuple[YMap, str]] = {}

    def read(self) -> None:
        self.scope.check_folder_tree(self.config.snapshots, self.config.snapshot_paths, "snapshots")
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
            self._described[str(name)] = (entry, self.scope.rel(path))
        for base in self.config.snapshot_paths:
            base_dir = self.scope.base / base
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
                return list(path.relative_to(self.scope.base / base).parent.parts)
            except ValueError:
                continue
        return []

    def _read_blocks(self, path: Path, base_dir: Path) -> None:
        text = self.scope.read_text(path)
        rel = self.scope.rel(path)
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
            node.checksum = self.project.files[rel]
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
        rel = self.scope.rel(path)
        line = where.line if where and where.line else (entry.line or 1)
        raw_sql = "\n" * (line - 1) + f"select * from {{{{ {relation.strip()} }}}}\n"
        node = self._new_node(name, rel, entry.line or line, self._folders(path), raw_sql)
        node.checksum = self.project.files.get(rel, "")
        apply_properties(node, entry, self.tests)
        self._add(node)

    def _new_node(self, name: str, rel: str, line: int, folders: list[str], raw_sql: str) -> Node:
        config: dict[str, Any] = {"materialized": "snapshot"}
        config.update(self.scope.folder_config(self.config.snapshots, folders, "snapshots", name))
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
            apply_properties(node, props[0], self.tests)
        self.nodes[node.unique_id] = node
