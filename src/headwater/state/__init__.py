"""Run state: the local SQLite store (`store.StateStore`), and on a server target with
`state: warehouse` the store whose interval ledger and backfill plans live in the warehouse
(`warehouse.WarehouseStateStore`), so that machines sharing the target agree on them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headwater.project.definition import ProjectConfig, Target
    from headwater.state.store import StateStore

STATE_FILE = "state.db"
"""The SQLite file in the project's state folder (`.headwater/state.db`)."""


def open_state_store(project: ProjectConfig, target: Target, root: Path) -> StateStore:
    """The state store of ``project`` at ``target`` (its state folder under ``root``, the project
    root): SQLite by default; with `state: warehouse` the ledger and backfill plans in the target's
    database (a `ConfigError` on an engine that is not a server: a DuckDB file is not shared)."""
    from headwater.errors import ConfigError
    from headwater.private import private_dir

    kind = str(getattr(target, "state", None) or "sqlite")
    folder = private_dir(Path(root) / project.state_dir)
    path = folder / STATE_FILE
    if kind == "sqlite":
        from headwater.state.store import StateStore

        return StateStore(path)
    if kind == "warehouse":
        from headwater.state.warehouse import WarehouseStateStore

        return WarehouseStateStore(path, target, str(root))
    raise ConfigError(
        f"target `{target.name}`: unknown `state: {kind}`",
        hint="use `state: sqlite` (the default: a file in the state folder) or `state: warehouse` (server engines)",
    )
