"""A dbt build after new data rebuilds only what the changed raw tables feed, into the same marts a full
build makes; a changed project or ``GUDANG_DBT_FULL_BUILD=1`` rebuilds everything."""

from __future__ import annotations

import duckdb
import pytest
from badinput.cases import write_eppgbm
from badinput.runs import content_hashes, dbt_scratch_args

from gudang import dbt_state
from gudang.settings import Settings

pytest.importorskip("gudang.sample", reason="waiting for gudang.sample (the sample generator)")

NEW_PERIOD = "2026-10"


def _build(settings: Settings) -> dict:
    from gudang import pipeline

    return pipeline.dbt_build(settings, *dbt_scratch_args(settings))


def _models(result: dict) -> set[str]:
    return {
        n["node"].removeprefix("model.gudang.") for n in result["nodes"] if n["node"].startswith("model.")
    }


def _marts(settings: Settings) -> dict[str, str]:
    return content_hashes(settings.warehouse, "marts")


def test_one_new_file_rebuilds_only_its_lineage_into_the_marts_a_full_build_makes(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from extract.ingest import ingest_inbox

    write_eppgbm(home.inbox / "eppgbm", NEW_PERIOD)
    [loaded] = ingest_inbox(home, run_id="one-more-month")
    assert loaded.status.startswith("loaded") and loaded.rows_loaded > 0

    before = _marts(home)
    incremental = _build(home)
    assert incremental["selection"] == ["source:raw.eppgbm_measurement+", *dbt_state.ALWAYS_SELECTED]
    models = _models(incremental)
    assert {
        "stg_eppgbm__measurement",
        "fct_child_measurement",
        "mart_stunting",
        "mart_data_quality",
    } <= models
    assert not models & {"mart_investment", "mart_poverty_registry", "mart_spm_service", "dim_region"}
    after = _marts(home)
    assert after["mart_stunting"] != before["mart_stunting"], "the new month must reach the stunting mart"
    assert after["mart_investment"] == before["mart_investment"]

    monkeypatch.setenv(dbt_state.FULL_BUILD_VARIABLE, "1")
    full = _build(home)
    assert full["selection"] is None
    assert _models(full) > models
    assert _marts(home) == after, "the selective build must leave exactly the marts a full build makes"


def test_nothing_new_rebuilds_only_the_run_records_and_a_changed_project_everything(home: Settings) -> None:
    assert _build(home)["selection"] == list(dbt_state.ALWAYS_SELECTED)

    with duckdb.connect(str(home.warehouse)) as conn:
        signatures = dbt_state.raw_signatures(conn, ["eppgbm_measurement"])
        assert dbt_state.build_selection(conn, "a-changed-project", signatures) is None
        conn.execute("DELETE FROM raw.eppgbm_measurement WHERE _source_row % 2 = 0")  # a hand-made purge
        moved = dbt_state.raw_signatures(conn, ["eppgbm_measurement", "lkpm_report"])
        last_inputs = conn.execute(
            "SELECT inputs_sha256 FROM ops.dbt_builds ORDER BY built_at DESC LIMIT 1"
        ).fetchone()[0]
        assert dbt_state.build_selection(conn, last_inputs, moved) == [
            "source:raw.eppgbm_measurement+",
            *dbt_state.ALWAYS_SELECTED,
        ]
