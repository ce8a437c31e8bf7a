"""Aggregate table benchmark: one day appended to a year, incremental run against a full recompute.

A generated source `src.orders` holds 365 days of orders (2025), `per_day` rows a day in time
order (8,000 a day = 2.92M rows; `--quick`: 1,000 a day). The model `agg_daily_revenue` is the
README's aggregate: daily grain, dimensions region (5) and channel (4), `rollup: [region,
channel]`, and every measure kind (sum, count, min, max, exact count_distinct and an HLL
count_distinct at the default precision 14). It is built once; then one more day of orders
(2026-01-01) is appended and the warehouse saved. From that saved state:

* `headwater run -s agg_daily_revenue` recomputes the buckets >= the latest stored one (the last
  day of 2025, which may be partial, and the new day): its input is filtered on the bare
  `ordered_at`, which DuckDB prunes by the row groups' min/max;
* `headwater run -s agg_daily_revenue --full-refresh` recomputes all 366 days.

The number compared is the **SQL time**: the time spent inside the engine's `execute`/`query`
calls of one in-process run (`incremental.profile`, the same timers as the incremental
benchmarks), median of `reps` runs, each from the saved state. Goal: incremental <= 5% of the
full recompute. Whole-process wall times are reported beside it (interpreter start, imports and
parsing are the same for both and dominate the incremental run). Checked: after either run the
table is the same (row count and per-column hash sums, sketches included).
"""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import WAREHOUSE, Row, Samples, fmt_s, headwater_cmd, log, run_process
from incremental import (
    _checksum,
    _profile_text,
    _project_yml,
    _restore,
    _save,
    _sql,
    _write,
    profile,
)

MODEL = "agg_daily_revenue"
PROPERTIES = f"""version: 2
models:
  - name: {MODEL}
    config:
      materialized: aggregate
      dimensions: [region, channel]
      grain: {{column: ordered_at, granularity: day}}
      measures:
        - {{name: revenue, agg: sum, column: amount}}
        - {{name: orders, agg: count}}
        - {{name: min_amount, agg: min, column: amount}}
        - {{name: max_amount, agg: max, column: amount}}
        - {{name: customers, agg: count_distinct, column: customer_id}}
        - {{name: customers_approx, agg: count_distinct, column: customer_id, method: hll}}
      rollup: [region, channel]
"""
SOURCES = (
    "version: 2\nsources:\n  - name: src\n    schema: src\n    tables:\n      - name: orders\n"
)

ORDERS = """
SELECT i AS order_id,
       TIMESTAMP '{start}' + to_microseconds((i * {step})::BIGINT) AS ordered_at,
       ['eu', 'us', 'apac', 'latam', 'mea'][1 + (hash(i, 1) % 5)::INT] AS region,
       ['web', 'app', 'shop', 'phone'][1 + (hash(i, 2) % 4)::INT] AS channel,
       round((hash(i, 3) % 50000) / 100.0, 2)::DECIMAL(10, 2) AS amount,
       (hash(i, 4) % 200000)::INTEGER AS customer_id
FROM range({lo}, {hi}) AS r(i)
"""


def _orders(lo: int, hi: int, per_day: int, start: str) -> str:
    return ORDERS.format(lo=lo, hi=hi, step=86400 * 10**6 // per_day, start=start)


@dataclass
class AggregateResult:
    table: list[Row]
    data: dict[str, Any]

    def rows(self) -> list[Row]:
        return self.table

    def to_dict(self) -> dict[str, Any]:
        return self.data


def bench(workdir: Path, quick: bool) -> AggregateResult:
    per_day = 1_000 if quick else 8_000
    reps = 3 if quick else 5
    root, scratch = workdir / "aggregate", workdir / "aggregate_scratch"
    for path in (root, scratch):
        shutil.rmtree(path, ignore_errors=True)
    scratch.mkdir(parents=True)
    _write(root, {
        "headwater.yml": _project_yml("bench_aggregate"),
        "models/sources.yml": SOURCES,
        f"models/{MODEL}.sql": "select * from {{ source('src', 'orders') }}\n",
        f"models/{MODEL}.yml": PROPERTIES,
    })  # fmt: skip
    db = root / WAREHOUSE
    db.parent.mkdir(parents=True)
    n = per_day * 365
    started = time.perf_counter()
    _sql(
        db,
        "CREATE SCHEMA src",
        f"CREATE TABLE src.orders AS {_orders(0, n, per_day, '2025-01-01')}",
    )
    hw = [*headwater_cmd(), "--project-dir", str(root)]
    first = run_process([*hw, "run"])
    _sql(db, f"INSERT INTO src.orders {_orders(0, per_day, per_day, '2026-01-01')}", "CHECKPOINT")
    state = scratch / "appended"
    _save(root, state)
    log(f"aggregate: {n:,} rows + {per_day:,} appended; source {time.perf_counter() - started - first.seconds:.1f}s, first build {first.seconds:.2f}s")  # fmt: skip

    args = {"incremental": ["--project-dir", str(root), "run", "-s", MODEL],
            "full_refresh": ["--project-dir", str(root), "run", "-s", MODEL, "--full-refresh"]}  # fmt: skip
    sql: dict[str, list[float]] = {k: [] for k in args}
    procs: dict[str, Samples] = {k: Samples() for k in args}
    profiles: dict[str, dict[str, Any]] = {}
    checks: dict[str, tuple[Any, ...]] = {}
    for rep in range(reps):
        for name, cmd in args.items():
            _restore(state, root)
            p = profile(cmd, scratch, f"aggregate_{name}")
            assert p["rc"] == 0, p
            sql[name].append(p["sql_s"])
            profiles.setdefault(name, p)
            if rep == 0:
                checks[name] = _checksum(db, f'"main"."{MODEL}"')
            _restore(state, root)
            procs[name].add(run_process([*hw, *cmd[2:]]))
    for name, p in profiles.items():
        log(f"aggregate: profile {name}:\n{_profile_text(p)}")
    inc, full = statistics.median(sql["incremental"]), statistics.median(sql["full_refresh"])
    ratio = inc / full
    same = checks["incremental"] == checks["full_refresh"]
    m = f"{n / 1e6:.2g}M"
    rows = [
        Row(f"aggregate: full recompute, 366 days ({m} rows), SQL", fmt_s(full), goal="(info)"),
        Row(f"aggregate: +1 day ({per_day:,} rows) incremental, SQL", fmt_s(inc), goal="(info)"),
        Row(
            "aggregate: incremental / full, SQL time",
            f"{ratio:.1%}",
            ratio=f"{ratio:.3f}",
            goal="<= 5%",
            ok=ratio <= 0.05,
        ),
        Row(
            "aggregate: same, whole process",
            f"{fmt_s(procs['incremental'].median)} / {fmt_s(procs['full_refresh'].median)}",
            ratio=f"{procs['incremental'].median / procs['full_refresh'].median:.3f}",
            goal="(info)",
        ),
        Row(
            "aggregate: check",
            f"{checks['incremental'][0]:,} rows",
            goal="incremental = full",
            ok=same,
        ),
    ]
    data = {
        "per_day": per_day, "rows": n, "reps": reps, "first_build_s": round(first.seconds, 3),
        "sql_s": {k: [round(v, 4) for v in vs] for k, vs in sql.items()},
        "sql_median_s": {"incremental": round(inc, 4), "full_refresh": round(full, 4)}, "sql_ratio": round(ratio, 4),
        "process": {k: v.to_dict() for k, v in procs.items()}, "checks": checks, "same_table": same,
        "profiles": profiles,
    }  # fmt: skip
    return AggregateResult(rows, data)


if __name__ == "__main__":
    import argparse
    import json
    import os

    from common import child_environment, render_table

    parser = argparse.ArgumentParser(description="aggregate table benchmark alone (run.py runs it too)")  # fmt: skip
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workdir", default="/tmp/headwater_bench")
    cli_args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update(child_environment(Path(cli_args.workdir)))
    result = bench(Path(cli_args.workdir), cli_args.quick)
    print(render_table(result.rows()))
    print(json.dumps({k: v for k, v in result.to_dict().items() if k != "profiles"}, default=str)[:2000])  # fmt: skip
