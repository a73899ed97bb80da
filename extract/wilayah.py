"""Region resolution against the full Kemendagri list in ``reference/wilayah/``.

Agency sheets carry regions as mangled codes (``3374011001``, ``33.74.1.1001``, ``3374.0``, ``33.2``) or
as names in many spellings (``KEL. MIROTO``, ``Kec. Semarang Tengah``, ``GUNUNG PATI`` vs ``Gunungpati``).
:class:`RegionResolver` turns one row's code and names into the dotted code at the source's declared level,
or a reason (Indonesian) why it could not. Resolution works on distinct value combinations only, so a
200k-row file with 177 kelurahan resolves 177 times.
"""

from __future__ import annotations

import bisect
import csv
import difflib
import gc
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from gudang.settings import REFERENCE_DIR

LEVELS = ("province", "regency", "district", "village")
#: digits of each code segment: PP.KK.CC.DDDD
SEGMENT_WIDTHS = (2, 2, 2, 4)
LEVEL_LABEL = {
    "province": "provinsi",
    "regency": "kabupaten/kota",
    "district": "kecamatan",
    "village": "desa/kelurahan",
}

_NAME_PREFIX = re.compile(
    r"^(provinsi|prov|kabupaten|kab|kotamadya|kodya|kota|kecamatan|kec|kelurahan|kel|desa|ds)\b\.?\s*",
    re.IGNORECASE,
)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def level_of(code: str) -> str:
    return LEVELS[code.count(".")]


def compact_name(name: str) -> str:
    """Comparable form of a region name: no prefix (Kec./Kel./Kota/...), case, spaces or punctuation."""
    text = name.strip().lower()
    # prefixes may be stacked ("Kec. Kel. X" does not happen, but "KOTA KEC." etc. is harmless)
    for _ in range(2):
        text = _NAME_PREFIX.sub("", text)
    return _NON_ALNUM.sub("", text)


def city_hint(name: str) -> str | None:
    """'kota' or 'kabupaten' when a regency name says which: Kota Semarang (33.74) vs Kab. Semarang (33.22)."""
    lowered = name.strip().lower()
    if re.match(r"^(kota|kodya|kotamadya)\b", lowered):
        return "kota"
    if re.match(r"^(kabupaten|kab)\b", lowered):
        return "kabupaten"
    return None


def is_within(code: str, scope: str) -> bool:
    return code == scope or code.startswith(scope + ".")


def code_candidates(raw: str) -> list[str]:
    """Dotted codes a mangled cell could stand for (existence is checked by the caller).

    ``3374011001`` and ``3374.0`` lost their dots; ``33.74.1.1001`` and ``33.2`` lost zeros (a leading
    zero when typed, a trailing one when Excel made a number of it), ``3.374`` is 3374 with a
    thousands separator.
    """
    text = re.sub(r"\s+", "", str(raw)).strip("'’`\"")
    if re.fullmatch(r"\d+\.0+", text):  # a float cell: 3374.0
        text = text.split(".")[0]
    candidates: list[str] = []
    if re.fullmatch(r"\d+", text):
        candidates.extend(_dotted_from_digits(text))
    elif re.fullmatch(r"\d+([.,]\d+)+", text):
        parts = re.split(r"[.,]", text)
        candidates.extend(_dotted_from_parts(parts))
        candidates.extend(_dotted_from_digits("".join(parts)))
    return list(dict.fromkeys(candidates))


def _dotted_from_digits(digits: str) -> list[str]:
    widths = {2: 1, 4: 2, 6: 3, 10: 4}
    if len(digits) not in widths:
        return []
    parts, pos = [], 0
    for width in SEGMENT_WIDTHS[: widths[len(digits)]]:
        parts.append(digits[pos : pos + width])
        pos += width
    return [".".join(parts)]


def _dotted_from_parts(parts: list[str]) -> list[str]:
    if len(parts) > len(SEGMENT_WIDTHS) or len(parts[0]) != 2:
        return []
    options: list[list[str]] = []
    for part, width in zip(parts, SEGMENT_WIDTHS, strict=False):
        if len(part) > width:
            return []
        # a short segment lost a leading zero (typed 1 for 01) or a trailing one (the float 33.20 -> 33.2)
        options.append(list(dict.fromkeys([part.zfill(width), part.ljust(width, "0")])))
    return [".".join(combo) for combo in itertools.product(*options)]


@dataclass
class Wilayah:
    """The Kemendagri reference: every code with its name and parent."""

    names: dict[str, str] = field(default_factory=dict)
    #: (parent code or "" for provinces, compact name) -> codes
    by_parent_name: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: (level, compact name) -> codes anywhere in Indonesia
    by_level_name: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _close_match_pools: dict[tuple[str, tuple[str, ...]], dict[str, str]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _sorted_codes: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)

    def add_many(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """``(code, parent code, name)`` rows; the lookups built from the codes are dropped once, not per row."""
        self._close_match_pools.clear()
        self._sorted_codes.clear()
        names, by_parent_name, by_level_name = self.names, self.by_parent_name, self.by_level_name
        for code, parent, name in rows:
            names[code] = name
            key = compact_name(name)
            by_parent_name.setdefault((parent, key), []).append(code)
            by_level_name.setdefault((level_of(code), key), []).append(code)

    def exists(self, code: str) -> bool:
        return code in self.names

    def name(self, code: str) -> str:
        return self.names.get(code, code)

    def find(self, level: str, name: str, within: list[str] | None) -> list[str]:
        """Codes at ``level`` called ``name`` (compared compactly), inside any of ``within`` (None = anywhere)."""
        key = compact_name(name)
        if not key:
            return []
        found = [
            c
            for c in self.by_level_name.get((level, key), [])
            if within is None or any(is_within(c, w) for w in within)
        ]
        if level == "regency" and len(found) > 1 and (hint := city_hint(name)):
            # Kemendagri numbers kota 71-99 and kabupaten 01-69
            found = [c for c in found if (int(c.split(".")[1]) >= 71) == (hint == "kota")]
        if not found and within:
            found = self._close_match(level, key, within)
        return found

    def _close_match(self, level: str, key: str, within: list[str]) -> list[str]:
        """Spelling variants (Ngaliyan/Ngaliān, Pedurungan/Pedurongan) within the scope only, if unique."""
        pool = self._close_match_pool(level, tuple(within))
        close = difflib.get_close_matches(key, list(pool), n=2, cutoff=0.88)
        return [pool[close[0]]] if len(close) == 1 else []

    def _close_match_pool(self, level: str, within: tuple[str, ...]) -> dict[str, str]:
        # Built once per (level, scope): scanning every code of the country per misspelt name made this
        # the parser's hot spot at province scale (bench/, docs/benchmark.md).
        cached = self._close_match_pools.get((level, within))
        if cached is None:
            cached = self._close_match_pools[(level, within)] = {
                compact_name(self.names[c]): c for w in within for c in self._codes_under(level, w)
            }
        return cached

    def _codes_under(self, level: str, scope: str) -> list[str]:
        """Codes at ``level`` within ``scope``: a scope's descendants sort as one run after it."""
        if not self._sorted_codes:
            for code in sorted(self.names):
                self._sorted_codes.setdefault(level_of(code), []).append(code)
        codes = self._sorted_codes.get(level, [])
        # "/" sorts right after ".": [scope, scope + "/") holds the scope and every "scope.<...>" code
        run = codes[bisect.bisect_left(codes, scope) : bisect.bisect_left(codes, scope + "/")]
        return [c for c in run if is_within(c, scope)]


#: the Kemendagri files in ``reference/wilayah/``, top level first, with the column naming each row's parent
REFERENCE_FILES = (
    ("provinces.csv", None),
    ("regencies.csv", "province_code"),
    ("districts.csv", "regency_code"),
    ("villages.csv", "district_code"),
)


@cache
def load_wilayah(directory: Path = REFERENCE_DIR / "wilayah") -> Wilayah:
    # Every `gudang run` loads the whole country (~92,000 codes, ~300,000 lists and keys). In a process that
    # has already imported Airflow and GX, the garbage collector rescanned everything while they were built:
    # 0.7 s, against 0.25 s with it paused (and csv.reader and one bulk add instead of DictReader and an add
    # per row).
    wilayah = Wilayah()
    collecting = gc.isenabled()
    gc.disable()
    try:
        for file_name, parent_column in REFERENCE_FILES:
            with (directory / file_name).open(newline="", encoding="utf-8") as handle:
                rows = csv.reader(handle)
                header = next(rows)
                code, name = header.index("code"), header.index("name")
                parent = header.index(parent_column) if parent_column else None
                wilayah.add_many(
                    (row[code], row[parent] if parent is not None else "", row[name]) for row in rows
                )
    finally:
        if collecting:
            gc.enable()
    return wilayah


def normalise_scope(raw: str) -> str | None:
    """A file name's region group (``3374``, ``33.74``, ``33``) as a dotted code, or None if unknown."""
    wilayah = load_wilayah()
    for candidate in code_candidates(raw):
        if wilayah.exists(candidate):
            return candidate
    return None


#: resolutions by (level, scope, within_scope), shared by the resolvers of one process: every month's file
#: of a kab/kota names the same desa again. Codes are memoised on their own (a code that resolves decides
#: whatever the names say), because messy files write one desa's code and names in many combinations.
_MEMOS: dict[tuple, tuple[dict, dict]] = {}
#: entries kept per memo before it starts again (a bound on a long-lived worker's memory)
MEMO_MAX_ENTRIES = 100_000


def _remember(memo: dict, key: object, compute: Callable[[], tuple[str | None, str | None]]):
    found = memo.get(key)
    if found is None:
        if len(memo) >= MEMO_MAX_ENTRIES:
            memo.clear()
        found = memo[key] = compute()
    return found


class RegionResolver:
    """Resolves (code, names...) of one row to a code at ``level`` inside ``scope``; memoised per value."""

    def __init__(self, level: str, scope: str | None, *, within_scope: bool = True) -> None:
        self.level = level
        self.depth = LEVELS.index(level)
        self.scope = scope
        self.within = [scope] if (scope and within_scope) else None
        self.wilayah = load_wilayah()
        self._by_code, self._by_row = _MEMOS.setdefault((level, scope, within_scope), ({}, {}))

    def resolve(self, code: str | None, names: list[str | None]) -> tuple[str | None, str | None]:
        """-> (dotted code, None) or (None, reason). ``names`` are most specific first."""
        if code:
            resolved = _remember(self._by_code, code, lambda: self._from_code(code))
            if resolved[0]:
                return resolved
        return _remember(self._by_row, (code, *names), lambda: self._resolve(code, names))

    def _resolve(self, code: str | None, names: list[str | None]) -> tuple[str | None, str | None]:
        code_problem = None
        if code:
            resolved, code_problem = _remember(self._by_code, code, lambda: self._from_code(code))
            if resolved:
                return resolved, None
        if any(names):
            resolved, name_problem = self._from_names(names)
            if resolved:
                return resolved, None
            return None, f"{code_problem}; {name_problem}" if code_problem else name_problem
        if code_problem:
            return None, code_problem
        if self.scope and LEVELS.index(level_of(self.scope)) >= self.depth:
            # the file itself is the region (e.g. an SPM workbook of one kab/kota)
            return self._truncate(self.scope), None
        return None, "kode/nama wilayah kosong"

    def _truncate(self, code: str) -> str:
        return ".".join(code.split(".")[: self.depth + 1])

    def _from_code(self, raw: str) -> tuple[str | None, str | None]:
        found = []
        for candidate in code_candidates(raw):
            if candidate.count(".") < self.depth or not self.wilayah.exists(candidate):
                continue
            candidate = self._truncate(candidate)
            if self.within is None or any(is_within(candidate, w) for w in self.within):
                found.append(candidate)
        found = list(dict.fromkeys(found))
        if len(found) == 1:
            return found[0], None
        if len(found) > 1:
            return None, f'kode wilayah "{raw}" ambigu ({", ".join(found)})'
        outside = [c for c in code_candidates(raw) if self.wilayah.exists(c)]
        if outside and self.within:
            return None, f'kode wilayah "{raw}" di luar cakupan file ({self.scope})'
        return None, f'kode wilayah "{raw}" tidak dikenal'

    def _from_names(self, names: list[str | None]) -> tuple[str | None, str | None]:
        # names[i] names the region at level depth - i; resolve from the coarsest given down
        parents = self.within
        for offset in range(len(names) - 1, 0, -1):
            name = names[offset]
            level_index = self.depth - offset
            if not name or level_index < 0:
                continue
            found = self.wilayah.find(LEVELS[level_index], name, parents)
            if found:  # a coarser name that does not resolve is ignored, not fatal
                parents = found
        target = names[0]
        label = LEVEL_LABEL[self.level]
        if not target:
            return None, f"nama {label} kosong"
        found = self.wilayah.find(self.level, target, parents)
        if len(found) == 1:
            return found[0], None
        where = f" di {self.wilayah.name(self.scope)}" if self.within else ""
        if not found:
            return None, f'{label} "{target}" tidak ditemukan{where}'
        return (
            None,
            f'{label} "{target}" ambigu{where} ({", ".join(found[:4])}); isi kolom kode atau kecamatan',
        )
