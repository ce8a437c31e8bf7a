-- Daily orders and revenue by country and channel, an aggregate table (`materialized: aggregate`,
-- configured in _marts.yml): the SELECT is its input; headwater groups it by day, country and
-- channel, adds the rollup levels (per country, and per day over all), and on later runs
-- recomputes only the latest days instead of the whole year.
select order_date, shipping_country, channel, customer_id, net_amount
from {{ ref('fct_orders') }}
where is_revenue
