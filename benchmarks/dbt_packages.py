"""A 1,000-model dbt project that uses packages: compile (cold, warm) against `dbt parse`, and
`build` against `dbt build`.

The project is generated here: a package `bench_utils` in `dbt_packages/` (dispatched macros,
a `{% test %}` generic test, cross-database `dbt.*` calls) and 1,000 models in three layers
(staging views on a source table, intermediate tables, marts) that call it, with `unique`,
`not_null` and the package's test on the marts. The source table is created in each warehouse
before the timed runs, with the same rows.

dbt is the anchor: set `HEADWATER_BENCH_DBT` to a `dbt` executable with dbt-duckdb (dbt-core
1.11 installs offline); without it the dbt columns say "n/a". Cold compile removes headwater's
parse cache (`.headwater/cache`) / runs `dbt parse --no-partial-parse`; warm runs again with
nothing changed.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import Row, Samples, fmt_s, headwater_cmd, log, run_process

N_STAGING, N_INTERMEDIATE, N_MARTS = 200, 500, 300
SOURCE_ROWS = 20_000

PACKAGE = {
    "dbt_project.yml": "name: bench_utils\nversion: '1.0.0'\nconfig-version: 2\n",
    "macros/money.sql": """\
        {% macro cents(column) -%}
          {{ return(adapter.dispatch('cents', 'bench_utils')(column)) }}
        {%- endmacro %}
        {% macro default__cents(column) -%}
          ({{ column }} / 100.0)
        {%- endmacro %}
        {% macro duckdb__cents(column) -%}
          cast({{ column }} as decimal(18, 2)) * 0.01
        {%- endmacro %}
        {% macro key(columns) -%}
          {{ dbt.hash(dbt.concat(columns)) }}
        {%- endmacro %}
        {% macro day(column) -%}
          {{ dbt.date_trunc('day', column) }}
        {%- endmacro %}
    """,
    "macros/tests.sql": """\
        {% test not_negative(model, column_name) %}
          select * from {{ model }} where {{ column_name }} < 0
        {% endtest %}
    """,
}


def generate(root: Path) -> Path:
    """Write the project (idempotent: an existing folder is replaced)."""
    if root.exists():
        shutil.rmtree(root)
    files: dict[str, str] = {
        "dbt_project.yml": textwrap.dedent("""\
            name: bench
            version: '1.0'
            config-version: 2
            profile: bench
            models:
              bench:
                staging: {+materialized: view}
                intermediate: {+materialized: table}
                marts: {+materialized: table}
        """),
        "packages.yml": "packages:\n  - local: ../bench_utils\n",
        "models/sources.yml": "version: 2\nsources:\n  - name: raw\n    schema: main\n    tables:\n      - name: events\n",
    }
    for i in range(N_STAGING):
        files[f"models/staging/stg_{i}.sql"] = (
            f"select id, user_id, {{{{ bench_utils.cents('amount') }}}} as amount, "
            f"{{{{ bench_utils.day('ts') }}}} as day, {{{{ bench_utils.key(['id', 'user_id']) }}}} as k, {i} as part\n"
            f"from {{{{ source('raw', 'events') }}}} where id % {N_STAGING} = {i}\n"
        )
    for i in range(N_INTERMEDIATE):
        a, b = i % N_STAGING, (i * 7 + 3) % N_STAGING
        files[f"models/intermediate/int_{i}.sql"] = (
            f"select user_id, day, sum(amount) as amount, count(*) as n\n"
            f"from (select * from {{{{ ref('stg_{a}') }}}} union all select * from {{{{ ref('stg_{b}') }}}})\n"
            f"group by user_id, day\n"
        )
    props = ["version: 2", "models:"]
    for i in range(N_MARTS):
        a, b = i % N_INTERMEDIATE, (i * 11 + 5) % N_INTERMEDIATE
        files[f"models/marts/mart_{i}.sql"] = (
            f"select user_id, sum(amount) as amount, sum(n) as n, {{{{ dbt.dateadd('day', 1, 'max(day)') }}}} as next_day\n"
            f"from (select * from {{{{ ref('int_{a}') }}}} union all select * from {{{{ ref('int_{b}') }}}})\n"
            f"group by user_id\n"
        )
        props += [f"  - name: mart_{i}", "    columns:", "      - name: user_id",
                  "        data_tests: [unique, not_null]", "      - name: amount",
                  "        data_tests: [bench_utils.not_negative]"]  # fmt: skip
    files["models/marts/marts.yml"] = "\n".join(props) + "\n"
    # dbt's profile lives outside the project: headwater would read a profiles.yml beside it and
    # build into dbt's warehouse file
    profiles = root.parent / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    (profiles / "profiles.yml").write_text(
        textwrap.dedent(f"""\
        bench:
          target: dev
          outputs:
            dev:
              type: duckdb
              path: {root / "dbt.duckdb"}
              schema: main
              threads: 4
    """),
        encoding="utf-8",
    )
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    package = root.parent / "bench_utils"
    for rel, text in PACKAGE.items():
        path = package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    installed = root / "dbt_packages" / "bench_utils"
    installed.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        package, installed
    )  # what `deps` leaves (a copy: dbt and headwater read the same)
    return root


def _source_table(db: Path) -> None:
    import duckdb

    db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db))
    con.execute(
        f"create or replace table main.events as select range as id, range % 500 as user_id, "
        f"(range * 37) % 10000 as amount, timestamp '2026-01-01' + to_seconds(range * 60) as ts from range({SOURCE_ROWS})"
    )
    con.close()


@dataclass
class DbtResult:
    hw_cold: Samples
    hw_warm: Samples
    hw_build: Samples
    dbt_cold: Samples | None
    dbt_warm: Samples | None
    dbt_build: Samples | None
    identical: tuple[int, int] | None = None
    """Relations with the same columns, types and content in both warehouses, of all."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "models": N_STAGING + N_INTERMEDIATE + N_MARTS,
            "headwater_compile_cold": self.hw_cold.to_dict(),
            "headwater_compile_warm": self.hw_warm.to_dict(),
            "headwater_build": self.hw_build.to_dict(),
        }
        for key, samples in (
            ("dbt_parse_cold", self.dbt_cold),
            ("dbt_parse_warm", self.dbt_warm),
            ("dbt_build", self.dbt_build),
        ):
            out[key] = samples.to_dict() if samples else None
        out["identical_relations"] = list(self.identical) if self.identical else None
        return out

    def rows(self) -> list[Row]:
        def ratio(hw: Samples, dbt: Samples | None) -> str:
            return f"{dbt.median / hw.median:.1f}x faster than dbt" if dbt else "n/a (no dbt)"

        def anchor(dbt: Samples | None) -> str:
            return f"dbt {fmt_s(dbt.median)}" if dbt else "n/a"

        n = N_STAGING + N_INTERMEDIATE + N_MARTS
        return [
            Row(f"dbt project ({n} models, packages): compile cold", fmt_s(self.hw_cold.median),
                anchor(self.dbt_cold), ratio(self.hw_cold, self.dbt_cold), ">= 3x", self._ok(self.hw_cold, self.dbt_cold, 3)),
            Row(f"dbt project ({n} models, packages): compile warm", fmt_s(self.hw_warm.median),
                anchor(self.dbt_warm), ratio(self.hw_warm, self.dbt_warm), ">= 3x", self._ok(self.hw_warm, self.dbt_warm, 3)),
            Row(f"dbt project ({n} models, packages): build", fmt_s(self.hw_build.median),
                anchor(self.dbt_build), ratio(self.hw_build, self.dbt_build), ">= 5x", self._ok(self.hw_build, self.dbt_build, 5)),
            Row("dbt project: relations identical to dbt's", f"{self.identical[0]} of {self.identical[1]}" if self.identical else "n/a",
                goal="all", ok=None if self.identical is None else self.identical[0] == self.identical[1]),
        ]  # fmt: skip

    @staticmethod
    def _ok(hw: Samples, dbt: Samples | None, factor: float) -> bool | None:
        return None if dbt is None else dbt.median >= factor * hw.median


def bench(workdir: Path, reps: int) -> DbtResult:
    root = generate(workdir / "dbt_packages" / "bench")
    log(f"dbt project: {N_STAGING + N_INTERMEDIATE + N_MARTS} models in {root}")
    hw = headwater_cmd()
    hw_cold, hw_warm, hw_build = Samples(), Samples(), Samples()
    for _ in range(reps):
        shutil.rmtree(root / ".headwater" / "cache", ignore_errors=True)
        hw_cold.add(run_process([*hw, "compile", "--project-dir", str(root)]))
        hw_warm.add(run_process([*hw, "compile", "--project-dir", str(root)]))
    for _ in range(reps):
        db = root / ".headwater" / "warehouse.duckdb"
        for path in db.parent.glob("warehouse.duckdb*"):
            path.unlink()
        _source_table(db)
        hw_build.add(run_process([*hw, "build", "--project-dir", str(root), "--threads", "4"]))
    log(
        f"dbt project: headwater compile cold {hw_cold.median:.2f}s warm {hw_warm.median:.2f}s build {hw_build.median:.2f}s"
    )
    dbt = os.environ.get("HEADWATER_BENCH_DBT") or shutil.which("dbt")
    dbt_cold = dbt_warm = dbt_build = None
    if dbt:
        dbt_cold, dbt_warm, dbt_build = Samples(), Samples(), Samples()
        args = ["--profiles-dir", str(root.parent / "profiles"), "--project-dir", str(root)]
        for _ in range(reps):
            dbt_cold.add(run_process([dbt, "parse", "--no-partial-parse", *args], cwd=root))
            dbt_warm.add(run_process([dbt, "parse", *args], cwd=root))
        for _ in range(max(1, reps - 1)):
            for path in root.glob("dbt.duckdb*"):
                path.unlink()
            _source_table(root / "dbt.duckdb")
            dbt_build.add(run_process([dbt, "build", *args], cwd=root))
        log(
            f"dbt project: dbt parse cold {dbt_cold.median:.2f}s warm {dbt_warm.median:.2f}s build {dbt_build.median:.2f}s"
        )
        identical = compare(root / "dbt.duckdb", root / ".headwater" / "warehouse.duckdb")
        log(f"dbt project: {identical[0]} of {identical[1]} relations identical to dbt's")
    else:
        identical = None
        log("dbt project: no dbt (set HEADWATER_BENCH_DBT): headwater numbers only")
    return DbtResult(hw_cold, hw_warm, hw_build, dbt_cold, dbt_warm, dbt_build, identical)


def compare(a: Path, b: Path) -> tuple[int, int]:
    """(identical, all): relations of ``a`` with the same columns, types, rows and content hash in ``b``."""
    import duckdb

    def fingerprint(path: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
        con = duckdb.connect(str(path), read_only=True)
        try:
            out = {}
            names = con.sql("select table_schema, table_name from information_schema.tables "
                            "where table_schema = 'main' and table_name not like '%__hw_%'").fetchall()  # fmt: skip
            for schema, name in names:
                rel = f'"{schema}"."{name}"'
                cols = tuple(con.sql(f"describe {rel}").fetchall())
                out[(schema, name)] = (
                    cols,
                    *con.sql(f"select count(*), sum(hash(t)) from {rel} t").fetchall()[0],
                )
            return out
        finally:
            con.close()

    left, right = fingerprint(a), fingerprint(b)
    keys = set(left) | set(right)
    return sum(1 for k in keys if left.get(k) == right.get(k)), len(keys)
