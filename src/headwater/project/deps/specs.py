"""Package entries as the project writes them: finding and reading `dependencies.yml` /
`packages.yml`, rendering `{{ env_var() }}` / `{{ var() }}` in a Jinja sandbox (`_Renderer`),
validating each entry into a `PackageSpec`, `public_url` (credentials masked), and the lock's
`sha1_hash` as dbt computes it (`lock_hash`); also the file names and entry keys."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from headwater import secrets
from headwater.errors import (
    CompilationError,
    ConfigError,
    Location,
    UnknownKeyError,
    did_you_mean,
)
from headwater.project.deps.versions import parse_versions
from headwater.project.validate import check_keys, loc_of
from headwater.project.yaml import load_yaml

Kind = Literal["hub", "git", "tarball", "local"]

SPEC_FILES = ("packages.yml", "dependencies.yml")
LOCK_FILE = "package-lock.yml"
LOCK_HASH_KEY = "sha1_hash"

SOURCE_KEYS: dict[str, Kind] = {
    "package": "hub",
    "git": "git",
    "tarball": "tarball",
    "local": "local",
}
ENTRY_KEYS: dict[Kind, frozenset[str]] = {
    "hub": frozenset({"package", "version", "install_prerelease", "install-prerelease", "name"}),
    "git": frozenset({"git", "revision", "warn-unpinned", "subdirectory", "name"}),
    "tarball": frozenset({"tarball", "name"}),
    "local": frozenset({"local", "name"}),
}
_JINJA = re.compile(r"{{.*?}}|{%.*?%}", re.DOTALL)


@dataclass(frozen=True)
class PackageSpec:
    """One package entry, rendered. ``source`` may hold a secret: print ``label`` instead."""

    kind: Kind
    source: str
    """hub: `org/name`; git and tarball: the URL as rendered; local: the path."""
    source_unrendered: str
    """The source as written, `{{ env_var(...) }}` kept (what package-lock.yml stores)."""
    versions: tuple[str, ...] = ()
    """hub: the ranges (`1.2.3`, `>=1.0.0`, ...)."""
    revision: str | None = None
    subdirectory: str | None = None
    name: str | None = None
    install_prerelease: bool = False
    warn_unpinned: bool = True
    location: Location | None = field(default=None, compare=False)
    rendered: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    unrendered: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        """What identifies the package when several requirers name it."""
        if self.kind == "git":
            return f"git:{self.source.removesuffix('/').removesuffix('.git')}#{self.subdirectory or ''}"
        return f"{self.kind}:{self.source}"

    @property
    def label(self) -> str:
        """A name for messages, without credentials."""
        if self.kind in ("git", "tarball"):
            text = public_url(self.source_unrendered)
            return f"{text} ({self.subdirectory})" if self.subdirectory else text
        return self.source


def read_package_specs(
    project_dir: Path, *, vars: Mapping[str, Any] | None = None
) -> list[PackageSpec]:
    """The rendered entries of the project's `dependencies.yml` or `packages.yml` (or [])."""
    root = project_dir.resolve()
    return _specs_in(root, _Renderer(vars), None)[1]


def lock_hash(specs: Iterable[PackageSpec]) -> str:
    """`sha1_hash` of package-lock.yml, computed as dbt 1.7+ does: each entry as JSON (sorted
    keys) of its rendered fields with dbt's defaults, plus `unrendered` (the entry as written);
    the lines sorted, joined by newlines, sha1 of the UTF-8 bytes."""
    lines = sorted(json.dumps(_hash_dict(s), sort_keys=True, default=str) for s in specs)
    return hashlib.sha1("\n".join(lines).encode("utf-8"), usedforsecurity=False).hexdigest()


def public_url(text: str) -> str:
    """``text`` with literal credentials masked; `{{ ... }}` blocks are kept as written."""
    out, pos = [], 0
    for match in _JINJA.finditer(text):
        out += [secrets.mask(text[pos : match.start()]), match.group(0)]
        pos = match.end()
    return "".join([*out, secrets.mask(text[pos:])])


def _hash_dict(spec: PackageSpec) -> dict[str, Any]:
    got, out = spec.rendered, {}
    if spec.kind == "hub":
        pre = got.get("install_prerelease", got.get("install-prerelease", False))
        out = {"package": got["package"], "version": got["version"], "install_prerelease": pre}
    elif spec.kind == "git":
        out = {k: got.get(k) for k in ("git", "revision", "warn-unpinned", "subdirectory")}
    else:
        out = {k: got[k] for k in (spec.kind, "name") if k in got}
    if got.get("name") is not None:
        out["name"] = got["name"]
    out["unrendered"] = dict(spec.unrendered)
    return out


class _Missing(Exception):
    """env_var() or var() without a value (message, hint)."""


class _Renderer:
    """Renders `{{ env_var(...) }}` and `{{ var(...) }}` in package entries."""

    def __init__(self, vars: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None):
        self.vars = dict(vars or {})
        self.environ = os.environ if environ is None else environ
        self._jinja: Any = None

    def render(self, value: Any, where: Location | None) -> Any:
        if isinstance(value, str):
            return self._text(value, where) if "{{" in value or "{%" in value else value
        if isinstance(value, Mapping):
            return {k: self.render(v, loc_of(value, k) or where) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, loc_of(value, i) or where) for i, v in enumerate(value)]
        return value

    def _text(self, text: str, where: Location | None) -> str:
        from jinja2 import TemplateError

        try:
            return str(self._env().from_string(text).render())
        except _Missing as exc:
            raise ConfigError(exc.args[0], location=where, hint=exc.args[1]) from None
        except TemplateError as exc:
            raise CompilationError(
                f"cannot render `{text}`: {exc}",
                location=where,
                hint="package entries may use only env_var('NAME', 'default') and var('name', 'default')",
            ) from None

    def _env(self) -> Any:
        if self._jinja is None:
            from jinja2 import StrictUndefined
            from jinja2.sandbox import SandboxedEnvironment

            self._jinja = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
            self._jinja.globals.clear()
            self._jinja.globals.update(env_var=self._env_var, var=self._var)
        return self._jinja

    def _env_var(self, name: str, default: Any = None) -> str:
        value = self.environ.get(name)
        if value is None:
            if default is None:
                raise _Missing(
                    f"environment variable `{name}` is not set",
                    f"export {name}=... before running, or give a default: env_var('{name}', '...')",
                )
            value = str(default)
        if str(name).startswith(secrets.SECRET_ENV_PREFIXES):
            secrets.register(value)
        return value

    def _var(self, name: str, default: Any = None) -> Any:
        if name in self.vars:
            return self.vars[name]
        if default is None:
            raise _Missing(
                f"var `{name}` has no value here", f"give it a default: var('{name}', '...')"
            )
        return default


def _specs_in(
    folder: Path, renderer: _Renderer, label: str | None
) -> tuple[str | None, list[PackageSpec]]:
    """(file name, entries) of ``folder``'s dependencies.yml / packages.yml; ``label`` names a
    package (None: the project) in error locations."""
    found = _spec_file(folder, label)
    if found is None:
        return None, []
    name, data = found
    entries = data.get("packages") or []
    if not isinstance(entries, list):
        raise ConfigError(
            "`packages:` must be a list of package entries",
            location=loc_of(data, "packages"),
            hint="write each package as `- package: org/name` with `version:` below it",
        )
    use = renderer if name == "packages.yml" else None
    return name, [_parse_entry(e, loc_of(entries, i), use) for i, e in enumerate(entries)]


def _spec_file(folder: Path, label: str | None) -> tuple[str, Mapping[str, Any]] | None:
    docs: dict[str, Mapping[str, Any]] = {}
    for name in SPEC_FILES:
        path = folder / name
        if path.is_file():
            rel = f"{label}/{name}" if label else name
            data = load_yaml(path.read_text(encoding="utf-8", errors="replace"), rel)
            if data is not None and not isinstance(data, Mapping):
                raise ConfigError(
                    f"{name} must be a mapping with `packages:`",
                    location=Location(rel, 1),
                    hint="start the file with `packages:` and list the packages under it",
                )
            docs[name] = data or {}
    listed, deps = docs.get("packages.yml"), docs.get("dependencies.yml")
    if deps is not None and "packages" in deps:
        if listed is not None and "packages" in listed:
            raise ConfigError(
                "`packages:` is in both packages.yml and dependencies.yml",
                location=loc_of(deps, "packages"),
                hint="keep one list: move the entries into one file and delete the other `packages:`",
            )
        check_keys(deps, {"packages", "projects"}, "dependencies.yml")
        return "dependencies.yml", deps
    if listed is not None:
        check_keys(listed, {"packages"}, "packages.yml")
        return "packages.yml", listed
    return None


def _parse_entry(raw: Any, where: Location | None, renderer: _Renderer | None) -> PackageSpec:
    """One entry of `packages:`; ``renderer`` None: not rendered (dependencies.yml, as in dbt)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"a package entry must be a mapping, got `{raw!r}`",
            location=where,
            hint="write `- package: dbt-labs/dbt_utils` with `version: ...` on the next line",
        )
    where = loc_of(raw) or where
    kind = _entry_kind(raw, where)
    check_keys(raw, ENTRY_KEYS[kind], f"a {kind} package entry")
    if renderer is None:
        _refuse_jinja(raw, where)
        data: Mapping[str, Any] = dict(raw)
    else:
        data = renderer.render(raw, where)
    return _build_spec(kind, data, raw, where)


def _entry_kind(raw: Mapping[str, Any], where: Location | None) -> Kind:
    if "private" in raw:
        raise ConfigError(
            "`private:` packages need dbt Cloud's git integration, which headwater does not have",
            location=loc_of(raw, "private") or where,
            hint="use `git:` with the repository URL (a token can come from env_var('DBT_ENV_SECRET_...'))",
        )
    kinds = [k for k in SOURCE_KEYS if k in raw]
    if len(kinds) > 1:
        raise ConfigError(
            f"a package entry has both `{kinds[0]}:` and `{kinds[1]}:`",
            location=where,
            hint="split it into two entries: each entry has one source",
        )
    if not kinds:
        for key in raw:
            close = did_you_mean(str(key), SOURCE_KEYS)
            if close:
                raise UnknownKeyError(
                    f"unknown key `{key}` in a package entry{close}",
                    location=loc_of(raw, key) or where,
                    hint="an entry starts with `package:`, `git:`, `tarball:` or `local:`",
                )
        raise ConfigError(
            "a package entry needs one of `package:`, `git:`, `tarball:` or `local:`",
            location=where,
            hint='e.g. `- package: dbt-labs/dbt_utils` and `version: [">=1.0.0", "<2.0.0"]`',
        )
    return SOURCE_KEYS[kinds[0]]


def _refuse_jinja(raw: Any, where: Location | None) -> None:
    texts = raw.values() if isinstance(raw, Mapping) else raw if isinstance(raw, list) else [raw]
    for value in texts:
        if isinstance(value, dict | list):
            _refuse_jinja(value, where)
        elif isinstance(value, str) and ("{{" in value or "{%" in value):
            raise ConfigError(
                f"dependencies.yml is not rendered (as in dbt), so `{value}` would stay literal",
                location=where,
                hint="move the `packages:` list into packages.yml to use env_var() or var()",
            )


def _build_spec(
    kind: Kind, data: Mapping[str, Any], raw: Mapping[str, Any], where: Location | None
) -> PackageSpec:
    src_key = next(k for k, v in SOURCE_KEYS.items() if v == kind)
    spec = PackageSpec(
        kind=kind,
        source=_text(data, raw, src_key, where, required=True),
        source_unrendered=str(raw[src_key]),
        name=_text(data, raw, "name", where, required=kind == "tarball"),
        location=where,
        rendered=data,
        unrendered=dict(raw),
    )
    if kind == "hub":
        return _hub_spec(spec, data, raw, where)
    if kind == "git":
        return _git_spec(spec, data, raw, where)
    return spec


def _hub_spec(spec: PackageSpec, data: Mapping[str, Any], raw: Any, where: Any) -> PackageSpec:
    if "/" not in spec.source:
        raise ConfigError(
            f"hub package `{spec.source}` has no namespace",
            location=loc_of(raw, "package") or where,
            hint="hub packages are `org/name`, e.g. `dbt-labs/dbt_utils`",
        )
    if data.get("version") in (None, "", []):
        raise ConfigError(
            f"hub package `{spec.source}` has no `version:`",
            location=where,
            hint='add `version: [">=1.0.0", "<2.0.0"]` (or an exact version)',
        )
    try:
        versions = parse_versions(data["version"])
    except ValueError as exc:
        raise ConfigError(
            f"invalid `version:` of `{spec.source}`: {exc}",
            location=loc_of(raw, "version") or where,
            hint='write `1.2.3`, `">=1.0.0,<2.0.0"` or a list `[">=1.0.0", "<2.0.0"]`',
        ) from None
    pre = data.get("install_prerelease", data.get("install-prerelease", False))
    _expect_bool(pre, "install_prerelease", raw, where)
    return replace(spec, versions=versions, install_prerelease=bool(pre))


def _git_spec(spec: PackageSpec, data: Mapping[str, Any], raw: Any, where: Any) -> PackageSpec:
    revision = _text(data, raw, "revision", where, required=False)
    if revision is not None and (revision.startswith("-") or not revision.strip()):
        raise ConfigError(
            f"invalid `revision: {revision}`",
            location=loc_of(raw, "revision") or where,
            hint="give a branch, tag or commit SHA",
        )
    sub = _text(data, raw, "subdirectory", where, required=False)
    if sub is not None and (PurePosixPath(sub).is_absolute() or ".." in PurePosixPath(sub).parts):
        raise ConfigError(
            f"`subdirectory: {sub}` must be a path inside the repository",
            location=loc_of(raw, "subdirectory") or where,
            hint="write it relative to the repository root, without `..`",
        )
    warn = data.get("warn-unpinned")
    _expect_bool(warn, "warn-unpinned", raw, where)
    return replace(spec, revision=revision, subdirectory=sub, warn_unpinned=warn is not False)


def _text(
    data: Mapping[str, Any], raw: Any, key: str, where: Location | None, *, required: bool
) -> Any:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise ConfigError(
                f"`{key}:` is missing or empty in a package entry",
                location=loc_of(raw, key) or where,
                hint=f"give the package's `{key}:`",
            )
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(
            f"`{key}:` must be text, got `{value!r}`",
            location=loc_of(raw, key) or where,
            hint="quote it",
        )
    return str(value)


def _expect_bool(value: Any, key: str, raw: Any, where: Location | None) -> None:
    if value is not None and not isinstance(value, bool):
        raise ConfigError(
            f"`{key}:` must be true or false, got `{value!r}`",
            location=loc_of(raw, key) or where,
            hint=f"write `{key}: true` or `{key}: false`",
        )
