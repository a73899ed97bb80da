{{ config(materialized="table") }}
-- Every Kemendagri region of the current decree, one row per code at its level.
with provinces as (
    select code as region_code, name as region_name, 'province' as level, null as parent_code
    from {{ source('reference_wilayah', 'provinces') }}
),
regencies as (
    select code, name, 'regency', province_code from {{ source('reference_wilayah', 'regencies') }}
),
districts as (
    select code, name, 'district', regency_code from {{ source('reference_wilayah', 'districts') }}
),
villages as (
    select code, name, 'village', district_code from {{ source('reference_wilayah', 'villages') }}
),
all_levels as (
    select * from provinces
    union all select * from regencies
    union all select * from districts
    union all select * from villages
)
select
    trim(region_code) as region_code,
    trim(region_name) as region_name,
    level,
    trim(parent_code) as parent_code
from all_levels
