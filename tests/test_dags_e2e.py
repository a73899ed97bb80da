"""End to end through the real DAGs: a small sample in the inbox, ``gudang run``, marts out.

``gudang run`` runs in a child process exactly as a user runs it (Airflow configured by
``gudang.airflow_setup`` under the data home, SQLite metadata, ``dag.test()`` of each ingest DAG and the
transform DAG). The checks read what the run left behind: the Airflow metadata, the warehouse, the
published marts and the digest.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from extract.registry import load_registry
from gudang import pipeline

pytestmark = pytest.mark.slow


def test_gudang_run_takes_a_small_sample_through_the_dags_to_published_marts(tmp_path):
    from gudang.sample import generate

    home = tmp_path / "home"
    generated = tmp_path / "generated"
    generate(out=generated, seed=11, size=0.05)
    (home / "inbox").mkdir(parents=True)
    # The first file of every source, dropped in the inbox root as an agency would (discover routes it).
    copied: dict[str, str] = {}
    for source, spec in load_registry().items():
        candidates = sorted(
            p
            for pattern in spec.file_patterns
            for p in generated.rglob(pattern)
            if p.name not in copied.values()
        )
        assert candidates, f"the sample has no file for {source}"
        shutil.copy(candidates[0], home / "inbox" / candidates[0].name)
        copied[source] = candidates[0].name

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["GUDANG_HOME"] = str(home)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "gudang"), "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=880,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "marts dibangun" in done.stdout

    # Every DAG ran through Airflow and succeeded.
    with sqlite3.connect(home / "airflow" / "airflow.db") as meta:
        runs = dict(meta.execute("SELECT dag_id, state FROM dag_run").fetchall())
    expected_dags = {pipeline.ingest_dag_id(s) for s in load_registry()} | {pipeline.TRANSFORM_DAG_ID}
    assert runs == dict.fromkeys(expected_dags, "success")

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        log = conn.execute(
            "SELECT source, original_name, status, rows_read, rows_loaded, rows_rejected FROM ops.ingest_log"
        ).fetchall()
        assert {(source, name) for source, name, *_ in log} == set(copied.items())
        for _source, name, status, read, loaded, rejected in log:
            assert status != "duplicate", name
            if status != "quarantined":
                assert loaded + rejected == read, name
        for spec in load_registry().values():
            lineage = conn.execute(
                f"SELECT count(*), count(DISTINCT _batch_id), min(_source_row) FROM {spec.raw_table}"
            ).fetchone()
            assert lineage[0] > 0 and lineage[1] >= 1 and lineage[2] >= 1, spec.raw_table
        marts = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchone()[0]
        assert marts >= 5
        run_status = conn.execute(
            "SELECT status FROM ops.pipeline_runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
    assert run_status[0] in ("published", "blocked")
    with duckdb.connect(str(home / "marts.duckdb"), read_only=True) as published:
        assert published.execute("SELECT count(*) FROM information_schema.tables").fetchone()[0] >= 1
    assert any((home / "reports").rglob("*digest*")), "the digest is written even with no SMTP configured"
