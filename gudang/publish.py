"""Blue/green publish of the marts into the analysts' database (``Settings.published``, marts.duckdb).

The pipeline never writes into the file analysts read. It builds a complete new DuckDB file next to it and
swaps it in with one ``os.replace`` (atomic on POSIX): an analyst's open read-only connection keeps reading
the old file (its inode lives on until closed) and nobody ever waits for a lock.

- Gate passed: every table and view of schema ``marts`` is copied (as a table in ``main``), plus
  ``_publication`` (run id, time, per-mart row count and content hash) and ``_last_run``.
- Gate blocked: the last good marts stay exactly as they were; only ``mart_data_quality`` (so planners see
  why) and ``_last_run`` are refreshed, in a copy of the published file that is swapped in the same way.

Either way the run is recorded in ``ops.pipeline_runs`` (status published | blocked).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

from gudang.settings import Settings
from gudang.warehouse import connect

MARTS_SCHEMA = "marts"
QUALITY_MART = "mart_data_quality"
PUBLICATION_TABLE = "_publication"
LAST_RUN_TABLE = "_last_run"
_ALIAS = "gudang_publish_target"


@dataclass(frozen=True)
class PublishResult:
    status: Literal["published", "blocked"]
    path: Path
    run_id: str
    message: str
    row_counts: dict[str, int] = field(default_factory=dict)  # per table now in the published file
    content_hashes: dict[str, str] = field(default_factory=dict)


def publish(
    settings: Settings,
    run_id: str,
    *,
    gate_passed: bool,
    reason: str | None = None,
    conn: duckdb.DuckDBPyConnection | None = None,
) -> PublishResult:
    """Swap the freshly built marts in when the gate passed; otherwise refresh only the quality mart.

    ``conn``: an open writer connection to the pipeline warehouse (opened here when None).
    """
    if conn is None:
        with connect(settings) as own:
            return publish(settings, run_id, gate_passed=gate_passed, reason=reason, conn=own)
    target = settings.published
    target.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now()
    with _staged_copy(target, run_id, start_from_current=not gate_passed) as staged:
        conn.execute(f"attach '{_sql_path(staged)}' as {_ALIAS}")
        try:
            if gate_passed:
                marts = _mart_names(conn)
                for name in marts:
                    _copy_table(conn, name)
                message = f"{len(marts)} mart dipublikasikan."
            else:
                if QUALITY_MART in _mart_names(conn):
                    _copy_table(conn, QUALITY_MART)
                message = (
                    f"Publikasi diblokir; mart terakhir yang lolos tetap dipakai. Alasan: {reason or '-'}"
                )
            counts, hashes = _table_fingerprints(conn, _ALIAS)
            if gate_passed:
                _write_publication(conn, run_id, now, counts, hashes)
            _write_last_run(conn, run_id, now, "published" if gate_passed else "blocked", message)
            conn.execute(f"checkpoint {_ALIAS}")
        finally:
            conn.execute(f"detach {_ALIAS}")
        os.replace(staged, target)
    status: Literal["published", "blocked"] = "published" if gate_passed else "blocked"
    _record_run(conn, run_id, now, status, message)
    return PublishResult(status, target, run_id, message, counts, hashes)


def mart_content_hashes(path: Path) -> dict[str, str]:
    """Order-independent content hash of every mart (``main`` table not starting with ``_``) in a file."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return _table_fingerprints(conn, conn.execute("select current_database()").fetchone()[0])[1]
    finally:
        conn.close()


# --- the staged file ------------------------------------------------------------------------------


@contextmanager
def _staged_copy(target: Path, run_id: str, *, start_from_current: bool) -> Iterator[Path]:
    """A new file in the target's directory (same filesystem, so ``os.replace`` is atomic), removed on failure."""
    safe_run = re.sub(r"[^A-Za-z0-9_-]+", "_", run_id)[:60]
    staged = target.with_name(f".{target.stem}.{safe_run}.{uuid.uuid4().hex[:8]}.tmp{target.suffix}")
    if start_from_current and target.exists():
        shutil.copyfile(target, staged)
    try:
        yield staged
    finally:
        for leftover in (staged, staged.with_name(staged.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _mart_names(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        "select table_name from information_schema.tables"
        " where table_catalog = current_database() and table_schema = ? order by table_name",
        [MARTS_SCHEMA],
    ).fetchall()
    return [name for (name,) in rows]


def _copy_table(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    conn.execute(f'create or replace table {_ALIAS}.main."{name}" as select * from {MARTS_SCHEMA}."{name}"')


# --- fingerprints and bookkeeping -----------------------------------------------------------------


def _table_fingerprints(
    conn: duckdb.DuckDBPyConnection, catalog: str
) -> tuple[dict[str, int], dict[str, str]]:
    """Row count and content hash per mart in ``catalog.main``.

    The hash combines the column names and types with the count and the sum of DuckDB's per-row hashes, so
    it does not depend on row order (a sum, unlike xor, does not cancel out duplicate rows).
    """
    tables = conn.execute(
        "select table_name from information_schema.tables where table_catalog = ? and table_schema = 'main'"
        " and table_name not like '\\_%' escape '\\' order by table_name",
        [catalog],
    ).fetchall()
    counts: dict[str, int] = {}
    hashes: dict[str, str] = {}
    for (name,) in tables:
        qualified = f'"{catalog}".main."{name}"'
        columns = conn.execute(
            "select string_agg(column_name || ' ' || data_type, ', ' order by ordinal_position)"
            " from information_schema.columns where table_catalog = ? and table_schema = 'main' and table_name = ?",
            [catalog, name],
        ).fetchone()[0]
        rows, row_hash_sum = conn.execute(
            f"select count(*), coalesce(sum(hash(t)::hugeint), 0) from {qualified} as t"
        ).fetchone()
        counts[name] = int(rows)
        hashes[name] = hashlib.sha256(f"{columns}|{rows}|{row_hash_sum}".encode()).hexdigest()
    return counts, hashes


def _write_publication(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    published_at: dt.datetime,
    counts: dict[str, int],
    hashes: dict[str, str],
) -> None:
    conn.execute(
        f"create or replace table {_ALIAS}.main.{PUBLICATION_TABLE} (run_id varchar, published_at timestamp,"
        " table_name varchar, row_count bigint, content_hash varchar)"
    )
    conn.executemany(
        f"insert into {_ALIAS}.main.{PUBLICATION_TABLE} values (?, ?, ?, ?, ?)",
        [(run_id, published_at, name, counts[name], hashes[name]) for name in counts],
    )


def _write_last_run(
    conn: duckdb.DuckDBPyConnection, run_id: str, at: dt.datetime, status: str, message: str
) -> None:
    conn.execute(
        f"create or replace table {_ALIAS}.main.{LAST_RUN_TABLE} as"
        " select ?::varchar as run_id, ?::timestamp as checked_at, ?::varchar as status, ?::varchar as message",
        [run_id, at, status, message],
    )


def _record_run(
    conn: duckdb.DuckDBPyConnection, run_id: str, at: dt.datetime, status: str, message: str
) -> None:
    conn.execute(
        "insert into ops.pipeline_runs (run_id, started_at, finished_at, status, message) values (?, ?, ?, ?, ?)"
        " on conflict (run_id) do update set finished_at = excluded.finished_at, status = excluded.status,"
        " message = excluded.message",
        [run_id, at, at, status, message],
    )
