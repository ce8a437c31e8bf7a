-- One row per order with its payments. Negative amounts are data errors: stg_payments
-- quarantines them; the filter below keeps this model right even if that check is relaxed.
select
    order_id,
    count(*) as payment_count,
    coalesce(sum(amount) filter (where payment_status = 'paid'), 0) as paid_amount,
    coalesce(sum(amount) filter (where payment_status = 'refunded'), 0) as refunded_amount,
    string_agg(distinct payment_method, ',' order by payment_method) as payment_methods,
    min(paid_at) as first_paid_at,
    max(paid_at) as last_paid_at
from {{ ref('stg_payments') }}
where amount >= 0
group by order_id
