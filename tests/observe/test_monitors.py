"""Anomaly monitors: config validation, evaluation against a real state store, results and signals,
and a build through `Context` (needs the metrics part to record row counts)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from headwater.context import Context
from headwater.errors import ConfigError
from headwater.observe import Bus
from headwater.project.definition import FileSpec, Node
from headwater.quality.monitors import (
    Monitor,
    MonitorChecks,
    evaluate,
    make,
    monitored_metrics,
    monitors_by_node,
    parse_monitors,
    project_default,
)
from headwater.runner.plan import Unit
from headwater.state.records import MetricValue
from headwater.state.sqlite import SQLiteStateStore
from tests.conftest import BASE_PROJECT, write_files

DAY = 86400.0
MONDAY = 1736143200.0  # 2025-01-06 06:00 UTC
UID = "model.p.fct_orders"


def model(monitors: Any = None, **config: Any) -> Node:
    if monitors is not None:
        config["monitors"] = monitors
    return Node(unique_id=UID, name="fct_orders", resource_type="model", path="models/fct_orders.sql", package="p",
                fqn=["p", "fct_orders"], config={"materialized": "table", **config})  # fmt: skip


EXAMPLE = [
    "volume",
    {
        "volume": {
            "metric": "rows_added",
            "sensitivity": 4,
            "direction": "drop",
            "seasonality": "day_of_week",
        }
    },
    "freshness",
    {"null_rate": {"column": "email"}},
    {"distinct_count": {"column": "customer_id"}},
    {"mean": {"column": "amount", "severity": "error"}},
]


# -- configuration ------------------------------------------------------------------------------
def test_the_documented_example_parses() -> None:
    monitors = parse_monitors(model(EXAMPLE))
    assert [m.unique_id for m in monitors] == [
        f"monitor.{UID}.volume",
        f"monitor.{UID}.volume.rows_added",
        f"monitor.{UID}.freshness",
        f"monitor.{UID}.null_rate.email",
        f"monitor.{UID}.distinct_count.customer_id",
        f"monitor.{UID}.mean.amount",
    ]
    assert [m.name for m in monitors] == [
        "volume_anomaly_fct_orders", "volume_rows_added_anomaly_fct_orders", "freshness_anomaly_fct_orders",
        "null_rate_anomaly_fct_orders_email", "distinct_count_anomaly_fct_orders_customer_id",
        "mean_anomaly_fct_orders_amount",
    ]  # fmt: skip
    volume, added, fresh, nulls, _, mean = monitors
    assert (volume.metric, volume.direction, volume.sensitivity, volume.window, volume.min_points, volume.severity) == (
        "row_count", "both", 3.0, 14, 7, "warn")  # fmt: skip
    assert (added.metric, added.source_metric, added.derived, added.direction, added.seasonality, added.sensitivity) == (
        "rows_added", "row_count", True, "drop", "day_of_week", 4.0)  # fmt: skip
    assert added.history_limit == 98 and volume.history_limit == 14
    assert (fresh.metric, fresh.direction) == ("freshness_lag_seconds", "spike")
    assert (nulls.metric, nulls.column) == ("null_rate", "email")
    assert mean.severity == "error"
    assert monitored_metrics(model(EXAMPLE)) == {
        ("row_count", ""), ("freshness_lag_seconds", ""), ("null_rate", "email"), ("distinct_count", "customer_id"),
        ("mean", "amount"),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("monitors", "fragment"),
    [
        ("volume", "must be a list"),
        (["volumes"], "unknown monitor `volumes` (did you mean `volume`?)"),
        (
            [{"volume": {"sensitivty": 4}}],
            "unknown option `sensitivty` of `volume` (did you mean `sensitivity`?)",
        ),
        ([{"volume": 4}], "the options of `volume` must be a mapping"),
        ([{"volume": {}, "freshness": {}}], "a name or a one-key mapping"),
        (["null_rate"], "`null_rate` needs `column`"),
        ([{"volume": {"column": "id"}}], "`volume` is a table-level monitor and takes no `column`"),
        ([{"volume": {"sensitivity": 0}}], "`sensitivity` of `volume` must be a number"),
        ([{"volume": {"sensitivity": "high"}}], "`sensitivity` of `volume` must be a number"),
        (
            [{"volume": {"direction": "up"}}],
            "`direction` of `volume` must be one of both, spike, drop",
        ),
        (
            [{"freshness": {"seasonality": "weekly"}}],
            "`seasonality` of `freshness` must be one of none, day_of_week",
        ),
        ([{"volume": {"window": 5}}], "`window` of `volume` must be an integer >= min_points (7)"),
        ([{"volume": {"min_points": 2}}], "`min_points` of `volume` must be an integer >= 3"),
        ([{"volume": {"severity": "fatal"}}], "`severity` of `volume` must be warn or error"),
        ([{"freshness": {"metric": "row_count"}}], "`metric` is an option of `volume` only"),
        (
            [{"volume": {"metric": "rows_add"}}],
            "unknown volume `metric: rows_add` (did you mean `rows_added`",
        ),
        (["volume", {"volume": {"sensitivity": 5}}], "declares `volume_anomaly_fct_orders` twice"),
    ],
)
def test_bad_config_names_the_node_and_the_key(monitors: Any, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_monitors(model(monitors))
    assert fragment in err.value.message
    assert "`monitors` of `fct_orders`" in err.value.message and err.value.node == "fct_orders"
    assert err.value.hint and err.value.exit_code == 2


def test_project_default_applies_to_nodes_without_monitors_of_their_own() -> None:
    obs = {"monitors": {"default": ["volume", {"freshness": {"sensitivity": 4}}]}}
    source = Node(unique_id="source.p.raw.orders", name="orders", resource_type="source", path="sources.yml", package="p",
                  fqn=["p", "raw", "orders"], source_name="raw", files=FileSpec("orders.csv", "csv"))  # fmt: skip
    seed = Node(
        unique_id="seed.p.kinds",
        name="kinds",
        resource_type="seed",
        path="seeds/kinds.csv",
        package="p",
        fqn=["p"],
    )
    own = Node(unique_id="model.p.own", name="own", resource_type="model", path="m.sql", package="p", fqn=["p"],
               config={"monitors": ["freshness"]})  # fmt: skip
    off = Node(unique_id="model.p.off", name="off", resource_type="model", path="m.sql", package="p", fqn=["p"],
               config={"monitors": []})  # fmt: skip
    by_node = monitors_by_node([model(), source, seed, own, off], obs)
    assert [m.name for m in by_node[UID]] == [
        "volume_anomaly_fct_orders",
        "freshness_anomaly_fct_orders",
    ]
    assert by_node[UID][1].sensitivity == 4
    assert [m.name for m in by_node["source.p.raw.orders"]] == [
        "volume_anomaly_raw_orders",
        "freshness_anomaly_raw_orders",
    ]
    assert [m.name for m in by_node["model.p.own"]] == ["freshness_anomaly_own"]
    assert "seed.p.kinds" not in by_node and "model.p.off" not in by_node
    assert monitors_by_node([model()], {}) == {}


@pytest.mark.parametrize(
    ("obs", "fragment"),
    [
        ({"monitors": ["volume"]}, "`observability: monitors` in headwater.yml must be a mapping"),
        (
            {"monitors": {"defaults": ["volume"]}},
            "unknown key `observability: monitors: defaults` in headwater.yml",
        ),
        (
            {"monitors": {"default": "volume"}},
            "`observability: monitors: default` in headwater.yml must be a list",
        ),
    ],
)
def test_bad_project_default(obs: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        project_default(obs)
    assert fragment in err.value.message and err.value.hint


def test_column_monitors_cannot_be_project_defaults() -> None:
    with pytest.raises(ConfigError, match="per column and cannot be a project default"):
        monitors_by_node([model()], {"monitors": {"default": [{"null_rate": {"column": "email"}}]}})


# -- evaluation against a real state store --------------------------------------------------------
@pytest.fixture
def state(tmp_path: Path):
    store = SQLiteStateStore(tmp_path / "state.db")
    yield store
    store.close()


def record(state: SQLiteStateStore, values: list[float | None], metric: str = "row_count", column: str = "",
           start: float = MONDAY) -> str:  # fmt: skip
    """One run a day; returns the invocation id of the last (the current) run."""
    for i, v in enumerate(values):
        state.metrics.record([MetricValue(f"inv{i:03d}", UID, start + i * DAY, metric, column, v)])
    return f"inv{len(values) - 1:03d}"


def run_observer(
    state: SQLiteStateStore, invocation: str, monitors: list[Monitor]
) -> tuple[list[Any], Bus]:
    bus = Bus()
    observer = MonitorChecks(state, invocation, bus, {UID: monitors})
    node = model()
    checks = observer.check(Unit(id=UID, build=node), None, None)
    other = replace(node, unique_id="model.p.other")
    assert (
        observer.check(Unit(id=other.unique_id, build=other), None, None) == []
    )  # no monitors there
    return checks, bus


def volume(**options: Any) -> Monitor:
    return parse_monitors(model([{"volume": options}] if options else ["volume"]))[0]


def test_an_anomaly_is_a_warning_check_and_an_open_signal(state: SQLiteStateStore) -> None:
    current = record(state, [1000, 1010, 990, 1005, 995, 1000, 1002, 998, 5000])
    checks, bus = run_observer(state, current, [volume()])
    [check] = checks
    assert (check.unique_id, check.name, check.check, check.node, check.column) == (
        f"monitor.{UID}.volume", "volume_anomaly_fct_orders", "anomaly:volume", UID, None)  # fmt: skip
    assert (check.status, check.severity, check.failures, check.blocks) == (
        "warn",
        "warn",
        1,
        False,
    )
    assert check.message.startswith("row_count 5,000 is a spike: outside the expected range")
    res = check.result
    assert res["observed"] == 5000 and res["median"] == 1000 and res["training_points"] == 8
    lo, hi = res["expected_range"]
    assert lo < 1000 < hi < 5000 and res["seasonality"] == "none" and res["metric"] == "row_count"
    json.dumps(check.to_dict(), allow_nan=False)  # what the state store records
    [signal] = bus.signals
    assert (signal.trigger, signal.subject, signal.status, signal.severity) == (
        "anomaly",
        check.unique_id,
        "open",
        "warn",
    )
    assert signal.details["observed"] == 5000 and signal.details["node"] == UID
    assert signal.message.startswith("volume_anomaly_fct_orders: row_count 5,000")


def test_in_range_passes_and_resolves(state: SQLiteStateStore) -> None:
    current = record(state, [1000, 1010, 990, 1005, 995, 1000, 1002, 998, 1003])
    [check], bus = run_observer(state, current, [volume()])
    assert (
        check.status == "pass"
        and check.failures == 0
        and "within the expected range" in check.message
    )
    assert [(s.subject, s.status) for s in bus.signals] == [(check.unique_id, "ok")]


def test_severity_error_fails_and_blocks(state: SQLiteStateStore) -> None:
    current = record(state, [1000] * 8 + [10])
    [check], bus = run_observer(state, current, [volume(severity="error")])
    assert (check.status, check.severity, check.blocks) == ("fail", "error", True)
    assert "is a drop" in check.message
    assert bus.signals[0].severity == "error"


def test_training_passes_with_the_number_of_points(state: SQLiteStateStore) -> None:
    current = record(state, [1000, 1000, 1000, 99999])
    [check], bus = run_observer(state, current, [volume()])
    assert check.status == "pass" and check.message == "training: 3 of 7 points"
    assert check.result["training_points"] == 3 and check.result["expected_range"] is None
    assert bus.signals[0].status == "ok"


def test_only_points_before_this_run_train_and_a_missing_value_says_so(
    state: SQLiteStateStore,
) -> None:
    record(state, [1000] * 9)
    [check], _ = run_observer(
        state, "inv004", [volume()]
    )  # an earlier run's point is judged on the 4 before it
    assert check.message == "training: 4 of 7 points"
    [check], bus = run_observer(state, "not-recorded", [volume()])
    assert (
        check.status == "pass"
        and check.message == "no row_count recorded for this run: nothing to judge"
    )
    assert bus.signals == []


def test_rows_added_judges_differences_of_row_counts(state: SQLiteStateStore) -> None:
    counts = [10_000 + 100 * i for i in range(10)]
    current = record(state, [*counts, counts[-1]])  # the count stopped changing: 0 rows added
    monitor = volume(metric="rows_added", direction="drop")
    [check], bus = run_observer(state, current, [monitor])
    assert check.unique_id == f"monitor.{UID}.volume.rows_added"
    assert (
        check.status == "warn" and check.result["observed"] == 0 and check.result["median"] == 100
    )
    assert check.result["training_points"] == 9 and check.message.startswith(
        "rows_added 0 is a drop"
    )
    assert bus.signals[0].status == "open"
    current = record(
        state, [*counts, counts[-1] + 5000]
    )  # a spike: not watched with direction drop
    [check], _ = run_observer(state, current, [monitor])
    assert check.status == "pass" and check.result["deviation"] == "spike"
    [check], _ = run_observer(state, "inv000", [monitor])  # the first count has no difference
    assert check.message.startswith("no rows_added recorded")


def test_column_monitor_reads_the_column_series(state: SQLiteStateStore) -> None:
    current = record(
        state,
        [0.01, 0.012, 0.011, 0.009, 0.01, 0.01, 0.011, 0.30],
        metric="null_rate",
        column="email",
    )
    record(state, [1000] * 8)  # the table's row count is another series
    monitor = parse_monitors(model([{"null_rate": {"column": "email"}}]))[0]
    check, signal = evaluate(monitor, state, current)
    assert (check.column, check.check, check.status) == ("email", "anomaly:null_rate", "warn")
    assert check.message.startswith("null_rate of `email` 0.3 is a spike")
    assert signal is not None and signal.details["column"] == "email"


def test_day_of_week_monitor_uses_same_weekday_history(state: SQLiteStateStore) -> None:
    values = [(3000.0 if d % 7 == 0 else 1000.0) + (d % 3) for d in range(70)] + [
        3001.0
    ]  # a Monday at Monday's level
    current = record(state, values)
    plain, _ = evaluate(volume(), state, current)
    seasonal, _ = evaluate(volume(seasonality="day_of_week"), state, current)
    assert plain.status == "warn"
    assert seasonal.status == "pass" and seasonal.result["seasonality"] == "day_of_week"
    assert seasonal.result["training_points"] == 10 and seasonal.result["median"] == pytest.approx(
        3000, abs=3
    )


# -- through a project ---------------------------------------------------------------------------
MONITORED = """\
version: 2
models:
  - name: fct_orders
    config:
      monitors:
        - volume
        - volume: {metric: rows_added, direction: drop}
  - name: downstream
    config:
      monitors: [{volume: {severity: error}}]
"""


@pytest.fixture
def project(make_project) -> Path:
    return make_project({
        "models/marts/fct_orders.sql": "select range as id from range({{ var('n', 1000) }})",
        "models/marts/downstream.sql": "select * from {{ ref('fct_orders') }}",
        "models/marts/last.sql": "select count(*) as n from {{ ref('downstream') }}",
        "models/marts/props.yml": MONITORED,
    })  # fmt: skip


def test_make_builds_the_observer_only_when_monitors_are_declared(
    project: Path, make_project
) -> None:
    with Context(project) as ctx:
        observer = make(ctx, "build", "inv", Bus())
        assert isinstance(observer, MonitorChecks)
        assert sorted(observer.monitors) == ["model.t.downstream", "model.t.fct_orders"]
    bare = make_project({"models/marts/a.sql": "select 1 as x"}, name="bare")
    with Context(bare) as ctx:
        assert make(ctx, "build", "inv", Bus()) is None


def test_a_typo_in_a_monitor_stops_the_run_with_a_config_error(make_project, cli) -> None:
    root = make_project({
        "models/marts/a.sql": "select 1 as x",
        "models/marts/props.yml": "version: 2\nmodels:\n  - name: a\n    config:\n      monitors: [{volume: {sensitivty: 4}}]\n",
    }, name="typo")  # fmt: skip
    out = cli("build", "--project-dir", root)
    assert out.code == 2
    assert (
        "unknown option `sensitivty` of `volume`" in out.err + out.out
        and "`a`" in out.err + out.out
    )


def test_project_default_is_read_from_headwater_yml(make_project) -> None:
    yml = BASE_PROJECT + "observability:\n  monitors:\n    default: [volume]\n"
    root = make_project({"models/marts/a.sql": "select 1 as x"}, project_yml=yml, name="dflt")
    with Context(root) as ctx:
        observer = make(ctx, "build", "inv", Bus())
        assert [m.name for m in observer.monitors["model.t.a"]] == ["volume_anomaly_a"]  # type: ignore[union-attr]
    write_files(
        root, {"headwater.yml": BASE_PROJECT + "observability:\n  monitors: {default: volume}\n"}
    )
    with Context(root) as ctx, pytest.raises(ConfigError, match="must be a list"):
        make(ctx, "build", "inv", Bus())


def test_build_end_to_end(project: Path) -> None:
    """Eight builds of 1,000 rows train the monitors; then 10x the rows is a volume anomaly: a
    warning on fct_orders (the table is published), a failure (severity error) on downstream, whose
    own downstream is skipped. Needs `headwater.observe.metrics` to record row_count."""
    for _ in range(8):
        with Context(project) as ctx:
            result = ctx.build()
            assert result.exit_code == 0, [(r.name, r.status, r.message) for r in result.results]
    with Context(project) as ctx:
        history = ctx.state.metrics.history("model.t.fct_orders", "row_count")
        assert [h.value for h in history] == [1000] * 8, "the metrics part did not record row_count"
        checks = {c.name: c for c in ctx.build().checks}
        assert checks["volume_anomaly_fct_orders"].status == "pass"
        added = checks[
            "volume_rows_added_anomaly_fct_orders"
        ]  # 8 differences of the 9 counts, all 0
        assert (
            added.status == "pass"
            and added.result["training_points"] == 7
            and added.result["median"] == 0
        )
    with Context(project, vars={"n": 10_000}) as ctx:
        result = ctx.build()
        by_name = {r.name: r for r in result.results}
        checks = {c.name: c for c in result.checks}
        volume_check = checks["volume_anomaly_fct_orders"]
        assert volume_check.status == "warn" and volume_check.result["observed"] == 10_000
        assert (
            volume_check.result["expected_range"][1] < 10_000
            and volume_check.result["training_points"] == 9
        )
        assert (
            checks["volume_rows_added_anomaly_fct_orders"].status == "pass"
        )  # a spike; the monitor watches drops
        assert by_name["fct_orders"].status == "warn"
        assert checks["volume_anomaly_downstream"].status == "fail"
        assert by_name["downstream"].status == "fail" and by_name["last"].status == "skipped"
        assert result.exit_code == 1
        stored = {r.name: r for r in ctx.state.checks.for_invocation(result.invocation_id)}
        assert stored["volume_anomaly_fct_orders"].check_type == "anomaly:volume"
        assert json.loads(stored["volume_anomaly_fct_orders"].result)["observed"] == 10_000
