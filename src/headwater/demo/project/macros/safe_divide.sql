{# numerator / denominator, null when the denominator is 0 or null. The quotient is a decimal with
   6 places on every engine: DuckDB divides in double precision, PostgreSQL divides integers as
   integers and numerics exactly, so a plain `/` gives different answers. #}
{% macro safe_divide(numerator, denominator) -%}
    case
        when ({{ denominator }}) is null or ({{ denominator }}) = 0 then null
        else cast(cast({{ numerator }} as decimal(38, 10)) / ({{ denominator }}) as decimal(18, 6))
    end
{%- endmacro %}
