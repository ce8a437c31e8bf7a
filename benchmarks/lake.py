"""Lake-table benchmarks (issue 15): what writing Delta tables costs against the alternatives.

1. **Demo with Delta marts** (`demo`): the demo at `--scale S` (`headwater demo --no-build`) in three
   copies: *warehouse* (every mart a warehouse relation: the lake format the demo ships with,
   the `file_format=` of `fct_web_events`, removed), *shipped* (as generated), and *delta*
   (`+file_format: delta` under `models: marts:` in `headwater.yml`, which keeps `+materialized:
   table`, so `fct_web_events` stays incremental: every mart that can be is a Delta table under
   `lake/main/<name>`, read through a view; `agg_daily_orders`, an aggregate table, stays in the
   warehouse). Each is built **from scratch** (warehouse, state store and lake folder deleted;
   the parse cache kept, as for any second build) with `headwater build`, alternating. Goal: delta
   <= 1.3x warehouse. Also (info) shipped vs warehouse, and a **rebuild** from the built state
   (every mart rewritten as a new version; `fct_web_events` incremental). Checked (else the
   benchmark aborts): each Delta mart is a table in the warehouse project and a view over its Delta
   files in the delta one, and every mart holds the same rows in the three projects (row count and
   per-column sums of hashes of the values as text, since Delta stores some DuckDB types as
   others, e.g. HUGEINT as DECIMAL(38, 0)).
2. **Merge 1% into a 10M-row Delta table** (`merge`): a Delta table of generated orders (id,
   customer, status, amount, quantity, sku, updated_at; partitioned by `order_month`, 12
   partitions), written once by delta-rs; a Parquet file of changes: 0.9% of the rows updated
   (status, amount, updated_at) and 0.1% new. Each timed run starts from a fresh copy of the base
   table folder (version 0):

   * headwater: `headwater run -s items` of a project whose model is `materialized: delta,
     incremental_strategy: merge, unique_key: id, location: <the table>` selecting
     `read_parquet(<changes>)` (warehouse and state store restored to the state after a warm-up);
   * delta-rs: the script a user would write (`DELTA_RS_CODE`): read the changes with pyarrow,
     `DeltaTable(path).merge(...).when_matched_update_all().when_not_matched_insert_all().execute()`.

   Goal: headwater <= 1.1x delta-rs. Info: DuckDB's own `MERGE INTO` of the same changes into the
   same rows held as a DuckDB table (`DUCKDB_MERGE_CODE`, a copy of the file per run), and the
   replay of headwater's own SQL statements (`replay_cmd`: its DuckDB share, without the delta-rs
   commit). Checked after *every* timed run: the table is version 1 and holds the same rows (count
   and per-column sums of hashes, read through delta-rs) as the expected result computed
   independently by DuckDB from the base table and the changes; DuckDB's table too. A failed check
   raises (the benchmark aborts).

Every number is a whole process (`run_process`: spawn to exit, peak RSS, and CPU time: user + system
of all its threads, the steadier figure on a shared machine), median of `reps`, the order of the
variants alternating per repetition. One extra, untimed headwater run per variant
executes the CLI in-process with timers around the engine's SQL, delta-rs and the lake code
(`PROFILE_CODE`, exclusive times: a bucket does not include the wrapped calls inside it), and
with `pyinstrument` installed, when a goal is missed, a `--threads 1` run under pyinstrument is
written to `<workdir>/lake_*_scratch/pyinstrument_*.txt`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from common import (
    WAREHOUSE,
    ProcResult,
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
)

STATE = ".headwater/state.db"
DEMO_GOAL, MERGE_GOAL = 1.3, 1.1

# headwater's CLI in-process with timers. argv: output JSON, mode (`timers` or `pyinstrument`), then
# the CLI's arguments. Timers are exclusive: time spent in a wrapped call made from inside another
# wrapped call counts for the inner one only, so the buckets add up to the wrapped total.
PROFILE_CODE = r"""
import importlib, json, sys, threading, time
t0 = time.perf_counter()
out, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
import headwater.cli as cli
t_import = time.perf_counter() - t0
stats, local, lock, missing = {}, threading.local(), threading.Lock(), []

def classify(sql):
    words = sql.lstrip().upper().replace("(", " ").split()
    where = local.__dict__.get("where")
    suffix = f" [{where[-1]}]" if where else ""
    if not words:
        return "sql: ?" + suffix
    if words[0] == "CREATE":
        kind = next((w for w in words[1:5] if w in ("VIEW", "TABLE", "SCHEMA")), "?")
        return "sql: CREATE " + kind + suffix
    if words[0] == "COPY":
        return "sql: COPY (Parquet files)" + suffix
    return "sql: " + words[0] + suffix

def within(orig, name):  # statements run inside orig are labelled [name] (the innermost wins)
    def wrapper(*a, **k):
        where = local.__dict__.setdefault("where", [])
        where.append(name)
        try:
            return orig(*a, **k)
        finally:
            where.pop()
    wrapper.__wrapped__ = orig
    return wrapper

def timed(orig, label):
    def wrapper(*a, **k):
        stack = local.__dict__.setdefault("stack", [])
        key = label(a) if callable(label) else label
        stack.append(0.0)
        started = time.perf_counter()
        try:
            return orig(*a, **k)
        finally:
            spent = time.perf_counter() - started
            inner = stack.pop()
            if stack:
                stack[-1] += spent
            with lock:
                s = stats.setdefault(key, [0.0, 0])
                s[0] += spent - inner
                s[1] += 1
    wrapper.__wrapped__ = orig
    return wrapper

def wrap(module, qualname, label, make=timed):
    try:
        owner = importlib.import_module(module)
        *path, name = qualname.split(".")
        for part in path:
            owner = getattr(owner, part)
        orig = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    except (ImportError, AttributeError, KeyError):
        missing.append(module + ":" + qualname)
        return
    if not callable(orig):
        missing.append(module + ":" + qualname)
        return
    new = make(orig, label)
    setattr(owner, name, new)
    if not isinstance(owner, type):  # `from module import name` elsewhere: patch those too
        for mod in list(sys.modules.values()):
            if getattr(mod, "__name__", "").startswith("headwater") and getattr(mod, name, None) is orig:
                setattr(mod, name, new)

def install():
    ENGINE = "headwater.engines.duckdb.connection"
    wrap(ENGINE, "DuckDBEngine.execute", lambda a: classify(a[1]))
    wrap(ENGINE, "DuckDBEngine.query", lambda a: classify(a[1]))
    wrap(ENGINE, "DuckDBEngine.fetch_arrow", lambda a: classify(a[1]))
    wrap(ENGINE, "DuckDBEngine.query_columns", "sql: DESCRIBE (query_columns)")
    wrap(ENGINE, "DuckDBEngine.open", "engine: open (import duckdb, connect)")
    wrap(ENGINE, "DuckDBEngine.close", "engine: close (checkpoint)")
    for name in ("exists", "snapshot", "commit", "history"):
        wrap("headwater.lake.delta", "DeltaLakeTable." + name, "delta-rs: DeltaLakeTable." + name)
    for name in ("duck_types", "scan_sql", "casted_select", "write_files"):
        wrap("headwater.lake.files", name, "lake: files." + name + " (own time)")
    wrap("headwater.lake", "LocalFiles.paths", "lake: LocalFiles.paths")
    for name in ("begin", "show", "stage", "audit", "commit", "full", "incremental", "_replace_keys",
                 "_append", "publish", "discard"):
        wrap("headwater.materialize.lake", "LakeWriter." + name, "lake: LakeWriter." + name + " (own time)")
    wrap("headwater.materialize.lake", "LakeMaterialization.build", "lake: LakeMaterialization.build (own time)")
    # where the statements come from
    wrap("headwater.quality.evaluator", "CheckRunner.run", "checks", within)
    wrap("headwater.observe.metrics", "MetricsObserver.unit_published", "metrics", within)
    for name, where in (("stage", "lake: stage"), ("begin", "lake: view"), ("show", "lake: view"),
                        ("_replace_keys", "lake: find keys"), ("incremental", "lake: new rows")):
        wrap("headwater.materialize.lake", "LakeWriter." + name, where, within)

if mode == "timers":
    install()
profiler = None
if mode == "pyinstrument":
    from pyinstrument import Profiler
    profiler = Profiler(interval=0.0005)
    profiler.start()
started = time.perf_counter()
try:
    rc = cli.main(args)
except SystemExit as exc:
    rc = exc.code
main_s = time.perf_counter() - started
data = {"rc": rc, "import_s": t_import, "main_s": main_s, "total_s": time.perf_counter() - t0,
        "missing": missing, "pandas_imported": "pandas" in sys.modules, "buckets": {k: {"s": v[0], "n": v[1]} for k, v in sorted(stats.items())}}
if profiler is not None:
    profiler.stop()
    data["pyinstrument"] = profiler.output_text(unicode=False, color=False, show_all=False)
with open(out, "w", encoding="utf-8") as fh:
    json.dump(data, fh)
"""

# The delta-rs side of the merge: what a user would write without headwater.
DELTA_RS_CODE = """\
import sys
import pyarrow.parquet as pq
from deltalake import DeltaTable
source = pq.read_table(sys.argv[2])
(
    DeltaTable(sys.argv[1])
    .merge(source, "t.id = s.id", source_alias="s", target_alias="t")
    .when_matched_update_all()
    .when_not_matched_insert_all()
    .execute()
)
"""

# DuckDB's own merge of the same changes into the same rows held as a DuckDB table.
DUCKDB_MERGE_CODE = """\
import sys
import duckdb
con = duckdb.connect(sys.argv[1])
con.execute(
    "MERGE INTO items AS t USING read_parquet(?) AS s ON t.id = s.id "
    "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
    [sys.argv[2]],
)
con.close()
"""


# -- helpers ----------------------------------------------------------------------------------------
# common's launcher, also reporting the process's CPU time (user + system, all its threads): on this
# shared 2-vCPU machine the wall times of multi-threaded processes move with the neighbours' load,
# their CPU time much less.
LAUNCHER_CODE = common.LAUNCHER_CODE.replace(
    '"rc": rc}', '"rc": rc, "cpu_s": usage.ru_utime + usage.ru_stime}'
)
assert LAUNCHER_CODE != common.LAUNCHER_CODE


@dataclass
class Timed(Samples):
    """Samples with each process's CPU time."""

    cpu: list[float] = field(default_factory=list)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "cpu_s": [round(c, 3) for c in self.cpu]}


def run_process(
    cmd: list[str], *, env: dict[str, str] | None = None, into: Timed | None = None
) -> ProcResult:
    """`common.run_process` with the CPU time of the process added to ``into``."""
    full_env = {**os.environ, **(env or {})}
    with tempfile.NamedTemporaryFile(prefix="bench-out-", suffix=".txt") as out:
        launcher = [sys.executable, "-S", "-c", LAUNCHER_CODE, out.name, *cmd]
        done = subprocess.run(launcher, env=full_env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"launcher failed for `{' '.join(cmd)}`:\n{done.stderr[-3000:]}")
        report = json.loads(done.stdout)
        text = Path(out.name).read_bytes().decode("utf-8", "replace")
    result = ProcResult(report["seconds"], report["maxrss_kib"] * 1024, report["rc"], text)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited with {result.returncode}:\n{text[-3000:]}")
    if into is not None:
        into.add(result)
        into.cpu.append(report["cpu_s"])
    return result


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _copy_tree(src: Path, dest: Path) -> None:
    """``dest`` becomes a copy of the folder ``src`` (synced: no writeback during the next run)."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest)
    os.sync()


def _remove(*paths: Path) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _state_files(project: Path) -> list[Path]:
    state = project / STATE
    return [state, Path(f"{state}-wal"), Path(f"{state}-shm")]


def _save(project: Path, dest: Path, lake: Path | None = None) -> None:
    """Warehouse, state store (and the lake folder ``lake``) of ``project`` into ``dest``."""
    _remove(dest)
    dest.mkdir(parents=True)
    copy_db(project / WAREHOUSE, dest / "warehouse.duckdb")
    if (project / STATE).exists():
        shutil.copyfile(project / STATE, dest / "state.db")
    if lake is not None and lake.exists():
        shutil.copytree(lake, dest / "lake")
    os.sync()


def _restore(src: Path, project: Path, lake: Path | None = None) -> None:
    _remove(*_state_files(project))
    if (src / "state.db").exists():
        shutil.copyfile(src / "state.db", project / STATE)
    if lake is not None:
        _remove(lake)
        if (src / "lake").exists():
            shutil.copytree(src / "lake", lake)
    copy_db(src / "warehouse.duckdb", project / WAREHOUSE)  # syncs everything


def profile(cmd_args: list[str], scratch: Path, name: str, mode: str = "timers") -> dict[str, Any]:
    """headwater ``cmd_args`` once in-process under ``PROFILE_CODE``; its buckets."""
    out = scratch / f"profile_{name}.json"
    proc = run_process([sys.executable, "-c", PROFILE_CODE, str(out), mode, *cmd_args])
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    if data["rc"] not in (0, None):
        raise RuntimeError(f"profiled `headwater {' '.join(cmd_args)}` exited with {data['rc']}")
    data["process_s"] = proc.seconds
    buckets = data["buckets"]
    data["wrapped_s"] = sum(v["s"] for v in buckets.values())
    data["other_python_s"] = data["main_s"] - data["wrapped_s"]
    for prefix in ("sql", "delta-rs", "lake", "engine"):
        data[f"{prefix}_s"] = sum(v["s"] for k, v in buckets.items() if k.startswith(prefix + ":"))
    if "pyinstrument" in data:
        text_path = scratch / f"pyinstrument_{name}.txt"
        text_path.write_text(data.pop("pyinstrument"), encoding="utf-8")
        data["pyinstrument_file"] = str(text_path)
    if data["missing"]:
        log(f"profile {name}: not found, not timed: {', '.join(data['missing'])}")
    return data


def profile_text(p: dict[str, Any]) -> str:
    lines = [f"process {p['process_s']:.3f}s, imports {p['import_s']:.3f}s, main {p['main_s']:.3f}s "
             f"(sql {p['sql_s']:.3f}s, delta-rs {p['delta-rs_s']:.3f}s, lake Python "
             f"{p['lake_s']:.3f}s, engine open/close {p['engine_s']:.3f}s); pandas imported: "
             f"{p.get('pandas_imported')}"]  # fmt: skip
    items = sorted(p["buckets"].items(), key=lambda kv: -kv[1]["s"])
    items.append(("other (CLI, project, planning, runner, checks' Python)",
                  {"s": p["other_python_s"], "n": 1}))  # fmt: skip
    lines += [f"  {v['s']:7.3f}s  x{v['n']:<5} {key}" for key, v in items]
    return "\n".join(lines)


def _ratio_row(name: str, a: Samples, b: Samples, goal: str, limit: float | None = None) -> Row:
    ratio = a.median / b.median
    ok = None if limit is None else ratio <= limit
    return Row(name, fmt_s(a.median), fmt_s(b.median), f"{ratio:.2f}x", goal, ok)


def _cpu_row(name: str, a: Timed, b: Timed) -> Row:
    ratio = a.cpu_median / b.cpu_median
    return Row(name, fmt_s(a.cpu_median), fmt_s(b.cpu_median), f"{ratio:.2f}x", "(info)")


def _hash_sums(con: Any, relation: str) -> tuple[int, dict[str, int]]:
    """Row count and, per column, the sum of the hashes of its values as text (types that a
    format stores differently, e.g. HUGEINT as DECIMAL(38, 0), give the same text); doubles
    rounded to 9 digits (parallel sums may differ in the last bits)."""
    columns = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    parts = ["count(*)"]
    for name, type_, *_ in columns:
        col = '"' + str(name).replace('"', '""') + '"'
        value = f"round({col}, 9)" if str(type_).upper() in ("DOUBLE", "FLOAT") else col
        parts.append(f"sum(hash(CAST({value} AS VARCHAR)))")
    row = con.execute(f"SELECT {', '.join(parts)} FROM {relation}").fetchone()
    return int(row[0]), {str(c[0]): int(v or 0) for c, v in zip(columns, row[1:], strict=True)}


# -- 1. the demo with Delta marts ---------------------------------------------------------------------
# `file_format=` with a literal or a parenthesized expression (`('delta' if target.type == 'duckdb'
# else none)`) in a model's config()
_LAKE_FORMAT = re.compile(r"""\bfile_format\s*=\s*(?:'[^']*'|"[^"]*"|\([^()]*\))\s*,?""")
_LAKE_MATERIALIZED = re.compile(r"""\bmaterialized\s*=\s*['"](?:delta|iceberg|parquet)['"]""")
_YAML_LAKE_FORMAT = re.compile(r"^\s*\+?file_format:\s*['\"]?(?:delta|iceberg|parquet)['\"]?\s*$\n?", re.M)  # fmt: skip
_YAML_LAKE_MATERIALIZED = re.compile(r"(\bmaterialized:\s*)['\"]?(?:delta|iceberg|parquet)['\"]?")


def _warehouse_marts(project: Path) -> list[str]:
    """Every mart of the demo as a warehouse relation: lake formats the demo ships with
    (`file_format=...` in a model's config, or `file_format: delta` in YAML) removed. The marts
    changed."""
    changed = []
    for path in sorted((project / "models" / "marts").iterdir()):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".sql":
            new = _LAKE_MATERIALIZED.sub("materialized='table'", _LAKE_FORMAT.sub("", text))
        elif path.suffix in (".yml", ".yaml"):
            new = _YAML_LAKE_MATERIALIZED.sub(r"\1table", _YAML_LAKE_FORMAT.sub("", text))
        else:
            continue
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path.stem)
    return changed


def _delta_marts(project: Path) -> None:
    """`+file_format: delta` for the marts folder of the demo project's headwater.yml."""
    yml = project / "headwater.yml"
    text = yml.read_text(encoding="utf-8")
    anchor = "\n  marts:\n"
    if text.count(anchor) != 1:
        raise RuntimeError(f"{yml}: no single `  marts:` entry under `models:` to make Delta")
    yml.write_text(text.replace(anchor, anchor + "    +file_format: delta\n"), encoding="utf-8")


def _fresh(project: Path) -> None:
    """A build from scratch: no warehouse, no state store, no lake tables (parse cache kept)."""
    hw = project / ".headwater"
    _remove(project / WAREHOUSE, Path(f"{project / WAREHOUSE}.wal"), *_state_files(project),
            project / "lake", hw / "lake_cache")  # fmt: skip
    os.sync()


def _marts(project: Path) -> list[str]:
    return sorted(p.stem for p in (project / "models" / "marts").glob("*.sql"))


def _mart_sums(project: Path, marts: list[str]) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(project / WAREHOUSE), read_only=True)
    try:
        kinds = dict(con.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_catalog = current_database()"
        ).fetchall())  # fmt: skip
        out: dict[str, Any] = {}
        for name in marts:
            count, sums = _hash_sums(con, f'"main"."{name}"')
            out[name] = {"kind": kinds.get(name), "rows": count, "sums": sums}
        return out
    finally:
        con.close()


def _check_marts(sums: dict[str, dict[str, Any]], delta: list[str], when: str) -> None:
    """Raise unless the ``delta`` marts are views (over their Delta files) in the Delta project and
    tables in the warehouse project, the others the same kind in both, and every mart holds the
    same rows in every project."""
    wh = sums["warehouse"]
    for name in wh:
        kinds = (wh[name]["kind"], sums["delta"][name]["kind"])
        want = ("BASE TABLE", "VIEW") if name in delta else (kinds[0], kinds[0])
        if kinds != want:
            raise RuntimeError(f"lake demo ({when}): `{name}` is a {kinds[0]} in the warehouse "
                               f"project and a {kinds[1]} in the Delta one (expected {want[0]} "
                               f"and {want[1]})")  # fmt: skip
        for other, theirs in sums.items():
            a, b = wh[name], theirs[name]
            if a["rows"] != b["rows"] or a["sums"] != b["sums"]:
                diff = [c for c in a["sums"] if a["sums"][c] != b["sums"].get(c)]
                raise RuntimeError(f"lake demo ({when}): `{name}` differs between the warehouse "
                                   f"and the {other} project: {a['rows']:,} vs {b['rows']:,} rows; "
                                   f"columns differing: {diff}")  # fmt: skip


def _delta_tables(project: Path, marts: list[str]) -> list[str]:
    """The marts written as Delta tables (`lake/main/<name>/_delta_log`)."""
    return [m for m in marts if (project / "lake" / "main" / m / "_delta_log").is_dir()]


def bench_demo(workdir: Path, scale: float, reps: int) -> tuple[list[Row], dict[str, Any]]:
    shipped = workdir / "lake_demo_shipped"
    projects = {"warehouse": workdir / "lake_demo_warehouse", "shipped": shipped,
                "delta": workdir / "lake_demo_delta"}  # fmt: skip
    scratch = workdir / "lake_demo_scratch"
    for path in (*projects.values(), scratch):
        shutil.rmtree(path, ignore_errors=True)
    scratch.mkdir(parents=True)
    gen = run_process([*headwater_cmd(), "demo", str(shipped), "--scale", str(scale), "--no-build"])
    shutil.copytree(shipped, projects["warehouse"])
    shutil.copytree(shipped, projects["delta"])
    stripped = _warehouse_marts(projects["warehouse"])
    _delta_marts(projects["delta"])
    marts = _marts(shipped)
    skip = len(headwater_cmd())  # the arguments after the executable, for the profiled runs
    cmds = {k: [*headwater_cmd(), "build", "--project-dir", str(p)] for k, p in projects.items()}
    built = {k: scratch / f"built_{k}" for k in projects}
    first: dict[str, float] = {}
    for k, p in projects.items():  # warm-up: the parse cache; its result is the rebuild's start
        first[k] = run_process(cmds[k]).seconds
        _save(p, built[k], p / "lake")
    log(f"lake demo: scale {scale} generated in {gen.seconds:.1f}s; first builds: "
        + ", ".join(f"{k} {v:.2f}s" for k, v in first.items())
        + f"; marts: {', '.join(marts)}; shipped as lake tables (made warehouse tables): "
        + (", ".join(stripped) or "none"))  # fmt: skip

    scratch_s = {k: Timed() for k in projects}
    rebuild_s = {k: Timed() for k in ("warehouse", "delta")}
    sums: dict[str, dict[str, Any]] = {}
    for rep in range(reps):
        order = list(projects) if rep % 2 == 0 else list(reversed(projects))
        for k in order:
            _fresh(projects[k])
            run_process(cmds[k], into=scratch_s[k])
            if rep == reps - 1:
                sums[k] = _mart_sums(projects[k], marts)
        for k in (k for k in order if k in rebuild_s):
            _restore(built[k], projects[k], projects[k] / "lake")
            run_process(cmds[k], into=rebuild_s[k])
        log(f"lake demo: rep {rep + 1}/{reps}: from scratch "
            + ", ".join(f"{k} {v.seconds[-1]:.2f}s (cpu {v.cpu[-1]:.2f}s)" for k, v in scratch_s.items())
            + "; rebuild " + ", ".join(f"{k} {v.seconds[-1]:.2f}s" for k, v in rebuild_s.items()))  # fmt: skip
    delta = _delta_tables(projects["delta"], marts)
    if not delta:
        raise RuntimeError("lake demo: `+file_format: delta` made no mart a Delta table")
    _check_marts(sums, delta, "from scratch")
    _check_marts({k: _mart_sums(p, marts) for k, p in projects.items()}, delta, "rebuild")
    if set(_delta_tables(projects["warehouse"], marts)):
        raise RuntimeError("lake demo: the warehouse project wrote a Delta mart")
    kept = [m for m in marts if m not in delta]
    if kept:
        log(f"lake demo: marts not written as Delta tables with `+file_format: delta`: {kept}")

    ratio = scratch_s["delta"].median / scratch_s["warehouse"].median
    profiles: dict[str, Any] = {}
    for k in ("warehouse", "delta"):  # one thread: the buckets add up to the wall time
        _fresh(projects[k])
        profiles[k] = profile([*cmds[k][skip:], "--threads", "1"], scratch, f"demo_{k}")
        log(f"lake demo: profile {k} from scratch, --threads 1:\n{profile_text(profiles[k])}")
    if ratio > DEMO_GOAL and _has_pyinstrument():
        for k in ("warehouse", "delta"):
            _fresh(projects[k])
            prof = profile([*cmds[k][skip:], "--threads", "1"], scratch, f"demo_{k}_threads1",
                           "pyinstrument")  # fmt: skip
            log(f"lake demo: pyinstrument ({k}, --threads 1): {prof.get('pyinstrument_file')}")
    lake = projects["delta"] / "lake"
    lake_mib = sum(f.stat().st_size for f in lake.rglob("*") if f.is_file()) / 2**20
    files = sum(1 for _ in lake.rglob("*.parquet"))
    s = f"{scale:g}"
    pw, pd = profiles["warehouse"], profiles["delta"]
    mart_rows = sum(v["rows"] for v in sums["delta"].values())
    wh_s, dl_s = scratch_s["warehouse"], scratch_s["delta"]
    rows = [
        _ratio_row(f"lake demo {s}: build from scratch, Delta marts vs warehouse marts",
                   dl_s, wh_s, f"<= {DEMO_GOAL}x", DEMO_GOAL),
        _ratio_row(f"lake demo {s}: as shipped ({', '.join(stripped) or 'no'} Delta) vs warehouse",
                   scratch_s["shipped"], wh_s, "(info)"),
        _cpu_row(f"lake demo {s}: CPU time from scratch (user+sys), Delta vs warehouse", dl_s, wh_s),
        _ratio_row(f"lake demo {s}: rebuild (built state), Delta vs warehouse marts",
                   rebuild_s["delta"], rebuild_s["warehouse"], "(info)"),
        Row(f"lake demo {s}: --threads 1 in-process SQL / delta-rs / lake Python",
            f"{pd['sql_s']:.2f} / {pd['delta-rs_s']:.2f} / {pd['lake_s']:.2f} s",
            f"{pw['sql_s']:.2f} / 0 / 0 s", goal="(info) Delta / warehouse"),
        Row(f"lake demo {s}: Delta marts written", f"{len(delta)} of {len(marts)}, {files} files",
            f"{lake_mib:.0f} MiB", goal="(info)"),
        Row(f"lake demo {s}: check", f"{mart_rows:,} mart rows", goal="same rows in every mart",
            ok=True),
        Row(f"lake demo {s}: peak RSS from scratch", fmt_mib(dl_s.max_rss), fmt_mib(wh_s.max_rss),
            f"{dl_s.max_rss / wh_s.max_rss:.2f}x", "(info)"),
    ]  # fmt: skip
    data = {
        "scale": scale, "generate_s": round(gen.seconds, 3), "marts": marts,
        "shipped_as_lake_tables": stripped, "delta_marts": delta, "not_delta": kept,
        "first_build_s": {k: round(v, 3) for k, v in first.items()},
        "from_scratch": {k: v.to_dict() for k, v in scratch_s.items()},
        "rebuild": {k: v.to_dict() for k, v in rebuild_s.items()},
        "ratio_from_scratch": round(ratio, 4),
        "ratio_rebuild": round(rebuild_s["delta"].median / rebuild_s["warehouse"].median, 4),
        "mart_rows": {k: v["rows"] for k, v in sums["delta"].items()},
        "lake_mib": round(lake_mib, 1), "lake_files": files, "profiles": profiles,
    }  # fmt: skip
    return rows, data


def _has_pyinstrument() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyinstrument") is not None


# -- 2. merge of 1% into a 10M-row Delta table ------------------------------------------------------
ITEMS = """
SELECT i AS id,
       (hash(i, 1) % 200000)::BIGINT AS customer_id,
       ['placed', 'shipped', 'delivered', 'returned', 'cancelled'][1 + (hash(i, 2) % 5)::INT] AS status,
       round((hash(i, 3) % 100000) / 100.0, 2)::DECIMAL(10, 2) AS amount,
       1 + (hash(i, 4) % 20)::INT AS quantity,
       'sku-' || (hash(i, 5) % 50000)::VARCHAR AS sku,
       TIMESTAMP '2025-01-01' + to_seconds((hash(i, 6) % 31536000)::BIGINT) AS updated_at,
       date_trunc('month', DATE '2025-01-01' + (least(i, {n} - 1) * 365 // {n})::INT)::DATE AS order_month
FROM range({lo}, {hi}) AS r(i)
"""

# 0.9% of the rows updated (amount + 1, returned, a new updated_at), 0.1% new rows (last month)
CHANGES = """
SELECT * REPLACE (CAST(amount + 1 AS DECIMAL(10, 2)) AS amount, 'returned' AS status,
                  TIMESTAMP '2026-01-01' + to_seconds((hash(id, 7) % 86400)::BIGINT) AS updated_at)
FROM ({items_all}) WHERE id IN (SELECT i FROM range({n}) AS r(i) ORDER BY hash(i, 8) LIMIT {updated})
UNION ALL
SELECT * REPLACE (TIMESTAMP '2026-01-01' + to_seconds((hash(id, 7) % 86400)::BIGINT) AS updated_at)
FROM ({items_new})
"""

MERGE_MODEL = """{{{{ config(materialized='delta', incremental_strategy='merge', unique_key='id',
             location='{table}', partition_by=['order_month']) }}}}
select * from read_parquet('{changes}')
"""


def _generate(base: Path, changes: Path, n: int) -> tuple[int, int, list[str]]:
    """The base Delta table (written by delta-rs, version 0) and the changes file."""
    import duckdb
    import pyarrow.parquet as pq
    from deltalake import write_deltalake

    updated, added = n * 9 // 1000, n // 1000
    con = duckdb.connect()
    try:
        reader = con.sql(ITEMS.format(n=n, lo=0, hi=n)).to_arrow_reader(1_000_000)
        schema = reader.schema
        write_deltalake(str(base), reader, partition_by=["order_month"])
        sql = CHANGES.format(items_all=ITEMS.format(n=n, lo=0, hi=n),
                             items_new=ITEMS.format(n=n, lo=n, hi=n + added), n=n, updated=updated)  # fmt: skip
        table = con.sql(sql).to_arrow_table().cast(schema)  # exactly the table's types
        pq.write_table(table, str(changes))
    finally:
        con.close()
    return updated, added, list(schema.names)


def _delta_sums(table: Path) -> tuple[int, tuple[int, dict[str, int]]]:
    """(version, (rows, sums)) of a Delta table as delta-rs reads it."""
    import duckdb
    from deltalake import DeltaTable

    dt = DeltaTable(str(table))
    con = duckdb.connect()
    try:
        con.register("delta_rows", dt.to_pyarrow_dataset())
        count, sums = _hash_sums(con, "delta_rows")
    finally:
        con.close()
    return int(dt.version()), (count, sums)


def _expected_sums(base: Path, changes: Path, columns: list[str]) -> tuple[int, dict[str, int]]:
    """The merge's result computed by DuckDB from the base table and the changes."""
    import duckdb
    from deltalake import DeltaTable

    cols = ", ".join(f'"{c}"' for c in columns)
    con = duckdb.connect()
    try:
        con.register("base_rows", DeltaTable(str(base)).to_pyarrow_dataset())
        con.execute(
            f"CREATE TEMP VIEW expected AS SELECT {cols} FROM base_rows "
            f"WHERE id NOT IN (SELECT id FROM read_parquet('{changes}')) "
            f"UNION ALL SELECT {cols} FROM read_parquet('{changes}')"
        )
        return _hash_sums(con, "expected")
    finally:
        con.close()


def _duckdb_table(base: Path, db: Path) -> None:
    import duckdb
    from deltalake import DeltaTable

    _remove(db, Path(f"{db}.wal"))
    db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db))
    try:
        con.register("base_rows", DeltaTable(str(base)).to_pyarrow_dataset())
        con.execute("CREATE TABLE items AS SELECT * FROM base_rows ORDER BY id")
    finally:
        con.close()


def bench_merge(workdir: Path, n: int, reps: int) -> tuple[list[Row], dict[str, Any]]:
    root = workdir / "lake_merge"
    scratch = workdir / "lake_merge_scratch"
    for path in (root, scratch):
        shutil.rmtree(path, ignore_errors=True)
    scratch.mkdir(parents=True)
    base, table, changes = root / "base", root / "table", root / "changes.parquet"
    project, duck_base = root / "project", root / "duckdb_base.duckdb"
    started = time.perf_counter()
    updated, added, columns = _generate(base, changes, n)
    _duckdb_table(base, duck_base)
    expected = _expected_sums(base, changes, columns)
    if expected[0] != n + added:
        raise RuntimeError(
            f"lake merge: the expected result has {expected[0]:,} rows, not {n + added:,}"
        )
    log(f"lake merge: {n:,}-row Delta table and {updated + added:,} changes ({updated:,} updated, "
        f"{added:,} new) generated in {time.perf_counter() - started:.1f}s")  # fmt: skip

    _write(project, {
        "headwater.yml": "name: bench_lake_merge\nversion: 1\ndefault_target: dev\ntargets:\n  dev:\n"
                         "    engine: duckdb\n    path: .headwater/warehouse.duckdb\n    schema: main\n"
                         "    threads: 2\n",
        "models/items.sql": MERGE_MODEL.format(table=table, changes=changes),
    })  # fmt: skip
    hw = [*headwater_cmd(), "--project-dir", str(project)]
    hw_cmd = [*hw, "run", "-s", "items"]
    hw_args = hw_cmd[len(headwater_cmd()) :]  # for the profiled runs
    _copy_tree(base, table)
    warm = run_process(hw_cmd)  # warm-up: the parse cache and the model's view in the warehouse
    state = scratch / "state"
    _save(project, state)
    message = _last_message(project)
    if "files rewritten" not in message:
        raise RuntimeError(f"lake merge: headwater did not merge by files: `{message}`")
    check = _delta_sums(table)
    if check != (1, expected):
        raise RuntimeError(f"lake merge: headwater's warm-up merge gave version {check[0]} "
                           f"with {check[1][0]:,} rows, not version 1 with the expected rows")  # fmt: skip
    log(f"lake merge: warm-up headwater run {warm.seconds:.2f}s: {message}")

    trace = scratch / "trace.jsonl"
    _copy_tree(base, table)
    _restore(state, project)
    run_process(hw_cmd, env={"HEADWATER_SQL_TRACE": str(trace)})
    statements = len(read_trace(trace))
    # The replay starts from the table folder as this run left it: its statements name the files
    # the run wrote (the views over the new version); the replayed COPY writes others beside them.
    traced_table = scratch / "traced_table"
    _copy_tree(table, traced_table)
    replay_db = scratch / "replay" / "warehouse.duckdb"
    config = duckdb_config(project)
    duck_db = scratch / "duckdb" / "items.duckdb"

    samples = {k: Timed() for k in ("headwater", "delta-rs", "duckdb", "replay")}
    rs_cmd = [sys.executable, "-c", DELTA_RS_CODE, str(table), str(changes)]
    duck_cmd = [sys.executable, "-c", DUCKDB_MERGE_CODE, str(duck_db), str(changes)]

    def run_headwater() -> None:
        _copy_tree(base, table)
        _restore(state, project)
        run_process(hw_cmd, into=samples["headwater"])
        _verify(table, expected, "headwater")

    def run_delta_rs() -> None:
        _copy_tree(base, table)
        run_process(rs_cmd, into=samples["delta-rs"])
        _verify(table, expected, "delta-rs")

    def run_duckdb() -> None:
        copy_db(duck_base, duck_db)
        run_process(duck_cmd, into=samples["duckdb"])

    def run_replay() -> None:
        _copy_tree(traced_table, table)
        copy_db(state / "warehouse.duckdb", replay_db)
        run_process(replay_cmd(replay_db, trace, config), into=samples["replay"])

    variants = [run_headwater, run_delta_rs, run_duckdb, run_replay]
    for rep in range(reps):
        for fn in variants if rep % 2 == 0 else list(reversed(variants)):
            fn()
        log(f"lake merge: rep {rep + 1}/{reps}: " + ", ".join(
            f"{k} {v.seconds[-1]:.2f}s ({v.peak_rss[-1] / 2**20:.0f} MiB)" for k, v in samples.items()))  # fmt: skip
    import duckdb

    con = duckdb.connect(str(duck_db), read_only=True)
    try:
        duck_sums = _hash_sums(con, "items")
    finally:
        con.close()
    if duck_sums != expected:
        raise RuntimeError("lake merge: DuckDB's MERGE INTO gave other rows than expected")

    _copy_tree(base, table)
    _restore(state, project)
    prof = profile(hw_args, scratch, "merge")
    _verify(table, expected, "headwater (profiled)")
    log(f"lake merge: profile:\n{profile_text(prof)}")
    ratio = samples["headwater"].median / samples["delta-rs"].median
    if ratio > MERGE_GOAL and _has_pyinstrument():
        _copy_tree(base, table)
        _restore(state, project)
        pyi = profile([*hw_args, "--threads", "1"], scratch, "merge_threads1", "pyinstrument")
        log(f"lake merge: pyinstrument (--threads 1): {pyi.get('pyinstrument_file')}")
    m = f"{n / 1e6:g}M"
    hw_s, rs_s = samples["headwater"], samples["delta-rs"]
    rows = [
        _ratio_row(f"lake merge: 1% ({updated + added:,}) into {m} rows vs delta-rs merge",
                   hw_s, rs_s, f"<= {MERGE_GOAL}x", MERGE_GOAL),
        _ratio_row(f"lake merge: vs DuckDB MERGE INTO a {m}-row DuckDB table", hw_s,
                   samples["duckdb"], "(info)"),
        _ratio_row("lake merge: vs replay of headwater's SQL (no commit)", hw_s, samples["replay"],
                   "(info)"),
        _cpu_row("lake merge: CPU time (user+sys) vs delta-rs", hw_s, rs_s),
        Row("lake merge: in-process SQL / delta-rs / lake Python",
            f"{prof['sql_s']:.2f} / {prof['delta-rs_s']:.2f} / {prof['lake_s']:.2f} s",
            goal="(info)"),
        Row("lake merge: peak RSS vs delta-rs", fmt_mib(hw_s.max_rss), fmt_mib(rs_s.max_rss),
            f"{hw_s.max_rss / rs_s.max_rss:.2f}x", "(info)"),
        Row("lake merge: check", f"{expected[0]:,} rows, version 1", goal="same rows, every run",
            ok=True),
    ]  # fmt: skip
    data = {
        "rows": n, "updated": updated, "added": added, "statements": statements,
        "headwater_message": message, "warm_up_s": round(warm.seconds, 3),
        **{k.replace("-", "_"): v.to_dict() for k, v in samples.items()},
        "ratio": round(ratio, 4), "expected": {"rows": expected[0], "sums": expected[1]},
        "profile": prof,
    }  # fmt: skip
    return rows, data


def _verify(table: Path, expected: tuple[int, dict[str, int]], who: str) -> None:
    version, got = _delta_sums(table)
    if version != 1 or got != expected:
        differing = [c for c in expected[1] if expected[1][c] != got[1].get(c)]
        raise RuntimeError(f"lake merge: after {who}'s merge the table is version {version} with "
                           f"{got[0]:,} rows (expected version 1, {expected[0]:,} rows); "
                           f"columns differing: {differing}")  # fmt: skip


def _last_message(project: Path) -> str:
    """The build message of the last run's model line in headwater's log."""
    log_file = project / ".headwater" / "logs" / "headwater.log"
    lines = [ln for ln in log_file.read_text(encoding="utf-8").splitlines() if " items " in ln]
    return lines[-1].split(" items ", 1)[1] if lines else ""


# -- both ----------------------------------------------------------------------------------------------
def _reason(exc: RuntimeError) -> str:
    """The line of a failure that says why: a failed node's error, else the last line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR ") or " ERROR " in ln]
    return (errors[0] if errors else lines[-1] if lines else "?")[:140]


@dataclass
class LakeResult:
    table: list[Row]
    data: dict[str, Any]

    def rows(self) -> list[Row]:
        return self.table

    def to_dict(self) -> dict[str, Any]:
        return self.data


def bench(
    workdir: Path, quick: bool, scale: float = 1.0, only: str | None = None, reps: int | None = None
) -> LakeResult:
    demo_reps, merge_reps = (reps, reps) if reps else (2, 2) if quick else (3, 5)
    merge_rows = 1_000_000 if quick else 10_000_000
    rows: list[Row] = []
    data: dict[str, Any] = {"params": {"demo_scale": scale, "merge_rows": merge_rows,
                                       "demo_reps": demo_reps, "merge_reps": merge_reps},
                            "seconds": {}}  # fmt: skip
    parts = [
        ("demo", lambda: bench_demo(workdir, scale, demo_reps)),
        ("merge", lambda: bench_merge(workdir, merge_rows, merge_reps)),
    ]
    for name, fn in parts:
        if only and name != only:
            continue
        started = time.perf_counter()
        try:
            part_rows, part = fn()
        except RuntimeError as exc:  # a failing command or check: report it, keep the other
            log(f"lake {name}: FAILED: {exc}")
            part_rows, part = [Row(f"lake {name}: FAILED", _reason(exc), ok=False)], {"error": str(exc)[-3000:]}  # fmt: skip
        rows += part_rows
        data[name] = part
        data["seconds"][name] = round(time.perf_counter() - started, 1)
        log(f"lake {name}: done in {data['seconds'][name]}s")
    return LakeResult(rows, data)


if __name__ == "__main__":
    import argparse

    from common import child_environment, render_table

    parser = argparse.ArgumentParser(
        description="lake benchmarks alone (run.py --only lake runs them)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="demo at scale 0.2, merge into 1M rows"
    )
    parser.add_argument("--scale", type=float, default=None, help="demo scale (default 1)")
    parser.add_argument("--only", choices=["demo", "merge"])
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3 / 5)")
    parser.add_argument("--workdir", default="/tmp/headwater_bench")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update(child_environment(Path(args.workdir)))
    scale_ = args.scale if args.scale is not None else (0.2 if args.quick else 1.0)
    result = bench(Path(args.workdir), args.quick, scale_, args.only, args.reps)
    print(render_table(result.rows()))
    print(json.dumps({k: v for k, v in result.data.items() if k != "profiles"}, default=str)[:1500])
    raise SystemExit(0 if all(r.ok is not False for r in result.rows()) else 1)
