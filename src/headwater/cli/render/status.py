"""`headwater status` and `headwater metrics`: a `StatusReport` as its tables, a `MetricsReport`
as a table of series with sparklines or one series' history, or either as JSON."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from headwater.observe.status import MetricsReport, StatusReport

BARS = "▁▂▃▄▅▆▇█"


# -- helpers ---------------------------------------------------------------------------------------
def sparkline(values: list[float | None]) -> str:
    """One bar per value, scaled from the smallest (▁) to the largest (█); a gap for a missing
    value; a flat series is drawn at mid-height."""
    real = [v for v in values if v is not None and math.isfinite(v)]
    if not real:
        return " " * len(values)
    lo, hi = min(real), max(real)
    out = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(" ")
        elif hi == lo:
            out.append(BARS[3])
        else:
            out.append(BARS[min(len(BARS) - 1, int((v - lo) / (hi - lo) * (len(BARS) - 1) + 0.5))])
    return "".join(out)


def fmt_value(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def fmt_change(prev: float | None, value: float | None) -> str:
    if prev is None or value is None:
        return ""
    delta = value - prev
    if delta == 0:
        return "="
    text = ("+" if delta > 0 else "") + fmt_value(delta)
    if prev:
        text += f" ({delta / abs(prev):+.1%})"
    return text


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return "-"
    s = max(0.0, (now or time.time()) - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s / size:.0f}{unit} ago"
    return f"{s:.0f}s ago"


def _short(uid: str | None) -> str:
    """`model.shop.orders` -> `orders`; `source.shop.raw.events` -> `raw.events`."""
    if not uid:
        return ""
    parts = uid.split(".")
    if parts[0] == "source" and len(parts) >= 4:
        return ".".join(parts[2:])
    if parts[0] in ("schema_change", "anomaly"):
        return _short(".".join(parts[1:]))
    return parts[-1] if len(parts) > 2 else uid


def _line(text: str | None, width: int = 100) -> str:
    """The first line of a message, cut to ``width``."""
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return first if len(first) <= width else first[: width - 1] + "…"


def _console() -> Console:
    from rich.console import Console

    tty = sys.stdout.isatty()
    return Console(file=sys.stdout, highlight=False, width=None if tty else 160, no_color=not tty)


def _table(title: str, names: list[str], rows: list[list[Any]], empty: str) -> Table:
    from rich.table import Table

    table = Table(*names, title=title, title_justify="left", show_edge=False, expand=False)
    if not rows:
        table.add_row(empty, *[""] * (len(names) - 1))
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row))
    return table


# -- status ------------------------------------------------------------------------------------------
def print_status(report: StatusReport, as_json: bool = False) -> None:
    """The sections of `headwater status` as tables (or one JSON document)."""
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    now = report.generated_at
    console = _console()
    inv = [[r.invocation_id[:8], r.command, r.status, ago(r.started_at, now),
            f"{r.elapsed:.1f}s" if r.elapsed is not None else "running",
            ", ".join(f"{n} {s}" for s, n in sorted(r.nodes.items())) or "-"]
           for r in report.invocations]  # fmt: skip
    console.print(
        _table(
            "Last runs",
            ["run", "command", "status", "started", "took", "nodes"],
            inv,
            "no runs yet",
        )
    )
    checks = [[c.status.upper(), c.name, _short(c.node), c.column_name or "", c.failures,
               _line(c.message), ago(c.recorded_at, now)] for c in report.checks]  # fmt: skip
    console.print(_table("Failing and warning checks (latest result of each)",
                         ["status", "check", "node", "column", "failures", "message", "when"], checks, "none"))  # fmt: skip
    stale = [[r.status.upper(), _short(r.unique_id), r.max_loaded_at or "-",
              f"{(r.age_seconds or 0) / 3600:.1f} h", _line(r.message), ago(r.recorded_at, now)]
             for r in report.stale]  # fmt: skip
    console.print(_table("Stale sources and models", ["status", "node", "max loaded at", "age", "message", "checked"],
                         stale, "none (or `headwater freshness` has not run)"))  # fmt: skip
    anomalies = [[a.status.upper(), a.name, _short(a.node), _line(a.message), ago(a.recorded_at, now)]
                 for a in report.anomalies]  # fmt: skip
    console.print(
        _table(
            "Open anomalies", ["status", "monitor", "node", "message", "when"], anomalies, "none"
        )
    )
    changes = [[_short(c.unique_id), c.change, c.column_name or "", c.old or "", c.new or "",
                ago(c.recorded_at, now)] for c in report.schema_changes]  # fmt: skip
    console.print(
        _table(
            "Recent schema changes",
            ["node", "change", "column", "old", "new", "when"],
            changes,
            "none",
        )
    )
    rejected = [["WARN", r.relation or _short(r.unique_id), _line(r.message, 120), ago(r.started_at, now)]
                for r in report.rejected]  # fmt: skip
    console.print(_table("Loads with rejected records (latest run of each source)", ["status", "source", "message", "when"],
                         rejected, "none"))  # fmt: skip
    incidents = [[i.trigger, i.subject, ago(i.opened_at, now), i.occurrences, _line(i.message)]
                 for i in report.incidents]  # fmt: skip
    console.print(
        _table(
            "Open incidents", ["trigger", "subject", "opened", "seen", "message"], incidents, "none"
        )
    )


# -- metrics -------------------------------------------------------------------------------------------
def print_metrics(report: MetricsReport, as_json: bool = False) -> None:
    """A node's series with sparklines, or one series' history (or either as JSON)."""
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    elif report.metric is None:
        _print_series(report)
    else:
        _print_history(report)


def _print_series(report: MetricsReport) -> None:
    node, series = report.node, report.series
    if not series:
        print(
            f"{node.display_name}: no metrics recorded yet; build it (`headwater build -s {node.name}`) to start its history"
        )
        return
    rows = [[s.metric, s.column or "", fmt_value(s.last), len(s.values), sparkline(s.values),
             fmt_time(s.last_recorded_at)] for s in series]  # fmt: skip
    console = _console()
    console.print(_table(f"{node.display_name}: {len(series)} series (last {report.limit} runs)",
                         ["metric", "column", "last", "runs", "trend", "recorded (UTC)"], rows, ""))  # fmt: skip
    console.print("see one series with --metric NAME [--column C]")


def _print_history(report: MetricsReport) -> None:
    node, column, points = report.node, report.column, report.points
    label = f"{node.display_name} {report.metric}" + (f" of `{column}`" if column else "")
    if not points:
        known = [s.metric + (f" --column {s.column}" if s.column else "") for s in report.recorded]
        if known:
            hint = (
                "; its recorded series: "
                + ", ".join(f"--metric {k}" for k in known[:8])
                + (", ..." if len(known) > 8 else "")
            )
        else:
            hint = f"; nothing is recorded for it yet: build it (`headwater build -s {node.name}`) to start its history"
        print(f"{label}: no history recorded{hint}")
        return
    rows: list[list[Any]] = []
    prev: float | None = None
    for p in points:
        rows.append(
            [
                fmt_time(p.recorded_at),
                p.invocation_id[:8],
                fmt_value(p.value),
                fmt_change(prev, p.value),
            ]
        )
        prev = p.value if p.value is not None else prev
    console = _console()
    console.print(
        _table(
            f"{label}: last {len(points)} runs",
            ["recorded (UTC)", "run", "value", "change"],
            rows,
            "",
        )
    )
    values = [p.value for p in points]
    real = [v for v in values if v is not None]
    console.print(
        f"{sparkline(values)}  min {fmt_value(min(real) if real else None)}  max {fmt_value(max(real) if real else None)}"
    )
