"""Personal data (UU 27/2022 PDP) never reaches the warehouse, the published marts or the reports.

After a reduced demo run (the real sample generator, every source), every column of every table of
``warehouse.duckdb`` and ``marts.duckdb`` is scanned for NIK / No KK shapes and for every personal
string the generator wrote into the files (its manifest's ``pii`` lists). The digest and every other
text report are scanned the same way. Pseudonymous keys are keyed hashes: another key, other keys.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import pytest
from badinput import use_home
from badinput.pii import NIK_PATTERN, KnownStrings, find_pii, find_pii_in_text, table_count
from badinput.runs import DemoRun, manifest_pii
from badinput.workbooks import EPPGBM_HEADERS, Sheet, eppgbm_name, eppgbm_rows, table, write_xlsx

from extract.registry import get_source
from gudang.warehouse import connect

ingest = pytest.importorskip("extract.ingest", reason="waiting for extract.ingest (the extraction engine)")

TEXT_REPORT_SUFFIXES = {".txt", ".html", ".htm", ".json", ".csv", ".md", ".xml", ".js"}


def test_the_demo_run_holds_personal_data_to_look_for(demo: DemoRun) -> None:
    """Guards the scans below against passing vacuously."""
    pii = manifest_pii(demo.manifest)
    niks = [v for v in pii if re.fullmatch(r"\d{16}", v)]
    assert len(niks) >= 50, "the manifest lists too few NIKs"
    assert all(re.search(NIK_PATTERN, v) for v in niks), "the NIK shape must recognise every generated NIK"
    assert sum(not v.isdigit() for v in pii) >= 50, "the manifest lists too few names"
    with connect(demo.settings, read_only=True) as conn:
        hashed = conn.execute(
            "SELECT count(*) FROM raw.eppgbm_measurement WHERE child_key IS NOT NULL"
        ).fetchone()
    assert hashed[0] > 0
    assert table_count(demo.settings.warehouse) >= 20
    assert table_count(demo.settings.published) >= 5


@pytest.mark.parametrize("database", ["warehouse", "published"])
def test_no_nik_shape_or_generated_name_in_any_table(demo: DemoRun, database: str) -> None:
    path = getattr(demo.settings, database)
    assert find_pii(path, manifest_pii(demo.manifest)) == []


def _text_reports(reports: Path) -> list[Path]:
    return [p for p in reports.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_REPORT_SUFFIXES]


def test_digest_and_reports_carry_no_personal_data(demo: DemoRun) -> None:
    digests = sorted(demo.settings.reports.glob("digest-*.txt"))
    assert digests, f"no digest under {demo.settings.reports}"
    known = KnownStrings(manifest_pii(demo.manifest))
    leaks = []
    for path in _text_reports(demo.settings.reports):
        if found := find_pii_in_text(path.read_text(encoding="utf-8", errors="replace"), known):
            leaks.append(f"{path.relative_to(demo.settings.home)}: {found!r}")
    assert not leaks, "\n".join(leaks)


def test_originals_stay_under_the_data_home(demo: DemoRun) -> None:
    home = demo.settings.home.resolve()
    with connect(demo.settings, read_only=True) as conn:
        stored = [r[0] for r in conn.execute("SELECT stored_path FROM ops.ingest_log").fetchall()]
    assert stored and all(Path(p).resolve().is_relative_to(home) for p in stored if p)


# --- keyed pseudonyms --------------------------------------------------------------------------------


def _child_keys(monkeypatch: pytest.MonkeyPatch, home: Path, hash_key: str, period: str) -> list[str]:
    settings = use_home(monkeypatch, home, hash_key=hash_key)
    path = write_xlsx(
        settings.inbox / "eppgbm" / eppgbm_name(period),
        [Sheet("Data", table(eppgbm_rows(period), EPPGBM_HEADERS))],
    )
    result = ingest.ingest_file(path, get_source("eppgbm"), settings, run_id="privacy")
    assert result.status == "loaded", result
    with connect(settings, read_only=True) as conn:
        keys = conn.execute("SELECT child_key FROM raw.eppgbm_measurement ORDER BY _source_row").fetchall()
    assert find_pii(settings.warehouse, [row["Nama"] for row in eppgbm_rows(period)]) == []
    return [k[0] for k in keys]


def test_pseudonymous_keys_change_with_the_hash_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = _child_keys(monkeypatch, tmp_path / "a", "hash-key-A-for-privacy-tests", "2026-10")
    again = _child_keys(monkeypatch, tmp_path / "b", "hash-key-A-for-privacy-tests", "2026-10")
    other = _child_keys(monkeypatch, tmp_path / "c", "hash-key-B-for-privacy-tests", "2026-10")
    assert len(first) == 10 and len(set(first)) == 10
    assert first == again, "the same key must give the same pseudonyms (children stay linkable across files)"
    assert not set(first) & set(other), "another key must give unrelated pseudonyms"


def test_child_key_is_hmac_sha256_of_the_nik(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """docs/architecture.md: personal columns hold HMAC-SHA256 (hex) keyed by Settings.hash_key."""
    keys = _child_keys(monkeypatch, tmp_path, "hash-key-A-for-privacy-tests", "2026-09")
    expected = [
        hmac.new(b"hash-key-A-for-privacy-tests", str(row["NIK"]).encode(), hashlib.sha256).hexdigest()
        for row in eppgbm_rows("2026-09")
    ]
    assert keys == expected
