"""Unit tests of the extraction rules: typing, header detection, region resolution, file names."""

from __future__ import annotations

import datetime as dt
import hmac
import zipfile

import pyarrow as pa
import pytest
import yaml
from extract_fixtures import EPPGBM_HEADER, eppgbm_rows, write_xlsx

from extract.header import FIRST_PREVIEW_ROWS, PREVIEW_ROWS, find_header
from extract.ingest import parse_file
from extract.naming import identify, sanitise_file_name
from extract.parse import FileParser
from extract.readers import FileRejected, decode_text, open_workbook, sniff_delimiter
from extract.registry import SOURCES_DIR, get_source
from extract.typing_rules import Pseudonymiser, parse_code, parse_date, parse_enum, parse_nik, parse_number
from extract.wilayah import RegionResolver, code_candidates, compact_name, normalise_scope
from gudang.config import Limits, read_yaml
from gudang.settings import DBT_PROJECT_DIR

# --------------------------------------------------------------------------- numbers


def test_indonesian_numbers_in_a_csv_column():
    text = pa.array(["1.234.567", "12,5", "85%", "-", "", "1.234,5", "Rp 2.500", "abc", None])
    typed = parse_number(text, integer=False, locale="auto", excel=False)
    assert typed.values.to_pylist() == [1234567.0, 12.5, 85.0, None, None, 1234.5, 2500.0, None, None]
    assert typed.invalid.to_pylist() == [False] * 7 + [True, False]
    assert "abc" in typed.explain("abc")


def test_english_numbers_are_recognised_per_column():
    typed = parse_number(
        pa.array(["1,234.5", "12.25", "1,000,000"]), integer=False, locale="auto", excel=False
    )
    assert typed.values.to_pylist() == [1234.5, 12.25, 1_000_000.0]


def test_excel_text_numbers_mixed_with_real_numbers():
    # calamine renders real numbers as "61.4"; only unmistakably Indonesian text is converted
    mixed = pa.array(["61.4", "100,1", "1.234.567", "0.462"])
    assert parse_number(mixed, integer=False, locale="auto", excel=True).values.to_pylist() == [
        61.4,
        100.1,
        1234567.0,
        0.462,
    ]
    # in an integer column "1.234" can only be a thousands separator
    assert parse_number(
        pa.array(["1.234", "17"]), integer=True, locale="auto", excel=True
    ).values.to_pylist() == [
        1234,
        17,
    ]


def test_integers_reject_fractions_and_units_scale():
    typed = parse_number(pa.array([3.0, 2.5, None]), integer=True, locale="auto", excel=True)
    assert typed.values.to_pylist() == [3, None, None]
    assert typed.invalid.to_pylist() == [False, True, False]
    scaled = parse_number(pa.array(["1,5"]), integer=False, locale="id", excel=False, multiplier=1000)
    assert scaled.values.to_pylist() == [1500.0]


def test_percent_cells_stored_as_fractions_are_rescaled():
    typed = parse_number(pa.array([0.85, 1.0, 0.5]), integer=False, locale="auto", excel=True, pct=True)
    assert typed.values.to_pylist() == [85.0, 100.0, 50.0]
    assert typed.note


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("05/03/2025", dt.date(2025, 3, 5)),
        ("5-3-2025", dt.date(2025, 3, 5)),
        ("2025-03-05", dt.date(2025, 3, 5)),
        ("2025-03-05 00:00:00", dt.date(2025, 3, 5)),
        ("5 Agustus 2025", dt.date(2025, 8, 5)),
        ("05-Okt-2025", dt.date(2025, 10, 5)),
        ("1 Mei 2024", dt.date(2024, 5, 1)),
        ("12 Agt 2023", dt.date(2023, 8, 12)),
        ("3 Des 2024", dt.date(2024, 12, 3)),
        ("45721", dt.date(2025, 3, 5)),
    ],
)
def test_date_spellings(raw, expected):
    typed = parse_date(pa.array([raw]))
    assert typed.values.to_pylist() == [expected]
    assert typed.invalid.to_pylist() == [False]


def test_impossible_dates_are_invalid_not_rolled_over():
    typed = parse_date(pa.array(["31/02/2026", "13/13/2025", "kemarin", "29/02/2024"]))
    assert typed.values.to_pylist() == [None, None, None, dt.date(2024, 2, 29)]
    assert typed.invalid.to_pylist() == [True, True, True, False]
    assert typed.explain("31/02/2026") == 'tanggal "31/02/2026" tidak valid'


def test_excel_serials_and_datetime_cells():
    assert parse_date(pa.array([45721.0])).values.to_pylist() == [dt.date(2025, 3, 5)]
    stamps = pa.array([dt.datetime(2025, 3, 5, 10, 0)], pa.timestamp("ms"))
    assert parse_date(stamps).values.to_pylist() == [dt.date(2025, 3, 5)]


# --------------------------------------------------------------------------- identifiers


def test_nik_repaired_from_float_but_not_from_scientific_text():
    typed = parse_nik(pa.array([3374010101230001.0, None]))
    assert typed.values.to_pylist() == ["3374010101230001", None]
    text = parse_nik(pa.array(["'3374010101230001", "3.37401E+15", "12345", "3374010101230001.0"]))
    assert text.values.to_pylist() == ["3374010101230001", None, None, "3374010101230001"]
    assert text.invalid.to_pylist() == [False, True, True, False]
    assert "notasi ilmiah" in text.explain("3.37401E+15")
    assert "16 digit" in text.explain("12345")


def test_codes_from_floats_and_apostrophes():
    assert parse_code(pa.array([3374.0, 12.5])).values.to_pylist() == ["3374", "12.5"]
    assert parse_code(pa.array(["'0123", " 3374.0 "])).values.to_pylist() == ["0123", "3374"]


def test_enums_case_and_space_insensitive():
    column = get_source("eppgbm").column_map["sex"]
    typed = parse_enum(pa.array(["l", "PEREMPUAN", "Laki-Laki", "laki - laki", "1.0", "X"]), column)
    assert typed.values.to_pylist() == ["L", "P", "L", "L", "L", None]
    assert typed.invalid.to_pylist() == [False] * 5 + [True]


def test_pseudonymiser_is_hmac_sha256_of_normalised_text():
    key = b"k" * 80  # longer than a block: hashed first, as RFC 2104 says
    hasher = Pseudonymiser(key)
    expected = hmac.new(key, b"SITI AMINAH", "sha256").hexdigest()
    assert hasher.digest("SITI AMINAH") == expected
    hashed = hasher.hash_array(pa.array(["Siti  Aminah", "SITI AMINAH", None]))
    assert hashed.to_pylist() == [expected, expected, None]


# --------------------------------------------------------------------------- header


def test_header_below_title_rows():
    preview = [
        ["REKAP PENGUKURAN"],
        [None],
        ["No", "NIK", "JK", "Tgl Lahir", "Tanggal Pengukuran", "Catatan"],
        ["1", "x"],
    ]
    header = find_header(preview, get_source("eppgbm"))
    assert (header.header_row, header.height) == (2, 1)
    assert {name for name, _ in header.columns.values()} == {"child_key", "sex", "birth_date", "measured_on"}
    assert header.unmatched == ["No", "Catatan"]


def test_two_row_merged_header_joins_group_and_sub_labels():
    preview = [
        ["CAPAIAN SPM KESEHATAN TRIWULAN II"],
        ["No", "Jenis Pelayanan Dasar", "Jumlah", None, "Capaian Mutu Minimal (%)"],
        [None, None, "Sasaran", "Terlayani", None],
        ["1", "Pelayanan ibu hamil", "100", "90", "95"],
    ]
    header = find_header(preview, get_source("spm_kesehatan"))
    assert (header.header_row, header.height, header.data_start) == (1, 2, 3)
    assert header.columns[2] == ("target_count", "Jumlah Sasaran")
    assert header.columns[3] == ("served_count", "Jumlah Terlayani")
    assert header.missing_required(get_source("spm_kesehatan")) == []


def test_header_search_skips_only_rows_that_cannot_name_more_columns():
    """Rows are skipped when their cells with a letter cannot beat the best header so far; a fuller
    header further down still wins, and so does a pair whose upper label is forward-filled over a
    lower cell without letters (the joined label has them)."""
    spec = get_source("spm_kesehatan")
    preview = [
        ["Jenis Layanan", "Target"],  # an early, poorer candidate (2 columns)
        ["Pelayanan ibu hamil", "100"],
        ["No", "Jenis Pelayanan Dasar", "Jumlah Sasaran", "Jumlah Terlayani", "Capaian Mutu Minimal (%)"],
        ["1", "Pelayanan ibu hamil", "100", "90", "95"],
    ]
    header = find_header(preview, spec)
    assert (header.header_row, header.height) == (2, 1)
    assert header.missing_required(spec) == []

    merged_over_digits = [
        ["Uraian", "Jumlah", None, "Capaian Mutu"],
        [None, "Sasaran", "2", None],  # "Jumlah 2" has no alias; "Sasaran" does
        ["Pelayanan ibu hamil", "100", "90", "95"],
    ]
    header = find_header(merged_over_digits, spec)
    assert (header.header_row, header.height) == (0, 2)
    assert {name for name, _ in header.columns.values()} == {
        "service_name",
        "target_count",
        "quality_achievement_pct",
    }


def _every_label(spec) -> list[str]:
    """A header naming every column of ``spec`` (each by its first alias)."""
    return [column.aliases[0] if column.aliases else column.name for column in spec.columns]


def test_only_a_single_row_naming_every_column_settles_the_header_search():
    spec = get_source("spm_kesehatan")
    every = _every_label(spec)
    assert find_header([every], spec).settles_search(spec)
    assert not find_header([every[:-1]], spec).settles_search(spec), "a column short: a later row may win"
    split = [[label.split()[0] for label in every], [" ".join(label.split()[1:]) or None for label in every]]
    paired = find_header(split, spec)
    assert paired.height == 2 and not paired.settles_search(spec), "a later single row wins a tie"
    wide_spec = get_source("bps_poverty")  # unpivots: the most a header scores includes a wide column
    every = _every_label(wide_spec)
    assert find_header([[*every, "2020"]], wide_spec).settles_search(wide_spec)
    assert not find_header([every], wide_spec).settles_search(wide_spec)


def _layout(header_at: int, early: list | None = None) -> list[list]:
    """An e-PPGBM sheet: title rows, an optional early row naming a few columns, the header naming every
    column at ``header_at`` (0-based), then data rows."""
    header = _every_label(get_source("eppgbm"))
    rows: list[list] = [[f"REKAP PENGUKURAN BALITA BAGIAN {i}"] for i in range(header_at)]
    if early is not None:
        rows[1] = early
    data = [["3374010101010001", "Anak", "L"] + [f"isi {i}" for i in range(len(header) - 3)]] * 45
    return [*rows, header, *data]


@pytest.mark.parametrize(
    ("header_at", "early"),
    [
        (0, None),
        (3, None),
        (FIRST_PREVIEW_ROWS - 1, None),  # the last row of the first read
        (FIRST_PREVIEW_ROWS, None),  # the first row only the longer preview holds
        (25, ["NIK", "Nama", "JK"]),  # an early partial candidate must not hide the full header
        (PREVIEW_ROWS - 1, ["NIK", "Nama", "JK", "Tgl Lahir"]),
    ],
)
def test_an_xlsx_sheet_read_in_two_steps_finds_the_header_the_whole_preview_finds(tmp_path, header_at, early):
    """xlsx sheets are previewed with their first rows; the rest of the 40 rows are read only when those do
    not settle the search. Either way the file is parsed below the header the 40-row search picks."""
    spec = get_source("eppgbm")
    path = write_xlsx(tmp_path / "eppgbm_3374_2025-03.xlsx", {"Kec A": _layout(header_at, early)})
    (sheet,) = open_workbook(path, Limits()).sheets
    assert len(sheet.preview) == FIRST_PREVIEW_ROWS and sheet.longer_preview is not None
    whole = sheet.longer_preview()
    assert len(whole) == PREVIEW_ROWS
    expected = find_header(whole, spec)
    assert (expected.header_row, expected.score) == (header_at, len(spec.columns))

    parsed = parse_file(path, spec, path.name, "33.74", b"k" * 32, Limits())
    source_rows = parsed.table.column("_source_row").to_pylist() + [r.source_row for r in parsed.rejections]
    assert parsed.rows_read == 45
    assert min(source_rows) == expected.data_start + 1  # Excel's 1-based row of the first data row


def test_a_short_xlsx_sheet_is_previewed_whole_at_once(tmp_path):
    rows = [["REKAP", None, None], ["NIK", "Nama", "JK"], ["3374010101010001", "Anak", "L"]]
    (sheet,) = open_workbook(write_xlsx(tmp_path / "kecil.xlsx", {"Data": rows}), Limits()).sheets
    assert sheet.preview == rows and sheet.longer_preview is None


def _with_sheet_xml(path, change) -> None:
    """Rewrite the first worksheet part of an xlsx with ``change(xml bytes)``."""
    with zipfile.ZipFile(path) as original:
        parts = [(info, original.read(info)) for info in original.infolist()]
    with zipfile.ZipFile(path, "w") as rewritten:
        for info, data in parts:
            rewritten.writestr(info, change(data) if info.filename == "xl/worksheets/sheet1.xml" else data)


def test_a_short_sheet_damaged_in_its_preview_names_the_damaged_cell(tmp_path):
    """The preview is read from the sheet XML as far as needed; damage inside it rejects the file where
    the damage lies instead of leaving a short preview (which read as "header not found")."""
    rows = [["REKAP", None, None], ["NIK", "Nama", "JK"], ["3374010101010001", "Anak", "L"]]
    path = write_xlsx(tmp_path / "rusak.xlsx", {"Data": rows})
    _with_sheet_xml(path, lambda xml: xml.replace(b'<c r="B3"', b'<c r="B3" <<', 1))
    with pytest.raises(FileRejected, match=r'sheet "Data" rusak di sel B3 \(XML tidak valid'):
        open_workbook(path, Limits())


def test_bytes_after_a_sheets_closed_root_element_are_not_damage(tmp_path):
    rows = [["REKAP", None, None], ["NIK", "Nama", "JK"], ["3374010101010001", "Anak", "L"]]
    path = write_xlsx(tmp_path / "berekor.xlsx", {"Data": rows})
    _with_sheet_xml(path, lambda xml: xml + b"\x00" * 64)  # NUL padding, as some exporters write
    (sheet,) = open_workbook(path, Limits()).sheets
    assert sheet.preview == rows


def test_wide_headers_for_unpivot():
    preview = [["Nama Wilayah", "2020", "2021", "2022"], ["Kota Semarang", "4,34", "4,56", "4,25"]]
    header = find_header(preview, get_source("bps_poverty"))
    assert header.wide == {1: "2020", 2: "2021", 3: "2022"}


def test_no_header_found():
    assert find_header([["a", "b"], ["1", "2"]], get_source("eppgbm")) is None


# --------------------------------------------------------------------------- regions


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3374011001", "33.74.01.1001"),
        ("33.74.1.1001", "33.74.01.1001"),
        ("'33.74.01.1001", "33.74.01.1001"),
        ("3374.0", "33.74"),
        ("3.374", "33.74"),
    ],
)
def test_code_candidates_repair(raw, expected):
    assert expected in code_candidates(raw)


def test_code_resolution_within_scope():
    villages = RegionResolver("village", "33.74")
    assert villages.resolve("3374011001", []) == ("33.74.01.1001", None)
    assert villages.resolve("33.74.12.1009.0", [])[0] is None  # not a code shape
    code, reason = villages.resolve("3322012001", [])  # Kabupaten Semarang: outside the file's scope
    assert code is None and "di luar cakupan" in reason
    # Kota Semarang has one kecamatan 33.74.1x: '33.74.1' lost a zero, but which one is ambiguous
    assert RegionResolver("district", "33.74").resolve("33.74.1", [])[0] is None
    # 33.2 is 33.20 (Jepara) or 33.02 (Banyumas): both exist, so it stays unresolved
    assert RegionResolver("regency", "33").resolve("33.2", [])[0] is None
    # a lost zero that only one existing code explains: 33.7 is 33.07 (33.70 does not exist)
    assert RegionResolver("regency", "33").resolve("33.7", []) == ("33.07", None)


def test_resolutions_are_shared_by_a_scopes_files_and_bounded(monkeypatch):
    """Every month's file of a kab/kota names its desa again: a new file's resolver starts from what
    earlier files resolved (codes on their own, whatever names sit beside them), within a bounded memo."""
    from extract import wilayah

    monkeypatch.setattr(wilayah, "_MEMOS", {})
    calls: list[str] = []
    original = RegionResolver._from_code

    def counted(self, raw):
        calls.append(raw)
        return original(self, raw)

    monkeypatch.setattr(RegionResolver, "_from_code", counted)
    assert RegionResolver("village", "33.74").resolve("3374011001", ["Miroto", None])[0] == "33.74.01.1001"
    next_month = RegionResolver("village", "33.74")
    assert next_month.resolve("3374011001", ["MIROTO", "Semarang Tengah"]) == ("33.74.01.1001", None)
    assert calls == ["3374011001"]
    # another scope resolves on its own: the same code is outside Kabupaten Semarang
    code, reason = RegionResolver("village", "33.22").resolve("3374011001", [])
    assert code is None and "di luar cakupan" in reason

    monkeypatch.setattr(wilayah, "MEMO_MAX_ENTRIES", 2)
    villages = RegionResolver("village", "33.74")
    for name, code in [
        ("Miroto", "33.74.01.1001"),
        ("Sekaran", "33.74.12.1009"),
        ("miroto", "33.74.01.1001"),
    ]:
        assert villages.resolve(None, [name, None]) == (code, None)
        assert all(len(memo) <= 2 for pair in wilayah._MEMOS.values() for memo in pair)


def test_name_resolution_with_prefixes_spacing_and_district():
    villages = RegionResolver("village", "33.74")
    assert villages.resolve(None, ["KEL. SEKARAN", "Kec. Gunung Pati"]) == ("33.74.12.1009", None)
    assert villages.resolve(None, ["  miroto ", None]) == ("33.74.01.1001", None)
    code, reason = villages.resolve(None, ["Antah Berantah", "Mijen"])
    assert code is None and 'desa/kelurahan "Antah Berantah" tidak ditemukan di Kota Semarang' in reason
    districts = RegionResolver("district", "33.74")
    assert districts.resolve(None, ["GUNUNG PATI"]) == ("33.74.12", None)
    assert districts.resolve(None, ["Kecamatan Semarang Tengah"]) == ("33.74.01", None)


def test_regency_names_kota_versus_kabupaten():
    regencies = RegionResolver("regency", "33")
    assert regencies.resolve(None, ["Kota Semarang"]) == ("33.74", None)
    assert regencies.resolve(None, ["Kab. Semarang"]) == ("33.22", None)
    assert regencies.resolve(None, ["Semarang"])[0] is None  # which one?
    assert RegionResolver("regency", "33.74").resolve(None, [None]) == ("33.74", None)


def test_region_reference_loads_every_code_under_its_parent_and_name():
    """The bulk loader (csv.reader, one add for many rows, the collector paused) keeps what a plain reading of
    the Kemendagri files says, and leaves the garbage collector as it found it."""
    import csv
    import gc

    from extract.wilayah import REFERENCE_DIR, REFERENCE_FILES, level_of, load_wilayah

    directory = REFERENCE_DIR / "wilayah"
    expected_names, expected_parents = {}, {}
    for file_name, parent in REFERENCE_FILES:
        with (directory / file_name).open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                expected_names[row["code"]] = row["name"]
                expected_parents[row["code"]] = row[parent] if parent else ""
    load_wilayah.cache_clear()
    try:
        gc.disable()
        paused = load_wilayah()
        assert not gc.isenabled()  # a caller's choice to run without the collector stays
        gc.enable()
        load_wilayah.cache_clear()
        wilayah = load_wilayah()
        assert gc.isenabled()
    finally:
        gc.enable()
    assert paused.names == wilayah.names == expected_names
    by_parent = {code: key for key, codes in wilayah.by_parent_name.items() for code in codes}
    assert by_parent == {c: (expected_parents[c], compact_name(n)) for c, n in expected_names.items()}
    by_level = {code: key for key, codes in wilayah.by_level_name.items() for code in codes}
    assert by_level == {c: (level_of(c), compact_name(n)) for c, n in expected_names.items()}
    assert wilayah.find("regency", "Kota Semarang", ["33"]) == ["33.74"]


def test_compact_names():
    assert compact_name("Kec. Gunung Pati") == compact_name("GUNUNGPATI") == "gunungpati"
    assert compact_name("KEL. MIROTO") == "miroto"


# --------------------------------------------------------------------------- file names


def test_sanitised_names_cannot_escape():
    assert sanitise_file_name("../../etc/passwd") == "passwd"
    assert sanitise_file_name("..\\..\\eppgbm 3374 (1).xlsx") == "eppgbm_3374_1_.xlsx"
    assert sanitise_file_name("ë ppgbm;rm -rf.xlsx") == "e_ppgbm_rm_-rf.xlsx"
    assert sanitise_file_name("...") == "file"


def test_period_and_scope_from_file_name():
    assert identify("eppgbm_3374_2025-03.xlsx", get_source("eppgbm"), "33.74").period == "2025-03"
    spm = identify("spm_kesehatan_3374_2025_TW2.xlsx", get_source("spm_kesehatan"), "33.74")
    assert (spm.period, spm.scope) == ("2025-Q2", "33.74")
    bps = identify("bps_kemiskinan_33_2025.xlsx", get_source("bps_poverty"), "33.74")
    assert (bps.period, bps.scope) == ("2025", "33")
    with pytest.raises(FileRejected, match="eppgbm_3374_2025-03"):
        identify("eppgbm_terbaru.xlsx", get_source("eppgbm"), "33.74")
    with pytest.raises(FileRejected, match="bulan 13"):
        identify("eppgbm_3374_2025-13.xlsx", get_source("eppgbm"), "33.74")
    assert normalise_scope("3374") == "33.74"


def test_csv_sniffing():
    assert sniff_delimiter(["JUDUL", "a;b;c", "1;2,5;3", "4;5;6"]) == (";", 3)
    assert sniff_delimiter(["a,b", "1,2"]) == (",", 2)
    assert sniff_delimiter(["a\tb\tc", "1\t2\t3"]) == ("\t", 3)
    assert decode_text("a;é".encode("utf-16")) == "a;é"
    assert decode_text("\ufeffa;é".encode()) == "a;é"
    assert decode_text("a;é".encode("cp1252")) == "a;é"


def test_project_yaml_reads_as_the_pure_python_safe_loader_reads_it(tmp_path):
    files = [
        *sorted(SOURCES_DIR.glob("*.yml")),
        *sorted((DBT_PROJECT_DIR / "models").rglob("*.yml")),
        DBT_PROJECT_DIR / "dbt_project.yml",
        DBT_PROJECT_DIR / "profiles.yml",
    ]
    assert len(files) > 15
    for path in files:
        assert read_yaml(path) == yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader), path
    unsafe = tmp_path / "unsafe.yml"
    unsafe.write_text('run: !!python/object/apply:os.system ["true"]\n')
    with pytest.raises(yaml.YAMLError):
        read_yaml(unsafe)


def test_consecutive_sheets_of_one_shape_are_typed_together_with_the_same_outcome_as_one_by_one(
    tmp_path, monkeypatch
):
    """An export with a sheet per kecamatan: sheets with the same columns (same headers, same cell types)
    are typed as one table. Rows, rejections (each naming its own sheet and row) and their order are what
    typing every sheet alone gives; a sheet of another shape starts a new run."""
    rows = eppgbm_rows("2025-03")
    bad_nik = [*rows[0][:1], "3374", *rows[0][2:]]
    bad_date = [*rows[1][:9], "31/02/2025", *rows[1][10:]]
    total = [None, None, "JUMLAH", None, None, None, None, None, None, None, 50.0, None]
    other_header = [label.replace("Tgl Lahir", "Tanggal Lahir") for label in EPPGBM_HEADER]
    # a text NIK and a text date in each of the first two sheets: their cells read as the same types
    sheets = {
        "Mijen": [EPPGBM_HEADER, rows[0], bad_nik, bad_date, total],
        "Tugu": [["Data Tugu"], EPPGBM_HEADER, bad_date, rows[2], bad_nik, total],
        "Gunungpati": [other_header, rows[3], bad_nik, bad_date],
    }
    path = write_xlsx(tmp_path / "eppgbm_3374_2025-03.xlsx", sheets)
    spec = get_source("eppgbm")
    typed_runs = []
    original = FileParser._typed
    monkeypatch.setattr(
        FileParser,
        "_typed",
        lambda self, found, outcomes: typed_runs.append(found) or original(self, found, outcomes),
    )

    def parse(include: str):
        workbook = open_workbook(path, Limits(), include=include)
        return FileParser(spec, file_name=path.name, scope="33.74", hash_key=b"k" * 32).parse(workbook)

    together = parse(".*")
    assert [run.sheet_names for run in typed_runs] == [["Mijen", "Tugu"], ["Gunungpati"]]
    alone = [parse(f"^{name}$") for name in sheets]
    assert together.table.equals(pa.concat_tables([p.table for p in alone]))
    assert [vars(r) for r in together.rejections] == [vars(r) for p in alone for r in p.rejections]
    assert {(r.sheet, r.check) for r in together.rejections} >= {
        ("Mijen", "extract_type_nik"),
        ("Mijen", "extract_total_row"),
        ("Tugu", "extract_type_date"),
        ("Gunungpati", "extract_type_nik"),
    }
    assert (together.rows_read, together.rows_rejected) == (
        sum(p.rows_read for p in alone),
        sum(p.rows_rejected for p in alone),
    )
