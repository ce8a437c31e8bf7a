-- One row per raw CRM record: cleaned, but duplicates are kept (see int_customers_deduped).
select
    cast(customer_id as bigint) as customer_id,
    trim(first_name) as first_name,
    trim(last_name) as last_name,
    lower(trim(email)) as email,
    upper(trim(country_code)) as country_code,
    cast(signup_date as date) as signup_date,
    lower(trim(segment)) as segment,
    cast(updated_at as timestamp) as updated_at
from {{ source('shop', 'customers') }}
