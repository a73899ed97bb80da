"""The benchmark's input files: generated once per (scale, seed, generator version) and cached.

Generating the Jawa Tengah set takes minutes and is not what the benchmark measures, so the files are kept
under ``<bench home>/samples/<key>/``; a rerun with the same seed and an unchanged generator reuses them.
Each run gets its own data home whose inbox holds hard links to the cached files (ingest moves files out
of the inbox; moving a link leaves the cached original in place).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from gudang.settings import PROJECT_ROOT

#: scale name -> (generator scale, region, size multiplier, GUDANG_REGION for the pipeline)
SCALES: dict[str, tuple[str, str, float, str]] = {
    "province": ("province", "33", 1.0, "33"),
    "kota": ("kota", "33.74", 1.0, "33.74"),
    # the smallest set that still exercises every source, sheet layout and defect (for `make test`)
    "smoke": ("kota", "33.74", 0.05, "33.74"),
}
COMPLETE_MARKER = ".complete"
#: the source whose monthly file stands for "one new monthly file" in the incremental run
MONTHLY_SOURCE = "eppgbm"
#: smoke runs keep this many files of each other source (Airflow's per-file cost dominates a tiny run)
SMOKE_FILES_PER_SOURCE = 2


@dataclass(frozen=True)
class SampleSet:
    scale: str
    region: str  # the deployment's GUDANG_REGION for this set
    seed: int
    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def manifest(self) -> dict:
        return json.loads((self.root / "sample_manifest.json").read_text())

    def files(self) -> list[dict]:
        """The manifest's file entries with an absolute ``abspath`` added."""
        out_dir = self.root / self.manifest.get("out_dir", "inbox")
        return [{**entry, "abspath": out_dir / entry["path"]} for entry in self.manifest["files"]]


def generator_fingerprint() -> str:
    """Changes whenever the generator's code or the source registry changes (cached files go stale)."""
    digest = hashlib.sha256()
    for folder, pattern in (
        (PROJECT_ROOT / "gudang" / "sample", "*.py"),
        (PROJECT_ROOT / "extract" / "sources", "*.yml"),
    ):
        for path in sorted(folder.glob(pattern)):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_samples(bench_home: Path, scale: str, seed: int) -> tuple[SampleSet, bool]:
    """The cached sample set for (scale, seed), generating it first if needed; returns (set, generated)."""
    from gudang.sample import generate

    generator_scale, region, size, deployment_region = SCALES[scale]
    key = f"{scale}-r{region}-seed{seed}-size{size:g}-{generator_fingerprint()}"
    root = bench_home / "samples" / key
    samples = SampleSet(scale=scale, region=deployment_region, seed=seed, root=root)
    if (root / COMPLETE_MARKER).exists():
        return samples, False
    if root.exists():  # an interrupted generation: start over rather than trust half the files
        shutil.rmtree(root)
    root.mkdir(parents=True)
    generate(
        region=region,
        out=samples.inbox,
        seed=seed,
        scale=generator_scale,
        manifest_path=root / "sample_manifest.json",
        size=size,
    )
    (root / COMPLETE_MARKER).write_text(key + "\n")
    return samples, True


def held_back_monthly_files(samples: SampleSet, count: int) -> list[dict]:
    """The files the incremental runs add, one each, in the order they are added: the latest month of
    ``count`` kab/kota's monthly source (earlier months too when the sample has fewer kab/kota).

    The latest period is what an agency sends next in real life, and xlsx files are chosen first when the
    latest month has them (xlsx is the slower path), so the figure is not flattered. Months are added oldest
    first, as agencies send them.
    """

    def xlsx_first(f: dict) -> tuple:
        return (f["format"] != "xlsx", f["path"])

    monthly = sorted((f for f in samples.files() if f["source"] == MONTHLY_SOURCE), key=xlsx_first)
    # a stable sort: within a month the files stay xlsx first
    newest_first = sorted(monthly, key=lambda f: f["period"], reverse=True)
    return sorted(newest_first[: max(count, 1)], key=lambda f: f["period"])


def full_run_files(samples: SampleSet, held_back: list[dict]) -> list[dict]:
    """The files of the full run (everything but the held-back monthly files; fewer at smoke scale)."""
    held = {f["abspath"] for f in held_back}
    files = [f for f in samples.files() if f["abspath"] not in held]
    if samples.scale != "smoke":
        return files
    kept: dict[str, int] = {}
    selected = []
    for entry in sorted(files, key=lambda f: f["path"]):
        source = entry["source"]
        if source == MONTHLY_SOURCE or kept.get(source, 0) < SMOKE_FILES_PER_SOURCE:
            kept[source] = kept.get(source, 0) + 1
            selected.append(entry)
    return selected


def stage_inbox(files: list[dict], inbox: Path) -> int:
    """Link (or copy, across filesystems) the cached input files into ``inbox/<source>/``."""
    for entry in files:
        place_file(entry["abspath"], inbox / Path(entry["path"]).parent.name)
    return len(files)


def place_file(source_path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source_path.name
    try:
        os.link(source_path, target)
    except OSError:
        shutil.copy2(source_path, target)
    return target
