"""Data Docs render only what is new: earlier runs' pages stay as they are and the index still lists them."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from expectations.data_docs import build_data_docs, data_docs_dir, record_validation
from expectations.suites import load_suite
from gudang.settings import Settings

SUITE = "bps_poverty"


@cache
def _validation():
    """A real GX result: a tiny frame validated against a repo suite in an in-memory context."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("tiny")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("all")
    )
    frame = pd.DataFrame(
        {
            "region_name": ["Kota Salatiga", "Kab. Semarang"],
            "indicator": ["p0_pct", "p1"],
            "year": [2024, 2024],
            "value": [4.8, 0.6],
            "region_code": ["33.73", "33.74"],
        }
    )
    return batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
        load_suite(SUITE),
        result_format={"result_format": "COMPLETE"},
        expectation_parameters={"region_codes": ["33.73", "33.74"], "volume_min": 1, "volume_max": 10},
    )


def _page(settings: Settings, key) -> Path:
    """Where the site keeps the page of one stored result."""
    suite, run_name, run_time, batch = key.to_tuple()
    return data_docs_dir(settings) / "validations" / suite / run_name / run_time / f"{batch}.html"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("GUDANG_HOME", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_CTX_DAG_RUN_ID", raising=False)
    return Settings(home=tmp_path)


def test_a_run_renders_its_own_results_and_keeps_earlier_pages(settings, monkeypatch):
    monkeypatch.setenv("GUDANG_RUN_ID", "run-a")
    key_a = record_validation(settings, _validation(), suite_name=SUITE, batch_name="bps_poverty__33__2024")
    index = build_data_docs(settings)  # run name from the environment
    page_a = _page(settings, key_a)
    assert page_a.exists()
    # an old mtime, so a rewrite shows even on a file system with coarse timestamps
    os.utime(page_a, ns=(1_000_000_000, 1_000_000_000))
    before = (page_a.stat().st_mtime_ns, _digest(page_a))

    key_b = record_validation(
        settings, _validation(), suite_name=SUITE, batch_name="bps_poverty__33__2025", run_name="run-b"
    )
    assert build_data_docs(settings, run_name="run-b") == index

    assert (page_a.stat().st_mtime_ns, _digest(page_a)) == before, "run B must not re-render run A's page"
    page_b = _page(settings, key_b)
    assert page_b.exists()
    assert "region_code" in page_b.read_text()  # a rendered result, not an empty shell
    html = index.read_text()
    for page in (page_a, page_b):
        assert page.relative_to(data_docs_dir(settings)).as_posix() in html, f"index lacks {page.name}"
    assert (data_docs_dir(settings) / "expectations" / f"{SUITE}.html").exists()
    assert len(list((data_docs_dir(settings) / "validations").rglob("*.html"))) == 2


def test_results_kept_under_another_run_name_are_rendered_once(settings):
    """Under Airflow the file gate runs in the ingest DAG runs, the Data Docs task in the transform run."""
    ingest_key = record_validation(
        settings, _validation(), suite_name=SUITE, batch_name="from_ingest", run_name="ingest-run"
    )
    index = build_data_docs(settings, run_name="transform-run")
    page = _page(settings, ingest_key)
    assert page.exists()
    assert page.relative_to(data_docs_dir(settings)).as_posix() in index.read_text()

    os.utime(page, ns=(1_000_000_000, 1_000_000_000))
    build_data_docs(settings, run_name="next-transform-run")
    assert page.stat().st_mtime_ns == 1_000_000_000, "a page already rendered is not rendered again"


def test_suite_pages_are_rendered_again_only_when_the_suites_change(settings):
    record_validation(settings, _validation(), suite_name=SUITE, batch_name="first", run_name="run-1")
    index = build_data_docs(settings, run_name="run-1")
    suite_page = data_docs_dir(settings) / "expectations" / f"{SUITE}.html"
    os.utime(suite_page, ns=(1_000_000_000, 1_000_000_000))

    key = record_validation(settings, _validation(), suite_name=SUITE, batch_name="second", run_name="run-2")
    build_data_docs(settings, run_name="run-2")
    assert suite_page.stat().st_mtime_ns == 1_000_000_000, "unchanged suites are not rendered again"
    html = index.read_text()
    assert _page(settings, key).relative_to(data_docs_dir(settings)).as_posix() in html
    assert f"expectations/{SUITE}.html" in html, "the index still lists the suites"

    # a suite edited since the pages were rendered (the site keeps the fingerprint it rendered)
    (data_docs_dir(settings) / ".suites_rendered").write_text("an older suite set")
    build_data_docs(settings, run_name="run-3")
    assert suite_page.stat().st_mtime_ns != 1_000_000_000, "changed suites are rendered again"
    assert SUITE in suite_page.read_text()
