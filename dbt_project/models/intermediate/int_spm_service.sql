-- Counts per region, quarter and catalogue service (an agency may split a service over rows or sheets).
-- The figures are cumulative year to date, as the agencies report them to e-SPM.
select
    region_code,
    year,
    quarter,
    period,
    sector,
    service_code,
    sum(target_count) as target_count,
    sum(served_count) as served_count,
    -- the sheet's own percentage, kept only to show how far it is from the recomputed one
    round(avg(achievement_pct_reported), 6) as achievement_pct_reported,
    round(avg(quality_achievement_pct), 6) as quality_achievement_pct
from {{ ref('stg_spm__achievement') }}
where service_code is not null
group by all
