"""A sheet as the generator plans it, and its ground truth for the manifest.

A :class:`Sheet` is title rows, one or two header rows (with merges), and a body whose rows are
data, total/subtotal, blank or note rows. The writers turn a sheet into xlsx / xls / CSV; the same
object tells the manifest which spreadsheet row numbers hold which kind of row, so the numbers in the
manifest always agree with the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RowKind = Literal["data", "total", "blank", "note"]


@dataclass
class Defect:
    """A deliberately bad data row: the pipeline must reject it, naming the column."""

    column: str  # header text of the offending column
    kind: str  # unknown_village, impossible_date, absurd_height, text_in_number, nik_unrecoverable, ...
    value: str


@dataclass
class Sheet:
    name: str
    header_rows: list[list[str | None]]
    title_rows: list[str] = field(default_factory=list)
    #: (first_row, first_col, last_row, last_col) relative to the first header row, with its text
    merges: list[tuple[int, int, int, int, str]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    kinds: list[RowKind] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)  # body index -> total/subtotal label
    defects: dict[int, Defect] = field(default_factory=dict)  # body index -> defect
    #: column index -> cell style for numeric cells in that column: "date", "sci", "int", "dec1", "dec2"
    column_styles: dict[int, str] = field(default_factory=dict)
    hidden: bool = False
    #: not a data sheet (instructions, hidden drafts): not counted in the manifest
    ignored: bool = False
    #: blank rows between title and header (title rows count too)
    gap_after_title: int = 1

    def data(self, row: list[Any], defect: Defect | None = None) -> int:
        self.rows.append(row)
        self.kinds.append("data")
        if defect:
            self.defects[len(self.rows) - 1] = defect
        return len(self.rows) - 1

    def total(self, row: list[Any], label: str) -> None:
        self.rows.append(row)
        self.kinds.append("total")
        self.labels[len(self.rows) - 1] = label

    def blank(self) -> None:
        self.rows.append([])
        self.kinds.append("blank")

    def note(self, text: str) -> None:
        self.rows.append([text])
        self.kinds.append("note")

    @property
    def header_row(self) -> int:
        """1-based spreadsheet row of the (first) header row."""
        return len(self.title_rows) + (self.gap_after_title if self.title_rows else 0) + 1

    @property
    def first_body_row(self) -> int:
        return self.header_row + len(self.header_rows)

    def row_number(self, body_index: int) -> int:
        return self.first_body_row + body_index

    @property
    def data_indices(self) -> list[int]:
        return [i for i, k in enumerate(self.kinds) if k == "data"]

    def truth(self) -> dict[str, Any]:
        """What the manifest says about this sheet."""
        data = self.data_indices
        rejected = [
            {"row": self.row_number(i), "column": d.column, "kind": d.kind, "value": d.value}
            for i, d in sorted(self.defects.items())
        ]
        return {
            "sheet": self.name,
            "header_row": self.header_row,
            "header_rows": len(self.header_rows),
            "data_rows": len(data),
            "expected_loaded": len(data) - len(rejected),
            "expected_rejected": rejected,
            "total_rows": [{"row": self.row_number(i), "label": label} for i, label in self.labels.items()],
            "note_rows": [self.row_number(i) for i, k in enumerate(self.kinds) if k == "note"],
            "blank_rows": [self.row_number(i) for i, k in enumerate(self.kinds) if k == "blank"],
        }
