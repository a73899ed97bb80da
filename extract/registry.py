"""The source registry: one small YAML file per agency source in ``extract/sources/``.

A new agency source is a new YAML entry, never new Python. The entry declares where files arrive, how
to find the table in the sheet, what each column is called in the wild, how to type it, how to resolve
its region, which period a file covers, where it lands, what is personal data and which expectation
suite gates it. The raw table's DDL is derived from the entry, so the registry is also the contract
between extraction, the quality gate and dbt.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gudang.config import read_yaml

SOURCES_DIR = Path(__file__).parent / "sources"

ColumnType = Literal[
    "text",  # trimmed string; leading apostrophes dropped
    "code",  # identifier-like string: floats such as 3374.0 -> "3374", apostrophes dropped
    "int",  # Indonesian or English thousands separators; "-" or empty -> null
    "decimal",  # 1.234,5 or 1,234.5 or 12,5 (number_locale decides when ambiguous)
    "pct",  # like decimal, "%" stripped; stays on the 0-100 scale
    "date",  # Excel serials, dd/mm/yyyy, dd-mm-yyyy, yyyy-mm-dd, "5 Agustus 2025", "05-Okt-2025"
    "bool",  # YA/TIDAK, Y/T, YES/NO, 1/0, TRUE/FALSE
    "nik",  # 16-digit personal ID, repaired from scientific notation; always pii: hash
    "enum",  # mapped through `values` (raw spelling -> canonical value), unmapped -> rejected
]

DUCKDB_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "code": "VARCHAR",
    "int": "BIGINT",
    "decimal": "DOUBLE",
    "pct": "DOUBLE",
    "date": "DATE",
    "bool": "BOOLEAN",
    "nik": "VARCHAR",
    "enum": "VARCHAR",
}

#: Lineage carried by every raw row (in this order, after the source's own columns).
LINEAGE_COLUMNS: dict[str, str] = {
    "_batch_id": "VARCHAR",  # one batch = one file load (ops.ingest_log.batch_id)
    "_source": "VARCHAR",
    "_file_name": "VARCHAR",
    "_file_sha256": "VARCHAR",
    "_sheet": "VARCHAR",
    "_source_row": "BIGINT",  # 1-based row number as the agency sees it in Excel / the CSV line number
    "_period": "VARCHAR",  # the period the file declares: 2025-03, 2025-Q1, 2025-S1, 2025
    "_scope": "VARCHAR",  # what the file covers (e.g. the kab/kota code); with _source+_period, the revision key
    "_loaded_at": "TIMESTAMP",
}


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="canonical snake_case name in the raw table")
    aliases: list[str] = Field(default_factory=list, description="header spellings seen in agency files")
    type: ColumnType = "text"
    required: bool = False
    pii: Literal["hash"] | None = None
    values: dict[str, str] | None = Field(default=None, description="enum: raw spelling -> canonical")
    units: dict[str, float] | None = Field(
        default=None, description="header substring (case-insensitive) -> multiplier, e.g. {'ribu': 1000}"
    )
    description: str = ""

    @model_validator(mode="after")
    def _nik_is_pii(self) -> Column:
        if self.type == "nik" and self.pii != "hash":
            raise ValueError(f"column {self.name}: type nik must be pii: hash")
        if self.type == "enum" and not self.values:
            raise ValueError(f"column {self.name}: type enum needs values")
        for alias in self.aliases:
            if not any(ch.isalpha() for ch in alias):  # the header search skips cells without a letter
                raise ValueError(
                    f"column {self.name}: alias {alias!r} has no letter; no header cell would match it"
                )
        return self


class RegionSpec(BaseModel):
    """How a row's region becomes a Kemendagri code in column ``region_code``."""

    model_config = ConfigDict(extra="forbid")

    level: Literal["province", "regency", "district", "village"]
    code_column: str | None = Field(default=None, description="canonical column that may hold a code")
    name_columns: list[str] = Field(
        default_factory=list, description="canonical columns holding names, most specific first"
    )
    within: Literal["scope", "any"] = Field(
        default="scope", description="resolve names only inside the file's scope region, or anywhere"
    )


class PeriodSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grain: Literal["month", "quarter", "semester", "year"]
    #: regex with named groups year / month / quarter / semester / region, applied to the file name
    filename_pattern: str | None = None
    #: a date column whose values must fall in the declared period (checked by the gate)
    date_column: str | None = None


class SheetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include: str = Field(default=".*", description="regex on sheet names (case-insensitive)")
    skip_hidden: bool = True
    #: put the sheet name, mapped through this table, into a column (e.g. one sheet per indicator)
    name_to_column: str | None = None
    name_values: dict[str, str] | None = None


class UnpivotSpec(BaseModel):
    """Wide tables (a year or an age group per column) become long rows."""

    model_config = ConfigDict(extra="forbid")

    header_pattern: str = Field(description="regex matching the wide column headers, e.g. '^(19|20)\\d\\d$'")
    key_column: str = Field(description="canonical column receiving the header (or its mapped value)")
    value_column: str = Field(description="canonical column receiving the cell value")
    key_values: dict[str, str] | None = Field(default=None, description="header -> key value mapping")


class Cadence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    every: Literal["month", "quarter", "semester", "year"]
    #: due on this day of the month after the period ends
    due_day: int = Field(ge=1, le=28)
    #: what one submission covers: the deployment's region, or its whole province (a BPS provincial
    #: publication such as bps_kemiskinan_33_2025.xlsx); the submission calendar expects that scope
    covers: Literal["region", "province"] = "region"


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    agency: str
    title: str
    description: str = ""
    contact: str | None = Field(default=None, description="agency contact: e-mail or apprise URL")
    file_patterns: list[str] = Field(default_factory=lambda: ["*.xlsx", "*.xls", "*.csv"])
    sheets: SheetSpec = Field(default_factory=SheetSpec)
    number_locale: Literal["id", "en", "auto"] = "auto"
    period: PeriodSpec
    cadence: Cadence
    region: RegionSpec
    target_table: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    columns: list[Column]
    unpivot: UnpivotSpec | None = None
    #: constant columns (e.g. the SPM sector of a per-sector workbook)
    constants: dict[str, str] = Field(default_factory=dict)
    expectation_suite: str
    #: sources sharing one raw table must declare identical columns
    shares_table_with: list[str] = Field(default_factory=list)

    @property
    def column_map(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]

    @property
    def raw_table(self) -> str:
        return f"raw.{self.target_table}"

    def raw_columns(self) -> dict[str, str]:
        """Column name -> DuckDB type of the raw table, in table order."""
        cols = {c.name: DUCKDB_TYPES[c.type] for c in self.columns}
        for name in self.constants:
            cols.setdefault(name, "VARCHAR")
        cols["region_code"] = "VARCHAR"
        cols.update(LINEAGE_COLUMNS)
        return cols

    def raw_ddl(self) -> str:
        cols = ",\n  ".join(f'"{n}" {t}' for n, t in self.raw_columns().items())
        return f"CREATE TABLE IF NOT EXISTS {self.raw_table} (\n  {cols}\n)"


@cache
def load_registry(directory: Path = SOURCES_DIR) -> dict[str, SourceSpec]:
    specs: dict[str, SourceSpec] = {}
    for path in sorted(directory.glob("*.yml")):
        spec = SourceSpec.model_validate(read_yaml(path))
        if spec.source != path.stem:
            raise ValueError(f"{path.name}: source '{spec.source}' must match the file name")
        specs[spec.source] = spec
    _check_shared_tables(specs)
    return specs


def _check_shared_tables(specs: dict[str, SourceSpec]) -> None:
    by_table: dict[str, list[SourceSpec]] = {}
    for spec in specs.values():
        by_table.setdefault(spec.target_table, []).append(spec)
    for table, group in by_table.items():
        shapes = {tuple(s.raw_columns().items()) for s in group}
        if len(shapes) > 1:
            raise ValueError(f"sources {[s.source for s in group]} share raw.{table} but differ in columns")


def get_source(name: str) -> SourceSpec:
    try:
        return load_registry()[name]
    except KeyError:
        raise KeyError(f"unknown source '{name}'; registered: {', '.join(load_registry())}") from None
