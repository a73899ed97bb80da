"""e-PPGBM child measurements: monthly exports, growth drawn from the WHO LMS tables.

Each kelurahan gets its own stunting prevalence (10-35%); a child's height-for-age z is drawn around the
kelurahan's mean and converted to a length/height with M*(1+L*S*z)^(1/L). Everyone is measured in the
weighing months (February, August), about a quarter of the children in the other months. Some children
are measured in the wrong position (standing under two years, lying from two years) so the pipeline's
0.7 cm rule matters.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from gudang.sample import who
from gudang.sample.context import Context, header_for
from gudang.sample.layout import Defect, Sheet
from gudang.sample.mess import MONTHS_ID, format_dates, id_decimals, mangle_village_code, vary_name
from gudang.sample.people import names, niks
from gudang.sample.writers import write_csv, write_xlsx

SOURCE = "eppgbm"
YEAR = 2026
MONTHS = range(1, 10)
WEIGHING_MONTHS = (2, 8)
XLSX_MONTHS = (1, 3, 5, 7, 8)
CHILDREN_PER_VILLAGE = {"kota": 17.0, "province": 33.5}  # province: ~1,000,000 measurements in Jawa Tengah
OTHER_MONTH_SHARE = 0.25
WRONG_POSITION_SHARE = 0.06
REPORTED_Z_OFF_SHARE = 0.008
EPOCH = np.datetime64("1970-01-01", "D")
OLDEST_BIRTH = np.datetime64("2021-10-10", "D")
YOUNGEST_BIRTH = np.datetime64("2026-08-25", "D")
MAX_AGE_DAYS = 1820  # just under 60 months (1826 days)

COLUMNS = [
    "child_key", "child_name", "sex", "birth_date", "birth_weight_kg", "birth_length_cm", "parent_name",
    "province_name", "regency_name", "district_name", "puskesmas", "village_code", "village_name", "posyandu",
    "rt", "rw", "address", "age_text", "measured_on", "weight_kg", "height_cm", "measure_method", "muac_cm",
    "status_wfa_reported", "zscore_wfa_reported", "status_hfa_reported", "zscore_hfa_reported",
    "status_wfh_reported", "zscore_wfh_reported",
]  # fmt: skip
POSYANDU = [
    "Melati",
    "Mawar",
    "Anggrek",
    "Kenanga",
    "Dahlia",
    "Flamboyan",
    "Cempaka",
    "Teratai",
    "Seruni",
    "Bougenville",
]
STREETS = [
    "Jl. Merpati",
    "Jl. Kenari",
    "Gg. Mawar",
    "Jl. Pemuda",
    "Jl. Kartini",
    "Gg. Masjid",
    "Jl. Cendana",
    "Jl. Sawo",
]
SEX_STYLES = [("L", "P"), ("Laki-laki", "Perempuan"), ("1", "2"), ("Laki - Laki", "Perempuan")]
METHOD_STYLES = [("Berdiri", "Terlentang"), ("Berdiri", "Telentang"), ("Berdiri", "Berbaring")]
DEFECT_ROTATION = ["unknown_village", "impossible_date", "absurd_height", "text_in_number"]


def _status(z: np.ndarray, cuts: list[float], labels: list[str]) -> np.ndarray:
    return np.array(labels, dtype=object)[np.searchsorted(cuts, z, side="left")]


def wfa_status(z):
    return _status(z, [-3, -2, 1.0000001], ["Berat badan sangat kurang", "Berat badan kurang",
                                           "Berat badan normal", "Risiko berat badan lebih"])  # fmt: skip


def hfa_status(z):
    return _status(z, [-3, -2, 3.0000001], ["Sangat pendek", "Pendek", "Normal", "Tinggi"])


def wfh_status(z):
    return _status(z, [-3, -2, 1.0000001, 2.0000001, 3.0000001],
                   ["Gizi buruk", "Gizi kurang", "Gizi baik", "Berisiko gizi lebih", "Gizi lebih", "Obesitas"])  # fmt: skip


def age_text(birth: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """'2 Tahun - 3 Bulan - 5 Hari', vectorised on datetime64[D]."""
    bm, mm = birth.astype("datetime64[M]"), measured.astype("datetime64[M]")
    bd = (birth - bm.astype("datetime64[D]")).astype(int) + 1
    md = (measured - mm.astype("datetime64[D]")).astype(int) + 1
    months = (mm - bm).astype(int) - (md < bd)
    anniv_month = bm + months
    month_len = ((anniv_month + 1).astype("datetime64[D]") - anniv_month.astype("datetime64[D]")).astype(int)
    anniv = anniv_month.astype("datetime64[D]") + np.minimum(bd, month_len) - 1
    days = (measured - anniv).astype(int)
    y, m = months // 12, months % 12
    return (
        y.astype(str).astype(object) + " Tahun - " + m.astype(str) + " Bulan - " + days.astype(str) + " Hari"
    )


def draw_children(ctx: Context, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    villages = ctx.regency.villages
    per_village = CHILDREN_PER_VILLAGE["province" if ctx.province else "kota"] * ctx.size
    n = max(len(villages), int(round(per_village * len(villages))))
    prevalence = rng.uniform(0.10, 0.35, len(villages))
    inv = NormalDist().inv_cdf
    # child HAZ ~ N(mu, 0.9): P(HAZ < -2) = prevalence
    mu = np.array([-2 - 0.9 * inv(p) for p in prevalence])
    village_idx = rng.integers(0, len(villages), n)
    sex = np.where(rng.random(n) < 0.51, "L", "P")
    span = int((YOUNGEST_BIRTH - OLDEST_BIRTH).astype(int))
    birth = OLDEST_BIRTH + rng.integers(0, span, n).astype("timedelta64[D]")
    v = villages.iloc[village_idx].reset_index(drop=True)
    district_digits = v.district_code.str.replace(".", "", regex=False).astype(np.int64).to_numpy()
    children = pd.DataFrame(
        {
            "village_idx": village_idx,
            "village_code": v.code,
            "village_name": v["name"],
            "district_name": v.district_name,
            "sex": sex,
            "birth": birth,
            "haz_child": mu[village_idx] + rng.normal(0, 0.9, n),
            "whz_child": rng.normal(-0.25, 0.95, n),
            "nik": niks(district_digits, (birth - EPOCH).astype(int), sex),
            "name": names(rng, sex),
            "parent_name": names(rng, np.full(n, "P")),
            "birth_weight": np.round(rng.normal(3.1, 0.45, n).clip(1.6, 4.6), 2),
            "birth_length": np.round(rng.normal(49.0, 2.0, n).clip(42, 55), 1),
            "posyandu": [f"{POSYANDU[i % len(POSYANDU)]} {1 + i // len(POSYANDU)}" for i in rng.integers(0, 40, n)],
            "rt": rng.integers(1, 15, n),
            "rw": rng.integers(1, 12, n),
            "address": np.array(STREETS, dtype=object)[rng.integers(0, len(STREETS), n)]
            + " No. " + rng.integers(1, 120, n).astype(str).astype(object),
        }
    )  # fmt: skip
    prevalence_table = pd.DataFrame(
        {"village_code": villages.code, "true_prevalence": prevalence, "haz_mean": mu}
    )
    return children.sort_values("nik", kind="stable").reset_index(drop=True), prevalence_table


def draw_measurements(children: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    frames = []
    birth = children.birth.to_numpy().astype("datetime64[D]")
    for month in MONTHS:
        first = np.datetime64(f"{YEAR}-{month:02d}-01", "D")
        measured = first + rng.integers(0, 28, len(children)).astype("timedelta64[D]")
        age = (measured - birth).astype(int)
        eligible = (age >= 14) & (age <= MAX_AGE_DAYS)
        chosen = eligible & ((month in WEIGHING_MONTHS) | (rng.random(len(children)) < OTHER_MONTH_SHARE))
        idx = np.flatnonzero(chosen)
        frames.append(
            pd.DataFrame({"child": idx, "month": month, "measured": measured[idx], "age_days": age[idx]})
        )
    m = pd.concat(frames, ignore_index=True)
    n = len(m)
    c = children.iloc[m.child.to_numpy()].reset_index(drop=True)
    sex12 = np.where(c.sex.to_numpy() == "L", 1, 2)
    age = m.age_days.to_numpy()
    haz = c.haz_child.to_numpy() + rng.normal(0, 0.12, n)
    size = who.value_at_z(who.table("lenanthro").at(sex12, age), haz)  # in the standard's position
    young = age < who.HEIGHT_FROM_DAYS
    wrong = rng.random(n) < WRONG_POSITION_SHARE
    standing = young == wrong  # young children lie unless wrong; older stand unless wrong
    recorded_height = np.round(
        size - np.where(young & standing, 0.7, 0) + np.where(~young & ~standing, 0.7, 0), 1
    )
    whz = np.clip(c.whz_child.to_numpy() + rng.normal(0, 0.2, n), -4, 4)
    weight = np.round(who.value_at_z(who.weight_for_size_lms(sex12, age, size), whz), 1)
    muac = np.where(age >= 183, np.round(rng.normal(14.8, 0.7, n) + 0.4 * whz, 1), np.nan)
    haz_r, waz_r, whz_r = who.zscores(sex12, age, recorded_height, weight, standing)
    m = m.assign(
        sex12=sex12, height=recorded_height, weight=weight, standing=standing, wrong_position=wrong, muac=muac,
        haz=haz_r, waz=waz_r, whz=whz_r,
    )  # fmt: skip
    # e-PPGBM's own z columns: rounded, and a few off (as the application's stale tables produce)
    reported_haz = np.round(haz_r, 2)
    off = rng.random(n) < REPORTED_Z_OFF_SHARE
    reported_haz = np.where(off, np.round(reported_haz + rng.choice([-1.0, 1.0], n), 2), reported_haz)
    return m.assign(
        zs_haz=reported_haz, zs_waz=np.round(waz_r, 2), zs_whz=np.round(whz_r, 2), reported_z_off=off
    )


def generate(ctx: Context) -> None:
    rng = ctx.rng(SOURCE)
    children, prevalence = draw_children(ctx, rng)
    measurements = draw_measurements(children, rng)
    ctx.add_pii("nik", children.nik)
    ctx.add_pii("names", children.name)
    ctx.add_pii("names", children.parent_name)
    ctx.truth.setdefault(SOURCE, {})["village_prevalence"] = {
        row.village_code: round(float(row.true_prevalence), 4) for row in prevalence.itertuples()
    }
    ctx.truth[SOURCE]["children"] = len(children)
    ctx.truth[SOURCE]["measurements"] = len(measurements)
    for file_no, month in enumerate(MONTHS):
        rows = measurements[measurements.month == month]
        month_rng = ctx.rng(SOURCE, month)
        _write_month(ctx, children, rows, month, file_no, month_rng)


def _columns_for_month(ctx: Context, children: pd.DataFrame, m: pd.DataFrame, month: int, variant: int,
                       rng: np.random.Generator, csv: bool) -> tuple[dict[str, np.ndarray], pd.DataFrame]:  # fmt: skip
    """Column name -> cell values (python objects) in the file's spelling, plus the row order used."""
    c = children.iloc[m.child.to_numpy()].reset_index(drop=True)
    m = m.reset_index(drop=True)
    order = np.lexsort((c.name.to_numpy(), c.posyandu.to_numpy(), c.village_code.to_numpy()))
    c, m = c.iloc[order].reset_index(drop=True), m.iloc[order].reset_index(drop=True)
    n = len(m)
    male, female = SEX_STYLES[variant % len(SEX_STYLES)]
    standing_word, lying_word = METHOD_STYLES[variant % len(METHOD_STYLES)]
    birth = c.birth.to_numpy().astype("datetime64[D]")
    measured = m.measured.to_numpy().astype("datetime64[D]")
    birth_days, measured_days = (birth - EPOCH).astype(int), (measured - EPOCH).astype(int)
    name_style = np.array(["plain", "upper", "prefix", "lower", "PREFIX", "spaces"], dtype=object)
    village_style = name_style[rng.choice(6, n, p=[0.55, 0.2, 0.1, 0.06, 0.05, 0.04])]
    district_style = name_style[rng.choice(6, n, p=[0.5, 0.25, 0.15, 0.04, 0.04, 0.02])]
    district_names = c.district_name.to_numpy()
    cols: dict[str, np.ndarray] = {
        "child_key": c.nik.to_numpy(),
        "child_name": c.name.to_numpy(),
        "sex": np.where(c.sex.to_numpy() == "L", male, female),
        "birth_weight_kg": c.birth_weight.to_numpy(),
        "birth_length_cm": c.birth_length.to_numpy(),
        "parent_name": c.parent_name.to_numpy(),
        "province_name": np.full(n, ctx.regency.province_name.upper(), dtype=object),
        "regency_name": np.full(n, ctx.regency.name.upper(), dtype=object),
        "district_name": np.array(
            [
                "GUNUNG PATI" if d == "Gunungpati" and s == "upper" else vary_name(d, s, "Kec")
                for d, s in zip(district_names, district_style, strict=True)
            ],
            dtype=object,
        ),
        "puskesmas": ("Puskesmas " + c.district_name).to_numpy(),
        "village_code": np.array(
            [mangle_village_code(code, "digits" if variant % 2 else "half") for code in c.village_code],
            dtype=object,
        ),
        "village_name": np.array(
            [vary_name(v, s, "Kel") for v, s in zip(c.village_name, village_style, strict=True)], dtype=object
        ),
        "posyandu": c.posyandu.to_numpy(),
        "rt": np.char.zfill(c.rt.to_numpy().astype(str), 3).astype(object),
        "rw": np.char.zfill(c.rw.to_numpy().astype(str), 3).astype(object),
        "address": c.address.to_numpy(),
        "age_text": age_text(birth, measured),
        "weight_kg": m.weight.to_numpy(),
        "height_cm": m.height.to_numpy(),
        "measure_method": np.where(m.standing.to_numpy(), standing_word, lying_word),
        "muac_cm": m.muac.to_numpy(),
        "status_wfa_reported": wfa_status(m.zs_waz.to_numpy()),
        "zscore_wfa_reported": m.zs_waz.to_numpy(),
        "status_hfa_reported": hfa_status(m.zs_haz.to_numpy()),
        "zscore_hfa_reported": m.zs_haz.to_numpy(),
        "status_wfh_reported": wfh_status(m.zs_whz.to_numpy()),
        "zscore_wfh_reported": m.zs_whz.to_numpy(),
    }
    if csv:
        for col, decimals in (("birth_weight_kg", 2), ("birth_length_cm", 1), ("weight_kg", 1), ("height_cm", 1),
                              ("muac_cm", 1), ("zscore_wfa_reported", 2), ("zscore_hfa_reported", 2),
                              ("zscore_wfh_reported", 2)):  # fmt: skip
            text = id_decimals(np.nan_to_num(cols[col].astype(float), nan=0.0), decimals).astype(object)
            cols[col] = np.where(np.isnan(cols[col].astype(float)), "", text)
        cols["child_key"] = cols["child_key"].astype(str).astype(object)
        cols["birth_date"] = format_dates(birth_days, "dmy")
        style = {2: "long", 4: "short", 6: "dmy-dash", 9: "long"}.get(month, "dmy")
        cols["measured_on"] = format_dates(measured_days, style)
    else:
        # date cells are Excel serials; the sheet style decides whether they look like dates
        serial = 25569  # 1970-01-01 as an Excel serial
        cols["birth_date"] = (birth_days + serial).astype(object)
        cols["measured_on"] = (measured_days + serial).astype(object)
        if month == 5:  # this month's export wrote dates as text
            cols["birth_date"] = format_dates(birth_days, "dmy")
            cols["measured_on"] = format_dates(measured_days, "dmy-dash")
        if month == 3:  # NIK kept as text with Excel's leading apostrophe typed in
            cols["child_key"] = ("'" + cols["child_key"].astype(str)).astype(object)
        else:  # NIK as a number: Excel shows 3,37401E+15 but the double is exact
            cols["child_key"] = cols["child_key"].astype(np.float64).astype(object)
    return cols, m.assign(
        village_code=c.village_code.to_numpy(), birth=birth, sex=c.sex.to_numpy(), measured_day=measured
    )


def _apply_defects(ctx: Context, cols: dict[str, np.ndarray], headers: dict[str, str], month: int, csv: bool,
                   rng: np.random.Generator) -> dict[int, Defect]:  # fmt: skip
    n = len(cols["child_key"])
    kinds = [DEFECT_ROTATION[(month - 1) % 4], DEFECT_ROTATION[(month + 1) % 4]]
    if csv:
        kinds.append("nik_unrecoverable")
    rows = rng.choice(n, size=min(len(kinds), n), replace=False)
    defects = {}
    for row, kind in zip(rows, kinds, strict=False):
        if kind == "unknown_village":
            cols["village_name"][row] = "Kel. Sukamakmur Jaya"
            cols["village_code"][row] = ctx.regency.digits + "991999"
            defects[row] = Defect(headers["village_name"], kind, "Kel. Sukamakmur Jaya")
        elif kind == "impossible_date":
            day = {2: 30, 4: 31, 6: 31, 9: 31}.get(month, 32)
            text = f"{day:02d}/{month:02d}/{YEAR}"
            cols["measured_on"][row] = text
            defects[row] = Defect(headers["measured_on"], kind, text)
        elif kind == "absurd_height":
            cols["height_cm"][row] = "250,0" if csv else 250.0
            defects[row] = Defect(headers["height_cm"], kind, "250")
        elif kind == "text_in_number":
            cols["weight_kg"][row] = "tdk ditimbang"
            defects[row] = Defect(headers["weight_kg"], kind, "tdk ditimbang")
        elif kind == "nik_unrecoverable":
            text = f"{float(cols['child_key'][row]):.5E}".replace("E+0", "E+")
            cols["child_key"][row] = text
            defects[row] = Defect(headers["child_key"], kind, text)
    return defects


def _write_month(ctx: Context, children: pd.DataFrame, m: pd.DataFrame, month: int, variant: int,
                 rng: np.random.Generator) -> None:  # fmt: skip
    csv = month not in XLSX_MONTHS
    with_code = not csv and month != 7
    columns = [c for c in COLUMNS if with_code or c != "village_code"]
    header = header_for(SOURCE, columns, variant)
    headers = dict(zip(columns, header, strict=True))
    cols, ordered = _columns_for_month(ctx, children, m, month, variant, rng, csv)
    for col in cols:
        cols[col] = cols[col].astype(object)
    defects = _apply_defects(ctx, cols, headers, month, csv, rng)
    period = f"{YEAR}-{month:02d}"
    name = f"{SOURCE}_{ctx.regency.digits}_{period}.{'csv' if csv else 'xlsx'}"
    path = ctx.path(SOURCE, name)
    region_title = f"{ctx.regency.name.upper()} - {MONTHS_ID[month - 1].upper()} {YEAR}"
    if csv:
        sheet = Sheet(name="", header_rows=[header])
        for i in range(len(ordered)):
            sheet.data([], defects.get(i))
        write_csv(path, header, {c: cols[c] for c in columns})
        sheets = [sheet]
        sheet_of_row = np.full(len(ordered), None, dtype=object)
        row_numbers = np.arange(len(ordered)) + sheet.first_body_row
    else:
        value_columns = [cols[c] for c in columns]
        styles = {}
        if month != 5:
            styles[columns.index("measured_on") + 1] = "date"
            if month != 3:  # March: birth dates left as bare serial numbers (General format)
                styles[columns.index("birth_date") + 1] = "date"
        if month != 3:
            styles[columns.index("child_key") + 1] = "sci"
        title = ["DATA HASIL PENGUKURAN BALITA (e-PPGBM)", region_title] if month in (1, 7, 8) else []
        if month == 8:  # the weighing-month export: one sheet per kecamatan
            groups = [(d, np.flatnonzero(ordered.village_code.str[:8].to_numpy() == code))
                      for code, d in zip(ctx.regency.districts.code, ctx.regency.districts.name, strict=True)]  # fmt: skip
        else:
            groups = [("Data Pengukuran", np.arange(len(ordered)))]
        sheets = []
        sheet_of_row = np.empty(len(ordered), dtype=object)
        row_numbers = np.zeros(len(ordered), dtype=int)
        for sheet_name, idx in groups:
            if len(idx) == 0:
                continue
            sheet = Sheet(name=sheet_name[:31], header_rows=[["No", *header]], title_rows=title,
                          column_styles=styles)  # fmt: skip
            for k, i in enumerate(idx):
                sheet.data([k + 1, *(col[i] for col in value_columns)], defects.get(i))
            if month == 1:
                sheet.blank()
                sheet.note("Sumber: aplikasi e-PPGBM, diunduh oleh Dinas Kesehatan")
            sheets.append(sheet)
            sheet_of_row[idx] = sheet.name
            row_numbers[idx] = sheet.first_body_row + np.arange(len(idx))
        write_xlsx(path, sheets, author="Dinas Kesehatan", large=ctx.province)
    ctx.record(path, SOURCE, period, sheets)
    rejected = np.array([defects[i].kind if i in defects else "" for i in range(len(ordered))], dtype=object)
    ctx.eppgbm_truth.append(
        pd.DataFrame(
            {
                "file": path.relative_to(ctx.out).as_posix(),
                "sheet": sheet_of_row,
                "source_row": row_numbers,
                "child_seq": ordered.child.to_numpy(),
                "scope": ctx.scope,
                "village_code": ordered.village_code.to_numpy(),
                "sex": ordered.sex.to_numpy(),
                "birth_date": ordered.birth.to_numpy().astype("datetime64[D]").astype(str),
                "measured_on": ordered.measured_day.to_numpy().astype("datetime64[D]").astype(str),
                "age_days": ordered.age_days.to_numpy(),
                "method": np.where(ordered.standing.to_numpy(), "standing", "recumbent"),
                "height_cm": ordered.height.to_numpy(),
                "weight_kg": ordered.weight.to_numpy(),
                "muac_cm": ordered.muac.to_numpy(),
                "haz": np.round(ordered.haz.to_numpy(), 4),
                "waz": np.round(ordered.waz.to_numpy(), 4),
                "whz": np.round(ordered.whz.to_numpy(), 4),
                "reported_haz_off": ordered.reported_z_off.to_numpy(),
                "defect": rejected,
            }
        )
    )
