"""Properties files (`.yml` under any resource path, and `sources.yml` at the root).

Sources become nodes as their files are read; the entries of models, seeds and snapshots are
collected into `Properties` for the readers of those resources, and `unit_tests:` go to the
`Project` for the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, did_you_mean
from headwater.project.definition import Project
from headwater.project.readers.base import Reader, ReadScope
from headwater.project.readers.sources import SourceReader
from headwater.project.validate import as_list, check_keys, expect_type, loc_of
from headwater.project.yaml import YMap, load_yaml_file

PROPERTIES_KEYS = {
    "version", "models", "sources", "seeds", "snapshots", "analyses", "macros", "exposures",
    "metrics", "semantic_models", "groups", "unit_tests", "saved_queries",
}  # fmt: skip
MODEL_KEYS = {
    "name", "description", "columns", "config", "data_tests", "tests", "docs", "meta", "tags",
    "access", "constraints", "versions", "latest_version", "group", "deprecation_date", "time_spine",
    "expectations",
}  # fmt: skip


@dataclass
class Properties:
    """The entries of a package's properties files that describe nodes read from other files."""

    models: dict[str, tuple[YMap, str]] = field(default_factory=dict)
    """Model name -> (its entry, the file that holds it)."""
    versions: dict[str, tuple[str, str, YMap]] = field(default_factory=dict)
    """File stem of a model version -> (model name, version, its `versions:` entry)."""
    seeds: dict[str, YMap] = field(default_factory=dict)
    snapshots: list[tuple[Any, Path]] = field(default_factory=list)
    """`snapshots:` entries with the file they came from (validated by the snapshot reader)."""

    def check_used(self, project: Project) -> None:
        """Properties of a model or seed that does not exist: a warning, as in dbt (the entry's
        tests and docs apply to nothing), with the likely name."""
        names = {n.name for n in project.nodes.values() if n.resource_type == "model"}
        for name, (entry, _) in self.models.items():
            if name not in names:
                where = loc_of(entry, "name")
                project.warnings.append(
                    f"{where}: properties describe model `{name}` but there is no `{name}.sql`"
                    + did_you_mean(name, names)
                    + "; its tests and docs are not used"
                )
        seeds = {n.name for n in project.nodes.values() if n.resource_type == "seed"}
        for name, seed in self.seeds.items():
            if name not in seeds:
                project.warnings.append(
                    f"{loc_of(seed, 'name')}: properties describe seed `{name}` but there is no `{name}.csv`"
                    + did_you_mean(name, seeds)
                )


class PropertiesReader(Reader):
    """Reads a package's properties files: sources into nodes (with ``sources``), the rest into
    `Properties`."""

    def __init__(self, scope: ReadScope, sources: SourceReader) -> None:
        super().__init__(scope)
        self.sources = sources
        self.properties = Properties()

    def read(self) -> Properties:
        dirs = list(dict.fromkeys(  # dbt reads properties from every resource path
            self.config.model_paths + self.config.seed_paths + self.config.snapshot_paths
            + self.config.test_paths + self.config.analysis_paths + self.config.macro_paths
        ))  # fmt: skip
        paths = self.scope.glob(dirs, (".yml", ".yaml"))
        if (self.scope.base / "sources.yml").is_file():
            paths.insert(0, self.scope.base / "sources.yml")
        for path in paths:
            self.scope.guard(partial(self._read_file, path))
        return self.properties

    def _read_file(self, path: Path) -> None:
        self.scope.read_text(path)
        data = load_yaml_file(path, self.scope.root)
        if data is None:
            return
        expect_type(data, dict, f"`{self.scope.rel(path)}`", data)
        check_keys(data, PROPERTIES_KEYS, "a properties file")
        for entry in as_list(data.get("models")):
            self.scope.guard(partial(self._remember_model, entry, path))
        for entry in as_list(data.get("seeds")):
            expect_type(entry, dict, "a seed entry", data.get("seeds"))
            self.properties.seeds[str(entry.get("name"))] = entry
        for entry in as_list(data.get("sources")):
            self.scope.guard(partial(self.sources.read, entry))
        self.properties.snapshots.extend((entry, path) for entry in as_list(data.get("snapshots")))
        for entry in as_list(data.get("unit_tests")):
            self.project.unit_tests.append((self.config.name, entry, self.scope.rel(path)))

    def _remember_model(self, entry: Any, path: Path) -> None:
        expect_type(entry, dict, "a model entry", entry)
        check_keys(entry, MODEL_KEYS, "a model")
        name = entry.get("name")
        if not name:
            raise ConfigError("a model entry needs `name:`", location=loc_of(entry))
        models = self.properties.models
        if name in models:
            other = models[name][1]
            raise ConfigError(
                f"model `{name}` is described twice (also in `{other}`)",
                location=loc_of(entry, "name"),
                hint="keep one entry per model",
            )
        models[str(name)] = (entry, self.scope.rel(path))
        for i, ventry in enumerate(as_list(entry.get("versions"))):
            expect_type(ventry, dict, "a `versions` entry", entry.get("versions"))
            if "v" not in ventry:
                raise ConfigError(
                    f"version {i + 1} of model `{name}` needs `v:`", location=loc_of(ventry)
                )
            v = str(ventry["v"])
            stem = str(ventry.get("defined_in") or f"{name}_v{v}")
            self.properties.versions[stem] = (str(name), v, ventry)
