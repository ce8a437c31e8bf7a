"""A model that `ref()`s a stream's window waits for the stream: the window is not a unit of its
own (its table is created by the stream's node), so the plan looks through it to the stream, as it
looks through an ephemeral model. Building a stream node only creates its empty tables, so none of
these tests needs a broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.context import Context
from headwater.graph.selection import Selector
from headwater.runner.plan import plan_units
from tests.conftest import CliResult, query

STREAM = """\
streams:
  - name: orders_live
    source:
      connector: redis
      topic: orders
      group: g
    schema: {order_id: BIGINT, customer_id: BIGINT, amount: DECIMAL(10,2), ts: TIMESTAMP}
    event_time: ts
    sink:
      table: raw.orders_live
    windows:
      - name: orders_per_minute
        type: tumbling
        size: 1 minute
        group_by: [customer_id]
        select: "count(*) as orders"
"""

STREAM_UID = "stream.t.orders_live"
WINDOW_UID = "stream.t.orders_live.orders_per_minute"
OPM_UID = "model.t.opm"
# what `run` and `build` plan (Context._execute's default)
WITH_STREAMS = ("source", "seed", "model", "snapshot", "stream")


@pytest.fixture
def root(make_project: Callable[..., Path]) -> Path:
    return make_project(
        {
            "streams/s.yml": STREAM,
            "models/opm.sql": "select * from {{ ref('orders_per_minute') }}",
            "models/eph.sql": (
                "{{ config(materialized='ephemeral') }}\n"
                "select customer_id, orders from {{ ref('orders_per_minute') }}"
            ),
            "models/marts/busy.sql": "select * from {{ ref('eph') }} where orders > 1",
            "tests/window_not_negative.sql": (
                "select * from {{ ref('orders_per_minute') }} where orders < 0"
            ),
        }
    )


def plan(root: Path, select: list[str] | None = None, tests: bool = True) -> dict[str, set[str]]:
    """Unit id -> the unit ids it waits for, in plan order (dicts keep insertion order)."""
    ctx = Context(root)
    uids = Selector(ctx.graph).select(select, with_tests=tests)
    units = plan_units(ctx.graph, uids, build=True, tests=tests, resource_types=WITH_STREAMS)
    return {unit.id: set(unit.deps) for unit in units}


def test_a_model_reading_a_window_waits_for_the_stream(root: Path) -> None:
    units = plan(root)
    assert WINDOW_UID not in units  # a window is created by its stream's unit, never on its own
    assert units[OPM_UID] == {STREAM_UID}
    order = list(units)
    assert order.index(STREAM_UID) < order.index(OPM_UID)


def test_the_look_through_goes_on_through_an_ephemeral_model(root: Path) -> None:
    # busy -> eph (ephemeral) -> orders_per_minute (window) -> orders_live (stream)
    units = plan(root)
    assert "model.t.eph" not in units
    assert units["model.t.busy"] == {STREAM_UID}


def test_a_check_on_a_window_runs_after_the_stream(root: Path) -> None:
    units = plan(root)
    (check,) = [uid for uid in units if "window_not_negative" in uid]
    assert units[check] == {STREAM_UID}


def test_selecting_the_model_with_its_parents_builds_the_stream_first(root: Path) -> None:
    units = plan(root, ["+opm"], tests=False)
    assert list(units) == [STREAM_UID, OPM_UID]
    assert units[OPM_UID] == {STREAM_UID}


def test_an_unselected_stream_is_not_waited_for(root: Path) -> None:
    # `-s opm`: the stream is not part of the run (its tables may already exist), so nothing to wait
    # for; looking through the window must not pull it into the plan
    units = plan(root, ["opm"], tests=False)
    assert units == {OPM_UID: set()}


def test_the_first_build_of_a_model_reading_a_window_succeeds(
    root: Path, cli: Callable[..., CliResult]
) -> None:
    result = cli("build", "--project-dir", root)
    assert result.code == 0, result.out + result.err
    assert "does not exist" not in result.out + result.err
    assert query(root, "select count(*) from opm") == [(0,)]
    columns = query(
        root,
        "select column_name from information_schema.columns where table_name = 'opm' "
        "order by ordinal_position",
    )
    assert ("customer_id",) in columns and ("orders",) in columns
    assert query(root, "select count(*) from busy") == [(0,)]


def test_running_the_model_and_its_parents_on_a_fresh_warehouse_succeeds(
    root: Path, cli: Callable[..., CliResult]
) -> None:
    result = cli("run", "-s", "+opm", "--project-dir", root)
    assert result.code == 0, result.out + result.err
    assert query(root, "select count(*) from opm") == [(0,)]
