"""What the extraction is compared with, on the same files: the parse limit and what planners use today.

- ``fastexcel``: calamine straight to Arrow, every sheet, no header detection, no typing, no checks, no
  database. Nothing that reads xlsx in Python is faster; it is the ceiling for the extract.
- ``pandas.read_excel(engine="openpyxl")``: the script a planner writes today. It is about 20x slower than
  calamine, so it runs on a subset of the files (the first files in name order until ``row_budget`` rows)
  and its rate is extrapolated to the whole set.
- DuckDB ``read_csv`` into a table: the CSV parse limit (reference only).

Each function returns ``{"files", "rows", "seconds", "rows_per_s"}``; rows are the non-empty rows each
tool returns (title and header rows included, a handful per sheet).
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import fastexcel
import pandas as pd


def _rate(files: int, rows: int, seconds: float, **extra) -> dict:
    return {
        "files": files,
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds if seconds else None,
        **extra,
    }


def fastexcel_parse(paths: list[Path]) -> dict:
    rows = 0
    started = time.perf_counter()
    for path in paths:
        reader = fastexcel.read_excel(path)
        for name in reader.sheet_names:
            rows += reader.load_sheet(name, header_row=None).to_arrow().num_rows
    return _rate(len(paths), rows, time.perf_counter() - started)


def openpyxl_parse(paths: list[Path], row_budget: int) -> dict:
    """pandas + openpyxl on the first files until ``row_budget`` rows; rate extrapolated to all files."""
    rows = files = 0
    started = time.perf_counter()
    for path in paths:
        sheets = pd.read_excel(path, sheet_name=None, header=None, engine="openpyxl")
        rows += sum(len(frame) for frame in sheets.values())
        files += 1
        if rows >= row_budget:
            break
    return _rate(
        files,
        rows,
        time.perf_counter() - started,
        subset_of_files=len(paths),
        extrapolated=files < len(paths),
    )


def duckdb_read_csv(paths: list[Path]) -> dict:
    """Each CSV into an in-memory DuckDB table with type sniffing (the messy files' dialects vary)."""
    rows = 0
    conn = duckdb.connect()
    started = time.perf_counter()
    for number, path in enumerate(paths):
        table = f"csv_{number}"
        conn.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_csv(?, ignore_errors = true, null_padding = true)",
            [str(path)],
        )
        rows += conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        conn.execute(f"DROP TABLE {table}")
    seconds = time.perf_counter() - started
    conn.close()
    return _rate(len(paths), rows, seconds)
