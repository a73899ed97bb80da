"""Reruns change nothing; a revised agency file supersedes the old one without counting anything twice.

Each test works on a private copy of the session's reduced demo run (see ``badinput.runs``) and compares
content hashes of every published mart, computed independently of the publisher's own hashes.
"""

from __future__ import annotations

import shutil

import duckdb
import pytest
from badinput.runs import DemoRun, published_mart_hashes, run_pipeline
from badinput.workbooks import EPPGBM_HEADERS, Sheet, eppgbm_name, eppgbm_rows, table, write_xlsx

from gudang.settings import Settings
from gudang.warehouse import connect

QUALITY_MART = "mart_data_quality"  # the submission log itself: it records every file seen, by design


def _quality_rows(settings: Settings) -> list[tuple]:
    with duckdb.connect(str(settings.published), read_only=True) as conn:
        return conn.execute(
            f"SELECT batch_id, file_name, status, rows_read, rows_loaded, rows_rejected FROM {QUALITY_MART} "
            "WHERE batch_id IS NOT NULL ORDER BY ALL"
        ).fetchall()


def test_the_demo_published_marts(demo: DemoRun) -> None:
    assert demo.result["published"]["published"], demo.result["published"]
    assert len(published_mart_hashes(demo.settings.published)) >= 8


@pytest.mark.slow
def test_the_same_files_sent_again_change_no_mart(demo: DemoRun, home: Settings) -> None:
    """A rerun of the same inputs (the files resent, a DAG rerun) publishes the same marts."""
    from gudang.publish import mart_content_hashes

    before, before_by_publisher = published_mart_hashes(home.published), mart_content_hashes(home.published)
    quality_before = _quality_rows(home)
    shutil.copytree(demo.inputs, home.inbox, dirs_exist_ok=True)
    resent = sorted(p.name for p in home.inbox.rglob("*") if p.is_file())

    result = run_pipeline(home, "rerun-same-files")

    statuses = {r.original_name: r.status for r in result["ingested"]}
    assert sorted(statuses) == resent
    assert set(statuses.values()) == {"duplicate"}, statuses
    assert result["published"]["published"], result["published"]
    after = published_mart_hashes(home.published)
    changed = sorted(name for name in before if after.get(name) != before[name] and name != QUALITY_MART)
    assert not changed, f"marts changed by an identical rerun: {changed}"
    assert set(after) == set(before)
    by_publisher = mart_content_hashes(home.published)
    assert [
        n for n in before_by_publisher if by_publisher[n] != before_by_publisher[n] and n != QUALITY_MART
    ] == []
    # The quality mart keeps every earlier row as it was and adds one 'duplicate' row per resent file.
    quality_after = _quality_rows(home)
    added = sorted(set(quality_after) - set(quality_before))
    assert set(quality_before) <= set(quality_after)
    assert len(added) == len(resent) and {row[2] for row in added} == {"duplicate"}


# --- revisions -------------------------------------------------------------------------------------

PERIOD = "2026-10"  # a month the sample does not cover, so the revision is the only file for it
ORIGINAL = eppgbm_name(PERIOD)
REVISED = eppgbm_name(PERIOD, suffix="_revisi1")


def _original_and_revision() -> tuple[list[dict], list[dict]]:
    original = eppgbm_rows(PERIOD, count=12)
    revised = [dict(row) for row in original[:10]]  # two records withdrawn
    for row in revised[:3]:  # three weights corrected
        row["Berat"] = round(row["Berat"] + 0.5, 1)
    return original, revised


def _drop(settings: Settings, name: str, rows: list[dict]) -> None:
    write_xlsx(settings.inbox / "eppgbm" / name, [Sheet("Data", table(rows, EPPGBM_HEADERS))])


@pytest.mark.slow
def test_a_revised_file_supersedes_the_old_one_and_keeps_history(home: Settings) -> None:
    original, revised = _original_and_revision()
    _drop(home, ORIGINAL, original)
    first = run_pipeline(home, "revision-1")
    assert first["published"]["published"], first["published"]
    others_before = _other_periods(home)

    _drop(home, REVISED, revised)
    second = run_pipeline(home, "revision-2")
    # (a warning is fine: 10 rows after the sample's bigger previous month trips the volume check)
    assert [(r.original_name, r.status.startswith("loaded")) for r in second["ingested"]] == [(REVISED, True)]
    assert second["published"]["published"], second["published"]

    with connect(home, read_only=True) as conn:
        # History: both versions stay in raw and in the log, under the same revision key.
        history = conn.execute(
            "SELECT _file_name, count(*) FROM raw.eppgbm_measurement WHERE _period = ? GROUP BY 1 ORDER BY 1",
            [PERIOD],
        ).fetchall()
        assert history == [(ORIGINAL, 12), (REVISED, 10)]
        keys = conn.execute(
            "SELECT DISTINCT source, scope, period FROM ops.ingest_log WHERE file_name IN (?, ?)",
            [ORIGINAL, REVISED],
        ).fetchall()
        assert keys == [("eppgbm", "33.74", PERIOD)]
        # Staging counts the period once: only the revision's rows.
        staged = conn.execute(
            "SELECT _file_name, count(*) FROM staging.stg_eppgbm__measurement WHERE period = ? GROUP BY 1",
            [PERIOD],
        ).fetchall()
        assert staged == [(REVISED, 10)]

    with duckdb.connect(str(home.published), read_only=True) as marts:
        facts = marts.execute(
            "SELECT _file_name, _source_row, weight_kg FROM fct_child_measurement WHERE period = ? ORDER BY _source_row",
            [PERIOD],
        ).fetchall()
        # Every mart row says which file version it came from, and carries the corrected values.
        assert facts == [(REVISED, index + 2, row["Berat"]) for index, row in enumerate(revised)]
        measured = marts.execute(
            "SELECT children_measured FROM mart_stunting WHERE region_code = '33.74' AND period = ?", [PERIOD]
        ).fetchall()
        assert measured == [(10,)], "the kota row must count the revised file's children once"
    assert _other_periods(home) == others_before, "a revision of one month must not move other months"


def _other_periods(settings: Settings) -> list[tuple]:
    with duckdb.connect(str(settings.published), read_only=True) as marts:
        return marts.execute(
            "SELECT period, region_code, children_measured, stunted FROM mart_stunting WHERE period <> ? ORDER BY ALL",
            [PERIOD],
        ).fetchall()
