"""The DAG files: they import, there is one ingest DAG per registered source, and the wiring is right.

The DAG folder is loaded with Airflow 3.3's ``airflow.dag_processing.dagbag.DagBag`` in a fresh interpreter
configured by ``gudang.airflow_setup`` (Airflow reads its configuration once per process, and other tests
may already have imported it with another home). The child prints the structure as JSON; the tests
below assert on it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from extract.registry import load_registry
from gudang import pipeline
from gudang.airflow_setup import ensure_airflow
from gudang.settings import DAGS_DIR, WRITER_POOL, Settings

DESCRIBE_DAGS = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions.asset import Asset, BaseAsset

bag = DagBag(dag_folder=sys.argv[1])

def leaves(condition):
    if condition is None:
        return []
    if isinstance(condition, Asset):
        return [condition]
    return [leaf for part in condition.objects for leaf in leaves(part)]

def assets(condition):
    return sorted(a.uri for a in leaves(condition))

def describe(dag):
    timetable = dag.timetable
    condition = getattr(timetable, "asset_condition", None)
    return {
        "file": dag.fileloc,
        "schedule_assets": assets(condition),
        "watchers": sorted(
            w.trigger.serialize()[0] for a in leaves(condition) for w in a.watchers
        ),
        "cron": getattr(getattr(timetable, "timetable", None), "expression", None),
        "run_immediately": str(getattr(getattr(timetable, "timetable", None), "run_immediately", None)),
        "params": sorted(dag.params.keys()),
        "tags": sorted(dag.tags),
        "has_doc": bool(dag.doc_md),
        "tasks": {
            t.task_id: {
                "pool": t.pool,
                "retries": t.retries,
                "backoff": bool(t.retry_exponential_backoff),
                "timeout_s": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                "owner": t.owner,
                "outlets": sorted(o.uri for o in t.outlets if isinstance(o, BaseAsset)),
                "mapped": bool(getattr(t, "is_mapped", False)),
                "trigger_rule": getattr(t.trigger_rule, "value", str(t.trigger_rule)),
                "upstream": sorted(t.upstream_task_ids),
                "dbt_env": getattr(t, "env", None) if t.task_id.startswith("dbt.") else None,
            }
            for t in dag.tasks
        },
    }

print(json.dumps({
    "import_errors": {k: v[-2000:] for k, v in bag.import_errors.items()},
    "dags": {dag_id: describe(dag) for dag_id, dag in bag.dags.items()},
}))
"""


def describe_dag_folder(home, *, dbt_mode: str | None = None) -> dict:
    with pytest.MonkeyPatch.context() as patch:
        # Only this home's Airflow: drop whatever Airflow settings other tests left in this process.
        for key in [
            k for k in os.environ if k == "AIRFLOW_HOME" or k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))
        ]:
            patch.delenv(key)
        # Cosmos caches the rendered dbt graph in an Airflow Variable: parsing needs a metadata DB.
        env = {**os.environ, **ensure_airflow(Settings(home=home), export=False)}
    if dbt_mode:
        env["GUDANG_DBT_MODE"] = dbt_mode
    done = subprocess.run(
        [sys.executable, "-c", DESCRIBE_DAGS, str(DAGS_DIR)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dag_folder(tmp_path_factory):
    """The DAG folder as the production dag-processor sees it (Cosmos WATCHER rendering of dbt)."""
    return describe_dag_folder(tmp_path_factory.mktemp("home"))


def test_every_dag_file_imports_without_errors(dag_folder):
    assert dag_folder["import_errors"] == {}
    assert {os.path.basename(d["file"]) for d in dag_folder["dags"].values()} == {
        "gudang_ingest.py",
        "gudang_transform.py",
    }


def test_one_ingest_dag_per_registered_source(dag_folder):
    ingest_ids = {dag_id for dag_id in dag_folder["dags"] if dag_id.startswith("ingest_")}
    assert ingest_ids == {pipeline.ingest_dag_id(source) for source in load_registry()}


@pytest.mark.parametrize("source", sorted(load_registry()))
def test_ingest_dag_structure(dag_folder, source):
    spec = load_registry()[source]
    dag = dag_folder["dags"][pipeline.ingest_dag_id(source)]
    tasks = dag["tasks"]
    assert set(tasks) == {"list_files", "ingest_files", "announce_table_change"}
    ingest = tasks["ingest_files"]
    assert ingest["mapped"], "one mapped task instance per chunk of arriving files"
    assert ingest["upstream"] == ["list_files"]
    assert ingest["pool"] == WRITER_POOL
    announce = tasks["announce_table_change"]
    assert announce["upstream"] == ["ingest_files"]
    assert announce["outlets"] == [pipeline.raw_asset_uri(spec.target_table)], "one Asset event per run"
    assert ingest["outlets"] == [] and tasks["list_files"]["outlets"] == []
    for task in tasks.values():
        assert task["retries"] >= 1 and task["backoff"]
        assert task["timeout_s"] and task["timeout_s"] <= 3600
        assert task["owner"] == spec.agency
    # on a cron from the cadence, or on a file event from the inbox watcher
    assert dag["cron"]
    # a new deployment waits for the next tick (Airflow's default runs a past tick up to 2.4 h late)
    assert dag["run_immediately"] == str(dt.timedelta(0))
    assert dag["schedule_assets"] == [pipeline.inbox_asset_uri(source)]
    assert dag["watchers"] == ["gudang.inbox_trigger.InboxArrivalTrigger"]
    assert "period" in dag["params"]
    assert dag["has_doc"] and spec.agency in dag["tags"]


def test_transform_is_scheduled_on_every_raw_table_asset(dag_folder):
    transform = dag_folder["dags"][pipeline.TRANSFORM_DAG_ID]
    raw_tables = {spec.target_table for spec in load_registry().values()}
    assert transform["schedule_assets"] == sorted(pipeline.raw_asset_uri(t) for t in raw_tables)
    produced = {
        uri
        for dag_id, dag in dag_folder["dags"].items()
        if dag_id.startswith("ingest_")
        for task in dag["tasks"].values()
        for uri in task["outlets"]
    }
    assert produced == set(transform["schedule_assets"]), "every raw Asset has a producer and the consumer"


def test_transform_shows_dbt_models_as_tasks_and_every_warehouse_task_takes_the_writer_pool(dag_folder):
    tasks = dag_folder["dags"][pipeline.TRANSFORM_DAG_ID]["tasks"]
    dbt_tasks = {task_id: t for task_id, t in tasks.items() if task_id.startswith("dbt.")}
    model_tasks = [task_id for task_id in dbt_tasks if "mart_" in task_id]
    assert len(model_tasks) >= 5, f"per-model tasks expected, got {sorted(dbt_tasks)}"
    assert dbt_tasks["dbt.dbt_producer_watcher"]["pool"] == WRITER_POOL, (
        "the one dbt build writes in the pool"
    )
    consumers = [t for task_id, t in dbt_tasks.items() if "producer" not in task_id]
    # the per-model watcher sensors only read the producer's progress: they must not hold the writer slot
    assert consumers and all(t["pool"] != WRITER_POOL for t in consumers)
    for name in ("mart_gate", "publish", "submission_calendar", "data_docs", "reports", "alert_digest"):
        assert tasks[name]["pool"] == WRITER_POOL, name
    # unit tests are CI's (tests/test_dbt_marts.py), not every production build's
    running_dbt = {task_id: t["dbt_env"] for task_id, t in dbt_tasks.items() if t["dbt_env"] is not None}
    assert "dbt.dbt_producer_watcher" in running_dbt and set(model_tasks) <= set(running_dbt)
    assert all(env.get("DBT_EXCLUDE_RESOURCE_TYPES") == "unit_test" for env in running_dbt.values())


def test_transform_publishes_only_after_the_gate_and_alerts_whatever_happened(dag_folder):
    tasks = dag_folder["dags"][pipeline.TRANSFORM_DAG_ID]["tasks"]
    assert tasks["publish"]["upstream"] == ["mart_gate"]
    assert tasks["publish"]["outlets"] == [pipeline.MARTS_ASSET_URI]
    assert "all_done" in tasks["alert_digest"]["trigger_rule"], "the digest goes out when the gate blocks"
    assert "all_success" in tasks["mart_gate"]["trigger_rule"], "no gate on a failed dbt build"
    assert "one_failed" in tasks["run_failed"]["trigger_rule"]
    assert {"alert_digest", "mart_gate", "publish"} <= set(tasks["run_failed"]["upstream"])


def test_single_build_mode_keeps_the_same_wiring(tmp_path):
    tasks = describe_dag_folder(tmp_path, dbt_mode="build")["dags"][pipeline.TRANSFORM_DAG_ID]["tasks"]
    assert tasks["dbt_build"]["pool"] == WRITER_POOL
    assert tasks["mart_gate"]["upstream"] == ["dbt_build"]
    # the calendar precedes dbt, so mart_data_quality is built with this run's late/missing verdicts
    assert "submission_calendar" in tasks["dbt_build"]["upstream"]


def test_inbox_watcher_fires_for_a_new_finished_file_and_not_for_old_ones(tmp_path, monkeypatch):
    import asyncio

    # Importing the trigger imports Airflow: keep its home (created on first import) out of ~/airflow.
    monkeypatch.setenv("AIRFLOW_HOME", os.environ.get("AIRFLOW_HOME", str(tmp_path / "airflow")))

    from gudang.inbox_trigger import InboxArrivalTrigger

    inbox = tmp_path / "inbox" / "eppgbm"
    inbox.mkdir(parents=True)
    (inbox / "eppgbm_3374_2025-01.xlsx").write_bytes(b"already here before the watcher started")
    trigger = InboxArrivalTrigger(directory=str(inbox), patterns=["eppgbm*.xlsx"], poke_interval=0.05)

    async def first_event():
        events = trigger.run()
        waiting = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.2)
        (inbox / "notes.txt").write_text("not a source file")
        (inbox / "eppgbm_3374_2025-02.xlsx").write_bytes(b"new")
        return await asyncio.wait_for(waiting, timeout=10)

    event = asyncio.run(first_event())
    assert event.payload["files"] == ["eppgbm_3374_2025-02.xlsx"]
    # serialisable for the triggerer, with everything it needs to watch the same folder
    classpath, kwargs = trigger.serialize()
    assert classpath == "gudang.inbox_trigger.InboxArrivalTrigger" and kwargs["directory"] == str(inbox)


def test_a_run_collects_cyclic_garbage_less_often_and_gives_the_thresholds_back(monkeypatch):
    """`gudang run` raises the collector's thresholds for its duration (see pipeline.RUN_GC_THRESHOLDS),
    including when the run fails, and the caller's come back afterwards; what its DAG runs froze is
    collectable again, unless the caller had frozen its heap itself."""
    import gc

    seen = []

    def fake_run(settings):
        seen.append(gc.get_threshold())
        gc.freeze()  # as _run_dag does before the transform DAG run
        assert gc.get_freeze_count() > 0
        if len(seen) == 2:
            raise RuntimeError("a task failed")
        return 0

    monkeypatch.setattr(pipeline, "_run_all", fake_run)
    before = gc.get_threshold()
    assert before != pipeline.RUN_GC_THRESHOLDS
    assert pipeline.run_all() == 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError):
        pipeline.run_all()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    assert seen == [pipeline.RUN_GC_THRESHOLDS] * 2
    # a caller that froze its own heap (as Airflow's LocalExecutor does before forking) keeps it frozen
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        seen.clear()
        assert pipeline.run_all() == 0
        assert frozen and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
