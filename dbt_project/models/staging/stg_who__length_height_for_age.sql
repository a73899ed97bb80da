{{ config(materialized="table") }}
-- WHO 2006 length/height-for-age LMS by sex and age in days (L = measured lying, H = standing).
select
    cast(sex as integer) as sex_code,
    cast(age as integer) as age_days,
    cast(l as double) as lms_l,
    cast(m as double) as lms_m,
    cast(s as double) as lms_s,
    loh as length_or_height
from {{ source('reference_who', 'lenanthro') }}
