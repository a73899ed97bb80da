"""Loading agency files from the inbox into the raw layer: one file, one batch, one transaction.

``ingest_file`` reads and types a file, runs the GX file gate,
then in ONE DuckDB transaction writes the good rows (with lineage) into ``raw.<table>``, every rejected
row into ``ops.rejected_rows``, every check outcome into ``ops.check_results`` and one ``ops.ingest_log``
row. Only after the commit is the original moved to ``archive/<source>/`` (or ``quarantine/<source>/``
with a ``.reason.txt``). A crash before the commit leaves nothing behind and the file still in the inbox;
a crash after it leaves the file in the inbox, and the next run recognises it as a duplicate.

``ingest_files`` does the same for many files of one source (what an ingest task gets): each file is still
its own batch and transaction, but the parsed files are gated together (one GX validation for many small
files, see :func:`expectations.gate.validate_file_frames`) and written through one connection held for the
call; the files are parsed ahead in worker processes meanwhile.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import logging
import multiprocessing
import os
import pickle
import shutil
import traceback
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from expectations.gate import (
    CheckOutcome,
    FileFrame,
    GateResult,
    dataframe_batch_definition,
    validate_file_frames,
)
from extract.naming import FileIdentity, identify, sanitise_file_name
from extract.parse import MASK, FileParser, ParsedFile, Rejection, location
from extract.readers import FileRejected, open_workbook
from extract.registry import LINEAGE_COLUMNS, SourceSpec, get_source, load_registry
from gudang.config import Limits, load_config
from gudang.settings import Settings
from gudang.warehouse import connect

log = logging.getLogger(__name__)

LOADED_STATUSES = ("loaded", "loaded_with_warnings")
#: parsed rows held in memory for one gate batch (the files' frames are validated together)
GATE_BATCH_ROWS = 300_000
#: WAL size at which an ingest call's writes checkpoint (its connection also checkpoints when it closes)
INGEST_CHECKPOINT_THRESHOLD = "256MB"
#: files parsed ahead by the workers and not yet gated wait in memory: at most this many, of this much input
PARSE_AHEAD_FILES = 64
PARSE_AHEAD_BYTES = 64 * 2**20


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


def limits(settings: Settings) -> Limits:
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
    return sorted(
        files, key=lambda p: (not _matches(p.name, spec), _period_of(p.name, spec, settings), p.name)
    )


def _period_of(name: str, spec: SourceSpec, settings: Settings) -> str:
    """Files are loaded period by period: the files of one period (one per kab/kota) then form a gate
    batch, while a kab/kota's next period waits for the previous one (its volume check compares them)."""
    try:
        return identify(sanitise_file_name(name), spec, settings.region).period
    except FileRejected:
        return ""


# --------------------------------------------------------------------------- one file


def ingest_file(
    path: Path, spec: SourceSpec, settings: Settings, *, run_id: str, force: bool = False
) -> IngestResult:
    """Load one file as one batch. Never raises for a bad file: it is quarantined with the reason.

    Raises ``FileNotFoundError`` only when the file is gone (a concurrent run took it).
    """
    results = ingest_files([Path(path)], spec, settings, run_id=run_id, force=force)
    if not results:
        raise FileNotFoundError(path)
    return results[0]


@dataclass
class _Parsed:
    load: _Load
    parsed: ParsedFile
    frame: pd.DataFrame
    previous_rows: int | None


def ingest_files(
    paths: list[Path], spec: SourceSpec, settings: Settings, *, run_id: str, force: bool = False
) -> list[IngestResult]:
    """Load files of one source in the given order, each as its own batch; a bad file never stops the rest.

    Files are parsed (ahead, in worker processes: :class:`_Parser`) and gated in batches of up to
    :data:`GATE_BATCH_ROWS` rows of one period (then the period check runs once for the batch). A batch is
    written before a file that must see it loaded: another file of the same kab/kota (its volume check
    reads the previous period's load) or the same content (a duplicate). A file a concurrent run took
    before this one read it gets no result (that run logs it).
    """
    results: list[IngestResult] = []
    pending: list[_Parsed] = []
    paths = [Path(p) for p in paths]
    # One connection for the call: DuckDB checkpoints when the last connection closes (~1 s on a
    # province's tables), and a connection per gate batch made that a checkpoint per batch.
    with connect(settings) as conn, _Parser(paths, spec, settings) as parser:
        # Each file commits on its own, and at DuckDB's default 16 MB of WAL nearly every commit of a
        # registry extract also checkpointed (rewriting the table's open row group): twice the write time.
        conn.execute(f"SET checkpoint_threshold = '{INGEST_CHECKPOINT_THRESHOLD}'")
        ledger = _Ledger.read(conn, spec.source)

        def write_pending() -> None:
            results.extend(_gate_and_write(pending, spec, conn, ledger, force=force))
            pending.clear()

        if parser.in_worker:
            dataframe_batch_definition()  # GX's import and context (~7 s) while the workers parse the first files
        for path in paths:
            try:
                load = _Load(path, spec, settings, run_id)
            except FileNotFoundError:
                log.info("%s was taken by a concurrent run", path.name)
                continue
            if any(
                p.load.sha == load.sha or p.load.scope_key == load.scope_key or p.load.period != load.period
                for p in pending
            ):
                write_pending()
            try:
                outcome = _read(load, ledger, parser, conn, force=force)
            except FileNotFoundError:
                log.info("%s was taken by a concurrent run while being read", path.name)
                continue
            if isinstance(outcome, IngestResult):
                results.append(outcome)
                continue
            pending.append(outcome)
            if sum(p.parsed.table.num_rows for p in pending) >= GATE_BATCH_ROWS:
                write_pending()
        write_pending()
    return results


def _read(
    load: _Load, ledger: _Ledger, parser: _Parser, conn: duckdb.DuckDBPyConnection, *, force: bool
) -> _Parsed | IngestResult:
    """Identify and parse one file; a duplicate is recorded, a bad file quarantined."""
    try:
        identity = load.identify()
        if not force and load.sha in ledger.loaded_shas:
            return load.write_duplicate(conn)
        previous_rows = ledger.previous_rows(identity)
        parsed = parser.parse(load.path, load.safe_name, identity.scope)
        return _Parsed(load, parsed, parsed.table.to_pandas(), previous_rows)  # positional index = row id
    except Exception as exc:  # noqa: BLE001 - an unreadable file must never stop the other files
        return load.write_failure(exc, conn)


def parse_file(
    path: Path, spec: SourceSpec, file_name: str, scope: str | None, hash_key: bytes, cap: Limits
) -> ParsedFile:
    """Open and parse one file: no warehouse, no side effects (so it can run in a worker process)."""
    workbook = open_workbook(path, cap, include=spec.sheets.include, skip_hidden=spec.sheets.skip_hidden)
    return FileParser(spec, file_name=file_name, scope=scope, hash_key=hash_key).parse(workbook)


def _parse_in_worker(*args) -> ParsedFile:
    try:
        return parse_file(*args)
    except Exception as exc:
        try:
            pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - e.g. a reader's exception type that cannot cross processes
            raise RuntimeError(f"{type(exc).__name__}: {exc}") from None
        raise


class _Parser:
    """Parses a call's files, ahead in worker processes while this process gates and writes.

    Parsing and the gate plus the writes are both single-threaded Python of about the same weight (the
    parse is heavier for e-PPGBM workbooks, lighter for registry CSVs), so on two cores the workers take
    the parse off the critical path; with two of them (``limits.parse_workers``) the parse also uses the
    time this process waits. Workers only read files; the warehouse stays with this process. A call with
    few small files parses in-process, and so does every file after a worker died (the files the pool
    held are parsed again here).
    """

    def __init__(
        self, paths: list[Path], spec: SourceSpec, settings: Settings, *, force_worker: bool = False
    ) -> None:
        self._spec, self._hash_key, self._cap = spec, settings.hash_key, limits(settings)
        self._region = settings.region
        self._paths = list(paths)
        self._position = {path: i for i, path in enumerate(self._paths)}
        self._next = 0  # the next file to submit
        self._ahead: dict[Path, Future[ParsedFile]] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._sizes = {p: p.stat().st_size for p in self._paths if p.exists()}
        worth_a_worker = (
            len(self._sizes) >= self._cap.parse_worker_min_files
            or sum(self._sizes.values()) >= self._cap.parse_worker_min_mb * 2**20
        )
        if self._paths and (worth_a_worker or force_worker):
            self._pool = ProcessPoolExecutor(self._cap.parse_workers, mp_context=_worker_context())
            self._keep_ahead(self._paths[0])

    @property
    def in_worker(self) -> bool:
        return self._pool is not None

    def __enter__(self) -> _Parser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def parse(self, path: Path, file_name: str, scope: str | None) -> ParsedFile:
        self._keep_ahead(path)
        future = self._ahead.pop(path, None)
        if future is not None:
            try:
                return future.result()
            except BrokenProcessPool:
                self._lose_worker()
        return parse_file(path, self._spec, file_name, scope, self._hash_key, self._cap)

    def _lose_worker(self) -> None:
        log.warning("a parse worker died; the remaining files are parsed in this process")
        assert self._pool is not None
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool, self._ahead = None, {}

    def _keep_ahead(self, current: Path) -> None:
        """Keep the next few files submitted (bounded: parsed files wait in memory until gated)."""
        position = self._position.get(current, -1)
        for passed in [p for p in self._ahead if self._position[p] < position]:
            self._ahead.pop(passed).cancel()  # passed over (a duplicate, taken): its parse is not wanted
        self._next = max(self._next, position)
        while self._pool is not None and self._next < len(self._paths) and self._room():
            path = self._paths[self._next]
            self._next += 1
            name = sanitise_file_name(path.name)
            try:
                scope = identify(name, self._spec, self._region).scope
            except FileRejected:
                continue  # quarantined on its name; nothing to parse
            try:
                self._ahead[path] = self._pool.submit(
                    _parse_in_worker, path, self._spec, name, scope, self._hash_key, self._cap
                )
            except BrokenProcessPool:
                self._lose_worker()

    def _room(self) -> bool:
        ahead_bytes = sum(self._sizes.get(p, 0) for p in self._ahead)
        return not self._ahead or (len(self._ahead) < PARSE_AHEAD_FILES and ahead_bytes < PARSE_AHEAD_BYTES)


def _worker_context() -> multiprocessing.context.BaseContext:
    """A fork server: no fork of this (threaded: Airflow, DuckDB) process, and the extract modules and the
    region reference are loaded once for every worker the process starts (see extract._worker_preload)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["extract._worker_preload"])
    return context


def _gate_and_write(
    pending: list[_Parsed], spec: SourceSpec, conn: duckdb.DuckDBPyConnection, ledger: _Ledger, *, force: bool
) -> list[IngestResult]:
    if not pending:
        return []
    files = [
        FileFrame(p.frame, p.load.identity.period, p.load.identity.scope, p.previous_rows, p.load.safe_name)
        for p in pending
    ]
    try:
        gates: list[GateResult | None] = list(validate_file_frames(files, spec))
    except Exception:  # noqa: BLE001 - one file can break the batch: gate each alone, and only it fails
        log.warning("gate batch of %d %s files failed; gating them one by one", len(files), spec.source,
                    exc_info=True)  # fmt: skip
        gates = [None] * len(files)
    results = []
    _ensure_raw_table(conn, spec)
    for item, file, gate in zip(pending, files, gates, strict=True):
        try:
            gate = gate or validate_file_frames([file], spec)[0]
            results.append(item.load.write_parsed(conn, item.parsed, item.frame, gate, force=force))
            ledger.record(item.load, results[-1])
        except Exception as exc:  # noqa: BLE001
            try:
                results.append(item.load.write_failure(exc, conn))
            except FileNotFoundError:
                log.info("%s was taken by a concurrent run", item.load.safe_name)
    return results


def _ensure_raw_table(conn: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    conn.execute(spec.raw_ddl())
    for name, kind in spec.raw_columns().items():  # tables created by an older registry gain new columns
        conn.execute(f'ALTER TABLE {spec.raw_table} ADD COLUMN IF NOT EXISTS "{name}" {kind}')


def _already_loaded(conn: duckdb.DuckDBPyConnection, source: str, sha: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM ops.ingest_log WHERE source = ? AND file_sha256 = ? AND status IN (?, ?)",
        [source, sha, *LOADED_STATUSES],
    ).fetchall()[0]  # fetchall: DuckDB keeps a half-read result open and refuses the next statement
    return bool(row[0])


@dataclass
class _Ledger:
    """A source's earlier loads, read once per :func:`ingest_files` call and kept up to date as it writes
    (opening the warehouse costs ~40 ms: twice per file was a minute and a half of a province run).
    A concurrent run's load is still caught: the write re-checks the content hash in its transaction."""

    loaded_shas: set[str]
    #: scope -> (period, finished_at, rows_loaded) of every loaded file
    loads_by_scope: dict[str | None, list[tuple[str, datetime, int]]]

    @classmethod
    def read(cls, conn: duckdb.DuckDBPyConnection, source: str) -> _Ledger:
        rows = conn.execute(
            """SELECT file_sha256, scope, period, finished_at, rows_loaded FROM ops.ingest_log
               WHERE source = ? AND status IN (?, ?)""",
            [source, *LOADED_STATUSES],
        ).fetchall()
        ledger = cls(set(), {})
        for sha, scope, period, finished_at, rows_loaded in rows:
            ledger._add(sha, scope, period, finished_at, rows_loaded)
        return ledger

    def _add(self, sha: str, scope: str | None, period: str | None, finished: datetime, rows: int) -> None:
        self.loaded_shas.add(sha)
        if period is not None:
            self.loads_by_scope.setdefault(scope, []).append((period, finished, int(rows or 0)))

    def record(self, load: _Load, result: IngestResult) -> None:
        if result.status in LOADED_STATUSES:
            self._add(load.sha, result.scope, result.period, _now(), result.rows_loaded)

    def previous_rows(self, identity: FileIdentity) -> int | None:
        """Rows loaded for the same scope's latest earlier period (the newest load of it)."""
        earlier = [load for load in self.loads_by_scope.get(identity.scope, []) if load[0] < identity.period]
        return max(earlier)[2] if earlier else None


class _Load:
    """The bookkeeping of one file's batch: what gets written, and where the original goes."""

    def __init__(self, path: Path, spec: SourceSpec, settings: Settings, run_id: str) -> None:
        self.path = path
        self.spec = spec
        self.settings = settings
        self.run_id = run_id
        self.started = _now()
        self.original_name = path.name
        self.safe_name = sanitise_file_name(path.name)
        self.batch_id = f"{spec.source}-{self.started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.sha = file_sha256(path)  # FileNotFoundError when a concurrent run took the file
        stat = path.stat()
        self.size = stat.st_size
        self.received = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
        self.identity: FileIdentity | None = None
        self._bad_name: FileRejected | None = None
        try:
            self.identity = identify(self.safe_name, spec, settings.region)
        except FileRejected as exc:
            self._bad_name = exc

    @property
    def scope_key(self) -> str | None:
        return self.identity.scope if self.identity else None

    @property
    def period(self) -> str | None:
        return self.identity.period if self.identity else None

    def identify(self) -> FileIdentity:
        if self._bad_name is not None:
            raise self._bad_name
        assert self.identity is not None
        return self.identity

    # ---------------------------------------------------------------- outcomes

    def write_failure(self, exc: Exception, conn: duckdb.DuckDBPyConnection | None = None) -> IngestResult:
        """Quarantine the file with a reason the agency can act on (or re-raise: the file is gone)."""
        if isinstance(exc, FileRejected):
            message = str(exc)
            if not message.startswith(self.safe_name):
                message = f"{self.safe_name}: {message}"
        elif isinstance(exc, FileNotFoundError):
            if not self.path.exists():  # taken by a concurrent run mid-read: that run logs it, not this one
                raise exc
            message = f"{self.safe_name}: file tidak bisa dibaca"
        else:
            log.error("ingest of %s failed:\n%s", self.safe_name, "".join(traceback.format_exception(exc)))
            message = f"{self.safe_name}: file tidak bisa diproses ({type(exc).__name__}: {exc})"
        return self.write_quarantine(message, conn=conn)

    def write_duplicate(self, conn: duckdb.DuckDBPyConnection) -> IngestResult:
        stored = self._destination(self.settings.archive)
        result = self._result("duplicate", 0, 0, 0, [], None, stored)
        with _transaction(conn):
            self._insert_log(conn, result)
        self._move(stored)
        return result

    def write_quarantine(
        self,
        message: str,
        *,
        rows_read: int = 0,
        outcomes: list[CheckOutcome] | None = None,
        conn: duckdb.DuckDBPyConnection | None = None,
    ) -> IngestResult:
        if conn is None:
            with connect(self.settings) as own:
                return self.write_quarantine(message, rows_read=rows_read, outcomes=outcomes, conn=own)
        stored = self._destination(self.settings.quarantine)
        failed = sorted({o.check for o in outcomes or [] if not o.success})
        result = self._result("quarantined", rows_read, 0, rows_read, failed, message, stored)
        reason = Rejection(None, None, None, None, message, "file_quarantined", "error")
        with _transaction(conn):
            self._insert_rejections(conn, [reason])
            self._insert_checks(conn, outcomes or [])
            self._insert_log(conn, result)
        self._move(stored)
        stored.with_name(stored.name + ".reason.txt").write_text(message + "\n", encoding="utf-8")
        return result

    def write_parsed(
        self,
        conn: duckdb.DuckDBPyConnection,
        parsed: ParsedFile,
        frame: pd.DataFrame,
        gate: GateResult,
        *,
        force: bool,
    ) -> IngestResult:
        outcomes = [*parsed.outcomes, *gate.outcomes]
        if gate.blocking:
            reasons = "; ".join(o.message for o in gate.blocking)
            return self.write_quarantine(
                f"{self.safe_name}: file ditolak pemeriksaan mutu: {reasons}",
                rows_read=parsed.rows_read,
                outcomes=outcomes,
                conn=conn,
            )
        rejections = list(parsed.rejections)
        failed_rows: set[int] = set()
        columns: dict[str, list] = {}  # column -> its values, read once (a row lookup per failure was slow)

        def cell(column: str, row: int) -> object:
            if column not in columns:
                columns[column] = frame[column].tolist()
            return columns[column][row]

        for failure in gate.row_failures:
            if failure.severity != "error":
                continue
            row = failure.row_index  # positional: the frame comes from the parsed table
            failed_rows.add(row)
            sheet, source_row = _as_text(cell("_sheet", row)), int(cell("_source_row", row))
            column = failure.column
            value = None
            if column and column in frame.columns:
                value = MASK if column in self.spec.pii_columns else _as_text(cell(column, row))
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
            keep = np.ones(table.num_rows, dtype=bool)
            keep[list(failed_rows)] = False
            table = table.filter(pa.array(keep))
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
        with _transaction(conn):
            # another run may have loaded the same content while this one was parsing
            duplicate = not force and _already_loaded(conn, self.spec.source, self.sha)
            if not duplicate:
                self._insert_raw(conn, table, _now())
                self._insert_rejections(conn, rejections)
                self._insert_checks(conn, outcomes)
                self._insert_log(conn, result)
        if duplicate:
            return self.write_duplicate(conn)
        if not in_archive:
            self._move(stored)
        return result

    # ---------------------------------------------------------------- writes

    def _insert_raw(self, conn: duckdb.DuckDBPyConnection, table: pa.Table, loaded_at: datetime) -> None:
        spec = self.spec
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
        _insert_arrow(conn, "ops.rejected_rows", table)

    def _insert_checks(self, conn: duckdb.DuckDBPyConnection, outcomes: list[CheckOutcome]) -> None:
        if not outcomes:
            return
        count = len(outcomes)
        table = pa.table(
            {
                "batch_id": pa.array([self.batch_id] * count, pa.string()),
                "run_id": pa.array([self.run_id] * count, pa.string()),
                "source": pa.array([self.spec.source] * count, pa.string()),
                "scope_level": pa.array(["file"] * count, pa.string()),
                "check_name": pa.array([o.check for o in outcomes], pa.string()),
                "column_name": pa.array([o.column for o in outcomes], pa.string()),
                "severity": pa.array([o.severity for o in outcomes], pa.string()),
                "success": pa.array([o.success for o in outcomes], pa.bool_()),
                "unexpected_count": pa.array([o.unexpected_count for o in outcomes], pa.int64()),
                "message": pa.array([o.message for o in outcomes], pa.string()),
                "checked_at": pa.array([_now()] * count, pa.timestamp("us")),
            }
        )
        _insert_arrow(conn, "ops.check_results", table)

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


def _insert_arrow(conn: duckdb.DuckDBPyConnection, target: str, table: pa.Table) -> None:
    """Rows built in Python go in as one Arrow table (an executemany costs ~0.2 ms per row)."""
    conn.register("rows_to_insert", table)
    try:
        conn.execute(f"INSERT INTO {target} ({', '.join(table.column_names)}) SELECT * FROM rows_to_insert")
    finally:
        conn.unregister("rows_to_insert")


@contextlib.contextmanager
def _transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One file's writes: all or nothing, and the shared connection is clean for the next file."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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
        results += ingest_files(discover(settings, source), get_source(source), settings, run_id=run_id)
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
