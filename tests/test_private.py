"""State files are private whatever the umask: `.headwater/` 0700, state.db, the warehouse, logs
and caches 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_folder_and_files_are_private(
    make_project: Callable[..., Path], cli, umask_022: None
) -> None:
    root = make_project({"models/m.sql": "select 1 as x\n"})
    res = cli("build", "--project-dir", root)
    assert res.code == 0, res.out + res.err
    state = root / ".headwater"
    assert _mode(state) == 0o700
    files = [p for p in state.rglob("*") if p.is_file()]
    assert {"state.db", "warehouse.duckdb", "headwater.log"} <= {p.name for p in files}
    assert {p.relative_to(root).as_posix(): oct(_mode(p)) for p in files if _mode(p) & 0o077} == {}
    assert all(_mode(p) & 0o077 == 0 for p in state.rglob("*") if p.is_dir())


def test_existing_wide_state_is_narrowed(
    make_project: Callable[..., Path], cli, umask_022: None
) -> None:
    root = make_project({"models/m.sql": "select 1 as x\n"})
    assert cli("build", "--project-dir", root).code == 0
    state = root / ".headwater"
    os.chmod(state, 0o755)
    os.chmod(state / "state.db", 0o644)
    os.chmod(state / "warehouse.duckdb", 0o644)
    assert cli("build", "--project-dir", root).code == 0
    assert (_mode(state), _mode(state / "state.db"), _mode(state / "warehouse.duckdb")) == (
        0o700,
        0o600,
        0o600,
    )


def test_warehouse_outside_the_state_folder(
    make_project: Callable[..., Path], cli, umask_022: None
) -> None:
    yml = "name: t\ntargets:\n  dev: {engine: duckdb, path: wh/warehouse.duckdb}\n"
    root = make_project({"models/m.sql": "select 1 as x\n"}, project_yml=yml)
    assert cli("build", "--project-dir", root).code == 0
    assert _mode(root / "wh") == 0o700 and _mode(root / "wh" / "warehouse.duckdb") == 0o600
    assert _mode(root) == 0o755  # the project folder itself is the user's: left alone
