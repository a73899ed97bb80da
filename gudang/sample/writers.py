"""Write planned sheets as xlsx (xlsxwriter), legacy xls (xlwt) or semicolon CSV, byte-reproducibly."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd
import xlsxwriter

from gudang.sample.layout import Sheet

#: Fixed document metadata: the same seed must give byte-identical files.
FIXED_CREATED = dt.datetime(2026, 1, 1, 8, 0, 0)
NUMBER_FORMATS = {"date": "dd/mm/yyyy", "sci": "0.00E+00", "int": "#,##0", "dec1": "0.0", "dec2": "0.00"}


def _clean(value):
    """xlsxwriter and xlwt reject NaN: an empty cell is what the agency meant."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_xlsx(path: Path, sheets: list[Sheet], *, author: str, large: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # small workbooks are assembled in memory (10x faster than xlsxwriter's temp files); large ones stream
    options = {"constant_memory": large, "in_memory": not large, "strings_to_numbers": False,
               "strings_to_formulas": False}  # fmt: skip
    workbook = xlsxwriter.Workbook(str(path), options)
    workbook.set_properties({"created": FIXED_CREATED, "author": author, "company": author})
    bold = workbook.add_format({"bold": True})
    header_fmt = workbook.add_format({"bold": True, "align": "center", "valign": "vcenter", "border": 1})
    styles = {name: workbook.add_format({"num_format": fmt}) for name, fmt in NUMBER_FORMATS.items()}
    active = None
    for sheet in sheets:
        ws = workbook.add_worksheet(sheet.name)
        if sheet.hidden:
            ws.hide()
        elif active is None and not sheet.ignored:
            active = ws
        for r, text in enumerate(sheet.title_rows):
            ws.write_string(r, 0, text, bold)
        h0 = sheet.header_row - 1
        merged_cells = set()
        for r0, c0, r1, c1, text in sheet.merges:
            ws.merge_range(h0 + r0, c0, h0 + r1, c1, text, header_fmt)
            merged_cells.update((h0 + r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1))
        for r, header in enumerate(sheet.header_rows):
            for c, text in enumerate(header):
                if text is not None and (h0 + r, c) not in merged_cells:
                    ws.write_string(h0 + r, c, text, header_fmt)
        first = sheet.first_body_row - 1
        styled = sorted(sheet.column_styles.items())
        for i, row in enumerate(sheet.rows):
            if not row:
                continue
            values = [_clean(v) for v in row]
            ws.write_row(first + i, 0, values)
            for c, style in styled:
                if (
                    c < len(values)
                    and isinstance(values[c], (int, float))
                    and not isinstance(values[c], bool)
                ):
                    ws.write_number(first + i, c, values[c], styles[style])
        ws.set_column(0, max(len(h) for h in sheet.header_rows) - 1, 14)
    if active is not None:
        active.activate()
    workbook.close()


def write_xls(path: Path, sheets: list[Sheet], *, author: str) -> None:
    """Legacy Excel 97-2003 (BIFF8), as older agency templates still are."""
    import xlwt

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlwt.Workbook(encoding="utf-8")
    book.owner = author
    bold = xlwt.easyxf("font: bold on")
    header_fmt = xlwt.easyxf(
        "font: bold on; align: horiz center, vert center; borders: left thin, right thin, top thin, bottom thin"
    )
    styles = {name: xlwt.easyxf(num_format_str=fmt) for name, fmt in NUMBER_FORMATS.items()}
    for sheet in sheets:
        ws = book.add_sheet(sheet.name)
        if sheet.hidden:
            ws.visibility = 1
        for r, text in enumerate(sheet.title_rows):
            ws.write(r, 0, text, bold)
        h0 = sheet.header_row - 1
        merged_cells = set()
        for r0, c0, r1, c1, text in sheet.merges:
            ws.write_merge(h0 + r0, h0 + r1, c0, c1, text, header_fmt)
            merged_cells.update((h0 + r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1))
        for r, header in enumerate(sheet.header_rows):
            for c, text in enumerate(header):
                if text is not None and (h0 + r, c) not in merged_cells:
                    ws.write(h0 + r, c, text, header_fmt)
        first = sheet.first_body_row - 1
        for i, row in enumerate(sheet.rows):
            for c, value in enumerate(row):
                value = _clean(value)
                if value is None:
                    continue
                style = sheet.column_styles.get(c)
                if style and isinstance(value, (int, float)):
                    ws.write(first + i, c, value, styles[style])
                else:
                    ws.write(first + i, c, value)
    book.save(str(path))


def write_csv(
    path: Path, header: list[str], columns: dict[str, object] | pd.DataFrame, *, sep: str = ";"
) -> None:
    """Semicolon CSV, UTF-8 with a BOM (what Excel in an Indonesian locale saves)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = columns if isinstance(columns, pd.DataFrame) else pd.DataFrame(columns)
    frame.columns = header
    frame.to_csv(path, sep=sep, index=False, encoding="utf-8-sig", lineterminator="\n")


def write_csv_sheet(path: Path, sheet: Sheet, *, sep: str = ";") -> None:
    """A planned sheet as CSV (no title rows; blank rows stay blank lines)."""
    header = sheet.header_rows[-1]
    width = len(header)
    rows = [
        ["" if _clean(v) is None else v for v in (row + [None] * (width - len(row)))] for row in sheet.rows
    ]
    frame = pd.DataFrame(rows, columns=[str(h) for h in header], dtype=object)
    write_csv(path, [str(h) for h in header], frame, sep=sep)
