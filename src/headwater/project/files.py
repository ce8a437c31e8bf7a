"""Which files make up a project (cheap: no YAML parsing, used on the warm path)."""

from __future__ import annotations

from pathlib import Path

from headwater.errors import ProjectNotFoundError
from headwater.project.definition import ProjectConfig

PROJECT_FILES = ("headwater.yml", "headwater.yaml", "dbt_project.yml")
SOURCE_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".py")
PACKAGE_FILES = ("packages.yml", "dependencies.yml", "package-lock.yml")


def find_project_file(project_dir: Path) -> Path:
    """Return the project file of ``project_dir`` or raise `ProjectNotFoundError`."""
    for name in PROJECT_FILES:
        candidate = project_dir / name
        if candidate.is_file():
            return candidate
    raise ProjectNotFoundError(
        f"no headwater.yml in `{project_dir}`",
        hint="run headwater in a project folder, pass --project-dir DIR, "
        "or create one with `headwater init DIR` (or `headwater demo DIR`)",
    )


def project_files(root: Path, config: ProjectConfig) -> list[Path]:
    """Every file that makes up the project (the key of the parse cache)."""
    out = [root / config.config_file]
    if (root / "sources.yml").is_file():
        out.append(root / "sources.yml")
    dirs = (
        config.model_paths + config.seed_paths + config.test_paths + config.macro_paths
        + config.snapshot_paths + config.analysis_paths + config.stream_paths
    )  # fmt: skip
    for d in dirs:
        base = root / d
        if base.is_dir():
            out.extend(
                p for p in sorted(base.rglob("*")) if p.suffix in SOURCE_SUFFIXES and p.is_file()
            )
    out.extend(root / name for name in PACKAGE_FILES if (root / name).is_file())
    packages = root / config.packages_install_path
    if (
        packages.is_dir()
    ):  # each package on its own: a `local:` package is a symlink rglob would not enter
        for package in sorted(
            p for p in packages.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            out.extend(
                p for p in sorted(package.rglob("*")) if p.suffix in SOURCE_SUFFIXES and p.is_file()
            )
    return out
