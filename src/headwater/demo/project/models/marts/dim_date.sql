-- Calendar dimension over the shop's reporting year, with holidays from the seed.
with days as (
    select cast(d as date) as date_day
    from range(
        cast('{{ var("calendar_start", "2025-01-01") }}' as timestamp),
        cast('{{ var("calendar_end", "2026-01-01") }}' as timestamp),
        interval 1 day
    ) as t(d)
),

holidays as (
    select cast("date" as date) as holiday_date, holiday_name
    from {{ ref('holidays') }}
)

select
    d.date_day,
    year(d.date_day) as year,
    quarter(d.date_day) as quarter,
    month(d.date_day) as month,
    monthname(d.date_day) as month_name,
    cast(date_trunc('month', d.date_day) as date) as month_start,
    weekofyear(d.date_day) as week_of_year,
    cast(date_trunc('week', d.date_day) as date) as week_start,
    isodow(d.date_day) as day_of_week,
    dayname(d.date_day) as day_name,
    isodow(d.date_day) >= 6 as is_weekend,
    h.holiday_name is not null as is_holiday,
    h.holiday_name
from days as d
left join holidays as h on h.holiday_date = d.date_day
