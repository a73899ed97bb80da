"""What a file's name tells: a safe name for the filesystem, the period it covers and its region scope."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from extract.readers import FileRejected
from extract.registry import SourceSpec
from extract.wilayah import normalise_scope

MAX_NAME_LENGTH = 120


def sanitise_file_name(name: str) -> str:
    """A name safe to create anywhere: no directories, no traversal, only [A-Za-z0-9._-]."""
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base)
    base = re.sub(r"\.{2,}", ".", base).strip("._-")
    if not base:
        base = "file"
    if len(base) > MAX_NAME_LENGTH:
        stem, dot, suffix = base.rpartition(".")
        base = (
            f"{stem[: MAX_NAME_LENGTH - len(suffix) - 1]}.{suffix}"
            if dot and len(suffix) <= 5
            else base[:MAX_NAME_LENGTH]
        )
    return base


@dataclass(frozen=True)
class FileIdentity:
    period: str
    scope: str


def expected_naming(spec: SourceSpec) -> str:
    prefix = re.sub(r"[*?\[].*$", "", spec.file_patterns[0]) or spec.source
    prefix = prefix.rstrip("_-")
    example = {"month": "2025-03", "quarter": "2025_TW1", "semester": "2025_S1", "year": "2025"}[
        spec.period.grain
    ]
    return f"{prefix}_<kode wilayah>_{example}.xlsx, mis. {prefix}_3374_{example}.xlsx"


def identify(file_name: str, spec: SourceSpec, default_scope: str) -> FileIdentity:
    """Period and scope from the file name, per the source's ``period.filename_pattern``."""
    pattern = spec.period.filename_pattern
    match = re.search(pattern, file_name, re.IGNORECASE) if pattern else None
    if match is None:
        raise FileRejected(
            f"periode tidak dikenali dari nama file; beri nama file sesuai pola {expected_naming(spec)}"
        )
    groups = {k: v for k, v in match.groupdict().items() if v}
    year = int(groups.get("year", 0))
    grain = spec.period.grain
    try:
        if not 1990 <= year <= 2100:
            raise ValueError(f"tahun {year}")
        if grain == "month":
            month = int(groups["month"])
            if not 1 <= month <= 12:
                raise ValueError(f"bulan {month}")
            period = f"{year}-{month:02d}"
        elif grain == "quarter":
            period = f"{year}-Q{int(groups['quarter'])}"
        elif grain == "semester":
            period = f"{year}-S{int(groups['semester'])}"
        else:
            period = str(year)
    except (KeyError, ValueError) as exc:
        raise FileRejected(
            f"periode di nama file tidak valid ({exc}); beri nama file sesuai pola {expected_naming(spec)}"
        ) from exc
    scope = default_scope
    if "region" in groups:
        scope = normalise_scope(groups["region"])
        if scope is None:
            raise FileRejected(
                f'kode wilayah "{groups["region"]}" di nama file tidak dikenal (daftar Kemendagri)'
            )
    return FileIdentity(period=period, scope=scope)
