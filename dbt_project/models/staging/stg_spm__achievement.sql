-- SPM achievement rows of the six agencies, latest revision per agency file, with the service resolved to
-- the 29-service catalogue: by service code when the sheet has one, else by the normalised service name.
with latest as (
    {{ latest_revision(source('raw', 'spm_achievement')) }}
),
catalogue as (
    select
        service_code,
        sector,
        service_name,
        regexp_replace(lower(service_name), '[^a-z]', '', 'g') as name_key
    from {{ ref('spm_services') }}
),
typed as (
    select
        latest.*,
        upper(trim(latest.service_code)) as service_code_clean,
        regexp_replace(lower(latest.service_name), '[^a-z]', '', 'g') as name_key,
        sectors.sector as catalogue_sector
    from latest
    left join {{ ref('spm_sectors') }} as sectors
        on lower(trim(latest.sector)) in (sectors.raw_sector, sectors.sector)
)
select
    md5(concat_ws('|', typed._batch_id, coalesce(typed._sheet, ''), cast(typed._source_row as varchar))) as row_key,
    typed.region_code,
    {{ period_year('typed._period') }} as year,
    {{ period_quarter('typed._period') }} as quarter,
    typed._period as period,
    coalesce(by_code.sector, by_name.sector, typed.catalogue_sector) as sector,
    coalesce(by_code.service_code, by_name.service_code) as service_code,
    typed.service_name as service_name_reported,
    cast(typed.target_count as bigint) as target_count,
    cast(typed.served_count as bigint) as served_count,
    cast(typed.achievement_pct_reported as double) as achievement_pct_reported,
    cast(typed.quality_achievement_pct as double) as quality_achievement_pct,
    typed._batch_id,
    typed._source,
    typed._file_name,
    typed._sheet,
    typed._source_row,
    typed._scope,
    typed._loaded_at
from typed
left join catalogue as by_code on typed.service_code_clean = by_code.service_code
left join catalogue as by_name
    on by_code.service_code is null
    and typed.name_key = by_name.name_key
