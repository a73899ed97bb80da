"""The per-run digest: content from the ops tables, no personal data, delivery over a real SMTP server.

The SMTP server is aiosmtpd on 127.0.0.1; the only thing pointing gudang at it is Airflow's standard
``AIRFLOW_CONN_SMTP_DEFAULT`` variable. Apprise delivery is checked against a real local HTTP endpoint
(apprise's ``json://`` notifier).
"""

from __future__ import annotations

import json
import re
import threading
from datetime import date, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest
from local_servers import free_port

from expectations.calendar import check_submissions
from gudang import alerts
from gudang.config import load_config
from gudang.settings import Settings
from gudang.warehouse import OPS_DDL

PLANNERS = ["perencana@bappeda.example.go.id", "kabid@bappeda.example.go.id"]
DINKES = "dinkes@example.go.id"  # registry contact of eppgbm and spm_kesehatan
DISDIK = "disdik@example.go.id"  # registry contact of spm_pendidikan
CHILD_NAME = "SITI AMINAH"
NIK = "3374012345678901"
TODAY = date(2025, 5, 15)


# ------------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def configured(tmp_path, monkeypatch):
    monkeypatch.setenv("GUDANG_HOME", str(tmp_path))
    monkeypatch.setenv("GUDANG_REGION", "33.74")
    monkeypatch.setenv("GUDANG_ALERT_PLANNERS", ",".join(PLANNERS))
    monkeypatch.delenv("GUDANG_CONFIG", raising=False)
    monkeypatch.delenv("GUDANG_ALERT_LANG", raising=False)
    monkeypatch.delenv("GUDANG_REPORTS_URL", raising=False)
    load_config.cache_clear()
    yield Settings(home=tmp_path)
    load_config.cache_clear()


def _insert(conn, table: str, rows: list[dict]) -> None:
    for row in rows:
        columns = ", ".join(row)
        conn.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values())
        )


@pytest.fixture
def warehouse(configured):
    """A warehouse after a run with: one clean file, one file with rejected rows, one quarantined file."""
    settings = configured
    conn = duckdb.connect(str(settings.warehouse))
    conn.execute(OPS_DDL)
    _insert(
        conn,
        "ops.pipeline_runs",
        [
            dict(
                run_id="run-prev",
                started_at=datetime(2025, 3, 20, 8),
                finished_at=datetime(2025, 3, 20, 9),
                status="published",
                message="ok",
            ),
            dict(
                run_id="run-1",
                started_at=datetime(2025, 5, 15, 8),
                finished_at=datetime(2025, 5, 15, 9),
                status="blocked",
                message="Pemeriksaan rekonsiliasi mart_spm_sector gagal",
            ),
        ],
    )
    common = dict(scope="33.74", file_size=1000, file_sha256="ab" * 32)
    _insert(
        conn,
        "ops.ingest_log",
        [
            # reported by the previous run: must not reappear
            dict(
                batch_id="b-old",
                run_id="ingest-eppgbm-old",
                source="eppgbm",
                agency="Dinas Kesehatan",
                file_name="eppgbm_3374_2025-02.xlsx",
                period="2025-02",
                received_at=datetime(2025, 3, 8),
                started_at=datetime(2025, 3, 9),
                status="loaded",
                rows_read=100,
                rows_loaded=100,
                rows_rejected=0,
                **common,
            ),
            # arrived late (due 10 April) with rejected rows and a volume warning
            dict(
                batch_id="b-ep",
                run_id="ingest-eppgbm-1",
                source="eppgbm",
                agency="Dinas Kesehatan",
                file_name="eppgbm_3374_2025-03.xlsx",
                period="2025-03",
                received_at=datetime(2025, 4, 14, 10),
                started_at=datetime(2025, 5, 15, 7),
                status="loaded_with_warnings",
                rows_read=120,
                rows_loaded=117,
                rows_rejected=3,
                checks_failed=["expect_table_row_count_to_be_between"],
                **common,
            ),
            # blocked by a file-level error check
            dict(
                batch_id="b-spm",
                run_id="run-1",
                source="spm_pendidikan",
                agency="Dinas Pendidikan",
                file_name="spm_pendidikan_3374_2025_TW1.xlsx",
                period="2025-Q1",
                received_at=datetime(2025, 4, 18),
                started_at=datetime(2025, 5, 15, 7, 30),
                status="quarantined",
                rows_read=3,
                rows_loaded=0,
                rows_rejected=3,
                checks_failed=["expect_table_columns_to_match_set"],
                error_message="Kolom wajib 'Jumlah Sasaran' tidak ditemukan pada sheet 'TW1'",
                **common,
            ),
            # clean
            dict(
                batch_id="b-lkpm",
                run_id="run-1",
                source="lkpm",
                agency="DPMPTSP",
                file_name="lkpm_3374_2025_TW1.xlsx",
                period="2025-Q1",
                received_at=datetime(2025, 4, 9),
                started_at=datetime(2025, 5, 15, 7, 40),
                status="loaded",
                rows_read=50,
                rows_loaded=50,
                rows_rejected=0,
                **common,
            ),
        ],
    )
    rejected = dict(batch_id="b-ep", source="eppgbm", file_name="eppgbm_3374_2025-03.xlsx", sheet="Data")
    _insert(
        conn,
        "ops.rejected_rows",
        [
            dict(
                **rejected,
                source_row=14,
                column_name="height_cm",
                value="250",
                reason="Tinggi badan 250 cm di luar rentang 38-130 cm (kolom 'Tinggi')",
                check_name="expect_column_values_to_be_between",
                severity="error",
            ),
            # a personal-data column: its value must never be shown, even if a component stored it
            dict(
                **rejected,
                source_row=15,
                column_name="child_name",
                value=CHILD_NAME,
                reason="Nama anak kosong pada baris dengan NIK terisi",
                check_name="expect_column_values_to_not_be_null",
                severity="error",
            ),
            # a careless component wrote a NIK into the reason text: the digest masks it
            dict(
                **rejected,
                source_row=16,
                column_name="child_key",
                value=NIK,
                reason=f"NIK {NIK} muncul dua kali dalam berkas",
                check_name="expect_column_values_to_be_unique",
                severity="error",
            ),
            # a total row is bookkeeping, not a rejection
            dict(
                **rejected,
                source_row=130,
                column_name=None,
                value=None,
                reason="Baris jumlah (JUMLAH) dilewati",
                check_name="total_row",
                severity="skip",
            ),
        ]
        + [
            dict(
                batch_id="b-spm",
                source="spm_pendidikan",
                file_name="spm_pendidikan_3374_2025_TW1.xlsx",
                sheet="TW1",
                source_row=row,
                column_name="target_count",
                value=None,
                reason="Berkas dikarantina: kolom wajib 'Jumlah Sasaran' tidak ditemukan",
                check_name="expect_table_columns_to_match_set",
                severity="error",
            )
            for row in (6, 7, 8)
        ],
    )
    check = dict(run_id="run-1", checked_at=datetime(2025, 5, 15, 8))
    _insert(
        conn,
        "ops.check_results",
        [
            dict(
                **check,
                batch_id="b-ep",
                source="eppgbm",
                scope_level="file",
                check_name="expect_column_values_to_be_between",
                column_name="height_cm",
                severity="error",
                success=False,
                unexpected_count=1,
                message="1 baris dengan tinggi badan di luar 38-130 cm",
            ),
            dict(
                **check,
                batch_id="b-ep",
                source="eppgbm",
                scope_level="file",
                check_name="expect_table_row_count_to_be_between",
                column_name=None,
                severity="warn",
                success=False,
                unexpected_count=None,
                message="Jumlah baris turun 60% dibanding periode 2025-02 (300 -> 120)",
            ),
            dict(
                **check,
                batch_id="b-spm",
                source="spm_pendidikan",
                scope_level="file",
                check_name="expect_table_columns_to_match_set",
                column_name="target_count",
                severity="error",
                success=False,
                unexpected_count=None,
                message="Kolom wajib 'Jumlah Sasaran' (target_count) tidak ada di sheet 'TW1'",
            ),
            dict(
                **check,
                batch_id=None,
                source=None,
                scope_level="mart",
                check_name="reconcile_spm_totals",
                column_name="served_count",
                severity="error",
                success=False,
                unexpected_count=1,
                message="Total dilayani di mart_spm_sector (1.200) tidak sama dengan total sumber (1.250)",
            ),
            dict(
                **check,
                batch_id=None,
                source=None,
                scope_level="mart",
                check_name="spm_cumulative_never_falls",
                column_name=None,
                severity="error",
                success=True,
                unexpected_count=0,
                message="",
            ),
        ],
    )
    check_submissions(settings, "run-1", today=TODAY, conn=conn)
    yield settings, conn
    conn.close()


def _body(message: Message) -> str:
    return "".join(
        part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart()
    )


def _assert_no_personal_data(text: str) -> None:
    assert CHILD_NAME not in text
    assert NIK not in text
    assert not re.search(r"(?<!\d)\d{16}(?!\d)", text)
    assert "ab" * 32 not in text


# ------------------------------------------------------------------------------------------------
# content
# ------------------------------------------------------------------------------------------------


def test_digest_content_in_indonesian(warehouse):
    settings, conn = warehouse
    digest = alerts.build_digest(settings, "run-1", conn=conn)
    for body in (digest.text, digest.html):
        assert "Dinas Kesehatan" in body and "Dinas Pendidikan" in body
        assert "eppgbm_3374_2025-03.xlsx" in body
        assert "spm_pendidikan_3374_2025_TW1.xlsx" in body
        assert "DIKARANTINA" in body
        assert "expect_table_columns_to_match_set" in body
        assert "Jumlah Sasaran" in body
        assert "Cara memperbaiki" in body
        assert "Tinggi badan 250 cm" in body
        assert "Mart TIDAK diterbitkan" in body
        assert "reconcile_spm_totals" in body
        assert "lkpm_3374_2025_TW1.xlsx" in body
        # the missing April e-PPGBM file (due 10 May) and the late March one
        assert "terbaru 2025-04 (jatuh tempo 10 Mei 2025, lewat 5 hari)" in body
        assert "2025-03 diterima 14 April 2025, 4 hari setelah jatuh tempo 10 April 2025" in body
        assert str(settings.reports / "gx") in body
        assert str(settings.reports / "brief.html") in body
        _assert_no_personal_data(body)
    # the previous run's file was reported then, the total row is not a rejection
    assert "eppgbm_3374_2025-02.xlsx" not in digest.text
    assert "JUMLAH" not in digest.text
    assert "dibaca 120 · dimuat 117 · ditolak 3" in digest.text
    assert 'baris 14, kolom height_cm, nilai "250"' in digest.text
    assert "baris 15, kolom child_name:" in digest.text  # the row is named, its value is not
    assert "[disamarkan]" in digest.text
    assert digest.subject.startswith("[gudang] Ringkasan data run run-1")
    assert "mart TIDAK diterbitkan" in digest.subject
    assert digest.recipients == PLANNERS


def test_examples_are_capped_per_file(warehouse, tmp_path, monkeypatch):
    settings, conn = warehouse
    config_file = tmp_path / "gudang.yml"
    config_file.write_text("quality: {digest_examples_per_file: 1}\n")
    monkeypatch.setenv("GUDANG_CONFIG", str(config_file))
    load_config.cache_clear()
    text = alerts.build_digest(settings, "run-1", conn=conn).text
    assert "baris 14" in text and "baris 15" not in text


def test_agency_digests_go_to_the_registry_contacts(warehouse):
    settings, conn = warehouse
    digest = alerts.build_digest(settings, "run-1", conn=conn)
    dinkes = digest.per_agency[DINKES]
    assert dinkes.recipients == [DINKES]
    assert "Dinas Kesehatan" in dinkes.subject
    assert "eppgbm_3374_2025-03.xlsx" in dinkes.text
    assert "spm_pendidikan_3374_2025_TW1.xlsx" not in dinkes.text  # another agency's file
    assert "reconcile_spm_totals" not in dinkes.text  # the mart gate is the planners' business
    assert "spm_pendidikan_3374_2025_TW1.xlsx" in digest.per_agency[DISDIK].text
    _assert_no_personal_data(dinkes.text + dinkes.html)


def test_english_variant(warehouse):
    settings, conn = warehouse
    digest = alerts.build_digest(settings, "run-1", language="en", conn=conn)
    assert digest.subject.startswith("[gudang] Data digest for run run-1")
    assert "QUARANTINED" in digest.text
    assert "How to fix" in digest.text
    assert "Marts NOT published" in digest.text
    assert "latest 2025-04 (due 10 May 2025, 5 days overdue)" in digest.text
    assert "Cara memperbaiki" not in digest.text
    _assert_no_personal_data(digest.text + digest.html)
    with pytest.raises(ValueError):
        alerts.build_digest(settings, "run-1", language="fr", conn=conn)


def test_clean_published_run(configured):
    settings = configured
    with duckdb.connect(str(settings.warehouse)) as conn:
        conn.execute(OPS_DDL)
        conn.execute("INSERT INTO ops.pipeline_runs VALUES ('run-ok', now(), now(), 'published', '')")
        digest = alerts.build_digest(settings, "run-ok", conn=conn)
    assert "sudah diterbitkan" in digest.text
    assert "Tidak ada berkas baru" in digest.text
    # the calendar was checked on the fly: with nothing ever received, submissions are missing
    assert "belum diterima" in digest.text


# ------------------------------------------------------------------------------------------------
# delivery
# ------------------------------------------------------------------------------------------------


def test_digest_arrives_over_smtp(warehouse, smtp_inbox):
    settings, conn = warehouse
    digest = alerts.build_digest(settings, "run-1", conn=conn)
    conn.close()  # delivery never needs the warehouse

    delivered = alerts.send_digest(digest, settings)

    planner_mails = smtp_inbox.messages_to(PLANNERS[0])
    assert len(planner_mails) == 1, "one digest per run, not one mail per problem"
    mail = planner_mails[0]
    planner_envelopes = [e for e in smtp_inbox.envelopes if PLANNERS[0] in e.rcpt_tos]
    assert sorted(planner_envelopes[0].rcpt_tos) == sorted(PLANNERS)  # both planners on the same mail
    assert "Ringkasan data run run-1" in str(mail["Subject"])
    body = _body(mail)
    assert "Dinas Kesehatan" in body
    assert "eppgbm_3374_2025-03.xlsx" in body
    assert "spm_pendidikan_3374_2025_TW1.xlsx" in body
    assert "expect_table_columns_to_match_set" in body
    assert "Jumlah Sasaran" in body
    assert "jatuh tempo" in body
    _assert_no_personal_data(body)

    agency_mails = smtp_inbox.messages_to(DINKES)
    assert len(agency_mails) == 1
    agency_body = _body(agency_mails[0])
    assert "eppgbm_3374_2025-03.xlsx" in agency_body
    assert "spm_pendidikan_3374_2025_TW1.xlsx" not in agency_body
    _assert_no_personal_data(agency_body)

    assert set(PLANNERS) | {DINKES, DISDIK} <= set(delivered)
    # and the copy on disk
    assert (settings.reports / "digest-run-1.txt").read_text().startswith(digest.subject)
    assert (settings.reports / "digest-run-1.html").exists()


def test_explicit_recipients_only(warehouse, smtp_inbox):
    settings, conn = warehouse
    digest = alerts.build_digest(settings, "run-1", language="en", conn=conn)
    assert alerts.send_digest(digest, settings, recipients=["auditor@example.org"]) == ["auditor@example.org"]
    assert [e.rcpt_tos for e in smtp_inbox.envelopes] == [["auditor@example.org"]]
    assert "Data digest for run run-1" in str(smtp_inbox.messages_to("auditor@example.org")[0]["Subject"])


def test_no_recipients_writes_the_file(warehouse, monkeypatch, caplog):
    settings, conn = warehouse
    monkeypatch.delenv("GUDANG_ALERT_PLANNERS")
    load_config.cache_clear()
    digest = alerts.build_digest(settings, "run-1", conn=conn)
    digest.per_agency.clear()
    assert alerts.send_digest(digest, settings) == []
    assert "GUDANG_ALERT_PLANNERS" in caplog.text
    assert "Mart TIDAK diterbitkan" in (settings.reports / "digest-run-1.txt").read_text()


def test_unreachable_smtp_server_is_reported(warehouse, monkeypatch, tmp_path):
    settings, conn = warehouse
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    digest = alerts.build_digest(settings, "run-1", conn=conn)
    with pytest.raises(alerts.DigestDeliveryError):
        alerts.send_digest(digest, settings, recipients=PLANNERS)
    assert (settings.reports / "digest-run-1.txt").exists()


def test_without_an_smtp_connection_nothing_is_tried_and_the_digest_stays_on_disk(
    warehouse, monkeypatch, tmp_path, caplog
):
    settings, conn = warehouse
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    digest = alerts.build_digest(settings, "run-1", conn=conn)
    with pytest.raises(alerts.DigestDeliveryError, match="smtp_default belum diatur"):
        alerts.send_digest(digest, settings, recipients=PLANNERS)
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelname == "ERROR"]
    assert (settings.reports / "digest-run-1.txt").exists()


@pytest.fixture
def json_endpoint():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()
    server.server_close()


def test_apprise_url_receives_the_text_digest(warehouse, json_endpoint):
    settings, conn = warehouse
    url, received = json_endpoint
    digest = alerts.build_digest(settings, "run-1", conn=conn)
    assert alerts.send_digest(digest, settings, recipients=[url]) == [url]
    assert len(received) == 1
    assert received[0]["title"] == digest.subject
    assert "eppgbm_3374_2025-03.xlsx" in received[0]["message"]
    assert "<html" not in received[0]["message"]  # chat channels get the plain text
    _assert_no_personal_data(received[0]["message"])


def test_fix_hints_and_scrubbing():
    assert "judul tabel" in alerts.fix_hint("expect_table_columns_to_match_set")
    assert "rentang" in alerts.fix_hint("expect_column_values_to_be_between")
    assert "complete" in alerts.fix_hint("expect_table_row_count_to_be_between", "en")
    assert "kirim ulang" in alerts.fix_hint("something_new")
    assert alerts.scrub(f"NIK {NIK} / 3.37401E+15 / kode 3374011001") == (
        "NIK [disamarkan] / [disamarkan] / kode 3374011001"
    )


def test_report_links_use_the_public_url_when_configured(warehouse, monkeypatch):
    settings, conn = warehouse
    gx_site = settings.reports / "gx" / "local_site"
    gx_site.mkdir(parents=True)
    (gx_site / "index.html").write_text("<html></html>")
    local = alerts.build_digest(settings, "run-1", conn=conn)
    assert f"{gx_site / 'index.html'}" in local.text
    assert str(settings.reports) not in local.per_agency[DINKES].text  # a server path is no use to an agency

    monkeypatch.setenv("GUDANG_REPORTS_URL", "https://data.semarangkota.example/laporan/")
    public = alerts.build_digest(settings, "run-1", conn=conn)
    for text in (public.text, public.per_agency[DINKES].text):
        assert "https://data.semarangkota.example/laporan/gx/local_site/index.html" in text
        assert "https://data.semarangkota.example/laporan/brief.html (belum dibuat)" in text
    assert 'href="https://data.semarangkota.example/laporan/brief.html"' in public.html


_TASK_DAG = """
import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False)
def digest_from_task():
    @task
    def send_digest(**context):
        from gudang import alerts
        from gudang.settings import get_settings

        settings = get_settings()
        return alerts.send_run_digest(settings, context["dag_run"].conf["run_id"])

    send_digest()


digest_from_task()
"""

_RUN_DAG = """
import sys
from gudang.airflow_setup import ensure_airflow
ensure_airflow()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
run = bag.dags["digest_from_task"].test(run_conf={"run_id": "run-1"})
print("STATE", run.state)
"""


@pytest.mark.slow
def test_digest_sent_from_an_airflow_task(warehouse, smtp_inbox, tmp_path):
    """The same code path inside a real Airflow task (dag.test): the notifier needs nothing from the context."""
    import os
    import subprocess
    import sys

    settings, conn = warehouse
    conn.close()  # the task opens the warehouse itself
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "digest_from_task.py").write_text(_TASK_DAG)
    airflow_home = tmp_path / "airflow"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
    }
    done = subprocess.run(
        [sys.executable, "-c", _RUN_DAG, str(dags / "digest_from_task.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "STATE success" in done.stdout, done.stderr[-3000:]
    planner_mails = smtp_inbox.messages_to(PLANNERS[0])
    assert len(planner_mails) == 1
    assert "eppgbm_3374_2025-03.xlsx" in _body(planner_mails[0])
    assert len(smtp_inbox.messages_to(DINKES)) == 1
