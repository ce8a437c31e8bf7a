"""Model nodes: `.sql` and `.py` files under the model paths, configured by the folder trees of
the project file and their properties entry (a version of a versioned model by its `versions:`
entry).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, HeadwaterError, Location
from headwater.project.definition import Node, merge_config
from headwater.project.readers.base import Reader, ReadScope
from headwater.project.readers.data_tests import DataTestReader
from headwater.project.readers.describe import apply_properties
from headwater.project.readers.properties import Properties


class ModelReader(Reader):
    """Adds the models of a package."""

    def __init__(self, scope: ReadScope, properties: Properties, tests: DataTestReader) -> None:
        super().__init__(scope)
        self.properties = properties
        self.tests = tests

    def read(self) -> None:
        for base in self.config.model_paths:
            base_dir = self.scope.base / base
            if not base_dir.is_dir():
                continue
            for path in sorted(
                p for p in base_dir.rglob("*") if p.suffix in (".sql", ".py") and p.is_file()
            ):
                self.scope.guard(partial(self._read, path, base_dir))

    def _read(self, path: Path, base_dir: Path) -> None:
        name = path.stem
        uid = f"model.{self.config.name}.{name}"
        rel = self.scope.rel(path)
        nodes = self.project.nodes
        if uid in nodes:
            raise ConfigError(
                f"two models are named `{name}`: `{nodes[uid].path}` and `{rel}`",
                location=Location(rel),
                hint="model names must be unique across folders; rename one file",
            )
        folders = list(path.relative_to(base_dir).parent.parts)
        config: dict[str, Any] = {"materialized": "view"}
        config.update(self.scope.folder_config(self.config.models, folders, "models", path.stem))
        version, version_entry = None, None
        if name in self.properties.versions:
            name, version, version_entry = self.properties.versions[path.stem]
            uid = f"model.{self.config.name}.{name}.v{version}"
        props, _ = self.properties.models.get(name, (None, None))
        node = Node(
            unique_id=uid,
            name=name,
            resource_type="model",
            path=rel,
            line=1,
            package=self.config.name,
            fqn=[self.config.name, *folders, name]
            + ([f"v{version}"] if version is not None else []),
            raw_sql=self.scope.read_text(path),
            config=config,
            language="python" if path.suffix == ".py" else "sql",
            version=version,
        )
        node.checksum = self.project.files[rel]
        if props is not None:
            try:
                apply_properties(node, props, self.tests, version_entry)
            except HeadwaterError as exc:  # the model stays, marked: its tests and docs are broken
                node.problem = exc.render()
                self.project.problems.append(exc)
                self.project.problem_nodes[id(exc)] = uid
                for test_uid in [
                    u for u, n in nodes.items() if n.test and n.test.attached_to == uid
                ]:
                    del nodes[test_uid]
        if version is not None:
            latest = props.get("latest_version") if props is not None else None
            node.config["_latest_version"] = str(latest) if latest is not None else None
        if node.language == "python":
            from headwater.project.python_models import read_python_model

            info = read_python_model(node.raw_sql or "", rel)
            merge_config(node.config, info.config)
            if node.config.get("materialized") == "view":
                node.config["materialized"] = (
                    "table"  # a folder's default; Python models are tables
                )
            node.config["_python"] = info
        nodes[uid] = node
