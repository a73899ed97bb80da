"""End-to-end extraction of fixture workbooks into a real DuckDB warehouse (no mocks)."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import duckdb
import pytest
import xlsxwriter
import xlwt
from extract_fixtures import (
    CHILDREN,
    EPPGBM_HEADER,
    NIK_SHAPE,
    PERSONAL_VALUES,
    all_text_in_warehouse,
    eppgbm_rows,
    inbox,
    make_home,
    query,
    write_csv,
    write_xlsx,
)

from extract.ingest import archived_files_for_period, discover, ingest_file, ingest_inbox
from extract.registry import get_source
from gudang.settings import Settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return make_home(tmp_path, monkeypatch)


def _rejections(settings: Settings, batch_id: str) -> list[tuple]:
    return query(
        settings,
        "SELECT sheet, source_row, column_name, value, reason, severity FROM ops.rejected_rows "
        "WHERE batch_id = ? ORDER BY source_row",
        [batch_id],
    )


def _raw(settings: Settings, table: str, batch_id: str, columns: str) -> list[tuple]:
    return query(
        settings, f"SELECT {columns} FROM raw.{table} WHERE _batch_id = ? ORDER BY _source_row", [batch_id]
    )


def _assert_invariant(settings: Settings) -> None:
    for name, read, loaded, rejected in query(
        settings, "SELECT file_name, rows_read, rows_loaded, rows_rejected FROM ops.ingest_log"
    ):
        assert loaded + rejected == read, name


# --------------------------------------------------------------------------- xlsx


def test_messy_eppgbm_workbook(home: Settings):
    rows = eppgbm_rows()
    rows[1][1] = "3.37401E+15"  # NIK typed as text after Excel mangled it: unrecoverable
    rows[2][8] = "3374141001"  # code lost its dots
    rows[2][10] = "11,5"  # decimal comma typed as text
    rows[3][8] = None  # no code: resolved from names
    rows[3][6], rows[3][7] = "KEC. TUGU", "kel. mangkang kulon"
    rows[3][4] = "31/02/2024"
    total = ["JUMLAH", None, None, None, None, None, None, None, None, None, 43.1, None]
    sheet = [["REKAPITULASI PENGUKURAN BALITA"], ["KOTA SEMARANG MARET 2025"], [], EPPGBM_HEADER]
    sheet += [rows[0], rows[1], [], total, rows[2], rows[3], [], ["Sumber: Dinkes Kota Semarang"]]
    path = write_xlsx(inbox(home, "eppgbm") / "eppgbm_3374_2025-03.xlsx", {"Data": sheet})

    result = ingest_file(path, get_source("eppgbm"), home, run_id="t")

    # rows 5, 6, 8 (total), 9, 10 read; blank rows 7, 11 and the note at 12 are not
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_rejected) == (
        "loaded_with_warnings",
        5,
        2,
        3,
    )
    assert result.period == "2025-03" and result.scope == "33.74"
    loaded = _raw(home, "eppgbm_measurement", result.batch_id, "_source_row, region_code, weight_kg, _sheet")
    assert loaded == [(5, "33.74.01.1001", 12.5, "Data"), (9, "33.74.14.1001", 11.5, "Data")]
    rejected = _rejections(home, result.batch_id)
    assert [(r[1], r[5]) for r in rejected] == [(6, "error"), (8, "skip"), (10, "error")]
    assert rejected[0][2] == "NIK" and rejected[0][3] == "***" and "notasi ilmiah" in rejected[0][4]
    assert rejected[2][4] == (
        'eppgbm_3374_2025-03.xlsx, sheet "Data", baris 10, kolom "Tgl Lahir": tanggal "31/02/2024" tidak valid'
    )
    assert (home.archive / "eppgbm" / "eppgbm_3374_2025-03.xlsx").exists()
    assert not path.exists()


def test_lineage_on_every_raw_row(home: Settings):
    path = write_xlsx(
        inbox(home, "eppgbm") / "eppgbm_3374_2025-04.xlsx", {"Data": [EPPGBM_HEADER, *eppgbm_rows("2025-04")]}
    )
    result = ingest_file(path, get_source("eppgbm"), home, run_id="t")
    lineage = _raw(
        home,
        "eppgbm_measurement",
        result.batch_id,
        "_batch_id, _source, _file_name, length(_file_sha256), _sheet, _source_row, _period, _scope, "
        "_loaded_at IS NOT NULL",
    )
    assert lineage == [
        (result.batch_id, "eppgbm", "eppgbm_3374_2025-04.xlsx", 64, "Data", row, "2025-04", "33.74", True)
        for row in (2, 3, 4, 5)
    ]
    assert result.status == "loaded"


def test_two_row_merged_header_spm(home: Settings):
    rows = [
        ["CAPAIAN SPM BIDANG KESEHATAN"],
        ["TRIWULAN II TAHUN 2025"],
        ["No", "Jenis Pelayanan Dasar", "Jumlah", None, "Capaian (%)", "Capaian Mutu Minimal (%)"],
        [None, None, "Sasaran", "Terlayani", None, None],
        [1, "Pelayanan kesehatan ibu hamil", "1.234", "1.100", "89,1%", 0.95],
        [2, "Pelayanan kesehatan balita", 5000, 4000, "80%", 0.9],
        [None, "JUMLAH", 6234, 5100, None, None],
        [None, "KOTA SEMARANG", 6234, 5100, None, None],
    ]
    path = write_xlsx(
        inbox(home, "spm_kesehatan") / "spm_kesehatan_3374_2025_TW2.xlsx",
        {"TW II": rows},
        merges=[("TW II", "C3:D3"), ("TW II", "A3:A4"), ("TW II", "B3:B4")],
    )
    result = ingest_file(path, get_source("spm_kesehatan"), home, run_id="t")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (4, 2, 2)
    loaded = _raw(
        home,
        "spm_achievement",
        result.batch_id,
        "service_name, target_count, served_count, achievement_pct_reported, quality_achievement_pct, sector, region_code",
    )
    assert loaded == [
        ("Pelayanan kesehatan ibu hamil", 1234, 1100, 89.1, 95.0, "kesehatan", "33.74"),
        ("Pelayanan kesehatan balita", 5000, 4000, 80.0, 90.0, "kesehatan", "33.74"),
    ]
    assert {r[5] for r in _rejections(home, result.batch_id)} == {"skip"}


def test_several_sheets_hidden_sheet_skipped_and_sheet_column(home: Settings):
    first, second = eppgbm_rows("2025-05")[:2], eppgbm_rows("2025-05")[2:]
    path = write_xlsx(
        inbox(home, "eppgbm") / "eppgbm_3374_2025-05.xlsx",
        {
            "Petunjuk": [["Isi data sesuai format"]],
            "Semarang Tengah": [["Judul"], EPPGBM_HEADER, *first],
            "Mijen-Tugu": [EPPGBM_HEADER, *second],
            "Lama": [EPPGBM_HEADER, *eppgbm_rows("2025-05")],
        },
        hidden=("Lama",),
    )
    result = ingest_file(path, get_source("eppgbm"), home, run_id="t")
    assert (result.rows_read, result.rows_loaded) == (4, 4)
    sheets = query(
        home,
        "SELECT _sheet, list(_source_row ORDER BY _source_row) FROM raw.eppgbm_measurement "
        "WHERE _batch_id = ? GROUP BY _sheet ORDER BY _sheet",
        [result.batch_id],
    )
    assert sheets == [("Mijen-Tugu", [2, 3]), ("Semarang Tengah", [3, 4])]
    notes = query(home, "SELECT check_name FROM ops.check_results WHERE batch_id = ?", [result.batch_id])
    assert ("extract_hidden_sheets",) in notes


def test_unpivot_bps_poverty_with_sheet_indicators_and_units(home: Settings):
    header = ["Kabupaten/Kota", "2022", "2023", "2024"]
    people = [
        ["JUMLAH PENDUDUK MISKIN (RIBU JIWA)"],
        header,
        ["Kota Semarang", "79,58", "80,53", "-"],
        ["Kab. Semarang", 73.3, 71.2, 70.1],
        ["Jawa Tengah", "3.858,23", "3.791,50", "3.700,00"],
    ]
    share = [header, ["Kota Semarang", "4,25", "4,23", "4,03"]]
    path = write_xlsx(
        inbox(home, "bps_poverty") / "bps_kemiskinan_33_2024.xlsx",
        {"Jumlah Penduduk Miskin": people, "Persentase Penduduk Miskin": share},
    )
    result = ingest_file(path, get_source("bps_poverty"), home, run_id="t")
    # wide cells are the rows: 3 + 3 + 3 (province total, skipped) + 3; '-' is a value (null), not blank
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (12, 9, 3)
    got = _raw(home, "bps_poverty_series", result.batch_id, "region_code, indicator, year, value")
    assert ("33.74", "poor_population", 2022, pytest.approx(79580.0)) in got
    assert ("33.22", "poor_population", 2024, pytest.approx(70100.0)) in got
    assert ("33.74", "poor_population", 2024, None) in got
    assert ("33.74", "p0_pct", 2024, pytest.approx(4.03)) in got


def test_legacy_xls(home: Settings):
    book = xlwt.Workbook()
    sheet = book.add_sheet("Data")
    sheet.write(0, 0, "DATA BALITA")
    for col, label in enumerate(EPPGBM_HEADER):
        sheet.write(2, col, label)
    date_style = xlwt.easyxf(num_format_str="dd/mm/yyyy")
    for r, row in enumerate(eppgbm_rows("2025-06")):
        for c, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write(3 + r, c, value, date_style)
            else:
                sheet.write(3 + r, c, value)
    path = inbox(home, "eppgbm") / "eppgbm_3374_2025-06.xls"
    book.save(str(path))
    result = ingest_file(path, get_source("eppgbm"), home, run_id="t")
    assert (result.status, result.rows_read, result.rows_loaded) == ("loaded", 4, 4)
    births = _raw(home, "eppgbm_measurement", result.batch_id, "birth_date, _source_row")
    assert births[0] == (CHILDREN[0][3], 4)


def test_excel_error_cells_reject_their_row(home: Settings):
    path = inbox(home, "eppgbm") / "eppgbm_3374_2025-07.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Data")
    sheet.write_row(0, 0, EPPGBM_HEADER)
    for r, row in enumerate(eppgbm_rows("2025-07")):
        for c, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write_datetime(
                    r + 1,
                    c,
                    dt.datetime.combine(value, dt.time()),
                    book.add_format({"num_format": "dd/mm/yyyy"}),
                )
            else:
                sheet.write(r + 1, c, value)
    sheet.write_formula(2, EPPGBM_HEADER.index("Berat (kg)"), "=1/0", None, "#DIV/0!")
    book.close()
    result = ingest_file(path, get_source("eppgbm"), home, run_id="t")
    assert (result.rows_loaded, result.rows_rejected) == (3, 1)
    rejected = _rejections(home, result.batch_id)
    assert rejected[0][1:4] == (3, "Berat (kg)", "#DIV/0!")


# --------------------------------------------------------------------------- CSV


def test_semicolon_csv_with_bom_and_indonesian_numbers(home: Settings):
    rows = [["DATA E-PPGBM"], EPPGBM_HEADER]
    for row in eppgbm_rows("2025-08"):
        row = list(row)
        row[1] = f"'{row[1]}"
        row[4] = row[4].strftime("%d/%m/%Y")
        row[9] = row[9].strftime("%d-%m-%Y")
        row[10] = str(row[10]).replace(".", ",")
        row[11] = str(row[11]).replace(".", ",")
        rows.append(row)
    rows.append([None, "JUMLAH", *[None] * 8, "43,5"])  # a total row missing its trailing cells: still read
    path = write_csv(inbox(home, "eppgbm") / "eppgbm_3374_2025-08.csv", rows)
    result = ingest_file(path, get_source("eppgbm"), home, run_id="t")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (5, 4, 1)
    got = _raw(home, "eppgbm_measurement", result.batch_id, "_source_row, weight_kg, measured_on")
    assert got[1] == (4, 10.25, dt.date(2025, 8, 6))
    assert _rejections(home, result.batch_id)[0][1:2] == (7,)


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252"])
def test_csv_encodings(home: Settings, encoding: str):
    rows = [EPPGBM_HEADER]
    for row in eppgbm_rows("2025-09"):
        row = [v.isoformat() if isinstance(v, dt.date) else v for v in row]
        rows.append(row)
    rows[1][2] = "Bëdi Sänt"
    path = write_csv(
        inbox(home, "eppgbm") / "eppgbm_3374_2025-09.csv", rows, delimiter="\t", encoding=encoding
    )
    result = ingest_file(path, get_source("eppgbm"), home, run_id="t")
    assert (result.rows_read, result.rows_loaded) == (4, 4), result.error_message
    assert result.status == "loaded"


# --------------------------------------------------------------------------- idempotency, quarantine, privacy


def test_same_file_twice_loads_once_and_backfill_supersedes(home: Settings):
    rows = [EPPGBM_HEADER, *eppgbm_rows("2025-10")]
    write_xlsx(inbox(home, "eppgbm") / "eppgbm_3374_2025-10.xlsx", {"Data": rows})
    first = ingest_inbox(home, sources=["eppgbm"], run_id="r1")
    # the agency sends the very same file again
    archived = home.archive / "eppgbm" / "eppgbm_3374_2025-10.xlsx"
    (inbox(home, "eppgbm") / "eppgbm_3374_2025-10.xlsx").write_bytes(archived.read_bytes())
    second = ingest_inbox(home, sources=["eppgbm"], run_id="r2")
    assert [r.status for r in first] == ["loaded"]
    assert [r.status for r in second] == ["duplicate"]
    assert query(home, "SELECT count(*) FROM raw.eppgbm_measurement") == [(4,)]
    assert not list((home.inbox / "eppgbm").iterdir())

    files = archived_files_for_period(home, "eppgbm", "2025-10")
    assert files == [archived]
    again = ingest_file(files[0], get_source("eppgbm"), home, run_id="backfill", force=True)
    assert again.status == "loaded" and archived.exists()
    batches = query(
        home,
        "SELECT _batch_id, max(_loaded_at) FROM raw.eppgbm_measurement GROUP BY 1 ORDER BY 2",
    )
    assert [b for b, _ in batches] == [first[0].batch_id, again.batch_id]


def test_bad_files_are_quarantined_and_the_rest_still_load(home: Settings, monkeypatch: pytest.MonkeyPatch):
    folder = inbox(home, "eppgbm")
    good = write_xlsx(folder / "eppgbm_3374_2025-11.xlsx", {"Data": [EPPGBM_HEADER, *eppgbm_rows("2025-11")]})
    (folder / "eppgbm_3374_2025-01.xlsx").write_bytes(
        b"<html><body><table><tr><td>NIK</td></tr></table></body></html>"
    )
    (folder / "eppgbm_3374_2025-02.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 100 + b"not really a zip")
    # an encrypted OOXML package is an OLE2 container holding an 'EncryptedPackage' stream
    ole = bytearray(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024)
    ole += "EncryptedPackage".encode("utf-16-le") + b"\x00" * 512
    (folder / "eppgbm_3374_2025-04.xlsx").write_bytes(bytes(ole))
    missing = [c for c in EPPGBM_HEADER if c != "JK"]
    write_xlsx(
        folder / "eppgbm_3374_2025-05.xlsx", {"Data": [missing, *[r[:3] + r[4:] for r in eppgbm_rows()]]}
    )
    write_xlsx(folder / "eppgbm_terbaru.xlsx", {"Data": [EPPGBM_HEADER, *eppgbm_rows()]})
    bomb = folder / "eppgbm_3374_2025-06.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", " " * (40 * 1024 * 1024))
    # the root of the inbox is routed by name
    root_csv = write_csv(
        home.inbox / "eppgbm_3374_2025-12.csv",
        [EPPGBM_HEADER, *[[str(v) for v in r] for r in eppgbm_rows("2025-12")]],
    )

    assert len(discover(home, "eppgbm")) == 8 and not root_csv.exists()
    results = {r.original_name: r for r in ingest_inbox(home, sources=["eppgbm"], run_id="bad")}

    assert results[good.name].status == "loaded" and results["eppgbm_3374_2025-12.csv"].status == "loaded"
    expected = {
        "eppgbm_3374_2025-01.xlsx": "HTML",
        "eppgbm_3374_2025-02.xlsx": "rusak",
        "eppgbm_3374_2025-04.xlsx": "kata sandi",
        "eppgbm_3374_2025-05.xlsx": 'kolom wajib tidak ditemukan: "sex" (nama yang dikenali: "JK", "Jenis Kelamin", "L/P")',
        "eppgbm_terbaru.xlsx": "periode tidak dikenali",
        "eppgbm_3374_2025-06.xlsx": "zip bomb",
    }
    for name, words in expected.items():
        result = results[name]
        assert result.status == "quarantined", name
        assert words in result.error_message and result.error_message.startswith(name), result.error_message
        stored = home.quarantine / "eppgbm" / name
        assert stored.exists() and words in stored.with_name(name + ".reason.txt").read_text()
    logged = query(home, "SELECT count(*), count(DISTINCT file_name) FROM ops.ingest_log")
    assert logged == [(8, 8)]
    assert query(home, "SELECT count(*) FROM ops.rejected_rows WHERE source_row IS NULL") == [(6,)]
    _assert_invariant(home)


def test_no_personal_data_in_any_table(home: Settings):
    rows = eppgbm_rows()
    rows[0][4] = "kemarin"  # a rejected row: its values land in ops.rejected_rows
    rows[1][1] = "337401010123"  # a short NIK: rejected, masked
    write_xlsx(inbox(home, "eppgbm") / "eppgbm_3374_2025-03.xlsx", {"Data": [EPPGBM_HEADER, *rows]})
    write_csv(
        inbox(home, "eppgbm") / "eppgbm_3374_2025-04.csv",
        [EPPGBM_HEADER, *[[str(v) for v in r] for r in eppgbm_rows("2025-04")]],
    )
    results = ingest_inbox(home, sources=["eppgbm"], run_id="pii")
    assert sum(r.rows_loaded for r in results) == 6
    values = list(all_text_in_warehouse(home))
    assert values, "the scan must see data"
    for value in values:
        for personal in PERSONAL_VALUES:
            assert personal.upper() not in value.upper(), f"clear-text personal data found: {value!r}"
        is_hash = len(value) == 64 and all(c in "0123456789abcdef" for c in value)
        assert is_hash or not NIK_SHAPE.search(value), value
    keys = query(home, "SELECT DISTINCT child_key FROM raw.eppgbm_measurement")
    assert len(keys) == 4  # the same child in both files gets the same pseudonym
    _assert_invariant(home)


def _parse_inputs(home: Settings) -> list[Path]:
    folder = inbox(home, "eppgbm")
    return [
        write_xlsx(
            folder / f"eppgbm_3374_2025-0{month}.xlsx",
            {"Data": [EPPGBM_HEADER, *eppgbm_rows(f"2025-0{month}")]},
        )
        for month in (3, 4, 5)
    ]


def test_files_parsed_in_the_worker_process_equal_files_parsed_here(home: Settings) -> None:
    from extract.ingest import _Parser, limits, parse_file

    spec = get_source("eppgbm")
    paths = _parse_inputs(home)
    with _Parser(paths, spec, home, force_worker=True) as parser:
        assert parser.in_worker
        in_worker = [parser.parse(p, p.name, "33.74") for p in paths]
    here = [parse_file(p, spec, p.name, "33.74", home.hash_key, limits(home)) for p in paths]
    for remote, local in zip(in_worker, here, strict=True):
        assert remote.table.num_rows == len(CHILDREN)
        assert remote.table.equals(local.table)
        assert (remote.rows_read, remote.rejections, remote.outcomes) == (
            local.rows_read,
            local.rejections,
            local.outcomes,
        )


def test_a_dead_parse_worker_costs_nothing_but_time(home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import signal

    from extract import ingest
    from extract.ingest import _Parser

    monkeypatch.setattr(ingest, "PARSE_AHEAD_FILES", 1)  # the files after the first wait for the worker
    spec = get_source("eppgbm")
    paths = _parse_inputs(home)
    with _Parser(paths, spec, home, force_worker=True) as parser:
        first = parser.parse(paths[0], paths[0].name, "33.74")
        for pid in list(parser._pool._processes):  # the worker is killed (OOM killer, operator) mid-call
            os.kill(pid, signal.SIGKILL)
        rest = [parser.parse(p, p.name, "33.74") for p in paths[1:]]
        assert not parser.in_worker  # the remaining files were parsed in this process
    assert [parsed.table.num_rows for parsed in (first, *rest)] == [len(CHILDREN)] * 3


def test_a_batch_shares_one_transaction_and_a_file_failing_in_it_fails_alone(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files of one period from several kab/kota are written together; if that write fails, each file is
    written alone, so only the file at fault is quarantined and the others load completely."""
    from extract import ingest

    monkeypatch.setenv("GUDANG_REGION", "33")  # a province: one file per kab/kota and period
    folder = inbox(home, "eppgbm")
    names = ["eppgbm_3374_2025-10.xlsx", "eppgbm_3371_2025-10.xlsx", "eppgbm_3372_2025-10.xlsx"]
    for number, name in enumerate(names):
        rows = eppgbm_rows("2025-10")
        rows[0][2] = f"Anak {number}"  # distinct content: the same bytes would be a duplicate
        write_xlsx(folder / name, {"Data": [EPPGBM_HEADER, *rows]})
    broken = names[1]
    statements: list[list[str]] = []
    insert_raw = ingest._insert_raw

    def insert_raw_failing_for_one_file(conn, writes, loaded_at):
        statements.append([w.load.safe_name for w in writes])
        if any(
            w.load.safe_name == broken and w.raw is not None for w in writes
        ):  # its rows, not its quarantine
            raise duckdb.ConstraintException(f"{broken}: simulated write failure")
        insert_raw(conn, writes, loaded_at)

    monkeypatch.setattr(ingest, "_insert_raw", insert_raw_failing_for_one_file)
    results = {r.original_name: r for r in ingest_inbox(home, sources=["eppgbm"], run_id="batch")}

    assert sorted(statements[0]) == sorted(names), "the three files must first be written together"
    assert results[broken].status == "quarantined"
    assert "simulated write failure" in results[broken].error_message
    loaded = [n for n in names if n != broken]
    assert all(results[n].status.startswith("loaded") for n in loaded)
    per_file = dict(query(home, "SELECT _file_name, count(*) FROM raw.eppgbm_measurement GROUP BY 1"))
    # the fixture's desa are in Kota Semarang (33.74): the other kab/kota's rows are rejected, not lost
    assert per_file == {names[0]: results[names[0]].rows_loaded} and per_file[names[0]] == len(CHILDREN)
    assert query(home, "SELECT count(*) FROM ops.ingest_log") == [(3,)]
    assert (home.quarantine / "eppgbm" / broken).exists()
    assert all((home.archive / "eppgbm" / n).exists() for n in loaded)
    _assert_invariant(home)


def _collector_state() -> tuple[int, bool]:
    import gc

    from extract.wilayah import load_wilayah

    return gc.get_freeze_count(), load_wilayah.cache_info().currsize == 1


def test_parse_workers_start_with_the_region_reference_loaded_and_frozen_out_of_the_gc():
    """The fork server loads the region reference once and freezes it: a full collection in a worker
    walking those objects again was a quarter of an e-PPGBM parse."""
    from concurrent.futures import ProcessPoolExecutor

    from extract.ingest import _worker_context

    with ProcessPoolExecutor(1, mp_context=_worker_context()) as pool:
        frozen, reference_loaded = pool.submit(_collector_state).result()
    assert reference_loaded
    assert frozen > 100_000


def test_gate_frame_has_dates_as_nanosecond_timestamps_and_rejections_show_them_as_dates():
    import pyarrow as pa

    from extract.ingest import _as_text, _gate_frame

    table = pa.table(
        {
            "measured_on": pa.array([dt.date(2026, 1, 5), None], pa.date32()),
            "born_on": pa.array([dt.date(2024, 2, 29), dt.date(9999, 1, 1)], pa.date32()),  # a typo past 2262
            "name": ["a", "b"],
        }
    )
    frame = _gate_frame(table)
    assert str(frame["measured_on"].dtype) == "datetime64[ns]"
    assert _as_text(frame["measured_on"][0]) == "2026-01-05" and _as_text(frame["measured_on"][1]) is None
    assert frame["born_on"].tolist() == [dt.date(2024, 2, 29), dt.date(9999, 1, 1)]  # left for the gate
    assert frame["name"].tolist() == ["a", "b"]


def _measurements(period: str, copies: int) -> list[list]:
    """The fixture children measured ``copies`` times in ``period`` (five days apart)."""
    rows = []
    for copy in range(copies):
        for row in eppgbm_rows(period):
            row = list(row)
            row[0] = len(rows) + 1
            row[9] = row[9] + dt.timedelta(days=5 * copy)
            rows.append(row)
    return [EPPGBM_HEADER, *rows]


def _volume_and_status_by_file(settings: Settings) -> dict[str, tuple]:
    logged = query(settings, "SELECT batch_id, file_name, status, rows_loaded FROM ops.ingest_log")
    checks = query(
        settings,
        """SELECT batch_id, success, message FROM ops.check_results
           WHERE check_name = 'expect_table_row_count_to_be_between'""",
    )
    volume = {batch: (success, message) for batch, success, message in checks}
    return {name: (status, rows, volume.get(batch)) for batch, name, status, rows in logged}


def test_months_of_one_kabkota_are_gated_together_and_volume_checked_as_if_loaded_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A backlog of months arrives at once: the files are gated in one batch, and each month's volume check
    still compares it with the month before as loaded (a quarantined month does not count)."""
    from expectations import gate

    deliveries = {
        "eppgbm_3374_2025-01.csv": _measurements("2025-01", 1),
        "eppgbm_3374_2025-02.csv": _measurements("2025-02", 4),  # 4x January: volume warning
        "eppgbm_3374_2025-03.csv": [["bukan", "data", "e-PPGBM"], ["1", "2", "3"]],  # quarantined
        "eppgbm_3374_2025-04.csv": _measurements("2025-04", 4),  # as February (March does not count)
        "eppgbm_3374_2025-05.csv": _measurements("2025-05", 1),  # a quarter of April: volume warning
    }
    batched_home = make_home(tmp_path / "batched", monkeypatch)
    for name, rows in deliveries.items():
        write_csv(inbox(batched_home, "eppgbm") / name, rows)
    gate_calls = []
    real_gate = gate.validate_file_frames
    monkeypatch.setattr(
        "extract.ingest.validate_file_frames",
        lambda files, spec: gate_calls.append(len(files)) or real_gate(files, spec),
    )
    ingest_inbox(batched_home, sources=["eppgbm"], run_id="backlog")
    assert gate_calls == [4]  # the four readable months, one batch
    batched = _volume_and_status_by_file(batched_home)

    monkeypatch.undo()
    one_by_one_home = make_home(tmp_path / "one_by_one", monkeypatch)
    for name, rows in deliveries.items():
        path = write_csv(inbox(one_by_one_home, "eppgbm") / name, rows)
        ingest_file(path, get_source("eppgbm"), one_by_one_home, run_id=name)
    assert batched == _volume_and_status_by_file(one_by_one_home)

    assert batched["eppgbm_3374_2025-03.csv"][0] == "quarantined"
    volume_ok = {name: outcome[2][0] for name, outcome in batched.items() if outcome[2] is not None}
    assert volume_ok == {
        "eppgbm_3374_2025-02.csv": False,
        "eppgbm_3374_2025-04.csv": True,
        "eppgbm_3374_2025-05.csv": False,
    }
    assert "sebelumnya 16 baris" in batched["eppgbm_3374_2025-05.csv"][2][1]
