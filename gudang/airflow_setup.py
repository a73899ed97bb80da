"""Point Airflow at gudang's embedded defaults and prepare its metadata database, idempotently.

Airflow reads its configuration once, when ``airflow`` is first imported, so :func:`ensure_airflow` must
run before anything imports it. The embedded defaults are: ``AIRFLOW_HOME`` under the data home, SQLite
metadata inside it, the repository's ``dags/`` folder, no example DAGs, a Fernet key kept in the data
home's ``secrets/``. Any of these already set in the environment (a production deployment sets PostgreSQL,
for instance) is left alone.

The first call migrates the metadata database and creates the single-slot ``duckdb_writer`` pool in a
child process (so the caller's own ``import airflow`` is not configured half-way); it then leaves a stamp
file, and later calls only set the environment (milliseconds).

Run as ``python -m gudang.airflow_setup`` (Compose's ``airflow-init``), it first refuses a deployment whose
secrets are still ``.env.example``'s placeholders (:func:`refuse_insecure_secrets`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

from gudang.settings import (
    DAGS_DIR,
    SECRET_PLACEHOLDER,
    WRITER_POOL,
    InsecureSecretError,
    Settings,
    checked_hash_key,
    get_settings,
    placeholder_secrets,
)

log = logging.getLogger(__name__)

POOL_DESCRIPTION = "DuckDB allows one writer process per file: every task that writes the warehouse runs here"
STAMP_NAME = ".gudang-airflow.json"


def airflow_env(settings: Settings) -> dict[str, str]:
    """The Airflow configuration gudang runs with (environment-variable form), before user overrides."""
    home = settings.airflow_home
    fernet_key = os.environ.get("AIRFLOW__CORE__FERNET_KEY")
    if fernet_key is None:  # a key the deployment sets (even empty) is its choice: none is made here
        fernet_key = settings.airflow_fernet_key
    return {
        "GUDANG_HOME": str(settings.home),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Connection passwords (an SMTP login for the alerts) and variables are stored encrypted.
        "AIRFLOW__CORE__FERNET_KEY": fernet_key,
        # New DAGs run as soon as they are parsed: dropping a file in the inbox is all an agency does.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # The registry and Cosmos's dbt manifest parsing make the DAG files heavier than the 30 s default allows
        # on a small machine under load.
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__CORE__DAG_FILE_PROCESSOR_TIMEOUT": "180",
        # Cosmos reports every DAG run to its vendor's analytics (Scarf) unless told not to: a planning
        # agency's runs stay on its own network (and a firewalled one no longer waits on the request).
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    }


def apply_env(settings: Settings, *, override: bool = False) -> dict[str, str]:
    """Export :func:`airflow_env` into ``os.environ`` (values already set win unless ``override``)."""
    for key, value in airflow_env(settings).items():
        if override or key in ("GUDANG_HOME", "AIRFLOW_HOME"):
            os.environ[key] = value
        else:
            os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in airflow_env(settings)}


def _stamp(env: dict[str, str]) -> dict[str, str]:
    return {
        "airflow": version("apache-airflow"),
        "database": env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        "pool": WRITER_POOL,
    }


def ensure_airflow(
    settings: Settings | None = None, *, force: bool = False, export: bool = True
) -> dict[str, str]:
    """Configure the environment for Airflow and make sure its metadata DB and writer pool exist.

    Returns the Airflow-related environment now in effect. Safe to call any number of times.
    ``export=False`` leaves ``os.environ`` alone (for preparing a home that child processes will use).
    """
    settings = settings or get_settings()
    env = apply_env(settings) if export else airflow_env(settings)
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    stamp_file = home / STAMP_NAME
    wanted = _stamp(env)
    if not force and stamp_file.exists() and json.loads(stamp_file.read_text()) == wanted:
        return env
    done = subprocess.run(
        [sys.executable, "-m", "gudang.airflow_setup"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"Airflow metadata setup failed in {home}:\n{done.stderr[-4000:]}")
    stamp_file.write_text(json.dumps(wanted, indent=2))
    return env


@functools.cache
def serve_own_api_version_in_process() -> bool:
    """Build the in-process execution API of ``dag.test()`` for the one API version its client speaks.

    ``dag.test()`` talks to Airflow's execution API inside this process, with the task SDK's own
    ``API_VERSION``, the newest version the server knows. Cadwyn builds the server's routes for every version
    it supports (nine, for workers of older SDKs) on the first request: ~3 s of every ``gudang run`` (a sixth
    of an incremental province run) for versions nothing in the process speaks. Here the API is built, once
    per process (Airflow caches it), with that one version; the routes kept for older versions only are
    left out, as Cadwyn would leave them out of the newest version. The first request is made here, so a
    build that fails falls back to Airflow's own API before any DAG runs.

    Returns whether the one-version API is in use. Airflow's own is kept when the SDK does not speak the
    server's newest version, when a DAG already ran in this process, or when the build fails.
    """
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    if in_process_api_server.cache_info().currsize:
        return False  # a DAG already ran in this process: its API stays
    try:
        return _build_one_version_api(in_process_api_server)
    except Exception:  # noqa: BLE001 - Airflow's own API is slower, never wrong
        log.warning("in-process execution API for one version failed; using Airflow's own", exc_info=True)
        in_process_api_server.cache_clear()
        return False


def _build_one_version_api(in_process_api_server: Any) -> bool:
    """Fill Airflow's cache of the in-process API with a one-version build (see the caller); False when the
    SDK does not speak the server's newest version. Cadwyn's internals are used here, hence the caller's
    fallback."""
    import httpx
    from airflow.api_fastapi.execution_api import versions
    from airflow.sdk.api.datamodels._generated import API_VERSION
    from cadwyn import HeadVersion, Version, VersionBundle
    from cadwyn.route_generation import _DELETED_ROUTE_TAG

    every_version = versions.bundle
    if every_version.versions[0].value != API_VERSION:
        return False
    versions.bundle = VersionBundle(HeadVersion(*every_version.head_version.changes), Version(API_VERSION))
    try:
        api = in_process_api_server()
        app = api.app  # built now, while the module holds the one-version bundle
    finally:
        versions.bundle = every_version
    head = app._latest_version_router
    head.routes = [route for route in head.routes if _DELETED_ROUTE_TAG not in getattr(route, "tags", ())]
    with httpx.Client(transport=api.transport, base_url="http://in-process.invalid./") as client:
        client.get("/")  # Cadwyn builds the routes on the first request (a 404 here)
    return True


def _bootstrap_in_this_process() -> None:
    """Migrate the metadata DB and create the writer pool (run in a fresh interpreter by ensure_airflow)."""
    from airflow.models.pool import Pool
    from airflow.utils import db

    db.upgradedb()
    Pool.create_or_update_pool(
        name=WRITER_POOL, slots=1, description=POOL_DESCRIPTION, include_deferred=False
    )
    print(f"airflow metadata ready; pool {WRITER_POOL} = 1 slot", file=sys.stderr)


def refuse_insecure_secrets(env: Mapping[str, str]) -> None:
    """Stop a deployment that still carries .env.example's placeholders (or a guessable hash key) before it
    migrates anything: Compose's ``airflow-init`` runs this module, and every Airflow service waits for it."""
    placeholders = placeholder_secrets(env)
    problems = [
        f"{name} masih bernilai '{SECRET_PLACEHOLDER}' (contoh dari .env.example): isi dengan rahasia sungguhan"
        for name in placeholders
    ]
    hash_key = env.get("GUDANG_HASH_KEY")
    if hash_key and "GUDANG_HASH_KEY" not in placeholders:
        try:
            checked_hash_key(hash_key)
        except InsecureSecretError as exc:
            problems.append(str(exc))
    if problems:
        raise InsecureSecretError(
            "konfigurasi tidak aman, Airflow tidak disiapkan:\n- " + "\n- ".join(problems)
        )


if __name__ == "__main__":
    try:
        refuse_insecure_secrets(os.environ)
    except InsecureSecretError as refused:
        sys.exit(str(refused))
    _bootstrap_in_this_process()
