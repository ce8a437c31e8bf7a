{{ config(severity='warn') }}

-- Payments must not have a negative amount (refunds are recorded with status 'refunded').
select payment_id, order_id, payment_method, amount
from {{ ref('stg_payments') }}
where amount < 0
