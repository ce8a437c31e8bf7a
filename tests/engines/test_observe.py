"""Observability on every engine: node metrics and column profiles, freshness of a source table
created in the warehouse, column lineage (`headwater lineage`, OpenLineage) and schema changes.

Expected values are computed here in Python from the data the SQL generates, never read back
from the code under test. The one intended difference: `distinct_count` is DuckDB's
HyperLogLog estimate (asserted within `HLL_TOLERANCE`) and PostgreSQL's exact count(DISTINCT)
(`PostgresFunctions.DIFFERENCES["approx_distinct"]`), asserted exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.context import Context
from headwater.engines import engine_class
from headwater.observe.freshness import evaluate_freshness
from headwater.project.definition import Relation
from tests.conftest import write_files
from tests.engines.conftest import require, target_yaml

UTC = dt.UTC
N = 5000
HLL_TOLERANCE = 0.05
"""DuckDB's approx_count_distinct (HyperLogLog) is a few percent off; asserted within 5%."""

BASE_SQL = """\
{{ config(materialized='table', profile='all', event_time='ts') }}
select g.i as id,
       g.i % 37 as grp,
       case when g.i % 10 = 0 then null else 'n' || cast(g.i % 500 as varchar) end as name,
       cast(g.i as double precision) / 4 as score,
       TIMESTAMP '2024-01-01 00:00:00' + g.i * INTERVAL '1 minute' as ts,
       TIMESTAMPTZ '2024-01-01 12:00:00+02' as tstz,
       DATE '2024-01-02' as d
from generate_series(1, 5000) as g(i)
"""
FCT_SQL = """\
{{ config(materialized='view') }}
select b.id, b.score * 2 as double_score, cast(b.name as varchar) as label
from {{ ref('base') }} as b
where b.grp > 3
"""


def _metrics(root: Path, unique_id: str, invocation_id: str) -> dict[tuple[str, str], float | None]:
    with Context(root) as ctx:
        rows = ctx.state.read(
            "SELECT metric, column_name, value FROM node_metrics WHERE unique_id = ? AND invocation_id = ?",
            (unique_id, invocation_id),
        )
    return {(r["metric"], r["column_name"]): r["value"] for r in rows}


def _build(root: Path, **options: object):
    with Context(root) as ctx:
        result = ctx.build(**options)
    assert result.exit_code == 0, [(r.name, r.status, r.message) for r in result.results]
    return result


def _epoch(at: dt.datetime) -> float:
    return at.timestamp()


# -- metrics and profiles ------------------------------------------------------------------------------
def test_metrics_and_profile_of_a_table(
    engine_name: str, engine_project: Callable[..., Path]
) -> None:
    root = engine_project({"models/base.sql": BASE_SQL, "models/fct.sql": FCT_SQL})
    before = time.time()
    result = _build(root)
    after = time.time()
    m = _metrics(root, "model.t.base", result.invocation_id)

    ids = range(1, N + 1)
    names = [None if i % 10 == 0 else f"n{i % 500}" for i in ids]
    scores = [i / 4 for i in ids]
    ts_max = dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=N)

    assert m[("row_count", "")] == N
    assert m[("null_rate", "id")] == 0
    assert m[("null_rate", "name")] == pytest.approx(names.count(None) / N)
    exact = engine_class(engine_name).functions.APPROX_DISTINCT_IS_EXACT
    assert exact == (engine_name == "postgres")
    for column, values in (("id", set(ids)), ("grp", {i % 37 for i in ids}), ("name", set(names) - {None}),
                           ("score", set(scores)), ("d", {1})):  # fmt: skip
        got = m[("distinct_count", column)]
        if exact:  # PostgreSQL: count(DISTINCT), exact
            assert got == len(values), column
        else:  # DuckDB: HyperLogLog
            assert got == pytest.approx(len(values), rel=HLL_TOLERANCE), column
    assert (m[("min", "id")], m[("max", "id")], m[("mean", "id")]) == (1, N, sum(ids) / N)
    assert (m[("min", "score")], m[("max", "score")]) == (min(scores), max(scores))
    assert m[("mean", "score")] == pytest.approx(sum(scores) / N)
    assert m[("max", "grp")] == 36 and m[("mean", "grp")] == pytest.approx(
        sum(i % 37 for i in ids) / N
    )
    # temporal columns as epoch seconds: a naive timestamp is UTC, a timestamptz is absolute, a date is midnight UTC
    assert m[("min", "ts")] == _epoch(dt.datetime(2024, 1, 1, 0, 1, tzinfo=UTC))
    assert m[("max", "ts")] == _epoch(ts_max)
    assert (
        m[("min", "tstz")] == m[("max", "tstz")] == _epoch(dt.datetime(2024, 1, 1, 10, tzinfo=UTC))
    )
    assert m[("min", "d")] == _epoch(dt.datetime(2024, 1, 2, tzinfo=UTC))
    # text columns get no min/max/mean
    assert ("min", "name") not in m and ("mean", "name") not in m
    # freshness lag: now - max(event_time), measured during the build
    lag = m[("freshness_lag_seconds", "")]
    assert lag is not None and before - _epoch(ts_max) <= lag <= after - _epoch(ts_max)
    assert m[("duration_seconds", "")] is not None and m[("duration_seconds", "")] >= 0
    # a view is not measured unless asked: its schema only
    assert set(_metrics(root, "model.t.fct", result.invocation_id)) == {("duration_seconds", "")}


def test_bytes_of_a_large_table_not_of_a_small_one(engine_project: Callable[..., Path]) -> None:
    root = engine_project({
        "models/big.sql": "{{ config(materialized='table') }}\nselect g.i as id, g.i % 7 as grp from generate_series(1, 400000) as g(i)",
        "models/small.sql": "{{ config(materialized='table') }}\nselect 1 as id",
    })  # fmt: skip
    result = _build(root)
    big = _metrics(root, "model.t.big", result.invocation_id)
    assert big[("row_count", "")] == 400000
    assert big[("bytes", "")] is not None and big[("bytes", "")] > 0
    assert ("bytes", "") not in _metrics(root, "model.t.small", result.invocation_id)


def test_text_time_column_is_cast_for_the_freshness_lag(
    engine_project: Callable[..., Path],
) -> None:
    root = engine_project({
        "models/txt.sql": "{{ config(materialized='table', event_time='at_text') }}\n"
                          "select 1 as id, '2024-01-01 06:00:00' as at_text union all select 2, 'not a time'",
    })  # fmt: skip
    before = time.time()
    result = _build(root)
    after = time.time()
    lag = _metrics(root, "model.t.txt", result.invocation_id)[("freshness_lag_seconds", "")]
    at = _epoch(
        dt.datetime(2024, 1, 1, 6, tzinfo=UTC)
    )  # naive text is UTC; a value that is no time is NULL
    assert lag is not None and before - at <= lag <= after - at


# -- freshness ---------------------------------------------------------------------------------------------
FRESH = {
    "warn_after": {"count": 12, "period": "hour"},
    "error_after": {"count": 24, "period": "hour"},
}
NAIVE = dt.datetime(2024, 1, 1, 12, tzinfo=UTC)  # '2024-01-01 12:00:00' in a TIMESTAMP column
AWARE = dt.datetime(2024, 1, 1, 10, tzinfo=UTC)  # '2024-01-01 12:00:00+02' in a TIMESTAMPTZ column


def _sources_yml(schema: str, tables: list[str]) -> str:
    return json.dumps({"version": 2, "sources": [{
        "name": "raw", "schema": schema, "loaded_at_field": "loaded_at", "freshness": FRESH,
        "tables": [{"name": t} for t in tables],
    }]})  # fmt: skip


def _create(ctx: Context, schema: str, name: str, type_name: str, values: list[str]) -> None:
    """A source table created through the project's engine: (id, loaded_at ``type_name``)."""
    engine = ctx.engine
    relation = Relation(schema, name)
    engine.ensure_schema(schema)
    engine.execute(
        engine.statements.create_table(relation, [("id", "INTEGER"), ("loaded_at", type_name)])
    )
    if values:
        rows = ", ".join(f"({i}, {v})" for i, v in enumerate(values, start=1))
        engine.execute(f"INSERT INTO {relation.render()} VALUES {rows}")


@pytest.fixture
def fresh_project(engine_project: Callable[..., Path], schema_name: str) -> Path:
    """Source tables of every time kind, created in the warehouse through the engine."""
    root = engine_project(
        {
            "models/sources.yml": _sources_yml(
                schema_name, ["naive", "aware", "as_text", "as_date", "empty"]
            )
        }
    )
    with Context(root) as ctx:
        ts = ctx.engine.statements.timestamp_literal
        lit = ctx.engine.statements.literal
        _create(
            ctx,
            schema_name,
            "naive",
            "TIMESTAMP",
            [ts("2023-12-30 00:00:00"), ts("2024-01-01 12:00:00"), "NULL"],
        )
        _create(ctx, schema_name, "aware", "TIMESTAMPTZ",
                [ts("2024-01-01 12:00:00+02", with_time_zone=True), ts("2023-12-31 23:00:00+00", with_time_zone=True)])  # fmt: skip
        _create(
            ctx,
            schema_name,
            "as_text",
            "VARCHAR",
            [lit("2024-01-01T12:00:00+02:00"), lit("2023-06-01 00:00:00")],
        )
        _create(ctx, schema_name, "as_date", "DATE", ["CAST('2024-01-01' AS DATE)"])
        _create(ctx, schema_name, "empty", "TIMESTAMP", [])
    return root


@pytest.mark.parametrize(
    ("after", "status"),
    [
        (dt.timedelta(hours=1), "pass"),
        (dt.timedelta(hours=12), "pass"),  # exactly warn_after: dbt's `age > threshold` is false
        (dt.timedelta(hours=12, seconds=1), "warn"),
        (dt.timedelta(hours=24), "warn"),
        (dt.timedelta(hours=24, seconds=1), "error"),
    ],
)
def test_freshness_of_timestamp_and_timestamptz_sources(
    fresh_project: Path, after: dt.timedelta, status: str
) -> None:
    with Context(fresh_project) as ctx:
        ctx.engine.execute(
            "SET TimeZone = 'America/New_York'"
        )  # the session's zone must not matter
        for table, loaded in (("naive", NAIVE), ("aware", AWARE), ("as_text", AWARE),
                              ("as_date", dt.datetime(2024, 1, 1, tzinfo=UTC))):  # fmt: skip
            [result] = evaluate_freshness(
                ctx, ctx.select([f"source:raw.{table}"], with_tests=False), loaded + after
            )
            assert (result.name, result.max_loaded_at) == (f"raw.{table}", loaded)
            assert result.status == status, (table, result.message)
            assert result.age == pytest.approx(after.total_seconds(), abs=1e-6)
            assert result.loaded_at_source == "loaded_at_field"


def test_freshness_of_an_empty_table_is_an_error(fresh_project: Path) -> None:
    with Context(fresh_project) as ctx:
        [result] = evaluate_freshness(
            ctx, ctx.select(["source:raw.empty"], with_tests=False), NAIVE
        )
    assert (result.status, result.message) == ("error", "no rows")


def test_freshness_cli_pass_warn_error(
    engine_project: Callable[..., Path], schema_name: str, cli
) -> None:
    root = engine_project(
        {"models/sources.yml": _sources_yml(schema_name, ["recent", "stale", "old"])}
    )
    now = dt.datetime.now(UTC)
    with Context(root) as ctx:
        ts = ctx.engine.statements.timestamp_literal
        for table, age in (
            ("recent", dt.timedelta(hours=1)),
            ("stale", dt.timedelta(hours=13)),
            ("old", dt.timedelta(days=3)),
        ):
            loaded = (now - age).strftime("%Y-%m-%d %H:%M:%S+00")
            _create(ctx, schema_name, table, "TIMESTAMPTZ", [ts(loaded, with_time_zone=True)])
    res = cli("freshness", "--json", "--project-dir", root)
    assert res.code == 1, res.out + res.err  # an error_after exceeded fails the command
    doc = json.loads(res.out)
    assert {r["name"]: r["status"] for r in doc["results"]} == {
        "raw.recent": "pass",
        "raw.stale": "warn",
        "raw.old": "error",
    }


# -- lineage -----------------------------------------------------------------------------------------------
def test_column_lineage_through_the_cli(engine_name: str, engine_project: Callable[..., Path], schema_name: str,
                                        cli) -> None:  # fmt: skip
    root = engine_project({
        "models/base.sql": BASE_SQL,
        "models/fct.sql": FCT_SQL,
        # `*` of a relation no node defines: expanded from the warehouse's catalog
        "models/ext_copy.sql": f"{{{{ config(materialized='view') }}}}\nselect * from {schema_name}.ext",
    })  # fmt: skip
    with Context(root) as ctx:
        ctx.engine.ensure_schema(schema_name)
        ext = Relation(schema_name, "ext")
        ctx.engine.execute(
            ctx.engine.statements.create_table(ext, [("id", "INTEGER"), ("amount", "DOUBLE")])
        )
    _build(root)

    def tree(node: str, column: str) -> dict:
        res = cli("lineage", node, "--column", column, "--json", "--project-dir", root)
        assert res.code == 0, res.out + res.err
        return json.loads(res.out)["tree"]

    doubled = tree("fct", "double_score")
    assert [(c["unique_id"], c["column"], c["transformation"]) for c in doubled["children"]] == [
        ("model.t.base", "score", "TRANSFORMATION")
    ]
    ids = tree("fct", "id")
    assert [(c["unique_id"], c["column"], c["transformation"]) for c in ids["children"]] == [
        ("model.t.base", "id", "IDENTITY")
    ]
    amount = tree("ext_copy", "amount")
    assert [(c["name"], c["column"], c["resource_type"]) for c in amount["children"]] == [
        (f"{schema_name}.ext", "amount", "relation")
    ]
    # the table tree: fct reads base
    res = cli("lineage", "fct", "--json", "--project-dir", root)
    assert [c["unique_id"] for c in json.loads(res.out)["tree"]["children"]] == ["model.t.base"]


def test_openlineage_events_name_the_engine(
    engine_name: str, engine_project: Callable[..., Path]
) -> None:
    root = engine_project(
        {"models/base.sql": BASE_SQL, "models/fct.sql": FCT_SQL},
        extra_yml="observability:\n  openlineage:\n    transport: file\n    path: events.ndjson\n",
    )
    _build(root)
    events = [json.loads(line) for line in (root / "events.ndjson").read_text().splitlines()]
    [complete] = [
        e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] == "model.t.fct"
    ]
    dialect = engine_class(engine_name).DIALECT
    assert complete["job"]["facets"]["sql"]["dialect"] == dialect
    engine_facet = complete["run"]["facets"]["processing_engine"]
    assert engine_facet["name"] == {"duckdb": "DuckDB", "postgres": "PostgreSQL"}[engine_name]
    assert engine_facet["version"] != "unknown"
    [output] = complete["outputs"]
    scheme = {"duckdb": "duckdb://", "postgres": "postgres://"}[engine_name]
    assert output["namespace"].startswith(scheme)
    fields = output["facets"]["columnLineage"]["fields"]
    assert [(f["name"], f["field"]) for f in fields["double_score"]["inputFields"]] == [
        (output["name"].rsplit(".", 1)[0] + ".base", "score")
    ]
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == [
        "id",
        "double_score",
        "label",
    ]


# -- schema changes ------------------------------------------------------------------------------------------
def test_schema_changes_are_recorded_and_reported(engine_project: Callable[..., Path]) -> None:
    root = engine_project({
        "models/m.sql": "{{ config(materialized='table') }}\nselect cast(1 as integer) as id, 'a' as name, cast(2.5 as double precision) as amount",
        "models/child.sql": "{{ config(materialized='view') }}\nselect id, amount from {{ ref('m') }}",
    })  # fmt: skip
    first = _build(root)
    assert not [
        c for c in first.checks if c.check == "schema_change"
    ]  # the first schema is no change
    write_files(root, {
        "models/m.sql": "{{ config(materialized='table') }}\nselect cast(1 as bigint) as id, cast(2.5 as double precision) as amount, 'x' as extra",
    })  # fmt: skip
    third = _build(root)
    checks = {c.node: c for c in third.checks if c.check == "schema_change"}
    assert checks["model.t.m"].status == "warn"
    assert checks["model.t.child"].status == "warn"  # a view: its schema read at the end of the run
    with Context(root) as ctx:
        m = ctx.state.read(
            "SELECT change, column_name, old, new FROM schema_changes WHERE unique_id = 'model.t.m'"
        )
        child = ctx.state.read(
            "SELECT change, column_name, old, new FROM schema_changes WHERE unique_id = 'model.t.child'"
        )
    assert {(c["change"], c["column_name"]) for c in m} == {
        ("type_changed", "id"),
        ("removed", "name"),
        ("added", "extra"),
    }
    [retyped] = [c for c in m if c["change"] == "type_changed"]
    assert (retyped["old"].lower(), retyped["new"].lower()) == ("integer", "bigint")
    assert [(c["change"], c["column_name"], c["new"].lower()) for c in child] == [
        ("type_changed", "id", "bigint")
    ]


def test_schema_history_is_kept_per_target(tmp_path: Path, schema_name: str) -> None:
    """One project built on DuckDB and then on PostgreSQL: the engines spell types differently
    (`VARCHAR` / `text`), which is no change; a change is compared with the same target's last run."""
    require("postgres")
    root = tmp_path / "two"
    yml = f"name: t\ndefault_target: duckdb\ntargets:\n{target_yaml('duckdb', schema_name)}{target_yaml('postgres', schema_name)}"
    write_files(
        root,
        {
            "headwater.yml": yml,
            "models/m.sql": "{{ config(materialized='table') }}\nselect 1 as id, 'a' as name",
        },
    )
    _build(root)
    with Context(root, target="postgres") as ctx:
        on_pg = ctx.build()
    assert (
        on_pg.exit_code == 0
        and [(c.node, c.status) for c in on_pg.checks if c.check == "schema_change"] == []
    )
    write_files(
        root,
        {
            "models/m.sql": "{{ config(materialized='table') }}\nselect 1 as id, 'a' as name, 2 as extra"
        },
    )
    with Context(root, target="postgres") as ctx:
        changed = ctx.build()
        rows = ctx.state.read(
            "SELECT change, column_name FROM schema_changes WHERE invocation_id = ?",
            (changed.invocation_id,),
        )
    assert [(c.node, c.status) for c in changed.checks if c.check == "schema_change"] == [
        ("model.t.m", "warn")
    ]
    assert [(r["change"], r["column_name"]) for r in rows] == [("added", "extra")]
