"""The state store: migrations keep old histories readable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from headwater.state.records import NodeRun
from headwater.state.sqlite import SCHEMA_VERSION, SQLiteStateStore


def test_a_version_4_store_gains_the_rejected_column(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SQLiteStateStore(path).close()
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE node_runs DROP COLUMN rejected")
    con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    con.execute(
        "INSERT INTO node_runs (invocation_id, unique_id, name, resource_type, status) VALUES ('old', 'x', 'x', 'source', 'success')"
    )
    con.commit()
    con.close()
    store = SQLiteStateStore(path)
    store.runs.record_node(
        NodeRun.of(
            "new",
            {
                "unique_id": "x",
                "name": "x",
                "resource_type": "source",
                "status": "warn",
                "rejected": 3,
            },
        )
    )
    store.flush()
    assert store.read("SELECT invocation_id, rejected FROM node_runs ORDER BY invocation_id") == [
        {"invocation_id": "new", "rejected": 3},
        {"invocation_id": "old", "rejected": None},
    ]
    assert store.read("SELECT value FROM meta WHERE key = 'schema_version'") == [
        {"value": str(SCHEMA_VERSION)}
    ]
    store.close()
