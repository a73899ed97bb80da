"""Whole-pipeline runs for the reliability and privacy tests, and content hashes of the published marts.

:func:`run_pipeline` calls the same step functions, in the same order, as the Airflow DAGs
(``dags/gudang_ingest.py`` then ``dags/gudang_transform.py``) without Airflow's scheduling, so a run on
the reduced sample takes seconds; the Airflow wiring itself is tested with the orchestration.

:func:`demo_run` is one reduced-sample run per test session, shared read-only by the tests that only
inspect its result; tests that change a data home copy it first (:func:`copy_home`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from gudang.settings import Settings

from .home import use_home

#: The reduced sample: the real Kota Semarang layout with fewer rows per file.
SAMPLE_REGION = "33.74"
SAMPLE_SEED = 7
SAMPLE_SIZE = 0.1


def dbt_target(settings: Settings) -> Path:
    return settings.home / "dbt" / "target"


def dbt_scratch_args(settings: Settings) -> list[str]:
    """Keep dbt's target/ and logs/ inside the data home: tests never write into the repository."""
    return ["--target-path", str(dbt_target(settings)), "--log-path", str(settings.home / "dbt" / "logs")]


def run_transform(settings: Settings, run_id: str) -> dict:
    """dbt build, mart gate, publish: the transform DAG's first three tasks."""
    from expectations.mart_gate import run_mart_gate
    from gudang import pipeline

    try:
        pipeline.dbt_build(settings, *dbt_scratch_args(settings))
        gate = pipeline.jsonable(
            run_mart_gate(settings, run_id, dbt_run_results=dbt_target(settings) / "run_results.json")
        )
    except Exception:
        # As in the DAG: a failed build or gate still reaches publish, which records the block.
        gate = None
    return {"gate": gate, "published": pipeline.publish(settings, run_id, gate)}


def run_pipeline(settings: Settings, run_id: str, *, reports: bool = False) -> dict:
    """Ingest the inbox, then the transform (and optionally the calendar, reports and digest)."""
    from extract.ingest import ingest_inbox
    from gudang import pipeline

    result = {"ingested": ingest_inbox(settings, run_id=run_id), **run_transform(settings, run_id)}
    if reports:
        from gudang.alerts import DigestDeliveryError

        pipeline.check_calendar(settings, run_id)
        pipeline.build_reports(settings, run_id)
        # No SMTP server in these tests: the digest files are written before delivery is attempted.
        with contextlib.suppress(DigestDeliveryError):
            pipeline.send_alert_digest(settings, run_id)
    return result


def generate_sample(out: Path) -> dict:
    """The reduced Kota Semarang sample into ``out``; returns the generator's manifest."""
    from gudang.sample import generate

    manifest = generate(
        region=SAMPLE_REGION,
        out=out,
        seed=SAMPLE_SEED,
        scale="kota",
        manifest_path=out.parent / "sample_manifest.json",
        size=SAMPLE_SIZE,
    )
    return json.loads(Path(manifest).read_text())


def manifest_pii(manifest: dict) -> list[str]:
    """Every personal string the generator put into the files (NIK, No KK, names, phones, addresses)."""
    pii = manifest.get("pii") or {}
    values = pii.values() if isinstance(pii, dict) else [pii]
    return [str(v) for group in values for v in (group if isinstance(group, list) else [group])]


@dataclass(frozen=True)
class DemoRun:
    settings: Settings
    inputs: Path  # a pristine copy of every file the run found in its inbox
    manifest: dict
    result: dict


_DEMO: dict[str, DemoRun] = {}


def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The session's reduced-sample run (made once, then shared): do not modify its data home."""
    if "run" not in _DEMO:
        base = tmp_path_factory.mktemp("demo")
        inputs = base / "inputs"
        manifest = generate_sample(inputs)
        with pytest.MonkeyPatch.context() as monkeypatch:
            settings = use_home(monkeypatch, base / "home")
            shutil.copytree(
                inputs, settings.inbox, dirs_exist_ok=True, ignore=shutil.ignore_patterns("manifest*")
            )
            result = run_pipeline(settings, "demo-run-1", reports=True)
        _DEMO["run"] = DemoRun(settings, inputs, manifest, result)
    return _DEMO["run"]


def copy_home(demo: DemoRun, destination: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of the demo's data home, made current for this test."""
    shutil.copytree(demo.settings.home, destination)
    return use_home(monkeypatch, destination)


def published_mart_hashes(database: Path) -> dict[str, str]:
    """:func:`content_hashes` of the marts in a published file (``_publication`` / ``_last_run`` are run records)."""
    return {
        name: digest for name, digest in content_hashes(database, "main").items() if not name.startswith("_")
    }


def content_hashes(database: Path, schema: str | None = None) -> dict[str, str]:
    """sha256 of every table's rows (sorted, so physical order does not matter) and column names/types.

    Independent of ``gudang.publish.mart_content_hashes`` on purpose: the tests check the publisher with
    a hash it did not compute itself.
    """
    hashes = {}
    with duckdb.connect(str(database), read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND (? IS NULL OR table_schema = ?) ORDER BY ALL",
            [schema, schema],
        ).fetchall()
        for table_schema, table in tables:
            relation = f'"{table_schema}"."{table}"'
            digest = hashlib.sha256()
            columns = conn.execute(f"DESCRIBE {relation}").fetchall()
            digest.update(repr([(c[0], c[1]) for c in columns]).encode())
            for row in conn.execute(f"SELECT * FROM {relation} ORDER BY ALL").fetchall():
                digest.update(repr(row).encode())
            hashes[f"{table_schema}.{table}" if schema is None else table] = digest.hexdigest()
    return hashes
