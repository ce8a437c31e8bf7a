"""Properties of aggregate tables (DuckDB):

* after any initial input and any appends that follow the maintenance rule (rows in the latest
  stored bucket or later, or up to `lookback` buckets before it), the incrementally maintained
  table equals a full recompute (an identical model rebuilt with `--full-refresh`) and the exact
  measures equal a computation in Python;
* HLL estimates are within the documented bound (4 standard errors) of the exact distinct count;
* a rolled-up sketch is the register-wise max of the finer ones and equals the sketch built
  directly over the union of their inputs (a model without the rolled-up dimensions).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from headwater.materialize.aggregate import hll
from tests.conftest import BASE_PROJECT, write_files
from tests.materialize.test_aggregate import (
    Row,
    as_set,
    check_against,
    expected,
    insert,
    model_files,
    ok,
    properties,
    table,
    truncate,
)

START = dt.datetime(2024, 1, 1)
GRAINS = {"day": 1, "week": 7, "month": 31}
"""Granularity -> days a bucket spans at most (to place appends)."""

row = st.builds(
    lambda minutes, region, channel, amount, customer: (
        START + dt.timedelta(minutes=minutes),
        region,
        channel,
        amount,
        customer,
    ),
    st.integers(0, 60 * 24 * 90),
    st.sampled_from(["eu", "us", None]),
    st.sampled_from(["web", "shop"]),
    st.one_of(st.none(), st.integers(-100, 1000)),
    st.one_of(st.none(), st.integers(1, 40)),
)


def project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_files(root, {"headwater.yml": BASE_PROJECT, **files})
    return root


def step_back(bucket: dt.datetime, granularity: str, n: int) -> dt.datetime:
    """``n`` buckets before ``bucket`` (a bucket start)."""
    for _ in range(n):
        bucket = truncate(bucket - dt.timedelta(days=1), granularity)  # type: ignore[assignment]
    return bucket


@st.composite
def appends(draw: st.DrawFn, first: list[Row], granularity: str, lookback: int) -> list[list[Row]]:
    """Batches of rows that follow the rule relative to the input before each batch."""
    out: list[list[Row]] = []
    seen = list(first)
    for _ in range(draw(st.integers(1, 3))):
        latest = truncate(max(r[0] for r in seen), granularity)
        earliest = step_back(latest, granularity, lookback)  # type: ignore[arg-type]
        span = int(((latest - earliest).total_seconds()) // 60) + 60 * 24 * 3 * GRAINS[granularity]  # type: ignore[operator]
        batch = draw(st.lists(row, min_size=1, max_size=30))
        batch = [
            (earliest + dt.timedelta(minutes=draw(st.integers(0, span))), *r[1:]) for r in batch
        ]  # type: ignore[misc]
        out.append(batch)
        seen += batch
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(
    first=st.lists(row, min_size=1, max_size=60),
    granularity=st.sampled_from(sorted(GRAINS)),
    lookback=st.integers(0, 2),
    mode=st.sampled_from(["", "rollup", "cube"]),
    data=st.data(),
)
def test_incremental_equals_full_recompute(
    first: list[Row], granularity: str, lookback: int, mode: str, data: st.DataObject
) -> None:
    batches = data.draw(appends(first, granularity, lookback))
    dims = ["region", "channel"]
    extra = f"      lookback: {lookback}\n" + (f"      {mode}: [region, channel]\n" if mode else "")
    grain = f"{{column: ordered_at, granularity: {granularity}}}"
    files = {
        **model_files(properties(extra=extra, grain=grain)),
        **model_files(properties(name="agg_full", extra=extra, grain=grain), name="agg_full"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = project(Path(tmp) / "p", files)
        insert(root, first)
        ok(root)
        seen = list(first)
        for batch in batches:
            insert(root, batch)
            seen += batch
            assert ok(root, ["agg"]).results[-1].message.startswith("recomputed the buckets from")
            ok(root, ["agg_full"], full_refresh=True)
            incremental, full = table(root, "agg"), table(root, "agg_full")
            assert as_set(incremental) == as_set(full)
            check_against(incremental, expected(seen, dims, granularity, dims, mode), dims, mode)


@settings(max_examples=20, deadline=None, derandomize=True)
@example(sizes=[150_000, 50_000, 12_000], ids=10_000_000, seed=1, precision=14)  # raw estimator
@example(
    sizes=[12_300, 3_100, 800], ids=10_000_000, seed=2, precision=12
)  # around 3m at p = 12, 10
@example(sizes=[100_000], ids=20_000, seed=3, precision=14)  # many repeats: 20,000 distinct
@given(
    sizes=st.lists(st.integers(1, 150_000), min_size=1, max_size=3),
    ids=st.integers(1000, 10_000_000),
    seed=st.integers(0, 1000),
    precision=st.sampled_from([10, 12, 14, 16]),
)
def test_hll_estimates_are_within_the_documented_bound(
    sizes: list[int], ids: int, seed: int, precision: int
) -> None:
    """Per daily bucket, ``size`` rows of customer ids drawn by a hash from ``ids`` values."""
    measures = (
        "        - {name: customers, agg: count_distinct, column: customer_id}\n"
        f"        - {{name: approx, agg: count_distinct, column: customer_id, method: hll, precision: {precision}}}\n"
    )
    bound = 4 * hll.standard_error(precision)
    with tempfile.TemporaryDirectory() as tmp:
        root = project(Path(tmp) / "p", model_files(properties(dims="[]", measures=measures)))
        insert(root, [])
        con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"))
        try:
            for day, size in enumerate(sizes):
                con.execute(
                    "INSERT INTO raw.orders SELECT TIMESTAMP '2024-01-01' + to_days(CAST(? AS INTEGER)), 'eu', 'web', 1, "
                    "CAST(hash(i, CAST(? AS BIGINT)) % CAST(? AS UBIGINT) AS INTEGER) FROM range(?) AS r(i)",
                    [day, seed, ids, size],
                )
            exact = dict(con.execute("SELECT date_trunc('day', ordered_at), count(DISTINCT customer_id) FROM raw.orders GROUP BY 1").fetchall())  # fmt: skip
        finally:
            con.close()
        ok(root)
        got = table(root)
    assert {r["ordered_at"]: r["customers"] for r in got} == exact
    for r in got:
        n = r["customers"]
        assert abs(r["approx"] - n) <= bound * n + 1, (n, r["approx"], precision)
        assert r["approx"] == hll.estimate(r["approx_sketch"], precision)
        assert len(r["approx_sketch"]) <= min(n, 1 << precision)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=1, max_size=200), mode=st.sampled_from(["rollup", "cube"]))
def test_a_rolled_up_sketch_is_the_sketch_of_the_union(rows: list[Row], mode: str) -> None:
    measures = (
        "        - {name: customers, agg: count_distinct, column: customer_id, method: hll}\n"
    )
    grain = "{column: ordered_at, granularity: week}"
    files: dict[str, str] = {}
    for name, dims, extra in (
        ("agg", "[region, channel]", f"      {mode}: [region, channel]\n"),
        ("by_region", "[region]", ""),
        ("by_channel", "[channel]", ""),
        ("by_week", "[]", ""),
    ):
        files.update(model_files(properties(name=name, dims=dims, grain=grain, measures=measures, extra=extra), name=name))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = project(Path(tmp) / "p", files)
        insert(root, rows)
        ok(root)
        agg = table(root, "agg")
        direct: dict[int, dict[tuple[Any, ...], Any]] = {
            0: {(r["ordered_at"], r["region"], r["channel"]): r for r in agg if r["grouping_level"] == 0},
            1: {(r["ordered_at"], r["region"], None): r for r in table(root, "by_region")},
            2: {(r["ordered_at"], None, r["channel"]): r for r in table(root, "by_channel")},
            3: {(r["ordered_at"], None, None): r for r in table(root, "by_week")},
        }  # fmt: skip
    finest = direct[0]
    for r in agg:
        level = r["grouping_level"]
        key = (r["ordered_at"], r["region"], r["channel"])
        same = direct[level][key]
        assert (r["customers_sketch"] or []) == (same["customers_sketch"] or [])
        assert r["customers"] == same["customers"]
        parts = [f["customers_sketch"] for k, f in finest.items() if k[0] == key[0]
                 and (level & 2 or k[1] == key[1]) and (level & 1 or k[2] == key[2])]  # fmt: skip
        assert hll.merge(*parts) == (r["customers_sketch"] or [])
