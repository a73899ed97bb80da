{#- Schemas are exactly staging / intermediate / marts / reference / dbt_test_failures (no target prefix):
    the publish step and the analysts address them by these names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
