-- Order fact: one row per order. Orders whose customer is unknown to the CRM
-- point to the "unknown" customer (-1); the original id is kept in source_customer_id.
select
    order_id,
    case when is_orphan then cast(-1 as bigint) else customer_id end as customer_id,
    customer_id as source_customer_id,
    order_date,
    ordered_at,
    order_status,
    channel,
    shipping_country,
    currency,
    order_status in ('placed', 'shipped', 'delivered') as is_revenue,
    item_count,
    units,
    gross_amount,
    discount_pct,
    discount_amount,
    net_amount,
    cost_amount,
    net_amount - cost_amount as gross_margin,
    payment_count,
    paid_amount,
    refunded_amount,
    payment_methods,
    first_paid_at,
    is_orphan as is_unknown_customer,
    is_missing_timestamp
from {{ ref('int_orders_enriched') }}
