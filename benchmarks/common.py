"""Shared helpers: whole-process timing with peak RSS, SQL-trace replay, warehouse snapshots.

Every measured command runs under a tiny launcher process (`LAUNCHER_CODE`) that spawns it,
waits for it with `os.wait4` and reports the wall time (`time.perf_counter` around spawn and
wait, so the measured process's interpreter start and imports are included) and the peak RSS
of exactly that process.

Why the launcher: Linux carries the RSS high-water mark of the address space a child execs from
into the child's `ru_maxrss` (and Python's subprocess spawns with vfork semantics, i.e. from the
parent's address space). Spawned straight from this harness (~80 MiB after importing duckdb),
every child would report at least the harness's peak; `getrusage(RUSAGE_CHILDREN)` is moreover
the maximum over all children so far. The launcher is a bare interpreter (~10 MiB), below the
RSS of any measured process.
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The raw baseline: a fresh interpreter that imports duckdb, opens the same kind of warehouse file
# with the same connection settings as headwater, and executes the recorded statements in order,
# fetching the rows of statements that return rows (as headwater's engine does).
REPLAY_CODE = """\
import json, sys
import duckdb
db, trace, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with open(trace, encoding="utf-8") as fh:
    statements = [json.loads(line) for line in fh if line.strip()]
con = duckdb.connect(db, config=config)
for stmt in statements:
    result = con.execute(stmt)
    if result.description is not None:
        result.fetchall()
con.close()
"""

# The minimal baseline: what a user would write without headwater. A fresh interpreter imports
# duckdb, connects to a fresh file (deleted before, untimed) with the same settings as headwater,
# runs the given statements in order (no fetching, no catalog reads, no transactions) and closes.
MINIMAL_CODE = """\
import json, sys
import duckdb
db, statements, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with open(statements, encoding="utf-8") as fh:
    statements = json.load(fh)
con = duckdb.connect(db, config=config)
for stmt in statements:
    con.execute(stmt)
con.close()
"""

# Runs argv[2:] with stdout+stderr into the file argv[1]; prints {"seconds", "maxrss_kib", "rc"}.
LAUNCHER_CODE = """\
import json, os, sys, time
with open(sys.argv[1], "wb") as out:
    fd = out.fileno()
    actions = [(os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)]
    started = time.perf_counter()
    pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
rc = os.waitstatus_to_exitcode(status)
print(json.dumps({"seconds": seconds, "maxrss_kib": usage.ru_maxrss, "rc": rc}))
"""

WAREHOUSE = ".headwater/warehouse.duckdb"


@dataclass
class ProcResult:
    """One finished child process."""

    seconds: float
    peak_rss: int  # bytes
    returncode: int
    output: str


@dataclass
class Samples:
    """Repeated measurements of one thing."""

    seconds: list[float] = field(default_factory=list)
    peak_rss: list[int] = field(default_factory=list)

    def add(self, result: ProcResult) -> None:
        self.seconds.append(result.seconds)
        self.peak_rss.append(result.peak_rss)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def max_rss(self) -> int:
        return max(self.peak_rss)

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_s": round(self.median, 4),
            "min_s": round(min(self.seconds), 4),
            "max_s": round(max(self.seconds), 4),
            "samples_s": [round(s, 4) for s in self.seconds],
            "peak_rss_mib": [round(r / 2**20, 1) for r in self.peak_rss],
        }


def child_environment(workdir: Path) -> dict[str, str]:
    """Environment changes for every timed child, applied to `os.environ` by run.py.

    Bytecode caching is switched on (into ``workdir``, so nothing is written into the repository):
    an installed package has .pyc files, and with PYTHONDONTWRITEBYTECODE=1 an editable install
    would recompile headwater's modules in every process while duckdb's come precompiled.
    """
    return {"PYTHONPYCACHEPREFIX": str(workdir / "pycache")}


def headwater_cmd() -> list[str]:
    """The installed `headwater` entry point of this interpreter (not a pyenv/asdf shim)."""
    script = Path(sys.executable).parent / "headwater"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "headwater"]


def run_process(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> ProcResult:
    """Run ``cmd`` to completion; wall time, peak RSS of that process, return code, output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    with tempfile.NamedTemporaryFile(prefix="bench-out-", suffix=".txt") as out:
        launcher = [sys.executable, "-S", "-c", LAUNCHER_CODE, out.name, *cmd]
        done = subprocess.run(launcher, cwd=cwd, env=full_env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"launcher failed for `{' '.join(cmd)}`:\n{done.stderr[-3000:]}")
        report = json.loads(done.stdout)
        text = Path(out.name).read_bytes().decode("utf-8", "replace")
    # ru_maxrss is in KiB on Linux
    result = ProcResult(report["seconds"], report["maxrss_kib"] * 1024, report["rc"], text)
    if check and result.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited with {result.returncode}:\n{text[-3000:]}")
    return result


def replay_cmd(db: Path, trace: Path, config: dict[str, Any]) -> list[str]:
    return [sys.executable, "-c", REPLAY_CODE, str(db), str(trace), json.dumps(config)]


def minimal_cmd(db: Path, statements: Path, config: dict[str, Any]) -> list[str]:
    return [sys.executable, "-c", MINIMAL_CODE, str(db), str(statements), json.dumps(config)]


def remove_db(path: Path) -> None:
    """Delete a DuckDB file and its WAL (a fresh file for the next process), then sync."""
    for p in (path, Path(f"{path}.wal")):
        p.unlink(missing_ok=True)
    os.sync()


def duckdb_config(project_dir: Path, target: str | None = None) -> dict[str, Any]:
    """The DuckDB connection settings headwater uses for the project's target."""
    from headwater.manifest import select_target
    from headwater.project.project_file import read_project_config

    tgt = select_target(read_project_config(project_dir), target)
    config: dict[str, Any] = {"threads": max(1, min(tgt.threads * 2, os.cpu_count() or 2))}
    if tgt.memory_limit:
        config["memory_limit"] = str(tgt.memory_limit)
    config.update({str(k): v for k, v in tgt.settings.items()})
    return config


def read_trace(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


_VOLATILE = (
    (re.compile(r"TIMESTAMP '\d{4}-\d\d-\d\d[ T][\d:.]+'"), "TIMESTAMP '<now>'"),
    (re.compile(r"CAST\('\d{4}-\d\d-\d\d[ T][\d:.]+' AS TIMESTAMP\)"), "TIMESTAMP '<now>'"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])"), "<uuid>"),
)
# read-only measurements whose presence depends on timing (a table's bytes are read only once
# DuckDB has checkpointed it)
_TIMING_DEPENDENT = ("SELECT block_size FROM pragma_database_size()",)


def _normalized(statements: list[str]) -> Counter:
    out: Counter = Counter()
    for sql in statements:
        if sql.startswith(_TIMING_DEPENDENT):
            continue
        for pattern, repl in _VOLATILE:
            sql = pattern.sub(repl, sql)
        out[sql] += 1
    return out


def same_statements(a: list[str], b: list[str]) -> bool:
    """Same multiset of statements (order differs between thread counts), up to the literals
    that differ by run (snapshot timestamps, invocation ids) and timing-dependent measurements."""
    return _normalized(a) == _normalized(b)


def copy_db(src: Path, dest: Path) -> None:
    """Copy a closed DuckDB file (and its WAL, if any) over ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    wal_src, wal_dest = Path(f"{src}.wal"), Path(f"{dest}.wal")
    if wal_src.exists():
        shutil.copyfile(wal_src, wal_dest)
    elif wal_dest.exists():
        wal_dest.unlink()
    os.sync()  # no writeback of the copy during the next timed process


def relations(db: Path) -> list[tuple[str, str, str]]:
    """(schema, name, kind) of every relation in a DuckDB file, for checking a replay."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT table_schema, table_name, table_type FROM information_schema.tables "
            "WHERE table_catalog = current_database() ORDER BY 1, 2"
        ).fetchall()
    finally:
        con.close()
    return [(str(s), str(n), str(t)) for s, n, t in rows]


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    headwater: str
    raw: str = "—"
    ratio: str = "—"
    goal: str = "—"
    ok: bool | None = None

    @property
    def ok_text(self) -> str:
        return "—" if self.ok is None else ("yes" if self.ok else "NO")


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.0f} MiB"


def render_table(rows: list[Row]) -> str:
    header = ["benchmark", "headwater", "raw duckdb", "ratio", "goal", "ok"]
    body = [[r.benchmark, r.headwater, r.raw, r.ratio, r.goal, r.ok_text] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in body)
    return "\n".join(lines)


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def git_state() -> dict[str, Any]:
    """Commit of the repository and whether headwater's sources differ from it."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=repo, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "src_changed_files": len(git("status", "--porcelain", "src").splitlines()),
    }
