"""The query cookbook in docs/analysts.md runs, read-only, against marts shaped like the published ones."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
from test_reports_fixture import build_published_marts

from gudang.settings import PROJECT_ROOT

COOKBOOK = PROJECT_ROOT / "docs" / "analysts.md"


def test_every_cookbook_query_runs_on_a_read_only_connection(tmp_path: Path) -> None:
    marts = tmp_path / "marts.duckdb"
    build_published_marts(marts)
    queries = re.findall(r"```sql\n(.*?)```", COOKBOOK.read_text(), re.S)
    assert len(queries) >= 3
    with duckdb.connect(str(marts), read_only=True) as conn:
        results = [conn.execute(query).fetchall() for query in queries]
    stunting_above_20 = results[0]
    assert stunting_above_20 and all(row[2] > 20 for row in stunting_above_20)
