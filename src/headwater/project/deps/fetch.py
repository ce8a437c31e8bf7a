"""Getting a package's files: HTTP downloads with retries and URL credentials as basic auth
(`_http_get`, hub metadata in `_hub_json`), git clones at a branch, tag or commit (`_git_checkout`,
no shell, no prompts), safe tar extraction (`_extract` refuses absolute paths, `..` and links out
of the package), finding the package folder and its project name; `PackageFetchError` for all of
these failures."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from headwater import secrets
from headwater.errors import ConfigError, HeadwaterError, Location
from headwater.project.deps.specs import PackageSpec
from headwater.project.files import PROJECT_FILES
from headwater.project.validate import loc_of
from headwater.project.yaml import load_yaml

HTTP_TIMEOUT = 30.0
HTTP_ATTEMPTS = 3
GIT_TIMEOUT = 600.0

_SHA = re.compile(r"[0-9a-f]{7,40}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
