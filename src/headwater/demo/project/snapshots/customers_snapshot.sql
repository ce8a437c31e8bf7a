-- History of the CRM's customer records (slowly changing dimension, type 2): each run of
-- `headwater build` or `headwater snapshot` closes the current version of a customer whose
-- record changed (a later `updated_at`) and inserts the new version.
{% snapshot customers_snapshot %}

{{
    config(
        unique_key='customer_id',
        strategy='timestamp',
        updated_at='updated_at',
        hard_deletes='invalidate',
    )
}}

select * from {{ ref('int_customers_deduped') }}

{% endsnapshot %}
