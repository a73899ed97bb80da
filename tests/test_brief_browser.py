"""The planning brief in a real headless Chromium (Debian's ``chromium``), opened from disk like a planner would.

Skipped only when Chromium is not installed (``make browser`` installs it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_reports_fixture import build_published_marts

from gudang.reports.brief import SECTION_BUILDERS, render_brief
from gudang.settings import Settings

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium not installed (run `make browser`): cannot render the brief"
)


def _open_in_chromium(brief: Path, screenshot: Path) -> dict:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
            # Any network request means the page is not self-contained (it must work offline from disk).
            page.on(
                "request",
                lambda request: (
                    problems.append(f"network: {request.url}")
                    if not request.url.startswith(("file:", "data:", "blob:", "about:"))
                    else None
                ),
            )
            page.goto(brief.as_uri(), wait_until="load")
            page.wait_for_function(
                "document.querySelectorAll('section[data-empty=false]').length === 0 || "
                "[...document.querySelectorAll('section[data-empty=false]')]"
                ".every(s => s.querySelector('.plotly .main-svg'))",
                timeout=30_000,
            )
            sections = page.eval_on_selector_all(
                "main > section",
                """els => els.map(s => ({
                    id: s.id,
                    empty: s.dataset.empty === 'true',
                    charts: s.querySelectorAll('.js-plotly-plot .main-svg').length > 0
                        ? s.querySelectorAll('.js-plotly-plot').length : 0,
                    bars: s.querySelectorAll('.js-plotly-plot .point, .js-plotly-plot .trace').length,
                    text: s.innerText,
                }))""",
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"problems": problems, "sections": sections}


def test_brief_renders_every_chart_without_console_errors(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    build_published_marts(settings.published)
    brief = render_brief(settings, "run-browser")
    screenshot = tmp_path / "brief.png"

    result = _open_in_chromium(brief, screenshot)

    assert result["problems"] == []
    sections = result["sections"]
    assert len(sections) == len(SECTION_BUILDERS)
    assert {s["id"] for s in sections} == {
        "stunting",
        "spm",
        "kemiskinan",
        "investasi",
        "kualitas-data",
        "prioritas-kelurahan",
    }
    for section in sections:
        assert not section["empty"], section["id"]
        assert section["charts"] >= 1, f"section {section['id']} shows no rendered chart"
        assert section["bars"] > 0, f"section {section['id']} chart has no data drawn"
        assert "Belum ada data" not in section["text"]
    assert screenshot.stat().st_size > 50_000
    print(f"screenshot: {screenshot}")


def test_brief_with_empty_marts_says_so_and_still_loads_cleanly(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    build_published_marts(settings.published, empty=True)
    brief = render_brief(settings, "run-empty")

    result = _open_in_chromium(brief, tmp_path / "empty.png")

    assert result["problems"] == []
    for section in result["sections"]:
        assert section["empty"], section["id"]
        assert section["charts"] == 0
        assert "Belum ada data" in section["text"]


def test_hostile_region_names_are_shown_as_text_not_run(tmp_path: Path) -> None:
    """Names come from agency files and reference data: markup in them must never execute."""
    settings = Settings(home=tmp_path / "home")
    build_published_marts(settings.published)
    import duckdb

    hostile = "</script><script>alert('x')</script><img src=x onerror=alert(1)>"
    with duckdb.connect(str(settings.published)) as conn:
        conn.execute("UPDATE mart_kelurahan_priority SET region_name = ? WHERE priority_rank = 1", [hostile])
        conn.execute("UPDATE mart_data_quality SET agency = ? WHERE source = 'lkpm'", [hostile])
    brief = render_brief(settings, "run-hostile")

    result = _open_in_chromium(brief, tmp_path / "hostile.png")

    assert result["problems"] == []
    scorecard = next(s for s in result["sections"] if s["id"] == "prioritas-kelurahan")
    assert hostile in scorecard["text"]  # shown literally in the lead and the table
