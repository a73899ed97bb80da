"""The batched file gate gives every file the verdict it gets when validated alone (real GX both ways)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from test_gate_file import CLEAN, dtsen_frame, eppgbm_frame, spm_frame

from expectations.gate import FileFrame, validate_file_frame, validate_file_frames
from extract.registry import get_source


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GUDANG_HOME", str(tmp_path))
    return tmp_path


def _verdict(result):
    outcomes = sorted((o.check, o.column or "", o.severity, o.success, o.unexpected_count, o.message)
                      for o in result.outcomes)  # fmt: skip
    failures = sorted(
        (f.row_index, f.column or "", f.check, f.severity, f.message) for f in result.row_failures
    )
    return outcomes, failures


def _assert_same_as_alone(files: list[FileFrame], source: str) -> list:
    spec = get_source(source)
    batched = validate_file_frames(files, spec)
    alone = [validate_file_frame(f.frame, spec, period=f.period, scope=f.scope, previous_rows=f.previous_rows)
             for f in files]  # fmt: skip
    assert len(batched) == len(files)
    for position, (together, single) in enumerate(zip(batched, alone, strict=True)):
        assert _verdict(together) == _verdict(single), f"file {position} of the batch"
    return batched


def test_eppgbm_batch_with_defects_in_different_files():
    clean = eppgbm_frame()
    out_of_range = eppgbm_frame()
    out_of_range.loc[3, "height_cm"] = 12.0  # row-level error, file 2 only
    out_of_range.loc[7, "sex"] = "X"
    duplicated = eppgbm_frame()
    duplicated.loc[5, ["child_key", "measured_on"]] = duplicated.loc[
        4, ["child_key", "measured_on"]
    ].to_numpy()
    other_scope = eppgbm_frame()
    other_scope["region_code"] = ["33.74.01.1001", "33.01.01.2001"] * (len(other_scope) // 2)
    wrong_period = eppgbm_frame()
    wrong_period["measured_on"] = [dt.date(2025, 4, 2)] * len(wrong_period)
    files = [
        FileFrame(clean, "2025-03", "33.74", previous_rows=len(clean)),
        FileFrame(out_of_range, "2025-03", "33.74"),
        FileFrame(duplicated, "2025-03", "33.74", previous_rows=4 * len(duplicated)),  # volume warning
        FileFrame(other_scope, "2025-03", "33.74"),
        # the same children as the clean file: a duplicate across files is not a duplicate within one
        FileFrame(eppgbm_frame(), "2025-03", "33.74"),
        FileFrame(wrong_period, "2025-03", "33.74"),
    ]
    batched = _assert_same_as_alone(files, "eppgbm")
    assert not batched[0].row_failures and not batched[4].row_failures
    assert {f.row_index for f in batched[1].row_failures} == {3, 7}
    assert [f.row_index for f in batched[2].row_failures if f.severity == "error"] == [5]  # first copy kept
    assert any(
        not o.success and o.check == "expect_table_row_count_to_be_between" for o in batched[2].outcomes
    )
    assert len(batched[3].row_failures) == len(other_scope) // 2
    assert len(batched[5].row_failures) == len(wrong_period)


def test_missing_values_and_unique_keys_per_file():
    with_nulls = dtsen_frame()
    with_nulls.loc[[2, 3], "person_key"] = None  # nulls are not duplicates of each other
    with_duplicate = dtsen_frame()
    with_duplicate.loc[9, "person_key"] = with_duplicate.loc[8, "person_key"]
    _assert_same_as_alone(
        [FileFrame(dtsen_frame(), "2025-Q1", "33.74"), FileFrame(with_nulls, "2025-Q1", "33.74"),
         FileFrame(with_duplicate, "2025-Q2", "33.74")],
        "dtsen",
    )  # fmt: skip


def test_files_of_different_shapes_and_scopes_in_one_call():
    narrow = spm_frame().drop(columns=["achievement_pct_reported"])  # an optional column missing
    bad_type = spm_frame()
    bad_type["target_count"] = bad_type["target_count"].astype(str)
    other_scope = spm_frame()
    other_scope["region_code"] = "33.01"
    files = [
        FileFrame(spm_frame(), "2025-Q1", "33.74"),
        FileFrame(narrow, "2025-Q1", "33.74"),
        FileFrame(bad_type, "2025-Q2", "33.74"),
        FileFrame(spm_frame(), "2025-Q1", "33.01"),  # same rows, but its scope makes them out of place
        FileFrame(other_scope, "2025-Q1", "33.01"),
    ]
    batched = _assert_same_as_alone(files, "spm_kesehatan")
    assert batched[2].blocking and not batched[0].blocking
    assert batched[3].row_failures and not batched[4].row_failures


@pytest.mark.parametrize("source", CLEAN)
def test_clean_files_of_every_source_pass_in_a_batch(source):
    make, period, scope = CLEAN[source]
    frames = [make(), make()]
    results = _assert_same_as_alone([FileFrame(f, period, scope, len(f)) for f in frames], source)
    assert all(not r.blocking and not r.row_failures for r in results)


def test_an_empty_file_in_a_batch():
    empty = eppgbm_frame().iloc[0:0].reset_index(drop=True)
    files = [FileFrame(eppgbm_frame(), "2025-03", "33.74"), FileFrame(empty, "2025-03", "33.74")]
    assert isinstance(empty, pd.DataFrame)
    _assert_same_as_alone(files, "eppgbm")


def test_rows_without_a_region_code_in_a_batch():  # each dtype pair forms a batch of its own
    missing = spm_frame()
    missing["region_code"] = missing["region_code"].astype(object)
    missing.loc[[1, 4], "region_code"] = None
    arrow_like = spm_frame()
    arrow_like["region_code"] = pd.array(["33.74"] * (len(arrow_like) - 1) + [None], dtype="string")
    _assert_same_as_alone(
        [FileFrame(spm_frame(), "2025-Q1", "33.74"), FileFrame(missing, "2025-Q1", "33.74"),
         FileFrame(missing.copy(), "2025-Q1", "33.01"), FileFrame(arrow_like, "2025-Q1", "33.74"),
         FileFrame(arrow_like.copy(), "2025-Q1", "33.74")],
        "spm_kesehatan",
    )  # fmt: skip


def test_files_of_several_periods_share_one_validation(monkeypatch):
    """Each file's dates are checked against its own declared period, in the batch's one shared validation
    (plus the volume check's): no small suite per file because the periods differ."""
    from expectations import gate

    april = eppgbm_frame()
    april["measured_on"] = [dt.date(2025, 4, 1 + i % 30) for i in range(len(april))]
    march_in_april = eppgbm_frame()  # March dates in a file declared for April
    some_missing = april.copy()
    some_missing["measured_on"] = some_missing["measured_on"].astype(object)
    some_missing.loc[[2, 6], "measured_on"] = None  # the not-null check's business, not the period check's
    some_missing.loc[[3], "measured_on"] = dt.date(2025, 5, 1)  # one day past April
    files = [
        FileFrame(eppgbm_frame(), "2025-03", "33.74", previous_rows=len(april)),
        FileFrame(april, "2025-04", "33.74", previous_rows=len(april)),
        FileFrame(march_in_april, "2025-04", "33.01"),
        FileFrame(some_missing, "2025-04", "33.74"),
        FileFrame(april.copy(), "2025-05", "33.74"),  # every date a month early
    ]
    validations = []
    real_validate = gate._validate
    monkeypatch.setattr(gate, "_validate", lambda *a: validations.append(a) or real_validate(*a))
    batched = gate.validate_file_frames(files, get_source("eppgbm"))
    assert len(validations) == 2  # the shared suite and the volume check

    validations.clear()
    _assert_same_as_alone(files, "eppgbm")
    period_failures = [
        sorted(f.row_index for f in result.row_failures if f.column == "measured_on") for result in batched
    ]
    assert period_failures[0] == [] and period_failures[1] == []
    assert period_failures[2] == list(range(len(march_in_april)))
    assert period_failures[3] == [2, 3, 6]  # two missing dates (not null), one past the period
    assert period_failures[4] == list(range(len(april)))
    messages = [f.message for f in batched[3].row_failures if f.row_index == 3]
    assert any("2025-05-01" in m for m in messages)
