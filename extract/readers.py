"""Opening an agency file safely and reading its sheets as Arrow columns.

The real format is sniffed from the bytes, never trusted from the extension: an ``.xlsx`` may be a CSV,
an HTML export, a password-protected OLE2 container or a zip bomb. Limits (file size, rows per sheet,
uncompressed size, compression ratio) come from ``gudang.config.Limits`` and are checked before any
sheet is parsed.

Excel: the header is found in a cheap preview of the first rows (read straight from the sheet XML for
xlsx, so the sheet is parsed by calamine only once; the first 12 rows, and the rest of the 40 only when
the header search needs them), then calamine (``fastexcel``) reads everything below the header with
native types. CSV: encoding and delimiter are sniffed, ``pyarrow.csv`` parses it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

import fastexcel
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from extract.header import FIRST_PREVIEW_ROWS, PREVIEW_ROWS
from gudang.config import Limits

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
#: stream names inside an OLE2 container that mean "encrypted OOXML" (MS-OFFCRYPTO)
ENCRYPTED_MARKERS = ("EncryptedPackage".encode("utf-16-le"), b"EncryptedPackage")
CSV_DELIMITERS = (";", ",", "\t", "|")
#: below this uncompressed size the compression ratio is not checked (tiny xlsx compress very well)
RATIO_CHECK_MIN_BYTES = 8 * 1024 * 1024
#: decompressed XML fed to the parser at a time when only the start of a part is wanted
_PARTIAL_CHUNK_BYTES = 8 * 1024
_WHOLE_NUMBER = re.compile(r"-?\d+\.0+")
#: what an agency can do about a damaged workbook
_RESAVE = "buka file di Excel, simpan ulang, lalu kirim kembali"


class FileRejected(Exception):
    """The whole file cannot be loaded. The message (Indonesian) says why and what to do."""


@dataclass
class Rows:
    """The data rows of a sheet below its header."""

    columns: dict[int, pa.Array]  # keyed by absolute 0-based column index
    source_rows: np.ndarray  # 1-based Excel row / CSV line number of every row
    #: Excel error cells (#DIV/0!, #N/A, ...): absolute column -> {row position: error text}
    cell_errors: dict[int, dict[int, str]] = field(default_factory=dict)


EXCEL_ERRORS = {
    "Div0": "#DIV/0!",
    "NA": "#N/A",
    "Value": "#VALUE!",
    "Ref": "#REF!",
    "Name": "#NAME?",
    "Num": "#NUM!",
    "Null": "#NULL!",
    "GettingData": "#GETTING_DATA",
}


@dataclass
class SheetTable:
    name: str | None  # None for CSV
    preview: list[list[str | None]]  # first rows, absolute (index 0 = Excel row 1 / CSV line 1)
    load: Callable[[int], Rows]  # absolute index of the first data row -> data rows
    excel: bool
    #: the first PREVIEW_ROWS rows, read on demand, when ``preview`` holds fewer and the sheet has more
    #: (xlsx: only FIRST_PREVIEW_ROWS are read when the workbook is opened)
    longer_preview: Callable[[], list[list[str | None]]] | None = None


@dataclass
class Workbook:
    kind: str  # xlsx | xls | ods | csv
    sheets: list[SheetTable]
    hidden_sheets: list[str] = field(default_factory=list)
    excluded_sheets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def sniff_kind(path: Path, limits: Limits) -> str:
    size = path.stat().st_size
    if size == 0:
        raise FileRejected("file kosong (0 byte)")
    if size > limits.max_file_bytes:
        raise FileRejected(f"file terlalu besar ({size:,} byte; batas {limits.max_file_bytes:,} byte)")
    with path.open("rb") as handle:
        head = handle.read(8192)
    if head.startswith(OLE2_MAGIC):
        content = path.read_bytes()
        if any(marker in content for marker in ENCRYPTED_MARKERS):
            raise FileRejected(
                "file Excel dilindungi kata sandi/terenkripsi; simpan ulang tanpa kata sandi lalu kirim kembali"
            )
        return "xls"
    if head.startswith(ZIP_MAGIC) or head.startswith(b"PK"):
        return "zip"
    text = _decode_head(head).lstrip().lower()
    if text.startswith(("<!doctype html", "<html", "<table", "<?xml", "<meta", "<head", "<body")):
        raise FileRejected(
            "file berisi HTML/XML (hasil ekspor aplikasi web), bukan Excel atau CSV; "
            "buka di Excel lalu simpan sebagai .xlsx"
        )
    if (
        b"\x00" in head
        and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        and not _looks_utf16(head)
    ):
        raise FileRejected("format file tidak dikenali (bukan xlsx, xls, atau CSV)")
    return "csv"


def _looks_utf16(head: bytes) -> bool:
    even, odd = head[0::2], head[1::2]
    return len(head) >= 4 and (odd.count(0) > 0.4 * len(odd) or even.count(0) > 0.4 * len(even))


def _decode_head(head: bytes) -> str:
    try:
        return decode_text(head, strict=False)
    except UnicodeDecodeError:
        return ""


def decode_text(data: bytes, *, strict: bool = True) -> str:
    """UTF-8 (with or without BOM), UTF-16 (BOM or NUL pattern), else cp1252/latin-1."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="strict" if strict else "ignore")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="strict" if strict else "ignore")
    if b"\x00" in data[:4096] and _looks_utf16(data[:4096]):
        even_zeros = data[0:4096:2].count(0)
        odd_zeros = data[1:4096:2].count(0)
        return data.decode("utf-16-be" if even_zeros > odd_zeros else "utf-16-le", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")


def open_workbook(path: Path, limits: Limits, *, include: str = ".*", skip_hidden: bool = True) -> Workbook:
    kind = sniff_kind(path, limits)
    if kind == "csv":
        workbook = _open_csv(path, limits)
    elif kind == "zip":
        workbook = _open_zip(path, limits, include, skip_hidden)
    else:
        workbook = _open_calamine(path, "xls", limits, include, skip_hidden)
    suffix = path.suffix.lower().lstrip(".")
    if suffix and suffix != workbook.kind and not (suffix == "xlsm" and workbook.kind == "xlsx"):
        workbook.notes.append(f"ekstensi .{suffix} tetapi isi file berformat {workbook.kind}")
    return workbook


# --------------------------------------------------------------------------- Excel


def _open_zip(path: Path, limits: Limits, include: str, skip_hidden: bool) -> Workbook:
    try:
        archive = zipfile.ZipFile(path)
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileRejected(
            f"file xlsx rusak (arsip zip tidak bisa dibuka: {exc}); kirim ulang file aslinya"
        ) from exc
    unpacked = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members) or 1
    if unpacked > limits.max_uncompressed_bytes:
        raise FileRejected(
            f"isi file xlsx terlalu besar setelah diekstrak ({unpacked:,} byte; batas "
            f"{limits.max_uncompressed_bytes:,}); kemungkinan zip bomb"
        )
    if unpacked > RATIO_CHECK_MIN_BYTES and unpacked / packed > limits.max_compression_ratio:
        raise FileRejected(
            f"rasio kompresi file xlsx tidak wajar ({unpacked / packed:,.0f}x; batas "
            f"{limits.max_compression_ratio:,.0f}x); kemungkinan zip bomb"
        )
    names = {m.filename for m in members}
    if "xl/workbook.xml" not in names:
        if "content.xml" in names:
            return _open_calamine(path, "ods", limits, include, skip_hidden)
        raise FileRejected("file zip ini bukan workbook Excel (tidak ada xl/workbook.xml)")
    try:
        return _open_xlsx(path, archive, limits, include, skip_hidden)
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise FileRejected(f"file xlsx rusak ({type(exc).__name__}: {exc})") from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _attr(element: ElementTree.Element, name: str) -> str | None:
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


def _column_index(ref: str) -> int:
    """0-based column of a cell reference ("AB12" -> 27)."""
    return _column_letters_index(ref.rstrip("0123456789"))


@cache  # a sheet's previews repeat the same few dozen column letters on every row
def _column_letters_index(letters: str) -> int:
    index = 0
    for char in letters:
        if not char.isalpha():
            break
        index = index * 26 + (ord(char.upper()) - 64)
    return index - 1


def _open_xlsx(
    path: Path, archive: zipfile.ZipFile, limits: Limits, include: str, skip_hidden: bool
) -> Workbook:
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets, shared_strings = {}, None
    for rel in rels:
        target = rel.get("Target", "")
        target = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        targets[rel.get("Id")] = target
        if rel.get("Type", "").endswith("/sharedStrings"):
            shared_strings = target
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    try:
        reader = fastexcel.read_excel(path)
    except Exception as exc:  # calamine reports corrupt parts in many ways
        raise FileRejected(f"file xlsx rusak: {exc}") from exc

    workbook = Workbook(kind="xlsx", sheets=[])
    for sheet in (e for e in book.iter() if _local(e.tag) == "sheet"):
        name = sheet.get("name", "")
        if skip_hidden and sheet.get("state", "visible") != "visible":
            workbook.hidden_sheets.append(name)
            continue
        if not re.search(include, name, re.IGNORECASE):
            workbook.excluded_sheets.append(name)
            continue
        part = targets.get(_attr(sheet, "id"))
        preview, last_row, more = _peek_xlsx_sheet(archive, name, part, shared_strings, FIRST_PREVIEW_ROWS)
        if last_row and last_row > limits.max_rows_per_sheet:
            raise FileRejected(
                f'sheet "{name}" terlalu banyak baris ({last_row:,}; batas {limits.max_rows_per_sheet:,})'
            )
        longer = _longer_xlsx_preview(archive, name, part, shared_strings) if more else None
        workbook.sheets.append(
            SheetTable(
                name, preview, _calamine_loader(reader, name, limits), excel=True, longer_preview=longer
            )
        )
    return workbook


def _longer_xlsx_preview(
    archive: zipfile.ZipFile, sheet_name: str, part: str | None, shared_strings: str | None
) -> Callable[[], list[list[str | None]]]:
    def read() -> list[list[str | None]]:
        return _peek_xlsx_sheet(archive, sheet_name, part, shared_strings, PREVIEW_ROWS)[0]

    return read


def _partial_tree(handle: IO[bytes], enough: Callable[[ElementTree.Element], bool]) -> ElementTree.Element:
    """The root of an XML part parsed only as far as needed: chunks go to expat until ``enough(root)``.

    The tree is built in C as the chunks arrive (iterparse's Python loop per element was a third of an
    e-PPGBM parse: its workbooks have a sheet per kecamatan and every sheet is previewed). The pull parser
    keeps a syntax error in its event queue instead of raising it, and the tree simply stops growing, so
    a part read to its end without ``enough`` has its queued events checked and raises the ParseError of
    any damage (expat builds nothing after an error, so ``enough`` is never reached past one). Bytes after
    the closed root element (NUL padding from some exporters, which calamine reads past) are not damage.
    """
    parser = ElementTree.XMLPullParser(events=("start", "end"))
    root = None
    while chunk := handle.read(_PARTIAL_CHUNK_BYTES):
        parser.feed(chunk)
        if root is None:
            root = next((element for _, element in parser.read_events()), None)
        if root is not None and enough(root):
            return root
    root_closed = False
    try:
        for event, element in parser.read_events():
            root_closed = event == "end" and element is root
        parser.close()
    except ElementTree.ParseError:
        if not root_closed:
            raise
    assert root is not None  # close() raises on a part without an element
    return root


def _namespace(root: ElementTree.Element) -> str:
    return root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""


def _text_of(element: ElementTree.Element | None, namespace: str) -> str:
    """The text of a string item (<si> or <is>): plain or rich-text runs; phonetic runs (rPh) are not text."""
    parts: list[str] = []
    for child in element if element is not None else []:
        if child.tag == f"{namespace}t":
            parts.append(child.text or "")
        elif child.tag == f"{namespace}r":
            parts.extend(t.text or "" for t in child.iter(f"{namespace}t"))
    return "".join(parts)


def _peek_xlsx_sheet(
    archive: zipfile.ZipFile, sheet_name: str, part: str | None, shared_strings: str | None, wanted: int
) -> tuple[list[list[str | None]], int | None, bool]:
    """The first ``wanted`` rows of a sheet straight from its XML (stops early), the last row from
    <dimension>, and whether a row follows them. XML damage within them rejects the file, naming the cell
    or row where it lies (read past, the damage would only make the header seem missing)."""
    if part is None:
        return [], None, False

    def sheet_data(root: ElementTree.Element) -> ElementTree.Element | None:
        return next((e for e in root if _local(e.tag) == "sheetData"), None)

    def past_preview(root: ElementTree.Element) -> bool:
        rows = sheet_data(root)
        # a row after the preview has started, so every preview row is complete
        return (
            rows is not None
            and len(rows) > 0
            and (len(rows) > wanted or int(rows[-1].get("r") or 0) > wanted)
        )

    with archive.open(part) as handle:
        try:
            root = _partial_tree(handle, past_preview)
        except ElementTree.ParseError as exc:
            where = _damage_location(archive, part, exc)
            raise FileRejected(
                f'sheet "{sheet_name}" rusak{where} (XML tidak valid: {exc}); {_RESAVE}'
            ) from exc
    namespace = _namespace(root)
    dimension = root.find(f"{namespace}dimension")
    bounds = re.findall(r"\d+", dimension.get("ref", "")) if dimension is not None else []
    last_row = int(bounds[-1]) if bounds else None
    rows: dict[int, dict[int, tuple[str, str]]] = {}
    next_row = 1
    more = False
    for row in sheet_data(root) or []:
        number = int(row.get("r") or next_row)
        next_row = number + 1
        if number > wanted:
            more = True
            break
        cells: dict[int, tuple[str, str]] = {}
        for position, cell in enumerate(row.iterfind(f"{namespace}c")):
            ref = cell.get("r")
            col = _column_index(ref) if ref else position
            kind = cell.get("t", "n")
            if kind == "inlineStr":
                text = _text_of(cell.find(f"{namespace}is"), namespace)
            else:
                value = cell.find(f"{namespace}v")
                if value is None or value.text is None:
                    continue
                text = value.text
            cells[col] = (kind, text)
        rows[number - 1] = cells
    strings = _shared_strings(archive, shared_strings, rows)
    width = max((max(cells) + 1 for cells in rows.values() if cells), default=0)
    preview: list[list[str | None]] = []
    for index in range(max(rows, default=-1) + 1):
        cells = rows.get(index, {})
        line: list[str | None] = [None] * width
        for col, (kind, text) in cells.items():
            if kind == "s":
                line[col] = strings.get(int(text))
            elif kind == "b":
                line[col] = "TRUE" if text == "1" else "FALSE"
            elif kind == "n" and _WHOLE_NUMBER.fullmatch(text):
                line[col] = text.split(".")[0]
            else:
                line[col] = text
        preview.append(line)
    return preview, last_row, more


_ROW_START = re.compile(r"<(?:[\w.-]+:)?row\b")
_CELL_START = re.compile(r"<(?:[\w.-]+:)?c\b")
_REFERENCE = re.compile(r'\br="([A-Z]*\d+)"')


def _damage_location(archive: zipfile.ZipFile, part: str, error: ElementTree.ParseError) -> str:
    """Where damage in a sheet's XML lies, as the agency would look for it in Excel: " di sel C2" (the cell
    being read at the error), " di baris 2" (in a row's own tag), or "" (before the first row)."""
    line, column = error.position  # expat counts the column in characters
    with archive.open(part) as handle:  # read whole, once: only a damaged file comes here
        lines = handle.read().decode("utf-8", errors="replace").split("\n")
    before = "\n".join([*lines[: line - 1], lines[line - 1][:column]]) if 0 < line <= len(lines) else ""
    rows = list(_ROW_START.finditer(before))
    if not rows:
        return ""
    row_xml = before[rows[-1].start() :]
    cells = list(_CELL_START.finditer(row_xml))
    # a start tag's attributes, as far as the text before the damage has them
    cell = _REFERENCE.search(row_xml[cells[-1].end() :].split(">", 1)[0]) if cells else None
    if cell is not None:
        return f" di sel {cell.group(1)}"
    row = _REFERENCE.search(row_xml.split(">", 1)[0])
    return f" di baris {row.group(1)}" if row else ""


def _shared_strings(
    archive: zipfile.ZipFile, part: str | None, rows: dict[int, dict[int, tuple[str, str]]]
) -> dict[int, str]:
    wanted = {int(text) for cells in rows.values() for kind, text in cells.values() if kind == "s"}
    if not wanted or part is None:
        return {}
    last_wanted = max(wanted)
    with archive.open(part) as handle:
        try:
            # one more item than needed has started, so the last wanted one is complete
            root = _partial_tree(handle, lambda table: len(table) > last_wanted + 1)
        except ElementTree.ParseError as exc:
            raise FileRejected(
                f"daftar teks file xlsx ({part}) rusak (XML tidak valid: {exc}); {_RESAVE}"
            ) from exc
    namespace = _namespace(root)
    items = list(root.iterfind(f"{namespace}si"))
    return {index: _text_of(items[index], namespace) for index in wanted if index < len(items)}


def _calamine_loader(reader: fastexcel.ExcelReader, sheet_name: str, limits: Limits) -> Callable[[int], Rows]:
    def load(data_start: int) -> Rows:
        try:
            sheet = reader.load_sheet(
                sheet_name,
                header_row=None,
                skip_rows=data_start,
                schema_sample_rows=None,
                dtype_coercion="coerce",
            )
            if sheet.height > limits.max_rows_per_sheet:
                raise FileRejected(
                    f'sheet "{sheet_name}" terlalu banyak baris ({sheet.height:,}; batas {limits.max_rows_per_sheet:,})'
                )
            batch, errors = sheet.to_arrow_with_errors()
        except fastexcel.FastExcelError as exc:
            raise FileRejected(f'sheet "{sheet_name}" tidak bisa dibaca: {exc}') from exc
        absolute = {info.index: info.absolute_index for info in sheet.selected_columns}
        columns = {absolute[i]: batch.column(i) for i in absolute}
        cell_errors: dict[int, dict[int, str]] = {}
        for error in errors.errors if errors else []:
            row, col = error.offset_position
            code = re.search(r"Error\((\w+)\)", error.detail)
            text = EXCEL_ERRORS.get(code.group(1), code.group(1)) if code else "nilai tidak terbaca"
            cell_errors.setdefault(absolute.get(col, col), {})[row] = text
        return Rows(columns, np.arange(data_start + 1, data_start + 1 + batch.num_rows), cell_errors)

    return load


def _open_calamine(path: Path, kind: str, limits: Limits, include: str, skip_hidden: bool) -> Workbook:
    """Legacy .xls and .ods: no cheap XML preview, so the first rows come from calamine too."""
    try:
        reader = fastexcel.read_excel(path)
        names = reader.sheet_names
    except Exception as exc:
        raise FileRejected(f"file {kind} rusak atau tidak bisa dibaca: {exc}") from exc
    workbook = Workbook(kind=kind, sheets=[])
    for name in names:
        if not re.search(include, name, re.IGNORECASE):
            workbook.excluded_sheets.append(name)
            continue
        try:
            head = reader.load_sheet(name, header_row=None, skip_rows=0, n_rows=PREVIEW_ROWS, dtypes="string")
        except fastexcel.FastExcelError as exc:
            raise FileRejected(f'sheet "{name}" tidak bisa dibaca: {exc}') from exc
        if skip_hidden and head.visible != "visible":
            workbook.hidden_sheets.append(name)
            continue
        if head.total_height > limits.max_rows_per_sheet:
            raise FileRejected(
                f'sheet "{name}" terlalu banyak baris ({head.total_height:,}; batas {limits.max_rows_per_sheet:,})'
            )
        batch = head.to_arrow()
        width = max((i.absolute_index + 1 for i in head.selected_columns), default=0)
        preview = [[None] * width for _ in range(batch.num_rows)]
        for info in head.selected_columns:
            for row, value in enumerate(batch.column(info.index).to_pylist()):
                preview[row][info.absolute_index] = value
        workbook.sheets.append(SheetTable(name, preview, _calamine_loader(reader, name, limits), excel=True))
    return workbook


# --------------------------------------------------------------------------- CSV


def sniff_delimiter(lines: list[str]) -> tuple[str, int]:
    """The delimiter giving the most rows of one consistent width, and that width."""
    best = (",", 1, -1.0)
    sample = [line for line in lines if line.strip()][:50]
    for delimiter in CSV_DELIMITERS:
        widths = [len(row) for row in csv.reader(sample, delimiter=delimiter)]
        if not widths:
            continue
        counts = np.bincount(widths)
        width = int(counts.argmax())
        score = width * counts[width] / len(widths) if width > 1 else 0.0
        if score > best[2]:
            best = (delimiter, width, score)
    # the widest row also counts: a header may be followed by rows that drop trailing empty cells
    delimiter = best[0]
    width = max((len(r) for r in csv.reader(sample, delimiter=delimiter)), default=1)
    return delimiter, width


def _open_csv(path: Path, limits: Limits) -> Workbook:
    text = decode_text(path.read_bytes())
    head_lines = text[: 256 * 1024].splitlines()[:PREVIEW_ROWS]
    delimiter, width = sniff_delimiter(head_lines)
    preview = [row + [None] * (width - len(row)) for row in csv.reader(head_lines, delimiter=delimiter)]
    preview = [[cell if cell != "" else None for cell in row] for row in preview]
    data = text.encode("utf-8")

    def load(data_start: int) -> Rows:
        return _read_csv_rows(data, delimiter, width, data_start, limits)

    return Workbook(kind="csv", sheets=[SheetTable(None, preview, load, excel=False)])


def _read_csv_rows(data: bytes, delimiter: str, width: int, data_start: int, limits: Limits) -> Rows:
    names = [f"c{i}" for i in range(width)]
    odd_rows: list[tuple[int | None, str]] = []

    def keep_aside(row: pacsv.InvalidRow) -> str:
        odd_rows.append((row.number, row.text))
        return "skip"

    def read(threads: bool) -> pa.Table:
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=threads, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=keep_aside,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    table = read(threads=True)
    if odd_rows:
        # rows of another width (title lines, a row missing its trailing cells): re-read single-threaded,
        # which reports their line numbers, and parse them with the csv module instead of dropping them
        odd_rows.clear()
        table = read(threads=False)
    if table.num_rows + len(odd_rows) > limits.max_rows_per_sheet:
        raise FileRejected(
            f"CSV terlalu banyak baris ({table.num_rows:,}; batas {limits.max_rows_per_sheet:,})"
        )
    if not odd_rows:  # the usual case: row i is line i + 1
        table = table.slice(data_start)
        columns = {i: table.column(n).combine_chunks() for i, n in enumerate(names)}
        return Rows(columns, np.arange(data_start + 1, data_start + 1 + table.num_rows))
    odd_lines = np.array([number for number, _ in odd_rows], dtype=np.int64)
    total_lines = table.num_rows + len(odd_rows)
    line_numbers = np.setdiff1d(np.arange(1, total_lines + 1), odd_lines, assume_unique=True)
    extra = [
        (number, (cells + [None] * width)[:width])
        for number, row_text in odd_rows
        if number and number > data_start
        for cells in csv.reader([row_text], delimiter=delimiter)
    ]
    if extra:
        odd_table = pa.table(
            {n: pa.array([cells[i] for _, cells in extra], pa.string()) for i, n in enumerate(names)}
        )
        table = pa.concat_tables([table, odd_table])
        line_numbers = np.concatenate([line_numbers, [number for number, _ in extra]])
    keep = line_numbers > data_start
    order = np.argsort(line_numbers[keep], kind="stable")
    indices = pa.array(np.flatnonzero(keep)[order])
    table = table.take(indices)
    columns = {i: table.column(n).combine_chunks() for i, n in enumerate(names)}
    return Rows(columns, line_numbers[keep][order])
