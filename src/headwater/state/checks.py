"""The checks repository: every check result of every invocation (`check_results`), queued and
written in batches, and the history of each check (trends, `headwater status`)."""

from __future__ import annotations

from collections.abc import Sequence

from headwater.state.db import CHUNK, Column, Database, Index, Table, marks
from headwater.state.records import CheckPoint, CheckRecord, as_values

CHECK_RESULTS = Table(
    "check_results",
    (
        Column("invocation_id", "TEXT", not_null=True),
        Column("unique_id", "TEXT", not_null=True),
        Column("name", "TEXT", not_null=True),
        Column("check_type", "TEXT"),
        Column("node", "TEXT"),
        Column("column_name", "TEXT"),
        Column("severity", "TEXT"),
        Column("status", "TEXT", not_null=True),
        Column("failures", "INTEGER"),
        Column("message", "TEXT"),
        Column("query", "TEXT"),
        Column("sample", "TEXT"),
        Column("recorded_at", "REAL"),
        Column("rows_checked", "INTEGER"),  # schema version 2
        Column("quarantined", "INTEGER"),
        Column("result", "TEXT"),
    ),
    key=("invocation_id", "unique_id"),
    indexes=(Index("check_results_by_check", ("unique_id", "recorded_at")),),
)
TABLES = (CHECK_RESULTS,)
_POINT = "unique_id, invocation_id, status, failures, rows_checked, quarantined, recorded_at"


class Checks:
    """Check results."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, check: CheckRecord) -> None:
        """One check result (queued: written with the next batch)."""
        self._db.queue(self._db.insert(CHECK_RESULTS, [as_values(check)], conflict="replace"))

    def for_invocation(self, invocation_id: str) -> list[CheckRecord]:
        """The check results of one invocation."""
        return [CheckRecord(*r) for r in self._db.select(
            f"SELECT {CHECK_RESULTS.cols()} FROM {self._db.rel(CHECK_RESULTS)} WHERE invocation_id = ?",
            (invocation_id,),
        )]  # fmt: skip

    def history(self, unique_ids: Sequence[str], limit: int = 30) -> dict[str, list[CheckPoint]]:
        """The last ``limit`` results of each check, oldest first."""
        out: dict[str, list[CheckPoint]] = {uid: [] for uid in unique_ids}
        uids = list(unique_ids)
        for i in range(0, len(uids), CHUNK):
            chunk = uids[i : i + CHUNK]
            rows = self._db.select(
                f"SELECT {_POINT} FROM (SELECT {_POINT}, row_number() OVER (PARTITION BY unique_id "
                f"ORDER BY recorded_at DESC) AS rn FROM {self._db.rel(CHECK_RESULTS)} WHERE unique_id "
                f"IN ({marks(len(chunk))})) AS h WHERE rn <= ? ORDER BY recorded_at",
                (*chunk, limit),
            )
            for row in rows:
                out[row[0]].append(CheckPoint(*row))
        return out

    def latest_results(
        self, statuses: Sequence[str], *, anomalies: bool, limit: int
    ) -> list[CheckRecord]:
        """Checks whose latest result has one of ``statuses``, newest first: anomaly monitors
        (``anomalies``), or the other checks but schema-change contracts."""
        if anomalies:
            kind = "coalesce(check_type, '') LIKE 'anomaly%'"
        else:
            kind = "coalesce(check_type, '') NOT LIKE 'anomaly%' AND coalesce(check_type, '') != 'schema_change'"
        return [CheckRecord(*r) for r in self._db.select(
            f"SELECT {CHECK_RESULTS.cols()} FROM (SELECT {CHECK_RESULTS.cols()}, row_number() OVER (PARTITION BY "
            f"unique_id ORDER BY recorded_at DESC) AS rn FROM {self._db.rel(CHECK_RESULTS)}) AS latest WHERE rn = 1 "
            f"AND status IN ({marks(len(statuses))}) AND {kind} ORDER BY recorded_at DESC LIMIT ?",
            (*statuses, limit),
        )]  # fmt: skip
