"""Wide graph: 300 small models over one tiny source table, to measure per-node overhead.

Two projects. **mixed** (all models return the columns id, user_id, category, amount):

* 20 staging models ``stg_NN`` reading the source (fan-out of the source),
* 10 chains of 15 models ``chain_C_KK`` each, starting at ``stg_C`` (deep chains),
* 80 fan-out models ``fan_NN`` joining one staging model with one chain link,
* 50 fan-in models ``agg_NN`` aggregating the union of 3-6 upstream models (the last 10 also
  read other ``agg`` models).

About one model in three is a table, the rest are views. **views**: 300 views and nothing else,
chains and fan-outs of ``select ... from ref()``: 20 staging views, 10 chains of 15 views, 130
fan-out views reading one chain link (every other one joined with a staging view).

In both the source ``raw.events`` is a 1,000-row Parquet file loaded by headwater (``files:`` in
sources.yml). The baseline is the minimal script a user would write for the same result (see
`minimal_statements`), not headwater's own statements: its extra statements count as overhead.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
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
    minimal_cmd,
    read_trace,
    relations,
    remove_db,
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


def _staging(i: int, mat: str) -> tuple[str, str]:
    """Staging model ``i``: a slice of the source (the same in both projects)."""
    return ("staging", _model(mat, f"""
select id, user_id, category, amount
from {{{{ source('raw', 'events') }}}}
where id % {N_STG} = {i} or user_id < {i + 5}
"""))  # fmt: skip


def models() -> dict[str, tuple[str, str]]:
    """name -> (folder, SQL) for all 300 models."""
    out: dict[str, tuple[str, str]] = {}
    for i in range(N_STG):
        out[f"stg_{i:02d}"] = _staging(i, "table" if i % 5 == 0 else "view")
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


def views_models() -> dict[str, tuple[str, str]]:
    """name -> (folder, SQL) for the 300 views of the views-only project."""
    out: dict[str, tuple[str, str]] = {}
    for i in range(N_STG):
        out[f"stg_{i:02d}"] = _staging(i, "view")
    for c in range(N_CHAINS):
        prev = f"stg_{c:02d}"
        for k in range(CHAIN_LEN):
            out[f"chain_{c}_{k:02d}"] = ("chains", _model("view", f"""
select id, user_id, category, amount + {k} as amount
from {{{{ ref('{prev}') }}}}
where amount > -1
"""))  # fmt: skip
            prev = f"chain_{c}_{k:02d}"
    for i in range(N_MODELS - len(out)):
        link = f"chain_{i % N_CHAINS}_{(i * 7) % CHAIN_LEN:02d}"
        if i % 2:
            body = f"""
select id, user_id, category, amount
from {{{{ ref('{link}') }}}}
where category <> 'c{i % 7}'
"""
        else:
            body = f"""
select a.id, a.user_id, a.category, a.amount + coalesce(b.amount, 0) as amount
from {{{{ ref('stg_{i % N_STG:02d}') }}}} as a
left join {{{{ ref('{link}') }}}} as b on a.id = b.id
"""
        out[f"fan_{i:03d}"] = ("fanout", _model("view", body))
    assert len(out) == N_MODELS, len(out)
    return out


PROJECTS: dict[str, Callable[[], dict[str, tuple[str, str]]]] = {
    "mixed": models,
    "views": views_models,
}

_REF = re.compile(r"\{\{\s*ref\('(\w+)'\)\s*\}\}")
_SOURCE = re.compile(r"\{\{\s*source\('raw',\s*'events'\)\s*\}\}")


def minimal_statements(root: Path, project: str) -> list[str]:
    """What a user would write for the same warehouse, in graph order (the generation order):
    the schema, the source loaded from its Parquet file, one CREATE OR REPLACE per model."""
    parquet = root / "data" / "raw" / "events.parquet"
    out = [
        "CREATE SCHEMA IF NOT EXISTS raw",
        f"CREATE OR REPLACE TABLE raw.events AS SELECT * FROM read_parquet('{parquet}')",
    ]
    for name, (_, sql) in PROJECTS[project]().items():
        kind = "TABLE" if sql.startswith("{{ config(materialized='table') }}") else "VIEW"
        body = sql.split("}}\n", 1)[1] if kind == "TABLE" else sql
        body = _SOURCE.sub("raw.events", _REF.sub(lambda m: f"main.{m.group(1)}", body))
        out.append(f"CREATE OR REPLACE {kind} main.{name} AS\n{body.strip()}")
    return out


def generate(root: Path, project: str = "mixed") -> Path:
    """Write a wide-graph project (and its Parquet source file) into a fresh ``root``."""
    import duckdb

    if root.exists():
        shutil.rmtree(root)
    (root / "data" / "raw").mkdir(parents=True)
    (root / "headwater.yml").write_text(PROJECT_YML, encoding="utf-8")
    (root / "sources.yml").write_text(SOURCES_YML, encoding="utf-8")
    for name, (folder, sql) in PROJECTS[project]().items():
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
class ProjectResult:
    """One wide project: headwater's run (warm, fresh warehouse, sequential) against the minimal
    statements on a fresh file, and (info) against the replay of headwater's own statements."""

    project: str
    first_run: float
    statements: int  # what headwater executed (a --threads 1 run from the warm snapshot)
    minimal_statements: int
    samples: dict[str, Samples] = field(default_factory=dict)
    same_relations: bool = False
    same_statements: bool = True  # a parallel run executed the same statements as the traced one
    replay_matches: bool = True

    @property
    def label(self) -> str:
        return "wide" if self.project == "mixed" else "wide views"

    def median(self, key: str) -> float:
        return self.samples[key].median

    def ratio(self, key: str, base: str = "minimal") -> float:
        return self.median(key) / self.median(base)

    def per_node_ms(self, key: str, base: str = "minimal") -> float:
        return (self.median(key) - self.median(base)) / N_MODELS * 1000

    @property
    def fixed_ms(self) -> float:
        """What headwater costs beyond the minimal script with one model (and the source)."""
        return (self.median("headwater_one") - self.median("minimal_one")) * 1000

    @property
    def marginal_ms(self) -> float:
        """What each further model costs beyond its own statement."""
        hw = self.median("headwater_warm") - self.median("headwater_one")
        raw = self.median("minimal") - self.median("minimal_one")
        return (hw - raw) / (N_MODELS - 1) * 1000

    def to_dict(self) -> dict[str, object]:
        return {
            "models": N_MODELS,
            "first_run_s": round(self.first_run, 4),
            "headwater_statements": self.statements,
            "minimal_statements": self.minimal_statements,
            "same_relations_as_minimal": self.same_relations,
            "parallel_run_executed_same_statements": self.same_statements,
            "replay_produced_same_relations": self.replay_matches,
            **{key: s.to_dict() for key, s in self.samples.items()},
            "ratio_warm": round(self.ratio("headwater_warm"), 4),
            "per_node_overhead_ms": round(self.per_node_ms("headwater_warm"), 3),
            "per_node_overhead_threads_1_ms": round(
                self.per_node_ms("headwater_warm_threads_1"), 3
            ),
            **(
                {
                    "fixed_overhead_ms": round(self.fixed_ms, 1),
                    "marginal_per_node_ms": round(self.marginal_ms, 3),
                }
                if "headwater_one" in self.samples
                else {}
            ),
        }

    def rows(self) -> list[Row]:
        what = "300 models, 99 tables" if self.project == "mixed" else "300 views"
        hw, base = self.samples["headwater_warm"], self.samples["minimal"]
        ratio = self.ratio("headwater_warm")
        out = [
            Row(
                f"{self.label}: run warm ({what}) vs minimal",
                fmt_s(hw.median),
                fmt_s(base.median),
                f"{ratio:.2f}x",
                "<= 1.5x",
                ratio <= 1.5,
            ),
            Row(
                f"{self.label}: run on a fresh warehouse file",
                fmt_s(self.median("headwater_fresh")),
                fmt_s(base.median),
                f"{self.ratio('headwater_fresh'):.2f}x",
                "(info)",
            ),
            Row(
                f"{self.label}: run warm --threads 1",
                fmt_s(self.median("headwater_warm_threads_1")),
                fmt_s(base.median),
                f"{self.ratio('headwater_warm_threads_1'):.2f}x",
                "(info)",
            ),
            Row(
                f"{self.label}: per-node overhead (4 / 1 threads)",
                f"{self.per_node_ms('headwater_warm'):+.2f} / {self.per_node_ms('headwater_warm_threads_1'):+.2f} ms",
                goal="(info)",
            ),
            Row(
                f"{self.label}: statements (headwater / minimal)",
                f"{self.statements}",
                f"{self.minimal_statements}",
                goal="same relations",
                ok=self.same_relations,
            ),
            Row(
                f"{self.label}: run warm peak RSS",
                fmt_mib(hw.max_rss),
                fmt_mib(base.max_rss),
                f"{hw.max_rss / base.max_rss:.2f}x",
                "(info)",
            ),
        ]
        if "headwater_one" in self.samples:
            out.append(
                Row(
                    f"{self.label}: fixed cost / each further model",
                    f"{self.fixed_ms:+.0f} ms / {self.marginal_ms:+.2f} ms",
                    f"{fmt_s(self.median('headwater_one'))} vs {fmt_s(self.median('minimal_one'))}",
                    goal="(info)",
                )
            )
        if "replay" in self.samples:
            replay = self.samples["replay"]
            out.append(
                Row(
                    f"{self.label}: run warm --threads 1 vs replay of its own statements",
                    fmt_s(self.median("headwater_warm_threads_1")),
                    fmt_s(replay.median),
                    f"{self.ratio('headwater_warm_threads_1', 'replay'):.2f}x",
                    "(info)",
                )
            )
            out.append(
                Row(
                    f"{self.label}: replay check",
                    f"{self.statements} statements",
                    goal="same SQL, same relations",
                    ok=self.same_statements and self.replay_matches,
                )
            )
        return out  # fmt: skip


@dataclass
class WideResult:
    projects: list[ProjectResult]
    compile_cold: Samples
    compile_warm: Samples

    def to_dict(self) -> dict[str, object]:
        return {
            **{p.project: p.to_dict() for p in self.projects},
            "headwater_compile_cold": self.compile_cold.to_dict(),
            "headwater_compile_warm": self.compile_warm.to_dict(),
        }

    def rows(self) -> list[Row]:
        return [
            *(row for p in self.projects for row in p.rows()),
            Row("wide: compile cold (300 models)", fmt_s(self.compile_cold.median),
                goal="< 1 s", ok=self.compile_cold.median < 1.0),
            Row("wide: compile warm (300 models)", fmt_s(self.compile_warm.median),
                goal="< 1 s", ok=self.compile_warm.median < 1.0),
        ]  # fmt: skip


Variant = tuple[str, Callable[[], None], list[str]]  # (key, untimed preparation, command)


def _timed(variants: list[Variant], reps: int, label: str) -> dict[str, Samples]:
    """Each variant once per repetition, the order reversed every other repetition."""
    samples = {key: Samples() for key, _, _ in variants}
    for i in range(reps):
        for key, prepare, cmd in variants if i % 2 == 0 else variants[::-1]:
            prepare()
            samples[key].add(run_process(cmd))
        log(
            f"{label}: rep {i + 1}/{reps}: "
            + ", ".join(f"{k} {s.seconds[-1]:.3f}s" for k, s in samples.items())
        )
    return samples


def bench_project(workdir: Path, project: str, reps: int) -> ProjectResult:
    root = generate(workdir / f"wide_{project}", project)
    scratch = workdir / f"wide_{project}_scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    run = [*headwater_cmd(), "run", "--project-dir", str(root)]
    label = "wide" if project == "mixed" else "wide views"
    log(f"{label}: generated {N_MODELS} models in {root}")

    first = run_process(run)  # parses, fills the cache, builds everything from nothing
    run_process(run)  # warm-up: cache warm, relations exist
    warehouse, state = root / WAREHOUSE, root / ".headwater" / "state.db"
    snapshot, state_snapshot = (
        scratch / "snapshot" / "warehouse.duckdb",
        scratch / "snapshot" / "state.db",
    )
    copy_db(warehouse, snapshot)
    shutil.copyfile(state, state_snapshot)

    def restore(fresh: bool = False) -> Callable[[], None]:
        def prepare() -> None:
            shutil.copyfile(state_snapshot, state)
            if fresh:
                remove_db(warehouse)
            else:
                copy_db(snapshot, warehouse)

        return prepare

    # What headwater executes: a sequential run's trace (parallel traces interleave threads).
    trace = scratch / "trace_threads1.jsonl"
    restore()()
    run_process([*run, "--threads", "1"], env={"HEADWATER_SQL_TRACE": str(trace)})
    statements = read_trace(trace)
    parallel = scratch / "trace_parallel.jsonl"
    restore()()
    run_process(run, env={"HEADWATER_SQL_TRACE": str(parallel)})
    same = same_statements(read_trace(parallel), statements)

    config = duckdb_config(root)
    minimal = minimal_statements(root, project)
    minimal_file, minimal_db = scratch / "minimal.json", scratch / "minimal" / "warehouse.duckdb"
    minimal_file.write_text(json.dumps(minimal), encoding="utf-8")
    minimal_db.parent.mkdir(parents=True)
    minimal_run = minimal_cmd(minimal_db, minimal_file, config)
    one_file, one_db = scratch / "minimal_one.json", scratch / "minimal_one" / "warehouse.duckdb"
    one_file.write_text(
        json.dumps(minimal[:3]), encoding="utf-8"
    )  # the schema, the source, the first model
    one_db.parent.mkdir(parents=True)
    run_process(minimal_run)  # warm-up of the baseline too
    log(f"{label}: headwater {len(statements)} statements, minimal {len(minimal)}; config {config}")

    variants: list[Variant] = [
        ("headwater_warm", restore(), run),
        ("minimal", lambda: remove_db(minimal_db), minimal_run),
        ("headwater_fresh", restore(fresh=True), run),
        ("headwater_warm_threads_1", restore(), [*run, "--threads", "1"]),
    ]
    if project == "views":  # fixed cost vs cost per model: the source and one view
        first_model = next(iter(PROJECTS[project]()))
        variants += [
            ("headwater_one", restore(), [*run, "--select", f"+{first_model}"]),
            ("minimal_one", lambda: remove_db(one_db), minimal_cmd(one_db, one_file, config)),
        ]
    replay_db = scratch / "replay" / "warehouse.duckdb"
    if project == "mixed":
        variants.append(
            ("replay", lambda: copy_db(snapshot, replay_db), replay_cmd(replay_db, trace, config))
        )
    samples = _timed(variants, reps, label)
    result = ProjectResult(
        project, first.seconds, len(statements), len(minimal), samples, same_statements=same
    )
    result.same_relations = relations(minimal_db) == relations(warehouse)
    if project == "mixed":
        result.replay_matches = relations(replay_db) == relations(warehouse)
    return result


def bench(workdir: Path, reps: int) -> WideResult:
    projects = [bench_project(workdir, "views", reps), bench_project(workdir, "mixed", reps)]
    root = workdir / "wide_mixed"
    compile_cmd = [*headwater_cmd(), "compile", "--project-dir", str(root)]
    cold, warm = Samples(), Samples()
    for _ in range(reps):
        shutil.rmtree(root / ".headwater" / "cache", ignore_errors=True)
        cold.add(run_process(compile_cmd))
        warm.add(run_process(compile_cmd))
    log(f"wide: compile cold {cold.median:.3f}s, warm {warm.median:.3f}s")
    return WideResult(projects, cold, warm)
