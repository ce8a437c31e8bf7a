-- Order line fact: one row per order line, with the order's customer and date.
select
    i.order_item_id,
    i.order_id,
    o.customer_id,
    o.order_date,
    i.product_id,
    i.category,
    i.quantity,
    i.unit_price,
    i.list_price,
    i.is_on_sale,
    i.line_amount,
    i.line_cost,
    i.line_margin,
    o.is_revenue
from {{ ref('int_order_items_enriched') }} as i
inner join {{ ref('fct_orders') }} as o on o.order_id = i.order_id
