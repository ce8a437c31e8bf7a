"""Incremental benchmarks: what a run costs when little has changed, against rebuilding.

1. **One new day** (`day`): the demo at `--scale S` and its `fct_web_events` (insert_overwrite,
   partitioned by day, 2.97M rows over 365 days at scale 1). A day of raw events arrives as a new
   Parquet file of the source (`web_events/event_month=2026-01/`), the source is reloaded, then
   `headwater run -s fct_web_events` (incremental, `late_event_days: -1` so the incremental variant
   selects exactly the new day) vs `--full-refresh`. Goal: incremental <= 5% of the full refresh.
   The demo as shipped (`late_event_days: 3`: 3 restated days + the new one) is reported too.
2. **Merge 1%** (`merge`): a generated 10M-row table; an incremental model (`merge`, `unique_key:
   id`, incremental variant `updated_at > max(updated_at)` of `{{ this }}`) after 1% of the rows
   changed (0.9% updated, 0.1% new) vs `--full-refresh`. Checked: both give the same table.
3. **Snapshot** (`snapshot`): `headwater snapshot` of 1M customers (timestamp strategy), first
   snapshot and after 1% changed: time and peak RSS.
4. **Backfill** (`backfill`): a microbatch model (batch_size day) over a year of generated events;
   `headwater backfill MODEL --start 2025-01-01 --end 2026-01-01 --rerun all`. Per-interval
   overhead = (headwater - raw replay) / 365, goal < 20 ms.

Every headwater number is a whole process (`run_process`), from the same saved warehouse and
state store, and is compared with the replay of the statements it executed (`replay_cmd`), like
wide_graph.py and demo_build.py. One extra, untimed run per command executes headwater in-process
with its engine, state store and console wrapped by timers (`PROFILE_CODE`): where the time goes.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    WAREHOUSE,
    Row,
    Samples,
    copy_db,
    duckdb_config,
    fmt_mib,
    fmt_s,
    headwater_cmd,
    log,
    read_trace,
    replay_cmd,
    run_process,
)

STATE = ".headwater/state.db"

# headwater's CLI in-process, with its engine, state store and console wrapped by timers. Nested
# wrapped calls count once (the outermost), so the buckets add up. Writes one JSON document.
PROFILE_CODE = r"""
import json, sys, threading, time
t0 = time.perf_counter()
out, args = sys.argv[1], sys.argv[2:]
import headwater.cli as cli
import headwater.cli.render.console as console
import headwater.context
import headwater.engines.duckdb as eng
import headwater.runner.recorder as recorder
import headwater.state.base as state_base
import headwater.state.sqlite as state_sqlite
from headwater.state import checks, freshness, incidents, ledger, metrics, runs, schedules
t_import = time.perf_counter() - t0
stats, local, lock = {}, threading.local(), threading.Lock()

def classify(sql):
    s = sql.lstrip().upper()
    if "INFORMATION_SCHEMA" in s:
        return "sql: catalog (information_schema)"
    first = s.split(None, 1)[0] if s else "?"
    if first in ("BEGIN", "ROLLBACK"):
        return "sql: BEGIN/ROLLBACK"
    return "sql: " + first

def wrap(cls, name, label):
    orig = cls.__dict__[name]
    def wrapper(*a, **k):
        if getattr(local, "depth", 0):
            return orig(*a, **k)
        local.depth = 1
        started = time.perf_counter()
        try:
            return orig(*a, **k)
        finally:
            spent = time.perf_counter() - started
            local.depth = 0
            key = label(a) if callable(label) else label
            with lock:
                s = stats.setdefault(key, [0.0, 0])
                s[0] += spent
                s[1] += 1
    setattr(cls, name, wrapper)

wrap(eng.DuckDBEngine, "execute", lambda a: classify(a[1]))
wrap(eng.DuckDBEngine, "query", lambda a: classify(a[1]))
wrap(eng.DuckDBEngine, "open", "engine: open (import duckdb, connect)")
wrap(eng.DuckDBEngine, "close", "engine: close (checkpoint)")
# the state store: opening it, its own methods (flush, close) and every repository's
repositories = {"runs": runs.Runs, "checks": checks.Checks, "intervals": ledger.Intervals,
                "backfills": ledger.Backfills, "metrics": metrics.Metrics,
                "incidents": incidents.Incidents, "freshness": freshness.Freshness,
                "schedules": schedules.Schedules}
parts = [("", state_sqlite.SQLiteStateStore), ("", state_base.SQLStateStore),
         *((f"{k}.", v) for k, v in repositories.items())]
for prefix, cls in parts:
    for name, value in list(vars(cls).items()):
        if callable(value) and (not name.startswith("_") or name == "__init__"):
            wrap(cls, name, "state store: " + prefix + name.strip("_"))
for cls in (console.PlainConsole, console.RichConsole, console.NullConsole):
    for name in ("run_started", "unit_started", "unit_finished", "finish"):
        if name in cls.__dict__:
            wrap(cls, name, "console")
wrap(recorder.StateRecorder, "unit_finished", "recorder: state rows + log line")
started = time.perf_counter()
try:
    rc = cli.main(args)
except SystemExit as exc:
    rc = exc.code
main_s = time.perf_counter() - started
with open(out, "w", encoding="utf-8") as fh:
    json.dump({"rc": rc, "import_s": t_import, "main_s": main_s, "total_s": time.perf_counter() - t0,
               "buckets": {k: {"s": v[0], "n": v[1]} for k, v in sorted(stats.items())}}, fh)
"""


# -- helpers ----------------------------------------------------------------------------------------
def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _project_yml(name: str, threads: int = 2) -> str:
    return (
        f"name: {name}\nversion: 1\ndefault_target: dev\ntargets:\n  dev:\n    engine: duckdb\n"
        f"    path: .headwater/warehouse.duckdb\n    schema: main\n    threads: {threads}\n"
    )


def _save(project: Path, dest: Path) -> None:
    """Warehouse and state store of ``project`` into ``dest`` (both closed)."""
    dest.mkdir(parents=True, exist_ok=True)
    state = project / STATE
    if state.exists():
        shutil.copyfile(state, dest / "state.db")
    copy_db(project / WAREHOUSE, dest / "warehouse.duckdb")


def _restore(src: Path, project: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{project / STATE}{suffix}").unlink(missing_ok=True)
    if (src / "state.db").exists():
        shutil.copyfile(src / "state.db", project / STATE)
    copy_db(src / "warehouse.duckdb", project / WAREHOUSE)  # syncs both


_VOLATILE = re.compile(
    r"'\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:?\d\d)?|Z)?'|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{32}\b"
)


def _normalized(statements: list[str]) -> list[str]:
    return sorted(_VOLATILE.sub("<v>", s) for s in statements)


def _checksum(db: Path, table: str, where: str = "") -> tuple:
    """Row count and per-column sums of hashes: equal tables give equal checksums, in any order."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return tuple(
            con.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {table} {where}").fetchone()
        )
    finally:
        con.close()


def _scalar(db: Path, sql: str) -> Any:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def _sql(db: Path, *statements: str) -> None:
    import duckdb

    con = duckdb.connect(str(db))
    try:
        for stmt in statements:
            con.execute(stmt)
    finally:
        con.close()


def profile(cmd_args: list[str], scratch: Path, name: str) -> dict[str, Any]:
    """headwater ``cmd_args`` once in-process with timers (see PROFILE_CODE); the buckets."""
    out = scratch / f"profile_{name}.json"
    proc = run_process([sys.executable, "-c", PROFILE_CODE, str(out), *cmd_args])
    data = json.loads(out.read_text(encoding="utf-8"))
    data["process_s"] = proc.seconds
    buckets = data["buckets"]
    data["sql_s"] = sum(v["s"] for k, v in buckets.items() if k.startswith("sql:"))
    data["other_python_s"] = data["main_s"] - sum(v["s"] for v in buckets.values())
    return data


def _profile_text(p: dict[str, Any], per: int = 1) -> str:
    unit = f" (per unit of {per}: ms)" if per > 1 else ""
    lines = [
        f"process {p['process_s']:.3f}s, imports {p['import_s']:.3f}s, main {p['main_s']:.3f}s{unit}"
    ]
    items = sorted(p["buckets"].items(), key=lambda kv: -kv[1]["s"])
    items.append(
        ("other Python (parse cache, planning, runner)", {"s": p["other_python_s"], "n": 1})
    )
    for key, v in items:
        extra = f"  {v['s'] / per * 1000:7.2f}" if per > 1 else ""
        lines.append(f"  {v['s']:7.3f}s  x{v['n']:<5} {key}{extra}")
    return "\n".join(lines)


@dataclass
class Variant:
    """One headwater command timed from one saved state, and the replay of its statements."""

    name: str
    cmd: list[str]
    state: Path
    hw: Samples = field(default_factory=Samples)
    raw: Samples = field(default_factory=Samples)
    statements: int = 0
    same_statements: bool = True
    trace: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cmd": self.cmd[1:],
            "statements": self.statements,
            "timed_runs_executed_same_statements": self.same_statements,
            "headwater": self.hw.to_dict(),
            "raw_duckdb_replay": self.raw.to_dict(),
            "ratio": round(self.hw.median / self.raw.median, 4),
        }


def compare(
    project: Path, variants: list[Variant], scratch: Path, reps: int, label: str
) -> dict[str, Path]:
    """Time each variant ``reps`` times (order alternating) and replay its statements; returns each
    variant's replayed warehouse (same file name as headwater's, so `current_database()` matches)."""
    config = duckdb_config(project)
    replayed = {v.name: scratch / f"replay_{v.name}" / "warehouse.duckdb" for v in variants}
    for v in variants:  # the statements to replay: one traced run from the saved state
        v.trace = scratch / f"trace_{v.name}.jsonl"
        v.trace.unlink(missing_ok=True)
        _restore(v.state, project)
        run_process(v.cmd, env={"HEADWATER_SQL_TRACE": str(v.trace)})
        v.statements = len(read_trace(v.trace))
    for rep in range(reps):
        order = variants if rep % 2 == 0 else list(reversed(variants))
        for v in order:
            assert v.trace is not None
            timed = scratch / f"trace_{v.name}_timed.jsonl"
            timed.unlink(missing_ok=True)
            _restore(v.state, project)
            v.hw.add(run_process(v.cmd, env={"HEADWATER_SQL_TRACE": str(timed)}))
            v.same_statements &= _normalized(read_trace(timed)) == _normalized(read_trace(v.trace))
            copy_db(v.state / "warehouse.duckdb", replayed[v.name])
            v.raw.add(run_process(replay_cmd(replayed[v.name], v.trace, config)))
            log(f"{label}: rep {rep + 1}/{reps} {v.name}: headwater {v.hw.seconds[-1]:.3f}s "
                f"({v.hw.peak_rss[-1] / 2**20:.0f} MiB), raw {v.raw.seconds[-1]:.3f}s "
                f"({v.raw.peak_rss[-1] / 2**20:.0f} MiB)")  # fmt: skip
    return replayed


def _pair_row(name: str, v: Variant, goal: str = "(info)") -> Row:
    return Row(
        name, fmt_s(v.hw.median), fmt_s(v.raw.median), f"{v.hw.median / v.raw.median:.2f}x", goal
    )


def _bucket(p: dict[str, Any], prefix: str) -> str:
    return f"{sum(v['s'] for k, v in p['buckets'].items() if k.startswith(prefix)) * 1000:.0f}"


def _pct(a: float, b: float) -> str:
    return f"{a / b * 100:.1f}%"


# -- 1. one new day of the demo's fct_web_events ---------------------------------------------------------
NEW_DAY = """
COPY (
    SELECT event_id + (SELECT max(event_id) FROM read_parquet('{glob}')) AS event_id,
           session_id || '-n' AS session_id, customer_id, event_ts + INTERVAL 1 DAY AS event_ts,
           event_type, page, device, '2026-01' AS event_month
    FROM read_parquet('{last}')
    WHERE event_ts >= TIMESTAMP '2025-12-31'
    ORDER BY event_id
) TO '{out}' (FORMAT parquet)
"""


def bench_day(workdir: Path, scale: float, reps: int) -> tuple[list[Row], dict[str, Any]]:
    root = workdir / "incr_demo"
    scratch = workdir / "incr_demo_scratch"
    for path in (root, scratch):
        shutil.rmtree(path, ignore_errors=True)
    scratch.mkdir(parents=True)
    hw = [*headwater_cmd(), "--project-dir", str(root)]
    run_process([*headwater_cmd(), "demo", str(root), "--scale", str(scale), "--no-build"])
    first = run_process(
        [*hw, "run"]
    )  # the whole demo, once: the warehouse the incremental run writes into
    log(f"day: demo at scale {scale} generated; first `headwater run` {first.seconds:.2f}s")

    # A day of raw events arrives: the next month's partition of the source's Parquet files.
    raw = root / "data" / "raw" / "web_events"
    out = raw / "event_month=2026-01" / "data.parquet"
    out.parent.mkdir(parents=True)
    import duckdb

    con = duckdb.connect()
    con.execute(
        NEW_DAY.format(
            glob=raw / "**" / "*.parquet",
            last=raw / "event_month=2025-12" / "data.parquet",
            out=out,
        )
    )
    new_rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    con.close()
    _save(root, scratch / "before_load")
    load = [*hw, "run", "-s", "source:shop.web_events"]
    loads = Samples()
    for _ in range(reps):
        _restore(scratch / "before_load", root)
        loads.add(run_process(load))
    day_state = scratch / "day_arrived"
    _save(root, day_state)
    table = '"main"."fct_web_events"'
    total_rows = _scalar(root / WAREHOUSE, "SELECT count(*) FROM raw.web_events")

    one_day = [
        "--vars",
        "{late_event_days: -1}",
    ]  # `event_date >= max(event_date) + 1`: the new day only
    inc = Variant("incremental", [*hw, *one_day, "run", "-s", "fct_web_events"], day_state)
    full = Variant(
        "full_refresh", [*hw, *one_day, "run", "-s", "fct_web_events", "--full-refresh"], day_state
    )
    run_process(inc.cmd)  # warm-up: the parse cache for these vars
    replayed = compare(root, [inc, full], scratch, reps, "day")

    # Same work: the incremental result equals the full refresh (and each equals its replay).
    checks: dict[str, Any] = {}
    _restore(day_state, root)
    profiles = {"incremental": profile([*inc.cmd[1:]], scratch, "day_incremental")}
    checks["incremental"] = _checksum(root / WAREHOUSE, table)
    checks["incremental_new_day_rows"] = _scalar(
        root / WAREHOUSE, f"SELECT count(*) FROM {table} WHERE event_date = DATE '2026-01-01'"
    )
    _restore(day_state, root)
    profiles["full_refresh"] = profile([*full.cmd[1:]], scratch, "day_full")
    checks["full_refresh"] = _checksum(root / WAREHOUSE, table)
    checks["replay_incremental"] = _checksum(replayed["incremental"], table)
    checks["replay_full_refresh"] = _checksum(replayed["full_refresh"], table)
    same = (
        checks["incremental"]
        == checks["full_refresh"]
        == checks["replay_full_refresh"]
        == checks["replay_incremental"]
    )
    same &= (
        checks["incremental"][0] == total_rows and checks["incremental_new_day_rows"] == new_rows
    )

    # The demo as shipped: the incremental variant restates the last 3 days too (late events).
    shipped = Variant("as_shipped", [*hw, "run", "-s", "fct_web_events"], day_state)
    run_process(shipped.cmd)  # warm-up: the parse cache for the project's own vars
    compare(root, [shipped], scratch, reps, "day")
    _restore(day_state, root)
    profiles["as_shipped"] = profile([*shipped.cmd[1:]], scratch, "day_as_shipped")
    for name, p in profiles.items():
        log(f"day: profile {name}:\n{_profile_text(p)}")

    inc_share, raw_share = inc.hw.median / full.hw.median, inc.raw.median / full.raw.median
    sql_inc, sql_full = profiles["incremental"]["sql_s"], profiles["full_refresh"]["sql_s"]
    days = _scalar(
        day_state / "warehouse.duckdb",
        "SELECT count(DISTINCT cast(event_ts AS DATE)) FROM raw.web_events",
    )
    rows = [
        _pair_row(f"day: full refresh fct_web_events ({days} days)", full),
        _pair_row(f"day: incremental, 1 new day ({new_rows:,} rows)", inc),
        Row("day: incremental / full refresh", _pct(inc.hw.median, full.hw.median), _pct(inc.raw.median, full.raw.median),
            goal="<= 5%", ok=inc_share <= 0.05),
        Row("day: same, SQL only (in-process)", f"{sql_inc * 1000:.0f} / {sql_full * 1000:.0f} ms",
            goal="(info)", ratio=_pct(sql_inc, sql_full)),
        Row("day: incremental in-process: checkpoint / SQL",
            f"{_bucket(profiles['incremental'], 'engine: close')} / {sql_inc * 1000:.0f} ms", goal="(info)"),
        _pair_row("day: as shipped (3 late days + 1 new)", shipped),
        Row("day: reload raw.web_events (+1 day)", fmt_s(loads.median), goal="(info)"),
        Row("day: check", "same table", goal="incremental = full refresh", ok=same and inc.same_statements and full.same_statements),
        Row("day: peak RSS incremental / full", fmt_mib(inc.hw.max_rss), fmt_mib(full.hw.max_rss), goal="(info)"),
    ]  # fmt: skip
    data = {
        "scale": scale, "raw_rows": total_rows, "new_day_rows": new_rows, "first_build_s": round(first.seconds, 3),
        "reload_source": loads.to_dict(), "incremental": inc.to_dict(), "full_refresh": full.to_dict(),
        "as_shipped": shipped.to_dict(), "incremental_share": round(inc_share, 4), "raw_share": round(raw_share, 4),
        "checks": checks, "same_table": same, "profiles": profiles,
    }  # fmt: skip
    return rows, data


# -- 2. merge of 1% changed rows into 10M ---------------------------------------------------------------
MERGE_MODEL = """{{ config(materialized='incremental', incremental_strategy='merge', unique_key='id') }}
select id, customer_id, status, amount, quantity, sku, updated_at
from {{ source('src', 'items') }}
{% if is_incremental() %}
where updated_at > (select max(updated_at) from {{ this }})
{% endif %}
"""

ITEMS = """
SELECT i AS id,
       (hash(i, 1) % 200000)::BIGINT AS customer_id,
       ['placed', 'shipped', 'delivered', 'returned', 'cancelled'][1 + (hash(i, 2) % 5)::INT] AS status,
       round((hash(i, 3) % 100000) / 100.0, 2)::DECIMAL(10, 2) AS amount,
       1 + (hash(i, 4) % 20)::INT AS quantity,
       'sku-' || (hash(i, 5) % 50000)::VARCHAR AS sku,
       TIMESTAMP '2025-01-01' + to_seconds((hash(i, 6) % 31536000)::BIGINT) AS updated_at
FROM range({lo}, {hi}) AS r(i)
"""


def bench_merge(workdir: Path, n: int, reps: int) -> tuple[list[Row], dict[str, Any]]:
    root = workdir / "incr_merge"
    scratch = workdir / "incr_merge_scratch"
    for path in (root, scratch):
        shutil.rmtree(path, ignore_errors=True)
    scratch.mkdir(parents=True)
    _write(root, {
        "headwater.yml": _project_yml("bench_merge"),
        "models/sources.yml": "version: 2\nsources:\n  - name: src\n    schema: src\n    tables:\n      - name: items\n",
        "models/items_current.sql": MERGE_MODEL,
        # the same model with headwater's delete+insert strategy, for comparison
        "models/items_current_di.sql": MERGE_MODEL.replace("'merge'", "'delete+insert'"),
    })  # fmt: skip
    db = root / WAREHOUSE
    db.parent.mkdir(parents=True)
    started = time.perf_counter()
    _sql(db, "CREATE SCHEMA src", f"CREATE TABLE src.items AS {ITEMS.format(lo=0, hi=n)}")
    hw = [*headwater_cmd(), "--project-dir", str(root)]
    first = run_process([*hw, "run"])
    # 1% changes: 0.9% of the rows updated (new amount, status, updated_at), 0.1% new rows.
    updated, added = n * 9 // 1000, n // 1000
    _sql(
        db,
        "UPDATE src.items SET amount = amount + 1, status = 'returned', "
        "updated_at = TIMESTAMP '2026-01-01' + to_seconds((hash(id, 7) % 86400)::BIGINT) "
        f"WHERE id IN (SELECT id FROM src.items ORDER BY hash(id, 8) LIMIT {updated})",
        f"INSERT INTO src.items SELECT * REPLACE (TIMESTAMP '2026-01-01' + to_seconds((hash(id, 7) % 86400)::BIGINT) AS updated_at) "
        f"FROM ({ITEMS.format(lo=n, hi=n + added)})",
        "CHECKPOINT",
    )
    changed_state = scratch / "changed"
    _save(root, changed_state)
    log(f"merge: {n:,} rows generated and built in {time.perf_counter() - started:.1f}s (first run {first.seconds:.2f}s); "
        f"{updated:,} updated + {added:,} new rows in the source")  # fmt: skip

    merge = Variant("merge", [*hw, "run", "-s", "items_current"], changed_state)
    full = Variant(
        "full_refresh", [*hw, "run", "-s", "items_current", "--full-refresh"], changed_state
    )
    di = Variant("delete_insert", [*hw, "run", "-s", "items_current_di"], changed_state)
    replayed = compare(root, [merge, full, di], scratch, reps, "merge")
    table = '"main"."items_current"'
    replayed_di = replayed.pop("delete_insert")
    checks: dict[str, Any] = {
        f"replay_{name}": _checksum(path, table) for name, path in replayed.items()
    }
    _restore(changed_state, root)
    profiles = {"merge": profile(merge.cmd[1:], scratch, "merge")}
    checks["merge"] = _checksum(db, table)
    _restore(changed_state, root)
    profiles["full_refresh"] = profile(full.cmd[1:], scratch, "merge_full")
    checks["full_refresh"] = _checksum(db, table)
    checks["source"] = _checksum(db, "src.items")
    _restore(changed_state, root)
    profiles["delete_insert"] = profile(di.cmd[1:], scratch, "merge_delete_insert")
    checks["delete_insert_model"] = _checksum(db, '"main"."items_current_di"')
    checks["delete_insert_replay"] = _checksum(replayed_di, '"main"."items_current_di"')
    same = (
        len(
            {
                checks[k]
                for k in (
                    "merge",
                    "full_refresh",
                    "source",
                    "delete_insert_model",
                    "delete_insert_replay",
                    *(f"replay_{k}" for k in replayed),
                )
            }
        )
        == 1
    )
    for name, p in profiles.items():
        log(f"merge: profile {name}:\n{_profile_text(p)}")
    m = f"{n / 1e6:g}M"
    rows = [
        _pair_row(f"merge: 1% changed into {m} rows", merge),
        _pair_row(f"merge: full refresh ({m} rows)", full),
        Row("merge: merge / full refresh", _pct(merge.hw.median, full.hw.median), _pct(merge.raw.median, full.raw.median), goal="(info)"),
        Row("merge: same, SQL only (in-process)", f"{profiles['merge']['sql_s']:.2f} / {profiles['full_refresh']['sql_s']:.2f} s",
            ratio=_pct(profiles["merge"]["sql_s"], profiles["full_refresh"]["sql_s"]), goal="(info)"),
        _pair_row("merge: same change, delete+insert strategy", di),
        Row("merge: check", "same table", goal="merged = rebuilt", ok=same and merge.same_statements and full.same_statements),
        Row("merge: peak RSS merge / full", fmt_mib(merge.hw.max_rss), fmt_mib(full.hw.max_rss), goal="(info)"),
    ]  # fmt: skip
    data = {
        "rows": n, "updated": updated, "added": added, "first_build_s": round(first.seconds, 3),
        "merge": merge.to_dict(), "full_refresh": full.to_dict(), "delete_insert": di.to_dict(), "checks": checks, "same_table": same,
        "profiles": profiles,
    }  # fmt: skip
    return rows, data


# -- 3. snapshot of 1M customers --------------------------------------------------------------------------
SNAPSHOT = """{% snapshot customers_snapshot %}
{{ config(target_schema='snapshots', unique_key='id', strategy='timestamp', updated_at='updated_at') }}
select * from {{ source('src', 'customers') }}
{% endsnapshot %}
"""

CUSTOMERS = """
SELECT i AS id,
       'first' || (hash(i, 1) % 5000)::VARCHAR || ' last' || (hash(i, 2) % 20000)::VARCHAR AS name,
       'user' || i::VARCHAR || '@example.com' AS email,
       ['US', 'DE', 'FR', 'GB', 'NL', 'ES', 'IT', 'PL'][1 + (hash(i, 3) % 8)::INT] AS country,
       ['consumer', 'business', 'vip'][1 + (hash(i, 4) % 3)::INT] AS segment,
       TIMESTAMP '2025-01-01' + to_seconds((hash(i, 5) % 31536000)::BIGINT) AS updated_at
FROM range({n}) AS r(i)
"""


def snapshot_available(workdir: Path) -> str | None:
    """None when `headwater snapshot` works on a tiny project, else why not."""
    if not (
        Path(__file__).resolve().parent.parent / "src" / "headwater" / "materialize" / "snapshot.py"
    ).exists():
        return "src/headwater/materialize/snapshot.py does not exist yet"
    root = workdir / "incr_snapshot_probe"
    shutil.rmtree(root, ignore_errors=True)
    _write(root, {
        "headwater.yml": _project_yml("probe"),
        "models/sources.yml": "version: 2\nsources:\n  - name: src\n    schema: src\n    tables:\n      - name: customers\n",
        "snapshots/customers_snapshot.sql": SNAPSHOT,
    })  # fmt: skip
    (root / ".headwater").mkdir()
    _sql(
        root / WAREHOUSE,
        "CREATE SCHEMA src",
        f"CREATE TABLE src.customers AS {CUSTOMERS.format(n=10)}",
    )
    proc = run_process([*headwater_cmd(), "--project-dir", str(root), "snapshot"], check=False)
    if proc.returncode != 0:
        return f"`headwater snapshot` on a 10-row project exited with {proc.returncode}: {proc.output.strip()[-400:]}"
    try:
        count = _scalar(root / WAREHOUSE, "SELECT count(*) FROM snapshots.customers_snapshot")
    except Exception as exc:  # reported, not raised
        return f"no snapshots.customers_snapshot after `headwater snapshot`: {exc}"
    return None if count == 10 else f"the 10-row snapshot holds {count} rows"


def bench_snapshot(workdir: Path, n: int, reps: int) -> tuple[list[Row], dict[str, Any]]:
    why = snapshot_available(workdir)
    if why is not None:
        log(f"snapshot: not run: {why}")
        return [
            Row(f"snapshot: {n / 1e6:g}M customers", "not run", goal="(feature missing)", ok=None)
        ], {"not_run": why}
    root = workdir / "incr_snapshot"
    scratch = workdir / "incr_snapshot_scratch"
    for path in (root, scratch):
        shutil.rmtree(path, ignore_errors=True)
    scratch.mkdir(parents=True)
    _write(root, {
        "headwater.yml": _project_yml("bench_snapshot"),
        "models/sources.yml": "version: 2\nsources:\n  - name: src\n    schema: src\n    tables:\n      - name: customers\n",
        "snapshots/customers_snapshot.sql": SNAPSHOT,
    })  # fmt: skip
    db = root / WAREHOUSE
    db.parent.mkdir(parents=True)
    _sql(db, "CREATE SCHEMA src", f"CREATE TABLE src.customers AS {CUSTOMERS.format(n=n)}")
    hw = [*headwater_cmd(), "--project-dir", str(root)]
    empty = scratch / "empty"
    _save(root, empty)
    first = run_process([*hw, "snapshot"])  # warm-up; its result is the state of the second run
    changed = n // 100
    _sql(db, "UPDATE src.customers SET segment = 'vip', updated_at = TIMESTAMP '2026-01-01' + to_seconds(id % 86400) "
             f"WHERE id IN (SELECT id FROM src.customers ORDER BY hash(id, 9) LIMIT {changed})", "CHECKPOINT")  # fmt: skip
    second_state = scratch / "changed"
    _save(root, second_state)
    log(f"snapshot: {n:,} customers; first snapshot {first.seconds:.2f}s; {changed:,} changed")
    v1 = Variant("first", [*hw, "snapshot"], empty)
    v2 = Variant("changed", [*hw, "snapshot"], second_state)
    replayed_dbs = compare(root, [v1, v2], scratch, reps, "snapshot")
    table = "snapshots.customers_snapshot"
    counts = (
        "SELECT count(*) FILTER (WHERE dbt_valid_to IS NULL), count(*) FILTER (WHERE dbt_valid_to IS NOT NULL) FROM "
        + table
    )

    def state_of(path: Path) -> tuple:
        import duckdb

        con = duckdb.connect(str(path), read_only=True)
        try:
            return tuple(con.execute(counts).fetchone())
        finally:
            con.close()

    _restore(second_state, root)
    profiles = {"changed": profile(v2.cmd[1:], scratch, "snapshot_changed")}
    after, replayed = state_of(db), state_of(replayed_dbs["changed"])
    _restore(empty, root)
    profiles["first"] = profile(v1.cmd[1:], scratch, "snapshot_first")
    ok = after == replayed == (n, changed) and v1.same_statements and v2.same_statements
    for name, p in profiles.items():
        log(f"snapshot: profile {name}:\n{_profile_text(p)}")
    m = f"{n / 1e6:g}M"
    rows = [
        _pair_row(f"snapshot: first, {m} customers", v1),
        _pair_row(f"snapshot: 1% changed ({changed:,})", v2),
        Row(
            "snapshot: peak RSS first / changed",
            fmt_mib(v1.hw.max_rss),
            fmt_mib(v2.hw.max_rss),
            goal="(info)",
        ),
        Row(
            "snapshot: check",
            f"{after[0]:,} current + {after[1]:,} closed",
            goal="= replay, 1% closed",
            ok=ok,
        ),
    ]
    data = {"rows": n, "changed": changed, "first": v1.to_dict(), "changed_run": v2.to_dict(),
            "current_and_closed": after, "replay_current_and_closed": replayed, "profiles": profiles}  # fmt: skip
    return rows, data


# -- 4. backfill of 365 daily intervals ---------------------------------------------------------------------
BACKFILL_MODEL = """{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='event_at',
             batch_size='day', begin='2025-01-01') }}
select event_id, customer_id, event_at, event_type, amount, round(amount * 1.19, 2) as amount_gross
from {{ source('src', 'events') }}
"""

EVENTS = """
SELECT i AS event_id,
       (hash(i, 1) % 100000)::BIGINT AS customer_id,
       TIMESTAMP '2025-01-01' + to_microseconds((i * {step})::BIGINT) AS event_at,
       ['page_view', 'add_to_cart', 'checkout', 'purchase'][1 + (hash(i, 2) % 4)::INT] AS event_type,
       round((hash(i, 3) % 10000) / 100.0, 2)::DECIMAL(10, 2) AS amount
FROM range({n}) AS r(i)
"""


def bench_backfill(workdir: Path, per_day: int, reps: int) -> tuple[list[Row], dict[str, Any]]:
    root = workdir / "incr_backfill"
    scratch = workdir / "incr_backfill_scratch"
    for path in (root, scratch):
        shutil.rmtree(path, ignore_errors=True)
    scratch.mkdir(parents=True)
    _write(root, {
        "headwater.yml": _project_yml("bench_backfill"),
        "models/sources.yml": "version: 2\nsources:\n  - name: src\n    schema: src\n    tables:\n      - name: events\n",
        "models/fct_events.sql": BACKFILL_MODEL,
    })  # fmt: skip
    n = per_day * 365
    db = root / WAREHOUSE
    db.parent.mkdir(parents=True)
    _sql(
        db,
        "CREATE SCHEMA src",
        f"CREATE TABLE src.events AS {EVENTS.format(n=n, step=365 * 86400 * 10**6 // n)}",
    )
    hw = [*headwater_cmd(), "--project-dir", str(root)]
    cmd = [
        *hw,
        "backfill",
        "fct_events",
        "--start",
        "2025-01-01",
        "--end",
        "2026-01-01",
        "--rerun",
        "all",
    ]
    first = run_process(cmd)  # warm-up: creates the table, fills every interval and the parse cache
    state = scratch / "built"
    _save(root, state)
    log(f"backfill: {n:,} events; first backfill {first.seconds:.2f}s")
    v = Variant("backfill", cmd, state)
    replay_db = compare(root, [v], scratch, reps, "backfill")["backfill"]
    table = '"main"."fct_events"'
    _restore(state, root)
    prof = profile(cmd[1:], scratch, "backfill")
    built = _checksum(db, table)
    replayed = _checksum(replay_db, table)
    src = _scalar(db, "SELECT count(*) FROM src.events")
    ledger = _ledger(root)
    ok = (
        built == replayed
        and built[0] == src
        and ledger == 365
        and v.same_statements
        and v.statements > 0
    )
    log(f"backfill: profile (365 intervals):\n{_profile_text(prof, per=365)}")
    overhead_ms = (v.hw.median - v.raw.median) / 365 * 1000
    rows = [
        _pair_row(f"backfill: 365 daily intervals ({n / 1e6:.2g}M rows)", v),
        Row("backfill: per-interval overhead", f"{overhead_ms:+.2f} ms", goal="< 20 ms", ok=overhead_ms < 20),
        Row("backfill: per-interval SQL (in-process)", f"{prof['sql_s'] / 365 * 1000:.2f} ms", goal="(info)"),
        Row("backfill: per-interval Python (in-process)", f"{(prof['main_s'] - prof['sql_s']) / 365 * 1000:.2f} ms", goal="(info)"),
        Row("backfill: check", f"{v.statements} statements", goal="same rows as replay, 365 in ledger", ok=ok),
    ]  # fmt: skip
    data = {"rows": n, "per_day": per_day, "first_s": round(first.seconds, 3), "backfill": v.to_dict(),
            "overhead_ms_per_interval": round(overhead_ms, 3), "checksum": built, "replay_checksum": replayed,
            "ledger_success": ledger, "profile": prof}  # fmt: skip
    return rows, data


def _ledger(root: Path) -> int:
    import sqlite3

    con = sqlite3.connect(str(root / STATE))
    try:
        return con.execute("SELECT count(*) FROM intervals WHERE status = 'success'").fetchone()[0]
    finally:
        con.close()


# -- all four -----------------------------------------------------------------------------------------------
@dataclass
class IncrementalResult:
    table: list[Row]
    data: dict[str, Any]

    def rows(self) -> list[Row]:
        return self.table

    def to_dict(self) -> dict[str, Any]:
        return self.data


def bench(workdir: Path, quick: bool, scale: float = 1.0) -> IncrementalResult:
    reps = 2 if quick else 3
    sizes = {"merge_rows": 2_000_000 if quick else 10_000_000, "snapshot_rows": 200_000 if quick else 1_000_000,
             "backfill_per_day": 2_000 if quick else 10_000, "demo_scale": scale, "reps": reps}  # fmt: skip
    rows: list[Row] = []
    data: dict[str, Any] = {"params": sizes, "seconds": {}}
    parts = [
        ("day", lambda: bench_day(workdir, scale, reps)),
        ("merge", lambda: bench_merge(workdir, sizes["merge_rows"], reps)),
        ("snapshot", lambda: bench_snapshot(workdir, sizes["snapshot_rows"], reps)),
        ("backfill", lambda: bench_backfill(workdir, sizes["backfill_per_day"], reps)),
    ]
    for name, fn in parts:
        started = time.perf_counter()
        try:
            part_rows, part = fn()
        except RuntimeError as exc:  # a failing headwater command: report it, keep the others
            log(f"{name}: FAILED: {exc}")
            part_rows, part = (
                [Row(f"{name}: FAILED", str(exc).strip().splitlines()[0][:60], ok=False)],
                {"error": str(exc)[-3000:]},
            )
        rows += part_rows
        data[name] = part
        data["seconds"][name] = round(time.perf_counter() - started, 1)
        log(f"{name}: done in {data['seconds'][name]}s")
    return IncrementalResult(rows, data)


if __name__ == "__main__":
    import argparse

    from common import child_environment, render_table

    parser = argparse.ArgumentParser(
        description="incremental benchmarks alone (run.py runs them too)"
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--scale", type=float, default=None)
    parser.add_argument("--only", choices=["day", "merge", "snapshot", "backfill"])
    parser.add_argument("--workdir", default="/tmp/headwater_bench")
    args = parser.parse_args()
    import os

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update(child_environment(Path(args.workdir)))
    wd = Path(args.workdir)
    scale_ = args.scale if args.scale is not None else (0.2 if args.quick else 1.0)
    reps_ = 2 if args.quick else 3
    if args.only:
        fns = {"day": lambda: bench_day(wd, scale_, reps_),
               "merge": lambda: bench_merge(wd, 2_000_000 if args.quick else 10_000_000, reps_),
               "snapshot": lambda: bench_snapshot(wd, 200_000 if args.quick else 1_000_000, reps_),
               "backfill": lambda: bench_backfill(wd, 2_000 if args.quick else 10_000, reps_)}  # fmt: skip
        out_rows, out = fns[args.only]()
    else:
        result = bench(wd, args.quick, scale_)
        out_rows, out = result.rows(), result.to_dict()
    print(render_table(out_rows))
    print(json.dumps({k: v for k, v in out.items() if k != "profiles"}, default=str)[:2000])
