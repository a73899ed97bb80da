{{ config(materialized="view") }}
-- WHO 2006 z-scores for every measurement, set-based (joins on integer keys, no per-row code):
--   * age in days from the dates; z only when age in months (days / 30.4375) is under 60;
--   * length/height rule: under 731 days a child measured standing gets +0.7 cm, from 731 days a child
--     measured lying gets -0.7 cm (HAZ and WHZ use the adjusted value; height_cm keeps what was recorded);
--   * HAZ and WAZ look up L, M, S by sex and age in days;
--   * WHZ uses weight-for-length under 731 days and weight-for-height from 731 days, interpolating L, M, S
--     linearly between the two 0.1 cm rows around the adjusted length/height;
--   * WAZ and WHZ use the restricted rule beyond +/-3 SD, HAZ does not.
with measurements as (
    select
        *,
        case sex when 'L' then 1 when 'P' then 2 end as sex_code,
        date_diff('day', birth_date, measured_on) as age_days
    from {{ ref('stg_eppgbm__measurement') }}
),
prepared as (
    select
        *,
        age_days / 30.4375 as age_months,
        age_days >= 0 and age_days / 30.4375 < 60 and sex_code is not null as in_standard_age,
        height_cm + case
            when age_days < 731 and measure_method = 'standing' then 0.7
            when age_days >= 731 and measure_method = 'recumbent' then -0.7
            else 0
        end as height_adjusted_cm
    from measurements
),
keyed as (
    select
        *,
        case when age_days < 731 then 'length' else 'height' end as wflh_table,
        -- the 0.1 cm row at or below the adjusted height; round() first so 80.0 is not read as 79.999...
        cast(floor(round(height_adjusted_cm * 10, 6)) as integer) as wflh_lower_mm,
        round(height_adjusted_cm * 10, 6) - floor(round(height_adjusted_cm * 10, 6)) as wflh_fraction
    from prepared
),
looked_up as (
    select
        keyed.*,
        hfa.lms_l as hfa_l, hfa.lms_m as hfa_m, hfa.lms_s as hfa_s,
        wfa.lms_l as wfa_l, wfa.lms_m as wfa_m, wfa.lms_s as wfa_s,
        case
            when wflh_fraction = 0 then lower_row.lms_l
            else lower_row.lms_l + wflh_fraction * (upper_row.lms_l - lower_row.lms_l)
        end as wfh_l,
        case
            when wflh_fraction = 0 then lower_row.lms_m
            else lower_row.lms_m + wflh_fraction * (upper_row.lms_m - lower_row.lms_m)
        end as wfh_m,
        case
            when wflh_fraction = 0 then lower_row.lms_s
            else lower_row.lms_s + wflh_fraction * (upper_row.lms_s - lower_row.lms_s)
        end as wfh_s
    from keyed
    left join {{ ref('stg_who__length_height_for_age') }} as hfa
        on keyed.in_standard_age and hfa.sex_code = keyed.sex_code and hfa.age_days = keyed.age_days
    left join {{ ref('stg_who__weight_for_age') }} as wfa
        on keyed.in_standard_age and wfa.sex_code = keyed.sex_code and wfa.age_days = keyed.age_days
    left join {{ ref('stg_who__weight_for_length_height') }} as lower_row
        on keyed.in_standard_age
        and lower_row.table_kind = keyed.wflh_table
        and lower_row.sex_code = keyed.sex_code
        and lower_row.height_mm = keyed.wflh_lower_mm
    left join {{ ref('stg_who__weight_for_length_height') }} as upper_row
        on keyed.in_standard_age
        and upper_row.table_kind = keyed.wflh_table
        and upper_row.sex_code = keyed.sex_code
        and upper_row.height_mm = keyed.wflh_lower_mm + 1
),
scored as (
    select
        *,
        case when height_adjusted_cm > 0 then {{ lms_z('height_adjusted_cm', 'hfa_l', 'hfa_m', 'hfa_s') }} end as haz,
        case when weight_kg > 0 then {{ lms_z_restricted('weight_kg', 'wfa_l', 'wfa_m', 'wfa_s') }} end as waz,
        case when weight_kg > 0 then {{ lms_z_restricted('weight_kg', 'wfh_l', 'wfh_m', 'wfh_s') }} end as whz
    from looked_up
)
select
    measurement_key,
    child_key,
    region_code,
    period,
    sex,
    birth_date,
    measured_on,
    cast(age_days as integer) as age_days,
    age_months,
    measure_method,
    height_cm,
    height_adjusted_cm,
    weight_kg,
    muac_cm,
    -- six decimals: far below the 0.01 WHO anthro reports, and stable for exact comparisons in unit tests
    round(haz, 6) as haz,
    round(waz, 6) as waz,
    round(whz, 6) as whz,
    haz_reported,
    waz_reported,
    whz_reported,
    _batch_id,
    _source,
    _file_name,
    _sheet,
    _source_row,
    _loaded_at
from scored
