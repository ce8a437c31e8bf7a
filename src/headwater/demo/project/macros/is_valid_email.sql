{% macro is_valid_email(column) -%}
    coalesce(regexp_full_match({{ column }}, '[^@\s]+@[^@\s.]+(\.[^@\s.]+)+'), false)
{%- endmacro %}
