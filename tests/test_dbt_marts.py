"""Proof that the dbt marts compute the official indicator definitions (issue 3).

One module-scoped fixture builds a small warehouse in a temp dir exactly as the extraction engine would
leave it (raw tables from the registry's DDL with lineage, ops tables from OPS_DDL), fills it with hand-made
rows that hit the edge cases, and runs a real ``dbt build`` (models, seeds, data tests, unit tests). The
tests then recompute every indicator independently in Python from the reference tables and compare.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from extract.registry import load_registry
from gudang.settings import DBT_PROJECT_DIR, REFERENCE_DIR
from gudang.warehouse import OPS_DDL

REGION = "33.74"
KEL_A, KEL_B, KEL_C = "33.74.01.1001", "33.74.01.1002", "33.74.01.1003"
DISTRICT = "33.74.01"
MARTS = [
    "dim_region",
    "fct_child_measurement",
    "mart_stunting",
    "mart_spm_service",
    "mart_spm_sector",
    "mart_poverty_regency",
    "mart_poverty_registry",
    "mart_investment",
    "mart_investment_realisation",
    "mart_kelurahan_priority",
    "mart_data_quality",
]
RNG = np.random.default_rng(20250817)


# --- fixture warehouse ---------------------------------------------------------------------------------


class RawWriter:
    """Appends rows to a raw table with the lineage columns the extraction engine writes."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.batches = 0

    def load(self, table: str, source: str, period: str, rows: list[dict], loaded_at: dt.datetime) -> str:
        self.batches += 1
        batch_id = f"batch-{self.batches:03d}"
        frame = pd.DataFrame(rows)
        frame["_batch_id"] = batch_id
        frame["_source"] = source
        frame["_file_name"] = f"{source}_3374_{period}.xlsx"
        frame["_file_sha256"] = f"{self.batches:064x}"
        frame["_sheet"] = "Sheet1"
        frame["_source_row"] = range(2, len(frame) + 2)
        frame["_period"] = period
        frame["_scope"] = REGION
        frame["_loaded_at"] = loaded_at
        self.con.register("incoming", frame)
        self.con.execute(f"insert into raw.{table} by name select * from incoming")
        self.con.unregister("incoming")
        return batch_id


def _child(
    key: str, region: str, sex: str, age_days: int, height: float, weight: float, method: str, **extra
):
    measured_on = dt.date(2025, 8, 15) - dt.timedelta(days=int(extra.pop("days_before", 0)))
    return {
        "child_key": key,
        "sex": sex,
        "birth_date": measured_on - dt.timedelta(days=age_days),
        "measured_on": measured_on,
        "height_cm": height,
        "weight_kg": weight,
        "measure_method": method,
        "region_code": region,
        "village_code": region,
        **extra,
    }


#: Hand-picked measurements on the rules' edges (key -> row).
EDGE_CHILDREN = {
    "age730_standing": _child("c-730s", KEL_A, "L", 730, 85.0, 11.5, "standing"),
    "age730_lying": _child("c-730l", KEL_A, "L", 730, 85.0, 11.5, "recumbent"),
    "age731_standing": _child("c-731s", KEL_A, "P", 731, 85.0, 11.5, "standing"),
    "age731_lying": _child("c-731l", KEL_A, "P", 731, 85.0, 11.5, "recumbent"),
    "heavy": _child("c-heavy", KEL_B, "L", 400, 75.0, 16.0, "recumbent"),
    "light": _child("c-light", KEL_B, "P", 400, 75.0, 5.0, "recumbent"),
    "age_1826": _child("c-1826", KEL_B, "L", 1826, 108.0, 18.0, "standing"),
    "age_1827": _child("c-1827", KEL_B, "L", 1827, 108.0, 18.0, "standing"),
    "newborn": _child("c-0", KEL_C, "P", 0, 49.1, 3.2, "recumbent"),
    "interpolated": _child("c-interp", KEL_C, "P", 500, 80.05, 10.2, "recumbent"),
    "implausible": _child("c-implaus", KEL_C, "L", 500, 50.0, 10.0, "recumbent"),
    "stunted_severe": _child("c-severe", KEL_C, "L", 900, 75.0, 9.0, "standing"),
    "reported_ok": _child(
        "c-rep", KEL_A, "P", 600, 78.0, 9.5, "recumbent", zscore_hfa_reported=-0.93, zscore_wfa_reported=-0.5
    ),
}
#: The same child measured twice in one month: only the later measurement counts for prevalence.
REMEASURED_EARLY = _child("c-twice", KEL_A, "L", 800, 76.0, 9.0, "standing", days_before=10)
REMEASURED_LATE = _child("c-twice", KEL_A, "L", 800, 86.0, 12.0, "standing")


def _random_children(n: int) -> list[dict]:
    rows = []
    regions = [KEL_A, KEL_B, KEL_C]
    for i in range(n):
        age = int(RNG.integers(0, 1900))
        sex = "L" if RNG.random() < 0.5 else "P"
        # roughly plausible sizes with wide noise, so every branch (restricted, out of table) is visited
        height = round(float(50 + 0.035 * age + RNG.normal(0, 5)), int(RNG.integers(1, 3)))
        weight = round(float(3.3 + 0.009 * age + RNG.normal(0, 1.8)), 2)
        method = "standing" if RNG.random() < 0.5 else "recumbent"
        rows.append(_child(f"r-{i:04d}", regions[i % 3], sex, age, height, max(weight, 1.0), method))
    return rows


SPM_EDGES = [  # (served per 10,000 targets) -> expected category (quality equal to achievement)
    (5999, "Belum Tuntas"),
    (6000, "Tuntas Muda"),
    (6999, "Tuntas Muda"),
    (7000, "Tuntas Pratama"),
    (7999, "Tuntas Pratama"),
    (8000, "Tuntas Madya"),
    (8999, "Tuntas Madya"),
    (9000, "Tuntas Utama"),
    (9999, "Tuntas Utama"),
    (10000, "Tuntas Paripurna"),
    (10001, "Tuntas Paripurna"),
]

# FGT hand example: z = 600,000; (household size, weight, expenditure per capita)
FGT_HOUSEHOLDS = [(2, 1.0, 300_000), (1, 2.0, 480_000), (1, 1.0, 900_000), (1, 1.0, 600_000)]
# person weights 2, 2, 1, 1 (total 6); poor: the first two (gaps 0.5 and 0.2); 600,000 is not below the line
FGT_EXPECTED = {"p0_pct": 4 / 6 * 100, "p1": 1.4 / 6 * 100, "p2": 0.58 / 6 * 100, "poor_population": 4.0}


def build_fixture_warehouse(path: Path) -> dict:
    """Create raw + ops tables from the contracts and fill them; returns ids the tests need."""
    con = duckdb.connect(str(path))
    con.execute(OPS_DDL)
    for spec in load_registry().values():
        con.execute(spec.raw_ddl())
    raw = RawWriter(con)
    t0 = dt.datetime(2025, 9, 1, 8, 0)
    ids: dict = {}

    # e-PPGBM: an older revision of the August file (must vanish), the current one, and July.
    ids["eppgbm_old"] = raw.load(
        "eppgbm_measurement",
        "eppgbm",
        "2025-08",
        [_child("c-superseded", KEL_A, "L", 700, 60.0, 6.0, "recumbent")],
        t0,
    )
    august = [*EDGE_CHILDREN.values(), REMEASURED_EARLY, REMEASURED_LATE, *_random_children(400)]
    ids["eppgbm_current"] = raw.load(
        "eppgbm_measurement", "eppgbm", "2025-08", august, t0 + dt.timedelta(days=2)
    )
    july = [
        dict(r, measured_on=dt.date(2025, 7, 15), birth_date=r["birth_date"] - dt.timedelta(days=31))
        for r in august[:40]
    ]
    raw.load("eppgbm_measurement", "eppgbm", "2025-07", july, t0 - dt.timedelta(days=30))

    # Dukcapil population 2025-S1: under-fives and total per kelurahan.
    population = []
    for village, under_five in ((KEL_A, 200), (KEL_B, 150), (KEL_C, 100)):
        for sex in ("L", "P"):
            population.append(
                {"region_code": village, "sex": sex, "age_group": "0-4", "population": under_five // 2}
            )
            population.append({"region_code": village, "sex": sex, "age_group": "5-9", "population": 400})
    raw.load("population", "dukcapil", "2025-S1", population, t0)

    # SPM kesehatan Q2: band edges; the sheet's percentage is deliberately wrong (never trusted).
    spm_rows = [
        {
            "service_code": f"KES-{i + 1:02d}",
            "service_name": "apa saja",
            "target_count": 10000,
            "served_count": served,
            "achievement_pct_reported": 99.0,
            "quality_achievement_pct": served / 100,
            "sector": "kesehatan",
            "region_code": REGION,
        }
        for i, (served, _) in enumerate(SPM_EDGES)
    ]
    spm_rows.append(  # no target population: counts as fully achieved
        {
            "service_code": "KES-12",
            "service_name": "HIV",
            "target_count": 0,
            "served_count": 0,
            "quality_achievement_pct": 100.0,
            "sector": "kesehatan",
            "region_code": REGION,
        }
    )
    raw.load("spm_achievement", "spm_kesehatan", "2025-Q2", spm_rows, t0)
    # PU Q2 without codes: resolved by the catalogue name (case and punctuation differ).
    raw.load(
        "spm_achievement",
        "spm_pu",
        "2025-Q2",
        [
            {
                "service_name": "PEMENUHAN KEBUTUHAN POKOK AIR MINUM SEHARI-HARI",
                "target_count": 1000,
                "served_count": 500,
                "quality_achievement_pct": 50.0,
                "sector": "pu",
                "region_code": REGION,
            },
            {
                "service_name": "Penyediaan pelayanan pengolahan air limbah domestik",
                "target_count": 1000,
                "served_count": 900,
                "quality_achievement_pct": 100.0,
                "sector": "pu",
                "region_code": REGION,
            },
        ],
        t0,
    )

    # Poverty: BPS published (two files repeat 2024; the newer wins) and Susenas microdata for 2024.
    def bps(year_values: dict[int, dict[str, float]]) -> list[dict]:
        return [
            {
                "region_name": "Kota Semarang",
                "indicator": ind,
                "year": year,
                "value": value,
                "region_code": REGION,
            }
            for year, values in year_values.items()
            for ind, value in values.items()
        ]

    raw.load(
        "bps_poverty_series", "bps_poverty", "2024", bps({2024: {"poverty_line_rp": 1.0, "p0_pct": 9.9}}), t0
    )
    published_2024 = {
        "poverty_line_rp": 600_000,
        "poor_population": 75_000,
        "p0_pct": 4.5,
        "p1": 0.7,
        "p2": 0.15,
    }
    raw.load(
        "bps_poverty_series", "bps_poverty", "2025", bps({2024: published_2024}), t0 + dt.timedelta(days=1)
    )
    raw.load(
        "susenas_household",
        "susenas",
        "2024",
        [
            {
                "household_id": f"h{i}",
                "household_size": size,
                "weight": weight,
                "expenditure_per_capita": y,
                "region_code": REGION,
                "regency_code": REGION,
            }
            for i, (size, weight, y) in enumerate(FGT_HOUSEHOLDS)
        ],
        t0,
    )

    # Registry 2025-Q1: families in three kelurahan with deciles and programme flags.
    registry = []
    families = [  # (family, kelurahan, decile, members, pkh, bpnt, pbi)
        ("f1", KEL_A, 1, 4, True, False, True),
        ("f2", KEL_A, 3, 3, False, False, False),
        ("f3", KEL_A, 7, 2, False, False, False),
        ("f4", KEL_B, 2, 5, False, True, False),
        ("f5", KEL_B, 9, 3, False, False, False),
        ("f6", KEL_C, 4, 2, False, False, False),
    ]
    for family, village, decile, members, pkh, bpnt, pbi in families:
        for m in range(members):
            registry.append(
                {
                    "family_key": family,
                    "person_key": f"{family}-{m}",
                    "welfare_decile": decile,
                    "receives_pkh": pkh,
                    "receives_bpnt": bpnt,
                    "receives_pbi": pbi,
                    "region_code": village,
                    "village_code": village,
                }
            )
    raw.load("registry_individual", "dtsen", "2025-Q1", registry, t0)

    # LKPM: 2024-Q1 and 2025-Q1; only approved reports count.
    def lkpm(
        status: str, kind: str, kbli: str, usd: float | None, idr: float | None, local: int, foreign: int
    ):
        return {
            "nib": f"nib-{kind}-{kbli}-{status}",
            "investor_type": kind,
            "kbli": kbli,
            "district_name": "x",
            "investment_usd_thousand": usd,
            "investment_idr_million": idr,
            "workers_local": local,
            "workers_foreign": foreign,
            "report_status": status,
            "region_code": DISTRICT,
        }

    raw.load(
        "lkpm_report",
        "lkpm",
        "2024-Q1",
        [
            lkpm("approved", "PMA", "10110", 50.0, None, 10, 1),
            lkpm("approved", "PMDN", "47111", None, 400.0, 5, 0),
        ],
        t0,
    )
    raw.load(
        "lkpm_report",
        "lkpm",
        "2025-Q1",
        [
            lkpm("approved", "PMA", "10110", 100.0, None, 20, 2),
            lkpm("approved", "PMA", "10799", 25.5, None, 3, 0),
            lkpm("approved", "PMDN", "47111", None, 500.0, 7, 0),
            lkpm("pending", "PMDN", "47111", None, 9999.0, 1, 0),
            lkpm("rejected", "PMA", "10110", 7777.0, None, 1, 0),
        ],
        t0,
    )

    # ops: three files (loaded, quarantined, duplicate) and the calendar (late with a file, missing without).
    con.execute(
        """
        insert into ops.ingest_log (batch_id, run_id, source, agency, file_name, period, scope, received_at,
            finished_at, status, rows_read, rows_loaded, rows_rejected, checks_failed, error_message) values
        ('b-ok', 'run-1', 'eppgbm', 'Dinas Kesehatan', 'eppgbm_3374_2025-08.xlsx', '2025-08', '33.74',
         '2025-09-09 10:00', '2025-09-09 10:01', 'loaded', 420, 418, 2, [], null),
        ('b-bad', 'run-1', 'lkpm', 'DPMPTSP', 'lkpm_3374_2025_TW2.xlsx', '2025-Q2', '33.74',
         '2025-07-12 09:00', '2025-07-12 09:01', 'quarantined', 10, 0, 10, ['expect_column_to_exist'],
         'Kolom wajib tidak ada'),
        ('b-dup', 'run-2', 'eppgbm', 'Dinas Kesehatan', 'eppgbm_3374_2025-08 (1).xlsx', '2025-08', '33.74',
         '2025-09-10 11:00', '2025-09-10 11:00', 'duplicate', 0, 0, 0, null, null);
        insert into ops.check_results (batch_id, run_id, source, scope_level, check_name, severity, success,
            unexpected_count, message, checked_at) values
        ('b-ok', 'run-1', 'eppgbm', 'file', 'expect_column_values_to_be_between', 'error', false, 2, 'x', now());
        insert into ops.submission_status values
        ('run-2', '2025-09-20', 'lkpm', 'DPMPTSP', '33.74', '2025-Q2', '2025-07-10', '2025-07-12 09:00', 'late'),
        ('run-2', '2025-09-20', 'dukcapil', 'Dinas Kependudukan dan Pencatatan Sipil', '33.74', '2025-S2',
         '2025-07-28', null, 'missing'),
        ('run-1', '2025-09-09', 'eppgbm', 'Dinas Kesehatan', '33.74', '2025-08', '2025-09-10', null, 'not_due'),
        ('run-2', '2025-09-20', 'eppgbm', 'Dinas Kesehatan', '33.74', '2025-08', '2025-09-10',
         '2025-09-09 10:00', 'on_time');
        """
    )
    con.close()
    return ids


def run_dbt(args: list[str], warehouse: Path, scratch: Path) -> object:
    """Run dbt in-process against ``warehouse``; target and logs go to ``scratch`` (never the repo)."""
    from dbt.cli.main import dbtRunner

    env = {"GUDANG_WAREHOUSE": str(warehouse), "GUDANG_REGION": REGION}
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return dbtRunner().invoke(
            [
                *args,
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--target-path",
                str(scratch / "target"),
                "--log-path",
                str(scratch / "logs"),
            ]
        )
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Iterator[dict]:
    home = tmp_path_factory.mktemp("dbt_marts")
    warehouse = home / "warehouse.duckdb"
    ids = build_fixture_warehouse(warehouse)
    result = run_dbt(["build"], warehouse, home)
    failures = [
        f"{r.node.unique_id}: {r.status} {r.message}"
        for r in (result.result or [])
        if str(r.status) not in ("success", "pass")
    ]
    assert result.success, "dbt build failed:\n" + "\n".join(failures or [str(result.exception)])
    docs = run_dbt(["docs", "generate", "--static"], warehouse, home)
    assert docs.success, docs.exception
    con = duckdb.connect(str(warehouse), read_only=True)
    yield {"con": con, "ids": ids, "home": home, "warehouse": warehouse, "results": result.result}
    con.close()


def query(built: dict, sql: str) -> pd.DataFrame:
    return built["con"].execute(sql).df()


# --- independent WHO 2006 LMS implementation -----------------------------------------------------------


class WhoLms:
    """WHO Child Growth Standards 2006 z-scores, row by row, straight from the published tables.

    Written from the WHO method description (and domain.md section 4), independently of the SQL.
    """

    def __init__(self, who_dir: Path) -> None:
        def table(name: str, key: str) -> dict:
            frame = pd.read_csv(who_dir / name, sep="\t")
            return {
                (int(r.sex), round(float(getattr(r, key)), 1)): (r.l, r.m, r.s) for r in frame.itertuples()
            }

        self.hfa = table("lenanthro.txt", "age")
        self.wfa = table("weianthro.txt", "age")
        self.wfl = table("wflanthro.txt", "length")
        self.wfh = table("wfhanthro.txt", "height")

    @staticmethod
    def lms_z(y: float, power: float, median: float, cv: float) -> float:
        if power == 0:
            return math.log(y / median) / cv
        return ((y / median) ** power - 1) / (power * cv)

    @staticmethod
    def sd(k: float, power: float, median: float, cv: float) -> float:
        return median * (1 + power * cv * k) ** (1 / power)

    @classmethod
    def lms_z_restricted(cls, y: float, *lms: float) -> float:
        def sd(k: float) -> float:
            return cls.sd(k, *lms)

        z = cls.lms_z(y, *lms)
        if z > 3:
            return 3 + (y - sd(3)) / (sd(3) - sd(2))
        if z < -3:
            return -3 + (y - sd(-3)) / (sd(-2) - sd(-3))
        return z

    def _interpolated(self, table: dict, sex: int, height: float) -> tuple | None:
        low = math.floor(height * 10 + 1e-9) / 10
        low_row = table.get((sex, round(low, 1)))
        if low_row is None:
            return None
        share = (height - low) / 0.1
        if share < 1e-9:
            return low_row
        high_row = table.get((sex, round(low + 0.1, 1)))
        if high_row is None:
            return None
        return tuple(a + share * (b - a) for a, b in zip(low_row, high_row, strict=True))

    def scores(self, sex: str, age_days: int, method: str | None, height: float, weight: float):
        if age_days < 0 or age_days / 30.4375 >= 60:
            return None, None, None
        sex_code = {"L": 1, "P": 2}[sex]
        if age_days < 731 and method == "standing":
            height = height + 0.7
        elif age_days >= 731 and method == "recumbent":
            height = height - 0.7
        haz = self.lms_z(height, *self.hfa[(sex_code, float(age_days))])
        waz = self.lms_z_restricted(weight, *self.wfa[(sex_code, float(age_days))])
        lms = self._interpolated(self.wfl if age_days < 731 else self.wfh, sex_code, height)
        whz = self.lms_z_restricted(weight, *lms) if lms else None
        return haz, waz, whz


@pytest.fixture(scope="module")
def who() -> WhoLms:
    return WhoLms(REFERENCE_DIR / "who")


# --- tests ------------------------------------------------------------------------------------------------


def test_every_mart_exists_with_its_contract_columns(built):
    spec = yaml.safe_load((DBT_PROJECT_DIR / "models" / "marts" / "_marts.yml").read_text())
    declared = {m["name"]: [c["name"] for c in m["columns"]] for m in spec["models"]}
    assert sorted(declared) == sorted(MARTS)
    for mart, columns in declared.items():
        actual = query(built, f"describe marts.{mart}")["column_name"].tolist()
        assert actual == columns, mart


def test_the_contracts_not_null_columns_are_not_null_in_the_tables(built, tmp_path):
    spec = yaml.safe_load((DBT_PROJECT_DIR / "models" / "marts" / "_marts.yml").read_text())
    constrained = {
        (m["name"], c["name"])
        for m in spec["models"]
        for c in m["columns"]
        if {"type": "not_null"} in c.get("constraints", [])
    }
    not_nullable = query(
        built,
        "select table_name, column_name from duckdb_columns() where schema_name = 'marts' and not is_nullable",
    )
    assert len(constrained) > 50
    assert set(not_nullable.itertuples(index=False, name=None)) == constrained
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built["warehouse"], copy)
    with duckdb.connect(str(copy)) as writer, pytest.raises(duckdb.ConstraintException):
        writer.execute("insert into marts.mart_stunting (region_code) values (null)")


def test_schemas_are_exactly_the_layer_names(built):
    schemas = set(query(built, "select distinct table_schema from information_schema.tables")["table_schema"])
    assert {"raw", "ops", "staging", "intermediate", "marts", "reference", "dbt_test_failures"} <= schemas
    assert not {s for s in schemas if s.startswith("main_")}


def test_unit_tests_and_data_tests_ran(built):
    kinds = {}
    for r in built["results"]:
        kinds.setdefault(r.node.resource_type.value, []).append(str(r.status))
    assert len(kinds["unit_test"]) >= 3 and set(kinds["unit_test"]) == {"pass"}
    assert len(kinds["test"]) > 50 and set(kinds["test"]) == {"pass"}


def test_the_production_exclusion_of_unit_tests_is_read_by_dbt(tmp_path, monkeypatch):
    """The Cosmos tasks carry DBT_EXCLUDE_RESOURCE_TYPES=unit_test (tests/test_dags.py); dbt must honour it."""
    warehouse = tmp_path / "warehouse.duckdb"
    listed = run_dbt(["ls", "--resource-type", "unit_test", "--output", "name"], warehouse, tmp_path)
    assert listed.success and len(listed.result) >= 3
    monkeypatch.setenv("DBT_EXCLUDE_RESOURCE_TYPES", "unit_test")
    excluded = run_dbt(["ls", "--resource-type", "unit_test", "--output", "name"], warehouse, tmp_path)
    assert excluded.success and excluded.result == []


def test_zscores_equal_independent_who_implementation(built, who):
    fact = query(
        built,
        """
        select f.measurement_key, f.sex, f.age_days, f.measure_method, f.height_cm, f.weight_kg,
               f.haz, f.waz, f.whz, r.birth_date, r.measured_on
        from marts.fct_child_measurement f
        join raw.eppgbm_measurement r on r._batch_id = f._batch_id and r._source_row = f._source_row
        """,
    )
    assert len(fact) == len(EDGE_CHILDREN) + 2 + 400 + 40
    checked = {"haz": 0, "waz": 0, "whz": 0}
    for row in fact.itertuples():
        assert row.age_days == (row.measured_on - row.birth_date).days
        expected = who.scores(row.sex, row.age_days, row.measure_method, row.height_cm, row.weight_kg)
        for name, want in zip(("haz", "waz", "whz"), expected, strict=True):
            got = getattr(row, name)
            if want is None:
                assert pd.isna(got), (name, row)
            else:
                assert got == pytest.approx(want, abs=0.01), (name, row)
                checked[name] += 1
    assert min(checked.values()) > 300


def _edge(built, key: str) -> pd.Series:
    child = EDGE_CHILDREN[key]["child_key"]
    frame = query(
        built, f"select * from marts.fct_child_measurement where child_key = '{child}' and period = '2025-08'"
    )
    assert len(frame) == 1
    return frame.iloc[0]


def test_length_height_switch_at_731_days(built, who):
    # under 731 days a standing child gets +0.7 cm and is scored on weight-for-LENGTH
    standing_730 = _edge(built, "age730_standing")
    assert standing_730.height_adjusted_cm == pytest.approx(85.7)
    assert _edge(built, "age730_lying").height_adjusted_cm == pytest.approx(85.0)
    # from 731 days a lying child loses 0.7 cm and is scored on weight-for-HEIGHT
    assert _edge(built, "age731_standing").height_adjusted_cm == pytest.approx(85.0)
    lying_731 = _edge(built, "age731_lying")
    assert lying_731.height_adjusted_cm == pytest.approx(84.3)
    assert lying_731.whz == pytest.approx(who.lms_z(11.5, *who.wfh[(2, 84.3)]), abs=1e-6)
    assert standing_730.whz == pytest.approx(who.lms_z(11.5, *who.wfl[(1, 85.7)]), abs=1e-6)
    assert standing_730.height_cm == 85.0  # as recorded


def test_restricted_rule_beyond_three_sd_for_weight_only(built, who):
    heavy, light = _edge(built, "heavy"), _edge(built, "light")
    assert heavy.waz > 3 and heavy.whz > 3 and light.waz < -3 and light.whz < -3
    lms = who.wfa[(1, 400.0)]
    sd3, sd2 = who.sd(3, *lms), who.sd(2, *lms)
    assert heavy.waz == pytest.approx(3 + (16.0 - sd3) / (sd3 - sd2), abs=1e-6)
    assert abs(heavy.waz - who.lms_z(16.0, *lms)) > 0.05  # the rule matters here
    # HAZ is never restricted: the implausible child keeps the raw LMS value
    implausible = _edge(built, "implausible")
    assert implausible.haz == pytest.approx(who.lms_z(50.0, *who.hfa[(1, 500.0)]), abs=1e-6)
    assert implausible.haz < -6 and implausible.haz_implausible and pd.isna(implausible.stunted)


def test_zscores_only_under_60_months(built):
    assert _edge(built, "age_1826")["haz"] is not None and not pd.isna(_edge(built, "age_1826").haz)
    over = _edge(built, "age_1827")
    assert pd.isna(over.haz) and pd.isna(over.waz) and pd.isna(over.whz) and pd.isna(over.stunted)
    assert _edge(built, "newborn").haz == pytest.approx(0.0, abs=0.3)


def test_interpolation_between_tenth_cm_rows(built, who):
    row = _edge(built, "interpolated")
    low, high = who.wfl[(2, 80.0)], who.wfl[(2, 80.1)]
    halfway = [a + 0.5 * (b - a) for a, b in zip(low, high, strict=True)]
    assert row.whz == pytest.approx(who.lms_z(10.2, *halfway), abs=1e-6)


def test_superseded_revision_is_gone_and_reported_zscores_kept(built):
    assert (
        query(built, "select count(*) n from marts.fct_child_measurement where child_key = 'c-superseded'").n[
            0
        ]
        == 0
    )
    assert (
        query(
            built,
            f"select count(*) n from marts.fct_child_measurement where _batch_id = '{built['ids']['eppgbm_old']}'",
        ).n[0]
        == 0
    )
    rep = _edge(built, "reported_ok")
    assert rep.haz_reported == -0.93
    assert rep.haz_disagrees == (abs(rep.haz - -0.93) > 0.1)
    assert rep.waz_disagrees == (abs(rep.waz - -0.5) > 0.1)


def test_stunting_prevalence_equals_recount(built):
    fact = query(built, "select * from marts.fct_child_measurement")
    latest = fact.sort_values(["measured_on", "_source_row"]).groupby(["child_key", "period"]).tail(1)
    assert "c-twice" in set(latest.child_key)
    assert latest[latest.child_key == "c-twice"].height_cm.iloc[0] == 86.0
    mart = query(built, "select * from marts.mart_stunting").set_index(
        ["region_level", "region_code", "period"]
    )
    regions = {KEL_A: DISTRICT, KEL_B: DISTRICT, KEL_C: DISTRICT}
    for period, month in latest.groupby("period"):
        for level, codes in (
            ("kelurahan", month.region_code),
            ("kecamatan", month.region_code.map(regions)),
            ("kota", month.region_code.str[:5]),
        ):
            for code, group in month.groupby(codes):
                valid = group[group.haz.notna() & ~group.haz_implausible]
                row = mart.loc[(level, code, period)]
                assert row.children_measured == len(group)
                assert row.children_valid_haz == len(valid)
                assert row.stunted == (valid.haz < -2).sum()
                assert row.severely_stunted == (valid.haz < -3).sum()
                assert row.stunting_pct == pytest.approx(100 * (valid.haz < -2).sum() / len(valid))
    kota = mart.loc[("kota", REGION, "2025-08")]
    assert kota.under_five_population == 450
    assert kota.coverage_pct == pytest.approx(100 * kota.children_measured / 450)
    assert kota.target_pct == 18.8
    assert kota.gap_to_target_pp == pytest.approx(kota.stunting_pct - 18.8)


def test_spm_band_edges_and_recomputed_achievement(built):
    mart = query(built, "select * from marts.mart_spm_service where period = '2025-Q2'").set_index(
        "service_code"
    )
    for i, (served, category) in enumerate(SPM_EDGES):
        row = mart.loc[f"KES-{i + 1:02d}"]
        assert row.achievement_pct == pytest.approx(served / 100)
        assert row.achievement_pct_reported == 99.0
        assert row.spm_index == pytest.approx(0.8 * served / 100 + 0.2 * served / 100)
        assert row.category == category, (served, row.spm_index)
    zero = mart.loc["KES-12"]
    assert zero.achievement_pct == 100 and zero.category == "Tuntas Paripurna"
    # PU rows were matched to the catalogue by name
    assert mart.loc["PU-01"].spm_index == pytest.approx(0.8 * 50 + 0.2 * 50)
    assert mart.loc["PU-01"].category == "Belum Tuntas"
    assert mart.loc["PU-02"].category == "Tuntas Utama"  # 0.8*90 + 0.2*100 = 92


def test_spm_sector_and_overall_rows(built):
    sectors = query(built, "select * from marts.mart_spm_sector where period = '2025-Q2'").set_index("sector")
    services = query(built, "select * from marts.mart_spm_service where period = '2025-Q2'")
    by_sector = services.groupby("sector").spm_index.mean()
    assert sectors.loc["kesehatan"].spm_index == pytest.approx(by_sector["kesehatan"])
    assert sectors.loc["pekerjaan_umum"].spm_index == pytest.approx(by_sector["pekerjaan_umum"])
    assert sectors.loc["semua"].is_overall
    assert sectors.loc["semua"].spm_index == pytest.approx(by_sector.mean())
    assert sectors.loc["semua"].services_in_catalogue == 29


def test_fgt_hand_checked_example(built):
    mart = query(built, "select * from marts.mart_poverty_regency where year = 2024").set_index("source")
    computed = mart.loc["computed from microdata"]
    for column, want in FGT_EXPECTED.items():
        assert computed[column] == pytest.approx(want, abs=1e-6), column
    assert computed.poverty_line_rp == 600_000
    assert computed.extreme_poverty_pct == pytest.approx(2 / 6 * 100, abs=1e-6)  # only 300,000 < 322,170
    assert computed.extreme_threshold_version == "US$1.90 PPP 2011"
    published = mart.loc["BPS published"]
    assert published.p0_pct == 4.5 and published.poverty_line_rp == 600_000  # newer file won
    assert computed.p0_diff_vs_published_pp == pytest.approx(4 / 6 * 100 - 4.5, abs=1e-6)
    assert 0 <= computed.p2 <= computed.p1 <= computed.p0_pct


def test_registry_counts_live_only_in_registry_mart(built):
    registry = query(built, "select * from marts.mart_poverty_registry").set_index(
        ["region_code", "welfare_decile"]
    )
    assert registry.loc[(KEL_A, 1)].households == 1 and registry.loc[(KEL_A, 1)].individuals == 4
    assert registry.loc[(KEL_A, 1)].households_pkh == 1 and registry.loc[(KEL_A, 1)].individuals_pbi == 4
    assert registry.loc[(KEL_A, 1)].population_total == 1000
    assert registry.loc[(KEL_A, 1)].share_of_population_pct == pytest.approx(0.4)
    poverty_columns = set(query(built, "describe marts.mart_poverty_regency").column_name)
    assert not {"households", "individuals", "welfare_decile"} & poverty_columns


def test_pma_converted_at_apbn_rate_and_only_approved(built):
    mart = query(built, "select * from marts.mart_investment").set_index(
        ["year", "investor_type", "sector_code"]
    )
    pma_2025 = mart.loc[(2025, "PMA", 5)]
    assert pma_2025.exchange_rate == 16000
    assert pma_2025.investment_usd == pytest.approx(125.5)  # US$ thousand, both food KBLIs
    assert pma_2025.investment_idr == pytest.approx(125.5 * 16000 / 1000)  # Rp million
    assert (
        pma_2025.projects == 2
        and pma_2025.sector == "Industri Makanan"
        and pma_2025.sector_group == "sekunder"
    )
    assert pma_2025.investment_idr_same_quarter_prev_year == pytest.approx(50 * 15000 / 1000)
    assert pma_2025.growth_yoy_pct == pytest.approx(100 * (2008 - 750) / 750)
    pmdn_2025 = mart.loc[(2025, "PMDN", 19)]
    assert pmdn_2025.investment_idr == 500 and pd.isna(pmdn_2025.investment_usd)  # pending 9999 not counted
    total = query(built, "select * from marts.mart_investment_realisation where year = 2025").iloc[0]
    assert total.investment_idr == pytest.approx(2008 + 500)
    assert total.realisation_pct == pytest.approx(100 * 2508 / 27_000_000)


def test_scorecard_ranks_every_kelurahan(built):
    score = query(built, "select * from marts.mart_kelurahan_priority")
    villages = pd.read_csv(REFERENCE_DIR / "wilayah" / "villages.csv", dtype=str)
    expected = set(villages[villages.code.str.startswith(REGION + ".")].code)
    assert set(score.region_code) == expected and len(score) == 177
    assert sorted(score.priority_rank) == list(range(1, 178))
    with_data = score[score.components_available > 0].sort_values("priority_rank")
    assert set(with_data.region_code) == {KEL_A, KEL_B, KEL_C}
    assert with_data.priority_rank.max() == 3  # kelurahan with data come first
    # recompute the weighted score of each from its components
    for row in with_data.itertuples():
        parts = [(0.4, row.stunting_score), (0.4, row.poverty_score), (0.2, row.service_gap_score)]
        parts = [(w, s) for w, s in parts if not pd.isna(s)]
        assert row.need_score == pytest.approx(sum(w * s for w, s in parts) / sum(w for w, _ in parts))
    a = score.set_index("region_code").loc[KEL_A]
    assert a.poor_individuals == 7 and a.poor_share_pct == pytest.approx(0.7)


def test_data_quality_rows(built):
    dq = query(built, "select * from marts.mart_data_quality").set_index("submission_key")
    assert dq.loc["b-bad"].status == "quarantined" and dq.loc["b-bad"].submission_status == "late"
    assert dq.loc["b-bad"].checks_failed == "expect_column_to_exist"
    assert dq.loc["b-ok"].checks_failed == "expect_column_values_to_be_between"  # from ops.check_results
    assert dq.loc["b-ok"].rows_read == 420 and dq.loc["b-ok"].submission_status == "on_time"
    assert dq.loc["b-dup"].status == "duplicate"
    missing = dq.loc["calendar:dukcapil:33.74:2025-S2"]
    assert missing.record_type == "calendar" and missing.status == "missing" and pd.isna(missing.file_name)
    assert "calendar:lkpm:33.74:2025-Q2" not in dq.index  # the late file already has its own row


def test_every_region_code_is_in_the_kemendagri_list(built):
    for mart in MARTS:
        columns = set(query(built, f"describe marts.{mart}").column_name)
        if "region_code" not in columns or mart == "dim_region":
            continue
        orphans = query(
            built,
            f"select count(*) n from marts.{mart} m where not exists "
            f"(select 1 from marts.dim_region d where d.region_code = m.region_code)",
        ).n[0]
        assert orphans == 0, mart


def test_every_mart_column_has_an_indonesian_label(built):
    import json

    manifest = json.loads((built["home"] / "target" / "manifest.json").read_text())
    for mart in MARTS:
        node = manifest["nodes"][f"model.gudang.{mart}"]
        assert node["description"] and node["config"]["meta"]["label_id"]
        assert node["config"]["contract"]["enforced"]
        for column in node["columns"].values():
            assert column["description"], (mart, column["name"])
            assert column["meta"].get("label_id") or column["config"]["meta"].get("label_id"), (mart, column)


def test_docs_generate_offline(built):
    catalog = (built["home"] / "target" / "catalog.json").read_text()
    assert "mart_kelurahan_priority" in catalog
    assert (built["home"] / "target" / "static_index.html").stat().st_size > 100_000
