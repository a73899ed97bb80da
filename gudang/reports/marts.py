"""Reading the published marts and their documentation, shared by the exports and the brief.

Everything here reads ``marts.duckdb`` read-only (never the pipeline's warehouse), so building reports can
never block or be blocked by a running pipeline. Column labels come from the dbt YAML (``meta.label_id``),
the single place where marts are documented.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd

from gudang.config import read_yaml
from gudang.settings import DBT_PROJECT_DIR

#: Marts whose periods are submissions expected from agencies (possibly not received), not data held.
NOT_DATA_PERIODS = frozenset({"mart_data_quality"})

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_SAFE_PERIOD = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4]|-S[12]|-\d{2}-\d{2})?$")


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    label: str
    description: str = ""


@dataclass(frozen=True)
class MartDoc:
    name: str
    label: str
    description: str = ""
    columns: dict[str, ColumnDoc] = field(default_factory=dict)
    #: the column whose latest periods the planners' workbook shows (``meta.workbook_period_column``)
    workbook_period_column: str | None = None

    def column_label(self, column: str) -> str:
        doc = self.columns.get(column)
        return doc.label if doc else column


def _meta(node: dict) -> dict:
    # dbt >= 1.10 prefers meta under `config:`; older projects put it at the top level. Accept both.
    return {**(node.get("meta") or {}), **((node.get("config") or {}).get("meta") or {})}


@cache
def _load_mart_docs(marts_dir: Path) -> dict[str, MartDoc]:
    docs: dict[str, MartDoc] = {}
    for yml in sorted(marts_dir.rglob("*.yml")):
        content = read_yaml(yml) or {}
        for model in content.get("models") or []:
            columns = {
                col["name"]: ColumnDoc(
                    name=col["name"],
                    label=str(_meta(col).get("label_id") or col["name"]),
                    description=(col.get("description") or "").strip(),
                )
                for col in model.get("columns") or []
            }
            docs[model["name"]] = MartDoc(
                name=model["name"],
                label=str(_meta(model).get("label_id") or model["name"]),
                description=(model.get("description") or "").strip(),
                columns=columns,
                workbook_period_column=_meta(model).get("workbook_period_column"),
            )
    return docs


def mart_docs(project_dir: Path = DBT_PROJECT_DIR) -> dict[str, MartDoc]:
    """Documentation of every mart declared in ``models/marts/**/*.yml`` (empty if none yet)."""
    marts_dir = project_dir / "models" / "marts"
    return _load_mart_docs(marts_dir) if marts_dir.is_dir() else {}


def dbt_vars(project_dir: Path = DBT_PROJECT_DIR) -> dict:
    """The project's ``vars`` (indicator weights live there because the SQL owns that math)."""
    project_file = project_dir / "dbt_project.yml"
    if not project_file.exists():
        return {}
    return (read_yaml(project_file) or {}).get("vars") or {}


def doc_for(table: str, docs: dict[str, MartDoc]) -> MartDoc:
    return docs.get(table) or MartDoc(name=table, label=table)


def list_marts(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """The mart tables of the published file (schema ``main``), in name order."""
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    # Names starting with "_" are the publisher's bookkeeping (_publication, _last_run), not marts.
    return [name for (name,) in rows if not name.startswith("_")]


def column_types(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return dict(rows)


def read_mart(conn: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    """A whole mart as a DataFrame; an empty frame (no columns) if the table does not exist."""
    if table not in list_marts(conn):
        return pd.DataFrame()
    return conn.table(f'main."{table}"').df()


def _as_month(value: object) -> str | None:
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m")
    if isinstance(value, str) and _MONTH.match(value):
        return value
    return None


def latest_period(conn: duckdb.DuckDBPyConnection, run_date: dt.date | None = None) -> str:
    """The latest month any mart has data for (``2026-09``), else the latest quarter, else the run date.

    Monthly marts (stunting) are the most granular, so their latest month names the export folder;
    a deployment with only quarterly data gets ``2026-Q3``.
    """
    months: list[str] = []
    quarters: list[tuple[int, int]] = []
    for table in list_marts(conn):
        if table in NOT_DATA_PERIODS:
            continue
        columns = column_types(conn, table)
        for column in ("period", "month", "period_month"):
            if column in columns:
                (value,) = conn.execute(f'SELECT max("{column}") FROM main."{table}"').fetchone()
                if (month := _as_month(value)) is not None:
                    months.append(month)
        if {"year", "quarter"} <= columns.keys():
            row = conn.execute(
                f'SELECT year, quarter FROM main."{table}" WHERE year IS NOT NULL AND quarter IS NOT NULL '
                "ORDER BY year DESC, quarter DESC LIMIT 1"
            ).fetchone()
            if row is not None:
                quarters.append((int(row[0]), int(str(row[1]).lstrip("Qq"))))
    if months:
        return max(months)
    if quarters:
        year, quarter = max(quarters)
        return f"{year}-Q{quarter}"
    return (run_date or dt.date.today()).isoformat()


def safe_period(period: str) -> str:
    """Reject anything that is not a period string before it becomes a folder name."""
    if not _SAFE_PERIOD.match(period):
        raise ValueError(f"periode tidak valid untuk nama folder: {period!r}")
    return period
