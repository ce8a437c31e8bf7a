"""The metrics repository: each node run's measurements (`node_metrics`: row counts, profiles,
durations, ...), the relation's schema (`relation_schemas`, JSON ``[[name, type], ...]``) and
the schema changes found between two runs (`schema_changes`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from headwater.state.db import CHUNK, Column, Database, Index, Table, marks
from headwater.state.records import (
    MetricPoint,
    MetricValue,
    SchemaChangeRecord,
    SeriesPoint,
    as_values,
)
from headwater.state.runs import INVOCATIONS

NODE_METRICS = Table(
    "node_metrics",
    (
        Column("invocation_id", "TEXT", not_null=True),
        Column("unique_id", "TEXT", not_null=True),
        Column("recorded_at", "REAL", not_null=True),
        Column("metric", "TEXT", not_null=True),
        Column("column_name", "TEXT", not_null=True, default="''"),
        Column("value", "REAL"),
    ),
    key=("invocation_id", "unique_id", "metric", "column_name"),
    indexes=(
        Index("node_metrics_by_series", ("unique_id", "metric", "column_name", "recorded_at")),
    ),
)
RELATION_SCHEMAS = Table(
    "relation_schemas",
    (
        Column("invocation_id", "TEXT", not_null=True),
        Column("unique_id", "TEXT", not_null=True),
        Column("recorded_at", "REAL", not_null=True),
        Column("columns", "TEXT", not_null=True),
    ),
    key=("invocation_id", "unique_id"),
    indexes=(Index("relation_schemas_by_node", ("unique_id", "recorded_at")),),
)
SCHEMA_CHANGES = Table(
    "schema_changes",
    (
        Column("unique_id", "TEXT", not_null=True),
        Column("invocation_id", "TEXT", not_null=True),
        Column("recorded_at", "REAL", not_null=True),
        Column("change", "TEXT", not_null=True),
        Column("column_name", "TEXT"),
        Column("old", "TEXT"),
        Column("new", "TEXT"),
    ),
    indexes=(Index("schema_changes_by_node", ("unique_id", "recorded_at")),),
)
TABLES = (NODE_METRICS, RELATION_SCHEMAS, SCHEMA_CHANGES)
Columns = list[tuple[str, str]]
"""A relation's schema: (name, type) per column, in order."""


class Metrics:
    """Node metrics, relation schemas and schema changes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- metrics ---------------------------------------------------------------------------------
    def record(self, values: Iterable[MetricValue]) -> None:
        """Measurements (a run measured again replaces its values)."""
        rows = [as_values(v) for v in values]
        if rows:
            stmt = self._db.insert(NODE_METRICS, rows, conflict="replace")
            self._db.write("observability records", [stmt])

    def history(
        self, unique_id: str, metric: str, column: str = "", limit: int = 100,
        before: float | None = None,
    ) -> list[MetricPoint]:  # fmt: skip
        """The last ``limit`` points of one series (recorded before ``before``), oldest first."""
        sql = (
            f"SELECT invocation_id, recorded_at, value FROM {self._db.rel(NODE_METRICS)} WHERE unique_id = ? "
            "AND metric = ? AND column_name = ?" + (" AND recorded_at < ?" if before is not None else "")
            + " ORDER BY recorded_at DESC LIMIT ?"
        )  # fmt: skip
        params: list[object] = [unique_id, metric, column or ""]
        if before is not None:
            params.append(before)
        rows = self._db.select(sql, [*params, limit])
        return [MetricPoint(*r) for r in reversed(rows)]

    def series(self, unique_id: str, limit: int) -> list[SeriesPoint]:
        """The last ``limit`` points of each of a node's series, by column, metric and time."""
        db = self._db
        return [SeriesPoint(*r) for r in db.select(
            f"SELECT metric, column_name, recorded_at, value FROM (SELECT metric, column_name, recorded_at, value, "
            f"row_number() OVER (PARTITION BY metric, column_name ORDER BY recorded_at DESC) AS rn FROM "
            f"{db.rel(NODE_METRICS)} WHERE unique_id = ?) AS s WHERE rn <= ? "
            f"ORDER BY column_name{db.collate}, metric{db.collate}, recorded_at",
            (unique_id, limit),
        )]  # fmt: skip

    # -- schemas ---------------------------------------------------------------------------------
    def _same_target(self) -> str:
        """Only schemas recorded on this invocation's target are compared: one project built on
        two targets (a DuckDB dev, a PostgreSQL prod) keeps a history per warehouse, so the
        engines' type spellings (`VARCHAR`, `text`) and a dev's experiments are not reported as
        changes. A run whose target is unknown (no `invocations` row) is compared with any."""
        return (
            "(i.target IS NULL OR i.target = coalesce((SELECT target FROM "
            f"{self._db.rel(INVOCATIONS, 'cur')} WHERE cur.invocation_id = ?), i.target))"
        )

    def previous_schemas(self, unique_ids: Sequence[str], invocation_id: str) -> dict[str, Columns]:
        """The schema recorded by each node's last run on this target before ``invocation_id``
        (nodes without one are left out)."""
        db = self._db
        same = self._same_target()
        schemas, runs = db.rel(RELATION_SCHEMAS, "r"), db.rel(INVOCATIONS, "i")
        out: dict[str, Columns] = {}
        if len(unique_ids) == 1:
            rows = db.select(
                f"SELECT r.unique_id, r.columns FROM {schemas} LEFT JOIN {runs} ON i.invocation_id = "
                f"r.invocation_id WHERE r.unique_id = ? AND r.invocation_id != ? AND {same} "
                "ORDER BY r.recorded_at DESC LIMIT 1",
                (unique_ids[0], invocation_id, invocation_id),
            )
            return {str(uid): _columns(text) for uid, text in rows}
        uids = list(unique_ids)
        for start in range(0, len(uids), CHUNK):
            chunk = uids[start : start + CHUNK]
            rows = db.select(
                f"SELECT r.unique_id, r.columns FROM {schemas} LEFT JOIN {runs} ON i.invocation_id = "
                f"r.invocation_id WHERE r.invocation_id != ? AND r.unique_id IN ({marks(len(chunk))}) "
                f"AND {same} AND r.recorded_at = (SELECT max(r2.recorded_at) FROM "
                f"{db.rel(RELATION_SCHEMAS, 'r2')} LEFT JOIN {runs} ON i.invocation_id = r2.invocation_id "
                f"WHERE r2.unique_id = r.unique_id AND r2.invocation_id != ? AND {same})",
                (invocation_id, *chunk, invocation_id, invocation_id, invocation_id),
            )
            out.update({str(uid): _columns(text) for uid, text in rows})
        return out

    def record_schemas(
        self, invocation_id: str, schemas: Mapping[str, Sequence[tuple[str, str]]],
        recorded_at: float,
    ) -> None:  # fmt: skip
        """This run's schema of each node."""
        rows = [
            (invocation_id, uid, recorded_at, json.dumps([[n, t] for n, t in cols]))
            for uid, cols in schemas.items()
        ]
        if rows:
            stmt = self._db.insert(RELATION_SCHEMAS, rows, conflict="replace")
            self._db.write("observability records", [stmt])

    def record_changes(self, changes: Iterable[SchemaChangeRecord]) -> None:
        rows = [as_values(c) for c in changes]
        if rows:
            self._db.write("observability records", [self._db.insert(SCHEMA_CHANGES, rows)])

    def recent_changes(self, limit: int) -> list[SchemaChangeRecord]:
        """The last ``limit`` schema changes, newest first (a run's in the order found)."""
        db = self._db
        return [SchemaChangeRecord(*r) for r in db.select(
            f"SELECT {SCHEMA_CHANGES.cols()} FROM {db.rel(SCHEMA_CHANGES)} "
            f"ORDER BY recorded_at DESC, {db.rowid} LIMIT ?",
            (limit,),
        )]  # fmt: skip


def _columns(text: str) -> Columns:
    return [(str(n), str(t)) for n, t in json.loads(text)]
