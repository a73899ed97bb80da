-- Averages sum DECIMALs (exact, so independent of the order DuckDB's threads combine them) and are
-- rounded to 6 decimals once, at the end: identical inputs must publish identical marts (content-hash
-- idempotency). Summing doubles, with rounding in between, left last-bit noise that an exact 7th-decimal
-- tie (k/6 of 6-decimal values) rounded either way.
-- SPM index per affair (sector) and quarter, plus one overall row per quarter (sector = 'semua').
-- Sector index = mean of its services' indices (each basic service counts equally, as in e-SPM's
-- recapitulation); overall index = mean of the sector indices (each affair counts equally). Categories
-- use the same bands and boundary rule as the services.
with services as (
    select * from {{ ref('mart_spm_service') }}
),
catalogue_size as (
    select sector, count(*) as services_in_catalogue from {{ ref('spm_services') }} group by sector
),
sectors as (
    select
        region_code, year, quarter, period, sector,
        count(*) as services_reported,
        avg(achievement_pct::decimal(38, 12)) as achievement_pct,
        avg(quality_achievement_pct::decimal(38, 12)) as quality_achievement_pct,
        avg(spm_index::decimal(38, 12)) as spm_index
    from services
    group by all
),
overall as (
    select
        region_code, year, quarter, period, 'semua' as sector,
        sum(services_reported) as services_reported,
        avg(achievement_pct::decimal(38, 12)) as achievement_pct,
        avg(quality_achievement_pct::decimal(38, 12)) as quality_achievement_pct,
        avg(spm_index::decimal(38, 12)) as spm_index
    from sectors
    group by all
),
combined as (
    select sectors.*, catalogue_size.services_in_catalogue, false as is_overall, names.sector_name
    from sectors
    left join catalogue_size using (sector)
    left join {{ ref('spm_sectors') }} as names using (sector)
    union all
    select overall.*, (select count(*) from {{ ref('spm_services') }}), true, 'Seluruh urusan SPM'
    from overall
)
select
    cast(region_code as varchar) as region_code,
    cast(year as integer) as year,
    cast(quarter as integer) as quarter,
    cast(period as varchar) as period,
    cast(sector as varchar) as sector,
    cast(sector_name as varchar) as sector_name,
    is_overall,
    cast(services_reported as bigint) as services_reported,
    cast(services_in_catalogue as bigint) as services_in_catalogue,
    cast(round(achievement_pct, 6) as double) as achievement_pct,
    cast(round(quality_achievement_pct, 6) as double) as quality_achievement_pct,
    cast(round(spm_index, 6) as double) as spm_index,
    cast({{ spm_category('round(spm_index, 6)') }} as varchar) as category
from combined
