"""`headwater stream run|status`: one line per committed micro-batch, a summary per stream, and
the status of streams as a table or one JSON document."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headwater.streams.commands import StatusReport
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


def print_status(report: StatusReport, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    tty = sys.stdout.isatty()
    console = Console(width=None if tty else 200, no_color=not tty, highlight=False)
    table = Table(
        "stream",
        "processes",
        "events/s",
        "lag",
        "DLQ rate",
        "p50",
        "p99",
        "last commit",
        "watermark",
    )
    for s in report.streams:
        d = s.to_dict()
        lag = "-" if d["total_lag"] is None else f"{d['total_lag']:,}"
        if len(s.lag) > 1:
            lag += (
                " ("
                + ", ".join(
                    f"{p}: {'-' if v is None else int(v)}" for p, v in sorted(s.lag.items())
                )
                + ")"
            )
        table.add_row(
            s.name, str(len(s.processes)), f"{s.events_per_s:,.0f}", lag,
            "-" if s.dlq_rate is None else f"{s.dlq_rate:.2%}", str(int(s.errors)), _seconds(s.latency_p50),
            _seconds(s.latency_p99), _ago(s.last_commit),
            "-" if s.watermark is None else f"{dt.datetime.fromtimestamp(s.watermark, dt.UTC):%Y-%m-%d %H:%M:%S}",
        )  # fmt: skip
    console.print(table)
    print(f"({len(report.streams)} streams)")
