{#- The revision rule (docs/architecture.md): an agency may resend a file for the same source, scope and
    period; the newest load supersedes the older ones. Keep only the rows of the batch with the greatest
    _loaded_at per (_source, _scope, _period); _batch_id breaks an exact tie deterministically. -#}
{% macro latest_revision(relation) -%}
    select *
    from {{ relation }}
    qualify dense_rank() over (
        partition by _source, _scope, _period
        order by _loaded_at desc, _batch_id desc
    ) = 1
{%- endmacro %}
