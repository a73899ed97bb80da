"""Blue/green publish of the marts into the analysts' database (``Settings.published``, marts.duckdb).

The pipeline never writes into the file analysts read. It builds a complete new DuckDB file next to it and
swaps it in with one ``os.replace`` (atomic on POSIX): an analyst's open read-only connection keeps reading
the old file (its inode lives on until closed) and nobody ever waits for a lock.

- Gate passed: every table and view of schema ``marts`` lands as a table in ``main``, plus
  ``_publication`` (run id, time, per-mart row count and content hash) and ``_last_run``. The new file
  starts as a copy of the current one, so a mart whose content hash did not change is kept as it is, a
  table that only gained and lost whole load batches (the incremental fact) gets just those batches, and
  only the rest is copied (copying the province's million-row fact was most of an incremental publish).
  A file that has become mostly free space is rebuilt from scratch instead.
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
    #: how each mart reached the new file: kept (unchanged), appended (only its new load batches), copied
    updates: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Fingerprint:
    """What a table's content hash is made of (see :func:`_fingerprints`)."""

    columns: tuple[tuple[str, str], ...]  # (name, type) in column order
    rows: int
    row_hash_sum: int

    @property
    def content_hash(self) -> str:
        columns = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        return hashlib.sha256(f"{columns}|{self.rows}|{self.row_hash_sum}".encode()).hexdigest()


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
    start_from_current = _worth_updating(target) if gate_passed else True
    updates: dict[str, str] = {}
    with _staged_copy(target, run_id, start_from_current=start_from_current) as staged:
        conn.execute(f"attach '{_sql_path(staged)}' as {_ALIAS}")
        try:
            if gate_passed:
                updates, published = _bring_marts_up_to_date(conn)
                message = f"{len(updates)} mart dipublikasikan."
            else:
                if QUALITY_MART in _mart_names(conn):
                    _copy_table(conn, QUALITY_MART)
                message = (
                    f"Publikasi diblokir; mart terakhir yang lolos tetap dipakai. Alasan: {reason or '-'}"
                )
                published = _fingerprints(conn, _ALIAS, "main")
            counts = {name: fp.rows for name, fp in published.items()}
            hashes = {name: fp.content_hash for name, fp in published.items()}
            if gate_passed:
                _write_publication(conn, run_id, now, counts, hashes)
            _write_last_run(conn, run_id, now, "published" if gate_passed else "blocked", message)
            conn.execute(f"checkpoint {_ALIAS}")
        finally:
            conn.execute(f"detach {_ALIAS}")
        os.replace(staged, target)
    status: Literal["published", "blocked"] = "published" if gate_passed else "blocked"
    _record_run(conn, run_id, now, status, message)
    return PublishResult(status, target, run_id, message, counts, hashes, updates)


def mart_content_hashes(path: Path) -> dict[str, str]:
    """Order-independent content hash of every mart (``main`` table not starting with ``_``) in a file."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return {
            name: fp.content_hash for name, fp in _fingerprints(conn, _current_catalog(conn), "main").items()
        }
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


def _worth_updating(target: Path) -> bool:
    """Start the new file from the published one, unless there is none or it is mostly free space.

    Replaced and shrunk tables leave free blocks that DuckDB reuses but never returns; rebuilding from
    scratch once they outweigh the data keeps the analysts' file compact.
    """
    if not target.exists():
        return False
    try:
        with duckdb.connect(str(target), read_only=True) as published:
            free, total = published.execute(
                "select free_blocks, total_blocks from pragma_database_size() where database_name = current_database()"
            ).fetchone()
    except duckdb.Error:
        return False  # unreadable: a fresh file replaces it
    return free * 2 <= total


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


def _bring_marts_up_to_date(
    conn: duckdb.DuckDBPyConnection,
) -> tuple[dict[str, str], dict[str, _Fingerprint]]:
    """Make the staged file's tables equal the built marts, doing only what their content hashes ask.

    Returns how each mart got there, and the fingerprints of what the staged file now holds (a copy has its
    source's: ``create table as select *`` keeps every row, column name and type).
    """
    built = _fingerprints(conn, _current_catalog(conn), MARTS_SCHEMA)
    staged = _fingerprints(conn, _ALIAS, "main")
    for gone in sorted(set(staged) - set(built)):
        conn.execute(f'drop table {_ALIAS}.main."{gone}"')
    updates: dict[str, str] = {}
    for name, fingerprint in built.items():
        previous = staged.get(name)
        if previous == fingerprint:
            updates[name] = "kept"
        elif previous is not None and _append_new_batches(conn, name, previous, fingerprint):
            updates[name] = "appended"
        else:
            _copy_table(conn, name)
            updates[name] = "copied"
    return updates, built


def _append_new_batches(
    conn: duckdb.DuckDBPyConnection, name: str, staged: _Fingerprint, built: _Fingerprint
) -> bool:
    """Bring a table with lineage up to date by load batch: drop the batches the build no longer has, add
    the ones it gained. True when the result has the built table's content hash; otherwise (rows of a
    batch changed, e.g. a recomputed fact) the caller copies the whole table."""
    if staged.columns != built.columns or "_batch_id" not in dict(staged.columns):
        return False
    published, source = f'{_ALIAS}.main."{name}"', f'{MARTS_SCHEMA}."{name}"'

    def batches_only_in(table: str, other: str) -> str:
        return f"select _batch_id from {table} except select _batch_id from {other}"

    conn.execute(f"delete from {published} where _batch_id in ({batches_only_in(published, source)})")
    conn.execute(
        f"insert into {published} select * from {source} where _batch_id in ({batches_only_in(source, published)})"
    )
    return _fingerprints(conn, _ALIAS, "main", only=name).get(name) == built


# --- fingerprints and bookkeeping -----------------------------------------------------------------


def _current_catalog(conn: duckdb.DuckDBPyConnection) -> str:
    return conn.execute("select current_database()").fetchone()[0]


def _fingerprints(
    conn: duckdb.DuckDBPyConnection, catalog: str, schema: str, *, only: str | None = None
) -> dict[str, _Fingerprint]:
    """Per table (or view) in ``catalog.schema`` not starting with ``_``: what its content hash is made of.

    The hash combines the column names and types with the count and the sum of DuckDB's per-row hashes, so
    it does not depend on row order (a sum, unlike xor, does not cancel out duplicate rows).
    """
    tables = conn.execute(
        "select table_name from information_schema.tables where table_catalog = ? and table_schema = ?"
        " and table_name not like '\\_%' escape '\\' and (? is null or table_name = ?) order by table_name",
        [catalog, schema, only, only],
    ).fetchall()
    fingerprints: dict[str, _Fingerprint] = {}
    for (name,) in tables:
        columns = conn.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_catalog = ? and table_schema = ? and table_name = ? order by ordinal_position",
            [catalog, schema, name],
        ).fetchall()
        rows, row_hash_sum = conn.execute(
            f'select count(*), coalesce(sum(hash(t)::hugeint), 0) from "{catalog}"."{schema}"."{name}" as t'
        ).fetchone()
        fingerprints[name] = _Fingerprint(tuple(columns), int(rows), int(row_hash_sum))
    return fingerprints


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
