-- Socio-economic registry (P3KE / DTSEN), one row per individual of the latest snapshot file per period.
-- Only pseudonymous keys, the kelurahan, the welfare decile and programme flags go further.
with latest as (
    {{ latest_revision(source('raw', 'registry_individual')) }}
)
select
    person_key,
    family_key,
    region_code,
    _period as snapshot,
    upper(_source) as registry_source,
    cast(welfare_decile as integer) as welfare_decile,
    coalesce(receives_pkh, false) as receives_pkh,
    coalesce(receives_bpnt, false) as receives_bpnt,
    coalesce(receives_pbi, false) as receives_pbi,
    _batch_id,
    _source,
    _file_name,
    _source_row,
    _loaded_at
from latest
