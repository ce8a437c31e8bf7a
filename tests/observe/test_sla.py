"""SLAs: run-time budgets through real builds, schedule SLAs at the edges of their deadlines (cron
weekdays, time zones, DST days), configuration errors, breaches recorded once."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.cli.render.console import NullConsole
from headwater.context import Context
from headwater.errors import ConfigError
from headwater.observe import Bus
from headwater.observe.sla import (
    ScheduleSLA,
    evaluate_schedule_sla,
    last_deadline,
    make,
    parse_budget,
    parse_slas,
    parse_time_of_day,
)
from headwater.runner.events import Listeners, Run
from headwater.runner.executor import Runner
from headwater.runner.plan import plan_units
from headwater.state.records import NodeRun
from tests.conftest import BASE_PROJECT

UTC = dt.UTC
BERLIN = "Europe/Berlin"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def sla(
    finish_by: str = "07:00", schedule: str | None = "0 6 * * *", timezone: str = "UTC"
) -> ScheduleSLA:
    return ScheduleSLA("daily", ["tag:daily"], parse_time_of_day(finish_by), schedule, timezone)


# -- budgets ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90.0), (0.000001, 0.000001), ("90", 90.0), ("90s", 90.0), ("10m", 600.0), ("1h", 3600.0),
     ("1h30m", 5400.0), ("1.5h", 5400.0), ("2d", 172800.0), ("250ms", 0.25), (" 10 m ", 600.0)],
)  # fmt: skip
def test_parse_budget(value: object, seconds: float) -> None:
    assert parse_budget(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", [0, -5, "0s", "", "ten minutes", "10x", "1h banana", True, None, [1]]
)
def test_parse_budget_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_budget(value)


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59))
def test_parse_budget_compound_units(h: int, m: int, s: int) -> None:
    total = h * 3600 + m * 60 + s
    if total == 0:
        return
    text = "".join(f"{n}{u}" for n, u in ((h, "h"), (m, "m"), (s, "s")) if n) or "0s"
    assert parse_budget(text) == total


BUDGET_FILES = {
    "models/slow.sql": "{{ config(materialized='table', max_duration=0.000001) }} "
                       "select sum(i * i) as s, count(*) as n from range(3000000) t(i)",
    "models/roomy.sql": "{{ config(materialized='table', max_duration='1h') }} select 1 as x",
    "models/free.sql": "{{ config(materialized='table') }} select 1 as x",
}  # fmt: skip


def test_duration_budget_breach_through_a_real_build(make_project) -> None:
    root = make_project(BUDGET_FILES)
    with Context(root) as ctx:
        result = ctx.build()
        assert result.exit_code == 0  # a budget breach is reported, it does not fail the node
        slow = next(r for r in result.results if r.name == "slow")
        assert slow.duration > 0.000001
        rows = ctx.state.read("SELECT * FROM sla_breaches")
        assert len(rows) == 1
        row = rows[0]
        assert (row["sla"], row["kind"], row["unique_id"]) == (
            "max_duration",
            "duration",
            "model.t.slow",
        )
        assert row["due_at"] == pytest.approx(slow.started_at + 0.000001, abs=1e-6)
        assert row["invocation_id"] == result.invocation_id and "over its budget" in row["message"]
        run = ctx.state.read("SELECT started_at FROM node_runs WHERE unique_id = 'model.t.slow'")[0]
        assert row["due_at"] == pytest.approx(run["started_at"] + 0.000001, abs=1e-6)
        ctx.build()  # every run over its budget is its own breach
        assert len(ctx.state.read("SELECT * FROM sla_breaches WHERE kind = 'duration'")) == 2


def test_duration_budget_signals(make_project) -> None:
    root = make_project(BUDGET_FILES)
    with Context(root) as ctx:
        bus = Bus()
        observer = make(ctx, "build", "inv-1", bus)
        assert observer is not None
        units = plan_units(ctx.graph, set(ctx.graph.nodes), build=True, tests=False)
        Runner(ctx.engine, ctx.graph, ctx.manifest.config, Listeners([NullConsole(), observer]),
               invocation_id="inv-1", state=ctx.state).run(units)  # fmt: skip
    signals = {s.subject: s for s in bus.signals}
    assert set(signals) == {
        "max_duration:model.t.slow",
        "max_duration:model.t.roomy",
    }  # `free` has no budget
    slow, roomy = signals["max_duration:model.t.slow"], signals["max_duration:model.t.roomy"]
    assert (slow.trigger, slow.status, slow.severity) == ("sla", "open", "error")
    assert slow.details["duration"] > slow.details["budget"] == 0.000001
    assert (roomy.trigger, roomy.status) == ("sla", "ok") and roomy.details["budget"] == 3600


def test_no_budget_and_no_slas_means_no_observer(make_project) -> None:
    root = make_project({"models/a.sql": "select 1 as x"})
    with Context(root) as ctx:
        assert make(ctx, "build", "x", Bus()) is None


def test_bad_budget_stops_the_build(make_project, cli) -> None:
    root = make_project({"models/a.sql": "{{ config(max_duration='ten minutes') }} select 1 as x"})
    res = cli("build", "--project-dir", root)
    assert res.code == 2
    assert (
        "max_duration: 'ten minutes'" in res.err
        and "models/a.sql" in res.err
        and '"10m"' in res.err
    )


# -- schedule SLAs: the deadline -------------------------------------------------------------------------------
def test_deadline_is_first_finish_by_after_the_fire_time() -> None:
    s = sla()
    assert last_deadline(s, utc(2024, 5, 8, 7, 0)) == (
        utc(2024, 5, 8, 6),
        utc(2024, 5, 8, 7),
    )  # due exactly now
    assert last_deadline(s, utc(2024, 5, 8, 6, 59, 59)) == (utc(2024, 5, 7, 6), utc(2024, 5, 7, 7))
    late = sla("07:00", "0 23 * * *")  # a 23:00 run is due by 07:00 the next day
    assert last_deadline(late, utc(2024, 5, 8, 12)) == (utc(2024, 5, 7, 23), utc(2024, 5, 8, 7))
    hourly = sla("07:00", "0 * * * *")  # many fires, one deadline: the window opens at the first
    assert last_deadline(hourly, utc(2024, 5, 8, 12)) == (utc(2024, 5, 7, 8), utc(2024, 5, 8, 7))
    daily = sla("07:00", None)  # no schedule: the day before each deadline
    assert last_deadline(daily, utc(2024, 5, 8, 7)) == (utc(2024, 5, 7, 7), utc(2024, 5, 8, 7))
    assert last_deadline(daily, utc(2024, 5, 8, 6)) == (utc(2024, 5, 6, 7), utc(2024, 5, 7, 7))
    assert last_deadline(sla("07:00", "0 0 30 2 *"), utc(2024, 5, 8)) is None  # never due


def test_weekdays_only() -> None:
    s = sla("07:00", "0 6 * * 1-5")
    saturday, monday = utc(2024, 5, 11, 10), utc(2024, 5, 13, 6, 30)
    friday = (utc(2024, 5, 10, 6), utc(2024, 5, 10, 7))
    assert last_deadline(s, saturday) == friday
    assert last_deadline(s, monday) == friday  # Monday's deadline has not passed yet
    assert last_deadline(s, utc(2024, 5, 13, 7)) == (utc(2024, 5, 13, 6), utc(2024, 5, 13, 7))


def test_timezone_and_dst_days() -> None:
    s = sla("07:00", "0 6 * * *", BERLIN)
    # winter (CET, +1), the spring-forward day (CEST from 02:00), summer, the fall-back day (CET again)
    assert last_deadline(s, utc(2024, 3, 30, 12)) == (utc(2024, 3, 30, 5), utc(2024, 3, 30, 6))
    assert last_deadline(s, utc(2024, 3, 31, 12)) == (utc(2024, 3, 31, 4), utc(2024, 3, 31, 5))
    assert last_deadline(s, utc(2024, 3, 31, 5, 30)) == (utc(2024, 3, 31, 4), utc(2024, 3, 31, 5))
    assert last_deadline(s, utc(2024, 3, 31, 4, 59)) == (utc(2024, 3, 30, 5), utc(2024, 3, 30, 6))
    assert last_deadline(s, utc(2024, 10, 27, 12)) == (utc(2024, 10, 27, 5), utc(2024, 10, 27, 6))
    # the window spans the lost hour: 01:30 (CET) to 03:30 (CEST) is one hour
    night = sla("03:30", "30 1 * * *", BERLIN)
    start, deadline = last_deadline(night, utc(2024, 3, 31, 12))
    assert (start, deadline) == (utc(2024, 3, 31, 0, 30), utc(2024, 3, 31, 1, 30))
    assert deadline - start == dt.timedelta(hours=1)
    uid = "model.t.m"
    on_time = evaluate_schedule_sla(
        s, {uid: [utc(2024, 3, 31, 5).timestamp()]}, utc(2024, 3, 31, 12)
    )
    late = evaluate_schedule_sla(
        s, {uid: [utc(2024, 3, 31, 5, 0, 1).timestamp()]}, utc(2024, 3, 31, 12)
    )
    assert on_time.status == "met" and late.status == "breached" and late.missing == [uid]
    assert "2024-03-31 07:00:00 Europe/Berlin" in late.message


def test_met_breached_at_the_edges() -> None:
    s, now = sla(), utc(2024, 5, 8, 9)
    a, b = "model.t.a", "model.t.b"

    def status(*finishes: dt.datetime) -> str:
        return evaluate_schedule_sla(
            s, {a: [f.timestamp() for f in finishes], b: [utc(2024, 5, 8, 6, 30).timestamp()]}, now
        ).status

    assert status(utc(2024, 5, 8, 7)) == "met"  # finished exactly at the deadline
    assert status(utc(2024, 5, 8, 6)) == "met"  # exactly at the fire time
    assert status(utc(2024, 5, 8, 7, 0, 1)) == "breached"  # one second late
    assert status(utc(2024, 5, 8, 5, 59, 59)) == "breached"  # before the run was due
    assert status(utc(2024, 5, 8, 5), utc(2024, 5, 8, 6, 45), utc(2024, 5, 8, 8)) == "met"
    assert status() == "breached"
    result = evaluate_schedule_sla(s, {a: [], b: []}, now)
    assert result.missing == [a, b] and result.due_at == utc(2024, 5, 8, 7)
    assert evaluate_schedule_sla(sla("07:00", "0 0 30 2 *"), {a: []}, now).status == "pending"


@given(
    now=st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2030, 1, 1), timezones=st.just(UTC)),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 59]),
    fire_hour=st.integers(0, 23),
    tz=st.sampled_from(["UTC", BERLIN, "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
    schedule=st.sampled_from([True, False]),
)
def test_last_deadline_is_the_latest_passed_one(now, hour, minute, fire_hour, tz, schedule) -> None:
    s = sla(f"{hour:02d}:{minute:02d}", f"0 {fire_hour} * * *" if schedule else None, tz)
    start, deadline = last_deadline(s, now)
    assert start <= deadline <= now
    assert deadline - start <= dt.timedelta(days=1, hours=1)
    assert last_deadline(s, deadline) == (
        start,
        deadline,
    )  # due exactly at the deadline: it has passed
    earlier = last_deadline(s, deadline - dt.timedelta(microseconds=1))
    assert earlier is not None and earlier[1] < deadline
    assert now - deadline < dt.timedelta(
        days=1, hours=1
    )  # a daily deadline passed within a day (+ a DST hour)


# -- schedule SLAs: configuration -------------------------------------------------------------------------------
def test_parse_slas_and_time_of_day() -> None:
    [s] = parse_slas([{"name": "d", "select": ["a", "b"], "finish_by": "7:05:30", "timezone": BERLIN,
                       "schedule": "0 6 * * 1-5", "severity": "warn", "exclude": "c"}])  # fmt: skip
    assert (s.select, s.exclude, s.finish_by, s.severity) == (
        ["a", "b"],
        ["c"],
        dt.time(7, 5, 30),
        "warn",
    )
    assert parse_time_of_day(450) == dt.time(7, 30)  # YAML 1.1 reads an unquoted 7:30 as 450
    assert parse_slas(None) == []


def project_with_slas(make_project, slas: str, files: dict | None = None) -> Path:
    return make_project(
        {
            "models/m.sql": "{{ config(materialized='table', tags=['daily']) }} select 1 as x",
            **(files or {}),
        },
        BASE_PROJECT + "observability:\n  slas:\n" + slas,
    )


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (
            '    - {name: d, select: "tag:daily", finish_by: "07:00", schedule: "0 25 * * *"}\n',
            ["not a cron", "0 6 * * 1-5"],
        ),
        (
            '    - {name: d, select: "tag:daily", finish_by: "25:00"}\n',
            ["not a time of day", "HH:MM"],
        ),
        (
            '    - {name: d, select: "tag:daily", finish_by: "07:00", timezon: UTC}\n',
            ["unknown key `timezon`", "timezone"],
        ),
        (
            '    - {name: d, select: "tag:daily", finish_by: "07:00", timezone: Mars/Base}\n',
            ["unknown timezone", "IANA"],
        ),
        ('    - {name: d, finish_by: "07:00"}\n', ["needs `select:`"]),
        ('    - {name: d, select: "tag:daily"}\n', ["needs `finish_by:`"]),
        ('    - {select: "tag:daily", finish_by: "07:00"}\n', ["needs `name:`"]),
        ('    - {name: d, select: "tag:nope", finish_by: "07:00"}\n', ["no node", "tag"]),
        (
            '    - {name: d, select: "tag:daily", finish_by: "07:00", severity: page}\n',
            ["severity: page"],
        ),
        (
            '    - {name: d, select: m, finish_by: "07:00"}\n    - {name: d, select: m, finish_by: "08:00"}\n',
            ["two SLAs"],
        ),
        ("    nope: 1\n", ["must be a list"]),
    ],
)
def test_bad_sla_config_names_headwater_yml(
    make_project, cli, entry: str, words: list[str]
) -> None:
    root = project_with_slas(make_project, entry)
    with Context(root) as ctx, pytest.raises(ConfigError) as info:
        make(ctx, "build", "x", Bus())
    text = info.value.render()
    assert "headwater.yml" in text and "observability.slas" in text
    for word in words:
        assert word in text
    for command in ("build", "freshness"):
        res = cli(command, "--project-dir", root)
        assert res.code == 2 and "headwater.yml" in res.err


def test_unquoted_finish_by_is_read_as_a_time(make_project) -> None:
    root = project_with_slas(make_project, "    - {name: d, select: m, finish_by: 7:30}\n")
    with Context(root) as ctx:
        observer = make(ctx, "build", "x", Bus())
        assert observer is not None and observer.slas[0].finish_by == dt.time(7, 30)


# -- schedule SLAs: evaluated at the end of a run and by `headwater freshness` -----------------------------------------
def test_schedule_sla_breach_is_recorded_once_and_signalled(make_project, cli) -> None:
    # the deadline passed an hour ago and the project has never run: breached; the run that follows
    # finishes after the deadline, so it does not count for it
    now = dt.datetime.now(UTC)
    finish_by = (now - dt.timedelta(hours=1)).strftime("%H:%M:%S")
    root = project_with_slas(
        make_project, f'    - {{name: daily, select: "tag:daily", finish_by: "{finish_by}"}}\n'
    )
    with Context(root) as ctx:
        bus = Bus()
        observer = make(ctx, "build", "inv-1", bus)
        units = plan_units(ctx.graph, set(ctx.graph.nodes), build=True, tests=False)
        Runner(ctx.engine, ctx.graph, ctx.manifest.config, Listeners([NullConsole(), observer]),
               invocation_id="inv-1", state=ctx.state).run(units)  # fmt: skip
        [signal] = bus.signals
        assert (signal.trigger, signal.subject, signal.status, signal.severity) == (
            "sla",
            "daily",
            "open",
            "error",
        )
        assert signal.details["missing"] == ["model.t.m"]
        ctx.build()
        ctx.build()
        rows = ctx.state.read("SELECT * FROM sla_breaches WHERE kind = 'schedule'")
        assert len(rows) == 1 and rows[0]["sla"] == "daily" and rows[0]["unique_id"] == ""
        assert rows[0]["due_at"] == pytest.approx(
            (now - dt.timedelta(hours=1)).replace(microsecond=0).timestamp(), abs=1
        )
    res = cli("freshness", "--project-dir", root, "--json")
    assert res.code == 1  # a breached SLA fails `headwater freshness`
    [s] = json.loads(res.out)["slas"]
    assert (s["name"], s["status"], s["missing"]) == ("daily", "breached", ["model.t.m"])
    res = cli("freshness", "--project-dir", root)
    assert "daily" in res.out and "breached" in res.out and "1 of 1 SLAs breached" in res.out


def test_schedule_sla_met_by_a_run_in_the_window(make_project, cli) -> None:
    now = dt.datetime.now(UTC).replace(microsecond=0)
    deadline = now - dt.timedelta(hours=1)
    root = project_with_slas(
        make_project, f'    - {{name: daily, select: m, finish_by: "{deadline:%H:%M:%S}"}}\n'
    )
    with Context(root) as ctx:
        # the run of yesterday's schedule: finished exactly at the deadline
        ctx.state.runs.record_node(NodeRun.of("earlier", {"unique_id": "model.t.m", "name": "m", "resource_type": "model",
                                                          "status": "success", "started_at": deadline.timestamp() - 30,
                                                          "duration": 30.0}))  # fmt: skip
        bus = Bus()
        observer = make(ctx, "run", "inv-2", bus)
        observer.run_finished(Run("inv", "run", "dev"), [], "success")
        [signal] = bus.signals
        assert (signal.subject, signal.status) == ("daily", "ok")
        assert ctx.state.read("SELECT * FROM sla_breaches") == []
    res = cli("freshness", "--project-dir", root, "--json")
    assert res.code == 0 and json.loads(res.out)["slas"][0]["status"] == "met"
    # the SLA covers the selected node: it is evaluated
    res = cli("freshness", "--project-dir", root, "--json", "-s", "m")
    assert json.loads(res.out)["slas"][0]["name"] == "daily"


def test_freshness_leaves_out_slas_of_other_nodes(make_project, cli) -> None:
    root = project_with_slas(make_project, '    - {name: daily, select: m, finish_by: "00:00"}\n',
                             {"models/other.sql": "select 1 as y"})  # fmt: skip
    res = cli("freshness", "--project-dir", root, "--json", "-s", "other")
    assert res.code == 0 and json.loads(res.out)["slas"] == []
    res = cli("freshness", "--project-dir", root, "--json")
    assert res.code == 1 and json.loads(res.out)["slas"][0]["status"] == "breached"


def test_every_sla_is_evaluated_at_the_end_of_a_run(make_project) -> None:
    """The observer evaluates every SLA at the end of each run (its cost is a benchmark's
    business, not a timed test's: this machine is shared and noisy)."""
    entries = "".join(
        f'    - {{name: s{i}, select: m, finish_by: "07:00", schedule: "*/5 * * * *"}}\n'
        for i in range(20)
    )
    root = project_with_slas(make_project, entries)
    with Context(root) as ctx:
        observer = make(ctx, "run", "inv", Bus())
        observer.run_finished(Run("inv", "run", "dev"), [], "success")
        assert len(observer.results) == 20
        assert {r.name for r in observer.results} == {f"s{i}" for i in range(20)}
