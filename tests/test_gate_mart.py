"""The mart gate on a real DuckDB warehouse shaped like dbt's marts: a consistent build passes, each kind of
broken build is caught with the right severity, and every outcome lands in ops.check_results."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest
from _fixture_marts import build_fixture_warehouse

from expectations.mart_gate import run_mart_gate
from gudang.settings import Settings


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("GUDANG_HOME", str(tmp_path))
    settings = Settings(home=tmp_path)
    build_fixture_warehouse(settings.warehouse)
    return settings


def _gate(settings, sql: str | None = None, **kwargs):
    conn = duckdb.connect(str(settings.warehouse))
    try:
        if sql:
            conn.execute(sql)
        return run_mart_gate(settings, "run-1", conn, **kwargs), conn.execute(
            "select check_name, severity, success, scope_level, run_id from ops.check_results"
        ).fetchall()
    finally:
        conn.close()


def _failed(result):
    return {(o.check, o.severity) for o in result.outcomes if not o.success}


def test_consistent_marts_pass_and_every_outcome_is_recorded(settings):
    result, recorded = _gate(settings, failed_dbt_nodes=[])
    assert result.passed, result.reasons
    assert _failed(result) == set()
    assert result.reasons == []
    assert len(recorded) == len(result.outcomes) >= 15
    assert {(scope, run) for *_, scope, run in recorded} == {("mart", "run-1")}


def test_broken_stunting_reconciliation_blocks(settings):
    # a kelurahan row lost 5 children: kelurahan total no longer equals the kota row
    result, _ = _gate(
        settings,
        "update marts.mart_stunting set children_measured = 35 where region_code = '33.74.01.1001'",
        failed_dbt_nodes=[],
    )
    assert not result.passed
    assert _failed(result) == {("marts.stunting.rekonsiliasi_kelurahan", "error")}
    (reason,) = result.reasons
    assert "mart_stunting" in reason and "period=2025-03" in reason and "children_kelurahan=55" in reason


def test_mart_total_not_matching_its_source_blocks(settings):
    result, _ = _gate(
        settings,
        "delete from marts.mart_spm_service where service_code = 'KES02' and quarter = 2;"
        "update marts.mart_stunting set children_measured = 61 where region_level = 'kota';"
        "delete from marts.mart_investment where investor_type = 'PMDN'",
        failed_dbt_nodes=[],
    )
    assert not result.passed
    assert {
        ("marts.spm.rekonsiliasi_sasaran", "error"),
        ("marts.spm.rekonsiliasi_terlayani", "error"),
        ("marts.stunting.rekonsiliasi_anak", "error"),
        ("marts.investasi.rekonsiliasi_laporan", "error"),
        ("marts.investasi.rekonsiliasi_tki", "error"),
    } <= _failed(result)
    spm = next(r for r in result.reasons if "rekonsiliasi" not in r and "sasaran SPM" in r)
    assert "period=2025-Q2" in spm and "sector=kesehatan" in spm


def test_falling_cumulative_spm_blocks_and_plausibility_only_warns(settings):
    result, _ = _gate(
        settings,
        "update marts.mart_spm_service set served_count = 50 where service_code = 'KES01' and quarter = 2;"
        "update staging.stg_spm__achievement set served_count = 50 where service_code = 'KES01' and quarter = 2;"
        "update marts.mart_poverty_regency set p0_pct = 9.5 where source = 'computed from microdata';"
        "update marts.mart_stunting set stunting_pct = 75 where region_level = 'kota'",
        failed_dbt_nodes=[],
    )
    assert _failed(result) == {
        ("marts.spm.kumulatif_turun", "error"),
        ("marts.kemiskinan.fgt_vs_bps", "warn"),
        ("marts.stunting.prevalensi_wajar", "warn"),
    }
    assert not result.passed
    assert len(result.reasons) == 1 and "quarter=2" in result.reasons[0]
    assert {o.check for o in result.warnings} == {
        "marts.kemiskinan.fgt_vs_bps",
        "marts.stunting.prevalensi_wajar",
    }


def test_warnings_alone_do_not_block(settings):
    result, _ = _gate(
        settings,
        "update marts.mart_poverty_regency set p0_pct = 9.5 where source = 'computed from microdata'",
        failed_dbt_nodes=[],
    )
    assert result.passed
    assert _failed(result) == {("marts.kemiskinan.fgt_vs_bps", "warn")}


def test_fgt_order_violation_blocks(settings):
    result, _ = _gate(
        settings,
        "update marts.mart_poverty_regency set p2 = 0.9 where source = 'BPS published'",
        failed_dbt_nodes=[],
    )
    assert _failed(result) == {("marts.kemiskinan.urutan_p1_p2", "error")}


def test_failed_dbt_tests_block(settings, tmp_path):
    result, recorded = _gate(settings, failed_dbt_nodes=["test.gudang.not_null_mart_stunting_region_code"])
    assert not result.passed
    assert any("not_null_mart_stunting_region_code" in r for r in result.reasons)
    assert ("dbt:test.gudang.not_null_mart_stunting_region_code", "error", False, "mart", "run-1") in recorded

    now = {"generated_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")}
    run_results = tmp_path / "run_results.json"
    run_results.write_text(
        json.dumps(
            {
                "metadata": now,
                "results": [
                    {"unique_id": "model.gudang.mart_stunting", "status": "success"},
                    {
                        "unique_id": "test.gudang.accepted_values_x",
                        "status": "warn",
                        "failures": 2,
                        "message": None,
                    },
                    {"unique_id": "test.gudang.unique_y", "status": "pass"},
                ],
            }
        )
    )
    result, _ = _gate(settings, dbt_run_results=run_results)
    assert result.passed
    assert ("dbt:test.gudang.accepted_values_x", "warn") in _failed(result)

    run_results.write_text(
        json.dumps(
            {
                "metadata": now,
                "results": [
                    {
                        "unique_id": "test.gudang.unique_y",
                        "status": "fail",
                        "failures": 3,
                        "message": "Got 3 results",
                    },
                ],
            }
        )
    )
    result, _ = _gate(settings, dbt_run_results=run_results)
    assert not result.passed and "unique_y" in result.reasons[0]

    # results of an old dbt invocation neither block nor vouch for this build
    stale = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    run_results.write_text(
        json.dumps(
            {
                "metadata": {"generated_at": stale},
                "results": [{"unique_id": "test.gudang.unique_y", "status": "fail"}],
            }
        )
    )
    result, _ = _gate(settings, dbt_run_results=run_results)
    assert result.passed
    assert _failed(result) == {("dbt.hasil_tidak_ada", "warn")}


def test_missing_mart_blocks(settings):
    result, _ = _gate(settings, "drop table marts.mart_investment", failed_dbt_nodes=[])
    assert not result.passed
    assert all("mart_investment" in r for r in result.reasons)
