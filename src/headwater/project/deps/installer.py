"""Installing (`install`, `headwater deps`): the project's install path and name, reading and
reusing `package-lock.yml`, staging every fetched package beside its place and renaming it in (a
failure leaves the previous install), removing packages no longer required, writing the lock
atomically, and reporting hub updates."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from headwater.errors import ConfigError, Location
from headwater.project.deps.resolve import Progress, _Pin, _Session
from headwater.project.deps.result import DepsResult, InstalledPackage
from headwater.project.deps.specs import (
    LOCK_FILE,
    LOCK_HASH_KEY,
    PackageSpec,
    _parse_entry,
    _Renderer,
    _specs_in,
    lock_hash,
    public_url,
)
from headwater.project.deps.versions import Version
from headwater.project.files import find_project_file
from headwater.project.validate import check_keys, loc_of
from headwater.project.yaml import load_yaml_file

DEFAULT_INSTALL_PATH = "dbt_packages"
_TEMP_PREFIX = ".headwater-"


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
