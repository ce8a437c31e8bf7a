"""`headwater init` (an empty project) and `headwater demo` (the e-commerce demo)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from headwater.errors import UsageError

_PROJECT_YML = """\
# headwater project: https://github.com/ (see README: concepts)
name: {name}
version: 1
default_target: dev
targets:
  dev:
    engine: duckdb
    path: .headwater/warehouse.duckdb   # the embedded warehouse file
    schema: main
    threads: 4
    # memory_limit: 2GB
raw_data: data/raw                      # base folder of `files:` globs in sources.yml
vars: {{}}
models:
  staging:
    +materialized: view
  intermediate:
    +materialized: ephemeral
  marts:
    +materialized: table
"""

_SOURCES_YML = """\
version: 2
sources: []
# - name: shop
#   schema: raw
#   tables:
#     - name: orders
#       files: {path: orders/*.parquet, format: parquet}
#       columns:
#         - name: order_id
#           data_tests: [unique, not_null]
"""

_GITIGNORE = ".headwater/\ndata/\n"
DEMO_MARKER = ".headwater-demo"
# What the demo suggests next (printed after the build, listed in the README; each runs in a test).
DEMO_NEXT_COMMANDS = (
    'headwater query "select * from main.mart_daily_revenue order by date_day desc limit 5"',
    "headwater ls --select +fct_orders",
    "headwater test --select staging --report quality.html",
    'headwater query "select * from main.stg_payments__quarantine limit 5"',
    "headwater build --select marts",
    "headwater lake history fct_web_events   # the Delta table's versions",
    "headwater snapshot            # after the CRM changes: a new version per changed customer",
)
_MARKER_TEXT = "This folder was created by `headwater demo`; running it again refreshes the project files and data.\n"


def _check_target(path: Path) -> None:
    if path.exists() and any(path.iterdir()):
        raise UsageError(
            f"`{path}` exists and is not empty",
            hint="choose a new folder name, or remove the folder first",
        )


def _is_demo(root: Path, template: Path) -> bool:
    """The marker, or (a demo made before the marker existed) the template's own headwater.yml."""
    if (root / DEMO_MARKER).is_file():
        return True
    try:
        return (root / "headwater.yml").read_bytes() == (template / "headwater.yml").read_bytes()
    except OSError:
        return False


def init_project(directory: str, name: str | None = None) -> Path:
    """Create an empty project skeleton in ``directory``."""
    root = Path(directory).resolve()
    _check_target(root)
    name = name or re.sub(r"[^A-Za-z0-9_]", "_", root.name).strip("_") or "project"
    for sub in (
        "models/staging",
        "models/intermediate",
        "models/marts",
        "seeds",
        "tests",
        "macros",
        "snapshots",
        "data/raw",
    ):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "headwater.yml").write_text(_PROJECT_YML.format(name=name), encoding="utf-8")
    (root / "sources.yml").write_text(_SOURCES_YML, encoding="utf-8")
    (root / ".gitignore").write_text(_GITIGNORE, encoding="utf-8")
    return root


def create_demo(directory: str, scale: float, seed: int = 42) -> tuple[Path, dict[str, int], float]:
    """Copy the demo project into ``directory`` and generate its raw data.

    A folder made by an earlier `headwater demo` (it holds the `.headwater-demo` marker) is
    refreshed, so the command can be rerun; any other non-empty folder is refused, so a real
    project is never overwritten.
    """
    from headwater.demo import PROJECT_TEMPLATE, generate

    if scale <= 0:
        raise UsageError(f"--scale must be positive, got {scale}")
    root = Path(directory).resolve()
    if root.exists() and not root.is_dir():
        raise UsageError(
            f"`{root}` is a file",
            hint="choose a folder name for the demo, e.g. `headwater demo headwater_demo`",
        )
    if root.exists() and any(root.iterdir()) and not _is_demo(root, PROJECT_TEMPLATE):
        raise UsageError(
            f"`{root}` is not empty and was not made by `headwater demo`; it is left untouched",
            hint="choose a new folder: `headwater demo NEW_FOLDER`",
        )
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        PROJECT_TEMPLATE, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / DEMO_MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
    started = time.perf_counter()
    counts = generate(root / "data" / "raw", scale=scale, seed=seed)
    return root, counts, time.perf_counter() - started
