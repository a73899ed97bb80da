"""LKPM investment realisation per quarter: one row per company report (DPMPTSP compilation)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gudang.sample.context import Context
from gudang.sample.layout import Defect, Sheet
from gudang.sample.mess import QUARTER_ROMAN, id_decimal, id_int, vary_name
from gudang.sample.people import names, phones
from gudang.sample.regions import _tables
from gudang.sample.writers import write_xlsx
from gudang.settings import REFERENCE_DIR

SOURCE = "lkpm"
QUARTERS = [(2025, 1), (2025, 2), (2025, 3), (2025, 4), (2026, 1), (2026, 2), (2026, 3)]
COMPANIES_PER_DISTRICT = 14
MILIAR_FILE = (2025, 3)  # this quarter's compilation reports PMDN in Rp miliar
#: KBLI 2020 five-digit codes with their BKPM sector code (reference/catalog/bkpm_sectors.csv)
KBLI_SECTOR = {
    "01131": 1, "01270": 1, "02110": 2, "03221": 3, "08102": 4, "10710": 5, "10799": 5, "11040": 5,
    "13111": 6, "14111": 6, "15201": 7, "16101": 8, "17011": 9, "18111": 9, "20111": 10, "21012": 10,
    "22220": 11, "23951": 12, "24101": 13, "25111": 13, "26110": 14, "27110": 14, "28110": 14,
    "29100": 15, "30911": 15, "32900": 16, "35101": 17, "36000": 17, "41011": 18, "42101": 18,
    "46100": 19, "47111": 19, "45201": 19, "55110": 20, "56101": 20, "49431": 21, "52101": 21,
    "61100": 21, "68111": 22, "68200": 22, "62019": 23, "64121": 23, "70209": 23, "85499": 23, "86103": 23,
}  # fmt: skip
COMPANY_WORDS = ["Sinar", "Jaya", "Abadi", "Makmur", "Sentosa", "Mitra", "Karya", "Prima", "Utama", "Nusantara", "Cipta", "Mandiri", "Sejahtera", "Global", "Indo", "Mega", "Agung", "Bumi", "Lestari", "Tirta", "Surya", "Persada", "Perkasa", "Semesta", "Baru"]  # fmt: skip
STATUS = ["Disetujui", "Perlu Perbaikan", "Ditolak"]


def _companies(ctx: Context, rng: np.random.Generator) -> pd.DataFrame:
    districts = ctx.regency.districts
    n = max(10, int(COMPANIES_PER_DISTRICT * len(districts) * ctx.size))
    words = np.array(COMPANY_WORDS, dtype=object)
    w = [words[rng.integers(0, len(words), n)] for _ in range(3)]
    legal = np.where(rng.random(n) < 0.85, "PT ", "CV ")
    foreign = rng.random(n) < 0.2
    kbli = np.array(list(KBLI_SECTOR), dtype=object)[rng.integers(0, len(KBLI_SECTOR), n)]
    contact_sex = np.where(rng.random(n) < 0.7, "L", "P")
    return pd.DataFrame(
        {
            "nib": (9120000000000 + rng.choice(8_000_000_000, n, replace=False) * 7).astype(str),
            "name": legal + w[0] + " " + w[1] + " " + w[2] + np.where(np.arange(n) % 9 == 0, " Tbk", ""),
            "contact": names(rng, contact_sex),
            "phone": phones(rng, n),
            "type": np.where(foreign, "PMA", "PMDN"),
            "kbli": kbli,
            "district": districts.name.to_numpy()[rng.integers(0, len(districts), n)],
            "scale": rng.lognormal(0, 1.1, n),
        }
    )


def generate(ctx: Context) -> None:
    rng = ctx.rng(SOURCE)
    companies = _companies(ctx, rng)
    sectors = pd.read_csv(REFERENCE_DIR / "catalog" / "bkpm_sectors.csv").set_index("sector_code").sector_name
    ctx.add_pii("names", companies.contact)
    ctx.add_pii("phones", companies.phone)
    foreign_district = _foreign_district(ctx)
    truth = ctx.truth.setdefault(SOURCE, {})
    for file_no, (year, quarter) in enumerate(QUARTERS):
        q_rng = ctx.rng(SOURCE, year, quarter)
        reporting = companies[q_rng.random(len(companies)) < 0.72].reset_index(drop=True)
        n = len(reporting)
        pma = reporting.type.to_numpy() == "PMA"
        usd = np.where(pma, np.round(reporting.scale.to_numpy() * q_rng.lognormal(5.5, 0.8, n), 2), np.nan)
        idr = np.where(pma, np.nan, np.round(reporting.scale.to_numpy() * q_rng.lognormal(7.3, 1.0, n)))
        tki = np.round(reporting.scale.to_numpy() * q_rng.integers(3, 60, n)).astype(int)
        tka = np.where(pma, q_rng.integers(0, 6, n), 0)
        status = np.array(STATUS, dtype=object)[q_rng.choice(3, n, p=[0.88, 0.07, 0.05])]
        miliar = (year, quarter) == MILIAR_FILE
        as_text = file_no % 3 == 1
        idr_header = "Nilai Investasi (Rp Miliar)" if miliar else ["Nilai Investasi (Rp Juta)", "Realisasi (Rp Juta)",
                                                                   "Investasi (Rp Juta)"][file_no % 3]  # fmt: skip
        usd_header = ["Nilai Investasi (US$ Ribu)", "Realisasi (US$ Ribu)", "Investasi (US$ Ribu)"][
            file_no % 3
        ]
        header = ["No", "No. LKPM", "NIB", "Nama Perusahaan", "Nama Penanggung Jawab", "No. Telp",
                  ["Status PM", "PMA/PMDN", "Status Penanaman Modal"][file_no % 3], "KBLI",
                  "Bidang Usaha", "Kecamatan", usd_header, idr_header, ["TKI", "Jumlah TKI"][file_no % 2],
                  ["TKA", "Jumlah TKA"][file_no % 2], "Status Laporan"]  # fmt: skip
        sheet = Sheet(
            name=f"TW {QUARTER_ROMAN[quarter]} {year}",
            title_rows=[
                "REKAPITULASI REALISASI INVESTASI BERDASARKAN LKPM",
                f"{ctx.regency.name.upper()} TRIWULAN {QUARTER_ROMAN[quarter]} TAHUN {year}",
            ],  # fmt: skip
            header_rows=[header],
        )
        district_style = np.array(["plain", "upper", "prefix", "lower", "PREFIX", "spaces"], dtype=object)[
            q_rng.choice(6, n, p=[0.4, 0.3, 0.15, 0.05, 0.05, 0.05])]  # fmt: skip
        defect_rows = dict(zip(q_rng.choice(n, min(n, 2), replace=False).tolist(),
                               ["text_in_number", "unknown_district"], strict=False))  # fmt: skip
        order = np.lexsort((reporting.name.to_numpy(), reporting.type.to_numpy()))
        approved = {"PMA": {"usd_thousand": 0.0, "reports": 0}, "PMDN": {"idr_million": 0.0, "reports": 0}}
        for no, i in enumerate(order, start=1):
            r = reporting.iloc[i]
            district = r.district
            district_cell = "GUNUNG PATI" if district == "Gunungpati" and no % 2 else vary_name(
                district, district_style[i], "Kec")  # fmt: skip
            idr_value = idr[i] / 1000 if miliar else idr[i]
            cells = [no, f"LKPM/{year}/{quarter}/{int(r.nib) % 1_000_000:06d}",
                     float(r.nib) if file_no == 4 else r.nib, r["name"], r.contact, r.phone, r.type, r.kbli,
                     sectors[KBLI_SECTOR[r.kbli]], district_cell,
                     None if np.isnan(usd[i]) else (id_decimal(usd[i], 2) if as_text else float(usd[i])),
                     None if np.isnan(idr_value) else (id_decimal(idr_value, 3 if miliar else 0) if as_text
                                                       else float(idr_value)),
                     id_int(tki[i]) if as_text else int(tki[i]), int(tka[i]) if tka[i] else "-", status[i]]  # fmt: skip
            defect = None
            kind = defect_rows.get(i)
            if kind == "text_in_number":
                cells[12] = "belum lapor"
                defect = Defect(header[12], kind, "belum lapor")
            elif kind == "unknown_district":
                cells[9] = foreign_district
                defect = Defect(header[9], kind, foreign_district)
            sheet.data(cells, defect)
            if defect is None and status[i] == "Disetujui":
                bucket = approved[r.type]
                bucket["reports"] += 1
                if r.type == "PMA":
                    bucket["usd_thousand"] += float(usd[i])
                else:
                    bucket["idr_million"] += float(idr[i])
        sheet.total(["", "", "", "TOTAL", "", "", "", "", "", "", float(np.nansum(usd)),
                     float(np.nansum(idr) / (1000 if miliar else 1)), int(tki.sum()), int(tka.sum()), ""], "TOTAL")  # fmt: skip
        sheet.blank()
        sheet.note("Catatan: hanya laporan berstatus Disetujui yang dihitung sebagai realisasi.")
        sheet.note("Sumber: Online Single Submission (OSS) - LKPM")
        path = ctx.path(SOURCE, f"{SOURCE}_{ctx.regency.digits}_{year}_TW{quarter}.xlsx")
        write_xlsx(path, [sheet], author="DPMPTSP")
        period = f"{year}-Q{quarter}"
        ctx.record(path, SOURCE, period, [sheet], idr_unit="Rp miliar" if miliar else "Rp juta")
        approved["PMA"]["usd_thousand"] = round(approved["PMA"]["usd_thousand"], 2)
        approved["PMDN"]["idr_million"] = round(approved["PMDN"]["idr_million"], 2)
        truth[period] = {"approved": approved, "reports": n}


def _foreign_district(ctx: Context) -> str:
    """A real kecamatan name of another kab/kota of the province that this one does not have."""
    districts = _tables()[2]
    own = set(ctx.regency.districts.name.str.upper())
    others = districts[districts.regency_code.str.startswith(ctx.regency.code[:3])
                       & (districts.regency_code != ctx.regency.code)]  # fmt: skip
    return next(n for n in sorted(others.name) if n.upper() not in own)
