"""BPS kab/kota poverty series (published, wide: a year per column, a sheet per indicator) and the
Susenas-like household microdata that reproduces it.

The series is drawn once per province from the seed; each kab/kota's microdata is then calibrated so
that its survey-weighted headcount with the BPS poverty line equals the published P0, and the published
P1/P2 for those years are the microdata's own FGT values (so a pipeline's FGT can be checked exactly).
"""

from __future__ import annotations

import zlib
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from gudang.sample.context import Context
from gudang.sample.layout import Sheet
from gudang.sample.mess import id_decimal
from gudang.sample.regions import _tables, province_of
from gudang.sample.writers import write_csv, write_xlsx

SOURCE = "bps_poverty"
SERIES_YEARS = list(range(2025, 2018, -1))  # descending, as BPS tables are
SUSENAS_YEARS = [2024, 2025]
HOUSEHOLDS = 600
#: approximate published P0 (%) in 2025 for a few kab/kota; the rest are drawn
KNOWN_P0 = {"33.74": 4.0, "33.73": 4.6, "33.72": 8.4, "33.71": 6.5, "33.07": 15.0, "33.05": 15.6,
            "33.29": 14.9, "33.27": 14.0, "33.03": 14.5, "33.04": 14.3, "33.01": 10.3}  # fmt: skip
#: percentage-point shift against 2025, per 10% of P0 (COVID bump in 2020-2021)
YEAR_SHIFT = {2019: 0.9, 2020: 1.2, 2021: 1.5, 2022: 0.9, 2023: 0.6, 2024: 0.3, 2025: 0.0}
SHEETS = [
    (
        "poverty_line_rp",
        "Garis Kemiskinan (Rp)",
        "Garis Kemiskinan (Rupiah/Kapita/Bulan) Menurut Kabupaten/Kota",
    ),
    (
        "poor_population",
        "Jumlah Penduduk Miskin",
        "Jumlah Penduduk Miskin (Ribu Jiwa) Menurut Kabupaten/Kota",
    ),
    ("p0_pct", "Persentase Penduduk Miskin", "Persentase Penduduk Miskin (P0) Menurut Kabupaten/Kota"),
    ("p1", "Indeks Kedalaman Kemiskinan", "Indeks Kedalaman Kemiskinan (P1) Menurut Kabupaten/Kota"),
    ("p2", "Indeks Keparahan Kemiskinan", "Indeks Keparahan Kemiskinan (P2) Menurut Kabupaten/Kota"),
]


@cache
def series(seed: int, province_code: str) -> pd.DataFrame:
    """One row per kab/kota and year: poverty_line_rp, population (ribu), p0_pct, p1, p2, poor (ribu)."""
    rng = np.random.default_rng(
        np.random.SeedSequence([seed, int(province_code), zlib.crc32(SOURCE.encode())])
    )
    regencies = _tables()[1]
    regencies = regencies[regencies.province_code == province_code].sort_values("code")
    rows = []
    for code, name in zip(regencies.code, regencies.name, strict=True):
        city = name.startswith("Kota ")
        p0_2025 = KNOWN_P0.get(code, rng.uniform(7, 13.5))
        gk_2025 = (
            (650_000 if code == "33.74" else rng.uniform(560_000, 640_000))
            if city
            else rng.uniform(420_000, 560_000)
        )
        population = rng.uniform(120, 350) if city else rng.uniform(550, 2000)
        if code == "33.74":
            population = 1700.0
        depth, severity = rng.uniform(0.13, 0.19), rng.uniform(0.2, 0.28)
        for year in SERIES_YEARS:
            p0 = round(p0_2025 + YEAR_SHIFT[year] * p0_2025 / 10 + rng.normal(0, 0.08), 2)
            p1 = round(p0 * depth * rng.uniform(0.92, 1.08), 2)
            p2 = round(min(p1, p1 * severity * rng.uniform(0.92, 1.08)), 2)
            pop_year = population * (1 - 0.009 * (2025 - year))
            rows.append({"code": code, "name": name, "year": year,
                         "poverty_line_rp": int(round(gk_2025 / 1.045 ** (2025 - year), -1)),
                         "population_ribu": round(pop_year, 2), "p0_pct": p0, "p1": p1, "p2": p2})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["poor_population"] = (frame.p0_pct / 100 * frame.population_ribu).round(2)
    return frame


def fgt(expenditure: np.ndarray, person_weight: np.ndarray, line: float) -> tuple[float, float, float]:
    """Survey-weighted FGT P0 (%), P1, P2 (both x100, as BPS publishes them)."""
    gap = np.clip((line - expenditure) / line, 0, None)
    total = person_weight.sum()
    return tuple(float(100 * (person_weight * g).sum() / total) for g in ((gap > 0) * 1.0, gap, gap**2))


def susenas(ctx: Context) -> None:
    """Household microdata for each Susenas year, calibrated to the published P0 and poverty line."""
    published = series(ctx.seed, ctx.regency.code[:2])
    truth = ctx.truth.setdefault("susenas", {})
    for file_no, year in enumerate(SUSENAS_YEARS):
        rng = ctx.rng("susenas", year)
        target = published[(published.code == ctx.regency.code) & (published.year == year)].iloc[0]
        n = max(60, int(HOUSEHOLDS * ctx.size))
        size = np.clip(rng.poisson(2.7, n) + 1, 1, 10)
        urban = np.where(ctx.regency.is_city | (rng.random(n) < 0.35), 1, 2)
        weight = rng.uniform(0.5, 1.5, n)
        weight = np.round(weight * target.population_ribu * 1000 / (weight * size).sum(), 2)
        log_y = rng.normal(0, 0.42, n) - 0.1 * (size - 3)
        expenditure, weight = _calibrate(log_y, weight, size, target.p0_pct / 100, target.poverty_line_rp)
        person_weight = weight * size
        p0, p1, p2 = fgt(expenditure, person_weight, target.poverty_line_rp)
        english = file_no == 0
        cols = {
            "URUT": [f"{ctx.regency.digits}{year % 100:02d}{i:05d}" for i in range(1, n + 1)],
            "KODE KAB": np.full(n, ctx.regency.digits),
            "DAERAH": urban,
            "ART": size,
            "FWT": weight if english else id_decimal_array(weight, 2),
            "KAPITA": expenditure if english else id_decimal_array(expenditure, 2),
        }
        header = ["URUT", "KODE KAB", "DAERAH", "ART", "FWT", "KAPITA"] if english else [
            "ID RT", "kode_kabkota", "Klasifikasi Desa", "Jumlah ART", "Penimbang", "Pengeluaran per Kapita"]  # fmt: skip
        path = ctx.path("susenas", f"susenas_{ctx.regency.digits}_{year}.csv")
        write_csv(path, header, pd.DataFrame(cols), sep=";")
        sheet = Sheet(name="", header_rows=[header])
        for _ in range(n):
            sheet.data([])
        ctx.record(path, "susenas", str(year), [sheet], decimal="." if english else ",")
        truth[str(year)] = {
            "households": n, "persons_weighted": round(float(person_weight.sum()), 2),
            "poverty_line_rp": int(target.poverty_line_rp), "p0_pct": round(p0, 4), "p1": round(p1, 4),
            "p2": round(p2, 4), "published_p0_pct": float(target.p0_pct),
            "note": "person weight = FWT x ART; P1, P2 x100 as BPS publishes",
        }  # fmt: skip
        ctx.cache.setdefault("fgt", {})[(ctx.regency.code, year)] = (round(p1, 2), round(p2, 2))


def _calibrate(log_y, weight, size, p0, line):
    """Expenditure and weights whose person-weighted headcount below ``line`` is ``p0`` (to the weight's cent).

    The poorest households up to the P0 quantile are put just below the line; their weights are then
    tilted so the weighted share is exact despite households being discrete, and all weights rescaled
    to keep the population.
    """
    order = np.argsort(log_y)
    person = weight * size
    cum = np.cumsum(person[order]) / person.sum()
    k = int(np.searchsorted(cum, p0)) + 1  # households order[:k] are poor
    if k > 1 and abs(cum[k - 2] - p0) < abs(cum[k - 1] - p0):
        k -= 1
    threshold = (log_y[order][k - 1] + log_y[order][k]) / 2
    expenditure = np.round(line * np.exp(log_y - threshold), 0)
    poor = expenditure < line
    share = person[poor].sum() / person.sum()
    tilt = p0 * (1 - share) / (share * (1 - p0))
    tilted = np.where(poor, weight * tilt, weight)
    return expenditure, np.round(tilted * person.sum() / (tilted * size).sum(), 2)


def id_decimal_array(values: np.ndarray, decimals: int) -> np.ndarray:
    return np.array([id_decimal(v, decimals).replace(".", "") for v in values], dtype=object)


def write_series(out: Path, seed: int, province_code: str, fgt_overrides: dict[tuple[str, int], tuple[float, float]]
                 ) -> tuple[dict, dict]:  # fmt: skip
    """Write ``bps_poverty/bps_kemiskinan_<prov>_<year>.xlsx``; return (manifest file entry, truth)."""
    frame = series(seed, province_code).copy()
    for (code, year), (p1, p2) in fgt_overrides.items():
        mask = (frame.code == code) & (frame.year == year)
        frame.loc[mask, "p1"] = min(p1, float(frame.loc[mask, "p0_pct"].iloc[0]))
        frame.loc[mask, "p2"] = min(p2, p1)
    _, province_name = province_of(province_code)
    names = frame.drop_duplicates("code")[["code", "name"]]
    kota_names = {n.removeprefix("Kota ") for n in names.name if n.startswith("Kota ")}
    province_rows = []
    for year, part in frame.groupby("year"):
        pop, poor = part.population_ribu.sum(), part.poor_population.sum()
        province_rows.append({"year": year, "poverty_line_rp": int(round((part.poverty_line_rp * part.population_ribu).sum() / pop, -1)),
                              "poor_population": round(poor, 2), "p0_pct": round(100 * poor / pop, 2),
                              "p1": round((part.p1 * part.population_ribu).sum() / pop, 2),
                              "p2": round((part.p2 * part.population_ribu).sum() / pop, 2)})  # fmt: skip
    province = pd.DataFrame(province_rows).set_index("year")
    sheets = []
    for indicator, sheet_name, title in SHEETS:
        sheet = Sheet(name=sheet_name, title_rows=[f"{title} di Provinsi {province_name}, {SERIES_YEARS[-1]}-{SERIES_YEARS[0]}"],
                      header_rows=[["Kabupaten/Kota" if indicator != "p0_pct" else "Nama Wilayah",
                                    *[str(y) for y in SERIES_YEARS]]])  # fmt: skip
        wide = frame.pivot(index="code", columns="year", values=indicator)
        for code, name in zip(names.code, names.name, strict=True):
            short = name.removeprefix("Kabupaten ")
            label = f"Kab. {short}" if name.startswith("Kabupaten ") and short in kota_names else short
            sheet.data([label, *[wide.loc[code, y].item() for y in SERIES_YEARS]])
        sheet.total(
            [province_name.upper(), *[province.loc[y, indicator].item() for y in SERIES_YEARS]],
            province_name.upper(),
        )
        sheet.blank()
        sheet.note("Sumber: BPS, Survei Sosial Ekonomi Nasional (Susenas) Maret")
        sheets.append(sheet)
    latest = SERIES_YEARS[0]
    path = out / SOURCE / f"bps_kemiskinan_{province_code}_{latest}.xlsx"
    write_xlsx(path, sheets, author="BPS")
    entry_ctx = Context(out=out, seed=seed, regency=None)  # type: ignore[arg-type]
    entry_ctx.record(
        path,
        SOURCE,
        str(latest),
        sheets,
        scope=province_code,
        values_per_row=len(SERIES_YEARS),
        poor_population_unit="ribu jiwa",
    )
    truth = {
        "unit": {"poverty_line_rp": "Rp/kapita/bulan", "poor_population": "ribu jiwa", "p0_pct": "%",
                 "p1": "index x100", "p2": "index x100"},
        "regencies": {code: {str(y): {k: _plain(g.set_index("year").loc[y, k]) for k in
                                      ("poverty_line_rp", "poor_population", "p0_pct", "p1", "p2")}
                             for y in SERIES_YEARS} for code, g in frame.groupby("code")},
        "province": {str(y): {k: _plain(province.loc[y, k]) for k in province.columns} for y in SERIES_YEARS},
    }  # fmt: skip
    return entry_ctx.files[0], truth


def _plain(value):
    return value.item() if hasattr(value, "item") else value
