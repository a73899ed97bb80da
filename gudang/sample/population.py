"""Dukcapil population per kelurahan by sex and five-year age group (semester DKB aggregate)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gudang.sample.context import Context, header_for
from gudang.sample.layout import Defect, Sheet
from gudang.sample.mess import id_int, mangle_village_code
from gudang.sample.writers import write_xlsx

SOURCE = "dukcapil"
YEAR, SEMESTER = 2026, 1
AGE_GROUPS = [f"{a}-{a + 4}" for a in range(0, 75, 5)] + ["75+"]
#: Indonesian age structure (share of population per group), roughly the 2020 census pyramid
AGE_SHARES = np.array([7.6, 7.8, 8.0, 7.9, 7.6, 7.5, 7.4, 7.5, 7.2, 6.7, 6.1, 5.3, 4.3, 3.2, 2.2, 2.7])


def village_population(ctx: Context) -> pd.DataFrame:
    """Long table: village_code, sex, age_group, population. Cached on the context (SPM targets use it)."""
    cached = ctx.cache.get("population")
    if cached is not None:
        return cached
    rng = ctx.rng(SOURCE)
    villages = ctx.regency.villages
    kelurahan = villages.code.str[9] == "1"
    total = np.where(kelurahan, rng.normal(9600, 3500, len(villages)).clip(2500, 30000),
                     rng.normal(4300, 1800, len(villages)).clip(900, 15000))  # fmt: skip
    shares = rng.dirichlet(AGE_SHARES * 60, len(villages))
    male_share = np.clip(
        rng.normal(0.5, 0.01, (len(villages), len(AGE_GROUPS))) - np.linspace(0, 0.06, 16), 0.3, 0.6
    )
    counts = np.round(total[:, None] * shares)
    male = np.round(counts * male_share).astype(np.int64)
    female = counts.astype(np.int64) - male
    frames = [
        pd.DataFrame(
            {
                "village_code": np.repeat(villages.code.to_numpy(), 16),
                "sex": sex,
                "age_group": np.tile(AGE_GROUPS, len(villages)),
                "population": values.ravel(),
            }
        )  # fmt: skip
        for sex, values in (("L", male), ("P", female))
    ]
    frame = pd.concat(frames, ignore_index=True)
    ctx.cache["population"] = frame
    return frame


def generate(ctx: Context) -> None:
    pop = village_population(ctx)
    rng = ctx.rng(SOURCE, 1)
    wide = pop.pivot_table(
        index=["village_code", "sex"], columns="age_group", values="population", aggfunc="sum"
    )
    wide = wide[AGE_GROUPS].reset_index()
    villages = ctx.regency.villages.set_index("code")
    columns = ["village_code", "district_name", "village_name", "sex"]
    header = ["No", *header_for(SOURCE, columns, 0), *AGE_GROUPS, "Jumlah"]
    period = f"{YEAR}-S{SEMESTER}"
    sheet = Sheet(
        name=f"Semester {SEMESTER} {YEAR}",
        title_rows=[
            "JUMLAH PENDUDUK MENURUT DESA/KELURAHAN, KELOMPOK UMUR DAN JENIS KELAMIN",
            f"{ctx.regency.name.upper()} - SEMESTER {'I' if SEMESTER == 1 else 'II'} TAHUN {YEAR}",
        ],  # fmt: skip
        header_rows=[header],
    )
    text_district = ctx.regency.districts.code.iloc[len(ctx.regency.districts) // 2]
    bad_after = rng.integers(0, len(wide) // 2)
    number = 0
    for district_code, district_name in zip(
        ctx.regency.districts.code, ctx.regency.districts.name, strict=True
    ):
        part = wide[wide.village_code.str.startswith(district_code + ".")]
        as_text = district_code == text_district  # this kecamatan's clerk typed numbers as text
        for row in part.itertuples(index=False):
            number += 1
            values = [int(v) for v in row[2:]]
            cells = [id_int(v) if as_text else (v if v else "-") for v in values]
            code_style = "digits" if number % 7 == 0 else "dotted"
            village = villages.loc[row.village_code]
            sheet.data([number, mangle_village_code(row.village_code, code_style), f"Kec. {district_name}"
                        if number % 11 == 0 else district_name.upper(), village["name"].upper(),
                        "Laki-laki" if row.sex == "L" else "Perempuan", *cells, sum(values)])  # fmt: skip
            if number == bad_after:
                sheet.data(
                    [number, f"{ctx.regency.code}.99.1999", district_name.upper(), "KEL. SUKAMAKMUR JAYA",
                     "Laki-laki", *[10] * len(AGE_GROUPS), 10 * len(AGE_GROUPS)],
                    Defect(header[3], "unknown_village", "KEL. SUKAMAKMUR JAYA"),
                )  # fmt: skip
        for sex, word in (("L", "Laki-laki"), ("P", "Perempuan")):
            sums = part[part.sex == sex][AGE_GROUPS].sum().astype(int).tolist()
            label = f"JUMLAH KEC. {district_name.upper()}"
            sheet.total(["", "", label, "", word, *sums, sum(sums)], label)
    for sex, word in (("L", "Laki-laki"), ("P", "Perempuan")):
        sums = wide[wide.sex == sex][AGE_GROUPS].sum().astype(int).tolist()
        sheet.total(["", "", ctx.regency.name.upper(), "", word, *sums, sum(sums)], ctx.regency.name.upper())
    sheet.blank()
    sheet.note(f"Sumber: Data Kependudukan Bersih (DKB) Semester {SEMESTER} Tahun {YEAR}")
    path = ctx.path(SOURCE, f"{SOURCE}_{ctx.regency.digits}_{YEAR}_S{SEMESTER}.xlsx")
    write_xlsx(path, [sheet], author="Disdukcapil")
    ctx.record(path, SOURCE, period, [sheet], values_per_row=len(AGE_GROUPS))
    by_village = pop.groupby("village_code").population.sum()
    ctx.truth.setdefault(SOURCE, {})[period] = {
        "total": int(pop.population.sum()),
        "male": int(pop[pop.sex == "L"].population.sum()),
        "female": int(pop[pop.sex == "P"].population.sum()),
        "age_0_4": int(pop[pop.age_group == "0-4"].population.sum()),
        "by_age_group": {g: int(v) for g, v in pop.groupby("age_group").population.sum().items()},
        "by_village": {c: int(v) for c, v in by_village.items()},
    }
