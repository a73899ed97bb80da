"""Blue/green publish into marts.duckdb on real DuckDB files, with a real analyst process reading."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import pytest
from _fixture_marts import build_fixture_warehouse
from badinput.runs import content_hashes

from gudang.publish import mart_content_hashes, publish
from gudang.settings import Settings

MARTS = {
    "dim_region",
    "fct_child_measurement",
    "mart_data_quality",
    "mart_investment",
    "mart_poverty_regency",
    "mart_spm_service",
    "mart_stunting",
}


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("GUDANG_HOME", str(tmp_path))
    settings = Settings(home=tmp_path)
    build_fixture_warehouse(settings.warehouse)
    return settings


def _warehouse(settings, sql):
    conn = duckdb.connect(str(settings.warehouse))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _published(settings, sql):
    conn = duckdb.connect(str(settings.published), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_passed_gate_publishes_every_mart_with_publication_record(settings):
    result = publish(settings, "run-1", gate_passed=True)
    assert result.status == "published" and result.path == settings.published
    assert set(result.content_hashes) == MARTS
    assert mart_content_hashes(settings.published) == result.content_hashes
    assert result.row_counts["fct_child_measurement"] == 61
    publication = _published(settings, "select run_id, table_name, row_count, content_hash from _publication")
    assert {(run, table) for run, table, *_ in publication} == {("run-1", t) for t in MARTS}
    assert {t: h for _, t, _, h in publication} == result.content_hashes
    assert _published(settings, "select run_id, status from _last_run") == [("run-1", "published")]
    assert _warehouse(settings, "select status from ops.pipeline_runs where run_id = 'run-1'") == [
        ("published",)
    ]
    # nothing left behind next to the published file
    assert sorted(p.name for p in settings.home.iterdir() if "marts" in p.name) == ["marts.duckdb"]


def _assert_published_equals_built(settings, result):
    """Every built mart is in the published file with the same rows, checked by a hash publish did not make."""
    assert content_hashes(settings.published) == {
        f"main.{name}": digest for name, digest in content_hashes(settings.warehouse, "marts").items()
    } | {f"main.{t}": content_hashes(settings.published)[f"main.{t}"] for t in ("_publication", "_last_run")}
    assert mart_content_hashes(settings.published) == result.content_hashes


def _with_batches(settings):
    """The fixture's fact with lineage, as the dbt fact has it: two load batches."""
    _warehouse(
        settings,
        "alter table marts.fct_child_measurement add column _batch_id varchar;"
        "update marts.fct_child_measurement set _batch_id = if(region_code like '%1001', 'b-miroto', 'b-brumbungan')",
    )


def test_a_second_publish_copies_only_the_marts_that_changed(settings):
    _with_batches(settings)
    first = publish(settings, "run-1", gate_passed=True)
    assert set(first.updates.values()) == {"copied"}
    _warehouse(
        settings,
        "update marts.mart_stunting set stunting_pct = stunting_pct + 1 where region_level = 'kelurahan';"
        # a new file's batch, and a batch superseded by a corrected file
        "insert into marts.fct_child_measurement select md5('new' || i), md5('child-new' || i),"
        " '33.74.01.1002', '2025-04', date '2025-04-02', 0.5, 'b-april' from range(5) as r(i);"
        "delete from marts.fct_child_measurement where _batch_id = 'b-brumbungan';"
        "create table marts.mart_new as select 1 as k;"
        "drop table marts.mart_investment;",
    )
    second = publish(settings, "run-2", gate_passed=True)
    assert second.updates == {
        "dim_region": "kept",
        "fct_child_measurement": "appended",
        "mart_data_quality": "kept",
        "mart_new": "copied",
        "mart_poverty_regency": "kept",
        "mart_spm_service": "kept",
        "mart_stunting": "copied",
    }
    assert second.row_counts["fct_child_measurement"] == 40 + 5
    _assert_published_equals_built(settings, second)
    assert _published(settings, "select distinct run_id from _publication") == [("run-2",)]


def test_a_batch_whose_rows_changed_is_published_by_copying_the_whole_table(settings):
    _with_batches(settings)
    publish(settings, "run-1", gate_passed=True)
    # e.g. the fact recomputed with a new growth reference: same batches, other values
    _warehouse(
        settings, "update marts.fct_child_measurement set haz = haz + 0.1 where _batch_id = 'b-miroto'"
    )
    result = publish(settings, "run-2", gate_passed=True)
    assert result.updates["fct_child_measurement"] == "copied"
    _assert_published_equals_built(settings, result)


def _free_and_total_blocks(path):
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("select free_blocks, total_blocks from pragma_database_size()").fetchone()


def test_a_published_file_that_is_mostly_free_space_is_rebuilt(settings):
    publish(settings, "run-1", gate_passed=True)
    with duckdb.connect(str(settings.published)) as published:
        published.execute(
            "create table scratch as select range as n, md5(range::varchar) as h from range(500000)"
        )
        published.execute("checkpoint")
        published.execute(
            "create table keeps_the_tail as select 1 as k"
        )  # so the freed blocks are not cut off
        published.execute("checkpoint")
        published.execute("drop table scratch")
        published.execute("checkpoint")
    free, total = _free_and_total_blocks(settings.published)
    assert free * 2 > total
    result = publish(settings, "run-2", gate_passed=True)
    assert set(result.updates.values()) == {"copied"}
    assert _free_and_total_blocks(settings.published)[0] == 0
    _assert_published_equals_built(settings, result)


def test_content_hash_is_order_independent_and_sees_changes(tmp_path):
    def make(name, values):
        path = tmp_path / name
        conn = duckdb.connect(str(path))
        conn.execute("create table mart_x (k integer, v varchar)")
        conn.executemany("insert into mart_x values (?, ?)", values)
        conn.close()
        return mart_content_hashes(path)

    rows = [(1, "a"), (2, "b"), (2, "b"), (3, None)]
    assert make("a.duckdb", rows) == make("b.duckdb", list(reversed(rows)))
    assert make("c.duckdb", rows) != make("d.duckdb", rows[:-1] + [(3, "c")])
    # duplicate rows do not cancel out
    assert make("e.duckdb", rows) != make("f.duckdb", [(1, "a"), (3, None)])


def test_blocked_publish_keeps_every_mart_but_refreshes_data_quality(settings):
    publish(settings, "run-1", gate_passed=True)
    before = mart_content_hashes(settings.published)
    # the next build changed marts (bad data) and recorded the rejected file
    _warehouse(
        settings,
        "update marts.mart_stunting set stunting_pct = 99;"
        "insert into marts.mart_data_quality values ('file', 'b2', 'run-2', 'Dinas Kesehatan', 'eppgbm', '33.74',"
        " '2025-04', 'eppgbm_3374_2025-04.xlsx', 'quarantined', 10, 0, 10, 'expect_column_to_exist')",
    )
    result = publish(settings, "run-2", gate_passed=False, reason="Rekonsiliasi mart_stunting gagal")
    assert result.status == "blocked"
    after = mart_content_hashes(settings.published)
    assert set(after) == set(before)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"mart_data_quality"}
    assert _published(settings, "select file_name, status from mart_data_quality where run_id = 'run-2'") == [
        ("eppgbm_3374_2025-04.xlsx", "quarantined")
    ]
    assert _published(settings, "select distinct stunting_pct < 99 from mart_stunting") == [(True,)]
    # the publication record still describes the marts analysts see
    assert _published(settings, "select distinct run_id from _publication") == [("run-1",)]
    ((status, message),) = _published(settings, "select status, message from _last_run")
    assert status == "blocked" and "Rekonsiliasi mart_stunting gagal" in message
    runs = dict(_warehouse(settings, "select run_id, status from ops.pipeline_runs"))
    assert runs == {"run-1": "published", "run-2": "blocked"}
    assert (
        "Rekonsiliasi mart_stunting gagal"
        in _warehouse(settings, "select message from ops.pipeline_runs where run_id = 'run-2'")[0][0]
    )


def test_blocked_first_run_publishes_only_the_quality_mart(settings):
    publish(settings, "run-1", gate_passed=False, reason="uji dbt gagal")
    assert set(mart_content_hashes(settings.published)) == {"mart_data_quality"}


READER = textwrap.dedent(
    """
    import sys, duckdb
    conn = duckdb.connect(sys.argv[1], read_only=True)
    count = lambda: conn.execute("select count(*) from fct_child_measurement").fetchone()[0]
    print(count(), flush=True)
    sys.stdin.readline()  # wait while the pipeline publishes
    print(count(), flush=True)
    print(conn.execute("select sum(children_measured) from mart_stunting").fetchone()[0], flush=True)
    """
)


def test_open_analyst_connection_keeps_working_and_never_blocks_publish(settings):
    publish(settings, "run-1", gate_passed=True)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(settings.published)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "61"
        _warehouse(settings, "delete from marts.fct_child_measurement where region_code = '33.74.01.1002'")
        result = publish(settings, "run-2", gate_passed=True)  # returns while the reader holds the old file
        assert result.row_counts["fct_child_measurement"] == 40
        reader.stdin.write("\n")
        reader.stdin.flush()
        # the analyst's session still reads the old, complete snapshot, without any error
        assert reader.stdout.readline().strip() == "61"
        assert reader.stdout.readline().strip() == "180"
        assert reader.wait(timeout=30) == 0
    finally:
        reader.kill()
    # a new analyst connection sees the new marts
    assert _published(settings, "select count(*) from fct_child_measurement") == [(40,)]
