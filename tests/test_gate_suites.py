"""The versioned GX suites: structure, parameters and the per-file helpers they rely on."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from expectations import suites
from extract.registry import load_registry
from gudang.settings import PROJECT_ROOT


def test_every_registry_suite_exists_and_loads_in_gx():
    named = {spec.expectation_suite for spec in load_registry().values()}
    assert named == set(suites.suite_names())
    for name in named:
        suite = suites.load_suite(name)
        assert suite.name == name
        assert len(suite.expectations) >= 10


@pytest.mark.parametrize("name", suites.suite_names())
def test_every_expectation_has_severity_and_indonesian_message(name):
    message_ids = []
    for expectation in suites.suite_json(name)["expectations"]:
        meta = expectation["meta"]
        assert meta["severity"] in {"error", "warn"}
        assert meta["message_id"].startswith(f"{name}.")
        assert len(meta["message_id_text"]) > 20
        message_ids.append(meta["message_id"])
    assert len(message_ids) == len(set(message_ids)), "message ids must be unique within a suite"


def test_suites_check_the_columns_the_registry_declares():
    for spec in load_registry().values():
        data = suites.suite_json(spec.expectation_suite)
        known = set(spec.raw_columns()) | set(data["meta"].get("derived_columns", {}))
        existence_checked = set()
        for expectation in data["expectations"]:
            kwargs = expectation["kwargs"]
            columns = {kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B")}
            columns |= set(kwargs.get("column_list", []))
            assert columns - {None} <= known, f"{spec.source}: {expectation['type']} on unknown columns"
            if expectation["type"] == "expect_column_to_exist":
                existence_checked.add(kwargs["column"])
        required = {c.name for c in spec.columns if c.required and c.name not in spec.constants}
        assert required <= existence_checked, f"{spec.source}: required columns without existence check"
        if spec.period.date_column:
            period_checks = [
                e
                for e in data["expectations"]
                if e["kwargs"].get("min_value") == {"$PARAMETER": "period_start"}
            ]
            assert [e["kwargs"]["column"] for e in period_checks] == [spec.period.date_column]


@pytest.mark.parametrize(
    ("period", "first", "last"),
    [
        ("2025-03", dt.date(2025, 3, 1), dt.date(2025, 3, 31)),
        ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
        ("2025-Q1", dt.date(2025, 1, 1), dt.date(2025, 3, 31)),
        ("2025-Q4", dt.date(2025, 10, 1), dt.date(2025, 12, 31)),
        ("2025-S2", dt.date(2025, 7, 1), dt.date(2025, 12, 31)),
        ("2025", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    ],
)
def test_period_bounds(period, first, last):
    assert suites.period_bounds(period) == (first, last)


@pytest.mark.parametrize("bad", ["2025-13", "2025-Q5", "25-03", "maret"])
def test_period_bounds_rejects_unknown_strings(bad):
    with pytest.raises(ValueError):
        suites.period_bounds(bad)


def test_region_codes_are_restricted_to_the_files_scope():
    semarang_villages = suites.region_codes_in_scope("village", "33.74")
    assert len(semarang_villages) == 177
    assert all(code.startswith("33.74.") for code in semarang_villages)
    assert suites.region_codes_in_scope("regency", "33.74") == ("33.74",)
    assert len(suites.region_codes_in_scope("regency", "33")) == 35
    assert suites.region_codes_in_scope("province", "33.74") == ("33",)
    # an unknown scope still checks against the whole list
    assert len(suites.region_codes_in_scope("district", "99.99")) == len(suites.region_codes("district"))


def test_volume_band():
    assert suites.volume_band(None, 0.5) is None
    assert suites.volume_band(0, 0.5) is None
    assert suites.volume_band(1000, 0.5) == (500, 1500)
    assert suites.volume_band(7, 0.25) == (5, 9)


def test_importing_the_gate_does_not_flood_the_log_with_gx_registry_chatter():
    """GX logs ~200 INFO lines about its own registries while it is imported; a run's log shows none of
    them, and GX's warnings still come through."""
    code = (
        "import logging; logging.basicConfig(level=logging.INFO); import expectations.gate, great_expectations; "
        "logging.getLogger('great_expectations.expectations.registry').warning('still shown')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True
    )
    assert "still shown" in result.stderr
    assert "Skipping registering" not in result.stderr
    assert "Multiple declarations" not in result.stderr


DEFERRED_IMPORT_PROBE = """
import inspect, json, sys
import expectations, great_expectations
from expectations.gate import dataframe_batch_definition
from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl

def deferred(name):
    return type(sys.modules.get(name)).__name__ == "DeferredModule"

seen = {"after_gx_import": [deferred("scipy.stats"), deferred("altair")]}
inspect.stack()  # asks __file__ of every module in sys.modules, as dbt does at start-up
dataframe_batch_definition()
seen["after_inspect_and_context"] = [deferred("scipy.stats"), deferred("altair")]
seen["kl_entropy"] = round(float(kl.stats.entropy([0.5, 0.5], [0.9, 0.1])), 4)
from scipy.stats import norm
import scipy
seen["scipy_stats_real"] = [not deferred("scipy.stats"), scipy.stats is sys.modules["scipy.stats"], norm.cdf(0)]
import scipy.stats._stats_py
seen["altair_chart"] = kl.alt.Chart.__name__
seen["altair_real"] = not deferred("altair")
print(json.dumps(seen))
"""


def test_gx_imports_without_scipy_stats_and_altair_until_something_uses_them():
    """GX imports scipy.stats and altair at start-up for its KL-divergence expectation only (~1 s of every
    run); gudang defers both to their first use, and code that does use them gets the real modules."""
    result = subprocess.run(
        [sys.executable, "-c", DEFERRED_IMPORT_PROBE],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=True,
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["after_gx_import"] == [True, True]
    assert seen["after_inspect_and_context"] == [True, True]
    assert seen["kl_entropy"] == 0.5108
    assert seen["scipy_stats_real"] == [True, True, 0.5]
    assert seen["altair_chart"] == "Chart"
    assert seen["altair_real"] is True
