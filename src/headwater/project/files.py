"""Which files make up a project (cheap: no YAML parsing, used on the warm path)."""

from __future__ import annotations

from pathlib import Path

from headwater.errors import ProjectNotFoundError
from headwater.project.definition import ProjectConfig

PROJECT_FILES = ("headwater.yml", "headwater.yaml", "dbt_project.yml")
SOURCE_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".py")


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
        + config.snapshot_paths + config.analysis_paths
    )  # fmt: skip
    for d in dirs:
        base = root / d
        if base.is_dir():
            out.extend(p for p in sorted(base.rglob("*")) if p.suffix in SOURCE_SUFFIXES and p.is_file())
    return out
