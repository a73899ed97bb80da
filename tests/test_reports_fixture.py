"""A published ``marts.duckdb`` for the report tests, shaped like the dbt marts' contracts.

The report code only ever reads the published file, so the tests build one directly (real DuckDB, real
Kota Semarang kelurahan from ``reference/wilayah``) instead of running the whole pipeline. The test in
this module keeps the fixture honest: every column the dbt YAML declares for a mart must exist here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from gudang.reports.marts import mart_docs
from gudang.settings import DBT_PROJECT_DIR, REFERENCE_DIR

REGION = "33.74"
MONTHS = ["2026-07", "2026-08", "2026-09"]
INJECTION_TEXTS = ['=HYPERLINK("http://contoh.invalid","klik")', "+1", "-2", "@SUM(A1:A2)", "\tcmd", "\rcmd"]


def _regions() -> pd.DataFrame:
    villages = pd.read_csv(REFERENCE_DIR / "wilayah" / "villages.csv", dtype=str)
    districts = pd.read_csv(REFERENCE_DIR / "wilayah" / "districts.csv", dtype=str)
    villages = villages[villages["district_code"].str.startswith(REGION + ".")]
    districts = districts[districts["regency_code"] == REGION]
    rows = [
        {"region_code": REGION, "region_name": "Kota Semarang", "level": "regency", "parent_code": "33"},
        *(
            {"region_code": d.code, "region_name": d.name, "level": "district", "parent_code": REGION}
            for d in districts.itertuples()
        ),
        *(
            {"region_code": v.code, "region_name": v.name, "level": "village", "parent_code": v.district_code}
            for v in villages.itertuples()
        ),
    ]
    frame = pd.DataFrame(rows)
    frame["province_code"] = "33"
    frame["regency_code"] = REGION
    frame["district_code"] = frame["region_code"].where(frame["level"] != "regency").str[:8]
    frame["is_kelurahan"] = frame["level"].eq("village") & frame["region_code"].str[9].eq("1")
    frame["decree"] = "Kepmendagri 300.2.2-2138/2025"
    return frame


def _stunting(regions: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    villages = regions[regions["level"] == "village"]
    counts = ["children_measured", "children_valid_haz", "stunted", "severely_stunted"]
    counts += ["children_valid_waz", "underweight", "children_valid_whz", "wasted", "under_five_population"]
    for month in MONTHS:
        measured = rng.integers(20, 60, len(villages))
        stunted = (measured * rng.uniform(0.08, 0.35, len(villages))).astype(int)
        frame = pd.DataFrame(
            {
                "region_code": villages["region_code"].to_numpy(),
                "region_level": "kelurahan",
                "children_measured": measured,
                "children_valid_haz": measured - 1,
                "stunted": stunted,
                "severely_stunted": stunted // 3,
                "children_valid_waz": measured,
                "underweight": measured // 8,
                "children_valid_whz": measured,
                "wasted": measured // 12,
                "under_five_population": measured * 2,
            }
        )
        rows.append(frame.assign(period=month))
        for level, code_length in (("kecamatan", 8), ("kota", 5)):
            grouped = frame.assign(region_code=frame["region_code"].str[:code_length])
            grouped = grouped.groupby("region_code", as_index=False)[counts].sum()
            rows.append(grouped.assign(region_level=level, period=month))
    df = pd.concat(rows, ignore_index=True)
    df = df.merge(regions[["region_code", "region_name"]], on="region_code")
    df["year"] = df["period"].str[:4].astype(int)
    df["month"] = df["period"].str[5:].astype(int)
    df["stunting_pct"] = 100 * df["stunted"] / df["children_valid_haz"]
    df["severe_stunting_pct"] = 100 * df["severely_stunted"] / df["children_valid_haz"]
    df["underweight_pct"] = 100 * df["underweight"] / df["children_valid_waz"]
    df["wasting_pct"] = 100 * df["wasted"] / df["children_valid_whz"]
    df["coverage_pct"] = 100 * df["children_measured"] / df["under_five_population"]
    df["target_pct"] = 17.8
    df["gap_to_target_pp"] = df["stunting_pct"] - df["target_pct"]
    df["zscore_compared"] = df["children_measured"]
    df["zscore_disagreements"] = 0
    return df


SPM_BANDS = [-1, 60, 70, 80, 90, 100 - 1e-9, 1000]
SPM_LABELS = [
    "Belum Tuntas",
    "Tuntas Muda",
    "Tuntas Pratama",
    "Tuntas Madya",
    "Tuntas Utama",
    "Tuntas Paripurna",
]


def _spm(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    catalogue = pd.read_csv(REFERENCE_DIR / "catalog" / "spm_services_kabkota.csv", dtype=str)
    services = []
    for quarter in (1, 2, 3):
        for row in catalogue.itertuples():
            target = int(rng.integers(100, 5000))
            served = int(target * min(1.0, 0.3 + 0.2 * quarter + rng.uniform(-0.1, 0.1)))
            quality = float(rng.uniform(50, 100))
            achievement = 100 * served / target
            services.append(
                {
                    "region_code": REGION,
                    "year": 2026,
                    "quarter": quarter,
                    "period": f"2026-Q{quarter}",
                    "sector": row.sector,
                    "service_code": row.service_code,
                    "service_name": row.service_name,
                    "target_count": target,
                    "served_count": served,
                    "achievement_pct": achievement,
                    "achievement_pct_reported": round(achievement, 1),
                    "quality_achievement_pct": quality,
                    "spm_index": 0.8 * achievement + 0.2 * quality,
                }
            )
    df = pd.DataFrame(services)
    df["category"] = pd.cut(df["spm_index"], SPM_BANDS, right=False, labels=SPM_LABELS).astype(str)
    keys = ["region_code", "year", "quarter", "period"]
    measures = ["achievement_pct", "quality_achievement_pct", "spm_index"]
    sectors = df.groupby([*keys, "sector"], as_index=False)[measures].mean()
    sectors["services_reported"] = df.groupby([*keys, "sector"]).size().to_numpy()
    sectors["services_in_catalogue"] = sectors["services_reported"]
    names = catalogue.drop_duplicates("sector").set_index("sector")["sector_name"]
    sectors["sector_name"] = sectors["sector"].map(names)
    sectors["is_overall"] = False
    overall = sectors.groupby(keys, as_index=False)[measures].mean()
    overall = overall.assign(
        sector="semua",
        sector_name="Seluruh urusan SPM",
        is_overall=True,
        services_reported=29,
        services_in_catalogue=29,
    )
    sectors = pd.concat([sectors, overall], ignore_index=True)
    sectors["category"] = pd.cut(sectors["spm_index"], SPM_BANDS, right=False, labels=SPM_LABELS).astype(str)
    return df, sectors


def _poverty(regions: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    series = []
    for year in range(2020, 2026):
        p0 = 4.5 - 0.2 * (year - 2020)
        for source, shift in (("BPS published", 0.0), ("computed from microdata", 0.15)):
            computed = source.startswith("computed")
            if computed and year < 2024:
                continue
            series.append(
                {
                    "region_code": REGION,
                    "region_name": "Kota Semarang",
                    "year": year,
                    "source": source,
                    "poverty_line_rp": 500_000.0 + 20_000 * (year - 2020),
                    "poor_population": 1_650_000 * (p0 + shift) / 100,
                    "p0_pct": p0 + shift,
                    "p1": 0.6,
                    "p2": 0.12,
                    "extreme_poverty_pct": 0.4 if computed else None,
                    "extreme_poor_population": 6600.0 if computed else None,
                    "extreme_threshold_rp": 322_170.0 if computed else None,
                    "extreme_threshold_version": "US$1.90 PPP 2011" if computed else None,
                    "sample_households": 1200 if computed else None,
                    "p0_diff_vs_published_pp": shift if computed else None,
                }
            )
    registry = []
    villages = regions[regions["level"] == "village"]
    for village in villages.itertuples():
        for decile in range(1, 5):
            households = int(rng.integers(10, 200))
            registry.append(
                {
                    "region_code": village.region_code,
                    "region_name": village.region_name,
                    "district_code": village.district_code,
                    "snapshot": "2026-Q2",
                    "registry_source": "dtsen",
                    "welfare_decile": decile,
                    "households": households,
                    "individuals": households * 3,
                    "households_pkh": households // 3,
                    "households_bpnt": households // 4,
                    "individuals_pbi": households,
                    "households_without_assistance": households // 5,
                    "population_total": 9000,
                    "population_period": "2026-S1",
                    "share_of_population_pct": 100 * households * 3 / 9000,
                }
            )
    return pd.DataFrame(series), pd.DataFrame(registry)


def _investment(regions: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    sectors = pd.read_csv(REFERENCE_DIR / "catalog" / "bkpm_sectors.csv", dtype=str)
    districts = regions[regions["level"] == "district"]["region_code"].head(4)
    rows = []
    for year, rate in ((2025, 16_000.0), (2026, 16_500.0)):
        for quarter in (1, 2, 3):
            for district in districts:
                for sector in sectors.head(8).itertuples():
                    for investor_type in ("PMA", "PMDN"):
                        usd = (
                            float(rng.uniform(100, 5000)) if investor_type == "PMA" else None
                        )  # US$ thousand
                        idr = usd * rate / 1000 if usd else float(rng.uniform(1_000, 50_000))  # Rp million
                        rows.append(
                            {
                                "region_code": district,
                                "year": year,
                                "quarter": quarter,
                                "period": f"{year}-Q{quarter}",
                                "sector_code": int(sector.sector_code),
                                "sector": sector.sector_name,
                                "sector_group": sector.sector_group,
                                "investor_type": investor_type,
                                "projects": int(rng.integers(1, 20)),
                                "investment_usd": usd,
                                "investment_idr": idr,
                                "exchange_rate": rate if usd else None,
                                "workers_local": int(rng.integers(0, 500)),
                                "workers_foreign": int(rng.integers(0, 10)),
                                "investment_idr_same_quarter_prev_year": None,
                                "growth_yoy_pct": -2.5,
                            }
                        )
    return pd.DataFrame(rows)


def _investment_realisation(investment: pd.DataFrame) -> pd.DataFrame:
    keys = ["year", "quarter", "period"]
    by_type = investment.pivot_table(
        index=keys, columns="investor_type", values="investment_idr", aggfunc="sum"
    )
    df = by_type.reset_index().rename(columns={"PMA": "investment_idr_pma", "PMDN": "investment_idr_pmdn"})
    df.columns.name = None
    df["region_code"] = REGION
    df["investment_idr"] = df["investment_idr_pma"] + df["investment_idr_pmdn"]
    df["investment_idr_ytd"] = df.groupby("year")["investment_idr"].cumsum()
    df["target_idr"] = 3_000_000.0
    df["realisation_pct"] = 100 * df["investment_idr_ytd"] / df["target_idr"]
    previous = df.set_index(["year", "quarter"])["investment_idr"]
    df["investment_idr_same_quarter_prev_year"] = [
        previous.get((y - 1, q)) for y, q in zip(df["year"], df["quarter"], strict=True)
    ]
    df["growth_yoy_pct"] = 100 * (df["investment_idr"] / df["investment_idr_same_quarter_prev_year"] - 1)
    return df


def _data_quality() -> pd.DataFrame:
    agencies = ["Dinas Kesehatan", "Dinas Pendidikan", "DPMPTSP", "Dinas Sosial"]
    timeliness = ["on_time", "late", "on_time", "on_time", "on_time", "late"]
    rows = []
    for i, text in enumerate(INJECTION_TEXTS):
        rows.append(
            {
                "record_type": "file",
                "submission_key": f"batch-{i}",
                "batch_id": f"batch-{i}",
                "run_id": "run-fixture",
                "agency": agencies[i % len(agencies)],
                "source": "eppgbm",
                "scope": REGION,
                "period": MONTHS[i % len(MONTHS)],
                "file_name": text,
                "received_at": dt.datetime(2026, 10, 1 + i, 8, 30),
                "due_on": dt.date(2026, 10, 10),
                "status": "loaded_with_warnings",
                "submission_status": timeliness[i],
                "rows_read": 1000 + i,
                "rows_loaded": 990 - i,
                "rows_rejected": 10 + i,
                "checks_failed": f"{text}, expect_column_values_to_be_between",
                "checks_failed_count": 2,
                "error_message": None,
                "processed_at": dt.datetime(2026, 10, 1 + i, 9, 0),
            }
        )
    rows.append(
        {
            "record_type": "calendar",
            "submission_key": f"calendar:lkpm:{REGION}:2026-Q3",
            "run_id": "run-fixture",
            "agency": "DPMPTSP",
            "source": "lkpm",
            "scope": REGION,
            "period": "2026-Q3",
            "due_on": dt.date(2026, 10, 10),
            "status": "missing",
            "submission_status": "missing",
            "checks_failed": "",
            "checks_failed_count": 0,
        }
    )
    return pd.DataFrame(rows)


def _priority(regions: pd.DataFrame, stunting: pd.DataFrame, registry: pd.DataFrame) -> pd.DataFrame:
    kelurahan = regions[regions["level"] == "village"][["region_code", "region_name", "district_code"]]
    names = regions.set_index("region_code")["region_name"]
    latest = stunting[(stunting["region_level"] == "kelurahan") & (stunting["period"] == MONTHS[-1])]
    poor = registry.groupby("region_code", as_index=False).agg(
        poor_individuals=("individuals", "sum"),
        population_total=("population_total", "first"),
        without=("households_without_assistance", "sum"),
        households=("households", "sum"),
    )
    df = kelurahan.merge(
        latest[["region_code", "period", "children_valid_haz", "stunting_pct", "coverage_pct"]],
        on="region_code",
    )
    df = df.merge(poor, on="region_code").rename(columns={"period": "stunting_period"})
    df["district_name"] = df["district_code"].map(names)
    df["registry_snapshot"] = "2026-Q2"
    df["poor_share_pct"] = 100 * df["poor_individuals"] / df["population_total"]
    df["weighing_coverage_gap_pct"] = (100 - df["coverage_pct"].clip(upper=100)).clip(lower=0)
    df["assistance_gap_pct"] = 100 * df["without"] / df["households"]
    df["service_gap_pct"] = (df["weighing_coverage_gap_pct"] + df["assistance_gap_pct"]) / 2

    def score(s: pd.Series) -> pd.Series:
        return 100 * (s - s.min()) / (s.max() - s.min())

    df["stunting_score"] = score(df["stunting_pct"])
    df["poverty_score"] = score(df["poor_share_pct"])
    df["service_gap_score"] = score(df["service_gap_pct"])
    df["weight_stunting"], df["weight_poverty"], df["weight_service_gap"] = 0.4, 0.4, 0.2
    df["need_score"] = 0.4 * df["stunting_score"] + 0.4 * df["poverty_score"] + 0.2 * df["service_gap_score"]
    df["components_available"] = 3
    df = df.sort_values(["need_score", "region_code"], ascending=[False, True])
    df["priority_rank"] = range(1, len(df) + 1)
    return df.drop(columns=["coverage_pct", "without", "households"])


def _declared_types() -> dict[str, dict[str, str]]:
    """Column types per mart from the dbt contract YAML (``data_type``), when the project declares them."""
    contracts: dict[str, dict[str, str]] = {}
    for yml in sorted((DBT_PROJECT_DIR / "models" / "marts").glob("*.yml")):
        for model in (yaml.safe_load(yml.read_text()) or {}).get("models") or []:
            types = {c["name"]: c.get("data_type") for c in model.get("columns") or []}
            if types and all(types.values()):
                contracts[model["name"]] = types
    return contracts


def build_published_marts(path: Path, *, empty: bool = False, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Write a published marts file at ``path``; returns the frames written (``empty``: no rows)."""
    rng = np.random.default_rng(seed)
    regions = _regions()
    stunting = _stunting(regions, rng)
    spm_service, spm_sector = _spm(rng)
    poverty_regency, poverty_registry = _poverty(regions, rng)
    investment = _investment(regions, rng)
    frames = {
        "dim_region": regions,
        "mart_stunting": stunting,
        "mart_spm_service": spm_service,
        "mart_spm_sector": spm_sector,
        "mart_poverty_regency": poverty_regency,
        "mart_poverty_registry": poverty_registry,
        "mart_investment": investment,
        "mart_investment_realisation": _investment_realisation(investment),
        "mart_data_quality": _data_quality(),
        "mart_kelurahan_priority": _priority(regions, stunting, poverty_registry),
    }
    if empty:
        frames = {name: frame.iloc[0:0] for name, frame in frames.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    contracts = _declared_types()
    conn = duckdb.connect(str(path))
    try:
        for name, frame in frames.items():
            conn.register("frame", frame)
            if name in contracts:
                # Typed and ordered exactly as the dbt contract declares, like the real published file.
                columns = ", ".join(
                    f'"{column}" {data_type}' for column, data_type in contracts[name].items()
                )
                conn.execute(f'CREATE OR REPLACE TABLE main."{name}" ({columns})')
                conn.execute(f'INSERT INTO main."{name}" BY NAME SELECT * FROM frame')
            else:
                conn.execute(f'CREATE OR REPLACE TABLE main."{name}" AS SELECT * FROM frame')
            conn.unregister("frame")
        # The publisher's bookkeeping, as gudang.publish writes it.
        conn.execute(
            "CREATE OR REPLACE TABLE main._publication (run_id VARCHAR, published_at TIMESTAMP, "
            "table_name VARCHAR, row_count BIGINT, content_hash VARCHAR)"
        )
        conn.executemany(
            "INSERT INTO main._publication VALUES ('run-fixture', TIMESTAMP '2026-10-12 07:00:00', ?, ?, 'x')",
            [(name, len(frame)) for name, frame in frames.items()],
        )
        conn.execute(
            "CREATE OR REPLACE TABLE main._last_run AS SELECT 'run-fixture'::VARCHAR AS run_id, "
            "TIMESTAMP '2026-10-12 07:00:00' AS checked_at, 'published'::VARCHAR AS status, NULL::VARCHAR AS message"
        )
    finally:
        conn.close()
    return frames


def test_fixture_has_every_column_the_dbt_marts_declare(tmp_path: Path) -> None:
    docs = mart_docs()
    if not docs:
        pytest.skip("dbt_project/models/marts/*.yml not written yet: nothing to compare the fixture with")
    frames = build_published_marts(tmp_path / "marts.duckdb")
    for name, frame in frames.items():
        if name in docs:
            declared = set(docs[name].columns)
            assert set(frame.columns) == declared, (
                f"{name}: fixture lacks {sorted(declared - set(frame.columns))}, "
                f"has undeclared {sorted(set(frame.columns) - declared)}"
            )
