-- Order lines joined with the product catalogue: list price, cost and margin per line.
select
    i.order_item_id,
    i.order_id,
    i.product_id,
    coalesce(p.category, 'Uncategorized') as category,
    p.brand,
    i.quantity,
    i.unit_price,
    p.unit_price as list_price,
    i.unit_price < p.unit_price as is_on_sale,
    i.line_amount,
    cast(i.quantity * p.unit_cost as decimal(12, 2)) as line_cost,
    cast(i.line_amount - i.quantity * p.unit_cost as decimal(12, 2)) as line_margin
from {{ ref('stg_order_items') }} as i
left join {{ ref('stg_products') }} as p on p.product_id = i.product_id
