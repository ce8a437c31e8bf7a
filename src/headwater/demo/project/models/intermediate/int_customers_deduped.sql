-- One row per customer_id: when the CRM export holds several records for a customer,
-- the most recently updated one wins.
select *
from {{ ref('stg_customers') }}
qualify row_number() over (
    partition by customer_id
    order by updated_at desc, email, segment
) = 1
