"""Aggregate tables (`materialized: aggregate`) on a real DuckDB file, and on PostgreSQL: every
measure, rollup and cube levels and every granularity against a computation in Python from the
input rows; incremental runs recompute only the latest buckets; write-audit-publish; config errors.

The input is a source table (`raw.orders`) written directly into the warehouse, so appends are
real appends between builds.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from headwater.context import Context
from headwater.errors import ConfigError
from headwater.materialize.aggregate import hll
from headwater.materialize.aggregate.builder import check_input, spec_of
from tests.conftest import query, write_files

Row = tuple[dt.datetime, str | None, str, int | None, int | None]
"""ordered_at, region, channel, amount, customer_id."""
COLUMNS = ("ordered_at", "region", "channel", "amount", "customer_id")
MEASURES = """\
        - {name: revenue, agg: sum, column: amount}
        - {name: orders, agg: count}
        - {name: priced, agg: count, column: amount}
        - {name: min_amount, agg: min, column: amount}
        - {name: max_amount, agg: max, column: amount}
        - {name: customers, agg: count_distinct, column: customer_id}
        - {name: customers_approx, agg: count_distinct, column: customer_id, method: hll}
"""
SOURCES = """\
version: 2
sources:
  - name: raw
    schema: {schema}
    tables:
      - name: orders
"""
BOUND = 4 * hll.standard_error(14)
"""What the tests allow an HLL estimate (4 standard errors at the default precision)."""


def properties(name: str = "agg", extra: str = "", dims: str = "[region, channel]",
               grain: str = "{column: ordered_at, granularity: day}", measures: str = MEASURES) -> str:  # fmt: skip
    return (
        f"version: 2\nmodels:\n  - name: {name}\n    config:\n      materialized: aggregate\n"
        f"      dimensions: {dims}\n      grain: {grain}\n      measures:\n{measures}{extra}"
    )


def model_files(props: str, model_sql: str = "select * from {{ source('raw', 'orders') }}\n",
                schema: str = "raw", name: str = "agg") -> dict[str, str]:  # fmt: skip
    return {
        "models/sources.yml": SOURCES.format(schema=schema),
        f"models/{name}.sql": model_sql,
        f"models/{name}.yml": props,
    }


# -- input ------------------------------------------------------------------------------------------
def random_rows(rng: random.Random, n: int, start: dt.datetime, days: int, customers: int = 500) -> list[Row]:  # fmt: skip
    out: list[Row] = []
    for _ in range(n):
        at = start + dt.timedelta(seconds=rng.randrange(days * 86400))
        region = rng.choice(["eu", "us", "apac", None])
        channel = rng.choice(["web", "shop"])
        amount = None if rng.random() < 0.05 else rng.randint(-50, 500)
        customer = None if rng.random() < 0.05 else rng.randint(1, customers)
        out.append((at, region, channel, amount, customer))
    return out


def insert(root: Path, rows: Iterable[Row], schema: str = "raw", grain_type: str = "TIMESTAMP") -> None:  # fmt: skip
    """Append ``rows`` to `raw.orders` (created on first use) of the project's DuckDB file."""
    (root / ".headwater").mkdir(exist_ok=True)
    con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"))
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.orders (ordered_at {grain_type}, region VARCHAR, "
            "channel VARCHAR, amount INTEGER, customer_id INTEGER)"
        )
        rows = list(rows)
        if rows:
            con.executemany(f"INSERT INTO {schema}.orders VALUES (?, ?, ?, ?, ?)", rows)
    finally:
        con.close()


def build(root: Path, command: str = "run", select: list[str] | None = None, **options: Any) -> Any:
    with Context(root) as ctx:
        return getattr(ctx, command)(select, **options)


def ok(root: Path, select: list[str] | None = None, **options: Any) -> Any:
    result = build(root, "run", select, **options)
    assert result.exit_code == 0, [(r.name, r.status, r.message) for r in result.results]
    return result


def table(root: Path, name: str = "agg") -> list[dict[str, Any]]:
    con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    try:
        cur = con.execute(f'SELECT * FROM main."{name}"')
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def as_set(rows: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    return Counter(tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in r.items()) for r in rows)  # fmt: skip


# -- the expectation, in Python -------------------------------------------------------------------------
def truncate(value: dt.datetime | dt.date, granularity: str) -> dt.datetime | dt.date:
    is_date = not isinstance(value, dt.datetime)
    ts = dt.datetime(value.year, value.month, value.day) if is_date else value
    if granularity == "hour":
        out = ts.replace(minute=0, second=0, microsecond=0)
    else:
        out = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "week":
        out -= dt.timedelta(days=out.weekday())
    elif granularity == "month":
        out = out.replace(day=1)
    elif granularity == "quarter":
        out = out.replace(month=(out.month - 1) // 3 * 3 + 1, day=1)
    elif granularity == "year":
        out = out.replace(month=1, day=1)
    return out.date() if is_date else out


def levels(dims: list[str], rolled: list[str], mode: str) -> list[tuple[set[str], int]]:
    """(dimensions kept, grouping_level) of every level, computed independently of the code."""
    if not mode:
        return [(set(dims), 0)]
    import itertools

    if mode == "rollup":
        kept_sets = [set(rolled[:i]) for i in range(len(rolled) + 1)]
    else:
        kept_sets = [
            set(c) for k in range(len(rolled) + 1) for c in itertools.combinations(rolled, k)
        ]
    out = []
    for kept in kept_sets:
        bits = "".join("0" if d in kept else "1" for d in rolled)
        out.append(((set(dims) - set(rolled)) | kept, int(bits, 2)))
    return out


def expected(rows: list[Row], dims: list[str], granularity: str = "day", rolled: list[str] | None = None,
             mode: str = "") -> dict[tuple[Any, ...], dict[str, Any]]:  # fmt: skip
    """Key (bucket, *dims, level) -> the exact measures, from the input rows."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        rec = dict(zip(COLUMNS, row, strict=True))
        if rec["ordered_at"] is None:
            continue
        for kept, level in levels(dims, rolled or [], mode):
            key = (truncate(rec["ordered_at"], granularity), *[rec[d] if d in kept else None for d in dims], level)  # fmt: skip
            groups[key].append(rec)
    out = {}
    for key, recs in groups.items():
        amounts = [r["amount"] for r in recs if r["amount"] is not None]
        out[key] = {
            "revenue": sum(amounts) if amounts else None,
            "orders": len(recs),
            "priced": len(amounts),
            "min_amount": min(amounts) if amounts else None,
            "max_amount": max(amounts) if amounts else None,
            "customers": len({r["customer_id"] for r in recs if r["customer_id"] is not None}),
        }
    return out


def check_against(got: list[dict[str, Any]], want: dict[tuple[Any, ...], dict[str, Any]], dims: list[str], mode: str) -> None:  # fmt: skip
    keyed = {(r["ordered_at"], *[r[d] for d in dims], r["grouping_level"] if mode else 0): r for r in got}  # fmt: skip
    assert len(keyed) == len(got), "one row per bucket, dimensions and level"
    assert set(keyed) == set(want)
    for key, values in want.items():
        row = keyed[key]
        assert {k: row[k] for k in values} == values, key
        approx = row["customers_approx"]
        assert abs(approx - values["customers"]) <= BOUND * values["customers"] + 1, (key, approx)
        assert approx == hll.estimate(row["customers_approx_sketch"] or [], 14)


@pytest.fixture
def rows() -> list[Row]:
    return random_rows(random.Random(7), 3000, dt.datetime(2024, 1, 29), 6)


# -- measures and levels -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "dims", "rolled"),
    [
        ("", ["region", "channel"], []),
        ("rollup", ["region", "channel"], ["region", "channel"]),
        ("rollup", ["channel", "region"], ["region", "channel"]),
        ("cube", ["region", "channel"], ["region", "channel"]),
        ("rollup", ["region", "channel"], ["channel"]),
    ],
)
def test_every_measure_at_every_level_matches_python(make_project: Callable[..., Path], rows: list[Row],
                                                     mode: str, dims: list[str], rolled: list[str]) -> None:  # fmt: skip
    extra = f"      {mode}: [{', '.join(rolled)}]\n" if mode else ""
    root = make_project(model_files(properties(extra=extra, dims=f"[{', '.join(dims)}]")))
    insert(root, rows)
    ok(root)
    got = table(root)
    check_against(got, expected(rows, dims, "day", rolled, mode), dims, mode)
    columns = ["ordered_at", *dims, *(["grouping_level"] if mode else [])]
    columns += ["revenue", "orders", "priced", "min_amount", "max_amount", "customers"]
    assert list(got[0]) == [*columns, "customers_approx", "customers_approx_sketch"]


def test_levels_are_documented_bits(make_project: Callable[..., Path], rows: list[Row]) -> None:
    """rollup [region, channel]: 0 per region and channel, 1 per region, 3 per bucket; cube adds 2."""
    for mode, want in (("rollup", {0, 1, 3}), ("cube", {0, 1, 2, 3})):
        root = make_project(
            model_files(properties(extra=f"      {mode}: [region, channel]\n")), name=mode
        )
        insert(root, rows)
        ok(root)
        got = table(root)
        assert {r["grouping_level"] for r in got} == want
        for r in got:
            assert (r["grouping_level"] & 2 == 0) or r["region"] is None
            assert (r["grouping_level"] & 1 == 0) or r["channel"] is None


@pytest.mark.parametrize("granularity", ["hour", "day", "week", "month", "quarter", "year"])
@pytest.mark.parametrize("grain_type", ["TIMESTAMP", "DATE"])
def test_granularities(
    make_project: Callable[..., Path], granularity: str, grain_type: str
) -> None:
    rows = random_rows(random.Random(3), 800, dt.datetime(2023, 11, 20), 500)
    if grain_type == "DATE":
        rows = [(r[0].date(), *r[1:]) for r in rows]  # type: ignore[misc]
    grain = f"{{column: ordered_at, granularity: {granularity}}}"
    root = make_project(model_files(properties(grain=grain, dims="[channel]")))
    insert(root, rows, grain_type=grain_type)
    ok(root)
    got = table(root)
    check_against(got, expected(rows, ["channel"], granularity), ["channel"], "")
    want_type = dt.date if grain_type == "DATE" else dt.datetime
    assert all(type(r["ordered_at"]) is want_type for r in got)


def test_no_dimensions_and_rows_without_a_grain(make_project: Callable[..., Path], rows: list[Row]) -> None:  # fmt: skip
    """An aggregate by time alone; rows whose grain is NULL belong to no bucket."""
    with_null = [*rows, (None, "eu", "web", 1000, 1)]
    root = make_project(model_files(properties(dims="[]")))
    insert(root, with_null)  # type: ignore[arg-type]
    ok(root)
    check_against(table(root), expected(rows, []), [], "")


def test_a_model_sql_with_ctes_and_a_trailing_comment(make_project: Callable[..., Path], rows: list[Row]) -> None:  # fmt: skip
    sql = (
        "with o as (select * from {{ source('raw', 'orders') }})\n"
        "select * from o where channel = 'web' -- web orders only\n"
    )
    root = make_project(model_files(properties(), model_sql=sql))
    insert(root, rows)
    ok(root)
    web = [r for r in rows if r[2] == "web"]
    check_against(table(root), expected(web, ["region", "channel"]), ["region", "channel"], "")


# -- incremental maintenance ---------------------------------------------------------------------------
def test_a_run_recomputes_only_the_latest_buckets(make_project: Callable[..., Path], rows: list[Row]) -> None:  # fmt: skip
    root = make_project(model_files(properties(extra="      rollup: [region, channel]\n")))
    insert(root, rows)
    first = ok(root).results[-1]
    assert first.message.startswith("full build")
    latest = max(r[0] for r in rows).replace(hour=0, minute=0, second=0)
    new = random_rows(
        random.Random(8), 400, latest, 3
    )  # the latest (partial) bucket and 2 new ones
    old_bucket = (latest - dt.timedelta(days=2)).replace(hour=12)
    out_of_rule = [(old_bucket, "eu", "web", 999_999, 1)]  # breaks the rule: an old bucket changes
    insert(root, [*new, *out_of_rule])
    result = ok(root).results[-1]
    assert result.message.startswith(f"recomputed the buckets from {latest:%Y-%m-%d}"), (
        result.message
    )
    got = table(root)
    # the buckets >= latest are recomputed; older ones are untouched, so the out-of-rule row is not in
    check_against(got, expected([*rows, *new], ["region", "channel"], "day", ["region", "channel"], "rollup"),
                  ["region", "channel"], "rollup")  # fmt: skip
    assert result.stats["updated"] > 0 and result.stats["inserted"] > 0
    ok(root, full_refresh=True)  # recomputes everything: now the old bucket has the row too
    check_against(table(root), expected([*rows, *new, *out_of_rule], ["region", "channel"], "day",
                                        ["region", "channel"], "rollup"), ["region", "channel"], "rollup")  # fmt: skip


@pytest.mark.parametrize(("grain_type", "granularity", "back"), [
    ("TIMESTAMP", "day", dt.timedelta(days=2)), ("DATE", "day", dt.timedelta(days=2)),
    ("DATE", "week", dt.timedelta(days=14)), ("TIMESTAMP", "month", dt.timedelta(days=45)),
])  # fmt: skip
def test_lookback_recomputes_earlier_buckets(make_project: Callable[..., Path], grain_type: str,
                                             granularity: str, back: dt.timedelta) -> None:  # fmt: skip
    rows = random_rows(random.Random(4), 2000, dt.datetime(2024, 1, 1), 120)
    if grain_type == "DATE":
        rows = [(r[0].date(), *r[1:]) for r in rows]  # type: ignore[misc]
    grain = f"{{column: ordered_at, granularity: {granularity}}}"
    root = make_project(model_files(properties(extra="      lookback: 2\n", grain=grain)))
    insert(root, rows, grain_type=grain_type)
    ok(root)
    latest = truncate(max(r[0] for r in rows), granularity)
    late = [(latest - back, "us", "shop", 77, 9)]  # 2 buckets back: inside the lookback
    first = truncate(latest - back, granularity)  # type: ignore[operator]
    insert(root, late, grain_type=grain_type)  # type: ignore[arg-type]
    result = ok(root).results[-1]
    assert f"from {first:%Y-%m-%d}" in result.message, result.message
    dims = ["region", "channel"]
    check_against(table(root), expected([*rows, *late], dims, granularity), dims, "")  # type: ignore[list-item]


@pytest.mark.parametrize("granularity", ["hour", "week", "quarter"])
def test_a_zoned_grain_is_maintained_like_a_full_recompute(make_project: Callable[..., Path], rows: list[Row],
                                                           granularity: str) -> None:  # fmt: skip
    """A TIMESTAMP WITH TIME ZONE grain: buckets of the session's time zone, the cutoff read back
    with its offset; the incremental table equals an identical model rebuilt from scratch."""
    grain = f"{{column: ordered_at, granularity: {granularity}}}"
    extra = "      lookback: 1\n      cube: [region, channel]\n"
    root = make_project({**model_files(properties(extra=extra, grain=grain)),
                         **model_files(properties(name="agg_full", extra=extra, grain=grain), name="agg_full")})  # fmt: skip
    insert(root, rows, grain_type="TIMESTAMPTZ")
    ok(root)
    latest = max(r[0] for r in rows)
    insert(root, random_rows(random.Random(9), 300, latest - dt.timedelta(minutes=30), 3), grain_type="TIMESTAMPTZ")  # fmt: skip
    assert ok(root, ["agg"]).results[-1].message.startswith("recomputed the buckets from")
    ok(root, ["agg_full"], full_refresh=True)
    got = table(root)
    assert as_set(got) == as_set(table(root, "agg_full"))
    assert all(r["ordered_at"].tzinfo is not None for r in got)


def test_a_run_with_nothing_new_keeps_the_table(make_project: Callable[..., Path], rows: list[Row]) -> None:  # fmt: skip
    root = make_project(model_files(properties(extra="      cube: [region, channel]\n")))
    insert(root, rows)
    ok(root)
    before = as_set(table(root))
    ok(root)
    assert as_set(table(root)) == before


def test_a_changed_set_of_columns_rebuilds(make_project: Callable[..., Path], rows: list[Row]) -> None:  # fmt: skip
    root = make_project(model_files(properties()))
    insert(root, rows)
    ok(root)
    fewer = "        - {name: revenue, agg: sum, column: amount}\n"
    write_files(root, {"models/agg.yml": properties(measures=fewer)})
    result = ok(root).results[-1]  # (its message is the schema-change warning of the observer)
    assert list(table(root)[0]) == ["ordered_at", "region", "channel", "revenue"]
    assert result.stats == {"inserted": len(table(root))}  # rebuilt: every row inserted


def test_a_failing_check_leaves_the_previous_table(make_project: Callable[..., Path], rows: list[Row]) -> None:  # fmt: skip
    """Write-audit-publish: the recomputed buckets are audited in the transaction and rolled back."""
    tests = (
        "    columns:\n      - name: channel\n        tests:\n"
        "          - accepted_values:\n              values: [web, shop]\n"
    )
    root = make_project(model_files(properties() + tests))
    insert(root, rows)
    assert build(root, "build").exit_code == 0
    before = as_set(table(root))
    latest = max(r[0] for r in rows)
    insert(root, [(latest, "eu", "fax", 5, 5), (latest + dt.timedelta(days=1), "eu", "web", 5, 5)])
    result = build(root, "build")
    agg = next(r for r in result.results if r.name == "agg")
    assert result.exit_code == 1 and agg.status == "fail", agg.message
    assert "the previous version stays" in agg.message
    assert as_set(table(root)) == before


def test_stage_and_swap_gives_the_same_table(make_project: Callable[..., Path], rows: list[Row],
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """On an engine without transactional DDL (as Spark will be) the recomputed buckets are
    written into a copy of the table, audited there and swapped in; a failing check drops it."""
    from headwater.engines.duckdb import DuckDBEngine

    monkeypatch.setattr(DuckDBEngine, "SUPPORTS_TRANSACTIONS", False)
    monkeypatch.setattr(DuckDBEngine, "SUPPORTS_TRANSACTIONAL_DDL", False)
    tests = (
        "    columns:\n      - name: channel\n        tests:\n"
        "          - accepted_values:\n              values: [web, shop]\n"
    )
    dims = ["region", "channel"]
    root = make_project(model_files(properties(extra="      rollup: [region, channel]\n") + tests))
    insert(root, rows)
    assert build(root, "build").exit_code == 0
    latest = max(r[0] for r in rows)
    new = random_rows(random.Random(5), 200, latest.replace(hour=0, minute=0), 2)
    insert(root, new)
    assert build(root, "build").exit_code == 0
    check_against(table(root), expected([*rows, *new], dims, "day", dims, "rollup"), dims, "rollup")
    before = as_set(table(root))
    insert(root, [(latest + dt.timedelta(days=2), "eu", "fax", 1, 1)])
    assert build(root, "build").exit_code == 1
    assert as_set(table(root)) == before
    names = {r[0] for r in query(root, "select table_name from information_schema.tables")}
    assert not any(n.endswith("__hw_audit") for n in names)


# -- errors ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message", "suggestion"),
    [
        (("agg: sum", "agg: summ"), "unknown agg `summ`", "did you mean `sum`"),
        (("granularity: day", "granularity: dya"), "unknown granularity `dya`", "did you mean `day`"),
        (("name: orders,", "name: revenue,"), "two columns named `revenue`", "name: revenue_2"),
        (("name: orders,", "name: region,"), "two columns named `region`", "rename the measure"),
        (("method: hll", "method: hyperloglog"), "unknown method `hyperloglog`", "method: hll"),
        (("agg: min, column: amount", "agg: min"), "(min) needs `column`", "agg: min, column: amount"),
        (("- {name: orders, agg: count}", "- {name: orders, agg: count, col: x}"), "unknown key `col`", "did you mean `column`"),
    ],
)  # fmt: skip
def test_config_errors_name_the_file_the_model_and_a_fix(
    make_project: Callable[..., Path], change: tuple[str, str], message: str, suggestion: str
) -> None:
    root = make_project(model_files(properties(extra="      rollup: [region]\n").replace(*change)))
    with Context(root) as ctx:
        node = next(n for n in ctx.manifest.nodes.values() if n.name == "agg")
    with pytest.raises(ConfigError) as caught:
        spec_of(node)
    err = caught.value
    assert message in err.message and err.node == "agg"
    assert suggestion in err.message + (err.hint or "")
    assert err.location is not None and err.location.path.startswith("models/agg.")
    assert err.location.line is not None
    insert(root, [])
    result = build(root)  # the build reports it on the node
    assert result.exit_code == 1 and message in result.results[-1].message


@pytest.mark.parametrize(
    ("extra", "message", "suggestion"),
    [
        ("      rollup: [regoin]\n", "names `regoin`, which is not one of its dimensions", "did you mean `region`"),
        ("      cube: [region]\n      rollup: [region]\n", "sets both `rollup` and `cube`", "keep one"),
        ("      lookback: -1\n", "`lookback` of `agg` must be", "lookback: 2"),
    ],
)  # fmt: skip
def test_rollup_errors(make_project: Callable[..., Path], extra: str, message: str, suggestion: str) -> None:  # fmt: skip
    root = make_project(model_files(properties(extra=extra)))
    with Context(root) as ctx:
        node = next(n for n in ctx.manifest.nodes.values() if n.name == "agg")
    with pytest.raises(ConfigError) as caught:
        spec_of(node)
    assert message in caught.value.message
    assert suggestion in caught.value.message + (caught.value.hint or "")
    assert caught.value.location is not None and caught.value.node == "agg"


@pytest.mark.parametrize(
    ("columns", "message", "suggestion"),
    [
        ([("ordered_at", "TIMESTAMP"), ("region", "VARCHAR"), ("chanel", "VARCHAR")], "reads `channel`", "did you mean `chanel`"),
        ([("ordered_at", "VARCHAR"), ("region", "VARCHAR"), ("channel", "VARCHAR")], "is VARCHAR, not a date", "cast(ordered_at as timestamp)"),
    ],
)  # fmt: skip
def test_input_errors(make_project: Callable[..., Path], columns: list[tuple[str, str]], message: str, suggestion: str) -> None:  # fmt: skip
    measures = "        - {name: orders, agg: count}\n"
    root = make_project(model_files(properties(measures=measures)))
    with Context(root) as ctx:
        node = next(n for n in ctx.manifest.nodes.values() if n.name == "agg")
    with pytest.raises(ConfigError) as caught:
        check_input(node, spec_of(node), columns)
    assert message in caught.value.message
    assert suggestion in caught.value.message + (caught.value.hint or "")


def test_hll_on_an_engine_without_sketch_sql_is_a_config_error(make_project: Callable[..., Path]) -> None:  # fmt: skip
    root = make_project(model_files(properties()))
    with Context(root) as ctx:
        node = next(n for n in ctx.manifest.nodes.values() if n.name == "agg")
    with pytest.raises(ConfigError) as caught:
        hll.sketch_sql("spark", node, "customers_approx")
    assert "cannot build in SQL on spark" in caught.value.message
    assert "method: exact" in (caught.value.hint or "")


def test_the_config_keys_and_materialization_are_known(make_project: Callable[..., Path], cli: Callable[..., Any]) -> None:  # fmt: skip
    """`headwater compile` accepts the aggregate's keys and its materialization; a near miss of a
    key (`dimension`) is the project's usual "did you mean"."""
    root = make_project(
        model_files(properties(extra="      rollup: [region]\n      lookback: 1\n"))
    )
    result = cli("--project-dir", root, "compile")
    assert result.code == 0, result.out + result.err
    write_files(root, {"models/agg.yml": properties().replace("dimensions:", "dimensionss:")})
    result = cli("--project-dir", root, "compile")
    assert result.code != 0 and "did you mean `dimensions`" in result.out + result.err


# -- PostgreSQL -------------------------------------------------------------------------------------------
@pytest.fixture
def pg_schema() -> Iterator[str]:
    from tests.engines.conftest import pg_settings, require

    require("postgres")
    import psycopg

    name = f"hwt_agg_{uuid.uuid4().hex[:8]}"
    s = pg_settings()
    yield name
    with psycopg.connect(host=str(s["host"]), port=int(str(s["port"])), user=str(s["user"]),
                         dbname=str(s["database"]), autocommit=True) as conn:  # fmt: skip
        for (schema,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [name + "%"]).fetchall():  # fmt: skip
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pg_insert(schema: str, rows: Iterable[Row]) -> None:
    import psycopg

    from tests.engines.conftest import pg_settings

    s = pg_settings()
    with psycopg.connect(host=str(s["host"]), port=int(str(s["port"])), user=str(s["user"]),
                         dbname=str(s["database"]), autocommit=True) as conn:  # fmt: skip
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}_raw"')
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}_raw".orders (ordered_at timestamp, region text, '
            "channel text, amount integer, customer_id integer)"
        )
        with conn.cursor() as cur:
            cur.executemany(f'INSERT INTO "{schema}_raw".orders VALUES (%s, %s, %s, %s, %s)', list(rows))  # fmt: skip


def pg_table(schema: str, name: str) -> list[dict[str, Any]]:
    import psycopg

    from tests.engines.conftest import pg_settings

    s = pg_settings()
    with psycopg.connect(host=str(s["host"]), port=int(str(s["port"])), user=str(s["user"]),
                         dbname=str(s["database"])) as conn:  # fmt: skip
        cur = conn.execute(f'SELECT * FROM "{schema}"."{name}"')
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_the_same_project_builds_on_postgres(
    tmp_path: Path, pg_schema: str, rows: list[Row]
) -> None:
    """Every measure and rollup level on PostgreSQL (its own hash, so sketches differ from
    DuckDB's), then an incremental run equal to a full recompute (a second, identical model
    rebuilt with --full-refresh)."""
    from tests.engines.conftest import target_yaml

    root = tmp_path / "pg"
    extra = "      rollup: [region, channel]\n"
    files = {
        **model_files(properties(extra=extra), schema=f"{pg_schema}_raw"),
        **model_files(
            properties(name="agg_full", extra=extra), schema=f"{pg_schema}_raw", name="agg_full"
        ),
        "headwater.yml": f"name: t\ndefault_target: postgres\ntargets:\n{target_yaml('postgres', pg_schema)}",
        # the config may spell the input's columns in another case (quoted identifiers on PostgreSQL)
        **model_files(properties(name="agg_case", dims="[Region]", grain="{column: Ordered_At, granularity: month}",
                                 measures="        - {name: orders, agg: count, column: Customer_ID}\n"),
                      schema=f"{pg_schema}_raw", name="agg_case"),
    }  # fmt: skip
    write_files(root, files)
    pg_insert(pg_schema, rows)
    ok(root)
    dims = ["region", "channel"]
    check_against(
        pg_table(pg_schema, "agg"), expected(rows, dims, "day", dims, "rollup"), dims, "rollup"
    )
    by_case = pg_table(pg_schema, "agg_case")
    assert list(by_case[0]) == ["Ordered_At", "Region", "orders"]
    assert sum(r["orders"] for r in by_case) == sum(1 for r in rows if r[4] is not None)
    latest = max(r[0] for r in rows)
    new = random_rows(random.Random(11), 300, latest.replace(hour=0, minute=0), 2)
    pg_insert(pg_schema, new)
    assert ok(root, ["agg"]).results[-1].message.startswith("recomputed the buckets from")
    ok(root, ["agg_full"], full_refresh=True)
    got, full = pg_table(pg_schema, "agg"), pg_table(pg_schema, "agg_full")
    assert as_set(got) == as_set(full)
    check_against(got, expected([*rows, *new], dims, "day", dims, "rollup"), dims, "rollup")


def test_query_is_the_documented_sql_on_both_engines(make_project: Callable[..., Path]) -> None:
    """The generated SQL parses in each dialect and filters the bare grain column when
    recomputing (prunable), never a function of it."""
    import sqlglot
    from sqlglot import exp

    from headwater.materialize.aggregate.hll import PostgresSketchSQL, SketchSQL
    from headwater.materialize.aggregate.query import AggregateQuery

    root = make_project(model_files(properties(extra="      cube: [region, channel]\n")))
    with Context(root) as ctx:
        spec = spec_of(next(n for n in ctx.manifest.nodes.values() if n.name == "agg"))
    for dialect, sketches in (("duckdb", SketchSQL()), ("postgres", PostgresSketchSQL())):
        since = exp.cast(exp.Literal.string("2024-01-01"), "TIMESTAMP")
        sql = AggregateQuery(spec, dialect, "timestamp", sketches).sql("select * from t", since)
        tree = sqlglot.parse_one(sql, read=dialect)
        filters = [
            p
            for where in tree.find_all(exp.Where)
            for p in where.find_all(exp.GTE)
            if any(c.name == "ordered_at" for c in p.find_all(exp.Column))
        ]
        assert len(filters) == 1 and isinstance(filters[0].this, exp.Column), filters


def test_direct_query_of_duckdb(make_project: Callable[..., Path], rows: list[Row]) -> None:
    """`query` (tests.conftest) sees the published table: a reader outside headwater."""
    root = make_project(model_files(properties(dims="[region]")))
    insert(root, rows)
    ok(root)
    total = query(root, "select sum(orders) from main.agg")[0][0]
    assert total == len(rows)


def test_an_aggregate_stays_in_the_warehouse_and_says_so(make_project) -> None:
    model = ("{{ config(materialized='aggregate', file_format='delta', dimensions=['g'], "
             "grain={'column': 'd', 'granularity': 'day'}, measures=[{'name': 'n', 'agg': 'count'}]) }}\n"
             "select 'a' as g, date '2026-01-01' as d")  # fmt: skip
    root = make_project({"models/agg.sql": model})
    with Context(root) as ctx:
        result = ctx.build()
        assert result.exit_code == 0
        assert "file_format delta ignored" in result.results[-1].message
        _names, rows = ctx.query("select n from main.agg")
    assert [tuple(r) for r in rows] == [(1,)]
    assert not (root / "lake").exists()
