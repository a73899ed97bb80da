"""Each file's GX result is kept in the data home's GX project and rendered once as Data Docs HTML."""

from __future__ import annotations

import datetime as dt

from test_gate_file import eppgbm_frame

from expectations.data_docs import build_data_docs, data_docs_dir, gx_root
from expectations.gate import validate_file_frame
from extract.registry import get_source
from gudang.settings import Settings


def test_data_docs_show_the_runs_validations_without_personal_data(tmp_path, monkeypatch):
    monkeypatch.setenv("GUDANG_HOME", str(tmp_path))
    monkeypatch.setenv("GUDANG_RUN_ID", "run-docs-1")
    settings = Settings(home=tmp_path)
    clean = eppgbm_frame()
    broken = eppgbm_frame()
    broken["_file_name"] = "eppgbm_3374_2025-04.xlsx"
    broken.loc[3, "height_cm"] = 850.0
    broken.loc[9, ["child_key", "measured_on"]] = broken.loc[2, ["child_key", "measured_on"]].to_numpy()
    spec = get_source("eppgbm")
    validate_file_frame(clean, spec, period="2025-03", scope="33.74")
    validate_file_frame(broken, spec, period="2025-04", scope="33.74")

    stored = (gx_root(settings) / "gx" / "uncommitted" / "validations" / "eppgbm" / "run-docs-1").rglob(
        "*.json"
    )
    assert sorted(p.name for p in stored) == [
        "eppgbm__33.74__2025-03.json",
        "eppgbm__33.74__2025-04__eppgbm_3374_2025-04.xlsx.json",
    ]

    index = build_data_docs(settings)
    assert index == data_docs_dir(settings) / "index.html"
    html = index.read_text()
    assert "run-docs-1" in html and "eppgbm_3374_2025-04.xlsx" in html
    pages = list((data_docs_dir(settings) / "validations").rglob("*.html"))
    assert len(pages) == 2
    broken_page = next(p for p in pages if "2025-04" in p.name).read_text()
    assert "expect_column_values_to_be_between" in broken_page or "height_cm" in broken_page
    assert (data_docs_dir(settings) / "expectations" / "eppgbm.html").exists()
    everything = "".join(p.read_text() for p in data_docs_dir(settings).rglob("*.html"))
    for key in set(broken["child_key"]):
        assert key not in everything, "pseudonymous child keys must not reach the reports"


def test_period_check_uses_the_declared_month(tmp_path, monkeypatch):
    monkeypatch.setenv("GUDANG_HOME", str(tmp_path))
    frame = eppgbm_frame()
    frame["measured_on"] = dt.date(2025, 2, 14)
    result = validate_file_frame(frame, get_source("eppgbm"), period="2025-03", scope="33.74")
    assert len([f for f in result.row_failures if f.column == "measured_on"]) == len(frame)
