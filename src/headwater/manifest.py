"""Load a project into a compiled manifest, with an on-disk cache keyed by file contents.

A warm load (nothing changed) reads headwater.yml's bytes, hashes the project files and unpickles
the compiled nodes: no YAML, Jinja or sqlglot import. Anything that changed triggers a full
parse; sqlglot results are still reused per model by the hash of its compiled SQL.

Cache files are sealed with a key kept outside the project (`headwater.private`): a
`.headwater/cache/` shipped in a repository is never unpickled, only parsed over.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.errors import HeadwaterError, TargetNotFoundError, did_you_mean
from headwater.private import read_sealed, write_sealed
from headwater.project.definition import Node, ProjectConfig, Target
from headwater.version import __version__

if TYPE_CHECKING:
    from headwater.errors import Location
    from headwater.project.test_specs import ParsedExpectation
    from headwater.sql.parse import ParseCache

CACHE_FORMAT = 3  # 3: packages, problems, hooks, Target.extensions (issue 12)


@dataclass
class Manifest:
    config: ProjectConfig
    target: Target
    nodes: dict[str, Node]
    dialect: str
    files: dict[str, str] = field(default_factory=dict)
    env_vars: dict[str, str | None] = field(default_factory=dict)
    from_cache: bool = False
    problems: list[Problem] = field(default_factory=list)
    """What could not be loaded; the nodes concerned carry `problem`, the rest compiled."""
    runtime: RuntimeInputs | None = None
    """What rendering a node again at run time needs (introspective models, hooks)."""
    warnings: list[str] = field(default_factory=list)
    """Load warnings (file:line first), printed by the CLI."""
    volatile: bool = False
    """Compiled from something besides the project's files (a lake table's versions, read by
    `ref(..., version=/as_of=)`): never cached, so a version committed later is seen."""

    def raise_problems(self) -> None:
        """Raise the load's problems: the one error as it was, or all of them listed."""
        if len(self.problems) == 1:
            raise self.problems[0].error()
        if self.problems:
            from headwater.errors import ProjectProblems

            raise ProjectProblems([p.error() for p in self.problems])


@dataclass
class Problem:
    """A load error, kept with the manifest (exceptions do not pickle reliably)."""

    message: str
    path: str | None = None
    line: int | None = None
    node: str | None = None
    hint: str | None = None
    snippet: str | None = None
    kind: str = "ConfigError"
    node_id: str | None = None
    """The node the problem stops (None: a file or macro that no single node owns)."""

    @classmethod
    def of(cls, exc: HeadwaterError, node_id: str | None = None) -> Problem:
        loc = exc.location
        return cls(exc.message, loc.path if loc else None, loc.line if loc else None, exc.node, exc.hint,
                   exc.snippet, type(exc).__name__, node_id)  # fmt: skip

    def error(self) -> HeadwaterError:
        from headwater import errors

        cls = getattr(errors, self.kind, None)
        if (
            not (isinstance(cls, type) and issubclass(cls, errors.ConfigError))
            or cls is errors.ProjectProblems
        ):
            cls = errors.ConfigError
        location = errors.Location(self.path, self.line) if self.path else None
        return cls(
            self.message, location=location, node=self.node, hint=self.hint, snippet=self.snippet
        )

    def render(self) -> str:
        return self.error().render()


@dataclass
class RuntimeInputs:
    """The project's macros and vars, to build a `Renderer` when the runner needs one."""

    macro_files: list[tuple[str, str, str]]
    vars: dict[str, Any]
    cli_vars: dict[str, Any]
    package_vars: dict[str, dict[str, Any]]
    dispatch: dict[str, list[str]]


def _hash_files(root: Path, paths: list[Path]) -> dict[str, str]:
    out = {}
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        out[path.relative_to(root).as_posix()] = hashlib.blake2b(data, digest_size=12).hexdigest()
    return out


def load_manifest(
    project_dir: Path, target_name: str | None, vars: dict[str, Any], strict: bool = True
) -> Manifest:
    """Return the compiled manifest of the project at ``project_dir``.

    ``strict`` raises the load's problems; otherwise they are on `Manifest.problems` and the nodes
    they concern carry `Node.problem` (commands then run what they can)."""
    from headwater.project.files import find_project_file

    root = project_dir.resolve()
    config_path = find_project_file(root)
    profiles = b""
    if config_path.name == "dbt_project.yml":  # its targets may come from profiles.yml
        from headwater.project.profiles import find_profiles

        found = find_profiles(root)
        profiles = (str(found).encode() + b"\0" + found.read_bytes()) if found is not None else b""
    key = hashlib.blake2b(
        b"\0".join(
            [
                config_path.read_bytes(),
                profiles,
                str(target_name).encode(),
                json.dumps(vars, sort_keys=True, default=str).encode(),
                __version__.encode(),
                str(CACHE_FORMAT).encode(),
                str(root).encode(),
            ]
        ),
        digest_size=16,
    ).hexdigest()
    cache_file = root / ".headwater" / "cache" / f"manifest-{key[:16]}.pickle"
    manifest = _read_cache(cache_file, root)
    if manifest is None:
        from headwater.sql.parse import ParseCache

        parse_cache = ParseCache.from_state(_read_parse_cache(root))
        manifest = _parse(root, target_name, vars, parse_cache)
        _write_cache(cache_file, manifest, parse_cache.state())
    _register_secret_env_vars(manifest)
    if strict:
        manifest.raise_problems()
    return manifest


def _register_secret_env_vars(manifest: Manifest) -> None:
    """`env_var('DBT_ENV_SECRET_…')` values are secrets, also when the project comes from the cache."""
    from headwater import secrets

    for name, value in manifest.env_vars.items():
        if name.startswith(secrets.SECRET_ENV_PREFIXES):
            secrets.register(value)


def _read_cache(cache_file: Path, root: Path) -> Manifest | None:
    manifest = read_sealed(cache_file)
    if not isinstance(manifest, Manifest):
        return None
    from headwater.project.files import project_files

    if _hash_files(root, project_files(root, manifest.config)) != manifest.files:
        return None
    if any(os.environ.get(k) != v for k, v in manifest.env_vars.items()):
        return None
    manifest.from_cache = True
    return manifest


def _write_cache(cache_file: Path, manifest: Manifest, parse_state: dict[str, Any]) -> None:
    if cache_file.parent.is_dir():
        for old in cache_file.parent.glob("manifest-*.pickle"):
            old.unlink(missing_ok=True)
    if not manifest.volatile:
        write_sealed(cache_file, manifest)
    write_sealed(cache_file.parent / "parse.pickle", parse_state)


def _read_parse_cache(root: Path) -> Any:
    return read_sealed(root / ".headwater" / "cache" / "parse.pickle")


def select_target(config: ProjectConfig, name: str | None) -> Target:
    chosen = name or os.environ.get("HEADWATER_TARGET") or config.default_target
    if chosen not in config.targets:
        raise TargetNotFoundError(
            f"target `{chosen}` is not defined in {config.config_file}"
            + did_you_mean(chosen, config.targets),
            hint="targets: " + ", ".join(config.targets),
        )
    target = config.targets[chosen]
    if target.unsupported:
        from headwater.errors import ConfigError

        raise ConfigError(target.unsupported)
    return target


def _parse(
    root: Path, target_name: str | None, vars: dict[str, Any], cache: ParseCache
) -> Manifest:
    from headwater.engines import engine_dialect
    from headwater.graph.definition import Graph
    from headwater.project.files import project_files
    from headwater.project.loader import ProjectReader
    from headwater.project.project_file import read_project_config
    from headwater.sql.compiler import Compiler

    config = read_project_config(root, target_name, cli_vars=vars)
    target = select_target(config, target_name)
    dialect = engine_dialect(target.engine)
    project = ProjectReader(
        config, target, parse_expectation=_parse_expectation, parse_stream=_parse_stream
    ).read()
    compiler = Compiler(project, target, vars, dialect, cache)
    nodes = compiler.compile()
    Graph(nodes)  # raises CycleError with the full path
    _compile_generic_tests(nodes)
    manifest = Manifest(
        config=config,
        target=target,
        nodes=nodes,
        dialect=dialect,
        files=_hash_files(root, project_files(root, config)),
        env_vars={**config.env_vars, **compiler.env_vars},
        problems=[Problem.of(p, compiler.problem_nodes.get(id(p))) for p in compiler.problems],
        warnings=list(project.warnings),
        volatile=compiler.reads_lake_versions,
        runtime=RuntimeInputs(
            macro_files=list(project.macro_files),
            vars=dict(config.vars),
            cli_vars=dict(vars),
            package_vars=dict(config.package_vars),
            dispatch=dict(config.dispatch),
        ),
    )
    write_compiled(manifest)
    return manifest


def _parse_stream(raw: Any, *, path: str, default_schema: str) -> Any:
    """The stream layer's parser for the project reader, imported when a project has streams."""
    from headwater.streams.spec import parse_stream

    return parse_stream(raw, path=path, default_schema=default_schema)


def _parse_expectation(
    raw: Any,
    *,
    column: str | None = None,
    location: Location | None = None,
    node: str | None = None,
) -> ParsedExpectation:
    """The quality layer's expectation parser for the project reader, imported on the first
    `expectations:` entry (most projects declare none)."""
    from headwater.quality.expectations import parse_expectation

    return parse_expectation(raw, column=column, location=location, node=node)


def write_compiled(manifest: Manifest, nodes: list[Node] | None = None) -> Path:
    """Write compiled SQL under `.headwater/compiled/`, mirroring the project's paths."""
    from headwater.private import private_dir

    base = private_dir(Path(manifest.config.root) / manifest.config.state_dir) / "compiled"
    for node in nodes if nodes is not None else manifest.nodes.values():
        if node.compiled_sql is None:
            continue
        one_per_file = node.resource_type not in ("test", "snapshot") or (
            node.test is not None and node.test.kind == "singular"
        )
        # generic tests live in .yml files and a snapshot file may hold several blocks: one file per node
        rel = node.path if one_per_file else f"{Path(node.path).parent.as_posix()}/{node.name}.sql"
        out = base / rel
        text = node.compiled_sql.strip() + "\n"
        try:
            if out.read_text(encoding="utf-8") == text:
                continue  # unchanged: reading is far cheaper than rewriting hundreds of files
        except (OSError, ValueError):
            private_dir(out.parent)
        fd = os.open(out, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    return base


def _compile_generic_tests(nodes: dict[str, Node]) -> None:
    """Give generic tests their failing-rows query against published relations (for `compile`)."""
    from headwater.quality.evaluator import CheckRunner

    def relation_sql(uid: str) -> str:
        node = nodes[uid]
        if node.relation is None or node.materialized == "ephemeral":
            return f"(\n{node.compiled_sql}\n)"
        return node.relation.render()

    runner = CheckRunner(None, nodes, relation_sql)  # type: ignore[arg-type]
    for node in nodes.values():
        if (
            node.test is not None
            and node.test.kind not in ("singular", "macro", "unit")
            and node.problem is None
            and node.test.attached_to in nodes
        ):
            try:
                node.compiled_sql = runner.plan(node).failing or None
            except HeadwaterError as exc:
                node.problem = exc.render()
