"""dbt's Jinja context on every engine: `target`, `adapter.dispatch`, the introspection `adapter`
methods, `run_query`, `statement` / `load_result`, `api.Relation`, temporary relations and the
cross-database macros, in a small dbt-style project built with the CLI.

Expected values are written here (literals a person can check), never computed by headwater;
the cross-database macros must give the same values on every engine (the SQL differs).
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headwater.engines import create_engine
from headwater.project.definition import Target
from tests.engines.conftest import pg_settings, require, target_for

ProjectMaker = Callable[..., Path]

DISPATCH_MACROS = """\
{% macro which_engine() %}{{ return(adapter.dispatch('which_engine')()) }}{% endmacro %}
{% macro default__which_engine() %}'default'{% endmacro %}
{% macro duckdb__which_engine() %}'duckdb'{% endmacro %}
{% macro postgres__which_engine() %}'postgres'{% endmacro %}

{% macro only_default() %}{{ return(adapter.dispatch('only_default')()) }}{% endmacro %}
{% macro default__only_default() %}'fallback'{% endmacro %}
"""

# a table with declared types, built first; the introspective models read it at run time
BASE = """\
{{ config(materialized='table') }}
select cast(id as integer) as id, cast(code as varchar(20)) as code, cast(amount as numeric(10,2)) as amount,
       cast(day as date) as day, cast(flag as boolean) as flag
from (values (1, 'a', 1.50, '2024-01-31', true), (2, 'b', 2.25, '2024-02-29', false),
             (3, 'c', 4.00, '2024-03-01', true)) as t(id, code, amount, day, flag)
"""


def _read(engine_name: str, schema: str, root: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read from the warehouse the project built into (read-only)."""
    if engine_name == "duckdb":
        target = Target(
            name="read",
            engine="duckdb",
            path=str(root / ".headwater" / "warehouse.duckdb"),
            schema=schema,
        )
    else:
        target = target_for(engine_name, schema, root)
    engine = create_engine(target, str(root))
    engine.read_only = True
    engine.open()
    try:
        return [tuple(r) for r in engine.execute(sql)]
    finally:
        engine.close()


def _build(cli: Callable[..., Any], root: Path, *args: str) -> None:
    res = cli("build", "--project-dir", root, *args)
    assert res.code == 0, res.out + res.err


def test_target_and_dispatch_follow_the_engine(
    engine_project: ProjectMaker, engine_name: str, schema_name: str, cli: Callable[..., Any]
) -> None:
    root = engine_project(
        {
            "macros/dispatch.sql": DISPATCH_MACROS,
            "models/info.sql": (
                "select {{ which_engine() }} as picked, {{ only_default() }} as fallback, '{{ target.type }}' as type,"
                " '{{ adapter.type() }}' as adapter_type, '{{ target.schema }}' as target_schema,"
                " '{{ target.name }}' as target_name, {{ target.threads }} as threads,"
                ' \'{{ target.get("password") }}|{{ target.get("pass") }}\' as secrets\n'
            ),
        }
    )
    _build(cli, root)
    rows = _read(engine_name, schema_name, root, f'select * from "{schema_name}"."info"')
    assert rows == [
        (
            engine_name,
            "fallback",
            engine_name,
            engine_name,
            schema_name,
            engine_name,
            2,
            "None|None",
        )
    ]


def test_target_has_the_connection_keys_of_the_adapter(
    engine_project: ProjectMaker, engine_name: str, schema_name: str, cli: Callable[..., Any]
) -> None:
    """dbt-duckdb's `target.path` / `database` (the file's stem); dbt-postgres's host, port, user,
    dbname — and never the password."""
    root = engine_project(
        {
            "models/conn.sql": (
                "select '{{ target.database }}' as db, '{{ target.get(\"host\") }}' as host,"
                " '{{ target.get(\"port\") }}' as port, '{{ target.get(\"user\") }}' as usr,"
                " '{{ target.get(\"dbname\") }}' as dbname\n"
            ),
        }
    )
    _build(cli, root)
    rows = _read(engine_name, schema_name, root, f'select * from "{schema_name}"."conn"')
    if engine_name == "duckdb":
        assert rows == [("warehouse", "None", "None", "None", "None")]
    else:
        s = pg_settings()
        assert rows == [(s["database"], s["host"], str(s["port"]), s["user"], s["database"])]


def test_run_query_statement_and_load_result_read_what_the_run_built(
    engine_project: ProjectMaker, engine_name: str, schema_name: str, cli: Callable[..., Any]
) -> None:
    root = engine_project(
        {
            "models/base.sql": BASE,
            "models/summary.sql": """\
                {% set counted = run_query("select count(*) as n, sum(id) as s from " ~ ref('base') ~ " where code like 'a%' or code like '%c'") %}
                {% call statement('biggest', fetch_result=True) %}
                  select max(amount) as top, min(code) as first_code from {{ ref('base') }}
                {% endcall %}
                {% set biggest = load_result('biggest') %}
                {% call statement('side_effect') %}select 1{% endcall %}
                {% if execute %}
                select {{ counted.rows[0]['n'] }} as n, {{ counted.rows[0].s }} as s, {{ counted.columns['n'].values()[0] }} as n_again,
                       {{ biggest['data'][0][0] }} as top, '{{ biggest['table'].columns['first_code'].values()[0] }}' as first_code,
                       {{ counted | length }} as result_rows, '{{ counted.column_names | join(",") }}' as names
                {% else %}
                select 0 as n
                {% endif %}
            """,
        }
    )
    _build(cli, root)
    rows = _read(engine_name, schema_name, root, f'select * from "{schema_name}"."summary"')
    assert rows == [(2, 4, 2, decimal.Decimal("4.00"), "a", 1, "n,s")]


# (column name, dtype, data_type, char_size, is_string, is_number) as each engine's dbt plugin gives them
COLUMNS = {
    "duckdb": [
        ("id", "INTEGER", "INTEGER", None, False, True),
        ("code", "VARCHAR", "VARCHAR", None, True, False),
        ("amount", "DECIMAL(10,2)", "DECIMAL(10,2)", None, False, True),
        ("day", "DATE", "DATE", None, False, False),
        ("flag", "BOOLEAN", "BOOLEAN", None, False, False),
    ],
    "postgres": [
        ("id", "integer", "integer", None, False, True),
        ("code", "character varying", "character varying(20)", 20, True, False),
        ("amount", "numeric", "numeric(10,2)", None, False, True),
        ("day", "date", "date", None, False, False),
        ("flag", "boolean", "boolean", None, False, False),
    ],
}


def test_adapter_introspection_sees_the_catalog_with_the_engines_types(
    engine_project: ProjectMaker, engine_name: str, schema_name: str, cli: Callable[..., Any]
) -> None:
    root = engine_project(
        {
            "models/base.sql": BASE,
            "models/other.sql": "select 1 as id, 'x' as extra\n",
            "models/cols.sql": """\
                {%- set cols = adapter.get_columns_in_relation(ref('base')) -%}
                {%- for c in cols %}
                select '{{ c.name }}' as name, '{{ c.dtype }}' as dtype, '{{ c.data_type }}' as data_type,
                       {{ c.char_size if c.char_size is not none else 'null' }} as char_size,
                       {{ c.is_string() }} as is_string, {{ c.is_number() }} as is_number, {{ loop.index }} as pos
                {% if not loop.last %}union all{% endif %}
                {%- else %}
                select 'none' as name, '' as dtype, '' as data_type, 0 as char_size, false as is_string, false as is_number, 0 as pos
                {%- endfor %}
            """,
            "models/probe.sql": """\
                {%- set base = adapter.get_relation(database=target.database, schema=target.schema, identifier='base') -%}
                {%- set missing = adapter.get_relation(database=target.database, schema=target.schema, identifier='no_such') -%}
                {%- set made = api.Relation.create(database=target.database, schema=target.schema, identifier='other') -%}
                {%- set listed = adapter.list_relations_without_caching(made) | map(attribute='identifier') | map('lower') | list -%}
                {%- set missing_cols = adapter.get_missing_columns(made, ref('base')) | map(attribute='name') | list -%}
                {%- set query_cols = get_columns_in_query('select * from ' ~ ref('base')) -%}
                -- depends_on: {{ ref('other') }}
                select '{{ base.identifier if base else "none" }}' as found, '{{ base.type if base else "" }}' as kind,
                       {{ missing is none }} as missing_is_none,
                       {{ adapter.check_schema_exists(target.database, target.schema) }} as schema_exists,
                       {{ adapter.check_schema_exists(target.database, target.schema ~ '_nope') }} as other_schema_exists,
                       {{ target.schema | lower in (adapter.list_schemas(target.database) | map('lower') | list) }} as schema_listed,
                       {{ 'base' in listed and 'other' in listed }} as relations_listed,
                       '{{ missing_cols | join(",") }}' as missing_cols,
                       '{{ query_cols | join(",") }}' as query_cols,
                       '{{ made.identifier }}' as made
            """,
        }
    )
    _build(cli, root)
    cols = _read(
        engine_name,
        schema_name,
        root,
        f'select name, dtype, data_type, char_size, is_string, is_number from "{schema_name}"."cols" order by pos',
    )
    assert cols == COLUMNS[engine_name]
    probe = _read(engine_name, schema_name, root, f'select * from "{schema_name}"."probe"')
    assert probe == [
        (
            "base",
            "table",
            True,
            True,
            False,
            True,
            True,
            "extra",
            "id,code,amount,day,flag",
            "other",
        )
    ]


def test_adapter_changes_and_temporary_relations(
    engine_project: ProjectMaker, engine_name: str, schema_name: str, cli: Callable[..., Any]
) -> None:
    """`make_temp_relation` + `create_table_as(True, ...)` in a statement, then DDL through the
    adapter (create / rename / drop), each seen by the next introspection."""
    root = engine_project(
        {
            "models/base.sql": BASE,
            "models/work.sql": """\
                {%- set tmp = make_temp_relation(ref('base')) -%}
                {%- call statement('make_tmp') -%}{{ create_table_as(True, tmp, 'select id * 10 as id from ' ~ ref('base')) }}{%- endcall -%}
                {%- set tmp_sum = run_query('select sum(id) from ' ~ tmp) -%}
                {%- set scratch = api.Relation.create(schema=target.schema ~ '_scratch', identifier='s1') -%}
                {%- do adapter.create_schema(scratch) -%}
                {%- call statement('fill') -%}create table {{ scratch }} as select 1 as a{%- endcall -%}
                {%- set renamed = api.Relation.create(schema=target.schema ~ '_scratch', identifier='s2') -%}
                {%- do adapter.rename_relation(scratch, renamed) -%}
                {%- set after_rename = adapter.get_relation(none, renamed.schema, 's2') -%}
                {%- set old_gone = adapter.get_relation(none, scratch.schema, 's1') is none -%}
                {%- do adapter.drop_relation(renamed) -%}
                {%- set after_drop = adapter.get_relation(none, renamed.schema, 's2') -%}
                {%- do adapter.drop_schema(scratch) -%}
                select {{ tmp_sum[0][0] if execute else 0 }} as tmp_sum, {{ tmp.schema is none }} as tmp_unqualified,
                       {{ after_rename is not none and old_gone }} as renamed, {{ after_drop is none }} as dropped,
                       {{ adapter.check_schema_exists(none, scratch.schema) }} as scratch_left
            """,
        }
    )
    _build(cli, root)
    rows = _read(engine_name, schema_name, root, f'select * from "{schema_name}"."work"')
    assert rows == [(60, True, True, True, False)]


# each cross-database macro call, and the value it must give on every engine
CROSSDB: list[tuple[str, str, Any]] = [
    (
        "m_dateadd_day",
        "{{ dbt.dateadd('day', 1, \"cast('2024-01-31' as date)\") }}",
        datetime.datetime(2024, 2, 1),
    ),
    (
        "m_dateadd_month",
        "{{ dbt.dateadd('month', 1, \"cast('2024-01-31' as date)\") }}",
        datetime.datetime(2024, 2, 29),
    ),
    (
        "m_dateadd_hour",
        "{{ dateadd('hour', -3, \"cast('2024-03-01 01:00:00' as timestamp)\") }}",
        datetime.datetime(2024, 2, 29, 22),
    ),
    (
        "m_datediff_day",
        "{{ dbt.datediff(\"cast('2024-01-01' as date)\", \"cast('2024-03-15' as date)\", 'day') }}",
        74,
    ),
    (
        "m_datediff_month",
        "{{ dbt.datediff(\"cast('2024-01-31' as date)\", \"cast('2024-03-01' as date)\", 'month') }}",
        2,
    ),
    (
        "m_datediff_year",
        "{{ dbt.datediff(\"cast('2023-12-31' as date)\", \"cast('2024-01-01' as date)\", 'year') }}",
        1,
    ),
    (
        "m_datediff_week",
        "{{ dbt.datediff(\"cast('2024-01-01' as date)\", \"cast('2024-01-15' as date)\", 'week') }}",
        2,
    ),
    ("m_safe_cast_int", "{{ dbt.safe_cast(\"'12'\", dbt.type_int()) }}", 12),
    (
        "m_concat",
        '{{ dbt.concat(["\'a\'", "\'-\'", "cast(7 as " ~ dbt.type_string() ~ ")"]) }}',
        "a-7",
    ),
    ("m_hash", "{{ dbt.hash(\"'abc'\") }}", "900150983cd24fb0d6963f7d28e17f72"),
    (
        "m_listagg",
        "(select {{ dbt.listagg('x', \"','\", 'order by x') }} from (values ('b'), ('a'), ('c')) as l(x))",
        "a,b,c",
    ),
    (
        "m_listagg_limit",
        "(select {{ dbt.listagg('x', \"'|'\", 'order by x desc', 2) }} from (values ('b'), ('a'), ('c')) as l(x))",
        "c|b",
    ),
    ("m_split_part", "{{ dbt.split_part(\"'a,b,c'\", \"','\", 2) }}", "b"),
    ("m_split_part_last", "{{ dbt.split_part(\"'a,b,c'\", \"','\", -1) }}", "c"),
    (
        "m_date_trunc",
        "{{ dbt.date_trunc('month', \"cast('2024-03-15 10:30:00' as timestamp)\") }}",
        datetime.datetime(2024, 3, 1),
    ),
    ("m_type_string", "cast(123 as {{ dbt.type_string() }})", "123"),
    ("m_type_numeric", "cast(1.5 as {{ dbt.type_numeric() }})", decimal.Decimal("1.500000")),
    ("m_type_bigint", "cast('9000000000' as {{ dbt.type_bigint() }})", 9000000000),
    (
        "m_last_day",
        "{{ dbt.last_day(\"cast('2024-02-10' as date)\", 'month') }}",
        datetime.date(2024, 2, 29),
    ),
    ("m_length", "{{ dbt.length(\"'abcd'\") }}", 4),
    ("m_position", "{{ dbt.position(\"'c'\", \"'abcd'\") }}", 3),
    ("m_replace", "{{ dbt.replace(\"'a-b'\", \"'-'\", \"'+'\") }}", "a+b"),
    ("m_right", "{{ dbt.right(\"'abcd'\", 2) }}", "cd"),
    ("m_string_literal", "{{ dbt.string_literal('hi') }}", "hi"),
    ("m_cast_bool_to_text", "{{ dbt.cast_bool_to_text('true') }}", "true"),
    ("m_any_value", "(select {{ dbt.any_value('x') }} from (values (5)) as a(x))", 5),
    ("m_bool_or", "(select {{ dbt.bool_or('x') }} from (values (false), (true)) as b(x))", True),
    ("m_equals", "{{ dbt.equals('1', '1') }}", True),
    ("m_escape_single_quotes", "'{{ dbt.escape_single_quotes(\"it's\") }}'", "it's"),
]


def test_cross_database_macros_give_the_same_values(
    engine_project: ProjectMaker, engine_name: str, schema_name: str, cli: Callable[..., Any]
) -> None:
    select = ",\n       ".join(f"{sql} as {name}" for name, sql, _ in CROSSDB)
    root = engine_project(
        {"models/xdb.sql": f"{{{{ config(materialized='table') }}}}\nselect {select}\n"}
    )
    _build(cli, root)
    names = ", ".join(name for name, _, _ in CROSSDB)
    [row] = _read(engine_name, schema_name, root, f'select {names} from "{schema_name}"."xdb"')
    got = dict(zip([n for n, _, _ in CROSSDB], row, strict=True))
    assert got == {name: value for name, _, value in CROSSDB}


def test_date_spine_gives_the_same_rows(
    engine_project: ProjectMaker, engine_name: str, schema_name: str, cli: Callable[..., Any]
) -> None:
    root = engine_project(
        {
            "models/spine.sql": (
                "{{ config(materialized='table') }}\n"
                "{{ dbt.date_spine('day', \"cast('2024-02-27' as date)\", \"cast('2024-03-02' as date)\") }}\n"
            )
        }
    )
    _build(cli, root)
    rows = _read(
        engine_name,
        schema_name,
        root,
        f'select cast(date_day as date) from "{schema_name}"."spine" order by 1',
    )
    assert [r[0] for r in rows] == [
        datetime.date(2024, 2, 27),
        datetime.date(2024, 2, 28),
        datetime.date(2024, 2, 29),
        datetime.date(2024, 3, 1),
    ]


def test_dbt_project_with_a_postgres_profile_builds(
    tmp_path: Path, schema_name: str, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dbt project whose profiles.yml output is `type: postgres`, the password from
    `env_var`: it builds on PostgreSQL, `target` is dbt-postgres's, the password is nowhere."""
    require("postgres")
    from tests.conftest import write_files

    s = pg_settings()
    password = "not-a-real-password-4815"  # the test server trusts local connections
    monkeypatch.setenv("HW_TEST_DBT_PG_PASSWORD", password)
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    root = tmp_path / "shop"
    write_files(
        root,
        {
            "dbt_project.yml": "name: shop\nversion: '1.0'\nconfig-version: 2\nprofile: shop\n",
            "profiles.yml": f"""\
                shop:
                  target: dev
                  outputs:
                    dev:
                      type: postgres
                      host: {s["host"]}
                      port: {s["port"]}
                      user: {s["user"]}
                      password: "{{{{ env_var('HW_TEST_DBT_PG_PASSWORD') }}}}"
                      dbname: {s["database"]}
                      schema: {schema_name}
                      threads: 2
            """,
            "macros/dispatch.sql": DISPATCH_MACROS,
            "models/orders.sql": "{{ config(materialized='table') }}\nselect 1 as id, 10 as amount union all select 2, 20\n",
            "models/report.sql": """\
                {%- set total = run_query('select sum(amount) from ' ~ ref('orders')) -%}
                select {{ which_engine() }} as picked, '{{ target.type }}' as type, '{{ target.dbname }}' as dbname,
                       '{{ target.get("password") }}|{{ target.get("pass") }}' as secrets,
                       {{ total[0][0] if execute else 0 }} as total
            """,
        },
    )
    res = cli("build", "--project-dir", root)
    assert res.code == 0, res.out + res.err
    assert password not in res.out + res.err
    rows = _read("postgres", schema_name, root, f'select * from "{schema_name}"."report"')
    assert rows == [("postgres", "postgres", s["database"], "None|None", 30)]
    cache = root / ".headwater" / "cache"  # private (0600, sealed) parse cache: not checked here
    for path in root.rglob("*"):  # compiled SQL, logs, run state
        if path.is_file() and cache not in path.parents:
            assert password.encode() not in path.read_bytes(), path


@pytest.mark.differs(
    {
        "postgres": "date_trunc of a DATE is `timestamp with time zone` on PostgreSQL (its date_trunc takes a "
        "timestamptz), a naive TIMESTAMP on DuckDB; dbt-postgres and dbt-duckdb give the same SQL and the same "
        "difference. Truncate a timestamp (cast the date) to get the same value on both"
    }
)
def test_date_trunc_of_a_date(
    engine_project: ProjectMaker, engine_name: str, schema_name: str, cli: Callable[..., Any]
) -> None:
    root = engine_project(
        {
            "models/trunc.sql": "{{ config(materialized='table') }}\nselect {{ dbt.date_trunc('month', \"cast('2024-03-15' as date)\") }} as m\n"
        }
    )
    _build(cli, root)
    assert _read(engine_name, schema_name, root, f'select m from "{schema_name}"."trunc"') == [
        (datetime.datetime(2024, 3, 1),)
    ]


def test_sql_that_does_not_parse_is_reported_before_the_run(
    engine_project: ProjectMaker, engine_name: str, cli: Callable[..., Any]
) -> None:
    root = engine_project(
        {"models/ok.sql": "select 1 as a\n", "models/broken.sql": "select 1 from from\n"}
    )
    res = cli("build", "--project-dir", root)
    assert res.code != 0
    assert "SQL does not parse" in res.err and "broken" in res.err


def test_postgres_syntax_builds_on_postgres(
    tmp_path: Path, schema_name: str, cli: Callable[..., Any]
) -> None:
    """PostgreSQL's own syntax (jsonb `?`, `DISTINCT ON`, `::regtype`) is read in the postgres dialect
    at load, which DuckDB's parser would refuse, and runs on the server."""
    require("postgres")
    from tests.conftest import write_files
    from tests.engines.conftest import target_yaml

    root = tmp_path / "pgsyntax"
    write_files(
        root,
        {
            "headwater.yml": f"name: t\ndefault_target: postgres\ntargets:\n{target_yaml('postgres', schema_name)}",
            "models/pg.sql": (
                "select distinct on (k) k, jsonb_build_object('a', v) ? 'a' as has_a, 'int4'::regtype::text as t\n"
                "from (values (1, 2), (1, 3)) as s(k, v) order by k, v desc\n"
            ),
        },
    )
    res = cli("build", "--project-dir", root)
    assert res.code == 0, res.out + res.err
    assert _read("postgres", schema_name, root, f'select * from "{schema_name}"."pg"') == [
        (1, True, "integer")
    ]


def test_expand_target_column_types_widens_sized_strings(
    engine_project: ProjectMaker, engine_name: str, schema_name: str, cli: Callable[..., Any]
) -> None:
    """dbt-postgres widens `character varying(5)` to the source's 20; DuckDB's VARCHAR has no size."""
    root = engine_project(
        {
            "models/narrow.sql": "{{ config(materialized='table') }}\nselect cast('abc' as varchar(5)) as code, cast('x' as varchar(30)) as other\n",
            "models/wide.sql": "{{ config(materialized='table') }}\nselect cast('abcdefgh' as varchar(20)) as code, cast('y' as varchar(10)) as other\n",
            "models/widened.sql": """\
                {%- do adapter.expand_target_column_types(ref('wide'), ref('narrow')) -%}
                {%- set cols = adapter.get_columns_in_relation(ref('narrow')) -%}
                select '{% for c in cols %}{{ c.name }} {{ c.data_type }}{% if not loop.last %},{% endif %}{% endfor %}' as types
            """,
        }
    )
    _build(cli, root)
    [(types,)] = _read(
        engine_name, schema_name, root, f'select types from "{schema_name}"."widened"'
    )
    expected = {
        "duckdb": "code VARCHAR,other VARCHAR",
        "postgres": "code character varying(20),other character varying(30)",  # never narrowed
    }
    assert types == expected[engine_name]
