"""Where a run reads and writes, resolved once from the environment.

Everything a run writes lives under ``$GUDANG_HOME`` (default ``./data``) so that a demo, a test and a
production deployment differ only by one variable.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = PROJECT_ROOT / "reference"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DAGS_DIR = PROJECT_ROOT / "dags"

#: The one Airflow pool every warehouse-writing task runs in: DuckDB allows a single writer process.
WRITER_POOL = "duckdb_writer"


@dataclass(frozen=True)
class Settings:
    home: Path

    @classmethod
    def from_env(cls) -> Settings:
        return cls(home=Path(os.environ.get("GUDANG_HOME", "data")).resolve())

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def quarantine(self) -> Path:
        return self.home / "quarantine"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def warehouse(self) -> Path:
        """The pipeline's working database (raw, ops, dbt build schemas). Only the pipeline opens it."""
        return self.home / "warehouse.duckdb"

    @property
    def published(self) -> Path:
        """The analysts' database: the last marts that passed the gate, swapped in atomically."""
        return self.home / "marts.duckdb"

    @property
    def airflow_home(self) -> Path:
        return Path(os.environ.get("AIRFLOW_HOME", self.home / "airflow")).resolve()

    @property
    def region(self) -> str:
        """The kab/kota (or province) this deployment plans for, as a dotted Kemendagri code."""
        return os.environ.get("GUDANG_REGION", "33.74")

    @cached_property
    def hash_key(self) -> bytes:
        """Key for pseudonymising personal data. Never in the repo: from the environment or the data home.

        The demo generates one under the data home on first use; production sets ``GUDANG_HASH_KEY``.
        """
        from_env = os.environ.get("GUDANG_HASH_KEY")
        if from_env:
            return from_env.encode()
        key_file = self.home / "secrets" / "hash.key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        return key_file.read_text().strip().encode()

    def ensure_dirs(self) -> None:
        for path in (self.inbox, self.archive, self.quarantine, self.reports):
            path.mkdir(parents=True, exist_ok=True)


def get_settings() -> Settings:
    return Settings.from_env()
