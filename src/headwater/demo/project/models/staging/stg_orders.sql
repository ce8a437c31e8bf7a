select
    cast(order_id as bigint) as order_id,
    cast(customer_id as bigint) as customer_id,
    cast(order_ts as timestamp) as ordered_at,
    cast(order_ts as date) as order_date,
    lower(trim(status)) as order_status,
    lower(trim(channel)) as channel,
    upper(trim(shipping_country)) as shipping_country,
    upper(trim(currency)) as currency,
    cast(discount_pct as decimal(5, 2)) as discount_pct
from {{ source('shop', 'orders') }}
