"""Loading agency files from the inbox into the raw layer: one file, one batch, one transaction.

``ingest_file`` reads and types a file (no database connection held meanwhile), runs the GX file gate,
then in ONE DuckDB transaction writes the good rows (with lineage) into ``raw.<table>``, every rejected
row into ``ops.rejected_rows``, every check outcome into ``ops.check_results`` and one ``ops.ingest_log``
row. Only after the commit is the original moved to ``archive/<source>/`` (or ``quarantine/<source>/``
with a ``.reason.txt``). A crash before the commit leaves nothing behind and the file still in the inbox;
a crash after it leaves the file in the inbox, and the next run recognises it as a duplicate.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import shutil
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from expectations.gate import CheckOutcome, validate_file_frame
from extract.naming import FileIdentity, identify, sanitise_file_name
from extract.parse import MASK, FileParser, ParsedFile, Rejection, location
from extract.readers import FileRejected, open_workbook
from extract.registry import LINEAGE_COLUMNS, SourceSpec, get_source, load_registry
from gudang.config import Limits, load_config
from gudang.settings import Settings
from gudang.warehouse import connect

log = logging.getLogger(__name__)

LOADED_STATUSES = ("loaded", "loaded_with_warnings")


@dataclass
class IngestResult:
    batch_id: str
    source: str
    file_name: str  # sanitised name as stored
    original_name: str
    status: str  # loaded | loaded_with_warnings | duplicate | quarantined
    period: str | None
    scope: str | None
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    checks_failed: list[str] = field(default_factory=list)
    error_message: str | None = None
    stored_path: str | None = None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _limits(settings: Settings) -> Limits:
    configured = os.environ.get("GUDANG_CONFIG")
    return load_config(Path(configured) if configured else settings.home / "gudang.yml").limits


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- discovery


def _matches(name: str, spec: SourceSpec) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatch(lowered, pattern.lower()) for pattern in spec.file_patterns)


def _is_candidate(path: Path) -> bool:
    # Excel lock files (~$x.xlsx), hidden files, half-copied uploads and our own reason notes are not input
    name = path.name
    return (
        path.is_file()
        and not name.startswith(("~$", "."))
        and not name.endswith((".part", ".tmp", ".reason.txt"))
    )


def route_source(name: str) -> str | None:
    """The source whose file pattern matches a name (the most specific pattern wins)."""
    best: tuple[int, str] | None = None
    for spec in load_registry().values():
        for pattern in spec.file_patterns:
            if fnmatch.fnmatch(name.lower(), pattern.lower()):
                literal = len(pattern.split("*")[0])
                if best is None or literal > best[0]:
                    best = (literal, spec.source)
    return best[1] if best else None


def _free_path(folder: Path, name: str, sha: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        return target
    stem, dot, suffix = name.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot else (name, "")
    tag = (sha or uuid.uuid4().hex)[:8]
    candidate = folder / f"{stem}__{tag}{suffix}"
    counter = 1
    while candidate.exists():
        candidate = folder / f"{stem}__{tag}_{counter}{suffix}"
        counter += 1
    return candidate


def discover(settings: Settings, source: str) -> list[Path]:
    """Files waiting in ``inbox/<source>/`` (files dropped in the inbox root are routed there first)."""
    spec = get_source(source)
    folder = settings.inbox / source
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(settings.inbox.iterdir()):
        if _is_candidate(path) and route_source(path.name) == source:
            # keep the original name: ingest sanitises it and records the original
            path.rename(_free_path(folder, path.name))
    # a file in the source's folder that does not match its patterns is still taken: it gets a clear outcome
    # (usually quarantine: wrong format or no period in its name) instead of lying in the inbox unnoticed
    files = [p for p in folder.iterdir() if _is_candidate(p)]
    return sorted(files, key=lambda p: (not _matches(p.name, spec), p.name))


# --------------------------------------------------------------------------- one file


def ingest_file(
    path: Path, spec: SourceSpec, settings: Settings, *, run_id: str, force: bool = False
) -> IngestResult:
    """Load one file as one batch. Never raises for a bad file: it is quarantined with the reason."""
    path = Path(path)
    started = _now()
    original_name = path.name
    safe_name = sanitise_file_name(original_name)
    batch_id = f"{spec.source}-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    sha = file_sha256(path)
    load = _Load(path, spec, settings, run_id, batch_id, safe_name, original_name, sha, started)
    identity: FileIdentity | None = None
    try:
        identity = identify(safe_name, spec, settings.region)
        load.identity = identity
        with connect(settings) as conn:
            if not force and _already_loaded(conn, spec.source, sha):
                return load.write_duplicate(conn)
            previous_rows = _previous_rows(conn, spec.source, identity)
        workbook = open_workbook(
            path, _limits(settings), include=spec.sheets.include, skip_hidden=spec.sheets.skip_hidden
        )
        parser = FileParser(spec, file_name=safe_name, scope=identity.scope, hash_key=settings.hash_key)
        parsed = parser.parse(workbook)
        return load.write_parsed(parsed, previous_rows, force=force)
    except FileRejected as exc:
        message = str(exc)
        if not message.startswith(safe_name):
            message = f"{safe_name}: {message}"
        return load.write_quarantine(message)
    except FileNotFoundError:
        if not path.exists():  # taken by a concurrent run mid-read: that run logs it, not this one
            raise
        return load.write_quarantine(f"{safe_name}: file tidak bisa dibaca")
    except Exception as exc:  # an unreadable file must never stop the other files
        log.error("ingest of %s failed:\n%s", safe_name, traceback.format_exc())
        return load.write_quarantine(f"{safe_name}: file tidak bisa diproses ({type(exc).__name__}: {exc})")


def _already_loaded(conn: duckdb.DuckDBPyConnection, source: str, sha: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM ops.ingest_log WHERE source = ? AND file_sha256 = ? AND status IN (?, ?)",
        [source, sha, *LOADED_STATUSES],
    ).fetchone()
    return bool(row and row[0])


def _previous_rows(conn: duckdb.DuckDBPyConnection, source: str, identity: FileIdentity) -> int | None:
    row = conn.execute(
        """SELECT rows_loaded FROM ops.ingest_log
           WHERE source = ? AND scope = ? AND period < ? AND status IN (?, ?)
           ORDER BY period DESC, finished_at DESC LIMIT 1""",
        [source, identity.scope, identity.period, *LOADED_STATUSES],
    ).fetchone()
    return int(row[0]) if row else None


class _Load:
    """The bookkeeping of one file's batch: what gets written, and where the original goes."""

    def __init__(
        self, path, spec, settings, run_id, batch_id, safe_name, original_name, sha, started
    ) -> None:
        self.path: Path = path
        self.spec: SourceSpec = spec
        self.settings: Settings = settings
        self.run_id = run_id
        self.batch_id = batch_id
        self.safe_name = safe_name
        self.original_name = original_name
        self.sha = sha
        self.started = started
        self.identity: FileIdentity | None = None
        self.size = path.stat().st_size
        self.received = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)

    # ---------------------------------------------------------------- outcomes

    def write_duplicate(self, conn: duckdb.DuckDBPyConnection) -> IngestResult:
        stored = self._destination(self.settings.archive)
        result = self._result("duplicate", 0, 0, 0, [], None, stored)
        conn.execute("BEGIN TRANSACTION")
        self._insert_log(conn, result)
        conn.execute("COMMIT")
        self._move(stored)
        return result

    def write_quarantine(
        self,
        message: str,
        *,
        rows_read: int = 0,
        outcomes: list[CheckOutcome] | None = None,
    ) -> IngestResult:
        stored = self._destination(self.settings.quarantine)
        failed = sorted({o.check for o in outcomes or [] if not o.success})
        result = self._result("quarantined", rows_read, 0, rows_read, failed, message, stored)
        reason = Rejection(None, None, None, None, message, "file_quarantined", "error")
        with connect(self.settings) as conn:
            conn.execute("BEGIN TRANSACTION")
            self._insert_rejections(conn, [reason])
            self._insert_checks(conn, outcomes or [])
            self._insert_log(conn, result)
            conn.execute("COMMIT")
        self._move(stored)
        stored.with_name(stored.name + ".reason.txt").write_text(message + "\n", encoding="utf-8")
        return result

    def write_parsed(self, parsed: ParsedFile, previous_rows: int | None, *, force: bool) -> IngestResult:
        identity = self.identity
        frame = parsed.table.to_pandas()  # positional index = row id for the gate
        gate = validate_file_frame(
            frame, self.spec, period=identity.period, scope=identity.scope, previous_rows=previous_rows
        )
        outcomes = [*parsed.outcomes, *gate.outcomes]
        if gate.blocking:
            reasons = "; ".join(o.message for o in gate.blocking)
            return self.write_quarantine(
                f"{self.safe_name}: file ditolak pemeriksaan mutu: {reasons}",
                rows_read=parsed.rows_read,
                outcomes=outcomes,
            )
        rejections = list(parsed.rejections)
        failed_rows: set[int] = set()
        for failure in gate.row_failures:
            if failure.severity != "error":
                continue
            failed_rows.add(failure.row_index)
            row = frame.loc[failure.row_index]
            sheet, source_row = _as_text(row["_sheet"]), int(row["_source_row"])
            column = failure.column
            value = None
            if column and column in frame.columns:
                value = MASK if column in self.spec.pii_columns else _as_text(row[column])
            rejections.append(
                Rejection(
                    sheet,
                    source_row,
                    column,
                    value,
                    f"{location(self.safe_name, sheet, source_row, column)}: {failure.message}",
                    failure.check,
                )
            )
        table = parsed.table
        if failed_rows:
            keep = [i for i in range(table.num_rows) if i not in failed_rows]
            table = table.take(pa.array(keep, pa.int64()))
        rows_rejected = parsed.rows_rejected + len(failed_rows)
        rows_loaded = table.num_rows
        if rows_loaded + rows_rejected != parsed.rows_read:  # the invariant every report relies on
            raise AssertionError(
                f"{self.safe_name}: loaded {rows_loaded} + rejected {rows_rejected} != read {parsed.rows_read}"
            )
        failed = sorted({o.check for o in outcomes if not o.success})
        has_errors = any(r.severity == "error" for r in rejections)
        status = "loaded_with_warnings" if (failed or has_errors) else "loaded"
        in_archive = self.path.resolve().is_relative_to((self.settings.archive / self.spec.source).resolve())
        stored = self.path if in_archive else self._destination(self.settings.archive)
        result = self._result(status, parsed.rows_read, rows_loaded, rows_rejected, failed, None, stored)
        loaded_at = _now()
        with connect(self.settings) as conn:
            conn.execute("BEGIN TRANSACTION")
            if not force and _already_loaded(conn, self.spec.source, self.sha):
                # another run loaded the same content while this one was parsing
                conn.execute("ROLLBACK")
                return self.write_duplicate(conn)
            self._insert_raw(conn, table, loaded_at)
            self._insert_rejections(conn, rejections)
            self._insert_checks(conn, outcomes)
            self._insert_log(conn, result)
            conn.execute("COMMIT")
        if not in_archive:
            self._move(stored)
        return result

    # ---------------------------------------------------------------- writes

    def _insert_raw(self, conn: duckdb.DuckDBPyConnection, table: pa.Table, loaded_at: datetime) -> None:
        spec = self.spec
        conn.execute(spec.raw_ddl())
        for name, kind in spec.raw_columns().items():  # tables created by an older registry gain new columns
            conn.execute(f'ALTER TABLE {spec.raw_table} ADD COLUMN IF NOT EXISTS "{name}" {kind}')
        if table.num_rows == 0:
            return
        identity = self.identity
        lineage = {
            "_batch_id": self.batch_id,
            "_source": spec.source,
            "_file_name": self.safe_name,
            "_file_sha256": self.sha,
            "_period": identity.period,
            "_scope": identity.scope,
            "_loaded_at": loaded_at,
        }
        conn.register("batch_rows", table)
        try:
            names = list(spec.raw_columns())
            select = []
            for name in names:
                if name in lineage:
                    select.append(f"CAST(? AS {LINEAGE_COLUMNS[name]})")
                else:
                    select.append(f'"{name}"')
            quoted = ", ".join(f'"{n}"' for n in names)
            params = [lineage[n] for n in names if n in lineage]
            conn.execute(
                f"INSERT INTO {spec.raw_table} ({quoted}) SELECT {', '.join(select)} FROM batch_rows", params
            )
        finally:
            conn.unregister("batch_rows")

    def _insert_rejections(self, conn: duckdb.DuckDBPyConnection, rejections: list[Rejection]) -> None:
        if not rejections:
            return
        table = pa.table(
            {
                "batch_id": pa.array([self.batch_id] * len(rejections), pa.string()),
                "source": pa.array([self.spec.source] * len(rejections), pa.string()),
                "file_name": pa.array([self.safe_name] * len(rejections), pa.string()),
                "sheet": pa.array([r.sheet for r in rejections], pa.string()),
                "source_row": pa.array([r.source_row for r in rejections], pa.int64()),
                "column_name": pa.array([r.column for r in rejections], pa.string()),
                "value": pa.array([r.value for r in rejections], pa.string()),
                "reason": pa.array([r.reason for r in rejections], pa.string()),
                "check_name": pa.array([r.check for r in rejections], pa.string()),
                "severity": pa.array([r.severity for r in rejections], pa.string()),
            }
        )
        conn.register("batch_rejections", table)
        try:
            conn.execute(
                f"INSERT INTO ops.rejected_rows ({', '.join(table.column_names)}) SELECT * FROM batch_rejections"
            )
        finally:
            conn.unregister("batch_rejections")

    def _insert_checks(self, conn: duckdb.DuckDBPyConnection, outcomes: list[CheckOutcome]) -> None:
        if not outcomes:
            return
        now = _now()
        # one statement for the whole suite: a per-row INSERT cost ~0.1 s per file at province scale
        conn.executemany(
            """INSERT INTO ops.check_results (batch_id, run_id, source, scope_level, check_name, column_name,
               severity, success, unexpected_count, message, checked_at) VALUES (?, ?, ?, 'file', ?, ?, ?, ?, ?, ?, ?)""",
            [[self.batch_id, self.run_id, self.spec.source, o.check, o.column, o.severity, o.success,
              o.unexpected_count, o.message, now] for o in outcomes],
        )  # fmt: skip

    def _insert_log(self, conn: duckdb.DuckDBPyConnection, result: IngestResult) -> None:
        conn.execute(
            """INSERT INTO ops.ingest_log (batch_id, run_id, source, agency, target_table, file_name, original_name,
               file_sha256, file_size, period, scope, received_at, started_at, finished_at, status, rows_read,
               rows_loaded, rows_rejected, checks_failed, error_message, stored_path)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [self.batch_id, self.run_id, self.spec.source, self.spec.agency, self.spec.raw_table, result.file_name,
             self.original_name, self.sha, self.size, result.period, result.scope, self.received, self.started,
             _now(), result.status, result.rows_read, result.rows_loaded, result.rows_rejected,
             result.checks_failed, result.error_message, result.stored_path],
        )  # fmt: skip

    # ---------------------------------------------------------------- files

    def _destination(self, root: Path) -> Path:
        return _free_path(root / self.spec.source, self.safe_name, self.sha)

    def _move(self, target: Path) -> None:
        if self.path.resolve() == target.resolve():
            return
        if not self.path.exists():
            # a concurrent run already stored this very file (its batch is logged there): nothing is lost
            log.info("%s was already moved by a concurrent run", self.safe_name)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.path), str(target))

    def _result(self, status, read, loaded, rejected, failed, message, stored: Path) -> IngestResult:
        identity = self.identity
        return IngestResult(
            batch_id=self.batch_id,
            source=self.spec.source,
            file_name=stored.name,
            original_name=self.original_name,
            status=status,
            period=identity.period if identity else None,
            scope=identity.scope if identity else None,
            rows_read=read,
            rows_loaded=loaded,
            rows_rejected=rejected,
            checks_failed=failed,
            error_message=message,
            stored_path=str(stored),
        )


def _as_text(value: object) -> str | None:
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return None
    return str(value)


# --------------------------------------------------------------------------- the inbox


def ingest_inbox(
    settings: Settings, *, sources: list[str] | None = None, run_id: str | None = None
) -> list[IngestResult]:
    """Every waiting file of every (or the given) source, one batch each; a bad file never stops the rest."""
    settings.ensure_dirs()
    run_id = run_id or f"manual-{_now():%Y%m%dT%H%M%S}"
    results = []
    for source in sources or list(load_registry()):
        spec = get_source(source)
        for path in discover(settings, source):
            try:
                results.append(ingest_file(path, spec, settings, run_id=run_id))
            except FileNotFoundError:
                # a concurrent run took the file between discovery and reading it; that run logs it
                log.info("%s was taken by a concurrent run", path.name)
    return results


def archived_files_for_period(settings: Settings, source: str, period: str) -> list[Path]:
    """Archived originals of a source's loaded batches for one period, oldest load first (for backfills:
    re-ingesting them in this order with ``force=True`` keeps the newest revision on top)."""
    with connect(settings) as conn:
        rows = conn.execute(
            """SELECT stored_path, min(finished_at) AS first_loaded FROM ops.ingest_log
               WHERE source = ? AND period = ? AND status IN (?, ?) AND stored_path IS NOT NULL
               GROUP BY stored_path ORDER BY first_loaded""",
            [source, period, *LOADED_STATUSES],
        ).fetchall()
    return [Path(p) for p, _ in rows if Path(p).exists()]
