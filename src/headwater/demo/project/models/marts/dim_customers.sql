-- Customer dimension: one row per customer (latest CRM record), plus an "unknown"
-- member (customer_id = -1) that orders without a known customer point to.
with customers as (
    select * from {{ ref('int_customers_deduped') }}
),

countries as (
    select * from {{ ref('country_codes') }}
)

select
    c.customer_id,
    c.first_name,
    c.last_name,
    c.first_name || ' ' || c.last_name as full_name,
    c.email,
    {{ is_valid_email('c.email') }} as has_valid_email,
    c.country_code,
    k.country_name,
    k.region,
    c.signup_date,
    c.segment,
    c.updated_at,
    false as is_unknown
from customers as c
left join countries as k on k.country_code = c.country_code

union all

select
    cast(-1 as bigint) as customer_id,
    'Unknown' as first_name,
    'Unknown' as last_name,
    'Unknown customer' as full_name,
    cast(null as varchar) as email,
    false as has_valid_email,
    cast(null as varchar) as country_code,
    cast(null as varchar) as country_name,
    cast(null as varchar) as region,
    cast(null as date) as signup_date,
    'unknown' as segment,
    cast(null as timestamp) as updated_at,
    true as is_unknown
