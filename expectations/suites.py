"""The versioned GX suites (``expectations/suites/*.json``) and what they need at validation time.

Each suite is a GX 1.x ExpectationSuite JSON. Every expectation carries
``meta: {severity: error|warn, message_id, message_id_text}`` (the Indonesian explanation and fix shown to the
agency) and optionally:

- ``requires``: suite parameters the expectation needs (``$PARAMETER``); without them it is skipped, e.g. the
  volume check on a source's first file;
- ``keep_first``: a duplicate check whose first occurrence is kept (only later copies are rejected).

Suite parameters are computed per file (:func:`suite_parameters`): the region codes of the file's scope from
the Kemendagri reference list, the declared period's first and last day, and the row-count band around the
previous period's file. Derived columns (suite ``meta.derived_columns``) are computed by
:func:`add_derived_columns` before validation.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import json
import math
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gudang.settings import REFERENCE_DIR

if TYPE_CHECKING:
    import great_expectations as gx

SUITES_DIR = Path(__file__).parent / "suites"
WILAYAH_DIR = REFERENCE_DIR / "wilayah"

_LEVEL_FILES = {
    "province": "provinces.csv",
    "regency": "regencies.csv",
    "district": "districts.csv",
    "village": "villages.csv",
}
#: e-PPGBM and WHO convert age in days to months with the mean month length
DAYS_PER_MONTH = 30.4375


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.json"))


@cache
def suite_json(name: str) -> dict:
    path = SUITES_DIR / f"{name}.json"
    if not path.exists():
        raise KeyError(f"no expectation suite '{name}' in {SUITES_DIR}")
    return json.loads(path.read_text())


@cache
def load_suite(name: str) -> gx.ExpectationSuite:
    """The suite as a GX object (parsed once per process)."""
    import great_expectations as gx

    return gx.ExpectationSuite(**suite_json(name))


# --- reference region codes -------------------------------------------------------------------------


@cache
def region_codes(level: str) -> tuple[str, ...]:
    """All Kemendagri codes of one level (loaded once per process)."""
    frame = pd.read_csv(WILAYAH_DIR / _LEVEL_FILES[level], dtype=str, usecols=["code"])
    return tuple(frame["code"])


@cache
def region_codes_in_scope(level: str, scope: str) -> tuple[str, ...]:
    """Codes of ``level`` inside the file's scope (or containing it, for a coarser level).

    A scope that matches nothing (unknown or empty) falls back to the whole list, so the check still
    catches codes that do not exist at all.
    """
    scope = (scope or "").strip()
    codes = region_codes(level)
    if not scope:
        return codes
    ordered = _sorted_codes(level)
    parts = scope.split(".")
    containing = {".".join(parts[:n]) for n in range(1, len(parts))} & _positions(level).keys()
    # the codes under the scope sit in one run of the sorted list ("." sorts before every digit)
    start = bisect.bisect_left(ordered, scope)
    end = bisect.bisect_left(ordered, scope + "/")  # "/" is the character after "."
    inside = {c for c in ordered[start:end] if c == scope or c.startswith(scope + ".")} | containing
    # in the reference's order, without walking all ~84,000 desa codes for every kab/kota
    return tuple(sorted(inside, key=_positions(level).__getitem__)) or codes


@cache
def _sorted_codes(level: str) -> list[str]:
    return sorted(region_codes(level))


@cache
def _positions(level: str) -> dict[str, int]:
    return {code: position for position, code in enumerate(region_codes(level))}


# --- periods --------------------------------------------------------------------------------------

_PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?:(?P<month>\d{2})|Q(?P<quarter>[1-4])|S(?P<semester>[12])))?$")


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """First and last day of a period string: ``2025-03``, ``2025-Q1``, ``2025-S1`` or ``2025``."""
    match = _PERIOD.match(period.strip())
    if not match:
        raise ValueError(f"unrecognised period '{period}' (expected 2025-03, 2025-Q1, 2025-S1 or 2025)")
    year = int(match["year"])
    if match["month"]:
        first_month = last_month = int(match["month"])
        if not 1 <= first_month <= 12:
            raise ValueError(f"unrecognised period '{period}': month out of range")
    elif match["quarter"]:
        last_month = 3 * int(match["quarter"])
        first_month = last_month - 2
    elif match["semester"]:
        last_month = 6 * int(match["semester"])
        first_month = last_month - 5
    else:
        first_month, last_month = 1, 12
    last_day = calendar.monthrange(year, last_month)[1]
    return dt.date(year, first_month, 1), dt.date(year, last_month, last_day)


# --- per-file parameters and derived columns ------------------------------------------------------


def volume_band(previous_rows: int | None, change_share: float) -> tuple[int, int] | None:
    """Row counts accepted without a warning, given the previous period's file."""
    if not previous_rows:
        return None
    return (
        math.floor(previous_rows * (1 - change_share)),
        math.ceil(previous_rows * (1 + change_share)),
    )


def suite_parameters(
    *,
    region_level: str,
    scope: str,
    period: str,
    previous_rows: int | None,
    change_share: float,
) -> dict[str, object]:
    """Values for the suites' ``$PARAMETER`` placeholders; a missing key skips the expectations needing it."""
    params: dict[str, object] = {"region_codes": list(region_codes_in_scope(region_level, scope))}
    try:
        first, last = period_bounds(period)
    except ValueError:
        pass  # no declared period: the period check cannot run (the extractor reports the bad name)
    else:
        params["period_start"] = pd.Timestamp(first)
        # inclusive of the whole last day, whatever the time part of a datetime column
        params["period_end"] = pd.Timestamp(last) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    band = volume_band(previous_rows, change_share)
    if band:
        params["volume_min"], params["volume_max"] = band
    return params


def _age_months(frame: pd.DataFrame) -> pd.Series | None:
    if not {"birth_date", "measured_on"} <= set(frame.columns):
        return None
    if not all(pd.api.types.is_datetime64_any_dtype(frame[c]) for c in ("birth_date", "measured_on")):
        return None  # the type check reports the column; the age cannot be computed
    return (frame["measured_on"] - frame["birth_date"]).dt.days / DAYS_PER_MONTH


#: derived column -> how to compute it (declared in the suite's meta.derived_columns)
DERIVATIONS = {"_age_months": _age_months}
#: derived column -> the agency's columns it comes from (what a rejection message points the agency to)
DERIVED_FROM = {"_age_months": ("birth_date", "measured_on")}


def as_datetime_if_dates(series: pd.Series) -> pd.Series:
    """Date columns as ``datetime64[ns]`` so ranges against Timestamps work and are fast; anything else untouched.

    GX compares a datetime column with a range vectorised only in nanosecond unit: any other unit, and
    Python ``date`` objects, go through a Python function per value (~6 us a row, most of the e-PPGBM
    gate's time). A date outside the nanosecond range (a typo like year 9999) keeps its unit.
    """
    if series.dtype == object:
        if pd.api.types.infer_dtype(series, skipna=True) not in ("date", "datetime"):
            return series
        series = pd.to_datetime(series)
    if isinstance(series.dtype, np.dtype) and series.dtype.kind == "M" and series.dtype != "datetime64[ns]":
        try:
            return series.astype("datetime64[ns]")
        except (OverflowError, pd.errors.OutOfBoundsDatetime):
            return series
    return series


def add_derived_columns(frame: pd.DataFrame, suite_name: str) -> pd.DataFrame:
    for name in suite_json(suite_name).get("meta", {}).get("derived_columns", {}):
        values = DERIVATIONS[name](frame)
        if values is not None:
            frame[name] = values
    return frame
