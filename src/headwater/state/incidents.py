"""The incidents repository: alert incidents (`incidents`: one per trigger and subject, open until
resolved) and every attempt to deliver an alert (`alert_deliveries`), which the rate limit and
the RESOLVED notices read back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from headwater.state.db import Column, Database, Index, Table
from headwater.state.records import AlertDelivery, Incident, as_values

INCIDENTS = Table(
    "incidents",
    (
        Column("incident_key", "TEXT"),
        Column("trigger", "TEXT", not_null=True),
        Column("subject", "TEXT", not_null=True),
        Column("status", "TEXT", not_null=True),
        Column("opened_at", "REAL", not_null=True),
        Column("resolved_at", "REAL"),
        Column("last_seen_at", "REAL"),
        Column("last_alert_at", "REAL"),
        Column("occurrences", "INTEGER", not_null=True, default="1"),
        Column("message", "TEXT"),
    ),
    key=("incident_key",),
)
ALERT_DELIVERIES = Table(
    "alert_deliveries",
    (
        Column("incident_key", "TEXT", not_null=True),
        Column("channel", "TEXT", not_null=True),
        Column("kind", "TEXT", not_null=True),
        Column("sent_at", "REAL", not_null=True),
        Column("ok", "INTEGER", not_null=True),
        Column("error", "TEXT"),
    ),
    indexes=(Index("alert_deliveries_by_channel", ("channel", "sent_at")),),
)
TABLES = (INCIDENTS, ALERT_DELIVERIES)
WHAT = "observability records"


class Incidents:
    """Incidents and alert deliveries."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- incidents -------------------------------------------------------------------------------
    def open_incidents(self) -> dict[str, Incident]:
        """The open incidents by key."""
        db = self._db
        rows = db.select(
            f"SELECT {INCIDENTS.cols()} FROM {db.rel(INCIDENTS)} WHERE status = 'open'"
        )
        return {str(r[0]): Incident(*r) for r in rows}

    def latest_open(self, limit: int) -> list[Incident]:
        """The ``limit`` most recently opened incidents that are still open."""
        db = self._db
        return [Incident(*r) for r in db.select(
            f"SELECT {INCIDENTS.cols()} FROM {db.rel(INCIDENTS)} WHERE status = 'open' "
            "ORDER BY opened_at DESC LIMIT ?",
            (limit,),
        )]  # fmt: skip

    def open_new(self, incidents: Iterable[Incident]) -> None:
        """New incidents (replacing a resolved one of the same key)."""
        rows = [as_values(i) for i in incidents]
        if rows:
            self._db.write(WHAT, [self._db.insert(INCIDENTS, rows, conflict="replace")])

    def seen(self, updates: Sequence[tuple[str, float, str]]) -> None:
        """(key, when, message) of open incidents signalled again: one more occurrence."""
        if updates:
            stmt = self._db.update(
                INCIDENTS, "last_seen_at = ?, occurrences = occurrences + 1, message = ?",
                "incident_key = ?", [(at, message, key) for key, at, message in updates],
            )  # fmt: skip
            self._db.write(WHAT, [stmt])

    def resolve(self, updates: Sequence[tuple[str, float]]) -> None:
        """(key, when) of incidents that are over."""
        if updates:
            stmt = self._db.update(
                INCIDENTS, "status = 'resolved', resolved_at = ?, last_seen_at = ?",
                "incident_key = ?", [(at, at, key) for key, at in updates],
            )  # fmt: skip
            self._db.write(WHAT, [stmt])

    def mark_alerted(self, keys: Sequence[str], at: float) -> None:
        """Incidents an open or reminder alert reached some channel at ``at``."""
        if keys:
            stmt = self._db.update(
                INCIDENTS, "last_alert_at = ?", "incident_key = ?", [(at, k) for k in keys]
            )
            self._db.write(WHAT, [stmt])

    # -- deliveries ------------------------------------------------------------------------------
    def record_deliveries(self, deliveries: Iterable[AlertDelivery]) -> None:
        rows = [
            (d.incident_key, d.channel, d.kind, d.sent_at, int(d.ok), d.error) for d in deliveries
        ]
        if rows:
            self._db.write(WHAT, [self._db.insert(ALERT_DELIVERIES, rows)])

    def channels_told(self, incident_key: str, since: float) -> list[str]:
        """Channels an open or reminder alert of ``incident_key`` reached since ``since``."""
        rows = self._db.select(
            f"SELECT DISTINCT channel FROM {self._db.rel(ALERT_DELIVERIES)} WHERE incident_key = ? "
            "AND kind IN ('open', 'reminder') AND ok = 1 AND sent_at >= ?",
            (incident_key, since),
        )
        return [str(r[0]) for r in rows]

    def deliveries_per_channel(self, since: float, not_error: str) -> dict[str, int]:
        """Deliveries (but summaries, and attempts that failed with ``not_error``) per channel
        since ``since``: what counts against a rate limit."""
        rows = self._db.select(
            f"SELECT channel, COUNT(*) FROM {self._db.rel(ALERT_DELIVERIES)} WHERE sent_at >= ? "
            "AND kind != 'summary' AND (error IS NULL OR error != ?) GROUP BY channel",
            (since, not_error),
        )
        return {str(channel): int(n) for channel, n in rows}

    def summarised_channels(self, since: float) -> set[str]:
        """Channels that got a rate-limit summary since ``since``."""
        rows = self._db.select(
            f"SELECT DISTINCT channel FROM {self._db.rel(ALERT_DELIVERIES)} WHERE kind = 'summary' "
            "AND sent_at >= ?",
            (since,),
        )
        return {str(r[0]) for r in rows}
