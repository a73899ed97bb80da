"""Two runs of a warehouse-writing DAG at once, under the real scheduler: both succeed, no lock error.

``dag.test()`` / ``airflow dags test`` run one task at a time, so they cannot show what DuckDB's single
writer does to parallel tasks. This test starts the real components (api-server on 127.0.0.1, scheduler
with LocalExecutor, dag-processor; SQLite metadata) in a temporary AIRFLOW_HOME, triggers the ingest DAG of
one source twice at the same moment with files waiting, and checks from the metadata DB and the task logs
that: both runs succeeded, every file was loaded exactly once, the writer tasks never overlapped in time
(the 1-slot pool at work), and no task log mentions DuckDB's "Could not set lock".
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from local_servers import free_port

from gudang.airflow_setup import ensure_airflow
from gudang.settings import DAGS_DIR, WRITER_POOL, Settings

pytestmark = pytest.mark.slow

SOURCE = "spm_kesehatan"
DAG_ID = f"ingest_{SOURCE}"
#: the test's own two runs (a cron tick during the test would add a scheduled run; it is harmless)
MANUAL_RUNS = "SELECT {columns} FROM dag_run WHERE dag_id = ? AND run_id LIKE 'manual__%' ORDER BY run_id"
AIRFLOW = str(Path(sys.executable).parent / "airflow")


def _query(db: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(sql, params).fetchall()


def _wait_for(what: str, condition, timeout_s: float, processes: dict[str, subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, process in processes.items():
            assert process.poll() is None, f"{name} exited early with {process.returncode}"
        try:
            if condition():
                return
        except sqlite3.OperationalError:
            pass  # table not created yet, or the scheduler is mid-write
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@pytest.fixture
def home_with_files(tmp_path: Path) -> Settings:
    from gudang.sample import generate

    settings = Settings(home=tmp_path / "home")
    generated = tmp_path / "generated"
    generate(out=generated, seed=7, size=0.05)
    inbox = settings.inbox / SOURCE
    inbox.mkdir(parents=True)
    # Three files: enough for two runs to race over, few enough to stay quick on a small machine.
    files = sorted(generated.rglob(f"{SOURCE}_*"))[:3]
    assert len(files) == 3, "the sample should hold several files of the source"
    for file in files:
        shutil.copy(file, inbox / file.name)
    return settings


def test_two_simultaneous_runs_share_the_warehouse_without_lock_errors(home_with_files, tmp_path):
    settings = home_with_files
    # Only the ingest DAG file: the test is about the writer pool, not about parsing the dbt project.
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAGS_DIR / "gudang_ingest.py", dags / "gudang_ingest.py")

    port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        for key in [
            k for k in os.environ if k == "AIRFLOW_HOME" or k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))
        ]:
            patch.delenv(key)
        patch.setenv("GUDANG_HOME", str(settings.home))
        base_env = ensure_airflow(settings, export=False)
    env = {
        **os.environ,
        **base_env,
        "GUDANG_HOME": str(settings.home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    metadata = Path(base_env["AIRFLOW_HOME"]) / "airflow.db"
    logs = tmp_path / "process-logs"
    logs.mkdir()
    commands = {
        "api-server": [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        "scheduler": [AIRFLOW, "scheduler"],
        "dag-processor": [AIRFLOW, "dag-processor"],
    }
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, command in commands.items():
            processes[name] = subprocess.Popen(
                command,
                env=env,
                stdout=(logs / f"{name}.log").open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so its workers are stopped with it
            )
        _wait_for(
            f"{DAG_ID} to be parsed",
            lambda: _query(metadata, "SELECT 1 FROM serialized_dag WHERE dag_id = ?", DAG_ID),
            120,
            processes,
        )
        # Both triggers at the same moment: two runs racing for the same waiting files.
        triggers = [
            subprocess.Popen([AIRFLOW, "dags", "trigger", DAG_ID], env=env, stdout=subprocess.DEVNULL)
            for _ in range(2)
        ]
        assert all(t.wait(timeout=120) == 0 for t in triggers)
        _wait_for(
            "both runs to finish",
            lambda: (
                [
                    state
                    for (state,) in _query(metadata, MANUAL_RUNS.format(columns="state"), DAG_ID)
                    if state in ("success", "failed")
                ].__len__()
                == 2
            ),
            240,
            processes,
        )
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    runs = _query(metadata, MANUAL_RUNS.format(columns="run_id, state"), DAG_ID)
    assert [state for _, state in runs] == ["success", "success"], runs

    writers = _query(
        metadata,
        """SELECT run_id, map_index, state, pool, start_date, end_date FROM task_instance
           WHERE dag_id = ? AND task_id = 'ingest_files' AND run_id LIKE 'manual__%' ORDER BY start_date""",
        DAG_ID,
    )
    files = len(list((settings.archive).rglob(f"{SOURCE}_*")))
    assert len({run_id for run_id, *_ in writers}) == 2
    assert all(pool == WRITER_POOL for *_, pool, _, _ in writers)
    ran = [w for w in writers if w[2] == "success"]
    assert ran, "a run loaded the files"
    assert {w[2] for w in writers} <= {"success", "skipped"}, "the run that found the files taken skipped"
    for earlier, later in zip(ran, ran[1:], strict=False):
        assert earlier[5] <= later[4], f"writer tasks overlapped: {earlier} and {later}"

    task_logs = list((Path(base_env["AIRFLOW_HOME"]) / "logs").rglob("*.log"))
    assert task_logs, "the task logs should be on disk"
    for log_file in task_logs:
        assert "Could not set lock" not in log_file.read_text(errors="replace"), log_file

    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        statuses = conn.execute(
            "SELECT status, count(*) FROM ops.ingest_log WHERE source = ? GROUP BY ALL", [SOURCE]
        ).fetchall()
    assert dict(statuses).get("quarantined", 0) == 0, statuses
    assert sum(n for status, n in statuses if status.startswith("loaded")) == files
