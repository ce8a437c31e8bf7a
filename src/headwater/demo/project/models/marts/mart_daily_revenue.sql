-- Daily revenue: one row per calendar day. Revenue counts placed, shipped and delivered
-- orders (net of discounts); cancelled and returned orders are reported separately.
with orders as (
    select
        order_date,
        count(*) as orders,
        count(*) filter (where is_revenue) as revenue_orders,
        count(*) filter (where order_status = 'cancelled') as cancelled_orders,
        count(*) filter (where order_status = 'returned') as returned_orders,
        count(distinct customer_id) as customers,
        coalesce(sum(units) filter (where is_revenue), 0) as units,
        coalesce(sum(net_amount) filter (where is_revenue), 0) as revenue,
        coalesce(sum(gross_margin) filter (where is_revenue), 0) as gross_margin
    from {{ ref('fct_orders') }}
    where order_date is not null
    group by order_date
),

sessions as (
    select
        session_date,
        count(*) as sessions,
        count(*) filter (where has_purchase) as purchase_sessions
    from {{ ref('int_sessions') }}
    group by session_date
)

select
    d.date_day,
    d.day_name,
    d.is_weekend,
    d.is_holiday,
    d.holiday_name,
    coalesce(o.orders, 0) as orders,
    coalesce(o.revenue_orders, 0) as revenue_orders,
    coalesce(o.cancelled_orders, 0) as cancelled_orders,
    coalesce(o.returned_orders, 0) as returned_orders,
    coalesce(o.customers, 0) as customers,
    coalesce(o.units, 0) as items,
    coalesce(o.revenue, 0) as revenue,
    coalesce(o.gross_margin, 0) as gross_margin,
    round({{ safe_divide('o.revenue', 'o.revenue_orders') }}, 2) as aov,
    coalesce(s.sessions, 0) as sessions,
    round({{ safe_divide('s.purchase_sessions', 's.sessions') }}, 4) as session_conversion_rate,
    '{{ var("currency", "USD") }}' as currency
from {{ ref('dim_date') }} as d
left join orders as o on o.order_date = d.date_day
left join sessions as s on s.session_date = d.date_day
