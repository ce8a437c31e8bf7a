"""Expectations declared in a project (models, columns, source tables), quarantine by an
expectation, `headwater validate` on files and warehouse tables, and `headwater.validate`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import headwater
from headwater.context import Context
from tests.conftest import query

ORDERS_CSV = (
    "id,status,amount,email\n1,paid,5.5,a@x.io\n2,paid,7,b@x.io\n3,lost,-1,broken\n4,paid,,c@x.io\n"
)

SOURCES = """\
version: 2
sources:
  - name: raw
    tables:
      - name: orders
        files: {path: orders.csv, format: csv}
        expectations:
          - expect_table_row_count_to_be_between: {min_value: 1, max_value: 100}
        columns:
          - name: email
            expectations:
              - expect_column_values_to_match_regex: {regex: "^[^@]+@[^@]+$", severity: warning}
"""

PROPS = """\
version: 2
models:
  - name: orders
    expectations:
      - expect_table_columns_to_match_set: {column_set: [id, status, amount, email]}
    columns:
      - name: id
        data_tests: [unique]
        expectations:
          - expect_column_values_to_be_unique
      - name: status
        expectations:
          - expect_column_values_to_be_in_set:
              value_set: [paid, refunded]
              on_failure: quarantine
      - name: amount
        data_tests: [not_null]
        expectations:
          - type: expect_column_mean_to_be_between
            kwargs: {min_value: 0, max_value: 10}
            severity: warning
"""


def _project(make_project: Callable[..., Path], props: str = PROPS) -> Path:
    return make_project(
        {
            "sources.yml": SOURCES,
            "data/raw/orders.csv": ORDERS_CSV,
            "models/marts/orders.sql": "select * from {{ source('raw', 'orders') }}",
            "models/marts/props.yml": props,
        }
    )


def test_expectations_run_in_build_with_gx_results(make_project: Callable[..., Path]) -> None:
    root = _project(make_project)
    with Context(root) as ctx:
        result = ctx.build()
    checks = {c.check + (f".{c.column}" if c.column else ""): c for c in result.checks}
    regex = checks["expect_column_values_to_match_regex.email"]
    assert regex.node == "raw.orders" and regex.status == "warn" and regex.failures == 1
    assert regex.result["result"]["partial_unexpected_list"] == ["broken"]
    assert regex.result["expectation_config"]["severity"] == "warning"
    in_set = checks["expect_column_values_to_be_in_set.status"]
    assert in_set.status == "warn" and in_set.quarantined == 1
    mean = checks["expect_column_mean_to_be_between.amount"]
    assert mean.status == "pass"
    # after quarantining id 3 the mean of (5.5, 7) is observed on the published rows
    assert mean.result["result"]["observed_value"] == 6.25
    assert checks["not_null.amount"].status == "fail"
    assert result.exit_code == 1  # the dbt not_null on amount is error-level and id 4 has no amount
    published = "select count(*) from information_schema.tables where table_schema = 'main' and table_name = 'orders'"
    assert query(root, published) == [(0,)]


def test_quarantine_by_expectation_publishes_the_rest(make_project: Callable[..., Path]) -> None:
    root = _project(make_project, PROPS.replace("data_tests: [not_null]", "data_tests: []"))
    with Context(root) as ctx:
        result = ctx.build()
    assert result.exit_code == 0
    assert query(root, "select id from main.orders order by id") == [(1,), (2,), (4,)]
    bad = query(root, "select id, _hw_failed_checks from main.orders__quarantine")
    assert bad == [(3, "expect_column_values_to_be_in_set_orders_status__paid_refunded")]


def test_bad_expectation_in_yaml_is_a_config_error(make_project: Callable[..., Path], cli) -> None:
    root = _project(
        make_project,
        PROPS.replace("expect_column_values_to_be_unique", "expect_column_values_to_be_uniq"),
    )
    out = cli("build", "--project-dir", root)
    assert out.code == 2
    assert "models/marts/props.yml:10" in out.err
    assert "expect_column_values_to_be_unique" in out.err  # the suggestion


def test_validate_cli_on_files_with_a_gx_suite(tmp_path: Path, cli) -> None:
    data = tmp_path / "orders.csv"
    data.write_text(ORDERS_CSV, encoding="utf-8")
    suite = tmp_path / "suite.json"
    suite.write_text(
        json.dumps(
            {
                "name": "orders_suite",
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amount"}},
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "amount", "min_value": 0},
                        "severity": "warning",
                    },
                    {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 4}},
                ],
            }
        ),
        encoding="utf-8",
    )
    out_file = tmp_path / "out" / "result.json"
    res = cli("validate", data, "--suite", suite, "--output", out_file)
    assert res.code == 1  # the critical not_null fails (id 4)
    assert "fail" in res.out and "1 of 3 expectations met" in res.out
    result = json.loads(out_file.read_text(encoding="utf-8"))
    assert result["suite_name"] == "orders_suite"
    assert result["statistics"]["evaluated_expectations"] == 3
    assert result["statistics"]["successful_expectations"] == 1
    between = result["results"][1]
    assert between["success"] is False and between["result"]["unexpected_count"] == 1
    assert between["result"]["missing_count"] == 1

    suite.write_text(
        '{"name": "s", "expectations": [{"type": "expect_table_row_count_to_equal", "kwargs": {"value": 4}}]}'
    )
    assert cli("validate", data, "--suite", suite).code == 0
    assert cli("validate", tmp_path / "missing.csv", "--suite", suite).code == 2


def test_validate_cli_on_a_warehouse_table(make_project: Callable[..., Path], cli) -> None:
    root = _project(make_project, "version: 2\nmodels: []\n")
    assert cli("build", "--project-dir", root).code == 0
    suite = root / "suite.yml"
    suite.write_text(
        "name: orders\nexpectations:\n  - expect_column_values_to_be_in_set: {column: status, value_set: [paid, lost]}\n",
        encoding="utf-8",
    )
    res = cli("validate", "orders", "--suite", suite, "--project-dir", root, "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["results"][0]["result"]["element_count"] == 4


def test_python_validate_on_a_path(tmp_path: Path) -> None:
    data = tmp_path / "orders.csv"
    data.write_text(ORDERS_CSV, encoding="utf-8")
    result = headwater.validate(
        str(data), [{"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}}]
    )
    assert result["success"] is True and result["results"][0]["result"]["element_count"] == 4
