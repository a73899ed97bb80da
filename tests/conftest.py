"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from badinput.runs import DemoRun, copy_home, demo_run
from local_servers import SmtpInbox, free_port

from gudang.settings import Settings


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The reduced-sample demo run through the whole pipeline, made once per session. Read only: a test that
    changes anything works on ``home``."""
    return demo_run(tmp_path_factory)


@pytest.fixture
def home(demo: DemoRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of the demo's data home, made current for the test (modules that need another kind
    of data home define their own ``home``)."""
    return copy_home(demo, tmp_path / "home", monkeypatch)


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
