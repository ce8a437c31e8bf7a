"""Choosing what to install: `_Session` (one `deps` run) gathers requirements transitively,
pins hub versions (`pick_version`) and git revisions until they settle, pins the entries of a
matching lock, and fetches packages into a scratch folder (with caches of hub answers and
downloads); version conflicts become errors naming the requirers."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path
from typing import Any

from headwater import secrets
from headwater.errors import ConfigError, Location
from headwater.project.deps.fetch import (
    PackageFetchError,
    _extract,
    _git_checkout,
    _http_get,
    _hub_json,
    _package_root,
    _project_name,
)
from headwater.project.deps.result import InstalledPackage
from headwater.project.deps.specs import (
    LOCK_FILE,
    PackageSpec,
    _parse_entry,
    _Renderer,
    _specs_in,
    public_url,
)
from headwater.project.deps.versions import Version, VersionRange, pick_version

Progress = Callable[[str], None]

DEFAULT_HUB_URL = "https://hub.getdbt.com/"
MAX_ROUNDS = 20
_UNPINNED = ("HEAD", "main", "master")


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
