"""What analysts and planners open: exports, the planning brief and the dbt docs site.

:func:`build_reports` is the one call the pipeline makes after a successful publish. It reads only the
published ``marts.duckdb`` (plus the dbt catalog for the docs), so a slow report never holds the
warehouse's writer lock.
"""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from gudang.reports.brief import render_brief
from gudang.reports.docs import publish_dbt_docs
from gudang.reports.exports import export_marts, write_latest_pointer
from gudang.reports.marts import latest_period, safe_period
from gudang.settings import DBT_PROJECT_DIR, Settings

log = logging.getLogger(__name__)

__all__ = ["ReportPaths", "build_reports", "publish_dbt_docs", "render_brief"]


@dataclass(frozen=True)
class ReportPaths:
    period: str
    exports_dir: Path  # $GUDANG_HOME/reports/exports/<period>/
    excel: Path
    parquet: dict[str, Path]
    latest: Path  # $GUDANG_HOME/reports/exports/latest.json
    brief: Path  # $GUDANG_HOME/reports/brief.html (a copy also sits in exports_dir)
    docs: Path | None  # $GUDANG_HOME/reports/docs/ (None when dbt docs could not be generated)
    problems: list[str] = field(default_factory=list)  # non-fatal: e.g. why the docs are missing


def exports_dir(settings: Settings, period: str) -> Path:
    return settings.reports / "exports" / safe_period(period)


def build_reports(
    settings: Settings, run_id: str, *, with_docs: bool = True, project_dir: Path = DBT_PROJECT_DIR
) -> ReportPaths:
    """Exports (Parquet + Excel), the brief and the dbt docs for the marts just published.

    Exports and the brief are required (an exception propagates); the dbt docs site is best effort,
    because it re-reads the warehouse through dbt and must not cost planners their brief.
    """
    with duckdb.connect(str(settings.published), read_only=True) as conn:
        period = latest_period(conn, run_date=dt.date.today())
    folder = exports_dir(settings, period)
    # The exports spend most of their time in DuckDB and zlib, which release the GIL: the brief (Python,
    # plotly) is rendered beside them instead of after them.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="brief") as pool:
        brief_done = pool.submit(render_brief, settings, run_id, project_dir=project_dir)
        exported = export_marts(
            settings.published, folder, period=period, run_id=run_id, project_dir=project_dir
        )
        brief = brief_done.result()
    latest = write_latest_pointer(settings.reports / "exports", exported, period=period, run_id=run_id)

    problems: list[str] = []
    docs: Path | None = None
    if with_docs:
        try:
            docs = publish_dbt_docs(settings, project_dir=project_dir)
        except Exception as exc:  # noqa: BLE001 - any dbt failure only costs the docs site
            log.warning("dbt docs tidak dapat dibuat: %s", exc)
            problems.append(f"dbt docs tidak dapat dibuat: {exc}")
    return ReportPaths(
        period=period,
        exports_dir=folder,
        excel=exported.excel,
        parquet=exported.parquet,
        latest=latest,
        brief=brief,
        docs=docs,
        problems=problems,
    )
