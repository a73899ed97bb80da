"""The benchmark's figures, their targets (issue 6, on 2 cores) and the breakdown behind them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from bench.child import DBT_WORK_COMMANDS

GB = 1_000_000_000


@dataclass(frozen=True)
class Target:
    text: str
    met: Callable[[float], bool]


TARGETS = {
    "xlsx_extract_vs_fastexcel": Target(">= 0.7x", lambda v: v >= 0.7),
    "xlsx_extract_vs_openpyxl": Target(">= 15x", lambda v: v >= 15),
    "csv_extract_rows_per_s": Target(">= 1,000,000 rows/s", lambda v: v >= 1_000_000),
    "e2e_s": Target("<= 180 s", lambda v: v <= 180),
    "orchestration_share": Target("< 20%", lambda v: v < 0.20),
    "incremental_share": Target("<= 15%", lambda v: v <= 0.15),
    "peak_rss_bytes": Target("<= 3 GB", lambda v: v <= 3 * GB),
}

#: every figure the benchmark emits: name -> (label, unit)
FIGURES = {
    "xlsx_extract_rows_per_s": ("xlsx extract into raw (e-PPGBM xlsx)", "rows/s"),
    "fastexcel_parse_rows_per_s": ("raw fastexcel parse, same files", "rows/s"),
    "openpyxl_parse_rows_per_s": ("pandas.read_excel(openpyxl), subset", "rows/s"),
    "xlsx_extract_vs_fastexcel": ("xlsx extract / fastexcel parse", "x"),
    "xlsx_extract_vs_openpyxl": ("xlsx extract / pandas+openpyxl", "x"),
    "csv_extract_rows_per_s": ("CSV extract into raw (all CSV files)", "rows/s"),
    "duckdb_read_csv_rows_per_s": ("DuckDB read_csv, same CSV files (reference)", "rows/s"),
    "dbt_build_s": ("dbt build", "s"),
    "gx_validation_s": ("GX file gate, all files", "s"),
    "e2e_s": ("full pipeline through Airflow, end to end", "s"),
    "work_s": ("  of which real work (sum of task bodies)", "s"),
    "orchestration_s": ("  of which orchestration (e2e - work)", "s"),
    "orchestration_share": ("orchestration share of end to end", "%"),
    "incremental_s": ("incremental run (+1 monthly file, median)", "s"),
    "incremental_share": ("incremental / full run", "%"),
    "peak_rss_bytes": ("peak RSS (pipeline process tree)", "GB"),
}


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _work_records(run: dict) -> list[dict]:
    """Top-level work of a run; ``dbt ls`` (Cosmos rendering the task group at DAG parse) is orchestration."""
    return [
        r
        for r in run.get("records", [])
        if r["kind"] == "work" and not (r["label"] == "dbt" and r.get("command") not in DBT_WORK_COMMANDS)
    ]


def file_costs(run: dict) -> list[dict]:
    """Each ingested file with its share of its ingest task's time.

    An ingest task loads a chunk of files: each file is read and parsed on its own ("read file"), then
    files are gated and written in batches ("gate and write"). A file costs its own read, plus its batch's
    time in proportion to its rows, plus the same share of what the task spent outside both (hashing,
    discovery order, the XCom summary), so the files' costs add up to the tasks' time exactly.
    """
    records = run.get("records", [])
    children: dict[int, list[dict]] = defaultdict(list)
    for record in records:
        if record["kind"] == "detail" and "parent" in record:
            children[record["parent"]].append(record)
    files: list[dict] = []
    for index, task in enumerate(records):
        if task["kind"] != "work" or task["label"] != "ingest":
            continue
        costs: dict[str, dict] = {}
        accounted = 0.0
        for part in children[index]:
            if part["label"] == "read file":
                costs[part["file"]] = {
                    k: part.get(k) for k in ("source", "file", "format", "status", "rows_read")
                }
                costs[part["file"]]["seconds"] = part["seconds"]
                accounted += part["seconds"]
        for part in children[index]:
            if part["label"] == "gate and write":
                _share_out(part["seconds"], [costs[f["file"]] for f in part["files"] if f["file"] in costs])
                accounted += part["seconds"]
        _share_out(max(task["seconds"] - accounted, 0.0), list(costs.values()))
        files.extend(costs.values())
    return files


def _share_out(seconds: float, files: list[dict]) -> None:
    rows = sum(f["rows_read"] or 0 for f in files)
    for file in files:
        file["seconds"] += seconds * ((file["rows_read"] or 0) / rows if rows else 1 / len(files))


def _ingest_rate(records: list[dict]) -> tuple[float | None, dict]:
    rows = sum(r.get("rows_read", 0) for r in records)
    seconds = sum(r["seconds"] for r in records)
    return _ratio(rows, seconds), {"files": len(records), "rows_read": rows, "seconds": round(seconds, 3)}


def _details_by_label(run: dict, parents: set[int]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for record in run.get("records", []):
        if record["kind"] == "detail" and record.get("parent") in parents:
            totals[record["label"]] += record["seconds"]
    return {label: round(seconds, 3) for label, seconds in totals.items()}


def _breakdown(run: dict) -> dict:
    """Where a run's time went: work by step, ingest by source and format, the parts of an ingest."""
    records = run.get("records", [])
    work = _work_records(run)
    by_step: dict[str, float] = defaultdict(float)
    for record in work:
        by_step[record["label"] if record["label"] != "dbt" else f"dbt {record.get('command')}"] += record[
            "seconds"
        ]
    ingest_groups: dict[str, list[dict]] = defaultdict(list)
    for file in file_costs(run):
        ingest_groups[f"{file.get('source')} {file.get('format')}"].append(file)
    work_ids = {id(r) for r in work}
    ingest_indices = {i for i, r in enumerate(records) if id(r) in work_ids and r["label"] == "ingest"}
    dags = [
        {"dag_id": r.get("dag_id"), "state": r.get("state"), "seconds": round(r["seconds"], 3)}
        for r in records
        if r["kind"] == "dag"
    ]
    parse_s = sum(r["seconds"] for r in records if r["kind"] == "orchestration")
    return {
        "work_by_step_s": {k: round(v, 3) for k, v in sorted(by_step.items(), key=lambda kv: -kv[1])},
        "ingest_by_source_format": {
            key: {**_ingest_rate(group)[1], "rows_per_s": round(_ingest_rate(group)[0] or 0)}
            for key, group in sorted(ingest_groups.items())
        },
        "ingest_parts_s": _details_by_label(run, ingest_indices),
        "dag_runs": dags,
        "dag_file_parse_s": round(parse_s, 3),
        "cpu": _cpu(run),
        "errors": [r for r in records if r.get("error")],
    }


def _cpu(run: dict) -> dict | None:
    """CPU seconds the run's process tree used over its process's wall time: how many cores it kept busy."""
    cpu_s, wall_s = run.get("tree_cpu_s"), run.get("process_wall_s")
    if not cpu_s or not wall_s:
        return None
    return {"cpu_s": round(cpu_s, 1), "wall_s": round(wall_s, 1), "cores_busy": round(cpu_s / wall_s, 2)}


def median_run(runs: list[dict]) -> dict:
    """The run with the median end to end (the lower middle one of an even number; a run without one last)."""
    ranked = sorted(runs, key=lambda r: (r.get("e2e_s") is None, r.get("e2e_s") or 0.0))
    return ranked[(len(ranked) - 1) // 2]


def compute_figures(measured: dict) -> tuple[dict, dict]:
    full = measured["full"]
    # each incremental run adds one new monthly file; the median of several says more than one noisy run
    # (a measurement from before repeats has a single "incremental" run)
    incremental_runs = measured.get("incremental_runs") or [measured["incremental"]]
    incremental = median_run(incremental_runs)
    base = measured["baselines"]
    work = _work_records(full)
    ingests = [f for f in file_costs(full) if f.get("status") != "duplicate"]
    xlsx = [r for r in ingests if r.get("source") == "eppgbm" and r.get("format") == "xlsx"]
    csv = [r for r in ingests if r.get("format") == "csv"]
    xlsx_rate, _ = _ingest_rate(xlsx)
    csv_rate, _ = _ingest_rate(csv)
    # taken before and again after the full run (a bench from before session 15 has only the first): their
    # mean stands for the machine's speed while the full run extracted
    fastexcel_rates = [base[k]["rows_per_s"] for k in ("fastexcel", "fastexcel_after") if k in base]
    fastexcel_rate = sum(fastexcel_rates) / len(fastexcel_rates)
    openpyxl_rate = base["openpyxl"]["rows_per_s"]
    dbt_s = sum(r["seconds"] for r in work if r["label"] in ("dbt", "dbt_build"))
    gx_s = sum(r["seconds"] for r in full.get("records", []) if r["label"] == "gx file gate")
    e2e_s = full.get("e2e_s")
    work_s = sum(r["seconds"] for r in work)
    orchestration_s = e2e_s - work_s if e2e_s is not None else None
    incremental_s = incremental.get("e2e_s")
    peak = max(r.get("peak_tree_rss_bytes", 0) for r in (full, *incremental_runs))

    values = {
        "xlsx_extract_rows_per_s": xlsx_rate,
        "fastexcel_parse_rows_per_s": fastexcel_rate,
        "openpyxl_parse_rows_per_s": openpyxl_rate,
        "xlsx_extract_vs_fastexcel": _ratio(xlsx_rate, fastexcel_rate),
        "xlsx_extract_vs_openpyxl": _ratio(xlsx_rate, openpyxl_rate),
        "csv_extract_rows_per_s": csv_rate,
        "duckdb_read_csv_rows_per_s": base["duckdb_read_csv"]["rows_per_s"],
        "dbt_build_s": dbt_s if any(r["label"] in ("dbt", "dbt_build") for r in work) else None,
        "gx_validation_s": gx_s,
        "e2e_s": e2e_s,
        "work_s": work_s if e2e_s is not None else None,
        "orchestration_s": orchestration_s,
        "orchestration_share": _ratio(orchestration_s, e2e_s),
        "incremental_s": incremental_s,
        "incremental_share": _ratio(incremental_s, e2e_s),
        "peak_rss_bytes": peak or None,
    }
    notes = {
        "xlsx_extract_rows_per_s": f"{len(xlsx)} files, {sum(r.get('rows_read', 0) for r in xlsx):,} rows read, "
        "each file's share of its ingest task (parse, type, GX gate, DuckDB insert, archive)",
        "fastexcel_parse_rows_per_s": "mean of before and after the full run: "
        + ", ".join(f"{rate:,.0f}" for rate in fastexcel_rates)
        if len(fastexcel_rates) > 1
        else None,
        "openpyxl_parse_rows_per_s": f"measured on {base['openpyxl']['files']} of {base['openpyxl']['subset_of_files']}"
        f" files ({base['openpyxl']['rows']:,} rows), rate extrapolated to all",
        "csv_extract_rows_per_s": f"{len(csv)} files, {sum(r.get('rows_read', 0) for r in csv):,} rows read",
        "peak_rss_bytes": "max over every run of the summed RSS of the run's process tree (psutil, 0.2 s)",
        "e2e_s": f"run_all exit code {full.get('exit_code')}"
        + (
            ", STOPPED AT THE TIME LIMIT: a lower bound; the extract, GX and orchestration figures cover "
            "the files it loaded"
            if full.get("timed_out")
            else ""
        ),
        "incremental_share": "against a lower bound of the full run (so an upper bound)"
        if full.get("timed_out")
        else None,
        "incremental_s": f"median of {len(incremental_runs)} run(s), each adding one monthly file: "
        + ", ".join(_run_summary(r) for r in incremental_runs),
    }
    figures = {}
    for name, (label, unit) in FIGURES.items():
        value = values[name]
        target = TARGETS.get(name)
        figures[name] = {
            "label": label,
            "value": value,
            "unit": unit,
            "target": target.text if target else None,
            "pass": (target.met(value) if value is not None else False) if target else None,
            "note": notes.get(name),
        }
    breakdown = {"full": _breakdown(full), "incremental": _breakdown(incremental)}
    return figures, breakdown


def _run_summary(run: dict) -> str:
    e2e = run.get("e2e_s")
    summary = f"{e2e:.1f} s" if e2e is not None else "n/a"
    if run.get("exit_code") != 0 or run.get("timed_out"):
        summary += f" (exit {run.get('exit_code')}{', TIMED OUT' if run.get('timed_out') else ''})"
    return summary


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "rows/s":
        return f"{value:,.0f} rows/s"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "%":
        return f"{value:.1%}"
    if unit == "GB":
        return f"{value / GB:.2f} GB"
    return f"{value:,.1f} {unit}"


def print_figures(console: Console, figures: dict, *, title: str) -> None:
    table = Table(title=title)
    for header in ("figure", "value", "target", ""):
        table.add_column(header)
    for figure in figures.values():
        verdict = "" if figure["pass"] is None else ("[green]PASS[/]" if figure["pass"] else "[red]MISS[/]")
        table.add_row(
            figure["label"], format_value(figure["value"], figure["unit"]), figure["target"] or "", verdict
        )
    console.print(table)
    for figure in figures.values():
        if figure.get("note"):
            console.print(f"[dim]{figure['label'].strip()}: {figure['note']}[/]")
