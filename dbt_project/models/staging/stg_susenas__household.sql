-- Susenas household consumption microdata, latest revision per file; weights are household weights.
with latest as (
    {{ latest_revision(source('raw', 'susenas_household')) }}
)
select
    household_id,
    region_code,
    {{ period_year('_period') }} as year,
    urban_rural,
    cast(household_size as integer) as household_size,
    cast(weight as double) as household_weight,
    cast(expenditure_per_capita as double) as expenditure_per_capita,
    _batch_id,
    _source,
    _file_name,
    _source_row,
    _loaded_at
from latest
