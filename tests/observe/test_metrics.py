"""Metrics per node run, on real DuckDB projects: row counts, inserted/updated/deleted of every
materialization, bytes, duration, freshness lag and column profiles."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from headwater.context import Context
from headwater.errors import ConfigError
from headwater.observe.metrics import (
    ProfileSpec,
    choose_columns,
    key_columns,
    parse_profile,
    profile_query,
)
from tests.conftest import BASE_PROJECT, write_files
from tests.materialize.test_snapshot_helpers import new_project, set_source, snapshot_block

Metrics = dict[tuple[str, str], float | None]


def build(root: Path, command: str = "build", **options):
    with Context(root) as ctx:
        result = getattr(ctx, command)(**options)
    assert result.exit_code == 0, [(r.name, r.status, r.message) for r in result.results]
    return result


def metrics(root: Path, unique_id: str, invocation_id: str | None = None) -> Metrics:
    """The metrics of one node run (the latest when no invocation is given)."""
    with Context(root) as ctx:
        if invocation_id is None:
            rows = ctx.state.read("SELECT invocation_id FROM node_metrics WHERE unique_id = ? ORDER BY recorded_at DESC LIMIT 1",
                                  (unique_id,))  # fmt: skip
            if not rows:
                return {}
            invocation_id = rows[0]["invocation_id"]
        rows = ctx.state.read(
            "SELECT metric, column_name, value FROM node_metrics WHERE unique_id = ? AND invocation_id = ?",
            (unique_id, invocation_id),
        )
    return {(r["metric"], r["column_name"]): r["value"] for r in rows}


def changes(m: Metrics) -> tuple[float | None, float | None, float | None]:
    return m.get(("rows_inserted", "")), m.get(("rows_updated", "")), m.get(("rows_deleted", ""))


# -- tables, views, seeds ----------------------------------------------------------------------------
PROFILED = {
    "seeds/people.csv": """\
        id,name,score,born,grp_id
        1,ann,10.5,2020-01-01,7
        2,,20,2020-01-03,7
        3,cid,,,8
        4,dee,30.5,2020-01-02,
    """,
    "models/marts/people_t.sql": "{{ config(profile={'columns': ['id', 'name', 'score', 'born']}) }}\nselect * from {{ ref('people') }}",
    "models/staging/people_v.sql": "select * from {{ ref('people') }}",
}


def test_table_profile_values_with_nulls(make_project: Callable[..., Path]) -> None:
    root = make_project(PROFILED)
    result = build(root)
    m = metrics(root, "model.t.people_t", result.invocation_id)
    assert m[("row_count", "")] == 4
    assert (
        m[("null_rate", "id")] == 0
        and m[("null_rate", "name")] == 0.25
        and m[("null_rate", "score")] == 0.25
    )
    assert m[("distinct_count", "id")] == 4 and m[("distinct_count", "name")] == 3
    assert (m[("min", "score")], m[("max", "score")]) == (10.5, 30.5)
    assert m[("mean", "score")] == pytest.approx((10.5 + 20 + 30.5) / 3)
    assert (m[("min", "id")], m[("max", "id")], m[("mean", "id")]) == (1, 4, 2.5)
    epoch = dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp()
    assert (m[("min", "born")], m[("max", "born")]) == (
        epoch,
        epoch + 2 * 86400,
    )  # dates as epoch seconds
    assert ("mean", "born") not in m and (
        "min",
        "name",
    ) not in m  # no mean of dates, no min of text
    assert not any(c == "grp_id" for _, c in m)  # an explicit column list is exactly that
    assert m[("duration_seconds", "")] > 0
    # the seed: key columns by default (`id`, `*_id`), its row count from the build
    s = metrics(root, "seed.t.people", result.invocation_id)
    assert s[("row_count", "")] == 4 and {c for _, c in s if c} == {"id", "grp_id"}
    assert s[("null_rate", "grp_id")] == 0.25


def test_view_records_schema_but_is_not_scanned(make_project: Callable[..., Path]) -> None:
    root = make_project(PROFILED)
    result = build(root)
    m = metrics(root, "model.t.people_v", result.invocation_id)
    assert set(m) == {("duration_seconds", "")}  # no count, no profile: that would re-run the view
    with Context(root) as ctx:
        schema = ctx.state.read(
            "SELECT columns FROM relation_schemas WHERE unique_id = 'model.t.people_v'"
        )
    assert '["name", "VARCHAR"]' in schema[0]["columns"]
    # asked for on the view itself: measured
    write_files(
        root,
        {
            "models/staging/people_v.sql": "{{ config(profile=['name']) }}\nselect * from {{ ref('people') }}"
        },
    )
    m = metrics(root, "model.t.people_v", build(root).invocation_id)
    assert m[("row_count", "")] == 4 and m[("null_rate", "name")] == 0.25


def test_profile_off_and_project_default(make_project: Callable[..., Path]) -> None:
    files = {
        **PROFILED,
        "models/marts/people_t.sql": "{{ config(profile=false) }}\nselect * from {{ ref('people') }}",
    }
    root = make_project(files, BASE_PROJECT + "observability:\n  profile: all\n")
    result = build(root)
    assert set(metrics(root, "model.t.people_t", result.invocation_id)) == {
        ("row_count", ""),
        ("duration_seconds", ""),
    }
    seed = metrics(root, "seed.t.people", result.invocation_id)  # the project default: every column
    assert {c for _, c in seed if c} == {"id", "name", "score", "born", "grp_id"}


def test_unknown_profile_column_is_reported_not_fatal(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {"models/marts/t.sql": "{{ config(profile=['id', 'nope']) }}\nselect 1 as id"}
    )
    result = build(root)
    assert "profile: no column `nope` in main.t" in result.results[0].message
    assert metrics(root, "model.t.t", result.invocation_id)[("distinct_count", "id")] == 1


@pytest.mark.parametrize(
    ("yml", "words"),
    [
        (
            "observability:\n  profile: everything\n",
            ["headwater.yml", "observability.profile", "unknown profile `everything`"],
        ),
        (
            "observability:\n  profile: {colums: [a]}\n",
            ["unknown key `colums`", "did you mean `columns`"],
        ),
        ("observability:\n  profile: {max_columns: -1}\n", ["max_columns"]),
        ("observability:\n  profile: 3\n", ["got int"]),
    ],
)
def test_bad_profile_config_is_a_config_error(
    make_project, cli, yml: str, words: list[str]
) -> None:
    root = make_project({"models/marts/t.sql": "select 1 as id"}, BASE_PROJECT + yml)
    res = cli("build", "--project-dir", root)
    assert res.code == 2
    for word in words:
        assert word in res.err


def test_bad_node_config_names_the_node(make_project, cli) -> None:
    root = make_project(
        {"models/marts/t.sql": "{{ config(schema_change='loud') }}\nselect 1 as id"}
    )
    res = cli("build", "--project-dir", root)
    assert (
        res.code == 2
        and "`schema_change: loud` of `t`" in res.err
        and "models/marts/t.sql" in res.err
    )


def test_freshness_lag_from_event_time(make_project: Callable[..., Path]) -> None:
    root = make_project({
        "models/marts/ev.sql": "{{ config(event_time='at') }}\n"
                               "select 1 as id, now()::TIMESTAMPTZ - INTERVAL 1 HOUR as at union all select 2, NULL",
        "models/marts/txt.sql": "{{ config(loaded_at_field='at') }}\nselect strftime(now()::TIMESTAMP, '%Y-%m-%d %H:%M:%S') as at",
    })  # fmt: skip
    before = time.time()
    result = build(root)
    lag = metrics(root, "model.t.ev", result.invocation_id)[("freshness_lag_seconds", "")]
    assert 3600 - 1 <= lag <= 3600 + (time.time() - before) + 1
    assert (
        metrics(root, "model.t.ev", result.invocation_id)[("null_rate", "at")] == 0.5
    )  # the time column is profiled
    txt = metrics(root, "model.t.txt", result.invocation_id)[("freshness_lag_seconds", "")]
    assert (
        txt is not None and abs(txt) < 3600 * 24
    )  # text cast to a timestamp (session time zone vs UTC: within a day)


def test_bytes_of_a_table_on_disk(make_project: Callable[..., Path]) -> None:
    root = make_project({"models/marts/big.sql": "select range as id, range % 7 as grp from range(400000)",
                         "models/marts/small.sql": "select 1 as id"})  # fmt: skip
    result = build(root)
    size = metrics(root, "model.t.big", result.invocation_id)[("bytes", "")]
    con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    try:
        block, used = con.execute(
            "SELECT block_size, used_blocks FROM pragma_database_size()"
        ).fetchone()
    finally:
        con.close()
    assert size is not None and size > 0 and size % block == 0 and size <= used * block
    # a table still in the WAL has no known size: nothing recorded rather than a wrong number
    assert ("bytes", "") not in metrics(root, "model.t.small", result.invocation_id)


# -- stateful materializations -------------------------------------------------------------------------
INC_SEED = "id,amount,updated_at\n"


def _inc_project(make_project, config: str, rows: list[tuple[int, int, str]]) -> Path:
    model = (
        f"{{{{ config(materialized='incremental', {config}) }}}}\n"
        "select id, amount, cast(updated_at as date) as updated_at from {{ ref('src') }}\n"
        "{% if is_incremental() %} where updated_at > (select max(updated_at) from {{ this }}) {% endif %}"
    )
    return make_project(
        {
            "seeds/src.csv": INC_SEED + "".join(f"{r[0]},{r[1]},{r[2]}\n" for r in rows),
            "models/m.sql": model,
        }
    )


V1 = [(1, 10, "2026-01-01"), (2, 20, "2026-01-01")]
V2 = [(1, 11, "2026-01-02"), (2, 20, "2026-01-01"), (3, 30, "2026-01-02")]


def _set(root: Path, rows: list[tuple[int, int, str]]) -> None:
    write_files(
        root, {"seeds/src.csv": INC_SEED + "".join(f"{r[0]},{r[1]},{r[2]}\n" for r in rows)}
    )


def test_incremental_append(make_project) -> None:
    root = _inc_project(make_project, "incremental_strategy='append'", V1)
    first = metrics(root, "model.t.m", build(root, "run").invocation_id)
    assert (
        first[("row_count", "")] == 2 and changes(first)[0] == 2
    )  # the full first build inserts everything
    _set(root, V2)
    second = metrics(root, "model.t.m", build(root, "run").invocation_id)
    assert second[("row_count", "")] == 4 and changes(second) == (2, None, None)


@pytest.mark.parametrize(
    "config",
    [
        "incremental_strategy='merge', unique_key='id'",  # every column replaced: delete + insert inside
        "incremental_strategy='merge', unique_key='id', merge_update_columns=['amount', 'updated_at']",  # UPDATE + INSERT
        "incremental_strategy='delete+insert', unique_key='id'",
    ],
)
def test_incremental_upserts_count_updates(make_project, config: str) -> None:
    root = _inc_project(make_project, config, V1)
    build(root, "run")
    _set(root, V2)
    m = metrics(root, "model.t.m", build(root, "run").invocation_id)
    assert m[("row_count", "")] == 3
    assert changes(m) == (1, 1, 0)  # id 3 is new, id 1 changed


def test_incremental_insert_overwrite_counts_replaced_partitions(make_project) -> None:
    root = _inc_project(
        make_project, "incremental_strategy='insert_overwrite', partition_by='updated_at'", V1
    )
    build(root, "run")
    _set(root, [(1, 12, "2026-01-01"), (5, 50, "2026-01-01")])
    model = root / "models/m.sql"  # rebuild the 2026-01-01 partition from the new source
    model.write_text(
        model.read_text().replace("where updated_at > (select max(updated_at) from {{ this }})", "")
    )
    m = metrics(root, "model.t.m", build(root, "run").invocation_id)
    assert changes(m) == (2, None, 2) and m[("row_count", "")] == 2


def test_snapshot_counts_new_and_closed_versions(tmp_path: Path) -> None:
    root = new_project(tmp_path / "p", {"snapshots/snap.sql": snapshot_block(
        "unique_key='id', strategy='timestamp', updated_at='updated_at'")})  # fmt: skip
    t0, t1 = dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2)
    set_source(root, [(1, "a", t0), (2, "b", t0)])
    first = metrics(root, "snapshot.t.snap", build(root, "snapshot").invocation_id)
    assert first[("row_count", "")] == 2 and changes(first) == (2, 0, 0)
    set_source(root, [(1, "a2", t1), (2, "b", t0), (3, "c", t1)])
    second = metrics(root, "snapshot.t.snap", build(root, "snapshot").invocation_id)
    assert second[("row_count", "")] == 4 and changes(second) == (
        2,
        1,
        0,
    )  # versions of 1 and 3 added, 1 closed
    assert second[("distinct_count", "id")] == 3  # `unique_key` is a key column


def test_scd1_counts(tmp_path: Path) -> None:
    root = new_project(tmp_path / "p", {"models/d.sql": "{{ config(materialized='scd1', unique_key='id', hard_deletes='delete') }}\n"
                                                        "select * from {{ source('raw', 'src') }}"})  # fmt: skip
    t0 = dt.datetime(2020, 1, 1)
    set_source(root, [(1, "a", t0), (2, "b", t0)])
    build(root, "run")
    set_source(root, [(1, "a2", t0), (3, "c", t0)])
    m = metrics(root, "model.t.d", build(root, "run").invocation_id)
    assert changes(m) == (1, 1, 1) and m[("row_count", "")] == 2


def test_file_source_and_connector_loads(make_project) -> None:
    root = make_project({
        "sources.yml": """
            version: 2
            sources:
              - name: raw
                tables:
                  - name: files_t
                    files: {path: a.csv, format: csv}
              - name: shop
                connector: files
                tables:
                  - name: orders
                    extract: {path: "orders*.csv", write_disposition: merge, primary_key: id}
        """,
        "data/raw/a.csv": "id,v\n1,x\n2,y\n",
        "data/raw/orders1.csv": "id,amount\n1,10\n2,20\n",
    })  # fmt: skip
    result = build(root)
    files_t = metrics(root, "source.t.raw.files_t", result.invocation_id)
    assert files_t[("row_count", "")] == 2 and files_t[("distinct_count", "id")] == 2
    orders = metrics(root, "source.t.shop.orders", result.invocation_id)
    assert orders[("row_count", "")] == 2 and changes(orders) == (2, 0, 0)
    # `_hw_loaded_at`, the time headwater loaded the rows, is the source's time column
    assert 0 <= orders[("freshness_lag_seconds", "")] < 3600 * 24
    write_files(root, {"data/raw/orders2.csv": "id,amount\n2,21\n3,30\n"})
    orders = metrics(root, "source.t.shop.orders", build(root).invocation_id)
    assert orders[("row_count", "")] == 3 and changes(orders) == (1, 1, 0)


# -- the profile's pieces ------------------------------------------------------------------------------
def test_parse_profile_forms() -> None:
    assert parse_profile(None, "x").mode == "key" and parse_profile(False, "x").mode == "off"
    assert parse_profile("all", "x").mode == "all"
    spec = parse_profile(["a", "b"], "x")
    assert (spec.mode, spec.columns) == ("columns", ["a", "b"])
    spec = parse_profile({"max_columns": 3}, "x")
    assert (spec.mode, spec.max_columns) == ("key", 3)
    with pytest.raises(ConfigError, match="where: unknown profile"):
        parse_profile("some", "where")


def test_key_columns_come_from_config_tests_and_names(make_project) -> None:
    root = make_project({
        "models/marts/w.sql": "{{ config(unique_key='k', loaded_at_field='ts') }}\nselect 1 as k, 2 as a, 3 as b, 4 as c_id, "
                              "5 as id, now() as ts, " + ", ".join(f"{i} as x{i}_id" for i in range(30)),
        "models/marts/schema.yml": """
            models:
              - name: w
                columns:
                  - name: a
                    data_tests: [not_null]
                  - name: b
                    expectations: [{expect_column_values_to_be_between: {min_value: 0}}]
        """,
    })  # fmt: skip
    with Context(root) as ctx:
        node = ctx.manifest.nodes["model.t.w"]
        tests = [
            n
            for n in ctx.manifest.nodes.values()
            if n.test is not None and n.test.attached_to == node.unique_id
        ]
        keys = key_columns(node, tests)
    assert keys[:1] == ["k"] and {"a", "b"} <= set(keys)
    columns = (
        [
            ("k", "INTEGER"),
            ("a", "INTEGER"),
            ("b", "INTEGER"),
            ("c_id", "INTEGER"),
            ("id", "INTEGER"),
        ]
        + [(f"x{i}_id", "INTEGER") for i in range(30)]
        + [("ts", "TIMESTAMP")]
    )
    chosen, _ = choose_columns(ProfileSpec("key"), keys, columns, "ts")
    assert chosen[:5] == ["k", "a", "b", "c_id", "id"] and len(chosen) == 20  # capped
    chosen, _ = choose_columns(ProfileSpec("key", max_columns=40), keys, columns, "ts")
    assert chosen[-1] == "ts" and len(chosen) == 36


def test_profile_query_is_one_aggregate() -> None:
    q = profile_query(
        '"t"',
        [("a", "BIGINT"), ("s", "VARCHAR"), ("d", "TIMESTAMP WITH TIME ZONE")],
        ["a", "s", "d"],
        '"d"',
    )
    assert q.sql.count("SELECT") == 1 and "approx_count_distinct" in q.sql
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'x', TIMESTAMPTZ '2020-01-01 00:00:00+00'), "
                "(NULL, NULL, NULL), (3, 'x', TIMESTAMPTZ '2020-01-02 00:00:00+00')) v(a, s, d)")  # fmt: skip
    out = q.decode(
        con.execute(q.sql).fetchone(), now=dt.datetime(2020, 1, 3, tzinfo=dt.UTC).timestamp()
    )
    assert out[("row_count", "")] == 3 and out[("null_rate", "s")] == pytest.approx(1 / 3)
    assert out[("mean", "a")] == 2 and out[("distinct_count", "s")] == 1
    assert out[("freshness_lag_seconds", "")] == 86400


def test_microbatch_counts_replaced_intervals(make_project) -> None:
    events = "id,ts\n" + "".join(
        f"{i},2026-01-{1 + i % 3:02d} 10:00:00\n" for i in range(1, 10)
    )  # 3 per day, Jan 1-3
    fct = ("{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='ts', batch_size='day', "
           "begin='2026-01-01', lookback=0) }}\nselect id, cast(ts as timestamp) as ts from {{ ref('events') }}")  # fmt: skip
    root = make_project({"seeds/events.csv": events, "models/fct.sql": fct})
    first = metrics(root, "model.t.fct", build(root, "run").invocation_id)
    assert first[("row_count", "")] == 9 and changes(first) == (9, None, 0)
    with Context(root) as ctx:  # rebuild two days: their rows are deleted and inserted again
        ctx.state.write("DELETE FROM intervals WHERE interval_start >= '2026-01-02'", [()])
    second = metrics(root, "model.t.fct", build(root, "run").invocation_id)
    assert changes(second) == (6, None, 6) and second[("row_count", "")] == 9
    assert second[("freshness_lag_seconds", "")] > 0  # `event_time` is the time column
