"""What one kab/kota's generation run needs and what it hands back to the manifest."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from extract.registry import SourceSpec, get_source
from gudang.sample.layout import Sheet
from gudang.sample.regions import Regency


@dataclass
class Context:
    out: Path
    seed: int
    regency: Regency
    #: multiplier on row volumes (tests use a small one for the province smoke run)
    size: float = 1.0
    #: province scale: bigger volumes, streaming xlsx writer
    province: bool = False
    files: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, Any] = field(default_factory=dict)
    pii: dict[str, list[str]] = field(
        default_factory=lambda: {"nik": [], "no_kk": [], "names": [], "phones": []}
    )
    eppgbm_truth: list[pd.DataFrame] = field(default_factory=list)
    #: shared intermediate results between sources of one kab/kota (e.g. population for SPM targets)
    cache: dict[str, Any] = field(default_factory=dict)

    def rng(self, source: str, *extra: int) -> np.random.Generator:
        """An independent stream per (seed, kab/kota, source, ...): order of generation never matters."""
        key = [self.seed, int(self.regency.digits), zlib.crc32(source.encode()), *extra]
        return np.random.default_rng(np.random.SeedSequence(key))

    @property
    def scope(self) -> str:
        return self.regency.code

    def path(self, source: str, file_name: str) -> Path:
        return self.out / source / file_name

    def record(self, path: Path, source: str, period: str, sheets: list[Sheet], *, scope: str | None = None,
               values_per_row: int | None = None, **extra: Any) -> None:  # fmt: skip
        """Add a written file to the manifest: its data sheets' truth, aggregated.

        ``values_per_row``: for wide sources that the registry unpivots (a year or an age group per
        column), how many long raw rows each sheet row becomes.
        """
        data_sheets = [
            s.truth() | ({"sheet": None} if path.suffix == ".csv" else {}) for s in sheets if not s.ignored
        ]
        self.files.append(
            {
                "path": path.relative_to(self.out).as_posix(),
                "source": source,
                "period": period,
                "scope": scope or self.scope,
                "format": path.suffix.lstrip("."),
                "data_rows": sum(s["data_rows"] for s in data_sheets),
                "expected_loaded": sum(s["expected_loaded"] for s in data_sheets),
                "expected_rejected": [
                    {"sheet": s["sheet"], **r} for s in data_sheets for r in s["expected_rejected"]
                ],
                "total_rows": [{"sheet": s["sheet"], **t} for s in data_sheets for t in s["total_rows"]],
                "ignored_sheets": [s.name for s in sheets if s.ignored],
                "sheets": data_sheets,
                **extra,
            }
        )
        if values_per_row:
            entry = self.files[-1]
            entry["values_per_row"] = values_per_row
            entry["expected_loaded_values"] = entry["expected_loaded"] * values_per_row
            entry["expected_rejected_values"] = (
                len(entry["expected_rejected"]) + len(entry["total_rows"])
            ) * values_per_row

    def add_pii(self, kind: str, values) -> None:
        self.pii[kind].extend(str(v) for v in values)


def aliases(spec: SourceSpec, column: str) -> list[str]:
    return spec.column_map[column].aliases


def header_for(source: str, columns: list[str], variant: int) -> list[str]:
    """Header texts for canonical columns, a different alias per file (variant) where the registry has several."""
    spec = get_source(source)
    return [
        (lambda a: a[(variant + i) % len(a)] if a else column)(aliases(spec, column))
        for i, column in enumerate(columns)
    ]
