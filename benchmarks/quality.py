"""Quality benchmark: expectation suites validated by headwater vs hand-written SQL.

* **20 expectations on 10M rows** (not null, unique, between, in set, regex, lengths, mean, stdev,
  min/max, row count, column set, ...): headwater's `validate_relation` vs (a) one hand-written
  single-pass SQL computing the same counts and aggregates (plus the one GROUP BY uniqueness needs
  and the catalog read for the column set), goal <= 1.3x, and (b) one query per expectation.
* **100 expectations on 1M rows**: per-expectation overhead = (headwater - single pass) / 100,
  goal < 2 ms.
* **20 expectations on 3M rows of Parquet, whole processes**: `headwater validate FILES --suite S`
  vs the best of two hand-written plans a user would run in one `python -c` process with duckdb
  (one wide scan, or one query per column), goal <= 1.2x the better one; plus headwater's own
  two scan layouts in-process (info).

Times are in-process (one DuckDB connection, the same warehouse file, variants alternated,
medians); peak memory is each variant's own process (`ru_maxrss`), run once in a child.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import Row, Samples, fmt_mib, fmt_s, headwater_cmd, log, run_process

TABLE = '"main"."orders"'


def generate(db: Path, rows: int) -> None:
    import duckdb

    if db.exists():
        con = duckdb.connect(str(db), read_only=True)
        try:
            if con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == rows:
                return
        except duckdb.Error:
            pass
        finally:
            con.close()
        db.unlink()
    db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db))
    try:
        con.execute(f"CREATE TABLE {TABLE} AS {orders_select(0, rows)}")
    finally:
        con.close()


def orders_select(lo: int, hi: int) -> str:
    """The generated orders with ids lo..hi-1 (deterministic: hashes of the id)."""
    return f"""
            SELECT
                i AS id,
                CASE WHEN hash(i, 1) % 100 = 0 THEN NULL ELSE (hash(i, 2) % 200000)::BIGINT END AS customer_id,
                ['placed', 'shipped', 'delivered', 'returned', 'cancelled'][1 + (hash(i, 3) % 5)::INT] AS status,
                round((hash(i, 4) % 100000) / 100.0, 2) AS amount,
                1 + (hash(i, 5) % 20)::INT AS quantity,
                CASE WHEN hash(i, 6) % 1000 = 0 THEN 'broken-email'
                     ELSE 'user' || (hash(i, 7) % 100000)::VARCHAR || '@example.com' END AS email,
                ['US', 'DE', 'FR', 'GB', 'NL', 'ES', 'IT', 'PL'][1 + (hash(i, 8) % 8)::INT] AS country,
                TIMESTAMP '2025-01-01' + to_seconds((hash(i, 9) % 31536000)::BIGINT) AS created_at
            FROM range({lo}, {hi}) AS r(i)
        """


def suite_20() -> list[dict]:
    e = "expect_"
    return [
        {"type": e + "column_values_to_not_be_null", "kwargs": {"column": "id"}},
        {"type": e + "column_values_to_be_unique", "kwargs": {"column": "id"}},
        {"type": e + "column_values_to_not_be_null", "kwargs": {"column": "customer_id", "mostly": 0.95}},
        {"type": e + "column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0, "max_value": 10000}},
        {"type": e + "column_values_to_be_in_set",
         "kwargs": {"column": "status", "value_set": ["placed", "shipped", "delivered", "returned", "cancelled"]}},
        {"type": e + "column_values_to_not_be_in_set", "kwargs": {"column": "status", "value_set": ["deleted"]}},
        {"type": e + "column_values_to_match_regex",
         "kwargs": {"column": "email", "regex": "^[^@]+@[^@]+$", "mostly": 0.99}},
        {"type": e + "column_value_lengths_to_be_between", "kwargs": {"column": "country", "min_value": 2, "max_value": 2}},
        {"type": e + "column_value_lengths_to_be_between", "kwargs": {"column": "email", "min_value": 3, "max_value": 320}},
        {"type": e + "column_values_to_be_between", "kwargs": {"column": "quantity", "min_value": 1, "max_value": 100}},
        {"type": e + "column_values_to_not_be_null", "kwargs": {"column": "email"}},
        {"type": e + "column_mean_to_be_between", "kwargs": {"column": "amount", "min_value": 100, "max_value": 900}},
        {"type": e + "column_stdev_to_be_between", "kwargs": {"column": "amount", "min_value": 1, "max_value": 1000}},
        {"type": e + "column_min_to_be_between", "kwargs": {"column": "amount", "min_value": 0}},
        {"type": e + "column_max_to_be_between", "kwargs": {"column": "amount", "max_value": 1000}},
        {"type": e + "column_sum_to_be_between", "kwargs": {"column": "quantity", "min_value": 0}},
        {"type": e + "column_unique_value_count_to_be_between", "kwargs": {"column": "country", "min_value": 5, "max_value": 10}},
        {"type": e + "column_proportion_of_non_null_values_to_be_between", "kwargs": {"column": "customer_id", "min_value": 0.95}},
        {"type": e + "table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": e + "table_columns_to_match_set",
         "kwargs": {"column_set": ["id", "customer_id", "status", "amount", "quantity", "email", "country", "created_at"]}},
    ]  # fmt: skip


HAND_20 = [
    f"""SELECT count(*),
        count(*) FILTER (WHERE id IS NULL),
        count(customer_id), count(*) FILTER (WHERE customer_id IS NULL),
        count(*) FILTER (WHERE amount IS NOT NULL AND NOT (amount >= 0 AND amount <= 10000)),
        count(amount),
        count(*) FILTER (WHERE status IS NOT NULL AND status NOT IN ('placed', 'shipped', 'delivered', 'returned', 'cancelled')),
        count(*) FILTER (WHERE status IS NOT NULL AND status IN ('deleted')),
        count(status),
        count(*) FILTER (WHERE email IS NOT NULL AND NOT regexp_full_match(email, '^[^@]+@[^@]+$')),
        count(email),
        count(*) FILTER (WHERE country IS NOT NULL AND NOT (length(country) >= 2 AND length(country) <= 2)),
        count(country),
        count(*) FILTER (WHERE email IS NOT NULL AND NOT (length(email) >= 3 AND length(email) <= 320)),
        count(*) FILTER (WHERE quantity IS NOT NULL AND NOT (quantity >= 1 AND quantity <= 100)),
        count(quantity),
        count(*) FILTER (WHERE email IS NULL),
        avg(amount), stddev_samp(amount), min(amount), max(amount), sum(quantity),
        count(DISTINCT country)
    FROM {TABLE}""",
    f"SELECT sum(n) FROM (SELECT id, count(*) AS n FROM {TABLE} WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1)",
    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = 'orders'",
]

PER_QUERY_20 = [
    f"SELECT count(*) FILTER (WHERE id IS NULL), count(*) FROM {TABLE}",
    HAND_20[1],
    f"SELECT count(*) FILTER (WHERE customer_id IS NULL), count(*) FROM {TABLE}",
    f"SELECT count(*) FILTER (WHERE NOT (amount >= 0 AND amount <= 10000)), count(amount), count(*) FROM {TABLE}",
    f"SELECT count(*) FILTER (WHERE status NOT IN ('placed', 'shipped', 'delivered', 'returned', 'cancelled')), count(status), count(*) FROM {TABLE}",
    f"SELECT count(*) FILTER (WHERE status IN ('deleted')), count(status), count(*) FROM {TABLE}",
    f"SELECT count(*) FILTER (WHERE NOT regexp_full_match(email, '^[^@]+@[^@]+$')), count(email), count(*) FROM {TABLE}",
    f"SELECT count(*) FILTER (WHERE NOT (length(country) BETWEEN 2 AND 2)), count(country), count(*) FROM {TABLE}",
    f"SELECT count(*) FILTER (WHERE NOT (length(email) BETWEEN 3 AND 320)), count(email), count(*) FROM {TABLE}",
    f"SELECT count(*) FILTER (WHERE NOT (quantity BETWEEN 1 AND 100)), count(quantity), count(*) FROM {TABLE}",
    f"SELECT count(*) FILTER (WHERE email IS NULL), count(*) FROM {TABLE}",
    f"SELECT avg(amount) FROM {TABLE}",
    f"SELECT stddev_samp(amount) FROM {TABLE}",
    f"SELECT min(amount) FROM {TABLE}",
    f"SELECT max(amount) FROM {TABLE}",
    f"SELECT sum(quantity) FROM {TABLE}",
    f"SELECT count(DISTINCT country) FROM {TABLE}",
    f"SELECT count(customer_id), count(*) FROM {TABLE}",
    f"SELECT count(*) FROM {TABLE}",
    HAND_20[2],
]  # fmt: skip

COLUMNS = {"amount": (0, 1000), "quantity": (1, 20), "customer_id": (0, 200000), "id": (0, 10**9)}


def suite_100() -> tuple[list[dict], str]:
    """100 map and aggregate expectations with varied bounds, and the single-pass SQL for them."""
    exps: list[dict] = []
    exprs: list[str] = ["count(*)"]
    i = 0
    while len(exps) < 100:
        col = list(COLUMNS)[i % len(COLUMNS)]
        lo, hi = COLUMNS[col]
        k = i // len(COLUMNS)
        kind = i % 5
        if kind in (0, 1, 2):
            a, b = lo - k, hi + k
            exps.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": col, "min_value": a, "max_value": b},
                }
            )
            exprs.append(
                f"count(*) FILTER (WHERE {col} IS NOT NULL AND NOT ({col} >= {a} AND {col} <= {b}))"
            )
            exprs.append(f"count({col})")
        elif kind == 3:
            exps.append(
                {
                    "type": "expect_column_mean_to_be_between",
                    "kwargs": {"column": col, "min_value": lo - k, "max_value": hi + k},
                }
            )
            exprs.append(f"avg({col})")
        else:
            exps.append(
                {
                    "type": "expect_column_values_to_not_be_null",
                    "kwargs": {"column": col, "mostly": 0.9 - k / 1000},
                }
            )
            exprs.append(f"count(*) FILTER (WHERE {col} IS NULL)")
        i += 1
    return exps, f"SELECT {', '.join(dict.fromkeys(exprs))} FROM {TABLE}"


@dataclass
class Timings:
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])


def _time_variants(db: Path, variants: dict[str, object], reps: int) -> Timings:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    timings = Timings()
    try:
        for fn in variants.values():  # warm-up: file pages in the OS cache and DuckDB's buffer pool
            fn(con)  # type: ignore[operator]
        for rep in range(reps):
            order = list(variants.items())
            if rep % 2:
                order.reverse()
            for name, fn in order:
                started = time.perf_counter()
                fn(con)  # type: ignore[operator]
                timings.add(name, time.perf_counter() - started)
    finally:
        con.close()
    return timings


def _headwater(suite: list[dict]):
    from headwater.quality.expectations import parse_expectation, validate_relation

    configs = [parse_expectation(e) for e in suite]

    def run(con) -> None:
        def execute(sql: str):
            cur = con.execute(sql)
            return [d[0] for d in cur.description], cur.fetchall()

        validate_relation(execute, TABLE, configs)

    return run


def _raw(statements: list[str]):
    def run(con) -> None:
        for sql in statements:
            con.execute(sql).fetchall()

    return run


CHILD = """
import sys, json
sys.path.insert(0, sys.argv[1])
import quality
quality.child(sys.argv[2], sys.argv[3])
"""


def child(mode: str, db: str) -> None:
    """One variant once, in its own process, for its peak memory."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    variants = {
        "headwater": _headwater(suite_20()),
        "single_pass": _raw(HAND_20),
        "per_query": _raw(PER_QUERY_20),
    }
    variants[mode](con)
    con.close()


@dataclass
class QualityResult:
    rows_20: int
    t20: Timings
    rss: dict[str, int]
    rows_100: int
    t100: Timings
    checks: dict[str, object]
    files: FilesResult | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "rows_20": self.rows_20,
            "samples_20": self.t20.samples,
            "peak_rss_bytes": self.rss,
            "rows_100": self.rows_100,
            "samples_100": self.t100.samples,
            "checks": self.checks,
            "files": self.files.to_dict() if self.files else None,
        }

    def rows(self) -> list[Row]:
        hw, one, per = (self.t20.median(k) for k in ("headwater", "single_pass", "per_query"))
        hw100, one100 = self.t100.median("headwater"), self.t100.median("single_pass")
        overhead_ms = (hw100 - one100) / 100 * 1000
        m = self.rows_20 // 1_000_000
        return [
            Row(f"quality: 20 expectations, {m}M rows", fmt_s(hw), fmt_s(one), f"{hw / one:.2f}x", "<= 1.3x", hw / one <= 1.3),
            Row("quality: vs one query per expectation", fmt_s(hw), fmt_s(per), f"{hw / per:.2f}x", "(info)"),
            Row("quality: peak RSS (headwater / single pass)", fmt_mib(self.rss["headwater"]),
                fmt_mib(self.rss["single_pass"]), f"{self.rss['headwater'] / self.rss['single_pass']:.2f}x", "(info)"),
            Row("quality: peak RSS, one query per expectation", fmt_mib(self.rss["per_query"]), goal="(info)"),
            Row(f"quality: 100 expectations, {self.rows_100 // 1_000_000}M rows", fmt_s(hw100), fmt_s(one100),
                f"{hw100 / one100:.2f}x", "(info)"),
            Row("quality: per-expectation overhead", f"{overhead_ms:+.2f} ms", goal="< 2 ms", ok=overhead_ms < 2),
        ] + (self.files.rows_() if self.files else [])  # fmt: skip


def bench(
    workdir: Path, reps: int, rows: int = 10_000_000, rows_100: int = 1_000_000
) -> QualityResult:
    db20, db100 = (
        workdir / "quality" / f"orders_{rows}.duckdb",
        workdir / "quality" / f"orders_{rows_100}.duckdb",
    )
    started = time.perf_counter()
    generate(db20, rows)
    generate(db100, rows_100)
    log(f"quality: data ready in {time.perf_counter() - started:.1f}s")

    checks = _same_answers(db20)
    t20 = _time_variants(db20, {"headwater": _headwater(suite_20()), "single_pass": _raw(HAND_20),
                                "per_query": _raw(PER_QUERY_20)}, reps)  # fmt: skip
    log(f"quality: 20 expectations: headwater {t20.median('headwater'):.3f}s, single pass "
        f"{t20.median('single_pass'):.3f}s, per query {t20.median('per_query'):.3f}s")  # fmt: skip
    rss = {}
    for mode in ("headwater", "single_pass", "per_query"):
        proc = run_process(
            [sys.executable, "-c", CHILD, str(Path(__file__).resolve().parent), mode, str(db20)]
        )
        rss[mode] = proc.peak_rss
    exps, single = suite_100()
    t100 = _time_variants(
        db100, {"headwater": _headwater(exps), "single_pass": _raw([single])}, max(reps, 5)
    )
    log(
        f"quality: 100 expectations: headwater {t100.median('headwater'):.3f}s, single pass {t100.median('single_pass'):.3f}s"
    )
    files = bench_files(workdir, max(reps, 5), min(rows, 3_000_000))
    return QualityResult(rows, t20, rss, rows_100, t100, checks, files)


def _same_answers(db: Path) -> dict[str, object]:
    """headwater's counts equal the hand-written SQL's (the comparison is of the same work)."""
    import duckdb

    from headwater.quality.expectations import parse_expectation, validate_relation

    con = duckdb.connect(str(db), read_only=True)
    try:

        def execute(sql: str):
            cur = con.execute(sql)
            return [d[0] for d in cur.description], cur.fetchall()

        suite = validate_relation(execute, TABLE, [parse_expectation(e) for e in suite_20()])
        hand = con.execute(HAND_20[0]).fetchone()
        dups = con.execute(HAND_20[1]).fetchone()[0] or 0
    finally:
        con.close()
    by_type = [r.to_json_dict() for r in suite.results]
    regex = by_type[6]["result"]["unexpected_count"]
    unique = by_type[1]["result"]["unexpected_count"]
    ok = regex == hand[9] and unique == dups and by_type[18]["result"]["observed_value"] == hand[0]
    if not ok:
        raise RuntimeError(
            f"headwater and the hand-written SQL disagree: regex {regex} vs {hand[9]}, unique {unique} vs {dups}"
        )
    return {
        "regex_unexpected": regex,
        "duplicate_rows": unique,
        "rows": hand[0],
        "suite_success": suite.success,
    }


# -- 20 expectations on Parquet files, whole processes -----------------------------------------

FILE_PARTS = 3
# A user's hand-written check in one process: connect, run the statements, fetch their rows.
HAND_CODE = """
import json, sys
import duckdb
con = duckdb.connect()
with open(sys.argv[1], encoding="utf-8") as fh:
    statements = json.load(fh)
for sql in statements:
    con.execute(sql).fetchall()
"""


def generate_files(folder: Path, rows: int, parts: int = FILE_PARTS) -> list[Path]:
    """The orders as ``parts`` Parquet files in ``folder`` (kept while the row count matches)."""
    import duckdb

    paths = [folder / f"part-{k}.parquet" for k in range(parts)]
    marker = folder.parent / f"{folder.name}.rows"
    if marker.exists() and marker.read_text() == str(rows) and all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    step = rows // parts
    con = duckdb.connect()
    try:
        for k, path in enumerate(paths):
            hi = rows if k == parts - 1 else (k + 1) * step
            con.execute(f"COPY ({orders_select(k * step, hi)}) TO '{path}' (FORMAT parquet)")
    finally:
        con.close()
    marker.write_text(str(rows))
    return paths


def hand_files(src: str) -> dict[str, list[str]]:
    """suite_20 by hand on files: one wide scan (+ the uniqueness GROUP BY and the columns), or
    one query per column. Both match text the way headwater does (`regexp_matches`)."""
    one_scan = [
        HAND_20[0].replace(TABLE, src).replace("regexp_full_match", "regexp_matches"),
        HAND_20[1].replace(TABLE, src),
        f"DESCRIBE SELECT * FROM {src}",
    ]
    per_column = [
        f"SELECT count(*) FROM {src}",
        f"SELECT count(*) - count(id) FROM {src}",
        f"SELECT sum(n) FROM (SELECT count(*) AS n FROM {src} WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1)",
        f"SELECT count(*) - count(customer_id), count(customer_id) FROM {src}",
        f"SELECT count(*) FILTER (WHERE amount < 0 OR amount > 10000), count(amount), avg(amount), "
        f"stddev_samp(amount), min(amount), max(amount) FROM {src}",
        f"SELECT count(*) FILTER (WHERE status NOT IN ('placed', 'shipped', 'delivered', 'returned', 'cancelled')), "
        f"count(*) FILTER (WHERE status IN ('deleted')), count(status) FROM {src}",
        f"SELECT count(*) FILTER (WHERE NOT regexp_matches(email, '^[^@]+@[^@]+$')), "
        f"count(*) FILTER (WHERE length(email) < 3 OR length(email) > 320), count(email), count(*) - count(email) FROM {src}",
        f"SELECT count(*) FILTER (WHERE length(country) <> 2), count(country), count(DISTINCT country) FROM {src}",
        f"SELECT count(*) FILTER (WHERE quantity < 1 OR quantity > 100), count(quantity), sum(quantity) FROM {src}",
        f"DESCRIBE SELECT * FROM {src}",
    ]
    return {"one_scan": one_scan, "per_column": per_column}


@dataclass
class FilesResult:
    rows: int
    samples: dict[str, Samples]
    layouts: Timings
    checks: dict[str, object]

    def to_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "processes": {k: v.to_dict() for k, v in self.samples.items()},
                "in_process_layouts_s": self.layouts.samples, "checks": self.checks}  # fmt: skip

    def rows_(self) -> list[Row]:
        hw, one, per = (self.samples[k].median for k in ("headwater", "one_scan", "per_column"))
        best = min(one, per)
        single, columns = self.layouts.median("single"), self.layouts.median("columns")
        m = f"{self.rows / 1_000_000:g}M"
        return [
            Row(f"quality: validate {m}-row Parquet, 20 exp. (process)", fmt_s(hw), fmt_s(best),
                f"{hw / best:.2f}x", "<= 1.2x best hand plan", hw / best <= 1.2),
            Row("quality: Parquet by hand: one scan / per column", "—", f"{fmt_s(one)} / {fmt_s(per)}",
                f"{one / per:.2f}x", "(info)"),
            Row("quality: Parquet, headwater layouts single / columns", f"{fmt_s(single)} / {fmt_s(columns)}",
                ratio=f"{single / columns:.2f}x", goal="(info, in-process)"),
            Row("quality: Parquet, peak RSS (headwater / best hand)", fmt_mib(self.samples["headwater"].max_rss),
                fmt_mib(self.samples["one_scan" if one <= per else "per_column"].max_rss), goal="(info)"),
        ]  # fmt: skip


def bench_files(workdir: Path, reps: int, rows: int = 3_000_000) -> FilesResult:
    """`headwater validate` on Parquet files against the better of two hand-written plans, each a
    whole process (interpreter start, imports, connect, queries), alternating order, medians."""
    base = workdir / "quality" / f"parquet_{rows}"
    data = base / "data"
    paths = generate_files(data, rows)
    suite = base / "suite_20.json"
    suite.write_text(
        json.dumps({"name": "orders_20", "expectations": suite_20()}, indent=1), encoding="utf-8"
    )
    src = "read_parquet([" + ", ".join(f"'{p}'" for p in paths) + "])"
    commands = {"headwater": [*headwater_cmd(), "validate", str(data), "--suite", str(suite)]}
    for name, statements in hand_files(src).items():
        plan = base / f"{name}.json"
        plan.write_text(json.dumps(statements), encoding="utf-8")
        commands[name] = [sys.executable, "-c", HAND_CODE, str(plan)]
    checks = _same_file_answers(data, suite, hand_files(src)["per_column"])
    samples = {name: Samples() for name in commands}
    for cmd in commands.values():  # warm-up: the files in the OS cache, bytecode compiled
        run_process(cmd)
    for rep in range(reps):
        order = list(commands.items())
        for name, cmd in order if rep % 2 == 0 else reversed(order):
            samples[name].add(run_process(cmd))
    log(
        "quality: Parquet, whole processes: "
        + ", ".join(f"{k} {v.median:.3f}s" for k, v in samples.items())
    )
    return FilesResult(rows, samples, _time_layouts(data, suite, reps), checks)


def _time_layouts(data: Path, suite: Path, reps: int) -> Timings:
    """headwater.validate on the files with each scan layout, in this process."""
    import headwater

    timings = Timings()
    for rep in range(reps + 1):
        for layout in ("single", "columns") if rep % 2 == 0 else ("columns", "single"):
            started = time.perf_counter()
            headwater.validate(str(data), str(suite), layout=layout)
            if rep:  # the first round warms up
                timings.add(layout, time.perf_counter() - started)
    return timings


def _same_file_answers(data: Path, suite: Path, per_column: list[str]) -> dict[str, object]:
    """headwater's numbers on the files equal the hand-written per-column plan's."""
    import duckdb

    import headwater

    result = headwater.validate(str(data), str(suite))["results"]
    con = duckdb.connect()
    try:
        rows = con.execute(per_column[0]).fetchone()[0]
        duplicates = con.execute(per_column[2]).fetchone()[0] or 0
        regex = con.execute(per_column[6]).fetchone()[0]
        quantity_sum = con.execute(per_column[8]).fetchone()[2]
    finally:
        con.close()
    got = (result[18]["result"]["observed_value"], result[1]["result"]["unexpected_count"],
           result[6]["result"]["unexpected_count"], result[15]["result"]["observed_value"])  # fmt: skip
    if got != (rows, duplicates, regex, quantity_sum):
        raise RuntimeError(f"headwater and the hand-written plan disagree on the files: {got} vs "
                           f"{(rows, duplicates, regex, quantity_sum)}")  # fmt: skip
    return {
        "rows": rows,
        "duplicate_rows": duplicates,
        "regex_unexpected": regex,
        "quantity_sum": quantity_sum,
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="quality benchmark alone (run.py runs it too)")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--workdir", default="/tmp/headwater_bench")
    parser.add_argument(
        "--files-only", action="store_true", help="only the Parquet whole-process rows"
    )
    args = parser.parse_args()
    import os

    from common import child_environment, render_table

    os.environ.update(child_environment(Path(args.workdir)))  # as run.py: bytecode cached

    if args.files_only:
        files = bench_files(Path(args.workdir), args.reps, min(args.rows, 3_000_000))
        print(render_table(files.rows_()))
        print(json.dumps(files.checks))
        raise SystemExit(0)
    result = bench(Path(args.workdir), args.reps, args.rows)
    print(render_table(result.rows()))
    print(json.dumps(result.checks))
