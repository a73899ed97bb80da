"""Submission calendar: due dates per cadence and on-time / late / missing detection from ops.ingest_log."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from expectations.calendar import Period, check_submissions, due_on, expected_scope
from extract.registry import Cadence, get_source
from gudang.settings import Settings
from gudang.warehouse import OPS_DDL


@pytest.mark.parametrize(
    ("every", "due_day", "period", "expected"),
    [
        ("month", 10, "2025-03", date(2025, 4, 10)),  # e-PPGBM: monthly by the 10th
        ("month", 10, "2025-12", date(2026, 1, 10)),  # December rolls into the next year
        ("quarter", 20, "2025-Q1", date(2025, 4, 20)),  # SPM: by the 20th after the quarter
        ("quarter", 20, "2025-Q4", date(2026, 1, 20)),
        ("quarter", 10, "2025-Q2", date(2025, 7, 10)),  # LKPM: by the 10th after the quarter
        ("semester", 28, "2025-S1", date(2025, 7, 28)),
        ("semester", 28, "2025-S2", date(2026, 1, 28)),
        ("year", 28, "2024", date(2025, 1, 28)),
    ],
)
def test_due_on_each_cadence(every, due_day, period, expected):
    assert due_on(Cadence(every=every, due_day=due_day), period) == expected


def test_registry_cadences_match_the_issue():
    assert due_on(get_source("eppgbm"), "2025-03") == date(2025, 4, 10)
    assert due_on(get_source("spm_kesehatan"), "2025-Q2") == date(2025, 7, 20)
    assert due_on(get_source("lkpm"), "2025-Q1") == date(2025, 4, 10)


def test_period_round_trip_and_stepping():
    assert str(Period.parse("quarter", "2025-Q1").previous()) == "2024-Q4"
    assert str(Period.parse("month", "2025-01").previous()) == "2024-12"
    assert str(Period.parse("semester", "2025-S1").previous()) == "2024-S2"
    assert Period.parse("quarter", "2025-Q3").end == date(2025, 9, 30)
    assert Period.parse("month", "2024-02").end == date(2024, 2, 29)
    assert str(Period.containing("semester", date(2025, 8, 1))) == "2025-S2"
    with pytest.raises(ValueError):
        Period.parse("quarter", "2025-03")


def test_provincial_publications_are_expected_at_province_scope():
    assert expected_scope(get_source("bps_poverty"), "33.74") == "33"
    assert expected_scope(get_source("eppgbm"), "33.74") == "33.74"


def _log_file(conn, batch_id, source, period, scope, received_at, status="loaded"):
    conn.execute(
        """
        INSERT INTO ops.ingest_log (batch_id, run_id, source, file_name, period, scope, received_at,
                                    started_at, status)
        VALUES (?, 'ingest', ?, ?, ?, ?, ?, ?, ?)
        """,
        [batch_id, source, f"{batch_id}.xlsx", period, scope, received_at, received_at, status],
    )


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("GUDANG_HOME", str(tmp_path))
    monkeypatch.setenv("GUDANG_REGION", "33.74")
    conn = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    conn.execute(OPS_DDL)
    yield Settings(home=tmp_path), conn
    conn.close()


def test_on_time_late_missing_and_not_due(warehouse):
    settings, conn = warehouse
    _log_file(conn, "ep-01", "eppgbm", "2025-01", "33.74", datetime(2025, 2, 10, 16, 0))  # on the due day
    _log_file(conn, "ep-02", "eppgbm", "2025-02", "33.74", datetime(2025, 3, 14, 9, 0))  # 4 days late
    _log_file(conn, "ep-03", "eppgbm", "2025-03", "33.74", datetime(2025, 4, 2), status="quarantined")
    _log_file(conn, "ep-03b", "eppgbm", "2025-03", "33.75", datetime(2025, 4, 2))  # another city's file
    _log_file(conn, "bps", "bps_poverty", "2024", "33", datetime(2025, 1, 5))  # provincial publication

    statuses = check_submissions(settings, "run-1", today=date(2025, 5, 5), conn=conn)
    by_key = {(s.source, s.period): s for s in statuses}

    assert by_key[("eppgbm", "2025-01")].status == "on_time"
    late = by_key[("eppgbm", "2025-02")]
    assert (late.status, late.days_late) == ("late", 4)
    # quarantined or other-scope files do not fulfil the obligation
    missing = by_key[("eppgbm", "2025-03")]
    assert (missing.status, missing.received_at, missing.days_late) == ("missing", None, 25)
    # April ended but is due on 10 May: announced, not yet late
    assert by_key[("eppgbm", "2025-04")].status == "not_due"
    # the current month has not ended: not listed
    assert ("eppgbm", "2025-05") not in by_key
    assert by_key[("bps_poverty", "2024")].status == "on_time"
    assert by_key[("bps_poverty", "2024")].scope == "33"
    # nothing older than the 12-month window
    assert min(s.due_on for s in statuses) > date(2024, 5, 5)

    stored = conn.execute(
        "SELECT status, due_on, received_at FROM ops.submission_status "
        "WHERE run_id = 'run-1' AND source = 'eppgbm' AND period = '2025-02'"
    ).fetchall()
    assert stored == [("late", date(2025, 3, 10), datetime(2025, 3, 14, 9, 0))]


def test_rerun_replaces_only_its_own_rows(warehouse):
    settings, conn = warehouse
    first = check_submissions(settings, "run-1", today=date(2025, 5, 5), conn=conn)
    check_submissions(settings, "run-1", today=date(2025, 5, 5), conn=conn)
    check_submissions(settings, "run-2", today=date(2025, 6, 12), conn=conn)
    counts = dict(
        conn.execute("SELECT run_id, count(*) FROM ops.submission_status GROUP BY run_id").fetchall()
    )
    assert counts["run-1"] == len(first)
    # e-PPGBM 2025-05 became due on 10 June: the later run sees one more overdue month
    assert conn.execute(
        "SELECT status FROM ops.submission_status WHERE run_id = 'run-2' AND period = '2025-05'"
    ).fetchone() == ("missing",)


def test_opens_the_warehouse_itself_when_given_no_connection(tmp_path, monkeypatch):
    monkeypatch.setenv("GUDANG_HOME", str(tmp_path))
    settings = Settings(home=tmp_path)
    statuses = check_submissions(settings, "run-x", today=date(2025, 5, 5))
    assert statuses and all(s.status in ("missing", "not_due") for s in statuses)
    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM ops.submission_status").fetchone()[0] == len(statuses)
