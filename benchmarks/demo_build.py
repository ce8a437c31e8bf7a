"""Demo at scale S: the e-commerce demo project (`headwater demo --no-build`), built with checks."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

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
    relations,
    replay_cmd,
    run_process,
    same_statements,
)

RSS_GOAL = 2 * 2**30


@dataclass
class DemoResult:
    scale: float
    generate_process: float
    generate_reported: float | None
    raw_rows: int | None
    first_build: float
    build: Samples
    build_1thread: Samples
    raw: Samples
    statements: int
    same_statements: bool
    replay_matches: bool
    warehouse_mib: float

    def to_dict(self) -> dict[str, object]:
        return {
            "scale": self.scale,
            "generate_process_s": round(self.generate_process, 3),
            "generate_reported_s": self.generate_reported,
            "raw_rows": self.raw_rows,
            "first_build_s": round(self.first_build, 3),
            "statements": self.statements,
            "timed_builds_executed_same_statements": self.same_statements,
            "replay_produced_same_relations": self.replay_matches,
            "warehouse_mib": round(self.warehouse_mib, 1),
            "headwater_build": self.build.to_dict(),
            "headwater_build_threads_1": self.build_1thread.to_dict(),
            "raw_duckdb_replay": self.raw.to_dict(),
            "ratio": round(self.build.median / self.raw.median, 4),
            "ratio_threads_1": round(self.build_1thread.median / self.raw.median, 4),
        }

    def rows(self) -> list[Row]:
        s = f"{self.scale:g}"
        ratio = self.build.median / self.raw.median
        ratio1 = self.build_1thread.median / self.raw.median
        rows = [
            Row(f"demo {s}: generate data", fmt_s(self.generate_process), goal="(info)"),
            Row(f"demo {s}: build warm", fmt_s(self.build.median), fmt_s(self.raw.median),
                f"{ratio:.2f}x", "<= 1.10x", ratio <= 1.10),
            Row(f"demo {s}: build warm --threads 1", fmt_s(self.build_1thread.median),
                fmt_s(self.raw.median), f"{ratio1:.2f}x", "(info)"),
            Row(f"demo {s}: replay check", f"{self.statements} statements",
                goal="same SQL, same relations", ok=self.same_statements and self.replay_matches),
            Row(f"demo {s}: build peak RSS", fmt_mib(self.build.max_rss), fmt_mib(self.raw.max_rss),
                f"{self.build.max_rss / self.raw.max_rss:.2f}x", "< 2 GiB",
                self.build.max_rss < RSS_GOAL),
        ]  # fmt: skip
        return rows


def bench(workdir: Path, scale: float, reps: int) -> DemoResult:
    root = workdir / "bench_demo"
    scratch = workdir / "demo_scratch"
    for path in (root, scratch):
        shutil.rmtree(path, ignore_errors=True)
    scratch.mkdir(parents=True)
    hw = headwater_cmd()

    gen = run_process([*hw, "demo", str(root), "--scale", str(scale), "--no-build"])
    match = re.search(r"Generated ([\d,]+) raw rows in ([\d.]+)s", gen.output)
    raw_rows = int(match.group(1).replace(",", "")) if match else None
    reported = float(match.group(2)) if match else None
    log(f"demo: generated data at scale {scale} in {gen.seconds:.2f}s ({gen.output.strip()})")

    build = [*hw, "build", "--project-dir", str(root)]
    first = run_process(build)  # warm-up: fills the parse cache, loads everything once
    log(f"demo: first build {first.seconds:.2f}s")
    warehouse = root / WAREHOUSE
    snapshot = scratch / "snapshot" / "warehouse.duckdb"
    replay_db = scratch / "replay" / "warehouse.duckdb"
    copy_db(warehouse, snapshot)

    # Statements to replay: a sequential build from the same state (see wide_graph.bench).
    trace = scratch / "trace_threads1.jsonl"
    copy_db(snapshot, warehouse)
    run_process([*build, "--threads", "1"], env={"HEADWATER_SQL_TRACE": str(trace)})
    statements = read_trace(trace)
    config = duckdb_config(root)
    log(f"demo: {len(statements)} statements traced; replay config {config}")

    hw_samples, hw1_samples, raw_samples = Samples(), Samples(), Samples()
    all_same = True
    for i in range(reps):
        copy_db(snapshot, warehouse)
        timed_trace = scratch / f"trace_{i}.jsonl"
        timed_trace.unlink(missing_ok=True)
        hw_samples.add(run_process(build, env={"HEADWATER_SQL_TRACE": str(timed_trace)}))
        all_same &= same_statements(read_trace(timed_trace), statements)
        copy_db(snapshot, warehouse)
        hw1_samples.add(run_process([*build, "--threads", "1"]))
        copy_db(snapshot, replay_db)
        raw_samples.add(run_process(replay_cmd(replay_db, trace, config)))
        log(f"demo: rep {i + 1}/{reps}: headwater {hw_samples.seconds[-1]:.2f}s "
            f"({hw_samples.peak_rss[-1] / 2**20:.0f} MiB), --threads 1 {hw1_samples.seconds[-1]:.2f}s, raw {raw_samples.seconds[-1]:.2f}s "
            f"({raw_samples.peak_rss[-1] / 2**20:.0f} MiB)")  # fmt: skip
    replay_matches = relations(replay_db) == relations(warehouse)
    return DemoResult(
        scale=scale,
        generate_process=gen.seconds,
        generate_reported=reported,
        raw_rows=raw_rows,
        first_build=first.seconds,
        build=hw_samples,
        build_1thread=hw1_samples,
        raw=raw_samples,
        statements=len(statements),
        same_statements=all_same,
        replay_matches=replay_matches,
        warehouse_mib=snapshot.stat().st_size / 2**20,
    )
