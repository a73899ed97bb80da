{{
    config(
        materialized="incremental",
        incremental_strategy="append",
        on_schema_change="append_new_columns",
        pre_hook=[
            "{{ incremental_inputs_ddl() }}",
            "{{ drop_stale_rows(ref('stg_eppgbm__measurement')) }}",
        ],
        post_hook=["{{ record_incremental_inputs() }}"],
    )
}}
-- depends_on: {{ ref('stg_eppgbm__measurement') }}
-- One row per child measurement with WHO 2006 z-scores (int_child_zscore), the WHO implausibility flags
-- (HAZ < -6 or > 6, WAZ < -6 or > 5, WHZ < -5 or > 5), nutrition classes on valid z only, e-PPGBM's own
-- z-scores and whether they disagree with ours. Incremental by load lineage (macros/incremental_by_lineage.sql):
-- a run scores only the batches loaded since the last one and drops the rows no longer current.
with scored as (
    select * from {{ ref('int_child_zscore') }}
),
flagged as (
    select
        *,
        coalesce(haz < -6 or haz > 6, false) as haz_implausible,
        coalesce(waz < -6 or waz > 5, false) as waz_implausible,
        coalesce(whz < -5 or whz > 5, false) as whz_implausible
    from scored
)
select
    cast(measurement_key as varchar) as measurement_key,
    cast(child_key as varchar) as child_key,
    cast(region_code as varchar) as region_code,
    cast(period as varchar) as period,
    cast(sex as varchar) as sex,
    cast(measured_on as date) as measured_on,
    cast(age_days as integer) as age_days,
    cast(age_months as double) as age_months,
    cast(measure_method as varchar) as measure_method,
    cast(height_cm as double) as height_cm,
    cast(height_adjusted_cm as double) as height_adjusted_cm,
    cast(weight_kg as double) as weight_kg,
    cast(haz as double) as haz,
    cast(waz as double) as waz,
    cast(whz as double) as whz,
    haz_implausible,
    waz_implausible,
    whz_implausible,
    case when haz is not null and not haz_implausible then haz < -2 end as stunted,
    case when haz is not null and not haz_implausible then haz < -3 end as severely_stunted,
    case when waz is not null and not waz_implausible then waz < -2 end as underweight,
    case when whz is not null and not whz_implausible then whz < -2 end as wasted,
    cast(haz_reported as double) as haz_reported,
    cast(waz_reported as double) as waz_reported,
    cast(whz_reported as double) as whz_reported,
    abs(haz - haz_reported) > {{ var('zscore_disagreement_threshold') }} as haz_disagrees,
    abs(waz - waz_reported) > {{ var('zscore_disagreement_threshold') }} as waz_disagrees,
    abs(whz - whz_reported) > {{ var('zscore_disagreement_threshold') }} as whz_disagrees,
    cast(_batch_id as varchar) as _batch_id,
    cast(_source as varchar) as _source,
    cast(_file_name as varchar) as _file_name,
    cast(_sheet as varchar) as _sheet,
    cast(_source_row as bigint) as _source_row,
    cast(_loaded_at as timestamp) as _loaded_at
from flagged
{{ only_new_batches(ref('stg_eppgbm__measurement')) }}
