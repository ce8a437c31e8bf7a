"""`headwater deps`: hub, git, tarball and local packages, the lock, atomic installs, secrets.

Everything is real: a git repository built in tmp_path, and an HTTP server on 127.0.0.1 that
serves hub JSON and tarballs built here.
"""

from __future__ import annotations

import hashlib
import io
import json
import operator
import os
import subprocess
import tarfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from headwater.errors import ConfigError, UnknownKeyError
from headwater.project.deps import (
    LOCK_FILE,
    PackageFetchError,
    Version,
    install,
    lock_hash,
    pick_version,
    read_package_specs,
)

# --- a hub and tarballs served over HTTP ---------------------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            super().handle_error(request, client_address)


@dataclass
class Web:
    root: Path
    url: str

    def tarball(self, rel: str, files: dict[str, str], top: str | None = "pkg") -> str:
        """Write a .tar.gz under the web root; returns its URL."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make_tar({(f"{top}/{k}" if top else k): v for k, v in files.items()}))
        return f"{self.url}/{rel}"

    def publish(
        self, package: str, versions: dict[str, list[dict]], name: str | None = None
    ) -> None:
        """Add versions of hub package `org/name` (each with its transitive `packages:`)."""
        org, short = package.split("/")
        name = name or short
        endpoint = self.root / "api" / "v1" / org / f"{short}.json"
        data = json.loads(endpoint.read_text()) if endpoint.is_file() else {"versions": {}}
        for version, deps in versions.items():
            files = {"dbt_project.yml": f"name: {name}\nversion: '{version}'\n"}
            files[f"macros/{name}.sql"] = f"-- {name} {version}\n"
            url = self.tarball(
                f"tarballs/{org}/{short}-{version}.tar.gz", files, f"{short}-{version}"
            )
            digest = hashlib.sha1((self.root / url.split("/", 3)[3]).read_bytes()).hexdigest()
            data["versions"][version] = {
                "name": name,
                "packages": deps,
                "downloads": {"tarball": url, "format": "tgz", "sha1": digest},
            }
        data.update(name=short, namespace=org, latest=max(data["versions"], key=Version.parse))
        endpoint.parent.mkdir(parents=True, exist_ok=True)
        endpoint.write_text(json.dumps(data))


def make_tar(files: dict[str, str], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


@pytest.fixture
def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    root = tmp_path / "web"
    root.mkdir()
    server = _Server(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    site = Web(root, f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("DBT_PACKAGE_HUB_URL", site.url + "/")
    yield site
    server.shutdown()
    server.server_close()
    thread.join()


# --- projects and a git repository -------------------------------------------------------------


def make_project(root: Path, packages: str, *, name: str = "root_proj", extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(f"name: {name}\nversion: '1.0'\n{extra}")
    (root / "packages.yml").write_text(textwrap.dedent(packages))
    return root


def make_package(folder: Path, name: str, packages: str | None = None, marker: str = "") -> Path:
    (folder / "macros").mkdir(parents=True, exist_ok=True)
    (folder / "dbt_project.yml").write_text(f"name: {name}\n")
    (folder / "macros" / "m.sql").write_text(marker or name)
    if packages is not None:
        (folder / "packages.yml").write_text(textwrap.dedent(packages))
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    return partial(make_project, tmp_path / "proj")


def versions(result: Any) -> dict[str, str | None]:
    return {p.name: p.version for p in result.packages}


def read_lock(root: Path) -> dict[str, Any]:
    return yaml.safe_load((root / LOCK_FILE).read_text())


_GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=_GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@dataclass
class Repo:
    url: str
    tag_sha: str
    dev_sha: str
    main_sha: str


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A bare repository: root package `root_pkg`, `pkgs/sub_pkg` in a subdirectory; tag
    v1.0.0 (marker v1), branch dev (marker dev), main one commit past the tag (marker v2)."""
    bare, work = tmp_path / "remote" / "pkgs.git", tmp_path / "work"
    bare.parent.mkdir()
    work.mkdir()
    git(bare.parent, "init", "--quiet", "--bare", "-b", "main", str(bare))
    git(work, "init", "--quiet", "-b", "main")

    def commit(marker: str) -> str:
        make_package(work, "root_pkg", marker=f"root {marker}")
        make_package(work / "pkgs" / "sub_pkg", "sub_pkg", marker=marker)
        git(work, "add", "-A")
        git(work, "commit", "--quiet", "-m", marker)
        return git(work, "rev-parse", "HEAD")

    tag_sha = commit("v1")
    git(work, "tag", "-a", "v1.0.0", "-m", "v1")
    git(work, "checkout", "--quiet", "-b", "dev")
    dev_sha = commit("dev")
    git(work, "checkout", "--quiet", "main")
    main_sha = commit("v2")
    git(work, "push", "--quiet", "--tags", str(bare), "main", "dev")
    return Repo(str(bare), tag_sha, dev_sha, main_sha)


# --- hub ---------------------------------------------------------------------------------------


def test_hub_ranges_from_all_requirers_and_transitive_deps(
    web: Web, project: Callable[..., Path]
) -> None:
    web.publish("a/pkg_a", {"0.9.0": [], "1.0.0": [], "2.0.0": [], "1.5.0-rc1": []})
    web.publish("a/pkg_a", {"1.4.0": [{"package": "b/pkg_b", "version": ">=0.2.0"}]})
    web.publish("b/pkg_b", {"0.1.0": [], "0.2.0": [], "0.3.0": []})
    root = project(
        """
        packages:
          - package: a/pkg_a
            version: [">=1.0.0", "<2.0.0"]
          - package: b/pkg_b
            version: "<0.3.0"
        """
    )
    lines: list[str] = []
    result = install(root, progress=lines.append)

    assert versions(result) == {"pkg_a": "1.4.0", "pkg_b": "0.2.0"}
    assert (root / "dbt_packages/pkg_a/macros/pkg_a.sql").read_text() == "-- pkg_a 1.4.0\n"
    assert (root / "dbt_packages/pkg_b/macros/pkg_b.sql").read_text() == "-- pkg_b 0.2.0\n"
    assert result.updates == {"a/pkg_a": "2.0.0", "b/pkg_b": "0.3.0"}
    assert any("update available: `a/pkg_a` 2.0.0" in line for line in lines)
    lock = read_lock(root)
    assert lock["packages"] == [
        {"name": "pkg_a", "package": "a/pkg_a", "version": "1.4.0"},
        {"name": "pkg_b", "package": "b/pkg_b", "version": "0.2.0"},
    ]
    assert lock["sha1_hash"] == lock_hash(read_package_specs(root))
    assert "  - name: pkg_a\n    package: a/pkg_a\n" in (root / LOCK_FILE).read_text()


def test_conflicting_ranges_name_both_requirers(web: Web, project: Callable[..., Path]) -> None:
    web.publish("a/pkg_a", {"1.4.0": [{"package": "b/pkg_b", "version": "<0.3.0"}]})
    web.publish("b/pkg_b", {"0.2.0": [], "0.3.0": []})
    root = project(
        """
        packages:
          - package: a/pkg_a
            version: 1.4.0
          - package: b/pkg_b
            version: ">=0.3.0"
        """
    )
    with pytest.raises(ConfigError) as info:
        install(root)
    message = str(info.value)
    assert "conflicting versions of `b/pkg_b`" in message
    assert "a/pkg_a 1.4.0 requires `<0.3.0`" in message
    assert "packages.yml requires `>=0.3.0`" in message
    assert info.value.exit_code == 2
    assert info.value.location is not None and info.value.location.path == "packages.yml"
    assert not (root / "dbt_packages").exists() and not (root / LOCK_FILE).exists()


def test_hub_package_not_on_hub_is_config_error(web: Web, project: Callable[..., Path]) -> None:
    root = project("packages:\n  - package: a/missing\n    version: 1.0.0\n")
    with pytest.raises(ConfigError, match="`a/missing` is not on the package hub") as info:
        install(root)
    assert info.value.location is not None and info.value.location.line == 2


def test_lock_is_reused_until_upgrade(web: Web, project: Callable[..., Path]) -> None:
    web.publish("a/pkg_a", {"1.0.0": [], "1.4.0": []})
    root = project("packages:\n  - package: a/pkg_a\n    version: '>=1.0.0'\n")
    first = install(root)
    assert versions(first) == {"pkg_a": "1.4.0"} and first.lock_written and not first.from_lock
    lock_text = (root / LOCK_FILE).read_text()

    web.publish("a/pkg_a", {"1.6.0": []})
    second = install(root)
    assert second.from_lock and not second.lock_written
    assert versions(second) == {"pkg_a": "1.4.0"}
    assert second.updates == {"a/pkg_a": "1.6.0"}
    assert (root / "dbt_packages/pkg_a/macros/pkg_a.sql").read_text() == "-- pkg_a 1.4.0\n"
    assert (root / LOCK_FILE).read_text() == lock_text

    third = install(root, upgrade=True)
    assert versions(third) == {"pkg_a": "1.6.0"} and third.lock_written
    assert (root / "dbt_packages/pkg_a/macros/pkg_a.sql").read_text() == "-- pkg_a 1.6.0\n"
    assert read_lock(root)["packages"][0]["version"] == "1.6.0"


def test_changed_packages_yml_invalidates_the_lock(web: Web, project: Callable[..., Path]) -> None:
    web.publish("a/pkg_a", {"1.0.0": [], "1.4.0": []})
    root = project("packages:\n  - package: a/pkg_a\n    version: '>=1.0.0'\n")
    install(root)
    (root / "packages.yml").write_text("packages:\n  - package: a/pkg_a\n    version: '<1.2.0'\n")
    result = install(root)
    assert not result.from_lock and versions(result) == {"pkg_a": "1.0.0"}
    assert read_lock(root)["sha1_hash"] == lock_hash(read_package_specs(root))


def test_lock_only_writes_the_lock_without_installing(
    web: Web, project: Callable[..., Path]
) -> None:
    web.publish("a/pkg_a", {"1.0.0": [], "1.4.0": []})
    root = project("packages:\n  - package: a/pkg_a\n    version: '>=1.0.0'\n")
    result = install(root, lock_only=True)
    assert not result.installed and result.lock_written
    assert [(p.name, p.version, p.path) for p in result.packages] == [("pkg_a", "1.4.0", None)]
    assert not (root / "dbt_packages").exists()
    assert read_lock(root)["packages"] == [
        {"name": "pkg_a", "package": "a/pkg_a", "version": "1.4.0"}
    ]

    again = install(root, lock_only=True)
    assert again.from_lock and not again.lock_written and not (root / "dbt_packages").exists()
    installed = install(root)
    assert installed.from_lock and (root / "dbt_packages/pkg_a/dbt_project.yml").is_file()


# --- git ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("revision", "marker", "sha"),
    [("v1.0.0", "v1", "tag_sha"), ("dev", "dev", "dev_sha"), (None, "v1", "tag_sha")],
    ids=["tag", "branch", "commit"],
)
def test_git_revision_and_subdirectory(
    repo: Repo, project: Callable[..., Path], revision: str | None, marker: str, sha: str
) -> None:
    rev = revision or repo.tag_sha
    root = project(
        f"packages:\n  - git: '{repo.url}'\n    revision: '{rev}'\n    subdirectory: pkgs/sub_pkg\n"
    )
    result = install(root)
    expected = getattr(repo, sha)
    assert versions(result) == {"sub_pkg": expected}
    assert (root / "dbt_packages/sub_pkg/macros/m.sql").read_text() == marker
    assert not (root / "dbt_packages/root_pkg").exists()
    assert read_lock(root)["packages"] == [
        {"git": repo.url, "name": "sub_pkg", "revision": expected, "subdirectory": "pkgs/sub_pkg"}
    ]
    again = install(root)  # from the lock: the SHA
    assert again.from_lock and versions(again) == {"sub_pkg": expected}


def test_git_default_head_warns_unpinned_and_skips_dot_git(
    repo: Repo, project: Callable[..., Path]
) -> None:
    root = project(f"packages:\n  - git: '{repo.url}'\n")
    lines: list[str] = []
    result = install(root, progress=lines.append)
    assert versions(result) == {"root_pkg": repo.main_sha}
    assert (root / "dbt_packages/root_pkg/macros/m.sql").read_text() == "root v2"
    assert not (root / "dbt_packages/root_pkg/.git").exists()
    assert any(line.startswith("warning:") and "not pinned" in line for line in lines)
    assert result.warnings and "revision `HEAD`" in result.warnings[0]

    (root / "packages.yml").write_text(
        f"packages:\n  - git: '{repo.url}'\n    warn-unpinned: false\n"
    )
    assert install(root).warnings == []


def test_git_unknown_revision(repo: Repo, project: Callable[..., Path]) -> None:
    root = project(f"packages:\n  - git: '{repo.url}'\n    revision: nope\n")
    with pytest.raises(PackageFetchError, match="revision `nope` is not in") as info:
        install(root)
    assert info.value.exit_code == 1 and "git ls-remote" in (info.value.hint or "")


def test_git_required_at_two_revisions(
    repo: Repo, project: Callable[..., Path], tmp_path: Path
) -> None:
    make_package(
        tmp_path / "middle", "middle", f"packages:\n  - git: '{repo.url}'\n    revision: dev\n"
    )
    root = project(
        f"packages:\n  - git: '{repo.url}'\n    revision: v1.0.0\n  - local: ../middle\n"
    )
    with pytest.raises(ConfigError, match="required at two revisions") as info:
        install(root)
    assert "`v1.0.0` by packages.yml" in str(info.value) and "`dev` by ../middle" in str(info.value)


# --- tarball and local ---------------------------------------------------------------------------


def test_tarball_and_local_then_dropped(
    web: Web, project: Callable[..., Path], tmp_path: Path
) -> None:
    url = web.tarball(
        "t/tar_pkg.tar.gz", {"dbt_project.yml": "name: tar_pkg\n", "macros/t.sql": "t1"}
    )
    shared = make_package(tmp_path / "shared", "shared_macros")
    root = project(f"packages:\n  - tarball: {url}\n    name: tb\n  - local: ../shared\n")
    result = install(root)
    assert {(p.name, p.kind) for p in result.packages} == {
        ("tar_pkg", "tarball"),
        ("shared_macros", "local"),
    }
    assert (root / "dbt_packages/tar_pkg/macros/t.sql").read_text() == "t1"
    link = root / "dbt_packages/shared_macros"
    assert link.is_symlink() and link.resolve() == shared.resolve()
    assert read_lock(root)["packages"] == [
        {"name": "tar_pkg", "tarball": url},
        {"local": "../shared", "name": "shared_macros"},
    ]

    (root / "packages.yml").write_text("packages: []\n")
    (root / "dbt_packages/.gitkeep").write_text("")
    dropped = install(root)
    assert sorted(dropped.removed) == ["shared_macros", "tar_pkg"]
    assert sorted(p.name for p in (root / "dbt_packages").iterdir()) == [".gitkeep"]
    assert (shared / "macros/m.sql").read_text() == "shared_macros"  # the symlink's target survives


def test_failing_download_leaves_previous_install(web: Web, project: Callable[..., Path]) -> None:
    url = web.tarball(
        "t/tar_pkg.tar.gz", {"dbt_project.yml": "name: tar_pkg\n", "macros/t.sql": "old"}
    )
    root = project(f"packages:\n  - tarball: {url}\n    name: tar_pkg\n")
    install(root)
    lock_before = (root / LOCK_FILE).read_text()

    missing = f"{web.url}/t/missing.tar.gz"
    (root / "packages.yml").write_text(
        f"packages:\n  - tarball: {missing}\n    name: tar_pkg\n  - tarball: {url}\n    name: again\n"
    )
    with pytest.raises(PackageFetchError) as info:
        install(root)
    assert info.value.status == 404 and info.value.url == missing and "HTTP 404" in str(info.value)
    assert (root / "dbt_packages/tar_pkg/macros/t.sql").read_text() == "old"
    assert [p.name for p in (root / "dbt_packages").iterdir()] == ["tar_pkg"]
    assert (root / LOCK_FILE).read_text() == lock_before


@pytest.mark.parametrize(
    ("files", "links", "problem"),
    [
        ({"pkg/dbt_project.yml": "name: evil\n", "pkg/../../evil.sql": "x"}, {}, "climbs out"),
        ({"pkg/dbt_project.yml": "name: evil\n", "/tmp/evil.sql": "x"}, {}, "absolute path"),
        ({"pkg/dbt_project.yml": "name: evil\n"}, {"pkg/link": "../../evil.sql"}, "leads out"),
    ],
    ids=["dotdot", "absolute", "symlink"],
)
def test_unsafe_tarball_is_refused(
    web: Web, project: Callable[..., Path], tmp_path: Path, files: dict, links: dict, problem: str
) -> None:
    good = web.tarball("t/good.tar.gz", {"dbt_project.yml": "name: evil\n", "macros/t.sql": "good"})
    root = project(f"packages:\n  - tarball: {good}\n    name: evil\n")
    install(root)
    (web.root / "t/bad.tar.gz").write_bytes(make_tar(files, links))
    (root / "packages.yml").write_text(
        f"packages:\n  - tarball: {web.url}/t/bad.tar.gz\n    name: evil\n"
    )
    with pytest.raises(PackageFetchError, match=problem):
        install(root)
    assert (root / "dbt_packages/evil/macros/t.sql").read_text() == "good"
    assert not list(tmp_path.rglob("evil.sql"))


def test_duplicate_package_names_are_refused(project: Callable[..., Path], tmp_path: Path) -> None:
    make_package(tmp_path / "one", "dup")
    make_package(tmp_path / "two", "dup")
    root = project("packages:\n  - local: ../one\n  - local: ../two\n")
    with pytest.raises(ConfigError, match="two packages would install as `dup`"):
        install(root)
    make_package(tmp_path / "self", "root_proj")
    (root / "packages.yml").write_text("packages:\n  - local: ../self\n")
    with pytest.raises(ConfigError, match="like this project"):
        install(root)


def test_install_path_from_project_and_guarded(
    project: Callable[..., Path], tmp_path: Path
) -> None:
    make_package(tmp_path / "one", "one")
    root = project("packages:\n  - local: ../one\n", extra="packages-install-path: vendor/pkgs\n")
    result = install(root)
    assert (
        result.packages[0].path == root / "vendor/pkgs/one"
        and (root / "vendor/pkgs/one").is_symlink()
    )
    (root / "dbt_project.yml").write_text("name: root_proj\npackages-install-path: .\n")
    with pytest.raises(ConfigError, match="over the project itself") as info:
        install(root)
    assert info.value.location is not None and info.value.location.line == 2


# --- secrets -----------------------------------------------------------------------------------


def test_env_var_secrets_are_masked_and_kept_out_of_the_lock(
    web: Web, project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3tvalue42"
    monkeypatch.setenv("DBT_ENV_SECRET_TOKEN", secret)
    web.tarball(f"{secret}/p.tar.gz", {"dbt_project.yml": "name: private_pkg\n"})
    template = f"{web.url}/{{{{ env_var('DBT_ENV_SECRET_TOKEN') }}}}/p.tar.gz"
    root = project(f'packages:\n  - tarball: "{template}"\n    name: p\n')
    lines: list[str] = []
    result = install(root, progress=lines.append)

    assert lines and not any(secret in line for line in lines)
    assert result.packages[0].source == template
    lock = (root / LOCK_FILE).read_text()
    assert "{{ env_var('DBT_ENV_SECRET_TOKEN') }}" in lock and secret not in lock
    assert install(root).from_lock  # the lock's template renders again

    (root / "packages.yml").write_text(
        root.joinpath("packages.yml").read_text().replace("p.tar.gz", "q.tar.gz")
    )
    with pytest.raises(PackageFetchError) as info:
        install(root)
    assert (
        secret not in str(info.value) and secret not in info.value.url and "***" in str(info.value)
    )


def test_literal_credentials_are_masked_in_lock_and_errors(
    web: Web, project: Callable[..., Path]
) -> None:
    url = web.tarball("t/p.tar.gz", {"dbt_project.yml": "name: p\n"})
    with_creds = url.replace("http://", "http://bob:hunter2pass@")
    root = project(f"packages:\n  - tarball: {with_creds}\n    name: p\n")
    result = install(root)
    lock = (root / LOCK_FILE).read_text()
    assert "hunter2pass" not in lock and "http://***@127.0.0.1" in lock
    assert any("masked" in w for w in result.warnings)
    again = install(root)  # the masked lock entry takes its URL from packages.yml again
    assert again.from_lock and (root / "dbt_packages/p/dbt_project.yml").is_file()

    (root / "packages.yml").write_text(
        "packages:\n  - git: https://bob:hunter2pass@127.0.0.1:9/x.git\n"
    )
    with pytest.raises(PackageFetchError, match="could not clone") as info:
        install(root)
    assert "hunter2pass" not in str(info.value) and "hunter2pass" not in info.value.url


def test_missing_env_var_and_defaults(
    project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HW_NOT_SET", raising=False)
    root = project("packages:\n  - local: \"{{ env_var('HW_NOT_SET') }}\"\n")
    with pytest.raises(ConfigError, match="`HW_NOT_SET` is not set") as info:
        read_package_specs(root)
    assert "export HW_NOT_SET" in (info.value.hint or "")
    assert info.value.location is not None and info.value.location.line == 2
    (root / "packages.yml").write_text(
        "packages:\n  - local: \"{{ env_var('HW_NOT_SET', '../x') }}/{{ var('sub', 'y') }}\"\n"
    )
    assert read_package_specs(root)[0].source == "../x/y"
    (root / "packages.yml").write_text('packages:\n  - local: "{{ cycler(1) }}"\n')
    with pytest.raises(ConfigError, match="cannot render"):
        read_package_specs(root)


# --- reading packages.yml ----------------------------------------------------------------------


def test_unknown_keys_suggest_the_right_one(project: Callable[..., Path]) -> None:
    root = project("packages:\n  - package: a/b\n    versoin: 1.0.0\n")
    with pytest.raises(UnknownKeyError, match="did you mean `version`") as info:
        read_package_specs(root)
    assert info.value.location is not None and info.value.location.line == 3
    (root / "packages.yml").write_text("packages:\n  - pakage: a/b\n    version: 1.0.0\n")
    with pytest.raises(UnknownKeyError, match="did you mean `package`"):
        read_package_specs(root)
    (root / "packages.yml").write_text("packages:\n  - package: a/b\n    version: ~1.0\n")
    with pytest.raises(ConfigError, match="invalid `version:`"):
        read_package_specs(root)


def test_dependencies_yml(project: Callable[..., Path]) -> None:
    root = project("")
    (root / "packages.yml").unlink()
    (root / "dependencies.yml").write_text(
        "packages:\n  - package: a/b\n    version: '>=1.0.0,<2.0.0'\nprojects: []\n"
    )
    [spec] = read_package_specs(root)
    assert spec.versions == (">=1.0.0", "<2.0.0")
    (root / "packages.yml").write_text("packages:\n  - local: ../x\n")
    with pytest.raises(ConfigError, match=r"both packages\.yml and dependencies\.yml"):
        read_package_specs(root)
    (root / "packages.yml").unlink()
    (root / "dependencies.yml").write_text("packages:\n  - git: \"{{ env_var('X') }}\"\n")
    with pytest.raises(ConfigError, match="not rendered"):
        read_package_specs(root)


def test_lock_hash_is_dbts(project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Hashes computed by dbt-core 1.11 (`dbt.task.deps._create_sha1_hash`) for these files."""
    monkeypatch.setenv("DBT_ENV_SECRET_TOK", "abc")
    root = project(
        """\
        packages:
          - package: dbt-labs/dbt_utils
            version: [">=1.0.0", "<2.0.0"]
          - git: "https://{{ env_var('DBT_ENV_SECRET_TOK') }}@github.com/x/y.git"
            revision: v1
            subdirectory: sub
          - local: ../foo
          - tarball: http://x/y.tgz
            name: yy
          - git: https://github.com/a/b.git
            warn-unpinned: false
          - package: a/b
            version: 1.2.3
            install_prerelease: true
        """
    )
    assert lock_hash(read_package_specs(root)) == "25e6e888b34bd819c9d605b5802cf7f2c4534487"
    (root / "packages.yml").write_text(
        textwrap.dedent(
            """\
            packages:
              - package: a/b
                version: "1.0.0"
              - package: a/c
                version: 0.5
              - git: https://github.com/a/b.git
                revision: "123"
              - git: https://github.com/a/b.git
                revision: 1.5
              - package: a/d
                version: [1.0, "<2"]
              - local: x
                name: foo
            """
        )
    )
    assert lock_hash(read_package_specs(root)) == "d54701d9808140757d886c7a858f2b128fd2f8e6"


# --- versions ----------------------------------------------------------------------------------


def test_semver_precedence_and_prereleases() -> None:
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
             "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0"]  # fmt: skip
    assert sorted(order[::-1], key=Version.parse) == order
    assert pick_version(["1.4.0", "1.5.0-rc1"], [">1.4.0"]) is None
    assert pick_version(["1.4.0", "1.5.0-rc1"], [">1.4.0"], prerelease=True) == "1.5.0-rc1"
    assert pick_version(["1.4.0", "1.5.0-rc1"], [">=1.5.0-rc1"]) == "1.5.0-rc1"
    assert pick_version(["1.4.0", "junk", "2.0.0+build"], ["<3"]) == "2.0.0+build"


_OPS = {"=": operator.eq, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_triples = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3))


@given(
    available=st.lists(_triples, unique=True, max_size=15),
    ranges=st.lists(st.tuples(st.sampled_from(sorted(_OPS)), _triples), max_size=4),
)
def test_pick_version_is_the_highest_satisfying(
    available: list[tuple[int, int, int]], ranges: list[tuple[str, tuple[int, int, int]]]
) -> None:
    def text(v: tuple[int, int, int]) -> str:
        return ".".join(map(str, v))

    def ok(v: tuple[int, int, int]) -> bool:
        return all(_OPS[op](v, bound) for op, bound in ranges)

    chosen = pick_version([text(v) for v in available], [f"{op}{text(b)}" for op, b in ranges])
    satisfying = [v for v in available if ok(v)]
    if chosen is None:
        assert satisfying == []
    else:
        picked = tuple(int(x) for x in chosen.split("."))
        assert ok(picked)  # type: ignore[arg-type]
        assert picked == max(satisfying)
