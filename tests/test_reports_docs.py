"""dbt docs are generated with real dbt on a real DuckDB warehouse and published as a site that opens from disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gudang.reports.docs import DOCS_FILES, publish_dbt_docs
from gudang.settings import DBT_PROJECT_DIR, Settings

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)

PROJECT_YML = """
name: mini
version: "1.0.0"
config-version: 2
profile: mini
model-paths: ["models"]
"""
PROFILES_YML = """
mini:
  target: prod
  outputs:
    prod:
      type: duckdb
      path: "{{ env_var('GUDANG_WAREHOUSE') }}"
      threads: 1
"""
MODEL_YML = """
version: 2
models:
  - name: mart_mini
    description: Prevalensi contoh per kelurahan.
    config:
      meta: {label_id: Mart contoh}
    columns:
      - name: region_code
        description: Kode Kemendagri.
        config:
          meta: {label_id: Kode wilayah}
      - name: stunting_pct
        description: Persen balita stunting.
        config:
          meta: {label_id: Prevalensi stunting (%)}
"""


@pytest.fixture
def mini_project(tmp_path: Path) -> Path:
    project = tmp_path / "dbt"
    (project / "models" / "marts").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(PROJECT_YML)
    (project / "profiles.yml").write_text(PROFILES_YML)
    (project / "models" / "marts" / "mart_mini.sql").write_text(
        "select '33.74.01.1001' as region_code, 21.5::double as stunting_pct"
    )
    (project / "models" / "marts" / "_marts.yml").write_text(MODEL_YML)
    return project


def _build(project: Path, settings: Settings) -> None:
    from dbt.cli.main import dbtRunner

    from gudang.reports.docs import _environment

    with _environment(GUDANG_WAREHOUSE=str(settings.warehouse)):
        result = dbtRunner().invoke(
            ["build", "--project-dir", str(project), "--profiles-dir", str(project), "--quiet"]
        )
    assert result.success, result.exception


def test_docs_site_is_published_with_catalog_and_static_page(mini_project: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir(parents=True)
    _build(mini_project, settings)

    docs = publish_dbt_docs(settings, project_dir=mini_project)

    assert docs == settings.reports / "docs"
    assert sorted(p.name for p in docs.iterdir() if not p.name.startswith(".")) == sorted(DOCS_FILES)
    manifest = json.loads((docs / "manifest.json").read_text())
    node = manifest["nodes"]["model.mini.mart_mini"]
    assert node["columns"]["stunting_pct"]["meta"]["label_id"] == "Prevalensi stunting (%)"
    catalog = json.loads((docs / "catalog.json").read_text())
    assert set(catalog["nodes"]["model.mini.mart_mini"]["columns"]) == {"region_code", "stunting_pct"}
    static = (docs / "static_index.html").read_text()
    assert "Prevalensi stunting (%)" in static and "model.mini.mart_mini" in static  # inlined, no fetch
    assert not (mini_project / "target" / "catalog.json").exists()  # docs used a private scratch target
    assert not [p for p in settings.reports.iterdir() if p.name.startswith("dbt-docs-")]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (run `make browser`)")
def test_static_docs_open_from_disk_in_chromium(mini_project: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright
    from test_brief_browser import CHROMIUM_ARGS

    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir(parents=True)
    _build(mini_project, settings)
    docs = publish_dbt_docs(settings, project_dir=mini_project)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto((docs / "static_index.html").as_uri() + "#!/model/model.mini.mart_mini")
            page.wait_for_selector("text=Prevalensi contoh per kelurahan", timeout=30_000)
            page.screenshot(path=str(tmp_path / "docs.png"))
        finally:
            browser.close()


def test_docs_fail_loudly_when_dbt_fails(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "dbt_project.yml").write_text("name: [not valid")
    with pytest.raises(Exception, match="dbt docs generate"):
        publish_dbt_docs(Settings(home=tmp_path / "home"), project_dir=broken)


@pytest.mark.slow
@pytest.mark.skipif(not (DBT_PROJECT_DIR / "models" / "marts").is_dir(), reason="dbt marts not written yet")
def test_real_project_docs_describe_every_mart_column_with_an_indonesian_label(tmp_path: Path) -> None:
    """On an empty warehouse (no data needed): the manifest carries every mart column and its label."""
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir(parents=True)
    docs = publish_dbt_docs(settings)
    manifest = json.loads((docs / "manifest.json").read_text())
    marts = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and "/marts/" in n["original_file_path"]
    ]
    assert marts
    for node in marts:
        assert node["description"], node["name"]
        for column in node["columns"].values():
            assert column["description"], f"{node['name']}.{column['name']}"
            assert column["meta"].get("label_id"), f"{node['name']}.{column['name']}"


def test_docs_are_regenerated_only_when_the_project_changes(mini_project: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir(parents=True)
    _build(mini_project, settings)
    docs = publish_dbt_docs(settings, project_dir=mini_project)
    first = (docs / "manifest.json").stat().st_mtime_ns

    publish_dbt_docs(settings, project_dir=mini_project)  # only data could have changed: the site stays
    assert (docs / "manifest.json").stat().st_mtime_ns == first

    yml = mini_project / "models" / "marts" / "_marts.yml"
    yml.write_text(yml.read_text().replace("Persen balita stunting.", "Persen balita pendek (stunting)."))
    publish_dbt_docs(settings, project_dir=mini_project)
    manifest = json.loads((docs / "manifest.json").read_text())
    assert manifest["nodes"]["model.mini.mart_mini"]["columns"]["stunting_pct"]["description"] == (
        "Persen balita pendek (stunting)."
    )
