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
    # unit tests are CI's (tests/test_dbt_marts.py): a production build runs the data tests only
    assert not [n for n in full["nodes"] if n["node"].startswith("unit_test.")]
    assert [n for n in full["nodes"] if n["node"].startswith("test.")]
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


def _fact(settings: Settings) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        return conn.execute(
            "SELECT * EXCLUDE (_loaded_at) FROM marts.fct_child_measurement ORDER BY measurement_key"
        ).fetchall()


def test_the_incremental_fact_follows_new_files_revisions_and_purges_exactly_like_a_full_build(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from badinput.workbooks import eppgbm_rows

    from extract.ingest import ingest_inbox

    write_eppgbm(home.inbox / "eppgbm", NEW_PERIOD)
    [first] = ingest_inbox(home, run_id="october")
    _build(home)
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM marts.fct_child_measurement WHERE _batch_id = ?", [first.batch_id]
            ).fetchone()[0]
            == first.rows_loaded
        )

    # the agency re-sends October with other children: the new revision replaces the first one
    write_eppgbm(home.inbox / "eppgbm", NEW_PERIOD, rows=eppgbm_rows(NEW_PERIOD, count=7, seed=1))
    [revision] = ingest_inbox(home, run_id="october-again")
    assert revision.status.startswith("loaded") and revision.batch_id != first.batch_id
    # and rows of an older month are purged from raw by hand
    with duckdb.connect(str(home.warehouse)) as conn:
        older = conn.execute(
            "SELECT _batch_id FROM raw.eppgbm_measurement WHERE _period < ? ORDER BY _period LIMIT 1",
            [NEW_PERIOD],
        ).fetchone()[0]
        purged = conn.execute(
            "DELETE FROM raw.eppgbm_measurement WHERE _batch_id = ? AND _source_row % 2 = 0", [older]
        ).fetchone()[0]
    assert purged > 0

    incremental = _build(home)
    assert "fct_child_measurement" in _models(incremental) and incremental["selection"] is not None
    after_incremental = _fact(home)
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        batches = {
            b
            for (b,) in conn.execute("SELECT DISTINCT _batch_id FROM marts.fct_child_measurement").fetchall()
        }
    assert revision.batch_id in batches and first.batch_id not in batches

    monkeypatch.setenv(dbt_state.FULL_BUILD_VARIABLE, "1")
    _build(home)
    assert _fact(home) == after_incremental, (
        "the incremental fact must hold exactly the rows a full build makes"
    )


def test_the_incremental_fact_is_recomputed_when_the_project_changed(home: Settings) -> None:
    def recorded() -> tuple[str, int]:
        with duckdb.connect(str(home.warehouse), read_only=True) as conn:
            inputs = conn.execute(
                "SELECT inputs_sha256 FROM ops.dbt_incremental_inputs WHERE model = 'fct_child_measurement'"
            ).fetchone()[0]
            return inputs, conn.execute("SELECT count(*) FROM marts.fct_child_measurement").fetchone()[0]

    project = _project()
    _build(home)
    inputs, rows = recorded()
    assert inputs == dbt_state.dbt_inputs_hash(project)
    with duckdb.connect(str(home.warehouse)) as conn:  # rows computed by an older version of the model
        conn.execute("UPDATE marts.fct_child_measurement SET haz = 99")
        conn.execute("UPDATE ops.dbt_incremental_inputs SET inputs_sha256 = 'an-older-project'")
        # new data, so that the fact is in the (selective) build
        conn.execute("DELETE FROM raw.eppgbm_measurement WHERE _source_row = 2")
    _build(home)
    inputs, _ = recorded()
    assert inputs == dbt_state.dbt_inputs_hash(project)
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        assert (
            conn.execute("SELECT count(*) FROM marts.fct_child_measurement WHERE haz = 99").fetchone()[0] == 0
        )
        assert 0 < conn.execute("SELECT count(*) FROM marts.fct_child_measurement").fetchone()[0] < rows


def _project():
    from gudang import pipeline

    return pipeline.dbt_project_dir()
