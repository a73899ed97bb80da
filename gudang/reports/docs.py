"""The dbt docs site (lineage graph, every mart column with its Indonesian label) for analysts.

``dbt docs generate`` writes ``index.html`` that fetches ``manifest.json`` and ``catalog.json``; browsers
refuse that fetch from ``file://``, so we also publish dbt's own ``--static`` build (``static_index.html``,
both JSON documents inlined) which opens straight from disk or a shared drive.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gudang.dbt_state import dbt_inputs_hash
from gudang.settings import DBT_PROJECT_DIR, Settings

DOCS_FILES = ("index.html", "manifest.json", "catalog.json", "static_index.html")
INPUTS_MARKER = ".inputs.sha256"


class DbtDocsError(RuntimeError):
    pass


@contextmanager
def _environment(**variables: str) -> Iterator[None]:
    """dbt reads its profile's ``env_var()`` from the process environment: set them for one invocation."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def publish_dbt_docs(settings: Settings, *, project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """Run ``dbt docs generate --static`` on the warehouse and publish to ``$GUDANG_HOME/reports/docs/``.

    Returns the docs folder. dbt writes into a private temporary target path, so a concurrent
    ``dbt build`` (which uses the project's ``target/``) is never disturbed, and the published folder is
    replaced file by file only after dbt succeeded.
    """
    docs_dir = settings.reports / "docs"
    docs_dir.mkdir(parents=True, exist_ok=True)
    # The site describes the project, not the data (dbt-duckdb's catalog carries no row statistics), so
    # a run that changed only data keeps the published site: regenerating cost ~15 s of every run.
    inputs = dbt_inputs_hash(project_dir)
    marker = docs_dir / INPUTS_MARKER
    if (
        all((docs_dir / name).exists() for name in DOCS_FILES)
        and marker.exists()
        and marker.read_text() == inputs
    ):
        return docs_dir

    from dbt.cli.main import dbtRunner  # heavy import: only when the docs are wanted

    with tempfile.TemporaryDirectory(prefix="dbt-docs-", dir=settings.reports) as scratch:
        target_path = Path(scratch) / "target"
        args = [
            "docs",
            "generate",
            "--static",
            "--project-dir",
            str(project_dir),
            "--target-path",
            str(target_path),
            "--log-path",
            str(Path(scratch) / "logs"),
            "--quiet",
        ]
        if (project_dir / "profiles.yml").exists():
            args += ["--profiles-dir", str(project_dir)]
        with _environment(GUDANG_WAREHOUSE=str(settings.warehouse), GUDANG_REGION=settings.region):
            result = dbtRunner().invoke(args)
        if not result.success:
            raise DbtDocsError(f"dbt docs generate gagal: {result.exception or 'lihat log dbt'}")
        for name in DOCS_FILES:
            source = target_path / name
            if not source.exists():
                raise DbtDocsError(f"dbt docs generate tidak menghasilkan {name}")
            partial = docs_dir / f".{name}.part"
            shutil.copyfile(source, partial)
            partial.replace(docs_dir / name)
    marker.write_text(inputs)
    return docs_dir
