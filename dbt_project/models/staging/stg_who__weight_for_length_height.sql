{{ config(materialized="table") }}
-- WHO 2006 weight-for-length (45-110 cm, used under 731 days) and weight-for-height (65-120 cm, from 731
-- days) LMS, keyed by sex and the length/height in whole millimetres so lookups join on integers.
select
    'length' as table_kind,
    cast(sex as integer) as sex_code,
    cast(round(cast(length as double) * 10) as integer) as height_mm,
    cast(l as double) as lms_l,
    cast(m as double) as lms_m,
    cast(s as double) as lms_s
from {{ source('reference_who', 'wflanthro') }}
union all
select
    'height',
    cast(sex as integer),
    cast(round(cast(height as double) * 10) as integer),
    cast(l as double),
    cast(m as double),
    cast(s as double)
from {{ source('reference_who', 'wfhanthro') }}
