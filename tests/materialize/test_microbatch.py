"""Microbatch models, the interval ledger and backfills on a real DuckDB file."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.context import Context
from headwater.materialize.incremental import floor_time, intervals, parse_time
from tests.conftest import query, write_files

EVENTS = "id,ts,amount\n" + "".join(
    f"{i},2026-01-{1 + i % 10:02d} {i % 24:02d}:15:00,{i}\n" for i in range(1, 101)
)  # 100 events over Jan 1-10

STG = """
{{ config(materialized='view', event_time='ts') }}
select id, cast(ts as timestamp) as ts, amount from {{ ref('events') }}
"""

FCT = """
{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='event_ts',
          batch_size='day', begin='2026-01-01', lookback=1) }}
select id, ts as event_ts, amount * 2 as amount2 from {{ ref('stg_events') }}
"""


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Path:
    return make_project(
        {"seeds/events.csv": EVENTS, "models/stg_events.sql": STG, "models/fct_events.sql": FCT}
    )


def _checksum(root: Path) -> tuple:
    return tuple(
        query(
            root,
            "select count(*), sum(id), sum(amount2), md5(string_agg(id::varchar, ',' order by id)) from main.fct_events",
        )[0]
    )


def test_first_run_builds_every_interval_and_records_them(project: Path) -> None:
    with Context(project) as ctx:
        result = ctx.run()
        _node, ledger = ctx.intervals("fct_events")
    assert result.exit_code == 0, result.results[-1].message
    assert query(project, "select count(*), sum(amount2) from main.fct_events") == [
        (100, 2 * sum(range(1, 101)))
    ]
    assert len(ledger) >= 10 and all(r.status == "success" for r in ledger)
    jan2 = next(r for r in ledger if r.interval_start == "2026-01-02T00:00:00Z")
    assert jan2.interval_end == "2026-01-03T00:00:00Z" and jan2.rows == 10


def test_rerun_only_builds_missing_and_lookback_and_is_idempotent(project: Path) -> None:
    with Context(project) as ctx:
        ctx.run()
    first = _checksum(project)
    with Context(project) as ctx:
        result = ctx.run()
    message = next(r for r in result.results if r.name == "fct_events").message
    assert message.startswith("microbatch: 1 intervals")  # only the lookback interval (today)
    assert _checksum(project) == first


def test_backfill_restates_a_range_and_leaves_the_rest(project: Path, cli) -> None:
    with Context(project) as ctx:
        ctx.run()
    # the source changes for Jan 3 and Jan 4 only
    changed = EVENTS.replace(",2026-01-03 ", ",2026-01-03 ").splitlines()
    rows = [changed[0]] + [
        line.rsplit(",", 1)[0] + ",1000" if ",2026-01-03" in line or ",2026-01-04" in line else line
        for line in changed[1:]
    ]
    write_files(project, {"seeds/events.csv": "\n".join(rows) + "\n"})
    assert cli("seed", "--project-dir", project).code == 0
    res = cli("backfill", "fct_events", "--start", "2026-01-03", "--end", "2026-01-04", "--rerun", "all",
              "--project-dir", project, "--workers", "2")  # fmt: skip
    assert res.code == 0, res.out + res.err
    assert "1 intervals built" in res.out
    per_day = dict(
        query(
            project, "select event_ts::date::varchar, max(amount2) from main.fct_events group by 1"
        )
    )
    assert per_day["2026-01-03"] == 2000  # restated
    assert per_day["2026-01-04"] < 2000  # outside [start, end): untouched
    res = cli("intervals", "fct_events", "--project-dir", project, "--json")
    ledger = {r["interval_start"]: r for r in json.loads(res.out)}
    assert ledger["2026-01-03T00:00:00Z"]["rows"] == 10


def test_backfill_failure_then_continue(project: Path, cli) -> None:
    write_files(project, {"models/fct.yml": (
        "version: 2\nmodels:\n  - name: fct_events\n    data_tests:\n"
        "      - expression_is_true: {expression: \"event_ts < timestamp '2026-01-06'\"}\n")})  # fmt: skip
    # the intervals of Jan 6-10 fail their check: they are rolled back, the others published
    res = cli(
        "backfill",
        "fct_events",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-11",
        "--project-dir",
        project,
    )
    assert res.code == 1 and "build its inputs first" in res.err
    assert cli("run", "-s", "+stg_events", "--project-dir", project).code == 0
    # the plan was persisted before the failure: resume it
    res = cli("backfill", "--continue", "--project-dir", project)
    assert res.code == 1
    assert "failed" in res.out and "--continue" in res.out
    assert "5 intervals built, 5 failed" in res.out
    assert query(project, "select count(*) from main.fct_events")[0][0] == 50
    with Context(project) as ctx:
        plans = ctx.state.backfills.plans("running")
    assert len(plans) == 1
    # an overlapping new plan is refused while this one is unfinished
    res = cli(
        "backfill",
        "fct_events",
        "--start",
        "2026-01-07",
        "--end",
        "2026-01-08",
        "--project-dir",
        project,
    )
    assert res.code == 2 and "overlaps" in res.err and "--continue" in res.err
    # fix the check, resume: only the failed intervals run
    write_files(project, {"models/fct.yml": "version: 2\nmodels:\n  - name: fct_events\n"})
    res = cli("backfill", "--continue", "--project-dir", project)
    assert res.code == 0, res.out + res.err
    assert query(project, "select count(*) from main.fct_events")[0][0] == 100
    with Context(project) as ctx:
        assert ctx.state.backfills.plans("running") == []


def test_event_time_must_be_a_timestamp(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "seeds/events.csv": EVENTS,
            "models/stg_events.sql": STG,
            "models/fct_events.sql": FCT.replace(
                "ts as event_ts", "cast(id as varchar) as event_ts"
            ),
        }
    )
    with Context(root) as ctx:
        result = ctx.run()
    message = next(r for r in result.results if r.name == "fct_events").message
    assert "is VARCHAR, not a date or timestamp" in message and "cast(" in message


def test_microbatch_config_errors(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "seeds/events.csv": EVENTS,
            "models/stg_events.sql": STG,
            "models/fct_events.sql": FCT.replace("batch_size='day', ", ""),
        }
    )
    with Context(root) as ctx:
        result = ctx.run()
    assert "needs `batch_size`" in next(r for r in result.results if r.name == "fct_events").message


def test_backfill_needs_microbatch_models(project: Path, cli) -> None:
    res = cli(
        "backfill",
        "stg_events",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-02",
        "--project-dir",
        project,
    )
    assert res.code == 2 and "no time-partitioned" in res.err


def test_source_event_time_config_filters_microbatch_inputs(
    make_project: Callable[..., Path],
) -> None:
    """dbt's `config: {event_time: ...}` on a source table: microbatch batches read only their slice."""
    root = make_project(
        {
            "sources.yml": (
                "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: events\n"
                "        config: {event_time: ts}\n        files: {path: events.csv, format: csv}\n"
            ),
            "data/raw/events.csv": EVENTS,
            "models/fct_events.sql": FCT.replace(
                "ref('stg_events')", "source('raw', 'events')"
            ).replace("select id, ts as event_ts", "select id, ts::timestamp as event_ts"),
        }
    )
    with Context(root) as ctx:
        node = ctx.manifest.nodes["model.t.fct_events"]
        assert "__HW_BATCH_START__" in node.variants["batch"]  # the source is filtered per batch
        assert ctx.run().exit_code == 0
    assert query(root, "select count(*) from main.fct_events") == [(100,)]


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 1, 1)),
    span=st.timedeltas(min_value=dt.timedelta(hours=1), max_value=dt.timedelta(days=800)),
    size=st.sampled_from(["hour", "day", "month", "year"]),
    offset=st.integers(-12, 14),
)
def test_intervals_tile_the_range(
    start: dt.datetime, span: dt.timedelta, size: str, offset: int
) -> None:
    """Intervals are aligned, contiguous, half-open and cover [start, end) in UTC, whatever the
    time zone the bounds were written in."""
    tz = dt.timezone(dt.timedelta(hours=offset))
    lo = parse_time(start.replace(tzinfo=tz).isoformat())
    hi = parse_time((start + span).replace(tzinfo=tz).isoformat())
    got = intervals(lo, hi, size)
    assert got, "a non-empty range has at least one interval"
    assert got[0][0] <= lo < got[0][1] and got[-1][0] < hi <= got[-1][1]
    for (a, b), (c, _) in itertools.pairwise(got):
        assert b == c and a < b
    for a, _ in got:
        assert a == floor_time(a, size) and a.tzinfo == dt.UTC
