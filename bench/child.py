"""One pipeline run through Airflow (``gudang.pipeline.run_all``), with the real work timed from inside.

    python -m bench.child --timings OUT.json [--profile OUT.html]

Run by ``bench.run`` in a fresh interpreter whose environment points ``GUDANG_HOME`` at the run's own
data home. ``run_all`` executes the DAGs in this process (``dag.test``), so wrapping the functions the
task bodies call (``gudang.pipeline.*``) and the dbt runner Cosmos invokes times exactly the work each
task does; what the run costs beyond the sum of that work is Airflow and Cosmos: DAG parsing, DAG runs,
task instances, XComs, the metadata database. The wrappers call the real functions unchanged.

Timed records (``kind``):
- ``work``: a task body's own work (ingest a chunk of files, dbt build, mart gate, publish, reports, ...). Nested
  work (dbt invoked from inside ``pipeline.dbt_build``) is counted once, as its outermost call.
- ``detail``: parts of a work record (parse, GX file gate, raw insert), for the breakdown only.
- ``orchestration``: Airflow's own steps worth naming (DAG file parsing), for the breakdown only.
- ``dag``: one DAG run end to end.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Describe = Callable[[tuple, dict, Any], dict]


class Recorder:
    """Timed records, each also appended to ``journal`` (JSON lines) the moment it is complete.

    The journal is what survives when the benchmark has to kill an overlong run: Airflow's task runner
    takes over SIGTERM, so the child cannot be asked to stop and write its summary.
    """

    def __init__(self, journal: Path) -> None:
        self.records: list[dict] = []
        self._open_work: list[int] = []  # indices of the work records currently running (outermost first)
        self._journal = journal.open("a", buffering=1)  # line-buffered: every record reaches the file

    def note(self, **event: Any) -> None:
        self._journal.write(json.dumps(event, default=str) + "\n")

    def wrap(self, owner: Any, name: str, kind: str, label: str, describe: Describe | None = None) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            record: dict[str, Any] = {"kind": kind, "label": label}
            if kind == "work" and self._open_work:
                record["kind"] = "detail"  # work inside work: count the outer call only
            if self._open_work and record["kind"] == "detail":
                record["parent"] = self._open_work[0]
            index = len(self.records)
            self.records.append(record)
            if record["kind"] == "work":
                self._open_work.append(index)
            started = time.perf_counter()
            try:
                result = original(*args, **kwargs)
            except BaseException as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"[:500]
                raise
            finally:
                record["seconds"] = time.perf_counter() - started
                if record["kind"] == "work":
                    self._open_work.pop()
                if "error" in record:
                    self.note(index=index, **record)
            if describe is not None:
                try:
                    record.update(describe(args, kwargs, result))
                except Exception as exc:  # noqa: BLE001 - a description must never break the run
                    record["describe_error"] = repr(exc)
            self.note(index=index, **record)
            return result

        setattr(owner, name, timed)


def _chunk_description(args: tuple, kwargs: dict, result: Any) -> dict:
    _settings, source, paths = args[:3]
    result = result or {}
    return {"source": source, "files": len(paths), "rows_read": result.get("rows_read") or 0}


def _file_of(load: Any) -> dict:
    return {
        "source": load.spec.source,
        "file": load.safe_name,
        "format": Path(load.safe_name).suffix.lower().lstrip("."),
    }


def _read_description(args: tuple, kwargs: dict, result: Any) -> dict:
    """One file read and parsed (or set aside: duplicate, quarantined) by ``extract.ingest._read``."""
    if hasattr(result, "parsed"):  # parsed, waiting for its gate batch
        return {**_file_of(args[0]), "status": "parsed", "rows_read": result.parsed.rows_read}
    return {**_file_of(args[0]), "status": result.status, "rows_read": result.rows_read}


def _batch_description(args: tuple, kwargs: dict, result: Any) -> dict:
    """A gate batch (``extract.ingest._gate_and_write``): the files it gated and wrote."""
    return {"files": [{**_file_of(item.load), "rows_read": item.parsed.rows_read} for item in args[0]]}


def _dbt_description(args: tuple, kwargs: dict, result: Any) -> dict:
    command = [str(a) for a in (args[1] if len(args) > 1 else kwargs.get("args", []))]
    return {"command": command[0] if command else "", "success": bool(getattr(result, "success", False))}


#: gudang.pipeline functions the DAG task bodies call: each is one task's work
PIPELINE_STEPS = (
    "ingest_chunks",
    "dbt_build",
    "mart_gate",
    "publish",
    "check_calendar",
    "build_data_docs",
    "build_reports",
    "send_alert_digest",
)
#: dbt commands that do the transform's work (``ls`` renders the Cosmos task group: orchestration)
DBT_WORK_COMMANDS = {"build", "run", "test", "seed", "snapshot"}


def instrument(recorder: Recorder) -> None:
    """Wrap the task bodies, the dbt runner, the extraction's parts and Airflow's DAG parsing."""
    from airflow.dag_processing.dagbag import DagBag
    from dbt.cli.main import dbtRunner

    import extract.ingest
    import extract.parse
    from gudang import pipeline

    recorder.wrap(pipeline, "ingest_chunk", "work", "ingest", _chunk_description)
    for step in PIPELINE_STEPS:
        recorder.wrap(pipeline, step, "work", step)
    recorder.wrap(pipeline, "_run_dag", "dag", "dag run", lambda a, k, r: {"dag_id": a[0], "state": r.state})
    recorder.wrap(dbtRunner, "invoke", "work", "dbt", _dbt_description)
    recorder.wrap(extract.parse.FileParser, "parse", "detail", "parse")
    recorder.wrap(extract.ingest, "_read", "detail", "read file", _read_description)
    recorder.wrap(extract.ingest, "_gate_and_write", "detail", "gate and write", _batch_description)
    recorder.wrap(extract.ingest, "open_workbook", "detail", "open workbook")
    recorder.wrap(extract.ingest, "validate_file_frames", "detail", "gx file gate")
    recorder.wrap(extract.ingest, "_insert_raw", "detail", "insert raw")
    recorder.wrap(DagBag, "__init__", "orchestration", "dag file parse")


def journal_path(timings: Path) -> Path:
    return timings.with_suffix(".jsonl")


def read_journal(timings: Path, stopped_at: float) -> dict:
    """The timings of a run that was killed: its journal's records, end to end up to ``stopped_at``."""
    lines = [json.loads(line) for line in journal_path(timings).read_text().splitlines() if line.strip()]
    started = next((e["wall_clock"] for e in lines if e.get("event") == "run_all started"), None)
    return {
        "e2e_s": stopped_at - started if started else None,
        "exit_code": None,
        "records": [{k: v for k, v in e.items() if k != "index"} for e in lines if "kind" in e],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timings", type=Path, required=True)
    parser.add_argument("--profile", type=Path, help="write a pyinstrument HTML profile of the run here")
    args = parser.parse_args(argv)

    from gudang.airflow_setup import ensure_airflow
    from gudang.settings import get_settings

    settings = get_settings()
    setup_started = time.perf_counter()
    ensure_airflow(settings)  # one-time metadata database set-up: an installation step, not part of a run
    setup_s = time.perf_counter() - setup_started

    from gudang.pipeline import run_all

    recorder = Recorder(journal_path(args.timings))
    instrument(recorder)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    recorder.note(event="run_all started", wall_clock=time.time())
    started = time.perf_counter()
    exit_code = None
    try:
        exit_code = run_all(settings)
    finally:
        e2e_s = time.perf_counter() - started
        if profiler is not None:
            profiler.stop()
            args.profile.write_text(profiler.output_html())
        args.timings.write_text(
            json.dumps(
                {
                    "e2e_s": e2e_s,
                    "exit_code": exit_code,
                    "airflow_setup_s": setup_s,
                    "dbt_mode": os.environ.get("GUDANG_DBT_MODE", "default"),
                    "records": recorder.records,
                },
                indent=1,
                default=str,
            )
        )
    return int(exit_code or 0)


if __name__ == "__main__":
    sys.exit(main())
