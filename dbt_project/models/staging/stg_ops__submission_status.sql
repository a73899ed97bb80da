-- The submission calendar's latest verdict per source, scope and period.
select
    run_id,
    checked_on,
    source,
    agency,
    scope,
    period,
    due_on,
    received_at,
    status
from {{ source('ops', 'submission_status') }}
qualify row_number() over (partition by source, scope, period order by checked_on desc, run_id desc) = 1
