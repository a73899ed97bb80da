"""A million e-PPGBM measurements are scored by set-based SQL and stay right at that scale (how long it takes
is the benchmark's business: ``bench/``, dbt build)."""

from __future__ import annotations

import duckdb
import pytest
from test_dbt_marts import WhoLms, run_dbt

from extract.registry import load_registry
from gudang.settings import REFERENCE_DIR
from gudang.warehouse import OPS_DDL

ROWS = 1_000_000


@pytest.mark.slow
def test_a_million_measurements_are_scored_right(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute(OPS_DDL)
    for spec in load_registry().values():
        con.execute(spec.raw_ddl())
    # ages 0-1899 days, sizes around the WHO medians with hash-based spread, both measuring methods
    con.execute(
        f"""
        insert into raw.eppgbm_measurement (child_key, sex, birth_date, measured_on, height_cm, weight_kg,
            measure_method, region_code, _batch_id, _source, _file_name, _sheet, _source_row, _period,
            _scope, _loaded_at)
        select 'k' || i, case when i % 2 = 0 then 'L' else 'P' end,
            date '2025-08-15' - cast(i % 1900 as integer), date '2025-08-15',
            round(50 + 0.035 * (i % 1900) + (hash(i) % 1000) / 100.0 - 5, 1),
            round(3.3 + 0.009 * (i % 1900) + (hash(i * 7) % 300) / 100.0 - 1.5, 2),
            case when i % 3 = 0 then 'standing' else 'recumbent' end,
            '33.74.01.1001', 'b1', 'eppgbm', 'eppgbm_3374_2025-08.csv', 'csv', i + 2, '2025-08', '33.74',
            timestamp '2025-09-01'
        from range({ROWS}) t(i)
        """
    )
    con.close()

    result = run_dbt(["run", "--select", "+fct_child_measurement"], warehouse, tmp_path)
    assert result.success, result.exception

    who = WhoLms(REFERENCE_DIR / "who")
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select count(*) from marts.fct_child_measurement").fetchone()[0] == ROWS
    sample = con.execute(
        """
        select sex, age_days, measure_method, height_cm, weight_kg, haz, waz, whz
        from marts.fct_child_measurement using sample reservoir(3000 rows) repeatable (7)
        """
    ).fetchall()
    con.close()
    for sex, age_days, method, height, weight, *ours in sample:
        for got, want in zip(ours, who.scores(sex, age_days, method, height, weight), strict=True):
            assert (got is None) == (want is None)
            if want is not None:
                assert got == pytest.approx(want, abs=0.01)
