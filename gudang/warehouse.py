"""Connections to the DuckDB files and the pipeline's own bookkeeping tables.

DuckDB allows one writer process per file. Writers go through :func:`connect` (which waits and retries
while another process holds the lock); analysts never open the warehouse at all, they read the published
copy (``Settings.published``), so they can never block a run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from gudang.settings import Settings, get_settings

OPS_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.ingest_log (
    batch_id        VARCHAR PRIMARY KEY,
    run_id          VARCHAR,
    source          VARCHAR NOT NULL,
    agency          VARCHAR,
    target_table    VARCHAR,
    file_name       VARCHAR NOT NULL,   -- sanitised name as archived
    original_name   VARCHAR,            -- name as received (may be unsafe; never used as a path)
    file_sha256     VARCHAR,
    file_size       BIGINT,
    period          VARCHAR,
    scope           VARCHAR,
    received_at     TIMESTAMP,          -- file modification time in the inbox
    started_at      TIMESTAMP,
    finished_at     TIMESTAMP,
    status          VARCHAR NOT NULL,   -- loaded | loaded_with_warnings | duplicate | quarantined
    rows_read       BIGINT,
    rows_loaded     BIGINT,
    rows_rejected   BIGINT,
    checks_failed   VARCHAR[],
    error_message   VARCHAR,
    stored_path     VARCHAR             -- where the original now lives (archive/ or quarantine/)
);
CREATE TABLE IF NOT EXISTS ops.rejected_rows (
    batch_id     VARCHAR NOT NULL,
    source       VARCHAR,
    file_name    VARCHAR,
    sheet        VARCHAR,
    source_row   BIGINT,
    column_name  VARCHAR,
    value        VARCHAR,                -- masked for personal-data columns
    reason       VARCHAR,                -- Indonesian, actionable
    check_name   VARCHAR,                -- parser rule or GX expectation type
    severity     VARCHAR                 -- error (row rejected) | skip (total/subtotal row, not data)
);
CREATE TABLE IF NOT EXISTS ops.check_results (
    batch_id         VARCHAR,            -- null for mart-level checks
    run_id           VARCHAR,
    source           VARCHAR,
    scope_level      VARCHAR,            -- file | mart
    check_name       VARCHAR,
    column_name      VARCHAR,
    severity         VARCHAR,            -- error | warn
    success          BOOLEAN,
    unexpected_count BIGINT,
    message          VARCHAR,
    checked_at       TIMESTAMP
);
CREATE TABLE IF NOT EXISTS ops.submission_status (
    run_id        VARCHAR,
    checked_on    DATE,
    source        VARCHAR,
    agency        VARCHAR,
    scope         VARCHAR,
    period        VARCHAR,
    due_on        DATE,
    received_at   TIMESTAMP,             -- first file for the period, null if none yet
    status        VARCHAR                -- on_time | late | missing (past due, nothing received) | not_due
);
CREATE TABLE IF NOT EXISTS ops.pipeline_runs (
    run_id        VARCHAR PRIMARY KEY,
    started_at    TIMESTAMP,
    finished_at   TIMESTAMP,
    status        VARCHAR,               -- running | published | blocked | failed
    message       VARCHAR
);
"""


def _open(path: Path, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            # Another process holds the single-writer lock: wait for it rather than fail the run.
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


_ops_ready: set[tuple[str, int]] = set()


def _ensure_ops_tables(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Create the ops tables once per file per process: every file load opens the warehouse several
    times, and re-running the DDL each time was measurable at province scale. Keyed by inode so a
    warehouse deleted and recreated at the same path is initialised again."""
    key = (str(path), path.stat().st_ino)
    if key not in _ops_ready:
        conn.execute(OPS_DDL)
        _ops_ready.add(key)


@contextmanager
def connect(
    settings: Settings | None = None, *, read_only: bool = False, timeout_s: float = 300.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the pipeline warehouse, retrying while another writer holds the lock."""
    settings = settings or get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    conn = _open(settings.warehouse, read_only, timeout_s)
    try:
        if not read_only:
            _ensure_ops_tables(conn, settings.warehouse)
        yield conn
    finally:
        conn.close()


@contextmanager
def connect_published(settings: Settings | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the analysts' published marts read-only (never blocks the pipeline)."""
    settings = settings or get_settings()
    conn = duckdb.connect(str(settings.published), read_only=True)
    try:
        yield conn
    finally:
        conn.close()
