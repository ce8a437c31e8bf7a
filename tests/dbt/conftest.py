"""A dbt project with two installed packages, written by the tests (no fetched code).

`shop` is the root project; `toolkit` and `calendar_pkg` sit in `dbt_packages/` as `dbt deps`
leaves them. Together they use the mechanisms real projects rely on: namespaced macros, dispatch
with adapter prefixes and a `dispatch:` search order, a package's `{% test %}` generic tests and
models, project-scoped vars, Jinja in `dbt_project.yml`, a schema macro, hooks, introspection.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import write_files

PROJECT = """\
name: shop
version: "1.0"
config-version: 2
profile: shop
dbt-cloud:
  project-id: 1
require-dbt-version: ">=1.5.0"
model-paths: ["models"]
seed-paths: ["seeds"]
macro-paths: ["macros"]
clean-targets: ["target", "dbt_packages"]
dispatch:
  - macro_namespace: toolkit
    search_order: [shop, toolkit]
vars:
  currency: EUR
  units_factor: 10
  shop:
    region: north
  toolkit:
    scale: 10
  load_extra: false
on-run-start:
  - "create table if not exists main.run_log (event varchar, n integer)"
on-run-end:
  - "insert into main.run_log values ('end', {{ results | length }})"
seeds:
  shop:
    +schema: raw
    extra:
      +enabled: "{{ var('load_extra', false) }}"
models:
  shop:
    staging:
      +materialized: view
    marts:
      +materialized: table
  toolkit:
    +schema: kit
"""

TOOLKIT = {
    "dbt_packages/toolkit/dbt_project.yml": """\
        name: toolkit
        version: "0.3.0"
        config-version: 2
        vars:
          scale: 1
          kit_only: 7
        models:
          toolkit:
            +materialized: view
    """,
    "dbt_packages/toolkit/macros/money.sql": """\
        {% macro to_units(column) -%}
          {{ return(adapter.dispatch('to_units', 'toolkit')(column)) }}
        {%- endmacro %}

        {# var() resolves in the scope of the node being rendered, as in dbt #}
        {% macro default__to_units(column) -%}
          ({{ column }} * {{ var('units_factor') }})
        {%- endmacro %}

        {% macro duckdb__to_units(column) -%}
          cast({{ column }} * {{ var('units_factor') }} as integer)
        {%- endmacro %}

        {% macro greeting() -%}
          {{ return(adapter.dispatch('greeting', 'toolkit')()) }}
        {%- endmacro %}

        {% macro default__greeting() -%}
          'hello from toolkit'
        {%- endmacro %}

        {% macro star_except(relation, skip) -%}
          {%- set cols = adapter.get_columns_in_relation(relation) -%}
          {%- if not execute -%}*{%- else -%}
          {%- for col in cols if col.name not in skip -%}
            {{ adapter.quote(col.name) }}{{ ", " if not loop.last }}
          {%- endfor -%}
          {%- endif -%}
        {%- endmacro %}

        {% macro broken_helper() -%}
          {{ this_is_not_defined() }}
        {%- endmacro %}
    """,
    "dbt_packages/toolkit/macros/tests.sql": """\
        {% test is_positive(model, column_name) %}
          select * from {{ model }} where {{ column_name }} <= 0
        {% endtest %}

        {% test has_rows_over(model, column_name, threshold) %}
          select 1 as failure from (select count(*) as n from {{ model }} where {{ column_name }} > {{ threshold }}) c
          where n = 0
        {% endtest %}
    """,
    "dbt_packages/toolkit/models/kit_numbers.sql": """\
        select {{ var('kit_only') }} as kit, {{ var('scale') }} as scale
    """,
}

CALENDAR = {
    "dbt_packages/calendar_pkg/dbt_project.yml": """\
        name: calendar_pkg
        version: "1.0.0"
        config-version: 2
    """,
    "dbt_packages/calendar_pkg/macros/days.sql": """\
        {% macro day_of(column) -%}
          {{ dbt.date_trunc('day', column) }}
        {%- endmacro %}
    """,
}

ROOT = {
    "packages.yml": """\
        packages:
          - package: acme/toolkit
            version: [">=0.3.0", "<0.4.0"]
          - local: ../calendar_pkg
    """,
    "macros/generate_schema_name.sql": """\
        {% macro generate_schema_name(custom_schema_name, node) -%}
          {%- if node.resource_type == 'seed' -%}
            {{ custom_schema_name | trim }}
          {%- elif custom_schema_name is none -%}
            {{ target.schema }}
          {%- else -%}
            {{ target.schema }}_{{ custom_schema_name | trim }}
          {%- endif -%}
        {%- endmacro %}
    """,
    "macros/overrides.sql": """\
        {# the project overrides a package macro through the dispatch search order #}
        {% macro default__greeting() -%}
          'hello from shop'
        {%- endmacro %}

        {% test not_empty_string(model, column_name) %}
          select * from {{ model }} where trim({{ column_name }}) = ''
        {% endtest %}
    """,
    "seeds/orders.csv": "id,customer,amount,ordered_at\n1,ann,12.5,2026-01-03 10:00:00\n2,bob,3,2026-01-04 11:30:00\n3,ann,7.25,2026-01-04 18:00:00\n",
    "seeds/extra/extra_rows.csv": "id\n1\n",
    "models/staging/stg_orders.sql": """\
        select id, customer, amount, {{ calendar_pkg.day_of('ordered_at') }} as order_day,
               {{ toolkit.to_units('amount') }} as units, '{{ var("currency") }}' as currency,
               '{{ var("region") }}' as region, {{ toolkit.greeting() }} as greeting
        from {{ ref('orders') }}
    """,
    "models/staging/schema.yml": """\
        version: 2
        models:
          - name: stg_orders
            columns:
              - name: units
                data_tests:
                  - toolkit.is_positive
              - name: customer
                data_tests:
                  - not_empty_string
                  - toolkit.has_rows_over:
                      arguments:
                        threshold: "'a'"
    """,
    "models/marts/customers.sql": """\
        {{ config(post_hook="insert into main.run_log values ('customers built', (select count(*) from {{ this }}))") }}
        select customer, sum(amount) as total, count(*) as orders
        from {{ ref('stg_orders') }}
        group by customer
    """,
    "models/marts/orders_wide.sql": """\
        select {{ toolkit.star_except(ref('stg_orders'), ['greeting', 'region']) }}
        from {{ ref('stg_orders') }}
    """,
    "models/marts/kit_copy.sql": "select * from {{ ref('toolkit', 'kit_numbers') }}\n",
}


@pytest.fixture
def shop(tmp_path: Path) -> Callable[..., Path]:
    """Write the `shop` project (plus ``extra`` files); return its root."""

    def make(
        extra: dict[str, str] | None = None, project: str = PROJECT, packages: bool = True
    ) -> Path:
        root = tmp_path / "shop"
        files = {
            "dbt_project.yml": project,
            **ROOT,
            **(TOOLKIT if packages else {}),
            **(CALENDAR if packages else {}),
        }
        write_files(root, {**files, **(extra or {})})
        return root

    return make
