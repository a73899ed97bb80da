-- BPS published poverty series, long. One yearly file repeats earlier years (one column per year), so
-- beyond the file revision rule the newest loaded value per (region, indicator, year) wins.
with latest as (
    {{ latest_revision(source('raw', 'bps_poverty_series')) }}
)
select
    region_code,
    indicator,
    cast(year as integer) as year,
    cast(value as double) as value,
    _batch_id,
    _file_name,
    _loaded_at
from latest
where value is not null and region_code is not null
qualify row_number() over (
    partition by region_code, indicator, year
    order by _loaded_at desc, _batch_id desc, _source_row
) = 1
