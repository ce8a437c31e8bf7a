"""`headwater status` and `headwater metrics`: what the state store knows, on one screen.

``headwater status [--json] [--limit N]`` shows the last invocations, the checks whose latest
result is warn/fail/error, stale sources and models (latest freshness result warn/error), open
anomalies (latest anomaly-monitor result warn/fail), recent schema changes, source loads whose
latest run set records aside in `<table>__rejected`, and open incidents.
It always exits 0: it reports, it does not judge (`headwater build`/`test`/`freshness` are the
commands whose exit code gates a pipeline), and a status screen that fails would stop the
scripts that print it right when it matters most.

``headwater metrics NODE`` lists a node's series (row_count, null_rate of a column, ...) with
their last value and a sparkline; ``--metric M [--column C]`` shows one series' history with
the change from each run to the next. Unknown node: exit 2 with suggestions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from typing import Any

from headwater.errors import NodeNotFoundError, UsageError, did_you_mean

BARS = "▁▂▃▄▅▆▇█"
METRICS = ("row_count", "rows_inserted", "rows_updated", "rows_deleted", "bytes", "duration_seconds",
           "freshness_lag_seconds", "null_rate", "distinct_count", "min", "max", "mean")  # fmt: skip
COLUMN_METRICS = ("null_rate", "distinct_count", "min", "max", "mean")


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


def _console() -> Any:
    from rich.console import Console

    tty = sys.stdout.isatty()
    return Console(file=sys.stdout, highlight=False, width=None if tty else 160, no_color=not tty)


def _table(title: str, names: list[str], rows: list[list[Any]], empty: str) -> Any:
    from rich.table import Table

    table = Table(*names, title=title, title_justify="left", show_edge=False, expand=False)
    if not rows:
        table.add_row(empty, *[""] * (len(names) - 1))
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row))
    return table


# -- status ------------------------------------------------------------------------------------------
_LATEST_CHECKS = (
    "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY unique_id ORDER BY recorded_at DESC) AS rn "
    "FROM check_results) WHERE rn = 1 AND status IN ({statuses}) AND {where} ORDER BY recorded_at DESC LIMIT ?"
)


def status_report(state: Any, limit: int = 10) -> dict[str, Any]:
    """The sections of `headwater status` as plain data (what ``--json`` prints)."""
    invocations = []
    for inv in state.read("SELECT * FROM invocations ORDER BY started_at DESC LIMIT ?", (limit,)):
        counts = state.read(
            "SELECT status, count(*) AS n FROM node_runs WHERE invocation_id = ? GROUP BY status",
            (inv["invocation_id"],),
        )
        invocations.append({
            "invocation_id": inv["invocation_id"], "command": inv["command"], "status": inv["status"],
            "target": inv["target"], "started_at": inv["started_at"], "finished_at": inv["finished_at"],
            "elapsed": (inv["finished_at"] - inv["started_at"]) if inv["finished_at"] else None,
            "nodes": {r["status"]: r["n"] for r in counts},
        })  # fmt: skip
    keep = ("invocation_id", "unique_id", "name", "check_type", "node", "column_name", "severity", "status",
            "failures", "message", "recorded_at")  # fmt: skip
    checks = state.read(
        _LATEST_CHECKS.format(statuses="'warn','fail','error'",
                              where="coalesce(check_type, '') NOT LIKE 'anomaly%' AND coalesce(check_type, '') != 'schema_change'"),
        (limit,),
    )  # fmt: skip
    anomalies = state.read(
        _LATEST_CHECKS.format(
            statuses="'warn','fail'", where="coalesce(check_type, '') LIKE 'anomaly%'"
        ),
        (limit,),
    )
    stale = state.read(
        "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY unique_id ORDER BY recorded_at DESC) AS rn "
        "FROM freshness_results) WHERE rn = 1 AND status IN ('warn', 'error') ORDER BY age_seconds DESC LIMIT ?",
        (limit,),
    )
    changes = state.read(
        "SELECT unique_id, invocation_id, recorded_at, change, column_name, old, new FROM schema_changes "
        "ORDER BY recorded_at DESC, rowid LIMIT ?",
        (limit,),
    )
    rejected = state.read(  # loads whose latest run set records aside in <table>__rejected
        "SELECT unique_id, name, relation, rows, rejected, message, started_at FROM (SELECT *, row_number() OVER "
        "(PARTITION BY unique_id ORDER BY started_at DESC) AS rn FROM node_runs) WHERE rn = 1 AND rejected > 0 "
        "ORDER BY started_at DESC LIMIT ?",
        (limit,),
    )
    incidents = state.read(
        "SELECT incident_key, trigger, subject, status, opened_at, last_seen_at, occurrences, message FROM incidents "
        "WHERE status = 'open' ORDER BY opened_at DESC LIMIT ?",
        (limit,),
    )
    return {
        "generated_at": time.time(),
        "invocations": invocations,
        "checks": [{k: c[k] for k in keep} for c in checks],
        "stale": [{k: v for k, v in r.items() if k != "rn"} for r in stale],
        "anomalies": [
            {
                **{k: a[k] for k in keep},
                "result": json.loads(a["result"]) if a.get("result") else None,
            }
            for a in anomalies
        ],
        "schema_changes": changes,
        "rejected": rejected,
        "incidents": incidents,
    }


def print_status(report: dict[str, Any]) -> None:
    now = report["generated_at"]
    console = _console()
    inv = [[r["invocation_id"][:8], r["command"], r["status"], ago(r["started_at"], now),
            f"{r['elapsed']:.1f}s" if r["elapsed"] is not None else "running",
            ", ".join(f"{n} {s}" for s, n in sorted(r["nodes"].items())) or "-"]
           for r in report["invocations"]]  # fmt: skip
    console.print(
        _table(
            "Last runs",
            ["run", "command", "status", "started", "took", "nodes"],
            inv,
            "no runs yet",
        )
    )
    checks = [[c["status"].upper(), c["name"], _short(c["node"]), c["column_name"] or "", c["failures"],
               _line(c["message"]), ago(c["recorded_at"], now)] for c in report["checks"]]  # fmt: skip
    console.print(_table("Failing and warning checks (latest result of each)",
                         ["status", "check", "node", "column", "failures", "message", "when"], checks, "none"))  # fmt: skip
    stale = [[r["status"].upper(), _short(r["unique_id"]), r["max_loaded_at"] or "-",
              f"{(r['age_seconds'] or 0) / 3600:.1f} h", _line(r["message"]), ago(r["recorded_at"], now)]
             for r in report["stale"]]  # fmt: skip
    console.print(_table("Stale sources and models", ["status", "node", "max loaded at", "age", "message", "checked"],
                         stale, "none (or `headwater freshness` has not run)"))  # fmt: skip
    anomalies = [[a["status"].upper(), a["name"], _short(a["node"]), _line(a["message"]), ago(a["recorded_at"], now)]
                 for a in report["anomalies"]]  # fmt: skip
    console.print(
        _table(
            "Open anomalies", ["status", "monitor", "node", "message", "when"], anomalies, "none"
        )
    )
    changes = [[_short(c["unique_id"]), c["change"], c["column_name"] or "", c["old"] or "", c["new"] or "",
                ago(c["recorded_at"], now)] for c in report["schema_changes"]]  # fmt: skip
    console.print(
        _table(
            "Recent schema changes",
            ["node", "change", "column", "old", "new", "when"],
            changes,
            "none",
        )
    )
    rejected = [["WARN", r["relation"] or _short(r["unique_id"]), _line(r["message"], 120), ago(r["started_at"], now)]
                for r in report.get("rejected", [])]  # fmt: skip
    console.print(_table("Loads with rejected records (latest run of each source)", ["status", "source", "message", "when"],
                         rejected, "none"))  # fmt: skip
    incidents = [[i["trigger"], i["subject"], ago(i["opened_at"], now), i["occurrences"], _line(i["message"])]
                 for i in report["incidents"]]  # fmt: skip
    console.print(
        _table(
            "Open incidents", ["trigger", "subject", "opened", "seen", "message"], incidents, "none"
        )
    )


def cmd_status(args: argparse.Namespace) -> int:
    from headwater.cli import context_for

    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}", hint="e.g. --limit 20")
    with context_for(args) as ctx:
        report = status_report(ctx.state, args.limit)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_status(report)
    return 0


# -- metrics -------------------------------------------------------------------------------------------
def find_node(nodes: dict[str, Any], name: str) -> Any:
    """A measurable node by unique_id, name or `source.table`; unknown or ambiguous -> exit 2."""
    candidates = [
        n for n in nodes.values() if n.resource_type in ("model", "seed", "source", "snapshot")
    ]
    if name in nodes and nodes[name] in candidates:
        return nodes[name]
    found = [n for n in candidates if name in (n.display_name, n.name)]
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(
            f"`{name}` names {len(found)} nodes: " + ", ".join(f"`{n.unique_id}`" for n in found),
            hint="pass the unique_id of the one you mean",
        )
    names = sorted({n.display_name for n in candidates})
    raise NodeNotFoundError(f"no model, seed, snapshot or source named `{name}`" + did_you_mean(name, names),
                            hint="see `headwater ls` for the names")  # fmt: skip


def series_of(state: Any, unique_id: str, limit: int) -> list[dict[str, Any]]:
    """Every series of a node: metric, column, last value and the last ``limit`` values."""
    rows = state.read(
        "SELECT metric, column_name, recorded_at, value FROM (SELECT *, row_number() OVER (PARTITION BY metric, column_name "
        "ORDER BY recorded_at DESC) AS rn FROM node_metrics WHERE unique_id = ?) WHERE rn <= ? "
        "ORDER BY column_name, metric, recorded_at",
        (unique_id, limit),
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        s = out.setdefault(
            (r["metric"], r["column_name"]),
            {"metric": r["metric"], "column": r["column_name"], "values": []},
        )
        s["values"].append(r["value"])
        s["last"], s["last_recorded_at"] = r["value"], r["recorded_at"]
    order = {m: i for i, m in enumerate(METRICS)}
    return sorted(
        out.values(),
        key=lambda s: (s["column"] != "", s["column"], order.get(s["metric"], 99), s["metric"]),
    )


def cmd_metrics(args: argparse.Namespace) -> int:
    from headwater.cli import context_for

    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}", hint="e.g. --limit 30")
    if args.metric and args.metric not in METRICS:
        raise UsageError(f"unknown metric `{args.metric}`" + did_you_mean(args.metric, METRICS),
                         hint="one of: " + ", ".join(METRICS))  # fmt: skip
    if args.column and not args.metric:
        raise UsageError("--column needs --metric", hint="e.g. --metric null_rate --column email")
    with context_for(args) as ctx:
        node = find_node(ctx.manifest.nodes, args.node)
        if args.metric:
            return _one_series(ctx.state, node, args)
        series = series_of(ctx.state, node.unique_id, args.limit)
    if args.json:
        print(json.dumps({"node": node.unique_id, "series": series}, indent=2, default=str))
        return 0
    if not series:
        print(
            f"{node.display_name}: no metrics recorded yet; build it (`headwater build -s {node.name}`) to start its history"
        )
        return 0
    rows = [[s["metric"], s["column"] or "", fmt_value(s["last"]), len(s["values"]), sparkline(s["values"]),
             fmt_time(s["last_recorded_at"])] for s in series]  # fmt: skip
    console = _console()
    console.print(_table(f"{node.display_name}: {len(series)} series (last {args.limit} runs)",
                         ["metric", "column", "last", "runs", "trend", "recorded (UTC)"], rows, ""))  # fmt: skip
    console.print("see one series with --metric NAME [--column C]")
    return 0


def _one_series(state: Any, node: Any, args: argparse.Namespace) -> int:
    column = args.column or ""
    if args.metric in COLUMN_METRICS and not column:
        raise UsageError(
            f"`{args.metric}` is measured per column",
            hint=f"add --column C, e.g. --metric {args.metric} --column id",
        )
    history = state.metric_history(node.unique_id, args.metric, column, limit=args.limit)
    points, prev = [], None
    for h in history:
        points.append({"recorded_at": h["recorded_at"], "invocation_id": h["invocation_id"], "value": h["value"],
                       "change": None if prev is None or h["value"] is None else h["value"] - prev})  # fmt: skip
        prev = h["value"] if h["value"] is not None else prev
    if args.json:
        print(
            json.dumps(
                {"node": node.unique_id, "metric": args.metric, "column": column, "points": points},
                indent=2,
            )
        )
        return 0
    label = f"{node.display_name} {args.metric}" + (f" of `{column}`" if column else "")
    if not points:
        known = [
            s["metric"] + (f" --column {s['column']}" if s["column"] else "")
            for s in series_of(state, node.unique_id, 1)
        ]
        if known:
            hint = (
                "; its recorded series: "
                + ", ".join(f"--metric {k}" for k in known[:8])
                + (", ..." if len(known) > 8 else "")
            )
        else:
            hint = f"; nothing is recorded for it yet: build it (`headwater build -s {node.name}`) to start its history"
        print(f"{label}: no history recorded{hint}")
        return 0
    rows, prev = [], None
    for p in points:
        rows.append(
            [
                fmt_time(p["recorded_at"]),
                p["invocation_id"][:8],
                fmt_value(p["value"]),
                fmt_change(prev, p["value"]),
            ]
        )
        prev = p["value"] if p["value"] is not None else prev
    console = _console()
    console.print(
        _table(
            f"{label}: last {len(points)} runs",
            ["recorded (UTC)", "run", "value", "change"],
            rows,
            "",
        )
    )
    values = [p["value"] for p in points]
    real = [v for v in values if v is not None]
    console.print(
        f"{sparkline(values)}  min {fmt_value(min(real) if real else None)}  max {fmt_value(max(real) if real else None)}"
    )
    return 0


def add_commands(sub: Any, common: Any) -> dict[str, Any]:
    p = sub.add_parser(
        "status", help="last runs, failing checks, stale data, anomalies, schema changes, incidents"
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON document with the same sections"
    )
    p.add_argument("--limit", type=int, default=10, help="rows per section (default 10)")
    common(p)
    p = sub.add_parser("metrics", help="the metric history of a node (row counts, profiles, ...)")
    p.add_argument("node", help="model, seed, snapshot or source (`source.table`) name")
    p.add_argument(
        "--metric", help="one series, e.g. row_count, null_rate (without: list the node's series)"
    )
    p.add_argument(
        "--column", help="the column of a column metric (null_rate, distinct_count, min, max, mean)"
    )
    p.add_argument("--limit", type=int, default=30, help="runs to show (default 30)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    common(p)
    return {"status": cmd_status, "metrics": cmd_metrics}
