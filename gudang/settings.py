"""Where a run reads and writes, resolved once from the environment.

Everything a run writes lives under ``$GUDANG_HOME`` (default ``./data``) so that a demo, a test and a
production deployment differ only by one variable.
"""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = PROJECT_ROOT / "reference"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DAGS_DIR = PROJECT_ROOT / "dags"

#: The one Airflow pool every warehouse-writing task runs in: DuckDB allows a single writer process.
WRITER_POOL = "duckdb_writer"

#: What .env.example writes where a secret goes. Compose only checks that a secret is set, so a deployment
#: that copied the file and forgot a line would run with this as its key or password.
SECRET_PLACEHOLDER = "change-me"
#: The shortest GUDANG_HASH_KEY accepted. NIKs are 16 structured digits: anyone holding the key can hash
#: every plausible NIK and so reverse the pseudonyms, and a short or guessable key is found by trying keys.
MIN_HASH_KEY_CHARS = 16
_KEY_GENERATOR_COMMAND = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


class InsecureSecretError(ValueError):
    """A secret is missing its real value (still the placeholder, or too short to be a key)."""


def placeholder_secrets(env: Mapping[str, str]) -> list[str]:
    """The variables of ``env`` still holding :data:`SECRET_PLACEHOLDER`, as the value or as a URL's password."""
    return sorted(
        name
        for name, value in env.items()
        if value == SECRET_PLACEHOLDER or f":{SECRET_PLACEHOLDER}@" in value
    )


def checked_hash_key(value: str) -> bytes:
    """``GUDANG_HASH_KEY`` as the pseudonymiser's key, refused while it is the placeholder or too short."""
    if value == SECRET_PLACEHOLDER or len(value) < MIN_HASH_KEY_CHARS:
        problem = (
            f"masih nilai contoh '{SECRET_PLACEHOLDER}' dari .env.example"
            if value == SECRET_PLACEHOLDER
            else f"terlalu pendek ({len(value)} karakter; minimal {MIN_HASH_KEY_CHARS})"
        )
        raise InsecureSecretError(
            f"GUDANG_HASH_KEY tidak aman: {problem}. Kunci ini menyamarkan NIK, nama dan alamat; dengan kunci "
            f"yang bisa ditebak setiap NIK dapat dipulihkan. Buat kunci baru dengan: {_KEY_GENERATOR_COMMAND} "
            "(lalu simpan: mengganti kunci mengubah semua pengenal yang disamarkan)."
        )
    return value.encode()


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
            return checked_hash_key(from_env)
        return _home_secret(self.home / "secrets" / "hash.key", lambda: secrets.token_hex(32)).encode()

    @cached_property
    def airflow_fernet_key(self) -> str:
        """The key Airflow encrypts connection passwords and variables with, for the embedded defaults: made
        once in the data home (a deployment sets ``AIRFLOW__CORE__FERNET_KEY`` instead)."""
        return _home_secret(
            self.home / "secrets" / "airflow_fernet.key",
            lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        )

    def ensure_dirs(self) -> None:
        for path in (self.inbox, self.archive, self.quarantine, self.reports):
            path.mkdir(parents=True, exist_ok=True)


def _home_secret(path: Path, make: Callable[[], str]) -> str:
    """A secret kept in the data home: made once, readable by its owner only, and never seen half-written
    (it is written to a private temporary file, then linked into place; a concurrent maker's link wins)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(handle, "w") as file:
                file.write(make())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: theirs is the secret
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


def get_settings() -> Settings:
    return Settings.from_env()
