"""An ingest DAG run announces its raw table (one Asset event) when a file was loaded or quarantined, so
the transform runs and the digest reaches the agency; a run with only a duplicate announces nothing.

Real Airflow (``dag.test`` on SQLite, configured by ``gudang.airflow_setup``) in a child process, as
``gudang run`` runs it; the checks read the Airflow metadata database. The runs go through the in-process
execution API built for the task SDK's one version (``airflow_setup.serve_own_api_version_in_process``),
or through Airflow's own when the SDK speaks an older one.
"""

from __future__ import annotations

import json
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
import json
import sys
from pathlib import Path
from gudang.airflow_setup import ensure_airflow
from gudang.settings import get_settings
from extract.registry import get_source
from gudang import pipeline

settings = get_settings()
settings.ensure_dirs()
ensure_airflow(settings)
import airflow.sdk.api.datamodels._generated as sdk_models
from airflow.api_fastapi.execution_api.versions import bundle
from airflow.sdk.execution_time.supervisor import in_process_api_server
if sys.argv[2:] == ["older_sdk"]:  # a task SDK that speaks an older execution API version than the newest
    sdk_models.API_VERSION = bundle.versions[1].value
if sys.argv[2:] == ["failing_build"]:  # the one-version build fails at its first request, and only then
    from cadwyn.applications import Cadwyn
    initialize = Cadwyn._cadwyn_initialize
    def fail_once(app):
        Cadwyn._cadwyn_initialize = initialize
        raise RuntimeError("simulated")
    Cadwyn._cadwyn_initialize = fail_once
outcome = pipeline._run_dag(pipeline.ingest_dag_id(sys.argv[1]), {}, settings.home / "dag.log")
print(json.dumps({
    "state": outcome.state,
    "sdk": sdk_models.API_VERSION,
    "server": [version.value for version in bundle.versions],
    "served": [version.value for version in in_process_api_server().app.versions],
}))
"""


def _ingest(home: Path, *, case: str | None = None) -> dict:
    """The ingest DAG run's state; the execution API versions the SDK speaks, the server knows, and the
    in-process server served. ``case``: ``older_sdk`` (the SDK speaks the version before the server's
    newest) or ``failing_build`` (the one-version API fails at its first request)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["GUDANG_HOME"] = str(home)
    command = [sys.executable, "-c", RUN_ONE_INGEST, SOURCE, *([case] if case else [])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    run = _ingest(home)
    assert run["state"] == "success"
    # the in-process API served the one version the SDK speaks, of the several the server knows
    assert run["served"] == [run["sdk"]] == run["server"][:1] and len(run["server"]) > 1
    assert _events_and_states(home) == (1, ["success"])

    # 2. a good file: loaded, announced
    shutil.copy(good, inbox / good.name)
    assert _ingest(home)["state"] == "success"
    assert _events_and_states(home) == (2, ["success", "success"])
    # the announcement reads the mapped tasks' summaries without probing past their end (an error line)
    assert "XCom not found" not in (home / "dag.log").read_text()

    # 3. the same content again: a duplicate, nothing to announce
    shutil.copy(good, inbox / good.name.replace(".xlsx", "_kirim_ulang.xlsx"))
    assert _ingest(home)["state"] == "success"
    assert _events_and_states(home) == (2, ["success", "success", "skipped"])


@pytest.mark.parametrize("case", ["older_sdk", "failing_build"])
def test_airflows_own_in_process_api_serves_an_older_sdk_and_stands_in_for_a_failed_build(tmp_path, case):
    """The one-version API is only for a task SDK that speaks the server's newest version, and a build of it
    that fails gives way to Airflow's own: either way every version is served, and the run loads and
    announces as usual."""
    from gudang.sample import generate

    generate(out=tmp_path / "generated", seed=5, size=0.05)
    home = tmp_path / "home"
    (home / "inbox" / SOURCE).mkdir(parents=True)
    shutil.copy(sorted((tmp_path / "generated").rglob(f"{SOURCE}_*.xlsx"))[0], home / "inbox" / SOURCE)
    run = _ingest(home, case=case)
    assert run["state"] == "success"
    assert run["served"] == run["server"]
    assert run["sdk"] == run["server"][1 if case == "older_sdk" else 0]
    assert _events_and_states(home) == (1, ["success"])
