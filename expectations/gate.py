"""File gate: GX validation of one parsed file before it lands.

CONTRACT (used by extract/): ``validate_file_frame`` takes the parsed, typed DataFrame of one file
(canonical columns, ``region_code``, ``_sheet``, ``_source_row``; index = positional row id) and returns
a :class:`GateResult`. Row-level error failures reject those rows; any failed file-level check with
severity ``error`` quarantines the file; ``warn`` outcomes load and alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from extract.registry import SourceSpec

Severity = Literal["error", "warn"]


@dataclass(frozen=True)
class RowFailure:
    row_index: int  # DataFrame index label of the failing row
    column: str | None
    check: str  # GX expectation type, e.g. expect_column_values_to_be_between
    message: str  # Indonesian, actionable
    severity: Severity = "error"


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    column: str | None
    severity: Severity
    success: bool
    unexpected_count: int
    message: str
    row_level: bool  # True when failures are attributed to rows (rejected), False for file-level checks


@dataclass
class GateResult:
    outcomes: list[CheckOutcome] = field(default_factory=list)
    row_failures: list[RowFailure] = field(default_factory=list)

    @property
    def blocking(self) -> list[CheckOutcome]:
        """Failed file-level checks of severity error: the file is quarantined."""
        return [o for o in self.outcomes if not o.success and o.severity == "error" and not o.row_level]

    @property
    def warnings(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "warn"]


def validate_file_frame(
    df: pd.DataFrame,
    spec: SourceSpec,
    *,
    period: str,
    scope: str,
    previous_rows: int | None = None,
) -> GateResult:
    """Run the source's GX suite on one parsed file. (Placeholder until the suites land: passes all.)"""
    return GateResult()
