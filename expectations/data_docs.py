"""The run's GX results kept as a file-based GX context and rendered as Data Docs HTML.

Layout under ``$GUDANG_HOME/reports/gx/``: ``gx/`` is the GX project (suites, stored validation results);
``data_docs/index.html`` is the rendered site.

Why store-then-render: the file gate validates every file in its own (Airflow task) process, and rebuilding
Data Docs costs ~0.2 s plus more per stored result, so rebuilding per file would grow quadratically. Each
validation result is written to the context's validation-results store as it happens (a few ms), and
:func:`build_data_docs` renders the site once at the end of the run.

The render is incremental: a call renders the suites and the results that are new (the run's, and any without
a page yet), not the whole history; pages rendered earlier stay on disk, and GX's index builder lists every
page on disk whose stored result still exists, so the index keeps the whole history.
"""

from __future__ import annotations

import copy
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import great_expectations as gx
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import FileDataContext
from great_expectations.data_context.store.html_site_store import HtmlSiteStore
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from expectations.suites import load_suite, suite_json, suite_names
from gudang.settings import Settings

log = logging.getLogger(__name__)

SITE_NAME = "local_site"
#: in the site: the fingerprint of the suites its suite pages were rendered from
_SUITES_RENDERED = ".suites_rendered"
#: result keys holding row values or row ids: dropped from what is kept (size, and personal data)
_ROW_LEVEL_RESULT_KEYS = (
    "unexpected_list",
    "unexpected_index_list",
    "unexpected_index_query",
    "unexpected_rows",
    "partial_unexpected_index_list",
)
#: result keys with example values: kept for non-personal columns only
_EXAMPLE_RESULT_KEYS = ("partial_unexpected_list", "partial_unexpected_counts")


def gx_root(settings: Settings) -> Path:
    return settings.reports / "gx"


def data_docs_dir(settings: Settings) -> Path:
    return gx_root(settings) / "data_docs"


@contextmanager
def _project_lock(root: Path) -> Iterator[None]:
    """Serialise scaffolding/config writes of the GX project across the run's processes."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@cache
def _context_at(root: Path) -> FileDataContext:
    with _project_lock(root):
        context = gx.get_context(mode="file", project_root_dir=str(root))
        site = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            # relative to the context root (root/gx): the site lands in root/data_docs
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": "../data_docs/"},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
        if context.variables.data_docs_sites != {SITE_NAME: site}:
            context.variables.data_docs_sites = {SITE_NAME: site}
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            context.variables.save()
    return context


def file_context(settings: Settings) -> FileDataContext:
    """The data home's GX project (created on first use, cached per process)."""
    return _context_at(gx_root(settings).resolve())


def current_run_name() -> str:
    """The pipeline run this process works for: gudang's run id, else Airflow's DAG run id."""
    return os.environ.get("GUDANG_RUN_ID") or os.environ.get("AIRFLOW_CTX_DAG_RUN_ID") or "manual"


def scrub_result(
    result: ExpectationSuiteValidationResult, personal_columns: set[str]
) -> ExpectationSuiteValidationResult:
    """A copy fit to keep in the reports: no row ids, no values of personal-data columns."""
    kept = copy.deepcopy(result)
    for item in kept.results:
        kwargs = item.expectation_config.kwargs
        columns = {
            kwargs.get("column"),
            kwargs.get("column_A"),
            kwargs.get("column_B"),
            *kwargs.get("column_list", []),
        }
        for key in _ROW_LEVEL_RESULT_KEYS:
            item.result.pop(key, None)
        if columns & personal_columns:
            for key in _EXAMPLE_RESULT_KEYS:
                item.result.pop(key, None)
    # the batch markers carry nothing personal, but the batch spec may hold the frame itself
    kept.meta.pop("batch_spec", None)
    return kept


def record_validation(
    settings: Settings,
    result: ExpectationSuiteValidationResult,
    *,
    suite_name: str,
    batch_name: str,
    personal_columns: set[str] = frozenset(),
    run_name: str | None = None,
) -> ValidationResultIdentifier:
    """Keep one file's validation result in the GX store (rendered later by :func:`build_data_docs`)."""
    context = file_context(settings)
    safe_batch = re.sub(r"[^A-Za-z0-9._-]+", "_", batch_name)
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
        run_id=RunIdentifier(run_name=run_name or current_run_name(), run_time=dt.datetime.now(dt.UTC)),
        batch_identifier=safe_batch,
    )
    context.validation_results_store.set(key, scrub_result(result, set(personal_columns)))
    return key


def _rendered_result_keys(context: FileDataContext) -> set[ValidationResultIdentifier]:
    """Validation results that already have a page in the site (listed as GX's index builder lists them)."""
    site = HtmlSiteStore(
        store_backend=context.variables.data_docs_sites[SITE_NAME]["store_backend"],
        runtime_environment={"root_directory": context.root_directory},
    )
    backend = site.store_backends[ValidationResultIdentifier]
    return {ValidationResultIdentifier.from_tuple(key) for key in backend.list_keys()}


def _suites_fingerprint(names: list[str]) -> str:
    """The suites as rendered: their JSON and the GX version that renders them."""
    digest = hashlib.sha256(gx.__version__.encode())
    for name in names:
        digest.update(json.dumps([name, suite_json(name)], sort_keys=True).encode())
    return digest.hexdigest()


def build_data_docs(settings: Settings, run_name: str | None = None) -> Path:
    """Render the run's validation results and the repo's suites into the Data Docs site; returns index.html.

    Rendered: the suites when they changed since the site's suite pages were rendered, the results stored
    under ``run_name`` (default :func:`current_run_name`), and any stored result that has no page yet. The
    last covers results kept under another run name (under Airflow the file gate runs in the ingest DAGs'
    runs, whose run ids differ from the transform run's that calls this) and runs whose Data Docs task never
    ran. Earlier pages stay on disk and are not rebuilt, so the cost follows what is new, not the data home's
    history; GX rebuilds the index in full from the pages on disk, so it still lists every result.
    """
    context = file_context(settings)
    run_name = run_name or current_run_name()
    site = data_docs_dir(settings)
    index = site / "index.html"
    with _project_lock(gx_root(settings)):
        names = suite_names()
        fingerprint = _suites_fingerprint(names)
        marker = site / _SUITES_RENDERED
        # storing and rendering the suites is ~0.3 s of every run; they change only with the code
        suites_current = (
            index.exists()
            and marker.exists()
            and marker.read_text() == fingerprint
            and all((site / "expectations" / f"{name}.html").exists() for name in names)
        )
        suite_keys = []
        if not suites_current:
            for name in names:
                context.suites.add_or_update(copy.deepcopy(load_suite(name)))
                suite_keys.append(ExpectationSuiteIdentifier(name=name))
        rendered = _rendered_result_keys(context)
        result_keys = [
            key
            for key in context.validation_results_store.list_keys()
            if key.run_id.run_name == run_name or key not in rendered
        ]
        log.info(
            "Data Docs: rendering %d results (run %s and any not rendered yet), %d suites",
            len(result_keys),
            run_name,
            len(suite_keys),
        )
        # A set, though GX annotates a list: each section builder tests every stored key with ``in``, which on
        # a list costs stored x selected identifier comparisons (~45 s for 2,205 new among 4,410 stored); the
        # identifiers hash by their tuple. Never empty: GX renders everything for an empty selection (and
        # with nothing new and the suites current, the site is up to date).
        resources = frozenset(suite_keys + result_keys)
        if resources:
            context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=resources)
        if suite_keys:
            marker.write_text(fingerprint)
    if not index.exists():
        raise FileNotFoundError(f"GX did not write Data Docs to {index}")
    return index
