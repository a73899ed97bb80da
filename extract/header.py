"""Finding the table in a sheet: which row (or pair of rows) is the header, and which column is what.

Agency sheets put title rows above the table and often split a header over two rows with merged cells
("Jumlah" spanning "Sasaran" and "Terlayani"). Every candidate row, and every pair of adjacent rows
(top row forward-filled across its merged span, joined with the row below), is scored by how many of
the source's columns its labels name; the best wins, a single row on ties.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from extract.registry import SourceSpec

#: rows of a sheet searched for the header
PREVIEW_ROWS = 40
#: rows an xlsx sheet is previewed with first: a header there that names every column settles the search
#: (see :meth:`HeaderMatch.settles_search`), so the other rows are never read. Agency sheets put their
#: header within the first few rows, and the preview was ~12% of parsing an e-PPGBM workbook with a sheet
#: per kecamatan. Its size changes only what is read, never the header found; 8 rows instead of 12 read
#: the XML of the 175 e-PPGBM workbooks of a province in ~1.3 s instead of ~1.8 s (a header lower down
#: is found in the longer preview).
FIRST_PREVIEW_ROWS = 8

_NON_ALNUM = re.compile(r"[^0-9a-z%]+")
_PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]")
#: a letter: every alias has one (the registry checks), so a cell without (a NIK, a date, a weight) names no column
_LETTER = re.compile(r"[^\W\d_]")


def normalise_label(text: object) -> str:
    """Comparable header label: case, accents, spaces and punctuation ignored."""
    if text is None:
        return ""
    return _normalise_text(str(text))


@lru_cache(maxsize=1 << 16)
def _normalise_text(text: str) -> str:
    # Cached: header search normalises every cell of 40 preview rows of every sheet, mostly repeats
    # (bench/: it was the parser's hot spot on workbooks with a sheet per kecamatan).
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _NON_ALNUM.sub(" ", folded).strip()


@dataclass
class AliasIndex:
    """Every spelling of every column of one source, normalised."""

    exact: dict[str, str] = field(default_factory=dict)
    compact: dict[str, str] = field(default_factory=dict)
    #: cell text -> column: the header search asks about the same few hundred texts on every sheet
    _matches: dict[str, str | None] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def for_spec(cls, spec: SourceSpec) -> AliasIndex:
        return _alias_index(tuple((c.name, tuple(c.aliases)) for c in spec.columns))

    def match(self, text: str | None) -> str | None:
        if not text or not _LETTER.search(text):  # most data cells of the preview rows: not worth a lookup
            return None
        if text not in self._matches:
            if len(self._matches) >= 50_000:  # preview rows hold data too (names): keep the memory bounded
                self._matches.clear()
            self._matches[text] = self._match(text)
        return self._matches[text]

    def _match(self, text: str) -> str | None:
        label = normalise_label(text)
        if label in self.exact:
            return self.exact[label]
        # the unit is often in brackets: "Jumlah Penduduk Miskin (Ribu Jiwa)"
        bare = normalise_label(_PARENTHESES.sub(" ", str(text)))
        if bare in self.exact:
            return self.exact[bare]
        return self.compact.get(label.replace(" ", "")) or self.compact.get(bare.replace(" ", ""))


@lru_cache(maxsize=64)
def _alias_index(columns: tuple[tuple[str, tuple[str, ...]], ...]) -> AliasIndex:
    index = AliasIndex()
    for name, aliases in columns:
        for alias in [*aliases, name]:
            label = normalise_label(alias)
            if label:
                index.exact.setdefault(label, name)
                index.compact.setdefault(label.replace(" ", ""), name)
    return index


@dataclass
class HeaderMatch:
    header_row: int  # absolute 0-based index of the (first) header row
    height: int  # 1 or 2 rows
    #: absolute column index -> (canonical column, header text as in the file)
    columns: dict[int, tuple[str, str]]
    #: unpivot: absolute column index -> header text of the wide column (a year, an age group)
    wide: dict[int, str]
    #: header labels that name no column of the source (ignored, reported as a warning)
    unmatched: list[str]
    #: labels naming a column already taken by an earlier one (ignored)
    duplicates: list[str]
    title_text: str  # the title rows above the header (units are sometimes only there)

    @property
    def data_start(self) -> int:
        return self.header_row + self.height

    @property
    def score(self) -> int:
        return len({name for name, _ in self.columns.values()}) + (1 if self.wide else 0)

    def settles_search(self, spec: SourceSpec) -> bool:
        """Whether no row further down could replace this header: a single row naming every column of the
        source (and a wide column, for a source that unpivots) scores the most a candidate can, and on a tie
        :func:`find_header` keeps the earlier single row."""
        return self.height == 1 and self.score == len(spec.columns) + (1 if spec.unpivot else 0)

    def missing_required(self, spec: SourceSpec) -> list[str]:
        found = {name for name, _ in self.columns.values()}
        if spec.unpivot and self.wide:
            found |= {spec.unpivot.key_column, spec.unpivot.value_column}
        derived = set(spec.constants) | (
            {spec.sheets.name_to_column} if spec.sheets.name_to_column else set()
        )
        return [c.name for c in spec.columns if c.required and c.name not in found and c.name not in derived]


def _texts(row: list[str | None], width: int) -> list[str | None]:
    """A preview row's cell texts, stripped, None when empty, padded to ``width``."""
    texts = [value.strip() or None if isinstance(value, str) else None for value in row]
    return texts + [None] * (width - len(texts))


def _pair_labels(cells: list[list[str | None]], top: int) -> dict[int, list[str]]:
    """A two-row header's candidate labels per column: the top row forward-filled across its merged span
    joined with the row below, else the lower label, else the upper one."""
    pair: dict[int, list[str]] = {}
    upper = None
    for c, (text, lower) in enumerate(zip(cells[top], cells[top + 1], strict=True)):
        upper = text if text is not None else upper
        options = [f"{upper} {lower}"] if upper and lower else []
        options += [t for t in (lower, text) if t]
        if options:
            pair[c] = options
    return pair


def _pair_bound(cells: list[list[str | None]], letters: list[list[bool]], top: int) -> int:
    """How many columns of :func:`_pair_labels` have a label with a letter, without building them."""
    count, upper_letter = 0, False
    for text, lower, text_letter, lower_letter in zip(
        cells[top], cells[top + 1], letters[top], letters[top + 1], strict=True
    ):
        upper_letter = text_letter if text is not None else upper_letter
        count += text_letter or (lower is not None and (lower_letter or upper_letter))
    return count


def _evaluate(
    labels: dict[int, list[str]], spec: SourceSpec, index: AliasIndex, wide_pattern: re.Pattern | None
) -> tuple[dict[int, tuple[str, str]], dict[int, str], list[str], list[str]]:
    """Map each column's candidate labels (best first) to a source column or a wide column."""
    columns: dict[int, tuple[str, str]] = {}
    wide: dict[int, str] = {}
    unmatched: list[str] = []
    duplicates: list[str] = []
    taken: set[str] = set()
    for col, candidates in sorted(labels.items()):
        for text in candidates:
            if wide_pattern and wide_pattern.search(text):
                wide[col] = text
                break
            name = index.match(text)
            if name and name not in taken:
                columns[col] = (name, text)
                taken.add(name)
                break
            if name:
                duplicates.append(text)
                break
        else:
            if candidates:
                unmatched.append(candidates[0])
    return columns, wide, unmatched, duplicates


def find_header(preview: list[list[str | None]], spec: SourceSpec) -> HeaderMatch | None:
    """The best header in the first rows of a sheet (``preview``: absolute rows of cell texts)."""
    index = AliasIndex.for_spec(spec)
    wide_pattern = re.compile(spec.unpivot.header_pattern) if spec.unpivot else None
    width = max((len(r) for r in preview), default=0)
    best: HeaderMatch | None = None
    # every cell's text once (re-reading the rows above each candidate made this quadratic in the preview)
    cells = [_texts(row, width) for row in preview]
    # a label names a column only if it has a letter (the registry checks every alias), so a candidate
    # scores at most its columns with such a label: most data rows are never evaluated (wide columns may be
    # bare years, so a source that unpivots evaluates every row)
    letters = [[t is not None and _LETTER.search(t) is not None for t in texts] for texts in cells]
    title_parts: list[str] = []
    for top, texts in enumerate(cells):
        title = " ".join(title_parts)
        title_parts.extend(t for t in texts if t)
        if not any(texts):
            continue
        heights = (1, 2) if top + 1 < len(cells) else (1,)
        for height in heights:
            if best is not None and not wide_pattern:
                bound = sum(letters[top]) if height == 1 else _pair_bound(cells, letters, top)
                if (bound, -height) <= (best.score, -best.height):
                    continue
            labels = {c: [t] for c, t in enumerate(texts) if t} if height == 1 else _pair_labels(cells, top)
            columns, wide, unmatched, duplicates = _evaluate(labels, spec, index, wide_pattern)
            match = HeaderMatch(top, height, columns, wide, unmatched, duplicates, title)
            # ties go to the earlier single row (a title row above a header is not a two-row header)
            if best is None or (match.score, -match.height) > (best.score, -best.height):
                best = match
    minimum = min(2, len(spec.columns))
    if best is None or best.score < minimum:
        return None
    return best


def expected_aliases(spec: SourceSpec, column_name: str) -> str:
    column = spec.column_map[column_name]
    return ", ".join(f'"{a}"' for a in (column.aliases or [column.name]))
