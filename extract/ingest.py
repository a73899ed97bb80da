"""Loading agency files from the inbox into the raw layer: one file, one batch, written all or nothing.

``ingest_file`` reads and types a file, runs the GX file gate,
then in ONE DuckDB transaction writes the good rows (with lineage) into ``raw.<table>``, every rejected
row into ``ops.rejected_rows``, every check outcome into ``ops.check_results`` and one ``ops.ingest_log``
row. Only after the commit is the original moved to ``archive/<source>/`` (or ``quarantine/<source>/``
with a ``.reason.txt``). A crash before the commit leaves nothing behind and the file still in the inbox;
a crash after it leaves the file in the inbox, and the next run recognises it as a duplicate.

``ingest_files`` does the same for many files of one source (what an ingest task gets): each file is still
its own batch, but the parsed files are gated together (one GX validation for many small files, see
:func:`expectations.gate.validate_file_frames`) and a gate batch's files are written in one transaction
(:func:`_commit`; if it fails, file by file) through one connection held for the call; the files are
parsed ahead in worker processes meanwhile.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import itertools
import logging
import multiprocessing
import os
import pickle
import shutil
import traceback
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from expectations.gate import (
    CheckOutcome,
    FileFrame,
    GateResult,
    dataframe_batch_definition,
    gate_columns,
    validate_file_frames,
    volume_outcomes,
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


def _free_path(folder: Path, name: str, sha: str | None = None, taken: set[Path] | None = None) -> Path:
    """``folder/name``, or a tagged variant when that exists (or is ``taken`` by a file stored alongside)."""
    taken = taken if taken is not None else set()
    folder.mkdir(parents=True, exist_ok=True)
    stem, dot, suffix = name.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot else (name, "")
    tag = (sha or uuid.uuid4().hex)[:8]
    candidates = itertools.chain(
        [folder / name, folder / f"{stem}__{tag}{suffix}"],
        (folder / f"{stem}__{tag}_{n}{suffix}" for n in itertools.count(1)),
    )
    target = next(c for c in candidates if c not in taken and not c.exists())
    taken.add(target)
    return target


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


def ingest_files(
    paths: list[Path], spec: SourceSpec, settings: Settings, *, run_id: str, force: bool = False
) -> list[IngestResult]:
    """Load files of one source in the given order, each as its own batch; a bad file never stops the rest.

    Files are parsed (ahead, in worker processes: :class:`_Parser`) and gated in batches of up to
    :data:`GATE_BATCH_ROWS` rows, whatever their periods (:func:`_gate_and_write`). A batch is written
    before a file that must see it loaded: the same content (a duplicate) or another file of the same
    kab/kota and period. A file a concurrent run took before this one read it gets no result (that run
    logs it).
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
        # One DuckDB thread: the parse workers keep the other cores busy, and a batch's insert of many small
        # Arrow chunks on two threads took the same time for ~15-35% more CPU (row groups merged after).
        conn.execute("SET threads = 1")
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
                p.load.sha == load.sha or (p.load.scope_key, p.load.period) == (load.scope_key, load.period)
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
            return _write_one(conn, load.duplicate())
        parsed = parser.parse(load.path, load.safe_name, identity.scope)
        return _Parsed(load, parsed, _gate_frame(parsed.table, gate_columns(load.spec.expectation_suite)))
    except Exception as exc:  # noqa: BLE001 - an unreadable file must never stop the other files
        return _write_one(conn, load.failure(exc))


def _gate_frame(table: pa.Table, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """The parsed rows as the gate's pandas frame (positional index = row id), dates as ``datetime64[ns]``;
    only ``columns`` when given (an e-PPGBM file has 32 columns, its gate reads 13).

    pandas makes Arrow dates Python ``date`` objects, which the gate then converted one by one for GX
    (``suites.as_datetime_if_dates``): ~1.5 s of the calling process per million e-PPGBM rows.
    """
    if columns is not None:
        wanted = set(columns)
        table = table.select([name for name in table.column_names if name in wanted])
    for position, column in enumerate(table.schema):
        if pa.types.is_date(column.type):
            try:
                as_timestamps = pc.cast(table.column(position), pa.timestamp("ns"))
            except pa.ArrowInvalid:
                continue  # a date past 2262 (a typo): the gate keeps its unit (suites.as_datetime_if_dates)
            table = table.set_column(position, column.name, as_timestamps)
    return table.to_pandas()


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
    """Gate a batch of parsed files (one GX validation for all), then write them in one transaction.

    A file's volume check compares it with its kab/kota's previous period as loaded. When that period's
    file is in the same batch (a backlog of months arriving together), its verdict is needed first: such
    files form layers (a kab/kota's second month in the batch, its third, ...) whose volume checks run,
    one GX validation per layer, after the layer before is judged.
    """
    if not pending:
        return []
    layers = _period_layers(pending)
    files = [
        FileFrame(
            p.frame,
            p.load.identity.period,
            p.load.identity.scope,
            ledger.previous_rows(p.load.identity) if layer == 0 else None,
            p.load.safe_name,
        )
        for p, layer in zip(pending, layers, strict=True)
    ]
    try:
        gates: list[GateResult | None] = list(validate_file_frames(files, spec))
    except Exception:  # noqa: BLE001 - one file can break the batch: gate each alone, and only it fails
        log.warning("gate batch of %d %s files failed; gating them one by one", len(files), spec.source,
                    exc_info=True)  # fmt: skip
        gates = [None] * len(files)
    judged: list[_Write | None] = [None] * len(pending)
    for layer in range(max(layers) + 1):
        members = [k for k, own in enumerate(layers) if own == layer]
        if layer:
            judged_so_far = [w for w in judged if w is not None]
            for k in members:
                files[k].previous_rows = ledger.previous_rows(pending[k].load.identity, also=judged_so_far)
            volume = volume_outcomes([files[k] for k in members], spec)
        for position, k in enumerate(members):
            item = pending[k]
            try:
                gate = gates[k] or validate_file_frames([files[k]], spec)[0]
                if layer and volume[position] is not None:
                    gate.outcomes.append(volume[position])
                judged[k] = item.load.parsed_write(item.parsed, item.frame, gate)
            except Exception as exc:  # noqa: BLE001
                try:
                    judged[k] = item.load.failure(exc)
                except FileNotFoundError:
                    log.info("%s was taken by a concurrent run", item.load.safe_name)
    writes = [w for w in judged if w is not None]
    _ensure_raw_table(conn, spec)
    written = _commit(conn, writes, force=force)
    for load, result in written:
        ledger.record(load, result)
    return [result for _, result in written]


def _ensure_raw_table(conn: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    conn.execute(spec.raw_ddl())
    for name, kind in spec.raw_columns().items():  # tables created by an older registry gain new columns
        conn.execute(f'ALTER TABLE {spec.raw_table} ADD COLUMN IF NOT EXISTS "{name}" {kind}')


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

    def previous_rows(self, identity: FileIdentity, also: Iterable[_Write] = ()) -> int | None:
        """Rows loaded for the same scope's latest earlier period (the newest load of it); ``also``: loads
        judged in this batch and not yet committed, newer than every load before."""
        earlier = [load for load in self.loads_by_scope.get(identity.scope, []) if load[0] < identity.period]
        judged_at = _now()
        earlier += [
            (w.load.period, judged_at, w.rows_loaded)
            for w in also
            if w.status in LOADED_STATUSES
            and w.load.scope_key == identity.scope
            and w.load.period is not None
            and w.load.period < identity.period
        ]
        return max(earlier)[2] if earlier else None


def _period_layers(pending: list[_Parsed]) -> list[int]:
    """Per file of a batch (in period order): 0 when no earlier period of its kab/kota is in the batch,
    else one more than that period's file."""
    layers: list[int] = []
    latest: dict[str | None, int] = {}  # scope -> layer of its latest file so far
    for item in pending:
        scope = item.load.scope_key
        layers.append(latest[scope] + 1 if scope in latest else 0)
        latest[scope] = layers[-1]
    return layers


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

    # ---------------------------------------------------------------- outcomes (what the batch writes)

    def failure(self, exc: Exception) -> _Write:
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
        return self.quarantine(message)

    def duplicate(self) -> _Write:
        return _Write(self, "duplicate", 0, 0, 0, store_in=self.settings.archive)

    def quarantine(
        self, message: str, *, rows_read: int = 0, outcomes: list[CheckOutcome] | None = None
    ) -> _Write:
        reason = Rejection(None, None, None, None, message, "file_quarantined", "error")
        return _Write(
            self,
            "quarantined",
            rows_read,
            0,
            rows_read,
            checks_failed=sorted({o.check for o in outcomes or [] if not o.success}),
            message=message,
            rejections=[reason],
            outcomes=list(outcomes or []),
            store_in=self.settings.quarantine,
        )

    def parsed_write(self, parsed: ParsedFile, frame: pd.DataFrame, gate: GateResult) -> _Write:
        """The file's rows minus those the gate rejected, or its quarantine when a file-level check failed."""
        outcomes = [*parsed.outcomes, *gate.outcomes]
        if gate.blocking:
            reasons = "; ".join(o.message for o in gate.blocking)
            return self.quarantine(
                f"{self.safe_name}: file ditolak pemeriksaan mutu: {reasons}",
                rows_read=parsed.rows_read,
                outcomes=outcomes,
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
        if table.num_rows + rows_rejected != parsed.rows_read:  # the invariant every report relies on
            raise AssertionError(
                f"{self.safe_name}: loaded {table.num_rows} + rejected {rows_rejected} != read {parsed.rows_read}"
            )
        failed = sorted({o.check for o in outcomes if not o.success})
        has_errors = any(r.severity == "error" for r in rejections)
        in_archive = self.path.resolve().is_relative_to((self.settings.archive / self.spec.source).resolve())
        return _Write(
            self,
            "loaded_with_warnings" if (failed or has_errors) else "loaded",
            parsed.rows_read,
            table.num_rows,
            rows_rejected,
            checks_failed=failed,
            rejections=rejections,
            outcomes=outcomes,
            raw=table,
            store_in=None if in_archive else self.settings.archive,  # a backfill's original stays put
        )

    # ---------------------------------------------------------------- files

    def move(self, target: Path) -> None:
        if self.path.resolve() == target.resolve():
            return
        if not self.path.exists():
            # a concurrent run already stored this very file (its batch is logged there): nothing is lost
            log.info("%s was already moved by a concurrent run", self.safe_name)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.path), str(target))

    def result(self, write: _Write, stored: Path) -> IngestResult:
        identity = self.identity
        return IngestResult(
            batch_id=self.batch_id,
            source=self.spec.source,
            file_name=stored.name,
            original_name=self.original_name,
            status=write.status,
            period=identity.period if identity else None,
            scope=identity.scope if identity else None,
            rows_read=write.rows_read,
            rows_loaded=write.rows_loaded,
            rows_rejected=write.rows_rejected,
            checks_failed=write.checks_failed,
            error_message=write.message,
            stored_path=str(stored),
        )


@dataclass
class _Write:
    """One file's batch as it is written: its ingest_log row with its raw rows, rejections and check
    results, all in one transaction (shared with the other files of a gate batch: :func:`_commit`)."""

    load: _Load
    status: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    checks_failed: list[str] = field(default_factory=list)
    message: str | None = None
    rejections: list[Rejection] = field(default_factory=list)
    outcomes: list[CheckOutcome] = field(default_factory=list)
    raw: pa.Table | None = None
    #: where the original goes after the commit (``archive`` or ``quarantine``); None: it stays where it is
    store_in: Path | None = None

    def stored_path(self, taken: set[Path]) -> Path:
        load = self.load
        if self.store_in is None:
            return load.path
        return _free_path(self.store_in / load.spec.source, load.safe_name, load.sha, taken)


def _write_one(conn: duckdb.DuckDBPyConnection, write: _Write, *, force: bool = False) -> IngestResult:
    return _commit(conn, [write], force=force)[0][1]


def _commit(
    conn: duckdb.DuckDBPyConnection, writes: list[_Write], *, force: bool = False
) -> list[tuple[_Load, IngestResult]]:
    """Write several files' batches in ONE transaction, then store their originals.

    Each file still commits all or nothing, and a crash before the move leaves the original in the inbox
    as a recognised duplicate; sharing the transaction saves what a commit costs per file (~12 ms, which
    was most of loading a province's ~2,000 small SPM workbooks). A file another run loaded while this
    one parsed is recorded as a duplicate. If the shared transaction fails, the files are written one by
    one, so only the file at fault is quarantined.
    """
    if not writes:
        return []
    try:
        with _transaction(conn):
            if not force:
                writes = _as_duplicates_if_loaded(conn, writes)
            taken: set[Path] = set()
            stored = [w.stored_path(taken) for w in writes]
            results = [w.load.result(w, path) for w, path in zip(writes, stored, strict=True)]
            _insert_raw(conn, writes, _now())
            _insert_rejections(conn, writes)
            _insert_checks(conn, writes)
            _insert_logs(conn, writes, results)
    except Exception as exc:
        if len(writes) == 1:
            if writes[0].status == "quarantined":
                raise  # recording the quarantine itself failed: nothing more to fall back to
            return [(writes[0].load, _write_one(conn, writes[0].load.failure(exc)))]
        log.warning("writing %d files together failed; writing them one by one", len(writes), exc_info=True)
        written = []
        for write in writes:
            try:
                written += _commit(conn, [write], force=force)
            except FileNotFoundError:
                log.info("%s was taken by a concurrent run", write.load.safe_name)
        return written
    for write, path in zip(writes, stored, strict=True):
        write.load.move(path)
        if write.status == "quarantined" and write.message:
            path.with_name(path.name + ".reason.txt").write_text(write.message + "\n", encoding="utf-8")
    return [(w.load, r) for w, r in zip(writes, results, strict=True)]


def _as_duplicates_if_loaded(conn: duckdb.DuckDBPyConnection, writes: list[_Write]) -> list[_Write]:
    """Loads whose content another run committed meanwhile become duplicates (checked in the transaction)."""
    loading = [w for w in writes if w.status in LOADED_STATUSES]
    if not loading:
        return writes
    loaded = {
        sha
        for (sha,) in conn.execute(
            """SELECT DISTINCT file_sha256 FROM ops.ingest_log
               WHERE source = ? AND list_contains(?, file_sha256) AND status IN (?, ?)""",
            [loading[0].load.spec.source, [w.load.sha for w in loading], *LOADED_STATUSES],
        ).fetchall()
    }
    return [w.load.duplicate() if w.status in LOADED_STATUSES and w.load.sha in loaded else w for w in writes]


# --------------------------------------------------------------------------- writes

#: which file of the batch a raw row came from (an index into the per-file lineage values)
_FILE_NO = "_file_no"


def _insert_raw(conn: duckdb.DuckDBPyConnection, writes: list[_Write], loaded_at: datetime) -> None:
    """The batch's rows in one INSERT, each with its own file's lineage."""
    loading = [w for w in writes if w.raw is not None and w.raw.num_rows]
    if not loading:
        return
    spec = loading[0].load.spec
    rows = pa.concat_tables(
        [
            w.raw.append_column(_FILE_NO, pa.array(np.full(w.raw.num_rows, number, dtype=np.int32)))
            for number, w in enumerate(loading)
        ],
        promote_options="permissive",  # a column all empty in one file comes as Arrow's null type
    )
    lineage = {
        "_batch_id": [w.load.batch_id for w in loading],
        "_source": [spec.source] * len(loading),
        "_file_name": [w.load.safe_name for w in loading],
        "_file_sha256": [w.load.sha for w in loading],
        "_period": [w.load.period for w in loading],
        "_scope": [w.load.scope_key for w in loading],
    }
    names = list(spec.raw_columns())
    select, params = [], []
    for name in names:
        if name == "_loaded_at":
            select.append(f"CAST(? AS {LINEAGE_COLUMNS[name]})")
            params.append(loaded_at)
        elif name in lineage:
            select.append(f"CAST((?::VARCHAR[])[{_FILE_NO} + 1] AS {LINEAGE_COLUMNS[name]})")
            params.append(lineage[name])
        else:
            select.append(f'"{name}"')
    quoted = ", ".join(f'"{n}"' for n in names)
    conn.register("batch_rows", rows)
    try:
        conn.execute(
            f"INSERT INTO {spec.raw_table} ({quoted}) SELECT {', '.join(select)} FROM batch_rows", params
        )
    finally:
        conn.unregister("batch_rows")


def _insert_rejections(conn: duckdb.DuckDBPyConnection, writes: list[_Write]) -> None:
    pairs = [(w.load, r) for w in writes for r in w.rejections]
    if not pairs:
        return
    _insert_arrow(
        conn,
        "ops.rejected_rows",
        pa.table(
            {
                "batch_id": pa.array([load.batch_id for load, _ in pairs], pa.string()),
                "source": pa.array([load.spec.source for load, _ in pairs], pa.string()),
                "file_name": pa.array([load.safe_name for load, _ in pairs], pa.string()),
                "sheet": pa.array([r.sheet for _, r in pairs], pa.string()),
                "source_row": pa.array([r.source_row for _, r in pairs], pa.int64()),
                "column_name": pa.array([r.column for _, r in pairs], pa.string()),
                "value": pa.array([r.value for _, r in pairs], pa.string()),
                "reason": pa.array([r.reason for _, r in pairs], pa.string()),
                "check_name": pa.array([r.check for _, r in pairs], pa.string()),
                "severity": pa.array([r.severity for _, r in pairs], pa.string()),
            }
        ),
    )


def _insert_checks(conn: duckdb.DuckDBPyConnection, writes: list[_Write]) -> None:
    pairs = [(w.load, o) for w in writes for o in w.outcomes]
    if not pairs:
        return
    _insert_arrow(
        conn,
        "ops.check_results",
        pa.table(
            {
                "batch_id": pa.array([load.batch_id for load, _ in pairs], pa.string()),
                "run_id": pa.array([load.run_id for load, _ in pairs], pa.string()),
                "source": pa.array([load.spec.source for load, _ in pairs], pa.string()),
                "scope_level": pa.array(["file"] * len(pairs), pa.string()),
                "check_name": pa.array([o.check for _, o in pairs], pa.string()),
                "column_name": pa.array([o.column for _, o in pairs], pa.string()),
                "severity": pa.array([o.severity for _, o in pairs], pa.string()),
                "success": pa.array([o.success for _, o in pairs], pa.bool_()),
                "unexpected_count": pa.array([o.unexpected_count for _, o in pairs], pa.int64()),
                "message": pa.array([o.message for _, o in pairs], pa.string()),
                "checked_at": pa.array([_now()] * len(pairs), pa.timestamp("us")),
            }
        ),
    )


def _insert_logs(conn: duckdb.DuckDBPyConnection, writes: list[_Write], results: list[IngestResult]) -> None:
    loads = [w.load for w in writes]
    finished = _now()
    _insert_arrow(
        conn,
        "ops.ingest_log",
        pa.table(
            {
                "batch_id": pa.array([r.batch_id for r in results], pa.string()),
                "run_id": pa.array([load.run_id for load in loads], pa.string()),
                "source": pa.array([r.source for r in results], pa.string()),
                "agency": pa.array([load.spec.agency for load in loads], pa.string()),
                "target_table": pa.array([load.spec.raw_table for load in loads], pa.string()),
                "file_name": pa.array([r.file_name for r in results], pa.string()),
                "original_name": pa.array([r.original_name for r in results], pa.string()),
                "file_sha256": pa.array([load.sha for load in loads], pa.string()),
                "file_size": pa.array([load.size for load in loads], pa.int64()),
                "period": pa.array([r.period for r in results], pa.string()),
                "scope": pa.array([r.scope for r in results], pa.string()),
                "received_at": pa.array([load.received for load in loads], pa.timestamp("us")),
                "started_at": pa.array([load.started for load in loads], pa.timestamp("us")),
                "finished_at": pa.array([finished] * len(loads), pa.timestamp("us")),
                "status": pa.array([r.status for r in results], pa.string()),
                "rows_read": pa.array([r.rows_read for r in results], pa.int64()),
                "rows_loaded": pa.array([r.rows_loaded for r in results], pa.int64()),
                "rows_rejected": pa.array([r.rows_rejected for r in results], pa.int64()),
                "checks_failed": pa.array([r.checks_failed for r in results], pa.list_(pa.string())),
                "error_message": pa.array([r.error_message for r in results], pa.string()),
                "stored_path": pa.array([r.stored_path for r in results], pa.string()),
            }
        ),
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
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return value.date().isoformat()  # a date column of the gate's frame (_gate_frame)
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
