-- e-PPGBM child measurements, latest revision of each file. Names, parents and addresses (pseudonymised
-- already) are dropped here: the child is identified only by its keyed hash.
with latest as (
    {{ latest_revision(source('raw', 'eppgbm_measurement')) }}
)
select
    md5(concat_ws('|', _batch_id, coalesce(_sheet, ''), cast(_source_row as varchar))) as measurement_key,
    child_key,
    region_code,
    _period as period,
    sex,
    birth_date,
    measured_on,
    cast(weight_kg as double) as weight_kg,
    cast(height_cm as double) as height_cm,
    measure_method,
    cast(muac_cm as double) as muac_cm,
    cast(zscore_hfa_reported as double) as haz_reported,
    cast(zscore_wfa_reported as double) as waz_reported,
    cast(zscore_wfh_reported as double) as whz_reported,
    status_hfa_reported,
    status_wfa_reported,
    status_wfh_reported,
    _batch_id,
    _source,
    _file_name,
    _sheet,
    _source_row,
    _scope,
    _loaded_at
from latest
