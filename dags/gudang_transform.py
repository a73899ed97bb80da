"""The transform DAG: raw tables -> dbt (staging, intermediate, marts) -> mart gate -> publish -> outputs.

Scheduled on the raw-table Assets the ingest DAGs emit (any of them updated), never on a cron guess.
dbt runs through astronomer-cosmos so each model is its own task in the UI. The execution mode was chosen
by measurement (``docs/orchestration.md``): WATCHER runs one ``dbt build`` in a producer task and shows
every model as a consumer task that reports the model's own result (retrying a failed consumer re-runs
that model), at close to the cost of a bare ``dbt build``. ``GUDANG_DBT_MODE`` selects another mode for
comparison (``local``: one Airflow task per model; ``build``: one ``dbt build`` task with a per-model
report).

First the submission calendar (so ``mart_data_quality`` carries this run's late/missing verdicts), then
dbt; the mart gate decides; publish swaps ``marts.duckdb`` in only if it passed; data docs and reports
follow; the alert digest goes out whatever happened before it (a blocked
gate or a failed dbt build is exactly what planners must hear about). A final ``run_failed`` task fails
the DAG run when any task failed, since the digest, the last task, succeeds either way.

Every task that opens the warehouse runs in the single-slot ``duckdb_writer`` pool: DuckDB takes an
exclusive file lock for a writer, which also locks out readers in other processes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from pathlib import Path

from airflow.sdk import Asset, dag, get_current_context, task
from airflow.sdk.definitions.asset import AssetAny
from airflow.sdk.exceptions import AirflowException
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

from extract.registry import load_registry
from gudang import dbt_state, pipeline
from gudang.settings import DBT_PROJECT_DIR, REFERENCE_DIR, WRITER_POOL, get_settings

DBT_MODE = os.environ.get("GUDANG_DBT_MODE", "watcher")
#: Overridable only so the transform benchmark can run the same DAG on a fixed-size project.
#: The dbt installed beside this interpreter (the venv's, or the image's), whatever PATH says.
DBT_EXECUTABLE = shutil.which("dbt", path=str(Path(sys.executable).parent)) or "dbt"
#: A manifest from `dbt parse` (the Dockerfile bakes one in) lets every task process render the dbt graph
#: from JSON; without it (development, where models change) Cosmos runs `dbt ls` when a task starts.
DBT_MANIFEST = os.environ.get("GUDANG_DBT_MANIFEST") or None
DBT_PROJECT = Path(os.environ.get("GUDANG_DBT_PROJECT_DIR", DBT_PROJECT_DIR))
DBT_MODES = {"watcher": ExecutionMode.WATCHER, "local": ExecutionMode.LOCAL}

RAW_ASSETS = sorted(
    {
        spec.target_table: Asset(
            uri=pipeline.raw_asset_uri(spec.target_table), name=spec.raw_table, group="raw"
        )
        for spec in load_registry().values()
    }.items()
)
MARTS_ASSET = Asset(uri=pipeline.MARTS_ASSET_URI, name="marts.duckdb", group="marts")

WAREHOUSE_TASK = {"pool": WRITER_POOL, "execution_timeout": dt.timedelta(minutes=30)}


def _settings_and_run_id() -> tuple:
    return get_settings(), pipeline.gudang_run_id(get_current_context())


def dbt_task_group():
    """dbt models as Airflow tasks (Cosmos), or one ``dbt build`` task, per ``GUDANG_DBT_MODE``."""
    if DBT_MODE == "build":

        @task(task_id="dbt_build", **WAREHOUSE_TASK)
        def dbt_build() -> dict:
            """One ``dbt build``; the log lists every model and test with its status and timing."""
            return pipeline.dbt_build(get_settings())

        return dbt_build()

    settings = get_settings()
    # LOCAL: every model task runs dbt against the warehouse, so every one takes the writer pool.
    # WATCHER: the per-model tasks are deferred sensors reading the producer's progress; holding the one
    # writer slot while waiting would serialise ~50 task start-ups behind the build. A consumer that is
    # retried re-runs its model outside the pool and relies on dbt-duckdb's connect retries (profiles.yml).
    dbt_task_args = (
        dict(WAREHOUSE_TASK)
        if DBT_MODE == "local"
        else {"execution_timeout": WAREHOUSE_TASK["execution_timeout"]}
    )
    return DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT,
            manifest_path=DBT_MANIFEST,
            env_vars={
                "GUDANG_WAREHOUSE": str(settings.warehouse),
                "GUDANG_HOME": str(settings.home),
                # Cosmos may run a copy of the project elsewhere: the reference CSVs must not be relative
                "GUDANG_REFERENCE_DIR": str(REFERENCE_DIR),
                # Unit tests belong to CI, as in pipeline.dbt_build. dbt's variable for the flag: only
                # build, test and ls read it, so LOCAL's `dbt run` tasks are not broken by an unknown flag.
                "DBT_EXCLUDE_RESOURCE_TYPES": dbt_state.EXCLUDED_RESOURCE_TYPE,
            },
        ),
        profile_config=ProfileConfig(
            profile_name="gudang",
            target_name=pipeline.dbt_target_name(),
            profiles_yml_filepath=DBT_PROJECT / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=DBT_MODES[DBT_MODE],
            # WATCHER: only the producer (the one `dbt build`) writes, so only it takes the writer pool.
            setup_operator_args={"pool": WRITER_POOL} if DBT_MODE == "watcher" else None,
            invocation_mode=InvocationMode.DBT_RUNNER,
            dbt_executable_path=DBT_EXECUTABLE,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST if DBT_MANIFEST else LoadMode.DBT_LS,
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=False,
        ),
        operator_args={
            **dbt_task_args,
            "install_deps": False,
            "retries": 1,
            # the incremental models recompute their rows when the project changed (dbt_state.dbt_vars)
            "vars": dbt_state.dbt_vars(dbt_state.dbt_inputs_hash(DBT_PROJECT)),
        },
    )


@dag(
    dag_id=pipeline.TRANSFORM_DAG_ID,
    description="raw -> dbt marts -> mart gate -> publish -> laporan & digest",
    doc_md=__doc__,
    schedule=AssetAny(*(asset for _, asset in RAW_ASSETS)),
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    # Runs queue rather than overlap: a second run would only rebuild the same marts again.
    max_active_runs=1,
    tags=["gudang", "transform", "dbt"],
    default_args={
        "owner": "Bappeda",
        "retries": 2,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=10),
        "execution_timeout": dt.timedelta(minutes=20),
    },
)
def gudang_transform():
    dbt = dbt_task_group()

    @task(**WAREHOUSE_TASK)
    def mart_gate() -> dict:
        """dbt tests on the marts + GX reconciliation against raw; decides whether to publish."""
        return pipeline.mart_gate(*_settings_and_run_id())

    @task(trigger_rule="all_done", outlets=[MARTS_ASSET], **WAREHOUSE_TASK)
    def publish() -> dict:
        """Swap marts.duckdb in atomically if the gate passed; otherwise record why not."""
        settings, run_id = _settings_and_run_id()
        # Pulled rather than passed as an argument: when dbt or the gate failed there is no result, and
        # publish must still run to record the block.
        gate_result = get_current_context()["ti"].xcom_pull(task_ids="mart_gate")
        return pipeline.publish(settings, run_id, gate_result)

    @task(trigger_rule="all_done", **WAREHOUSE_TASK)
    def submission_calendar() -> dict:
        """Which agencies are on time, late, or missing for each due period."""
        return pipeline.check_calendar(*_settings_and_run_id())

    @task(trigger_rule="all_done", **WAREHOUSE_TASK)
    def data_docs() -> str:
        return pipeline.build_data_docs(get_settings())

    @task(trigger_rule="all_done", **WAREHOUSE_TASK)
    def reports() -> dict:
        """Parquet/Excel exports, the planning brief, dbt docs."""
        return pipeline.build_reports(*_settings_and_run_id())

    @task(trigger_rule="all_done", **WAREHOUSE_TASK)
    def alert_digest() -> dict:
        """One digest per run to planners (and each agency its own part), whatever happened above."""
        return pipeline.send_alert_digest(*_settings_and_run_id())

    @task(trigger_rule="one_failed", retries=0)
    def run_failed() -> None:
        """Only runs (and fails the DAG run) when a task above failed; skipped on a healthy run."""
        raise AirflowException("a task of this run failed; see the failed task's log")

    # The calendar runs first so that this run's mart_data_quality (built by dbt) carries this run's
    # late/missing verdicts rather than the previous run's.
    calendar = submission_calendar()
    gate = mart_gate()
    published = publish()
    calendar >> dbt >> gate >> published
    after_publish = [data_docs(), reports()]
    published >> after_publish
    digest = alert_digest()
    after_publish >> digest
    [calendar, dbt, gate, published, *after_publish, digest] >> run_failed()


gudang_transform()
