"""Runs that die (SIGKILL) or overlap leave no partial batch, keep the last good marts, and heal.

Killed children are stopped at a known statement (``badinput.crash.pause_after``): inside a file's
transaction after its raw rows were inserted, right after the batch's COMMIT, in the middle of a
``dbt build``, and in the middle of a publish. Overlaps: an analyst holding ``marts.duckdb`` open while a
run publishes, a writer waiting for another writer's lock, and two runs ingesting the same inbox at once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pytest
from badinput import subprocess_env, use_home
from badinput.cases import write_eppgbm
from badinput.crash import kill_hard, start_child, wait_for
from badinput.runs import published_mart_hashes, run_transform
from badinput.workbooks import EPPGBM_HEADERS, csv_text, eppgbm_name, eppgbm_rows, table

from gudang.settings import Settings
from gudang.warehouse import connect

pytest.importorskip("extract.ingest", reason="waiting for extract.ingest (the extraction engine)")

QUALITY_MART = "mart_data_quality"  # the submission log: it records runs, so it may change
BIG_ROWS = 3000
BIG_PERIOD = "2026-10"


def _big_file(settings: Settings) -> Path:
    """A month of e-PPGBM as a semicolon CSV: big enough that loading it is not instantaneous."""
    path = settings.inbox / "eppgbm" / eppgbm_name(BIG_PERIOD, ext="csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        csv_text(table(eppgbm_rows(BIG_PERIOD, count=BIG_ROWS), EPPGBM_HEADERS)), encoding="utf-8"
    )
    return path


def _ingest_child(settings: Settings, path: Path, trigger: str, marker: Path, log: Path):
    code = f"""
from badinput.crash import pause_after
pause_after({trigger!r}, {str(marker)!r})
from extract.ingest import ingest_file
from extract.registry import get_source
from gudang.settings import get_settings
ingest_file({str(path)!r}, get_source("eppgbm"), get_settings(), run_id="killed")
print("finished without being killed")
"""
    return start_child(code, subprocess_env(settings.home), log)


def _count(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> int:
    try:
        return conn.execute(sql, params or []).fetchone()[0]
    except duckdb.CatalogException:  # the raw table did not survive (its DDL was part of the batch)
        return 0


def _batch_state(settings: Settings) -> dict[str, int]:
    with connect(settings) as conn:  # a writer, like the next run: replays DuckDB's WAL
        return {
            "raw_rows": _count(conn, "SELECT count(*) FROM raw.eppgbm_measurement"),
            "raw_batches": _count(conn, "SELECT count(DISTINCT _batch_id) FROM raw.eppgbm_measurement"),
            "log_rows": _count(conn, "SELECT count(*) FROM ops.ingest_log"),
            "loaded_logs": _count(conn, "SELECT count(*) FROM ops.ingest_log WHERE status LIKE 'loaded%'"),
            "rejected_rows": _count(conn, "SELECT count(*) FROM ops.rejected_rows"),
            "check_rows": _count(conn, "SELECT count(*) FROM ops.check_results"),
        }


def test_sigkill_inside_a_file_transaction_leaves_no_partial_batch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = use_home(monkeypatch, tmp_path / "home")
    original = _big_file(settings)
    marker = tmp_path / "inside-transaction"
    child = _ingest_child(settings, original, r"^\s*INSERT\s+INTO\s+raw\.", marker, tmp_path / "child.log")
    wait_for(marker.exists, timeout=240, child=child, what="the raw INSERT inside the batch transaction")
    kill_hard(child)

    state = _batch_state(settings)
    assert state == dict.fromkeys(state, 0), f"a killed load left a partial batch: {state}"
    assert original.exists(), "the original must stay in the inbox until its batch is committed"
    assert not list(settings.archive.rglob("*.csv")) and not list(settings.quarantine.rglob("*.csv"))

    # The next run loads the file completely, once.
    from extract.ingest import ingest_inbox

    results = ingest_inbox(settings, run_id="after-the-crash")
    assert [(r.status, r.rows_loaded) for r in results] == [("loaded", BIG_ROWS)]
    healed = _batch_state(settings)
    assert (healed["raw_rows"], healed["raw_batches"], healed["loaded_logs"]) == (BIG_ROWS, 1, 1)
    assert not original.exists()


def test_sigkill_after_commit_before_archiving_counts_nothing_twice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = use_home(monkeypatch, tmp_path / "home")
    original = _big_file(settings)
    marker = tmp_path / "committed"
    child = _ingest_child(settings, original, r"^\s*COMMIT", marker, tmp_path / "child.log")
    wait_for(marker.exists, timeout=240, child=child, what="the batch's COMMIT")
    kill_hard(child)

    committed = _batch_state(settings)
    assert (committed["raw_rows"], committed["raw_batches"], committed["loaded_logs"]) == (BIG_ROWS, 1, 1)
    assert original.exists(), "killed before the move: the original is still in the inbox"

    from extract.ingest import ingest_inbox

    results = ingest_inbox(settings, run_id="after-the-crash")
    assert [r.status for r in results] == ["duplicate"], "the same content must not load twice"
    healed = _batch_state(settings)
    assert (healed["raw_rows"], healed["raw_batches"], healed["loaded_logs"]) == (BIG_ROWS, 1, 1)
    assert not original.exists() and list((settings.archive / "eppgbm").iterdir())


# --- the transform ------------------------------------------------------------------------------------


def _published_fingerprint(settings: Settings) -> tuple[dict, bytes]:
    return published_mart_hashes(settings.published), settings.published.read_bytes()


@pytest.mark.slow
def test_sigkill_during_dbt_build_keeps_the_published_marts(home: Settings, tmp_path: Path) -> None:
    before_hashes, before_bytes = _published_fingerprint(home)
    dbt_log = home.home / "dbt" / "logs" / "dbt.log"
    dbt_log.unlink(missing_ok=True)
    code = """
from badinput.runs import dbt_scratch_args
from gudang.pipeline import dbt_build
from gudang.settings import get_settings
settings = get_settings()
dbt_build(settings, *dbt_scratch_args(settings))
print("finished without being killed")
"""
    child = start_child(code, subprocess_env(home.home), tmp_path / "dbt-child.log")

    def models_built() -> int:
        return dbt_log.read_text(errors="replace").count(" OK created ") if dbt_log.exists() else 0

    # Kill it once it has rebuilt a few models (in the warehouse), well before the end.
    wait_for(lambda: models_built() >= 4, timeout=300, child=child, what="dbt to build some models")
    kill_hard(child)

    assert _published_fingerprint(home) == (before_hashes, before_bytes), "the analysts' marts changed"
    with connect(home) as conn:  # the warehouse opens cleanly after the kill
        assert conn.execute("SELECT count(*) FROM ops.ingest_log").fetchone()[0] > 0

    healed = run_transform(home, "after-the-dbt-crash")
    assert healed["published"]["published"], healed
    after = published_mart_hashes(home.published)
    changed = [
        name for name in before_hashes if after.get(name) != before_hashes[name] and name != QUALITY_MART
    ]
    assert not changed, f"same inputs, different marts after healing: {changed}"


def test_sigkill_during_publish_keeps_the_published_marts(home: Settings, tmp_path: Path) -> None:
    before_hashes, before_bytes = _published_fingerprint(home)
    marker = tmp_path / "publishing"
    code = f"""
from badinput.crash import pause_after
pause_after(r"create or replace table gudang_publish_target", {str(marker)!r})
from gudang.pipeline import publish
from gudang.settings import get_settings
publish(get_settings(), "killed-publish", {{"passed": True, "reasons": []}})
print("finished without being killed")
"""
    child = start_child(code, subprocess_env(home.home), tmp_path / "publish-child.log")
    wait_for(marker.exists, timeout=120, child=child, what="publish to copy a mart")
    kill_hard(child)

    assert _published_fingerprint(home) == (before_hashes, before_bytes), "a half-written publish is visible"
    from gudang.pipeline import publish

    result = publish(home, "after-the-publish-crash", {"passed": True, "reasons": []})
    assert result["published"], result
    assert published_mart_hashes(home.published) == before_hashes


# --- overlapping runs ---------------------------------------------------------------------------------


def test_an_analyst_reading_the_marts_does_not_block_a_publish(home: Settings, tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = f"""
import json, pathlib, time, duckdb
analyst = duckdb.connect({str(home.published)!r}, read_only=True)
before = analyst.execute("SELECT run_id FROM _last_run").fetchone()[0]
print(json.dumps({{"ready": before}}), flush=True)
while not pathlib.Path({str(go)!r}).exists():
    time.sleep(0.05)
still = analyst.execute("SELECT run_id FROM _last_run").fetchone()[0]  # the old snapshot, still readable
analyst.close()  # (DuckDB reuses an open database per path within a process: reconnect after closing)
fresh = duckdb.connect({str(home.published)!r}, read_only=True).execute("SELECT run_id FROM _last_run").fetchone()[0]
print(json.dumps({{"still": still, "fresh": fresh}}), flush=True)
"""
    out = tmp_path / "analyst.log"
    analyst = start_child(code, subprocess_env(home.home), out)
    wait_for(lambda: '"ready"' in out.read_text(), timeout=120, child=analyst, what="the analyst to connect")
    before = json.loads(out.read_text().splitlines()[0])["ready"]

    from gudang.pipeline import publish

    started = time.monotonic()
    result = publish(home, "while-an-analyst-reads", {"passed": True, "reasons": []})
    assert result["published"], result
    assert time.monotonic() - started < 60
    go.touch()
    analyst.wait(timeout=60)
    assert analyst.returncode == 0, out.read_text()
    seen = json.loads(out.read_text().splitlines()[-1])
    assert seen == {"still": before, "fresh": "while-an-analyst-reads"}


def test_a_writer_waits_for_another_writers_lock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = use_home(monkeypatch, tmp_path / "home")
    path = write_eppgbm(settings.inbox / "eppgbm", "2026-09")
    env = subprocess_env(settings.home)
    holding, release = tmp_path / "holding", tmp_path / "release"
    holder = start_child(
        f"""
import pathlib, time
from gudang.settings import get_settings
from gudang.warehouse import connect
with connect(get_settings()):  # a long writer (think: a dbt build) holds the single-writer lock
    pathlib.Path({str(holding)!r}).touch()
    while not pathlib.Path({str(release)!r}).exists():
        time.sleep(0.05)
""",
        env,
        tmp_path / "holder.log",
    )
    wait_for(holding.exists, timeout=120, child=holder, what="the first writer to take the lock")
    started = tmp_path / "started"
    loader = start_child(
        f"""
import json, pathlib, time
from extract.ingest import ingest_file
from extract.registry import get_source
from gudang.settings import get_settings
pathlib.Path({str(started)!r}).touch()
clock = time.monotonic()
result = ingest_file({str(path)!r}, get_source("eppgbm"), get_settings(), run_id="second-writer")
print(json.dumps({{"status": result.status, "rows": result.rows_loaded, "seconds": time.monotonic() - clock}}))
""",
        env,
        tmp_path / "loader.log",
    )
    wait_for(started.exists, timeout=120, child=loader, what="the second writer to start")
    time.sleep(3)  # the second writer is now waiting for the lock
    assert loader.poll() is None, (
        "the second writer gave up instead of waiting: " + (tmp_path / "loader.log").read_text()
    )
    release.touch()
    assert holder.wait(timeout=60) == 0
    assert loader.wait(timeout=240) == 0, (tmp_path / "loader.log").read_text()
    outcome = json.loads((tmp_path / "loader.log").read_text().strip().splitlines()[-1])
    assert (outcome["status"], outcome["rows"]) == ("loaded", 10)
    assert outcome["seconds"] >= 3


def test_two_runs_ingesting_the_same_inbox_at_once_both_succeed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = use_home(monkeypatch, tmp_path / "home")
    months = ["2026-05", "2026-06", "2026-07", "2026-08"]
    for month in months:
        write_eppgbm(settings.inbox / "eppgbm", month)
    env = subprocess_env(settings.home)
    code = """
from extract.ingest import ingest_inbox
from gudang.settings import get_settings
results = ingest_inbox(get_settings(), sources=["eppgbm"], run_id="run-{n}")
print([(r.original_name, r.status) for r in results])
"""
    runs = [start_child(code.format(n=n), env, tmp_path / f"run-{n}.log") for n in (1, 2)]
    for n, run in enumerate(runs, 1):
        assert run.wait(timeout=300) == 0, f"run {n} failed:\n" + (tmp_path / f"run-{n}.log").read_text()
        assert "lock" not in (tmp_path / f"run-{n}.log").read_text().lower()

    with connect(settings, read_only=True) as conn:
        per_file = conn.execute(
            "SELECT _file_name, count(*), count(DISTINCT _batch_id) FROM raw.eppgbm_measurement GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert per_file == [(eppgbm_name(m), 10, 1) for m in months], "every file loaded exactly once"
    assert not [p for p in settings.inbox.rglob("*") if p.is_file()]
