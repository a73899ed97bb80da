-- Data quality per file submission with history across runs (ops.ingest_log keeps every file ever seen,
-- including duplicates and quarantined files), plus one row per submission the calendar found missing or
-- late without any file in the log (ops.submission_status, latest verdict per source, scope and period).
with files as (
    select
        'file' as record_type,
        log.batch_id as submission_key,
        log.batch_id,
        log.run_id,
        coalesce(log.agency, calendar.agency) as agency,
        log.source,
        log.scope,
        log.period,
        log.file_name,
        log.received_at,
        calendar.due_on,
        log.status,
        case
            when calendar.due_on is null then calendar.status
            when cast(log.received_at as date) <= calendar.due_on then 'on_time'
            else 'late'
        end as submission_status,
        log.rows_read,
        log.rows_loaded,
        log.rows_rejected,
        coalesce(nullif(log.checks_failed, []), failed.failed_checks, []) as failed_checks,
        log.error_message,
        log.finished_at as processed_at
    from {{ ref('stg_ops__ingest_log') }} as log
    left join {{ ref('stg_ops__submission_status') }} as calendar
        on calendar.source = log.source and calendar.scope = log.scope and calendar.period = log.period
    left join {{ ref('stg_ops__check_results') }} as failed on failed.batch_id = log.batch_id
),
calendar_only as (
    select
        'calendar' as record_type,
        'calendar:' || calendar.source || ':' || calendar.scope || ':' || calendar.period as submission_key,
        null as batch_id,
        calendar.run_id,
        calendar.agency,
        calendar.source,
        calendar.scope,
        calendar.period,
        null as file_name,
        calendar.received_at,
        calendar.due_on,
        calendar.status,
        calendar.status as submission_status,
        null as rows_read,
        null as rows_loaded,
        null as rows_rejected,
        []::varchar[] as failed_checks,
        null as error_message,
        null as processed_at
    from {{ ref('stg_ops__submission_status') }} as calendar
    where calendar.status in ('late', 'missing')
      and not exists (
          select 1 from {{ ref('stg_ops__ingest_log') }} as log
          where log.source = calendar.source and log.scope = calendar.scope and log.period = calendar.period
      )
),
combined as (
    select * from files
    union all
    select * from calendar_only
)
select
    cast(record_type as varchar) as record_type,
    cast(submission_key as varchar) as submission_key,
    cast(batch_id as varchar) as batch_id,
    cast(run_id as varchar) as run_id,
    cast(agency as varchar) as agency,
    cast(source as varchar) as source,
    cast(scope as varchar) as scope,
    cast(period as varchar) as period,
    cast(file_name as varchar) as file_name,
    cast(received_at as timestamp) as received_at,
    cast(due_on as date) as due_on,
    cast(status as varchar) as status,
    cast(submission_status as varchar) as submission_status,
    cast(rows_read as bigint) as rows_read,
    cast(rows_loaded as bigint) as rows_loaded,
    cast(rows_rejected as bigint) as rows_rejected,
    cast(array_to_string(failed_checks, ', ') as varchar) as checks_failed,
    cast(len(failed_checks) as integer) as checks_failed_count,
    cast(error_message as varchar) as error_message,
    cast(processed_at as timestamp) as processed_at
from combined
