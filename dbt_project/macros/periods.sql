{#- Period strings (docs/architecture.md): month 2025-03, quarter 2025-Q1, semester 2025-S1, year 2025. -#}
{% macro period_year(period) -%}
    cast(left({{ period }}, 4) as integer)
{%- endmacro %}

{% macro period_quarter(period) -%}
    cast(regexp_extract({{ period }}, '-Q([1-4])$', 1) as integer)
{%- endmacro %}

{#- First day of a period of any grain. -#}
{% macro period_start(period) -%}
    (case
        when {{ period }} similar to '\d{4}-\d{2}' then make_date(cast(left({{ period }}, 4) as integer), cast(right({{ period }}, 2) as integer), 1)
        when {{ period }} similar to '\d{4}-Q[1-4]' then make_date(cast(left({{ period }}, 4) as integer), 3 * cast(right({{ period }}, 1) as integer) - 2, 1)
        when {{ period }} similar to '\d{4}-S[12]' then make_date(cast(left({{ period }}, 4) as integer), 6 * cast(right({{ period }}, 1) as integer) - 5, 1)
        when {{ period }} similar to '\d{4}' then make_date(cast({{ period }} as integer), 1, 1)
    end)
{%- endmacro %}

{#- Percentage with a null (not an error) when the denominator is zero or missing. -#}
{% macro pct(numerator, denominator) -%}
    (100.0 * ({{ numerator }}) / nullif({{ denominator }}, 0))
{%- endmacro %}
