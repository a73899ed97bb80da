"""What a ``dbt build`` must rebuild: the models downstream of the raw tables that changed since the last
successful build, or everything when the project itself changed.

A run that loads one monthly file used to rebuild every model (a province's full build is ~20 s, half of
such a run). Every model is a pure function of its sources, the project's files, the reference data and
the dbt version (no model reads the clock), so a model whose inputs did not change would be rebuilt
into the same table. ``ops.dbt_builds`` records, per successful build, the digest of those inputs and a
signature of every raw table (row count, newest ``_loaded_at``). The next build selects
``source:raw.<table>+`` for each table whose signature moved, plus ``source:ops+`` (the data-quality mart
reads the run's own ingest log and calendar, so it is rebuilt every run). A changed digest, a missing
record or ``GUDANG_DBT_FULL_BUILD=1`` builds everything. A raw table edited by hand in place (an UPDATE
that keeps its row count and load times) is not noticed: build in full after such an edit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path

import duckdb

from gudang.settings import PROJECT_ROOT, REFERENCE_DIR

#: set to 1 to rebuild every model whatever changed (``gudang run --full-build``)
FULL_BUILD_VARIABLE = "GUDANG_DBT_FULL_BUILD"
#: the models every build runs: those reading ``ops`` (the run's own log and calendar)
ALWAYS_SELECTED = ("source:ops+",)
#: the dbt var carrying :func:`dbt_inputs_hash` to the incremental models
INPUTS_VAR = "gudang_inputs_sha256"
#: resource types production builds leave out: unit tests check the SQL on fixed inputs, so they belong to
#: CI (tests/test_dbt_marts.py runs them), not to every build, where the z-score one held up the stunting
#: chain (~0.7 s). The pipeline passes it as dbt's flag, the Cosmos tasks as dbt's environment variable.
EXCLUDED_RESOURCE_TYPE = "unit_test"
_SKIPPED_PARTS = {"target", "logs", "dbt_packages", ".user.yml"}

BUILDS_DDL = """
CREATE TABLE IF NOT EXISTS ops.dbt_builds (
    built_at        TIMESTAMP,   -- when the build started (UTC)
    inputs_sha256   VARCHAR,     -- dbt_inputs_hash() of the build
    raw_signatures  VARCHAR,     -- JSON: raw table -> [row count, newest _loaded_at]
    selection       VARCHAR[]    -- what was selected (NULL: everything)
)
"""


def dbt_inputs_hash(project_dir: Path) -> str:
    """A digest of what the models are made of besides the data: the dbt project's files, the source
    registry (raw tables and their columns), the reference files the sources read, the region and dbt's version."""
    # the installed distribution's version: importing dbt only to read it cost ~1 s per run
    digest = hashlib.sha256(importlib.metadata.version("dbt-core").encode())
    digest.update(os.environ.get("GUDANG_REGION", "").encode())
    for folder in (project_dir, PROJECT_ROOT / "extract" / "sources", REFERENCE_DIR):
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_file() and not _SKIPPED_PARTS & set(relative.parts):
                digest.update(str(relative).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def dbt_vars(inputs_sha256: str) -> dict[str, str]:
    """What every dbt invocation of the pipeline passes as ``--vars``: the incremental models compare the
    inputs digest with the one their rows were computed with (``macros/incremental_by_lineage.sql``)."""
    return {INPUTS_VAR: inputs_sha256}


def raw_signatures(conn: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, list]:
    """Per raw table: its row count and newest load time (both move with every load, backfill or purge)."""
    signatures = {}
    for table in tables:
        count, newest = conn.execute(f'SELECT count(*), max(_loaded_at) FROM raw."{table}"').fetchone()
        signatures[table] = [count, newest.isoformat() if newest else None]
    return signatures


def build_selection(
    conn: duckdb.DuckDBPyConnection, inputs_sha256: str, signatures: dict[str, list]
) -> list[str] | None:
    """The ``--select`` of this build, or None to build everything."""
    if os.environ.get(FULL_BUILD_VARIABLE, "").strip() in ("1", "true", "yes"):
        return None
    conn.execute(BUILDS_DDL)
    last = conn.execute(
        "SELECT inputs_sha256, raw_signatures FROM ops.dbt_builds ORDER BY built_at DESC LIMIT 1"
    ).fetchone()
    if last is None or last[0] != inputs_sha256:
        return None
    previous = json.loads(last[1])
    changed = sorted(t for t, signature in signatures.items() if previous.get(t) != signature)
    return [*(f"source:raw.{table}+" for table in changed), *ALWAYS_SELECTED]


def record_build(
    conn: duckdb.DuckDBPyConnection,
    started: dt.datetime,
    inputs_sha256: str,
    signatures: dict[str, list],
    selection: list[str] | None,
) -> None:
    conn.execute(BUILDS_DDL)
    conn.execute(
        "INSERT INTO ops.dbt_builds VALUES (?, ?, ?, ?)",
        [started, inputs_sha256, json.dumps(signatures, sort_keys=True), selection],
    )
