-- Every order's gross amount must equal the sum of its order lines.
select
    o.order_id,
    o.gross_amount,
    coalesce(sum(i.line_amount), 0) as items_amount
from {{ ref('fct_orders') }} as o
left join {{ ref('fct_order_items') }} as i on i.order_id = o.order_id
group by o.order_id, o.gross_amount
having o.gross_amount <> coalesce(sum(i.line_amount), 0)
