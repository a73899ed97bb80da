-- The full current Kemendagri list (all levels), with the parent chain spelled out so marts can roll a
-- kelurahan up to its kecamatan and kab/kota without recursive joins.
with regions as (
    select * from {{ ref('stg_reference__regions') }}
)
select
    cast(region_code as varchar) as region_code,
    cast(region_name as varchar) as region_name,
    cast(level as varchar) as level,
    cast(parent_code as varchar) as parent_code,
    cast(left(region_code, 2) as varchar) as province_code,
    cast(case when level in ('regency', 'district', 'village') then left(region_code, 5) end as varchar) as regency_code,
    cast(case when level in ('district', 'village') then left(region_code, 8) end as varchar) as district_code,
    -- fourth part starting with 1 = kelurahan, 2 = desa, 3 = desa adat
    level = 'village' and substr(region_code, 10, 1) = '1' as is_kelurahan,
    cast('Kepmendagri 300.2.2-2138/2025 (with its 2025 amendment)' as varchar) as decree
from regions
