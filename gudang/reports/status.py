"""``gudang status``: the last runs, what is late, and where the reports are, in one screen.

The warehouse is opened read-only and only if nobody is writing to it: DuckDB refuses a second process
while a pipeline holds the writer lock, and a status command must never wait for (or block) a run. In that
case the command falls back to the published ``marts.duckdb`` and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from gudang.settings import Settings, get_settings

RUN_STATUS_STYLE = {"published": "green", "running": "cyan", "blocked": "yellow", "failed": "red"}
SUBMISSION_LABELS = {
    "late": "terlambat",
    "missing": "belum dikirim",
    "on_time": "tepat waktu",
    "not_due": "belum jatuh tempo",
}
LATE_HEADERS = {
    "source": "sumber",
    "agency": "OPD",
    "scope": "wilayah",
    "period": "periode",
    "due_on": "batas waktu",
    "received_at": "diterima",
    "status": "status",
}
RECENT_RUNS = 5


@dataclass
class StatusReport:
    source: str  # "warehouse" | "published" | "none"
    note: str = ""
    runs: list[dict] = field(default_factory=list)
    late: list[dict] = field(default_factory=list)
    publication: dict | None = None


def _records(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cursor = conn.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _has_table(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    (count,) = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return count > 0


def _publication(conn: duckdb.DuckDBPyConnection) -> dict | None:
    """Which run published the marts and when (``_publication`` holds one row per published mart)."""
    if not _has_table(conn, "main", "_publication"):
        return None
    rows = _records(
        conn,
        "SELECT run_id, max(published_at) AS published_at, count(*) AS marts FROM main._publication "
        "GROUP BY run_id ORDER BY published_at DESC LIMIT 1",
    )
    return rows[0] if rows else None


def _last_run(conn: duckdb.DuckDBPyConnection) -> list[dict]:
    """The publisher's note of the last run (also written when the gate blocked)."""
    if not _has_table(conn, "main", "_last_run"):
        return []
    return _records(
        conn,
        "SELECT run_id, checked_at AS started_at, NULL AS finished_at, status, message FROM main._last_run",
    )


def _from_warehouse(settings: Settings) -> StatusReport:
    conn = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        report = StatusReport(source="warehouse")
        if _has_table(conn, "ops", "pipeline_runs"):
            report.runs = _records(
                conn,
                "SELECT run_id, started_at, finished_at, status, message FROM ops.pipeline_runs "
                "ORDER BY started_at DESC NULLS LAST LIMIT ?",
                [RECENT_RUNS],
            )
        if _has_table(conn, "ops", "submission_status"):
            # The calendar's latest verdict per (source, scope, period): older runs' verdicts are history.
            report.late = _records(
                conn,
                "SELECT source, agency, scope, period, due_on, received_at, status FROM ops.submission_status "
                "QUALIFY row_number() OVER (PARTITION BY source, scope, period "
                "ORDER BY checked_on DESC, run_id DESC) = 1 "
                "AND status IN ('late', 'missing') ORDER BY due_on, source",
            )
        return report
    finally:
        conn.close()


def _from_published(settings: Settings, note: str) -> StatusReport:
    report = StatusReport(source="published", note=note)
    conn = duckdb.connect(str(settings.published), read_only=True)
    try:
        report.publication = _publication(conn)
        report.runs = _last_run(conn)
        if _has_table(conn, "main", "mart_data_quality"):
            # submission_status is the calendar's verdict (on_time | late | missing | not_due).
            report.late = _records(
                conn,
                "SELECT DISTINCT source, agency, scope, period, due_on, received_at, "
                "submission_status AS status FROM main.mart_data_quality "
                "WHERE submission_status IN ('late', 'missing') ORDER BY due_on, source, period",
            )
        return report
    finally:
        conn.close()


def collect_status(settings: Settings) -> StatusReport:
    """Status from the warehouse if it can be read right now, else from the published marts."""
    if settings.warehouse.exists():
        try:
            report = _from_warehouse(settings)
        except duckdb.Error as exc:
            # Typically "Could not set lock on file": a pipeline is writing. DuckDB fails at once, no wait.
            note = f"Warehouse sedang dipakai pipeline (terkunci), status diambil dari marts.duckdb terbitan terakhir. ({type(exc).__name__})"
        else:
            if settings.published.exists():
                try:
                    with duckdb.connect(str(settings.published), read_only=True) as conn:
                        report.publication = _publication(conn)
                except duckdb.Error:
                    pass  # the published file is being swapped in right now: the next call will see it
            return report
    else:
        note = "Warehouse belum ada (pipeline belum pernah jalan)."
    if settings.published.exists():
        return _from_published(settings, note)
    return StatusReport(source="none", note=note + " Belum ada marts yang terbit.")


def _report_locations(settings: Settings) -> list[tuple[str, Path, str]]:
    reports = settings.reports
    latest = reports / "exports" / "latest.json"
    latest_detail = ""
    if latest.exists():
        try:
            index = json.loads(latest.read_text())
            latest_detail = f"periode {index.get('period')}, {reports / 'exports' / index.get('excel', '')}"
        except (ValueError, OSError):
            latest_detail = "latest.json tidak terbaca"
    return [
        ("Marts terbit (analis, read-only)", settings.published, ""),
        ("Ringkasan perencanaan (brief)", reports / "brief.html", ""),
        ("Ekspor terbaru (Excel, Parquet)", latest, latest_detail),
        ("Dokumentasi dbt (buka dari disk)", reports / "docs" / "static_index.html", ""),
        ("GX Data Docs", reports / "gx", ""),
        ("Berkas karantina", settings.quarantine, ""),
    ]


def _text(value: object) -> str:
    if value is None:
        return "-"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "hour") else value.strftime("%Y-%m-%d")
    return str(value)


def show_status(settings: Settings | None = None, console: Console | None = None) -> int:
    """Print the status screen; returns the exit code (0: nothing late and the last run published)."""
    settings = settings or get_settings()
    console = console or Console()
    report = collect_status(settings)
    console.rule(f"gudang · {settings.home}")
    if report.note:
        console.print(f"[yellow]{report.note}[/yellow]")

    if report.publication:
        publication = report.publication
        console.print(
            f"[bold]Publikasi terakhir:[/bold] run {publication['run_id']}, "
            f"{_text(publication['published_at'])}, {publication['marts']} mart"
        )

    if report.source != "none":
        runs = Table(title="Run terakhir", title_justify="left")
        for column in ("run", "mulai", "selesai", "status", "pesan"):
            runs.add_column(column)
        for run in report.runs:
            style = RUN_STATUS_STYLE.get(run["status"], "")
            runs.add_row(
                run["run_id"],
                _text(run["started_at"]),
                _text(run["finished_at"]),
                f"[{style}]{run['status']}[/{style}]" if style else _text(run["status"]),
                _text(run["message"]),
            )
        console.print(runs if report.runs else "Belum ada run tercatat.")

    if report.late:
        late = Table(title=f"Kiriman terlambat / belum dikirim ({len(report.late)})", title_justify="left")
        columns = list(report.late[0])
        for column in columns:
            late.add_column(LATE_HEADERS.get(column, column))
        for row in report.late:
            late.add_row(
                *(SUBMISSION_LABELS.get(v, v) if k == "status" else _text(v) for k, v in row.items())
            )
        console.print(late)
    elif report.source != "none":
        console.print("[green]Tidak ada kiriman yang terlambat.[/green]")

    where = Table(title="Di mana laporan berada", title_justify="left")
    for column in ("apa", "lokasi", "keterangan"):
        where.add_column(column)
    for label, path, detail in _report_locations(settings):
        where.add_row(label, str(path), detail if path.exists() else "[dim]belum ada[/dim]")
    console.print(where)

    last_run_ok = not report.runs or report.runs[0]["status"] in {"published", "running"}
    return 0 if last_run_ok and not report.late else 1
