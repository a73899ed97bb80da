-- Failed file-level expectations per batch (the complement of ingest_log.checks_failed when absent).
select
    batch_id,
    list(distinct check_name order by check_name) as failed_checks
from {{ source('ops', 'check_results') }}
where not success and batch_id is not null
group by batch_id
