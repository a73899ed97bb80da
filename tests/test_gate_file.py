"""The file gate on real DataFrames through real GX: clean files pass, each defect is caught with the
right severity, check and row."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from expectations.gate import validate_file_frame
from extract.registry import get_source

N = 40  # rows per clean frame: enough for duplicates and volume, small enough to stay fast


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GUDANG_HOME", str(tmp_path))
    return tmp_path


def _lineage(n: int, sheet: str = "Data") -> dict:
    return {"_sheet": [sheet] * n, "_source_row": np.arange(6, 6 + n)}


def eppgbm_frame(n: int = N) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "child_key": [f"{i:064x}" for i in range(n)],
            "sex": ["L", "P"] * (n // 2),
            "birth_date": [dt.date(2023, 1, 1) + dt.timedelta(days=9 * i) for i in range(n)],
            "measured_on": [dt.date(2025, 3, 1 + i % 28) for i in range(n)],
            "height_cm": np.linspace(70, 95, n),
            "weight_kg": np.linspace(8, 14, n),
            "measure_method": ["standing"] * n,
            "muac_cm": [14.0] * n,
            "region_code": ["33.74.01.1001", "33.74.10.1005"] * (n // 2),
            **_lineage(n),
        }
    )


def spm_frame(n: int = 12) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "service_code": [f"K{i:02d}" for i in range(n)],
            "service_name": [f"Pelayanan kesehatan {i}" for i in range(n)],
            "target_count": pd.array([1000 + i for i in range(n)], dtype="Int64"),
            "served_count": pd.array([900 + i for i in range(n)], dtype="Int64"),
            "achievement_pct_reported": [90.0] * n,
            "quality_achievement_pct": [95.5] * n,
            "sector": ["kesehatan"] * n,
            "region_code": ["33.74"] * n,
            **_lineage(n, "TW1"),
        }
    )


def dtsen_frame(n: int = N) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "family_key": [f"f{i // 4}" for i in range(n)],
            "person_key": [f"p{i}" for i in range(n)],
            "sex": ["L", "P"] * (n // 2),
            "birth_date": [dt.date(1980, 1, 1)] * n,
            "family_role": ["head", "spouse", "child", "child"] * (n // 4),
            "welfare_decile": pd.array([1 + i % 10 for i in range(n)], dtype="Int64"),
            "receives_pkh": pd.array([True, False] * (n // 2), dtype="boolean"),
            "region_code": ["33.74.01.1001"] * n,
            **_lineage(n),
        }
    )


def susenas_frame(n: int = N) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "household_id": [f"{i:05d}" for i in range(n)],
            "regency_code": ["33.74"] * n,
            "urban_rural": ["urban"] * n,
            "household_size": pd.array([4] * n, dtype="Int64"),
            "weight": [120.5] * n,
            "expenditure_per_capita": np.linspace(400_000, 3_000_000, n),
            "region_code": ["33.74"] * n,
            **_lineage(n),
        }
    )


def bps_frame() -> pd.DataFrame:
    rows = []
    for indicator, value in [("p0_pct", 4.2), ("p1", 0.6), ("p2", 0.12), ("poor_population", 80_000.0)]:
        for year in (2023, 2024, 2025):
            rows.append(
                {"region_name": "Kota Semarang", "indicator": indicator, "year": year, "value": value}
            )
    frame = pd.DataFrame(rows)
    frame["year"] = frame["year"].astype("Int64")
    frame["region_code"] = "33.74"
    return frame.assign(**_lineage(len(frame)))


def lkpm_frame(n: int = 20) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "report_number": [f"LKPM-{i}" for i in range(n)],
            "nib": [f"{9120000000000 + i}" for i in range(n)],
            "investor_type": ["PMA", "PMDN"] * (n // 2),
            "kbli": ["10710"] * n,
            "district_name": ["Semarang Tengah"] * n,
            "investment_usd_thousand": [250.0, np.nan] * (n // 2),
            "investment_idr_million": [np.nan, 1500.0] * (n // 2),
            "workers_local": pd.array([12] * n, dtype="Int64"),
            "workers_foreign": pd.array([1] * n, dtype="Int64"),
            "report_status": ["approved"] * n,
            "region_code": ["33.74.01"] * n,
            **_lineage(n),
        }
    )


def dukcapil_frame() -> pd.DataFrame:
    rows = [
        {"region_code": code, "sex": sex, "age_group": group, "population": 100}
        for code in ("33.74.01.1001", "33.74.01.1002")
        for sex in ("L", "P")
        for group in ("0-4", "5-9", "75+")
    ]
    frame = pd.DataFrame(rows)
    frame["population"] = frame["population"].astype("Int64")
    return frame.assign(**_lineage(len(frame)))


CLEAN = {
    "eppgbm": (eppgbm_frame, "2025-03", "33.74"),
    "spm_kesehatan": (spm_frame, "2025-Q1", "33.74"),
    "dtsen": (dtsen_frame, "2025-Q1", "33.74"),
    "susenas": (susenas_frame, "2024", "33.74"),
    "bps_poverty": (bps_frame, "2025", "33"),
    "lkpm": (lkpm_frame, "2025-Q1", "33.74"),
    "dukcapil": (dukcapil_frame, "2025-S1", "33.74"),
}


def _failed(result, check=None, column=None):
    return [
        o
        for o in result.outcomes
        if not o.success and (check is None or o.check == check) and (column is None or o.column == column)
    ]


@pytest.mark.parametrize("source", CLEAN)
def test_clean_file_passes_every_check(source):
    make, period, scope = CLEAN[source]
    frame = make()
    result = validate_file_frame(
        frame, get_source(source), period=period, scope=scope, previous_rows=len(frame)
    )
    assert _failed(result) == []
    assert result.row_failures == []
    # the whole suite ran, volume included
    assert len(result.outcomes) >= 10
    assert any(o.check == "expect_table_row_count_to_be_between" for o in result.outcomes)


def test_eppgbm_row_defects_are_rejected_with_row_and_indonesian_reason():
    frame = eppgbm_frame()
    frame.loc[3, "height_cm"] = 850.0  # mm typed as cm
    frame.loc[4, "weight_kg"] = 11500.0  # grams
    frame.loc[5, "sex"] = "X"
    frame.loc[6, "region_code"] = "33.75.01.1001"  # Kota Pekalongan: not in this file's scope
    frame.loc[7, "measured_on"] = dt.date(2025, 4, 2)  # outside the declared month
    frame.loc[8, "birth_date"] = dt.date(2019, 1, 1)  # 74 months old at measurement
    frame.loc[9, ["child_key", "measured_on"]] = frame.loc[2, ["child_key", "measured_on"]].to_numpy()
    result = validate_file_frame(frame, get_source("eppgbm"), period="2025-03", scope="33.74")

    by_row = {(f.row_index, f.column): f for f in result.row_failures if f.severity == "error"}
    assert set(by_row) == {
        (3, "height_cm"),
        (4, "weight_kg"),
        (5, "sex"),
        (6, "region_code"),
        (7, "measured_on"),
        (8, "birth_date/measured_on"),
        (9, "child_key+measured_on"),  # the later copy only; row 2 is kept
    }
    # the same child twice in one monthly file also warns (both rows load unless rejected for another reason)
    warned = {(f.row_index, f.column) for f in result.row_failures if f.severity == "warn"}
    assert warned == {(2, "child_key"), (9, "child_key")}
    height = by_row[(3, "height_cm")]
    assert height.check == "expect_column_values_to_be_between"
    assert height.message.startswith("Baris 9, sheet 'Data': kolom 'height_cm' bernilai '850'")
    assert "cm" in height.message
    assert by_row[(7, "measured_on")].message.count("2025-04-02") == 1
    assert by_row[(9, "child_key+measured_on")].check == "expect_compound_columns_to_be_unique"
    # the pseudonymous key is never shown in messages
    assert frame.loc[9, "child_key"] not in by_row[(9, "child_key+measured_on")].message
    # row-level errors reject rows but do not quarantine the file
    assert result.blocking == []
    errors = [o for o in _failed(result) if o.severity == "error"]
    assert {o.column for o in errors} == {c for _, c in by_row}
    assert all(o.row_level and o.unexpected_count == 1 for o in errors)


def test_missing_required_column_and_wrong_type_quarantine_the_file():
    frame = eppgbm_frame().drop(columns=["child_key"])
    frame["height_cm"] = frame["height_cm"].map(lambda v: f"{v:.1f}".replace(".", ","))  # left as text
    result = validate_file_frame(frame, get_source("eppgbm"), period="2025-03", scope="33.74")
    blocking = {(o.check, o.column) for o in result.blocking}
    assert ("expect_column_to_exist", "child_key") in blocking
    assert ("expect_column_values_to_be_in_type_list", "height_cm") in blocking
    assert all(o.severity == "error" and not o.row_level for o in result.blocking)
    assert any("child_key" in o.message and "tidak ditemukan" in o.message for o in result.blocking)


def test_volume_jump_against_previous_period_warns_only():
    frame = eppgbm_frame()
    result = validate_file_frame(
        frame, get_source("eppgbm"), period="2025-03", scope="33.74", previous_rows=200
    )
    (volume,) = _failed(result, "expect_table_row_count_to_be_between")
    assert volume.severity == "warn" and not volume.row_level
    assert "40 baris" in volume.message and "200 baris" in volume.message
    assert result.blocking == [] and result.warnings == [volume]
    # within the configured share (default 0.5): no warning
    ok = validate_file_frame(frame, get_source("eppgbm"), period="2025-03", scope="33.74", previous_rows=60)
    assert _failed(ok) == []


def test_spm_served_above_target_is_flagged_as_warning_and_bad_percent_rejected():
    frame = spm_frame()
    frame.loc[2, "served_count"] = 5000
    frame.loc[4, "quality_achievement_pct"] = 855.0
    frame.loc[5, "service_name"] = frame.loc[1, "service_name"]
    result = validate_file_frame(frame, get_source("spm_kesehatan"), period="2025-Q1", scope="33.74")
    flags = {(f.row_index, f.check): f.severity for f in result.row_failures}
    assert flags == {
        (2, "expect_column_pair_values_a_to_be_greater_than_b"): "warn",
        (4, "expect_column_values_to_be_between"): "error",
        (5, "expect_compound_columns_to_be_unique"): "error",
    }
    assert [o.column for o in result.warnings] == ["target_count/served_count"]


def test_lkpm_allowed_values_kbli_and_duplicate_reports():
    frame = lkpm_frame()
    frame.loc[1, "kbli"] = "1071"  # leading zero lost
    frame.loc[3, ["nib", "report_number"]] = frame.loc[0, ["nib", "report_number"]].to_numpy()
    frame.loc[4, "investor_type"] = "ASING"
    frame.loc[6, "investment_usd_thousand"] = np.nan  # a PMA report without US$
    result = validate_file_frame(frame, get_source("lkpm"), period="2025-Q1", scope="33.74")
    flags = {(f.row_index, f.column, f.severity) for f in result.row_failures}
    assert flags == {
        (1, "kbli", "error"),
        (3, "nib+report_number", "error"),
        (4, "investor_type", "error"),
        (6, "investment_usd_thousand", "warn"),
    }


def test_dtsen_desil_and_susenas_weights():
    registry = dtsen_frame()
    registry.loc[[2, 3], "welfare_decile"] = [0, 11]
    result = validate_file_frame(registry, get_source("dtsen"), period="2025-Q1", scope="33.74")
    assert sorted(f.row_index for f in result.row_failures if f.column == "welfare_decile") == [2, 3]

    survey = susenas_frame()
    survey.loc[1, "weight"] = 0.0
    survey.loc[2, "household_size"] = 0
    result = validate_file_frame(survey, get_source("susenas"), period="2024", scope="33.74")
    assert {(f.row_index, f.column) for f in result.row_failures} == {(1, "weight"), (2, "household_size")}


def test_bps_percentage_range_applies_to_p0_rows_only():
    frame = bps_frame()
    p0_row = frame.index[frame["indicator"] == "p0_pct"][0]
    frame.loc[p0_row, "value"] = 420.0
    result = validate_file_frame(frame, get_source("bps_poverty"), period="2025", scope="33")
    assert [(f.row_index, f.column, f.severity) for f in result.row_failures] == [(p0_row, "value", "error")]


def test_gate_leaves_the_callers_frame_untouched():
    frame = eppgbm_frame()
    before = frame.copy()
    validate_file_frame(frame, get_source("eppgbm"), period="2025-03", scope="33.74")
    pd.testing.assert_frame_equal(frame, before)


def test_the_two_pass_validation_gives_what_one_complete_validation_gives():
    """Checks are screened with GX's BASIC result format and re-run with COMPLETE only where they found
    unexpected rows: a failing check, a check that passes by ``mostly`` with failing rows, and a passing
    check must each read exactly as a COMPLETE validation reads them."""
    import great_expectations as gx

    from expectations import gate

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 100.0], "y": ["a", "b", "zz", "zz"]})
    suite = gx.ExpectationSuite(
        name="two_pass",
        expectations=[
            gx.expectations.ExpectColumnValuesToBeBetween(column="x", min_value=0, max_value=10),
            gx.expectations.ExpectColumnValuesToBeInSet(column="y", value_set=["a", "b"], mostly=0.5),
            gx.expectations.ExpectColumnValuesToNotBeNull(column="x"),
            gx.expectations.ExpectColumnToExist(column="y"),
        ],
    )
    two_pass = gate._validate(frame, suite, {})
    complete = (
        gate.dataframe_batch_definition()
        .get_batch(batch_parameters={"dataframe": frame})
        .validate(suite, result_format={"result_format": "COMPLETE"})
    )

    def reading(validation) -> dict:
        return {
            (r.expectation_config.type, r.expectation_config.kwargs.get("column")): (
                r.success,
                r.result.get("unexpected_index_list"),
                r.result.get("unexpected_list"),
                r.result.get("unexpected_count"),
                r.result.get("observed_value"),
            )
            for r in validation.results
        }

    assert reading(two_pass) == reading(complete)
    by_check = reading(two_pass)
    assert by_check[("expect_column_values_to_be_between", "x")][:2] == (False, [3])
    assert by_check[("expect_column_values_to_be_in_set", "y")][:2] == (True, [2, 3])
    assert by_check[("expect_column_values_to_not_be_null", "x")][:2] == (True, [])
