"""File gate: GX validation of one parsed file before it lands.

CONTRACT (used by extract/): ``validate_file_frame`` takes the parsed, typed DataFrame of one file
(canonical columns, ``region_code``, ``_sheet``, ``_source_row``; index = positional row id) and returns
a :class:`GateResult`. Row-level error failures reject those rows; any failed file-level check with
severity ``error`` quarantines the file; ``warn`` outcomes load and alert.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from expectations import suites
from extract.registry import SourceSpec
from gudang.config import load_config
from gudang.settings import get_settings

if TYPE_CHECKING:  # GX takes seconds to import: only code that validates pays for it (not DAG parsing)
    import great_expectations as gx
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.batch_definition import BatchDefinition

log = logging.getLogger(__name__)

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
    """Run the source's GX suite (``spec.expectation_suite``) on one parsed file.

    ``previous_rows``: rows of the same source's file for the previous period (volume check; skipped when
    None). The validation result is also kept for the run's Data Docs (:mod:`expectations.data_docs`).
    """
    frame = _prepared_frame(df, spec)
    params = suites.suite_parameters(
        region_level=spec.region.level,
        scope=scope,
        period=period,
        previous_rows=previous_rows,
        change_share=load_config().quality.volume_change_share,
    )
    suite = _runnable_suite(spec.expectation_suite, frozenset(frame.columns), frozenset(params))
    validation = (
        dataframe_batch_definition()
        .get_batch(batch_parameters={"dataframe": frame})
        .validate(suite, result_format={"result_format": "COMPLETE"}, expectation_parameters=params)
    )
    result = _gate_result(validation, frame, spec, params, previous_rows)
    _keep_for_data_docs(validation, frame, spec, period=period, scope=scope)
    return result


# --- preparing the frame and the suite -----------------------------------------------------------


def _prepared_frame(df: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    """A shallow copy with date columns as datetime64 and the suite's derived columns added."""
    frame = df.copy(deep=False)
    for column in spec.columns:
        if column.type == "date" and column.name in frame.columns:
            frame[column.name] = suites.as_datetime_if_dates(frame[column.name])
    return suites.add_derived_columns(frame, spec.expectation_suite)


@cache
def dataframe_batch_definition() -> BatchDefinition:
    """One in-memory GX context and pandas dataframe batch definition per process."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("gudang_files").add_dataframe_asset("file")
    return asset.add_batch_definition_whole_dataframe("whole_file")


def _referenced_columns(kwargs: dict[str, Any]) -> set[str]:
    columns = {kwargs.get(k) for k in ("column", "column_A", "column_B")} | set(kwargs.get("column_list", []))
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict) and isinstance(condition.get("column"), dict):
        columns.add(condition["column"].get("name"))
    return columns - {None}


@cache
def _runnable_suite(
    name: str, columns: frozenset[str], available_params: frozenset[str]
) -> gx.ExpectationSuite:
    """The suite minus expectations that cannot apply to this file (cached per file shape).

    Skipped: checks on optional columns the file does not have (a missing *required* column is reported by
    its ``expect_column_to_exist``), and checks whose ``requires`` parameters are unavailable.
    """
    import great_expectations as gx

    data = suites.suite_json(name)
    runnable = []
    for expectation in data["expectations"]:
        meta = expectation.get("meta", {})
        if not set(meta.get("requires", [])) <= available_params:
            continue
        if (
            expectation["type"] != "expect_column_to_exist"
            and not _referenced_columns(expectation["kwargs"]) <= columns
        ):
            continue
        runnable.append(expectation)
    return gx.ExpectationSuite(name=data["name"], expectations=copy.deepcopy(runnable), meta=data.get("meta"))


# --- turning GX results into the gate's contract ------------------------------------------------


def _gate_result(
    validation: ExpectationSuiteValidationResult,
    frame: pd.DataFrame,
    spec: SourceSpec,
    params: dict[str, object],
    previous_rows: int | None,
) -> GateResult:
    gate = GateResult()
    personal = set(spec.pii_columns)
    for item in validation.results:
        config = item.expectation_config
        meta = config.meta or {}
        severity: Severity = "warn" if meta.get("severity") == "warn" else "error"
        check, kwargs = config.type, config.kwargs
        column = _column_label(kwargs)
        explanation = meta.get("message_id_text", check)
        failure = _exception_message(item.exception_info)
        if failure:
            gate.outcomes.append(
                CheckOutcome(
                    check,
                    column,
                    severity,
                    False,
                    0,
                    f"Pemeriksaan {check} pada kolom '{column}' tidak dapat dijalankan ({failure}). {explanation}",
                    row_level=False,
                )
            )
            continue
        if "unexpected_index_list" in item.result:
            indices = list(item.result["unexpected_index_list"])
            if meta.get("keep_first") and indices:
                later_copies = frame.duplicated(subset=_key_columns(kwargs), keep="first")
                indices = [i for i in indices if later_copies.loc[i]]
            for index in indices:
                gate.row_failures.append(
                    RowFailure(
                        index,
                        column,
                        check,
                        _row_message(frame, index, kwargs, personal, explanation),
                        severity,
                    )
                )
            gate.outcomes.append(
                CheckOutcome(
                    check,
                    column,
                    severity,
                    not indices,
                    len(indices),
                    _summary(frame, indices, column, explanation),
                    row_level=True,
                )
            )
        else:
            observed = item.result.get("observed_value")
            message = (
                explanation
                if item.success
                else _file_level_message(check, column, observed, explanation, params, previous_rows)
            )
            unexpected = 0 if item.success else int(item.result.get("unexpected_count") or 1)
            gate.outcomes.append(
                CheckOutcome(
                    check, column, severity, bool(item.success), unexpected, message, row_level=False
                )
            )
    return gate


def _exception_message(info: dict[str, Any] | None) -> str | None:
    """GX reports a crashed check either flat or per metric; either way, its message."""
    if not info:
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _key_columns(kwargs: dict[str, Any]) -> list[str]:
    return list(kwargs.get("column_list") or [kwargs["column"]])


def _column_label(kwargs: dict[str, Any]) -> str | None:
    """The agency-facing column name(s) of a check; derived columns name the columns they come from."""
    columns = _checked_columns(kwargs)
    return "+".join(columns) if kwargs.get("column_list") else "/".join(columns) or None


def _checked_columns(kwargs: dict[str, Any]) -> list[str]:
    if kwargs.get("column_list"):
        columns = list(kwargs["column_list"])
    elif kwargs.get("column_A"):
        columns = [kwargs["column_A"], kwargs["column_B"]]
    else:
        columns = [kwargs["column"]] if kwargs.get("column") else []
    return [c for column in columns for c in suites.DERIVED_FROM.get(column, (column,))]


def _shown(frame: pd.DataFrame, index: Any, column: str, personal: set[str]) -> str:
    if column in personal:
        return "(disamarkan)"
    value = frame.at[index, column]
    if pd.isna(value):
        return "kosong"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _where(frame: pd.DataFrame, index: Any) -> str:
    """The row as the agency sees it: Excel row / CSV line and sheet."""
    parts = []
    if "_source_row" in frame.columns and not pd.isna(frame.at[index, "_source_row"]):
        parts.append(f"Baris {int(frame.at[index, '_source_row'])}")
    else:
        parts.append(f"Baris data #{index}")
    if "_sheet" in frame.columns and not pd.isna(frame.at[index, "_sheet"]) and frame.at[index, "_sheet"]:
        parts.append(f"sheet '{frame.at[index, '_sheet']}'")
    return ", ".join(parts)


def _row_message(
    frame: pd.DataFrame, index: Any, kwargs: dict[str, Any], personal: set[str], explanation: str
) -> str:
    columns = _checked_columns(kwargs)
    if len(columns) == 1:
        values = f"kolom '{columns[0]}' bernilai '{_shown(frame, index, columns[0], personal)}'"
    else:
        values = "kolom " + ", ".join(f"'{c}' = '{_shown(frame, index, c, personal)}'" for c in columns)
    derived = kwargs.get("column")
    if derived in suites.DERIVED_FROM:
        values += f" ({derived.lstrip('_')} = {_shown(frame, index, derived, personal)})"
    return f"{_where(frame, index)}: {values}. {explanation}"


def _summary(frame: pd.DataFrame, indices: list[Any], column: str | None, explanation: str) -> str:
    if not indices:
        return explanation
    examples = ", ".join(_where(frame, i).removeprefix("Baris ") for i in indices[:5])
    more = " dst." if len(indices) > 5 else ""
    return f"{len(indices)} baris gagal pada kolom '{column}' (baris {examples}{more}). {explanation}"


def _file_level_message(
    check: str,
    column: str | None,
    observed: Any,
    explanation: str,
    params: dict[str, object],
    previous_rows: int | None,
) -> str:
    if check == "expect_table_row_count_to_be_between":
        return (
            f"File berisi {observed} baris, sedangkan file periode sebelumnya {previous_rows} baris "
            f"(wajar {params.get('volume_min')}-{params.get('volume_max')}). {explanation}"
        )
    if check == "expect_column_values_to_be_in_type_list" and observed is not None:
        return f"Kolom '{column}' bertipe {observed}. {explanation}"
    return explanation


def _keep_for_data_docs(
    validation: ExpectationSuiteValidationResult,
    frame: pd.DataFrame,
    spec: SourceSpec,
    *,
    period: str,
    scope: str,
) -> None:
    """Store the result for the run's Data Docs; a reporting hiccup must never fail a load."""
    from expectations.data_docs import record_validation  # GX file-context machinery only when needed

    file_name = None
    if "_file_name" in frame.columns and len(frame):
        file_name = frame["_file_name"].iloc[0]
    batch_name = "__".join(str(p) for p in (spec.source, scope, period, file_name) if p)
    try:
        record_validation(
            get_settings(),
            validation,
            suite_name=spec.expectation_suite,
            batch_name=batch_name,
            personal_columns=set(spec.pii_columns),
        )
    except Exception:  # noqa: BLE001 - reports are secondary to loading the data
        log.warning("could not keep the GX result of %s for Data Docs", batch_name, exc_info=True)
