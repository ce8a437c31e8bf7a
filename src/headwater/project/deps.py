"""Install a project's packages, as `dbt deps` does (dbt 1.8+).

What it reads
    `dependencies.yml` (when it has `packages:`) or else `packages.yml`, in the project folder; a
    list under `packages:` whose entries are one of four kinds::

        packages:
          - package: dbt-labs/dbt_utils         # hub: `version:` is "1.2.3", ">=1.0.0,<2.0.0"
            version: [">=1.0.0", "<2.0.0"]      #   or a list of ranges; `install_prerelease: true`
          - git: "https://{{ env_var('DBT_ENV_SECRET_GIT_TOKEN') }}@github.com/org/repo.git"
            revision: v1.2.0                    # branch, tag or commit (default: the remote HEAD)
            subdirectory: packages/core         # optional; `warn-unpinned: false` too
          - tarball: https://example.com/pkg.tar.gz
            name: pkg
          - local: ../shared_macros              # relative to the project folder

    `packages.yml` may use `{{ env_var('X') }}`, `{{ env_var('X', 'default') }}` and
    `{{ var('x', 'default') }}` (a Jinja sandbox offering nothing else). As in dbt,
    `dependencies.yml` is not rendered, so Jinja there is an error. Values of environment
    variables named `DBT_ENV_SECRET_*` or `HEADWATER_SECRET_*` are registered with
    `headwater.secrets`, so every message masks them.

How versions are chosen
    Each package's requirements are gathered from the project and, transitively, from what each
    chosen package requires (hub packages: the hub's metadata for that version; the others: their
    own `packages.yml` / `dependencies.yml`). A hub package gets the highest version that
    satisfies every range (semver; prereleases only with `install_prerelease: true` or a range
    that names one); this repeats until nothing changes. There is no backtracking (dbt has none
    either): ranges that no version satisfies are an error naming both requirers. `local:` paths
    of transitive packages are relative to the root project, as in dbt.

The lock
    `package-lock.yml` is written like dbt 1.7+ writes it, keys sorted, e.g.::

        packages:
          - name: dbt_utils
            package: dbt-labs/dbt_utils
            version: 1.3.0
          - git: https://{{ env_var('DBT_ENV_SECRET_GIT_TOKEN') }}@github.com/org/repo.git
            name: core
            revision: 0f6b5f3c2d...          # the commit SHA the revision resolved to
            subdirectory: packages/core
          - name: pkg
            tarball: https://example.com/pkg.tar.gz
          - local: ../shared_macros
            name: shared_macros
        sha1_hash: 3f0c...

    `sha1_hash` is dbt's: the sha1 of the sorted JSON forms of the package entries (see
    `lock_hash`), so a lock written by dbt is reused here and the other way round. When the lock
    exists and its hash matches, exactly the locked packages are installed (no hub resolution);
    `upgrade=True` (`dbt deps --upgrade`) ignores it and `lock_only=True` (`dbt deps --lock`)
    writes it without installing. Git and tarball URLs are stored as written, with their
    `{{ env_var(...) }}` unrendered; credentials written literally in a URL are masked (`***`),
    and a later install from that lock takes the real URL from packages.yml again.

How packages are installed
    Into `packages-install-path` (dbt_project.yml / headwater.yml; default `dbt_packages`), one
    folder per package named by the `name:` in the package's own dbt_project.yml (dbt names a
    `tarball:` package's folder after the entry's `name:` instead). Everything is downloaded
    first; then each package is copied into a hidden folder beside its final place and renamed
    into it, so a failed download or copy leaves the previous install untouched. `local:`
    packages are symlinks, as in dbt (a copy where symlinks are not allowed). Folders of packages
    no longer required are removed; plain files are left alone. Git runs as the `git` command
    (no shell, `--` before URLs, no prompts); downloads use urllib, and archives are refused when
    a member has an absolute path, `..` or a link leading out of the package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import total_ordering
from itertools import combinations
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml

from headwater import secrets
from headwater.errors import (
    CompilationError,
    ConfigError,
    HeadwaterError,
    Location,
    UnknownKeyError,
    did_you_mean,
)
from headwater.project.files import PROJECT_FILES, find_project_file
from headwater.project.validate import check_keys, loc_of
from headwater.project.yaml import load_yaml, load_yaml_file

Kind = Literal["hub", "git", "tarball", "local"]
Progress = Callable[[str], None]

SPEC_FILES = ("packages.yml", "dependencies.yml")
LOCK_FILE = "package-lock.yml"
LOCK_HASH_KEY = "sha1_hash"
DEFAULT_HUB_URL = "https://hub.getdbt.com/"
DEFAULT_INSTALL_PATH = "dbt_packages"
HTTP_TIMEOUT = 30.0
HTTP_ATTEMPTS = 3
GIT_TIMEOUT = 600.0
MAX_ROUNDS = 20

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
_SHA = re.compile(r"[0-9a-f]{7,40}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TEMP_PREFIX = ".headwater-"
_UNPINNED = ("HEAD", "main", "master")


class PackageFetchError(HeadwaterError):
    """A package could not be downloaded, cloned or unpacked (network, HTTP status, git, archive).

    ``package`` names it; ``url`` is masked; ``status`` is the HTTP status when there was one."""

    exit_code = 1

    def __init__(
        self, message: str, *, package: str, url: str, status: int | None = None, **kwargs: Any
    ) -> None:
        self.package = package
        self.url = secrets.mask(url)
        self.status = status
        super().__init__(message, **kwargs)


# --- versions -------------------------------------------------------------------------------

_VERSION = re.compile(
    r"v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)|([A-Za-z][0-9A-Za-z-]*(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z.-]+)?"
)
_RANGE = re.compile(r"\s*(>=|<=|>|<|==|=)?\s*(\S+)\s*")


@total_ordering
@dataclass(frozen=True)
class Version:
    """A semantic version (`1.2.3`, `1.0.0-rc.1`), ordered by semver precedence; build metadata
    (`+...`) is ignored and a missing minor or patch is 0."""

    major: int
    minor: int = 0
    patch: int = 0
    prerelease: tuple[int | str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.fullmatch(str(text).strip())
        if not match:
            raise ValueError(f"`{text}` is not a version like 1.2.3")
        major, minor, patch, dashed, bare = match.groups()
        pre = dashed or bare
        parts = tuple(int(p) if p.isdigit() else p for p in pre.split(".")) if pre else ()
        return cls(int(major), int(minor or 0), int(patch or 0), parts)

    def _key(self) -> tuple[Any, ...]:
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, not self.prerelease, pre)

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __str__(self) -> str:
        pre = "-" + ".".join(map(str, self.prerelease)) if self.prerelease else ""
        return f"{self.major}.{self.minor}.{self.patch}{pre}"


@dataclass(frozen=True)
class VersionRange:
    """One requirement: an operator (`=`, `>`, `>=`, `<`, `<=`) and a version."""

    op: str
    version: Version

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        match = _RANGE.fullmatch(str(text))
        if not match:
            raise ValueError(f"`{text}` is not a version range like >=1.0.0")
        op = match.group(1) or "="
        return cls("=" if op == "==" else op, Version.parse(match.group(2)))

    def allows(self, version: Version) -> bool:
        if self.op == "=":
            return version == self.version
        if self.op == ">":
            return version > self.version
        if self.op == ">=":
            return version >= self.version
        if self.op == "<":
            return version < self.version
        return version <= self.version

    def __str__(self) -> str:
        return ("" if self.op == "=" else self.op) + str(self.version)


def parse_versions(value: Any) -> tuple[str, ...]:
    """A hub entry's `version:` as a tuple of ranges: a list, or a string split at commas."""
    items = list(value) if isinstance(value, list | tuple) else str(value).split(",")
    out = tuple(str(v).strip() for v in items if str(v).strip())
    for item in out:
        VersionRange.parse(item)
    return out


def pick_version(
    available: Iterable[str], ranges: Iterable[str | VersionRange], *, prerelease: bool = False
) -> str | None:
    """The highest of ``available`` that satisfies every range, or None.

    Prereleases are candidates only with ``prerelease=True`` or when a range names one (dbt's
    rule); unparsable versions are skipped.

    >>> pick_version(["0.9.0", "1.2.0", "1.10.0", "2.0.0"], [">=1.0.0", "<2.0.0"])
    '1.10.0'
    """
    parsed = [r if isinstance(r, VersionRange) else VersionRange.parse(r) for r in ranges]
    allow_pre = prerelease or any(r.version.prerelease for r in parsed)
    best: tuple[Version, str] | None = None
    for text in available:
        try:
            version = Version.parse(text)
        except ValueError:
            continue
        if version.prerelease and not allow_pre:
            continue
        if all(r.allows(version) for r in parsed) and (best is None or version > best[0]):
            best = (version, text)
    return best[1] if best else None


# --- reading packages.yml ---------------------------------------------------------------------


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


# --- the result -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstalledPackage:
    """A package as installed (or locked, with ``lock_only``)."""

    name: str
    """Its project name: the folder under the install path."""
    kind: Kind
    source: str
    """hub `org/name`, the git or tarball URL (masked), or the local path."""
    version: str | None
    """hub: the exact version; git: the commit SHA; tarball and local: None."""
    path: Path | None
    """The installed folder (a symlink for `local:`); None when only the lock was written."""


@dataclass
class DepsResult:
    packages: list[InstalledPackage]
    install_path: Path
    lock_path: Path
    lock_written: bool
    from_lock: bool
    """True when package-lock.yml matched packages.yml and its versions were installed."""
    installed: bool
    """False with ``lock_only``."""
    removed: list[str] = field(default_factory=list)
    """Folders of packages no longer required, removed from the install path."""
    warnings: list[str] = field(default_factory=list)
    updates: dict[str, str] = field(default_factory=dict)
    """hub package -> a newer version than the one installed."""


# --- resolving ------------------------------------------------------------------------------


@dataclass
class _Requirement:
    spec: PackageSpec
    by: str


@dataclass
class _Pin:
    spec: PackageSpec
    version: str | None = None
    """hub: the exact version; git: the requested revision (the lock: the SHA)."""
    sha: str | None = None
    name: str | None = None
    content: Path | None = None
    latest: str | None = None

    @property
    def requirer(self) -> str:
        return f"{self.spec.label} {self.version}" if self.version else self.spec.label

    def installed(self, install_dir: Path | None) -> InstalledPackage:
        version = self.version if self.spec.kind == "hub" else self.sha
        path = install_dir / self.name if install_dir and self.name else None
        return InstalledPackage(self.name or "", self.spec.kind, self.spec.label, version, path)


class _Session:
    """One `deps` run: caches of hub answers and fetched packages, in a scratch folder."""

    def __init__(self, root: Path, renderer: _Renderer, progress: Progress | None, work: Path):
        self.root, self.renderer, self.progress, self.work = root, renderer, progress, work
        self.hub_url = os.environ.get("DBT_PACKAGE_HUB_URL") or DEFAULT_HUB_URL
        self.hub_url += "" if self.hub_url.endswith("/") else "/"
        self._hub: dict[str, dict[str, Any]] = {}
        self._fetched: dict[tuple[str, str | None], tuple[Path, str | None]] = {}
        self._deps: dict[tuple[str, str | None], list[PackageSpec]] = {}
        self.warnings: list[str] = []

    def say(self, text: str) -> None:
        if self.progress is not None:
            self.progress(secrets.mask(text))

    def warn(self, text: str) -> None:
        text = secrets.mask(text)
        if text not in self.warnings:
            self.warnings.append(text)
            self.say("warning: " + text)

    def resolve(self, roots: list[PackageSpec], requirer: str) -> list[_Pin]:
        """Pin every package reachable from ``roots``, repeating until the pins settle."""
        pins: dict[str, _Pin] = {}
        for _ in range(MAX_ROUNDS):
            reqs = self._walk(roots, requirer, pins)
            new = {key: self._pin(found) for key, found in reqs.items()}
            if {k: p.version for k, p in new.items()} == {k: p.version for k, p in pins.items()}:
                for pin in new.values():
                    self._name(pin)
                return list(new.values())
            pins = new
        raise ConfigError(
            f"package versions did not settle after {MAX_ROUNDS} rounds",
            hint="pin exact versions of the packages that depend on each other in packages.yml",
        )

    def _walk(
        self, roots: list[PackageSpec], requirer: str, pins: dict[str, _Pin]
    ) -> dict[str, list[_Requirement]]:
        reqs: dict[str, list[_Requirement]] = {}
        queue = deque(_Requirement(s, requirer) for s in roots)
        while queue:
            req = queue.popleft()
            key = req.spec.key
            if key in reqs:
                reqs[key].append(req)
                continue
            reqs[key] = [req]
            pin = pins.get(key) or self._pin(reqs[key])
            queue.extend(_Requirement(dep, pin.requirer) for dep in self._dependencies(pin))
        return reqs

    def _pin(self, reqs: list[_Requirement]) -> _Pin:
        spec = reqs[0].spec
        if spec.kind == "hub":
            return self._pin_hub(reqs)
        if spec.kind == "git":
            return self._pin_git(reqs)
        return _Pin(spec)

    def _pin_hub(self, reqs: list[_Requirement]) -> _Pin:
        spec = reqs[0].spec
        versions = self._hub_versions(spec)
        ranges = [r for req in reqs for r in req.spec.versions]
        pre = any(req.spec.install_prerelease for req in reqs)
        chosen = pick_version(versions, ranges, prerelease=pre)
        if chosen is None:
            raise _version_conflict(spec.source, reqs, list(versions), pre)
        name = versions[chosen].get("name") if isinstance(versions[chosen], dict) else None
        return _Pin(spec, version=chosen, name=name, latest=pick_version(versions, []))

    def _pin_git(self, reqs: list[_Requirement]) -> _Pin:
        spec = reqs[0].spec
        for a, b in combinations(reqs, 2):
            if (a.spec.revision or "HEAD") != (b.spec.revision or "HEAD"):
                raise ConfigError(
                    f"`{spec.label}` is required at two revisions: `{a.spec.revision or 'HEAD'}` "
                    f"by {a.by} and `{b.spec.revision or 'HEAD'}` by {b.by}",
                    location=a.spec.location or b.spec.location,
                    hint="require the same `revision:` everywhere, or drop one of the requirements",
                )
        revision = spec.revision or "HEAD"
        if revision in _UNPINNED and all(r.spec.warn_unpinned for r in reqs):
            self.warn(
                f"`{spec.label}` is not pinned (revision `{revision}`): `deps --upgrade` may "
                "install different code; pin a tag or commit with `revision:`, or set "
                "`warn-unpinned: false`"
            )
        return _Pin(spec, version=revision)

    def _dependencies(self, pin: _Pin) -> list[PackageSpec]:
        key = (pin.spec.key, pin.version)
        if key not in self._deps:
            if pin.spec.kind == "hub":
                meta = self._hub_versions(pin.spec)[pin.version or ""]
                entries = (meta.get("packages") or []) if isinstance(meta, dict) else []
                entries = entries if isinstance(entries, list) else []
                where = Location(f"{pin.requirer} (hub metadata)")
                self._deps[key] = [_parse_entry(e, where, self.renderer) for e in entries]
            else:
                folder = self.fetch(pin)
                self._deps[key] = _specs_in(folder, self.renderer, pin.requirer)[1]
        return self._deps[key]

    def lock_pins(self, entries: list[PackageSpec], specs: list[PackageSpec]) -> list[_Pin]:
        """Pins for the entries of a lock that matches packages.yml (no resolution)."""
        real = {public_url(s.source_unrendered): s.source for s in specs}
        pins = []
        for spec in entries:
            spec = _unmask(spec, real)
            if spec.kind == "hub":
                pins.append(self._locked_hub(spec))
            elif spec.kind == "git":
                pins.append(_Pin(spec, version=spec.revision or "HEAD"))
            else:
                pins.append(_Pin(spec))
        return pins

    def _locked_hub(self, spec: PackageSpec) -> _Pin:
        versions = self._hub_versions(spec)
        wanted = VersionRange.parse(spec.versions[0]) if len(spec.versions) == 1 else None
        exact = next((v for v in versions if wanted and _is(v, wanted.version)), None)
        if wanted is None or wanted.op != "=" or exact is None:
            raise ConfigError(
                f"`{spec.source}` {', '.join(spec.versions)} from {LOCK_FILE} is not a version on "
                f"the hub ({self.hub_url})",
                location=spec.location,
                hint="run `headwater deps --upgrade` to choose a version again",
            )
        meta = versions[exact]
        name = meta.get("name") if isinstance(meta, dict) else None
        return _Pin(spec, version=exact, name=name, latest=pick_version(versions, []))

    # --- fetching ---------------------------------------------------------------------------

    def fetch(self, pin: _Pin) -> Path:
        """Download / clone / find the package; sets its content, SHA and project name."""
        key = (pin.spec.key, pin.version)
        if key not in self._fetched:
            fetcher = {
                "hub": self._fetch_hub,
                "git": self._fetch_git,
                "tarball": self._fetch_tarball,
            }
            self._fetched[key] = fetcher.get(pin.spec.kind, self._fetch_local)(pin)
        pin.content, pin.sha = self._fetched[key]
        pin.name = _project_name(pin.content, pin.requirer)
        return pin.content

    def _name(self, pin: _Pin) -> None:
        if pin.spec.kind != "hub":
            self.fetch(pin)

    def _hub_versions(self, spec: PackageSpec) -> dict[str, Any]:
        if spec.source not in self._hub:
            url = f"{self.hub_url}api/v1/{urllib.parse.quote(spec.source, safe='/')}.json"
            try:
                body = _http_get(url, spec.source)
            except PackageFetchError as exc:
                if exc.status != 404:
                    raise
                raise ConfigError(
                    f"package `{spec.source}` is not on the package hub ({self.hub_url})",
                    location=spec.location,
                    hint="check the `org/name` spelling on hub.getdbt.com, or set DBT_PACKAGE_HUB_URL",
                ) from None
            self._hub[spec.source] = _hub_json(body, spec.source, url)
        return self._hub[spec.source]

    def _fetch_hub(self, pin: _Pin) -> tuple[Path, str | None]:
        meta = self._hub_versions(pin.spec)[pin.version or ""]
        downloads = meta.get("downloads") if isinstance(meta, dict) else None
        url = downloads.get("tarball") if isinstance(downloads, dict) else None
        if not isinstance(url, str):
            raise PackageFetchError(
                f"the hub lists no tarball for `{pin.spec.source}` {pin.version}",
                package=pin.spec.source,
                url=self.hub_url,
                hint="choose another version in packages.yml",
            )
        self.say(f"downloading {pin.spec.source} {pin.version}")
        sha1 = downloads.get("sha1") if isinstance(downloads, dict) else None
        return self._download(pin, url, sha1 if isinstance(sha1, str) else None), None

    def _fetch_tarball(self, pin: _Pin) -> tuple[Path, str | None]:
        self.say(f"downloading {pin.spec.label}")
        return self._download(pin, pin.spec.source, None), None

    def _fetch_local(self, pin: _Pin) -> tuple[Path, str | None]:
        path = (self.root / pin.spec.source).resolve()
        if not path.is_dir():
            raise ConfigError(
                f"local package `{pin.spec.source}` is not a folder ({path})",
                location=pin.spec.location,
                hint="`local:` paths are relative to the project folder",
            )
        return path, None

    def _fetch_git(self, pin: _Pin) -> tuple[Path, str | None]:
        spec, revision = pin.spec, pin.version or "HEAD"
        self.say(f"cloning {spec.label} at {revision}")
        dest = Path(tempfile.mkdtemp(prefix="git-", dir=self.work)) / "repo"
        sha = _git_checkout(spec, revision, dest)
        folder = dest.resolve()
        if spec.subdirectory:
            folder = (dest / spec.subdirectory).resolve()
            if not folder.is_relative_to(dest.resolve()) or not folder.is_dir():
                raise ConfigError(
                    f"subdirectory `{spec.subdirectory}` is not in `{spec.label}` at {revision}",
                    location=spec.location,
                    hint="check `subdirectory:` against the repository at that revision",
                )
        return folder, sha

    def _download(self, pin: _Pin, url: str, sha1: str | None) -> Path:
        label = pin.spec.label
        if urllib.parse.urlsplit(url).scheme not in ("http", "https", "file"):
            raise ConfigError(
                f"`{label}`: only http(s) and file URLs can be downloaded",
                location=pin.spec.location,
                hint="give an https:// URL",
            )
        data = _http_get(url, label)
        if sha1 and hashlib.sha1(data, usedforsecurity=False).hexdigest() != sha1.lower():
            raise PackageFetchError(
                f"the download of `{label}` from {url} does not match its sha1 {sha1}",
                package=label,
                url=url,
                hint="retry; if it persists, the hub entry or a proxy serves a different file",
            )
        scratch = Path(tempfile.mkdtemp(prefix="tar-", dir=self.work))
        archive = scratch / "package.tar"
        archive.write_bytes(data)
        _extract(archive, scratch / "out", label, url)
        return _package_root(scratch / "out", label, url)


def _version_conflict(
    package: str, reqs: list[_Requirement], versions: list[str], pre: bool
) -> ConfigError:
    shown = sorted(versions, key=_sort_key)[-8:]
    available = ", ".join(shown) or "none"
    where = next((r.spec.location for r in reqs if r.spec.location), None)
    for req in reqs:
        if pick_version(versions, req.spec.versions, prerelease=pre) is None:
            return ConfigError(
                f"no version of `{package}` matches `{','.join(req.spec.versions)}` "
                f"(required by {req.by})",
                location=req.spec.location or where,
                hint=f"available versions: {available}; change the `version:` range",
            )
    for a, b in combinations(reqs, 2):
        if pick_version(versions, a.spec.versions + b.spec.versions, prerelease=pre) is None:
            return ConfigError(
                f"conflicting versions of `{package}`: {a.by} requires "
                f"`{','.join(a.spec.versions)}` but {b.by} requires `{','.join(b.spec.versions)}`",
                location=where,
                hint=f"no version satisfies both (available: {available}); change one range, or "
                "pin a version of the requiring package that accepts a common version",
            )
    ranges = "; ".join(f"`{','.join(r.spec.versions)}` ({r.by})" for r in reqs)
    return ConfigError(
        f"no version of `{package}` satisfies all of {ranges}",
        location=where,
        hint=f"available versions: {available}; relax one of the ranges",
    )


def _sort_key(text: str) -> tuple[int, Any]:
    try:
        return (1, Version.parse(text))
    except ValueError:
        return (0, text)


def _is(text: str, version: Version) -> bool:
    try:
        return Version.parse(text) == version
    except ValueError:
        return False


def _unmask(spec: PackageSpec, real: Mapping[str, str]) -> PackageSpec:
    if secrets.MASK not in spec.source or spec.kind not in ("git", "tarball"):
        return spec
    if spec.source not in real:
        raise ConfigError(
            f"{LOCK_FILE} holds `{spec.source}` with masked credentials, and packages.yml does "
            "not give the real URL",
            location=spec.location,
            hint="put the credentials in packages.yml as {{ env_var('DBT_ENV_SECRET_GIT_TOKEN') }}, "
            "then run `headwater deps --upgrade`",
        )
    return replace(spec, source=real[spec.source])


def _hub_json(body: bytes, package: str, url: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    versions = data.get("versions") if isinstance(data, dict) else None
    if not isinstance(versions, dict):
        raise PackageFetchError(
            f"the package hub answered for `{package}` without a `versions` mapping",
            package=package,
            url=url,
            hint="check DBT_PACKAGE_HUB_URL: it must point at a dbt package hub",
        )
    return versions


# --- network, git, archives ---------------------------------------------------------------------


def _http_get(url: str, package: str) -> bytes:
    """GET ``url``; 5xx and connection failures are retried, then raise `PackageFetchError`.

    Credentials in the URL (`https://user:token@host/...`) are sent as basic auth and registered
    as secrets."""
    request = _request(url)
    for attempt in range(HTTP_ATTEMPTS):
        last = attempt == HTTP_ATTEMPTS - 1
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            if exc.fp is not None:
                exc.close()
            if exc.code < 500 or last:
                raise PackageFetchError(
                    f"downloading `{package}` failed: HTTP {exc.code} {exc.reason} from {url}",
                    package=package,
                    url=url,
                    status=exc.code,
                    hint="check the URL and that you may read it; nothing was installed or removed",
                ) from None
        except (urllib.error.URLError, OSError) as exc:
            if last:
                reason = getattr(exc, "reason", exc)
                raise PackageFetchError(
                    f"downloading `{package}` from {url} failed: {reason}",
                    package=package,
                    url=url,
                    hint="check the network (and any proxy) and rerun `headwater deps`",
                ) from None
        time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


def _request(url: str) -> urllib.request.Request:
    parts = urllib.parse.urlsplit(url)
    headers = {"User-Agent": "headwater-deps"}
    if "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        user, _, password = (urllib.parse.unquote(p) for p in userinfo.partition(":"))
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        for secret in (password, token, userinfo):
            secrets.register(secret)
        headers["Authorization"] = f"Basic {token}"
        url = urllib.parse.urlunsplit(parts._replace(netloc=host))
    return urllib.request.Request(url, headers=headers)


def _git(args: list[str], spec: PackageSpec) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never", "LC_ALL": "C"}
    try:
        return subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise PackageFetchError(
            "`git` is not installed; git packages need it",
            package=spec.label,
            url=spec.source,
            hint="install git and rerun `headwater deps`",
        ) from None
    except subprocess.TimeoutExpired:
        raise PackageFetchError(
            f"git took more than {GIT_TIMEOUT:.0f}s for `{spec.label}`",
            package=spec.label,
            url=spec.source,
            hint="check the network and rerun `headwater deps`",
        ) from None


def _git_checkout(spec: PackageSpec, revision: str, dest: Path) -> str:
    """Clone ``spec``'s repository into ``dest`` at ``revision``; returns the commit SHA.

    Branches, tags and HEAD are tried with a shallow clone first; commits need the history."""
    if revision == "HEAD" or not _SHA.fullmatch(revision):
        shallow = ["--depth", "1"] + ([] if revision == "HEAD" else ["--branch", revision])
        if _git(["clone", "--quiet", *shallow, "--", spec.source, str(dest)], spec).returncode == 0:
            sha = _rev_parse(dest, "HEAD", spec)
            if sha:
                return sha
        shutil.rmtree(dest, ignore_errors=True)
    done = _git(["clone", "--quiet", "--no-checkout", "--", spec.source, str(dest)], spec)
    if done.returncode != 0:
        raise PackageFetchError(
            f"could not clone `{spec.label}`: {_last_line(done.stderr)}",
            package=spec.label,
            url=spec.source,
            hint="check the URL and your access (a private repository takes a token: "
            "https://{{ env_var('DBT_ENV_SECRET_GIT_TOKEN') }}@host/org/repo.git)",
        )
    candidates = (
        ["HEAD"]
        if revision == "HEAD"
        else [f"refs/remotes/origin/{revision}", f"refs/tags/{revision}", revision]
    )
    sha = next((s for s in (_rev_parse(dest, c, spec) for c in candidates) if s), None)
    if sha is None:
        raise PackageFetchError(
            f"revision `{revision}` is not in `{spec.label}`",
            package=spec.label,
            url=spec.source,
            hint="give a branch, tag or commit of the repository (`git ls-remote URL` lists them)",
        )
    done = _git(["-C", str(dest), "checkout", "--quiet", "--detach", sha], spec)
    if done.returncode != 0:
        raise PackageFetchError(
            f"could not check out `{revision}` of `{spec.label}`: {_last_line(done.stderr)}",
            package=spec.label,
            url=spec.source,
        )
    return sha


def _rev_parse(repo: Path, revision: str, spec: PackageSpec) -> str | None:
    args = [
        "-C",
        str(repo),
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"{revision}^{{commit}}",
    ]
    done = _git(args, spec)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "git failed"


def _extract(archive: Path, dest: Path, label: str, url: str) -> None:
    """Extract a tar archive, refusing members that would land outside ``dest``."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar.getmembers():
                problem = _unsafe_member(member)
                if problem:
                    raise PackageFetchError(
                        f"refused to extract `{label}` from {url}: {problem}",
                        package=label,
                        url=url,
                        hint="the archive could write outside its folder; ask its publisher to fix it",
                    )
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise PackageFetchError(
            f"could not extract `{label}` from {url}: {exc}",
            package=label,
            url=url,
            hint="check that the URL points at a .tar.gz of the package",
        ) from None


def _unsafe_member(member: tarfile.TarInfo) -> str | None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or member.name.startswith("\\") or re.match(r"[A-Za-z]:", member.name):
        return f"member `{member.name}` has an absolute path"
    if ".." in path.parts:
        return f"member `{member.name}` climbs out of the package with `..`"
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        joined = target if member.islnk() else path.parent / target
        if target.is_absolute() or _escapes(joined):
            return f"link `{member.name}` -> `{member.linkname}` leads out of the package"
    elif not (member.isfile() or member.isdir()):
        return f"member `{member.name}` is a device or pipe"
    return None


def _escapes(path: PurePosixPath) -> bool:
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return True
    return False


def _package_root(folder: Path, label: str, url: str) -> Path:
    if any((folder / name).is_file() for name in PROJECT_FILES):
        return folder
    children = list(folder.iterdir()) if folder.is_dir() else []
    if len(children) == 1 and children[0].is_dir():
        return children[0]
    raise PackageFetchError(
        f"the archive of `{label}` holds no package: expected one top-level folder with "
        "dbt_project.yml",
        package=label,
        url=url,
        hint="check the URL; a package archive holds one folder with dbt_project.yml in it",
    )


def _project_name(folder: Path, label: str) -> str:
    for file in PROJECT_FILES:
        path = folder / file
        if path.is_file():
            rel = f"{label}/{file}"
            data = load_yaml(path.read_text(encoding="utf-8", errors="replace"), rel)
            name = data.get("name") if isinstance(data, Mapping) else None
            if isinstance(name, str) and _NAME.fullmatch(name):
                return name
            raise ConfigError(
                f"package `{label}` has no valid `name:` (got `{name!r}`)",
                location=loc_of(data, "name") or Location(rel, 1),
                hint="a package's name is an identifier (letters, digits, underscores)",
            )
    raise ConfigError(
        f"`{label}` is not a dbt package: it has no dbt_project.yml",
        hint="check the URL, `revision:` and `subdirectory:` of the entry",
    )


# --- installing -----------------------------------------------------------------------------


def install(
    project_dir: Path,
    *,
    upgrade: bool = False,
    lock_only: bool = False,
    progress: Progress | None = None,
    vars: Mapping[str, Any] | None = None,
) -> DepsResult:
    """Install the packages of the project in ``project_dir`` (`dbt deps`).

    Args:
        project_dir: The project folder (with dbt_project.yml or headwater.yml).
        upgrade: Ignore package-lock.yml and choose versions again (`dbt deps --upgrade`).
        lock_only: Write package-lock.yml without installing (`dbt deps --lock`).
        progress: Called with each progress line (already masked).
        vars: Values for `var()` in packages.yml.

    Raises:
        ConfigError: packages.yml, the lock or a package is invalid, or versions conflict.
        PackageFetchError: a download, clone or archive failed (nothing was changed then).
    """
    root = project_dir.resolve()
    project_name, install_dir = _project_settings(root)
    renderer = _Renderer(vars)
    spec_file, specs = _specs_in(root, renderer, None)
    spec_file = spec_file or "packages.yml"
    digest = lock_hash(specs)
    lock = None if upgrade else _read_lock(root)
    locked = _lock_entries(lock[1], renderer) if lock and lock[0] == digest and specs else None
    result = DepsResult([], install_dir, root / LOCK_FILE, False, locked is not None, not lock_only)
    if locked is not None and lock_only:  # `dbt deps --lock` with an up-to-date lock: no-op
        if progress is not None:
            progress(f"{LOCK_FILE} is up to date with {spec_file}")
        result.packages = [_listed(entry) for entry in locked]
        return result
    with tempfile.TemporaryDirectory(prefix="headwater-deps-") as work:
        session = _Session(root, renderer, progress, Path(work))
        if locked is not None:
            session.say(f"installing the versions in {LOCK_FILE}")
            pins = session.lock_pins(locked, specs)
        else:
            session.say(f"resolving {len(specs)} package(s) from {spec_file}")
            pins = session.resolve(specs, spec_file)
        _apply(session, pins, result, project_name, digest if locked is None and specs else None)
    return result


def _apply(
    session: _Session, pins: list[_Pin], result: DepsResult, project: str | None, digest: str | None
) -> None:
    """Install ``pins`` (unless lock-only) and write the lock when ``digest`` is given."""
    if result.installed:
        for pin in pins:
            session.fetch(pin)  # everything is downloaded before anything is replaced
    _check_names(pins, project)
    if result.installed:
        result.removed = _install_pins(pins, result.install_path, session)
    if digest is not None:
        for warning in _write_lock(result.lock_path, pins, digest):
            session.warn(warning)
        result.lock_written = True
        session.say(f"wrote {LOCK_FILE}")
    result.packages = [p.installed(result.install_path if result.installed else None) for p in pins]
    result.updates = _updates(pins, session)
    result.warnings = session.warnings


def _project_settings(root: Path) -> tuple[str | None, Path]:
    data = load_yaml_file(find_project_file(root), root) or {}
    data = data if isinstance(data, Mapping) else {}
    raw = data.get("packages-install-path", DEFAULT_INSTALL_PATH)
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(
            f"`packages-install-path` must be a folder name, got `{raw!r}`",
            location=loc_of(data, "packages-install-path"),
            hint=f"write `packages-install-path: {DEFAULT_INSTALL_PATH}`",
        )
    install_dir = (root / raw).resolve()
    if root.is_relative_to(install_dir):
        raise ConfigError(
            f"`packages-install-path: {raw}` would install packages over the project itself",
            location=loc_of(data, "packages-install-path"),
            hint=f"use a folder of its own, e.g. `packages-install-path: {DEFAULT_INSTALL_PATH}`",
        )
    name = data.get("name")
    return (name if isinstance(name, str) else None), install_dir


def _read_lock(root: Path) -> tuple[str, Any] | None:
    """(sha1_hash, unparsed entries) of package-lock.yml, or None."""
    path = root / LOCK_FILE
    if not path.is_file():
        return None
    data = load_yaml_file(path, root)
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{LOCK_FILE} must be a mapping with `packages:` and `{LOCK_HASH_KEY}:`",
            location=Location(LOCK_FILE, 1),
            hint=f"delete {LOCK_FILE} and run `headwater deps` to write it again",
        )
    check_keys(data, {"packages", LOCK_HASH_KEY}, LOCK_FILE)
    return str(data.get(LOCK_HASH_KEY) or ""), data.get("packages") or []


def _lock_entries(entries: Any, renderer: _Renderer) -> list[PackageSpec]:
    if not isinstance(entries, list):
        raise ConfigError(
            f"`packages:` of {LOCK_FILE} must be a list",
            location=loc_of(entries) or Location(LOCK_FILE),
            hint=f"delete {LOCK_FILE} and run `headwater deps` to write it again",
        )
    return [_parse_entry(e, loc_of(entries, i), renderer) for i, e in enumerate(entries)]


def _listed(spec: PackageSpec) -> InstalledPackage:
    version = spec.versions[0] if spec.kind == "hub" else spec.revision
    return InstalledPackage(spec.name or "", spec.kind, spec.label, version, None)


def _check_names(pins: list[_Pin], project_name: str | None) -> None:
    seen: dict[str, _Pin] = {}
    for pin in pins:
        name = pin.name or ""
        if name == project_name:
            raise ConfigError(
                f"package `{pin.spec.label}` is named `{name}`, like this project",
                location=pin.spec.location,
                hint="a project cannot depend on itself; remove the entry",
            )
        if name in seen:
            raise ConfigError(
                f"two packages would install as `{name}`: `{seen[name].spec.label}` and "
                f"`{pin.spec.label}`",
                location=pin.spec.location or seen[name].spec.location,
                hint="keep one of them (a hub package and a git copy of it are the same package)",
            )
        seen[name] = pin


def _install_pins(pins: list[_Pin], install_dir: Path, session: _Session) -> list[str]:
    """Copy every fetched package beside its place, then rename each into it; returns the names
    of the folders removed because no package needs them any more."""
    install_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[_Pin, Path]] = []
    try:
        for pin in pins:
            staged.append((pin, _stage(pin, install_dir)))
    except BaseException:
        for _, temp in staged:
            _remove(temp)
        raise
    for pin, temp in staged:
        _swap(temp, install_dir / (pin.name or ""))
        version = pin.version if pin.spec.kind == "hub" else (pin.sha or "")[:12]
        detail = " ".join(x for x in (pin.spec.kind, pin.spec.label, version) if x)
        session.say(f"installed `{pin.name}` ({detail})")
    removed = []
    keep = {pin.name for pin in pins}
    for entry in sorted(install_dir.iterdir()):
        if entry.name.startswith(_TEMP_PREFIX):
            _remove(entry)
        elif (
            entry.name not in keep
            and not entry.name.startswith(".")
            and (entry.is_symlink() or entry.is_dir())
        ):
            _remove(entry)
            removed.append(entry.name)
            session.say(f"removed `{entry.name}` (no longer required)")
    return removed


def _stage(pin: _Pin, install_dir: Path) -> Path:
    temp = install_dir / f"{_TEMP_PREFIX}new-{pin.name}-{uuid.uuid4().hex[:8]}"
    source = pin.content or install_dir
    if pin.spec.kind == "local":
        try:
            temp.symlink_to(source, target_is_directory=True)
            return temp
        except OSError:
            pass  # no symlinks here (Windows without the privilege): copy, as dbt does
    shutil.copytree(source, temp, symlinks=True, ignore=_copy_ignore(install_dir))
    return temp


def _copy_ignore(install_dir: Path) -> Callable[[str, list[str]], set[str]]:
    """Skip `.git`, and the install path itself when a local package contains the project."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n == ".git" or Path(folder, n).resolve() == install_dir}
        return skip

    return ignore


def _swap(new: Path, dest: Path) -> None:
    old = None
    if dest.is_symlink() or dest.exists():
        old = dest.with_name(f"{_TEMP_PREFIX}old-{dest.name}-{uuid.uuid4().hex[:8]}")
        os.rename(dest, old)
    try:
        os.rename(new, dest)
    except OSError:
        if old is not None:
            os.rename(old, dest)
        raise
    if old is not None:
        _remove(old)


def _remove(path: Path) -> None:
    """Delete a file, a symlink (never what it points to) or a folder."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path)


class _LockDumper(yaml.SafeDumper):
    """Indents list items under their key, as dbt's lock does."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _write_lock(path: Path, pins: Sequence[_Pin], digest: str) -> list[str]:
    """Write package-lock.yml atomically; returns warnings (credentials masked)."""
    warnings, entries = [], []
    for pin in pins:
        entry = _lock_entry(pin)
        for key in ("git", "tarball"):
            if key in entry and entry[key] != pin.spec.source_unrendered:
                warnings.append(
                    f"credentials in the URL of `{entry[key]}` were masked in {LOCK_FILE}; use "
                    "{{ env_var('DBT_ENV_SECRET_...') }} in packages.yml instead"
                )
        entries.append(entry)
    text = yaml.dump(
        {"packages": entries, LOCK_HASH_KEY: digest},
        Dumper=_LockDumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
    )
    temp = path.with_name(f"{_TEMP_PREFIX}{path.name}")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
    return warnings


def _lock_entry(pin: _Pin) -> dict[str, Any]:
    spec = pin.spec
    if spec.kind == "hub":
        return {"package": spec.source, "version": pin.version, "name": pin.name}
    if spec.kind == "git":
        entry = {"git": public_url(spec.source_unrendered), "revision": pin.sha, "name": pin.name}
        return entry | ({"subdirectory": spec.subdirectory} if spec.subdirectory else {})
    if spec.kind == "tarball":
        return {"tarball": public_url(spec.source_unrendered), "name": pin.name}
    return {"local": spec.source, "name": pin.name}


def _updates(pins: list[_Pin], session: _Session) -> dict[str, str]:
    out = {}
    for pin in pins:
        if pin.spec.kind != "hub" or not pin.latest or not pin.version:
            continue
        if Version.parse(pin.latest) > Version.parse(pin.version):
            out[pin.spec.source] = pin.latest
            session.say(
                f"update available: `{pin.spec.source}` {pin.latest} (installed {pin.version})"
            )
    return out
