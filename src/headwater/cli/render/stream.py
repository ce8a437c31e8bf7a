"""`headwater stream run|status`: one line per committed micro-batch, a summary per stream, and
the status of streams as a table or one JSON document."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headwater.streams.commands import StatusReport
    from headwater.streams.monitor import StreamStatus
    from headwater.streams.processor import BatchReport, RunSummary


def print_batch(report: BatchReport) -> None:
    if report.lost:
        print(f"{report.stream}: a partition moved to another process; re-reading", flush=True)
        return
    parts = [f"{report.messages:,} events", f"{report.rows:,} rows"]
    for count, label in ((report.dlq, "to DLQ"), (report.duplicates, "duplicates dropped"),
                         (report.late, "late"), (report.emitted, "window rows")):  # fmt: skip
        if count:
            parts.append(f"{count:,} {label}")
    if report.watermark is not None:
        parts.append(f"watermark {report.watermark:%Y-%m-%d %H:%M:%S}")
    print(f"{report.stream}: committed {', '.join(parts)} in {report.seconds:.2f}s", flush=True)


def print_summaries(summaries: list[RunSummary]) -> None:
    for s in summaries:
        rate = s.messages / s.seconds if s.seconds else 0.0
        extra = f", {s.dlq:,} to DLQ" if s.dlq else ""
        extra += f", {s.duplicates:,} duplicates dropped" if s.duplicates else ""
        print(
            f"{s.stream}: {s.messages:,} events in {s.batches} micro-batches, {s.rows:,} rows"
            f"{extra} ({rate:,.0f} events/s)",
            flush=True,
        )


def _ago(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    seconds = max(0.0, dt.datetime.now(dt.UTC).timestamp() - epoch)
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"


def _seconds(value: float | None) -> str:
    return "-" if value is None else (f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s")


STATUS_COLUMNS = (
    "stream",
    "processes",
    "events/s",
    "lag",
    "DLQ rate",
    "errors",
    "p50",
    "p99",
    "last commit",
    "watermark",
)
"""The headers of `stream status`, in order; `_status_cells` gives one cell under each."""


def _status_cells(s: StreamStatus) -> dict[str, str]:
    total = s.to_dict()["total_lag"]
    lag = "-" if total is None else f"{total:,}"
    if len(s.lag) > 1:
        each = (f"{p}: {'-' if v is None else int(v)}" for p, v in sorted(s.lag.items()))
        lag += f" ({', '.join(each)})"
    watermark = (
        "-"
        if s.watermark is None
        else f"{dt.datetime.fromtimestamp(s.watermark, dt.UTC):%Y-%m-%d %H:%M:%S}"
    )
    return {
        "stream": s.name,
        "processes": str(len(s.processes)),
        "events/s": f"{s.events_per_s:,.0f}",
        "lag": lag,
        "DLQ rate": "-" if s.dlq_rate is None else f"{s.dlq_rate:.2%}",
        "errors": f"{int(s.errors):,}",
        "p50": _seconds(s.latency_p50),
        "p99": _seconds(s.latency_p99),
        "last commit": _ago(s.last_commit),
        "watermark": watermark,
    }


def print_status(report: StatusReport, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    tty = sys.stdout.isatty()
    console = Console(width=None if tty else 200, no_color=not tty, highlight=False)
    table = Table(*STATUS_COLUMNS)
    for s in report.streams:
        cells = _status_cells(s)  # by header: a cell cannot land under another column
        table.add_row(*(cells[c] for c in STATUS_COLUMNS))
    console.print(table)
    print(f"({len(report.streams)} streams)")
