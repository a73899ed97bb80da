"""Workbooks the extraction tests build: the mess of domain.md section 6, in small known quantities."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import openpyxl
import pytest

from gudang.settings import Settings
from gudang.warehouse import connect

EPPGBM_HEADER = [
    "No",
    "NIK",
    "Nama Anak",
    "JK",
    "Tgl Lahir",
    "Nama Ortu",
    "Kec",
    "Desa/Kel",
    "Kode Desa/Kel",
    "Tanggal Pengukuran",
    "Berat (kg)",
    "Tinggi (cm)",
]

#: (NIK, name, sex, birth, parent, kecamatan, kelurahan, code, measured, weight, height)
CHILDREN = [
    (3374010101230001, "Budi Santoso", "L", dt.date(2023, 5, 1), "Sri Wahyuni", "Semarang Tengah", "Miroto", "33.74.01.1001", dt.date(2025, 3, 5), 12.5, 85.5),
    (3374010101230002, "Siti Aminah", "P", dt.date(2023, 6, 2), "Dewi Lestari", "Gunungpati", "Sekaran", "33.74.12.1009", dt.date(2025, 3, 6), 10.25, 80.1),
    (3374010101230003, "Ani Rahayu", "P", dt.date(2022, 1, 3), "Rina Marlina", "Mijen", "Wonolopo", "33.74.14.1001", dt.date(2025, 3, 7), 11.0, 86.0),
    (3374010101230004, "Dodi Pratama", "L", dt.date(2024, 2, 4), "Yuli Astuti", "Tugu", "Mangkang Kulon", "33.74.16.1001", dt.date(2025, 3, 8), 9.1, 74.0),
]  # fmt: skip
PERSONAL_VALUES = [str(c[0]) for c in CHILDREN] + [c[1] for c in CHILDREN] + [c[4] for c in CHILDREN]


def make_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh data home (and a test pseudonymisation key) for one test."""
    monkeypatch.setenv("GUDANG_HOME", str(tmp_path))
    monkeypatch.setenv("GUDANG_HASH_KEY", "test-key-not-secret")
    monkeypatch.delenv("GUDANG_CONFIG", raising=False)
    settings = Settings(home=tmp_path)
    settings.ensure_dirs()
    return settings


def inbox(settings: Settings, source: str) -> Path:
    folder = settings.inbox / source
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def eppgbm_rows(period: str = "2025-03") -> list[list]:
    """The children measured within ``period`` (the gate rejects measurements outside the file's month)."""
    year, month = (int(part) for part in period.split("-"))
    return [
        [
            i + 1,
            nik,
            name,
            sex,
            birth,
            parent,
            kec,
            kel,
            code,
            measured.replace(year=year, month=month),
            weight,
            height,
        ]
        for i, (nik, name, sex, birth, parent, kec, kel, code, measured, weight, height) in enumerate(
            CHILDREN
        )
    ]


def write_xlsx(path: Path, sheets: dict[str, list[list]], *, hidden: tuple[str, ...] = (), merges=()) -> Path:
    """Rows as given (None = empty cell); dates become real Excel dates."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        for column in sheet.iter_cols():
            for cell in column:
                if isinstance(cell.value, dt.date):
                    cell.number_format = "dd/mm/yyyy"
        if name in hidden:
            sheet.sheet_state = "hidden"
    for sheet_name, ref in merges:
        book[sheet_name].merge_cells(ref)
    book.save(path)
    return path


def write_csv(path: Path, rows: list[list], *, delimiter: str = ";", encoding: str = "utf-8-sig") -> Path:
    text = "\r\n".join(delimiter.join("" if v is None else str(v) for v in row) for row in rows) + "\r\n"
    path.write_bytes(text.encode(encoding))
    return path


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    with connect(settings) as conn:
        return conn.execute(sql, params or []).fetchall()


def all_text_in_warehouse(settings: Settings) -> Iterator[str]:
    """Every VARCHAR value of every table of the warehouse (for personal-data scans)."""
    with connect(settings) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' OR data_type LIKE 'VARCHAR%'"
        ).fetchall()
        for schema, table, column in columns:
            try:
                values = conn.execute(f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}"').fetchall()
            except duckdb.Error:
                continue
            yield from (str(v[0]) for v in values if v[0] is not None)


NIK_SHAPE = re.compile(r"(?<!\d)\d{16}(?!\d)")
