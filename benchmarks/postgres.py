"""headwater on PostgreSQL against the same statements replayed through the same driver.

    python benchmarks/run.py --only postgres [--quick] [--scale S]

Two projects, each on a fresh database `hw_bench_pg` of the server at 127.0.0.1:5432 (override
with HW_TEST_PG_HOST/PORT/USER):

* **wide views**: the 300-view project of `wide_graph.py`, its source table created in the
  database beforehand (untimed), so the run is the 300 views;
* **demo**: `headwater demo --scale S` built with `--target pg` (loads of its `files:` sources,
  seeds, models, snapshots, checks). The traced run records the rows it COPYs (files beside the
  trace), and the replay sends the same bytes through `COPY ... FROM STDIN`.

The baseline is a fresh `python -c` process that imports psycopg, connects with the same
settings and executes the statements of a `--threads 1` headwater run (`HEADWATER_SQL_TRACE`) one
after the other on one connection, fetching rows as headwater does: the ratio is headwater's own
cost (process start, project, planning, bookkeeping) over the same server work. Before every timed
process the warehouse schemas are reset to the same state by the untimed command that made them.
Goals (issue 13): demo ≤ 1.15x, wide views ≤ 1.5x.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import Row, Samples, fmt_s, headwater_cmd, log, read_trace, run_process

DATABASE = "hw_bench_pg"

REPLAY_CODE = """\
import json, sys
import psycopg
info, trace = json.loads(sys.argv[1]), sys.argv[2]
with open(trace, encoding="utf-8") as fh:
    statements = [json.loads(line) for line in fh if line.strip()]
con = psycopg.connect(autocommit=True, **info)
for stmt in statements:
    if " -- hw-copy-data: " in stmt:  # a COPY: send the rows headwater sent
        copy_sql, path = stmt.split(" -- hw-copy-data: ")
        with con.cursor() as cur, cur.copy(copy_sql) as copy, open(path, "rb") as fh:
            copy.write(fh.read())
        continue
    cur = con.execute(stmt)
    if cur.description is not None:
        cur.fetchall()
con.close()
"""


def conninfo(dbname: str = DATABASE) -> dict[str, Any]:
    return {
        "host": os.environ.get("HW_TEST_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("HW_TEST_PG_PORT", "5432")),
        "user": os.environ.get("HW_TEST_PG_USER", "postgres"),
        "dbname": dbname,
    }


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(autocommit=True, **conninfo("postgres")) as con:
        con.execute(sql)


def fresh_database() -> None:
    _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    _admin(f"CREATE DATABASE {DATABASE}")


def pg_target_yaml(schema: str = "main", threads: int = 4) -> str:
    info = conninfo()
    return (
        f"  pg:\n    engine: postgres\n    host: {info['host']}\n    port: {info['port']}\n    user: {info['user']}\n"
        f"    database: {DATABASE}\n    schema: {schema}\n    threads: {threads}\n"
    )


def _with_pg_target(root: Path) -> None:
    """Add the `pg` target to the project's headwater.yml and make it the default."""
    path = root / "headwater.yml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^default_target: \w+", "default_target: pg", text, flags=re.M)
    text = text.replace("targets:\n", "targets:\n" + pg_target_yaml(), 1)
    path.write_text(text, encoding="utf-8")


def _trace_env(trace: Path) -> dict[str, str]:
    trace.unlink(missing_ok=True)
    shutil.rmtree(f"{trace}.copy", ignore_errors=True)
    return {"HEADWATER_SQL_TRACE": str(trace)}


def replay_cmd(trace: Path) -> list[str]:
    return [sys.executable, "-c", REPLAY_CODE, json.dumps(conninfo()), str(trace)]


def _replayable(trace: Path) -> int:
    """Statements a replay can run: every one, unless the run copied rows in (COPY FROM STDIN
    has no data in the trace); returns how many statements the trace holds."""
    statements = read_trace(trace)
    copies = [
        s
        for s in statements
        if re.match(r"\s*COPY\b.*FROM STDIN", s, re.I | re.S) and "hw-copy-data" not in s
    ]
    if copies:
        raise RuntimeError(f"{len(copies)} COPY statements of the traced run have no recorded rows")
    return len(statements)


@dataclass
class PgResult:
    name: str
    goal: float
    statements: int = 0
    samples: dict[str, Samples] = field(default_factory=dict)

    def ratio(self) -> float:
        return self.samples["headwater"].median / self.samples["replay"].median

    def rows(self) -> list[Row]:
        hw, replay = self.samples["headwater"], self.samples["replay"]
        ratio = self.ratio()
        return [
            Row(f"postgres {self.name}: headwater vs replay", fmt_s(hw.median), fmt_s(replay.median),
                f"{ratio:.2f}x", f"≤ {self.goal:g}x", ratio <= self.goal),
            Row(f"postgres {self.name}: statements", str(self.statements), str(self.statements), "", "", True),
        ]  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"statements": self.statements, "ratio": round(self.ratio(), 4),
                **{k: v.to_dict() for k, v in self.samples.items()}}  # fmt: skip


def _time(result: PgResult, root: Path, command: list[str], reset: list[str], reps: int) -> None:
    """Alternate headwater and the replay, each from the state ``reset`` leaves (untimed)."""
    trace = root / "trace.jsonl"
    run_process(headwater_cmd() + reset, cwd=root, check=False)
    run_process(
        [*headwater_cmd(), *command, "--threads", "1"], cwd=root, env=_trace_env(trace), check=False
    )
    result.statements = _replayable(trace)
    result.samples = {"headwater": Samples(), "replay": Samples()}
    for rep in range(reps):
        order = ["headwater", "replay"] if rep % 2 == 0 else ["replay", "headwater"]
        for key in order:
            run_process(headwater_cmd() + reset, cwd=root, check=False)
            cmd = headwater_cmd() + command if key == "headwater" else replay_cmd(trace)
            result.samples[key].add(run_process(cmd, cwd=root, check=key == "replay"))


def wide_views(workdir: Path, reps: int) -> PgResult:
    import psycopg
    import pyarrow.parquet as pq
    from wide_graph import generate

    root = generate(workdir / "pg_wide_views", "views")
    (root / "sources.yml").write_text(
        "version: 2\nsources:\n  - name: raw\n    schema: raw\n    tables:\n      - name: events\n",
        encoding="utf-8",
    )
    _with_pg_target(root)
    fresh_database()
    table = pq.read_table(root / "data" / "raw" / "events.parquet")
    with psycopg.connect(autocommit=True, **conninfo()) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.events (id bigint, user_id bigint, category text, amount double precision)"
        )
        with con.cursor().copy("COPY raw.events FROM STDIN") as copy:
            for row in zip(*(c.to_pylist() for c in table.columns), strict=True):
                copy.write_row(row)
    log("postgres wide views: first run")
    run_process([*headwater_cmd(), "run"], cwd=root)
    result = PgResult("wide graph, 300 views (warm run)", 1.5)
    _time(result, root, ["run"], ["run"], reps)
    return result


def demo(workdir: Path, scale: float, reps: int) -> PgResult:
    root = workdir / "pg_demo"
    if root.exists():
        shutil.rmtree(root)
    log(f"postgres demo: generating scale {scale}")
    subprocess.run([*headwater_cmd(), "demo", str(root), "--scale", str(scale), "--no-build"], check=True,
                   capture_output=True)  # fmt: skip
    _with_pg_target(root)
    fresh_database()
    log("postgres demo: first build (loads the raw sources)")
    run_process([*headwater_cmd(), "build"], cwd=root, check=False)
    result = PgResult(f"demo scale {scale:g} (warm build)", 1.15)
    _time(result, root, ["build"], ["build"], reps)
    return result


def run(workdir: Path, scale: float, quick: bool) -> dict[str, PgResult]:
    reps = 2 if quick else 3
    return {"wide_views": wide_views(workdir, reps + 2), "demo": demo(workdir, scale, reps)}
