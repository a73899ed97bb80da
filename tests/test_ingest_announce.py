"""An ingest DAG run announces its raw table (one Asset event) when a file was loaded or quarantined, so
the transform runs and the digest reaches the agency; a run with only a duplicate announces nothing.

Real Airflow (``dag.test`` on SQLite, configured by ``gudang.airflow_setup``) in a child process, as
``gudang run`` runs it; the checks read the Airflow metadata database.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from extract.registry import get_source
from gudang import pipeline

pytestmark = pytest.mark.slow

SOURCE = "spm_kesehatan"
RUN_ONE_INGEST = """
import sys
from pathlib import Path
from gudang.airflow_setup import ensure_airflow
from gudang.settings import get_settings
from extract.registry import get_source
from gudang import pipeline

settings = get_settings()
settings.ensure_dirs()
ensure_airflow(settings)
outcome = pipeline._run_dag(pipeline.ingest_dag_id(sys.argv[1]), {}, settings.home / "dag.log")
print(outcome.state)
"""


def _ingest(home: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["GUDANG_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-c", RUN_ONE_INGEST, SOURCE], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _events_and_states(home: Path) -> tuple[int, list[str]]:
    uri = pipeline.raw_asset_uri(get_source(SOURCE).target_table)
    with sqlite3.connect(home / "airflow" / "airflow.db") as meta:
        (events,) = meta.execute(
            "SELECT count(*) FROM asset_event JOIN asset ON asset.id = asset_event.asset_id WHERE asset.uri = ?",
            [uri],
        ).fetchone()
        states = [
            state
            for (state,) in meta.execute(
                "SELECT state FROM task_instance WHERE task_id = 'announce_table_change' ORDER BY start_date"
            )
        ]
    return events, states


def test_quarantined_file_is_announced_and_a_duplicate_is_not(tmp_path):
    from gudang.sample import generate

    generated = tmp_path / "generated"
    generate(out=generated, seed=5, size=0.05)
    good = sorted(generated.rglob(f"{SOURCE}_*.xlsx"))[0]
    home = tmp_path / "home"
    inbox = home / "inbox" / SOURCE
    inbox.mkdir(parents=True)

    # 1. a file that cannot be read: quarantined, and the run still announces (the digest must go out)
    (inbox / good.name.replace(".xlsx", "_rusak.xlsx")).write_bytes(b"bukan file excel")
    assert _ingest(home) == "success"
    assert _events_and_states(home) == (1, ["success"])

    # 2. a good file: loaded, announced
    shutil.copy(good, inbox / good.name)
    assert _ingest(home) == "success"
    assert _events_and_states(home) == (2, ["success", "success"])
    # the announcement reads the mapped tasks' summaries without probing past their end (an error line)
    assert "XCom not found" not in (home / "dag.log").read_text()

    # 3. the same content again: a duplicate, nothing to announce
    shutil.copy(good, inbox / good.name.replace(".xlsx", "_kirim_ulang.xlsx"))
    assert _ingest(home) == "success"
    assert _events_and_states(home) == (2, ["success", "success", "skipped"])
