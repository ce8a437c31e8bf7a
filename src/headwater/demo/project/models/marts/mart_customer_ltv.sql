-- Customer lifetime value: one row per known customer (customers without orders included).
-- predicted_ltv = lifetime revenue + expected revenue over the next ltv_horizon_years,
-- assuming the customer keeps ordering at their historical rate, decayed by recency.
with orders as (
    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as order_count,
        sum(net_amount) as lifetime_revenue,
        sum(gross_margin) as lifetime_margin
    from {{ ref('fct_orders') }}
    where is_revenue and not is_unknown_customer and order_date is not null
    group by customer_id
),

as_of as (
    select max(order_date) as as_of_date from {{ ref('fct_orders') }}
),

base as (
    select
        c.customer_id,
        c.segment,
        c.country_code,
        c.signup_date,
        o.first_order_date,
        o.last_order_date,
        coalesce(o.order_count, 0) as order_count,
        coalesce(o.lifetime_revenue, 0) as lifetime_revenue,
        coalesce(o.lifetime_margin, 0) as lifetime_margin,
        greatest({{ dbt.datediff('c.signup_date', 'a.as_of_date', 'day') }}, 0) as tenure_days,
        {{ dbt.datediff('o.last_order_date', 'a.as_of_date', 'day') }} as days_since_last_order
    from {{ ref('dim_customers') }} as c
    cross join as_of as a
    left join orders as o on o.customer_id = c.customer_id
    where not c.is_unknown
),

rates as (
    select
        *,
        -- quotients are fixed to 6 decimals before rounding: DuckDB divides in double precision,
        -- PostgreSQL in exact numeric, and both must round a half-cent the same way
        round(cast({{ safe_divide('lifetime_revenue', 'order_count') }} as decimal(18, 6)), 2) as avg_order_value,
        round(cast({{ safe_divide('order_count * 365.0', 'greatest(tenure_days, 90)') }} as decimal(18, 6)), 3)
            as orders_per_year
    from base
),

predicted as (
    select
        *,
        round(cast(
            lifetime_revenue
            + coalesce(avg_order_value * orders_per_year
                * {{ var('ltv_horizon_years', 3) }}
                * exp(-coalesce(days_since_last_order, 0) / 365.0), 0)
            as decimal(18, 6)), 2) as predicted_ltv
    from rates
)

select
    *,
    case
        when order_count = 0 then 'none'
        when predicted_ltv >= 3000 then 'high'
        when predicted_ltv >= 1000 then 'medium'
        else 'low'
    end as value_tier
from predicted
