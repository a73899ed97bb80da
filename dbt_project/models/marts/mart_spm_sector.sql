-- Averages and sums of doubles are rounded to 6 decimals: DuckDB's parallel aggregation is not
-- bit-reproducible, and identical inputs must publish identical marts (content-hash idempotency).
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
        round(avg(achievement_pct), 6) as achievement_pct,
        round(avg(quality_achievement_pct), 6) as quality_achievement_pct,
        round(avg(spm_index), 6) as spm_index
    from services
    group by all
),
overall as (
    select
        region_code, year, quarter, period, 'semua' as sector,
        sum(services_reported) as services_reported,
        round(avg(achievement_pct), 6) as achievement_pct,
        round(avg(quality_achievement_pct), 6) as quality_achievement_pct,
        round(avg(spm_index), 6) as spm_index
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
    cast(achievement_pct as double) as achievement_pct,
    cast(quality_achievement_pct as double) as quality_achievement_pct,
    cast(spm_index as double) as spm_index,
    cast({{ spm_category('spm_index') }} as varchar) as category
from combined
