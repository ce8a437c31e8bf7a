select
    cast(payment_id as bigint) as payment_id,
    cast(order_id as bigint) as order_id,
    lower(trim(method)) as payment_method,
    cast(amount as decimal(12, 2)) as amount,
    cast(paid_at as timestamp) as paid_at,
    lower(trim(status)) as payment_status
from {{ source('shop', 'payments') }}
