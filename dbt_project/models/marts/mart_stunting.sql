-- Stunting, underweight and wasting prevalence per region and month at three levels (kelurahan,
-- kecamatan, kota), from the latest measurement of each child in the month and valid z-scores only.
-- Coverage compares the children measured with Dukcapil's under-five population (the latest semester
-- starting on or before the month; the earliest one when none does).
with children as (
    select
        child.*,
        region.district_code,
        region.regency_code
    from {{ ref('int_child_latest') }} as child
    inner join {{ ref('dim_region') }} as region on region.region_code = child.region_code
),
levels as (
    select 'kelurahan' as region_level, region_code as level_code, * exclude (region_code) from children
    union all
    select 'kecamatan', district_code, * exclude (region_code) from children
    union all
    select 'kota', regency_code, * exclude (region_code) from children
),
counts as (
    select
        region_level,
        level_code as region_code,
        period,
        count(*) as children_measured,
        count(*) filter (where stunted is not null) as children_valid_haz,
        count(*) filter (where stunted) as stunted,
        count(*) filter (where severely_stunted) as severely_stunted,
        count(*) filter (where underweight is not null) as children_valid_waz,
        count(*) filter (where underweight) as underweight,
        count(*) filter (where wasted is not null) as children_valid_whz,
        count(*) filter (where wasted) as wasted,
        count(*) filter (where haz_reported is not null and haz is not null) as zscore_compared,
        count(*) filter (where haz_disagrees or waz_disagrees or whz_disagrees) as zscore_disagreements
    from levels
    group by all
),
population_levels as (
    select 'kelurahan' as region_level, pop.region_code, pop.period_start, pop.population_under_five
    from {{ ref('int_population_village') }} as pop
    union all
    select 'kecamatan', region.district_code, pop.period_start, sum(pop.population_under_five)
    from {{ ref('int_population_village') }} as pop
    inner join {{ ref('dim_region') }} as region on region.region_code = pop.region_code
    group by all
    union all
    select 'kota', region.regency_code, pop.period_start, sum(pop.population_under_five)
    from {{ ref('int_population_village') }} as pop
    inner join {{ ref('dim_region') }} as region on region.region_code = pop.region_code
    group by all
),
with_population as (
    select
        counts.*,
        {{ period_start('counts.period') }} as month_start,
        coalesce(
            (select p.population_under_five from population_levels as p
             where p.region_level = counts.region_level and p.region_code = counts.region_code
               and p.period_start <= {{ period_start('counts.period') }}
             order by p.period_start desc limit 1),
            (select p.population_under_five from population_levels as p
             where p.region_level = counts.region_level and p.region_code = counts.region_code
             order by p.period_start limit 1)
        ) as under_five_population
    from counts
),
targets as (
    select region_code, year, target_value
    from {{ ref('planning_targets') }}
    where indicator = 'stunting_prevalence_pct'
)
select
    cast(wp.region_code as varchar) as region_code,
    cast(region.region_name as varchar) as region_name,
    cast(wp.region_level as varchar) as region_level,
    cast(wp.period as varchar) as period,
    cast(year(wp.month_start) as integer) as year,
    cast(month(wp.month_start) as integer) as month,
    cast(wp.children_measured as bigint) as children_measured,
    cast(wp.children_valid_haz as bigint) as children_valid_haz,
    cast(wp.stunted as bigint) as stunted,
    cast(wp.severely_stunted as bigint) as severely_stunted,
    cast({{ pct('wp.stunted', 'wp.children_valid_haz') }} as double) as stunting_pct,
    cast({{ pct('wp.severely_stunted', 'wp.children_valid_haz') }} as double) as severe_stunting_pct,
    cast(wp.children_valid_waz as bigint) as children_valid_waz,
    cast(wp.underweight as bigint) as underweight,
    cast({{ pct('wp.underweight', 'wp.children_valid_waz') }} as double) as underweight_pct,
    cast(wp.children_valid_whz as bigint) as children_valid_whz,
    cast(wp.wasted as bigint) as wasted,
    cast({{ pct('wp.wasted', 'wp.children_valid_whz') }} as double) as wasting_pct,
    cast(wp.under_five_population as bigint) as under_five_population,
    cast({{ pct('wp.children_measured', 'wp.under_five_population') }} as double) as coverage_pct,
    cast(targets.target_value as double) as target_pct,
    cast({{ pct('wp.stunted', 'wp.children_valid_haz') }} - targets.target_value as double) as gap_to_target_pp,
    cast(wp.zscore_compared as bigint) as zscore_compared,
    cast(wp.zscore_disagreements as bigint) as zscore_disagreements
from with_population as wp
inner join {{ ref('dim_region') }} as region on region.region_code = wp.region_code
left join targets
    on targets.region_code = left(wp.region_code, 5)
    and targets.year = year(wp.month_start)
