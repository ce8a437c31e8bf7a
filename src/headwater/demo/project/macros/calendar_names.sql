{# English month and day names, dispatched per engine (adapter.dispatch: duckdb__, postgres__, default__). #}
{% macro month_name(day) -%}
    {{ return(adapter.dispatch('month_name')(day)) }}
{%- endmacro %}

{% macro default__month_name(day) -%}
    trim(to_char({{ day }}, 'Month'))
{%- endmacro %}

{% macro duckdb__month_name(day) -%}
    monthname({{ day }})
{%- endmacro %}

{% macro day_name(day) -%}
    {{ return(adapter.dispatch('day_name')(day)) }}
{%- endmacro %}

{% macro default__day_name(day) -%}
    trim(to_char({{ day }}, 'Day'))
{%- endmacro %}

{% macro duckdb__day_name(day) -%}
    dayname({{ day }})
{%- endmacro %}
