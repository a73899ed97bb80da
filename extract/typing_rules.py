"""Column typing, vectorised over Arrow arrays (never a Python loop per cell on the happy path).

Each converter takes the raw column as read (a typed Arrow array from calamine, or strings from a CSV)
and returns a :class:`Typed`: the typed array plus a mask of cells that could not be typed, and a
function explaining one bad value in Indonesian. Rejections are built only for the (few) bad cells.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from extract.registry import Column

NULL_TOKENS = ["-", "–", "—", "", "n/a", "N/A", "NA", "na", "null", "NULL", "#N/A"]

MONTHS = {
    **dict.fromkeys(["januari", "jan", "january"], 1),
    **dict.fromkeys(["februari", "pebruari", "feb", "peb", "february"], 2),
    **dict.fromkeys(["maret", "mar", "march"], 3),
    **dict.fromkeys(["april", "apr"], 4),
    **dict.fromkeys(["mei", "may"], 5),
    **dict.fromkeys(["juni", "jun", "june"], 6),
    **dict.fromkeys(["juli", "jul", "july"], 7),
    **dict.fromkeys(["agustus", "agu", "agt", "ags", "aug", "august"], 8),
    **dict.fromkeys(["september", "sep", "sept"], 9),
    **dict.fromkeys(["oktober", "okt", "oct", "october"], 10),
    **dict.fromkeys(["november", "nov", "nop", "nopember"], 11),
    **dict.fromkeys(["desember", "des", "dec", "december"], 12),
}
BOOLS = {
    **dict.fromkeys(["ya", "y", "yes", "1", "true", "benar", "v", "√", "ada"], True),
    **dict.fromkeys(["tidak", "t", "no", "n", "0", "false", "salah", "tidakada", "bukan"], False),
}
#: values inspected to decide a column's number locale
LOCALE_SAMPLE = 20_000
EXCEL_EPOCH = np.datetime64("1899-12-30", "D")
_STRING_TYPES = (pa.string(), pa.large_string(), pa.string_view())


@dataclass
class Typed:
    values: pa.Array
    invalid: pa.Array  # boolean, True where a non-empty cell could not be typed
    explain: Callable[[str], str]  # raw value -> Indonesian reason
    note: str | None = None  # a file-level remark (e.g. percentages read as fractions)


# --------------------------------------------------------------------------- text


def is_string(array: pa.Array) -> bool:
    return array.type in _STRING_TYPES


def to_text(array: pa.Array) -> pa.Array:
    """Any calamine/CSV column as trimmed strings; floats that are whole numbers lose their '.0'."""
    kind = array.type
    if pa.types.is_null(kind):
        return pa.nulls(len(array), pa.string())
    if pa.types.is_floating(kind):
        whole = pc.and_kleene(pc.equal(pc.floor(array), array), pc.less(pc.abs(array), 1e17))
        as_int = pc.cast(pc.cast(pc.if_else(whole, array, None), pa.int64()), pa.string())
        text = pc.if_else(whole, as_int, pc.cast(array, pa.string()))
    elif pa.types.is_timestamp(kind):
        text = pc.strftime(array, format="%Y-%m-%d")
    elif pa.types.is_boolean(kind):
        text = pc.if_else(array, "TRUE", "FALSE")
    elif pa.types.is_duration(kind):
        text = pc.cast(pc.cast(array, pa.int64()), pa.string())
    else:
        text = pc.cast(array, pa.string())
    # whitespace (incl. the no-break space Excel users paste) then the apostrophes that force text in Excel
    text = pc.utf8_ltrim(pc.utf8_trim(text, characters=" \t\r\n\u00a0"), characters="'’`")
    return pc.if_else(pc.equal(text, ""), None, text)


def present(array: pa.Array) -> pa.Array:
    """True where a cell holds anything (not null, not blank text)."""
    if is_string(array):
        return pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(array), ""), False)
    return pc.is_valid(array)


def _no_failures(values: pa.Array) -> pa.Array:
    return pa.array(np.zeros(len(values), dtype=bool))


# --------------------------------------------------------------------------- numbers


def detect_locale(text: pa.Array, *, excel: bool) -> str:
    """'id' (1.234,5) or 'en' (1,234.5) for one column, from the values that only one locale explains."""
    english = r"^[+-]?\d{1,3}(,\d{3})+\.\d+$|^[+-]?\d{1,3}(,\d{3}){2,}$"
    if not excel:  # in an xlsx, '12.5' is how calamine writes any real number; in a CSV it is English
        english += r"|^[+-]?\d+\.(\d{1,2}|\d{4,})$"
    indonesian = r"^[+-]?[\d.]*\d,(\d{1,2}|\d{4,})$|^[+-]?\d{1,3}(\.\d{3}){2,}(,\d+)?$|\.\d{3},\d+$"
    # the locale is a property of the file: the first values (and every value with a comma) tell it
    sample = text.slice(0, LOCALE_SAMPLE)
    if len(text) > LOCALE_SAMPLE:
        sample = pa.concat_arrays([sample, text.filter(pc.match_substring(text, ","))[:LOCALE_SAMPLE]])
    text = sample
    en = pc.sum(pc.match_substring_regex(text, english)).as_py() or 0
    id_ = pc.sum(pc.match_substring_regex(text, indonesian)).as_py() or 0
    return "en" if en > id_ else "id"


def unit_multiplier(column: Column, header_text: str) -> float:
    for needle, factor in (column.units or {}).items():
        if needle.lower() in header_text.lower():
            return factor
    return 1.0


def parse_number(
    array: pa.Array, *, integer: bool, locale: str, excel: bool, multiplier: float = 1.0, pct: bool = False
) -> Typed:
    note = None
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_null(array.type):
        values = pc.cast(array, pa.float64())
        invalid = _no_failures(values)
        if pct:
            # an Excel cell formatted as 85% stores 0.85: a column of fractions is rescaled to 0-100
            top = pc.max(values).as_py()
            fractional = pc.any(pc.not_equal(pc.floor(values), values)).as_py()
            if top is not None and top <= 1.0 and fractional:
                values = pc.multiply(values, 100.0)
                note = "nilai persen berupa pecahan 0-1 (format % Excel) dikalikan 100"
    else:
        text = to_text(array)
        text = pc.if_else(pc.is_in(text, value_set=pa.array(NULL_TOKENS)), None, text)
        if pc.any(pc.match_substring_regex(text, r"[%\sRr]")).as_py():  # skip the rewrite when not needed
            text = pc.replace_substring_regex(text, r"(?i)^rp\.?|%|\s", "")
        if locale == "auto":
            locale = detect_locale(text, excel=excel)
        if locale == "en":
            text = pc.replace_substring(text, ",", "")
        else:
            as_indonesian = pc.replace_substring(text, ",", ".")
            if pc.any(pc.match_substring(text, ".")).as_py():
                as_indonesian = pc.replace_substring(pc.replace_substring(text, ".", ""), ",", ".")
            if excel:
                # calamine renders real numbers as 12.5: only unmistakably Indonesian text is converted
                pattern = r",|^[+-]?\d{1,3}(\.\d{3}){2,}$"
                if integer:
                    pattern += r"|^[+-]?\d{1,3}\.\d{3}$"
                text = pc.if_else(pc.match_substring_regex(text, pattern), as_indonesian, text)
            else:
                text = as_indonesian
        try:  # the usual case: every cell is now a plain number ('nan'/'inf' text is not one)
            values = pc.cast(text, pa.float64())
            if not pc.all(pc.fill_null(pc.is_finite(values), True)).as_py():
                raise pa.ArrowInvalid("non-finite text")
            invalid = _no_failures(values)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            valid = pc.match_substring_regex(text, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
            values = pc.cast(pc.if_else(valid, text, None), pa.float64())
            invalid = pc.fill_null(pc.invert(valid), False)
    if multiplier != 1.0:
        values = pc.multiply(values, multiplier)
    if integer:
        whole = pc.round(values, 0)
        # a tolerance, because unit multipliers (1,5 ribu) leave float noise behind
        fraction = pc.fill_null(pc.greater(pc.abs(pc.subtract(values, whole)), 1e-6), False)
        invalid = pc.or_(invalid, fraction)
        values = pc.cast(pc.if_else(fraction, None, whole), pa.int64())
    kind = "bilangan bulat" if integer else "angka"
    return Typed(values, invalid, lambda raw: f'"{raw}" bukan {kind} yang valid', note)


# --------------------------------------------------------------------------- dates


def _serial_to_date(serial: pa.Array) -> pa.Array:
    days = pc.cast(pc.floor(serial), pa.int64())
    plausible = pc.and_(pc.greater_equal(days, 1), pc.less_equal(days, 2958465))
    days = pc.if_else(plausible, days, None)
    epoch_days = (EXCEL_EPOCH - np.datetime64("1970-01-01", "D")).astype(int)
    return pc.cast(pc.cast(pc.add(days, int(epoch_days)), pa.int32()), pa.date32())


def parse_date(array: pa.Array) -> Typed:
    def explain(raw: str) -> str:
        return f'tanggal "{raw}" tidak valid'

    kind = array.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        values = pc.cast(array, pa.date32())
        return Typed(values, _no_failures(values), explain)
    if pa.types.is_floating(kind) or pa.types.is_integer(kind):
        values = _serial_to_date(pc.cast(array, pa.float64()))
        return Typed(values, pc.and_(pc.is_valid(array), pc.is_null(values)), explain)

    text = to_text(array)
    text = pc.if_else(pc.is_in(text, value_set=pa.array(NULL_TOKENS)), None, text)
    # fast path for the two spellings that make up most files; the rest go through the general parser
    values = pc.cast(pc.strptime(text, format="%d/%m/%Y", unit="s", error_is_null=True), pa.date32())
    # strptime rolls 31/02 over to 02/03: keep only dates whose text survives the round trip
    intact = pc.fill_null(pc.equal(pc.strftime(values, format="%d/%m/%Y"), text), False)
    values = pc.if_else(intact, values, None)
    pending = pc.and_(pc.is_valid(text), pc.invert(intact))
    if pc.any(pending).as_py():
        rest = _parse_date_text(text.filter(pending))
        values = pc.replace_with_mask(values, pending, rest)
    return Typed(values, pc.and_(pc.is_valid(text), pc.is_null(values)), explain)


def _parse_date_text(text: pa.Array) -> pa.Array:
    """Every other date spelling, as date32 (null where it is not a real date)."""
    iso = pc.extract_regex(text, r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?:[ T].*)?$")
    dmy = pc.extract_regex(text, r"^(?P<d>\d{1,2})[-/. ](?P<m>\d{1,2})[-/. ](?P<y>\d{4}|\d{2})$")
    named = pc.extract_regex(text, r"^(?P<d>\d{1,2})[-/. ]+(?P<mon>[A-Za-z]+)\.?[-/. ]+(?P<y>\d{4}|\d{2})$")

    month_names = pa.array(list(MONTHS))
    month_numbers = pa.array(list(MONTHS.values()), pa.int64())
    named_month = pc.take(
        month_numbers, pc.index_in(pc.utf8_lower(pc.struct_field(named, "mon")), month_names)
    )

    def field(struct: pa.Array, name: str) -> pa.Array:
        return pc.cast(pc.struct_field(struct, name), pa.int64())

    year = pc.coalesce(field(iso, "y"), field(dmy, "y"), field(named, "y"))
    month = pc.coalesce(field(iso, "m"), field(dmy, "m"), named_month)
    day = pc.coalesce(field(iso, "d"), field(dmy, "d"), field(named, "d"))
    year = pc.if_else(pc.less(year, 100), pc.add(year, 2000), year)  # '05-Okt-25'

    def pad(numbers: pa.Array, width: int) -> pa.Array:
        return pc.utf8_lpad(pc.cast(numbers, pa.string()), width=width, padding="0")

    iso_text = pc.binary_join_element_wise(pad(year, 4), pad(month, 2), pad(day, 2), "-")
    parsed = pc.cast(pc.strptime(iso_text, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
    # strptime rolls 31/02 over to 2/3: a date is valid only if its day and month survive the round trip
    intact = pc.and_(pc.equal(pc.month(parsed), month), pc.equal(pc.day(parsed), day))
    parsed = pc.if_else(pc.fill_null(intact, False), parsed, None)

    serial_text = pc.match_substring_regex(text, r"^\d{4,5}(\.\d+)?$")
    serial = _serial_to_date(pc.cast(pc.if_else(serial_text, text, None), pa.float64()))
    return pc.coalesce(parsed, serial)


# --------------------------------------------------------------------------- identifiers


def parse_code(array: pa.Array) -> Typed:
    text = to_text(array)
    if pc.any(pc.match_substring(text, ".0")).as_py():  # floats such as 3374.0
        text = pc.replace_substring_regex(text, r"^(\d+)\.0+$", r"\1")
    return Typed(text, _no_failures(text), lambda raw: f'kode "{raw}" tidak valid')


def parse_nik(array: pa.Array) -> Typed:
    """16-digit NIK; a float cell is repaired, text in scientific notation has lost digits for good."""
    text = pc.replace_substring_regex(to_text(array), r"\.0+$|[\s'’]+", "")
    valid = pc.match_substring_regex(text, r"^\d{16}$")

    def explain(raw: str) -> str:
        if re.fullmatch(r"\d[.,]?\d*[eE]\+?\d+", raw.strip()):
            return "NIK tertulis dalam notasi ilmiah (mis. 3.37401E+15) sehingga digitnya hilang; kirim ulang kolom NIK sebagai teks"
        return "NIK harus 16 digit"

    return Typed(pc.if_else(valid, text, None), pc.fill_null(pc.invert(valid), False), explain)


def _lookup(text: pa.Array, mapping: dict[str, object], value_type: pa.DataType) -> tuple[pa.Array, pa.Array]:
    """Case-, space- and punctuation-insensitive lookup of every cell in ``mapping``.

    The cells' distinct values are normalised and looked up, not every cell: a coded column ("L"/"P",
    "YA"/"TIDAK") has a handful of them, and the two regex rewrites per cell were ~1 us a row of an e-PPGBM
    parse."""

    def key(value: pa.Array | str) -> pa.Array | str:
        if isinstance(value, str):
            return re.sub(r"[^0-9a-z√]+", "", value.lower())
        return pc.replace_substring_regex(pc.utf8_lower(value), r"[^0-9a-z√]+", "")

    keys = {key(k): v for k, v in mapping.items()}
    cells = pc.dictionary_encode(text)
    distinct = pc.replace_substring_regex(cells.dictionary, r"^(\d+)\.0+$", r"\1")
    index = pc.take(pc.index_in(key(distinct), value_set=pa.array(list(keys))), cells.indices)
    values = pc.take(pa.array(list(keys.values()), value_type), index)
    return values, pc.fill_null(pc.and_(pc.is_valid(text), pc.is_null(index)), False)


def parse_enum(array: pa.Array, column: Column) -> Typed:
    values, invalid = _lookup(to_text(array), column.values or {}, pa.string())
    allowed = ", ".join(dict.fromkeys(column.values or {}))
    return Typed(values, invalid, lambda raw: f'nilai "{raw}" tidak dikenal (yang diterima: {allowed})')


def parse_bool(array: pa.Array) -> Typed:
    if pa.types.is_boolean(array.type):
        return Typed(array, _no_failures(array), str)
    values, invalid = _lookup(to_text(array), BOOLS, pa.bool_())
    return Typed(values, invalid, lambda raw: f'"{raw}" bukan YA/TIDAK')


def parse_text(array: pa.Array) -> Typed:
    text = to_text(array)
    return Typed(text, _no_failures(text), str)


def convert(array: pa.Array, column: Column, *, header_text: str, locale: str, excel: bool) -> Typed:
    match column.type:
        case "int" | "decimal" | "pct":
            return parse_number(
                array,
                integer=column.type == "int",
                locale=locale,
                excel=excel,
                multiplier=unit_multiplier(column, header_text),
                pct=column.type == "pct",
            )
        case "date":
            return parse_date(array)
        case "code":
            return parse_code(array)
        case "nik":
            return parse_nik(array)
        case "enum":
            return parse_enum(array, column)
        case "bool":
            return parse_bool(array)
        case _:
            return parse_text(array)


# --------------------------------------------------------------------------- personal data


class Pseudonymiser:
    """HMAC-SHA256 (hex) keyed by the deployment's secret; hashes each distinct value once.

    Text is upper-cased and whitespace-collapsed first so that 'Siti  Aminah' and 'SITI AMINAH' link.
    The HMAC is built from two precomputed SHA-256 states (RFC 2104), about twice as fast as ``hmac.new``
    per value, which matters for registries with hundreds of thousands of people.
    """

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, value: str) -> str:
        inner = self._inner.copy()
        inner.update(value.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def hash_array(self, array: pa.Array) -> pa.Array:
        # Distinct cells are normalised, then distinct normalised values hashed: a registry repeats its
        # family ids, addresses and phone numbers, and the HMAC is most of a registry's parse.
        cells = pc.dictionary_encode(pc.cast(array, pa.string()))
        if isinstance(cells, pa.ChunkedArray):
            cells = cells.combine_chunks()
        distinct = cells.dictionary
        # the rewrite only where it changes something (a run of whitespace, or a tab or newline): most names
        # have single spaces, and finding is cheaper than rewriting (~0.75 us a row of an e-PPGBM parse)
        if pc.any(pc.match_substring_regex(distinct, r"\s\s|[^\S ]")).as_py():
            distinct = pc.replace_substring_regex(distinct, r"\s+", " ")
        normalised = pc.dictionary_encode(pc.utf8_upper(distinct))
        digest = self.digest
        hashed = pa.array([digest(v) for v in normalised.dictionary.to_pylist()], pa.string())
        return pc.take(pc.take(hashed, normalised.indices), cells.indices)
