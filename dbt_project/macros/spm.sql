{#- SPM category bands on the index (domain.md section 2). Boundary rule chosen by gudang: every lower
    bound is inclusive and the index is banded unrounded (only float noise below 1e-6 is removed), so
    59.99 is Belum Tuntas, 60 is Tuntas Muda, 99.99 is Tuntas Utama and 100 (or more) is Tuntas Paripurna. -#}
{% macro spm_category(index_expr) -%}
    (case
        when {{ index_expr }} is null then null
        when round({{ index_expr }}, 6) >= 100 then 'Tuntas Paripurna'
        when round({{ index_expr }}, 6) >= 90 then 'Tuntas Utama'
        when round({{ index_expr }}, 6) >= 80 then 'Tuntas Madya'
        when round({{ index_expr }}, 6) >= 70 then 'Tuntas Pratama'
        when round({{ index_expr }}, 6) >= 60 then 'Tuntas Muda'
        else 'Belum Tuntas'
    end)
{%- endmacro %}

{% macro spm_index(achievement_pct, quality_pct) -%}
    ({{ var('spm_weight_recipient') }} * ({{ achievement_pct }}) + {{ var('spm_weight_quality') }} * ({{ quality_pct }}))
{%- endmacro %}

{% macro spm_categories() -%}
    ['Tuntas Paripurna', 'Tuntas Utama', 'Tuntas Madya', 'Tuntas Pratama', 'Tuntas Muda', 'Belum Tuntas']
{%- endmacro %}
