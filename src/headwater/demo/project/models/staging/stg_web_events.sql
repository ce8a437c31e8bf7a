select
    cast(event_id as bigint) as event_id,
    session_id,
    cast(customer_id as bigint) as customer_id,
    cast(event_ts as timestamp) as event_at,
    lower(event_type) as event_type,
    page,
    lower(device) as device
from {{ source('shop', 'web_events') }}
