"""Issue 4 end to end: a broken agency file blocks the publish, planners hear why, the last good marts stay.

Works on a private copy of the session's reduced demo run (``badinput.runs``), drops a file that fails a
blocking check into the inbox, runs the pipeline steps the DAGs run, and receives the digest on a real SMTP
server (aiosmtpd) on 127.0.0.1 routed only by ``AIRFLOW_CONN_SMTP_DEFAULT``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from badinput.runs import DemoRun, copy_home, published_mart_hashes, run_pipeline
from badinput.workbooks import EPPGBM_HEADERS, Sheet, eppgbm_name, eppgbm_rows, table, write_xlsx

from gudang.config import load_config
from gudang.settings import Settings

PLANNER = "perencana@bappeda.example.go.id"
QUALITY_MART = "mart_data_quality"


@pytest.fixture
def home(demo: DemoRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = copy_home(demo, tmp_path / "home", monkeypatch)
    monkeypatch.setenv("GUDANG_ALERT_PLANNERS", PLANNER)
    load_config.cache_clear()
    yield settings
    load_config.cache_clear()


@pytest.mark.slow
def test_a_broken_file_blocks_the_publish_and_the_digest_says_why(home: Settings, smtp_inbox) -> None:
    before = published_mart_hashes(home.published)
    # birth date column missing: no z-score can be computed, a required column -> the file is quarantined
    headers = [h for h in EPPGBM_HEADERS if h != "Tgl Lahir"]
    broken_name = eppgbm_name("2026-10")
    write_xlsx(home.inbox / "eppgbm" / broken_name, [Sheet("Data", table(eppgbm_rows("2026-10"), headers))])

    result = run_pipeline(home, "run-with-broken-file", reports=True)

    (broken,) = [r for r in result["ingested"] if r.original_name == broken_name]
    assert broken.status == "quarantined"
    assert not result["published"]["published"]
    assert any(broken_name in reason for reason in result["published"]["reasons"])

    # the analysts' marts are exactly the last good ones; only the quality log moved on
    after = published_mart_hashes(home.published)
    assert {n: h for n, h in after.items() if n != QUALITY_MART} == {
        n: h for n, h in before.items() if n != QUALITY_MART
    }
    with duckdb.connect(str(home.published), read_only=True) as conn:
        statuses = conn.execute(
            f"SELECT status, checks_failed FROM {QUALITY_MART} WHERE file_name = ?", [broken_name]
        ).fetchall()
    assert statuses and statuses[0][0] == "quarantined"

    from gudang.pipeline import build_data_docs

    docs_index = Path(build_data_docs(home))  # the DAG's data_docs task
    assert docs_index.exists()

    to_planner = smtp_inbox.messages_to(PLANNER)
    assert len(to_planner) == 1, "one digest per run, not one mail per problem"
    message = to_planner[0]
    body = "".join(
        part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart()
    )
    assert broken_name in body
    assert "Dinas Kesehatan" in body
    assert "Tgl Lahir" in body or "birth_date" in body, "the digest names what is wrong"
    assert "tidak diterbitkan" in body or "diblokir" in body or "mart lama" in body
