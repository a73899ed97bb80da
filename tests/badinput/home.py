"""A throw-away data home for one test: environment, configuration limits, and a fresh config cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from gudang.config import load_config
from gudang.settings import Settings

TEST_HASH_KEY = "test-only-hash-key-not-a-secret"


def home_variables(home: Path, *, hash_key: str = TEST_HASH_KEY) -> dict[str, str]:
    """The variables that point gudang at ``home``."""
    return {
        "GUDANG_HOME": str(home),
        "GUDANG_CONFIG": str(home / "gudang.yml"),
        "GUDANG_HASH_KEY": hash_key,
        # Anything that imports Airflow (the digest's notifier) must not create ~/airflow.
        "AIRFLOW_HOME": str(home / "airflow"),
    }


def write_config(home: Path, *, limits: dict | None = None) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "gudang.yml").write_text(yaml.safe_dump({"limits": limits} if limits else {}))


def use_home(
    monkeypatch: pytest.MonkeyPatch, home: Path, *, limits: dict | None = None, hash_key: str = TEST_HASH_KEY
) -> Settings:
    """Point this test process at a fresh data home under ``home`` with the given limits."""
    write_config(home, limits=limits)
    for name, value in home_variables(home, hash_key=hash_key).items():
        monkeypatch.setenv(name, value)
    # load_config is cached per process; a stale cache would carry another test's limits.
    load_config.cache_clear()
    settings = Settings.from_env()
    settings.ensure_dirs()
    return settings


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    """``os.environ`` plus the data home's variables, for ``python -c`` children."""
    if not (home / "gudang.yml").exists():
        write_config(home)
    return {**os.environ, **home_variables(home), **extra}
