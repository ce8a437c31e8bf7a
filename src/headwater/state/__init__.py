"""Run state: what every invocation did and what decides the next one's work.

`StateStore` (`protocol`) is a set of typed repositories — runs, checks, the interval ledger,
backfill plans, metrics and schemas, incidents, freshness, schedules (`runs.py`, `checks.py`,
`ledger.py`, `metrics.py`, `incidents.py`, `freshness.py`, `schedules.py`), each owning its tables
and queries over a backend (`db.Database`). Two backends: a SQLite file in the project's state
folder (`sqlite.SQLiteStateStore`, the default) and, on a server target with `state: warehouse`,
the target's database (`warehouse.WarehouseStateStore`), so that machines sharing the target
share one state."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from headwater.state.protocol import StateStore

if TYPE_CHECKING:
    from headwater.project.definition import ProjectConfig, Target

__all__ = ["STATE_FILE", "StateStore", "open_state_store"]

STATE_FILE = "state.db"
"""The SQLite file in the project's state folder (`.headwater/state.db`)."""


def open_state_store(project: ProjectConfig, target: Target, root: Path) -> StateStore:
    """The state store of ``project`` at ``target`` (its state folder under ``root``, the project
    root): SQLite by default; with `state: warehouse` the target's database (a `ConfigError` on an
    engine that is not a server: a DuckDB file is not shared)."""
    from headwater.errors import ConfigError
    from headwater.private import private_dir

    kind = str(getattr(target, "state", None) or "sqlite")
    folder = private_dir(Path(root) / project.state_dir)
    path = folder / STATE_FILE
    if kind == "sqlite":
        from headwater.state.sqlite import SQLiteStateStore

        return SQLiteStateStore(path)
    if kind == "warehouse":
        from headwater.state.warehouse import WarehouseStateStore

        return WarehouseStateStore(path, target, str(root))
    raise ConfigError(
        f"target `{target.name}`: unknown `state: {kind}`",
        hint="use `state: sqlite` (the default: a file in the state folder) or `state: warehouse` (server engines)",
    )
