"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller
from local_servers import SmtpInbox, free_port


@pytest.fixture
def smtp_inbox(monkeypatch, tmp_path):
    """A real SMTP server on 127.0.0.1; only Airflow's standard connection variable points gudang at it."""
    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    yield inbox
    controller.stop()
