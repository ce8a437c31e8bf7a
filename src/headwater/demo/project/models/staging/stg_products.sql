select
    cast(product_id as bigint) as product_id,
    trim(sku) as sku,
    trim(name) as product_name,
    nullif(trim(category), '') as category,
    trim(brand) as brand,
    cast(unit_price as decimal(10, 2)) as unit_price,
    cast(unit_cost as decimal(10, 2)) as unit_cost,
    cast(is_active as boolean) as is_active
from {{ source('shop', 'products') }}
