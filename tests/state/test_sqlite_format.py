"""The SQLite file format: a file written by an older headwater opens and migrates to the
current one, and ends up with the tables a new file gets; a newer one is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from headwater.errors import ConfigError
from headwater.state.sqlite import SCHEMA_VERSION, SQLiteStateStore

# The file as headwater wrote it at schema version 5 (before the repositories) ...
_VERSION_5 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS invocations (
    invocation_id TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    args TEXT,
    target TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS node_runs (
    invocation_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    name TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    materialized TEXT,
    relation TEXT,
    status TEXT NOT NULL,
    started_at REAL,
    duration REAL,
    rows INTEGER,
    message TEXT,
    rejected INTEGER,
    PRIMARY KEY (invocation_id, unique_id)
);
CREATE INDEX IF NOT EXISTS node_runs_by_node ON node_runs (unique_id, started_at);
CREATE TABLE IF NOT EXISTS check_results (
    invocation_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    name TEXT NOT NULL,
    check_type TEXT,
    node TEXT,
    column_name TEXT,
    severity TEXT,
    status TEXT NOT NULL,
    failures INTEGER,
    message TEXT,
    query TEXT,
    sample TEXT,
    recorded_at REAL,
    rows_checked INTEGER,
    quarantined INTEGER,
    result TEXT,
    PRIMARY KEY (invocation_id, unique_id)
);
CREATE INDEX IF NOT EXISTS check_results_by_check ON check_results (unique_id, recorded_at);

CREATE TABLE IF NOT EXISTS intervals (
    unique_id TEXT NOT NULL,
    interval_start TEXT NOT NULL,
    interval_end TEXT NOT NULL,
    status TEXT NOT NULL,
    rows INTEGER,
    invocation_id TEXT,
    built_at REAL,
    duration REAL,
    message TEXT,
    PRIMARY KEY (unique_id, interval_start)
);
CREATE TABLE IF NOT EXISTS backfills (
    backfill_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    selection TEXT,
    start TEXT NOT NULL,
    end_ TEXT NOT NULL,
    rerun TEXT NOT NULL,
    status TEXT NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS backfill_intervals (
    backfill_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    interval_start TEXT NOT NULL,
    interval_end TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    rows INTEGER,
    message TEXT,
    PRIMARY KEY (backfill_id, unique_id, interval_start)
);

CREATE TABLE IF NOT EXISTS node_metrics (
    invocation_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    metric TEXT NOT NULL,
    column_name TEXT NOT NULL DEFAULT '',
    value REAL,
    PRIMARY KEY (invocation_id, unique_id, metric, column_name)
);
CREATE INDEX IF NOT EXISTS node_metrics_by_series ON node_metrics (unique_id, metric, column_name, recorded_at);
CREATE TABLE IF NOT EXISTS relation_schemas (
    invocation_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    columns TEXT NOT NULL,
    PRIMARY KEY (invocation_id, unique_id)
);
CREATE INDEX IF NOT EXISTS relation_schemas_by_node ON relation_schemas (unique_id, recorded_at);
CREATE TABLE IF NOT EXISTS schema_changes (
    unique_id TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    change TEXT NOT NULL,
    column_name TEXT,
    old TEXT,
    new TEXT
);
CREATE INDEX IF NOT EXISTS schema_changes_by_node ON schema_changes (unique_id, recorded_at);
CREATE TABLE IF NOT EXISTS freshness_results (
    invocation_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    status TEXT NOT NULL,
    max_loaded_at TEXT,
    age_seconds REAL,
    warn_after_seconds REAL,
    error_after_seconds REAL,
    message TEXT,
    PRIMARY KEY (invocation_id, unique_id)
);
CREATE TABLE IF NOT EXISTS sla_breaches (
    sla TEXT NOT NULL,
    kind TEXT NOT NULL,
    unique_id TEXT NOT NULL DEFAULT '',
    due_at REAL NOT NULL,
    detected_at REAL NOT NULL,
    invocation_id TEXT,
    message TEXT,
    PRIMARY KEY (sla, kind, unique_id, due_at)
);
CREATE TABLE IF NOT EXISTS incidents (
    incident_key TEXT PRIMARY KEY,
    trigger TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    opened_at REAL NOT NULL,
    resolved_at REAL,
    last_seen_at REAL,
    last_alert_at REAL,
    occurrences INTEGER NOT NULL DEFAULT 1,
    message TEXT
);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    incident_key TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    sent_at REAL NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS alert_deliveries_by_channel ON alert_deliveries (channel, sent_at);
"""
# ... and at version 1: no ledger, no observability, fewer columns.
_VERSION_1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS invocations (
    invocation_id TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    args TEXT,
    target TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS node_runs (
    invocation_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    name TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    materialized TEXT,
    relation TEXT,
    status TEXT NOT NULL,
    started_at REAL,
    duration REAL,
    rows INTEGER,
    message TEXT,
    PRIMARY KEY (invocation_id, unique_id)
);
CREATE INDEX IF NOT EXISTS node_runs_by_node ON node_runs (unique_id, started_at);
CREATE TABLE IF NOT EXISTS check_results (
    invocation_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    name TEXT NOT NULL,
    check_type TEXT,
    node TEXT,
    column_name TEXT,
    severity TEXT,
    status TEXT NOT NULL,
    failures INTEGER,
    message TEXT,
    query TEXT,
    sample TEXT,
    recorded_at REAL,
    PRIMARY KEY (invocation_id, unique_id)
);

"""


def _old_file(path: Path, ddl: str, version: int) -> None:
    con = sqlite3.connect(path)
    con.executescript(ddl)
    con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(version),))
    con.execute(
        "INSERT INTO invocations VALUES ('old', 'build', '{}', 'dev', 1.0, 2.0, 'success', '{}')"
    )
    con.execute(
        "INSERT INTO node_runs (invocation_id, unique_id, name, resource_type, status, started_at) "
        "VALUES ('old', 'model.t.m', 'm', 'model', 'success', 1.0)"
    )
    con.commit()
    con.close()


def _schema(path: Path) -> dict[str, object]:
    """Every table's columns (name, type, not null, default, key) and every index's columns."""
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        out: dict[str, object] = {
            t: [r[1:] for r in con.execute(f"PRAGMA table_info({t})")] for t in tables
        }
        for (name,) in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ):
            out[f"index {name}"] = [r[2] for r in con.execute(f"PRAGMA index_info({name})")]
        return out
    finally:
        con.close()


@pytest.mark.parametrize(("ddl", "version"), [(_VERSION_5, 5), (_VERSION_1, 1)])
def test_an_old_file_migrates_to_the_tables_of_a_new_one(
    tmp_path: Path, ddl: str, version: int
) -> None:
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    _old_file(old, ddl, version)
    SQLiteStateStore(new).close()
    store = SQLiteStateStore(old)
    try:
        assert [(i.invocation_id, i.status) for i in store.runs.recent()] == [("old", "success")]
        assert [r.unique_id for r in store.runs.node_runs("old")] == ["model.t.m"]
        assert store.runs.last_success("model.t.m") == 1.0
        store.intervals.record("model.t.m", "a", "b", "success", 1, "new", 0.1)
        assert store.warning is None
    finally:
        store.close()
    assert _schema(old) == _schema(new)
    con = sqlite3.connect(old)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    con.close()


def test_a_file_of_a_newer_headwater_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SQLiteStateStore(path).close()
    con = sqlite3.connect(path)
    con.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    con.commit()
    con.close()
    with pytest.raises(ConfigError, match="newer headwater"):
        SQLiteStateStore(path)


def test_a_current_file_opens_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SQLiteStateStore(path).close()
    before = path.stat().st_mtime_ns
    SQLiteStateStore(path).close()
    assert path.stat().st_mtime_ns == before
