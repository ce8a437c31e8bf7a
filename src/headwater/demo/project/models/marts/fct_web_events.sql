-- Clickstream fact, a Delta Lake table partitioned by day (lake/main/fct_web_events) and built
-- incrementally: the first build loads the whole year; later runs rebuild only the last few days
-- (late events land in them) and replace those partitions in one Delta commit (insert_overwrite),
-- so a rerun never duplicates a row. The warehouse reads it through a view over the files of the
-- table's current version; any Delta reader (delta-rs, Spark, DuckDB's delta extension) reads the
-- folder directly. A PostgreSQL server cannot read files written here, so on a postgres target it
-- is a table in the warehouse.
{{ config(
    materialized='incremental',
    file_format=('delta' if target.type == 'duckdb' else none),
    incremental_strategy='insert_overwrite',
    partition_by='event_date',
    sort_by=['event_at'],
    on_schema_change='append_new_columns',
) }}

select
    e.event_id,
    e.session_id,
    e.customer_id,
    e.event_at,
    cast(e.event_at as date) as event_date,
    e.event_type,
    e.page,
    e.device
from {{ ref('stg_web_events') }} as e
where e.event_at is not null
{% if is_incremental() %}
  -- compare the timestamp itself (not its date) so DuckDB can skip row groups by their min/max
  and e.event_at >= (
      select cast(coalesce(max(event_date), date '1900-01-01') - {{ var('late_event_days', 3) }} as timestamp)
      from {{ this }}
  )
{% endif %}
