"""The demo end to end: generate, build, and check that the planted problems are reported by name."""

from __future__ import annotations

import json

from tests.conftest import query

PLANTED = {
    # check name -> node it is reported on
    "unique_stg_customers_customer_id": "stg_customers",
    "relationships_stg_orders_customer_id__customer_id__ref_stg_customers_": "stg_orders",  # dbt's name
    "not_null_stg_orders_ordered_at": "stg_orders",
    "not_null_stg_products_category": "stg_products",
    "assert_valid_customer_emails": None,
    "accepted_range_stg_payments_amount__0": "stg_payments",
}


def test_demo_builds_star_schema(demo) -> None:
    root, result = demo
    assert result["success"] is True
    tables = {
        r[0]
        for r in query(
            root, "select table_name from information_schema.tables where table_schema = 'main'"
        )
    }
    assert {"fct_orders", "fct_order_items", "dim_customers", "dim_products", "dim_date",
            "mart_daily_revenue", "mart_customer_ltv"} <= tables  # fmt: skip
    models = [r for r in result["results"] if r["resource_type"] == "model"]
    assert len(models) >= 13
    orders = query(root, "select count(*) from raw.orders")[0][0]
    assert query(root, "select count(*) from main.fct_orders")[0][0] == orders
    assert query(root, "select count(*) from main.dim_date")[0][0] == 365
    # every fact row joins its dimensions (orphans are mapped to the unknown customer)
    assert query(root, """
        select count(*) from main.fct_orders f left join main.dim_customers c using (customer_id)
        where c.customer_id is null
    """)[0][0] == 0  # fmt: skip
    revenue = query(root, "select round(sum(revenue), 2) from main.mart_daily_revenue")[0][0]
    assert revenue > 0


def test_demo_snapshots_customers(demo, cli) -> None:
    root, result = demo
    snap = next(r for r in result["results"] if r["name"] == "customers_snapshot")
    assert snap["resource_type"] == "snapshot" and snap["status"] == "success"
    assert {c["status"] for c in snap["checks"]} == {"pass"}
    customers = query(root, "select count(distinct customer_id) from main.stg_customers")[0][0]
    current = query(root, """
        select count(*), count(distinct customer_id) from main.customers_snapshot where dbt_valid_to is null
    """)[0]  # fmt: skip
    assert current == (customers, customers)
    before = query(root, "select count(*), max(dbt_updated_at) from main.customers_snapshot")
    res = cli("snapshot", "--project-dir", root)  # nothing changed in the CRM: nothing to record
    assert res.code == 0, res.out
    assert (
        query(root, "select count(*), max(dbt_updated_at) from main.customers_snapshot") == before
    )


def test_planted_problems_are_reported_by_name(demo) -> None:
    root, result = demo
    checks = {c["name"]: c for r in result["results"] for c in r["checks"]}
    for name, node in PLANTED.items():
        assert name in checks, name
        assert checks[name]["status"] == "warn", checks[name]
        assert checks[name]["failures"] > 0
        assert checks[name]["sample"], name
        if node:
            assert checks[name]["node"] == node
    # negative payments are quarantined, not just reported: the published table has none
    quarantined = checks["accepted_range_stg_payments_amount__0"]["quarantined"]
    assert quarantined == query(root, "select count(*) from main.stg_payments__quarantine")[0][0]
    assert query(root, "select count(*) from main.stg_payments where amount < 0")[0][0] == 0
    assert checks["assert_no_negative_payments"]["status"] == "pass"
    raw = query(root, "select count(*) from raw.payments")[0][0]
    assert query(root, "select count(*) from main.stg_payments")[0][0] + quarantined == raw
    failed = [c for c in checks.values() if c["status"] in ("fail", "error")]
    assert failed == []
    assert sum(c["status"] == "pass" for c in checks.values()) > 30


def test_demo_is_rerunnable_and_ls_lists_layers(demo, cli) -> None:
    root, _ = demo
    res = cli("ls", "--project-dir", root, "--json", "--select", "+fct_orders")
    nodes = json.loads(res.out)
    paths = {n["path"].split("/")[1] for n in nodes if n["resource_type"] == "model"}
    assert paths == {"staging", "intermediate", "marts"}
    res = cli("test", "--project-dir", root, "--select", "marts")
    assert res.code == 0, res.out
