"""Tests for the demo data generator and the demo project template."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import yaml

from headwater.demo import PROJECT_TEMPLATE, generate

SCALE = 0.01

READERS = {
    "customers": "read_csv('{raw}/customers.csv', header = true)",
    "products": "read_csv('{raw}/products.csv', header = true)",
    "orders": "read_parquet('{raw}/orders/**/*.parquet', hive_partitioning = true)",
    "order_items": "read_parquet('{raw}/order_items.parquet')",
    "payments": "read_json('{raw}/payments.ndjson', format = 'newline_delimited')",
    "web_events": "read_parquet('{raw}/web_events/**/*.parquet', hive_partitioning = true)",
}


def _scan(table: str, raw: Path) -> str:
    return READERS[table].format(raw=raw.as_posix())


def _one(sql: str) -> object:
    con = duckdb.connect()
    try:
        return con.execute(sql).fetchall()[0][0]
    finally:
        con.close()


def _checksums(raw: Path) -> dict[str, tuple[int, int]]:
    """Order-independent content checksum of every raw table."""
    con = duckdb.connect()
    try:
        return {
            table: tuple(
                con.execute(f"SELECT count(*), sum(hash(t)) FROM {_scan(table, raw)} t").fetchall()[
                    0
                ]
            )
            for table in READERS
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("raw")
    generate(path, scale=SCALE, seed=42)
    return path


@pytest.fixture(scope="module")
def counts(raw: Path) -> dict[str, int]:
    return {table: int(_one(f"SELECT count(*) FROM {_scan(table, raw)}")) for table in READERS}


# --- determinism -----------------------------------------------------------------------


def test_same_seed_gives_identical_content_across_thread_counts(tmp_path: Path, raw: Path) -> None:
    generate(tmp_path / "one", scale=SCALE, seed=42, threads=1)
    generate(tmp_path / "two", scale=SCALE, seed=42, threads=2)
    reference = _checksums(raw)
    assert _checksums(tmp_path / "one") == reference
    assert _checksums(tmp_path / "two") == reference


def test_different_seed_gives_different_content(tmp_path: Path, raw: Path) -> None:
    generate(tmp_path, scale=SCALE, seed=7)
    other, reference = _checksums(tmp_path), _checksums(raw)
    assert all(other[t][1] != reference[t][1] for t in READERS)


def test_regenerating_into_existing_dir_overwrites(tmp_path: Path, raw: Path) -> None:
    generate(tmp_path, scale=0.02, seed=1)
    generate(tmp_path, scale=SCALE, seed=42)
    assert _checksums(tmp_path) == _checksums(raw)


# --- layout and sizes ------------------------------------------------------------------


def test_file_layout(raw: Path) -> None:
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    assert (raw / "customers.csv").is_file()
    assert (raw / "products.csv").is_file()
    assert (raw / "order_items.parquet").is_file()
    assert (raw / "payments.ndjson").is_file()
    for folder, key in [("orders", "order_month"), ("web_events", "event_month")]:
        files = sorted(p.relative_to(raw).as_posix() for p in (raw / folder).rglob("*"))
        expected = [f"{folder}/{key}={m}" for m in months]
        expected += [f"{folder}/{key}={m}/data.parquet" for m in months]
        assert files == sorted(expected)


def test_returned_counts_match_files(tmp_path: Path, counts: dict[str, int]) -> None:
    assert generate(tmp_path, scale=SCALE, seed=42) == counts


def test_sizes_follow_scale(tmp_path: Path, counts: dict[str, int]) -> None:
    double = generate(tmp_path, scale=2 * SCALE, seed=42)
    assert counts["orders"] == 10_000
    assert double["orders"] == 20_000
    for table in ("customers", "order_items", "payments", "web_events"):
        assert 1.8 < double[table] / counts[table] < 2.2, table
    assert counts["products"] == 100
    assert 0.19 < counts["customers"] / counts["orders"] < 0.21
    assert 1.6 < counts["order_items"] / counts["orders"] < 2.4
    assert 1.0 < counts["payments"] / counts["orders"] < 1.2
    assert 2.5 < counts["web_events"] / counts["orders"] < 3.5


def test_full_scale_product_count() -> None:
    from headwater.demo.generator import _sizes

    assert _sizes(1.0).products == 500
    assert _sizes(1.0).orders == 1_000_000


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, scale=0)
    with pytest.raises(ValueError):
        generate(tmp_path, seed="42")  # type: ignore[arg-type]


# --- realism ---------------------------------------------------------------------------


def test_orders_are_in_2025_with_holiday_season_peak(raw: Path) -> None:
    orders = _scan("orders", raw)
    assert _one(
        f"SELECT min(order_ts) >= '2025-01-01' AND max(order_ts) < '2026-01-01' FROM {orders}"
    )
    assert _one(f"SELECT count(DISTINCT order_month) FROM {orders}") == 12
    by_month = f"SELECT order_month, count(*) AS n FROM {orders} GROUP BY 1"
    assert _one(
        f"SELECT max(n) FILTER (WHERE order_month = '2025-12') > 1.4 * median(n) FROM ({by_month})"
    )
    by_day = f"SELECT order_ts::DATE AS d, count(*) AS n FROM {orders} WHERE order_ts IS NOT NULL GROUP BY 1"
    assert _one(f"SELECT arg_max(d, n) IN ('2025-11-28', '2025-12-01') FROM ({by_day})")


def test_categorical_values_and_skew(raw: Path) -> None:
    orders, customers = _scan("orders", raw), _scan("customers", raw)
    assert _one(f"SELECT list(DISTINCT status ORDER BY status) FROM {orders}") == [
        "cancelled", "delivered", "placed", "returned", "shipped",
    ]  # fmt: skip
    assert _one(f"SELECT mode(country_code) FROM {customers}") == "US"
    assert _one(f"SELECT mode(segment) FROM {customers}") == "consumer"
    assert _one(f"SELECT mode(status) FROM {orders}") == "delivered"
    top_share = (
        "SELECT max(n) / sum(n) FROM (SELECT product_id, count(*) AS n FROM "
        f"{_scan('order_items', raw)} GROUP BY 1)"
    )
    assert _one(top_share) > 3 / 100  # Zipf-like: far above a uniform 1 %
    funnel = f"SELECT list(event_type ORDER BY n DESC) FROM (SELECT event_type, count(*) n FROM {_scan('web_events', raw)} GROUP BY 1)"
    assert _one(funnel) == ["page_view", "add_to_cart", "checkout", "purchase"]


def test_line_amounts_and_payments_add_up(raw: Path) -> None:
    items = _scan("order_items", raw)
    assert _one(f"SELECT count(*) FROM {items} WHERE line_amount <> quantity * unit_price") == 0
    assert _one(
        f"SELECT min(c) >= 1 AND max(c) <= 5 FROM (SELECT count(*) c FROM {items} GROUP BY order_id)"
    )
    totals = f"""
        SELECT o.order_id, round(sum(i.line_amount) * (1 - o.discount_pct / 100), 2) AS total
        FROM {_scan("orders", raw)} o JOIN {items} i USING (order_id)
        GROUP BY o.order_id, o.discount_pct
    """
    paid = f"SELECT order_id, sum(abs(amount)) AS paid FROM {_scan('payments', raw)} GROUP BY 1"
    mismatches = f"SELECT count(*) FROM ({totals}) t JOIN ({paid}) p USING (order_id) WHERE abs(total - paid) > 0.005"
    assert _one(mismatches) == 0


# --- planted problems ------------------------------------------------------------------


def test_duplicate_customers(raw: Path) -> None:
    customers = _scan("customers", raw)
    dups = f"SELECT customer_id FROM {customers} GROUP BY 1 HAVING count(*) > 1"
    assert _one(f"SELECT count(*) FROM ({dups})") >= 5


def test_orphan_orders(raw: Path) -> None:
    orphans = f"""
        SELECT count(*) FROM {_scan("orders", raw)} o
        WHERE o.customer_id NOT IN (SELECT customer_id FROM {_scan("customers", raw)})
    """
    assert _one(orphans) >= 5


def test_negative_payments(raw: Path) -> None:
    assert _one(f"SELECT count(*) FROM {_scan('payments', raw)} WHERE amount < 0") >= 3


def test_malformed_emails(raw: Path) -> None:
    customers = _scan("customers", raw)
    bad = {
        "no_at": "NOT contains(email, '@')",
        "double_at": "contains(email, '@@')",
        "space": "contains(trim(email), ' ')",
    }
    for name, predicate in bad.items():
        assert _one(f"SELECT count(*) FROM {customers} WHERE {predicate}") > 0, name


def test_required_columns_have_nulls(raw: Path) -> None:
    assert _one(f"SELECT count(*) FROM {_scan('orders', raw)} WHERE order_ts IS NULL") >= 3
    assert _one(f"SELECT count(*) FROM {_scan('products', raw)} WHERE category IS NULL") >= 3


def test_clean_columns_have_no_problems(raw: Path) -> None:
    """Problems are planted only where documented (e.g. ids are otherwise unique)."""
    for table, key in [("orders", "order_id"), ("order_items", "order_item_id"),
                       ("payments", "payment_id"), ("web_events", "event_id"),
                       ("products", "product_id")]:  # fmt: skip
        scan = _scan(table, raw)
        assert _one(f"SELECT count(*) = count(DISTINCT {key}) FROM {scan}"), table
    assert _one(f"SELECT count(*) FROM {_scan('payments', raw)} WHERE amount = 0") == 0


# --- template --------------------------------------------------------------------------


def _template_models() -> dict[str, str]:
    return {p.stem: p.read_text() for p in (PROJECT_TEMPLATE / "models").rglob("*.sql")}


def test_template_files_exist() -> None:
    for rel in ["headwater.yml", "sources.yml", "README.md", ".gitignore",
                "seeds/country_codes.csv", "seeds/holidays.csv"]:  # fmt: skip
        assert (PROJECT_TEMPLATE / rel).is_file(), rel
    assert yaml.safe_load((PROJECT_TEMPLATE / "headwater.yml").read_text())["name"] == "shop"


def test_template_refs_and_yml_models_resolve() -> None:
    models = _template_models()
    seeds = {p.stem for p in (PROJECT_TEMPLATE / "seeds").glob("*.csv")}
    texts = list(models.values()) + [
        p.read_text() for p in (PROJECT_TEMPLATE / "tests").glob("*.sql")
    ]
    for text in texts:
        for name in re.findall(r"ref\('(\w+)'\)", text):
            assert name in models or name in seeds, name
    for yml in (PROJECT_TEMPLATE / "models").rglob("*.yml"):
        for model in yaml.safe_load(yml.read_text())["models"]:
            assert model["name"] in models, model["name"]


def test_template_sources_match_generated_tables(counts: dict[str, int]) -> None:
    sources = yaml.safe_load((PROJECT_TEMPLATE / "sources.yml").read_text())["sources"]
    assert {t["name"] for t in sources[0]["tables"]} == set(counts)


def test_seed_covers_generated_countries(raw: Path) -> None:
    seed = (PROJECT_TEMPLATE / "seeds" / "country_codes.csv").as_posix()
    missing = f"""
        SELECT count(*) FROM (
            SELECT country_code FROM {_scan("customers", raw)}
            UNION SELECT shipping_country FROM {_scan("orders", raw)}
        ) WHERE country_code NOT IN (SELECT country_code FROM read_csv('{seed}', header = true))
    """
    assert _one(missing) == 0
