"""Orchestration: every source for every kab/kota in scope, then the province series and the manifest."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gudang.sample import dtsen, eppgbm, lkpm, population, poverty, spm
from gudang.sample.context import Context
from gudang.sample.regions import normalise_region_arg, regency

#: per kab/kota generators, in the order they run (population before SPM: targets follow population)
STEPS = [
    ("dukcapil", population.generate),
    ("spm", spm.generate),
    ("eppgbm", eppgbm.generate),
    ("dtsen", dtsen.generate),
    ("susenas", poverty.susenas),
    ("lkpm", lkpm.generate),
]
TRUTH_CSV = "sample_truth_eppgbm.csv"
#: province scale: personal values kept per kab/kota in the manifest's leak-scan list (a sample, not all)
PII_SAMPLE_PER_REGENCY = 2000


def generate(
    region: str = "33.74",
    out: Path | None = None,
    seed: int = 42,
    scale: str = "kota",
    manifest_path: Path | None = None,
    *,
    size: float = 1.0,
    workers: int | None = None,
) -> Path:
    """Write realistic, messy agency files under ``out/<source>/`` and return the manifest's path.

    ``size`` scales row volumes (1.0: ~3,000 children for Kota Semarang; ~1,000,000 e-PPGBM
    measurements for the Jawa Tengah province). The same arguments give byte-identical files.
    """
    if out is None:
        from gudang.settings import get_settings

        out = get_settings().inbox
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = Path(manifest_path) if manifest_path else out.parent / "sample_manifest.json"
    scope, codes = normalise_region_arg(region, scale)
    province = scale == "province"
    results: dict[str, dict[str, Any]] = {}
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns) as progress:
        if province:
            task = progress.add_task(f"sample {scope}: kab/kota", total=len(codes))
            with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
                futures = [pool.submit(_regency_job, out, seed, code, size, True) for code in codes]
                for future in as_completed(futures):
                    result = future.result()
                    results[result["code"]] = result
                    progress.advance(task)
        else:
            task = progress.add_task(f"sample {scope}", total=len(STEPS))
            results[codes[0]] = _regency_job(out, seed, codes[0], size, False, lambda: progress.advance(task))
        series_task = progress.add_task("BPS poverty series", total=1)
        fgt = {k: v for r in results.values() for k, v in r["fgt"].items()}
        series_entry, series_truth = poverty.write_series(out, seed, scope[:2], fgt)
        progress.advance(series_task)
    return _write_manifest(
        out, manifest_path, seed, scale, scope, size, codes, results, series_entry, series_truth
    )


def _regency_job(out: Path, seed: int, code: str, size: float, province: bool, tick=None) -> dict[str, Any]:
    ctx = Context(out=out, seed=seed, regency=regency(code), size=size, province=province)
    for _, step in STEPS:
        step(ctx)
        if tick:
            tick()
    truth_csv = out / f".{TRUTH_CSV}.{ctx.regency.digits}.part"
    frame = pd.concat(ctx.eppgbm_truth, ignore_index=True)
    frame.to_csv(truth_csv, index=False, lineterminator="\n")
    pii = ctx.pii
    if province:
        pii = {kind: sorted(set(values))[:PII_SAMPLE_PER_REGENCY] for kind, values in pii.items()}
    return {"code": code, "files": ctx.files, "truth": ctx.truth, "pii": pii, "truth_csv": str(truth_csv),
            "fgt": ctx.cache.get("fgt", {})}  # fmt: skip


def _write_manifest(
    out, manifest_path, seed, scale, scope, size, codes, results, series_entry, series_truth
) -> Path:
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    truth_csv = manifest_path.parent / TRUTH_CSV
    parts = [Path(results[c]["truth_csv"]) for c in codes]
    with truth_csv.open("w", encoding="utf-8", newline="") as sink:
        for n, part in enumerate(parts):
            lines = part.read_text(encoding="utf-8").splitlines(keepends=True)
            sink.writelines(lines if n == 0 else lines[1:])
            part.unlink()
    files = sorted([f for c in codes for f in results[c]["files"]] + [series_entry], key=lambda f: f["path"])
    for entry in files:
        entry["received_at"] = _stamp_arrival(out / entry["path"], entry["source"], entry["period"], seed)
    truth: dict[str, Any] = {}
    for code in codes:
        for source, value in results[code]["truth"].items():
            truth.setdefault(source, {})[code] = value
    truth["bps_poverty"] = series_truth
    pii: dict[str, set[str]] = {}
    for code in codes:
        for kind, values in results[code]["pii"].items():
            pii.setdefault(kind, set()).update(values)
    manifest = {
        "generator": "gudang.sample",
        "version": 1,
        "seed": seed,
        "scale": scale,
        "region": scope,
        "size": size,
        "regencies": codes,
        "out": ".",
        "out_dir": os.path.relpath(out, manifest_path.parent),
        "truth_eppgbm_csv": TRUTH_CSV,
        "conventions": {
            "row": "1-based spreadsheet row (xlsx/xls) or line number (CSV, header = line 1)",
            "rows_read": "data_rows + total_rows per file (sheet rows); for unpivoted sources (values_per_row) "
            "the raw table counts long rows: expected_loaded_values / expected_rejected_values",
            "expected_rejected": "deliberate defects; each must appear in ops.rejected_rows",
            "total_rows": "JUMLAH/TOTAL/region rows: skipped (severity skip), never loaded",
        },
        "totals": {
            "files": len(files),
            "data_rows": sum(f["data_rows"] for f in files),
            "expected_loaded": sum(f["expected_loaded"] for f in files),
            "expected_rejected": sum(len(f["expected_rejected"]) for f in files),
            "by_source": {
                source: {
                    "files": sum(1 for f in files if f["source"] == source),
                    "data_rows": sum(f["data_rows"] for f in files if f["source"] == source),
                    "expected_loaded": sum(f["expected_loaded"] for f in files if f["source"] == source),
                }
                for source in sorted({f["source"] for f in files})
            },
        },
        "files": files,
        "truth": truth,
        "pii": {kind: sorted(values) for kind, values in sorted(pii.items())},
        "pii_complete": scale != "province",
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return manifest_path


def _stamp_arrival(path: Path, source: str, period: str, seed: int) -> str:
    """Give a file the modification time an agency's upload would have had, so the submission calendar
    sees realistic arrivals: most files 1-9 days before their due date, about one in eight a few days late.
    Derived from the seed and the file name, so the same seed gives the same arrivals."""
    from expectations.calendar import due_on
    from extract.registry import get_source

    due = due_on(get_source(source), period)
    draw = int(hashlib.sha256(f"{seed}:{path.name}".encode()).hexdigest()[:8], 16)
    offset = (draw % 4) + 1 if draw % 8 == 0 else -((draw % 9) + 1)
    arrival = datetime.combine(due + timedelta(days=offset), time(9, draw % 60), tzinfo=UTC)
    arrival = min(arrival, datetime.now(UTC))  # nothing arrives in the future
    os.utime(path, (arrival.timestamp(), arrival.timestamp()))
    return arrival.strftime("%Y-%m-%dT%H:%M:%SZ")
