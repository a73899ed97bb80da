-- Foster-Greer-Thorbecke measures from the household microdata, survey-weighted:
--   P_a = sum_i w_i * n_i * ((z - y_i) / z)^a * [y_i < z]  /  sum_i w_i * n_i
-- with w_i the household weight, n_i the household size (so the measures are per person, as BPS's), y_i
-- the per-capita expenditure and z the published poverty line of the same kab/kota and year. P0 is in
-- percent; P1 and P2 are multiplied by 100, BPS's publication scale. Extreme poverty uses the threshold of
-- the year (seed extreme_poverty_threshold) and keeps its version.
with households as (
    select
        hh.*,
        hh.household_weight * hh.household_size as person_weight,
        published.poverty_line_rp,
        threshold.threshold_rp_per_capita_month as extreme_threshold_rp,
        threshold.threshold_version as extreme_threshold_version
    from {{ ref('stg_susenas__household') }} as hh
    inner join {{ ref('int_poverty_published') }} as published
        on published.region_code = hh.region_code and published.year = hh.year
    left join {{ ref('extreme_poverty_threshold') }} as threshold
        on hh.year between threshold.year_from and threshold.year_to
    where published.poverty_line_rp > 0
      and hh.household_weight > 0
      and hh.household_size > 0
      and hh.expenditure_per_capita is not null
),
gaps as (
    select
        *,
        case
            when expenditure_per_capita < poverty_line_rp
                then (poverty_line_rp - expenditure_per_capita) / poverty_line_rp
            else 0
        end as poverty_gap,
        expenditure_per_capita < poverty_line_rp as is_poor,
        expenditure_per_capita < extreme_threshold_rp as is_extreme_poor
    from households
)
select
    region_code,
    year,
    any_value(poverty_line_rp) as poverty_line_rp,
    round(coalesce(sum(person_weight) filter (where is_poor), 0), 6) as poor_population,
    -- six decimals (BPS publishes two or three): stable for exact comparisons in unit tests
    round(coalesce(100 * sum(person_weight) filter (where is_poor) / sum(person_weight), 0), 6) as p0_pct,
    round(100 * sum(person_weight * poverty_gap) / sum(person_weight), 6) as p1,
    round(100 * sum(person_weight * poverty_gap * poverty_gap) / sum(person_weight), 6) as p2,
    round(coalesce(100 * sum(person_weight) filter (where is_extreme_poor) / sum(person_weight), 0), 6)
        as extreme_poverty_pct,
    round(coalesce(sum(person_weight) filter (where is_extreme_poor), 0), 6) as extreme_poor_population,
    any_value(extreme_threshold_rp) as extreme_threshold_rp,
    any_value(extreme_threshold_version) as extreme_threshold_version,
    count(*) as sample_households
from gaps
group by region_code, year
