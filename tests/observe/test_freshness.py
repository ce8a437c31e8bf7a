"""Freshness (dbt's semantics) on a real DuckDB warehouse and SQLite state store: thresholds at their
edges, timestamp kinds, filters, the fallbacks without a loaded_at_field, errors, the CLI."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.context import Context
from headwater.errors import ConfigError
from headwater.observe.freshness import (
    FreshnessSpec,
    Threshold,
    evaluate_freshness,
    freshness_signals,
    freshness_spec,
    human_age,
)
from headwater.state.records import NodeRun
from tests.conftest import BASE_PROJECT

UTC = dt.UTC
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
US = dt.timedelta(microseconds=1)


def model_props(name: str, config: dict) -> str:
    return json.dumps({"version": 2, "models": [{"name": name, "config": config}]})


def built(make_project, files: dict[str, str], project_yml: str = BASE_PROJECT) -> Context:
    root = make_project(files, project_yml)
    ctx = Context(root)
    result = ctx.build()
    assert result.exit_code == 0, [r.message for r in result.results]
    return ctx


def by_name(
    ctx: Context, now: dt.datetime | float | None = None, select: list[str] | None = None
) -> dict:
    nodes = ctx.select(select, with_tests=False)
    return {r.name: r for r in evaluate_freshness(ctx, nodes, now)}


# -- the status rule --------------------------------------------------------------------------------
FRESH = {
    "warn_after": {"count": 12, "period": "hour"},
    "error_after": {"count": 24, "period": "hour"},
}


@pytest.fixture
def events(make_project) -> Context:
    """A table whose newest naive timestamp is 2024-01-01 00:00:00 (UTC by dbt's rule)."""
    ctx = built(make_project, {
        "models/events.sql": "{{ config(materialized='table') }} select * from (values "
                             "(1, TIMESTAMP '2023-12-31 18:00:00', 'FR'), (2, TIMESTAMP '2024-01-01 00:00:00', 'DE'), "
                             "(3, TIMESTAMP '2023-12-30 00:00:00', 'DE')) t(id, loaded_at, country)",
        "models/props.yml": model_props("events", {"freshness": FRESH, "loaded_at_field": "loaded_at"}),
    })  # fmt: skip
    yield ctx
    ctx.close()


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (dt.timedelta(hours=-1), "pass"),  # loaded "in the future": dbt passes it
        (dt.timedelta(0), "pass"),
        (dt.timedelta(hours=12), "pass"),  # exactly warn_after: dbt's `age > threshold` is false
        (dt.timedelta(hours=12) + US, "warn"),
        (dt.timedelta(hours=24), "warn"),  # exactly error_after
        (dt.timedelta(hours=24) + US, "error"),
        (dt.timedelta(days=400), "error"),
    ],
)
def test_status_at_the_edges_of_warn_and_error(
    events: Context, age: dt.timedelta, status: str
) -> None:
    result = by_name(events, T0 + age)["events"]
    assert result.status == status, result.message
    assert result.max_loaded_at == T0
    assert result.age == pytest.approx(age.total_seconds(), abs=1e-6)
    assert result.loaded_at_source == "loaded_at_field"
    assert (status in ("warn", "error")) == bool(result.message)


@given(
    age_us=st.integers(-(10**12), 10**12),
    warn=st.one_of(
        st.none(), st.tuples(st.integers(1, 500), st.sampled_from(["minute", "hour", "day"]))
    ),
    error=st.one_of(
        st.none(), st.tuples(st.integers(1, 500), st.sampled_from(["minute", "hour", "day"]))
    ),
)
def test_status_rule_is_dbts(age_us: int, warn: tuple | None, error: tuple | None) -> None:
    spec = FreshnessSpec(Threshold(*warn) if warn else None, Threshold(*error) if error else None)
    seconds = {"minute": 60, "hour": 3600, "day": 86400}
    exceeded = {  # dbt: Time.exceeded(age) is `age > timedelta(**{period + "s": count})`
        k: v is not None and age_us / 1e6 > dt.timedelta(**{v[1] + "s": v[0]}).total_seconds() for k, v in (("w", warn), ("e", error))
    }  # fmt: skip
    expected = "error" if exceeded["e"] else "warn" if exceeded["w"] else "pass"
    assert spec.status(age_us) == expected
    if warn:
        assert Threshold(*warn).seconds == warn[0] * seconds[warn[1]]


def test_filter_counts_only_matching_rows(make_project) -> None:
    base = "{{ config(materialized='table') }} select * from (values (TIMESTAMP '2024-01-01 00:00:00', 'DE'), " \
           "(TIMESTAMP '2024-01-05 00:00:00', 'FR')) t(loaded_at, country)"  # fmt: skip
    ctx = built(make_project, {
        "models/de.sql": base, "models/xx.sql": base, "models/all_.sql": base,
        "models/props.yml": json.dumps({"version": 2, "models": [
            {"name": "de", "config": {"loaded_at_field": "loaded_at", "freshness": {**FRESH, "filter": "country = 'DE'"}}},
            {"name": "xx", "config": {"loaded_at_field": "loaded_at", "freshness": {**FRESH, "filter": "country = 'XX'"}}},
            {"name": "all_", "config": {"loaded_at_field": "loaded_at", "freshness": FRESH}},
        ]}),
    })  # fmt: skip
    with ctx:
        results = by_name(ctx, dt.datetime(2024, 1, 5, tzinfo=UTC))
    assert results["de"].max_loaded_at == T0 and results["de"].status == "error"
    assert results["de"].spec.criteria()["filter"] == "country = 'DE'"
    assert (
        results["all_"].max_loaded_at == dt.datetime(2024, 1, 5, tzinfo=UTC)
        and results["all_"].status == "pass"
    )
    assert results["xx"].status == "error" and "no rows match" in results["xx"].message


def test_timestamp_kinds_naive_is_utc_tz_is_absolute_date_is_midnight(make_project) -> None:
    one = "{{{{ config(materialized='table') }}}} select {} as t"
    ctx = built(make_project, {
        "models/naive.sql": one.format("TIMESTAMP '2024-01-01 12:00:00'"),
        "models/ns.sql": one.format("TIMESTAMP_NS '2024-01-01 12:00:00.123456'"),
        "models/tz.sql": one.format("TIMESTAMPTZ '2024-01-01 12:00:00+02'"),
        "models/day.sql": one.format("DATE '2024-01-01'"),
        "models/text.sql": one.format("'2024-01-01T12:00:00+02:00'"),
        "models/text_naive.sql": one.format("'2024-01-01 12:00:00'"),
        "models/number.sql": one.format("42"),
        "models/props.yml": json.dumps({"version": 2, "models": [
            {"name": n, "config": {"loaded_at_field": "t", "freshness": FRESH}}
            for n in ("naive", "ns", "tz", "day", "text", "text_naive", "number")
        ]}),
    })  # fmt: skip
    with ctx:
        ctx.engine.execute(
            "SET TimeZone = 'America/New_York'"
        )  # the session's zone must not matter
        results = by_name(ctx, T0 + dt.timedelta(days=1))
    assert results["naive"].max_loaded_at == dt.datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert results["ns"].max_loaded_at == dt.datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert results["tz"].max_loaded_at == dt.datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert (
        results["day"].max_loaded_at == T0
        and results["day"].age == 86400
        and results["day"].status == "warn"
    )
    assert results["text"].max_loaded_at == dt.datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert results["text_naive"].max_loaded_at == dt.datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert (
        results["number"].status == "runtime error"
        and "not a timestamp" in results["number"].message
    )


def test_empty_table_null_column_missing_column_and_expression(make_project) -> None:
    cfg = {"loaded_at_field": "t", "freshness": FRESH}
    ctx = built(make_project, {
        "models/empty.sql": "{{ config(materialized='table') }} select TIMESTAMP '2024-01-01' as t where false",
        "models/nulls.sql": "{{ config(materialized='table') }} select NULL::TIMESTAMP as t",
        "models/nocol.sql": "{{ config(materialized='table') }} select TIMESTAMP '2024-01-01' as other",
        "models/expr.sql": "{{ config(materialized='table') }} select '2024-01-01 06:00' as day_text",
        "models/props.yml": json.dumps({"version": 2, "models": [
            {"name": "empty", "config": cfg}, {"name": "nulls", "config": cfg}, {"name": "nocol", "config": cfg},
            {"name": "expr", "config": {"loaded_at_field": "cast(day_text as timestamp)", "freshness": FRESH}},
        ]}),
    })  # fmt: skip
    with ctx:
        results = by_name(ctx, T0)
    assert (results["empty"].status, results["empty"].message) == ("error", "no rows")
    assert results["nulls"].status == "error" and "NULL in every row" in results["nulls"].message
    assert results["nocol"].status == "runtime error" and '"t"' in results["nocol"].message
    assert results["nocol"].max_loaded_at is None and results["nocol"].age is None
    assert results["expr"].status == "pass" and results["expr"].max_loaded_at == dt.datetime(
        2024, 1, 1, 6, tzinfo=UTC
    )


# -- where max_loaded_at comes from without a loaded_at_field ----------------------------------------------
def test_model_event_time_then_last_successful_build(make_project) -> None:
    ctx = built(make_project, {
        "models/by_event.sql": "{{ config(materialized='table') }} select TIMESTAMP '2024-01-01' as ts",
        "models/by_build.sql": "{{ config(materialized='table') }} select 1 as x",
        "models/props.yml": json.dumps({"version": 2, "models": [
            {"name": "by_event", "config": {"event_time": "ts", "freshness": FRESH}},
            {"name": "by_build", "config": {"freshness": {**FRESH, "filter": "x = 1"}}},
        ]}),
    })  # fmt: skip
    with ctx:
        run = ctx.state.read(
            "SELECT started_at, duration FROM node_runs WHERE unique_id = 'model.t.by_build'"
        )[0]
        finished = run["started_at"] + run["duration"]
        results = by_name(ctx, finished + 3600)
        assert (
            results["by_event"].max_loaded_at == T0
            and results["by_event"].loaded_at_source == "loaded_at_field"
        )
        r = results["by_build"]
        assert r.loaded_at_source == "node_runs" and r.status == "pass"
        assert r.max_loaded_at.timestamp() == pytest.approx(finished, abs=1e-5)
        assert r.age == pytest.approx(3600, abs=1e-5)
        assert "filter ignored" in r.message
        # a failed build later does not count as fresh data
        ctx.state.runs.record_node(NodeRun.of("later", {"unique_id": "model.t.by_build", "name": "by_build",
                                                        "resource_type": "model", "status": "error",
                                                        "started_at": finished + 7200, "duration": 1.0}))  # fmt: skip
        assert by_name(ctx, finished + 13 * 3600)["by_build"].status == "warn"


def test_model_never_built_is_a_runtime_error(make_project) -> None:
    root = make_project({
        "models/m.sql": "select 1 as x",
        "models/props.yml": model_props("m", {"freshness": FRESH}),
    })  # fmt: skip
    with Context(root) as ctx:
        r = by_name(ctx, T0)["m"]
    assert r.status == "runtime error" and "no record of loading or building" in r.message


SOURCES = """\
version: 2
sources:
  - name: raw
    loaded_at_field: loaded_at
    freshness:
      warn_after: {count: 12, period: hour}
      error_after: {count: 24, period: hour}
    tables:
      - name: inherits
        files: {path: events.csv, format: csv}
      - name: disabled
        files: {path: events.csv, format: csv}
        freshness: null
      - name: own
        files: {path: events.csv, format: csv}
        freshness: {warn_after: {count: 1, period: day}}
      - name: by_load
        files: {path: events.csv, format: csv}
        loaded_at_field: null
  - name: cfg
    config:
      freshness: {error_after: {count: 2, period: minute}}
    tables:
      - name: events
        files: {path: events.csv, format: csv}
        loaded_at_field: loaded_at
"""


def test_sources_inherit_override_and_turn_off(make_project) -> None:
    ctx = built(
        make_project,
        {"sources.yml": SOURCES, "data/raw/events.csv": "id,loaded_at\n1,2024-01-01 00:00:00\n"},
    )
    with ctx:
        results = by_name(ctx, T0 + dt.timedelta(hours=13))
        assert "raw.disabled" not in results
        assert results["raw.inherits"].status == "warn"
        assert results["raw.inherits"].spec.error_after == Threshold(24, "hour")
        # dbt merges a table's freshness into its source's key by key: its own warn_after, the source's error_after
        own = results["raw.own"]
        assert (
            own.status == "pass"
            and own.spec.warn_after == Threshold(1, "day")
            and own.spec.error_after == Threshold(24, "hour")
        )
        assert (
            results["cfg.events"].status == "error"
        )  # dbt 1.9's `config: freshness:` on the source
        # `loaded_at_field: null` on the table: the file source's last successful load
        run = ctx.state.read(
            "SELECT started_at + duration AS f FROM node_runs WHERE unique_id = 'source.t.raw.by_load'"
        )[0]
        r = by_name(ctx, run["f"] + 60)["raw.by_load"]
        assert (
            r.loaded_at_source == "node_runs"
            and r.status == "pass"
            and r.age == pytest.approx(60, abs=1e-5)
        )


def test_connector_source_uses_the_load_state_then_node_runs(make_project) -> None:
    ctx = built(make_project, {
        "sources.yml": """
            version: 2
            sources:
              - name: shop
                connector: files
                freshness: {warn_after: {count: 1, period: hour}}
                tables:
                  - name: orders
                    extract: {path: orders.csv}
        """,
        "data/raw/orders.csv": "id\n1\n",
    })  # fmt: skip
    with ctx:
        # the loader writes `now()::TIMESTAMP`, the session's wall time: read back through the same zone
        ctx.engine.execute("SET TimeZone = 'Asia/Tokyo'")
        ctx.engine.execute(
            "UPDATE _headwater.load_state SET updated_at = TIMESTAMPTZ '2024-01-01 00:00:00+00'::TIMESTAMP"
        )
        assert ctx.engine.execute("SELECT updated_at FROM _headwater.load_state")[0][
            0
        ] == dt.datetime(2024, 1, 1, 9)
        r = by_name(ctx, T0 + dt.timedelta(hours=2))["shop.orders"]
        assert (r.loaded_at_source, r.max_loaded_at, r.status) == ("load_state", T0, "warn")
        ctx.engine.execute("DELETE FROM _headwater.load_state")
        r = by_name(ctx, T0 + dt.timedelta(hours=2))["shop.orders"]
        assert r.loaded_at_source == "node_runs" and r.max_loaded_at > T0 + dt.timedelta(days=365)


# -- configuration errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("freshness", "words"),
    [
        ({"warn_after": {"count": 12, "period": "hours"}}, ["period: hours", "period: hour"]),
        ({"warn_after": {"count": 0, "period": "hour"}}, ["not a positive integer"]),
        ({"warn_after": {"count": 1}}, ["needs both `count` and `period`"]),
        ({"warn_after": 5}, ["must be a mapping"]),
        (
            {"warn_afterr": {"count": 1, "period": "day"}},
            ["unknown key `warn_afterr`", "warn_after"],
        ),
        ({"warn_after": {"count": 1, "period": "day", "every": 2}}, ["unknown key `every`"]),
        ({"error_after": {"count": 1, "period": "day"}, "filter": 3}, ["must be a SQL condition"]),
        ("12h", ["must be a mapping"]),
    ],
)
def test_bad_freshness_names_the_node_file_and_fix(
    make_project, cli, freshness: object, words: list[str]
) -> None:
    root = make_project({
        "models/m.sql": "select 1 as x",
        "models/props.yml": model_props("m", {"freshness": freshness}),
    })  # fmt: skip
    with Context(root) as ctx, pytest.raises(ConfigError) as info:
        freshness_spec(ctx.manifest.nodes["model.t.m"])
    text = info.value.render()
    assert "`m`" in text and "models/m.sql" in text and "hint:" in text
    for word in words:
        assert word in text
    res = cli("freshness", "--project-dir", root)
    assert res.code == 2 and words[0] in res.err


def test_disabled_or_thresholdless_freshness_is_not_checked(make_project) -> None:
    root = make_project({
        "models/a.sql": "select 1 as x", "models/b.sql": "select 1 as x", "models/c.sql": "select 1 as x",
        "models/props.yml": json.dumps({"version": 2, "models": [
            {"name": "a", "config": {"freshness": None}},
            {"name": "b", "config": {"freshness": {"warn_after": {"count": None, "period": None}, "filter": "x = 1"}}},
            {"name": "c", "config": {"freshness": {"build_after": {"count": 1, "period": "hour"}}}},  # dbt 1.10 models
        ]}),
    })  # fmt: skip
    with Context(root) as ctx:
        assert [freshness_spec(ctx.manifest.nodes[f"model.t.{n}"]) for n in "abc"] == [
            None,
            None,
            None,
        ]
        assert evaluate_freshness(ctx, ctx.select(with_tests=False), T0) == []


# -- signals and the command ------------------------------------------------------------------------------------
def test_signals_open_for_warn_and_error_ok_for_pass(events: Context) -> None:
    results = evaluate_freshness(
        events, events.select(["events"], with_tests=False), T0 + dt.timedelta(hours=13)
    )
    [signal] = freshness_signals(results)
    assert (signal.trigger, signal.subject, signal.status, signal.severity) == (
        "freshness",
        "model.t.events",
        "open",
        "warn",
    )
    assert "12 hours" in signal.message
    results = evaluate_freshness(
        events, events.select(["events"], with_tests=False), T0 + dt.timedelta(hours=25)
    )
    assert freshness_signals(results)[0].severity == "error"
    results = evaluate_freshness(events, events.select(["events"], with_tests=False), T0)
    assert freshness_signals(results)[0].status == "ok"


def cli_project(make_project, minutes_old: int, warn: int | None, error: int | None) -> Path:
    fresh: dict = {}
    if warn:
        fresh["warn_after"] = {"count": warn, "period": "minute"}
    if error:
        fresh["error_after"] = {"count": error, "period": "minute"}
    return make_project({
        "models/orders.sql": "{{ config(materialized='table') }} "
                             f"select (now() AT TIME ZONE 'UTC') - INTERVAL {minutes_old} MINUTE as ordered_at",
        "models/other.sql": "{{ config(materialized='table') }} select 1 as x",
        "models/props.yml": model_props("orders", {"loaded_at_field": "ordered_at", "freshness": fresh}),
    })  # fmt: skip


@pytest.mark.parametrize(
    ("minutes_old", "warn", "error", "status", "code"),
    [
        (0, 60, 120, "pass", 0),
        (90, 60, 120, "warn", 0),
        (180, 60, 120, "error", 1),
        (180, 60, None, "warn", 0),
    ],
)
def test_cli_exit_code_json_and_state(
    make_project, cli, minutes_old, warn, error, status, code
) -> None:
    root = cli_project(make_project, minutes_old, warn, error)
    assert cli("build", "--project-dir", root).code == 0
    res = cli("freshness", "--project-dir", root, "--json")
    assert res.code == code, res.err
    doc = json.loads(res.out)
    assert doc["command"] == "freshness" and doc["success"] is (code == 0)
    [r] = doc["results"]
    assert (r["unique_id"], r["status"], r["loaded_at_source"]) == (
        "model.t.orders",
        status,
        "loaded_at_field",
    )
    assert r["max_loaded_at_time_ago_in_s"] == pytest.approx(minutes_old * 60, abs=30)
    assert r["criteria"]["warn_after"] == {"count": warn, "period": "minute"}
    with Context(root) as ctx:
        [inv] = ctx.state.read("SELECT * FROM invocations WHERE command = 'freshness'")
        assert inv["invocation_id"] == doc["invocation_id"] and inv["status"] == (
            "success" if code == 0 else "failed"
        )
        [row] = ctx.state.read("SELECT * FROM freshness_results")
        assert (row["invocation_id"], row["unique_id"], row["status"]) == (
            doc["invocation_id"],
            "model.t.orders",
            status,
        )
        assert row["warn_after_seconds"] == warn * 60
        assert row["error_after_seconds"] == (error * 60 if error else None)
        alerts = importlib.import_module("headwater.observe.alerts")
        if (
            getattr(alerts, "process_signals", None) is not None
        ):  # alerting landed: the incident follows the status
            incidents = ctx.state.read(
                "SELECT status FROM incidents WHERE incident_key = 'freshness:model.t.orders'"
            )
            assert [i["status"] for i in incidents] == ([] if status == "pass" else ["open"])


def test_cli_table_selection_and_nothing_to_check(make_project, cli) -> None:
    root = cli_project(make_project, 180, 60, 120)
    assert cli("build", "--project-dir", root).code == 0
    res = cli("freshness", "--project-dir", root)
    assert res.code == 1
    assert "orders" in res.out and "error" in res.out and "60 minutes" in res.out
    assert "3h 0m" in res.out or "2h 59m" in res.out
    res = cli("freshness", "--project-dir", root, "-s", "other")
    assert res.code == 0 and "no selected node has `freshness:`" in res.out
    res = cli("freshness", "--project-dir", root, "--exclude", "orders", "--json")
    assert res.code == 0 and json.loads(res.out)["results"] == []


def test_human_age() -> None:
    assert [human_age(s) for s in (None, 5, 125, 3 * 3600 + 60, 2 * 86400 + 3600, -30)] == [
        "-", "5s", "2m 5s", "3h 1m", "2d 1h", "-30s",
    ]  # fmt: skip


def test_table_prints_messages_verbatim_and_the_fallback_source() -> None:
    import io

    from headwater.cli.render.freshness import print_report
    from headwater.observe.freshness import FreshnessReport, FreshnessResult

    spec = FreshnessSpec(Threshold(1, "hour"), None)
    odd = FreshnessResult(
        "model.t.a",
        "a",
        "model",
        "runtime error",
        T0,
        spec,
        message="Binder Error: [col] not found",
    )
    built_ = FreshnessResult("model.t.b", "b", "model", "pass", T0, spec, T0, 0.0, "node_runs")
    out = io.StringIO()
    print_report(FreshnessReport("inv", [odd, built_], [], 0.1), out)
    text = out.getvalue()
    assert "[col] not found" in text and "from the last successful run" in text
    assert "1 pass, 1 runtime error" in text
