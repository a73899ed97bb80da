-- Registry households (families) per snapshot: a family sits in one kelurahan and one welfare decile;
-- it receives a programme when any member is flagged.
select
    registry_source,
    snapshot,
    family_key,
    min(region_code) as region_code,
    min(welfare_decile) as welfare_decile,
    count(distinct person_key) as individuals,
    bool_or(receives_pkh) as receives_pkh,
    bool_or(receives_bpnt) as receives_bpnt,
    count(distinct person_key) filter (where receives_pbi) as individuals_pbi,
    bool_or(receives_pkh or receives_bpnt or receives_pbi) as receives_any_assistance
from {{ ref('stg_dtsen__individual') }}
where region_code is not null and welfare_decile is not null
group by registry_source, snapshot, family_key
