"""Scan every table and column of a DuckDB file for personal data.

Two kinds of needle: NIK / No KK shapes (16 digits standing alone, or the float Excel makes of them,
``3.374011E+15``) and known personal strings (the sample generator's names, addresses and phones).
The scan casts every column to text inside DuckDB and matches with RE2, so a demo-sized warehouse is
scanned in well under a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

#: A 16-digit NIK / No KK standing alone, or the scientific-notation float a spreadsheet makes of it.
NIK_PATTERN = r"(^|[^0-9A-Za-z])[0-9]{16}($|[^0-9A-Za-z])|[0-9]\.[0-9]+[eE]\+?15"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def columns_of(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(schema, table, column) of every base table and view the file holds (not DuckDB's own catalog)."""
    return conn.execute(
        """
        SELECT table_schema, table_name, column_name
        FROM information_schema.columns
        WHERE table_catalog = current_database()
          AND table_schema NOT IN ('information_schema', 'pg_catalog')
        ORDER BY ALL
        """
    ).fetchall()


def find_pii(database: Path, known_strings: Iterable[str] = ()) -> list[str]:
    """Every (table.column: example) holding a NIK shape or one of ``known_strings`` (case-insensitive)."""
    needles = sorted({s.strip() for s in known_strings if s and len(s.strip()) >= 5})
    patterns = [NIK_PATTERN]
    if needles:
        patterns.append("(?i)(" + "|".join(re.escape(n) for n in needles) + ")")
    findings = []
    with duckdb.connect(str(database), read_only=True) as conn:
        for schema, table, column in columns_of(conn):
            value = f"CAST({_quote(column)} AS VARCHAR)"
            for pattern in patterns:
                hit = conn.execute(
                    f"SELECT {value} FROM {_quote(schema)}.{_quote(table)} "
                    f"WHERE regexp_matches({value}, ?) LIMIT 1",
                    [pattern],
                ).fetchone()
                if hit:
                    findings.append(f"{schema}.{table}.{column}: {hit[0]!r}")
    return findings


def table_count(database: Path) -> int:
    with duckdb.connect(str(database), read_only=True) as conn:
        return len({(s, t) for s, t, _ in columns_of(conn)})
