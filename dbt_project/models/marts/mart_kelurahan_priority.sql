-- Kelurahan priority scorecard (the "Rp1 miliar per kelurahan" equity programme): every desa/kelurahan of
-- the deployment's region (var region), ranked by need. Three components, each turned into a 0-100 score
-- by min-max scaling across the region's kelurahan (0 = least need, 100 = most; all equal -> 0):
--   stunting     latest month's stunting prevalence (mart_stunting, kelurahan rows);
--   poverty      registry desil 1-4 individuals as a share of Dukcapil population (latest snapshot);
--   service gap  mean of the e-PPGBM weighing-coverage gap (100 - coverage) and the share of desil 1-4
--                households receiving none of PKH, BPNT, PBI JKN.
-- need_score = weighted mean of the available component scores (vars priority_weight_*), the weights
-- renormalised over the components a kelurahan has data for; rank 1 = greatest need; kelurahan without
-- any data rank last (by code). Method: docs/marts.md.
with kelurahan as (
    select region_code, region_name, district_code
    from {{ ref('dim_region') }}
    where level = 'village' and starts_with(region_code, '{{ var("region") }}.')
),
stunting as (
    select region_code, period, children_valid_haz, stunting_pct, coverage_pct
    from {{ ref('mart_stunting') }}
    where region_level = 'kelurahan'
    qualify row_number() over (partition by region_code order by period desc) = 1
),
latest_snapshot as (
    select max(snapshot) as snapshot from {{ ref('mart_poverty_registry') }}
),
poverty as (
    select
        registry.region_code,
        registry.snapshot,
        sum(registry.individuals) filter (where registry.welfare_decile between 1 and 4) as poor_individuals,
        sum(registry.households) filter (where registry.welfare_decile between 1 and 4) as poor_households,
        sum(registry.households_without_assistance) filter (where registry.welfare_decile between 1 and 4)
            as poor_households_without_assistance,
        any_value(registry.population_total) as population_total
    from {{ ref('mart_poverty_registry') }} as registry
    inner join latest_snapshot using (snapshot)
    group by all
),
components as (
    select
        kelurahan.*,
        stunting.period as stunting_period,
        stunting.children_valid_haz,
        stunting.stunting_pct,
        poverty.snapshot as registry_snapshot,
        poverty.poor_individuals,
        poverty.population_total,
        {{ pct('poverty.poor_individuals', 'poverty.population_total') }} as poor_share_pct,
        -- DuckDB's greatest/least skip nulls, so a missing coverage must stay missing explicitly
        case when stunting.coverage_pct is not null then greatest(0, 100 - stunting.coverage_pct) end
            as weighing_coverage_gap_pct,
        {{ pct('poverty.poor_households_without_assistance', 'poverty.poor_households') }} as assistance_gap_pct
    from kelurahan
    left join stunting using (region_code)
    left join poverty using (region_code)
),
with_gap as (
    select
        *,
        case
            when weighing_coverage_gap_pct is null then assistance_gap_pct
            when assistance_gap_pct is null then weighing_coverage_gap_pct
            else (weighing_coverage_gap_pct + assistance_gap_pct) / 2
        end as service_gap_pct
    from components
),
scored as (
    select
        *,
        {{ min_max_score('stunting_pct') }} as stunting_score,
        {{ min_max_score('poor_share_pct') }} as poverty_score,
        {{ min_max_score('service_gap_pct') }} as service_gap_score
    from with_gap
),
weighted as (
    select
        *,
        (coalesce({{ var('priority_weight_stunting') }} * stunting_score, 0)
            + coalesce({{ var('priority_weight_poverty') }} * poverty_score, 0)
            + coalesce({{ var('priority_weight_service_gap') }} * service_gap_score, 0))
        / nullif(
            (case when stunting_score is not null then {{ var('priority_weight_stunting') }} else 0 end)
            + (case when poverty_score is not null then {{ var('priority_weight_poverty') }} else 0 end)
            + (case when service_gap_score is not null then {{ var('priority_weight_service_gap') }} else 0 end),
            0) as need_score,
        (stunting_score is not null)::int + (poverty_score is not null)::int + (service_gap_score is not null)::int
            as components_available
    from scored
)
select
    cast(weighted.region_code as varchar) as region_code,
    cast(weighted.region_name as varchar) as region_name,
    cast(weighted.district_code as varchar) as district_code,
    cast(district.region_name as varchar) as district_name,
    cast(row_number() over (order by need_score desc nulls last, weighted.region_code) as integer) as priority_rank,
    cast(need_score as double) as need_score,
    cast(components_available as integer) as components_available,
    cast(stunting_period as varchar) as stunting_period,
    cast(children_valid_haz as bigint) as children_valid_haz,
    cast(stunting_pct as double) as stunting_pct,
    cast(stunting_score as double) as stunting_score,
    cast(registry_snapshot as varchar) as registry_snapshot,
    cast(poor_individuals as bigint) as poor_individuals,
    cast(population_total as bigint) as population_total,
    cast(poor_share_pct as double) as poor_share_pct,
    cast(poverty_score as double) as poverty_score,
    cast(weighing_coverage_gap_pct as double) as weighing_coverage_gap_pct,
    cast(assistance_gap_pct as double) as assistance_gap_pct,
    cast(service_gap_pct as double) as service_gap_pct,
    cast(service_gap_score as double) as service_gap_score,
    cast({{ var('priority_weight_stunting') }} as double) as weight_stunting,
    cast({{ var('priority_weight_poverty') }} as double) as weight_poverty,
    cast({{ var('priority_weight_service_gap') }} as double) as weight_service_gap
from weighted
left join {{ ref('dim_region') }} as district on district.region_code = weighted.district_code
