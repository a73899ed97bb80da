"""The steps the Airflow DAGs call, and ``gudang run`` which drives those DAGs in-process.

The DAG files in ``dags/`` stay thin: every task body is one call into this module, and every step here
is one call into the package that owns the logic (``extract``, ``expectations``, ``gudang.publish``,
``gudang.reports``, ``gudang.alerts``). Nothing here imports Airflow at module level, so the steps can be
used (and tested) without it; :func:`run_all` configures Airflow first and only then imports it.

Run ids: a DAG run started by ``gudang run`` carries ``{"gudang_run_id": ...}`` in its conf so that every
file it ingests and the gate, publish and digest of the same ``gudang run`` share one id. Runs started by
the scheduler use their own Airflow run id.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePath
from typing import Any

from gudang.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: Asset URIs: one per raw table (what the ingest DAGs produce and the transform DAG is scheduled on),
#: one per source inbox (what the file-arrival watcher reports).
RAW_ASSET_PREFIX = "duckdb://gudang/raw/"
INBOX_ASSET_PREFIX = "file://gudang/inbox/"
TRANSFORM_DAG_ID = "gudang_transform"
MARTS_ASSET_URI = "duckdb://gudang/marts"


def ingest_dag_id(source: str) -> str:
    return f"ingest_{source}"


def raw_asset_uri(target_table: str) -> str:
    return f"{RAW_ASSET_PREFIX}{target_table}"


def inbox_asset_uri(source: str) -> str:
    return f"{INBOX_ASSET_PREFIX}{source}"


def gudang_run_id(context: Mapping[str, Any]) -> str:
    """The id that ties a run's ingest log, checks, publish and digest together (see module doc)."""
    dag_run = context.get("dag_run")
    conf = (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}
    return str(conf.get("gudang_run_id") or context["run_id"])


def jsonable(value: Any) -> Any:
    """Turn a result object (dataclass, pydantic model, paths, dates) into XCom-safe JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    elif hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# --- ingest steps -------------------------------------------------------------------------------------


def files_to_ingest(settings: Settings, source: str, *, period: str | None = None) -> list[str]:
    """Files waiting in the source's inbox, or, to re-ingest a period, that period's archived originals."""
    from extract import ingest
    from extract.registry import get_source

    spec = get_source(source)
    if period:
        paths = ingest.archived_files_for_period(settings, spec.source, period)
    else:
        paths = ingest.discover(settings, spec.source)
    return [str(p) for p in paths]


def ingest_chunks(settings: Settings, source: str, *, period: str | None = None) -> list[list[str]]:
    """The files to ingest (:func:`files_to_ingest`), cut into the chunks one ingest task loads each.

    A task per file cost ~0.35 s of Airflow per file (task instance, XCom, Asset event), a third of a
    province run; a chunk of up to ``limits.ingest_task_files`` files / ``limits.ingest_task_mb`` MB keeps a
    province to a few dozen tasks while a retry still repeats little work (each file is its own
    transaction; a file already loaded has left the inbox).
    """
    from extract.ingest import limits

    cap = limits(settings)
    chunks: list[list[str]] = []
    size = 0
    for path in files_to_ingest(settings, source, period=period):
        try:
            bytes_ = Path(path).stat().st_size
        except FileNotFoundError:
            continue
        if (
            not chunks
            or len(chunks[-1]) >= cap.ingest_task_files
            or size + bytes_ > cap.ingest_task_mb * 2**20
        ):
            chunks.append([])
            size = 0
        chunks[-1].append(path)
        size += bytes_
    return chunks


def ingest_chunk(
    settings: Settings, source: str, paths: list[str], *, run_id: str, force: bool = False
) -> dict:
    """Ingest a chunk of files (each all or nothing); returns a small summary for XCom.

    Files that left the inbox before this task reached them (a concurrent run took them) are counted as
    ``taken``; when every file was taken, the caller skips (this run changed nothing).
    """
    from extract import ingest
    from extract.registry import get_source

    results = ingest.ingest_files(
        [Path(p) for p in paths], get_source(source), settings, run_id=run_id, force=force
    )
    statuses: dict[str, int] = {}
    for result in results:
        statuses[result.status] = statuses.get(result.status, 0) + 1
    return {
        "files": len(paths),
        "taken": len(paths) - len(results),
        "statuses": statuses,
        "rows_read": sum(r.rows_read for r in results),
        "rows_loaded": sum(r.rows_loaded for r in results),
        "quarantined": [r.file_name for r in results if r.status == "quarantined"],
    }


# --- transform steps ----------------------------------------------------------------------------------


def dbt_project_dir() -> Path:
    from gudang.settings import DBT_PROJECT_DIR

    return Path(os.environ.get("GUDANG_DBT_PROJECT_DIR", DBT_PROJECT_DIR))


def dbt_target_name() -> str:
    """The default target of the ``gudang`` profile in the project's own ``profiles.yml``."""
    from gudang.config import read_yaml

    profiles_file = dbt_project_dir() / "profiles.yml"
    profiles = read_yaml(profiles_file) if profiles_file.exists() else {}
    return (profiles or {}).get("gudang", {}).get("target", "dev")


def dbt_build(settings: Settings, *args: str) -> dict:
    """Run ``dbt build`` in-process and report every node (the single-task alternative to Cosmos).

    Only the models downstream of the raw tables that changed since the last successful build run (see
    :mod:`gudang.dbt_state`); a changed project, or ``GUDANG_DBT_FULL_BUILD=1``, builds everything. Extra
    ``args`` go to dbt as given; an own ``--select``/``--exclude`` among them replaces this selection.
    """
    from dbt.cli.main import dbtRunner

    from extract.registry import load_registry
    from gudang import dbt_state
    from gudang.settings import REFERENCE_DIR
    from gudang.warehouse import connect

    project = dbt_project_dir()
    own_selection = bool(_DBT_SELECTION_FLAGS & set(args))
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    inputs = dbt_state.dbt_inputs_hash(project)
    with connect(settings) as conn:
        # dbt's sources are every registry table: a source that has not delivered yet is an empty table
        specs = list(load_registry().values())
        for spec in specs:
            conn.execute(spec.raw_ddl())
        tables = sorted({spec.target_table for spec in specs})
        signatures = dbt_state.raw_signatures(conn, tables)
        selection = None if own_selection else dbt_state.build_selection(conn, inputs, signatures)
    os.environ["GUDANG_WAREHOUSE"] = str(settings.warehouse)
    os.environ.setdefault("GUDANG_REFERENCE_DIR", str(REFERENCE_DIR))
    log.info("dbt build: %s", "semua model" if selection is None else " ".join(selection))
    # A full build (a changed project, the first build) also rebuilds the incremental models from scratch.
    full_refresh = ["--full-refresh"] if selection is None and not own_selection else []
    without_unit_tests = ["--exclude-resource-type", dbt_state.EXCLUDED_RESOURCE_TYPE]
    result = dbtRunner().invoke(
        [
            "build",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--vars",
            json.dumps(dbt_state.dbt_vars(inputs)),
            *full_refresh,
            *without_unit_tests,
            *(["--select", *selection] if selection is not None else []),
            *args,
        ]
    )
    nodes = [
        {"node": r.node.unique_id, "status": str(r.status), "seconds": round(r.execution_time or 0, 3)}
        for r in (getattr(result.result, "results", None) or [])
    ]
    for node in nodes:
        log.info("%-8s %6.2fs %s", node["status"], node["seconds"], node["node"])
    if not result.success:
        failed = [n["node"] for n in nodes if n["status"] in ("error", "fail")]
        raise RuntimeError(f"dbt build gagal: {', '.join(failed) or result.exception}")
    if not own_selection:
        with connect(settings) as conn:
            dbt_state.record_build(conn, started, inputs, signatures, selection)
    return {"nodes": nodes, "selection": selection}


#: dbt flags by which a caller chooses the nodes itself
_DBT_SELECTION_FLAGS = {"-s", "--select", "--exclude", "--selector", "-m", "--models"}


def mart_gate(settings: Settings, run_id: str) -> dict:
    """The mart gate, run only after every dbt task succeeded (so no error-severity dbt node failed).

    dbt's verdict is passed explicitly rather than read from ``target/run_results.json``: Cosmos runs
    dbt in a temporary copy of the project, so that file may be a previous run's.
    """
    from expectations.mart_gate import run_mart_gate

    return jsonable(run_mart_gate(settings, run_id, failed_dbt_nodes=[]))


def publish(settings: Settings, run_id: str, gate: Mapping[str, Any] | None) -> dict:
    """Publish when the gate passed; otherwise record the block (publish keeps the previous marts)."""
    from gudang.publish import publish as publish_marts

    passed = bool(gate and gate.get("passed"))
    reasons = list((gate or {}).get("reasons") or [])
    if gate is None:
        reasons = ["dbt build atau mart gate gagal; marts lama tetap dipakai"]
    result = publish_marts(settings, run_id, gate_passed=passed, reason="; ".join(reasons) or None)
    return {"published": passed, "reasons": reasons, "result": jsonable(result)}


def check_calendar(settings: Settings, run_id: str) -> dict:
    from expectations.calendar import check_submissions

    return {"submissions": jsonable(check_submissions(settings, run_id))}


def build_data_docs(settings: Settings) -> str:
    from expectations.data_docs import build_data_docs as build

    return str(build(settings))


def build_reports(settings: Settings, run_id: str) -> dict:
    from gudang.reports import build_reports as build

    return {"reports": jsonable(build(settings, run_id))}


def send_alert_digest(settings: Settings, run_id: str) -> dict:
    """Build and deliver the run's digest. Always writes it under reports/ first.

    A deployment with no SMTP connection yet (the demo, a fresh install) keeps the digest on disk and
    warns instead of failing the run; once ``smtp_default`` exists, a delivery failure fails the task
    so that Airflow retries it and shows it.
    """
    from gudang.alerts import SMTP_CONNECTION, DigestDeliveryError, build_digest, send_digest, smtp_configured

    digest = build_digest(settings, run_id)
    try:
        return {"delivered": jsonable(send_digest(digest, settings))}
    except DigestDeliveryError as exc:
        if smtp_configured():
            raise
        log.warning("digest tidak terkirim lewat e-mail (koneksi %s belum diatur): %s", SMTP_CONNECTION, exc)
        return {"delivered": [], "undelivered": str(exc), "files": str(settings.reports)}


# --- gudang run -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class DagRunOutcome:
    dag_id: str
    run_id: str
    state: str
    seconds: float
    failed_tasks: list[str]
    log_file: Path


def sources_with_waiting_files(settings: Settings) -> list[str]:
    """Sources with files in the inbox, the most bytes first.

    In one process (``run_all``) GX is imported once, by the first ingest that gates (~5 s); a large first
    source imports it while its parse workers read the first files, a one-file source would wait for it.
    """
    from extract.ingest import discover
    from extract.registry import load_registry

    waiting = {source: discover(settings, source) for source in load_registry()}
    sizes = {source: sum(p.stat().st_size for p in paths if p.exists()) for source, paths in waiting.items()}
    return sorted((s for s, paths in waiting.items() if paths), key=lambda s: -sizes[s])


@contextlib.contextmanager
def _output_to(log_file: Path) -> Iterator[None]:
    """Send everything written to stdout/stderr (Airflow's task logs included) to ``log_file``.

    File descriptors are redirected, not just ``sys.stdout``: Airflow's log handlers hold their own
    references to the streams they were configured with.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with log_file.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


@functools.cache
def _dag_bag(dag_file: str) -> Any:
    """One parse per DAG file per ``gudang run`` (the ingest file defines a DAG for every source)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=dag_file)


def _run_dag(
    dag_id: str, conf: dict[str, Any], log_file: Path, *, freeze_loaded: bool = False
) -> DagRunOutcome:
    """Run one DAG to completion in this process (``dag.test``: no scheduler, tasks one at a time).

    ``freeze_loaded``: first move what the process holds to the collector's permanent generation (see
    :func:`fewer_gc_pauses`)."""
    from airflow.utils.state import TaskInstanceState

    from gudang.airflow_setup import serve_own_api_version_in_process
    from gudang.settings import DAGS_DIR

    # dag.test() runs one task at a time, and Cosmos's WATCHER consumers wait on a producer that would only
    # start after them; in-process runs therefore build with one dbt task (see docs/orchestration.md).
    os.environ.setdefault("GUDANG_DBT_MODE", "build")
    file_name = "gudang_transform.py" if dag_id == TRANSFORM_DAG_ID else "gudang_ingest.py"
    started = time.monotonic()
    with _output_to(log_file):
        bag = _dag_bag(str(DAGS_DIR / file_name))
        if dag_id not in bag.dags:
            raise RuntimeError(f"DAG {dag_id} not found; import errors: {bag.import_errors}")
        serve_own_api_version_in_process()
        if freeze_loaded:
            gc.freeze()
        dag_run = bag.dags[dag_id].test(run_conf=conf)
    failed = [
        ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else "")
        for ti in dag_run.get_task_instances()
        if ti.state in (TaskInstanceState.FAILED, TaskInstanceState.UPSTREAM_FAILED)
    ]
    return DagRunOutcome(
        dag_id, dag_run.run_id, str(dag_run.state), time.monotonic() - started, failed, log_file
    )


#: The cyclic garbage collector's thresholds while ``gudang run`` executes (Python's are 700, 10, 10).
#: Airflow's execution API, GX and dbt leave millions of long-lived objects in the process, and at the
#: default thresholds it rescanned all of them again and again: 3.0 s of an incremental province run
#: (11 full collections), ~0.7 s at these (no full collection). See docs/benchmark.md, sessions 12 and 16.
RUN_GC_THRESHOLDS = (50_000, 20, 10)


@contextlib.contextmanager
def fewer_gc_pauses() -> Iterator[None]:
    """Collect cyclic garbage less often for the duration of a run (whose DAG runs may freeze what is
    loaded: :func:`_run_all`); afterwards the caller's thresholds come back and what was frozen is
    collectable again, unless the caller had frozen its own heap."""
    previous = gc.get_threshold()
    callers_freeze = gc.get_freeze_count()
    gc.set_threshold(*RUN_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        if not callers_freeze:  # a caller's own freeze (e.g. before forking workers) stays as it was
            gc.unfreeze()


def run_all(settings: Settings | None = None) -> int:
    """Process everything waiting in the inbox through the DAGs, print a summary; returns the exit code.

    The exit code is non-zero only when the pipeline itself failed (a task error, dbt failing to build).
    A file the quality gate quarantines, or marts the gate refuses to publish, are outcomes reported to
    the agency and the planners, not failures of the run.
    """
    with fewer_gc_pauses():
        return _run_all(settings)


def _run_all(settings: Settings | None) -> int:
    from rich.console import Console

    from gudang.airflow_setup import ensure_airflow

    settings = settings or get_settings()
    settings.ensure_dirs()
    # A duplicate of the terminal's descriptor: stdout itself is redirected to the log during DAG runs.
    console = Console(file=open(os.dup(sys.stdout.fileno()), "w", closefd=True))  # noqa: SIM115
    with console.status("Menyiapkan Airflow (metadata SQLite, pool duckdb_writer)..."):
        ensure_airflow(settings)
    run_id = "gudang_run__" + dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    conf = {"gudang_run_id": run_id}
    log_file = settings.airflow_home / "logs" / f"{run_id}.log"
    console.print(f"log Airflow run ini: {log_file}")
    outcomes: list[DagRunOutcome] = []
    for source in sources_with_waiting_files(settings):
        with console.status(f"ingest_{source} ..."):
            outcomes.append(_run_dag(ingest_dag_id(source), conf, log_file))
        console.print(_outcome_line(outcomes[-1]))
    # What Airflow, the DAG bags, GX and Airflow's execution API have loaded by now lives to the run's end:
    # frozen, the collector stops rescanning it (a gen-1 collection of ~1M objects in the middle of dbt's
    # build). Not before the ingest DAGs: an incremental run gained nothing more from it (docs/benchmark.md,
    # session 16), and garbage alive at a freeze would wait for the run's end while registries load.
    with console.status("gudang_transform (dbt build, mart gate, publish, laporan, digest) ..."):
        outcomes.append(_run_dag(TRANSFORM_DAG_ID, conf, log_file, freeze_loaded=True))
    console.print(_outcome_line(outcomes[-1]))
    print_summary(settings, run_id, outcomes, console)
    return 0 if all(o.state == "success" for o in outcomes) else 1


def _outcome_line(outcome: DagRunOutcome) -> str:
    colour = "green" if outcome.state == "success" else "red"
    failed = f" (gagal: {', '.join(outcome.failed_tasks)})" if outcome.failed_tasks else ""
    return f"[{colour}]{outcome.dag_id}: {outcome.state}[/] in {outcome.seconds:.1f} s{failed}"


def print_summary(settings: Settings, run_id: str, outcomes: list[DagRunOutcome], console: Any) -> None:
    """Files and rows per source, marts built, the gate's verdict, and where the outputs are."""
    from rich.table import Table

    from gudang.warehouse import connect

    if not settings.warehouse.exists():
        console.print("[red]warehouse belum ada: tidak ada yang dimuat[/]")
        return
    with connect(settings, read_only=True) as conn:
        per_source = conn.execute(
            """
            SELECT source, count(*) AS files,
                   count(*) FILTER (WHERE status LIKE 'loaded%') AS loaded_files,
                   count(*) FILTER (WHERE status = 'quarantined') AS quarantined,
                   count(*) FILTER (WHERE status = 'duplicate') AS duplicates,
                   coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0)
            FROM ops.ingest_log WHERE run_id = ? GROUP BY source ORDER BY source
            """,
            [run_id],
        ).fetchall()
        marts = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
            ).fetchall()
        ]
        run_status = conn.execute(
            "SELECT status, message FROM ops.pipeline_runs WHERE run_id = ?", [run_id]
        ).fetchone()

    table = Table(title=f"gudang run {run_id}")
    for header in ("sumber", "file", "dimuat", "karantina", "duplikat", "baris dibaca", "dimuat", "ditolak"):
        table.add_column(header, justify="left" if header == "sumber" else "right")
    for row in per_source:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    console.print(f"marts dibangun ({len(marts)}): {', '.join(marts) or '-'}")
    gate = (
        f"{run_status[0]}" + (f" ({run_status[1]})" if run_status and run_status[1] else "")
        if run_status
        else "-"
    )
    console.print(f"mart gate / publish: {gate}")
    console.print(f"warehouse (pipeline): {settings.warehouse}")
    console.print(f"marts untuk analis (read-only): {settings.published}")
    console.print(f"laporan: {settings.reports}")
    for outcome in outcomes:
        if outcome.failed_tasks:
            console.print(
                f"[red]{outcome.dag_id} gagal di {', '.join(outcome.failed_tasks)}[/]: lihat {outcome.log_file}"
            )
