"""Valid agency tables and the writers the bad-input corpus mutates.

Each table is a list of dicts keyed by the header *as the agency writes it*, so a case can rename,
drop or break one cell and still say exactly which sheet, row and column it broke. The values are
plausible (kelurahan codes of Kota Semarang from ``reference/wilayah``, growth near the WHO median), so a
clean table loads without a single rejection and every rejection a case expects is caused by the case.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import openpyxl
from openpyxl.cell.cell import TYPE_ERROR

from gudang.settings import REFERENCE_DIR

SCOPE_DIGITS = "3374"  # Kota Semarang, as the file names write it
SCOPE = "33.74"

EPPGBM_HEADERS = [
    "NIK",
    "Nama",
    "JK",
    "Tgl Lahir",
    "Nama Ortu",
    "Kec",
    "Kode Desa/Kel",
    "Desa/Kel",
    "Posyandu",
    "Alamat",
    "Tanggal Pengukuran",
    "Berat",
    "Tinggi",
    "Cara Ukur",
]

SPM_HEADERS = [
    "No",
    "Kode",
    "Jenis Pelayanan Dasar",
    "Jumlah Sasaran",
    "Jumlah Terlayani Sesuai Standar",
    "Capaian (%)",
    "Capaian Mutu Minimal (%)",
    "Keterangan",
]

LKPM_HEADERS = [
    "No Laporan",
    "NIB",
    "Nama Perusahaan",
    "Nama Penanggung Jawab",
    "No. Telp",
    "Status PM",
    "KBLI",
    "Sektor",
    "Kecamatan",
    "Nilai Investasi (US$ Ribu)",
    "Nilai Investasi (Rp Juta)",
    "TKI",
    "TKA",
    "Status Laporan",
]

_GIVEN = ["Aisyah", "Bima", "Citra", "Dimas", "Eka", "Fajar", "Gita", "Hendra", "Intan", "Joko", "Kirana"]
_FAMILY = ["Rahmawati", "Saputra", "Wibowo", "Lestari", "Nugroho", "Pratiwi", "Santoso", "Hidayat"]
_POSYANDU = ["Melati", "Mawar", "Anggrek", "Kenanga", "Dahlia", "Flamboyan"]


@dataclass(frozen=True)
class Village:
    code: str
    name: str
    district_name: str


@cache
def semarang_villages() -> tuple[Village, ...]:
    """The first kelurahan of Kota Semarang in code order, read from the project's reference list."""
    wilayah = REFERENCE_DIR / "wilayah"
    with (wilayah / "districts.csv").open() as handle:
        districts = {row["code"]: row["name"] for row in csv.DictReader(handle)}
    with (wilayah / "villages.csv").open() as handle:
        rows = [row for row in csv.DictReader(handle) if row["code"].startswith(SCOPE + ".")]
    return tuple(Village(r["code"], r["name"], districts[r["district_code"]]) for r in rows[:24])


@cache
def foreign_village() -> Village:
    """A real kelurahan outside Kota Semarang (Kota Magelang, 33.71): valid code, wrong scope."""
    with (REFERENCE_DIR / "wilayah" / "villages.csv").open() as handle:
        row = next(r for r in csv.DictReader(handle) if r["code"].startswith("33.71."))
    return Village(row["code"], row["name"], "Magelang Selatan")


def month_bounds(period: str) -> tuple[dt.date, dt.date]:
    year, month = (int(part) for part in period.split("-"))
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)} {rng.choice(_FAMILY)}"


def eppgbm_rows(period: str, count: int = 10, seed: int = 0) -> list[dict[str, object]]:
    """``count`` measurements of distinct children, all inside the month ``period`` (YYYY-MM)."""
    rng = random.Random(f"{period}-{seed}")
    first, last = month_bounds(period)
    villages = semarang_villages()
    rows = []
    for index in range(count):
        village = villages[index % len(villages)]
        measured = first + dt.timedelta(days=rng.randrange((last - first).days + 1))
        age_months = rng.uniform(3, 57)
        born = measured - dt.timedelta(days=round(age_months * 30.4375))
        girl = index % 2 == 1
        # Near the WHO medians (length ~50 cm at birth, ~87 cm at 2 years, ~110 cm at 5 years).
        height = 50 + 26 * math.log1p(age_months / 8) * rng.uniform(0.97, 1.03)
        weight = 3.3 + 5.5 * math.log1p(age_months / 6) * rng.uniform(0.95, 1.05)
        birth_day = born.day + (40 if girl else 0)
        nik = f"{SCOPE_DIGITS}01{birth_day:02d}{born:%m%y}{rng.randrange(1, 9999):04d}"
        rows.append(
            {
                "NIK": nik,
                "Nama": person_name(rng),
                "JK": "P" if girl else "L",
                "Tgl Lahir": born,
                "Nama Ortu": person_name(rng),
                "Kec": village.district_name,
                "Kode Desa/Kel": village.code,
                "Desa/Kel": village.name,
                "Posyandu": f"Posyandu {rng.choice(_POSYANDU)}",
                "Alamat": f"Jl. {rng.choice(_POSYANDU)} No. {rng.randrange(1, 200)}",
                "Tanggal Pengukuran": measured,
                "Berat": round(weight, 1),
                "Tinggi": round(height, 1),
                "Cara Ukur": "Terlentang" if age_months < 24 else "Berdiri",
            }
        )
    return rows


@cache
def _health_services() -> tuple[tuple[str, str], ...]:
    with (REFERENCE_DIR / "catalog" / "spm_services_kabkota.csv").open() as handle:
        return tuple(
            (row["service_code"], row["service_name"])
            for row in csv.DictReader(handle)
            if row["sector"] == "kesehatan"
        )


def spm_rows(seed: int = 0) -> list[dict[str, object]]:
    """One row per SPM Kesehatan service (12), served never above target, percentages 0-100."""
    rng = random.Random(seed)
    rows = []
    for number, (code, name) in enumerate(_health_services(), start=1):
        target = rng.randrange(500, 20_000)
        served = round(target * rng.uniform(0.55, 1.0))
        rows.append(
            {
                "No": number,
                "Kode": code,
                "Jenis Pelayanan Dasar": name,
                "Jumlah Sasaran": target,
                "Jumlah Terlayani Sesuai Standar": served,
                "Capaian (%)": round(100 * served / target, 2),
                "Capaian Mutu Minimal (%)": round(rng.uniform(60, 100), 2),
                "Keterangan": "",
            }
        )
    return rows


def lkpm_rows(count: int = 8, seed: int = 0) -> list[dict[str, object]]:
    """Approved LKPM reports, PMA in US$ thousand and PMDN in Rp million, in Semarang kecamatan."""
    rng = random.Random(seed)
    districts = sorted({v.district_name for v in semarang_villages()})
    rows = []
    for index in range(count):
        foreign = index % 3 == 0
        rows.append(
            {
                "No Laporan": f"LKPM-{seed:02d}{index:04d}",
                "NIB": f"912{rng.randrange(10**9, 10**10)}",
                "Nama Perusahaan": f"PT Contoh Usaha {index + 1}",
                "Nama Penanggung Jawab": person_name(rng),
                "No. Telp": f"0812{rng.randrange(10**7, 10**8)}",
                "Status PM": "PMA" if foreign else "PMDN",
                "KBLI": rng.choice(["10110", "13111", "46100", "55110", "62019"]),
                "Sektor": "Industri Makanan",
                "Kecamatan": districts[index % len(districts)],
                "Nilai Investasi (US$ Ribu)": round(rng.uniform(50, 900), 1) if foreign else None,
                "Nilai Investasi (Rp Juta)": None if foreign else round(rng.uniform(100, 9000), 1),
                "TKI": rng.randrange(5, 300),
                "TKA": rng.randrange(0, 5) if foreign else 0,
                "Status Laporan": "Disetujui",
            }
        )
    return rows


def table(rows: Iterable[dict[str, object]], headers: Sequence[str]) -> list[list[object]]:
    """Header row then one list per row, in ``headers`` order (missing keys become empty cells)."""
    return [list(headers), *([row.get(h) for h in headers] for row in rows)]


@dataclass
class Sheet:
    name: str
    rows: list[list[object]]
    hidden: bool = False
    #: ranges to merge, e.g. "A1:F1"
    merges: list[str] = field(default_factory=list)
    #: (row, column) 1-based cells to write as Excel error values (#DIV/0!, #REF!, ...)
    errors: dict[tuple[int, int], str] = field(default_factory=dict)


def write_xlsx(path: Path, sheets: Sequence[Sheet]) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for spec in sheets:
        worksheet = workbook.create_sheet(spec.name)
        for row in spec.rows:
            worksheet.append(row)
        for (row, column), error in spec.errors.items():
            cell = worksheet.cell(row=row, column=column)
            cell.value = error
            cell.data_type = TYPE_ERROR
        for cell_range in spec.merges:
            worksheet.merge_cells(cell_range)
        if spec.hidden:
            worksheet.sheet_state = "hidden"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def csv_text(rows: Sequence[Sequence[object]], *, delimiter: str = ";", decimal_comma: bool = True) -> str:
    """Rows as e-PPGBM's CSV export writes them: dd/mm/yyyy dates, decimal commas, ``;`` separated."""

    def cell(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, dt.date):
            return value.strftime("%d/%m/%Y")
        if isinstance(value, float) and decimal_comma:
            return str(value).replace(".", ",")
        return str(value)

    lines = [delimiter.join(cell(v) for v in row) for row in rows]
    return "\r\n".join(lines) + "\r\n"


def eppgbm_name(period: str, *, suffix: str = "", ext: str = "xlsx") -> str:
    return f"eppgbm_{SCOPE_DIGITS}_{period}{suffix}.{ext}"


def quarter_name(prefix: str, period: str, *, ext: str = "xlsx") -> str:
    """``spm_kesehatan`` + ``2025-Q1`` -> ``spm_kesehatan_3374_2025_TW1.xlsx``."""
    year, quarter = period.split("-Q")
    return f"{prefix}_{SCOPE_DIGITS}_{year}_TW{quarter}.{ext}"
