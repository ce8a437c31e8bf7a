from __future__ import annotations

import itertools

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.errors import CompilationError, CycleError, NodeNotFoundError
from headwater.manifest import load_manifest
from tests.conftest import BASE_PROJECT


def compile_project(root, vars=None):
    return load_manifest(root, None, vars or {}).nodes


def test_ref_source_var_env_var_this(make_project, monkeypatch) -> None:
    monkeypatch.setenv("HW_TEST_REGION", "eu")
    root = make_project(
        {
            "sources.yml": "version: 2\nsources:\n  - name: shop\n    schema: raw\n    tables:\n      - name: orders\n",
            "models/staging/stg.sql": "select * from {{ source('shop', 'orders') }} where region = '{{ env_var('HW_TEST_REGION') }}'",
            "models/marts/m.sql": (
                "{{ config(schema='analytics', alias='m_final') }}\n"
                "select *, '{{ this }}' as me, {{ var('n', 3) }} as n, '{{ env_var('HW_MISSING', 'dflt') }}' as d "
                "from {{ ref('stg') }}"
            ),
        }
    )
    nodes = compile_project(root)
    assert nodes["model.t.stg"].compiled_sql == 'select * from "raw"."orders" where region = \'eu\''
    m = nodes["model.t.m"]
    assert m.relation.render(quote=False) == "main_analytics.m_final"
    assert '\'"main_analytics"."m_final"\' as me' in m.compiled_sql
    assert "3 as n" in m.compiled_sql and "'dflt' as d" in m.compiled_sql
    assert m.depends_on == ["model.t.stg"]
    assert nodes["model.t.stg"].depends_on == ["source.t.shop.orders"]


def test_cli_vars_override_project_vars(make_project) -> None:
    root = make_project(
        {"models/a.sql": "select {{ var('x') }} as x"}, BASE_PROJECT + "vars:\n  x: 1\n"
    )
    assert compile_project(root)["model.t.a"].compiled_sql == "select 1 as x"
    assert compile_project(root, {"x": 7})["model.t.a"].compiled_sql == "select 7 as x"


def test_missing_var_and_env_var(make_project) -> None:
    root = make_project(
        {"models/a.sql": "select {{ var('colour') }}"}, BASE_PROJECT + "vars:\n  color: 1\n"
    )
    with pytest.raises(CompilationError, match="did you mean `color`"):
        compile_project(root)
    root = make_project({"models/a.sql": "select '{{ env_var('HW_NOPE_X') }}'"}, name="p2")
    with pytest.raises(CompilationError, match="HW_NOPE_X"):
        compile_project(root)


def test_macros_are_callable_and_can_call_each_other(make_project) -> None:
    root = make_project(
        {
            "macros/a.sql": "{% macro cents(col) %}({{ col }} / 100.0){% endmacro %}",
            "macros/b.sql": "{% macro dollars(col) %}round({{ cents(col) }}, 2){% endmacro %}",
            "models/a.sql": "select {{ dollars('amount') }} as usd from (select 1234 as amount)",
        }
    )
    sql = compile_project(root)["model.t.a"].compiled_sql
    assert sql == "select round((amount / 100.0), 2) as usd from (select 1234 as amount)"
    assert duckdb.sql(sql).fetchall() == [(12.34,)]


def test_unknown_ref_names_file_line_and_closest(make_project) -> None:
    root = make_project(
        {"models/orders.sql": "select 1 as x", "models/b.sql": "select 1\nfrom {{ ref('ordrs') }}"}
    )
    with pytest.raises(NodeNotFoundError) as exc:
        compile_project(root)
    assert exc.value.location.path == "models/b.sql"
    assert exc.value.location.line == 2
    assert "did you mean `orders`" in str(exc.value)
    assert exc.value.exit_code == 2


def test_cycle_through_refs(make_project) -> None:
    root = make_project(
        {
            "models/a.sql": "select * from {{ ref('c') }}",
            "models/b.sql": "select * from {{ ref('a') }}",
            "models/c.sql": "select * from {{ ref('b') }}",
        }
    )
    with pytest.raises(CycleError) as exc:
        compile_project(root)
    assert (
        "a -> b -> c -> a" in str(exc.value)
        or "b -> c -> a -> b" in str(exc.value)
        or "c -> a -> b -> c" in str(exc.value)
    )


def test_sql_parse_error_has_model_and_line(make_project) -> None:
    root = make_project({"models/bad.sql": "select a,\n  b\nfrom from where"})
    with pytest.raises(CompilationError) as exc:
        compile_project(root)
    assert exc.value.node == "bad"
    assert exc.value.location.path == "models/bad.sql"
    assert exc.value.location.line == 3


def test_engine_specific_sql_that_sqlglot_cannot_parse_is_accepted(make_project) -> None:
    # valid DuckDB, outside sqlglot's grammar: the engine's own parser decides
    root = make_project({"models/a.sql": "from range(3) select range * 2 as x"})
    assert compile_project(root)["model.t.a"].compiled_sql.startswith("from range(3)")


def test_table_names_in_sql_become_edges(make_project) -> None:
    root = make_project(
        {
            "models/staging/base.sql": "select 1 as id",
            "models/marts/direct.sql": 'select * from main.base join "main"."base" b2 using (id)',
        }
    )
    assert compile_project(root)["model.t.direct"].depends_on == ["model.t.base"]


def test_ephemeral_models_are_inlined_as_ctes(make_project) -> None:
    root = make_project(
        {
            "models/e1.sql": "{{ config(materialized='ephemeral') }}select 1 as id",
            "models/e2.sql": "{{ config(materialized='ephemeral') }}select id + 1 as id from {{ ref('e1') }}",
            "models/final.sql": "with own as (select * from {{ ref('e2') }}) select * from own",
            "models/plain.sql": "select * from {{ ref('e2') }} union all select * from {{ ref('e1') }}",
        }
    )
    nodes = compile_project(root)
    assert duckdb.sql(nodes["model.t.final"].compiled_sql).fetchall() == [(2,)]
    assert sorted(duckdb.sql(nodes["model.t.plain"].compiled_sql).fetchall()) == [(1,), (2,)]
    assert nodes["model.t.final"].relation is not None


def test_disabled_models_are_dropped(make_project) -> None:
    root = make_project(
        {"models/a.sql": "{{ config(enabled=false) }}select 1", "models/b.sql": "select 2"}
    )
    assert set(compile_project(root)) == {"model.t.b"}


def test_jinja_syntax_error_line(make_project) -> None:
    root = make_project({"models/a.sql": "select 1\n{% if x %}\nselect 2"})
    with pytest.raises(CompilationError) as exc:
        compile_project(root)
    assert exc.value.location.path == "models/a.sql"
    assert exc.value.location.line == 2  # the unclosed block


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), min_size=1, max_size=6, unique=True
    ),
    st.integers(min_value=-1000, max_value=1000),
)
def test_rendered_refs_always_compile_to_runnable_sql(tmp_path_factory, names, value) -> None:
    """Whatever the model names, a chain of refs compiles to SQL DuckDB runs, giving the seed value."""
    root = tmp_path_factory.mktemp("p")
    (root / "models").mkdir()
    (root / "headwater.yml").write_text(BASE_PROJECT)
    (root / "models" / f"{names[0]}.sql").write_text(
        f"{{{{ config(materialized='ephemeral') }}}}select {value} as v"
    )
    for prev, name in itertools.pairwise(names):
        (root / "models" / f"{name}.sql").write_text(
            f"{{{{ config(materialized='ephemeral') }}}}select v from {{{{ ref('{prev}') }}}}"
        )
    (root / "models" / "zz_final_model.sql").write_text(
        f"select v from {{{{ ref('{names[-1]}') }}}}"
    )
    sql = load_manifest(root, None, {}).nodes["model.t.zz_final_model"].compiled_sql
    assert duckdb.sql(sql).fetchall() == [(value,)]
