-- Prevalence counts each child once per period: its latest measurement in that period.
select *
from {{ ref('fct_child_measurement') }}
qualify row_number() over (
    partition by child_key, period
    order by measured_on desc, _loaded_at desc, _source_row desc
) = 1
