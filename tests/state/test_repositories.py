"""One suite, both backends: every repository of the state store does the same on the SQLite file
and in the warehouse (`stores` runs each test once per backend, see conftest.py)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from headwater import secrets
from headwater.state.base import SQLStateStore
from headwater.state.db import StateStoreError
from headwater.state.records import (
    AlertDelivery,
    CheckRecord,
    FreshnessRecord,
    Incident,
    MetricPoint,
    MetricValue,
    NodeRun,
    ScheduleRun,
    SchemaChangeRecord,
    SlaBreach,
    as_row,
)
from tests.state.conftest import Stores

WALL_CLOCK = ("built_at", "created_at", "finished_at", "started_at", "recorded_at")


def plain(rows: list[Any]) -> list[dict[str, Any]]:
    """Records as dicts without their wall-clock columns."""
    return [{k: v for k, v in as_row(r).items() if k not in WALL_CLOCK} for r in rows]


def run(uid: str, status: str = "success", inv: str = "inv1", **kw: Any) -> NodeRun:
    values: dict[str, Any] = {
        "materialized": "table", "relation": f"main.{uid.rsplit('.', 1)[-1]}", "started_at": 100.0,
        "duration": 1.0, "rows": 10, "message": "", "rejected": None, **kw,
    }  # fmt: skip
    return NodeRun(inv, uid, uid.rsplit(".", 1)[-1], "model", status=status, **values)


def check(uid: str, status: str, inv: str, at: float, check_type: str = "not_null") -> CheckRecord:
    return CheckRecord(
        inv, uid, uid.rsplit(".", 1)[-1], check_type, "model.t.m", "id", "error", status,
        0 if status == "pass" else 3, "", "select 1", json.dumps([{"id": 1}]), at, 100, None,
        None,
    )  # fmt: skip


# -- runs ------------------------------------------------------------------------------------------
def test_invocations_and_node_runs(store: SQLStateStore) -> None:
    runs = store.runs
    runs.start("inv-a", "build", {"select": ["m"]}, "dev")
    time.sleep(0.002)
    runs.start("inv-b", "test", {}, "dev")
    runs.record_node(run("model.t.m", inv="inv-a", started_at=101.0))
    runs.record_node(run("model.t.n", "error", inv="inv-a", started_at=100.0, message="boom"))
    runs.record_node(run("model.t.n", "success", inv="inv-a", started_at=100.0))  # replaces
    runs.finish("inv-a", "success", {"units": 2})
    assert [i.invocation_id for i in runs.recent(5)] == ["inv-b", "inv-a"]
    a = runs.get("inv-a")
    assert a is not None and a.status == "success" and a.finished_at is not None
    assert json.loads(a.args or "") == {"select": ["m"]} and json.loads(a.summary or "") == {
        "units": 2
    }
    b = runs.get("inv-b")
    assert b is not None and b.status == "running" and b.finished_at is None
    assert runs.get("nope") is None
    assert [i.invocation_id for i in runs.with_prefix("inv-")] == ["inv-b", "inv-a"]
    assert runs.with_prefix("inv_") == []  # `_` is no wildcard
    assert [(r.unique_id, r.status) for r in runs.node_runs("inv-a")] == [
        ("model.t.n", "success"),
        ("model.t.m", "success"),
    ]  # by start
    assert runs.status_counts("inv-a") == {"success": 2} and runs.status_counts("inv-b") == {}
    assert store.warning is None


def test_successful_runs_for_freshness_and_slas(store: SQLStateStore) -> None:
    runs = store.runs
    runs.record_node(run("model.t.m", inv="i1", started_at=100.0, duration=5.0))
    runs.record_node(run("model.t.m", "warn", inv="i2", started_at=200.0, duration=5.0))
    runs.record_node(run("model.t.m", "error", inv="i3", started_at=300.0, duration=5.0))
    runs.record_node(run("model.t.x", "skipped", inv="i1", started_at=None))
    assert runs.last_success("model.t.m") == 205.0 and runs.last_success("model.t.x") is None
    found = runs.successful_finishes(["model.t.m", "model.t.x"], 104.0, 200.0)
    assert found == {"model.t.m": [105.0, 205.0], "model.t.x": []}
    assert runs.successful_finishes(["model.t.m"], 106.0, 199.0) == {"model.t.m": []}


def test_latest_rejected_load(store: SQLStateStore) -> None:
    runs = store.runs
    runs.record_node(run("source.t.raw.a", inv="i1", started_at=1.0, rejected=3))
    runs.record_node(run("source.t.raw.a", inv="i2", started_at=2.0, rejected=0))  # fixed since
    runs.record_node(run("source.t.raw.b", inv="i1", started_at=1.0, rejected=2))
    assert [(r.unique_id, r.rejected) for r in runs.latest_rejected(10)] == [("source.t.raw.b", 2)]


def test_latest_invocation_with_checks(store: SQLStateStore) -> None:
    runs = store.runs
    assert runs.latest_with_checks() is None
    for inv, command in (("i1", "test"), ("i2", "build"), ("i3", "run"), ("i4", "test")):
        runs.start(inv, command, {}, "dev")
        time.sleep(0.002)
        if inv != "i2":
            store.checks.record(check("test.t.c", "pass", inv, time.time()))
        if inv != "i4":
            runs.finish(inv, "success", {})
    found = runs.latest_with_checks()  # i4 runs still, i3 is no build/test, i2 ran no check
    assert found is not None and found.invocation_id == "i1"
    other = runs.latest_with_checks(("run",))
    assert other is not None and other.invocation_id == "i3"


def test_a_dead_run_is_reaped_by_the_next_store(stores: Stores) -> None:
    first = stores.open(1)
    first.runs.start("dead", "build", {}, "dev")
    first.runs.start("done", "build", {}, "dev")
    first.runs.finish("done", "success", {})
    second = stores.open(1)  # the same machine, while the first still runs
    assert second.runs.reap_dead() == []
    first.close()  # the process ends without finishing `dead`: its lock goes with it
    assert second.runs.reap_dead() == ["dead"]
    dead, done = second.runs.get("dead"), second.runs.get("done")
    assert dead is not None and dead.status == "killed" and dead.finished_at is not None
    assert done is not None and done.status == "success"
    assert second.runs.reap_dead() == []


# -- checks ----------------------------------------------------------------------------------------
def test_check_results_and_history(store: SQLStateStore) -> None:
    checks = store.checks
    for i, status in enumerate(["pass", "warn", "fail", "fail"]):
        checks.record(check("test.t.a", status, f"i{i}", 100.0 + i))
        checks.record(check("test.t.b", "pass", f"i{i}", 100.0 + i))
    full = CheckRecord.of(
        "i9",
        {"unique_id": "test.t.c", "name": "c", "check": "expect_x", "node": "model.t.m", "column": None,
         "severity": "warn", "status": "warn", "failures": 2, "message": "m", "query": "q",
         "sample": [{"x": 1}], "rows": 50, "quarantined": 1, "result": {"observed_value": 3}},
        recorded_at=200.0,
    )  # fmt: skip
    checks.record(full)
    assert checks.for_invocation("i9") == [full]
    assert json.loads(full.sample or "") == [{"x": 1}] and json.loads(full.result or "") == {
        "observed_value": 3
    }
    history = checks.history(["test.t.a", "test.t.b", "test.t.none"], limit=3)
    assert [p.status for p in history["test.t.a"]] == ["warn", "fail", "fail"]
    assert [p.invocation_id for p in history["test.t.b"]] == ["i1", "i2", "i3"]
    assert history["test.t.none"] == []
    assert history["test.t.a"][-1].failures == 3 and history["test.t.a"][-1].rows_checked == 100


def test_latest_failing_checks_and_anomalies(store: SQLStateStore) -> None:
    checks = store.checks
    checks.record(check("test.t.old", "fail", "i1", 1.0))
    checks.record(check("test.t.old", "pass", "i2", 2.0))  # passes now
    checks.record(check("test.t.warn", "warn", "i2", 3.0))
    checks.record(check("schema_change.model.t.m", "warn", "i2", 4.0, "schema_change"))
    checks.record(check("anomaly.model.t.m.row_count", "warn", "i2", 5.0, "anomaly_row_count"))
    failing = checks.latest_results(("warn", "fail", "error"), anomalies=False, limit=10)
    assert [c.unique_id for c in failing] == ["test.t.warn"]
    anomalies = checks.latest_results(("warn", "fail"), anomalies=True, limit=10)
    assert [c.unique_id for c in anomalies] == ["anomaly.model.t.m.row_count"]


# -- the interval ledger and backfill plans --------------------------------------------------------
def _ledger(store: SQLStateStore) -> None:
    iv = store.intervals
    iv.record(
        "model.t.fct", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "success", 10, "inv1", 0.5
    )
    iv.record("model.t.fct", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "error", None, "inv1",
              0.1, "boom 100%")  # fmt: skip
    iv.record(
        "model.t.fct", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "success", 7, "inv2", 0.2
    )
    iv.record("model.t.other", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "fail", 0, "inv2",
              0.2, "audit")  # fmt: skip
    items = [
        ("model.t.fct", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z"),
        ("model.t.Zeta", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("model.t.fct", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
    ]
    bf = store.backfills
    bf.create("bf-1", "fct+", "2026-01-01", "2026-01-04", "all", items)
    bf.update_item("bf-1", "model.t.fct", "2026-01-01T00:00:00Z", "success", 1, 7, "")
    bf.create("bf-2", "other", "2026-01-01", "2026-01-02", "missing", [])
    bf.finish("bf-2", "success")


def test_interval_ledger(stores: Stores) -> None:
    a, b = stores.open(1), stores.open(2)  # two machines: one ledger
    _ledger(a)
    fct = b.intervals.for_node("model.t.fct")
    assert plain(fct) == [
        {"unique_id": "model.t.fct", "interval_start": "2026-01-01T00:00:00Z", "interval_end": "2026-01-02T00:00:00Z",
         "status": "success", "rows": 7, "invocation_id": "inv2", "duration": 0.2, "message": ""},
        {"unique_id": "model.t.fct", "interval_start": "2026-01-02T00:00:00Z", "interval_end": "2026-01-03T00:00:00Z",
         "status": "success", "rows": 10, "invocation_id": "inv1", "duration": 0.5, "message": ""},
    ]  # fmt: skip
    assert all(isinstance(i.built_at, float) for i in fct)
    b.intervals.forget("model.t.fct")
    assert a.intervals.for_node("model.t.fct") == []
    assert [i.status for i in a.intervals.for_node("model.t.other")] == ["fail"]
    assert a.warning is None and b.warning is None


def test_backfill_plans(stores: Stores) -> None:
    a, b = stores.open(1), stores.open(2)
    _ledger(a)
    assert [p.backfill_id for p in b.backfills.plans()] == ["bf-2", "bf-1"]  # newest first
    running = b.backfills.plans("running")
    assert plain(running) == [
        {"backfill_id": "bf-1", "selection": "fct+", "start": "2026-01-01", "end_": "2026-01-04",
         "rerun": "all", "status": "running"}
    ]  # fmt: skip
    done = b.backfills.plans("success")
    assert len(done) == 1 and done[0].finished_at is not None
    assert plain(b.backfills.items("bf-1")) == [  # byte order: `Z` before `f`
        {"backfill_id": "bf-1", "unique_id": "model.t.Zeta", "interval_start": "2026-01-01T00:00:00Z",
         "interval_end": "2026-01-02T00:00:00Z", "status": "pending", "attempts": 0, "rows": None, "message": None},
        {"backfill_id": "bf-1", "unique_id": "model.t.fct", "interval_start": "2026-01-01T00:00:00Z",
         "interval_end": "2026-01-02T00:00:00Z", "status": "success", "attempts": 1, "rows": 7, "message": ""},
        {"backfill_id": "bf-1", "unique_id": "model.t.fct", "interval_start": "2026-01-03T00:00:00Z",
         "interval_end": "2026-01-04T00:00:00Z", "status": "pending", "attempts": 0, "rows": None, "message": None},
    ]  # fmt: skip
    assert b.backfills.items("bf-2") == []


# -- metrics and schemas ---------------------------------------------------------------------------
def test_metric_history_and_series(store: SQLStateStore) -> None:
    m = store.metrics
    for i in range(5):
        m.record([
            MetricValue(f"i{i}", "model.t.m", 100.0 + i, "row_count", "", float(i * 10)),
            MetricValue(f"i{i}", "model.t.m", 100.0 + i, "null_rate", "email", None if i == 2 else 0.1 * i),
        ])  # fmt: skip
    m.record([MetricValue("i4", "model.t.m", 104.0, "row_count", "", 41.0)])  # measured again
    history = m.history("model.t.m", "row_count", limit=3)
    assert [(p.invocation_id, p.value) for p in history] == [
        ("i2", 20.0),
        ("i3", 30.0),
        ("i4", 41.0),
    ]
    assert [p.value for p in m.history("model.t.m", "row_count", before=102.0)] == [0.0, 10.0]
    assert [p.value for p in m.history("model.t.m", "null_rate", "email", limit=3)] == [
        None, pytest.approx(0.3), pytest.approx(0.4)
    ]  # fmt: skip
    assert m.history("model.t.m", "null_rate") == []  # a column metric has its column
    series = m.series("model.t.m", 2)
    assert [(p.metric, p.column_name, p.recorded_at) for p in series] == [
        ("row_count", "", 103.0), ("row_count", "", 104.0),
        ("null_rate", "email", 103.0), ("null_rate", "email", 104.0),
    ]  # fmt: skip


def test_schemas_compare_only_the_same_target(store: SQLStateStore) -> None:
    m, runs = store.metrics, store.runs
    old = [("id", "INTEGER"), ("name", "VARCHAR")]
    for inv, target in (("dev1", "dev"), ("prod1", "prod"), ("dev2", "dev")):
        runs.start(inv, "build", {}, target)
        runs.finish(inv, "success", {})
    m.record_schemas("dev1", {"model.t.a": old, "model.t.b": old}, 1.0)
    m.record_schemas("prod1", {"model.t.a": [("id", "integer")]}, 2.0)
    m.record_schemas("nobody", {"model.t.b": [("x", "DATE")]}, 3.0)  # no invocation row: any target
    assert m.previous_schemas(["model.t.a"], "dev2") == {"model.t.a": old}
    assert m.previous_schemas(["model.t.a", "model.t.b", "model.t.c"], "dev2") == {
        "model.t.a": old,
        "model.t.b": [("x", "DATE")],
    }
    assert m.previous_schemas(["model.t.a"], "dev1") == {}  # its own run does not count
    assert m.previous_schemas([], "dev2") == {}


def test_schema_changes_newest_first_in_the_order_found(store: SQLStateStore) -> None:
    m = store.metrics
    m.record_changes([SchemaChangeRecord("model.t.a", "i1", 1.0, "added", "x", None, "DATE")])
    m.record_changes([
        SchemaChangeRecord("model.t.b", "i2", 2.0, "removed", "z", "TEXT", None),
        SchemaChangeRecord("model.t.a", "i2", 2.0, "renamed", "y2", "y", "y2"),
    ])  # fmt: skip
    assert [(c.invocation_id, c.column_name) for c in m.recent_changes(10)] == [
        ("i2", "z"), ("i2", "y2"), ("i1", "x"),
    ]  # fmt: skip
    assert len(m.recent_changes(1)) == 1


# -- incidents -------------------------------------------------------------------------------------
def test_incidents_lifecycle(store: SQLStateStore) -> None:
    inc = store.incidents
    inc.open_new([
        Incident("node_failure:a", "node_failure", "a", "open", 10.0, None, 10.0, None, 1, "a failed"),
        Incident("sla:b", "sla", "b", "open", 20.0, None, 20.0, None, 1, "b late"),
    ])  # fmt: skip
    inc.seen([("node_failure:a", 30.0, "a failed again")])
    inc.mark_alerted(["node_failure:a"], 31.0)
    inc.resolve([("sla:b", 40.0)])
    found = inc.open_incidents()
    assert list(found) == ["node_failure:a"]
    a = found["node_failure:a"]
    assert (a.occurrences, a.last_seen_at, a.last_alert_at, a.message) == (
        2,
        30.0,
        31.0,
        "a failed again",
    )
    inc.open_new([Incident("sla:b", "sla", "b", "open", 50.0, None, 50.0, None, 1, "late again")])
    assert [i.incident_key for i in inc.latest_open(10)] == ["sla:b", "node_failure:a"]
    assert [i.incident_key for i in inc.latest_open(1)] == ["sla:b"]


def test_alert_deliveries_for_rate_limits_and_resolutions(store: SQLStateStore) -> None:
    inc = store.incidents
    inc.record_deliveries([
        AlertDelivery("k1", "hook", "open", 10.0, True, None),
        AlertDelivery("k1", "mail", "open", 10.0, False, "timeout"),
        AlertDelivery("k1", "log", "reminder", 20.0, True, None),
        AlertDelivery("k2", "hook", "open", 30.0, False, "rate limited"),
        AlertDelivery("rate_limit:hook", "hook", "summary", 30.0, True, None),
    ])  # fmt: skip
    assert sorted(inc.channels_told("k1", 0.0)) == ["hook", "log"]
    assert inc.channels_told("k1", 15.0) == ["log"]
    assert inc.deliveries_per_channel(0.0, not_error="rate limited") == {
        "hook": 1,
        "mail": 1,
        "log": 1,
    }
    assert inc.deliveries_per_channel(15.0, not_error="rate limited") == {"log": 1}
    assert inc.summarised_channels(0.0) == {"hook"} and inc.summarised_channels(31.0) == set()


# -- freshness and schedules -----------------------------------------------------------------------
def test_freshness_latest_stale(store: SQLStateStore) -> None:
    fr = store.freshness
    fr.record([
        FreshnessRecord("f0", "source.t.raw.ok", 1.0, "error", "2026-01-01", 99.0, 60.0, None, "old"),
        FreshnessRecord("f1", "source.t.raw.ok", 2.0, "pass", "2026-01-01", 1.0, 60.0, None, ""),
        FreshnessRecord("f1", "source.t.raw.late", 2.0, "warn", "2026-01-01", 70.0, 60.0, 600.0, "late"),
        FreshnessRecord("f1", "source.t.raw.gone", 2.0, "error", None, 900.0, 60.0, 600.0, "gone"),
    ])  # fmt: skip
    assert [(r.unique_id, r.status) for r in fr.latest_stale(10)] == [
        ("source.t.raw.gone", "error"), ("source.t.raw.late", "warn"),
    ]  # fmt: skip


def test_sla_breaches_once_and_schedule_runs(store: SQLStateStore) -> None:
    sc = store.schedules
    breach = SlaBreach("daily", "schedule", "", 100.0, 101.0, "i1", "missed")
    sc.record_breaches([breach])
    sc.record_breaches([SlaBreach("daily", "schedule", "", 100.0, 200.0, "i2", "missed again")])
    sc.record_breaches(
        [SlaBreach("max_duration", "duration", "model.t.m", 50.0, 51.0, "i1", "slow")]
    )
    assert sc.breaches("schedule") == [breach]  # recorded once, the first kept
    assert [b.kind for b in sc.breaches()] == ["schedule", "duration"]
    assert sc.last_run("nightly") is None
    sc.record_run(ScheduleRun("nightly", 10.0, 20.0, "i1", "success"))
    sc.record_run(ScheduleRun("nightly", 20.0, 30.0, "i2", "failed"))
    sc.record_run(ScheduleRun("hourly", 5.0, 6.0, None, None))
    assert sc.last_run("nightly") == ScheduleRun("nightly", 20.0, 30.0, "i2", "failed")
    assert [r.schedule for r in sc.runs()] == ["hourly", "nightly"]


# -- robustness ------------------------------------------------------------------------------------
def test_a_failed_history_write_is_a_warning_not_an_error(stores: Stores) -> None:
    store = stores.open()
    stores.break_table("node_metrics")
    store.metrics.record([MetricValue("i1", "model.t.m", 1.0, "row_count", "", 1.0)])
    assert store.warning is not None and "could not be saved" in store.warning
    # the rest of this process's history is skipped quietly; reads and the ledger still work
    store.incidents.record_deliveries([AlertDelivery("k", "hook", "open", 1.0, True, None)])
    assert store.incidents.channels_told("k", 0.0) == []
    with pytest.raises(StateStoreError, match="backfill plan"):  # a plan must be saved
        stores.break_table("backfills")
        store.backfills.create("bf", "x", "2026-01-01", "2026-01-02", "all", [])


def test_a_failed_ledger_write_warns_and_forgetting_it_raises(stores: Stores) -> None:
    store = stores.open()
    stores.break_table("intervals")
    store.intervals.record("model.t.fct", "2026-01-01", "2026-01-02", "success", 3, "i", 0.1)
    assert store.warning is not None and "interval ledger" in store.warning
    with pytest.raises(StateStoreError, match="interval ledger"):
        store.intervals.forget("model.t.fct")
    with pytest.raises(StateStoreError, match="read the state"):
        store.intervals.for_node("model.t.fct")


def test_secrets_are_never_stored(store: SQLStateStore) -> None:
    token = "s3cret-T0KEN-for-the-state-store"
    secrets.register(token)
    store.runs.start("inv", "build", {"url": f"https://x/{token}"}, "dev")
    store.runs.record_node(run("model.t.m", "error", inv="inv", message=f"auth {token} refused"))
    store.intervals.record("model.t.m", "a", "b", "error", None, "inv", 0.1, f"boom {token}")
    store.runs.finish("inv", "error", {"error": token})
    inv = store.runs.get("inv")
    texts = [
        inv.args if inv else "", inv.summary if inv else "",
        store.runs.node_runs("inv")[0].message, store.intervals.for_node("model.t.m")[0].message,
    ]  # fmt: skip
    assert all(t and token not in t for t in texts), texts


def test_batches_and_concurrent_writers_lose_nothing(stores: Stores) -> None:
    a, b = stores.open(1), stores.open(2)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def write(store: SQLStateStore, writer: int) -> None:
        try:
            start.wait()
            for i in range(120):  # past one batch of queued rows
                store.runs.record_node(run(f"model.t.n{i:03d}", inv=f"w{writer}"))
                if i % 10 == 0:
                    store.intervals.record("model.t.fct", f"w{writer}-{i:03d}", "x", "success", i,
                                           f"w{writer}", 0.0)  # fmt: skip
                    store.intervals.record(
                        "model.t.fct", "shared", "x", "success", i, f"w{writer}", 0.0
                    )
            store.flush()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=([a, b][w % 2], w)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and a.warning is None and b.warning is None
    assert all(len(a.runs.node_runs(f"w{w}")) == 120 for w in range(4))
    ledger = {i.interval_start for i in b.intervals.for_node("model.t.fct")}
    assert ledger == {"shared"} | {f"w{w}-{i:03d}" for w in range(4) for i in range(0, 120, 10)}


# -- a run as the recorder writes it: records built from result dicts, read back by every repository
def test_a_run_recorded_from_result_dicts_reads_back(store: SQLStateStore) -> None:
    store.runs.start("inv", "build", {}, "dev")
    store.runs.record_node(NodeRun.of("inv", {"unique_id": "model.t.m", "name": "m", "resource_type": "model",
                                              "status": "success", "checks": [], "rows": 3}))  # fmt: skip
    store.checks.record(CheckRecord.of("inv", {"unique_id": "test.t.c", "name": "c", "check": "unique",
                                               "node": "model.t.m", "column": "id", "severity": "error",
                                               "status": "pass", "failures": 0, "message": "", "query": "q",
                                               "sample": [], "rows": 3}))  # fmt: skip
    store.metrics.record([MetricValue("inv", "model.t.m", 5.0, "row_count", "", 3.0)])
    store.intervals.record("model.t.m", "a", "b", "success", 3, "inv", 0.1)
    store.backfills.create("bf", "m", "a", "b", "all", [("model.t.m", "a", "b")])
    store.backfills.update_item("bf", "model.t.m", "a", "success", 1, 3, "")
    store.runs.finish("inv", "success", {"units": 1})
    assert store.runs.recent(1)[0].status == "success"
    assert store.runs.node_runs("inv")[0].rows == 3
    assert store.checks.for_invocation("inv")[0].check_type == "unique"
    latest = store.runs.latest_with_checks()
    assert latest is not None and latest.invocation_id == "inv"
    assert [p.status for p in store.checks.history(["test.t.c"])["test.t.c"]] == ["pass"]
    assert store.metrics.history("model.t.m", "row_count") == [MetricPoint("inv", 5.0, 3.0)]
    assert [r.rows for r in store.intervals.for_node("model.t.m")] == [3]
    assert [b.backfill_id for b in store.backfills.plans("running")] == ["bf"]
    assert store.backfills.items("bf")[0].attempts == 1
    store.backfills.finish("bf", "success")
    assert store.backfills.plans("running") == []
    store.intervals.forget("model.t.m")
    assert store.intervals.for_node("model.t.m") == [] and store.runs.reap_dead() == []
    assert store.warning is None
