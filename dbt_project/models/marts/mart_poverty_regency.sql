-- Kab/kota poverty per year, one row per source: 'BPS published' (the official series) and 'computed
-- from microdata' (FGT from Susenas, int_poverty_fgt), so the two can be reconciled side by side and never
-- silently replace each other. Registry counts (DTKS/P3KE/DTSEN) are NOT here: see mart_poverty_registry.
with published as (
    select * from {{ ref('int_poverty_published') }}
),
computed as (
    select * from {{ ref('int_poverty_fgt') }}
),
rows_by_source as (
    select
        region_code, year, 'BPS published' as source,
        poverty_line_rp, poor_population, p0_pct, p1, p2,
        null::double as extreme_poverty_pct, null::double as extreme_poor_population,
        null::double as extreme_threshold_rp, null::varchar as extreme_threshold_version,
        null::bigint as sample_households,
        null::double as p0_diff_vs_published_pp
    from published
    union all
    select
        computed.region_code, computed.year, 'computed from microdata',
        computed.poverty_line_rp, computed.poor_population, computed.p0_pct, computed.p1, computed.p2,
        computed.extreme_poverty_pct, computed.extreme_poor_population,
        computed.extreme_threshold_rp, computed.extreme_threshold_version,
        computed.sample_households,
        computed.p0_pct - published.p0_pct
    from computed
    left join published using (region_code, year)
)
select
    cast(rows_by_source.region_code as varchar) as region_code,
    cast(region.region_name as varchar) as region_name,
    cast(rows_by_source.year as integer) as year,
    cast(rows_by_source.source as varchar) as source,
    cast(poverty_line_rp as double) as poverty_line_rp,
    cast(poor_population as double) as poor_population,
    cast(p0_pct as double) as p0_pct,
    cast(p1 as double) as p1,
    cast(p2 as double) as p2,
    cast(extreme_poverty_pct as double) as extreme_poverty_pct,
    cast(extreme_poor_population as double) as extreme_poor_population,
    cast(extreme_threshold_rp as double) as extreme_threshold_rp,
    cast(extreme_threshold_version as varchar) as extreme_threshold_version,
    cast(sample_households as bigint) as sample_households,
    cast(p0_diff_vs_published_pp as double) as p0_diff_vs_published_pp
from rows_by_source
left join {{ ref('dim_region') }} as region on region.region_code = rows_by_source.region_code
