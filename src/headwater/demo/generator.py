"""Deterministic raw-data generator for the headwater demo shop.

The generator writes one year (2025-01-01 .. 2025-12-31) of a fictional e-commerce
shop into a raw folder, using DuckDB SQL over ``range()`` and ``COPY ... TO``:

===============================================  ==========================================
File (relative to ``raw_dir``)                   Content
===============================================  ==========================================
``customers.csv``                                ~ orders / 5 customers
``products.csv``                                 ~ 500 * max(scale, 0.1) products (>= 100)
``orders/order_month=YYYY-MM/data.parquet``      ~ 1,000,000 * scale orders, hive-partitioned
``order_items.parquet``                          1-5 items per order (mostly 1-2)
``payments.ndjson``                              ~1.07 payments per order (split payments)
``web_events/event_month=YYYY-MM/data.parquet``  ~3 events per order, funnel-shaped
===============================================  ==========================================

Every pseudo-random value is derived from DuckDB ``hash(row_id, salt, seed)`` mapped to
``[0, 1)``, never from ``random()``, and all row numbering is ordered on deterministic
keys, so the output only depends on ``scale`` and ``seed`` (not on the thread count).

Realistic skew: US-heavy countries, mostly consumer customers, log-normal prices, Zipf-like
product popularity, repeat buyers (older customers order more), weekly and holiday
seasonality (Black Friday / Cyber Monday spike, busy November and December), evening peak
hours, and a decreasing web funnel (page_view > add_to_cart > checkout > purchase).

Planted data-quality problems (a small deterministic number of rows, roughly proportional
to ``scale`` with a minimum of a few each, spread evenly over the data):

* **Duplicate customers** (``customers.customer_id`` not unique): ``max(5, 250 * scale)``
  extra rows; even ids are exact duplicates, odd ids are near duplicates (upper-cased email
  with trailing space, segment changed, ``updated_at`` one week later -> "latest wins").
* **Malformed emails** (``customers.email``): ``max(5, 150 * scale)`` customers whose email
  has no ``@`` (``' at '``), a doubled ``@@``, or an embedded space.
* **Orphan orders** (``orders.customer_id`` not in customers): ``max(5, 300 * scale)``
  orders pointing at ids just above the largest customer id (deleted accounts).
* **NULL order timestamps** (``orders.order_ts``): ``max(3, 100 * scale)`` orders.
* **NULL product categories** (``products.category``): ``max(3, 20 * scale)`` products.
* **Negative payments** (``payments.amount < 0``): ``max(3, 100 * scale)`` payments whose
  amount has the wrong sign.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

YEAR_START = date(2025, 1, 1)
YEAR_DAYS = 365
SIGNUP_START = date(2022, 1, 1)

COUNTRIES: list[tuple[str, float]] = [
    ("US", 42), ("GB", 9), ("CA", 8), ("DE", 7), ("FR", 5), ("AU", 5), ("JP", 3),
    ("BR", 3), ("MX", 3), ("NL", 3), ("ES", 3), ("IT", 3), ("SE", 2), ("IE", 2), ("IN", 2),
]  # fmt: skip
SEGMENTS: list[tuple[str, float]] = [("consumer", 80), ("business", 15), ("vip", 5)]
FIRST_NAMES = [
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sofia",
    "Mark", "Emma", "Luca", "Olivia", "Noah", "Mia", "Liam", "Hannah", "Yuki", "Priya",
    "Lucas", "Chloe", "Mateo", "Amelia",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Taylor", "Thomas",
    "Moore", "Jackson", "Martin", "Lee", "Walker", "Hall", "Young", "King", "Wright", "Scott",
    "Green", "Baker", "Adams", "Nelson", "Muller", "Schmidt", "Dubois", "Rossi", "Tanaka",
    "Silva", "Jensen", "Murphy", "Patel", "Kowalski",
]  # fmt: skip
EMAIL_DOMAINS: list[tuple[str, float]] = [
    ("gmail.com", 40), ("outlook.com", 15), ("yahoo.com", 12), ("icloud.com", 10),
    ("hotmail.com", 8), ("proton.me", 3), ("example.com", 12),
]  # fmt: skip
# (category, weight, median unit price, product nouns)
CATEGORIES: list[tuple[str, float, float, list[str]]] = [
    ("Apparel", 20, 35, ["T-Shirt", "Hoodie", "Jacket", "Jeans", "Dress", "Sweater"]),
    ("Footwear", 10, 80, ["Sneakers", "Boots", "Sandals", "Loafers", "Running Shoes"]),
    ("Electronics", 12, 120, ["Headphones", "Speaker", "Charger", "Smartwatch", "Keyboard"]),
    ("Home & Kitchen", 14, 40, ["Mug", "Skillet", "Knife Set", "Blender", "Kettle"]),
    ("Beauty", 10, 22, ["Serum", "Moisturizer", "Lipstick", "Shampoo", "Face Mask"]),
    ("Sports & Outdoors", 9, 45, ["Yoga Mat", "Water Bottle", "Tent", "Backpack", "Dumbbells"]),
    ("Toys & Games", 8, 25, ["Puzzle", "Board Game", "Building Set", "Plush Toy", "RC Car"]),
    ("Books", 7, 15, ["Novel", "Cookbook", "Notebook", "Planner", "Comic"]),
    ("Grocery", 6, 9, ["Coffee Beans", "Olive Oil", "Granola", "Green Tea", "Chocolate"]),
    ("Jewelry", 4, 60, ["Necklace", "Bracelet", "Ring", "Earrings"]),
]
ADJECTIVES = [
    "Classic", "Essential", "Premium", "Everyday", "Urban", "Vintage", "Eco", "Pro", "Ultra",
    "Signature", "Compact", "Deluxe",
]  # fmt: skip
BRANDS = [
    "Northwind", "Acme", "Bluebird", "Summit", "Pinecrest", "Lumen", "Harbor & Co", "Redwood",
    "Kestrel", "Orbit", "Maple Lane", "Ironbark", "Solace", "Tidewater", "Juniper",
]  # fmt: skip
# Relative order volume by ISO day of week (1 = Monday .. 7 = Sunday) and by month.
WEEKDAY_WEIGHTS = [1.05, 0.97, 0.98, 1.0, 0.95, 1.1, 1.2]
MONTH_WEIGHTS = [0.85, 0.82, 0.92, 0.95, 1.0, 0.97, 1.0, 1.02, 0.95, 1.03, 1.35, 1.6]
SPECIAL_DAYS: dict[str, float] = {
    "2025-01-01": 0.6, "2025-07-04": 0.8, "2025-07-08": 1.5, "2025-07-09": 1.4,
    "2025-11-24": 1.3, "2025-11-25": 1.3, "2025-11-26": 1.4, "2025-11-27": 0.9,
    "2025-11-28": 3.2, "2025-11-29": 1.8, "2025-11-30": 1.6, "2025-12-01": 2.6,
    "2025-12-02": 1.4, "2025-12-15": 1.3, "2025-12-16": 1.3, "2025-12-17": 1.3,
    "2025-12-18": 1.3, "2025-12-19": 1.2, "2025-12-24": 0.7, "2025-12-25": 0.4,
    "2025-12-26": 1.5,
}  # fmt: skip
HOUR_WEIGHTS = [
    0.6, 0.35, 0.2, 0.15, 0.15, 0.25, 0.5, 0.9, 1.3, 1.6, 1.7, 1.8,
    2.0, 1.9, 1.7, 1.6, 1.7, 1.9, 2.2, 2.6, 2.8, 2.5, 1.8, 1.1,
]  # fmt: skip
ORDER_STATUSES: list[tuple[str, float]] = [
    ("delivered", 75),
    ("shipped", 8),
    ("placed", 4),
    ("returned", 7),
    ("cancelled", 6),
]
CHANNELS: list[tuple[str, float]] = [("web", 55), ("mobile", 35), ("store", 10)]
DISCOUNTS: list[tuple[float, float]] = [(0, 70), (5, 15), (10, 10), (15, 4), (25, 1)]
ITEMS_PER_ORDER: list[tuple[int, float]] = [(1, 45), (2, 28), (3, 15), (4, 8), (5, 4)]
QUANTITIES: list[tuple[int, float]] = [(1, 80), (2, 13), (3, 5), (4, 1), (6, 1)]
PAYMENT_METHODS: list[tuple[str, float]] = [
    ("card", 62),
    ("paypal", 25),
    ("bank_transfer", 7),
    ("gift_card", 6),
]
DEVICES: list[tuple[str, float]] = [("mobile", 52), ("desktop", 40), ("tablet", 8)]
PAGE_KINDS: list[tuple[str, float]] = [
    ("home", 20),
    ("category", 25),
    ("product", 45),
    ("search", 8),
    ("help", 2),
]
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]
PARQUET = "FORMAT parquet, COMPRESSION zstd"
TABLES = ("customers", "products", "orders", "order_items", "payments", "web_events")


@dataclass(frozen=True)
class _Sizes:
    """Row counts and planted-problem counts derived from ``scale``."""

    orders: int
    customers: int
    products: int
    sessions: int
    duplicate_customers: int
    malformed_emails: int
    orphan_orders: int
    null_order_ts: int
    null_categories: int
    negative_payments: int


def _bad(base: float, scale: float, minimum: int) -> int:
    """Number of planted bad rows: proportional to scale, at least ``minimum``."""
    return max(minimum, round(base * scale))


def _sizes(scale: float) -> _Sizes:
    """Compute table sizes for a scale factor (1.0 ~ one million orders)."""
    orders = max(500, round(1_000_000 * scale))
    return _Sizes(
        orders=orders,
        customers=max(100, orders // 5),
        products=max(100, round(500 * max(scale, 0.1))),
        sessions=round(orders * 0.75),
        duplicate_customers=_bad(250, scale, 5),
        malformed_emails=_bad(150, scale, 5),
        orphan_orders=_bad(300, scale, 5),
        null_order_ts=_bad(100, scale, 3),
        null_categories=_bad(20, scale, 3),
        negative_payments=_bad(100, scale, 3),
    )


def _lit(value: object) -> str:
    """Render a Python value as a SQL literal."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _list(values: Sequence[object]) -> str:
    """Render a Python sequence as a DuckDB list literal."""
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _pick(u: str, choices: Sequence[tuple[object, float]]) -> str:
    """Weighted choice: a CASE expression mapping uniform ``u`` to a value."""
    total = sum(w for _, w in choices)
    branches, cumulative = [], 0.0
    for value, weight in choices[:-1]:
        cumulative += weight / total
        branches.append(f"WHEN {u} < {cumulative:.6f} THEN {_lit(value)}")
    return f"(CASE {' '.join(branches)} ELSE {_lit(choices[-1][0])} END)"


def _choice(u: str, values: Sequence[object]) -> str:
    """Uniform choice of one element of ``values`` driven by uniform ``u``."""
    return f"({_list(values)})[1 + floor({u} * {len(values)})::INTEGER]"


def _planted(col: str, n_total: int, n_bad: int, offset: int) -> str:
    """Predicate selecting ``n_bad`` rows evenly spread over ids ``1..n_total``."""
    stride = max(1, n_total // max(1, n_bad))
    shifted = f"({col} - 1 - {offset % stride})"
    return f"({shifted} >= 0 AND {shifted} % {stride} = 0 AND {shifted} // {stride} < {n_bad})"


def _coprime(n: int) -> int:
    """A multiplier coprime with ``n`` near ``0.618 * n`` (scatters popular product ids)."""
    candidate = max(1, round(n * 0.618))
    while math.gcd(candidate, n) != 1:
        candidate += 1
    return candidate


def _popular_product(u: str, n: int, s: float = 0.8) -> str:
    """Zipf-like product id in ``1..n``: power-law rank, permuted to scatter ids.

    The rank follows a continuous power law with exponent ``s`` on ``[1, n + 1)``
    (inverse CDF), so rank 1 is the most popular product.
    """
    e = 1 - s
    rank = f"least({n}, floor(pow(1 + {u} * ({(n + 1) ** e!r} - 1), {1 / e!r})))::BIGINT"
    return f"((({rank}) - 1) * {_coprime(n)} % {n} + 1)"


def _q(path: Path) -> str:
    """Quote a filesystem path as a SQL string literal."""
    return _lit(path.as_posix())


def _u(col: str, salt: str) -> str:
    """SQL for a uniform [0, 1) value derived from ``hash(col, salt, seed)``."""
    return f"u({col}, '{salt}')"


def _install_macros(con: duckdb.DuckDBPyConnection, seed: int) -> None:
    """Create the hash-based uniform macros ``u`` (in [0,1)) and ``un`` (in (0,1))."""
    con.execute(f"CREATE MACRO u(i, salt) AS ((hash(i, salt, {seed}) % 1000000) / 1000000.0)")
    con.execute(
        f"CREATE MACRO un(i, salt) AS (((hash(i, salt, {seed}) % 1000000) + 0.5) / 1000000.0)"
    )


def _day_weights() -> list[tuple[date, float]]:
    """Relative order volume of every day of 2025 (weekday x month x trend x specials)."""
    weights = []
    for i in range(YEAR_DAYS):
        day = YEAR_START + timedelta(days=i)
        weight = WEEKDAY_WEIGHTS[day.isoweekday() - 1] * MONTH_WEIGHTS[day.month - 1]
        weight *= (1 + 0.15 * i / YEAR_DAYS) * SPECIAL_DAYS.get(day.isoformat(), 1.0)
        weights.append((day, weight))
    return weights


def _build_days(con: duckdb.DuckDBPyConnection) -> None:
    """Table ``days(day, start_frac, eligible)``: cumulative share of volume before each day.

    Computed in Python so the floating-point sums do not depend on DuckDB's parallelism.
    ``eligible`` (customers signed up by that day) is filled in by ``_build_customers``.
    """
    weights = _day_weights()
    total = sum(w for _, w in weights)
    rows, cumulative = [], 0.0
    for day, weight in weights:
        rows.append(f"(DATE '{day}', {cumulative / total!r})")
        cumulative += weight
    con.execute(f"""
        CREATE TABLE days AS
        SELECT day, start_frac, 0::BIGINT AS eligible
        FROM (VALUES {", ".join(rows)}) t(day, start_frac)
    """)


def _day_index(n: int) -> str:
    """Subquery mapping row ids 1..n onto days proportionally to the day weights."""
    return f"(SELECT day, eligible, floor(start_frac * {n})::BIGINT + 1 AS start_id FROM days)"


def _seconds_of_day(u_hour: str, u_sec: str, hours: int = 24) -> str:
    """Seconds since midnight with an evening-peaked hour distribution."""
    hour = _pick(u_hour, list(zip(range(hours), HOUR_WEIGHTS[:hours], strict=True)))
    return f"({hour} * 3600 + floor({u_sec} * 3600)::INTEGER)"


def _build_customers(con: duckdb.DuckDBPyConnection, s: _Sizes) -> None:
    """Clean customers with ids in signup order and accelerating signups."""
    span = (date(2025, 12, 31) - SIGNUP_START).days
    first = _choice(_u("i", "c_first"), FIRST_NAMES)
    last = _choice(_u("i", "c_last"), LAST_NAMES)
    con.execute(f"""
        CREATE TABLE customers AS
        WITH b AS (
            SELECT i AS customer_id, {first} AS first_name, {last} AS last_name,
                (DATE '{SIGNUP_START}'
                    + to_days(floor({span} * sqrt((i - 1) / {s.customers}))::INTEGER))::DATE
                    AS signup_date,
                {_pick(_u("i", "c_domain"), EMAIL_DOMAINS)} AS domain,
                u(i, 'c_email_style') < 0.6 AS dotted
            FROM range(1, {s.customers + 1}) t(i)
        )
        SELECT customer_id, first_name, last_name,
            lower(CASE WHEN dotted THEN first_name || '.' || last_name
                       ELSE first_name || left(last_name, 1) END
                  || customer_id::VARCHAR || '@' || domain) AS email,
            {_pick(_u("customer_id", "c_country"), COUNTRIES)} AS country_code,
            signup_date,
            {_pick(_u("customer_id", "c_segment"), SEGMENTS)} AS segment,
            least(signup_date::TIMESTAMP
                + to_days(floor(u(customer_id, 'c_upd_d') * 400)::INTEGER)
                + to_seconds(floor(u(customer_id, 'c_upd_s') * 86400)::INTEGER),
                TIMESTAMP '2025-12-31 23:00:00') AS updated_at
        FROM b
    """)
    con.execute("""
        UPDATE days SET eligible = (
            SELECT count(*) FROM customers c WHERE c.signup_date <= days.day)
    """)


def _build_products(con: duckdb.DuckDBPyConnection, s: _Sizes) -> None:
    """Products with category-dependent log-normal prices."""
    names = _list([c[0] for c in CATEGORIES])
    medians = _list([float(c[2]) for c in CATEGORIES])
    nouns = "[" + ", ".join(_list(c[3]) for c in CATEGORIES) + "]"
    cat_idx = _pick(_u("i", "p_cat"), [(k + 1, c[1]) for k, c in enumerate(CATEGORIES)])
    z = "(sqrt(-2 * ln(un(i, 'p_z1'))) * cos(2 * pi() * u(i, 'p_z2')))"
    con.execute(f"""
        CREATE TABLE products AS
        WITH b AS (
            SELECT i, {cat_idx} AS k,
                exp(ln({medians}[{cat_idx}]) + 0.55 * {z}) AS raw_price
            FROM range(1, {s.products + 1}) t(i)
        ), p AS (
            SELECT i, k, greatest(round(raw_price) - 0.01, 0.99)::DECIMAL(10, 2) AS unit_price
            FROM b
        )
        SELECT i AS product_id,
            'SKU-' || lpad(i::VARCHAR, 6, '0') AS sku,
            {_choice(_u("i", "p_adj"), ADJECTIVES)} || ' '
                || {nouns}[k][1 + floor(u(i, 'p_noun') * len({nouns}[k]))::INTEGER] AS name,
            {names}[k] AS category,
            {_choice(_u("i", "p_brand"), BRANDS)} AS brand,
            unit_price,
            round(unit_price * (0.35 + 0.3 * u(i, 'p_cost')), 2)::DECIMAL(10, 2) AS unit_cost,
            u(i, 'p_active') < 0.92 AS is_active
        FROM p
    """)


def _order_status(u: str, day: str) -> str:
    """Order status; orders from the last days of the year are still in flight."""
    recent = _pick(u, [("placed", 45), ("shipped", 45), ("cancelled", 10)])
    late = _pick(u, [("shipped", 45), ("delivered", 45), ("cancelled", 10)])
    normal = _pick(u, ORDER_STATUSES)
    return (
        f"(CASE WHEN {day} >= DATE '2025-12-29' THEN {recent} "
        f"WHEN {day} >= DATE '2025-12-20' THEN {late} ELSE {normal} END)"
    )


def _build_orders(con: duckdb.DuckDBPyConnection, s: _Sizes) -> None:
    """Orders with seasonality; ids are assigned in timestamp order."""
    country_pick = _pick(_u("b.i", "o_country"), COUNTRIES)
    con.execute(f"""
        CREATE TABLE orders AS
        WITH b AS (
            SELECT r.i, d.day,
                least(d.eligible, 1 + floor(d.eligible * pow(u(r.i, 'o_cust'), 1.3)))::BIGINT
                    AS customer_id,
                d.day::TIMESTAMP
                    + to_seconds({_seconds_of_day(_u("r.i", "o_hour"), _u("r.i", "o_sec"))})
                    AS ts
            FROM range(1, {s.orders + 1}) r(i)
            ASOF JOIN {_day_index(s.orders)} d ON r.i >= d.start_id
        )
        SELECT row_number() OVER (ORDER BY b.ts, b.i) AS order_id,
            b.customer_id,
            b.ts AS order_ts,
            b.ts AS true_ts,
            {_order_status(_u("b.i", "o_status"), "b.day")} AS status,
            {_pick(_u("b.i", "o_channel"), CHANNELS)} AS channel,
            CASE WHEN u(b.i, 'o_ship_abroad') < 0.95 THEN c.country_code
                 ELSE {country_pick} END AS shipping_country,
            'USD' AS currency,
            (CASE WHEN b.day BETWEEN DATE '2025-11-28' AND DATE '2025-12-01'
                  THEN {_pick(_u("b.i", "o_disc"), [(10, 40), (15, 35), (25, 25)])}
                  ELSE {_pick(_u("b.i", "o_disc"), DISCOUNTS)} END)::DECIMAL(5, 2)
                AS discount_pct,
            strftime(b.day, '%Y-%m') AS order_month
        FROM b JOIN customer_countries c USING (customer_id)
    """)


def _build_order_items(con: duckdb.DuckDBPyConnection, s: _Sizes) -> None:
    """Order lines with Zipf-like product popularity and occasional sale prices."""
    n_items = _pick(_u("order_id", "oi_n"), ITEMS_PER_ORDER)
    con.execute(f"""
        CREATE TABLE order_items AS
        WITH o AS (
            SELECT order_id, {n_items} AS n_items FROM orders
        ), li AS (
            SELECT o.order_id, r.k, o.order_id * 8 + r.k AS j
            FROM o, range(5) r(k) WHERE r.k < o.n_items
        ), lp AS (
            SELECT order_id, k, j,
                {_popular_product(_u("j", "oi_prod"), s.products)} AS product_id,
                {_pick(_u("j", "oi_qty"), QUANTITIES)} AS quantity,
                u(j, 'oi_sale') < 0.12 AS on_sale
            FROM li
        )
        SELECT row_number() OVER (ORDER BY lp.order_id, lp.k) AS order_item_id,
            lp.order_id, lp.product_id, lp.quantity,
            (CASE WHEN lp.on_sale THEN round(p.unit_price * 0.85, 2) ELSE p.unit_price END)
                ::DECIMAL(10, 2) AS unit_price,
            (lp.quantity * (CASE WHEN lp.on_sale THEN round(p.unit_price * 0.85, 2)
                                  ELSE p.unit_price END))::DECIMAL(12, 2) AS line_amount
        FROM lp JOIN products p USING (product_id)
    """)


def _build_payments(con: duckdb.DuckDBPyConnection) -> None:
    """Payments: one per order, or a gift card + card split for some orders."""
    method = _pick(_u("order_id", "pay_method"), PAYMENT_METHODS)
    con.execute(f"""
        CREATE TABLE payments AS
        WITH g AS (
            SELECT order_id, sum(line_amount) AS gross FROM order_items GROUP BY order_id
        ), t AS (
            SELECT o.order_id, o.true_ts, o.status,
                round(g.gross * (1 - o.discount_pct / 100), 2)::DECIMAL(12, 2) AS total,
                u(o.order_id, 'pay_split') < 0.07 AS is_split
            FROM orders o JOIN g USING (order_id)
        ), parts AS (
            SELECT order_id, true_ts, status, 1 AS seq,
                CASE WHEN is_split THEN 'gift_card' ELSE {method} END AS method,
                CASE WHEN is_split
                     THEN round(total * (0.2 + 0.5 * u(order_id, 'pay_share')), 2)
                     ELSE total END::DECIMAL(12, 2) AS amount
            FROM t
            UNION ALL
            SELECT order_id, true_ts, status, 2, 'card',
                (total - round(total * (0.2 + 0.5 * u(order_id, 'pay_share')), 2))::DECIMAL(12, 2)
            FROM t WHERE is_split
        ), p AS (
            SELECT *, true_ts + to_seconds((CASE WHEN method = 'bank_transfer'
                    THEN 86400 + floor(u(order_id * 4 + seq, 'pay_delay') * 172800)
                    ELSE 5 + floor(u(order_id * 4 + seq, 'pay_delay') * 600) END)::INTEGER)
                AS paid_at
            FROM parts
        )
        SELECT row_number() OVER (ORDER BY paid_at, order_id, seq) AS payment_id,
            order_id, method, amount, paid_at,
            CASE WHEN status = 'returned' THEN 'refunded'
                 WHEN status = 'cancelled' AND u(order_id, 'pay_fail') < 0.6 THEN 'failed'
                 WHEN status = 'cancelled' THEN 'refunded'
                 ELSE 'paid' END AS status
        FROM p
    """)


def _page(s: _Sizes) -> str:
    """Page path of a page_view event (uses ``e`` = event key, ``cat`` = category slug)."""
    kind = _pick(_u("e", "we_page"), PAGE_KINDS)
    slugs = [c[0].lower().replace(" & ", "-").replace(" ", "-") for c in CATEGORIES]
    product = _popular_product(_u("e", "we_prod"), s.products)
    return (
        f"(CASE {kind} WHEN 'home' THEN '/' WHEN 'search' THEN '/search' "
        f"WHEN 'help' THEN '/help' "
        f"WHEN 'category' THEN '/c/' || {_choice(_u('e', 'we_cat'), slugs)} "
        f"ELSE '/p/' || {product} END)"
    )


def _build_web_events(con: duckdb.DuckDBPyConnection, s: _Sizes) -> None:
    """Web sessions expanded into funnel events (page views, cart, checkout, purchase)."""
    con.execute(f"""
        CREATE TABLE sessions AS
        WITH b AS (
            SELECT r.i, d.day, d.eligible,
                d.day::TIMESTAMP + to_seconds(
                    {_seconds_of_day(_u("r.i", "ws_hour"), _u("r.i", "ws_sec"), hours=23)})
                    AS started_at
            FROM range(1, {s.sessions + 1}) r(i)
            ASOF JOIN {_day_index(s.sessions)} d ON r.i >= d.start_id
        ), f AS (
            SELECT *,
                u(i, 'ws_cart') < 0.28 AS has_cart,
                u(i, 'ws_checkout') < 0.55 AS to_checkout,
                u(i, 'ws_purchase') < 0.7 AS to_purchase
            FROM b
        )
        SELECT i, started_at,
            printf('sess-%08d', i) AS session_id,
            CASE WHEN u(i, 'ws_login') < 0.4
                 THEN 1 + floor(u(i, 'ws_cust') * eligible)::BIGINT END AS customer_id,
            {_pick(_u("i", "ws_device"), DEVICES)} AS device,
            20 + floor(u(i, 'ws_gap') * 100)::INTEGER AS gap_s,
            1 + floor(pow(u(i, 'ws_pv'), 1.8) * 8)::INTEGER AS n_pv,
            has_cart::INTEGER + (has_cart AND to_checkout)::INTEGER
                + (has_cart AND to_checkout AND to_purchase)::INTEGER AS n_funnel
        FROM f
    """)
    con.execute(f"""
        CREATE TABLE web_events AS
        WITH e AS (
            SELECT s.*, r.k, s.i * 16 + r.k AS e
            FROM sessions s, range(12) r(k) WHERE r.k < s.n_pv + s.n_funnel
        ), t AS (
            SELECT *,
                started_at + to_seconds((k * gap_s + floor(u(e, 'we_jitter') * 15))::INTEGER)
                    AS event_ts,
                CASE WHEN k < n_pv THEN 'page_view' WHEN k = n_pv THEN 'add_to_cart'
                     WHEN k = n_pv + 1 THEN 'checkout' ELSE 'purchase' END AS event_type
            FROM e
        )
        SELECT row_number() OVER (ORDER BY event_ts, i, k) AS event_id,
            session_id, customer_id, event_ts, event_type,
            CASE event_type WHEN 'page_view' THEN {_page(s)} WHEN 'add_to_cart' THEN '/cart'
                 WHEN 'checkout' THEN '/checkout' ELSE '/checkout/confirmation' END AS page,
            device,
            strftime(event_ts, '%Y-%m') AS event_month
        FROM t
    """)
    con.execute("DROP TABLE sessions")


def _plant_customers(con: duckdb.DuckDBPyConnection, s: _Sizes) -> None:
    """Plant malformed emails and exact / near duplicate customer rows."""
    emails = _planted("customer_id", s.customers, s.malformed_emails, 1)
    con.execute(f"""
        UPDATE customers SET email = CASE customer_id % 3
            WHEN 0 THEN replace(email, '@', ' at ')
            WHEN 1 THEN replace(email, '@', '@@')
            ELSE regexp_replace(email, '[.]', ' ') END
        WHERE {emails}
    """)
    dups = _planted("customer_id", s.customers, s.duplicate_customers, 0)
    con.execute(f"""
        INSERT INTO customers
        SELECT customer_id, first_name, last_name,
            CASE WHEN customer_id % 2 = 0 THEN email ELSE upper(email) || ' ' END,
            country_code, signup_date,
            CASE WHEN customer_id % 2 = 0 THEN segment
                 WHEN segment = 'vip' THEN 'business' ELSE 'vip' END,
            CASE WHEN customer_id % 2 = 0 THEN updated_at
                 ELSE updated_at + INTERVAL 7 DAY END
        FROM customers WHERE {dups}
    """)


def _plant_products(con: duckdb.DuckDBPyConnection, s: _Sizes) -> None:
    """Plant products without a category."""
    null_cat = _planted("product_id", s.products, s.null_categories, 2)
    con.execute(f"UPDATE products SET category = NULL WHERE {null_cat}")


def _plant_orders(con: duckdb.DuckDBPyConnection, s: _Sizes) -> None:
    """Plant orphan customer ids and missing order timestamps."""
    orphans = _planted("order_id", s.orders, s.orphan_orders, 3)
    con.execute(
        f"UPDATE orders SET customer_id = {s.customers} + 1 + order_id % 50 WHERE {orphans}"
    )
    null_ts = _planted("order_id", s.orders, s.null_order_ts, 7)
    con.execute(f"UPDATE orders SET order_ts = NULL WHERE {null_ts}")


def _plant_payments(con: duckdb.DuckDBPyConnection, s: _Sizes) -> None:
    """Plant payments with a negative amount."""
    n_payments = _number(con, "SELECT count(*) FROM payments")
    negative = _planted("payment_id", n_payments, s.negative_payments, 5)
    con.execute(f"UPDATE payments SET amount = -amount WHERE {negative}")


def _copy(con: duckdb.DuckDBPyConnection, query: str, target: Path, options: str) -> int:
    """``COPY (query) TO target``, creating the parent folder; returns rows written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return _number(con, f"COPY ({query}) TO {_q(target)} ({options})")


def _number(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """The one number a statement returns (a count, the rows COPY wrote)."""
    return int(con.execute(sql).fetchall()[0][0])


def _write_table(
    con: duckdb.DuckDBPyConnection, table: str, order_by: str, target: Path, options: str
) -> int:
    """Write ``table`` sorted by ``order_by`` to one file, then drop it."""
    rows = _copy(con, f"SELECT * FROM {table} ORDER BY {order_by}", target, options)
    con.execute(f"DROP TABLE {table}")
    return rows


def _write_monthly(
    con: duckdb.DuckDBPyConnection, table: str, order_by: str, folder: Path, key: str
) -> int:
    """Write ``table`` as one ``<key>=YYYY-MM/data.parquet`` file per month, then drop it."""
    rows = 0
    for month in MONTHS:
        query = f"SELECT * EXCLUDE ({key}) FROM {table} WHERE {key} = '{month}' ORDER BY {order_by}"
        target = folder / f"{key}={month}" / "data.parquet"
        rows += _copy(con, query, target, PARQUET)
    con.execute(f"DROP TABLE {table}")
    return rows


def _orders_stage(con: duckdb.DuckDBPyConnection, s: _Sizes, raw_dir: Path) -> dict[str, int]:
    """Build, damage and write orders, order items and payments."""
    _build_orders(con, s)
    con.execute("DROP TABLE customer_countries")
    _build_order_items(con, s)
    _build_payments(con)
    _plant_orders(con, s)
    _plant_payments(con, s)
    con.execute("ALTER TABLE orders DROP COLUMN true_ts")
    return {
        "orders": _write_monthly(con, "orders", "order_id", raw_dir / "orders", "order_month"),
        "order_items": _write_table(
            con, "order_items", "order_item_id", raw_dir / "order_items.parquet", PARQUET
        ),
        "payments": _write_table(
            con, "payments", "payment_id", raw_dir / "payments.ndjson", "FORMAT json"
        ),
    }


def generate(
    raw_dir: Path, scale: float = 0.05, seed: int = 42, *, threads: int | None = None
) -> dict[str, int]:
    """Generate the demo shop's raw files.

    Existing files are overwritten; missing folders are created. The output is fully
    determined by ``scale`` and ``seed``.

    Args:
        raw_dir: Folder to write the raw files into.
        scale: Size factor; 1.0 is about one million orders, 0.05 about 50,000.
        seed: Seed mixed into every hash-derived random value.
        threads: DuckDB thread count (defaults to DuckDB's choice); does not affect output.

    Returns:
        Rows written per table, e.g. ``{"orders": 50000, ...}``.

    Raises:
        ValueError: If ``scale`` is not positive or ``seed`` is not an integer.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    sizes = _sizes(scale)
    raw_dir = Path(raw_dir)
    con = duckdb.connect(":memory:", config={"threads": threads} if threads else {})
    try:
        con.execute("SET enable_progress_bar = false")
        _install_macros(con, seed)
        _build_days(con)
        _build_customers(con, sizes)
        con.execute(
            "CREATE TABLE customer_countries AS SELECT customer_id, country_code FROM customers"
        )
        _plant_customers(con, sizes)
        counts = {
            "customers": _write_table(
                con, "customers", "customer_id, updated_at", raw_dir / "customers.csv", "HEADER"
            )
        }
        _build_products(con, sizes)
        counts |= _orders_stage(con, sizes, raw_dir)
        _plant_products(con, sizes)
        counts["products"] = _write_table(
            con, "products", "product_id", raw_dir / "products.csv", "HEADER"
        )
        _build_web_events(con, sizes)
        counts["web_events"] = _write_monthly(
            con, "web_events", "event_id", raw_dir / "web_events", "event_month"
        )
        return {table: counts[table] for table in TABLES}
    finally:
        con.close()


__all__ = ["generate"]
