"""Read a project folder into typed objects: `ProjectConfig` and the nodes of the graph.

Reading is strict: unknown keys, wrong types and duplicate names are errors that point at
``file:line`` and suggest the fix. Rendering SQL (Jinja) and resolving dependencies happen later,
in `headwater.sql.compiler`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.errors import (
    ConfigError,
    HeadwaterError,
    Location,
    UnknownKeyError,
    did_you_mean,
)
from headwater.project.definition import CheckSpec, Column, Node, ProjectConfig, Target
from headwater.project.files import find_project_file
from headwater.project.project_file import RENDERED_KEYS as RENDERED_KEYS
from headwater.project.project_file import TARGET_KEYS as TARGET_KEYS
from headwater.project.project_file import dispatch_config, hooks, read_targets, render_values
from headwater.project.project_file import native as _native  # noqa: F401 - headwater.sql.compiler imports it from here
from headwater.project.properties import (
    external_location,
    merge_freshness,
    version_columns,
    without_include,
)
from headwater.project.sources import connector_config, file_spec
from headwater.project.test_specs import EXPECTATION_CONFIG_KEYS as EXPECTATION_CONFIG_KEYS
from headwater.project.test_specs import TEST_CONFIG_KEYS as TEST_CONFIG_KEYS
from headwater.project.test_specs import (
    constraints,
    dbt_test_names,
    expectation_entries,
    kwargs_suffix,
    parse_test_spec,
    split_expectation_config,
    test_entries,
)
from headwater.project.validate import as_list, check_config_keys, check_keys, expect_type, loc_of
from headwater.project.yaml import YMap, load_yaml_file

PROJECT_KEYS = {
    "name", "version", "default_target", "targets", "vars", "models", "seeds", "tests",
    "data_tests", "sources", "raw_data", "model-paths", "model_paths", "seed-paths", "seed_paths",
    "test-paths", "test_paths", "macro-paths", "macro_paths", "snapshot-paths", "snapshot_paths",
    "analysis-paths", "analysis_paths", "state_dir", "config-version", "profile", "require-dbt-version",
    "target-path", "clean-targets", "snapshots", "on-run-start", "on-run-end", "dispatch",
    "flags", "quoting", "docs-paths", "asset-paths", "packages-install-path", "query-comment",
    "observability", "dbt-cloud", "unit_tests", "semantic-models", "saved-queries", "metrics",
    "exposures", "restrict-access", "functions", "function-paths", "log-path", "data-paths",
    "source-paths", "modules-path", "packages", "on_run_start", "on_run_end", "analyses",
}  # fmt: skip
SOURCE_KEYS = {
    "name", "description", "schema", "database", "loader", "loaded_at_field", "freshness",
    "tables", "meta", "tags", "config", "quoting", "overrides", "identifier", "connector", "connection",
    "monitors", "profile", "max_duration", "schema_change",
}  # fmt: skip
TABLE_KEYS = {
    "name", "identifier", "description", "columns", "loaded_at_field", "freshness", "data_tests",
    "tests", "meta", "tags", "config", "files", "external", "quoting", "loader", "expectations", "extract",
    "monitors", "profile", "max_duration", "schema_change",
}  # fmt: skip
COLUMN_KEYS = {
    "name", "description", "data_type", "tests", "data_tests", "meta", "tags", "quote",
    "constraints", "config", "granularity", "policy_tags", "expectations",
}  # fmt: skip
MODEL_KEYS = {
    "name", "description", "columns", "config", "data_tests", "tests", "docs", "meta", "tags",
    "access", "constraints", "versions", "latest_version", "group", "deprecation_date", "time_spine",
    "expectations",
}  # fmt: skip
PROPERTIES_KEYS = {
    "version", "models", "sources", "seeds", "snapshots", "analyses", "macros", "exposures",
    "metrics", "semantic_models", "groups", "unit_tests", "saved_queries",
}  # fmt: skip
SOURCE_CONFIG_KEYS = {
    "enabled", "event_time", "meta", "tags", "freshness", "loaded_at_field", "quoting",
    "external_location", "formatter", "plugin",
    "monitors", "profile", "max_duration", "schema_change",
}  # fmt: skip
OBSERVE_KEYS = ("monitors", "profile", "max_duration", "schema_change")
"""Observability settings a source or source table may give beside `config:` (into the node's config)."""


@dataclass
class Project:
    """A project as read from disk, before compilation."""

    config: ProjectConfig
    nodes: dict[str, Node] = field(default_factory=dict)
    macros: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    """Relative path -> content hash of every file read."""
    macro_files: list[tuple[str, str, str]] = field(default_factory=list)
    """(package, path, text) of every macro file: the root project's and its packages'."""
    problems: list[HeadwaterError] = field(default_factory=list)
    """What could not be loaded; the rest of the project loads (each names its file and line)."""
    problem_nodes: dict[int, str] = field(default_factory=dict)
    """id() of a problem -> the node it stops, when it concerns one."""
    warnings: list[str] = field(default_factory=list)
    """What dbt warns about and headwater does too (e.g. properties of a model that does not exist)."""
    unit_tests: list[Any] = field(default_factory=list)
    """`unit_tests:` entries of properties files, with the file they came from."""


def read_project_config(
    project_dir: Path,
    target_name: str | None = None,
    package: bool = False,
    cli_vars: dict[str, Any] | None = None,
    target: Target | None = None,
) -> ProjectConfig:
    """Read `headwater.yml` (or `dbt_project.yml`) into a `ProjectConfig`; ``package`` reads an
    installed package's `dbt_project.yml` (its targets are not read; ``target`` is the root's, for
    `{{ target.name }}` in its values)."""
    root = project_dir if package else project_dir.resolve()
    path = find_project_file(root)
    data = load_yaml_file(path, root)
    if not isinstance(data, dict):
        raise ConfigError(
            "the project file must be a mapping with at least `name:`",
            location=Location(path.name, 1),
        )
    check_keys(data, PROJECT_KEYS, path.name)
    name = data.get("name")
    if not name or not isinstance(name, str):
        raise ConfigError(
            "the project needs a `name:`",
            location=Location(path.name, 1),
            hint="add `name: my_project`",
        )
    cfg = ProjectConfig(name=name, root=str(root), config_file=path.name)
    cfg.state_dir = str(data.get("state_dir", cfg.state_dir))
    if not package:
        cfg.targets = read_targets(data, cfg)
        cfg.default_target = str(data.get("default_target") or next(iter(cfg.targets)))
        if cfg.default_target not in cfg.targets:
            raise ConfigError(
                f"default_target `{cfg.default_target}` is not defined under `targets:`"
                + did_you_mean(cfg.default_target, cfg.targets),
                location=loc_of(data, "default_target"),
            )
        import os

        chosen = target_name or os.environ.get("HEADWATER_TARGET") or cfg.default_target
        target = cfg.targets.get(chosen)
    render_values(data, cli_vars or {}, data.get("vars") or {}, target, name, cfg.env_vars)
    cfg.version = str(data.get("version", "1"))
    cfg.vars = dict(expect_type(data.get("vars") or {}, dict, "`vars`", data, "vars"))
    cfg.models = expect_type(data.get("models") or {}, dict, "`models`", data, "models")
    cfg.seeds = expect_type(data.get("seeds") or {}, dict, "`seeds`", data, "seeds")
    cfg.snapshots = expect_type(data.get("snapshots") or {}, dict, "`snapshots`", data, "snapshots")
    cfg.tests = expect_type(
        data.get("data_tests") or data.get("tests") or {}, dict, "`tests`", data
    )
    cfg.raw_data = str(data.get("raw_data", cfg.raw_data))
    cfg.observability = dict(
        expect_type(data.get("observability") or {}, dict, "`observability`", data, "observability")
    )
    cfg.packages_install_path = str(data.get("packages-install-path") or cfg.packages_install_path)
    cfg.dispatch = dispatch_config(data)
    cfg.on_run_start = hooks(data, "on-run-start")
    cfg.on_run_end = hooks(data, "on-run-end")
    for attr in ("model", "seed", "test", "macro", "snapshot", "analysis"):
        value = data.get(f"{attr}-paths", data.get(f"{attr}_paths"))
        if value is None and attr == "model":
            value = data.get("source-paths")  # dbt < 1.0's name
        if value is None and attr == "seed":
            value = data.get("data-paths")
        if value is not None:
            setattr(cfg, f"{attr}_paths", [str(v) for v in as_list(value)])
    return cfg


def file_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


class ProjectReader:
    """Builds a `Project` from the files of a project folder, and of its installed packages."""

    def __init__(
        self,
        config: ProjectConfig,
        target: Target,
        *,
        root: Path | None = None,
        base: Path | None = None,
        parent: ProjectReader | None = None,
    ) -> None:
        self.config = config
        self.target = target
        self.root = root or Path(config.root)
        """The project root: every path in errors and hashes is relative to it."""
        self.base = base or self.root
        """The folder read: the project root, or an installed package's folder."""
        self.parent = parent
        self.project = parent.project if parent else Project(config=config)
        self._properties: dict[str, tuple[YMap, str]] = {}
        self._seed_properties: dict[str, YMap] = {}
        self._snapshot_entries: list[tuple[Any, Path]] = []
        self._versions: dict[str, tuple[str, str, YMap]] = {}
        """File stem of a model version -> (model name, version, its `versions:` entry)."""

    # -- public -----------------------------------------------------------------------------
    def read(self) -> Project:
        self._guard(
            lambda: self._check_folder_tree(self.config.models, self.config.model_paths, "models")
        )
        self._guard(
            lambda: self._check_folder_tree(self.config.seeds, self.config.seed_paths, "seeds")
        )
        self._read_macros()
        self._read_properties()
        self._read_models()
        self._read_seeds()
        from headwater.project.snapshots import SnapshotReader

        self._guard(lambda: SnapshotReader(self, self._snapshot_entries).read())
        self._read_singular_tests()
        self._read_analyses()
        self._guard(self._check_properties_used)
        if self.parent is None:
            self._read_packages()
        return self.project

    def _guard(self, action: Any) -> Any:
        """Run ``action``; a `HeadwaterError` becomes a problem of the load, and reading goes on."""
        try:
            return action()
        except HeadwaterError as exc:
            self.project.problems.append(exc)
            return None

    def _read_packages(self) -> None:
        from headwater.project.packages import check_installed, installed_packages

        packages = (
            self._guard(lambda: installed_packages(self.root, self.config, self.target)) or []
        )
        problem = check_installed(self.root, self.config, packages)
        if problem is not None:
            self.project.problems.append(problem)
        self.config.packages = [p.name for p in packages]
        for package in packages:
            self.config.package_vars[package.name] = dict(package.config.vars)
            reader = ProjectReader(
                package.config, self.target, root=self.root, base=package.path, parent=self
            )
            reader.read()

    def _root_tree(self, kind: str) -> dict:
        """For a package: the root project's `models: <package>: ...` tree (it overrides the package's own)."""
        if self.parent is None:
            return {}
        tree = getattr(self.parent.config, kind if kind != "tests" else "tests", {}) or {}
        sub = tree.get(self.config.name)
        return sub if isinstance(sub, dict) else {}

    # -- files ----------------------------------------------------------------------------
    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _read_text(self, path: Path) -> str:
        data = path.read_bytes()
        self.project.files[self._rel(path)] = file_hash(data)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"file is not UTF-8 text: {exc}", location=Location(self._rel(path))
            ) from None

    def _glob(self, dirs: list[str], suffixes: tuple[str, ...]) -> list[Path]:
        out: list[Path] = []
        for d in dirs:
            base = self.base / d
            if base.is_dir():
                out.extend(
                    p for p in sorted(base.rglob("*")) if p.suffix in suffixes and p.is_file()
                )
        return out

    def _generic_test_dirs(self) -> list[str]:
        """dbt 1.5+: generic tests may live in `<test path>/generic/`, read like macros."""
        return [f"{d}/generic" for d in self.config.test_paths]

    def _read_macros(self) -> None:
        for path in self._glob([*self.config.macro_paths, *self._generic_test_dirs()], (".sql",)):
            text = self._guard(lambda path=path: self._read_text(path))
            if text is None:
                continue
            if self.parent is None:
                self.project.macros[self._rel(path)] = text
            self.project.macro_files.append((self.config.name, self._rel(path), text))

    # -- properties (.yml) --------------------------------------------------------------------
    def _read_properties(self) -> None:
        dirs = list(dict.fromkeys(  # dbt reads properties from every resource path
            self.config.model_paths + self.config.seed_paths + self.config.snapshot_paths
            + self.config.test_paths + self.config.analysis_paths + self.config.macro_paths
        ))  # fmt: skip
        paths = self._glob(dirs, (".yml", ".yaml"))
        if (self.base / "sources.yml").is_file():
            paths.insert(0, self.base / "sources.yml")
        for path in paths:
            self._guard(lambda path=path: self._read_properties_file(path))

    def _read_properties_file(self, path: Path) -> None:
        self._read_text(path)
        data = load_yaml_file(path, self.root)
        if data is None:
            return
        expect_type(data, dict, f"`{self._rel(path)}`", data)
        check_keys(data, PROPERTIES_KEYS, "a properties file")
        for entry in as_list(data.get("models")):
            self._guard(lambda entry=entry: self._remember_model_properties(entry, path))
        for entry in as_list(data.get("seeds")):
            expect_type(entry, dict, "a seed entry", data.get("seeds"))
            self._seed_properties[str(entry.get("name"))] = entry
        for entry in as_list(data.get("sources")):
            self._guard(lambda entry=entry: self._read_source(entry))
        self._snapshot_entries.extend((entry, path) for entry in as_list(data.get("snapshots")))
        for entry in as_list(data.get("unit_tests")):
            self.project.unit_tests.append((self.config.name, entry, self._rel(path)))

    def _remember_model_properties(self, entry: Any, path: Path) -> None:
        expect_type(entry, dict, "a model entry", entry)
        check_keys(entry, MODEL_KEYS, "a model")
        name = entry.get("name")
        if not name:
            raise ConfigError("a model entry needs `name:`", location=loc_of(entry))
        if name in self._properties:
            other = self._properties[name][1]
            raise ConfigError(
                f"model `{name}` is described twice (also in `{other}`)",
                location=loc_of(entry, "name"),
                hint="keep one entry per model",
            )
        self._properties[str(name)] = (entry, self._rel(path))
        for i, ventry in enumerate(as_list(entry.get("versions"))):
            expect_type(ventry, dict, "a `versions` entry", entry.get("versions"))
            if "v" not in ventry:
                raise ConfigError(
                    f"version {i + 1} of model `{name}` needs `v:`", location=loc_of(ventry)
                )
            v = str(ventry["v"])
            stem = str(ventry.get("defined_in") or f"{name}_v{v}")
            self._versions[stem] = (str(name), v, ventry)

    def _check_properties_used(self) -> None:
        """Properties of a model or seed that does not exist: a warning, as in dbt (the entry's
        tests and docs apply to nothing), with the likely name."""
        names = {n.name for n in self.project.nodes.values() if n.resource_type == "model"}
        for name, (entry, _) in self._properties.items():
            if name not in names:
                where = loc_of(entry, "name")
                self.project.warnings.append(
                    f"{where}: properties describe model `{name}` but there is no `{name}.sql`"
                    + did_you_mean(name, names)
                    + "; its tests and docs are not used"
                )
        seeds = {n.name for n in self.project.nodes.values() if n.resource_type == "seed"}
        for name, entry in self._seed_properties.items():
            if name not in seeds:
                self.project.warnings.append(
                    f"{loc_of(entry, 'name')}: properties describe seed `{name}` but there is no `{name}.csv`"
                    + did_you_mean(name, seeds)
                )

    # -- sources --------------------------------------------------------------------------
    def _read_source(self, src: Any) -> None:
        expect_type(src, dict, "a source entry", src)
        check_keys(src, SOURCE_KEYS, "a source")
        sname = src.get("name")
        if not sname:
            raise ConfigError("a source needs `name:`", location=loc_of(src))
        schema = str(src.get("schema") or sname)
        for table in as_list(src.get("tables")):
            expect_type(table, dict, f"a table of source `{sname}`", src.get("tables"))
            check_keys(table, TABLE_KEYS, f"a table of source `{sname}`")
            tname = table.get("name")
            if not tname:
                raise ConfigError(
                    f"a table of source `{sname}` needs `name:`", location=loc_of(table)
                )
            uid = f"source.{self.config.name}.{sname}.{tname}"
            if uid in self.project.nodes:
                raise ConfigError(
                    f"source table `{sname}.{tname}` is declared twice",
                    location=loc_of(table, "name"),
                )
            from headwater.project.definition import Relation

            node = Node(
                unique_id=uid,
                name=str(tname),
                resource_type="source",
                path=table.path,
                line=table.line,
                package=self.config.name,
                fqn=[self.config.name, str(sname), str(tname)],
                description=str(table.get("description") or ""),
                config=self._source_config(src, table)
                | connector_config(src, table, self.root / self.config.raw_data),
                columns=self._columns(table),
                relation=Relation(schema=schema, identifier=str(table.get("identifier") or tname)),
                source_name=str(sname),
                files=file_spec(table),
                loaded_at_field=table.get("loaded_at_field", src.get("loaded_at_field")),
                freshness=merge_freshness(src.get("freshness"), table["freshness"])
                if "freshness" in table
                else src.get("freshness"),
                meta=dict(table.get("meta") or {}),
            )
            external = external_location(src, table, node)
            if external is not None:
                node.relation = Relation(
                    schema=schema, identifier=node.relation.identifier, external=external
                )  # type: ignore[union-attr]
            self.project.nodes[uid] = node
            self._add_tests(node, table)

    def _source_config(self, src: YMap, table: YMap) -> dict:
        """dbt's source configs (`enabled`, `event_time`, `meta`, `freshness`, ...) from the source
        and then the table, plus the tags of both."""
        config: dict = {}
        for level in (src, table):
            cfg = level.get("config") or {}
            expect_type(cfg, dict, "`config`", level, "config")
            check_keys(cfg, SOURCE_CONFIG_KEYS, "the config of a source")
            _merge_config(config, dict(cfg))
        for level in (src, table):
            for key in OBSERVE_KEYS:
                if level.get(key) is not None:
                    config[key] = level.get(key)
        config["tags"] = (
            as_list(src.get("tags"))
            + as_list(table.get("tags"))
            + [
                t
                for t in as_list(config.get("tags"))
                if t not in as_list(src.get("tags")) + as_list(table.get("tags"))
            ]
        )
        return config

    # -- models ---------------------------------------------------------------------------
    def _read_models(self) -> None:
        for base in self.config.model_paths:
            base_dir = self.base / base
            if not base_dir.is_dir():
                continue
            for path in sorted(
                p for p in base_dir.rglob("*") if p.suffix in (".sql", ".py") and p.is_file()
            ):
                self._guard(lambda path=path, base_dir=base_dir: self._read_model(path, base_dir))

    def _read_model(self, path: Path, base_dir: Path) -> None:
        name = path.stem
        uid = f"model.{self.config.name}.{name}"
        rel = self._rel(path)
        if uid in self.project.nodes:
            raise ConfigError(
                f"two models are named `{name}`: `{self.project.nodes[uid].path}` and `{rel}`",
                location=Location(rel),
                hint="model names must be unique across folders; rename one file",
            )
        folders = list(path.relative_to(base_dir).parent.parts)
        config = {"materialized": "view"}
        config.update(self._folder_config(self.config.models, folders, "models", path.stem))
        version, version_entry = None, None
        if name in self._versions:
            name, version, version_entry = self._versions[path.stem]
            uid = f"model.{self.config.name}.{name}.v{version}"
        props, _props_path = self._properties.get(name, (None, None))
        node = Node(
            unique_id=uid,
            name=name,
            resource_type="model",
            path=rel,
            line=1,
            package=self.config.name,
            fqn=[self.config.name, *folders, name]
            + ([f"v{version}"] if version is not None else []),
            raw_sql=self._read_text(path),
            config=config,
            language="python" if path.suffix == ".py" else "sql",
            version=version,
        )
        node.checksum = self.project.files[rel]
        if props is not None:
            try:
                self._apply_properties(node, props, version_entry)
            except HeadwaterError as exc:  # the model stays, marked: its tests and docs are broken
                node.problem = exc.render()
                self.project.problems.append(exc)
                self.project.problem_nodes[id(exc)] = uid
                for test_uid in [
                    u for u, n in self.project.nodes.items() if n.test and n.test.attached_to == uid
                ]:
                    del self.project.nodes[test_uid]
        if version is not None:
            latest = props.get("latest_version") if props is not None else None
            node.config["_latest_version"] = str(latest) if latest is not None else None
        if node.language == "python":
            from headwater.project.python_models import read_python_model

            info = read_python_model(node.raw_sql or "", rel)
            _merge_config(node.config, info.config)
            if (
                node.config.get("materialized") == "view"
            ):  # a folder's default; Python models are tables
                node.config["materialized"] = "table"
            node.config["_python"] = info
        self.project.nodes[uid] = node

    def _apply_properties(self, node: Node, props: YMap, version: YMap | None = None) -> None:
        node.description = str(props.get("description") or "")
        for level in (props, version) if version is not None else (props,):
            cfg = level.get("config") or {}
            expect_type(cfg, dict, "`config`", level, "config")
            check_config_keys(cfg, f"model `{node.name}`")
            _merge_config(node.config, cfg)
            if level.get("tags"):
                node.config["tags"] = list(node.config.get("tags") or []) + as_list(level["tags"])
            node.meta.update(level.get("meta") or {})
        node.columns = self._columns(props)
        if version is not None and version.get("columns") is not None:
            node.columns = version_columns(
                node.columns, self._columns(without_include(version)), version
            )
        if props.get("constraints") is not None:
            node.config["constraints"] = constraints(props.get("constraints"), props, column=False)
        self._add_tests(node, props)

    def _folder_config(
        self, tree: dict, folders: list[str], kind: str, name: str | None = None
    ) -> dict:
        """Collect `+key` configs along ``folders`` (and the node ``name``, dbt's last fqn part)
        from a dbt-style config tree."""
        folders = [*folders, name] if name else folders
        out: dict[str, Any] = {}
        level = tree
        if self.config.name in level and isinstance(level[self.config.name], dict):
            _take_config(out, level, self.config.name, kind)
            level = level[self.config.name]
        for start in (
            level,
            self._root_tree(kind),
        ):  # the package's own tree, then the root's for it
            if not start:
                continue
            _take_config(out, start, None, kind)
            for folder in folders:
                start = start.get(folder)
                if not isinstance(start, dict):
                    break
                _take_config(out, start, None, kind)
        return out

    def _check_folder_tree(self, tree: dict, paths: list[str], kind: str) -> None:
        """A key under `models:` that nearly names an existing folder is a typo: an error."""
        level = tree
        if isinstance(level.get(self.config.name), dict):
            level = level[self.config.name]
        self._check_level(level, [self.base / p for p in paths], kind)

    def _check_level(self, level: dict, dirs: list[Path], kind: str) -> None:
        for key, value in level.items():
            if not isinstance(value, dict) or str(key).startswith("+") or key in ("column_types",):
                continue
            subdirs = [d / str(key) for d in dirs if (d / str(key)).is_dir()]
            if not subdirs and any(
                p.stem == str(key) for d in dirs if d.is_dir() for p in d.iterdir() if p.is_file()
            ):
                continue  # config of one node (`stg_orders: {+enabled: false}`)
            if not subdirs:
                existing = sorted(
                    {p.name for d in dirs if d.is_dir() for p in d.iterdir() if p.is_dir()}
                )
                if not did_you_mean(str(key), existing):
                    continue  # config for a folder that does not exist (yet): ignored, as in dbt
                raise UnknownKeyError(
                    f"`{kind}:` configures folder `{key}`, which does not exist"
                    + did_you_mean(str(key), existing),
                    location=loc_of(level, key),
                    hint="folders here: "
                    + (", ".join(existing) or "(none)")
                    + "; configs need a `+` prefix, e.g. `+materialized: table`",
                )
            self._check_level(value, subdirs, kind)

    def _columns(self, entry: YMap) -> dict[str, Column]:
        out = {}
        for col in as_list(entry.get("columns")):
            expect_type(col, dict, "a column entry", entry.get("columns"))
            check_keys(col, COLUMN_KEYS, "a column")
            cname = col.get("name")
            if not cname:
                raise ConfigError("a column entry needs `name:`", location=loc_of(col))
            out[str(cname)] = Column(
                name=str(cname),
                description=str(col.get("description") or ""),
                data_type=col.get("data_type"),
                tags=as_list(col.get("tags")),
                meta=dict(col.get("meta") or {}),
                constraints=constraints(col.get("constraints"), col, column=True),
            )
        return out

    # -- tests ----------------------------------------------------------------------------
    def _add_tests(self, node: Node, entry: YMap) -> None:
        for spec, where in test_entries(entry, None):
            self._add_generic_test(node, spec, where, None)
        for spec, where in expectation_entries(entry):
            self._add_expectation(node, spec, where, None)
        for col in as_list(entry.get("columns")):
            for spec, where in test_entries(col, col.get("name")):
                self._add_generic_test(node, spec, where, str(col.get("name")))
            for spec, where in expectation_entries(col):
                self._add_expectation(node, spec, where, str(col.get("name")))

    def _add_expectation(
        self, node: Node, spec: Any, where: Location | None, column: str | None
    ) -> None:
        """An `expectations:` entry: a Great Expectations expectation run as a check of ``node``."""
        from headwater.quality.expectations import parse_expectation

        spec, config = split_expectation_config(spec, where)
        expectation = parse_expectation(spec, column=column, location=where, node=node.display_name)
        config["severity"] = {"critical": "error"}.get(expectation.severity, "warn")
        self._add_test_node(
            node,
            expectation.type,
            {"expectation": expectation.to_json_dict()},
            config,
            where,
            column,
            kind="expectation",
            suffix_kwargs={k: v for k, v in expectation.kwargs.items() if k != "column"},
        )

    def _add_generic_test(
        self, node: Node, spec: Any, where: Location | None, column: str | None
    ) -> None:
        test_name, kwargs, config = parse_test_spec(spec, where)
        if "name" not in config:
            full, short = dbt_test_names(node, test_name, kwargs, column)
            config["name"] = full
            if short != full:
                config.setdefault("alias", short)  # dbt's name of its store_failures table
        self._add_test_node(node, test_name, kwargs, config, where, column)

    def _add_test_node(
        self,
        node: Node,
        test_name: str,
        kwargs: dict,
        config: dict,
        where: Location | None,
        column: str | None,
        kind: str = "generic",
        suffix_kwargs: dict | None = None,
    ) -> None:
        target = node.display_name.replace(".", "_")
        prefix = "source_" if node.resource_type == "source" else ""
        base = f"{prefix}{test_name.split('.')[-1]}_{target}" + (f"_{column}" if column else "")
        suffix = kwargs_suffix(kwargs if suffix_kwargs is None else suffix_kwargs)
        name = config.pop("name", None) or (f"{base}__{suffix}" if suffix else base)
        if kind != "generic":
            name = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")[:120]
        uid = f"test.{self.config.name}.{name}"
        if uid in self.project.nodes:  # as dbt: the same name, told apart by a hash in the id
            digest = hashlib.md5(
                repr((node.unique_id, test_name, sorted(kwargs.items(), key=str), column)).encode()
            )
            base_uid, n = f"{uid}.{digest.hexdigest()[:10]}", 2
            uid = base_uid
            while uid in self.project.nodes:  # the very same test declared twice
                uid, n = f"{base_uid}_{n}", n + 1
        tconfig = {"severity": "error"}
        tconfig.update(self._folder_config(self.config.tests, [], "tests"))
        tconfig.update(config)
        for key in ("warn_if", "error_if"):
            if key in tconfig:
                from headwater.quality.evaluator import parse_threshold

                try:
                    parse_threshold(tconfig[key])
                except ConfigError as exc:
                    raise ConfigError(
                        exc.message, location=where, node=node.display_name, hint=exc.hint
                    ) from None
        self.project.nodes[uid] = Node(
            unique_id=uid,
            name=name,
            resource_type="test",
            path=where.path if where else node.path,
            line=where.line if where else None,
            package=self.config.name,
            fqn=[self.config.name, *node.fqn[1:-1], name],
            config=tconfig,
            test=CheckSpec(
                name=test_name, kwargs=kwargs, column=column, attached_to=node.unique_id, kind=kind
            ),
            depends_on=[node.unique_id],
        )

    def _read_singular_tests(self) -> None:
        generic = [self.base / d for d in self._generic_test_dirs()]
        for path in self._glob(self.config.test_paths, (".sql",)):
            if any(path.is_relative_to(g) for g in generic):
                continue  # generic tests: read with the macros
            name = path.stem
            uid = f"test.{self.config.name}.{name}"
            rel = self._rel(path)
            if uid in self.project.nodes:
                raise ConfigError(f"two tests are named `{name}`", location=Location(rel))
            tconfig = {"severity": "error"}
            tconfig.update(self._folder_config(self.config.tests, [], "tests"))
            self.project.nodes[uid] = Node(
                unique_id=uid,
                name=name,
                resource_type="test",
                path=rel,
                line=1,
                package=self.config.name,
                fqn=[self.config.name, name],
                raw_sql=self._read_text(path),
                config=tconfig,
                test=CheckSpec(name="singular", kind="singular"),
            )

    # -- seeds and analyses -----------------------------------------------------------------
    def _read_seeds(self) -> None:
        from headwater.project.definition import Relation

        for base in self.config.seed_paths:
            base_dir = self.base / base
            if not base_dir.is_dir():
                continue
            for path in sorted(base_dir.rglob("*.csv")):
                name = path.stem
                rel = self._rel(path)
                folders = list(path.relative_to(base_dir).parent.parts)
                config = self._folder_config(self.config.seeds, folders, "seeds", name)
                props = self._seed_properties.get(name)
                uid = f"seed.{self.config.name}.{name}"
                if uid in self.project.nodes:
                    raise ConfigError(f"two seeds are named `{name}`", location=Location(rel))
                node = Node(
                    unique_id=uid, name=name, resource_type="seed", path=rel, line=1,
                    package=self.config.name, fqn=[self.config.name, *folders, name], config=config,
                    relation=Relation(schema=self.target.schema, identifier=name),
                )  # fmt: skip
                node.checksum = file_hash(path.read_bytes())
                self.project.files[rel] = node.checksum
                if props is not None:
                    self._apply_properties(node, props)
                self.project.nodes[uid] = node

    def _read_analyses(self) -> None:
        for path in self._glob(self.config.analysis_paths, (".sql",)):
            uid = f"analysis.{self.config.name}.{path.stem}"
            self.project.nodes[uid] = Node(
                unique_id=uid, name=path.stem, resource_type="analysis", path=self._rel(path),
                line=1, package=self.config.name, fqn=[self.config.name, "analysis", path.stem],
                raw_sql=self._read_text(path), config={"materialized": "analysis"},
            )  # fmt: skip


# -- helpers --------------------------------------------------------------------------------
_CONFIG_SHORTHAND = {
    "materialized",
    "schema",
    "alias",
    "tags",
    "enabled",
    "column_types",
    "severity",
    "meta",
    "docs",
}


def _take_config(out: dict, level: dict, skip: str | None, kind: str) -> None:
    for key, value in level.items():
        if key == skip:
            continue
        if isinstance(key, str) and key.startswith("+"):
            check_config_keys({key: value}, f"`{kind}:` of the project file")
            _merge_config(out, {key[1:]: value})
        elif (key in _CONFIG_SHORTHAND and not isinstance(value, dict)) or key in ("column_types",):
            _merge_config(out, {key: value})
        elif not isinstance(value, dict):
            raise UnknownKeyError(
                f"`{key}: {value!r}` under `{kind}:` is neither a folder nor a `+config`"
                + did_you_mean(str(key), _CONFIG_SHORTHAND),
                location=loc_of(level, key),
                hint=f"write configs with a `+` prefix, e.g. `+{key}: {value}`",
            )


def _merge_config(out: dict, new: dict) -> None:
    for key, value in new.items():
        key = str(key).lstrip("+").replace("-", "_")
        if key in ("pre_hook", "post_hook"):  # hooks add up across levels, as in dbt
            out[key] = as_list(out.get(key)) + as_list(value)
        elif key == "tags":
            tags = list(out.get("tags") or [])
            tags.extend(t for t in as_list(value) if t not in tags)
            out["tags"] = tags
        elif key == "meta" and isinstance(value, dict):
            out["meta"] = {**(out.get("meta") or {}), **value}
        else:
            out[key] = value
