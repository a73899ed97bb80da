{#- 0-100 score of a value relative to the other rows of the query: 0 at the minimum, 100 at the maximum,
    0 for every row when all values are equal, null when the value is null. -#}
{% macro min_max_score(column) -%}
    (case
        when {{ column }} is null then null
        when max({{ column }}) over () = min({{ column }}) over () then 0
        else 100.0 * ({{ column }} - min({{ column }}) over ()) / (max({{ column }}) over () - min({{ column }}) over ())
    end)
{%- endmacro %}
