"""Mart gate: may the marts dbt just built be shown to analysts?

Runs after ``dbt build`` on the pipeline warehouse (schemas ``marts``, ``staging``). Each check pulls a small
DataFrame with one SQL query and validates it with one GX expectation (pandas engine), so every verdict is a
GX result with the same ``meta`` (severity, Indonesian message) as the file suites:

- reconciliation (error): mart totals equal the totals of the layer they are built from (children measured,
  SPM target/served, approved LKPM reports and workers);
- consistency (error): cumulative SPM quarters never fall; 0 <= P2 <= P1 <= P0;
- plausibility (warn): computed FGT P0 close to BPS's published series; prevalence and P0 within bands;
- the dbt tests of the same build: any failed error-severity test (or failed model) blocks.

Every outcome is recorded in ``ops.check_results`` with ``scope_level = 'mart'``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from expectations.gate import CheckOutcome, dataframe_batch_definition
from gudang.settings import DBT_PROJECT_DIR, Settings
from gudang.warehouse import connect

if TYPE_CHECKING:  # GX takes seconds to import: loaded when the gate runs, not when this module is imported
    import great_expectations as gx
    from great_expectations.expectations.expectation import Expectation

#: |computed P0 - published P0| above this many percentage points is worth a look (survey sampling error
#: of a kab/kota estimate is of this order)
FGT_TOLERANCE_PP = 2.0
#: prevalence bands outside which a kota-level figure is implausible for Indonesia (SSGI/SKI ranges)
STUNTING_BAND_PCT = (2.0, 60.0)
WASTING_BAND_PCT = (0.0, 30.0)
UNDERWEIGHT_BAND_PCT = (0.0, 50.0)
POVERTY_P0_BAND_PCT = (0.5, 40.0)
#: prevalence of fewer children than this says little: not checked against the bands
MIN_CHILDREN_FOR_BAND = 30
#: dbt's run_results.json older than this belongs to another invocation (Cosmos runs dbt elsewhere)
DBT_RESULTS_MAX_AGE = dt.timedelta(hours=2)


@dataclass(frozen=True)
class MartCheck:
    mart: str
    sql: str
    expectation: Expectation  # meta: severity, message_id, message_id_text
    key_columns: tuple[str, ...]  # columns naming a failing row in the message


@dataclass
class MartGateResult:
    passed: bool
    outcomes: list[CheckOutcome] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # Indonesian, one per blocking failure

    @property
    def warnings(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "warn"]


def _meta(severity: str, message_id: str, text: str) -> dict[str, str]:
    return {"severity": severity, "message_id": f"marts.{message_id}", "message_id_text": text}


def _equal(a: str, b: str, message_id: str, text: str) -> Expectation:
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnPairValuesToBeEqual(column_A=a, column_B=b, meta=_meta("error", message_id, text))


_STUNTING_TOTALS = """
with fact as (
    select period, count(distinct child_key) as children_in_fact
    from marts.fct_child_measurement group by period
), mart as (
    select period,
           sum(children_measured) filter (where region_level = 'kota') as children_kota,
           sum(children_measured) filter (where region_level = 'kelurahan') as children_kelurahan
    from marts.mart_stunting group by period
)
select coalesce(fact.period, mart.period) as period,
       coalesce(children_in_fact, 0) as children_in_fact,
       coalesce(children_kota, 0) as children_kota,
       coalesce(children_kelurahan, 0) as children_kelurahan
from fact full join mart on fact.period = mart.period
order by 1
"""

_SPM_TOTALS = """
with source as (
    select period, sector, sum(target_count) as target_source, sum(served_count) as served_source
    from staging.stg_spm__achievement where service_code is not null group by all
), mart as (
    select period, sector, sum(target_count) as target_mart, sum(served_count) as served_mart
    from marts.mart_spm_service group by all
)
select coalesce(source.period, mart.period) as period, coalesce(source.sector, mart.sector) as sector,
       coalesce(target_source, 0) as target_source, coalesce(target_mart, 0) as target_mart,
       coalesce(served_source, 0) as served_source, coalesce(served_mart, 0) as served_mart
from source full join mart on source.period = mart.period and source.sector = mart.sector
order by 1, 2
"""

_LKPM_TOTALS = """
with source as (
    select period, count(*) as reports_source, coalesce(sum(workers_local), 0) as workers_source
    from staging.stg_lkpm__report where report_status = 'approved' group by period
), mart as (
    select period, sum(projects) as reports_mart, coalesce(sum(workers_local), 0) as workers_mart
    from marts.mart_investment group by period
)
select coalesce(source.period, mart.period) as period,
       coalesce(reports_source, 0) as reports_source, coalesce(reports_mart, 0) as reports_mart,
       coalesce(workers_source, 0) as workers_source, coalesce(workers_mart, 0) as workers_mart
from source full join mart on source.period = mart.period
order by 1
"""

_SPM_CUMULATIVE = """
select * from (
    select region_code, year, sector, service_code, quarter, served_count,
           lag(served_count) over (
               partition by region_code, year, sector, service_code order by quarter
           ) as served_previous_quarter
    from marts.mart_spm_service
) where served_previous_quarter is not null and served_count is not null
order by all
"""

_FGT_VS_PUBLISHED = """
select computed.region_code, computed.year, computed.p0_pct as p0_computed, published.p0_pct as p0_published,
       abs(computed.p0_pct - published.p0_pct) as p0_difference_pp
from marts.mart_poverty_regency as computed
join marts.mart_poverty_regency as published
  on published.region_code = computed.region_code and published.year = computed.year
 and published.source = 'BPS published'
where computed.source = 'computed from microdata'
  and computed.p0_pct is not null and published.p0_pct is not null
order by all
"""

_FGT_ORDER = """
select region_code, year, source, p0_pct, p1, p2 from marts.mart_poverty_regency
where p0_pct is not null and p1 is not null and p2 is not null order by all
"""

_STUNTING_KOTA = f"""
select region_code, period, stunting_pct, wasting_pct, underweight_pct from marts.mart_stunting
where region_level = 'kota' and children_valid_haz >= {MIN_CHILDREN_FOR_BAND} order by all
"""


@cache
def mart_checks() -> tuple[MartCheck, ...]:
    """The mart checks (built on first use)."""
    import great_expectations.expectations as gxe

    return (
        MartCheck(
            "mart_stunting",
            _STUNTING_TOTALS,
            _equal(
                "children_in_fact",
                "children_kota",
                "stunting.rekonsiliasi_anak",
                "Jumlah anak diukur di baris kota mart_stunting tidak sama dengan jumlah anak berbeda di fct_child_measurement.",
            ),
            ("period",),
        ),
        MartCheck(
            "mart_stunting",
            _STUNTING_TOTALS,
            _equal(
                "children_kelurahan",
                "children_kota",
                "stunting.rekonsiliasi_kelurahan",
                "Jumlah anak seluruh kelurahan tidak sama dengan angka kota di mart_stunting (ada anak tanpa kelurahan yang dikenal).",
            ),
            ("period",),
        ),
        MartCheck(
            "mart_spm_service",
            _SPM_TOTALS,
            _equal(
                "target_source",
                "target_mart",
                "spm.rekonsiliasi_sasaran",
                "Jumlah sasaran SPM di mart tidak sama dengan data staging (ada layanan yang hilang atau terhitung ganda).",
            ),
            ("period", "sector"),
        ),
        MartCheck(
            "mart_spm_service",
            _SPM_TOTALS,
            _equal(
                "served_source",
                "served_mart",
                "spm.rekonsiliasi_terlayani",
                "Jumlah terlayani SPM di mart tidak sama dengan data staging (ada layanan yang hilang atau terhitung ganda).",
            ),
            ("period", "sector"),
        ),
        MartCheck(
            "mart_investment",
            _LKPM_TOTALS,
            _equal(
                "reports_source",
                "reports_mart",
                "investasi.rekonsiliasi_laporan",
                "Jumlah laporan LKPM disetujui di mart_investment tidak sama dengan data staging.",
            ),
            ("period",),
        ),
        MartCheck(
            "mart_investment",
            _LKPM_TOTALS,
            _equal(
                "workers_source",
                "workers_mart",
                "investasi.rekonsiliasi_tki",
                "Jumlah tenaga kerja Indonesia di mart_investment tidak sama dengan laporan LKPM disetujui di staging.",
            ),
            ("period",),
        ),
        MartCheck(
            "mart_spm_service",
            _SPM_CUMULATIVE,
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="served_count",
                column_B="served_previous_quarter",
                or_equal=True,
                meta=_meta(
                    "error",
                    "spm.kumulatif_turun",
                    "Capaian SPM bersifat kumulatif: jumlah terlayani triwulan ini lebih kecil dari triwulan sebelumnya. Minta OPD memperbaiki laporan triwulan.",
                ),
            ),
            ("region_code", "year", "sector", "service_code", "quarter"),
        ),
        MartCheck(
            "mart_poverty_regency",
            _FGT_ORDER,
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="p0_pct",
                column_B="p1",
                or_equal=True,
                meta=_meta(
                    "error",
                    "kemiskinan.urutan_p0_p1",
                    "Indeks kedalaman P1 melebihi P0; urutan 0 <= P2 <= P1 <= P0 dilanggar (periksa skala atau sheet indikator yang tertukar).",
                ),
            ),
            ("region_code", "year", "source"),
        ),
        MartCheck(
            "mart_poverty_regency",
            _FGT_ORDER,
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="p1",
                column_B="p2",
                or_equal=True,
                meta=_meta(
                    "error",
                    "kemiskinan.urutan_p1_p2",
                    "Indeks keparahan P2 melebihi P1; urutan 0 <= P2 <= P1 <= P0 dilanggar (periksa skala atau sheet indikator yang tertukar).",
                ),
            ),
            ("region_code", "year", "source"),
        ),
        MartCheck(
            "mart_poverty_regency",
            _FGT_VS_PUBLISHED,
            gxe.ExpectColumnValuesToBeBetween(
                column="p0_difference_pp",
                min_value=0,
                max_value=FGT_TOLERANCE_PP,
                meta=_meta(
                    "warn",
                    "kemiskinan.fgt_vs_bps",
                    f"P0 hasil hitung mikrodata Susenas berbeda lebih dari {FGT_TOLERANCE_PP:g} poin persen dari angka resmi BPS; periksa garis kemiskinan, penimbang dan kelengkapan mikrodata.",
                ),
            ),
            ("region_code", "year"),
        ),
        MartCheck(
            "mart_poverty_regency",
            "select region_code, year, source, p0_pct from marts.mart_poverty_regency where p0_pct is not null order by all",
            gxe.ExpectColumnValuesToBeBetween(
                column="p0_pct",
                min_value=POVERTY_P0_BAND_PCT[0],
                max_value=POVERTY_P0_BAND_PCT[1],
                meta=_meta(
                    "warn",
                    "kemiskinan.p0_wajar",
                    f"Persentase penduduk miskin di luar rentang wajar {POVERTY_P0_BAND_PCT[0]:g}-{POVERTY_P0_BAND_PCT[1]:g}% untuk kab/kota.",
                ),
            ),
            ("region_code", "year", "source"),
        ),
        MartCheck(
            "mart_stunting",
            _STUNTING_KOTA,
            gxe.ExpectColumnValuesToBeBetween(
                column="stunting_pct",
                min_value=STUNTING_BAND_PCT[0],
                max_value=STUNTING_BAND_PCT[1],
                meta=_meta(
                    "warn",
                    "stunting.prevalensi_wajar",
                    f"Prevalensi stunting tingkat kota di luar rentang wajar {STUNTING_BAND_PCT[0]:g}-{STUNTING_BAND_PCT[1]:g}%; periksa satuan tinggi badan dan tanggal lahir di file e-PPGBM.",
                ),
            ),
            ("region_code", "period"),
        ),
        MartCheck(
            "mart_stunting",
            _STUNTING_KOTA,
            gxe.ExpectColumnValuesToBeBetween(
                column="wasting_pct",
                min_value=WASTING_BAND_PCT[0],
                max_value=WASTING_BAND_PCT[1],
                meta=_meta(
                    "warn",
                    "stunting.wasting_wajar",
                    f"Prevalensi wasting tingkat kota di luar rentang wajar {WASTING_BAND_PCT[0]:g}-{WASTING_BAND_PCT[1]:g}%.",
                ),
            ),
            ("region_code", "period"),
        ),
        MartCheck(
            "mart_stunting",
            _STUNTING_KOTA,
            gxe.ExpectColumnValuesToBeBetween(
                column="underweight_pct",
                min_value=UNDERWEIGHT_BAND_PCT[0],
                max_value=UNDERWEIGHT_BAND_PCT[1],
                meta=_meta(
                    "warn",
                    "stunting.underweight_wajar",
                    f"Prevalensi underweight tingkat kota di luar rentang wajar {UNDERWEIGHT_BAND_PCT[0]:g}-{UNDERWEIGHT_BAND_PCT[1]:g}%.",
                ),
            ),
            ("region_code", "period"),
        ),
    )


def run_mart_gate(
    settings: Settings,
    run_id: str,
    conn: duckdb.DuckDBPyConnection | None = None,
    *,
    failed_dbt_nodes: list[str] | None = None,
    dbt_run_results: Path | None = None,
) -> MartGateResult:
    """Check the freshly built marts; ``passed`` is False when any error-severity check failed.

    dbt's verdict comes from ``failed_dbt_nodes`` when given (unique ids of failed error-severity tests or
    models; ``[]`` = dbt passed), else from ``dbt_run_results`` (default ``dbt_project/target/run_results.json``).
    """
    if conn is None:
        with connect(settings) as own:
            return run_mart_gate(
                settings, run_id, own, failed_dbt_nodes=failed_dbt_nodes, dbt_run_results=dbt_run_results
            )
    outcomes = _run_checks(conn)
    outcomes.append(_quarantine_outcome(conn, run_id))
    outcomes += _dbt_outcomes(
        failed_dbt_nodes, dbt_run_results or DBT_PROJECT_DIR / "target" / "run_results.json"
    )
    _record(conn, run_id, outcomes)
    blocking = [o for o in outcomes if not o.success and o.severity == "error"]
    return MartGateResult(passed=not blocking, outcomes=outcomes, reasons=[o.message for o in blocking])


@cache
def _suites_by_query() -> dict[str, tuple[gx.ExpectationSuite, dict[str, MartCheck]]]:
    """Checks sharing a query run as one suite on one frame (GX's per-validation overhead dominates)."""
    import great_expectations as gx

    grouped: dict[str, list[MartCheck]] = {}
    for check in mart_checks():
        grouped.setdefault(check.sql, []).append(check)
    return {
        sql: (
            gx.ExpectationSuite(
                name=f"marts_{i}", expectations=[copy.deepcopy(c.expectation) for c in checks]
            ),
            {c.expectation.meta["message_id"]: c for c in checks},
        )
        for i, (sql, checks) in enumerate(grouped.items())
    }


def _run_checks(conn: duckdb.DuckDBPyConnection) -> list[CheckOutcome]:
    outcomes = []
    for sql, (suite, checks) in _suites_by_query().items():
        try:
            frame = conn.execute(sql).df()
        except duckdb.Error as exc:
            # a mart or staging model dbt did not build cannot be vouched for
            for check in checks.values():
                meta = check.expectation.meta
                outcomes.append(
                    CheckOutcome(
                        meta["message_id"],
                        _column_of(check),
                        "error",
                        False,
                        0,
                        f"{check.mart}: pemeriksaan tidak dapat dijalankan ({exc}). {meta['message_id_text']}",
                        row_level=False,
                    )
                )
            continue
        validation = (
            dataframe_batch_definition()
            .get_batch(batch_parameters={"dataframe": frame})
            .validate(suite, result_format={"result_format": "COMPLETE"})
        )
        for item in validation.results:
            check = checks[item.expectation_config.meta["message_id"]]
            outcomes.append(
                _outcome(check, frame, item.success, item.result.get("unexpected_index_list") or [])
            )
    order = {c.expectation.meta["message_id"]: i for i, c in enumerate(mart_checks())}
    return sorted(outcomes, key=lambda o: order[o.check])


def _column_of(check: MartCheck) -> str:
    expectation = check.expectation
    return getattr(expectation, "column", None) or f"{expectation.column_A}/{expectation.column_B}"


def _outcome(check: MartCheck, frame: pd.DataFrame, success: bool, failing: list) -> CheckOutcome:
    meta = check.expectation.meta
    column = _column_of(check)
    message = meta["message_id_text"]
    if not success:
        examples = "; ".join(_describe(frame.loc[i], check, column) for i in failing[:5])
        message = f"{check.mart}: {message} Contoh: {examples}{' dst.' if len(failing) > 5 else ''}"
    return CheckOutcome(
        meta["message_id"], column, meta["severity"], bool(success), len(failing), message, row_level=False
    )


def _describe(row: pd.Series, check: MartCheck, column: str) -> str:
    keys = ", ".join(f"{k}={row[k]}" for k in check.key_columns)
    values = ", ".join(f"{c}={_number(row[c])}" for c in column.split("/"))
    return f"{keys}: {values}"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _quarantine_outcome(conn: duckdb.DuckDBPyConnection, run_id: str) -> CheckOutcome:
    """A file quarantined in this run blocks the publish (configurable): marts built without one agency's
    period would look complete but are not. The previous marts stay until the agency resends the file.

    "This run" = files logged under this run id, or ingested since the last pipeline run ended (under the
    scheduler each ingest DAG run has its own id)."""
    from gudang.config import load_config

    rows = conn.execute(
        """SELECT agency, file_name, coalesce(error_message, '') FROM ops.ingest_log
           WHERE status = 'quarantined'
             AND (run_id = ? OR started_at > coalesce(
                 (SELECT max(finished_at) FROM ops.pipeline_runs WHERE run_id <> ?), TIMESTAMP '1970-01-01'))
           ORDER BY file_name""",
        [run_id, run_id],
    ).fetchall()
    blocks = load_config().quality.block_publish_on_quarantine
    if not rows:
        message = "Tidak ada berkas yang dikarantina pada run ini."
    else:
        files = "; ".join(f"{file} ({agency})" for agency, file, _ in rows)
        consequence = (
            "mart lama tetap dipakai sampai berkas diperbaiki dan dikirim ulang"
            if blocks
            else "hanya peringatan"
        )
        message = f"{len(rows)} berkas dikarantina pada run ini: {files}; {consequence}."
    return CheckOutcome(
        "berkas.dikarantina",
        None,
        "error" if blocks else "warn",
        not rows,
        len(rows),
        message,
        row_level=False,
    )


def _dbt_outcomes(failed_nodes: list[str] | None, run_results: Path) -> list[CheckOutcome]:
    if failed_nodes is not None:
        failures = [(node, "error", "") for node in failed_nodes]
    else:
        results = json.loads(run_results.read_text()) if run_results.exists() else None
        age = _age(results)
        if results is None or age is None or age > DBT_RESULTS_MAX_AGE:
            # a stale file belongs to another dbt invocation: it must neither block nor vouch for this build
            state = "tidak ditemukan" if results is None else "terlalu lama atau tanpa waktu pembuatan"
            return [
                CheckOutcome(
                    "dbt.hasil_tidak_ada",
                    None,
                    "warn",
                    False,
                    0,
                    f"Hasil dbt ({run_results}) {state}; uji dbt tidak ikut diperiksa gerbang mart.",
                    row_level=False,
                )  # fmt: skip
            ]
        failures = _failures_from_run_results(results)
    outcomes = [
        CheckOutcome(
            f"dbt:{node}",
            None,
            severity,
            False,
            1,
            f"Uji/model dbt gagal: {node}{f' ({detail})' if detail else ''}.",
            row_level=False,
        )
        for node, severity, detail in failures
    ]
    if not any(severity == "error" for _, severity, _ in failures):
        outcomes.append(
            CheckOutcome(
                "dbt.build", None, "error", True, 0, "Semua model dan uji dbt lulus.", row_level=False
            )
        )
    return outcomes


def _age(run_results: dict | None) -> dt.timedelta | None:
    generated = ((run_results or {}).get("metadata") or {}).get("generated_at")
    if not generated:
        return None
    stamp = dt.datetime.fromisoformat(generated.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC) - stamp


def _failures_from_run_results(run_results: dict) -> list[tuple[str, str, str]]:
    """dbt statuses: tests pass|warn|fail|error|skipped, models success|error|skipped."""
    failures = []
    for node in run_results.get("results", []):
        status = node.get("status")
        if status in {"fail", "error", "skipped", "runtime error"}:
            severity = "error"
        elif status == "warn":
            severity = "warn"
        else:
            continue
        detail = node.get("message") or (
            f"{node['failures']} baris gagal" if node.get("failures") else status
        )
        failures.append((node["unique_id"], severity, str(detail)))
    return failures


def _record(conn: duckdb.DuckDBPyConnection, run_id: str, outcomes: list[CheckOutcome]) -> None:
    now = dt.datetime.now()
    conn.executemany(
        "insert into ops.check_results (batch_id, run_id, source, scope_level, check_name, column_name, severity,"
        " success, unexpected_count, message, checked_at) values (null, ?, ?, 'mart', ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                run_id,
                _mart_of(o),
                o.check,
                o.column,
                o.severity,
                o.success,
                o.unexpected_count,
                o.message,
                now,
            )
            for o in outcomes
        ],
    )


def _mart_of(outcome: CheckOutcome) -> str:
    if outcome.check.startswith("dbt"):
        return "dbt"
    return next((c.mart for c in mart_checks() if c.expectation.meta["message_id"] == outcome.check), "marts")
