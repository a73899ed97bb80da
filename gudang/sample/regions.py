"""The real Kemendagri regions the sample is drawn for (from ``reference/wilayah/``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pandas as pd

from gudang.settings import REFERENCE_DIR

WILAYAH_DIR = REFERENCE_DIR / "wilayah"


@dataclass(frozen=True)
class Regency:
    """One kab/kota with its kecamatan and desa/kelurahan, in code order."""

    code: str  # dotted, e.g. 33.74
    name: str  # as in the decree, e.g. "Kota Semarang"
    province_name: str
    districts: pd.DataFrame  # code, name
    villages: pd.DataFrame  # code, district_code, name, district_name

    @property
    def digits(self) -> str:
        return self.code.replace(".", "")

    @property
    def is_city(self) -> bool:
        return self.name.startswith("Kota ")

    @property
    def short_name(self) -> str:
        """The name without 'Kabupaten'/'Kota', e.g. 'Semarang'."""
        return self.name.removeprefix("Kabupaten ").removeprefix("Kota ")


@cache
def _tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    def read(name: str) -> pd.DataFrame:
        return pd.read_csv(WILAYAH_DIR / f"{name}.csv", dtype=str, keep_default_na=False)

    return read("provinces"), read("regencies"), read("districts"), read("villages")


def province_of(code: str) -> tuple[str, str]:
    provinces = _tables()[0]
    row = provinces[provinces.code == code[:2]]
    if row.empty:
        raise ValueError(f"unknown province code {code[:2]!r}")
    return row.code.iloc[0], row.name.iloc[0]


def regency(code: str) -> Regency:
    _, regencies, districts, villages = _tables()
    row = regencies[regencies.code == code]
    if row.empty:
        raise ValueError(f"unknown kab/kota code {code!r} (expected a dotted code such as 33.74)")
    _, province_name = province_of(code)
    dist = districts[districts.regency_code == code][["code", "name"]].reset_index(drop=True)
    vil = villages[villages.district_code.str.startswith(code + ".")].merge(
        dist.rename(columns={"code": "district_code", "name": "district_name"}), on="district_code"
    )
    vil = vil.sort_values("code").reset_index(drop=True)
    return Regency(code, row.name.iloc[0], province_name, dist, vil)


def regencies_of_province(province_code: str) -> list[str]:
    regencies = _tables()[1]
    codes = regencies[regencies.province_code == province_code].code.tolist()
    if not codes:
        raise ValueError(f"unknown province code {province_code!r}")
    return sorted(codes)


def normalise_region_arg(region: str, scale: str) -> tuple[str, list[str]]:
    """Return (scope code, regency codes) for ``--region`` and ``--scale``.

    Accepts dotted or undotted codes: ``33.74`` / ``3374`` for a kab/kota, ``33`` for a province.
    """
    digits = region.replace(".", "").strip()
    if scale == "province":
        return digits[:2], regencies_of_province(digits[:2])
    if scale != "kota":
        raise ValueError(f"unknown scale {scale!r}: use 'kota' or 'province'")
    if len(digits) != 4:
        raise ValueError(f"--region {region!r} is not a kab/kota code; use --scale province for a province")
    code = f"{digits[:2]}.{digits[2:]}"
    regency(code)  # validates
    return code, [code]
