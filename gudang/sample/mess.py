"""How agency spreadsheets spell things: Indonesian numbers and dates, mangled codes and names.

Every helper is deterministic given its inputs (randomness comes from the caller's generator).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

MONTHS_ID = [
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
]  # fmt: skip
MONTHS_ID_SHORT = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]
QUARTER_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
EXCEL_EPOCH = dt.date(1899, 12, 30)


def id_int(value: int) -> str:
    """1234567 -> '1.234.567' (Indonesian thousands separator)."""
    return f"{int(value):,}".replace(",", ".")


def id_decimal(value: float, decimals: int = 1) -> str:
    """1234.5 -> '1.234,5'."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def id_decimals(values: np.ndarray, decimals: int = 1) -> np.ndarray:
    """Vectorised decimal comma without thousands separators (e-PPGBM CSV style: '12,5')."""
    text = np.char.mod(f"%.{decimals}f", np.asarray(values, dtype=float))
    return np.char.replace(text, ".", ",")


def dmy(d: dt.date, sep: str = "/") -> str:
    return f"{d.day:02d}{sep}{d.month:02d}{sep}{d.year}"


def long_id(d: dt.date) -> str:
    """'5 Agustus 2026'."""
    return f"{d.day} {MONTHS_ID[d.month - 1]} {d.year}"


def short_id(d: dt.date) -> str:
    """'05-Okt-2026'."""
    return f"{d.day:02d}-{MONTHS_ID_SHORT[d.month - 1]}-{d.year}"


def excel_serial(d: dt.date) -> int:
    return (d - EXCEL_EPOCH).days


DATE_STYLES = {"dmy": dmy, "dmy-dash": lambda d: dmy(d, "-"), "long": long_id, "short": short_id,
               "iso": dt.date.isoformat}  # fmt: skip


def format_dates(days_since_epoch: np.ndarray, style: str) -> np.ndarray:
    """Vectorised date formatting through the unique dates (few thousand at most)."""
    days = np.asarray(days_since_epoch, dtype=np.int64)
    unique, inverse = np.unique(days, return_inverse=True)
    fmt = DATE_STYLES[style]
    texts = np.array([fmt(dt.date(1970, 1, 1) + dt.timedelta(days=int(d))) for d in unique], dtype=object)
    return texts[inverse]


def mangle_village_code(code: str, how: str) -> str:
    """Codes as agencies type them: no dots, half-dotted, leading apostrophe."""
    digits = code.replace(".", "")
    return {
        "dotted": code,
        "digits": digits,
        "half": f"{digits[:4]}.{digits[4:6]}.{digits[6:]}",
        "apostrophe": "'" + code,
        "apostrophe-digits": "'" + digits,
    }[how]


def vary_name(name: str, how: str, prefix: str) -> str:
    """A kecamatan/kelurahan name as typed: case, prefixes (Kec./KEL.), extra spaces."""
    return {
        "plain": name,
        "upper": name.upper(),
        "lower": name.lower(),
        "prefix": f"{prefix}. {name}",
        "PREFIX": f"{prefix.upper()}. {name.upper()}",
        "spaces": f" {name}  ".replace(" ", "  ", 1) if " " in name else f"  {name} ",
    }[how]


#: Known spelling variants (domain.md section 1); used sparingly so name resolution is exercised.
KNOWN_VARIANTS = {"Gunungpati": "GUNUNG PATI"}
