"""The sample generator: deterministic, complete, named as the registry expects, and its manifest true."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from pathlib import Path

import fastexcel
import numpy as np
import pandas as pd
import pytest

from extract.registry import get_source
from gudang.sample import generate
from gudang.settings import REFERENCE_DIR

NIK_LIKE = re.compile(r"(?<!\d)\d{16}(?!\d)")


def _sha256_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def kota(tmp_path_factory) -> tuple[Path, dict]:
    home = tmp_path_factory.mktemp("kota")
    manifest_path = generate(region="33.74", out=home / "inbox", seed=42)
    assert manifest_path == home / "sample_manifest.json"
    return home, json.loads(manifest_path.read_text())


@pytest.fixture(scope="module")
def truth_csv(kota) -> pd.DataFrame:
    home, manifest = kota
    return pd.read_csv(home / manifest["truth_eppgbm_csv"], dtype={"village_code": str, "scope": str})


def _raw_sheet(path: Path, sheet: str | None) -> pd.DataFrame:
    """Every cell as text, row i = spreadsheet row i + 1 (CSV: line i + 1)."""
    if path.suffix == ".csv":
        return pd.read_csv(path, sep=";", dtype=str, header=None, keep_default_na=False, encoding="utf-8-sig")
    frame = fastexcel.read_excel(path).load_sheet(sheet, header_row=None).to_pandas()
    return frame.astype(object).where(frame.notna(), "").astype(str)


def test_same_seed_gives_identical_files(kota, tmp_path):
    home, _ = kota
    again = generate(region="33.74", out=tmp_path / "inbox", seed=42)
    assert _sha256_tree(tmp_path) == _sha256_tree(home)
    assert again.read_bytes() == (home / "sample_manifest.json").read_bytes()


def test_other_seed_gives_other_data(tmp_path):
    # Kota Magelang (17 kelurahan) keeps this fast
    for seed in (7, 8):
        generate(region="33.71", out=tmp_path / str(seed) / "inbox", seed=seed)
    a, b = (_sha256_tree(tmp_path / str(seed) / "inbox") for seed in (7, 8))
    assert a.keys() == b.keys() and all(a[k] != b[k] for k in a if "eppgbm" in k)


def test_every_source_and_the_real_kota_semarang_regions(kota, truth_csv):
    home, manifest = kota
    sources = {f["source"] for f in manifest["files"]}
    assert sources == {
        "eppgbm", "spm_pendidikan", "spm_kesehatan", "spm_pu", "spm_perkim", "spm_trantibum", "spm_sosial",
        "dtsen", "susenas", "bps_poverty", "lkpm", "dukcapil",
    }  # fmt: skip
    villages = pd.read_csv(REFERENCE_DIR / "wilayah/villages.csv", dtype=str)
    semarang = set(villages[villages.code.str.startswith("33.74.")].code)
    assert len(semarang) == 177
    assert set(truth_csv.village_code) == semarang
    assert {c[:8] for c in truth_csv.village_code} == {f"33.74.{k:02d}" for k in range(1, 17)}
    assert set(manifest["truth"]["dukcapil"]["33.74"]["2026-S1"]["by_village"]) == semarang
    assert set(manifest["truth"]["dtsen"]["33.74"]["2026-Q2"]["individuals_by_village"]) == semarang
    for f in manifest["files"]:
        assert (home / "inbox" / f["path"]).is_file()
        assert f["path"].split("/")[0] == f["source"]


def _period_from_name(source: str, name: str) -> tuple[str, str]:
    spec = get_source(source)
    match = re.search(spec.period.filename_pattern, name)
    assert match, f"{name} does not match {source}'s period pattern"
    g = match.groupdict()
    period = {
        "month": lambda: f"{g['year']}-{g['month']}",
        "quarter": lambda: f"{g['year']}-Q{g['quarter']}",
        "semester": lambda: f"{g['year']}-S{g['semester']}",
        "year": lambda: g["year"],
    }[spec.period.grain]()
    digits = g["region"].replace(".", "")
    return period, digits[:2] + ("." + digits[2:] if len(digits) > 2 else "")


def test_file_names_match_the_registry(kota):
    _, manifest = kota
    assert len(manifest["files"]) == 9 + 6 * 7 + 2 + 2 + 1 + 7 + 1
    for f in manifest["files"]:
        name = f["path"].split("/")[-1]
        spec = get_source(f["source"])
        assert any(fnmatch.fnmatch(name, pattern) for pattern in spec.file_patterns), name
        assert _period_from_name(f["source"], name) == (f["period"], f["scope"])
    assert any(f["format"] == "xls" for f in manifest["files"])
    assert {f["format"] for f in manifest["files"] if f["source"] == "eppgbm"} == {"xlsx", "csv"}


def test_headers_use_registry_aliases(kota):
    home, manifest = kota
    for f in manifest["files"]:
        spec = get_source(f["source"])
        known = {a.lower() for c in spec.columns for a in c.aliases}
        for sheet in f["sheets"]:
            raw = _raw_sheet(home / "inbox" / f["path"], sheet["sheet"])
            rows = raw.iloc[sheet["header_row"] - 1 : sheet["header_row"] - 1 + sheet["header_rows"]]
            # a two-row merged header reads as top + bottom ("Jumlah" + "Sasaran"); calamine gives a
            # horizontal merge's text in its first cell only, so carry it right over the merged cells
            if len(rows) == 2:
                rows = rows.copy()
                rows.iloc[0] = (
                    rows.iloc[0].where(rows.iloc[0] != "").ffill().where(rows.iloc[1] != "", rows.iloc[0])
                )
            labels = [" ".join(t for t in rows[c] if isinstance(t, str) and t).strip() for c in rows.columns]
            matched = {label.lower() for label in labels} & known
            wide = [
                label for label in labels if spec.unpivot and re.search(spec.unpivot.header_pattern, label)
            ]
            assert len(matched) + len(wide) >= 3, (f["path"], labels)
            required = [c for c in spec.columns if c.required and c.aliases]
            assert all(any(a.lower() in matched for a in c.aliases) for c in required), (f["path"], labels)
    # alias spelling varies between files of one source
    headers = set()
    for f in manifest["files"]:
        if f["source"] == "eppgbm":
            sheet = f["sheets"][0]
            headers.add(
                tuple(_raw_sheet(home / "inbox" / f["path"], sheet["sheet"]).iloc[sheet["header_row"] - 1])
            )
    assert len(headers) >= 4


def test_workbooks_readable_and_row_counts_agree(kota):
    home, manifest = kota
    for f in manifest["files"]:
        path = home / "inbox" / f["path"]
        if f["format"] in ("xlsx", "xls"):
            reader = fastexcel.read_excel(path)
            for name in f["ignored_sheets"]:
                assert name in reader.sheet_names
            visible = {s: reader.load_sheet(s, header_row=None, n_rows=1).visible for s in reader.sheet_names}
            assert all(visible[s["sheet"]] == "visible" for s in f["sheets"])
            if f["source"].startswith("spm_"):
                assert "hidden" in visible.values()
        for sheet in f["sheets"]:
            raw = _raw_sheet(path, sheet["sheet"])
            body = raw.iloc[sheet["header_row"] - 1 + sheet["header_rows"] :]
            non_blank = int((body != "").any(axis=1).sum())
            assert non_blank == sheet["data_rows"] + len(sheet["total_rows"]) + len(sheet["note_rows"]), f[
                "path"
            ]
            for total in sheet["total_rows"]:
                assert total["label"] in " ".join(raw.iloc[total["row"] - 1])
        assert f["expected_loaded"] + len(f["expected_rejected"]) == f["data_rows"]


def test_deliberate_defects_are_few_and_where_the_manifest_says(kota):
    home, manifest = kota
    totals = manifest["totals"]
    assert 0 < totals["expected_rejected"] < 0.01 * totals["data_rows"]
    kinds = {r["kind"] for f in manifest["files"] for r in f["expected_rejected"]}
    assert {
        "unknown_village",
        "impossible_date",
        "absurd_height",
        "text_in_number",
        "nik_unrecoverable",
    } <= kinds
    for f in manifest["files"]:
        for bad in f["expected_rejected"]:
            sheet = next(s for s in f["sheets"] if s["sheet"] == bad["sheet"])
            raw = _raw_sheet(home / "inbox" / f["path"], bad["sheet"])
            header = list(raw.iloc[sheet["header_row"] - 1])
            cell = raw.iloc[bad["row"] - 1, header.index(bad["column"])]
            assert cell.startswith(bad["value"]) or bad["value"] in cell, (f["path"], bad, cell)


def test_mess_is_present(kota):
    home, _ = kota
    inbox = home / "inbox"
    csv = (inbox / "eppgbm/eppgbm_3374_2026-02.csv").read_bytes()
    assert csv.startswith(b"\xef\xbb\xbf") and b";" in csv.splitlines()[0]
    assert re.search(rb";\d+,\d;", csv)  # decimal comma
    assert b"Februari 2026" in csv
    dtsen = (inbox / "dtsen/dtsen_3374_2026_TW2.csv").read_text(encoding="utf-8-sig")
    assert (
        ";'33.74." in dtsen and re.search(r";3374\d{6};", dtsen) and re.search(r";3374\.\d\d\.\d{4};", dtsen)
    )
    assert "E+15" in dtsen
    # NIK stored as a float cell (scientific display) but exactly recoverable
    frame = (
        fastexcel.read_excel(inbox / "eppgbm/eppgbm_3374_2026-01.xlsx")
        .load_sheet(0, header_row=3)
        .to_pandas()
    )
    nik = frame.iloc[:, 1].dropna()
    assert nik.dtype == float and all(len(str(int(v))) == 16 for v in nik)
    spm = _raw_sheet(inbox / "spm_kesehatan/spm_kesehatan_3374_2025_TW1.xlsx", "Triwulan I")
    assert spm.apply(lambda col: col.str.fullmatch(r"\d{1,3}(\.\d{3})+")).any().any()  # 1.234.567 as text
    lkpm = [f for f in kota[1]["files"] if f["source"] == "lkpm"]
    assert any(
        "Miliar" in " ".join(_raw_sheet(inbox / f["path"], f["sheets"][0]["sheet"]).iloc[3]) for f in lkpm
    )


def test_truth_csv_matches_files_and_holds_no_personal_data(kota, truth_csv):
    home, manifest = kota
    eppgbm_rows = sum(f["data_rows"] for f in manifest["files"] if f["source"] == "eppgbm")
    assert len(truth_csv) == eppgbm_rows
    text = (home / manifest["truth_eppgbm_csv"]).read_text()
    assert not NIK_LIKE.search(text)
    assert not any(name in text for name in manifest["pii"]["names"][:500])
    assert truth_csv.age_days.between(0, 1826).all()
    assert set(truth_csv.method) == {"standing", "recumbent"}
    young_standing = (truth_csv.age_days < 731) & (truth_csv.method == "standing")
    old_lying = (truth_csv.age_days >= 731) & (truth_csv.method == "recumbent")
    assert young_standing.sum() > 0 and old_lying.sum() > 0
    # spot-check that (file, sheet, row) points at the recorded height
    for row in truth_csv[truth_csv.defect.isna()].sample(40, random_state=1).itertuples():
        f = next(f for f in manifest["files"] if f["path"] == row.file)
        sheet_name = None if pd.isna(row.sheet) else row.sheet
        sheet = next(s for s in f["sheets"] if s["sheet"] == sheet_name)
        raw = _raw_sheet(home / "inbox" / row.file, sheet_name)
        header = list(raw.iloc[sheet["header_row"] - 1])
        height_col = next(
            i for i, h in enumerate(header) if h in get_source("eppgbm").column_map["height_cm"].aliases
        )
        cell = raw.iloc[row.source_row - 1, height_col].replace(",", ".")
        assert float(cell) == pytest.approx(row.height_cm), (row.file, row.source_row)
    assert all(NIK_LIKE.fullmatch(n) for n in manifest["pii"]["nik"][:100])


def test_stunting_prevalence_differs_by_kelurahan(kota, truth_csv):
    _, manifest = kota
    august = truth_csv[truth_csv.measured_on.str.startswith("2026-08") & truth_csv.defect.isna()]
    valid = august[august.haz.between(-6, 6)]
    by_village = valid.groupby("village_code").haz.apply(lambda z: (z < -2).mean())
    assert 0.12 < (valid.haz < -2).mean() < 0.32
    assert by_village.quantile(0.9) - by_village.quantile(0.1) > 0.15
    true = pd.Series(manifest["truth"]["eppgbm"]["33.74"]["village_prevalence"])
    assert true.between(0.10, 0.35).all()
    assert np.corrcoef(true[by_village.index], by_village)[0, 1] > 0.4


def test_spm_cumulative_and_complete(kota):
    _, manifest = kota
    spm = manifest["truth"]["spm"]["33.74"]
    catalog = pd.read_csv(REFERENCE_DIR / "catalog/spm_services_kabkota.csv")
    assert len(spm) == 7 and all(set(q) == set(catalog.service_code) for q in spm.values())
    for year in ("2025", "2026"):
        quarters = sorted(p for p in spm if p.startswith(year))
        for code in catalog.service_code:
            served = [spm[q][code]["served"] for q in quarters]
            assert served == sorted(served) and all(spm[q][code]["target"] > 0 for q in quarters)


def _id_float(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series.astype(str).str.replace(",", ".", regex=False))


def test_susenas_reproduces_published_poverty(kota):
    home, manifest = kota
    reader = fastexcel.read_excel(home / "inbox/bps_poverty/bps_kemiskinan_33_2025.xlsx")
    spec = get_source("bps_poverty")
    assert all(len(n) <= 31 for n in reader.sheet_names)
    assert all(any(k in n.lower() for k in spec.sheets.name_values) for n in reader.sheet_names)
    p0 = reader.load_sheet("Persentase Penduduk Miskin", header_row=2).to_pandas().set_index("Nama Wilayah")
    assert len(p0.loc[:"Kota Tegal"]) == 35 and "JAWA TENGAH" in p0.index
    assert 3.0 < p0.loc["Kota Semarang", "2025"] < 5.0
    for year in ("2024", "2025"):
        frame = pd.read_csv(
            home / f"inbox/susenas/susenas_3374_{year}.csv", sep=";", dtype=str, encoding="utf-8-sig"
        )
        size, weight, spend = (_id_float(frame.iloc[:, i]) for i in (3, 4, 5))
        line = manifest["truth"]["bps_poverty"]["regencies"]["33.74"][year]["poverty_line_rp"]
        person = weight * size
        assert 100 * person[spend < line].sum() / person.sum() == pytest.approx(
            p0.loc["Kota Semarang", year], abs=0.02
        )
    for regency in manifest["truth"]["bps_poverty"]["regencies"].values():
        for v in regency.values():
            assert 0 <= v["p2"] <= v["p1"] <= v["p0_pct"]


def test_manifest_default_location_and_pii_list(kota):
    home, manifest = kota
    assert not (home / "inbox" / "sample_manifest.json").exists()
    assert manifest["pii_complete"] and len(manifest["pii"]["nik"]) > 10_000
    assert {"names", "nik", "no_kk", "phones"} <= set(manifest["pii"])
    lkpm = manifest["truth"]["lkpm"]["33.74"]["2025-Q1"]["approved"]
    assert lkpm["PMA"]["usd_thousand"] > 0 and lkpm["PMDN"]["idr_million"] > 0


def test_province_scale_smoke(tmp_path):
    """Province mode on a small province (DI Yogyakarta: 5 kab/kota) at a tiny size: shape, not volume."""
    manifest = json.loads(
        generate(region="34", out=tmp_path / "inbox", scale="province", size=0.01, workers=2).read_text()
    )
    assert len(manifest["regencies"]) == 5
    scopes = {f["scope"] for f in manifest["files"] if f["source"] == "eppgbm"}
    assert scopes == set(manifest["regencies"])
    assert {f["format"] for f in manifest["files"] if f["source"] == "eppgbm"} == {"xlsx", "csv"}
    assert any(f["path"] == "bps_poverty/bps_kemiskinan_34_2025.xlsx" for f in manifest["files"])
    for f in manifest["files"]:
        assert (tmp_path / "inbox" / f["path"]).is_file()
        assert _period_from_name(f["source"], f["path"].split("/")[-1]) == (f["period"], f["scope"])
    truth = pd.read_csv(tmp_path / "sample_truth_eppgbm.csv", dtype={"scope": str})
    assert set(truth.scope) == set(manifest["regencies"])
    assert not manifest["pii_complete"]


def test_rejects_unknown_regions(tmp_path):
    with pytest.raises(ValueError):
        generate(region="33.99", out=tmp_path / "inbox")
    with pytest.raises(ValueError):
        generate(region="33", out=tmp_path / "inbox")  # a province needs --scale province
