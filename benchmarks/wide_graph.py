"""Wide graph: 300 small models over one tiny source table, to measure per-node overhead.

Shape (all models return the columns id, user_id, category, amount):

* 20 staging models ``stg_NN`` reading the source (fan-out of the source),
* 10 chains of 15 models ``chain_C_KK`` each, starting at ``stg_C`` (deep chains),
* 80 fan-out models ``fan_NN`` joining one staging model with one chain link,
* 50 fan-in models ``agg_NN`` aggregating the union of 3-6 upstream models (the last 10 also
  read other ``agg`` models).

About one model in three is a table, the rest are views. The source ``raw.events`` is a
1,000-row Parquet file loaded by headwater (``files:`` in sources.yml).
"""

from __future__ import annotations

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

N_MODELS = 300
N_STG, N_CHAINS, CHAIN_LEN, N_FAN, N_AGG = 20, 10, 15, 80, 50

PROJECT_YML = """\
name: wide
version: 1
default_target: dev
targets:
  dev:
    engine: duckdb
    path: .headwater/warehouse.duckdb
    schema: main
    threads: 4
raw_data: data/raw
models:
  +materialized: view
"""

SOURCES_YML = """\
version: 2
sources:
  - name: raw
    tables:
      - name: events
        files: {path: events.parquet, format: parquet}
"""


def _model(materialized: str, body: str) -> str:
    head = "{{ config(materialized='table') }}\n" if materialized == "table" else ""
    return head + body.strip() + "\n"


def models() -> dict[str, tuple[str, str]]:
    """name -> (folder, SQL) for all 300 models."""
    out: dict[str, tuple[str, str]] = {}
    for i in range(N_STG):
        mat = "table" if i % 5 == 0 else "view"
        out[f"stg_{i:02d}"] = ("staging", _model(mat, f"""
select id, user_id, category, amount
from {{{{ source('raw', 'events') }}}}
where id % {N_STG} = {i} or user_id < {i + 5}
"""))  # fmt: skip
    for c in range(N_CHAINS):
        prev = f"stg_{c:02d}"
        for k in range(CHAIN_LEN):
            name = f"chain_{c}_{k:02d}"
            mat = "table" if k % 3 == 2 else "view"
            out[name] = ("chains", _model(mat, f"""
select id, user_id, category, round(amount * 1.01 + {k}, 2) as amount
from {{{{ ref('{prev}') }}}}
where amount > -1
"""))  # fmt: skip
            prev = name
    for i in range(N_FAN):
        mat = "table" if i % 4 == 0 else "view"
        stg = f"stg_{i % N_STG:02d}"
        link = f"chain_{i % N_CHAINS}_{(i * 7) % CHAIN_LEN:02d}"
        out[f"fan_{i:02d}"] = ("fanout", _model(mat, f"""
select a.id, a.user_id, a.category, a.amount + coalesce(b.amount, 0) as amount
from {{{{ ref('{stg}') }}}} as a
left join {{{{ ref('{link}') }}}} as b on a.id = b.id
"""))  # fmt: skip
    for i in range(N_AGG):
        mat = "table" if i % 2 == 0 else "view"
        width = 3 + i % 4
        parents = [f"fan_{(i * 3 + j * 11) % N_FAN:02d}" for j in range(width - 1)]
        parents.append(f"chain_{i % N_CHAINS}_{CHAIN_LEN - 1:02d}")
        if i >= N_AGG - 10:
            parents[0] = f"agg_{i - 10:02d}"
        union = "\n    union all\n    ".join(
            f"select id, user_id, category, amount from {{{{ ref('{p}') }}}}" for p in parents
        )
        out[f"agg_{i:02d}"] = ("fanin", _model(mat, f"""
select min(id) as id, user_id, category, sum(amount) as amount
from (
    {union}
) as u
group by user_id, category
"""))  # fmt: skip
    assert len(out) == N_MODELS, len(out)
    return out


def generate(root: Path) -> Path:
    """Write the wide-graph project (and its Parquet source file) into a fresh ``root``."""
    import duckdb

    if root.exists():
        shutil.rmtree(root)
    (root / "data" / "raw").mkdir(parents=True)
    (root / "headwater.yml").write_text(PROJECT_YML, encoding="utf-8")
    (root / "sources.yml").write_text(SOURCES_YML, encoding="utf-8")
    for name, (folder, sql) in models().items():
        path = root / "models" / folder / f"{name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql, encoding="utf-8")
    con = duckdb.connect()
    try:
        con.execute(
            "COPY (SELECT i AS id, i % 50 AS user_id, 'c' || (i % 7) AS category, "
            "round((i * 37 % 1000) / 10.0, 2) AS amount FROM range(1000) t(i)) "
            f"TO '{root / 'data' / 'raw' / 'events.parquet'}' (FORMAT parquet)"
        )
    finally:
        con.close()
    return root


@dataclass
class WideResult:
    first_run: float
    run: Samples
    run_1thread: Samples
    raw: Samples
    compile_cold: Samples
    compile_warm: Samples
    statements: int
    same_statements: bool
    replay_matches: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "models": N_MODELS,
            "first_run_s": round(self.first_run, 4),
            "statements": self.statements,
            "timed_runs_executed_same_statements": self.same_statements,
            "replay_produced_same_relations": self.replay_matches,
            "headwater_run_warm": self.run.to_dict(),
            "headwater_run_warm_threads_1": self.run_1thread.to_dict(),
            "raw_duckdb_replay": self.raw.to_dict(),
            "headwater_compile_cold": self.compile_cold.to_dict(),
            "headwater_compile_warm": self.compile_warm.to_dict(),
            "per_node_overhead_ms": round(self.per_node_ms, 3),
            "per_node_overhead_threads_1_ms": round(self.per_node_1thread_ms, 3),
        }

    @property
    def per_node_ms(self) -> float:
        return (self.run.median - self.raw.median) / N_MODELS * 1000

    @property
    def per_node_1thread_ms(self) -> float:
        return (self.run_1thread.median - self.raw.median) / N_MODELS * 1000

    def rows(self) -> list[Row]:
        ratio = self.run.median / self.raw.median
        ratio1 = self.run_1thread.median / self.raw.median
        return [
            Row("wide: run warm (300 models)", fmt_s(self.run.median), fmt_s(self.raw.median),
                f"{ratio:.2f}x", "<= 1.5x", ratio <= 1.5),
            Row("wide: run warm --threads 1", fmt_s(self.run_1thread.median), fmt_s(self.raw.median),
                f"{ratio1:.2f}x", "(info)"),
            Row("wide: per-node overhead", f"{self.per_node_ms:+.2f} ms/node",
                goal="(info)"),
            Row("wide: per-node overhead --threads 1", f"{self.per_node_1thread_ms:+.2f} ms/node",
                goal="(info)"),
            Row("wide: replay check", f"{self.statements} statements", goal="same SQL, same relations",
                ok=self.same_statements and self.replay_matches),
            Row("wide: run warm peak RSS", fmt_mib(self.run.max_rss), fmt_mib(self.raw.max_rss),
                f"{self.run.max_rss / self.raw.max_rss:.2f}x", "(info)"),
            Row("wide: compile cold (300 models)", fmt_s(self.compile_cold.median),
                goal="< 1 s", ok=self.compile_cold.median < 1.0),
            Row("wide: compile warm (300 models)", fmt_s(self.compile_warm.median),
                goal="< 1 s", ok=self.compile_warm.median < 1.0),
        ]  # fmt: skip


def bench(workdir: Path, reps: int) -> WideResult:
    root = generate(workdir / "wide_project")
    scratch = workdir / "wide_scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    hw = headwater_cmd()
    run = [*hw, "run", "--project-dir", str(root)]
    log(f"wide: generated {N_MODELS} models in {root}")

    first = run_process(run)  # parses, fills the cache, builds everything from nothing
    run_process(run)  # warm-up: cache warm, relations exist
    warehouse = root / WAREHOUSE
    snapshot = scratch / "snapshot" / "warehouse.duckdb"
    replay_db = scratch / "replay" / "warehouse.duckdb"
    copy_db(warehouse, snapshot)

    # The statements to replay: a sequential (--threads 1) run from the same state. A parallel
    # run's trace interleaves the statements of different worker threads, which one connection
    # cannot always replay (e.g. two open transactions); the statement multiset is the same.
    trace = scratch / "trace_threads1.jsonl"
    copy_db(snapshot, warehouse)
    run_process([*run, "--threads", "1"], env={"HEADWATER_SQL_TRACE": str(trace)})
    statements = read_trace(trace)
    config = duckdb_config(root)
    log(f"wide: {len(statements)} statements traced; replay config {config}")
    copy_db(snapshot, replay_db)
    run_process(replay_cmd(replay_db, trace, config))  # warm-up of the baseline too

    hw_samples, hw1_samples, raw_samples = Samples(), Samples(), Samples()
    all_same = True
    for i in range(reps):
        copy_db(snapshot, warehouse)
        timed_trace = scratch / f"trace_{i}.jsonl"
        timed_trace.unlink(missing_ok=True)
        hw_samples.add(run_process(run, env={"HEADWATER_SQL_TRACE": str(timed_trace)}))
        all_same &= same_statements(read_trace(timed_trace), statements)
        copy_db(snapshot, warehouse)
        hw1_samples.add(run_process([*run, "--threads", "1"]))
        copy_db(snapshot, replay_db)
        raw_samples.add(run_process(replay_cmd(replay_db, trace, config)))
        log(f"wide: rep {i + 1}/{reps}: headwater {hw_samples.seconds[-1]:.3f}s, "
            f"--threads 1 {hw1_samples.seconds[-1]:.3f}s, raw {raw_samples.seconds[-1]:.3f}s")  # fmt: skip
    replay_matches = relations(replay_db) == relations(warehouse)

    compile_cmd = [*hw, "compile", "--project-dir", str(root)]
    cold, warm = Samples(), Samples()
    for _ in range(reps):
        shutil.rmtree(root / ".headwater" / "cache", ignore_errors=True)
        cold.add(run_process(compile_cmd))
        warm.add(run_process(compile_cmd))
    log(f"wide: compile cold {cold.median:.3f}s, warm {warm.median:.3f}s")
    return WideResult(first.seconds, hw_samples, hw1_samples, raw_samples, cold, warm,
                      len(statements), all_same, replay_matches)  # fmt: skip
