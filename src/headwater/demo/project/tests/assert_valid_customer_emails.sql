{{ config(severity='warn') }}

-- Customers whose (cleaned) email is not a plausible address:
-- no '@', more than one '@', spaces, or no dot in the domain.
select customer_id, email
from {{ ref('stg_customers') }}
where not {{ is_valid_email('email') }}
