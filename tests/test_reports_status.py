"""`gudang status` on a fixture home: runs, late submissions, report locations; never waits on a locked warehouse."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_reports_fixture import build_published_marts
from typer.testing import CliRunner

from gudang.cli import app
from gudang.settings import Settings
from gudang.warehouse import connect


def _invoke(home: Path):
    # Wide terminal so rich does not wrap table cells in the assertions below.
    return CliRunner().invoke(app, ["status"], env={"GUDANG_HOME": str(home), "COLUMNS": "250"})


@pytest.fixture
def home(tmp_path: Path) -> Path:
    settings = Settings(home=tmp_path / "home")
    with connect(settings) as conn:
        conn.executemany(
            "INSERT INTO ops.pipeline_runs VALUES (?, ?, ?, ?, ?)",
            [
                ("run-001", dt.datetime(2026, 10, 1, 7), dt.datetime(2026, 10, 1, 7, 20), "published", None),
                (
                    "run-002",
                    dt.datetime(2026, 10, 12, 7),
                    dt.datetime(2026, 10, 12, 7, 9),
                    "blocked",
                    "gate gagal",
                ),
            ],
        )
        conn.executemany(
            "INSERT INTO ops.submission_status VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                # Late on the first check, then it arrived: the latest verdict (on_time... late) wins.
                ("run-001", dt.date(2026, 10, 1), "spm_sosial", "Dinas Sosial", "33.74", "2026-Q3",
                 dt.date(2026, 10, 20), None, "not_due"),
                ("run-002", dt.date(2026, 10, 12), "eppgbm", "Dinas Kesehatan", "33.74", "2026-09",
                 dt.date(2026, 10, 10), None, "missing"),
                ("run-001", dt.date(2026, 10, 1), "lkpm", "DPMPTSP", "33.74", "2026-Q2",
                 dt.date(2026, 7, 10), None, "missing"),
                ("run-002", dt.date(2026, 10, 12), "lkpm", "DPMPTSP", "33.74", "2026-Q2",
                 dt.date(2026, 7, 10), dt.datetime(2026, 10, 11), "late"),
                ("run-002", dt.date(2026, 10, 12), "dtsen", "Dinas Sosial", "33.74", "2026-Q3",
                 dt.date(2026, 10, 20), dt.datetime(2026, 10, 2), "on_time"),
            ],
        )  # fmt: skip
    build_published_marts(settings.published)
    (settings.reports).mkdir(parents=True, exist_ok=True)
    (settings.reports / "brief.html").write_text("<html></html>")
    return settings.home


def test_status_shows_runs_late_submissions_and_report_locations(home: Path) -> None:
    result = _invoke(home)
    out = result.output
    assert "run-002" in out and "run-001" in out and "blocked" in out and "gate gagal" in out
    assert "eppgbm" in out and "belum dikirim" in out
    assert "lkpm" in out and "terlambat" in out  # the latest verdict for lkpm 2026-Q2
    assert "dtsen" not in out and "spm_sosial" not in out  # on time / not due: not listed
    assert str(home / "reports" / "brief.html") in out
    assert str(home / "marts.duckdb") in out
    assert "run-fixture" in out  # the publication record of marts.duckdb
    assert result.exit_code == 1  # the last run was blocked and submissions are late


def test_status_falls_back_to_published_marts_when_a_pipeline_holds_the_lock(home: Path) -> None:
    # A real second process holding DuckDB's writer lock, exactly like a running pipeline.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(60)",
            str(home / "warehouse.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        result = _invoke(home)
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    out = result.output
    assert elapsed < 10, "status must not wait for the pipeline"
    assert "terkunci" in out and "marts.duckdb" in out
    assert "run-002" not in out  # runs live only in the locked warehouse
    assert "lkpm" in out and "belum dikirim" in out  # late/missing from the published mart_data_quality
    assert "run-fixture" in out


def test_status_on_a_fresh_home_says_nothing_ran_yet(tmp_path: Path) -> None:
    result = _invoke(tmp_path / "fresh")
    assert result.exit_code == 0
    assert "belum pernah jalan" in result.output
    assert "belum ada" in result.output
