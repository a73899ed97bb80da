"""The per-run alert digest: one message for the planners, one per agency contact with problems.

The digest says, in Indonesian (English on request), what arrived, what was rejected and why (with a
few example rows), which files were quarantined and how to fix them, whether the marts were published,
which submissions are late or missing, and where the Data Docs and the planning brief are.

It never carries personal data: values of personal-data columns are never shown, and every text that
reaches the digest is scrubbed of NIK-shaped numbers and pseudonymised keys, whatever wrote it.

Delivery goes through Airflow notifiers, so the same code works inside a task and from plain Python:
e-mail addresses through the SMTP provider's ``SmtpNotifier`` (connection ``smtp_default``, i.e. the
environment variable ``AIRFLOW_CONN_SMTP_DEFAULT``), any apprise URL (``tgram://``, ``slack://``,
``mailto://``, ``json://`` ...) through apprise. The digest is always written to
``$GUDANG_HOME/reports/digest-<run_id>.txt`` and ``.html`` as well.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from expectations.calendar import check_submissions
from extract.registry import SourceSpec, load_registry
from gudang.config import load_config
from gudang.settings import Settings
from gudang.warehouse import connect

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
LANGUAGES = ("id", "en")
PLANNERS = "planners"

# --------------------------------------------------------------------------------------------------
# Personal data: never in a digest
# --------------------------------------------------------------------------------------------------

#: NIK / No KK (16 digits, also as Excel's scientific notation) and HMAC keys (64 hex) of personal data.
_PERSONAL_PATTERNS = (
    re.compile(r"(?<!\d)\d{16}(?!\d)"),
    re.compile(r"(?<![\w.])\d[.,]\d+[eE]\+?1[45](?!\d)"),
    re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])"),
)


def scrub(text: str | None, language: str = "id") -> str:
    """Mask anything shaped like a personal identifier, whatever component produced the text."""
    if not text:
        return ""
    for pattern in _PERSONAL_PATTERNS:
        text = pattern.sub(_messages(language)["masked"], text)
    return text


# --------------------------------------------------------------------------------------------------
# Texts (Indonesian first; English available)
# --------------------------------------------------------------------------------------------------

_MONTHS = {
    "id": [
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}

MESSAGES: dict[str, dict[str, str]] = {
    "id": {
        "masked": "[disamarkan]",
        "subject": "[gudang] Ringkasan data run {run_id}: {summary}",
        "subject_agency": "[gudang] {agency}: hasil pemeriksaan data run {run_id}",
        "title": "Ringkasan data gudang",
        "title_agency": "Hasil pemeriksaan data untuk {agency}",
        "intro": "Run {run_id} · wilayah {region} · dibuat {created}",
        "intro_agency": (
            "Berikut hasil pemeriksaan berkas yang dikirim {agency} dan kiriman yang masih ditunggu. "
            "Mohon perbaiki lalu kirim ulang berkas dengan periode yang sama: berkas baru otomatis "
            "menggantikan yang lama."
        ),
        "summary_files": "{n} berkas",
        "summary_quarantined": "{n} dikarantina",
        "summary_rejected": "{n} baris ditolak",
        "summary_missing": "{n} kiriman belum masuk",
        "summary_late": "{n} terlambat",
        "summary_published": "mart diterbitkan",
        "summary_blocked": "mart TIDAK diterbitkan",
        "section_run": "Hasil run dan publikasi mart",
        "run_published": "Mart baru lolos semua pemeriksaan dan sudah diterbitkan untuk analis.",
        "run_blocked": (
            "Mart TIDAK diterbitkan: ada pemeriksaan yang gagal. Analis tetap melihat mart terakhir yang lolos."
        ),
        "run_failed": "Run gagal sebelum mart selesai dibangun. Analis tetap melihat mart terakhir yang lolos.",
        "run_running": "Run masih berjalan; mart belum diterbitkan.",
        "run_unknown": "Status run tidak tercatat.",
        "run_message": "Keterangan",
        "mart_checks": "Pemeriksaan mart: {passed} lolos, {failed} gagal",
        "mart_failed_checks": "Pemeriksaan mart yang gagal",
        "section_files": "Berkas yang diterima",
        "no_files": "Tidak ada berkas baru pada run ini.",
        "file": "Berkas",
        "period": "periode",
        "scope": "wilayah",
        "received": "diterima",
        "status": "Status",
        "rows": "dibaca {read} · dimuat {loaded} · ditolak {rejected}",
        "status_loaded": "dimuat",
        "status_loaded_with_warnings": "dimuat dengan peringatan",
        "status_duplicate": "duplikat (isi sama dengan berkas yang sudah diterima; diabaikan)",
        "status_quarantined": "DIKARANTINA (tidak dimuat sama sekali)",
        "error": "Kesalahan",
        "reasons": "Alasan penolakan baris",
        "reason_line": "{count} baris",
        "column": "kolom",
        "check": "pemeriksaan",
        "examples": "Contoh baris yang ditolak",
        "example_location": 'sheet "{sheet}", baris {row}',
        "value": "nilai",
        "failed_checks": "Pemeriksaan berkas yang gagal",
        "severity_error": "galat",
        "severity_warn": "peringatan",
        "how_to_fix": "Cara memperbaiki",
        "section_submissions": "Kiriman terlambat atau belum masuk",
        "no_submission_problems": "Semua kiriman yang sudah jatuh tempo telah diterima tepat waktu.",
        "missing_line": "belum diterima {n} periode: {periods}",
        "missing_detail": "terbaru {period} (jatuh tempo {due}, lewat {days} hari)",
        "late_line": "{period} diterima {received}, {days} hari setelah jatuh tempo {due}",
        "section_links": "Laporan",
        "data_docs": "Data Docs (hasil Great Expectations)",
        "brief": "Ringkasan perencanaan",
        "not_yet_built": "belum dibuat",
        "footer": (
            "Pesan ini dibuat otomatis oleh gudang. Pesan ini tidak memuat data pribadi; nilai kolom "
            "pribadi (NIK, nama, alamat, telepon) tidak pernah ditampilkan."
        ),
        "hint_default": (
            "Perbaiki sesuai pesan di atas lalu kirim ulang berkas untuk periode yang sama; berkas baru "
            "otomatis menggantikan yang lama."
        ),
        "hint_columns": (
            "Pastikan baris judul tabel memuat semua kolom wajib dengan nama seperti pada templat; jangan "
            "menghapus, menggabungkan atau mengganti nama kolom."
        ),
        "hint_null": "Isi sel kosong pada kolom wajib (lihat kolom dan baris di atas).",
        "hint_range": (
            "Periksa angka di luar rentang wajar (persen 0-100, dilayani tidak melebihi sasaran, umur, "
            "tinggi dan berat badan): biasanya salah ketik, salah satuan, atau koma/titik desimal tertukar."
        ),
        "hint_set": "Gunakan hanya nilai yang diizinkan (mis. L/P, PMA/PMDN, desil 1-10) seperti pada templat.",
        "hint_unique": "Hapus baris ganda: setiap data hanya boleh muncul sekali dalam satu berkas.",
        "hint_volume": (
            "Jumlah baris berubah tajam dibanding periode sebelumnya: pastikan berkas lengkap (semua "
            "kecamatan/puskesmas) dan memang untuk periode yang tertulis pada nama berkas."
        ),
        "hint_period": (
            "Tanggal data berada di luar periode berkas: periksa periode pada nama berkas (mis. "
            "eppgbm_3374_2025-03.xlsx) dan tanggal pada data."
        ),
        "hint_region": (
            "Kode atau nama wilayah tidak dikenali: gunakan kode Kemendagri (mis. 33.74.01.1001) atau nama "
            "kelurahan/kecamatan yang baku."
        ),
        "hint_unreadable": (
            "Berkas tidak dapat dibaca: buka di Excel lalu simpan ulang sebagai .xlsx atau .csv tanpa kata "
            "sandi, dengan tabel dimulai dari baris judul kolom."
        ),
        "hint_size": "Berkas terlalu besar atau rusak: kirim hanya tabel data, tanpa gambar atau lampiran.",
    },
    "en": {
        "masked": "[masked]",
        "subject": "[gudang] Data digest for run {run_id}: {summary}",
        "subject_agency": "[gudang] {agency}: data check results for run {run_id}",
        "title": "gudang data digest",
        "title_agency": "Data check results for {agency}",
        "intro": "Run {run_id} · region {region} · generated {created}",
        "intro_agency": (
            "Below are the check results for the files sent by {agency} and the submissions still awaited. "
            "Please fix and resend the file for the same period: the new file replaces the old one."
        ),
        "summary_files": "{n} files",
        "summary_quarantined": "{n} quarantined",
        "summary_rejected": "{n} rows rejected",
        "summary_missing": "{n} submissions missing",
        "summary_late": "{n} late",
        "summary_published": "marts published",
        "summary_blocked": "marts NOT published",
        "section_run": "Run result and mart publication",
        "run_published": "The new marts passed every check and are published for analysts.",
        "run_blocked": "Marts NOT published: a check failed. Analysts keep seeing the last marts that passed.",
        "run_failed": "The run failed before the marts were built. Analysts keep seeing the last marts that passed.",
        "run_running": "The run is still in progress; the marts are not published yet.",
        "run_unknown": "The run status was not recorded.",
        "run_message": "Details",
        "mart_checks": "Mart checks: {passed} passed, {failed} failed",
        "mart_failed_checks": "Failed mart checks",
        "section_files": "Files received",
        "no_files": "No new files in this run.",
        "file": "File",
        "period": "period",
        "scope": "region",
        "received": "received",
        "status": "Status",
        "rows": "read {read} · loaded {loaded} · rejected {rejected}",
        "status_loaded": "loaded",
        "status_loaded_with_warnings": "loaded with warnings",
        "status_duplicate": "duplicate (same content as a file already received; ignored)",
        "status_quarantined": "QUARANTINED (nothing loaded)",
        "error": "Error",
        "reasons": "Why rows were rejected",
        "reason_line": "{count} rows",
        "column": "column",
        "check": "check",
        "examples": "Example rejected rows",
        "example_location": 'sheet "{sheet}", row {row}',
        "value": "value",
        "failed_checks": "Failed file checks",
        "severity_error": "error",
        "severity_warn": "warning",
        "how_to_fix": "How to fix",
        "section_submissions": "Late or missing submissions",
        "no_submission_problems": "Every submission that is due arrived on time.",
        "missing_line": "{n} periods not received: {periods}",
        "missing_detail": "latest {period} (due {due}, {days} days overdue)",
        "late_line": "{period} received {received}, {days} days after the due date {due}",
        "section_links": "Reports",
        "data_docs": "Data Docs (Great Expectations results)",
        "brief": "Planning brief",
        "not_yet_built": "not built yet",
        "footer": (
            "This message was generated by gudang. It carries no personal data; values of personal columns "
            "(NIK, names, addresses, phone numbers) are never shown."
        ),
        "hint_default": "Fix the problem described above and resend the file for the same period; the new "
        "file replaces the old one.",
        "hint_columns": (
            "Make sure the header row has every required column, named as in the template; do not delete, "
            "merge or rename columns."
        ),
        "hint_null": "Fill in the empty cells of the required columns (see column and row above).",
        "hint_range": (
            "Check the numbers outside the plausible range (percentages 0-100, served not above target, ages, "
            "heights and weights): usually a typo, a wrong unit, or swapped decimal comma/point."
        ),
        "hint_set": "Use only the allowed values (e.g. L/P, PMA/PMDN, decile 1-10) as in the template.",
        "hint_unique": "Remove duplicated rows: each record may appear only once in a file.",
        "hint_volume": (
            "The row count changed sharply against the previous period: make sure the file is complete (all "
            "districts/health centres) and really covers the period in its name."
        ),
        "hint_period": (
            "Dates fall outside the file's period: check the period in the file name (e.g. "
            "eppgbm_3374_2025-03.xlsx) and the dates in the data."
        ),
        "hint_region": (
            "Unknown region code or name: use the Kemendagri code (e.g. 33.74.01.1001) or the standard "
            "kelurahan/kecamatan name."
        ),
        "hint_unreadable": (
            "The file could not be read: open it in Excel and save it again as .xlsx or .csv without a "
            "password, with the table starting at the header row."
        ),
        "hint_size": "The file is too large or damaged: send only the data table, without images or attachments.",
    },
}

#: Check name fragments (GX expectation types, parser rules) -> the fix hint that applies. First match wins.
_FIX_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("zip", "bomb", "size", "too_large", "compression"), "hint_size"),
    (("unreadable", "read_error", "encrypted", "password", "corrupt", "parse", "header"), "hint_unreadable"),
    (("column_to_exist", "columns_to_match", "required_column", "missing_column"), "hint_columns"),
    (("not_be_null", "null", "required"), "hint_null"),
    (("row_count", "volume"), "hint_volume"),
    (("period", "date"), "hint_period"),
    (("region", "wilayah"), "hint_region"),
    (("unique", "duplicate"), "hint_unique"),
    (("in_set", "enum", "allowed"), "hint_set"),
    (("between", "range", "less_than", "greater_than", "pair_values"), "hint_range"),
)


def fix_hint(check_name: str | None, language: str = "id") -> str:
    """An actionable hint for the agency, from the name of the check that failed."""
    name = (check_name or "").lower()
    for fragments, key in _FIX_HINTS:
        if any(fragment in name for fragment in fragments):
            return _messages(language)[key]
    return _messages(language)["hint_default"]


def _messages(language: str) -> dict[str, str]:
    return MESSAGES[language if language in MESSAGES else "id"]


def format_date(value: date | datetime | None, language: str = "id") -> str:
    if value is None:
        return "-"
    day = value.date() if isinstance(value, datetime) else value
    return f"{day.day} {_MONTHS[language if language in _MONTHS else 'id'][day.month - 1]} {day.year}"


def format_count(value: int | None, language: str = "id") -> str:
    """Thousands separated the local way: 1.234 in Indonesian, 1,234 in English."""
    text = f"{value or 0:,}"
    return text.replace(",", ".") if language == "id" else text


# --------------------------------------------------------------------------------------------------
# What the digest is made of
# --------------------------------------------------------------------------------------------------


@dataclass
class RejectionReason:
    check: str
    column: str
    reason: str  # one representative message (the text may name a row, so one stands for the group)
    count: int


@dataclass
class RejectedExample:
    sheet: str
    row: int | None
    column: str
    value: str | None  # None for personal-data columns and anything not a known plain column
    reason: str


@dataclass
class FailedCheck:
    check: str
    column: str
    severity: str
    message: str
    unexpected_count: int | None
    hint: str

    @classmethod
    def from_record(cls, record: dict, language: str, *, hint: str) -> FailedCheck:
        """One row of ``ops.check_results``, with its message scrubbed of personal data."""
        return cls(
            check=record["check_name"] or "",
            column=record["column_name"] or "",
            severity=record["severity"] or "error",
            message=scrub(record["message"], language),
            unexpected_count=record["unexpected_count"],
            hint=hint,
        )


@dataclass
class FileReport:
    batch_id: str
    source: str
    agency: str
    title: str
    file_name: str
    period: str
    scope: str
    received_at: datetime | None
    status: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    error_message: str
    reasons: list[RejectionReason] = field(default_factory=list)
    examples: list[RejectedExample] = field(default_factory=list)
    failed_checks: list[FailedCheck] = field(default_factory=list)

    @property
    def has_problems(self) -> bool:
        return (
            self.status in ("quarantined", "loaded_with_warnings")
            or self.rows_rejected > 0
            or bool(self.failed_checks)
        )


@dataclass
class MissingSubmissions:
    source: str
    agency: str
    title: str
    periods: list[dict[str, Any]]  # period, due_on, days overdue (oldest first)


@dataclass
class LateSubmission:
    source: str
    agency: str
    title: str
    period: str
    due_on: date
    received_at: datetime
    days_late: int


@dataclass
class RunReport:
    status: str | None  # published | blocked | failed | running | None (not recorded)
    message: str
    mart_checks_passed: int
    mart_failed_checks: list[FailedCheck]

    @property
    def published(self) -> bool:
        return self.status == "published"


@dataclass
class Digest:
    """One message: a subject, a plain-text and an HTML body, and who it is meant for."""

    run_id: str
    audience: str  # "planners" or an agency contact
    subject: str
    text: str
    html: str
    language: str = "id"
    #: where the message goes when send_digest is given no explicit recipients
    recipients: list[str] = field(default_factory=list)
    #: the agencies' own digests (only on the planners' digest), keyed by the registry's contact
    per_agency: dict[str, Digest] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Reading the run from the ops tables
# --------------------------------------------------------------------------------------------------


def _records(conn: duckdb.DuckDBPyConnection, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _by_batch(
    conn: duckdb.DuckDBPyConnection, sql: str, params: Iterable[Any] = ()
) -> dict[str, list[dict[str, Any]]]:
    """A query's records grouped by their ``batch_id`` column, in the query's order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in _records(conn, sql, params):
        grouped.setdefault(record.pop("batch_id"), []).append(record)
    return grouped


def _run_window_start(conn: duckdb.DuckDBPyConnection, run_id: str) -> datetime | None:
    """When the previous pipeline run ended: files seen after it belong to this run's digest.

    The ingest DAGs run per source under their own Airflow run ids, so a file may not carry the
    pipeline run's id; everything ingested since the previous run ended is this run's news.
    """
    this_run = conn.execute("SELECT started_at FROM ops.pipeline_runs WHERE run_id = ?", [run_id]).fetchone()
    started = this_run[0] if this_run and this_run[0] else None
    previous = conn.execute(
        """
        SELECT max(coalesce(finished_at, started_at)) FROM ops.pipeline_runs
        WHERE run_id <> ? AND (?::TIMESTAMP IS NULL OR started_at < ?::TIMESTAMP)
        """,
        [run_id, started, started],
    ).fetchone()
    return previous[0] if previous else None


def _shown_value(spec: SourceSpec | None, column: str | None, value: str | None) -> str | None:
    """A rejected cell's value may be shown only for a plain (non-personal) column the registry knows."""
    if spec is None or not column or value is None:
        return None
    known = spec.column_map.get(column)
    if known is None or known.pii or known.type == "nik":
        return None
    return value if len(value) <= 60 else value[:57] + "..."


def _file_reports(
    conn: duckdb.DuckDBPyConnection, run_id: str, language: str, examples_per_file: int
) -> list[FileReport]:
    registry = load_registry()
    since = _run_window_start(conn, run_id)
    files = _records(
        conn,
        """
        SELECT * FROM ops.ingest_log
        WHERE run_id = ?
           OR (?::TIMESTAMP IS NULL OR coalesce(started_at, received_at) > ?::TIMESTAMP)
        ORDER BY agency, source, file_name, started_at
        """,
        [run_id, since, since],
    )
    # Per file: rejection reasons, the first rejected rows and the failed checks. Read for the whole run
    # at once (three queries per file were ~7 s for a province's 2,000 files).
    batches = [row["batch_id"] for row in files]
    reasons_of = _by_batch(
        conn,
        """
        SELECT batch_id, check_name, column_name, min(reason) AS reason, count(*) AS n
        FROM ops.rejected_rows
        WHERE batch_id IN (SELECT unnest(?::VARCHAR[])) AND coalesce(severity, 'error') <> 'skip'
        GROUP BY ALL ORDER BY batch_id, n DESC, check_name, column_name
        """,
        [batches],
    )
    examples_of = _by_batch(
        conn,
        """
        SELECT batch_id, sheet, source_row, column_name, value, reason FROM ops.rejected_rows
        WHERE batch_id IN (SELECT unnest(?::VARCHAR[])) AND coalesce(severity, 'error') <> 'skip'
        QUALIFY row_number() OVER (PARTITION BY batch_id ORDER BY sheet, source_row, column_name) <= ?
        ORDER BY batch_id, sheet, source_row, column_name
        """,
        [batches, examples_per_file],
    )
    failed_of = _by_batch(
        conn,
        """
        SELECT batch_id, check_name, column_name, severity, message, unexpected_count FROM ops.check_results
        WHERE batch_id IN (SELECT unnest(?::VARCHAR[])) AND coalesce(scope_level, 'file') = 'file'
          AND NOT success
        ORDER BY batch_id, severity, check_name, column_name
        """,
        [batches],
    )
    reports: list[FileReport] = []
    for row in files:
        spec = registry.get(row["source"])
        batch = row["batch_id"]
        reasons = [
            RejectionReason(
                check=r["check_name"] or "",
                column=r["column_name"] or "",
                reason=scrub(r["reason"], language),
                count=r["n"],
            )
            for r in reasons_of.get(batch, [])
        ]
        examples = [
            RejectedExample(
                sheet=scrub(r["sheet"], language),
                row=r["source_row"],
                column=r["column_name"] or "",
                value=scrub(shown, language)
                if (shown := _shown_value(spec, r["column_name"], r["value"]))
                else None,
                reason=scrub(r["reason"], language),
            )
            for r in examples_of.get(batch, [])
        ]
        failed = [
            FailedCheck.from_record(c, language, hint=fix_hint(c["check_name"], language))
            for c in failed_of.get(batch, [])
        ]
        # A quarantined file may have failed before any expectation ran (unreadable, too large): its
        # recorded checks_failed still name what to fix.
        recorded = {f.check for f in failed}
        for check in row["checks_failed"] or []:
            if check not in recorded:
                failed.append(
                    FailedCheck(
                        check,
                        "",
                        "error",
                        scrub(row["error_message"], language),
                        None,
                        fix_hint(check, language),
                    )
                )
        reports.append(
            FileReport(
                batch_id=batch,
                source=row["source"],
                agency=row["agency"] or (spec.agency if spec else row["source"]),
                title=spec.title if spec else row["source"],
                file_name=scrub(row["file_name"], language),
                period=row["period"] or "-",
                scope=row["scope"] or "-",
                received_at=row["received_at"],
                status=row["status"],
                rows_read=row["rows_read"] or 0,
                rows_loaded=row["rows_loaded"] or 0,
                rows_rejected=row["rows_rejected"] or 0,
                error_message=scrub(row["error_message"], language),
                reasons=reasons,
                examples=examples,
                failed_checks=failed,
            )
        )
    # What needs action first: quarantined, then files with warnings or rejections, then clean loads.
    reports.sort(key=lambda r: (r.status != "quarantined", not r.has_problems))
    return reports


def _run_report(conn: duckdb.DuckDBPyConnection, run_id: str, language: str) -> RunReport:
    run = _records(conn, "SELECT status, message FROM ops.pipeline_runs WHERE run_id = ?", [run_id])
    checks = _records(
        conn,
        """
        SELECT check_name, column_name, severity, success, message, unexpected_count FROM ops.check_results
        WHERE run_id = ? AND scope_level = 'mart'
        ORDER BY severity, check_name
        """,
        [run_id],
    )
    return RunReport(
        status=run[0]["status"] if run else None,
        message=scrub(run[0]["message"], language) if run else "",
        mart_checks_passed=sum(1 for c in checks if c["success"]),
        mart_failed_checks=[
            FailedCheck.from_record(c, language, hint="") for c in checks if not c["success"]
        ],
    )


def _submission_problems(
    conn: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, files: list[FileReport]
) -> tuple[list[MissingSubmissions], list[LateSubmission]]:
    """Missing periods (still outstanding) and late arrivals among this run's files."""
    checked = conn.execute("SELECT count(*) FROM ops.submission_status WHERE run_id = ?", [run_id]).fetchone()
    if not checked[0]:
        # The calendar was not checked for this run yet: do it now so the digest is never silent on it.
        check_submissions(settings, run_id, conn=conn)
    rows = _records(
        conn,
        """
        SELECT source, agency, period, due_on, received_at, status, checked_on
        FROM ops.submission_status WHERE run_id = ? AND status IN ('missing', 'late')
        ORDER BY source, due_on
        """,
        [run_id],
    )
    registry = load_registry()
    arrived_now = {(f.source, f.period) for f in files}
    missing: dict[str, MissingSubmissions] = {}
    late: list[LateSubmission] = []
    for row in rows:
        spec = registry.get(row["source"])
        title = spec.title if spec else row["source"]
        if row["status"] == "missing":
            group = missing.setdefault(
                row["source"], MissingSubmissions(row["source"], row["agency"], title, [])
            )
            days = (row["checked_on"] - row["due_on"]).days if row["checked_on"] else 0
            group.periods.append({"period": row["period"], "due_on": row["due_on"], "days": days})
        elif (row["source"], row["period"]) in arrived_now:
            # Earlier late arrivals were reported by the run that received them.
            late.append(
                LateSubmission(
                    source=row["source"],
                    agency=row["agency"],
                    title=title,
                    period=row["period"],
                    due_on=row["due_on"],
                    received_at=row["received_at"],
                    days_late=(row["received_at"].date() - row["due_on"]).days,
                )
            )
    return sorted(missing.values(), key=lambda m: (m.agency, m.source)), late


def _report_links(settings: Settings) -> dict[str, str | None]:
    """Where the Data Docs and the planning brief are: a URL under GUDANG_REPORTS_URL, else a path."""
    data_docs_dir = settings.reports / "gx"
    data_docs = data_docs_dir / "index.html"
    if not data_docs.exists():
        data_docs = (
            next(iter(sorted(data_docs_dir.rglob("index.html"))), data_docs)
            if data_docs_dir.exists()
            else data_docs
        )
    brief = settings.reports / "brief.html"
    base_url = os.environ.get("GUDANG_REPORTS_URL", "").rstrip("/")

    def link(path: Path) -> str:
        if base_url:
            return f"{base_url}/{path.relative_to(settings.reports).as_posix()}"
        return str(path)

    return {
        # Agencies cannot open a path on the gudang server: they get links only when a URL is configured.
        "public": bool(base_url),
        "data_docs": link(data_docs),
        "data_docs_ready": data_docs.exists(),
        "brief": link(brief),
        "brief_ready": brief.exists(),
    }


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------


@cache
def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def _render(context: dict[str, Any]) -> tuple[str, str]:
    language = context["language"]
    env = _templates()
    env.filters["date"] = lambda value: format_date(value, language)
    env.filters["number"] = lambda value: format_count(value, language)
    text = env.get_template("digest.txt.j2").render(**context)
    html = env.get_template("digest.html.j2").render(**context)
    # Belt and braces: whatever slipped into a component's message, no identifier leaves gudang.
    return scrub(text, language), scrub(html, language)


def _summary(
    t: dict[str, str],
    files: list[FileReport],
    missing: list[MissingSubmissions],
    late: list[LateSubmission],
    run: RunReport | None,
) -> str:
    parts = [t["summary_files"].format(n=len(files))]
    if quarantined := sum(1 for f in files if f.status == "quarantined"):
        parts.append(t["summary_quarantined"].format(n=quarantined))
    if rejected := sum(f.rows_rejected for f in files):
        parts.append(t["summary_rejected"].format(n=rejected))
    if n_missing := sum(len(m.periods) for m in missing):
        parts.append(t["summary_missing"].format(n=n_missing))
    if late:
        parts.append(t["summary_late"].format(n=len(late)))
    if run is not None and run.status is not None:
        parts.append(t["summary_published"] if run.published else t["summary_blocked"])
    return ", ".join(parts)


def _digest(
    *,
    run_id: str,
    audience: str,
    agency: str | None,
    language: str,
    settings: Settings,
    files: list[FileReport],
    missing: list[MissingSubmissions],
    late: list[LateSubmission],
    run: RunReport | None,
    recipients: list[str],
) -> Digest:
    t = _messages(language)
    summary = _summary(t, files, missing, late, run)
    if agency is None:
        subject = t["subject"].format(run_id=run_id, summary=summary)
    else:
        subject = t["subject_agency"].format(agency=agency, run_id=run_id)
    context = {
        "t": t,
        "language": language,
        "run_id": run_id,
        "agency": agency,
        "region": settings.region,
        "created": format_date(datetime.now(), language) + datetime.now().strftime(" %H:%M"),
        "summary": summary,
        "files": files,
        "missing": missing,
        "late": late,
        "run": run,
        "links": _report_links(settings),
    }
    text, html = _render(context)
    return Digest(
        run_id=run_id,
        audience=audience,
        subject=scrub(subject, language),
        text=text,
        html=html,
        language=language,
        recipients=recipients,
    )


def build_digest(
    settings: Settings,
    run_id: str,
    *,
    language: str | None = None,
    conn: duckdb.DuckDBPyConnection | None = None,
) -> Digest:
    """The planners' digest of ``run_id``, with each affected agency's own digest in ``per_agency``.

    An agency gets a digest when a file of one of its sources was quarantined, loaded with warnings or
    had rows rejected, or when one of its submissions is missing or arrived late.
    """
    if conn is None:
        with connect(settings) as own_conn:
            return build_digest(settings, run_id, language=language, conn=own_conn)
    config = load_config()
    language = language or config.alerts.language
    if language not in LANGUAGES:
        raise ValueError(f"unsupported digest language '{language}'; choose one of {LANGUAGES}")
    files = _file_reports(conn, run_id, language, config.quality.digest_examples_per_file)
    run = _run_report(conn, run_id, language)
    missing, late = _submission_problems(conn, settings, run_id, files)

    digest = _digest(
        run_id=run_id,
        audience=PLANNERS,
        agency=None,
        language=language,
        settings=settings,
        files=files,
        missing=missing,
        late=late,
        run=run,
        recipients=list(config.alerts.planners),
    )

    registry = load_registry()
    sources_by_contact: dict[str, list[SourceSpec]] = {}
    for spec in registry.values():
        if spec.contact:
            sources_by_contact.setdefault(spec.contact, []).append(spec)
    for contact, specs in sources_by_contact.items():
        names = {s.source for s in specs}
        agency_files = [f for f in files if f.source in names]
        agency_missing = [m for m in missing if m.source in names]
        agency_late = [item for item in late if item.source in names]
        if not (any(f.has_problems for f in agency_files) or agency_missing or agency_late):
            continue
        digest.per_agency[contact] = _digest(
            run_id=run_id,
            audience=contact,
            agency=" / ".join(sorted({s.agency for s in specs})),
            language=language,
            settings=settings,
            files=agency_files,
            missing=agency_missing,
            late=agency_late,
            run=None,  # the mart gate is the planners' business
            recipients=[contact],
        )
    return digest


# --------------------------------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s/:]+@[^@\s/:]+$")


class DigestDeliveryError(RuntimeError):
    """Some destinations did not accept the digest (the digest files were written regardless)."""


def _is_true(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _redact(destination: str) -> str:
    """Apprise URLs carry tokens (a Telegram bot token, a Slack webhook): log the scheme only."""
    return destination.split("://", 1)[0] + "://..." if "://" in destination else destination


def _file_stem(run_id: str, audience: str) -> str:
    stem = f"digest-{run_id}" if audience == PLANNERS else f"digest-{run_id}-{audience}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)


def write_digest_files(digest: Digest, settings: Settings) -> tuple[Path, Path]:
    """Write ``digest-<run_id>[-<contact>].txt`` and ``.html`` under ``$GUDANG_HOME/reports``."""
    settings.reports.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(digest.run_id, digest.audience)
    text_path, html_path = settings.reports / f"{stem}.txt", settings.reports / f"{stem}.html"
    text_path.write_text(f"{digest.subject}\n\n{digest.text}", encoding="utf-8")
    html_path.write_text(digest.html, encoding="utf-8")
    return text_path, html_path


#: the Airflow connection e-mail digests go through
SMTP_CONNECTION = "smtp_default"


def smtp_configured() -> bool:
    """Whether Airflow knows the SMTP connection (environment, secrets backend or metadata database)."""
    from airflow.sdk import Connection

    try:
        Connection.get(SMTP_CONNECTION)
    except Exception:  # not found (the SDK raises its own NotFound type per version)
        return False
    return True


def _smtp_notifier(to: list[str], digest: Digest, sender: str):
    """Airflow's SmtpNotifier, with a transport that follows the connection URI when it says nothing.

    The SMTP hook defaults to implicit TLS unless the connection's extras say ``disable_ssl``, so a bare
    ``AIRFLOW_CONN_SMTP_DEFAULT=smtp://127.0.0.1:2525`` would fail its handshake against a plain relay.
    When the extras are silent we follow the usual port conventions instead: implicit TLS on 465,
    otherwise STARTTLS whenever the server offers it, else plain. Explicit extras always win, and so
    does a ``from_email`` set on the connection.
    """
    from airflow.providers.smtp.hooks.smtp import SmtpHook
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    class DigestSmtpHook(SmtpHook):
        @property
        def use_ssl(self) -> bool:
            explicit = self.conn.extra_dejson.get("disable_ssl")
            return not _is_true(explicit) if explicit is not None else self.port == 465

        @property
        def smtp_starttls(self) -> bool:
            explicit = self.conn.extra_dejson.get("disable_tls")
            if explicit is not None:
                return not _is_true(explicit)
            client = self._smtp_client
            if self.use_ssl or not isinstance(client, smtplib.SMTP):
                return False
            client.ehlo_or_helo_if_needed()
            return client.has_extn("starttls")

        @property
        def from_email(self) -> str | None:
            return self.conn.extra_dejson.get("from_email") or sender

    class DigestSmtpNotifier(SmtpNotifier):
        @cached_property
        def hook(self) -> SmtpHook:
            return DigestSmtpHook(smtp_conn_id=self.smtp_conn_id, auth_type=self.auth_type)

    # from_email stays None so the connection's own sender (or ours) is used; html is final, not a template
    return DigestSmtpNotifier(to=to, subject=digest.subject, html_content=digest.html, mime_charset="utf-8")


def _apprise_notifier(url: str, digest: Digest):
    """An Airflow notifier for one apprise URL: chat channels get the plain text, e-mail the HTML."""
    import apprise
    from airflow.providers.common.compat.notifier import BaseNotifier

    class AppriseDigestNotifier(BaseNotifier):
        # The digest is final text: never run agency-supplied strings through Jinja.
        template_fields = ()

        def notify(self, context: Any) -> None:
            channel = apprise.Apprise()
            if not channel.add(url):
                raise DigestDeliveryError(f"{_redact(url)}: not a valid apprise URL")
            is_mail = url.lower().startswith(("mailto://", "mailtos://"))
            sent = channel.notify(
                title=digest.subject,
                body=digest.html if is_mail else digest.text,
                body_format=apprise.NotifyFormat.HTML if is_mail else apprise.NotifyFormat.TEXT,
            )
            if not sent:
                raise DigestDeliveryError(f"{_redact(url)}: apprise did not deliver the digest")

    return AppriseDigestNotifier()


def _deliver(digest: Digest, settings: Settings, destinations: list[str]) -> list[str]:
    config = load_config()
    emails = [d for d in destinations if _EMAIL.match(d)]
    urls = [d for d in destinations if "://" in d]
    unknown = [d for d in destinations if d not in emails and d not in urls]
    if unknown:
        log.warning(
            "digest %s: ignoring destinations that are neither e-mail nor apprise URL: %s",
            digest.subject,
            unknown,
        )
    delivered: list[str] = []
    errors: list[str] = []
    if emails:
        # Airflow reads its configuration on first import: keep it under the data home, not ~/airflow.
        os.environ.setdefault("AIRFLOW_HOME", str(settings.airflow_home))
        if not smtp_configured():
            # a deployment without mail yet (the demo, a fresh install): nothing to try, no traceback
            errors.append(f"SMTP ({', '.join(emails)}): koneksi {SMTP_CONNECTION} belum diatur")
        else:
            try:
                _smtp_notifier(emails, digest, config.alerts.sender).notify({})
                delivered.extend(emails)
            except Exception as exc:  # one broken channel must not silence the others
                log.exception("digest e-mail to %s failed", emails)
                errors.append(f"SMTP ({', '.join(emails)}): {exc}")
    for url in urls:
        try:
            _apprise_notifier(url, digest).notify({})
            delivered.append(url)
        except Exception as exc:
            log.exception("digest to %s failed", _redact(url))
            errors.append(f"{_redact(url)}: {exc}")
    if errors:
        raise DigestDeliveryError("; ".join(errors))
    return delivered


def send_digest(digest: Digest, settings: Settings, *, recipients: list[str] | None = None) -> list[str]:
    """Deliver a digest and write it under ``$GUDANG_HOME/reports``; returns the destinations reached.

    Without ``recipients``, the digest goes to its own ``recipients`` (for the planners' digest: the
    configured planners), and, when ``alerts.notify_agencies`` is on, every agency digest goes to its
    contact. E-mail addresses go through Airflow's SMTP notifier (connection ``smtp_default``), other
    destinations are apprise URLs. The files are written whatever happens, so an unconfigured
    deployment still has the digest on disk. Raises :class:`DigestDeliveryError` after trying every
    destination if any of them failed.
    """
    text_path, _ = write_digest_files(digest, settings)
    destinations = list(dict.fromkeys(recipients if recipients is not None else digest.recipients))
    if not destinations:
        log.warning(
            "no alert recipients configured for %s (set GUDANG_ALERT_PLANNERS); the digest is in %s",
            digest.audience,
            text_path,
        )
    delivered: list[str] = []
    errors: list[str] = []
    try:
        delivered.extend(_deliver(digest, settings, destinations))
    except DigestDeliveryError as exc:
        errors.append(str(exc))
    if recipients is None and load_config().alerts.notify_agencies:
        for agency_digest in digest.per_agency.values():
            try:
                delivered.extend(send_digest(agency_digest, settings))
            except DigestDeliveryError as exc:
                errors.append(str(exc))
    if errors:
        raise DigestDeliveryError("; ".join(errors))
    return delivered


def send_run_digest(settings: Settings, run_id: str, *, language: str | None = None) -> list[str]:
    """What a pipeline step calls at the end of a run: check the calendar, build and send the digest."""
    with connect(settings) as conn:
        check_submissions(settings, run_id, conn=conn)
        digest = build_digest(settings, run_id, language=language, conn=conn)
    return send_digest(digest, settings)
