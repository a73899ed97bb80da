"""DTSEN / P3KE registry extracts: individuals grouped into families, with desil and programme flags."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gudang.sample.context import Context
from gudang.sample.layout import Defect, Sheet
from gudang.sample.mess import format_dates
from gudang.sample.people import names, niks, phones
from gudang.sample.writers import write_csv

SOURCE = "dtsen"
SNAPSHOTS = [(2026, 2), (2026, 3)]
INDIVIDUALS_PER_VILLAGE = 170
DECILE_SHARES = np.array([0.14, 0.13, 0.12, 0.11, 0.10, 0.10, 0.09, 0.08, 0.07, 0.06])
EPOCH = np.datetime64("1970-01-01", "D")
COLUMNS = ["family_key", "kk_key", "person_key", "person_name", "sex", "birth_date", "family_role", "address",
           "phone", "village_code", "village_name", "district_name", "welfare_decile", "receives_pkh",
           "receives_bpnt", "receives_pbi"]  # fmt: skip
#: P3KE export spelling (snake case) and the Dinsos spreadsheet spelling
HEADERS = [
    ["id_keluarga", "no_kk", "nik", "nama", "jenis_kelamin", "tgl_lahir", "hubungan_keluarga", "alamat", "no_hp",
     "kode_kemendagri", "desa_kelurahan", "kecamatan", "desil_kesejahteraan", "penerima_pkh", "penerima_bpnt",
     "penerima_pbi_jkn"],
    ["ID Keluarga", "No KK", "NIK", "Nama", "Jenis Kelamin", "Tanggal Lahir", "Hubungan Keluarga", "Alamat",
     "No HP", "Kode Kemendagri", "Desa/Kelurahan", "Kecamatan", "Desil", "Penerima PKH", "Penerima BPNT",
     "Penerima PBI"],
]  # fmt: skip
CODE_STYLES = ["dotted", "digits", "half", "apostrophe", "none"]


def _families(ctx: Context, rng: np.random.Generator, start_id: int, n_families: int) -> pd.DataFrame:
    villages = ctx.regency.villages
    village_idx = rng.integers(0, len(villages), n_families)
    village_shift = rng.normal(0, 0.8, len(villages))[village_idx]  # poorer and richer kelurahan
    base = rng.choice(10, n_families, p=DECILE_SHARES) + np.round(village_shift).astype(int)
    decile = np.clip(base, 0, 9) + 1
    size = np.clip(rng.poisson(2.6, n_families) + 1, 1, 8)
    return pd.DataFrame({"family_id": np.arange(start_id, start_id + n_families), "village_idx": village_idx,
                         "decile": decile, "size": size,
                         "pkh": (decile <= 2) & (rng.random(n_families) < 0.6),
                         "bpnt": (decile <= 3) & (rng.random(n_families) < 0.5),
                         "pbi": (decile <= 4) & (rng.random(n_families) < 0.8),
                         "rt": rng.integers(1, 15, n_families), "rw": rng.integers(1, 12, n_families)})  # fmt: skip


def _individuals(ctx: Context, families: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    villages = ctx.regency.villages
    fam = families.loc[families.index.repeat(families["size"])].reset_index(drop=True)
    member = fam.groupby("family_id").cumcount().to_numpy()
    n = len(fam)
    role = np.select([member == 0, member == 1], ["Kepala Keluarga", "Istri"], "Anak")
    role = np.where(
        (member >= 3) & (rng.random(n) < 0.12), rng.choice(["Famili Lain", "Orang Tua", "Cucu"], n), role
    )
    head_male = rng.random(n) < 0.85
    sex = np.where(
        member == 0,
        np.where(head_male, "L", "P"),
        np.where(member == 1, "P", np.where(rng.random(n) < 0.5, "L", "P")),
    )
    role = np.where((member == 1) & ~head_male, "Suami", role)
    sex = np.where((member == 1) & ~head_male, "L", sex)
    age_years = np.where(member <= 1, rng.integers(22, 75, n), rng.integers(0, 30, n))
    birth = np.datetime64("2026-06-30", "D") - (age_years * 365.25 + rng.integers(0, 365, n)).astype(
        int
    ).astype("timedelta64[D]")
    v = villages.iloc[fam.village_idx.to_numpy()]
    district6 = v.district_code.str.replace(".", "", regex=False).astype(np.int64).to_numpy()
    birth_days = (birth - EPOCH).astype(int)
    person_nik = niks(district6, birth_days, sex)
    head_birth = pd.Series(birth_days).groupby(fam.family_id.to_numpy()).transform("first").to_numpy()
    kk_issue = head_birth + 365 * 25 + (fam.family_id.to_numpy() % 3000)
    kk = niks(district6, np.minimum(kk_issue, 20400), np.full(n, "L"))
    return pd.DataFrame({
        "family_id": fam.family_id.to_numpy(), "member": member,
        "family_key": (np.int64(ctx.regency.digits) * 10**9 + fam.family_id.to_numpy()).astype(str),
        "kk": kk.astype(str), "nik": person_nik.astype(str), "name": names(rng, sex), "sex": sex,
        "birth_days": birth_days, "role": role,
        "address": ("RT " + np.char.zfill(fam.rt.to_numpy().astype(str), 3) + " RW "
                    + np.char.zfill(fam.rw.to_numpy().astype(str), 3)).astype(object),
        "phone": np.where(member == 0, phones(rng, n), ""),
        "village_code": v.code.to_numpy(), "village_name": v["name"].str.upper().to_numpy(),
        "district_name": v.district_name.str.upper().to_numpy(),
        "decile": fam.decile.to_numpy(), "pkh": fam.pkh.to_numpy(), "bpnt": fam.bpnt.to_numpy(),
        "pbi": fam.pbi.to_numpy(),
    })  # fmt: skip


def generate(ctx: Context) -> None:
    rng = ctx.rng(SOURCE)
    villages = len(ctx.regency.villages)
    n_families = max(villages, int(INDIVIDUALS_PER_VILLAGE * ctx.size * villages / 3.6))
    first = _families(ctx, rng, 1, n_families)
    # a quarter later: some families leave, new ones are registered, some deciles are updated
    newcomers = _families(ctx, rng, n_families + 1, int(0.04 * n_families) + 1)
    everyone = _individuals(ctx, pd.concat([first, newcomers], ignore_index=True), rng)
    later = first[rng.random(len(first)) < 0.97].copy()
    moved = rng.random(len(later)) < 0.05
    later.loc[moved, "decile"] = np.clip(
        later.loc[moved, "decile"] + rng.choice([-1, 1], int(moved.sum())), 1, 10
    )
    later = pd.concat([later, newcomers], ignore_index=True)
    ctx.add_pii("nik", everyone.nik)
    ctx.add_pii("no_kk", everyone.kk.unique())
    ctx.add_pii("names", everyone.name)
    ctx.add_pii("phones", everyone.phone[everyone.phone != ""])
    truth = ctx.truth.setdefault(SOURCE, {})
    for variant, ((year, quarter), families) in enumerate(zip(SNAPSHOTS, (first, later), strict=True)):
        state = families.set_index("family_id")[["decile", "pkh", "bpnt", "pbi"]]
        people = everyone[everyone.family_id.isin(state.index)].drop(columns=["decile", "pkh", "bpnt", "pbi"])
        people = people.join(state, on="family_id")
        people = people.sort_values(["village_code", "family_id", "member"], kind="stable").reset_index(
            drop=True
        )
        _write(ctx, people, year, quarter, variant, ctx.rng(SOURCE, year, quarter), truth)


def _write(ctx: Context, p: pd.DataFrame, year: int, quarter: int, variant: int, rng: np.random.Generator,
           truth: dict) -> None:  # fmt: skip
    n = len(p)
    header = HEADERS[variant % 2]
    style = np.array(CODE_STYLES, dtype=object)[rng.choice(5, n, p=[0.4, 0.25, 0.15, 0.1, 0.1])]
    code = p.village_code.to_numpy()
    digits = np.char.replace(code.astype(str), ".", "").astype(object)
    half = np.array([f"{d[:4]}.{d[4:6]}.{d[6:]}" for d in digits], dtype=object)
    code_cell = np.select([style == "dotted", style == "digits", style == "half", style == "apostrophe"],
                          [code, digits, half, "'" + code], "")  # fmt: skip
    yes_no = np.array(["TIDAK", "YA"], dtype=object)
    cols = {
        "family_key": p.family_key.to_numpy(), "kk_key": p.kk.to_numpy(), "person_key": p.nik.to_numpy().copy(),
        "person_name": p.name.to_numpy(),
        "sex": np.where(p.sex == "L", *(("Laki-laki", "Perempuan") if variant == 0 else ("L", "P"))),
        "birth_date": format_dates(p.birth_days.to_numpy(), "dmy" if variant == 0 else "iso"),
        "family_role": p.role.to_numpy(), "address": p.address.to_numpy(), "phone": p.phone.to_numpy(),
        "village_code": code_cell, "village_name": p.village_name.to_numpy().copy(),
        "district_name": p.district_name.to_numpy(), "welfare_decile": p.decile.to_numpy(),
        "receives_pkh": yes_no[p.pkh.to_numpy().astype(int)], "receives_bpnt": yes_no[p.bpnt.to_numpy().astype(int)],
        "receives_pbi": yes_no[p.pbi.to_numpy().astype(int)],
    }  # fmt: skip
    bad = rng.choice(n, size=min(n, 4), replace=False)
    defects: dict[int, Defect] = {}
    for k, row in enumerate(bad):
        if k % 2 == 0:
            cols["village_code"][row] = ctx.regency.digits + "991999"
            cols["village_name"][row] = "SUKAMAKMUR JAYA"
            defects[int(row)] = Defect(
                header[COLUMNS.index("village_code")], "unknown_village", cols["village_code"][row]
            )
        else:
            text = f"{float(cols['person_key'][row]):.5E}".replace("E+0", "E+")
            cols["person_key"][row] = text
            defects[int(row)] = Defect(header[COLUMNS.index("person_key")], "nik_unrecoverable", text)
    sheet = Sheet(name="", header_rows=[header])
    for i in range(n):
        sheet.data([], defects.get(i))
    path = ctx.path(SOURCE, f"{SOURCE}_{ctx.regency.digits}_{year}_TW{quarter}.csv")
    write_csv(path, header, {c: cols[c] for c in COLUMNS})
    period = f"{year}-Q{quarter}"
    ctx.record(path, SOURCE, period, [sheet])
    loaded = p.drop(index=list(defects))
    truth[period] = {
        "individuals": int(len(loaded)),
        "families": int(loaded.family_id.nunique()),
        "individuals_by_decile": {int(d): int(v) for d, v in loaded.groupby("decile").size().items()},
        "individuals_by_village": {c: int(v) for c, v in loaded.groupby("village_code").size().items()},
        "desil_1_4_by_village": {
            c: int(v) for c, v in loaded[loaded.decile <= 4].groupby("village_code").size().items()
        },
        "pkh_individuals": int(loaded.pkh.sum()),
    }
