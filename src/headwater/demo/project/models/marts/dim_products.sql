-- Product dimension. Products without a category are labelled 'Uncategorized'.
select
    product_id,
    sku,
    product_name,
    coalesce(category, 'Uncategorized') as category,
    category is null as is_category_missing,
    brand,
    unit_price,
    unit_cost,
    unit_price - unit_cost as unit_margin,
    round({{ safe_divide('unit_price - unit_cost', 'unit_price') }}, 4) as margin_pct,
    is_active
from {{ ref('stg_products') }}
