"""dbt tests, headwater checks and dbt unit tests on every engine, built through the CLI.

Expected failure counts are computed here in Python from the rows the models hold, never taken
from the code under test. One scan per relation is counted from `HEADWATER_SQL_TRACE`."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headwater.context import Context

TODAY = dt.date.today()

# (id, customer_id, status, amount, days ago ordered)
ORDERS = [
    (1, 10, "paid", 5.0, 3),
    (2, 11, "paid", 7.5, 2),
    (3, None, "lost", 3.0, 9),
    (4, 12, "refunded", 9.0, 4),
    (4, 12, "refunded", 9.0, 4),
    (5, 13, "paid", -2.0, 1),
    (6, 99, "pending", 1.0, 1),
    (7, None, "paid", 4.0, 5),
]
CUSTOMERS = [(10, "ann"), (11, "bob"), (12, "cy"), (13, "di")]


def _sql_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _orders_sql() -> str:
    rows = ",\n  ".join(
        f"({i}, {_sql_value(c)}, {_sql_value(s)}, {a!r}, DATE '{TODAY - dt.timedelta(days=d)}')"
        for i, c, s, a, d in ORDERS
    )
    return (
        "select cast(id as integer) as id, cast(customer_id as integer) as customer_id, cast(status as varchar) as status, "
        "cast(amount as double precision) as amount, ordered_on\n"
        f"from (values\n  {rows}\n) as t(id, customer_id, status, amount, ordered_on)\n"
    )


def _customers_sql() -> str:
    rows = ", ".join(f"({i}, '{n}')" for i, n in CUSTOMERS)
    return f"select cast(id as integer) as id, cast(name as varchar) as name from (values {rows}) as t(id, name)\n"


PROPS = """\
version: 2
models:
  - name: customers
    columns:
      - name: id
        data_tests: [unique, not_null]
  - name: orders
    data_tests:
      - expression_is_true: {expression: "amount >= 0", config: {severity: warn}}
      - unique_combination_of_columns: {combination_of_columns: [id, status], config: {severity: warn}}
      - recency: {datepart: day, field: ordered_on, interval: 2, config: {severity: warn, name: recent_2_days}}
      - recency: {datepart: quarter, field: ordered_on, interval: 1, config: {severity: warn, name: recent_quarter}}
      - recency:
          datepart: day
          field: ordered_on
          interval: 1
          config: {severity: warn, name: recent_by_status, where: "status <> 'pending'"}
      - equal_rowcount: {compare_model: "ref('orders')"}
    columns:
      - name: id
        data_tests:
          - unique: {config: {severity: warn}}
          - not_null
      - name: customer_id
        data_tests:
          - relationships: {to: "ref('customers')", field: id, config: {severity: warn}}
          - not_null: {config: {where: "status <> 'lost'", severity: warn, name: customer_when_not_lost}}
      - name: status
        data_tests:
          - accepted_values:
              values: [paid, refunded]
              config: {severity: warn, store_failures: true, name: status_known}
          - accepted_values: {values: [paid, refunded, lost, pending], config: {name: status_all}}
      - name: amount
        data_tests:
          - is_positive: {config: {severity: warn}}
          - accepted_range: {min_value: 0, max_value: 8, config: {severity: warn, name: amount_0_8}}
          - not_null_proportion: {at_least: 0.95}
          - at_least_one
          - not_constant
          - not_null: {config: {severity: warn, warn_if: ">10%", name: amount_pct}}
"""

GENERIC = """\
{% test is_positive(model, column_name) %}
select * from {{ model }} where {{ column_name }} <= 0
{% endtest %}
"""

SINGULAR = "{{ config(severity='warn') }}\nselect * from {{ ref('orders') }} where status = 'refunded' and amount > 8\n"

UNIT = """\
version: 2
unit_tests:
  - name: totals_add_up
    model: totals
    given:
      - input: ref('orders')
        rows:
          - {customer_id: 1, amount: 2.5}
          - {customer_id: 1, amount: 3}
          - {customer_id: 2, amount: 1}
    expect:
      rows:
        - {customer_id: 1, total: 5.5, n: 2}
        - {customer_id: 2, total: 1, n: 1}
  - name: totals_wrong
    model: totals
    given:
      - input: ref('orders')
        format: csv
        rows: |
          customer_id,amount
          3,4
    expect:
      rows:
        - {customer_id: 3, total: 5, n: 1}
"""

TOTALS = "select customer_id, sum(amount) as total, count(*) as n from {{ ref('orders') }} group by customer_id\n"


def _project(
    engine_project: Callable[..., Path], props: str = PROPS, singular: bool = True, **extra: str
) -> Path:
    files = {
        "models/orders.sql": _orders_sql(),
        "models/customers.sql": _customers_sql(),
        "models/props.yml": props,
        "tests/generic/is_positive.sql": GENERIC,
        **({"tests/assert_no_big_refunds.sql": SINGULAR} if singular else {}),
        **extra,
    }
    return engine_project(files, "models:\n  +materialized: table\n")


def _build(
    cli: Callable[..., Any], root: Path, *args: str
) -> tuple[int, dict[str, dict[str, Any]]]:
    res = cli("build", "--project-dir", root, "--json", *args)
    data = json.loads(res.out)
    checks = {c["name"]: c for r in data["results"] for c in r.get("checks") or []}
    return res.code, checks


def _rows(root: Path, sql: str) -> list[tuple]:
    with Context(root) as ctx:
        engine = ctx.open_engine(read_only=True)
        try:
            return engine.execute(sql)
        finally:
            engine.close()


def _name(
    checks: dict[str, dict[str, Any]], check: str, column: str | None = None, node: str = "orders"
) -> dict[str, Any]:
    found = [
        c
        for c in checks.values()
        if c["check"] == check and c["column"] == column and c["node"] == node
    ]
    assert len(found) == 1, (check, column, sorted(checks))
    return found[0]


def test_dbt_tests_and_checks(
    engine_name: str, engine_project: Callable[..., Path], cli, schema_name: str
) -> None:
    root = _project(engine_project)
    code, checks = _build(cli, root, "-s", "orders", "customers")
    assert code == 0, {
        n: (c["status"], c["message"]) for n, c in checks.items() if c["status"] == "error"
    }
    assert not [n for n, c in checks.items() if c["status"] == "error"], checks

    ids = Counter(o[0] for o in ORDERS)
    status = {n: (c["status"], c["failures"]) for n, c in checks.items()}
    # unique: duplicated values; not_null: null rows
    assert status[_name(checks, "unique", "id")["name"]] == (
        "warn",
        sum(1 for n in ids.values() if n > 1),
    )
    assert status[_name(checks, "not_null", "id")["name"]] == ("pass", 0)
    assert status[_name(checks, "unique", "id", "customers")["name"]] == ("pass", 0)
    # relationships: rows whose customer has no parent (nulls pass)
    parents = {c[0] for c in CUSTOMERS}
    orphans = sum(1 for o in ORDERS if o[1] is not None and o[1] not in parents)
    assert status[_name(checks, "relationships", "customer_id")["name"]] == ("warn", orphans)
    # `where:` filters the rows a check looks at
    assert status["customer_when_not_lost"] == (
        "warn",
        sum(1 for o in ORDERS if o[1] is None and o[2] != "lost"),
    )
    # accepted_values: distinct unexpected values (dbt counts groups)
    unknown = {o[2] for o in ORDERS} - {"paid", "refunded"}
    assert status["status_known"] == ("warn", len(unknown))
    assert status["status_all"] == ("pass", 0)
    # a custom generic test macro and a singular test
    assert status[_name(checks, "is_positive", "amount")["name"]] == (
        "warn",
        sum(1 for o in ORDERS if o[3] <= 0),
    )
    singular = [c for c in checks.values() if c["check"] == "singular"]
    assert [(c["status"], c["failures"]) for c in singular] == [
        ("warn" if any(o[2] == "refunded" and o[3] > 8 for o in ORDERS) else "pass",
         sum(1 for o in ORDERS if o[2] == "refunded" and o[3] > 8))
    ]  # fmt: skip
    # dbt-utils tests
    assert status[_name(checks, "expression_is_true")["name"]] == (
        "warn",
        sum(1 for o in ORDERS if not o[3] >= 0),
    )
    combos = Counter((o[0], o[2]) for o in ORDERS)
    assert status[_name(checks, "unique_combination_of_columns")["name"]] == (
        "warn", sum(1 for n in combos.values() if n > 1))  # fmt: skip
    assert status["amount_0_8"] == ("warn", sum(1 for o in ORDERS if not 0 <= o[3] <= 8))
    # recency: the newest date (midnight, `d` days ago) must be at or after now - interval
    newest = min(o[4] for o in ORDERS)
    assert status["recent_2_days"] == ("pass" if newest < 2 else "warn", int(newest >= 2))
    assert status["recent_quarter"] == ("pass", 0)
    newest_known = min(o[4] for o in ORDERS if o[2] != "pending")
    assert status["recent_by_status"] == (
        "pass" if newest_known < 1 else "warn",
        int(newest_known >= 1),
    )
    assert status[_name(checks, "equal_rowcount")["name"]] == ("pass", 0)
    assert status[_name(checks, "not_null_proportion", "amount")["name"]] == ("pass", 0)
    assert status[_name(checks, "at_least_one", "amount")["name"]] == ("pass", 0)
    assert status[_name(checks, "not_constant", "amount")["name"]] == ("pass", 0)
    assert status["amount_pct"] == ("pass", 0)
    # failing-row samples of failing checks
    unique_sample = _name(checks, "unique", "id")["sample"]
    assert unique_sample == [{"unique_field": i, "n_records": n} for i, n in ids.items() if n > 1]
    assert sorted(r["value_field"] for r in checks["status_known"]["sample"]) == sorted(unknown)
    # store_failures: the failing rows are kept in <schema>_dbt_test__audit
    stored = _rows(
        root, f'select value_field from "{schema_name}_dbt_test__audit"."status_known" order by 1'
    )
    assert [r[0] for r in stored] == sorted(unknown)


def test_error_severity_keeps_the_previous_version(
    engine_project: Callable[..., Path], cli
) -> None:
    props = PROPS.replace("accepted_values: {values: [paid, refunded, lost, pending], config: {name: status_all}}",
                          "accepted_values: {values: [paid, refunded], config: {name: status_all}}")  # fmt: skip
    root = _project(engine_project, props)
    code, checks = _build(cli, root, "-s", "orders")
    assert code == 1
    assert (checks["status_all"]["status"], checks["status_all"]["failures"]) == ("fail", 2)
    assert checks["status_all"]["severity"] == "error"
    with Context(root) as ctx:
        engine = ctx.open_engine(read_only=True)
        try:
            from headwater.project.definition import Relation

            assert (
                engine.relation_kind(Relation(ctx.manifest.target.schema, "orders")) is None
            )  # not published
        finally:
            engine.close()


def test_passing_checks_of_a_relation_run_in_one_scan(
    engine_project: Callable[..., Path], cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    props = """\
version: 2
models:
  - name: orders
    data_tests:
      - expression_is_true: {expression: "amount > -100"}
      - equal_rowcount: {compare_model: "ref('orders')"}
    columns:
      - name: id
        data_tests: [not_null]
      - name: status
        data_tests:
          - accepted_values: {values: [paid, refunded, lost, pending]}
      - name: amount
        data_tests:
          - not_null_proportion: {at_least: 0.5}
          - at_least_one
          - not_constant
          - accepted_range: {min_value: -100}
          - recency: {datepart: week, field: ordered_on, interval: 4}
"""
    root = _project(engine_project, props, singular=False)
    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv("HEADWATER_SQL_TRACE", str(trace))
    code, checks = _build(cli, root, "-s", "orders")
    assert code == 0 and {c["status"] for c in checks.values()} == {"pass"}, checks
    statements = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]
    scans = [
        s for s in statements if s.lstrip().upper().startswith("SELECT") and "FILTER (WHERE" in s
    ]
    # every scan-able check in one aggregate over the audited relation ...
    assert len(scans) == 1, scans
    assert all(f"c{i}" in scans[0] for i in range(len(checks) - 1))
    # ... and equal_rowcount (two relations) one query of its own: the audit reads nothing else
    audited = [
        s
        for s in statements
        if s.lstrip().upper().startswith("SELECT") and "orders__hw_staged" in s
    ]
    assert len(audited) == 2 and scans[0] in audited, audited


def test_broken_check_is_an_error_and_its_neighbours_get_a_verdict(
    engine_project: Callable[..., Path], cli
) -> None:
    props = """\
version: 2
models:
  - name: orders
    columns:
      - name: id
        data_tests:
          - not_null
          - accepted_range: {min_value: 0, config: {where: "no_such_column > 1"}}
"""
    root = _project(engine_project, props)
    code, checks = _build(cli, root, "-s", "orders")
    assert code == 1
    assert _name(checks, "not_null", "id")["status"] == "pass"
    broken = _name(checks, "accepted_range", "id")
    assert broken["status"] == "error" and "no_such_column" in broken["message"]


def test_unit_tests(engine_project: Callable[..., Path], cli) -> None:
    root = _project(
        engine_project,
        "version: 2\nmodels: []\n",
        **{"models/totals.sql": TOTALS, "models/unit.yml": UNIT},
    )
    code, checks = _build(cli, root, "-s", "orders", "totals")
    assert code == 1  # a failing unit test fails its model, as in dbt
    assert checks["totals_add_up"]["status"] == "pass", checks["totals_add_up"]["message"]
    wrong = checks["totals_wrong"]
    assert (wrong["status"], wrong["failures"]) == ("fail", 2)  # one row missing, one unexpected
    diffs = {(r["__hw_diff"], r["customer_id"], float(r["total"])) for r in wrong["sample"]}
    assert diffs == {("missing", 3, 5.0), ("unexpected", 3, 4.0)}
