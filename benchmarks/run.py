"""Run headwater's benchmarks and print a results table.

    python benchmarks/run.py [--quick] [--scale S] [--only wide|demo|quality|incremental|extract|anomaly|dbt|postgres|aggregate|lake|streams] [--workdir DIR]

Writes benchmarks/results.json next to this file. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aggregate
import anomaly
import dbt_packages
import demo_build
import incremental
import wide_graph
from common import Row, child_environment, git_state, log, render_table

import extract
import lake
import quality
import streams


def machine() -> dict[str, Any]:
    import duckdb
    import psutil

    import headwater

    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "headwater": headwater.__version__,
    }


def _merged(path: Path, new: dict[str, Any], only: str) -> dict[str, Any]:
    """An `--only` run updates its own section (and table rows) of an existing results file and
    keeps the other benchmarks' results."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return new
    firsts = {row["benchmark"].split(":")[0].split()[0] for row in new["table"]}
    kept = [
        row
        for row in old.get("table", [])
        if row["benchmark"].split(":")[0].split()[0] not in firsts
    ]
    merged = {
        **old,
        **{
            k: v
            for k, v in new.items()
            if k not in ("params", "table", "total_s", "machine", "git")
        },
    }
    merged[f"{only}_run"] = {
        "machine": new["machine"],
        "git": new["git"],
    }  # the top-level ones describe the others
    merged["params"] = {**old.get("params", {}), **new["params"]}
    merged["table"] = kept + new["table"]
    merged["total_s_by_only"] = {**old.get("total_s_by_only", {}), only: new["total_s"]}
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, demo at scale 0.2")
    parser.add_argument(
        "--scale", type=float, default=None, help="demo scale (default 1, 0.2 with --quick)"
    )
    parser.add_argument(
        "--only",
        choices=[
            "wide",
            "demo",
            "quality",
            "incremental",
            "extract",
            "anomaly",
            "dbt",
            "postgres",
            "aggregate",
            "lake",
            "streams",
        ],
        help="run one benchmark",
    )
    parser.add_argument("--workdir", default="/tmp/headwater_bench", help="scratch folder")
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "results.json"))
    args = parser.parse_args(argv)

    scale = args.scale if args.scale is not None else (0.2 if args.quick else 1.0)
    wide_reps, demo_reps = (3, 2) if args.quick else (7, 3)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update(child_environment(workdir))
    started = time.perf_counter()

    rows: list[Row] = []
    results: dict[str, Any] = {
        "machine": machine(),
        "git": git_state(),
        "child_env": child_environment(workdir),
        "params": {
            "quick": args.quick,
            "scale": scale,
            "wide_reps": wide_reps,
            "demo_reps": demo_reps,
        },
    }
    if args.only in (None, "wide"):
        wide = wide_graph.bench(workdir, wide_reps)
        rows += wide.rows()
        results["wide"] = wide.to_dict()
    if args.only in (None, "demo"):
        try:
            result = demo_build.bench(workdir, scale, demo_reps)
        except RuntimeError as exc:  # the demo is still being written: report, keep the rest
            log(f"demo benchmark failed: {exc}")
            rows.append(Row(f"demo {scale:g}: build warm", "FAILED", goal="<= 1.10x", ok=False))
            results["demo"] = {"error": str(exc)[-2000:]}
        else:
            rows += result.rows()
            results["demo"] = result.to_dict()
    if args.only in (None, "quality"):
        q = quality.bench(
            workdir, 3 if args.quick else 7, rows=2_000_000 if args.quick else 10_000_000
        )
        rows += q.rows()
        results["quality"] = q.to_dict()
    if args.only in (None, "incremental"):
        inc = incremental.bench(workdir, args.quick, scale)
        rows += inc.rows()
        results["incremental"] = inc.to_dict()
    if args.only in (None, "aggregate"):
        agg = aggregate.bench(workdir, args.quick)
        rows += agg.rows()
        results["aggregate"] = agg.to_dict()
    if args.only in (None, "lake"):
        lk = lake.bench(workdir, args.quick, scale)
        rows += lk.rows()
        results["lake"] = lk.to_dict()
    if args.only in (None, "streams"):
        st = streams.bench(workdir, args.quick)
        rows += st.rows()
        results["streams"] = st.to_dict()
    if args.only in (None, "extract"):
        ext = extract.bench(workdir, args.quick)
        rows += ext.rows()
        results["extract"] = ext.to_dict()
        results["params"]["extract"] = ext.params
    if args.only in (None, "anomaly"):
        an = anomaly.bench(7, 200)
        rows += an.rows()
        results["anomaly"] = an.to_dict()
    if args.only in (None, "dbt"):
        dbt = dbt_packages.bench(workdir, 2 if args.quick else 3)
        rows += dbt.rows()
        results["dbt"] = dbt.to_dict()
    if args.only == "postgres":  # needs the server: run on request (`--only postgres`)
        import postgres

        pg = postgres.run(workdir, scale, args.quick)
        for item in pg.values():
            rows += item.rows()
        results["postgres"] = {k: v.to_dict() for k, v in pg.items()}
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["table"] = [row.__dict__ for row in rows]

    m, total = results["machine"], results["total_s"]
    if args.only:
        results = _merged(Path(args.output), results, args.only)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(render_table(rows))
    reps = []
    if args.only in (None, "wide"):
        reps.append(f"{wide_reps} (wide)")
    if args.only in (None, "demo"):
        reps.append(f"{demo_reps} (demo)")
    if args.only in (None, "quality"):
        reps.append(f"{3 if args.quick else 7} (quality)")
    if args.only in (None, "incremental"):
        reps.append(f"{2 if args.quick else 3} (incremental)")
    if args.only in (None, "aggregate"):
        reps.append(f"{3 if args.quick else 5} (aggregate, SQL time)")
    if args.only in (None, "lake"):
        reps.append(f"{2 if args.quick else 3} / {2 if args.quick else 5} (lake demo / merge)")
    if args.only in (None, "extract"):
        reps.append(
            f"{2 if args.quick else 3} (extract files / postgres; http {3 if args.quick else 5})"
        )
    if args.only in (None, "dbt"):
        reps.append(f"{2 if args.quick else 3} (dbt project)")
    if args.only in (None, "streams"):
        reps.append("1 (streams, after a warm-up run)")
    print(
        f"\n{m['cpu_count']} CPUs, python {m['python']}, duckdb {m['duckdb']}; medians of "
        f"{' / '.join(reps)} runs; total {total}s; details in {args.output}"
    )
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
