"""A dbt project with packages runs unchanged: namespaces, dispatch, package tests and models,
scoped vars, schema macros, hooks and introspection."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.context import Context
from headwater.errors import HeadwaterError
from tests.conftest import query


def test_build_uses_packages_dispatch_vars_and_schema_macro(shop: Callable[..., Path], cli) -> None:
    root = shop()
    res = cli("build", "--project-dir", root)
    assert res.code == 0, res.out + res.err
    # seeds land in `raw` (the project's generate_schema_name), not main_raw; `extra` is disabled by Jinja
    assert query(root, "select count(*) from raw.orders") == [(3,)]
    tables = {
        r[0]
        for r in query(
            root, "select table_schema || '.' || table_name from information_schema.tables"
        )
    }
    assert "raw.extra_rows" not in tables
    rows = query(
        root,
        "select id, order_day, units, currency, region, greeting from main.stg_orders order by id",
    )
    # duckdb__to_units (a cast to integer) beats default__to_units; the root's `default__greeting`
    # wins through `dispatch: search_order: [shop, toolkit]`
    assert [r[2] for r in rows] == [125, 30, 72] or [r[2] for r in rows] == [125, 30, 73]
    assert rows[0][1].isoformat().startswith("2026-01-03")
    assert {r[3] for r in rows} == {"EUR"} and {r[4] for r in rows} == {"north"}
    assert {r[5] for r in rows} == {"hello from shop"}
    # the package's model, configured by the root's `models: toolkit: +schema: kit`; its vars are
    # the package's own (`kit_only`), overridden by the root's `vars: toolkit:` scope (`scale`)
    assert query(root, "select kit, scale from main_kit.kit_numbers") == [(7, 10)]
    assert query(root, "select kit from main.kit_copy") == [(7,)]


def test_package_generic_tests_run_and_fail(shop: Callable[..., Path], cli) -> None:
    root = shop(
        {
            "seeds/orders.csv": "id,customer,amount,ordered_at\n1,ann,-2,2026-01-03 10:00:00\n2, ,3,2026-01-04 11:30:00\n"
        }
    )
    res = cli("build", "--project-dir", root, "-s", "orders", "stg_orders")
    assert res.code == 1, res.out + res.err
    out = res.out + res.err
    assert "is_positive" in out and "not_empty_string" in out
    assert "1 failing rows" in out or "1 failing row" in out


def test_introspection_is_rendered_after_parents_are_built(shop: Callable[..., Path], cli) -> None:
    root = shop()
    assert cli("build", "--project-dir", root).code == 0
    cols = [
        r[0]
        for r in query(
            root,
            "select column_name from information_schema.columns where table_name = 'orders_wide' order by ordinal_position",
        )
    ]
    assert cols == ["id", "customer", "amount", "order_day", "units", "currency"]
    # a new column upstream appears in the introspecting model on the next build
    (root / "models/staging/stg_orders.sql").write_text(
        (root / "models/staging/stg_orders.sql")
        .read_text()
        .replace("from {{ ref('orders') }}", ", 1 as added from {{ ref('orders') }}")
    )
    assert cli("build", "--project-dir", root).code == 0
    cols = [
        r[0]
        for r in query(
            root,
            "select column_name from information_schema.columns where table_name = 'orders_wide' order by ordinal_position",
        )
    ]
    assert cols[-1] == "added" and "greeting" not in cols


def test_hooks_run(shop: Callable[..., Path], cli) -> None:
    root = shop()
    assert cli("build", "--project-dir", root).code == 0
    log = query(root, "select event, n from main.run_log")
    assert ("customers built", 2) in log
    ends = [n for e, n in log if e == "end"]
    assert len(ends) == 1 and ends[0] > 5  # on-run-end saw the run's results


def test_missing_package_names_the_fix(shop: Callable[..., Path], cli) -> None:
    root = shop(packages=False)
    res = cli("ls", "--project-dir", root)
    assert res.code == 0  # listing still works
    assert "headwater deps" in res.err
    res = cli("build", "--project-dir", root, "-s", "orders")
    assert res.code == 0 and "headwater deps" in res.err  # reported; the unaffected node builds
    assert query(root, "select count(*) from raw.orders") == [(3,)]
    res = cli("build", "--project-dir", root)
    assert res.code == 2 and "toolkit" in res.err  # the models that use the package do not


def test_problems_are_reported_together_and_the_rest_runs(shop: Callable[..., Path], cli) -> None:
    root = shop(
        {
            "models/marts/bad_one.sql": "select {{ toolkit.broken_helper() }} as x",
            "models/marts/bad_two.sql": "select {{ var('nope') }} as x",
        }
    )
    res = cli("compile", "--project-dir", root)
    assert res.code == 2
    # both problems at once; the one inside the package macro points at the macro's file and line
    assert "dbt_packages/toolkit/macros/money.sql:" in res.err and "bad_one" in res.err
    assert "models/marts/bad_two.sql" in res.err and "nope" in res.err
    res = cli("build", "--project-dir", root, "-s", "+customers")
    assert res.code == 0, res.out + res.err
    res = cli("build", "--project-dir", root)
    assert res.code == 2
    assert query(root, "select count(*) from main.customers") == [(2,)]


def test_macro_error_line_is_the_macro_line(shop: Callable[..., Path]) -> None:
    root = shop({"models/marts/bad_one.sql": "select {{ toolkit.broken_helper() }} as x"})
    ctx = Context(root)
    with pytest.raises(HeadwaterError) as info:
        ctx.compile(["bad_one"])
    text = info.value.render()
    macro_lines = (root / "dbt_packages/toolkit/macros/money.sql").read_text().splitlines()
    line = next(i for i, t in enumerate(macro_lines, 1) if "this_is_not_defined" in t)
    assert f"dbt_packages/toolkit/macros/money.sql:{line}" in text


def test_versioned_models(shop: Callable[..., Path], cli) -> None:
    root = shop(
        {
            "models/marts/dim_v1.sql": "select 1 as v",
            "models/marts/dim_v2.sql": "select 2 as v",
            "models/marts/versions.yml": """\
                version: 2
                models:
                  - name: dim
                    latest_version: 1
                    versions:
                      - v: 1
                      - v: 2
            """,
            "models/marts/uses_latest.sql": "select v from {{ ref('dim') }}",
            "models/marts/uses_v2.sql": "select v from {{ ref('dim', v=2) }}",
        }
    )
    res = cli("build", "--project-dir", root, "-s", "+uses_latest", "+uses_v2")
    assert res.code == 0, res.out + res.err
    assert query(root, "select v from main.uses_latest") == [(1,)]
    assert query(root, "select v from main.uses_v2") == [(2,)]
    assert query(root, "select v from main.dim_v2") == [(2,)]  # dbt's alias: <name>_v<version>


def test_custom_materialization_is_an_error(shop: Callable[..., Path], cli) -> None:
    root = shop(
        {
            "macros/mat.sql": "{% materialization fancy, adapter='duckdb' %}{% endmaterialization %}",
            "models/marts/m.sql": "{{ config(materialized='fancy') }} select 1 as x",
        }
    )
    res = cli("compile", "--project-dir", root, "-s", "m")
    assert res.code == 2
    assert "custom materialization `fancy`" in res.err


def test_project_scoped_var_and_cli_override(shop: Callable[..., Path]) -> None:
    root = shop()
    ctx = Context(root, vars={"region": "south"})
    node = next(n for n in ctx.compile(["stg_orders"]) if n.name == "stg_orders")
    assert "'south' as region" in (node.compiled_sql or "")
    assert os.path.exists(root / "dbt_packages")


UNIT_TESTS = """\
version: 2
unit_tests:
  - name: totals_per_customer
    model: customers
    given:
      - input: ref('stg_orders')
        rows:
          - {customer: ann, amount: 2}
          - {customer: ann, amount: 3}
          - {customer: bob, amount: 1}
    expect:
      rows:
        - {customer: ann, total: 5, orders: 2}
        - {customer: bob, total: 1, orders: 1}
  - name: csv_and_sql_formats
    model: customers
    given:
      - input: ref('stg_orders')
        format: sql
        rows: |
          select 'cy' as customer, 4.5 as amount
    expect:
      format: csv
      rows: |
        customer,total
        cy,4.5
  - name: a_wrong_expectation
    model: customers
    config: {tags: [wrong]}
    given:
      - input: ref('stg_orders')
        rows: [{customer: ann, amount: 2}]
    expect:
      rows: [{customer: ann, total: 3}]
"""


def test_unit_tests_pass_and_fail_with_a_diff(shop: Callable[..., Path], cli) -> None:
    root = shop({"models/marts/unit.yml": UNIT_TESTS})
    assert cli("build", "--project-dir", root, "-s", "+stg_orders").code == 0
    res = cli("test", "--project-dir", root, "-s", "customers", "--exclude", "tag:wrong")
    assert res.code == 0, res.out + res.err
    assert "checks: 2 pass" in res.out  # totals_per_customer and csv_and_sql_formats
    res = cli("test", "--project-dir", root, "-s", "tag:wrong")
    assert res.code == 1
    assert "1 expected row(s) missing, 1 unexpected row(s)" in res.out
    # in build, a failing unit test keeps the model from being published
    res = cli("build", "--project-dir", root, "-s", "customers")
    assert res.code == 1 and "not published" in res.out


def test_sql_header_runs_before_the_model(shop: Callable[..., Path], cli) -> None:
    root = shop(
        {
            "models/marts/with_header.sql": """\
                {% call set_sql_header(config) %}
                create or replace temporary macro twice(x) as x * 2
                {% endcall %}
                select twice(21) as answer
            """
        }
    )
    res = cli("build", "--project-dir", root, "-s", "with_header")
    assert res.code == 0, res.out + res.err
    assert query(root, "select answer from main.with_header") == [(42,)]


def test_config_by_node_name_in_the_project_file(shop: Callable[..., Path], cli) -> None:
    project = (
        __import__("tests.dbt.conftest", fromlist=["PROJECT"]).PROJECT
        .replace("    marts:\n      +materialized: table\n",
                 "    marts:\n      +materialized: table\n      kit_copy:\n        +materialized: view\n")
        .replace("    extra:\n", "    orders:\n      +column_types: {amount: varchar}\n    extra:\n")
    )  # fmt: skip
    root = shop(project=project)
    res = cli("build", "--project-dir", root, "-s", "orders", "kit_copy", "+kit_copy")
    assert res.code == 0, res.out + res.err
    kinds = dict(
        query(
            root,
            "select table_name, table_type from information_schema.tables where table_name in ('kit_copy', 'orders')",
        )
    )
    assert kinds["kit_copy"] == "VIEW"
    assert query(
        root,
        "select data_type from information_schema.columns where table_name = 'orders' and column_name = 'amount'",
    ) == [("VARCHAR",)]


def test_public_project_conventions(shop: Callable[..., Path], cli) -> None:
    """What public projects rely on: private (`_`) package macros, `return()` inside a file,
    lenient undefined arguments, `execute` in tests, `fail_calc`, `target` in the project file,
    properties and generic tests under tests/, `persist_docs`, dbt's test names."""
    project = (
        __import__("tests.dbt.conftest", fromlist=["PROJECT"]).PROJECT
        .replace("    marts:\n      +materialized: table\n",
                 "    marts:\n      +materialized: \"{{ 'view' if target.name == 'prod' else 'table' }}\"\n"
                 "      +persist_docs: {relation: true, columns: true}\n")
    )  # fmt: skip
    root = shop(
        {
            "dbt_packages/toolkit/macros/private.sql": """\
                {% macro _double(x) %}{{ x }} * 2{% endmacro %}
                {% macro number() %}{{ return(21) }}{% endmacro %}
                {% macro doubled_number() %}{{ toolkit._double(number()) }}{% endmacro %}
                {% macro maybe_group(group_by) %}{{ group_by | join(', ') if group_by else 'no groups' }}{% endmacro %}
            """,
            "models/marts/private_use.sql": "select {{ toolkit.doubled_number() }} as answer, '{{ toolkit.maybe_group() }}' as g",
            "tests/generic/column_count_is.sql": """\
                {% test column_count_is(model, value) %}
                {%- if execute -%}
                select 1 as failure where {{ adapter.get_columns_in_relation(model) | length }} != {{ value }}
                {%- endif -%}
                {% endtest %}
            """,
            "tests/private_use.yml": """\
                version: 2
                models:
                  - name: private_use
                    description: the answer
                    columns:
                      - name: answer
                        description: always 42
                        data_tests:
                          - unique:
                              config:
                                fail_calc: "cast(count(*) > 5 as int)"
                    data_tests:
                      - column_count_is: {value: 2}
            """,
        },
        project=project,
    )
    res = cli("build", "--project-dir", root, "-s", "private_use")
    assert res.code == 0, res.out + res.err
    assert "checks: 2 pass" in res.out
    assert query(root, "select answer, g from main.private_use") == [(42, "no groups")]
    assert query(root, "select comment from duckdb_tables() where table_name = 'private_use'") == [
        ("the answer",)
    ]
    assert query(
        root,
        "select comment from duckdb_columns() where table_name = 'private_use' and column_name = 'answer'",
    ) == [("always 42",)]
    names = cli("ls", "--project-dir", root, "-s", "private_use", "--resource-type", "test").out
    assert "unique_private_use_answer" in names and "column_count_is_private_use_2" in names


def test_checks_reading_each_other_do_not_deadlock(shop: Callable[..., Path], cli) -> None:
    """Two models whose checks read each other: before, neither unit could start ("not reached")."""
    root = shop(
        {
            "models/marts/left_side.sql": "select 1 as id",
            "models/marts/right_side.sql": "select 1 as id",
            "models/marts/sides.yml": """\
                version: 2
                models:
                  - name: left_side
                    columns:
                      - name: id
                        data_tests: [{relationships: {to: "ref('right_side')", field: id}}]
                  - name: right_side
                    columns:
                      - name: id
                        data_tests: [{relationships: {to: "ref('left_side')", field: id}}]
            """,
        }
    )
    res = cli("build", "--project-dir", root, "-s", "left_side", "right_side")
    assert res.code == 0, res.out + res.err
    assert "checks: 2 pass" in res.out and "skipped" not in res.out


def test_test_configs_render_and_duplicate_names_stay_dbts(shop: Callable[..., Path], cli) -> None:
    root = shop(
        {
            "models/marts/dup.sql": "select 1 as id, 'a' as c",
            "models/marts/dup.yml": """\
                version: 2
                models:
                  - name: dup
                    columns:
                      - name: id
                        data_tests:
                          - unique:
                              config:
                                enabled: "{{ target.type == 'bigquery' }}"
                      - name: c
                        data_tests:
                          - accepted_values: {values: ['a', 'b-']}
                          - accepted_values: {values: ['a', 'b+']}
            """,
        }
    )
    listed = cli("ls", "--project-dir", root, "-s", "dup", "--resource-type", "test").out.split()
    assert "unique_dup_id" not in listed  # disabled by its rendered config, as in dbt
    assert listed.count("accepted_values_dup_c__a__b_") == 2  # dbt keeps both names
    res = cli("build", "--project-dir", root, "-s", "accepted_values_dup_c__a__b_", "dup")
    assert res.code == 0 and "checks: 2 pass" in res.out, res.out + res.err


def test_incremental_predicates_limit_what_is_replaced(shop: Callable[..., Path], cli) -> None:
    model = """\
        {{ config(materialized='incremental', unique_key='id', incremental_strategy='delete+insert',
                  incremental_predicates=["DBT_INTERNAL_DEST.day >= " ~ var('since', 0)]) }}
        select * from (values (1, {{ var('day', 1) }}, '{{ var('v', 'a') }}')) as t(id, day, v)
    """
    root = shop({"models/marts/inc.sql": model})
    assert cli("build", "--project-dir", root, "-s", "inc").code == 0
    # the existing row (day 1) is older than the predicate allows: it is kept, the new one added
    res = cli("build", "--project-dir", root, "-s", "inc", "--vars", "{day: 2, v: b, since: 2}")
    assert res.code == 0, res.out + res.err
    assert query(root, "select day, v from main.inc order by day") == [(1, "a"), (2, "b")]
    # without the predicate's limit, the key's row is replaced
    res = cli("build", "--project-dir", root, "-s", "inc", "--vars", "{day: 3, v: c, since: 0}")
    assert res.code == 0, res.out + res.err
    assert query(root, "select day, v from main.inc order by day") == [(3, "c")]


def test_grants_are_named_as_not_applied(shop: Callable[..., Path], cli) -> None:
    root = shop(
        {"models/marts/granted.sql": "{{ config(grants={'select': ['analyst']}) }} select 1 as x"}
    )
    res = cli("ls", "--project-dir", root, "-s", "granted")
    assert res.code == 0 and "`grants` of `granted` not applied" in res.err


def test_relations_render_with_their_database_as_dbt_duckdb(shop: Callable[..., Path], cli) -> None:
    """dbt-duckdb's relations carry the database (`dbt_utils.union_relations` stores them as data)."""
    root = shop(
        {
            "models/marts/rel_name.sql": "{% if execute %}{% endif %}select '{{ ref(\"orders\") }}' as rel"
        }
    )
    assert cli("build", "--project-dir", root, "-s", "orders", "rel_name").code == 0
    assert query(root, "select rel from main.rel_name") == [('"warehouse"."raw"."orders"',)]


def test_the_project_overrides_a_package_macro_by_dispatch(shop: Callable[..., Path], cli) -> None:
    """dbt searches the root project first for `adapter.dispatch('x', '<installed package>')`."""
    root = shop(
        {
            "macros/units.sql": "{% macro default__to_units(column) %}({{ column }} * 1000){% endmacro %}"
        }
    )
    assert cli("build", "--project-dir", root, "-s", "orders", "stg_orders").code == 0
    assert query(root, "select units from main.stg_orders where id = 2") == [(3000,)]


def test_introspecting_ephemerals_and_unit_tests_render_when_they_run(
    shop: Callable[..., Path], cli
) -> None:
    root = shop(
        {
            "models/marts/eph.sql": "{{ config(materialized='ephemeral') }} select {% if execute %}1{% else %}0{% endif %} as flag",
            "models/marts/reads_eph.sql": "select * from {{ ref('eph') }}",
            "models/marts/flagged.sql": "select {% if execute %}1{% else %}0{% endif %} as flag, id from {{ ref('orders') }}",
            "models/marts/flagged.yml": """\
                version: 2
                unit_tests:
                  - name: flag_is_set_when_running
                    model: flagged
                    given:
                      - input: ref('orders')
                        rows: [{id: 7}]
                    expect:
                      rows: [{flag: 1, id: 7}]
            """,
        }
    )
    res = cli("build", "--project-dir", root, "-s", "orders", "reads_eph", "flagged")
    assert res.code == 0, res.out + res.err
    assert query(root, "select flag from main.reads_eph") == [(1,)]
    assert query(root, "select flag from main.flagged") == [(1,)] * 3
