-- BPS's published series, one row per kab/kota and year.
select
    region_code,
    year,
    max(value) filter (where indicator = 'poverty_line_rp') as poverty_line_rp,
    max(value) filter (where indicator = 'poor_population') as poor_population,
    max(value) filter (where indicator = 'p0_pct') as p0_pct,
    max(value) filter (where indicator = 'p1') as p1,
    max(value) filter (where indicator = 'p2') as p2
from {{ ref('stg_bps__poverty_series') }}
group by region_code, year
