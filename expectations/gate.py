"""File gate: GX validation of one parsed file before it lands.

CONTRACT (used by extract/): ``validate_file_frame`` takes the parsed, typed DataFrame of one file
(canonical columns, ``region_code``, ``_sheet``, ``_source_row``; index = positional row id) and returns
a :class:`GateResult`. Row-level error failures reject those rows; any failed file-level check with
severity ``error`` quarantines the file; ``warn`` outcomes load and alert.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
#: the column that tells the files of a batch apart (see :func:`validate_file_frames`)
FILE_KEY = "_file_key"
REGION_COLUMN = "region_code"
#: batch-only columns and parameters (see :func:`validate_file_frames`)
REGION_IN_SCOPE_COLUMN = "_region_in_scope"
VOLUME_POSITION_COLUMN = "_volume_position"
#: per-row flag "inside its own file's declared period", one per column a period check reads
IN_PERIOD_PREFIX = "_in_declared_period__"
VOLUME_CHECK = "expect_table_row_count_to_be_between"
#: parameters that differ from file to file by nature (scope's codes, the previous period's volume)
_PER_FILE_PARAMS = {"region_codes", "volume_min", "volume_max"}
#: a check's bounds as its file's declared period (``$PARAMETER`` placeholders of suites.suite_parameters)
_PERIOD_BOUNDS = {"min_value": {"$PARAMETER": "period_start"}, "max_value": {"$PARAMETER": "period_end"}}
#: A first pass counts each check's unexpected rows (BASIC); only a check that found some runs again with
#: COMPLETE, which lists every failing row's index (the rows to reject). COMPLETE for every check took
#: ~75% longer on a month's e-PPGBM batch, where nearly every check passes.
_SCREEN_FORMAT = {"result_format": "BASIC"}
_RESULT_FORMAT = {"result_format": "COMPLETE"}
#: what COMPLETE adds to a row-level check's result, empty for a check that found nothing
_COMPLETE_ONLY_LISTS = (
    "unexpected_list",
    "unexpected_index_list",
    "partial_unexpected_index_list",
    "partial_unexpected_counts",
)
#: the uniqueness checks, which compare rows within one file
_WITHIN_FILE_CHECKS = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")


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


@dataclass
class FileFrame:
    """One parsed file as the gate sees it: its typed rows and the parameters its suite needs."""

    frame: pd.DataFrame  # index = positional row id
    period: str
    scope: str
    previous_rows: int | None = None  # rows of the previous period's file (volume check; None skips it)
    name: str | None = None  # the stored file name, for Data Docs


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
    return validate_file_frames([FileFrame(df, period, scope, previous_rows)], spec)[0]


def validate_file_frames(files: list[FileFrame], spec: SourceSpec) -> list[GateResult]:
    """The gate of several files of one source, with the verdicts :func:`validate_file_frame` gives each.

    Why batches: a GX validation costs ~0.1-0.2 s whatever the file's size (GX builds a metric graph per
    expectation), which made the gate the largest cost of loading a province's ~2,000 small workbooks.
    Files whose frames have the same columns and dtypes are concatenated and validated together once;
    uniqueness checks get the file key added to their key columns so they still compare rows within one
    file. Checks with per-file parameters stay exact without a validation per file: the region check tests
    a per-row flag, "region inside its own file's scope" (:func:`_region_in_scope`), and the period check
    one of "date inside its own file's declared period" (:func:`_in_declared_period`); any other parameter
    every file shares joins the shared suite; the volume band becomes one validation of a frame with a row
    per file (its row count's position in its own band). Only a parameter that differs and has no such form
    (a period check on a column that is not a date) leaves a small suite per file.
    Row failures and counts are split back to each file; file-level results of the shared suite
    (columns present, dtypes) hold for every file of the batch by construction.
    """
    prepared = [dataclasses.replace(f, frame=_prepared_frame(f.frame, spec)) for f in files]
    results: list[GateResult | None] = [None] * len(files)
    groups: dict[tuple, list[int]] = {}
    for position, file in enumerate(prepared):
        signature = tuple((str(c), str(t)) for c, t in file.frame.dtypes.items())
        groups.setdefault(signature, []).append(position)
    for positions in groups.values():
        if len(positions) == 1:
            (position,) = positions
            results[position] = _validate_one(prepared[position], spec)
        else:
            for position, result in zip(
                positions, _validate_batch([prepared[p] for p in positions], spec), strict=True
            ):
                results[position] = result
    return results  # type: ignore[return-value]


def _region_in_scope(
    files: list[FileFrame], params: list[dict[str, object]], combined: pd.DataFrame, lengths: np.ndarray
) -> pd.Series:
    """Per row of a batch: is its region code one of its own file's scope (None where it has none).

    The batch's region check tests this flag instead of ``region_code`` against each file's codes. The
    lookup is done here because GX copies an expectation's value set on every kwarg it reads (pydantic):
    with the ~8,500 desa of a province's scopes in one set, that cost ~2 s per validation whatever its rows.
    """
    codes = pa.array(combined[REGION_COLUMN], pa.string())
    in_scope = np.empty(len(codes), dtype=object)
    # each file's rows against its own codes, in Arrow (a "scope|code" key per row cost ~0.7 us a row)
    for start, end, own in zip(np.cumsum([0, *lengths[:-1]]), np.cumsum(lengths), params, strict=True):
        found = pc.is_in(
            codes.slice(start, end - start), value_set=pa.array(own["region_codes"], pa.string())
        )
        in_scope[start:end] = found.to_numpy(zero_copy_only=False)
    in_scope[codes.is_null().to_numpy(zero_copy_only=False)] = None  # the not-null check's business
    return pd.Series(in_scope, index=combined.index)


def _is_period_check(expectation: dict) -> bool:
    """A between-check whose inclusive bounds are its file's declared period."""
    kwargs = expectation["kwargs"]
    inclusive = not kwargs.get("strict_min") and not kwargs.get("strict_max")
    return inclusive and all(kwargs.get(bound) == value for bound, value in _PERIOD_BOUNDS.items())


@cache
def _period_checked_columns(name: str) -> tuple[str, ...]:
    return tuple(
        e["kwargs"]["column"] for e in suites.suite_json(name)["expectations"] if _is_period_check(e)
    )


def _is_naive_datetime(values: pd.Series | None) -> bool:
    return values is not None and pd.api.types.is_datetime64_dtype(values)


def _in_declared_period(params: list[dict[str, object]], values: pd.Series, lengths: np.ndarray) -> pd.Series:
    """Per row of a batch: is its date inside its own file's declared period (None where it has no date:
    GX skips missing values, as the period check on a file alone does)."""
    starts = np.repeat(np.array([p["period_start"] for p in params], dtype="datetime64[ns]"), lengths)
    ends = np.repeat(np.array([p["period_end"] for p in params], dtype="datetime64[ns]"), lengths)
    dates = values.to_numpy(dtype="datetime64[ns]")
    inside = pd.Series((dates >= starts) & (dates <= ends), index=values.index).astype(object)
    inside[values.isna().to_numpy()] = None
    return inside


def _parameters(file: FileFrame, spec: SourceSpec) -> dict[str, object]:
    return suites.suite_parameters(
        region_level=spec.region.level,
        scope=file.scope,
        period=file.period,
        previous_rows=file.previous_rows,
        change_share=load_config().quality.volume_change_share,
    )


def _validate_one(file: FileFrame, spec: SourceSpec) -> GateResult:
    params = _parameters(file, spec)
    suite = _runnable_suite(spec.expectation_suite, frozenset(file.frame.columns), frozenset(params))
    validation = _validate(file.frame, suite, params)
    result = _gate_result(validation, file.frame, spec, params, file.previous_rows)
    _keep_for_data_docs(validation, file.frame, spec, period=file.period, scope=file.scope, name=file.name)
    return result


def _validate(frame: pd.DataFrame, suite: gx.ExpectationSuite, params: dict[str, object]):
    # Only the columns the suite reads: GX takes a failing row set out of the WHOLE frame for each check
    # (DataFrame[mask], twice), and for a warn check failing on many rows of a wide batch that was ~0.1 s.
    referenced = set().union(*(_referenced_columns(e.configuration.kwargs) for e in suite.expectations))
    narrow = frame[[c for c in frame.columns if c in referenced]]
    batch = dataframe_batch_definition().get_batch(batch_parameters={"dataframe": narrow})
    validation = batch.validate(suite, result_format=_SCREEN_FORMAT, expectation_parameters=params)
    for position, item in enumerate(validation.results):
        if item.success and not item.result.get("unexpected_count"):
            if "partial_unexpected_list" in item.result:  # a row-level check: its result as COMPLETE gives it
                item.result.update({key: [] for key in _COMPLETE_ONLY_LISTS if key not in item.result})
            continue
        validation.results[position] = batch.validate(
            item.expectation_config.to_domain_obj(),
            result_format=_RESULT_FORMAT,
            expectation_parameters=params,
        )
    return validation


def _validate_batch(files: list[FileFrame], spec: SourceSpec) -> list[GateResult]:
    name = spec.expectation_suite
    columns = frozenset(files[0].frame.columns)
    params = [_parameters(f, spec) for f in files]
    # parameters every file shares (the declared period, in a batch of one period) run in the shared suite
    common = {
        key: value
        for key, value in params[0].items()
        if key not in _PER_FILE_PARAMS and all(key in p and _same(p[key], value) for p in params[1:])
    }
    offsets = np.cumsum([0] + [len(f.frame) for f in files])
    combined = pd.concat([f.frame for f in files], ignore_index=True)
    combined[FILE_KEY] = np.repeat(np.arange(len(files)), np.diff(offsets))
    if REGION_COLUMN in columns:
        combined[REGION_IN_SCOPE_COLUMN] = _region_in_scope(files, params, combined, np.diff(offsets))
    # exact only where every file has its bounds and the column holds dates: otherwise as before (own suites)
    with_bounds = all(key in p for p in params for key in ("period_start", "period_end"))
    period_flags = frozenset(
        c for c in _period_checked_columns(name) if with_bounds and _is_naive_datetime(combined.get(c))
    )
    for column in period_flags:
        combined[IN_PERIOD_PREFIX + column] = _in_declared_period(params, combined[column], np.diff(offsets))
    shared_suite = _batch_suite(name, columns, frozenset(common), period_flags)
    validation = _validate(combined, shared_suite, common)
    cells = _Cells(combined)
    shared = _check_results(validation, combined, spec, common, None, cells)
    _keep_for_data_docs(
        validation,
        combined,
        spec,
        period=min(f.period for f in files),
        scope=f"{len(files)}-files",
        name=f"{files[0].name or ''}..{files[-1].name or ''}",
    )
    volume = _volume_outcomes(files, params, spec)
    file_keys = combined[FILE_KEY].to_numpy()
    # each check's failing rows, sorted out by file once (not rescanned for every file of the batch)
    by_file: list[dict[int, list[RowFailure]]] = []
    for _, failures, _ in shared:
        grouped: dict[int, list[RowFailure]] = {}
        for failure in failures or []:
            grouped.setdefault(int(file_keys[failure.row_index]), []).append(failure)
        by_file.append(grouped)
    results = []
    for key, file in enumerate(files):
        result = GateResult()
        start = int(offsets[key])
        for (outcome, failures, explanation), grouped in zip(shared, by_file, strict=True):
            if failures is None:  # a file-level result: the same for every file of the batch
                result.outcomes.append(outcome)
                continue
            mine = grouped.get(key, [])
            indices = [f.row_index for f in mine]
            result.outcomes.append(
                dataclasses.replace(
                    outcome,
                    success=not mine,
                    unexpected_count=len(mine),
                    message=_summary(cells, indices, outcome.column, explanation),
                )
            )
            result.row_failures.extend(dataclasses.replace(f, row_index=f.row_index - start) for f in mine)
        if key in volume:
            result.outcomes.append(volume[key])
        own_suite = _per_file_suite(name, columns, frozenset(params[key]), frozenset(common), period_flags)
        if own_suite.expectations:
            own_validation = _validate(file.frame, own_suite, params[key])
            own_result = _gate_result(own_validation, file.frame, spec, params[key], file.previous_rows)
            result.outcomes.extend(own_result.outcomes)
            result.row_failures.extend(own_result.row_failures)
            if not own_validation.success:
                _keep_for_data_docs(
                    own_validation, file.frame, spec, period=file.period, scope=file.scope, name=file.name
                )
        results.append(result)
    return results


def volume_outcomes(files: list[FileFrame], spec: SourceSpec) -> list[CheckOutcome | None]:
    """The volume check alone, in one GX validation, for files whose previous period was not known when
    they were gated (it was judged in the same batch: :func:`extract.ingest._gate_and_write`); None for a
    file without a previous period."""
    outcomes = _volume_outcomes(files, [_parameters(f, spec) for f in files], spec)
    return [outcomes.get(k) for k in range(len(files))]


def _same(a: object, b: object) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _volume_outcomes(files: list[FileFrame], params: list[dict], spec: SourceSpec) -> dict[int, CheckOutcome]:
    """The volume check of every file that has a previous period, as one GX validation of a frame with a
    row per file: where its row count sits in its own band (0 = the band's minimum, 1 = its maximum)."""
    keys = [k for k, p in enumerate(params) if "volume_min" in p and "volume_max" in p]
    suite = _volume_suite(spec.expectation_suite)
    if not keys or not suite.expectations:
        return {}
    rows = np.array([len(files[k].frame) for k in keys], dtype=float)
    low = np.array([params[k]["volume_min"] for k in keys], dtype=float)
    high = np.array([params[k]["volume_max"] for k in keys], dtype=float)
    summary = pd.DataFrame({VOLUME_POSITION_COLUMN: (rows - low) / np.maximum(high - low, 1.0)}, index=keys)
    item = _validate(summary, suite, {}).results[0]
    meta = item.expectation_config.meta or {}
    severity: Severity = "warn" if meta.get("severity") == "warn" else "error"
    explanation = meta.get("message_id_text", VOLUME_CHECK)
    crashed = _exception_message(item.exception_info)
    failing = set(item.result.get("unexpected_index_list") or [])
    outcomes = {}
    for k in keys:
        if crashed:
            message = f"Pemeriksaan {VOLUME_CHECK} tidak dapat dijalankan ({crashed}). {explanation}"
            outcomes[k] = CheckOutcome(VOLUME_CHECK, None, severity, False, 0, message, row_level=False)
        elif k in failing:
            message = _file_level_message(
                VOLUME_CHECK, None, len(files[k].frame), explanation, params[k], files[k].previous_rows
            )
            outcomes[k] = CheckOutcome(VOLUME_CHECK, None, severity, False, 1, message, row_level=False)
        else:
            outcomes[k] = CheckOutcome(VOLUME_CHECK, None, severity, True, 0, explanation, row_level=False)
    return outcomes


# --- preparing the frame and the suite -----------------------------------------------------------


@cache
def gate_columns(suite_name: str) -> frozenset[str]:
    """The columns the gate reads from a parsed file: those its suite checks, those its derived columns come
    from, and where a row sits (for the messages). A caller may leave every other column out of the frame."""
    checked = set().union(
        *(_referenced_columns(e["kwargs"]) for e in suites.suite_json(suite_name)["expectations"])
    )
    derived_from = {c for name in checked & set(suites.DERIVED_FROM) for c in suites.DERIVED_FROM[name]}
    return frozenset(checked | derived_from | {"_sheet", "_source_row"})


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
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every in-memory frame below this size by hashing all its cells, twice per validation
    # (~2.5 us a row: most of the gate's time on a large batch). The fingerprint is only a batch marker
    # in the result; gudang identifies a file by its SHA-256 and batch id, so no frame is fingerprinted.
    pandas_execution_engine.HASH_THRESHOLD = 0
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


def _batch_role(expectation: dict, common: frozenset[str], period_flags: frozenset[str]) -> str:
    """Where an expectation runs in a batch: ``shared`` (once on the concatenated files), ``volume`` (once
    on a row per file) or ``own`` (per file: it needs a parameter the files do not share)."""
    if expectation["type"] == VOLUME_CHECK:
        return "volume"
    if _is_period_check(expectation) and expectation["kwargs"]["column"] in period_flags:
        return "shared"
    requires = set((expectation.get("meta") or {}).get("requires", []))
    if requires <= common | {"region_codes"}:
        return "shared"
    return "own"


@cache
def _batch_suite(
    name: str, columns: frozenset[str], common: frozenset[str], period_flags: frozenset[str]
) -> gx.ExpectationSuite:
    """The shared suite of a batch: uniqueness keyed by file, the scope and period checks on per-row flags."""
    import great_expectations as gx

    flagged_params = {"period_start", "period_end"} if period_flags else set()
    suite = _runnable_suite(name, columns, common | {"region_codes"} | flagged_params)
    expectations = []
    for expectation in suite.expectations:
        data = expectation.configuration.to_json_dict()
        data.pop("id", None)
        if _batch_role(data, common, period_flags) != "shared":
            continue
        kwargs = data["kwargs"]
        original = {"type": data["type"], "kwargs": copy.deepcopy(kwargs)}
        if data["type"] in _WITHIN_FILE_CHECKS:
            keys = list(kwargs.pop("column_list", None) or [kwargs.pop("column")])
            if data["type"] == "expect_column_values_to_be_unique":
                kwargs["ignore_row_if"] = "any_value_is_missing"  # single-column uniqueness ignores nulls
            kwargs["column_list"] = [*keys, FILE_KEY]
            data["type"] = "expect_compound_columns_to_be_unique"
        elif kwargs.get("value_set") == {"$PARAMETER": "region_codes"}:
            kwargs["column"] = REGION_IN_SCOPE_COLUMN
            kwargs["value_set"] = [True]
        elif _is_period_check(data) and kwargs["column"] in period_flags:
            for bound in _PERIOD_BOUNDS:
                del kwargs[bound]
            data["type"] = "expect_column_values_to_be_in_set"
            kwargs["column"] = IN_PERIOD_PREFIX + kwargs["column"]
            kwargs["value_set"] = [True]
        else:
            expectations.append(data)
            continue
        data["meta"] = {**(data.get("meta") or {}), "per_file_of": original}
        expectations.append(data)
    return gx.ExpectationSuite(name=name, expectations=expectations, meta=suite.meta)


@cache
def _per_file_suite(
    name: str,
    columns: frozenset[str],
    available_params: frozenset[str],
    common: frozenset[str],
    period_flags: frozenset[str],
) -> gx.ExpectationSuite:
    """The expectations of a batch that need a parameter its files do not share: run on each file alone."""
    import great_expectations as gx

    suite = _runnable_suite(name, columns, available_params)
    own = [
        {k: v for k, v in e.configuration.to_json_dict().items() if k != "id"}
        for e in suite.expectations
        if _batch_role(e.configuration.to_json_dict(), common, period_flags) == "own"
    ]
    return gx.ExpectationSuite(name=name, expectations=own, meta=suite.meta)


@cache
def _volume_suite(name: str) -> gx.ExpectationSuite:
    """The suite's row-count check restated on a frame with one row per file (see _volume_outcomes)."""
    import great_expectations as gx

    checks = [e for e in suites.suite_json(name)["expectations"] if e["type"] == VOLUME_CHECK]
    restated = [
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": VOLUME_POSITION_COLUMN, "min_value": 0.0, "max_value": 1.0},
            "meta": {**e.get("meta", {}), "per_file_of": {"type": e["type"], "kwargs": e["kwargs"]}},
        }
        for e in checks[:1]
    ]
    return gx.ExpectationSuite(name=f"{name}.volume", expectations=restated)


# --- turning GX results into the gate's contract ------------------------------------------------


CheckResult = tuple[CheckOutcome, "list[RowFailure] | None", str]


def _gate_result(
    validation: ExpectationSuiteValidationResult,
    frame: pd.DataFrame,
    spec: SourceSpec,
    params: dict[str, object],
    previous_rows: int | None,
) -> GateResult:
    gate = GateResult()
    for outcome, failures, _ in _check_results(validation, frame, spec, params, previous_rows):
        gate.outcomes.append(outcome)
        gate.row_failures.extend(failures or [])
    return gate


def _check_results(
    validation: ExpectationSuiteValidationResult,
    frame: pd.DataFrame,
    spec: SourceSpec,
    params: dict[str, object],
    previous_rows: int | None,
    cells: _Cells | None = None,
) -> list[CheckResult]:
    """Per expectation: its outcome, its failing rows (None for a file-level check), its explanation."""
    checks: list[CheckResult] = []
    personal = set(spec.pii_columns)
    cells = cells or _Cells(frame)
    for item in validation.results:
        config = item.expectation_config
        meta = config.meta or {}
        severity: Severity = "warn" if meta.get("severity") == "warn" else "error"
        # a batch's uniqueness check is reported as the check the suite declares (see _batch_suite)
        declared = meta.get("per_file_of") or {"type": config.type, "kwargs": config.kwargs}
        check, kwargs = declared["type"], declared["kwargs"]
        column = _column_label(kwargs)
        explanation = meta.get("message_id_text", check)
        failure = _exception_message(item.exception_info)
        if failure:
            message = (
                f"Pemeriksaan {check} pada kolom '{column}' tidak dapat dijalankan ({failure}). {explanation}"
            )
            checks.append(
                (CheckOutcome(check, column, severity, False, 0, message, row_level=False), None, explanation)
            )
        elif "unexpected_index_list" in item.result:
            indices = list(item.result["unexpected_index_list"])
            if meta.get("keep_first") and indices:
                later_copies = frame.duplicated(subset=_key_columns(config.kwargs), keep="first")
                indices = [i for i in indices if later_copies.loc[i]]
            failures = [
                RowFailure(
                    index, column, check, _row_message(cells, index, kwargs, personal, explanation), severity
                )
                for index in indices
            ]
            summary = _summary(cells, indices, column, explanation)
            outcome = CheckOutcome(
                check, column, severity, not indices, len(indices), summary, row_level=True
            )
            checks.append((outcome, failures, explanation))
        else:
            observed = item.result.get("observed_value")
            message = (
                explanation
                if item.success
                else _file_level_message(check, column, observed, explanation, params, previous_rows)
            )
            unexpected = 0 if item.success else int(item.result.get("unexpected_count") or 1)
            outcome = CheckOutcome(
                check, column, severity, bool(item.success), unexpected, message, row_level=False
            )
            checks.append((outcome, None, explanation))
    return checks


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


class _Cells:
    """A frame's cells by index label, each column read once as a list when first needed (``frame.at``
    per failing row cost ~15 us a cell and was the gate's hot spot on large batches)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._columns: dict[str, list] = {}
        index = frame.index
        self._positional = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1

    def has(self, column: str) -> bool:
        return column in self.frame.columns

    def get(self, index: Any, column: str) -> Any:
        values = self._columns.get(column)
        if values is None:
            values = self._columns[column] = self.frame[column].tolist()
        return values[index if self._positional else self.frame.index.get_loc(index)]


def _shown(cells: _Cells, index: Any, column: str, personal: set[str]) -> str:
    if column in personal:
        return "(disamarkan)"
    value = cells.get(index, column)
    if pd.isna(value):
        return "kosong"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _where(cells: _Cells, index: Any) -> str:
    """The row as the agency sees it: Excel row / CSV line and sheet."""
    parts = []
    source_row = cells.get(index, "_source_row") if cells.has("_source_row") else None
    if source_row is not None and not pd.isna(source_row):
        parts.append(f"Baris {int(source_row)}")
    else:
        parts.append(f"Baris data #{index}")
    sheet = cells.get(index, "_sheet") if cells.has("_sheet") else None
    if sheet is not None and not pd.isna(sheet) and sheet:
        parts.append(f"sheet '{sheet}'")
    return ", ".join(parts)


def _row_message(
    cells: _Cells, index: Any, kwargs: dict[str, Any], personal: set[str], explanation: str
) -> str:
    columns = _checked_columns(kwargs)
    if len(columns) == 1:
        values = f"kolom '{columns[0]}' bernilai '{_shown(cells, index, columns[0], personal)}'"
    else:
        values = "kolom " + ", ".join(f"'{c}' = '{_shown(cells, index, c, personal)}'" for c in columns)
    derived = kwargs.get("column")
    if derived in suites.DERIVED_FROM:
        values += f" ({derived.lstrip('_')} = {_shown(cells, index, derived, personal)})"
    return f"{_where(cells, index)}: {values}. {explanation}"


def _summary(cells: _Cells, indices: list[Any], column: str | None, explanation: str) -> str:
    if not indices:
        return explanation
    examples = ", ".join(_where(cells, i).removeprefix("Baris ") for i in indices[:5])
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
    name: str | None = None,
) -> None:
    """Store the result for the run's Data Docs; a reporting hiccup must never fail a load."""
    from expectations.data_docs import record_validation  # GX file-context machinery only when needed

    file_name = name
    if file_name is None and "_file_name" in frame.columns and len(frame):
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
