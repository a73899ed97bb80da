"""A small warehouse shaped like dbt's output (schemas staging and marts, columns as in
dbt_project/models/marts/_marts.yml), consistent by construction, for the mart gate and publish tests."""

from __future__ import annotations

from pathlib import Path

import duckdb

from gudang.warehouse import OPS_DDL

FIXTURE_SQL = """
create schema if not exists staging;
create schema if not exists marts;

create or replace table marts.dim_region as
select * from (values
    ('33.74', 'Kota Semarang', 'regency', '33', '33', '33.74', null, false),
    ('33.74.01', 'Semarang Tengah', 'district', '33.74', '33', '33.74', '33.74.01', false),
    ('33.74.01.1001', 'Miroto', 'village', '33.74.01', '33', '33.74', '33.74.01', true),
    ('33.74.01.1002', 'Brumbungan', 'village', '33.74.01', '33', '33.74', '33.74.01', true)
) as t(region_code, region_name, level, parent_code, province_code, regency_code, district_code, is_kelurahan);

-- 60 children measured in 2025-03 (one measured twice), 40 in Miroto and 20 in Brumbungan
create or replace table marts.fct_child_measurement as
select
    md5('m' || i) as measurement_key,
    md5('child' || least(i, 59)) as child_key,
    case when i < 40 then '33.74.01.1001' else '33.74.01.1002' end as region_code,
    '2025-03' as period,
    date '2025-03-01' + least(i, 27)::integer as measured_on,
    -2.5 + i / 20.0 as haz
from range(61) as r(i);

create or replace table marts.mart_stunting as
select * from (values
    ('33.74.01.1001', 'Miroto', 'kelurahan', '2025-03', 2025, 3, 40, 40, 10, 2, 25.0, 5.0, 10.0, 20.0),
    ('33.74.01.1002', 'Brumbungan', 'kelurahan', '2025-03', 2025, 3, 20, 20, 4, 1, 20.0, 5.0, 5.0, 15.0),
    ('33.74.01', 'Semarang Tengah', 'kecamatan', '2025-03', 2025, 3, 60, 60, 14, 3, 23.3, 5.0, 8.3, 18.3),
    ('33.74', 'Kota Semarang', 'kota', '2025-03', 2025, 3, 60, 60, 14, 3, 23.3, 5.0, 8.3, 18.3)
) as t(region_code, region_name, region_level, period, year, month, children_measured, children_valid_haz,
       stunted, severely_stunted, stunting_pct, severe_stunting_pct, wasting_pct, underweight_pct);

create or replace table staging.stg_spm__achievement as
select * from (values
    ('33.74', 2025, 1, '2025-Q1', 'kesehatan', 'KES01', 1000, 300),
    ('33.74', 2025, 1, '2025-Q1', 'kesehatan', 'KES02', 500, 100),
    ('33.74', 2025, 2, '2025-Q2', 'kesehatan', 'KES01', 1000, 600),
    ('33.74', 2025, 2, '2025-Q2', 'kesehatan', 'KES02', 500, 250),
    ('33.74', 2025, 1, '2025-Q1', 'pendidikan', 'PDK01', 2000, 1500),
    ('33.74', 2025, 1, '2025-Q1', 'pendidikan', null, 50, 10)  -- unresolved service: not in the mart
) as t(region_code, year, quarter, period, sector, service_code, target_count, served_count);

create or replace table marts.mart_spm_service as
select region_code, year, quarter, period, sector, service_code, 'Layanan ' || service_code as service_name,
       target_count, served_count, 100.0 * served_count / target_count as achievement_pct,
       null::double as achievement_pct_reported, 100.0 as quality_achievement_pct,
       0.8 * (100.0 * served_count / target_count) + 20 as spm_index, 'Belum Tuntas' as category
from staging.stg_spm__achievement where service_code is not null;

create or replace table staging.stg_lkpm__report as
select * from (values
    ('N1', 'PMA', '33.74.01', 2025, 1, '2025-Q1', 250.0, null, 12, 'approved'),
    ('N2', 'PMDN', '33.74.01', 2025, 1, '2025-Q1', null, 1500.0, 30, 'approved'),
    ('N3', 'PMDN', '33.74.01', 2025, 1, '2025-Q1', null, 700.0, 5, 'rejected')
) as t(nib, investor_type, region_code, year, quarter, period, investment_usd_thousand,
       investment_idr_million, workers_local, report_status);

create or replace table marts.mart_investment as
select region_code, year, quarter, period, 'S01' as sector_code, 'Industri' as sector, 'sekunder' as sector_group,
       investor_type, count(*) as projects, sum(investment_usd_thousand) as investment_usd,
       sum(coalesce(investment_idr_million, investment_usd_thousand * 16000 / 1000)) as investment_idr,
       16000.0 as exchange_rate, sum(workers_local) as workers_local, 0 as workers_foreign
from staging.stg_lkpm__report where report_status = 'approved' group by all;

create or replace table marts.mart_poverty_regency as
select * from (values
    ('33.74', 'Kota Semarang', 2024, 'BPS published', 550000.0, 80000.0, 4.2, 0.62, 0.13),
    ('33.74', 'Kota Semarang', 2024, 'computed from microdata', 550000.0, 82000.0, 4.9, 0.70, 0.15)
) as t(region_code, region_name, year, source, poverty_line_rp, poor_population, p0_pct, p1, p2);

create or replace table marts.mart_data_quality as
select * from (values
    ('file', 'b1', 'r1', 'Dinas Kesehatan', 'eppgbm', '33.74', '2025-03', 'eppgbm_3374_2025-03.xlsx',
     'loaded', 61, 61, 0, '')
) as t(record_type, batch_id, run_id, agency, source, scope, period, file_name, status, rows_read,
       rows_loaded, rows_rejected, checks_failed);
"""


def build_fixture_warehouse(path: Path) -> None:
    conn = duckdb.connect(str(path))
    try:
        conn.execute(OPS_DDL)
        conn.execute(FIXTURE_SQL)
    finally:
        conn.close()
