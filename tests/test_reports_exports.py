"""Exports: Parquet and the planner workbook match the published marts, and text can never act as a formula."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest
from test_reports_fixture import INJECTION_TEXTS, build_published_marts

from gudang.reports import build_reports
from gudang.reports.exports import neutralise
from gudang.reports.marts import ColumnDoc, MartDoc, doc_for, latest_period, mart_docs
from gudang.settings import Settings


@pytest.fixture
def published(tmp_path: Path) -> tuple[Settings, dict[str, pd.DataFrame]]:
    settings = Settings(home=tmp_path / "home")
    frames = build_published_marts(settings.published)
    return settings, frames


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory):
    """One report build shared by the read-only assertions below (building takes a few seconds)."""
    settings = Settings(home=tmp_path_factory.mktemp("reports") / "home")
    frames = build_published_marts(settings.published)
    return build_reports(settings, "run-test", with_docs=False), settings, frames


def conn_columns(settings: Settings, table: str) -> list[str]:
    with duckdb.connect(str(settings.published), read_only=True) as conn:
        return [d[0] for d in conn.execute(f"SELECT * FROM {table} LIMIT 0").description]


def _sheet_rows(path: Path, sheet: str) -> list[tuple]:
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        return list(workbook[sheet].iter_rows(values_only=True))
    finally:
        workbook.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Dinas Kesehatan", "Dinas Kesehatan"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise(text: str, expected: str) -> None:
    assert neutralise(text) == expected


def test_exports_land_in_the_latest_data_period_folder(reports) -> None:
    paths, settings, _ = reports
    assert paths.period == "2026-09"  # the latest month of mart_stunting in the fixture
    assert paths.exports_dir == settings.reports / "exports" / "2026-09"
    assert paths.excel.parent == paths.exports_dir and paths.excel.exists()
    assert (paths.exports_dir / "brief.html").exists()
    latest = json.loads(paths.latest.read_text())
    assert latest["period"] == "2026-09" and latest["run_id"] == "run-test"
    assert (paths.latest.parent / latest["excel"]) == paths.excel
    assert not list(paths.exports_dir.glob("*.part"))


def test_every_mart_round_trips_through_parquet(reports) -> None:
    paths, settings, frames = reports
    assert set(paths.parquet) == set(frames)
    with duckdb.connect(str(settings.published), read_only=True) as conn:
        for table, parquet in paths.parquet.items():
            original = conn.execute(f"SELECT * FROM {table}")
            original_types = [(d[0], str(d[1])) for d in original.description]
            original_rows = original.fetchall()
            exported = conn.execute("SELECT * FROM read_parquet(?)", [str(parquet)])
            assert [(d[0], str(d[1])) for d in exported.description] == original_types, table
            assert exported.fetchall() == original_rows, table
        assert len(original_rows) > 0


def test_workbook_has_one_sheet_per_mart_matching_the_marts(reports) -> None:
    paths, settings, frames = reports
    workbook = openpyxl.load_workbook(paths.excel, read_only=True)
    try:
        assert workbook.sheetnames == ["Keterangan", *sorted(frames)]
    finally:
        workbook.close()
    with duckdb.connect(str(settings.published), read_only=True) as conn:
        for table in frames:
            rows = _sheet_rows(paths.excel, table)
            (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert len(rows) - 1 == count, table

    # A sample of values, cell by cell, in the order DuckDB returns them (the export's order).
    with duckdb.connect(str(settings.published), read_only=True) as conn:
        stunting = conn.execute("SELECT * FROM mart_stunting").fetchall()
        stunting_columns = [d[0] for d in conn.description]
        investment = conn.execute("SELECT * FROM mart_investment").fetchall()
        investment_columns = [d[0] for d in conn.description]
    sheet = _sheet_rows(paths.excel, "mart_stunting")
    for index in (0, 100, len(stunting) - 1):
        for column in ("region_code", "period", "children_measured", "stunting_pct"):
            expected = stunting[index][stunting_columns.index(column)]
            got = sheet[index + 1][stunting_columns.index(column)]
            assert got == pytest.approx(expected) if isinstance(expected, float) else got == expected
    sheet = _sheet_rows(paths.excel, "mart_investment")
    growth = investment_columns.index("growth_yoy_pct")
    assert sheet[1][growth] == -2.5  # a negative number stays a number, not the text "'-2.5"
    usd = investment_columns.index("investment_usd")
    assert all(row[usd] is None for row, src in zip(sheet[1:], investment, strict=True) if src[usd] is None)


def test_headers_are_indonesian_labels_with_frozen_row_and_formats(published, tmp_path: Path) -> None:
    settings, _ = published
    project = tmp_path / "dbt"
    marts = project / "models" / "marts"
    marts.mkdir(parents=True)
    (marts / "stunting.yml").write_text(
        "version: 2\nmodels:\n  - name: mart_stunting\n    description: Prevalensi stunting.\n"
        "    columns:\n"
        "      - name: region_code\n        meta: {label_id: Kode wilayah}\n"
        "      - name: stunting_pct\n        config:\n          meta: {label_id: Prevalensi stunting (%)}\n"
    )
    paths = build_reports(settings, "run-labels", with_docs=False, project_dir=project)

    workbook = openpyxl.load_workbook(paths.excel)  # not read-only: freeze panes and formats are visible
    sheet = workbook["mart_stunting"]
    header = [cell.value for cell in sheet[1]]
    assert header[0] == "Kode wilayah"
    assert "Prevalensi stunting (%)" in header
    assert "children_measured" in header  # no label in the YAML: the column name
    assert sheet.freeze_panes == "A2"
    column = {name: i + 1 for i, name in enumerate(header)}
    assert sheet.cell(2, column["Prevalensi stunting (%)"]).number_format == "0.00"  # label carries the %
    assert sheet.cell(2, column["coverage_pct"]).number_format == '0.00"%"'
    assert sheet.cell(2, column["children_measured"]).number_format == "#,##0"
    assert sheet.cell(2, column["year"]).number_format == "0"
    investment = workbook["mart_investment"]
    inv_header = [cell.value for cell in investment[1]]
    # No label here, so no unit in the header: the cell format names the currency.
    assert investment.cell(2, inv_header.index("investment_idr") + 1).number_format == '"Rp"#,##0'
    quality = workbook["mart_data_quality"]
    dq_header = [cell.value for cell in quality[1]]
    assert quality.cell(2, dq_header.index("due_on") + 1).is_date
    assert sheet.column_dimensions["A"].width >= len("33.74.01.1001")
    assert sheet.cell(2, column["gap_to_target_pp"]).number_format == "0.00"
    assert "Prevalensi stunting." in [c.value for row in workbook["Keterangan"].iter_rows() for c in row]


def test_money_with_its_unit_in_the_label_has_no_currency_sign(reports) -> None:
    paths, _, _ = reports
    doc = doc_for("mart_investment", mart_docs())
    if doc.column_label("investment_idr") == "investment_idr":
        pytest.skip("dbt YAML without labels for mart_investment")
    sheet = openpyxl.load_workbook(paths.excel)["mart_investment"]
    header = [cell.value for cell in sheet[1]]
    idr = header.index(doc.column_label("investment_idr")) + 1
    assert "juta" in header[idr - 1].lower()
    assert sheet.cell(2, idr).number_format == "#,##0.00"  # "Rp" in the cell would misread Rp juta


def test_formula_injection_is_neutralised_in_text_cells(reports) -> None:
    paths, _, frames = reports
    doc = doc_for("mart_data_quality", mart_docs())
    workbook = openpyxl.load_workbook(paths.excel)
    sheet = workbook["mart_data_quality"]
    header = [cell.value for cell in sheet[1]]
    file_name_column = header.index(doc.column_label("file_name")) + 1
    file_names = [sheet.cell(r, file_name_column) for r in range(2, 2 + len(INJECTION_TEXTS))]
    # OOXML stores a carriage return as "_x000D_" and openpyxl hands it back undecoded.
    assert [cell.value.replace("_x000D_", "\r") for cell in file_names] == ["'" + t for t in INJECTION_TEXTS]
    assert all(cell.data_type == "s" for cell in file_names)  # text, never a formula ("f")
    checks = sheet.cell(2, header.index(doc.column_label("checks_failed")) + 1).value
    assert checks.startswith("'=HYPERLINK") and checks.endswith("expect_column_values_to_be_between")
    # No cell anywhere in the workbook is a formula.
    for worksheet in workbook.worksheets:
        for row in worksheet.iter_rows():
            assert all(cell.data_type != "f" for cell in row), worksheet.title
    # Parquet keeps the data as it is (it is data, not a spreadsheet).
    parquet = pd.read_parquet(paths.parquet["mart_data_quality"])
    assert list(parquet["file_name"].iloc[: len(INJECTION_TEXTS)]) == INJECTION_TEXTS
    assert len(parquet) == len(frames["mart_data_quality"])


def test_empty_marts_still_export_headers(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    frames = build_published_marts(settings.published, empty=True)
    paths = build_reports(settings, "run-empty", with_docs=False)
    assert paths.period == dt.date.today().isoformat()  # no data period: the run date
    docs = mart_docs()
    for table in frames:
        rows = _sheet_rows(paths.excel, table)
        first_column = conn_columns(settings, table)[0]
        assert len(rows) == 1
        assert rows[0][0] == doc_for(table, docs).column_label(first_column)
        assert pd.read_parquet(paths.parquet[table]).empty


def test_latest_period_falls_back_to_quarters(tmp_path: Path) -> None:
    path = tmp_path / "m.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE mart_spm_sector AS SELECT 2026 AS year, 2 AS quarter, '2026-Q2' AS period")
        conn.execute("CREATE TABLE mart_data_quality AS SELECT '2027-01' AS period")  # expected, not data
    with duckdb.connect(str(path), read_only=True) as conn:
        assert latest_period(conn) == "2026-Q2"


def test_mart_doc_label_fallback() -> None:
    doc = MartDoc("m", "M", columns={"a": ColumnDoc("a", "Kolom A")})
    assert doc.column_label("a") == "Kolom A"
    assert doc.column_label("b") == "b"


def test_large_tables_are_capped_in_the_workbook_and_whole_in_parquet(
    published, tmp_path, monkeypatch
) -> None:
    from gudang.reports import exports

    settings, frames = published
    monkeypatch.setattr(exports, "SHEET_MAX_DATA_ROWS", 5)
    monkeypatch.setattr(exports, "ROW_LEVEL_SAMPLE_ROWS", 2)
    result = exports.export_marts(settings.published, tmp_path / "out", period="2026-09", run_id="cap")
    overview = {row[0]: row for row in _sheet_rows(result.excel, "Keterangan")[6:]}
    docs = mart_docs()
    by_period = 0
    for table, frame in frames.items():
        cap = 2 if table.startswith(("fct_", "dim_")) else 5
        sheet = _sheet_rows(result.excel, table)
        shown = len(sheet) - 1
        assert overview[table][2] == len(frame), "the overview counts every row"
        assert pd.read_parquet(result.parquet[table]).shape[0] == len(frame), table
        if len(frame) <= cap:
            assert shown == len(frame) and table not in result.truncated, table
            continue
        assert result.truncated[table] == len(frame) - shown, table
        period = doc_for(table, docs).workbook_period_column
        if period is None:
            assert shown == cap, table
            assert f"Hanya {cap:,} baris pertama (batas" in overview[table][3], table
            continue
        # a mart with periods shows its latest ones whole (or the latest one's first rows when it alone
        # is over the cap), never a slice across periods
        by_period += 1
        newest_first = frame[period].dropna().value_counts().sort_index(ascending=False)
        in_sheet = {row[conn_columns(settings, table).index(period)] for row in sheet[1:]}
        latest = newest_first.index[: len(in_sheet)]
        assert in_sheet == set(latest), table
        if newest_first.iloc[0] > cap:
            assert shown == cap and f"Hanya {cap:,} baris pertama periode" in overview[table][3], table
        else:
            assert shown == newest_first.iloc[: len(in_sheet)].sum() <= cap, table
            assert len(in_sheet) == len(newest_first) or shown + newest_first.iloc[len(in_sheet)] > cap, table
            assert overview[table][3].startswith("Periode terakhir saja ("), table
    assert by_period and any(len(frame) > 5 for frame in frames.values())


def test_cells_keep_their_kind_in_the_workbook(tmp_path: Path) -> None:
    """Numbers stay numbers (ints, floats, decimals), NaN and infinity become empty cells (Excel has no
    such numbers), dates stay dates, text is neutralised, and an odd value in a column falls back to text."""
    from gudang.reports.exports import export_marts

    published = tmp_path / "marts.duckdb"
    with duckdb.connect(str(published)) as conn:
        conn.execute(
            """
            CREATE TABLE mart_cell_kinds AS SELECT * FROM (VALUES
                (1, 2.5::DOUBLE, 3.25::DECIMAL(9, 2), 'biasa', DATE '2026-09-01', true),
                (NULL, 'nan'::DOUBLE, NULL, '=1+1', NULL, NULL),
                (4, 'inf'::DOUBLE, 7.50::DECIMAL(9, 2), NULL, DATE '2026-08-01', false)
            ) AS t(children_count, weight_kg, target_pct, notes, period_month, flagged)
            """
        )
    result = export_marts(published, tmp_path / "out", period="2026-09", run_id="kinds")
    header, *rows = _sheet_rows(result.excel, "mart_cell_kinds")
    assert header[0] is not None
    assert rows == [
        (1, 2.5, 3.25, "biasa", dt.datetime(2026, 9, 1), True),
        (None, None, None, "'=1+1", None, None),
        (4, None, 7.5, None, dt.datetime(2026, 8, 1), False),
    ]


EDGE_TEXTS = [
    "biasa",
    "",
    " spasi di awal",
    "spasi di akhir ",
    "\u3000ideographic space",
    "nbsp\xa0",
    "tab\tdi tengah",
    "\tcmd",
    '=HYPERLINK("http://x","y")',
    "-2",
    "a & b < c > d \"kutip\" 'apostrof'",
    "kontrol \x00\x07\x0b\x1f di tengah",
    "\x1fdi awal",
    "harfiah _x0041_ dan _X00zz_",
    "non-karakter \ufffe \uffff",
    "emoji 🙂 dan aksara ꦗꦮ",
    "baris\nbaru\r\n",
    None,
]


def test_rendered_rows_are_what_the_cell_writer_writes(tmp_path: Path) -> None:
    """DuckDB renders the workbook's data rows (sheet_xml); every worksheet must be byte for byte what
    xlsxwriter's own cell-by-cell writing produces, edge values included, and Excel still reads them."""
    import zipfile

    from gudang.reports.exports import _write_skeleton, _write_workbook

    published = tmp_path / "marts.duckdb"
    with duckdb.connect(str(published)) as conn:
        conn.execute("CREATE TABLE texts (notes VARCHAR, region_name VARCHAR)")
        conn.executemany("INSERT INTO texts VALUES (?, ?)", [(t, t) for t in EDGE_TEXTS])
        conn.execute(
            """
            CREATE TABLE mart_numbers AS SELECT * FROM (VALUES
                (1, 2.5::DOUBLE, 3.25::DECIMAL(9, 2), 10::BIGINT, 0.1::DOUBLE + 0.2, true),
                (NULL, 'nan'::DOUBLE, NULL, NULL, -0.0::DOUBLE, NULL),
                (-4, 'inf'::DOUBLE, -7.50::DECIMAL(9, 2), 123456789012345678, 1e20, false),
                (0, '-inf'::DOUBLE, 0.01::DECIMAL(9, 2), -1, 1e-7, true),
                (2147483647, 1234567.891, 99999.99::DECIMAL(9, 2), 0, 45293.12783564815, NULL)
            ) AS t(children_count, weight_kg, target_pct, budget_idr, prevalence, flagged)
            """
        )
        conn.execute(
            """
            CREATE TABLE mart_dates AS SELECT * FROM (VALUES
                (DATE '2026-09-01', TIMESTAMP '2026-09-01 07:30:15.123456'),
                (DATE '1900-02-28', TIMESTAMP '1900-01-01 12:00:00'),
                (DATE '1900-03-01', TIMESTAMP '1900-03-01 00:00:00.000001'),
                (NULL, NULL),
                (DATE '1969-12-31', TIMESTAMP '1969-12-31 23:59:59.999999')
            ) AS t(period_month, loaded_at)
            """
        )
        conn.execute("CREATE TABLE mart_empty_rows (notes VARCHAR, flagged BOOLEAN)")
        conn.execute(
            "INSERT INTO mart_empty_rows VALUES ('a', true), (NULL, NULL), ('b', NULL), (NULL, NULL)"
        )
        conn.execute("CREATE TABLE mart_lists AS SELECT [1, 2] AS codes, 'x' AS notes")  # not rendered

    with duckdb.connect(str(published), read_only=True) as conn:
        marts = ["mart_dates", "mart_empty_rows", "mart_lists", "mart_numbers", "texts"]
        built = {}
        for render in (True, False):
            path = tmp_path / f"render_{render}.xlsx"
            _write_workbook(conn, path, marts, {}, "2026-09", "edge", render_rows=render)
            with zipfile.ZipFile(path) as package:
                built[render] = {
                    name: package.read(name)
                    for name in package.namelist()
                    if name.startswith("xl/worksheets/")
                }
        # the sheets DuckDB renders: every one but the one with a LIST column
        _, rendered = _write_skeleton(conn, tmp_path / "skeleton.xlsx", marts, {}, "2026-09", "edge", True)
    assert {rows.sheet_name for rows in rendered} == {
        "mart_dates",
        "mart_empty_rows",
        "mart_numbers",
        "texts",
    }
    assert built[True].keys() == built[False].keys() and len(built[True]) == len(marts) + 1
    for part, xml in built[True].items():
        assert xml == built[False][part], part

    header, *rows = _sheet_rows(tmp_path / "render_True.xlsx", "texts")
    read_back = {text: row[0] for text, row in zip(EDGE_TEXTS, rows, strict=False)}
    for text in (
        "biasa",
        " spasi di awal",
        "spasi di akhir ",
        "a & b < c > d \"kutip\" 'apostrof'",
        "emoji 🙂 dan aksara ꦗꦮ",
    ):
        assert read_back[text] == text
    assert read_back["-2"] == "'-2" and read_back["\tcmd"] == "'\tcmd"


def test_overlong_text_keeps_the_cell_writer(tmp_path: Path) -> None:
    from gudang.reports import sheet_xml

    published = tmp_path / "marts.duckdb"
    with duckdb.connect(str(published)) as conn:
        conn.execute("CREATE TABLE long_notes AS SELECT repeat('a', 32767) AS notes UNION ALL SELECT 'b'")
        columns = [sheet_xml.SheetColumn("notes", "VARCHAR", "text", None)]
        select = "SELECT * FROM long_notes"
        assert sheet_xml.has_overlong_text(conn, columns, select, [])
        assert not sheet_xml.has_overlong_text(conn, columns, f"{select} WHERE notes = 'b'", [])


def test_a_sheet_that_fails_to_render_fails_the_workbook(tmp_path: Path, monkeypatch) -> None:
    """Sheets are rendered ahead in threads: a failure in one reaches the caller, not a half-written file."""
    from gudang.reports import sheet_xml
    from gudang.reports.exports import _write_workbook

    published = tmp_path / "marts.duckdb"
    with duckdb.connect(str(published)) as conn:
        for number in range(5):
            conn.execute(f"CREATE TABLE mart_{number} AS SELECT range AS n FROM range(10)")
    splice = sheet_xml._splice

    def failing(xml, cursor, rows):
        if rows.sheet_name == "mart_1":
            raise RuntimeError("lembar mart_1: rusak")
        return splice(xml, cursor, rows)

    monkeypatch.setattr(sheet_xml, "_splice", failing)
    with duckdb.connect(str(published), read_only=True) as conn:
        marts = [f"mart_{number}" for number in range(5)]
        with pytest.raises(RuntimeError, match="mart_1: rusak"):
            _write_workbook(conn, tmp_path / "book.xlsx", marts, {}, "2026-09", "run")
        assert conn.execute("SELECT count(*) FROM mart_4").fetchone() == (10,)  # the connection is fine
        monkeypatch.setattr(sheet_xml, "_splice", splice)
        _write_workbook(conn, tmp_path / "book.xlsx", marts, {}, "2026-09", "run")
    assert len(_sheet_rows(tmp_path / "book.xlsx", "mart_4")) == 11
