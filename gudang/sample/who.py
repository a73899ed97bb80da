"""WHO Child Growth Standards 2006 (LMS), vectorised, to draw and to score sample measurements.

Drawing uses the inverse of the LMS transform, value = M * (1 + L*S*z) ** (1/L); scoring (for the
e-PPGBM "ZS" columns the sample also reports) uses z = ((y/M)**L - 1) / (L*S), with the WHO restricted
rule beyond +/-3 for weight-based indicators.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from gudang.settings import REFERENCE_DIR

WHO_DIR = REFERENCE_DIR / "who"
#: Ages from this many days are measured standing (height); younger children lying (length).
HEIGHT_FROM_DAYS = 731
#: Standing height is this much shorter than recumbent length (WHO).
POSITION_OFFSET_CM = 0.7


@dataclass(frozen=True)
class LMSTable:
    """L, M, S arrays indexed [sex - 1, step], where step is age in days or (size - start) / 0.1 cm."""

    lms: np.ndarray  # shape (2, n, 3)
    start: float
    step: float

    def at(self, sex: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """L, M, S for sex 1/2 at x (age or size), linearly interpolated, clipped into the table."""
        pos = np.clip((np.asarray(x, dtype=float) - self.start) / self.step, 0, self.lms.shape[1] - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, self.lms.shape[1] - 1)
        frac = (pos - lo)[..., None]
        s = np.asarray(sex, dtype=int) - 1
        values = self.lms[s, lo] * (1 - frac) + self.lms[s, hi] * frac
        return values[..., 0], values[..., 1], values[..., 2]


@cache
def table(name: str) -> LMSTable:
    """``lenanthro`` / ``weianthro`` (by age in days), ``wflanthro`` / ``wfhanthro`` (by 0.1 cm)."""
    df = pd.read_csv(WHO_DIR / f"{name}.txt", sep="\t")
    axis = df.columns[1]  # age, length or height
    frames = [df[df.sex == sex].sort_values(axis) for sex in (1, 2)]
    lms = np.stack([f[["l", "m", "s"]].to_numpy(dtype=float) for f in frames])
    start = float(frames[0][axis].iloc[0])
    step = 1.0 if axis == "age" else 0.1
    return LMSTable(lms, start, step)


def value_at_z(lms: tuple[np.ndarray, np.ndarray, np.ndarray], z: np.ndarray) -> np.ndarray:
    l_, m, s = lms
    with np.errstate(invalid="ignore", divide="ignore"):
        out = m * np.power(1 + l_ * s * z, 1 / l_)
    return np.where(np.abs(l_) < 1e-9, m * np.exp(s * z), out)


def z_of_value(lms: tuple[np.ndarray, np.ndarray, np.ndarray], y: np.ndarray, restricted: bool) -> np.ndarray:
    l_, m, s = lms
    y = np.asarray(y, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(np.abs(l_) < 1e-9, np.log(y / m) / s, (np.power(y / m, l_) - 1) / (l_ * s))
    if not restricted:
        return z
    sd2, sd3 = value_at_z(lms, np.full_like(z, 2.0)), value_at_z(lms, np.full_like(z, 3.0))
    sd2n, sd3n = value_at_z(lms, np.full_like(z, -2.0)), value_at_z(lms, np.full_like(z, -3.0))
    z = np.where(z > 3, 3 + (y - sd3) / (sd3 - sd2), z)
    return np.where(z < -3, -3 + (y - sd3n) / (sd2n - sd3n), z)


def standard_size(age_days: np.ndarray, recorded_cm: np.ndarray, standing: np.ndarray) -> np.ndarray:
    """Length/height in the position the standard expects for the age (the 0.7 cm rule)."""
    young = np.asarray(age_days) < HEIGHT_FROM_DAYS
    adjust = np.where(young & standing, POSITION_OFFSET_CM, 0.0) - np.where(
        ~young & ~standing, POSITION_OFFSET_CM, 0.0
    )
    return np.asarray(recorded_cm, dtype=float) + adjust


def weight_for_size_lms(sex: np.ndarray, age_days: np.ndarray, size_cm: np.ndarray):
    """Weight-for-length below 731 days, weight-for-height from 731 days."""
    wfl = table("wflanthro").at(sex, size_cm)
    wfh = table("wfhanthro").at(sex, size_cm)
    young = np.asarray(age_days) < HEIGHT_FROM_DAYS
    return tuple(np.where(young, a, b) for a, b in zip(wfl, wfh, strict=True))


def zscores(sex, age_days, height_cm, weight_kg, standing) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HAZ, WAZ, WHZ of recorded measurements (height as recorded, position applied)."""
    size = standard_size(age_days, height_cm, standing)
    haz = z_of_value(table("lenanthro").at(sex, age_days), size, restricted=False)
    waz = z_of_value(table("weianthro").at(sex, age_days), weight_kg, restricted=True)
    whz = z_of_value(weight_for_size_lms(sex, age_days, size), weight_kg, restricted=True)
    return haz, waz, whz
