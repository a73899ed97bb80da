"""The bad-input corpus: one builder per malformed agency file, with the outcome it must get.

Every case writes one file (named per the source's ``file_patterns`` in ``extract/sources/*.yml``) into
a folder and declares what the extraction must do with it: quarantine the whole file with a clear
reason, reject named rows (sheet / row / column), record total rows as skipped, or load it completely.
Where more than one outcome is defensible (an exact duplicate row may be rejected or only flagged) the
case lists the acceptable alternatives; anything else is a defect.

Each e-PPGBM case uses its own month (and SPM / LKPM cases their own quarter) so no two corpus files
share a revision key; the good files use the latest periods.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import openpyxl
import xlwt
from msoffcrypto.format.ooxml import OOXMLFile

from gudang.settings import Settings

from .workbooks import (
    EPPGBM_HEADERS,
    LKPM_HEADERS,
    SPM_HEADERS,
    Sheet,
    csv_text,
    eppgbm_name,
    eppgbm_rows,
    foreign_village,
    lkpm_rows,
    month_bounds,
    quarter_name,
    spm_rows,
    table,
    write_xlsx,
)

#: Limits the corpus runs under (a YAML written into the test's data home): small, so that the huge
#: sheet, the oversized file and the zip bomb trip them with files of a few hundred kilobytes.
CORPUS_LIMITS = {
    "max_file_bytes": 1_000_000,
    "max_rows_per_sheet": 300,
    "max_uncompressed_bytes": 8_000_000,
    "max_compression_ratio": 100.0,
    # every source's files are parsed in the worker process (production uses it from 20 files), so the
    # corpus proves a bad file's outcome is the same when its parse fails in another process
    "parse_worker_min_files": 1,
}

# ---------------------------------------------------------------------------------------------------
# Expected outcomes


@dataclass(frozen=True)
class Rejection:
    """A row rejected with severity ``error``; ``columns`` lists acceptable names (canonical or header).

    An empty ``columns`` accepts any column (e.g. a duplicate row is not the fault of one cell).
    """

    row: int
    columns: tuple[str, ...] = ()  # lower case, the preferred name first


def rejection(row: int, *columns: str) -> Rejection:
    return Rejection(row, tuple(c.lower() for c in columns))


REGION_COLUMNS = ("region_code", "village_code", "village_name", "district_name", "Kode Desa/Kel", "Desa/Kel")


@dataclass(frozen=True)
class Expectation:
    statuses: frozenset[str]
    rows_read: int | None = None
    rows_loaded: int | None = None
    #: rows that must be rejected (severity error), exactly these and no other error rows when
    #: ``exact_rejections`` (the default), so a valid row that is lost is caught too
    rejected: tuple[Rejection, ...] = ()
    exact_rejections: bool = True
    #: source rows recorded with severity ``skip`` (total / subtotal rows)
    skipped: tuple[int, ...] = ()
    #: the error message (or the quarantine reason) must contain one of these (case-insensitive)
    message_terms: tuple[str, ...] = ()
    #: a failed check must be recorded (ops.ingest_log.checks_failed) — for warn-only outcomes
    needs_failed_check: bool = False
    description: str = ""


def quarantined(*message_terms: str) -> Expectation:
    return Expectation(
        frozenset({"quarantined"}),
        rows_loaded=0,
        message_terms=message_terms,
        description="file quarantined"
        + (f" (message names {' / '.join(message_terms)})" if message_terms else ""),
    )


def loads_clean(rows: int) -> Expectation:
    return Expectation(
        frozenset({"loaded"}), rows_read=rows, rows_loaded=rows, description=f"all {rows} rows loaded"
    )


def _where(rejections: tuple[Rejection, ...]) -> str:
    column = f" ({rejections[0].columns[0]})" if rejections[0].columns else ""
    if len(rejections) > 3:
        return f"rows {rejections[0].row}-{rejections[-1].row}{column}"
    return ", ".join(f"row {r.row}" + (f" ({r.columns[0]})" if r.columns else "") for r in rejections)


def rejects(rows_read: int, *rejections: Rejection, skipped: tuple[int, ...] = ()) -> Expectation:
    return Expectation(
        frozenset({"loaded", "loaded_with_warnings"}),
        rows_read=rows_read,
        rows_loaded=rows_read - len(rejections) - len(skipped),
        rejected=rejections,
        skipped=skipped,
        description=(f"rejected: {_where(rejections)}; " if rejections else "")
        + (f"total rows {list(skipped)} recorded as skipped; " if skipped else "")
        + "the other rows loaded",
    )


def warns(rows_read: int) -> Expectation:
    return Expectation(
        frozenset({"loaded_with_warnings"}),
        rows_read=rows_read,
        rows_loaded=rows_read,
        needs_failed_check=True,
        description="loaded with a warning",
    )


# ---------------------------------------------------------------------------------------------------
# Cases

Check = Callable[[duckdb.DuckDBPyConnection, Settings, dict], None]


@dataclass(frozen=True)
class BadCase:
    id: str
    source: str
    what: str  # one line for docs/reliability.md
    build: Callable[[Path], Path]  # writes the file into the folder, returns its path
    alternatives: tuple[Expectation, ...]  # the outcome must match one of these
    check: Check | None = None  # further assertions on the loaded batch
    extra: dict = field(default_factory=dict)


CASES: list[BadCase] = []


def case(source: str, what: str, *alternatives: Expectation, check: Check | None = None):
    def register(build: Callable[[Path], Path]) -> Callable[[Path], Path]:
        CASES.append(BadCase(build.__name__, source, what, build, alternatives, check))
        return build

    return register


def excel_row(index: int, header_row: int = 1) -> int:
    """Excel row number of the ``index``-th (0-based) data row under a header at ``header_row``."""
    return header_row + 1 + index


def eppgbm_sheet(period: str, rows: list[dict] | None = None, **sheet_options) -> Sheet:
    return Sheet(
        "Data", table(rows if rows is not None else eppgbm_rows(period), EPPGBM_HEADERS), **sheet_options
    )


def write_eppgbm(folder: Path, period: str, rows: list[dict] | None = None, **sheet_options) -> Path:
    return write_xlsx(folder / eppgbm_name(period), [eppgbm_sheet(period, rows, **sheet_options)])


def xlsx_bytes(period: str) -> bytes:
    scratch = io.BytesIO()
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = "Data"
    for row in table(eppgbm_rows(period), EPPGBM_HEADERS):
        worksheet.append(row)
    workbook.save(scratch)
    return scratch.getvalue()


def _raw_values(conn: duckdb.DuckDBPyConnection, log: dict, column: str) -> list:
    return [
        r[0]
        for r in conn.execute(
            f'SELECT "{column}" FROM raw.eppgbm_measurement WHERE _batch_id = ? ORDER BY _source_row',
            [log["batch_id"]],
        ).fetchall()
    ]


# --- unreadable or empty files ---------------------------------------------------------------------


@case("eppgbm", "empty file (0 bytes), xlsx", quarantined())
def empty_xlsx(folder: Path) -> Path:
    path = folder / eppgbm_name("2023-01")
    path.write_bytes(b"")
    return path


@case("eppgbm", "empty file (0 bytes), csv", quarantined())
def empty_csv(folder: Path) -> Path:
    path = folder / eppgbm_name("2023-02", ext="csv")
    path.write_bytes(b"")
    return path


@case("eppgbm", "header row only, no data rows", quarantined())
def header_only(folder: Path) -> Path:
    return write_eppgbm(folder, "2023-03", rows=[])


@case("eppgbm", "title rows only, no table at all", quarantined())
def title_only(folder: Path) -> Path:
    sheet = Sheet(
        "Data", [["REKAPITULASI PENGUKURAN BALITA"], ["KOTA SEMARANG"], [], ["(data belum tersedia)"]]
    )
    return write_xlsx(folder / eppgbm_name("2023-04"), [sheet])


@case("eppgbm", "password-protected (encrypted) xlsx", quarantined("sandi", "enkrip", "password", "kunci"))
def encrypted_xlsx(folder: Path) -> Path:
    path = folder / eppgbm_name("2023-05")
    # An ECMA-376 agile-encrypted package: an OLE2 compound file with an EncryptedPackage stream,
    # exactly what Excel writes for "Encrypt with Password".
    encrypted = io.BytesIO()
    OOXMLFile(io.BytesIO(xlsx_bytes("2023-05"))).encrypt("rahasia", encrypted)
    path.write_bytes(encrypted.getvalue())
    return path


@case("eppgbm", "corrupt zip (xlsx truncated in transfer)", quarantined())
def corrupt_zip(folder: Path) -> Path:
    path = folder / eppgbm_name("2023-06")
    whole = xlsx_bytes("2023-06")
    path.write_bytes(whole[: len(whole) // 2])
    return path


@case(
    "eppgbm",
    "a valid zip whose sheet XML is damaged in the first data row",
    quarantined("rusak di baris 2"),
)
def damaged_sheet_xml(folder: Path) -> Path:
    # Damage inside the rows the header search reads: the sheet must be reported as damaged where the
    # damage starts, not as a sheet without the expected header.
    path = folder / eppgbm_name("2023-03")
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes("2023-03"))) as good, zipfile.ZipFile(path, "w") as damaged:
        for info in good.infolist():
            data = good.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                second_row = data.index(b'<row r="2"')
                data = data[: second_row + 10] + b"<<" + data[second_row + 10 :]
            damaged.writestr(info, data)
    return path


@case("eppgbm", "random bytes named .xlsx", quarantined())
def random_bytes_xlsx(folder: Path) -> Path:
    path = folder / eppgbm_name("2023-07")
    path.write_bytes(random.Random(7).randbytes(4096))
    return path


@case(
    "eppgbm",
    "an .xlsx that is really a semicolon CSV",
    quarantined(),
    loads_clean(10),
    warns(10),  # read by content, with a warning that the extension lies
)
def xlsx_really_csv(folder: Path) -> Path:
    path = folder / eppgbm_name("2023-08")
    path.write_text(csv_text(table(eppgbm_rows("2023-08"), EPPGBM_HEADERS)), encoding="utf-8")
    return path


def _html_table(period: str) -> str:
    rows = table(eppgbm_rows(period), EPPGBM_HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{'' if v is None else v}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<html><head><title>e-PPGBM</title></head><body><table>{body}</table></body></html>"


@case("eppgbm", "an .xlsx that is really an HTML page", quarantined())
def xlsx_really_html(folder: Path) -> Path:
    path = folder / eppgbm_name("2023-09")
    path.write_text(_html_table("2023-09"), encoding="utf-8")
    return path


@case(
    "eppgbm",
    "a legacy .xls that is really an HTML table (web-app export)",
    quarantined(),
    loads_clean(10),
)
def xls_really_html(folder: Path) -> Path:
    path = folder / eppgbm_name("2023-10", ext="xls")
    path.write_text(_html_table("2023-10"), encoding="utf-8")
    return path


@case("eppgbm", "unsupported format (.pdf) dropped in the source folder", quarantined())
def unsupported_extension(folder: Path) -> Path:
    path = folder / eppgbm_name("2023-11", ext="pdf")
    path.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    return path


# --- limits from configuration ---------------------------------------------------------------------


@case("eppgbm", "huge sheet: 1,000 rows over a configured limit of 300", quarantined("300"))
def huge_sheet(folder: Path) -> Path:
    return write_eppgbm(folder, "2023-12", rows=eppgbm_rows("2023-12", count=1000))


@case("eppgbm", "file larger than the configured maximum size (1 MB)", quarantined())
def file_too_big(folder: Path) -> Path:
    path = folder / eppgbm_name("2024-01", ext="csv")
    text = csv_text(table(eppgbm_rows("2024-01", count=9000), EPPGBM_HEADERS))
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size > CORPUS_LIMITS["max_file_bytes"]
    return path


@case("eppgbm", "zip bomb: a small xlsx inflating to 30 MB of XML", quarantined())
def zip_bomb(folder: Path) -> Path:
    path = folder / eppgbm_name("2024-02")
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes("2024-02"))) as original:
        parts = {info.filename: original.read(info) for info in original.infolist()}
    sheet = next(name for name in parts if name.startswith("xl/worksheets/"))
    # Whitespace between elements keeps the XML valid, so only a size guard stops the parser.
    parts[sheet] = parts[sheet].replace(b"</sheetData>", b"</sheetData>" + b" " * 30_000_000)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for name, data in parts.items():
            bomb.writestr(name, data)
    assert path.stat().st_size < 200_000
    return path


# --- headers and columns ---------------------------------------------------------------------------


@case("eppgbm", "wrong columns: no header the registry knows", quarantined())
def wrong_columns(folder: Path) -> Path:
    rows = table(eppgbm_rows("2024-03"), EPPGBM_HEADERS)
    rows[0] = [f"Kolom {i}" for i in range(1, len(EPPGBM_HEADERS) + 1)]
    return write_xlsx(folder / eppgbm_name("2024-03"), [Sheet("Data", rows)])


@case(
    "eppgbm",
    "missing required column (Tanggal Pengukuran)",
    quarantined("Tanggal Pengukuran", "measured_on", "Tgl Ukur"),
)
def missing_required_column(folder: Path) -> Path:
    headers = [h for h in EPPGBM_HEADERS if h != "Tanggal Pengukuran"]
    rows = table(eppgbm_rows("2024-04"), headers)
    return write_xlsx(folder / eppgbm_name("2024-04"), [Sheet("Data", rows)])


RENAMED = {
    "NIK": "NIK Balita",
    "Nama": "Nama Balita",
    "JK": "Jenis Kelamin",
    "Tgl Lahir": "Tanggal Lahir",
    "Nama Ortu": "Nama Orang Tua",
    "Kec": "Kecamatan",
    "Kode Desa/Kel": "Kode Kelurahan",
    "Desa/Kel": "Desa/Kelurahan",
    "Tanggal Pengukuran": "Tgl Ukur",
    "Berat": "BB (kg)",
    "Tinggi": "TB (cm)",
}


@case("eppgbm", "renamed columns (other known spellings of every header)", loads_clean(10))
def renamed_columns(folder: Path) -> Path:
    rows = table(eppgbm_rows("2024-05"), EPPGBM_HEADERS)
    rows[0] = [RENAMED.get(h, h) for h in rows[0]]
    return write_xlsx(folder / eppgbm_name("2024-05"), [Sheet("Data", rows)])


@case("eppgbm", "headers in other case, with stray spaces and line breaks", loads_clean(10))
def header_case_and_spaces(folder: Path) -> Path:
    rows = table(eppgbm_rows("2024-06"), EPPGBM_HEADERS)
    rows[0] = [f"  {h.upper()} " if i % 2 else h.lower().replace(" ", "\n", 1) for i, h in enumerate(rows[0])]
    return write_xlsx(folder / eppgbm_name("2024-06"), [Sheet("Data", rows)])


@case("eppgbm", "extra columns the registry does not know (No, Catatan Kader)", loads_clean(10), warns(10))
def extra_columns(folder: Path) -> Path:
    rows = table(eppgbm_rows("2024-07"), EPPGBM_HEADERS)
    rows = [["No", *rows[0], "Catatan Kader"]] + [
        [i, *row, "diukur ulang"] for i, row in enumerate(rows[1:], 1)
    ]
    return write_xlsx(folder / eppgbm_name("2024-07"), [Sheet("Data", rows)])


# --- cell values -----------------------------------------------------------------------------------


def _with_cell(period: str, index: int, header: str, value: object) -> list[dict]:
    rows = eppgbm_rows(period)
    rows[index][header] = value
    return rows


@case("eppgbm", "text in a numeric cell (Berat = 'sebelas')", rejects(10, rejection(5, "weight_kg", "Berat")))
def text_in_numeric(folder: Path) -> Path:
    return write_eppgbm(folder, "2024-08", _with_cell("2024-08", 3, "Berat", "sebelas"))


@case("eppgbm", "Excel error value #DIV/0! in Tinggi", rejects(10, rejection(4, "height_cm", "Tinggi")))
def excel_error_cell(folder: Path) -> Path:
    column = EPPGBM_HEADERS.index("Tinggi") + 1
    return write_eppgbm(folder, "2024-09", errors={(excel_row(2), column): "#DIV/0!"})


@case("eppgbm", "negative weight (-3,2 kg)", rejects(10, rejection(3, "weight_kg", "Berat")))
def negative_weight(folder: Path) -> Path:
    return write_eppgbm(folder, "2024-10", _with_cell("2024-10", 1, "Berat", -3.2))


@case("eppgbm", "absurd height (950 cm)", rejects(10, rejection(6, "height_cm", "Tinggi")))
def absurd_height(folder: Path) -> Path:
    return write_eppgbm(folder, "2024-11", _with_cell("2024-11", 4, "Tinggi", 950.0))


@case(
    "eppgbm",
    "measurement date in the future (2031)",
    rejects(10, rejection(7, "measured_on", "Tanggal Pengukuran")),
)
def future_date(folder: Path) -> Path:
    return write_eppgbm(
        folder, "2024-12", _with_cell("2024-12", 5, "Tanggal Pengukuran", dt.date(2031, 1, 15))
    )


@case(
    "eppgbm",
    "impossible date text (31/02/2025)",
    rejects(10, rejection(8, "measured_on", "Tanggal Pengukuran")),
)
def impossible_date(folder: Path) -> Path:
    return write_eppgbm(folder, "2025-02", _with_cell("2025-02", 6, "Tanggal Pengukuran", "31/02/2025"))


@case("eppgbm", "born after the measurement date", rejects(10, rejection(2)))
def born_after_measurement(folder: Path) -> Path:
    rows = eppgbm_rows("2025-01")
    rows[0]["Tgl Lahir"] = rows[0]["Tanggal Pengukuran"] + dt.timedelta(days=40)
    return write_eppgbm(folder, "2025-01", rows)


@case("eppgbm", "unknown sex code (JK = 'X')", rejects(10, rejection(5, "sex", "JK")))
def unknown_sex(folder: Path) -> Path:
    return write_eppgbm(folder, "2025-03", _with_cell("2025-03", 3, "JK", "X"))


@case("eppgbm", "unknown kelurahan code and name", rejects(10, rejection(4, *REGION_COLUMNS)))
def unknown_region_code(folder: Path) -> Path:
    rows = eppgbm_rows("2025-04")
    rows[2].update({"Kode Desa/Kel": "33.74.99.9999", "Desa/Kel": "Antah Berantah", "Kec": "Kec. Entah"})
    return write_eppgbm(folder, "2025-04", rows)


@case(
    "eppgbm",
    "kelurahan of another kota (Magelang) in a Semarang file",
    rejects(10, rejection(6, *REGION_COLUMNS)),
)
def region_outside_scope(folder: Path) -> Path:
    other = foreign_village()
    rows = eppgbm_rows("2025-05")
    rows[4].update({"Kode Desa/Kel": other.code, "Desa/Kel": other.name, "Kec": other.district_name})
    return write_eppgbm(folder, "2025-05", rows)


@case(
    "eppgbm",
    "mangled but repairable codes (no dots, number, apostrophe, spaces, '.0')",
    loads_clean(10),
)
def mangled_codes_repairable(folder: Path) -> Path:
    rows = eppgbm_rows("2025-06")
    digits = [str(row["Kode Desa/Kel"]).replace(".", "") for row in rows]
    rows[0]["Kode Desa/Kel"] = digits[0]
    rows[1]["Kode Desa/Kel"] = int(digits[1])
    rows[2]["Kode Desa/Kel"] = "'" + str(rows[2]["Kode Desa/Kel"])
    rows[3]["Kode Desa/Kel"] = f"  {rows[3]['Kode Desa/Kel']} "
    rows[4]["Kode Desa/Kel"] = digits[4] + ".0"
    return write_eppgbm(folder, "2025-06", rows)


@case(
    "eppgbm",
    "mangled code beyond repair (letter O for zero) and an unknown name",
    rejects(10, rejection(3, *REGION_COLUMNS)),
)
def mangled_code_unrepairable(folder: Path) -> Path:
    rows = eppgbm_rows("2025-07")
    rows[1].update({"Kode Desa/Kel": "33.74.O1.1OO1", "Desa/Kel": "Kel. Tidak Dikenal", "Kec": "-"})
    return write_eppgbm(folder, "2025-07", rows)


# --- duplicates, totals, layout --------------------------------------------------------------------


@case(
    "eppgbm",
    "exact duplicate row (row 7 repeats row 6)",
    rejects(11, rejection(7)),
    rejects(11, rejection(6)),
    warns(11),
)
def duplicated_rows(folder: Path) -> Path:
    rows = eppgbm_rows("2025-08")
    rows.insert(5, dict(rows[4]))
    return write_eppgbm(folder, "2025-08", rows)


@case(
    "eppgbm",
    "the same child measured twice in one month with different values (rows 8 and 12)",
    rejects(11, rejection(12)),
    rejects(11, rejection(8)),
    rejects(11, rejection(8), rejection(12)),
    warns(11),
)
def duplicated_child_in_month(folder: Path) -> Path:
    rows = eppgbm_rows("2025-09")
    again = dict(rows[6])
    first, last = month_bounds("2025-09")
    measured = rows[6]["Tanggal Pengukuran"]
    again["Tanggal Pengukuran"] = measured + dt.timedelta(days=3) if measured.day < 25 else first
    again["Berat"] = round(rows[6]["Berat"] + 0.8, 1)
    rows.append(again)
    return write_eppgbm(folder, "2025-09", rows)


@case("eppgbm", "JUMLAH (total) row in the middle of the data", rejects(11, skipped=(7,)))
def total_row_in_middle(folder: Path) -> Path:
    rows = table(eppgbm_rows("2025-10"), EPPGBM_HEADERS)
    total = ["JUMLAH"] + [None] * (len(EPPGBM_HEADERS) - 1)
    weight = EPPGBM_HEADERS.index("Berat")
    total[weight] = round(sum(row[weight] for row in rows[1:]), 1)
    rows.insert(6, total)
    return write_xlsx(folder / eppgbm_name("2025-10"), [Sheet("Data", rows)])


@case(
    "eppgbm",
    "subtotal per kecamatan and a TOTAL row",
    rejects(13, skipped=(7, 13, 14)),
)
def subtotal_rows(folder: Path) -> Path:
    rows = table(eppgbm_rows("2025-11"), EPPGBM_HEADERS)
    blank = [None] * len(EPPGBM_HEADERS)
    kec = EPPGBM_HEADERS.index("Kec")
    subtotal_a = list(blank)
    subtotal_a[kec] = "Sub Total Kec. Semarang Tengah"
    subtotal_b = list(blank)
    subtotal_b[kec] = "Sub Total"
    grand_total = ["TOTAL", *blank[1:]]
    grand_total[EPPGBM_HEADERS.index("Berat")] = 10
    rows = [rows[0], *rows[1:6], subtotal_a, *rows[6:11], subtotal_b, grand_total]
    return write_xlsx(folder / eppgbm_name("2025-11"), [Sheet("Data", rows)])


def _source_rows_are(expected: list[int]) -> Check:
    def check(conn: duckdb.DuckDBPyConnection, settings: Settings, log: dict) -> None:
        assert _raw_values(conn, log, "_source_row") == expected, (
            "raw _source_row must be the Excel row numbers"
        )

    return check


@case(
    "eppgbm",
    "title rows and a two-row header with merged group cells",
    loads_clean(10),
    check=_source_rows_are(list(range(6, 16))),
)
def merged_two_row_header(folder: Path) -> Path:
    rows = table(eppgbm_rows("2025-12"), EPPGBM_HEADERS)
    width = len(EPPGBM_HEADERS)
    group = [None] * width
    group[0], group[5], group[10] = "IDENTITAS ANAK", "WILAYAH", "HASIL PENGUKURAN"
    title = [
        ["DATA PENGUKURAN BALITA (e-PPGBM)"] + [None] * (width - 1),
        ["KOTA SEMARANG - DESEMBER 2025"] + [None] * (width - 1),
        [None] * width,
        group,
    ]
    merges = ["A1:N1", "A2:N2", "A4:E4", "F4:J4", "K4:N4"]
    return write_xlsx(folder / eppgbm_name("2025-12"), [Sheet("Data", title + rows, merges=merges)])


@case(
    "eppgbm",
    "merged cells in the data (Kec and Posyandu merged down a block)",
    loads_clean(10),
)
def merged_cells_in_data(folder: Path) -> Path:
    rows = eppgbm_rows("2026-01")
    for block in (rows[:5], rows[5:]):
        for row in block:
            row["Kec"] = block[0]["Kec"]
            row["Posyandu"] = block[0]["Posyandu"]
    kec = "F"
    posyandu = "I"
    merges = [f"{kec}2:{kec}6", f"{kec}7:{kec}11", f"{posyandu}2:{posyandu}6", f"{posyandu}7:{posyandu}11"]
    return write_eppgbm(folder, "2026-01", rows, merges=merges)


def _only_visible_rows(conn: duckdb.DuckDBPyConnection, settings: Settings, log: dict) -> None:
    sheets = set(_raw_values(conn, log, "_sheet"))
    assert sheets == {"Data"}, f"rows from the hidden sheet were loaded: {sheets}"


@case(
    "eppgbm",
    "hidden sheet with stale data before the visible one",
    loads_clean(10),
    check=_only_visible_rows,
)
def hidden_sheet(folder: Path) -> Path:
    stale = Sheet("Data Lama", table(eppgbm_rows("2026-02", count=5, seed=9), EPPGBM_HEADERS), hidden=True)
    return write_xlsx(folder / eppgbm_name("2026-02"), [stale, eppgbm_sheet("2026-02")])


@case(
    "eppgbm",
    "blank rows inside the table",
    loads_clean(10),
    check=_source_rows_are([2, 3, 4, 6, 7, 8, 9, 11, 12, 13]),
)
def blank_rows_inside(folder: Path) -> Path:
    rows = table(eppgbm_rows("2026-03"), EPPGBM_HEADERS)
    blank = [None] * len(EPPGBM_HEADERS)
    rows = [*rows[:4], blank, *rows[4:8], blank, *rows[8:]]
    return write_xlsx(folder / eppgbm_name("2026-03"), [Sheet("Data", rows)])


# --- periods and file names ------------------------------------------------------------------------


@case(
    "eppgbm",
    "wrong period: every measurement is outside the file name's month",
    quarantined(),
    rejects(10, *(rejection(row, "measured_on", "Tanggal Pengukuran") for row in range(2, 12))),
)
def wrong_period(folder: Path) -> Path:
    return write_xlsx(folder / eppgbm_name("2026-04"), [eppgbm_sheet("2026-06")])


@case(
    "eppgbm",
    "one straggler measured in the previous month",
    rejects(10, rejection(11, "measured_on", "Tanggal Pengukuran")),
)
def straggler_previous_month(folder: Path) -> Path:
    return write_eppgbm(
        folder, "2026-05", _with_cell("2026-05", 9, "Tanggal Pengukuran", dt.date(2026, 4, 28))
    )


@case("eppgbm", "no period in the file name", quarantined("periode", "period"))
def no_period_in_name(folder: Path) -> Path:
    return write_xlsx(folder / "eppgbm_3374_terbaru.xlsx", [eppgbm_sheet("2026-07")])


@case(
    "eppgbm",
    "unknown region code in the file name (9999)",
    quarantined(),
    rejects(10, *(rejection(row, *REGION_COLUMNS) for row in range(2, 12))),
)
def unknown_region_in_name(folder: Path) -> Path:
    return write_xlsx(folder / "eppgbm_9999_2026-07.xlsx", [eppgbm_sheet("2026-07")])


SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def _stored_safely(conn: duckdb.DuckDBPyConnection, settings: Settings, log: dict) -> None:
    assert SAFE_NAME.match(log["file_name"]), f"unsafe archived name {log['file_name']!r}"
    stored = Path(log["stored_path"]).resolve()
    assert stored.is_relative_to(settings.archive.resolve()), f"{stored} is outside {settings.archive}"
    assert stored.is_file()
    assert set(_raw_values(conn, log, "_file_name")) == {log["file_name"]}


@case(
    "eppgbm",
    "odd characters in the name: 'eppgbm_3374_2026-08 (final) ÄÖ;rm -rf.xlsx'",
    loads_clean(10),
    check=_stored_safely,
)
def odd_file_name(folder: Path) -> Path:
    return write_xlsx(folder / "eppgbm_3374_2026-08 (final) ÄÖ;rm -rf.xlsx", [eppgbm_sheet("2026-08")])


@case(
    "eppgbm",
    "URL-encoded traversal in the name: 'eppgbm_3374_2026-09..%2F..%2Fetc%2Fpasswd.xlsx'",
    loads_clean(10),
    check=_stored_safely,
)
def encoded_traversal_name(folder: Path) -> Path:
    return write_xlsx(folder / "eppgbm_3374_2026-09..%2F..%2Fetc%2Fpasswd.xlsx", [eppgbm_sheet("2026-09")])


# --- encodings and legacy formats ------------------------------------------------------------------

ACCENTED_POSYANDU = "Posyandu Bunga Ä Ö é"


def _accents_survive(conn: duckdb.DuckDBPyConnection, settings: Settings, log: dict) -> None:
    assert set(_raw_values(conn, log, "posyandu")) == {ACCENTED_POSYANDU}, (
        "text was decoded with the wrong encoding"
    )


def _accented_rows(period: str) -> list[list[object]]:
    rows = eppgbm_rows(period)
    for row in rows:
        row["Posyandu"] = ACCENTED_POSYANDU
    return table(rows, EPPGBM_HEADERS)


@case("eppgbm", "latin-1 (cp1252) semicolon CSV", loads_clean(10), check=_accents_survive)
def latin1_csv(folder: Path) -> Path:
    path = folder / eppgbm_name("2022-01", ext="csv")
    path.write_bytes(csv_text(_accented_rows("2022-01")).encode("cp1252"))
    return path


@case("eppgbm", "UTF-16 tab-separated text (Excel 'Unicode Text')", loads_clean(10), check=_accents_survive)
def utf16_csv(folder: Path) -> Path:
    path = folder / eppgbm_name("2022-02", ext="csv")
    path.write_bytes(csv_text(_accented_rows("2022-02"), delimiter="\t").encode("utf-16"))
    return path


@case("eppgbm", "legacy .xls (BIFF8) with text in Tinggi", rejects(10, rejection(3, "height_cm", "Tinggi")))
def legacy_xls_text_in_numeric(folder: Path) -> Path:
    path = folder / eppgbm_name("2022-03", ext="xls")
    rows = table(_with_cell("2022-03", 1, "Tinggi", "tidak diukur"), EPPGBM_HEADERS)
    workbook = xlwt.Workbook()
    worksheet = workbook.add_sheet("Data")
    date_style = xlwt.easyxf(num_format_str="DD/MM/YYYY")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, dt.date):
                worksheet.write(r, c, value, date_style)
            elif value is not None:
                worksheet.write(r, c, value)
    workbook.save(str(path))
    return path


def _one_of_pair_loaded(conn: duckdb.DuckDBPyConnection, settings: Settings, log: dict) -> None:
    statuses = dict(
        conn.execute(
            "SELECT original_name, status FROM ops.ingest_log WHERE original_name IN (?, ?)",
            [DUPLICATE_PAIR[0], DUPLICATE_PAIR[1]],
        ).fetchall()
    )
    assert sorted(statuses.values()) == ["duplicate", "loaded"], statuses
    batches = conn.execute(
        "SELECT count(DISTINCT _batch_id), count(*) FROM raw.eppgbm_measurement WHERE _file_sha256 = ?",
        [log["file_sha256"]],
    ).fetchone()
    assert batches == (1, 10), f"a resent identical file must load once: {batches}"


DUPLICATE_PAIR = (eppgbm_name("2022-04"), eppgbm_name("2022-04", suffix="_kirim_ulang"))


@case(
    "eppgbm",
    "the same file sent twice under two names",
    Expectation(frozenset({"duplicate", "loaded"}), description="loaded once, the copy logged as duplicate"),
    check=_one_of_pair_loaded,
)
def duplicate_file(folder: Path) -> Path:
    first = write_xlsx(folder / DUPLICATE_PAIR[0], [eppgbm_sheet("2022-04")])
    copy = folder / DUPLICATE_PAIR[1]
    copy.write_bytes(first.read_bytes())
    return copy


# --- SPM (quarterly workbook per sector) -----------------------------------------------------------


def write_spm(folder: Path, period: str, rows: list[dict] | None = None, sheet_name: str = "TW1") -> Path:
    sheet = Sheet(sheet_name, table(rows if rows is not None else spm_rows(), SPM_HEADERS))
    return write_xlsx(folder / quarter_name("spm_kesehatan", period), [sheet])


@case("spm_kesehatan", "SPM workbook whose only sheet is 'Sheet1'", quarantined("Sheet1", "lembar", "sheet"))
def spm_wrong_sheet_name(folder: Path) -> Path:
    return write_spm(folder, "2023-Q1", sheet_name="Sheet1")


def _spm_with(index: int, header: str, value: object) -> list[dict]:
    rows = spm_rows()
    rows[index][header] = value
    return rows


@case(
    "spm_kesehatan",
    "SPM minimum-quality percentage above 100 (150)",
    rejects(12, rejection(5, "quality_achievement_pct", "Capaian Mutu Minimal (%)")),
)
def spm_pct_over_100(folder: Path) -> Path:
    return write_spm(folder, "2023-Q2", _spm_with(3, "Capaian Mutu Minimal (%)", 150))


@case(
    "spm_kesehatan",
    "SPM target population as text ('tidak ada data')",
    rejects(12, rejection(7, "target_count", "Jumlah Sasaran")),
)
def spm_text_in_count(folder: Path) -> Path:
    return write_spm(folder, "2023-Q3", _spm_with(5, "Jumlah Sasaran", "tidak ada data"))


@case(
    "spm_kesehatan",
    "SPM served count negative",
    rejects(12, rejection(9, "served_count", "Jumlah Terlayani Sesuai Standar")),
)
def spm_negative_count(folder: Path) -> Path:
    return write_spm(folder, "2023-Q4", _spm_with(7, "Jumlah Terlayani Sesuai Standar", -10))


@case(
    "spm_kesehatan",
    "SPM served above the target population",
    rejects(12, rejection(4)),
    warns(12),
)
def spm_served_over_target(folder: Path) -> Path:
    rows = spm_rows()
    rows[2]["Jumlah Terlayani Sesuai Standar"] = rows[2]["Jumlah Sasaran"] + 50
    return write_spm(folder, "2024-Q1", rows)


# --- LKPM (quarterly investment reports) -----------------------------------------------------------


def write_lkpm(folder: Path, period: str, rows: list[list[object]]) -> Path:
    return write_xlsx(folder / quarter_name("lkpm", period), [Sheet("LKPM", rows)])


def _lkpm_with(index: int, header: str, value: object) -> list[list[object]]:
    rows = lkpm_rows()
    rows[index][header] = value
    return table(rows, LKPM_HEADERS)


@case(
    "lkpm",
    "LKPM investor type outside PMA/PMDN ('Campuran')",
    rejects(8, rejection(4, "investor_type", "Status PM")),
)
def lkpm_unknown_investor_type(folder: Path) -> Path:
    return write_lkpm(folder, "2023-Q1", _lkpm_with(2, "Status PM", "Campuran"))


@case(
    "lkpm",
    "LKPM negative investment value",
    rejects(8, rejection(3, "investment_idr_million", "Nilai Investasi (Rp Juta)")),
)
def lkpm_negative_investment(folder: Path) -> Path:
    return write_lkpm(folder, "2023-Q2", _lkpm_with(1, "Nilai Investasi (Rp Juta)", -500.0))


@case(
    "lkpm",
    "LKPM kecamatan that does not exist in the kota ('Atlantis')",
    rejects(8, rejection(6, "district_name", "Kecamatan", "region_code")),
)
def lkpm_unknown_district(folder: Path) -> Path:
    return write_lkpm(folder, "2023-Q3", _lkpm_with(4, "Kecamatan", "Atlantis"))


@case("lkpm", "LKPM with a TOTAL row under the table", rejects(9, skipped=(10,)))
def lkpm_total_row(folder: Path) -> Path:
    rows = table(lkpm_rows(), LKPM_HEADERS)
    total = ["TOTAL", *[None] * (len(LKPM_HEADERS) - 1)]
    workers = LKPM_HEADERS.index("TKI")
    total[workers] = sum(row[workers] for row in rows[1:])
    return write_lkpm(folder, "2023-Q4", [*rows, total])


# ---------------------------------------------------------------------------------------------------
# Good files: they share the inbox with the corpus and must load completely.


@dataclass(frozen=True)
class GoodFile:
    source: str
    name: str
    rows: int
    build: Callable[[Path], Path]


GOOD_FILES = (
    GoodFile(
        "eppgbm",
        eppgbm_name("2026-10"),
        12,  # near the previous month's 10 rows, so the volume check has nothing to say
        lambda folder: write_eppgbm(folder, "2026-10", eppgbm_rows("2026-10", count=12)),
    ),
    GoodFile(
        "spm_kesehatan", quarter_name("spm_kesehatan", "2026-Q3"), 12, lambda f: write_spm(f, "2026-Q3")
    ),
    GoodFile(
        "lkpm",
        quarter_name("lkpm", "2026-Q3"),
        8,
        lambda f: write_lkpm(f, "2026-Q3", table(lkpm_rows(), LKPM_HEADERS)),
    ),
)


def build_corpus(inbox: Path) -> dict[str, Path]:
    """Write every case and the good files into ``inbox/<source>/``; returns case id -> file path."""
    built = {}
    for bad in CASES:
        (inbox / bad.source).mkdir(parents=True, exist_ok=True)
        built[bad.id] = bad.build(inbox / bad.source)
    for good in GOOD_FILES:
        (inbox / good.source).mkdir(parents=True, exist_ok=True)
        good.build(inbox / good.source)
    return built


def corpus_personal_data() -> set[str]:
    """Names, parents' names, addresses and phone numbers the corpus writes (for the leak scans)."""
    months = [f"{year}-{month:02d}" for year in range(2022, 2027) for month in range(1, 13)]
    found = {
        row[header]
        for period in months
        for row in eppgbm_rows(period, count=12)
        for header in ("NIK", "Nama", "Nama Ortu", "Alamat")
    }
    found |= {row[h] for row in lkpm_rows() for h in ("Nama Penanggung Jawab", "No. Telp")}
    return found
