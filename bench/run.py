"""Benchmark gudang at province scale against the parse limit and what a planner would use instead.

    python -m bench.run [--scale province|kota|smoke] [--home DIR] [--seed 42]   (make bench)

One run, on the same files: the sample set for the scale (generated once and cached under the bench home;
generation is not timed) is parsed by the baselines (fastexcel, pandas+openpyxl on a subset, DuckDB
read_csv), then goes through the whole pipeline via Airflow (``gudang.pipeline.run_all``) in a fresh data
home with every file but a few monthly files; those are then added one at a time, the pipeline running
again after each (the incremental runs; the figure is their median). The extraction, dbt and GX figures
are the work measured inside the full run (see ``bench.child``). Every figure is printed with its target
and PASS/MISS, and written as JSON to ``$GUDANG_HOME/reports/bench/<timestamp>.json`` and ``latest.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from rich.console import Console

from bench import baselines
from bench.child import journal_path, read_journal
from bench.figures import compute_figures, print_figures
from bench.samples import (
    SCALES,
    SampleSet,
    ensure_samples,
    full_run_files,
    held_back_monthly_files,
    place_file,
    stage_inbox,
)
from gudang.settings import PROJECT_ROOT, Settings

#: pandas+openpyxl parses about 10,000 rows/s: this many rows keeps it to seconds, enough for a stable rate
OPENPYXL_ROW_BUDGET = {"province": 60_000, "kota": 30_000, "smoke": 2_000}
RUN_TIMEOUT_S = {"province": 3600, "kota": 1800, "smoke": 1200}
#: incremental runs, each adding one more monthly file: consecutive runs differ by ~10% on a shared machine
INCREMENTAL_RUNS = {"province": 3, "kota": 3, "smoke": 2}
#: environment a benchmark run must not inherit: it would point the run at someone else's Airflow or config
ISOLATED_PREFIXES = ("AIRFLOW__", "AIRFLOW_HOME", "GUDANG_")
KEPT_GUDANG_VARIABLES = ("GUDANG_DBT_MODE",)


class TreeSampler(threading.Thread):
    """A process and all its descendants together, sampled every ``interval``: the peak of their summed
    resident memory, and the CPU time they used (each process's last sampled user + system time, so a
    process that lives less than an interval is missed and the figure is a lower bound)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_bytes = 0
        self._cpu_by_process: dict[tuple[int, float], float] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for process in processes:
                with contextlib.suppress(psutil.Error):  # a process that just exited
                    total += process.memory_info().rss
                    times = process.cpu_times()
                    # keyed by pid and start time: a pid the system reuses is another process
                    self._cpu_by_process[(process.pid, process.create_time())] = times.user + times.system
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop_event.wait(self.interval)

    def stop(self) -> tuple[int, float]:
        """The peak summed RSS (bytes) and the CPU seconds used."""
        self._stop_event.set()
        self.join()
        return self.peak_bytes, sum(self._cpu_by_process.values())


def child_environment(run_home: Path, samples: SampleSet) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(ISOLATED_PREFIXES) or key in KEPT_GUDANG_VARIABLES
    }
    env["GUDANG_HOME"] = str(run_home)
    env["GUDANG_REGION"] = samples.region
    # Cosmos looks for the `dbt` executable on PATH; `make bench` runs the venv's python without activating it
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_pipeline(label: str, run_home: Path, samples: SampleSet, timeout_s: float, profile: bool) -> dict:
    """One ``run_all`` in a child interpreter; its timings plus the process tree's peak memory."""
    timings_path = run_home / f"timings_{label}.json"
    log_path = run_home / f"{label}.log"
    command = [sys.executable, "-m", "bench.child", "--timings", str(timings_path)]
    if profile:
        command += ["--profile", str(run_home / f"profile_{label}.html")]
    started = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=child_environment(run_home, samples),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout stops the run and everything it started
        )
        sampler = TreeSampler(child.pid)
        sampler.start()
        try:
            exit_code = child.wait(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            stopped_at = time.time()
            # SIGKILL: Airflow's task runner handles SIGTERM itself and the run would go on
            os.killpg(child.pid, signal.SIGKILL)
            exit_code = child.wait()
            timed_out = True
        peak_tree_bytes, cpu_s = sampler.stop()
    outcome = {
        "label": label,
        "exit_code": exit_code,
        "timed_out": timed_out,
        "process_wall_s": time.perf_counter() - started,
        "peak_tree_rss_bytes": peak_tree_bytes,
        "tree_cpu_s": cpu_s,
        "log": str(log_path),
    }
    if timings_path.exists():
        outcome.update(json.loads(timings_path.read_text()))
    elif journal_path(timings_path).exists():  # killed: what it recorded until then
        outcome.update(read_journal(timings_path, stopped_at if timed_out else time.time()))
    return outcome


def set_aside_waiting_files(run_home: Path) -> dict[str, int]:
    """Move the files still in the inbox to ``not_loaded/<source>/``; returns how many per source."""
    counts: dict[str, int] = {}
    for path in sorted((run_home / "inbox").rglob("*")):
        if path.is_file():
            source = path.parent.name
            target = run_home / "not_loaded" / source
            target.mkdir(parents=True, exist_ok=True)
            path.rename(target / path.name)
            counts[source] = counts.get(source, 0) + 1
    return counts


def xlsx_paths(files: list[dict]) -> list[Path]:
    """The e-PPGBM workbooks the xlsx figures are about."""
    return sorted(f["abspath"] for f in files if f["source"] == "eppgbm" and f["format"] == "xlsx")


def measure_baselines(console: Console, files: list[dict], scale: str) -> dict:
    xlsx = xlsx_paths(files)
    csv = sorted(f["abspath"] for f in files if f["format"] == "csv")
    results = {}
    with console.status(f"fastexcel parse of {len(xlsx)} e-PPGBM xlsx files ..."):
        results["fastexcel"] = baselines.fastexcel_parse(xlsx)
    with console.status("pandas.read_excel(engine='openpyxl') on a subset ..."):
        results["openpyxl"] = baselines.openpyxl_parse(xlsx, OPENPYXL_ROW_BUDGET[scale])
    with console.status(f"DuckDB read_csv of {len(csv)} CSV files ..."):
        results["duckdb_read_csv"] = baselines.duckdb_read_csv(csv)
    return results


def peak_rss_self_and_children_bytes() -> dict:
    """getrusage maxrss (Linux: KiB) of this process and of its largest waited-for descendant."""
    return {
        "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
    }


def write_results(results: dict, reports_dir: Path) -> Path:
    reports_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.fromisoformat(results["bench"]["started_at"]).strftime("%Y%m%dT%H%M%SZ")
    body = json.dumps(results, indent=2, default=str)
    stamped = reports_dir / f"bench_{results['bench']['scale']}_{stamp}.json"
    stamped.write_text(body)
    latest = reports_dir / "latest.json"
    temporary = latest.with_suffix(".json.tmp")
    temporary.write_text(body)
    os.replace(temporary, latest)
    return stamped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=list(SCALES), default="province")
    parser.add_argument("--home", type=Path, help="bench working folder (default: $GUDANG_HOME/bench)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--profile", action="store_true", help="also write pyinstrument profiles of both runs"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds after which a pipeline run is stopped (default per scale); a stopped full run's end to "
        "end is reported as a lower bound and each incremental run adds its file to what the full run loaded",
    )
    parser.add_argument("--keep-runs", action="store_true", help="keep earlier runs' data homes")
    parser.add_argument(
        "--incremental-runs",
        type=int,
        help="incremental runs, each adding one new monthly file; the figure is their median (default per scale)",
    )
    args = parser.parse_args(argv)

    console = Console()
    settings = Settings.from_env()
    bench_home = (args.home or settings.home / "bench").resolve()
    started_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    bench_info = {
        "scale": args.scale,
        "seed": args.seed,
        "started_at": started_at.isoformat(),
        "home": str(bench_home),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_bytes": psutil.virtual_memory().total,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(),
        },
    }

    generation_started = time.perf_counter()
    with console.status(f"sample data ({args.scale}, seed {args.seed}) ..."):
        samples, generated = ensure_samples(bench_home, args.scale, args.seed)
    bench_info["samples"] = {
        "path": str(samples.root),
        "generated_now": generated,
        "generation_s": time.perf_counter() - generation_started if generated else None,
        "totals": samples.manifest["totals"],
    }
    console.print(
        f"sample set: {samples.root} ({'generated' if generated else 'cached'}, "
        f"{samples.manifest['totals']['files']} files, {samples.manifest['totals']['data_rows']:,} data rows)"
    )
    held_back = held_back_monthly_files(samples, args.incremental_runs or INCREMENTAL_RUNS[args.scale])
    bench_info["incremental_files"] = [f["path"] for f in held_back]

    files = full_run_files(samples, held_back)
    measured = {"baselines": measure_baselines(console, files, args.scale)}

    runs_dir = bench_home / "runs"
    if runs_dir.exists() and not args.keep_runs:
        shutil.rmtree(runs_dir)  # a province warehouse is gigabytes: keep only the run being made
    run_home = runs_dir / started_at.strftime("%Y%m%dT%H%M%SZ")
    staged = stage_inbox(files, run_home / "inbox")
    bench_info["run_home"] = str(run_home)
    timeout_s = args.timeout or RUN_TIMEOUT_S[args.scale]

    with console.status(f"full run through Airflow ({staged} files) ..."):
        measured["full"] = run_pipeline("full", run_home, samples, timeout_s, args.profile)
    console.print(f"full run: exit {measured['full']['exit_code']}, log {measured['full']['log']}")
    # The machine's speed drifts by up to a quarter over a bench: the parse baseline is taken again right
    # after the full run, and the xlsx ratio compares with the two together (bench.figures).
    with console.status("fastexcel parse again, after the full run ..."):
        measured["baselines"]["fastexcel_after"] = baselines.fastexcel_parse(xlsx_paths(files))
    if measured["full"]["timed_out"]:
        # The full run was stopped at the time limit: its end to end is a lower bound. The files it did not
        # reach are set aside so that the incremental run still adds exactly one file to what was loaded.
        bench_info["not_loaded_files"] = set_aside_waiting_files(run_home)
        console.print(
            f"[red]full run stopped after {timeout_s:.0f} s[/]: {sum(bench_info['not_loaded_files'].values())} "
            "files not loaded (set aside); its end to end is a lower bound"
        )
    measured["incremental_runs"] = []
    for number, new_file in enumerate(held_back, start=1):
        place_file(new_file["abspath"], run_home / "inbox" / new_file["source"])
        with console.status(
            f"incremental run {number} of {len(held_back)} (+ {Path(new_file['path']).name}) ..."
        ):
            outcome = run_pipeline(f"incremental_{number}", run_home, samples, timeout_s, args.profile)
        measured["incremental_runs"].append({**outcome, "added_file": new_file["path"]})
        console.print(f"incremental run {number}: exit {outcome['exit_code']}, log {outcome['log']}")
    measured["rusage"] = peak_rss_self_and_children_bytes()
    bench_info["machine"]["load_average_at_end"] = os.getloadavg()

    # the raw measurements first: figures can be recomputed from them (bench.figures) if anything below fails
    (run_home / "measured.json").write_text(
        json.dumps({"bench": bench_info, "measured": measured}, default=str)
    )
    figures, breakdown = compute_figures(measured)
    results = {"bench": bench_info, "figures": figures, "breakdown": breakdown, "measured": measured}
    print_figures(console, figures, title=f"gudang bench: {args.scale} (seed {args.seed})")
    for run_name, run in breakdown.items():
        if run["cpu"]:
            console.print(
                f"[dim]CPU, {run_name} run: {run['cpu']['cpu_s']:,.1f} s over {run['cpu']['wall_s']:,.1f} s "
                f"of its process ({run['cpu']['cores_busy']:.2f} of {os.cpu_count()} cores busy)[/]"
            )
    written = write_results(results, settings.reports / "bench")
    console.print(f"results: {written} (and latest.json)")
    runs_ok = all(
        run.get("exit_code") == 0 and not run.get("timed_out")
        for run in (measured["full"], *measured["incremental_runs"])
    )
    return 0 if runs_ok else 1


if __name__ == "__main__":
    sys.exit(main())
