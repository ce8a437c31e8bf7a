-- Total revenue in mart_daily_revenue must equal revenue in fct_orders (dated orders only).
with mart as (
    select sum(revenue) as revenue from {{ ref('mart_daily_revenue') }}
),

fact as (
    select coalesce(sum(net_amount), 0) as revenue
    from {{ ref('fct_orders') }}
    where is_revenue and order_date is not null
)

select mart.revenue as mart_revenue, fact.revenue as fact_revenue
from mart
cross join fact
where mart.revenue <> fact.revenue
