"""The benchmark's smoke variant runs end to end and emits every figure (timings are not asserted).

It runs the real thing at a tiny scale: sample generation, the parse baselines, the full pipeline through
Airflow in a child interpreter, the incremental run, the JSON report. Keeping it in ``make test`` means
``make bench`` cannot silently rot when the pipeline changes.
"""

from __future__ import annotations

import json
import math

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
    assert latest["measured"]["baselines"]["openpyxl"]["rows"] > 0


def test_cached_samples_are_reused(tmp_path):
    """A second run with the same seed and generator does not generate again (generation is not timed)."""
    from bench.samples import ensure_samples

    first, generated_first = ensure_samples(tmp_path, "smoke", 7)
    again, generated_again = ensure_samples(tmp_path, "smoke", 7)
    assert generated_first and not generated_again
    assert first.root == again.root
    other_seed, _ = ensure_samples(tmp_path, "smoke", 8)
    assert other_seed.root != first.root
