-- Dukcapil population per kelurahan, sex and age group for the latest file per semester.
with latest as (
    {{ latest_revision(source('raw', 'population')) }}
)
select
    region_code,
    _period as period,
    {{ period_start('_period') }} as period_start,
    sex,
    regexp_replace(age_group, '\s|–', '', 'g') as age_group,
    cast(population as bigint) as population,
    _batch_id,
    _file_name,
    _loaded_at
from latest
where region_code is not null
