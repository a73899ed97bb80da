-- SPM per basic service and quarter (cumulative year to date). Achievement is recomputed from the
-- counts (served to standard / target population x 100), never taken from the sheet; a service with no
-- target population counts as fully achieved (var spm_zero_target_achievement_pct). The index weighs
-- recipient achievement and minimum-quality achievement (vars spm_weight_recipient / spm_weight_quality).
with services as (
    select
        counts.*,
        catalogue.service_name,
        case
            when counts.target_count = 0 then {{ var('spm_zero_target_achievement_pct') }}
            else {{ pct('counts.served_count', 'counts.target_count') }}
        end as achievement_pct
    from {{ ref('int_spm_service') }} as counts
    inner join {{ ref('spm_services') }} as catalogue on catalogue.service_code = counts.service_code
),
indexed as (
    select *, {{ spm_index('achievement_pct', 'quality_achievement_pct') }} as spm_index
    from services
)
select
    cast(region_code as varchar) as region_code,
    cast(year as integer) as year,
    cast(quarter as integer) as quarter,
    cast(period as varchar) as period,
    cast(sector as varchar) as sector,
    cast(service_code as varchar) as service_code,
    cast(service_name as varchar) as service_name,
    cast(target_count as bigint) as target_count,
    cast(served_count as bigint) as served_count,
    cast(achievement_pct as double) as achievement_pct,
    cast(achievement_pct_reported as double) as achievement_pct_reported,
    cast(quality_achievement_pct as double) as quality_achievement_pct,
    cast(spm_index as double) as spm_index,
    cast({{ spm_category('spm_index') }} as varchar) as category
from indexed
