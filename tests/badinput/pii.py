"""Find personal data in DuckDB files and in text: NIK shapes and known personal strings.

Two kinds of needle: NIK / No KK shapes (16 digits standing alone, or the float a spreadsheet makes of
them, ``3.374011E+15``) and known personal strings (the sample generator's NIKs, names and phones). The
shape is a regex. The known strings are thousands, so instead of one huge alternation (slow to compile
and to run) every text is cut into words and each run of up to N consecutive words is looked up in a
set: linear in the text, whatever the number of needles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

#: A NIK / No KK: 6-digit region code, DDMMYY (day + 40 for women), 4-digit sequence, standing alone (not
#: the fraction digits of a double such as 0.6570841889117043, nor JavaScript's 9007199254740991), or a
#: float still carrying the whole number (3.374011508201234E+15). A float Excel shortened to
#: ``3.37401E+15`` has lost the digits that identify anyone, so it is not a leak (and gudang's own
#: rejection messages use it as the example of the problem).
NIK_DIGITS = r"[1-9][0-9]{5}(0[1-9]|[1-6][0-9]|7[01])(0[1-9]|1[0-2])[0-9]{6}"
NIK_PATTERN = rf"(^|[^0-9A-Za-z.])({NIK_DIGITS})($|[^0-9A-Za-z])|[1-9]\.[0-9]{{11,}}[eE]\+?15"
_WORD = re.compile(r"\w+", re.UNICODE)
#: Column types that cannot hold a name, a phone number or a NIK.
_NUMERIC_ONLY = ("DOUBLE", "FLOAT", "DECIMAL", "DATE", "TIME", "BOOLEAN", "INTERVAL")


class KnownStrings:
    """Case- and punctuation-insensitive whole-word matching of many needles at once."""

    def __init__(self, needles: Iterable[str]) -> None:
        self.phrases = {p for p in (self._words(n) for n in needles if n and len(n.strip()) >= 5) if p}
        self.longest = max((len(p) for p in self.phrases), default=0)

    @staticmethod
    def _words(text: str) -> tuple[str, ...]:
        return tuple(w.lower() for w in _WORD.findall(text))

    def find(self, text: str) -> str | None:
        words = self._words(text)
        for start in range(len(words)):
            for end in range(start + 1, min(start + self.longest, len(words)) + 1):
                if words[start:end] in self.phrases:
                    return " ".join(words[start:end])
        return None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def columns_of(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str]]:
    """(schema, table, column, type) of every table and view the file holds (not DuckDB's own catalog)."""
    return conn.execute(
        """
        SELECT table_schema, table_name, column_name, data_type
        FROM information_schema.columns
        WHERE table_catalog = current_database()
          AND table_schema NOT IN ('information_schema', 'pg_catalog')
        ORDER BY ALL
        """
    ).fetchall()


def find_pii(database: Path, known_strings: Iterable[str] = ()) -> list[str]:
    """Every ``schema.table.column: example`` holding a NIK shape or one of ``known_strings``."""
    known = KnownStrings(known_strings)
    findings = []
    with duckdb.connect(str(database), read_only=True) as conn:
        for schema, table, column, data_type in columns_of(conn):
            value = f"CAST({_quote(column)} AS VARCHAR)"
            relation = f"{_quote(schema)}.{_quote(table)}"
            where = f"{schema}.{table}.{column}"
            hit = conn.execute(
                f"SELECT {value} FROM {relation} WHERE regexp_matches({value}, ?) LIMIT 1", [NIK_PATTERN]
            ).fetchone()
            if hit:
                findings.append(f"{where}: NIK shape in {hit[0]!r}")
            if known.phrases and not data_type.upper().startswith(_NUMERIC_ONLY):
                texts = conn.execute(
                    f"SELECT DISTINCT {value} FROM {relation} WHERE {value} IS NOT NULL"
                ).fetchall()
                for (text,) in texts:
                    if match := known.find(text):
                        findings.append(f"{where}: {match!r} in {text[:80]!r}")
                        break
    return findings


def find_pii_in_text(text: str, known: KnownStrings) -> str | None:
    if match := re.search(NIK_PATTERN, text):
        return match.group(0)
    return known.find(text)


def table_count(database: Path) -> int:
    with duckdb.connect(str(database), read_only=True) as conn:
        return len({(s, t) for s, t, _, _ in columns_of(conn)})
