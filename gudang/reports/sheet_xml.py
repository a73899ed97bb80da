"""The planners' workbook's data rows, rendered by DuckDB exactly as xlsxwriter writes them.

xlsxwriter builds each cell's XML in Python at ~5 us a cell, and a province's workbook is ~1.4 million
cells: writing it was the largest step of an incremental run. Here DuckDB renders the same XML a column at a
time, and the rows are spliced into the worksheets xlsxwriter wrote with their headers (styles, widths, frozen
panes, autofilter, the overview sheet) once it has closed the workbook. The rows are the OOXML xlsxwriter's
own cell writer produces, byte for byte, which ``tests/test_reports_exports.py`` checks. A sheet with a
column type not rendered here, or with text over Excel's cell limit, keeps the cell writer.

Rendering rules, those of ``exports._write_cell`` and of xlsxwriter 3.x in constant-memory mode:
- numbers ``<c r s><v>%.16G</v></c>``; NULL, NaN and infinity become a styled blank ``<c r s/>``;
- text is neutralised (a leading ``=+-@``, tab or CR gets ``'``), control characters become ``_xHHHH_`` (and
  a literal ``_xHHHH_`` becomes ``_x005F_xHHHH_``), ``&<>`` are escaped, a leading or trailing space adds
  ``xml:space="preserve"``, and the text is an inline string; NULL text writes no cell;
- booleans ``<c r t="b"><v>1</v></c>``; dates and timestamps are Excel serial numbers in the column's style;
- a row with no cell writes no ``<row>``.
"""

from __future__ import annotations

import re
import zipfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

import duckdb
from xlsxwriter.utility import xl_col_to_name

#: Stands for the row number in a rendered row: a control character, so never left inside rendered text.
ROW_MARK = "\x01"
#: Excel's cell text limit in UTF-16 units; xlsxwriter cuts longer text.
EXCEL_TEXT_LIMIT = 32767
_FETCH_ROWS = 5_000
#: zlib level of the workbook's parts. Level 4 writes the province workbook in ~1.6 s instead of ~2.0 s
#: at zipfile's default 6, for a file ~13% larger (8.7 MB instead of 7.7 MB).
ZLIB_LEVEL = 4
#: sheets rendered ahead of the one being deflated (threads, and rendered parts held in memory)
_SHEETS_AHEAD = 3
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
_INTEGER_TYPES |= {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL"}
#: What Python's ``str.isspace`` accepts and xlsxwriter's control-character escape leaves in place.
_SPACE = r"[\t\n\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
_CONTROL_CODES = [*range(0x00, 0x09), *range(0x0B, 0x20)]
_NEEDS_CONTROL_ESCAPE = r"[\x00-\x08\x0b-\x1f\x{fffe}\x{ffff}]|_x[0-9a-fA-F]{4}_"
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_DOCUMENT_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PACKAGE_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DIMENSION = re.compile(r'<dimension ref="[A-Z]+\d+(?::[A-Z]+\d+)?"/>')


@dataclass(frozen=True)
class SheetColumn:
    name: str
    duck_type: str
    kind: str  # exports._ColumnStyle.kind
    xf_index: int | None  # the column's cell style in styles.xml (None: unstyled)


@dataclass(frozen=True)
class RenderedRows:
    """The data rows of one worksheet: a query giving one rendered row per row, in sheet order."""

    sheet_name: str
    query: str
    params: list
    rows: int  # how many rows the query gives (the sheet's autofilter was set for them)
    columns: int


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _excel_number(expr: str) -> str:
    """SQL for xlsxwriter's ``f"{number:.16G}"`` of a DOUBLE, negative zero included."""
    return f"CASE WHEN {expr} = 0 AND signbit({expr}) THEN '-0' ELSE printf('%.16G', {expr}) END"


def _neutralised(value: str) -> str:
    return rf"CASE WHEN regexp_matches({value}, '^[=+@\t\r-]') THEN '''' || {value} ELSE {value} END"


def _control_escaped(value: str) -> str:
    escaped = rf"regexp_replace({value}, '(_x[0-9a-fA-F]{{4}}_)', '_x005F\1', 'g')"
    for code in _CONTROL_CODES:
        escaped = f"replace({escaped}, chr({code}), '_x{code:04X}_')"
    escaped = f"replace(replace({escaped}, chr(65534), '_xFFFE_'), chr(65535), '_xFFFF_')"
    return f"CASE WHEN regexp_matches({value}, '{_NEEDS_CONTROL_ESCAPE}') THEN {escaped} ELSE {value} END"


def _is_text(column: SheetColumn) -> bool:
    return column.kind == "text" and column.duck_type.upper() == "VARCHAR"


def cell_sql(column: SheetColumn, letter: str, value: str) -> str | None:
    """SQL rendering one cell of ``column`` from the expression ``value`` (text: already neutralised and
    control-escaped), or None when the column's type is not rendered here."""
    duck_type = column.duck_type.upper()
    start = _literal(f'<c r="{letter}{ROW_MARK}"')
    if _is_text(column):
        preserve = f"regexp_matches({value}, '^{_SPACE}|{_SPACE}$')"
        opening = (
            f"""CASE WHEN {preserve} THEN ' t="inlineStr"><is><t xml:space="preserve">'"""
            """ ELSE ' t="inlineStr"><is><t>' END"""
        )
        escaped = f"replace(replace(replace({value}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"
        return (
            f"CASE WHEN {value} IS NULL THEN '' ELSE {start} || {opening} || {escaped} || '</t></is></c>' END"
        )
    if column.kind == "boolean" and duck_type == "BOOLEAN":
        flag = f"CASE WHEN {value} THEN '1' ELSE '0' END"
        return f"""CASE WHEN {value} IS NULL THEN '' ELSE {start} || ' t="b"><v>' || ({flag}) || '</v></c>' END"""
    if column.xf_index is None:
        return None
    styled = f"""{start} || ' s="{column.xf_index}"'"""
    if column.kind in {"date", "datetime"} and duck_type in {"DATE", "TIMESTAMP"}:
        day = f"CAST({value} AS DATE)"
        serial = f"CAST({day} - DATE '1899-12-31' AS DOUBLE)"
        if duck_type == "TIMESTAMP":
            micros = f"(epoch_us({value}) - epoch_us(CAST({day} AS TIMESTAMP)))"
            seconds = f"(CAST({micros} // 1000000 AS DOUBLE) + CAST({micros} % 1000000 AS DOUBLE) / 1e6)"
            serial = f"({serial} + {seconds} / 86400)"
            # xlsxwriter's own quirk: a datetime on 1900-01-01 counts from 1899-12-31
            serial = f"(CASE WHEN {day} = DATE '1900-01-01' THEN {serial} - 1 ELSE {serial} END)"
        serial = f"(CASE WHEN {serial} > 59 THEN {serial} + 1 ELSE {serial} END)"  # Excel's 1900 leap day
        rendered = f"{styled} || '><v>' || ({_excel_number(serial)}) || '</v></c>'"
        return f"CASE WHEN {value} IS NULL THEN {styled} || '/>' ELSE {rendered} END"
    numeric = duck_type in _INTEGER_TYPES or duck_type in _FLOAT_TYPES or duck_type.startswith("DECIMAL")
    if numeric and column.kind in {"integer", "number", "percent", "money"}:
        number = f"CAST({value} AS DOUBLE)"
        missing = f"{value} IS NULL"
        if duck_type not in _INTEGER_TYPES:
            missing += f" OR isnan({number}) OR isinf({number})"
        rendered = f"{styled} || '><v>' || ({_excel_number(number)}) || '</v></c>'"
        return f"CASE WHEN {missing} THEN {styled} || '/>' ELSE {rendered} END"
    return None


def rows_sql(columns: list[SheetColumn], select: str) -> str | None:
    """A query giving each row of ``select`` rendered (its cells, without ``<row>``), in order; None when a
    column is not rendered here. Text is neutralised and escaped in projections of their own, so that each
    step runs once per value."""
    aliases = [f"c{i}" for i in range(len(columns))]
    pairs = list(zip(columns, aliases, strict=True))
    cells = [cell_sql(column, xl_col_to_name(i), alias) for i, (column, alias) in enumerate(pairs)]
    if not columns or any(cell is None for cell in cells):
        return None
    renamed = ", ".join(f"{_ident(column.name)} AS {alias}" for column, alias in pairs)
    neutral = ", ".join(f"{_neutralised(a) if _is_text(c) else a} AS {a}" for c, a in pairs)
    escaped = ", ".join(f"{_control_escaped(a) if _is_text(c) else a} AS {a}" for c, a in pairs)
    return (
        f"SELECT {' || '.join(f'({cell})' for cell in cells)} AS cells"
        f" FROM (SELECT {escaped} FROM (SELECT {neutral} FROM (SELECT {renamed} FROM ({select}) AS planned)"
        " AS named) AS neutral) AS escaped"
    )


def has_overlong_text(
    conn: duckdb.DuckDBPyConnection, columns: list[SheetColumn], select: str, params: list
) -> bool:
    """Whether some text of ``select`` could reach Excel's cell limit (xlsxwriter then cuts it, in UTF-16
    units: such a sheet keeps the cell writer)."""
    texts = [_ident(c.name) for c in columns if _is_text(c)]
    if not texts:
        return False
    # UTF-8 bytes never undercount UTF-16 units: text within the limit in bytes needs no cut
    longest = conn.execute(
        f"SELECT greatest({', '.join(f'max(strlen({t}))' for t in texts)}) FROM ({select}) AS planned", params
    ).fetchone()[0]
    return (longest or 0) + 1 > EXCEL_TEXT_LIMIT  # + 1: a neutralising apostrophe


def splice_rows(
    workbook: Path, conn: duckdb.DuckDBPyConnection, rendered: list[RenderedRows], target: Path
) -> None:
    """Write ``target``: ``workbook`` with each sheet's rendered rows after its header row.

    The sheets are rendered ahead, in worker threads on their own cursors, while this thread deflates the
    parts in package order: rendering waits mostly in DuckDB and deflating in zlib, both outside the GIL, so
    the two overlap (the province workbook 1.65 -> 1.15-1.25 s). At most :data:`_SHEETS_AHEAD` rendered
    sheets wait in memory.
    """
    with zipfile.ZipFile(workbook) as source:
        parts = _worksheet_parts(source)
        by_part = {parts[rows.sheet_name]: rows for rows in rendered}
        infos = source.infolist()
        waiting = deque(info.filename for info in infos if info.filename in by_part)
        ahead: dict[str, Future[bytes]] = {}
        cursors: list[duckdb.DuckDBPyConnection] = []  # made here: a connection is not thread-safe

        def render_ahead(pool: ThreadPoolExecutor) -> None:
            while waiting and len(ahead) < _SHEETS_AHEAD:
                name = waiting.popleft()
                cursors.append(conn.cursor())
                ahead[name] = pool.submit(
                    _splice, source.read(name).decode("utf-8"), cursors[-1], by_part[name]
                )

        try:
            with (
                ThreadPoolExecutor(max_workers=_SHEETS_AHEAD, thread_name_prefix="sheet") as pool,
                zipfile.ZipFile(target, "w") as out,
            ):
                for info in infos:
                    render_ahead(pool)
                    data = (
                        ahead.pop(info.filename).result() if info.filename in by_part else source.read(info)
                    )
                    entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                    out.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=ZLIB_LEVEL)
        finally:  # the pool has waited for every sheet it started (at most _SHEETS_AHEAD, all running)
            for cursor in cursors:
                cursor.close()


def _worksheet_parts(source: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its worksheet part in the package, from the workbook part and its relationships."""
    workbook = ElementTree.fromstring(source.read("xl/workbook.xml"))
    relations = ElementTree.fromstring(source.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target") for rel in relations.iter(f"{_PACKAGE_REL_NS}Relationship")}
    return {
        sheet.get("name"): str(PurePosixPath("xl") / targets[sheet.get(f"{_DOCUMENT_REL_NS}id")])
        for sheet in workbook.iter(f"{_MAIN_NS}sheet")
    }


def _splice(xml: str, cursor: duckdb.DuckDBPyConnection, rows: RenderedRows) -> bytes:
    """The worksheet part with its rendered rows (``cursor``: this sheet's own)."""
    head, end_tag, tail = xml.partition("</sheetData>")
    if not end_tag:
        raise ValueError(f"lembar {rows.sheet_name}: tidak ada <sheetData> untuk disisipi baris")
    cursor.execute(rows.query, rows.params)
    number = last_with_cells = 1  # the header row
    chunks = []  # encoded rows: the dimension, written first, ends at the last row holding a cell
    while chunk := cursor.fetchmany(_FETCH_ROWS):
        parts = []
        for (cells,) in chunk:
            number += 1
            if cells:
                row = str(number)
                parts.append(f'<row r="{row}">{cells.replace(ROW_MARK, row)}</row>')
                last_with_cells = number
        chunks.append("".join(parts).encode("utf-8"))
    if number - 1 != rows.rows:
        raise RuntimeError(f"lembar {rows.sheet_name}: {number - 1} baris ditulis, {rows.rows} direncanakan")
    # xlsxwriter wrote the dimension of the header alone
    last_cell = f"{xl_col_to_name(rows.columns - 1)}{last_with_cells}"
    dimension = f'<dimension ref="{"A1" if last_cell == "A1" else f"A1:{last_cell}"}"/>'
    head = _DIMENSION.sub(dimension, head, count=1).encode("utf-8")
    return b"".join([head, *chunks, (end_tag + tail).encode("utf-8")])
