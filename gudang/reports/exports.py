"""Exports for people who live in Excel: every mart as Parquet and as one planner workbook.

The workbook is built with xlsxwriter in constant-memory mode (row by row, so a large mart never sits in
memory twice). Text that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, tab, CR at the
start) is neutralised with a leading apostrophe, because an agency can type anything into a cell that ends
up in a mart; numbers are written as numbers and are never touched.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import xlsxwriter

from gudang.reports import sheet_xml
from gudang.reports.marts import MartDoc, column_types, doc_for, list_marts, mart_docs
from gudang.settings import DBT_PROJECT_DIR

#: Rows per sheet in the planners' workbook. Excel's own limit is 1,048,575 data rows, but a sheet that
#: large is useless to a planner (and a province's marts in full are tens of millions of cells). A mart with
#: a period column (``meta.workbook_period_column``) shows its latest periods, whole, as many as fit;
#: everything is in the Parquet files.
SHEET_MAX_DATA_ROWS = 20_000
#: Row-level tables (facts, dimensions: one row per measurement, per region) are analysts' data, not a
#: planner's: the workbook shows their first rows as a sample of the columns, the data is in Parquet.
ROW_LEVEL_SAMPLE_ROWS = 1_000
ROW_LEVEL_PREFIXES = ("fct_", "dim_")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: zstd at level 1: the province's million-row fact in ~0.7 s instead of ~1.0 s at zstd's default level 3,
#: for a file ~3% larger (86 MB instead of 84 MB).
PARQUET_COMPRESSION = "COMPRESSION zstd, COMPRESSION_LEVEL 1"
_FETCH_CHUNK = 10_000
_MAX_WIDTH = 60
_WIDTH_SAMPLE_ROWS = 200
_INF = float("inf")


def neutralise(text: str) -> str:
    """Make a text cell inert in spreadsheets (OWASP CSV/formula injection): prefix ``'``."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    excel: Path
    parquet: dict[str, Path]
    rows: dict[str, int]  # mart -> rows in the mart (all of them are in its Parquet file)
    truncated: dict[str, int]  # mart -> rows left out of the workbook (see _sheet_plan); Parquet has all


@dataclass(frozen=True)
class _ColumnStyle:
    kind: str  # text | integer | number | percent | money | date | datetime | boolean | list
    num_format: str | None


def _column_style(name: str, duck_type: str, label: str) -> _ColumnStyle:
    """Pick the number format a planner expects from the column's name and DuckDB type."""
    lowered, type_upper = name.lower(), duck_type.upper()
    if type_upper.endswith("[]") or type_upper.startswith(("STRUCT", "MAP", "LIST")):
        return _ColumnStyle("list", None)
    if type_upper == "BOOLEAN":
        return _ColumnStyle("boolean", None)
    if type_upper == "DATE":
        return _ColumnStyle("date", "yyyy-mm-dd")
    if type_upper.startswith("TIMESTAMP"):
        return _ColumnStyle("datetime", "yyyy-mm-dd hh:mm")
    numeric = type_upper in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT"}
    numeric |= type_upper in {"UINTEGER", "UBIGINT", "DOUBLE", "FLOAT", "REAL"}
    numeric |= type_upper.startswith("DECIMAL")
    if not numeric:
        return _ColumnStyle("text", None)
    # Percentages in the marts are on a 0-100 scale; show the sign unless the label already carries it.
    if lowered.endswith("_pct") or "prevalence" in lowered or lowered.endswith("_share"):
        return _ColumnStyle("percent", "0.00" if "%" in label else '0.00"%"')
    if lowered.endswith("_pp"):  # percentage points
        return _ColumnStyle("number", "0.00")
    money = lowered.endswith(("_idr", "_rp", "_rupiah", "_usd")) or "exchange_rate" in lowered
    if money:
        # When the label names the unit ("Rp juta", "ribu US$", "Rp/kapita/bulan") the header says it all:
        # a currency sign in the cell would misread Rp juta as rupiah.
        if "rp" in label.lower() or "us$" in label.lower():
            return _ColumnStyle(
                "money", "#,##0.00" if any(u in label.lower() for u in ("juta", "ribu")) else "#,##0"
            )
        return _ColumnStyle("money", '"US$"#,##0.00' if lowered.endswith("_usd") else '"Rp"#,##0')
    if lowered in {
        "year",
        "quarter",
        "month",
        "semester",
        "welfare_decile",
        "sector_code",
    } or lowered.endswith(("_rank", "_year")):
        return _ColumnStyle("integer", "0")  # identifiers, not quantities: no thousands separator
    if "INT" in type_upper:
        return _ColumnStyle("integer", "#,##0")
    return _ColumnStyle("number", "#,##0.00")


def _cell_text(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join("" if v is None else str(v) for v in value)
    return str(value)


def _write_cell(sheet, row: int, col: int, value: object, style: _ColumnStyle, fmt) -> None:
    if value is None:
        sheet.write_blank(row, col, None, fmt)
    elif style.kind == "boolean":
        sheet.write_boolean(row, col, bool(value))
    elif style.kind in {"date", "datetime"} and isinstance(value, dt.date):
        sheet.write_datetime(row, col, value, fmt)
    elif isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            sheet.write_blank(row, col, None, fmt)  # NaN/inf are not valid Excel numbers
        else:
            sheet.write_number(row, col, number, fmt)
    else:
        sheet.write_string(row, col, neutralise(_cell_text(value)))


def _cell_writer(sheet, style: _ColumnStyle, fmt) -> Callable[[int, int, object], None]:
    """:func:`_write_cell` for one column, with the common cases of its kind first (a province's workbook
    is ~1.5 million cells, and the per-cell dispatch was a tenth of writing it)."""

    def general(row: int, col: int, value: object) -> None:
        _write_cell(sheet, row, col, value, style, fmt)

    if style.kind == "text":
        write_string = sheet.write_string

        def text(row: int, col: int, value: object) -> None:
            if type(value) is str:
                write_string(row, col, neutralise(value))
            else:
                general(row, col, value)

        return text
    if style.num_format is not None and style.kind not in {"date", "datetime"}:
        write_number = sheet.write_number

        def number(row: int, col: int, value: object) -> None:
            # finite floats and ints only: None, NaN, inf, Decimal and anything odd take the general path
            if (type(value) is float and -_INF < value < _INF) or type(value) is int:
                write_number(row, col, value, fmt)
            else:
                general(row, col, value)

        return number
    return general


def _width(value: object, style: _ColumnStyle) -> int:
    if value is None:
        return 0
    if style.kind in {"money", "integer", "number", "percent"} and isinstance(
        value, int | float | decimal.Decimal
    ):
        return len(f"{float(value):,.2f}") + 4
    if style.kind == "datetime":
        return 16
    return len(_cell_text(value)) + 1


def _sheet_name(table: str, used: set[str]) -> str:
    # Sheet names: max 31 chars, no []:*?/\ (table names never contain those, but be strict anyway).
    base = "".join("_" if ch in "[]:*?/\\" else ch for ch in table)[:31]
    name, n = base, 1
    while name.lower() in used:
        n += 1
        name = f"{base[: 31 - len(str(n)) - 1]}~{n}"
    used.add(name.lower())
    return name


def _write_mart_sheet(
    workbook: xlsxwriter.Workbook,
    sheet_name: str,
    conn: duckdb.DuckDBPyConnection,
    table: str,
    doc: MartDoc,
    plan: _SheetPlan,
    header_format,
    formats: _Formats,
    *,
    render_rows: bool = True,
) -> sheet_xml.RenderedRows | None:
    """The sheet of one mart with the rows ``plan`` selects (see :func:`_sheet_plan`).

    With ``render_rows`` the sheet gets its header here and DuckDB renders its data rows, returned for
    :func:`sheet_xml.splice_rows` once the workbook is closed; otherwise, or when a column cannot be
    rendered there, the rows are written here cell by cell and None is returned.
    """
    types = column_types(conn, table)
    names = list(types)
    labels = [doc.column_label(c) for c in names]
    styles = [_column_style(c, types[c], label) for c, label in zip(names, labels, strict=True)]
    sheet = workbook.add_worksheet(sheet_name)
    sheet.freeze_panes(1, 0)
    widths = [min(len(label) + 2, _MAX_WIDTH) for label in labels]
    # Constant-memory mode needs column widths before any row is written: estimate them from a sample.
    sample = conn.execute(f"SELECT * FROM ({plan.query}) AS planned LIMIT {_WIDTH_SAMPLE_ROWS}", plan.params)
    for record in sample.fetchall():
        for i, value in enumerate(record):
            widths[i] = min(max(widths[i], _width(value, styles[i])), _MAX_WIDTH)
    for i, width in enumerate(widths):
        sheet.set_column(i, i, max(width, 8))
    sheet.set_row(0, 30)
    for i, label in enumerate(labels):
        sheet.write_string(0, i, neutralise(label), header_format)
    if plan.shown:
        sheet.autofilter(0, 0, plan.shown, len(names) - 1)

    if render_rows and plan.shown:
        columns = [
            sheet_xml.SheetColumn(name, types[name], style.kind, _xf_index(formats[style.num_format]))
            for name, style in zip(names, styles, strict=True)
        ]
        query = sheet_xml.rows_sql(columns, plan.query)
        if query is not None and not sheet_xml.has_overlong_text(conn, columns, plan.query, plan.params):
            return sheet_xml.RenderedRows(sheet_name, query, plan.params, plan.shown, len(names))

    writers = [_cell_writer(sheet, style, formats[style.num_format]) for style in styles]
    cursor = conn.execute(plan.query, plan.params)
    written = 0
    while chunk := cursor.fetchmany(_FETCH_CHUNK):
        for record in chunk:
            written += 1
            for i, value in enumerate(record):
                writers[i](written, i, value)
    if written != plan.shown:
        raise RuntimeError(f"{table}: {written} baris ditulis, {plan.shown} direncanakan")
    return None


def _xf_index(cell_format) -> int | None:
    """The style index xlsxwriter gives a format in styles.xml (assigned on first use, as when it writes a
    cell in that format): what a rendered cell's ``s`` attribute names."""
    return None if cell_format is None else cell_format._get_xf_index()


class _Formats:
    """xlsxwriter formats by number-format string, created once per workbook on first use."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self._workbook = workbook
        self._formats: dict[str, object] = {}

    def __getitem__(self, num_format: str | None):
        if num_format is None:
            return None
        if num_format not in self._formats:
            self._formats[num_format] = self._workbook.add_format({"num_format": num_format})
        return self._formats[num_format]


def sheet_rows(table: str) -> int:
    """The most data rows a table gets in the planners' workbook."""
    return ROW_LEVEL_SAMPLE_ROWS if table.startswith(ROW_LEVEL_PREFIXES) else SHEET_MAX_DATA_ROWS


@dataclass(frozen=True)
class _SheetPlan:
    """Which rows of a mart its sheet holds, and how the overview sheet says so."""

    query: str
    params: list  # the query's bound values
    rows: int  # rows in the mart
    shown: int  # rows in the sheet
    note: str | None  # Indonesian, when the sheet does not hold the whole mart


def _sheet_plan(conn: duckdb.DuckDBPyConnection, table: str, doc: MartDoc) -> _SheetPlan:
    """The whole mart when it fits; else its latest periods that fit whole (at least the latest one),
    for a mart that declares its period column; else its first rows."""
    cap = sheet_rows(table)
    (rows,) = conn.execute(f'SELECT count(*) FROM main."{table}"').fetchone()
    select = f'SELECT * FROM main."{table}"'
    # Stored order, stated: without it a LIMIT under a parallel scan may pick other rows on every build.
    in_order = "ORDER BY rowid"
    period = doc.workbook_period_column
    if rows <= cap:
        return _SheetPlan(f"{select} {in_order}", [], rows, rows, None)
    if period is None or period not in column_types(conn, table):
        return _SheetPlan(
            f"{select} {in_order} LIMIT {cap}",
            [],
            rows,
            cap,
            f"Hanya {cap:,} baris pertama (batas lembar kerja); {rows - cap:,} baris lainnya ada di berkas Parquet.",
        )
    counts = conn.execute(
        f'SELECT "{period}", count(*) FROM main."{table}" WHERE "{period}" IS NOT NULL GROUP BY 1 ORDER BY 1 DESC'
    ).fetchall()
    kept: list[object] = []
    total = 0
    for value, count in counts:
        if kept and total + count > cap:
            break
        kept.append(value)
        total += count
    shown = min(total, cap)
    names = ", ".join(str(v) for v in sorted(kept, key=str))
    note = f"Periode terakhir saja ({names}); {rows - shown:,} baris lainnya ada di berkas Parquet."
    if total > cap:
        note = f"Hanya {cap:,} baris pertama periode {names} (batas lembar kerja); {rows - shown:,} baris lainnya ada di berkas Parquet."
    query = f'{select} WHERE "{period}" IN (SELECT unnest(?)) {in_order} LIMIT {cap}'
    return _SheetPlan(query, [kept], rows, shown, note)


def _write_readme_sheet(workbook, sheet_name, marts, docs, plans, period, run_id, header_format):
    """A first sheet that says what each sheet holds, in Indonesian, so the workbook stands on its own."""
    sheet = workbook.add_worksheet(sheet_name)
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 1, 40)
    sheet.set_column(2, 2, 12)
    sheet.set_column(3, 3, 90)
    sheet.write_string(0, 0, "Ekspor gudang data perencanaan", workbook.add_format({"bold": True}))
    sheet.write_string(1, 0, f"Periode data terakhir: {period}")
    sheet.write_string(2, 0, f"Run: {run_id}")
    sheet.write_string(3, 0, f"Dibuat: {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}")
    header_row = 5
    for i, title in enumerate(("Lembar (sheet)", "Isi", "Jumlah baris", "Keterangan")):
        sheet.write_string(header_row, i, title, header_format)
    for offset, (table, sheet_of_table) in enumerate(marts.items(), start=1):
        doc = doc_for(table, docs)
        note = doc.description.replace("\n", " ")
        if plans[table].note:
            note = f"{plans[table].note} {note}"
        sheet.write_string(header_row + offset, 0, sheet_of_table)
        sheet.write_string(header_row + offset, 1, neutralise(doc.label))
        sheet.write_number(header_row + offset, 2, plans[table].rows)
        sheet.write_string(header_row + offset, 3, neutralise(note))


def _write_parquet(cursor: duckdb.DuckDBPyConnection, marts: list[str], folder: Path) -> dict[str, Path]:
    parquet: dict[str, Path] = {}
    for table in marts:
        target = folder / f"{table}.parquet"
        partial = target.with_suffix(".parquet.part")
        quoted_path = str(partial).replace("'", "''")
        cursor.execute(f"COPY main.\"{table}\" TO '{quoted_path}' (FORMAT parquet, {PARQUET_COMPRESSION})")
        partial.replace(target)
        parquet[table] = target
    return parquet


def export_marts(
    published: Path, folder: Path, *, period: str, run_id: str, project_dir: Path = DBT_PROJECT_DIR
) -> ExportResult:
    """Write ``<mart>.parquet`` for every mart and ``gudang_<period>.xlsx`` (one sheet per mart)."""
    docs = mart_docs(project_dir)
    folder.mkdir(parents=True, exist_ok=True)
    excel = folder / f"gudang_{period}.xlsx"
    partial_excel = excel.with_suffix(".xlsx.part")
    conn = duckdb.connect(str(published), read_only=True)
    try:
        marts = list_marts(conn)
        # The Parquet copies run in DuckDB (no GIL) on their own cursor while this thread writes the
        # workbook: the two overlap instead of adding up.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet") as pool:
            parquet_done = pool.submit(_write_parquet, conn.cursor(), marts, folder)
            try:
                plans = _write_workbook(conn, partial_excel, marts, docs, period, run_id)
            finally:
                parquet = parquet_done.result()
        partial_excel.replace(excel)
    finally:
        conn.close()
        partial_excel.unlink(missing_ok=True)
    return ExportResult(
        folder=folder,
        excel=excel,
        parquet=parquet,
        rows={table: plan.rows for table, plan in plans.items()},
        truncated={table: plan.rows - plan.shown for table, plan in plans.items() if plan.rows > plan.shown},
    )


def _write_workbook(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    marts: list[str],
    docs: dict[str, MartDoc],
    period: str,
    run_id: str,
    *,
    render_rows: bool = True,
) -> dict[str, _SheetPlan]:
    """The planners' workbook; returns what each mart's sheet holds.

    xlsxwriter writes every sheet's header (and the rows of any sheet DuckDB cannot render) into a skeleton
    workbook; the rows DuckDB renders are then spliced in while copying it to ``path``.
    """
    skeleton = path.with_name(path.name + ".skeleton")
    try:
        plans, rendered = _write_skeleton(conn, skeleton, marts, docs, period, run_id, render_rows)
        if rendered:
            sheet_xml.splice_rows(skeleton, conn, rendered, path)
        else:
            skeleton.replace(path)
    finally:
        skeleton.unlink(missing_ok=True)
    return plans


def _write_skeleton(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    marts: list[str],
    docs: dict[str, MartDoc],
    period: str,
    run_id: str,
    render_rows: bool,
) -> tuple[dict[str, _SheetPlan], list[sheet_xml.RenderedRows]]:
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            # Belt and braces: never let xlsxwriter turn text into formulas, numbers or links.
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "default_date_format": "yyyy-mm-dd",
            "remove_timezone": True,
        },
    )
    header_format = workbook.add_format(
        {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DCE6F1", "border": 1}
    )
    formats = _Formats(workbook)
    used_names = {"keterangan"}
    sheets = {table: _sheet_name(table, used_names) for table in marts}
    # Constant-memory mode flushes each sheet once the next one starts, so the overview sheet (first)
    # needs what each sheet holds before any mart is written: planned up front (cheap in DuckDB).
    plans = {table: _sheet_plan(conn, table, doc_for(table, docs)) for table in marts}
    _write_readme_sheet(workbook, "Keterangan", sheets, docs, plans, period, run_id, header_format)
    rendered = []
    for table in marts:
        rows = _write_mart_sheet(
            workbook,
            sheets[table],
            conn,
            table,
            doc_for(table, docs),
            plans[table],
            header_format,
            formats,
            render_rows=render_rows,
        )
        if rows is not None:
            rendered.append(rows)
    workbook.close()
    return plans, rendered


def write_latest_pointer(exports_root: Path, result: ExportResult, *, period: str, run_id: str) -> Path:
    """``exports/latest.json``: where the newest exports are (a small index, works on every OS)."""
    pointer = exports_root / "latest.json"
    index = {
        "period": period,
        "run_id": run_id,
        "generated_at": dt.datetime.now().isoformat(timespec="seconds"),
        "folder": result.folder.relative_to(exports_root).as_posix(),
        "excel": result.excel.relative_to(exports_root).as_posix(),
        "parquet": {t: p.relative_to(exports_root).as_posix() for t, p in result.parquet.items()},
        "rows": result.rows,
        "truncated_in_excel": result.truncated,
    }
    partial = pointer.with_suffix(".json.part")
    partial.write_text(json.dumps(index, indent=2, ensure_ascii=False))
    partial.replace(pointer)
    return pointer
