{#- The revision rule (docs/architecture.md): an agency may resend a file for the same source, scope and
    period; the newest load supersedes the older ones. Keep only the rows of the batch with the greatest
    _loaded_at per (_source, _scope, _period); _batch_id breaks an exact tie deterministically.
    Batches are ranked on a small aggregate, then rows are kept by a semi-join (no sort of the raw rows). -#}
{% macro latest_revision(relation) -%}
    select *
    from {{ relation }}
    where _batch_id in (
        select _batch_id
        from (
            select _source, _scope, _period, _batch_id, max(_loaded_at) as batch_loaded_at
            from {{ relation }}
            group by _source, _scope, _period, _batch_id
        )
        qualify row_number() over (
            partition by _source, _scope, _period
            order by batch_loaded_at desc, _batch_id desc
        ) = 1
    )
{%- endmacro %}
