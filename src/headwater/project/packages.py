"""Installed dbt packages: what `dbt deps` (or `headwater deps`) put in `dbt_packages/`.

A package is a folder with its own `dbt_project.yml`; its `name:` is its namespace. Its macros,
generic tests, models, seeds and snapshots are loaded with the project (`ProjectReader`), its
nodes configured first by its own project file and then by the root project's
`models: <package>: ...` tree, as dbt does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, Location
from headwater.project.definition import ProjectConfig, Target
from headwater.project.project_file import read_project_config

PACKAGE_FILES = ("packages.yml", "dependencies.yml")


@dataclass
class Package:
    name: str
    path: Path
    """The package folder (absolute, not resolved: a `local:` package may be a symlink)."""
    rel: str
    """The folder relative to the project root, e.g. `dbt_packages/dbt_utils`."""
    config: ProjectConfig


def declared_packages(root: Path) -> list[dict[str, Any]]:
    """The entries of `packages.yml` / `dependencies.yml` (`packages:`), unrendered."""
    from headwater.project.yaml import load_yaml_file

    for name in PACKAGE_FILES:
        path = root / name
        if path.is_file():
            data = load_yaml_file(path, root)
            if isinstance(data, dict):
                return [dict(p) for p in data.get("packages") or [] if isinstance(p, dict)]
    return []


def declared_name(entry: dict[str, Any]) -> str:
    """The namespace a declared package probably has (for hints): `dbt-labs/dbt_utils` -> dbt_utils."""
    for key in ("package", "git", "tarball", "local", "private"):
        if key in entry:
            text = str(entry.get("name") or entry[key]).rstrip("/")
            text = text.rsplit("/", 1)[-1].removesuffix(".git").removesuffix(".tar.gz")
            return text.replace("-", "_")
    return ""


def installed_packages(
    root: Path, config: ProjectConfig, target: Target | None = None
) -> list[Package]:
    """Every package folder under the project's `packages-install-path`, by name (``target`` is
    the one the project runs with, for `{{ target.name }}` in a package's project file)."""
    base = root / config.packages_install_path
    if not base.is_dir():
        return []
    out: dict[str, Package] = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (folder / "dbt_project.yml").is_file():
            continue
        cfg = read_project_config(folder, package=True, target=target)
        if cfg.name == config.name:
            continue  # a package that is the project itself (local: ..)
        if cfg.name in out:
            raise ConfigError(
                f"two installed packages are named `{cfg.name}`: `{out[cfg.name].rel}` and "
                f"`{folder.relative_to(root).as_posix()}`",
                location=Location(f"{folder.relative_to(root).as_posix()}/dbt_project.yml", 1),
                hint="remove one of the folders and run `headwater deps`",
            )
        out[cfg.name] = Package(cfg.name, folder, folder.relative_to(root).as_posix(), cfg)
    return list(out.values())


def check_installed(
    root: Path, config: ProjectConfig, packages: list[Package]
) -> ConfigError | None:
    """dbt's check: fewer packages installed than declared means `deps` was not run."""
    declared = declared_packages(root)
    if len(packages) >= len(declared):
        return None
    have = {p.name for p in packages}
    missing = [declared_name(d) for d in declared if declared_name(d) not in have]
    return ConfigError(
        f"{len(declared)} package(s) are declared in packages.yml, but {len(packages)} are installed in "
        f"`{config.packages_install_path}/`"
        + (f" (missing: {', '.join(missing)})" if missing else ""),
        location=Location(
            next((n for n in PACKAGE_FILES if (root / n).is_file()), "packages.yml"), 1
        ),
        hint="run `headwater deps` to install them",
    )


__all__ = ["Package", "check_installed", "declared_name", "declared_packages", "installed_packages"]
