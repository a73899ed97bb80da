-- LKPM investment reports, latest revision per file, with KBLI division and the BKPM sector. Personal
-- contact fields are dropped.
with latest as (
    {{ latest_revision(source('raw', 'lkpm_report')) }}
),
typed as (
    select
        *,
        lpad(left(regexp_replace(kbli, '[^0-9]', '', 'g'), 2), 2, '0') as kbli_division
    from latest
)
select
    md5(concat_ws('|', typed._batch_id, coalesce(typed._sheet, ''), cast(typed._source_row as varchar))) as report_key,
    typed.report_number,
    typed.nib,
    typed.investor_type,
    typed.kbli,
    typed.kbli_division,
    coalesce(by_kbli.sector_code, by_name.sector_code) as sector_code,
    typed.sector_name as sector_name_reported,
    typed.region_code,
    {{ period_year('typed._period') }} as year,
    {{ period_quarter('typed._period') }} as quarter,
    typed._period as period,
    cast(typed.investment_usd_thousand as double) as investment_usd_thousand,
    cast(typed.investment_idr_million as double) as investment_idr_million,
    cast(typed.workers_local as bigint) as workers_local,
    cast(typed.workers_foreign as bigint) as workers_foreign,
    typed.report_status,
    typed._batch_id,
    typed._source,
    typed._file_name,
    typed._sheet,
    typed._source_row,
    typed._loaded_at
from typed
left join {{ ref('kbli_bkpm_sector') }} as by_kbli on typed.kbli_division = by_kbli.kbli_division
left join {{ ref('bkpm_sectors') }} as by_name
    on by_kbli.sector_code is null
    and lower(trim(typed.sector_name)) = lower(by_name.sector_name)
