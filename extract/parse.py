"""From an opened workbook to the typed rows of one file, and every row that is not data or not valid.

Per sheet: find the header, read the rows below it, drop blank rows and the notes below the table,
unpivot wide tables, set total/subtotal rows aside (severity ``skip``). Then, for each sheet or each run of
consecutive sheets of one shape (an export with a sheet per kecamatan), typed together: type every column,
resolve the region, and pseudonymise personal data. Rows are counted so that loaded + rejected = read holds: every
non-blank row under the header up to the end of the table is read, and ends up either in the candidate
table or in :attr:`ParsedFile.rejections`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from expectations.gate import CheckOutcome
from extract.header import expected_aliases, find_header, normalise_label
from extract.readers import FileRejected, SheetTable, Workbook
from extract.registry import DUCKDB_TYPES, LINEAGE_COLUMNS, SourceSpec
from extract.typing_rules import Pseudonymiser, Typed, convert, is_string, present, to_text
from extract.wilayah import RegionResolver, compact_name, level_of, load_wilayah

MASK = "***"
#: a cell that is only a total label, optionally naming what it sums ("JUMLAH KEC. MIJEN", "TOTAL SE-KOTA");
#: free text that merely starts with "Jumlah" (a remark) is not a total
TOTAL_LABEL = re.compile(
    r"^\s*(sub\s*-?\s*total|grand\s*total|total|jumlah|jml\.?)\s*:?"
    r"(\s*\(?\s*(kec(amatan)?|kel(urahan)?|desa|kab(upaten)?|kota|puskesmas|prov(insi)?|wilayah|se-?|seluruh"
    r"|keseluruhan|akhir|umum)\b.*)?\s*$",
    re.IGNORECASE,
)
#: how every TOTAL_LABEL match starts (keep the two in step): the full pattern runs only on a column where a
#: cell starts like this
TOTAL_LABEL_START = r"^\s*(sub|grand|total|jumlah|jml)"
#: TOTAL_LABEL_START at the start of any cell of a row's label cells joined by _CELL_SEPARATOR
_CELL_SEPARATOR = "\x1f"
_TOTAL_LABEL_START_IN_ROW = rf"(^|{_CELL_SEPARATOR}){TOTAL_LABEL_START.removeprefix('^')}"
#: header labels that are never data ("No" columns), so not worth a warning when ignored
ROW_NUMBER_LABELS = {"no", "no urut", "nomor", "nomor urut", "urut", "nourut"}
ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "DATE": pa.date32(),
    "BOOLEAN": pa.bool_(),
}


@dataclass
class Rejection:
    sheet: str | None
    source_row: int | None
    column: str | None
    value: str | None
    reason: str  # one Indonesian line naming file, sheet, row and column
    check: str
    severity: str = "error"  # error | skip


@dataclass
class ParsedFile:
    #: candidate rows: canonical columns (typed, personal data hashed), constants, region_code, _sheet, _source_row
    table: pa.Table
    rows_read: int
    rows_rejected: int  # rows set aside before the gate (skip + error)
    rejections: list[Rejection] = field(default_factory=list)
    outcomes: list[CheckOutcome] = field(default_factory=list)


@dataclass
class _SheetRows:
    """Rows under a sheet's header, before typing: blank rows and notes below the table dropped, total rows
    marked, wide tables unpivoted. Consecutive sheets of one shape are stacked and typed together."""

    arrays: dict[str, pa.Array]  # canonical column -> cells as read
    errors: dict[str, np.ndarray]  # canonical column -> Excel error text per row (None elsewhere)
    texts: dict[str, str]  # canonical column -> its header as the sheet writes it
    source_rows: np.ndarray  # 1-based Excel row / CSV line of every row
    total: np.ndarray  # True for a total/subtotal row (set aside, never loaded)
    sheet_names: list[str | None]  # the sheets stacked here, in order (None for a CSV)
    sheet_of_row: np.ndarray  # each row's position in sheet_names
    excel: bool

    @property
    def shape(self) -> tuple:
        """What sheets typed together must share: columns with the same cell types and the same headers."""
        return tuple((name, array.type) for name, array in self.arrays.items()), tuple(self.texts.items())

    @classmethod
    def stack(cls, parts: list[_SheetRows]) -> _SheetRows:
        if len(parts) == 1:
            return parts[0]
        first = parts[0]

        def errors_of(part: _SheetRows, name: str) -> np.ndarray:
            return part.errors.get(name, np.full(len(part.source_rows), None, dtype=object))

        return cls(
            {name: pa.concat_arrays([p.arrays[name] for p in parts]) for name in first.arrays},
            {
                name: np.concatenate([errors_of(p, name) for p in parts])
                for name in dict.fromkeys(n for p in parts for n in p.errors)
            },
            first.texts,
            np.concatenate([p.source_rows for p in parts]),
            np.concatenate([p.total for p in parts]),
            [name for p in parts for name in p.sheet_names],
            np.concatenate([p.sheet_of_row + i for i, p in enumerate(parts)]),
            first.excel,
        )


def location(file_name: str, sheet: str | None, row: int | None = None, column: str | None = None) -> str:
    parts = [file_name]
    if sheet:
        parts.append(f'sheet "{sheet}"')
    if row is not None:
        parts.append(f"baris {row}")
    if column:
        parts.append(f'kolom "{column}"')
    return ", ".join(parts)


def warn(check: str, message: str, count: int = 1, column: str | None = None) -> CheckOutcome:
    """A failed warning: the file loads, the digest shows it."""
    return CheckOutcome(check, column, "warn", False, count, message, row_level=False)


def note(check: str, message: str, count: int = 1, column: str | None = None) -> CheckOutcome:
    """Something the extractor handled (extra columns ignored, hidden sheets skipped): recorded, not a failure."""
    return CheckOutcome(check, column, "warn", True, count, message, row_level=False)


def _starts_like_a_total(texts: list[pa.Array]) -> bool:
    """Whether any cell of these text columns starts like a total label (a cheaper first look than each
    column's own pass: ~0.3 ms of ~1 ms a sheet on e-PPGBM workbooks with a sheet per kecamatan)."""
    joined = pc.binary_join_element_wise(
        *texts, _CELL_SEPARATOR, null_handling="replace", null_replacement=""
    )
    return (
        pc.any(pc.match_substring_regex(joined, _TOTAL_LABEL_START_IN_ROW, ignore_case=True)).as_py() is True
    )


class FileParser:
    def __init__(self, spec: SourceSpec, *, file_name: str, scope: str, hash_key: bytes) -> None:
        self.spec = spec
        self.file_name = file_name
        self.scope = scope
        self.pseudonymiser = Pseudonymiser(hash_key)
        region = spec.region
        self.resolver = RegionResolver(region.level, scope, within_scope=region.within == "scope")
        # the frame handed to the gate: the raw table minus the lineage that only the loader knows
        self.schema = pa.schema(
            [
                (name, ARROW_TYPES[kind])
                for name, kind in spec.raw_columns().items()
                if name not in LINEAGE_COLUMNS
            ]
            + [("_sheet", pa.string()), ("_source_row", pa.int64())]
        )

    @property
    def _sheets_typed_together(self) -> bool:
        """Whether consecutive sheets of one shape are typed as one table (an e-PPGBM export has a sheet per
        kecamatan, and typing costs ~2 ms a sheet whatever its rows; a text column's number locale is then
        judged over those sheets, as the file's). Not with percentage columns: whether a column holds 0-1
        fractions is judged per sheet."""
        return not any(column.type == "pct" for column in self.spec.columns)

    # ------------------------------------------------------------------ workbook

    def parse(self, workbook: Workbook) -> ParsedFile:
        outcomes = [note("extract_file_format", f"{self.file_name}: {remark}") for remark in workbook.notes]
        if workbook.hidden_sheets:
            outcomes.append(
                note(
                    "extract_hidden_sheets",
                    f"{self.file_name}: sheet tersembunyi dilewati: {', '.join(workbook.hidden_sheets)}",
                    len(workbook.hidden_sheets),
                )
            )
        tables, rejections, read, rejected = [], [], 0, 0
        found_header = False
        alike: list[_SheetRows] = []  # consecutive sheets of one shape, typed together

        def type_alike() -> None:
            nonlocal read, rejected
            if alike:
                table, group_rejections, group_read, group_rejected = self._typed(
                    _SheetRows.stack(alike), outcomes
                )
                tables.append(table)
                rejections.extend(group_rejections)
                read += group_read
                rejected += group_rejected
                alike.clear()

        for sheet in workbook.sheets:
            rows = self._sheet_rows(sheet, outcomes)
            if rows is None:
                continue
            found_header = True
            if alike and not (self._sheets_typed_together and alike[-1].shape == rows.shape):
                type_alike()
            alike.append(rows)
        type_alike()
        if not found_header:
            names = ", ".join(f'"{s.name}"' for s in workbook.sheets) or "(tidak ada sheet yang sesuai)"
            required = [c.name for c in self.spec.columns if c.required]
            expected = "; ".join(f"{c}: {expected_aliases(self.spec, c)}" for c in required)
            raise FileRejected(
                f"{self.file_name}: baris judul kolom tidak ditemukan di sheet {names}; kolom yang diharapkan {expected}"
            )
        if read == 0:
            raise FileRejected(f"{self.file_name}: tidak ada baris data di bawah judul kolom (file kosong)")
        table = pa.concat_tables(tables) if tables else self.schema.empty_table()
        return ParsedFile(table, read, rejected, rejections, outcomes)

    # ------------------------------------------------------------------ one sheet

    def _sheet_label(self, sheet: SheetTable) -> str | None:
        """The value a sheet gives ``sheets.name_to_column`` (None: the sheet maps to nothing)."""
        values = self.spec.sheets.name_values
        if not values:
            return sheet.name
        name = normalise_label(sheet.name)
        for needle, value in values.items():
            if normalise_label(needle) in name:
                return value
        return None

    def _sheet_rows(self, sheet: SheetTable, outcomes: list[CheckOutcome]) -> _SheetRows | None:
        """A sheet's rows under its header, untyped (None: no table in the sheet)."""
        spec = self.spec
        where = location(self.file_name, sheet.name)
        header = find_header(sheet.preview, spec)
        if sheet.longer_preview is not None and not (header and header.settles_search(spec)):
            header = find_header(sheet.longer_preview(), spec)
        if header is None:
            if sheet.name is not None:
                outcomes.append(
                    warn("extract_sheet_skipped", f"{where}: tidak ada tabel yang dikenali, sheet dilewati")
                )
            return None
        missing = header.missing_required(spec)
        if missing:
            details = "; ".join(f'"{m}" (nama yang dikenali: {expected_aliases(spec, m)})' for m in missing)
            raise FileRejected(
                f"{where}, baris {header.header_row + 1}: kolom wajib tidak ditemukan: {details}"
            )
        sheet_value = None
        if spec.sheets.name_to_column:
            sheet_value = self._sheet_label(sheet)
            if sheet_value is None:
                outcomes.append(
                    warn(
                        "extract_sheet_skipped",
                        f"{where}: nama sheet tidak dikenali untuk kolom {spec.sheets.name_to_column}",
                    )
                )
                return None
        ignored = [t for t in header.unmatched if normalise_label(t) not in ROW_NUMBER_LABELS]
        if ignored:
            outcomes.append(
                note(
                    "extract_unmapped_columns",
                    f"{where}: kolom tidak dikenal diabaikan: {', '.join(ignored)}",
                    len(ignored),
                )
            )
        if header.duplicates:
            outcomes.append(
                warn(
                    "extract_duplicate_columns",
                    f"{where}: kolom ganda diabaikan: {', '.join(header.duplicates)}",
                )
            )

        loaded = sheet.load(header.data_start)
        raw_columns, source_rows = loaded.columns, loaded.source_rows
        height = len(source_rows)

        def column(index: int) -> pa.Array:
            return raw_columns.get(index, pa.nulls(height))

        def error_cells(index: int) -> np.ndarray:
            """Excel error values (#DIV/0!, #N/A) of one column, None elsewhere."""
            cells = np.full(height, None, dtype=object)
            for row, text in loaded.cell_errors.get(index, {}).items():
                cells[row] = text
            return cells

        arrays = {name: column(i) for i, (name, _) in header.columns.items()}
        errors = {name: error_cells(i) for i, (name, _) in header.columns.items() if i in loaded.cell_errors}
        texts = {name: text for name, text in header.columns.values()}
        wide = {i: text for i, text in header.wide.items()}

        # blank rows and the notes below the table: only cells under recognised headers count
        filled = np.zeros((height, len(arrays) + len(wide)), dtype=bool)
        for position, array in enumerate([*arrays.values(), *(column(i) for i in wide)]):
            filled[:, position] = present(array).to_numpy(zero_copy_only=False)
        for position, name in enumerate(arrays):
            if name in errors:
                filled[:, position] |= errors[name] != None  # noqa: E711 (numpy elementwise)
        counts = filled.sum(axis=1)
        strong = np.flatnonzero(counts >= min(2, filled.shape[1]))
        end = strong[-1] + 1 if len(strong) else 0
        keep = np.flatnonzero(counts[:end] > 0)
        take = pa.array(keep)

        def kept(array: pa.Array) -> pa.Array:
            return array if len(keep) == height else array.take(take)  # the usual case: nothing dropped

        arrays = {name: kept(a) for name, a in arrays.items()}
        errors = {name: e[keep] for name, e in errors.items()}
        source_rows = source_rows[keep]
        # total labels sit in text-like cells (a NIK or name column, a 'No' column), never in numbers or dates
        labels = [kept(a) for i, a in raw_columns.items() if i not in header.columns and i not in header.wide]
        labels += [a for name, a in arrays.items() if spec.column_map[name].type in ("text", "code", "nik")]
        total = self._total_rows(arrays, labels)

        if spec.unpivot and wide:
            wide_arrays = {i: kept(column(i)) for i in wide}
            order = self._unpivot_order(wide_arrays)
            arrays = self._unpivot(arrays, order, wide_arrays, wide)
            errors = {name: e[order] for name, e in errors.items()}
            source_rows, total = source_rows[order], total[order]
            texts[spec.unpivot.value_column] = f"{header.title_text} {sheet.name or ''}"
            texts[spec.unpivot.key_column] = spec.unpivot.key_column
        if spec.sheets.name_to_column:
            arrays[spec.sheets.name_to_column] = pa.array([sheet_value] * len(source_rows), pa.string())
        sheet_of_row = np.zeros(len(source_rows), dtype=np.int64)
        return _SheetRows(arrays, errors, texts, source_rows, total, [sheet.name], sheet_of_row, sheet.excel)

    def _typed(self, found: _SheetRows, outcomes: list[CheckOutcome]):
        """Type, check and pseudonymise the rows of one sheet, or of consecutive sheets of one shape."""
        spec = self.spec
        arrays, errors, texts = found.arrays, found.errors, found.texts
        source_rows, total = found.source_rows, found.total
        sheets = np.array(found.sheet_names, dtype=object)[found.sheet_of_row]  # each row's, for messages
        rows = len(source_rows)
        rejections: list[Rejection] = []
        for index in np.flatnonzero(total):
            rejections.append(
                Rejection(
                    sheets[index],
                    int(source_rows[index]),
                    None,
                    None,
                    f"{location(self.file_name, sheets[index], int(source_rows[index]))}: baris jumlah/total, bukan data",
                    "extract_total_row",
                    "skip",
                )
            )
        rejected = total.copy()

        typed: dict[str, pa.Array] = {}
        for col in spec.columns:
            if col.name not in arrays:
                typed[col.name] = pa.nulls(rows, ARROW_TYPES[DUCKDB_TYPES[col.type]])
                continue
            header_text = texts.get(col.name, col.name)
            result = convert(
                arrays[col.name], col, header_text=header_text, locale=spec.number_locale, excel=found.excel
            )
            typed[col.name] = result.values
            if result.note:  # only a percentage column has one: such sheets are typed one by one
                outcomes.append(
                    note(
                        "extract_pct_fraction",
                        f'{location(self.file_name, sheets[0])}, kolom "{header_text}": {result.note}',
                        column=col.name,
                    )
                )
            bad = result.invalid.to_numpy(zero_copy_only=False) & ~total
            if col.name in errors:
                excel_error = (errors[col.name] != None) & ~total  # noqa: E711 (numpy elementwise)
                for index in np.flatnonzero(excel_error):
                    rejections.append(
                        Rejection(
                            sheets[index],
                            int(source_rows[index]),
                            header_text,
                            errors[col.name][index],
                            f"{location(self.file_name, sheets[index], int(source_rows[index]), header_text)}: "
                            f"sel berisi galat Excel {errors[col.name][index]}",
                            "extract_excel_error",
                        )
                    )
                rejected |= excel_error
                bad &= ~excel_error
            if bad.any():
                self._reject_cells(
                    rejections, sheets, source_rows, bad, arrays[col.name], col.name, header_text, result
                )
                rejected |= bad
            if col.required and not (spec.unpivot and col.name == spec.unpivot.key_column):
                empty = pc.is_null(result.values).to_numpy(zero_copy_only=False) & ~bad & ~total
                for index in np.flatnonzero(empty):
                    rejections.append(
                        Rejection(
                            sheets[index],
                            int(source_rows[index]),
                            header_text,
                            None,
                            f"{location(self.file_name, sheets[index], int(source_rows[index]), header_text)}: kolom wajib kosong",
                            "extract_required",
                        )
                    )
                rejected |= empty

        region_codes, region_bad = self._resolve_regions(
            typed, texts, sheets, source_rows, ~total, rejections
        )
        rejected |= region_bad

        good = pa.array(np.flatnonzero(~rejected))

        def loaded_rows(array: pa.Array) -> pa.Array:
            return array if len(good) == rows else array.take(good)

        columns = {name: loaded_rows(array) for name, array in typed.items()}
        for name in spec.pii_columns:
            columns[name] = self.pseudonymiser.hash_array(columns[name])
        for name, value in spec.constants.items():
            columns[name] = pa.array([value] * len(good), pa.string())
        columns["region_code"] = loaded_rows(region_codes)
        # by position: converting a million-row object array to Arrow took ~0.5 s (a CSV's None sheet)
        columns["_sheet"] = pa.array(found.sheet_names, pa.string()).take(
            pa.array(found.sheet_of_row[~rejected])
        )
        columns["_source_row"] = pa.array(source_rows[~rejected], pa.int64())
        table = pa.table({f.name: pc.cast(columns[f.name], f.type) for f in self.schema})
        if len(found.sheet_names) > 1:
            # several sheets: each one's rejections together, in the order typing it alone gives
            position = {name: i for i, name in enumerate(found.sheet_names)}
            rejections.sort(key=lambda r: position[r.sheet])
        return table, rejections, rows, int(rejected.sum())

    def _scope_names(self) -> list[str]:
        name = load_wilayah().name(self.scope)
        return list({compact_name(name), re.sub(r"[^0-9a-z]+", "", name.lower())})

    def _total_rows(self, arrays: dict[str, pa.Array], labels: list[pa.Array]) -> np.ndarray:
        """JUMLAH / TOTAL / SUB TOTAL rows, and rows named after the file's own region."""
        height = len(next(iter(arrays.values()))) if arrays else 0
        total = np.zeros(height, dtype=bool)
        texts = [label for label in labels if is_string(label)]
        # one pass over the row's label cells joined: most sheets have no cell starting like a total label
        candidates = texts if texts and _starts_like_a_total(texts) else []
        for label in candidates:
            if pc.any(pc.match_substring_regex(label, TOTAL_LABEL_START, ignore_case=True)).as_py():
                matched = pc.match_substring_regex(label, TOTAL_LABEL.pattern, ignore_case=True)
                total |= pc.fill_null(matched, False).to_numpy(zero_copy_only=False)
        # a row named after the file's own region is its total, unless rows are regions at that very level
        region = self.spec.region
        label_columns = [c.name for c in self.spec.columns if c.required and c.type == "text"][:1]
        if region.name_columns and level_of(self.scope) != region.level:
            label_columns.insert(0, region.name_columns[0])
        scope_names = pa.array(self._scope_names())
        for name in dict.fromkeys(label_columns):
            if name in arrays:
                compact = pc.replace_substring_regex(pc.utf8_lower(to_text(arrays[name])), r"[^0-9a-z]+", "")
                total |= pc.fill_null(pc.is_in(compact, value_set=scope_names), False).to_numpy(
                    zero_copy_only=False
                )
        return total

    @staticmethod
    def _unpivot_order(wide_arrays: dict[int, pa.Array]) -> np.ndarray:
        """Row positions of the long records: one per non-empty wide cell, in the sheet's row order."""
        positions = [np.flatnonzero(present(a).to_numpy(zero_copy_only=False)) for a in wide_arrays.values()]
        order = np.concatenate(positions) if positions else np.array([], dtype=np.int64)
        return order[np.argsort(order, kind="stable")]

    def _unpivot(self, arrays, order: np.ndarray, wide_arrays: dict[int, pa.Array], wide: dict[int, str]):
        """One long record per non-empty wide cell; key = the column header (mapped through key_values)."""
        unpivot = self.spec.unpivot
        mapping = unpivot.key_values or {}
        same_type = len({a.type for a in wide_arrays.values()}) == 1
        positions, keys, values = [], [], []
        for index, text in wide.items():
            array = wide_arrays[index]
            where = np.flatnonzero(present(array).to_numpy(zero_copy_only=False))
            positions.append(where)
            keys.append(pa.array([mapping.get(text.strip(), text.strip())] * len(where), pa.string()))
            chosen = array.take(pa.array(where))
            values.append(chosen if same_type else to_text(chosen))
        flat = np.concatenate(positions) if positions else np.array([], dtype=np.int64)
        sort = pa.array(np.argsort(flat, kind="stable"))
        long = {name: a.take(pa.array(order)) for name, a in arrays.items()}
        long[unpivot.key_column] = pa.concat_arrays(keys).take(sort)
        long[unpivot.value_column] = pa.concat_arrays(values).take(sort)
        return long

    def _reject_cells(
        self, rejections, sheets, source_rows, bad, raw: pa.Array, name, header_text, result: Typed
    ):
        personal = bool(self.spec.column_map[name].pii)
        raw_text = to_text(raw.filter(pa.array(bad))).to_pylist()
        for index, value in zip(np.flatnonzero(bad), raw_text, strict=True):
            shown = MASK if personal else value
            reason = result.explain(value if self.spec.column_map[name].type == "nik" else shown)
            rejections.append(
                Rejection(
                    sheets[index],
                    int(source_rows[index]),
                    header_text,
                    shown,
                    f"{location(self.file_name, sheets[index], int(source_rows[index]), header_text)}: {reason}",
                    f"extract_type_{self.spec.column_map[name].type}",
                )
            )

    def _resolve_regions(self, typed, texts, sheets, source_rows, candidates: np.ndarray, rejections):
        region = self.spec.region
        rows = len(source_rows)
        parts = (
            [region.code_column, *region.name_columns] if region.code_column else [None, *region.name_columns]
        )
        arrays = [to_text(typed[p]) if p else pa.nulls(rows, pa.string()) for p in parts]
        if rows == 0:
            return pa.nulls(0, pa.string()), np.zeros(0, dtype=bool)
        joined = pc.binary_join_element_wise(
            *arrays, "\x1f", null_handling="replace", null_replacement="\x1e"
        )
        encoded = pc.dictionary_encode(joined)
        codes, reasons = [], []
        for key in encoded.dictionary.to_pylist():
            values = [None if v == "\x1e" else v for v in key.split("\x1f")]
            code, reason = self.resolver.resolve(values[0], values[1:])
            codes.append(code)
            reasons.append(reason)
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        region_codes = pa.array(codes, pa.string()).take(encoded.indices)
        bad = np.array([r is not None for r in reasons], dtype=bool)[indices] & candidates
        named = [p for p in parts if p and p in texts]
        column_label = texts[named[0]] if named else None
        for index in np.flatnonzero(bad):
            reason = reasons[indices[index]]
            rejections.append(
                Rejection(
                    sheets[index],
                    int(source_rows[index]),
                    column_label,
                    None,
                    f"{location(self.file_name, sheets[index], int(source_rows[index]), column_label)}: {reason}",
                    "extract_region",
                )
            )
        return region_codes, bad
