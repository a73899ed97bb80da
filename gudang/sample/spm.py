"""SPM achievement: one workbook per sector per quarter, cumulative within the year.

Targets (sasaran) follow the kab/kota's population; served-to-standard counts grow quarter by quarter
and never fall within a year. Workbooks carry an instructions sheet and a hidden draft sheet that the
registry's sheet rule must skip, title rows, a two-row merged header or a one-row header, a "No"
column, a JUMLAH row and notes under the table. One workbook is a legacy .xls.
"""

from __future__ import annotations

import pandas as pd

from gudang.sample.context import Context
from gudang.sample.layout import Sheet
from gudang.sample.mess import QUARTER_ROMAN, id_decimal, id_int
from gudang.sample.population import village_population
from gudang.sample.writers import write_xls, write_xlsx
from gudang.settings import REFERENCE_DIR

QUARTERS = [(2025, 1), (2025, 2), (2025, 3), (2025, 4), (2026, 1), (2026, 2), (2026, 3)]
SECTOR_SOURCE = {
    "pendidikan": "spm_pendidikan", "kesehatan": "spm_kesehatan", "pekerjaan_umum": "spm_pu",
    "perumahan": "spm_perkim", "trantibumlinmas": "spm_trantibum", "sosial": "spm_sosial",
}  # fmt: skip
AGENCY = {
    "spm_pendidikan": "Dinas Pendidikan", "spm_kesehatan": "Dinas Kesehatan", "spm_pu": "Dinas Pekerjaan Umum",
    "spm_perkim": "Dinas Perumahan dan Kawasan Permukiman", "spm_trantibum": "Satpol PP dan BPBD",
    "spm_sosial": "Dinas Sosial",
}  # fmt: skip
#: target population as a share of the kab/kota population, or (low, high) absolute counts for case-based services
TARGET_BASIS: dict[str, float | tuple[int, int]] = {
    "KES-01": 0.0155, "KES-02": 0.0148, "KES-03": 0.0141, "KES-04": 0.072, "KES-05": 0.16, "KES-06": 0.62,
    "KES-07": 0.11, "KES-08": 0.08, "KES-09": 0.025, "KES-10": 0.0017, "KES-11": 0.008, "KES-12": 0.02,
    "DIK-01": 0.032, "DIK-02": 0.14, "DIK-03": 0.004, "PU-01": 0.28, "PU-02": 0.28,
    "PRK-01": (20, 200), "PRK-02": (10, 100), "TRT-01": (300, 2000), "TRT-02": 0.1, "TRT-03": 0.1,
    "TRT-04": (100, 1500), "TRT-05": (50, 300), "SOS-01": (50, 800), "SOS-02": (50, 800),
    "SOS-03": (50, 800), "SOS-04": (50, 800), "SOS-05": (50, 800),
}  # fmt: skip
QUARTER_SHARE = {1: (0.18, 0.30), 2: (0.42, 0.55), 3: (0.65, 0.80)}
#: (sheet name, header style, with code column, numbers as Indonesian text) rotated over the files
LAYOUTS = [
    ("TW {q} {y}", "merged", True, False),
    ("Triwulan {roman}", "single", True, True),
    ("Capaian SPM", "merged", False, False),
    ("SPM TW{q}", "single", False, False),
]


def services() -> pd.DataFrame:
    return pd.read_csv(
        REFERENCE_DIR / "catalog" / "spm_services_kabkota.csv", dtype=str, keep_default_na=False
    )


SECTOR_TITLES = dict(services()[["sector", "sector_name"]].drop_duplicates().itertuples(index=False))


def draw(ctx: Context) -> pd.DataFrame:
    """One row per service and quarter: target, served (cumulative), quality %."""
    rng = ctx.rng("spm")
    population = int(village_population(ctx).population.sum())
    rows = []
    for service in services().itertuples():
        basis = TARGET_BASIS[service.service_code]
        for year in (2025, 2026):
            if isinstance(basis, tuple):
                target = int(rng.integers(*basis) * (population / 1_700_000) ** 0.5) + 5
            else:
                target = int(population * basis * rng.uniform(0.9, 1.1) * (1 + 0.01 * (year - 2025)))
            final = rng.uniform(0.7, 1.0) if rng.random() > 0.15 else 1.0
            quality = rng.uniform(60, 97)
            for quarter in range(1, 5):
                share = final if quarter == 4 else final * rng.uniform(*QUARTER_SHARE[quarter])
                rows.append((service.service_code, service.sector, service.service_name, year, quarter, target,
                             int(target * share), min(100.0, round(quality + 1.5 * quarter, 2))))  # fmt: skip
    frame = pd.DataFrame(rows, columns=["service_code", "sector", "service_name", "year", "quarter", "target",
                                        "served", "quality_pct"])  # fmt: skip
    # cumulative within the year: never below the previous quarter
    frame["served"] = frame.groupby(["service_code", "year"]).served.cummax()
    return frame


def generate(ctx: Context) -> None:
    frame = draw(ctx)
    truth = ctx.truth.setdefault("spm", {})
    for file_no, ((year, quarter), (sector, source)) in enumerate(
        (yq, ss) for yq in QUARTERS for ss in SECTOR_SOURCE.items()
    ):
        part = frame[(frame.sector == sector) & (frame.year == year) & (frame.quarter == quarter)]
        sheets = _sheets(ctx, part, source, year, quarter, file_no)
        legacy = source == "spm_perkim" and (year, quarter) == (2025, 1)
        path = ctx.path(
            source, f"{source}_{ctx.regency.digits}_{year}_TW{quarter}.{'xls' if legacy else 'xlsx'}"
        )
        if legacy:
            write_xls(path, sheets, author=AGENCY[source])
        else:
            write_xlsx(path, sheets, author=AGENCY[source])
        period = f"{year}-Q{quarter}"
        ctx.record(path, source, period, sheets)
        for row in part.itertuples():
            truth.setdefault(period, {})[row.service_code] = {
                "sector": source.removeprefix("spm_"), "target": int(row.target), "served": int(row.served),
                "quality_pct": float(row.quality_pct),
            }  # fmt: skip


def _sheets(
    ctx: Context, part: pd.DataFrame, source: str, year: int, quarter: int, file_no: int
) -> list[Sheet]:
    name_template, style, with_code, as_text = LAYOUTS[file_no % len(LAYOUTS)]
    sector_title = SECTOR_TITLES[part.iloc[0].sector].upper()
    title = [f"LAPORAN CAPAIAN STANDAR PELAYANAN MINIMAL (SPM) BIDANG {sector_title}",
             f"{ctx.regency.name.upper()} - TRIWULAN {QUARTER_ROMAN[quarter]} TAHUN {year}"]  # fmt: skip
    if style == "merged":
        top = ["No", "Kode", "Jenis Pelayanan Dasar", "Jumlah", None, "Capaian (%)", "Capaian Mutu Minimal (%)",
               "Keterangan"]  # fmt: skip
        bottom = [None, None, None, "Sasaran", "Terlayani Sesuai Standar", None, None, None]
        merges = [(0, c, 1, c, top[c]) for c in (0, 1, 2, 5, 6, 7)] + [(0, 3, 0, 4, "Jumlah")]
        headers = [top, bottom]
    else:
        headers = [["No", "Kode SPM", "Jenis Layanan", "Jumlah Sasaran", "Jumlah Terlayani", "% Capaian",
                    "Pemenuhan Mutu Minimal (%)", "Ket"]]  # fmt: skip
        if file_no % 3 == 0:
            headers = [["No", "Kode Layanan", "Uraian", "Target", "Realisasi", "Persentase Capaian", "Mutu Minimal",
                        "Ket"]]  # fmt: skip
        merges = []
    if not with_code:
        headers = [h[:1] + h[2:] for h in headers]
        merges = [(r0, c0 - (c0 > 1), r1, c1 - (c1 > 1), t) for r0, c0, r1, c1, t in merges if c0 != 1]
    sheet = Sheet(
        name=name_template.format(q=quarter, y=year, roman=QUARTER_ROMAN[quarter]),
        title_rows=title, header_rows=headers, merges=merges,
        column_styles={len(headers[0]) - 3: "dec2", len(headers[0]) - 2: "dec2"},
    )  # fmt: skip
    for no, row in enumerate(part.itertuples(), start=1):
        pct = round(100 * row.served / row.target, 2) if row.target else 0.0
        target = id_int(row.target) if as_text else row.target
        served = "-" if row.served == 0 else (id_int(row.served) if as_text else row.served)
        pct_cell = f"{id_decimal(pct, 2)}%" if as_text else pct
        quality = f"{id_decimal(row.quality_pct, 2)}" if as_text else row.quality_pct
        name = row.service_name.upper() if file_no % 5 == 4 else row.service_name
        note = "kumulatif" if no == 1 else ""
        cells = [no, row.service_code, name, target, served, pct_cell, quality, note]
        sheet.data(cells if with_code else cells[:1] + cells[2:])
    if style == "merged":
        total = ["", "", "JUMLAH", int(part.target.sum()), int(part.served.sum()), "", "", ""]
        sheet.total(total if with_code else total[:1] + total[2:], "JUMLAH")
    sheet.blank()
    sheet.note(f"Keterangan: data kumulatif sampai dengan Triwulan {QUARTER_ROMAN[quarter]} {year}")
    sheet.note(f"{ctx.regency.short_name}, 15 {['April', 'Juli', 'Oktober', 'Januari'][quarter - 1]} "
               f"{year + (quarter == 4)}")  # fmt: skip
    sheet.note(f"Kepala {AGENCY[source]}")
    instructions = Sheet(name="Petunjuk Pengisian", header_rows=[["PETUNJUK PENGISIAN"]], ignored=True)
    for line in ("1. Isi jumlah sasaran dan jumlah terlayani sesuai standar secara kumulatif.",
                 "2. Capaian dihitung otomatis; jangan mengubah rumus.",
                 "3. Kirim paling lambat tanggal 20 bulan berikutnya."):  # fmt: skip
        instructions.data([line])
    draft = Sheet(name="SPM (draft)", header_rows=[headers[-1]], hidden=True, ignored=True)
    rng = ctx.rng("spm-draft", file_no)
    for no, row in enumerate(part.itertuples(), start=1):
        draft.data([no, row.service_code, row.service_name, int(row.target * 2), int(rng.integers(0, 10))][
            : len(headers[-1])])  # fmt: skip
    return [instructions, sheet, draft]
