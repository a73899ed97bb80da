{#- Incremental models keyed by load lineage (docs/marts.md, "Incremental fact"): each run appends the rows
    of batches the table does not hold yet, and first drops the rows that are no longer current (a newer
    revision of their file superseded them, or they were purged from raw), found by their lineage
    (_batch_id, _sheet, _source_row) in the model's current input.

    What the rows are computed with besides the data (the project's SQL, the WHO reference, the vars) is
    fingerprinted by the pipeline (gudang.dbt_state.dbt_inputs_hash, passed as the var
    gudang_inputs_sha256) and recorded per model in ops.dbt_incremental_inputs. When it changed, or when
    dbt runs without it (by hand), every row is dropped and recomputed: an incremental model never keeps
    rows computed by an older version of its logic. -#}

{#- The digest the pipeline passed ('' when dbt runs without it). -#}
{% macro inputs_fingerprint() -%}
    {{ return(var('gudang_inputs_sha256', '')) }}
{%- endmacro %}

{% macro incremental_inputs_ddl() -%}
    create table if not exists ops.dbt_incremental_inputs (
        model varchar primary key,
        inputs_sha256 varchar,
        recorded_at timestamp
    )
{%- endmacro %}

{% macro drop_stale_rows(current_input) -%}
    {%- if is_incremental() -%}
    {%- set fingerprint = inputs_fingerprint() -%}
    delete from {{ this }} as kept
    where '{{ fingerprint }}' = ''
       or '{{ fingerprint }}' is distinct from (
            select inputs_sha256 from ops.dbt_incremental_inputs where model = '{{ this.identifier }}'
       )
       or not exists (
            select 1
            from {{ current_input }} as current_row
            where current_row._batch_id = kept._batch_id
              and current_row._sheet is not distinct from kept._sheet
              and current_row._source_row = kept._source_row
       )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{% macro record_incremental_inputs() -%}
    insert or replace into ops.dbt_incremental_inputs
    values ('{{ this.identifier }}', '{{ inputs_fingerprint() }}', now())
{%- endmacro %}

{#- In the model's select: only the batches the table does not hold yet (all of them on a full build). -#}
{% macro only_new_batches() -%}
    {%- if is_incremental() -%}
    where _batch_id not in (select distinct _batch_id from {{ this }})
    {%- endif -%}
{%- endmacro %}
