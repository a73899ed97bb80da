"""The benchmark's smoke variant runs end to end and emits every figure (timings are not asserted).

It runs the real thing at a tiny scale: sample generation, the parse baselines, the full pipeline through
Airflow in a child interpreter, the incremental run, the JSON report. Keeping it in ``make test`` means
``make bench`` cannot silently rot when the pipeline changes.
"""

from __future__ import annotations

import json
import math
import os

import pytest

from bench import run
from bench.figures import FIGURES, TARGETS


@pytest.mark.slow
def test_smoke_benchmark_emits_every_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("GUDANG_HOME", str(tmp_path / "home"))
    exit_code = run.main(["--scale", "smoke", "--home", str(tmp_path / "bench")])

    reports = tmp_path / "home" / "reports" / "bench"
    latest = json.loads((reports / "latest.json").read_text())
    assert len(list(reports.glob("bench_smoke_*.json"))) == 1
    assert exit_code == 0, latest["measured"]["full"].get("log")

    figures = latest["figures"]
    assert set(figures) == set(FIGURES)
    for name, figure in figures.items():
        assert isinstance(figure["value"], int | float) and math.isfinite(figure["value"]), name
        assert figure["value"] >= 0, name
        if name in TARGETS:
            assert figure["target"] and isinstance(figure["pass"], bool), name

    # the runs really happened: files were ingested through Airflow, dbt built, the held-back file came in
    full = latest["breakdown"]["full"]
    assert full["ingest_by_source_format"]["eppgbm xlsx"]["rows_read"] > 0
    assert {d["state"] for d in full["dag_runs"]} == {"success"}
    incremental = latest["breakdown"]["incremental"]
    assert [d["dag_id"] for d in incremental["dag_runs"]] == ["ingest_eppgbm", "gudang_transform"]
    # each incremental run added its own new monthly file, and the figure is one of theirs (the median)
    repeats = latest["measured"]["incremental_runs"]
    assert len(repeats) == run.INCREMENTAL_RUNS["smoke"] == 2
    assert len({r["added_file"] for r in repeats}) == 2
    assert latest["bench"]["incremental_files"] == [r["added_file"] for r in repeats]
    assert all(r["exit_code"] == 0 for r in repeats)
    assert figures["incremental_s"]["value"] in [r["e2e_s"] for r in repeats]
    # the process tree's CPU time was sampled (at least the parent's, which does the run's work)
    assert full["cpu"]["cpu_s"] > 0 and 0 < full["cpu"]["cores_busy"] <= os.cpu_count() + 0.5
    assert latest["measured"]["baselines"]["openpyxl"]["rows"] > 0
    # the parse baseline brackets the full run, and the xlsx ratio compares with the pair's mean
    before, after = (latest["measured"]["baselines"][k] for k in ("fastexcel", "fastexcel_after"))
    assert before["rows"] == after["rows"] > 0
    mean = (before["rows_per_s"] + after["rows_per_s"]) / 2
    assert figures["fastexcel_parse_rows_per_s"]["value"] == pytest.approx(mean)
    extract = figures["xlsx_extract_rows_per_s"]["value"]
    assert figures["xlsx_extract_vs_fastexcel"]["value"] == pytest.approx(extract / mean)


def test_the_incremental_figure_is_the_median_run():
    from bench.figures import median_run

    runs = [{"e2e_s": 21.0}, {"e2e_s": 19.0}, {"e2e_s": 20.0}]
    assert median_run(runs) is runs[2]
    assert median_run(runs[:2])["e2e_s"] == 19.0  # an even count: the lower middle
    assert median_run([{"e2e_s": None}, {"e2e_s": 30.0}])["e2e_s"] == 30.0  # a run without a time ranks last


def test_cached_samples_are_reused(tmp_path):
    """A second run with the same seed and generator does not generate again (generation is not timed)."""
    from bench.samples import ensure_samples

    first, generated_first = ensure_samples(tmp_path, "smoke", 7)
    again, generated_again = ensure_samples(tmp_path, "smoke", 7)
    assert generated_first and not generated_again
    assert first.root == again.root
    other_seed, _ = ensure_samples(tmp_path, "smoke", 8)
    assert other_seed.root != first.root


def test_killed_run_keeps_its_timings(tmp_path):
    """A run the benchmark has to kill leaves every completed record in its journal (written as it goes)."""
    import time
    import types

    from bench.child import Recorder, read_journal

    timings = tmp_path / "timings_full.json"
    recorder = Recorder(journal_path := timings.with_suffix(".jsonl"))
    steps = types.SimpleNamespace(
        ingest_one=lambda path: {"status": "loaded", "rows_read": 7}, dbt_build=lambda: None
    )
    recorder.wrap(steps, "ingest_one", "work", "ingest", lambda a, k, r: {"rows_read": r["rows_read"]})
    recorder.wrap(steps, "dbt_build", "work", "dbt_build")
    recorder.note(event="run_all started", wall_clock=time.time() - 5)
    steps.ingest_one("a.xlsx")
    steps.dbt_build()
    del recorder  # the process dies here: no summary is written, only the journal exists

    assert journal_path.exists() and not timings.exists()
    recovered = read_journal(timings, stopped_at=time.time())
    assert [r["label"] for r in recovered["records"]] == ["ingest", "dbt_build"]
    assert recovered["records"][0]["rows_read"] == 7
    assert 5 <= recovered["e2e_s"] < 60
