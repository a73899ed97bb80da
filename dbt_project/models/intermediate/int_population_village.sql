-- Dukcapil population per kelurahan and semester: everyone, and the under-fives (age group 0-4), the
-- denominator of e-PPGBM weighing coverage.
select
    region_code,
    period,
    period_start,
    sum(population) as population_total,
    sum(population) filter (where age_group in ('0-4', '00-04')) as population_under_five
from {{ ref('stg_dukcapil__population') }}
group by region_code, period, period_start
