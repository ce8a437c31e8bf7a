"""dbt-duckdb's own conventions: sources read from files with `external_location`, Python models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from tests.conftest import query, write_files

PROJECT = "name: lake\nversion: '1.0'\nconfig-version: 2\n"


def test_external_location_sources(tmp_path: Path, cli: Callable[..., object], monkeypatch) -> None:
    root = tmp_path / "lake"
    write_files(
        root,
        {
            "dbt_project.yml": PROJECT,
            "data/orders.csv": "id,amount\n1,10\n2,20\n",
            "data/items.csv": "id\n7\n",
            "models/sources.yml": """\
                version: 2
                sources:
                  - name: files
                    meta:
                      external_location: "data/{name}.csv"
                    tables:
                      - name: orders
                      - name: items
                        config:
                          external_location: "read_csv('data/items.csv', header = true)"
                  - name: plugged
                    meta: {plugin: excel}
                    tables: [{name: sheet}]
            """,
            "models/totals.sql": "select sum(amount) as total, (select count(*) from {{ source('files', 'items') }}) as items from {{ source('files', 'orders') }}\n",
        },
    )
    monkeypatch.chdir(
        root
    )  # external locations are relative to where the warehouse runs, as in dbt-duckdb
    res = cli("build", "--project-dir", root, "-s", "totals")
    assert res.code == 0, res.out + res.err  # type: ignore[attr-defined]
    assert "plugin `excel`" in res.err  # type: ignore[attr-defined]  # named, not silently ignored
    assert query(root, "select total, items from main.totals") == [(30, 1)]


def test_python_model_builds_from_a_ref(tmp_path: Path, cli: Callable[..., object]) -> None:
    root = tmp_path / "lake"
    write_files(
        root,
        {
            "dbt_project.yml": PROJECT,
            "models/base.sql": "select 1 as id, 10 as amount union all select 2, 20\n",
            "models/doubled.py": """\
                def model(dbt, session):
                    dbt.config(materialized="table")
                    base = dbt.ref("base")
                    return session.sql(f"select id, amount * 2 as amount from base").arrow() if False else base.project("id, amount * 2 as amount")
            """,
            "models/after.sql": "select sum(amount) as total from {{ ref('doubled') }}\n",
        },
    )
    res = cli("build", "--project-dir", root)
    assert res.code == 0, res.out + res.err  # type: ignore[attr-defined]
    assert query(root, "select total from main.after") == [(60,)]


def test_profiles_yml_gives_the_targets(
    tmp_path: Path, cli: Callable[..., object], monkeypatch
) -> None:
    root = tmp_path / "lake"
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    write_files(
        root,
        {
            "dbt_project.yml": PROJECT + "profile: lakehouse\n",
            "profiles.yml": """\
                lakehouse:
                  target: dev
                  outputs:
                    dev:
                      type: duckdb
                      path: "{{ env_var('LAKE_DB', 'lake_dev.duckdb') }}"
                      schema: analytics
                      threads: 2
                      extensions: [json]
                    other:
                      type: duckdb
                      path: lake_other.duckdb
                      attach: [{path: x.duckdb}]
            """,
            "models/m.sql": "select '{{ target.database }}' as db, '{{ target.schema }}' as s",
        },
    )
    res = cli("build", "--project-dir", root)
    assert res.code == 0, res.out + res.err  # type: ignore[attr-defined]
    con = duckdb.connect(str(root / "lake_dev.duckdb"), read_only=True)
    assert con.sql("select db, s from analytics.m").fetchall() == [("lake_dev", "analytics")]
    con.close()
    res = cli("build", "--project-dir", root, "--target", "other")
    assert res.code == 2 and "`attach`" in res.err  # type: ignore[attr-defined]


def test_changes_to_profiles_and_project_env_vars_reach_a_cached_project(
    tmp_path: Path, cli: Callable[..., object], monkeypatch
) -> None:
    root = tmp_path / "lake"
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    monkeypatch.setenv("LAKE_SUFFIX", "a")
    profile = "lakehouse:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: lake.duckdb\n      schema: {schema}\n"
    write_files(
        root,
        {
            "dbt_project.yml": PROJECT
            + "profile: lakehouse\nmodels:\n  lake:\n    +schema: \"{{ env_var('LAKE_SUFFIX') }}\"\n",
            "profiles.yml": profile.format(schema="one"),
            "models/m.sql": "select 1 as x",
        },
    )

    def schemas() -> set[str]:
        con = duckdb.connect(str(root / "lake.duckdb"), read_only=True)
        try:
            return {
                r[0]
                for r in con.sql(
                    "select table_schema from information_schema.tables where table_name = 'm'"
                ).fetchall()
            }
        finally:
            con.close()

    assert cli("build", "--project-dir", root).code == 0  # type: ignore[attr-defined]
    assert schemas() == {"one_a"}
    (root / "profiles.yml").write_text(profile.format(schema="two"), encoding="utf-8")
    assert cli("build", "--project-dir", root).code == 0  # type: ignore[attr-defined]
    monkeypatch.setenv("LAKE_SUFFIX", "b")
    assert cli("build", "--project-dir", root).code == 0  # type: ignore[attr-defined]
    assert schemas() == {"one_a", "two_a", "two_b"}
