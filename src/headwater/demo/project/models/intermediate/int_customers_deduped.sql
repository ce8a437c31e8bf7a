-- One row per customer_id: when the CRM export holds several records for a customer,
-- the most recently updated one wins.
select
    customer_id, first_name, last_name, email, country_code, signup_date, segment, updated_at
from (
    select
        *,
        row_number() over (
            partition by customer_id
            order by updated_at desc, email, segment
        ) as recency_rank
    from {{ ref('stg_customers') }}
) as ranked
where recency_rank = 1
