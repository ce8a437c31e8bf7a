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
    Location,
    UnknownKeyError,
    did_you_mean,
)
from headwater.project.definition import CheckSpec, Column, Node, ProjectConfig, Target
from headwater.project.files import find_project_file
from headwater.project.sources import connector_config, file_spec
from headwater.project.validate import as_list, check_config_keys, check_keys, expect_type, loc_of
from headwater.project.yaml import YMap, load_yaml_file

PROJECT_KEYS = {
    "name", "version", "default_target", "targets", "vars", "models", "seeds", "tests",
    "data_tests", "sources", "raw_data", "model-paths", "model_paths", "seed-paths", "seed_paths",
    "test-paths", "test_paths", "macro-paths", "macro_paths", "snapshot-paths", "snapshot_paths",
    "analysis-paths", "analysis_paths", "state_dir", "config-version", "profile", "require-dbt-version",
    "target-path", "clean-targets", "snapshots", "on-run-start", "on-run-end", "dispatch",
    "flags", "quoting", "docs-paths", "asset-paths", "packages-install-path", "query-comment",
    "observability",
}  # fmt: skip
TARGET_KEYS = {"engine", "type", "path", "schema", "threads", "memory_limit", "settings", "lock_timeout"}
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
    "monitors", "profile", "max_duration", "schema_change",
}  # fmt: skip
OBSERVE_KEYS = ("monitors", "profile", "max_duration", "schema_change")
"""Observability settings a source or source table may give beside `config:` (into the node's config)."""
TEST_CONFIG_KEYS = {
    "severity", "where", "limit", "warn_if", "error_if", "store_failures", "store_failures_as",
    "tags", "enabled", "meta", "fail_calc", "alias", "schema", "database", "on_failure",
}  # fmt: skip
# Keys of an expectation entry that configure headwater's handling rather than the expectation.
EXPECTATION_CONFIG_KEYS = {"on_failure", "tags", "enabled", "name", "store_failures", "config"}


@dataclass
class Project:
    """A project as read from disk, before compilation."""

    config: ProjectConfig
    nodes: dict[str, Node] = field(default_factory=dict)
    macros: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    """Relative path -> content hash of every file read."""


def read_project_config(project_dir: Path, target_name: str | None = None) -> ProjectConfig:
    """Read `headwater.yml` (or `dbt_project.yml`) into a `ProjectConfig`."""
    root = project_dir.resolve()
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
            "the project needs a `name:`", location=Location(path.name, 1), hint="add `name: my_project`"
        )
    cfg = ProjectConfig(name=name, root=str(root), config_file=path.name)
    cfg.version = str(data.get("version", "1"))
    cfg.vars = dict(expect_type(data.get("vars") or {}, dict, "`vars`", data, "vars"))
    cfg.models = expect_type(data.get("models") or {}, dict, "`models`", data, "models")
    cfg.seeds = expect_type(data.get("seeds") or {}, dict, "`seeds`", data, "seeds")
    cfg.snapshots = expect_type(data.get("snapshots") or {}, dict, "`snapshots`", data, "snapshots")
    cfg.tests = expect_type(data.get("data_tests") or data.get("tests") or {}, dict, "`tests`", data)
    cfg.raw_data = str(data.get("raw_data", cfg.raw_data))
    cfg.state_dir = str(data.get("state_dir", cfg.state_dir))
    cfg.observability = dict(expect_type(data.get("observability") or {}, dict, "`observability`", data, "observability"))
    for attr in ("model", "seed", "test", "macro", "snapshot", "analysis"):
        value = data.get(f"{attr}-paths", data.get(f"{attr}_paths"))
        if value is not None:
            setattr(cfg, f"{attr}_paths", [str(v) for v in as_list(value)])
    cfg.targets = _read_targets(data, cfg)
    cfg.default_target = str(data.get("default_target") or next(iter(cfg.targets)))
    if cfg.default_target not in cfg.targets:
        raise ConfigError(
            f"default_target `{cfg.default_target}` is not defined under `targets:`"
            + did_you_mean(cfg.default_target, cfg.targets),
            location=loc_of(data, "default_target"),
        )
    return cfg


def _seconds(spec: YMap, key: str, target: str) -> float:
    value = spec.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(
            f"`{key}` of target `{target}` must be a number of seconds (0 or more), got `{value!r}`",
            location=loc_of(spec, key),
        )
    return float(value)


def _read_targets(data: YMap, cfg: ProjectConfig) -> dict[str, Target]:
    raw = data.get("targets")
    if raw is None:
        return {"dev": Target(name="dev", path=f"{cfg.state_dir}/warehouse.duckdb")}
    expect_type(raw, dict, "`targets`", data, "targets")
    out = {}
    for tname, spec in raw.items():
        expect_type(spec, dict, f"target `{tname}`", raw, tname)
        check_keys(spec, TARGET_KEYS, f"target `{tname}`")
        threads = spec.get("threads", 4)
        if not isinstance(threads, int) or threads < 1:
            raise ConfigError(
                f"`threads` of target `{tname}` must be a positive integer, got `{threads!r}`",
                location=loc_of(spec, "threads"),
            )
        out[str(tname)] = Target(
            name=str(tname),
            engine=str(spec.get("engine", spec.get("type", "duckdb"))),
            path=spec.get("path", f"{cfg.state_dir}/warehouse.duckdb"),
            schema=str(spec.get("schema", "main")),
            threads=threads,
            memory_limit=spec.get("memory_limit"),
            settings=dict(spec.get("settings") or {}),
            lock_timeout=_seconds(spec, "lock_timeout", str(tname)),
        )
    if not out:
        raise ConfigError("`targets:` is empty", location=loc_of(data, "targets"))
    return out


def file_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


class ProjectReader:
    """Builds a `Project` from the files of a project folder."""

    def __init__(self, config: ProjectConfig, target: Target) -> None:
        self.config = config
        self.target = target
        self.root = Path(config.root)
        self.project = Project(config=config)
        self._properties: dict[str, tuple[YMap, str]] = {}
        self._seed_properties: dict[str, YMap] = {}
        self._snapshot_entries: list[tuple[Any, Path]] = []

    # -- public -----------------------------------------------------------------------------
    def read(self) -> Project:
        self._check_folder_tree(self.config.models, self.config.model_paths, "models")
        self._check_folder_tree(self.config.seeds, self.config.seed_paths, "seeds")
        self._read_macros()
        self._read_properties()
        self._read_models()
        self._read_seeds()
        from headwater.project.snapshots import SnapshotReader

        SnapshotReader(self, self._snapshot_entries).read()
        self._read_singular_tests()
        self._read_analyses()
        self._check_properties_used()
        return self.project

    # -- files ----------------------------------------------------------------------------
    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _read_text(self, path: Path) -> str:
        data = path.read_bytes()
        self.project.files[self._rel(path)] = file_hash(data)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"file is not UTF-8 text: {exc}", location=Location(self._rel(path))) from None

    def _glob(self, dirs: list[str], suffixes: tuple[str, ...]) -> list[Path]:
        out: list[Path] = []
        for d in dirs:
            base = self.root / d
            if base.is_dir():
                out.extend(p for p in sorted(base.rglob("*")) if p.suffix in suffixes and p.is_file())
        return out

    def _read_macros(self) -> None:
        for path in self._glob(self.config.macro_paths, (".sql",)):
            self.project.macros[self._rel(path)] = self._read_text(path)

    # -- properties (.yml) --------------------------------------------------------------------
    def _read_properties(self) -> None:
        dirs = list(dict.fromkeys(self.config.model_paths + self.config.seed_paths + self.config.snapshot_paths))
        paths = self._glob(dirs, (".yml", ".yaml"))
        if (self.root / "sources.yml").is_file():
            paths.insert(0, self.root / "sources.yml")
        for path in paths:
            self._read_text(path)
            data = load_yaml_file(path, self.root)
            if data is None:
                continue
            expect_type(data, dict, f"`{self._rel(path)}`", data)
            check_keys(data, PROPERTIES_KEYS, "a properties file")
            for entry in as_list(data.get("models")):
                self._remember_model_properties(entry, path)
            for entry in as_list(data.get("seeds")):
                expect_type(entry, dict, "a seed entry", data.get("seeds"))
                self._seed_properties[str(entry.get("name"))] = entry
            for entry in as_list(data.get("sources")):
                self._read_source(entry)
            self._snapshot_entries.extend((entry, path) for entry in as_list(data.get("snapshots")))

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

    def _check_properties_used(self) -> None:
        names = {n.name for n in self.project.nodes.values() if n.resource_type == "model"}
        for name, (entry, _) in self._properties.items():
            if name not in names:
                raise ConfigError(
                    f"properties describe model `{name}` but there is no `{name}.sql`"
                    + did_you_mean(name, names),
                    location=loc_of(entry, "name"),
                    hint="rename the entry or create the model file",
                )
        seeds = {n.name for n in self.project.nodes.values() if n.resource_type == "seed"}
        for name, entry in self._seed_properties.items():
            if name not in seeds:
                raise ConfigError(
                    f"properties describe seed `{name}` but there is no `{name}.csv`" + did_you_mean(name, seeds),
                    location=loc_of(entry, "name"),
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
                raise ConfigError(f"a table of source `{sname}` needs `name:`", location=loc_of(table))
            uid = f"source.{self.config.name}.{sname}.{tname}"
            if uid in self.project.nodes:
                raise ConfigError(f"source table `{sname}.{tname}` is declared twice", location=loc_of(table, "name"))
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
                config=self._source_config(src, table) | connector_config(src, table, self.root / self.config.raw_data),
                columns=self._columns(table),
                relation=Relation(schema=schema, identifier=str(table.get("identifier") or tname)),
                source_name=str(sname),
                files=file_spec(table),
                loaded_at_field=table.get("loaded_at_field", src.get("loaded_at_field")),
                freshness=_merge_freshness(src.get("freshness"), table["freshness"]) if "freshness" in table
                else src.get("freshness"),
                meta=dict(table.get("meta") or {}),
            )
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
        config["tags"] = as_list(src.get("tags")) + as_list(table.get("tags")) + [
            t for t in as_list(config.get("tags")) if t not in as_list(src.get("tags")) + as_list(table.get("tags"))
        ]
        return config

    # -- models ---------------------------------------------------------------------------
    def _read_models(self) -> None:
        for base in self.config.model_paths:
            base_dir = self.root / base
            if not base_dir.is_dir():
                continue
            for path in sorted(base_dir.rglob("*.sql")):
                self._read_model(path, base_dir)

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
        config.update(self._folder_config(self.config.models, folders, "models"))
        props, _props_path = self._properties.get(name, (None, None))
        node = Node(
            unique_id=uid,
            name=name,
            resource_type="model",
            path=rel,
            line=1,
            package=self.config.name,
            fqn=[self.config.name, *folders, name],
            raw_sql=self._read_text(path),
            config=config,
        )
        node.checksum = self.project.files[rel]
        if props is not None:
            self._apply_properties(node, props)
        self.project.nodes[uid] = node

    def _apply_properties(self, node: Node, props: YMap) -> None:
        node.description = str(props.get("description") or "")
        cfg = props.get("config") or {}
        expect_type(cfg, dict, "`config`", props, "config")
        check_config_keys(cfg, f"model `{node.name}`")
        _merge_config(node.config, cfg)
        if props.get("tags"):
            node.config["tags"] = list(node.config.get("tags") or []) + as_list(props["tags"])
        node.meta.update(props.get("meta") or {})
        node.columns = self._columns(props)
        if props.get("constraints") is not None:
            node.config["constraints"] = _constraints(props.get("constraints"), props, column=False)
        self._add_tests(node, props)

    def _folder_config(self, tree: dict, folders: list[str], kind: str) -> dict:
        """Collect `+key` configs along ``folders`` from a dbt-style config tree."""
        out: dict[str, Any] = {}
        level = tree
        if self.config.name in level and isinstance(level[self.config.name], dict):
            _take_config(out, level, self.config.name, kind)
            level = level[self.config.name]
        _take_config(out, level, None, kind)
        for folder in folders:
            sub = level.get(folder)
            if not isinstance(sub, dict):
                break
            _take_config(out, sub, None, kind)
            level = sub
        return out

    def _check_folder_tree(self, tree: dict, paths: list[str], kind: str) -> None:
        """A key under `models:` that nearly names an existing folder is a typo: an error."""
        level = tree
        if isinstance(level.get(self.config.name), dict):
            level = level[self.config.name]
        self._check_level(level, [self.root / p for p in paths], kind)

    def _check_level(self, level: dict, dirs: list[Path], kind: str) -> None:
        for key, value in level.items():
            if not isinstance(value, dict) or str(key).startswith("+") or key in ("column_types",):
                continue
            subdirs = [d / str(key) for d in dirs if (d / str(key)).is_dir()]
            if not subdirs:
                existing = sorted({p.name for d in dirs if d.is_dir() for p in d.iterdir() if p.is_dir()})
                if not did_you_mean(str(key), existing):
                    continue  # config for a folder that does not exist (yet): ignored, as in dbt
                raise UnknownKeyError(
                    f"`{kind}:` configures folder `{key}`, which does not exist"
                    + did_you_mean(str(key), existing),
                    location=loc_of(level, key),
                    hint="folders here: " + (", ".join(existing) or "(none)")
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
                constraints=_constraints(col.get("constraints"), col, column=True),
            )
        return out

    # -- tests ----------------------------------------------------------------------------
    def _add_tests(self, node: Node, entry: YMap) -> None:
        for spec, where in _test_entries(entry, None):
            self._add_generic_test(node, spec, where, None)
        for spec, where in _expectation_entries(entry):
            self._add_expectation(node, spec, where, None)
        for col in as_list(entry.get("columns")):
            for spec, where in _test_entries(col, col.get("name")):
                self._add_generic_test(node, spec, where, str(col.get("name")))
            for spec, where in _expectation_entries(col):
                self._add_expectation(node, spec, where, str(col.get("name")))

    def _add_expectation(self, node: Node, spec: Any, where: Location | None, column: str | None) -> None:
        """An `expectations:` entry: a Great Expectations expectation run as a check of ``node``."""
        from headwater.quality.expectations import parse_expectation

        spec, config = _split_expectation_config(spec, where)
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

    def _add_generic_test(self, node: Node, spec: Any, where: Location | None, column: str | None) -> None:
        test_name, kwargs, config = _parse_test_spec(spec, where)
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
        suffix = _kwargs_suffix(kwargs if suffix_kwargs is None else suffix_kwargs)
        name = config.pop("name", None) or (f"{base}__{suffix}" if suffix else base)
        name = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")[:120]
        uid = f"test.{self.config.name}.{name}"
        n = 2
        while uid in self.project.nodes:
            uid = f"test.{self.config.name}.{name}_{n}"
            n += 1
        tconfig = {"severity": "error"}
        tconfig.update(self._folder_config(self.config.tests, [], "tests"))
        tconfig.update(config)
        for key in ("warn_if", "error_if"):
            if key in tconfig:
                from headwater.quality.evaluator import parse_threshold

                try:
                    parse_threshold(tconfig[key])
                except ConfigError as exc:
                    raise ConfigError(exc.message, location=where, node=node.display_name, hint=exc.hint) from None
        self.project.nodes[uid] = Node(
            unique_id=uid,
            name=uid.split(".", 2)[2],
            resource_type="test",
            path=where.path if where else node.path,
            line=where.line if where else None,
            package=self.config.name,
            fqn=[self.config.name, *node.fqn[1:-1], uid.split(".", 2)[2]],
            config=tconfig,
            test=CheckSpec(name=test_name, kwargs=kwargs, column=column, attached_to=node.unique_id, kind=kind),
            depends_on=[node.unique_id],
        )

    def _read_singular_tests(self) -> None:
        for path in self._glob(self.config.test_paths, (".sql",)):
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
            base_dir = self.root / base
            if not base_dir.is_dir():
                continue
            for path in sorted(base_dir.rglob("*.csv")):
                name = path.stem
                rel = self._rel(path)
                folders = list(path.relative_to(base_dir).parent.parts)
                config = self._folder_config(self.config.seeds, folders, "seeds")
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
_CONFIG_SHORTHAND = {"materialized", "schema", "alias", "tags", "enabled", "column_types", "severity", "meta", "docs"}


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
        if key == "tags":
            tags = list(out.get("tags") or [])
            tags.extend(t for t in as_list(value) if t not in tags)
            out["tags"] = tags
        elif key == "meta" and isinstance(value, dict):
            out["meta"] = {**(out.get("meta") or {}), **value}
        else:
            out[key] = value


def _test_entries(entry: Any, column: Any) -> list[tuple[Any, Location | None]]:
    out = []
    for key in ("data_tests", "tests"):
        items = entry.get(key)
        if items is None:
            continue
        expect_type(items, list, f"`{key}`", entry, key)
        for i, item in enumerate(items):
            out.append((item, loc_of(items, i)))
    return out


def _expectation_entries(entry: Any) -> list[tuple[Any, Location | None]]:
    items = entry.get("expectations")
    if items is None:
        return []
    expect_type(items, list, "`expectations`", entry, "expectations")
    return [(item, loc_of(items, i)) for i, item in enumerate(items)]


def _split_expectation_config(spec: Any, where: Location | None) -> tuple[Any, dict]:
    """Take headwater's own keys (`on_failure`, `config: {...}`, `tags`, ...) out of an
    expectation entry; what remains is the expectation as Great Expectations writes it."""
    if not isinstance(spec, dict):
        return spec, {}
    spec = dict(spec)
    config: dict = {}
    body_key = next((k for k in spec if isinstance(k, str) and k.startswith("expect")), None)
    holders = [spec]
    if body_key is not None and isinstance(spec.get(body_key), dict):
        spec[body_key] = dict(spec[body_key])
        holders.append(spec[body_key])
    for holder in holders:
        for key in EXPECTATION_CONFIG_KEYS & set(holder):
            value = holder.pop(key)
            if key == "config":
                expect_type(value, dict, "`config` of an expectation", None)
                config.update(value)
            else:
                config[key] = value
    check_keys(config, TEST_CONFIG_KEYS | {"name"}, "the config of an expectation")
    return spec, config


_CONSTRAINT_TYPES = ("not_null", "unique", "primary_key", "check", "foreign_key", "custom")


def _constraints(value: Any, owner: Any, column: bool) -> list[dict]:
    """dbt contract constraints, validated: `[{type: not_null}, {type: check, expression: ...}]`."""
    if value is None:
        return []
    expect_type(value, list, "`constraints`", owner, "constraints")
    out = []
    for i, item in enumerate(value):
        where = loc_of(value, i)
        if not isinstance(item, dict) or "type" not in item:
            raise ConfigError(
                f"a constraint must be a mapping with `type:`, got `{item!r}`",
                location=where,
                hint="e.g. `- type: not_null` or `- type: check\n  expression: amount >= 0`",
            )
        kind = str(item["type"])
        if kind not in _CONSTRAINT_TYPES:
            raise UnknownKeyError(
                f"unknown constraint type `{kind}`" + did_you_mean(kind, _CONSTRAINT_TYPES), location=where
            )
        if kind == "check" and not item.get("expression"):
            raise ConfigError("a `check` constraint needs `expression:`", location=where)
        if not column and kind in ("not_null", "unique", "primary_key") and not item.get("columns"):
            raise ConfigError(
                f"a model-level `{kind}` constraint needs `columns: [...]`",
                location=where,
                hint="or declare it under the column",
            )
        out.append(dict(item))
    return out


def _parse_test_spec(spec: Any, where: Location | None) -> tuple[str, dict, dict]:
    """`unique` | `{accepted_values: {values: [...], config: {...}}}` -> (name, kwargs, config)."""
    if isinstance(spec, str):
        return spec, {}, {}
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ConfigError(
            f"a test must be a name or a mapping with one key, got `{spec!r}`",
            location=where,
            hint="write `- unique` or `- accepted_values: {values: [a, b]}`",
        )
    name, body = next(iter(spec.items()))
    body = dict(body or {})
    config = dict(body.pop("config", None) or {})
    kwargs = dict(body.pop("arguments", None) or {})
    for key in list(body):
        if key in TEST_CONFIG_KEYS or key == "name":
            config[key] = body.pop(key)
    kwargs.update(body)
    check_keys(config, TEST_CONFIG_KEYS | {"name"}, f"the config of test `{name}`")
    return str(name), kwargs, config


def _kwargs_suffix(kwargs: dict) -> str:
    if not kwargs:
        return ""
    parts = []
    for key in sorted(kwargs):
        value = kwargs[key]
        if isinstance(value, list | tuple):
            value = "_".join(str(v) for v in value)
        parts.append(str(value))
    text = re.sub(r"[^A-Za-z0-9_]+", "_", "__".join(parts)).strip("_")
    if len(text) > 40:
        text = text[:24] + "_" + hashlib.md5(text.encode()).hexdigest()[:8]
    return text


def _merge_freshness(base: Any, update: Any) -> Any:
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
