"""One ingest DAG per agency source, generated from the source registry (``extract/sources/*.yml``).

A new source YAML gives a new DAG on the next parse; nothing here is source-specific. Each DAG:

- runs on its cadence's cron **or** as soon as a file lands in ``$GUDANG_HOME/inbox/<source>/`` (an
  ``AssetWatcher`` on the inbox Asset, see ``gudang/inbox_trigger.py``), whichever comes first;
- lists the waiting files in chunks, then ingests each chunk in a mapped task (still all or nothing per
  file; a task per file cost more in Airflow than the load itself at province scale);
- emits one event on the raw table's Asset when a file was loaded, which schedules ``gudang_transform``;
- writes the warehouse only inside the single-slot ``duckdb_writer`` pool (DuckDB has one writer);
- takes a ``period`` param to re-ingest a period's archived originals (a backfill after a parser fix).

The logic lives in ``extract/`` and ``expectations/``; the tasks below only call ``gudang.pipeline``.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    AssetWatcher,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import AirflowSkipException

from extract.registry import SourceSpec, load_registry
from gudang import pipeline
from gudang.inbox_trigger import InboxArrivalTrigger
from gudang.settings import WRITER_POOL, get_settings

TIMEZONE = "Asia/Jakarta"
#: When to look at the inbox without waiting for a file event (catches files that arrived while the
#: triggerer was down). Monthly and quarterly sources are checked every morning, slower ones weekly.
CADENCE_CRON = {
    "month": "0 6 * * *",
    "quarter": "0 6 * * *",
    "semester": "0 6 * * 1",
    "year": "0 6 * * 1",
}
PERIOD_PATTERN = r"^\d{4}(-(0[1-9]|1[0-2]|Q[1-4]|S[12]))?$"


def raw_asset(spec: SourceSpec) -> Asset:
    return Asset(
        uri=pipeline.raw_asset_uri(spec.target_table),
        name=spec.raw_table,
        group="raw",
        extra={"layer": "raw"},
    )


def inbox_asset(spec: SourceSpec, inbox_dir: str) -> Asset:
    watcher = AssetWatcher(
        name=f"inbox_{spec.source}",
        trigger=InboxArrivalTrigger(directory=inbox_dir, patterns=spec.file_patterns),
    )
    return Asset(
        uri=pipeline.inbox_asset_uri(spec.source),
        name=f"inbox/{spec.source}",
        group="inbox",
        watchers=[watcher],
    )


def _doc(spec: SourceSpec, inbox_dir: str) -> str:
    return f"""\
### {spec.title} ({spec.agency})

{spec.description.strip()}

| | |
|---|---|
| inbox | `{inbox_dir}` ({", ".join(f"`{p}`" for p in spec.file_patterns)}) |
| raw table | `{spec.raw_table}` |
| cadence | every {spec.cadence.every}, due day {spec.cadence.due_day} of the following month |
| expectation suite | `{spec.expectation_suite}` |
| contact | {spec.contact or "-"} |

**Re-ingest a period** (after a parser fix or a corrected registry entry): trigger with config, set
`period` (e.g. `2025-03`, `2025-Q1`, `2025-S1`, `2025`); the archived originals of that period are loaded
again with `force` and supersede the earlier load in staging (revision key source + scope + period).
"""


def build_ingest_dag(spec: SourceSpec):
    settings = get_settings()
    inbox_dir = str(settings.inbox / spec.source)
    table_asset = raw_asset(spec)

    @dag(
        dag_id=pipeline.ingest_dag_id(spec.source),
        description=f"{spec.title}: inbox -> {spec.raw_table}",
        doc_md=_doc(spec, inbox_dir),
        schedule=AssetOrTimeSchedule(
            # run_immediately=0: with the default (False) Airflow still runs the latest past tick when the DAG
            # appears within 10% of the cron period after it (2.4 h for a daily cron)
            timetable=CronTriggerTimetable(
                CADENCE_CRON[spec.cadence.every], timezone=TIMEZONE, run_immediately=dt.timedelta(0)
            ),
            assets=inbox_asset(spec, inbox_dir),
        ),
        # No start_date: the cron timetable then waits for its next tick instead of running the latest past
        # one the moment the DAG appears; files already waiting are picked up by that tick or an arrival.
        catchup=False,
        tags=["gudang", "ingest", spec.agency, spec.cadence.every],
        owner_links={spec.agency: f"mailto:{spec.contact}"} if spec.contact else None,
        default_args={
            "owner": spec.agency,
            "retries": 2,
            "retry_delay": dt.timedelta(seconds=30),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": dt.timedelta(minutes=10),
            "execution_timeout": dt.timedelta(minutes=30),
        },
        params={
            "period": Param(
                None,
                type=["null", "string"],
                pattern=PERIOD_PATTERN,
                title="Periode untuk dimuat ulang",
                description="Kosongkan untuk memuat file baru di inbox. Isi (2025-03, 2025-Q1, 2025-S1, 2025) "
                "untuk memuat ulang file arsip periode itu.",
            ),
        },
        render_template_as_native_obj=True,
    )
    def ingest_source():
        @task(execution_timeout=dt.timedelta(minutes=2))
        def list_files() -> list[list[str]]:
            """Files waiting in the inbox, or the archived originals of the requested period, in chunks."""
            period = get_current_context()["params"].get("period")
            return pipeline.ingest_chunks(get_settings(), spec.source, period=period)

        @task(pool=WRITER_POOL, map_index_template="{{ chunk_label }}")
        def ingest_files(paths: list[str]) -> dict:
            """Parse, gate and load each file all or nothing; archive or quarantine the originals."""
            context = get_current_context()
            names = [p.rsplit("/", 1)[-1] for p in paths]
            context["chunk_label"] = (
                names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]} ({len(names)})"
            )
            summary = pipeline.ingest_chunk(
                get_settings(),
                spec.source,
                paths,
                run_id=pipeline.gudang_run_id(context),
                force=bool(context["params"].get("period")),
            )
            print(f"{context['chunk_label']}: {summary}")
            if summary["taken"] == summary["files"]:
                # Another run loaded them first: skipping keeps this run from announcing a table change.
                raise AirflowSkipException(f"{len(paths)} file sudah dimuat oleh run lain")
            return summary

        @task(outlets=[table_asset], trigger_rule="none_failed")
        def announce_table_change(summaries: list[dict | None]) -> dict:
            """One Asset event per run (not per file) when a file was loaded or quarantined: either changes
            what the transform publishes (the marts, or the data-quality mart and the digest's alerts)."""
            statuses: dict[str, int] = {}
            # A slice reads the mapped tasks' summaries in one request; iterating the lazy sequence reads
            # them one by one and probes past the end, which Airflow's client logs as an error.
            for summary in filter(None, summaries[:]):
                for status, count in summary["statuses"].items():
                    statuses[status] = statuses.get(status, 0) + count
            if not set(statuses) - {"duplicate"}:
                raise AirflowSkipException("tidak ada file baru yang dimuat atau dikarantina")
            return statuses

        announce_table_change(ingest_files.expand(paths=list_files()))

    return ingest_source()


for _spec in load_registry().values():
    globals()[pipeline.ingest_dag_id(_spec.source)] = build_ingest_dag(_spec)
