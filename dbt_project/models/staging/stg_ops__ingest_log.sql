-- Every file the pipeline has seen, across all runs (history is kept in ops.ingest_log).
select
    batch_id,
    run_id,
    source,
    agency,
    file_name,
    period,
    scope,
    received_at,
    finished_at,
    status,
    rows_read,
    rows_loaded,
    rows_rejected,
    checks_failed,
    error_message
from {{ source('ops', 'ingest_log') }}
