{{ config(materialized='table') }}

-- One row per order with item totals and payments. Orders whose customer is missing
-- from the CRM (orphans) are kept and flagged with is_orphan.
with items as (
    select
        order_id,
        count(*) as item_count,
        sum(quantity) as units,
        sum(line_amount) as gross_amount,
        sum(line_cost) as cost_amount
    from {{ ref('int_order_items_enriched') }}
    group by order_id
),

totals as (
    select
        o.*,
        coalesce(i.item_count, 0) as item_count,
        coalesce(i.units, 0) as units,
        cast(coalesce(i.gross_amount, 0) as decimal(12, 2)) as gross_amount,
        -- exact decimal arithmetic (a division would be done in double precision by DuckDB
        -- and in exact numeric by PostgreSQL, and round half-cents differently)
        cast(round(coalesce(i.gross_amount, 0) * (1 - o.discount_pct * 0.01), 2)
            as decimal(12, 2)) as net_amount,
        cast(coalesce(i.cost_amount, 0) as decimal(12, 2)) as cost_amount
    from {{ ref('stg_orders') }} as o
    left join items as i on i.order_id = o.order_id
)

select
    t.order_id,
    t.customer_id,
    t.ordered_at,
    t.order_date,
    t.order_status,
    t.channel,
    t.shipping_country,
    t.currency,
    t.discount_pct,
    t.item_count,
    t.units,
    t.gross_amount,
    cast(t.gross_amount - t.net_amount as decimal(12, 2)) as discount_amount,
    t.net_amount,
    t.cost_amount,
    coalesce(p.payment_count, 0) as payment_count,
    coalesce(p.paid_amount, 0) as paid_amount,
    coalesce(p.refunded_amount, 0) as refunded_amount,
    p.payment_methods,
    p.first_paid_at,
    c.customer_id is null as is_orphan,
    t.ordered_at is null as is_missing_timestamp
from totals as t
left join {{ ref('int_order_payments') }} as p on p.order_id = t.order_id
left join {{ ref('int_customers_deduped') }} as c on c.customer_id = t.customer_id
