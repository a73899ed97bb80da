"""Submission calendar: which agency files are due, on time, late or still missing.

Each source declares in the registry how often it reports (``cadence.every``) and by which day of the
month after the period ends the file is due (``cadence.due_day``): e-PPGBM monthly by the 10th, SPM
quarterly by the 20th, LKPM by the 10th after the quarter. Every run compares that calendar with what
actually arrived (``ops.ingest_log``) for the deployment's region and writes one row per source and
period into ``ops.submission_status``; the alert digest and ``mart_data_quality`` read it from there.

A file counts as received when it was loaded (``loaded`` or ``loaded_with_warnings``): a quarantined or
duplicate file does not fulfil the obligation. The arrival time is the file's ``received_at`` (its
modification time in the inbox), which is what the agency controls, not when the pipeline ran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import duckdb

from extract.registry import Cadence, SourceSpec, load_registry
from gudang.settings import Settings
from gudang.warehouse import connect

Grain = Literal["month", "quarter", "semester", "year"]
Status = Literal["on_time", "late", "missing", "not_due"]

#: How many months one period of each grain spans.
MONTHS_PER_PERIOD: dict[str, int] = {"month": 1, "quarter": 3, "semester": 6, "year": 12}

#: Period strings as the architecture fixes them: 2025-03, 2025-Q1, 2025-S1, 2025.
_PERIOD_PATTERNS: dict[str, re.Pattern[str]] = {
    "month": re.compile(r"^(?P<year>\d{4})-(?P<index>0[1-9]|1[0-2])$"),
    "quarter": re.compile(r"^(?P<year>\d{4})-Q(?P<index>[1-4])$"),
    "semester": re.compile(r"^(?P<year>\d{4})-S(?P<index>[12])$"),
    "year": re.compile(r"^(?P<year>\d{4})$"),
}

#: ingest_log statuses that mean the agency's obligation for the period is fulfilled.
RECEIVED_STATUSES = ("loaded", "loaded_with_warnings")

DEFAULT_LOOKBACK_MONTHS = 12


@dataclass(frozen=True, order=True)
class Period:
    """One reporting period; ``index`` is the month, quarter or semester number (1 for a year)."""

    grain: Grain
    year: int
    index: int = 1

    @classmethod
    def parse(cls, grain: Grain, text: str) -> Period:
        match = _PERIOD_PATTERNS[grain].match(text.strip())
        if not match:
            raise ValueError(f"'{text}' is not a {grain} period (expected e.g. {cls(grain, 2025)})")
        index = int(match.group("index")) if grain != "year" else 1
        return cls(grain, int(match.group("year")), index)

    @classmethod
    def containing(cls, grain: Grain, day: date) -> Period:
        return cls(grain, day.year, (day.month - 1) // MONTHS_PER_PERIOD[grain] + 1)

    def __str__(self) -> str:
        match self.grain:
            case "month":
                return f"{self.year}-{self.index:02d}"
            case "quarter":
                return f"{self.year}-Q{self.index}"
            case "semester":
                return f"{self.year}-S{self.index}"
            case _:
                return str(self.year)

    @property
    def last_month(self) -> int:
        return self.index * MONTHS_PER_PERIOD[self.grain]

    @property
    def end(self) -> date:
        """Last day of the period."""
        next_year, next_month = _month_after(self.year, self.last_month)
        return date.fromordinal(date(next_year, next_month, 1).toordinal() - 1)

    def previous(self) -> Period:
        if self.index > 1:
            return Period(self.grain, self.year, self.index - 1)
        return Period(self.grain, self.year - 1, 12 // MONTHS_PER_PERIOD[self.grain])


@dataclass(frozen=True)
class SubmissionStatus:
    """One source's obligation for one period, as seen on ``checked_on`` (a row of ops.submission_status)."""

    source: str
    agency: str
    scope: str
    period: str
    due_on: date
    received_at: datetime | None
    status: Status
    checked_on: date

    @property
    def days_late(self) -> int:
        """Days past the due date: until arrival for a late file, until today for a missing one."""
        if self.status == "late" and self.received_at is not None:
            return (self.received_at.date() - self.due_on).days
        if self.status == "missing":
            return (self.checked_on - self.due_on).days
        return 0


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (clamped to 28 so every month has it: only a window edge)."""
    total = day.year * 12 + (day.month - 1) - months
    return date(total // 12, total % 12 + 1, min(day.day, 28))


def due_on(spec: SourceSpec | Cadence, period: str | Period) -> date:
    """The date a source's file for ``period`` is due: ``due_day`` of the month after the period ends.

    >>> from extract.registry import Cadence
    >>> due_on(Cadence(every="month", due_day=10), "2025-03")
    datetime.date(2025, 4, 10)
    >>> due_on(Cadence(every="quarter", due_day=20), "2025-Q4")
    datetime.date(2026, 1, 20)
    """
    cadence = spec.cadence if isinstance(spec, SourceSpec) else spec
    if isinstance(period, str):
        period = Period.parse(cadence.every, period)
    year, month = _month_after(period.year, period.last_month)
    return date(year, month, cadence.due_day)


def expected_scope(spec: SourceSpec, region: str) -> str:
    """The scope one submission of ``spec`` covers for a deployment planning for ``region``."""
    if spec.cadence.covers == "province":
        return region.split(".")[0]
    return region


def _covers(file_scope: str | None, expected: str) -> bool:
    """A file covers the expected scope when it is that region or one that contains it.

    Kemendagri codes are hierarchical, so containment is a prefix test on the digits; comparing digits
    also accepts a scope written without dots.
    """
    if not file_scope:
        return False
    file_digits, expected_digits = file_scope.replace(".", ""), expected.replace(".", "")
    return len(file_digits) >= 2 and expected_digits.startswith(file_digits)


def _first_arrivals(conn: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], list[tuple[str, datetime]]]:
    """(source, period) -> [(scope, first arrival)] of every loaded file."""
    rows = conn.execute(
        f"""
        SELECT source, period, scope, min(coalesce(received_at, started_at)) AS first_received
        FROM ops.ingest_log
        WHERE status IN {RECEIVED_STATUSES} AND period IS NOT NULL
        GROUP BY ALL
        """
    ).fetchall()
    arrivals: dict[tuple[str, str], list[tuple[str, datetime]]] = {}
    for source, period, scope, first_received in rows:
        arrivals.setdefault((source, period), []).append((scope, first_received))
    return arrivals


def _classify(due: date, received_at: datetime | None, today: date) -> Status:
    if received_at is not None:
        return "on_time" if received_at.date() <= due else "late"
    # The due day itself still belongs to the agency.
    return "missing" if today > due else "not_due"


def statuses_for_source(
    spec: SourceSpec,
    region: str,
    arrivals: dict[tuple[str, str], list[tuple[str, datetime]]],
    today: date,
    lookback_months: int = DEFAULT_LOOKBACK_MONTHS,
) -> list[SubmissionStatus]:
    """Every period of ``spec`` that has ended and whose due date falls inside the lookback window.

    Periods that ended but are not due yet are included as ``not_due`` (or ``on_time`` if the file is
    already in), so the digest can say what is coming up.
    """
    scope = expected_scope(spec, region)
    window_start = _months_before(today, lookback_months)
    statuses: list[SubmissionStatus] = []
    period = Period.containing(spec.cadence.every, today)
    while (due := due_on(spec, period)) > window_start:
        if period.end < today:
            received = [at for s, at in arrivals.get((spec.source, str(period)), []) if _covers(s, scope)]
            received_at = min(received, default=None)
            statuses.append(
                SubmissionStatus(
                    source=spec.source,
                    agency=spec.agency,
                    scope=scope,
                    period=str(period),
                    due_on=due,
                    received_at=received_at,
                    status=_classify(due, received_at, today),
                    checked_on=today,
                )
            )
        period = period.previous()
    return statuses


def check_submissions(
    settings: Settings,
    run_id: str,
    today: date | None = None,
    conn: duckdb.DuckDBPyConnection | None = None,
    *,
    lookback_months: int = DEFAULT_LOOKBACK_MONTHS,
) -> list[SubmissionStatus]:
    """Compare the calendar with ``ops.ingest_log`` and record the result for ``run_id``.

    Rewrites this run's rows of ``ops.submission_status`` (a rerun of the same run is idempotent; other
    runs' rows stay as history). Returns the rows, oldest due date first.
    """
    if conn is None:
        with connect(settings) as own_conn:
            return check_submissions(settings, run_id, today, own_conn, lookback_months=lookback_months)
    today = today or date.today()
    arrivals = _first_arrivals(conn)
    statuses = [
        status
        for spec in load_registry().values()
        for status in statuses_for_source(spec, settings.region, arrivals, today, lookback_months)
    ]
    statuses.sort(key=lambda s: (s.due_on, s.source, s.period))
    conn.execute("DELETE FROM ops.submission_status WHERE run_id = ?", [run_id])
    if statuses:
        conn.executemany(
            """
            INSERT INTO ops.submission_status
                (run_id, checked_on, source, agency, scope, period, due_on, received_at, status)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                [
                    run_id,
                    s.checked_on,
                    s.source,
                    s.agency,
                    s.scope,
                    s.period,
                    s.due_on,
                    s.received_at,
                    s.status,
                ]
                for s in statuses
            ],
        )
    return statuses
