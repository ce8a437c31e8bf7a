"""Shared fixtures: write a project from a dict of files, run the CLI in-process."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from headwater.cli import main

BASE_PROJECT = """\
name: t
default_target: dev
targets:
  dev:
    engine: duckdb
    path: .headwater/warehouse.duckdb
    threads: 2
models:
  staging:
    +materialized: view
  marts:
    +materialized: table
"""


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture(autouse=True)
def _fresh_secrets() -> None:
    """Each test starts with no registered secrets (the registry is per process)."""
    from headwater import secrets

    secrets.forget_all()


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Create a project: ``make_project({"models/a.sql": "select 1 as x"})``."""

    def make(files: dict[str, str], project_yml: str = BASE_PROJECT, name: str = "proj") -> Path:
        root = tmp_path / name
        root.mkdir(exist_ok=True)
        write_files(root, {"headwater.yml": project_yml, **files})
        return root

    return make


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `headwater ARGS` in-process and capture its exit code and output."""

    def run(*args: str | Path) -> CliResult:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, to fill up (mounting needs root, which CI has)."""
    import os
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("mounting a small tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def query(root: Path, sql: str) -> list[tuple]:
    """Read the project's warehouse directly (read-only) with duckdb."""
    con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
