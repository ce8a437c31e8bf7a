{# True when the whole value looks like an e-mail address; dispatched per engine. #}
{% macro is_valid_email(column) -%}
    {{ return(adapter.dispatch('is_valid_email')(column)) }}
{%- endmacro %}

{% macro default__is_valid_email(column) -%}
    coalesce({{ column }} ~ '^[^@[:space:]]+@[^@[:space:].]+(\.[^@[:space:].]+)+$', false)
{%- endmacro %}

{% macro duckdb__is_valid_email(column) -%}
    coalesce(regexp_full_match({{ column }}, '[^@\s]+@[^@\s.]+(\.[^@\s.]+)+'), false)
{%- endmacro %}
