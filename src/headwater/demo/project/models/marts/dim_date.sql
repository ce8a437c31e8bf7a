-- Calendar dimension over the shop's reporting year, with holidays from the seed.
-- Portable SQL: dbt's cross-database date_spine, and extract(); names via a dispatched macro.
with days as (
    select cast(date_day as date) as date_day
    from (
        {{ dbt.date_spine(
            "day",
            "cast('" ~ var("calendar_start", "2025-01-01") ~ "' as date)",
            "cast('" ~ var("calendar_end", "2026-01-01") ~ "' as date)",
        ) }}
    ) as spine
),

holidays as (
    select cast("date" as date) as holiday_date, holiday_name
    from {{ ref('holidays') }}
)

select
    d.date_day,
    cast(extract(year from d.date_day) as bigint) as year,
    cast(extract(quarter from d.date_day) as bigint) as quarter,
    cast(extract(month from d.date_day) as bigint) as month,
    {{ month_name('d.date_day') }} as month_name,
    cast({{ dbt.date_trunc('month', 'd.date_day') }} as date) as month_start,
    cast(extract(week from d.date_day) as bigint) as week_of_year,
    cast({{ dbt.date_trunc('week', 'd.date_day') }} as date) as week_start,
    cast(extract(isodow from d.date_day) as bigint) as day_of_week,
    {{ day_name('d.date_day') }} as day_name,
    extract(isodow from d.date_day) >= 6 as is_weekend,
    h.holiday_name is not null as is_holiday,
    h.holiday_name
from days as d
left join holidays as h on h.holiday_date = d.date_day
