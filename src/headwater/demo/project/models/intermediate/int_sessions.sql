{{ config(materialized='table') }}

-- One row per web session with funnel flags.
select
    session_id,
    max(customer_id) as customer_id,
    min(device) as device,
    min(event_at) as started_at,
    max(event_at) as ended_at,
    cast(min(event_at) as date) as session_date,
    {{ dbt.datediff('min(event_at)', 'max(event_at)', 'second') }} as duration_seconds,
    count(*) as event_count,
    count(*) filter (where event_type = 'page_view') as page_views,
    bool_or(event_type = 'add_to_cart') as has_add_to_cart,
    bool_or(event_type = 'checkout') as has_checkout,
    bool_or(event_type = 'purchase') as has_purchase,
    max(customer_id) is null as is_anonymous
from {{ ref('stg_web_events') }}
group by session_id
