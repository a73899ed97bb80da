"""The bad-input corpus dropped into one inbox next to good files, ingested in one pass.

Per case: the outcome the case declares (quarantine with a clear reason, named rows rejected, total rows
skipped, or a complete load). For the whole inbox: every file is accounted for in ``ops.ingest_log``,
the good files load completely, ``rows_loaded + rows_rejected == rows_read`` for every file, the raw and
rejected-row tables agree with the log, and no personal data leaks into the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from badinput import CASES, CORPUS_LIMITS, GOOD_FILES, BadCase, Expectation, build_corpus, use_home
from badinput.cases import SAFE_NAME, corpus_personal_data
from badinput.pii import find_pii

from extract.registry import get_source
from gudang.settings import PROJECT_ROOT, Settings
from gudang.warehouse import connect

SPREADSHEET_SUFFIXES = {".xlsx", ".xls"}


@dataclass
class CorpusRun:
    settings: Settings
    built: dict[str, Path]
    dropped: list[str]  # every file name put in the inbox
    logs: list[dict]
    rejected: list[dict]
    raw_rows: dict[str, int]  # batch_id -> rows in its raw table

    def log_for(self, name: str) -> dict:
        matches = [log for log in self.logs if name in (log["original_name"], log["file_name"])]
        assert len(matches) == 1, f"expected one ops.ingest_log row for {name!r}, found {len(matches)}"
        return matches[0]

    def rejected_for(self, batch_id: str) -> list[dict]:
        return [r for r in self.rejected if r["batch_id"] == batch_id]


def _dicts(conn, sql: str) -> list[dict]:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    ingest = pytest.importorskip(
        "extract.ingest", reason="waiting for extract.ingest (the extraction engine)"
    )
    home = tmp_path_factory.mktemp("corpus_home")
    with pytest.MonkeyPatch.context() as monkeypatch:
        settings = use_home(monkeypatch, home, limits=CORPUS_LIMITS)
        built = build_corpus(settings.inbox)
        dropped = sorted(p.name for p in settings.inbox.rglob("*") if p.is_file())
        ingest.ingest_inbox(settings, run_id="bad-input-corpus")
        with connect(settings, read_only=True) as conn:
            logs = _dicts(conn, "SELECT * FROM ops.ingest_log")
            rejected = _dicts(conn, "SELECT * FROM ops.rejected_rows")
            raw_rows: dict[str, int] = {}
            for table in {get_source(log["source"]).raw_table for log in logs}:
                if conn.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema || '.' || table_name = ?",
                    [table],
                ).fetchone()[0]:
                    raw_rows.update(
                        conn.execute(f"SELECT _batch_id, count(*) FROM {table} GROUP BY 1").fetchall()
                    )
        yield CorpusRun(settings, built, dropped, logs, rejected, raw_rows)


def _mismatches(expect: Expectation, log: dict, rejected: list[dict], raw_rows: int) -> list[str]:
    """What differs between the observed outcome and one acceptable expectation (empty: it matches)."""
    problems = []
    if log["status"] not in expect.statuses:
        problems.append(f"status {log['status']!r} not in {sorted(expect.statuses)}")
    for field, wanted in (("rows_read", expect.rows_read), ("rows_loaded", expect.rows_loaded)):
        if wanted is not None and (log[field] or 0) != wanted:
            problems.append(f"{field} {log[field]} != {wanted}")
    # A quarantined file carries one file-level record (no row); row expectations concern the others.
    errors = [r for r in rejected if r["severity"] == "error" and r["source_row"] is not None]
    for wanted in expect.rejected:
        hits = [
            r
            for r in errors
            if r["source_row"] == wanted.row
            and (not wanted.columns or (r["column_name"] or "").lower() in wanted.columns)
        ]
        if not hits:
            problems.append(f"no rejection of row {wanted.row} in column {list(wanted.columns) or 'any'}")
    if expect.exact_rejections:
        allowed_rows = {w.row for w in expect.rejected}
        stray = sorted({r["source_row"] for r in errors} - allowed_rows, key=lambda x: (x is None, x))
        if stray:
            problems.append(f"rows rejected that are valid: {stray}")
    skipped = sorted(r["source_row"] for r in rejected if r["severity"] == "skip")
    if sorted(expect.skipped) != skipped:
        problems.append(f"skipped rows {skipped} != {sorted(expect.skipped)}")
    if expect.message_terms:
        message = (log["error_message"] or "").lower()
        if not any(term.lower() in message for term in expect.message_terms):
            problems.append(f"message {log['error_message']!r} names none of {expect.message_terms}")
    if expect.needs_failed_check and not log["checks_failed"]:
        problems.append("no failed check recorded in checks_failed")
    if expect.rows_loaded is not None and raw_rows != expect.rows_loaded:
        problems.append(f"{raw_rows} raw rows for the batch, expected {expect.rows_loaded}")
    return problems


def _assert_quarantine_is_explained(settings: Settings, bad: BadCase, log: dict) -> None:
    assert log["error_message"], "a quarantined file needs an error message"
    stored = Path(log["stored_path"]).resolve()
    assert stored.is_relative_to((settings.quarantine / bad.source).resolve()), stored
    assert stored.is_file(), f"the original must be kept in quarantine: {stored}"
    reasons = [
        p
        for p in stored.parent.iterdir()
        if p.name.endswith(".reason.txt") and p.name.startswith(stored.stem)
    ]
    assert reasons, f"no .reason.txt beside {stored.name}"
    reason = reasons[0].read_text(encoding="utf-8")
    assert log["original_name"] in reason or log["file_name"] in reason, (
        f"the reason must name the file: {reason!r}"
    )


def _assert_rejections_are_located(log: dict, rejected: list[dict]) -> None:
    for row in rejected:
        where = f"rejected row {row}"
        assert row["file_name"] == log["file_name"], where
        assert row["source_row"] and row["source_row"] >= 1, where
        assert row["reason"] and len(row["reason"]) > 10, where
        assert row["severity"] in {"error", "skip"}, where
        if Path(log["file_name"]).suffix.lower() in SPREADSHEET_SUFFIXES:
            assert row["sheet"], f"{where}: a spreadsheet rejection must name the sheet"


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_each_bad_file_gets_its_outcome(corpus: CorpusRun, bad: BadCase) -> None:
    log = corpus.log_for(corpus.built[bad.id].name)
    rejected = corpus.rejected_for(log["batch_id"])
    raw_rows = corpus.raw_rows.get(log["batch_id"], 0)
    attempts = [_mismatches(expect, log, rejected, raw_rows) for expect in bad.alternatives]
    if all(attempts):
        observed = {
            k: log[k] for k in ("status", "rows_read", "rows_loaded", "rows_rejected", "error_message")
        }
        located = [
            (r["sheet"], r["source_row"], r["column_name"], r["severity"], r["reason"]) for r in rejected
        ]
        detail = "\n".join(
            f"  expected {e.description}: {'; '.join(p)}"
            for e, p in zip(bad.alternatives, attempts, strict=True)
        )
        pytest.fail(f"{bad.what}\n  observed {observed}\n  rejected {located}\n{detail}")
    if log["status"] == "quarantined":
        _assert_quarantine_is_explained(corpus.settings, bad, log)
    if log["status"] != "quarantined":
        _assert_rejections_are_located(log, rejected)
    if bad.check:
        with connect(corpus.settings, read_only=True) as conn:
            bad.check(conn, corpus.settings, log)


@pytest.mark.parametrize("good", GOOD_FILES, ids=[g.source for g in GOOD_FILES])
def test_good_files_in_the_same_inbox_load_completely(corpus: CorpusRun, good) -> None:
    log = corpus.log_for(good.name)
    assert (log["status"], log["rows_read"], log["rows_loaded"], log["rows_rejected"]) == (
        "loaded",
        good.rows,
        good.rows,
        0,
    ), corpus.rejected_for(log["batch_id"])
    assert corpus.raw_rows[log["batch_id"]] == good.rows


def test_every_file_is_accounted_for_and_leaves_the_inbox(corpus: CorpusRun) -> None:
    logged = {log["original_name"] for log in corpus.logs}
    missing = sorted(set(corpus.dropped) - logged)
    assert not missing, f"files without an ingest_log row: {missing}"
    left = [p for p in corpus.settings.inbox.rglob("*") if p.is_file()]
    assert not left, f"files left in the inbox after the run: {left}"


def test_loaded_plus_rejected_equals_read_for_every_file(corpus: CorpusRun) -> None:
    broken = []
    for log in corpus.logs:
        read, loaded, rejected = (log[k] or 0 for k in ("rows_read", "rows_loaded", "rows_rejected"))
        # Rows, not records: one row failing two checks is one rejected row; a quarantined file has a
        # single file-level record however many rows it had.
        records = corpus.rejected_for(log["batch_id"])
        recorded = len({(r["sheet"], r["source_row"]) for r in records if r["source_row"] is not None})
        if log["status"] == "quarantined":
            recorded = rejected if records else -1
        raw = corpus.raw_rows.get(log["batch_id"], 0)
        if loaded + rejected != read or recorded != rejected or raw != loaded:
            broken.append((log["original_name"], log["status"], read, loaded, rejected, recorded, raw))
    assert not broken, "(file, status, read, loaded, rejected, rejected_rows, raw rows): " + repr(broken)


def test_archived_and_quarantined_originals_stay_under_the_data_home(corpus: CorpusRun) -> None:
    home = corpus.settings.home.resolve()
    for log in corpus.logs:
        if log["stored_path"]:
            stored = Path(log["stored_path"]).resolve()
            assert stored.is_relative_to(home), stored
            assert SAFE_NAME.match(stored.name.removesuffix(".reason.txt")), stored.name


def test_no_personal_data_after_the_corpus(corpus: CorpusRun) -> None:
    assert find_pii(corpus.settings.warehouse, corpus_personal_data()) == []


@pytest.mark.parametrize(
    "received",
    [
        "../../etc/passwd",
        "..\\..\\windows\\system.ini",
        "eppgbm_3374_2026-03..%2F..%2Fetc%2Fpasswd.xlsx",
        "eppgbm_3374_2026-03 (final) ÄÖ;rm -rf.xlsx",
        "-rf .xlsx",
        "..",
        "$(reboot)`id`|&>.csv",
        "a" * 400 + ".xlsx",
    ],
)
def test_file_names_are_sanitised_before_they_touch_the_filesystem(received: str, tmp_path: Path) -> None:
    from extract.naming import sanitise_file_name

    safe = sanitise_file_name(received)
    assert SAFE_NAME.match(safe), safe
    assert ".." not in safe and not safe.startswith(("-", ".")), safe
    assert len(safe) <= 255
    assert (tmp_path / safe).resolve().parent == tmp_path.resolve()
    if received.endswith((".xlsx", ".csv")):
        assert safe.endswith(Path(received).suffix), "the extension decides the reader and must survive"


def test_the_reliability_doc_lists_every_case() -> None:
    doc = (PROJECT_ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    missing = [c.id for c in CASES if f"| `{c.id}` |" not in doc]
    assert not missing, f"docs/reliability.md lacks a row for: {missing}"
