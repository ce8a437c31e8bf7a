"""Intervals of time-partitioned (microbatch) models: the math and the ledger.

An interval is half-open, ``[start, end)``, in UTC, aligned to the model's ``batch_size``. The
ledger (the state store's ``intervals`` repository) says which intervals of a model are built;
a `run` builds what it lacks plus the last ``lookback`` ones, a backfill builds an explicit range
(`--rerun missing|failed|all`). This module is a leaf: the microbatch materialization and the
backfill planner both use it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError

if TYPE_CHECKING:
    from headwater.state.protocol import StateStore

BATCH_SIZES = ("hour", "day", "month", "year")
RERUN = ("missing", "failed", "all")
FAILED = ("error", "fail")

Interval = tuple[dt.datetime, dt.datetime]


def floor_time(value: dt.datetime, size: str) -> dt.datetime:
    """The start of the ``size`` interval that holds ``value``."""
    if size == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    if size == "day":
        return value.replace(hour=0, minute=0, second=0, microsecond=0)
    if size == "month":
        return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return value.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


def step(value: dt.datetime, size: str, n: int = 1) -> dt.datetime:
    """``value`` moved ``n`` intervals of ``size`` on."""
    if size == "hour":
        return value + dt.timedelta(hours=n)
    if size == "day":
        return value + dt.timedelta(days=n)
    months = value.month - 1 + (n if size == "month" else 12 * n)
    return value.replace(year=value.year + months // 12, month=months % 12 + 1)


def parse_time(value: Any, what: str = "time") -> dt.datetime:
    """A date or timestamp (ISO text, date, datetime) as an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        out = value
    elif isinstance(value, dt.date):
        out = dt.datetime(value.year, value.month, value.day)
    else:
        try:
            out = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"cannot read {what} `{value}`",
                hint="write an ISO date or timestamp, e.g. 2026-01-01",
            ) from None
    if out.tzinfo is None:
        out = out.replace(tzinfo=dt.UTC)
    return out.astimezone(dt.UTC)


def intervals(start: dt.datetime, end: dt.datetime, size: str) -> list[Interval]:
    """Half-open intervals of ``size`` covering [start, end), aligned to ``size``."""
    out = []
    cur = floor_time(start, size)
    while cur < end:
        nxt = step(cur, size)
        out.append((cur, nxt))
        cur = nxt
    return out


def interval_key(value: dt.datetime) -> str:
    """How the ledger names an interval bound: ``2026-01-01T00:00:00Z``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Ledger:
    """The interval ledger of one model (nothing is recorded without a state store)."""

    def __init__(self, state: StateStore | None, unique_id: str) -> None:
        self.state = state
        self.unique_id = unique_id

    def statuses(self) -> dict[str, str]:
        """The status of every recorded interval, by its start key."""
        if self.state is None:
            return {}
        return {i.interval_start: i.status for i in self.state.intervals.for_node(self.unique_id)}

    def built(self) -> set[str]:
        return {k for k, status in self.statuses().items() if status == "success"}

    def choose(self, chosen: list[Interval], rerun: str) -> list[Interval]:
        """The intervals of ``chosen`` that ``rerun`` asks for: all, those not built yet
        (missing), or those whose last build failed."""
        if rerun not in RERUN:
            raise ConfigError(f"unknown --rerun `{rerun}`", hint="use missing, failed or all")
        if rerun == "all":
            return list(chosen)
        ledger = self.statuses()
        if rerun == "missing":
            return [iv for iv in chosen if ledger.get(interval_key(iv[0])) != "success"]
        return [iv for iv in chosen if ledger.get(interval_key(iv[0])) in FAILED]

    def record(
        self,
        interval: Interval,
        status: str,
        rows: int | None,
        invocation_id: str,
        seconds: float,
        message: str,
    ) -> None:
        if self.state is not None:
            start, end = interval
            self.state.intervals.record(
                self.unique_id,
                interval_key(start),
                interval_key(end),
                status,
                rows,
                invocation_id,
                seconds,
                message,
            )

    def forget(self) -> None:
        if self.state is not None:
            self.state.intervals.forget(self.unique_id)
