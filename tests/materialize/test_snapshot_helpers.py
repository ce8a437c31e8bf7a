"""Helpers of the snapshot and SCD tests: a project over a source table the test rewrites between
runs, and a content checksum of a table."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import duckdb

from headwater.context import Context, RunResult
from tests.conftest import write_files

PROJECT_YML = """\
name: t
default_target: dev
targets:
  dev:
    engine: duckdb
    path: .headwater/warehouse.duckdb
    threads: 2
"""

SOURCES = """\
sources:
  - name: raw
    tables:
      - name: src
"""

COLUMNS = "id INTEGER, name VARCHAR, updated_at TIMESTAMP"


def snapshot_block(
    config: str, name: str = "snap", select: str = "select * from {{ source('raw', 'src') }}"
) -> str:
    return f"{{% snapshot {name} %}}\n{{{{ config({config}) }}}}\n{select}\n{{% endsnapshot %}}\n"


def new_project(root: Path, files: dict[str, str], project_yml: str = PROJECT_YML) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_files(root, {"headwater.yml": project_yml, "sources.yml": SOURCES, **files})
    return root


def warehouse(root: Path) -> str:
    path = root / ".headwater" / "warehouse.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def set_source(
    root: Path, rows: list[tuple], columns: str = COLUMNS, table: str = "raw.src"
) -> None:
    """Replace the source table's content."""
    con = duckdb.connect(warehouse(root))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(f"CREATE OR REPLACE TABLE {table} ({columns})")
        if rows:
            marks = ", ".join("?" for _ in rows[0])
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", [list(r) for r in rows])
    finally:
        con.close()


def run(root: Path, command: str = "snapshot", **options: Any) -> RunResult:
    with Context(root) as ctx:
        return getattr(ctx, command)(**options)


def fetch(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(warehouse(root), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def checksum(root: Path, table: str, normalize_after: str | None = None) -> tuple[int, str]:
    """(rows, md5 of every row's text, in order). With ``normalize_after``, timestamps later than
    it (snapshot times of a run) are replaced by `NOW` so that two runs compare equal."""
    cols = fetch(root, f"SELECT column_name, column_type FROM (DESCRIBE {table})")
    parts = []
    for c, type_ in cols:
        text = f'CAST("{c}" AS VARCHAR)'
        if normalize_after and type_.upper().startswith("TIMESTAMP"):
            text = f"CASE WHEN \"{c}\" >= TIMESTAMP '{normalize_after}' THEN 'NOW' ELSE {text} END"
        parts.append(f"coalesce({text}, '<null>')")
    row = " || '|' || ".join(parts)
    sql = f"SELECT count(*), md5(coalesce(string_agg(r, chr(10) ORDER BY r), '')) FROM (SELECT {row} AS r FROM {table})"
    n, digest = fetch(root, sql)[0]
    return int(n), str(digest)


def dedent(text: str) -> str:
    return textwrap.dedent(text)
