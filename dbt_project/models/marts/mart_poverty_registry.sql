-- Registry welfare ranking per kelurahan, snapshot and welfare decile: households and individuals,
-- programme coverage, and the individuals' share of Dukcapil's population (latest semester starting on
-- or before the snapshot, else the earliest). A welfare rank from a registry, not BPS's poverty rate:
-- it never shares a column with p0_pct (mart_poverty_regency).
with deciles as (
    select
        registry_source,
        snapshot,
        region_code,
        welfare_decile,
        count(*) as households,
        sum(individuals) as individuals,
        count(*) filter (where receives_pkh) as households_pkh,
        count(*) filter (where receives_bpnt) as households_bpnt,
        sum(individuals_pbi) as individuals_pbi,
        count(*) filter (where not receives_any_assistance) as households_without_assistance
    from {{ ref('int_registry_household') }}
    group by all
),
with_population as (
    select
        deciles.*,
        coalesce(
            (select p.period from {{ ref('int_population_village') }} as p
             where p.region_code = deciles.region_code and p.period_start <= {{ period_start('deciles.snapshot') }}
             order by p.period_start desc limit 1),
            (select p.period from {{ ref('int_population_village') }} as p
             where p.region_code = deciles.region_code order by p.period_start limit 1)
        ) as population_period
    from deciles
)
select
    cast(wp.region_code as varchar) as region_code,
    cast(region.region_name as varchar) as region_name,
    cast(region.district_code as varchar) as district_code,
    cast(wp.snapshot as varchar) as snapshot,
    cast(wp.registry_source as varchar) as registry_source,
    cast(wp.welfare_decile as integer) as welfare_decile,
    cast(wp.households as bigint) as households,
    cast(wp.individuals as bigint) as individuals,
    cast(wp.households_pkh as bigint) as households_pkh,
    cast(wp.households_bpnt as bigint) as households_bpnt,
    cast(wp.individuals_pbi as bigint) as individuals_pbi,
    cast(wp.households_without_assistance as bigint) as households_without_assistance,
    cast(pop.population_total as bigint) as population_total,
    cast(wp.population_period as varchar) as population_period,
    cast({{ pct('wp.individuals', 'pop.population_total') }} as double) as share_of_population_pct
from with_population as wp
left join {{ ref('int_population_village') }} as pop
    on pop.region_code = wp.region_code and pop.period = wp.population_period
left join {{ ref('dim_region') }} as region on region.region_code = wp.region_code
