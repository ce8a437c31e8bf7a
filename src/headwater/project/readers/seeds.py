"""Seed nodes: `.csv` files under the seed paths, configured by the `seeds:` tree of the project
file and their properties entry.
"""

from __future__ import annotations

from headwater.errors import ConfigError, Location
from headwater.project.definition import Node, Relation
from headwater.project.readers.base import Reader, ReadScope, file_hash
from headwater.project.readers.data_tests import DataTestReader
from headwater.project.readers.describe import apply_properties
from headwater.project.readers.properties import Properties


class SeedReader(Reader):
    """Adds the seeds of a package."""

    def __init__(self, scope: ReadScope, properties: Properties, tests: DataTestReader) -> None:
        super().__init__(scope)
        self.properties = properties
        self.tests = tests

    def read(self) -> None:
        for base in self.config.seed_paths:
            base_dir = self.scope.base / base
            if not base_dir.is_dir():
                continue
            for path in sorted(base_dir.rglob("*.csv")):
                name = path.stem
                rel = self.scope.rel(path)
                folders = list(path.relative_to(base_dir).parent.parts)
                config = self.scope.folder_config(self.config.seeds, folders, "seeds", name)
                props = self.properties.seeds.get(name)
                uid = f"seed.{self.config.name}.{name}"
                if uid in self.project.nodes:
                    raise ConfigError(f"two seeds are named `{name}`", location=Location(rel))
                node = Node(
                    unique_id=uid, name=name, resource_type="seed", path=rel, line=1,
                    package=self.config.name, fqn=[self.config.name, *folders, name], config=config,
                    relation=Relation(schema=self.scope.target.schema, identifier=name),
                )  # fmt: skip
                node.checksum = file_hash(path.read_bytes())
                self.project.files[rel] = node.checksum
                if props is not None:
                    apply_properties(node, props, self.tests)
                self.project.nodes[uid] = node
