"""Quality features inside `build`: dbt-utils tests, percentage thresholds, `limit`,
`store_failures`, contracts and quarantine — on a real DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.context import Context
from tests.conftest import query

# 10 orders: id 4 duplicated, one null customer, one negative amount, one unknown status
ORDERS = """\
select * from (values
  (1, 10, 'paid', 5.0, date '2026-01-01'),
  (2, 11, 'paid', 7.5, date '2026-01-02'),
  (3, null, 'paid', 3.0, date '2026-01-03'),
  (4, 12, 'refunded', 9.0, date '2026-01-04'),
  (4, 12, 'refunded', 9.0, date '2026-01-04'),
  (5, 13, 'paid', -2.0, date '2026-01-05'),
  (6, 14, 'lost', 1.0, date '2026-01-06'),
  (7, 10, 'paid', 4.0, date '2026-01-07'),
  (8, 11, 'paid', 6.0, date '2026-01-08'),
  (9, 12, 'paid', 8.0, date '2026-01-09')
) as t(id, customer_id, status, amount, ordered_on)
"""


def _build(root: Path, command: str = "build", select: list[str] | None = None):
    with Context(root) as ctx:
        return getattr(ctx, command)(select)


def _checks(result) -> dict[str, object]:
    return {c.name: c for r in result.results for c in r.checks}


def _project(
    make_project: Callable[..., Path], props: str, extra: dict[str, str] | None = None
) -> Path:
    return make_project(
        {"models/marts/orders.sql": ORDERS, "models/marts/props.yml": props, **(extra or {})}
    )


def test_dbt_utils_tests(make_project: Callable[..., Path]) -> None:
    root = _project(
        make_project,
        """
        version: 2
        models:
          - name: orders
            data_tests:
              - expression_is_true: {expression: "amount > 0", config: {severity: warn}}
              - unique_combination_of_columns: {combination_of_columns: [id, status], config: {severity: warn}}
              - recency: {datepart: day, field: ordered_on, interval: 100000}
              - equal_rowcount: {compare_model: "ref('orders')"}
            columns:
              - name: amount
                data_tests:
                  - accepted_range: {min_value: 0, max_value: 8, config: {severity: warn, name: amount_0_8}}
                  - accepted_range: {min_value: -5, inclusive: false, name: amount_above_minus_5}
              - name: customer_id
                data_tests:
                  - not_null_proportion: {at_least: 0.95, config: {severity: warn}}
                  - not_null_proportion: {at_least: 0.9, name: customer_id_mostly_present}
                  - at_least_one
                  - not_constant
        """,
    )
    result = _build(root)
    checks = _checks(result)
    assert checks["expression_is_true_orders_amount_0"].failures == 1
    assert checks["unique_combination_of_columns_orders_id__status"].failures == 1
    # 9.0 and 9.0 are above 8, -2.0 below 0; -2.0 is inside (-5, inf)
    assert checks["amount_0_8"].failures == 3
    assert checks["amount_above_minus_5"].status == "pass"
    assert checks["not_null_proportion_orders_0_95__customer_id"].status == "warn"
    assert checks["customer_id_mostly_present"].status == "pass"
    for name in ("recency", "equal_rowcount", "at_least_one", "not_constant"):
        found = [c for n, c in checks.items() if n.startswith(name)]
        assert found and all(c.status == "pass" for c in found), name
    assert result.exit_code == 0


def test_dbt_utils_failures(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "models/marts/one.sql": "select 1 as k, cast(null as int) as v, date '2000-01-01' as d",
            "models/marts/props.yml": """
                version: 2
                models:
                  - name: one
                    data_tests:
                      - recency: {datepart: day, field: d, interval: 1, config: {severity: warn}}
                    columns:
                      - name: v
                        data_tests: [{at_least_one: {config: {severity: warn}}}]
                      - name: k
                        data_tests: [{not_constant: {config: {severity: warn}}}]
            """,
        }
    )
    checks = _checks(_build(root))
    assert {c.status for c in checks.values()} == {"warn"}
    assert len(checks) == 3


@pytest.mark.parametrize(
    ("warn_if", "error_if", "expected"),
    [
        (">5%", ">50%", "warn"),  # 1 of 10 rows (`lost`) = 10%
        (">10%", ">50%", "pass"),  # exactly 10% is not above 10%
        (">=10%", ">50%", "warn"),
        (">1%", ">9.5%", "fail"),
    ],
)
def test_percentage_thresholds(
    make_project: Callable[..., Path], warn_if: str, error_if: str, expected: str
) -> None:
    root = _project(
        make_project,
        f"""
        version: 2
        models:
          - name: orders
            columns:
              - name: id
                data_tests:
                  - not_null
              - name: status
                data_tests:
                  - accepted_values:
                      values: [paid, refunded]
                      config: {{warn_if: "{warn_if}", error_if: "{error_if}"}}
        """,
    )
    result = _build(root)
    check = _checks(result)["accepted_values_orders_status__paid__refunded"]
    assert check.rows == 10
    assert check.status == expected
    assert (result.exit_code == 1) == (expected == "fail")
    if expected != "pass":
        assert "10.0% of 10 rows" in check.message


def test_percentage_threshold_with_where_and_join_check(make_project: Callable[..., Path]) -> None:
    root = _project(
        make_project,
        """
        version: 2
        models:
          - name: customers
            columns: [{name: id}]
          - name: orders
            columns:
              - name: customer_id
                data_tests:
                  - relationships:
                      to: ref('customers')
                      field: id
                      config: {warn_if: ">25%", error_if: ">90%", where: "status = 'paid'"}
        """,
        {"models/marts/customers.sql": "select * from (values (10), (11)) as t(id)"},
    )
    check = _checks(_build(root))["relationships_orders_customer_id__id__ref_customers_"]
    # paid rows: 1,2,3,5,7,8,9 = 7 rows; customer ids 13 and 12 have no parent (null is ignored)
    assert check.rows == 7
    assert check.failures == 2
    assert check.status == "warn"  # 28.6% > 25%


def test_bad_threshold_is_a_config_error(make_project: Callable[..., Path], cli) -> None:
    root = _project(
        make_project,
        """
        version: 2
        models:
          - name: orders
            columns:
              - name: id
                data_tests: [{not_null: {config: {warn_if: "more than 5"}}}]
        """,
    )
    out = cli("build", "--project-dir", root)
    assert out.code == 2
    assert (
        "models/marts/props.yml:7" in out.err and "cannot read threshold `more than 5`" in out.err
    )
    assert "`>1%`" in out.err


def test_limit_and_store_failures(make_project: Callable[..., Path]) -> None:
    root = _project(
        make_project,
        """
        version: 2
        models:
          - name: orders
            columns:
              - name: amount
                data_tests:
                  - accepted_range:
                      min_value: 4
                      config: {severity: warn, limit: 2, store_failures: true}
        """,
    )
    check = next(iter(_checks(_build(root)).values()))
    assert check.failures == 2  # 3 rows are below 4 (3.0, -2.0, 1.0); limit caps the count
    assert "main_dbt_test__audit" in check.message
    stored = query(root, f'select count(*) from main_dbt_test__audit."{check.name}"')
    assert stored == [(2,)]


CONTRACT = """
version: 2
models:
  - name: orders
    config:
      contract: {enforced: true}
    constraints:
      - type: primary_key
        columns: [id]
    columns:
      - {name: id, data_type: int}
      - {name: customer_id, data_type: integer}
      - {name: status, data_type: text}
      - {name: amount, data_type: "numeric(2,1)", constraints: [{type: check, expression: "amount >= -10"}]}
      - {name: ordered_on, data_type: date}
"""


def test_contract_blocks_publication_with_a_column_diff(make_project: Callable[..., Path]) -> None:
    root = _project(
        make_project,
        CONTRACT.replace("type: primary_key", "type: check\n        expression: 'true'"),
    )
    assert _build(root).exit_code == 0  # matches: published
    assert query(root, "select count(*) from main.orders") == [(10,)]

    (root / "models/marts/props.yml").write_text(
        CONTRACT.replace(
            "{name: ordered_on, data_type: date}", "{name: shipped_on, data_type: date}"
        ).replace("numeric(2,1)", "double"),
        encoding="utf-8",
    )
    result = _build(root)
    node = result.results[0]
    assert result.exit_code == 1 and node.status == "error"
    assert "missing column `shipped_on`" in node.message
    assert "extra column `ordered_on`" in node.message
    assert "`amount`: contract says double (DOUBLE), the model returns DECIMAL(2,1)" in node.message
    assert query(root, "select count(*) from main.orders") == [(10,)]  # previous version stays


def test_contract_constraints(make_project: Callable[..., Path]) -> None:
    root = _project(make_project, CONTRACT)
    result = _build(root)
    node = result.results[0]
    assert node.status == "error"
    assert "primary_key on `id` (duplicate rows): 1 rows" in node.message
    assert not query(root, "select * from information_schema.tables where table_name = 'orders'")


def test_contract_needs_types(make_project: Callable[..., Path]) -> None:
    root = _project(
        make_project,
        "version: 2\nmodels:\n  - name: orders\n    config: {contract: {enforced: true}}\n    columns: [{name: id}]\n",
    )
    node = _build(root).results[0]
    assert node.status == "error" and "no `data_type` for `id`" in node.message


QUARANTINE = """
version: 2
models:
  - name: orders
    config: {max_quarantined: MAX}
    columns:
      - name: id
        data_tests: [{unique: {config: {on_failure: quarantine}}}]
      - name: customer_id
        data_tests: [{not_null: {config: {on_failure: quarantine}}}]
      - name: amount
        data_tests: [{accepted_range: {min_value: 0, on_failure: quarantine}}]
      - name: status
        data_tests: [{accepted_values: {values: [paid, refunded, lost], on_failure: quarantine}}]
"""


def test_quarantine_splits_rows_exactly(make_project: Callable[..., Path]) -> None:
    root = _project(make_project, QUARANTINE.replace("MAX", "'50%'"))
    result = _build(root)
    assert result.exit_code == 0
    node = result.results[0]
    assert node.status == "warn" and node.rows == 6
    good = query(root, "select id from main.orders order by id")
    bad = query(
        root,
        "select id, _hw_failed_checks, _hw_reasons, _hw_invocation_id from main.orders__quarantine order by id",
    )
    assert sorted(r[0] for r in good) == [1, 2, 6, 7, 8, 9]
    assert [r[0] for r in bad] == [3, 4, 4, 5]
    assert len(good) + len(bad) == 10
    by_id = {r[0]: r for r in bad}
    assert (
        by_id[3][1] == "not_null_orders_customer_id"
        and "`customer_id` failed not_null" in by_id[3][2]
    )
    assert by_id[5][1].startswith("accepted_range_orders_amount")
    assert {r[3] for r in bad} == {result.invocation_id}
    checks = _checks(result)
    assert (
        checks["unique_orders_id"].quarantined == 2 and checks["unique_orders_id"].status == "warn"
    )
    assert "2 rows quarantined in main.orders__quarantine" in checks["unique_orders_id"].message


def test_quarantine_over_the_limit_publishes_nothing(make_project: Callable[..., Path]) -> None:
    root = _project(make_project, QUARANTINE.replace("MAX", "3"))
    result = _build(root)
    node = result.results[0]
    assert result.exit_code == 1 and node.status == "error"
    assert "4 rows of `orders` failed checks, more than max_quarantined (3)" in node.message
    assert not query(
        root, "select * from information_schema.tables where table_name like 'orders%'"
    )


def test_quarantine_needs_a_table(make_project: Callable[..., Path]) -> None:
    root = _project(
        make_project,
        QUARANTINE.replace("MAX", "10").replace(
            "config: {max_quarantined: 10}", "config: {max_quarantined: 10, materialized: view}"
        ),
    )
    node = _build(root).results[0]
    assert node.status == "error" and "needs a table" in node.message


def _fingerprint(root: Path) -> dict[str, tuple]:
    """Every relation outside the audit schema, with its row count and content hash."""
    out = {}
    for schema, name, kind in query(
        root, "select table_schema, table_name, table_type from information_schema.tables"
    ):
        if schema.endswith("_dbt_test__audit"):
            continue
        out[f"{schema}.{name}"] = (
            kind,
            *query(root, f'select count(*), sum(hash(t)) from "{schema}"."{name}" t')[0],
        )
    return out


def test_test_writes_nothing_but_store_failures(make_project: Callable[..., Path], cli) -> None:
    import subprocess
    import sys

    import duckdb

    yml = (
        "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: id\n        data_tests: [unique, not_null]\n"
        "      - name: v\n        data_tests:\n          - accepted_values:\n              arguments: {values: [a]}\n"
        "              config: {store_failures: true, severity: warn}\n"
    )
    root = make_project({"models/m.sql": "{{ config(materialized='table') }}\nselect * from (values (1, 'a'), (2, 'b')) t(id, v)\n",
                         "models/m.yml": yml})  # fmt: skip
    assert cli("build", "--project-dir", root).code == 0
    before = _fingerprint(root)
    # without store_failures in the selection the warehouse is opened read-only: it can be read
    # by another process meanwhile, which a writer would not allow
    reader = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    try:
        res = subprocess.run([sys.executable, "-m", "headwater", "test", "--project-dir", str(root), "-s", "test_name:unique",
                              "test_name:not_null"], capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        reader.close()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 pass" in res.stdout
    res = cli("test", "--project-dir", root)
    assert res.code == 0, res.out
    assert _fingerprint(root) == before
    assert query(root, "select value_field from main_dbt_test__audit.accepted_values_m_v__a") == [
        ("b",)
    ]
