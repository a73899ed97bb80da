"""The planning brief: one static, offline HTML page in Indonesian with a chart per topic.

Planners read briefs, not tables. The page embeds plotly.js once in its ``<head>`` and every chart as a
JSON spec, so it opens from disk or as an e-mail attachment with no server and no internet. Each topic is
one ``<section id=...>``; a mart without rows gives a section that says so instead of an empty chart.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import jinja2
import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from gudang.reports.marts import (
    MartDoc,
    dbt_vars,
    latest_period,
    list_marts,
    mart_docs,
    read_mart,
    safe_period,
)
from gudang.settings import DBT_PROJECT_DIR, Settings

log = logging.getLogger(__name__)

NO_DATA = "Belum ada data."
#: Stunting above this share of measured children is what the cookbook and the brief single out.
STUNTING_ALERT_PCT = 20.0
#: Above this many kelurahan (province scale) the ranked chart shows only the highest ones.
STUNTING_CHART_MAX_BARS = 200
#: SPM category bands on the index (lower bounds), as documented in the SPM mart.
SPM_BANDS = [
    (100.0, "Tuntas Paripurna"),
    (90.0, "Tuntas Utama"),
    (80.0, "Tuntas Madya"),
    (70.0, "Tuntas Pratama"),
    (60.0, "Tuntas Muda"),
    (0.0, "Belum Tuntas"),
]
CATEGORY_COLOURS = {
    "Tuntas Paripurna": "#1a7f37",
    "Tuntas Utama": "#4caf50",
    "Tuntas Madya": "#9ccc65",
    "Tuntas Pratama": "#fbc02d",
    "Tuntas Muda": "#fb8c00",
    "Belum Tuntas": "#d32f2f",
}
STATUS_LABELS = {
    "on_time": "Tepat waktu",
    "late": "Terlambat",
    "missing": "Belum dikirim",
    "not_due": "Belum jatuh tempo",
}
STATUS_COLOURS = {
    "Tepat waktu": "#4caf50",
    "Terlambat": "#fb8c00",
    "Belum dikirim": "#d32f2f",
    "Belum jatuh tempo": "#90a4ae",
    "Tanpa jadwal": "#cfd8dc",
}
PMA_PMDN_COLOURS = {"PMA": "#1565c0", "PMDN": "#ef6c00"}
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "locale": "id"}


@dataclass
class Section:
    id: str
    title: str
    lead: str = ""  # the key number, one sentence
    figures: list[Markup] = field(default_factory=list)
    table: Markup | None = None
    notes: list[str] = field(default_factory=list)
    empty: bool = False


@dataclass
class _Context:
    marts: dict[str, pd.DataFrame]
    region_names: dict[str, str]
    docs: dict[str, MartDoc]
    project_dir: Path

    def mart(self, name: str) -> pd.DataFrame:
        return self.marts.get(name, pd.DataFrame())

    def name_of(self, code: str) -> str:
        return self.region_names.get(code, code)


def _fmt(value: float, decimals: int = 1) -> str:
    """Indonesian number format: 1.234,5."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def _figure_html(fig: go.Figure, div_id: str) -> Markup:
    fig.update_layout(
        template="plotly_white",
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        font={"family": "system-ui, sans-serif", "size": 12},
        separators=",.",  # Indonesian decimal comma, dot thousands
    )
    html = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=_PLOTLY_CONFIG)
    return Markup(html)  # plotly JSON-encodes the data (and escapes "</"), so the snippet is safe to embed


def _table_html(df: pd.DataFrame) -> Markup:
    # pandas escapes cell text by default; the markup is ours.
    return Markup(df.to_html(index=False, escape=True, border=0, classes="tabel", na_rep="-"))


# --- sections ---------------------------------------------------------------------------------------


def _stunting(ctx: _Context) -> Section:
    section = Section("stunting", "Stunting balita per kelurahan")
    df = ctx.mart("mart_stunting")
    if df.empty:
        section.empty = True
        return section
    df = df.assign(period=df["period"].astype(str))
    latest = df["period"].max()
    kelurahan = df[(df["region_level"] == "kelurahan") & (df["period"] == latest)].dropna(
        subset=["stunting_pct"]
    )
    kelurahan = kelurahan.sort_values("stunting_pct")
    city = df[df["region_level"] == "kota"].sort_values("period")
    target = city["target_pct"].dropna().iloc[-1] if city["target_pct"].notna().any() else None

    city_latest = city[city["period"] == latest]
    if not city_latest.empty and pd.notna(city_latest["stunting_pct"].iloc[0]):
        prevalence = float(city_latest["stunting_pct"].iloc[0])
        above = int((kelurahan["stunting_pct"] > STUNTING_ALERT_PCT).sum())
        section.lead = (
            f"Prevalensi stunting {ctx.name_of(city_latest['region_code'].iloc[0])} bulan {latest}: "
            f"{_fmt(prevalence)}%"
            + (f" (target {_fmt(float(target))}%)" if target is not None else "")
            + f". {above} dari {len(kelurahan)} kelurahan di atas {_fmt(STUNTING_ALERT_PCT, 0)}%."
        )
    if len(kelurahan) > STUNTING_CHART_MAX_BARS:
        # Province scale (thousands of desa/kelurahan): a readable chart shows the highest ones.
        section.notes.append(
            f"Grafik menampilkan {STUNTING_CHART_MAX_BARS} dari {len(kelurahan)} kelurahan dengan prevalensi "
            "tertinggi; semua ada di ekspor Excel/Parquet."
        )
        kelurahan = kelurahan.tail(STUNTING_CHART_MAX_BARS)
    if not kelurahan.empty:
        names = kelurahan["region_code"].map(ctx.name_of)
        colours = [
            "#d32f2f" if target is not None and v > target else "#4caf50" for v in kelurahan["stunting_pct"]
        ]
        fig = go.Figure(
            go.Bar(
                x=kelurahan["stunting_pct"],
                y=names,
                orientation="h",
                marker_color=colours,
                customdata=kelurahan[["region_code", "children_valid_haz"]],
                hovertemplate="%{y} (%{customdata[0]})<br>Prevalensi %{x:.1f}% dari %{customdata[1]} balita"
                "<extra></extra>",
            )
        )
        if target is not None:
            fig.add_vline(x=float(target), line_dash="dash", line_color="#333", annotation_text="target")
        fig.update_layout(
            title=f"Prevalensi stunting per kelurahan, {latest} (urut dari tertinggi)",
            height=max(320, 16 * len(kelurahan) + 120),
            xaxis_title="% balita dengan TB/U < -2 SD",
            yaxis={"automargin": True, "tickfont": {"size": 10}},
        )
        section.figures.append(_figure_html(fig, "chart-stunting-kelurahan"))
    if not city.empty:
        fig = go.Figure(
            go.Scatter(x=city["period"], y=city["stunting_pct"], mode="lines+markers", name="Prevalensi")
        )
        if city["target_pct"].notna().any():
            fig.add_scatter(
                x=city["period"], y=city["target_pct"], mode="lines", name="Target", line_dash="dash"
            )
        fig.update_layout(
            title="Tren prevalensi stunting terhadap target",
            yaxis_title="%",
            xaxis_type="category",
            height=360,
        )
        section.figures.append(_figure_html(fig, "chart-stunting-trend"))
    section.notes.append(
        "Prevalensi = balita dengan TB/U < -2 SD / balita dengan TB/U valid, pengukuran terakhir per anak per "
        "bulan, z-score WHO 2006 dihitung ulang di gudang (bukan dari kolom e-PPGBM)."
    )
    section.empty = not section.figures
    return section


def _spm_category(index: float) -> str:
    return next(label for bound, label in SPM_BANDS if index >= bound)


def _spm(ctx: _Context) -> Section:
    section = Section("spm", "Standar Pelayanan Minimal (SPM) per bidang")
    sectors = ctx.mart("mart_spm_sector")
    if sectors.empty:
        section.empty = True
        return section
    latest_year = sectors["year"].max()
    latest_quarter = sectors.loc[sectors["year"] == latest_year, "quarter"].max()
    current = sectors[(sectors["year"] == latest_year) & (sectors["quarter"] == latest_quarter)]
    overall = current[current["is_overall"].fillna(False).astype(bool)]
    by_sector = current.drop(overall.index).sort_values("spm_index")
    by_sector = by_sector.assign(label=by_sector["sector_name"].fillna(by_sector["sector"]))
    services = ctx.mart("mart_spm_service")
    lead = f"Triwulan {latest_quarter} {latest_year}"
    if not overall.empty:
        lead += f": indeks SPM keseluruhan {_fmt(float(overall['spm_index'].iloc[0]))} ({overall['category'].iloc[0]})"
    if not services.empty:
        now = services[(services["year"] == latest_year) & (services["quarter"] == latest_quarter)]
        lead += f"; {int((now['category'] == 'Belum Tuntas').sum())} dari {len(now)} layanan Belum Tuntas"
    section.lead = lead + "."
    fig = go.Figure()
    for category, colour in CATEGORY_COLOURS.items():
        rows = by_sector[by_sector["category"] == category]
        if not rows.empty:
            fig.add_bar(
                x=rows["spm_index"], y=rows["label"], orientation="h", name=category, marker_color=colour
            )
    for bound, label in SPM_BANDS[:-1]:
        fig.add_vline(
            x=bound, line_dash="dot", line_color="#999", annotation_text=label, annotation_textangle=-90
        )
    fig.update_layout(
        title=f"Indeks SPM per bidang, triwulan {latest_quarter} {latest_year}",
        xaxis={"range": [0, 105], "title": "Indeks SPM"},
        yaxis={"automargin": True, "categoryorder": "array", "categoryarray": list(by_sector["label"])},
        height=max(320, 50 * len(by_sector) + 140),
        barmode="overlay",
    )
    section.figures.append(_figure_html(fig, "chart-spm-sector"))
    weights = dbt_vars(ctx.project_dir)
    recipient = float(weights.get("spm_weight_recipient", 0.8))
    quality = float(weights.get("spm_weight_quality", 0.2))
    section.notes.append(
        f"Indeks = {_fmt(recipient)} x capaian penerima layanan + {_fmt(quality)} x capaian mutu minimal "
        "(bobot: vars spm_weight_* di dbt_project.yml). "
        "Kategori: Tuntas Paripurna = 100; Utama 90 s.d. < 100; Madya 80 s.d. < 90; Pratama 70 s.d. < 80; "
        "Muda 60 s.d. < 70; Belum Tuntas < 60. Capaian triwulanan bersifat kumulatif sejak awal tahun."
    )
    return section


def _poverty(ctx: _Context) -> Section:
    section = Section("kemiskinan", "Kemiskinan: seri BPS dan registri desil per kecamatan")
    series = ctx.mart("mart_poverty_regency")
    registry = ctx.mart("mart_poverty_registry")
    if series.empty and registry.empty:
        section.empty = True
        return section
    if not series.empty:
        series = series.sort_values("year")
        fig = go.Figure()
        leads = []
        for source, rows in series.groupby("source", sort=True):
            label = "Rilis BPS" if "publish" in str(source).lower() else "Dihitung dari mikrodata Susenas"
            fig.add_scatter(x=rows["year"].astype(str), y=rows["p0_pct"], mode="lines+markers", name=label)
            last = rows.dropna(subset=["p0_pct"]).iloc[-1:]
            if not last.empty:
                leads.append(
                    f"{label} {int(last['year'].iloc[0])}: {_fmt(float(last['p0_pct'].iloc[0]), 2)}%"
                )
        fig.update_layout(
            title="Persentase penduduk miskin (P0): rilis BPS vs dihitung",
            yaxis_title="P0 (%)",
            xaxis_type="category",
        )
        section.figures.append(_figure_html(fig, "chart-poverty-series"))
        section.lead = "Penduduk miskin (P0) " + "; ".join(leads) + "."
    if not registry.empty:
        latest_snapshot = registry["snapshot"].astype(str).max()
        snap = registry[registry["snapshot"].astype(str) == latest_snapshot]
        pivot = snap.groupby(["district_code", "welfare_decile"], as_index=False)["households"].sum()
        fig = go.Figure()
        for decile, rows in pivot.groupby("welfare_decile", sort=True):
            fig.add_bar(
                x=rows["district_code"].map(ctx.name_of), y=rows["households"], name=f"Desil {int(decile)}"
            )
        fig.update_layout(
            title=f"Rumah tangga dalam registri per desil per kecamatan (snapshot {latest_snapshot})",
            barmode="stack",
            yaxis_title="Rumah tangga",
            xaxis={"tickangle": -45, "automargin": True},
            height=460,
        )
        section.figures.append(_figure_html(fig, "chart-poverty-registry"))
        households = int(snap["households"].sum())
        section.lead += f" Registri (snapshot {latest_snapshot}): {_fmt(households, 0)} rumah tangga di desil 1-{int(snap['welfare_decile'].max())}."
    section.notes.append(
        "P0 BPS hanya ada sampai tingkat kab/kota. Angka registri (DTSEN/P3KE) adalah peringkat kesejahteraan "
        "(desil), bukan angka kemiskinan BPS, dan tidak dijumlahkan dengan P0."
    )
    return section


def _investment(ctx: _Context) -> Section:
    section = Section("investasi", "Realisasi investasi PMA dan PMDN")
    df = ctx.mart("mart_investment")
    if df.empty:
        section.empty = True
        return section
    # investment_idr is in Rp million (PMA converted at the APBN rate): charts speak Rp miliar.
    df = df.assign(
        quarter_label=df["year"].astype(str) + "-TW" + df["quarter"].astype(str),
        idr_billion=df["investment_idr"] / 1_000,
    )
    per_quarter = df.groupby(["year", "quarter", "quarter_label", "investor_type"], as_index=False)[
        "idr_billion"
    ].sum()
    per_quarter = per_quarter.sort_values(["year", "quarter"])
    fig = go.Figure()
    for investor_type, rows in per_quarter.groupby("investor_type", sort=True):
        fig.add_bar(
            x=rows["quarter_label"],
            y=rows["idr_billion"],
            name=str(investor_type),
            marker_color=PMA_PMDN_COLOURS.get(str(investor_type)),
        )
    fig.update_layout(
        title="Realisasi investasi per triwulan (Rp miliar)",
        barmode="stack",
        yaxis_title="Rp miliar",
        xaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": per_quarter["quarter_label"].unique(),
        },
    )
    section.figures.append(_figure_html(fig, "chart-investment-quarter"))
    latest_year = df["year"].max()
    this_year = df[df["year"] == latest_year]
    per_sector = this_year.groupby(["sector", "investor_type"], as_index=False)["idr_billion"].sum()
    order = per_sector.groupby("sector")["idr_billion"].sum().sort_values().index.tolist()
    fig = go.Figure()
    for investor_type, rows in per_sector.groupby("investor_type", sort=True):
        fig.add_bar(
            x=rows["idr_billion"],
            y=rows["sector"],
            orientation="h",
            name=str(investor_type),
            marker_color=PMA_PMDN_COLOURS.get(str(investor_type)),
        )
    fig.update_layout(
        title=f"Realisasi investasi per sektor, {latest_year} (Rp miliar)",
        barmode="stack",
        yaxis={"automargin": True, "categoryorder": "array", "categoryarray": order},
        height=max(320, 26 * len(order) + 140),
    )
    section.figures.append(_figure_html(fig, "chart-investment-sector"))
    total = float(this_year["idr_billion"].sum())
    pma = float(this_year.loc[this_year["investor_type"] == "PMA", "idr_billion"].sum())
    section.lead = (
        f"Realisasi investasi {latest_year} sampai triwulan {this_year['quarter'].max()}: "
        f"Rp{_fmt(total)} miliar, {_fmt(100 * pma / total if total else 0)}% dari PMA."
    )
    realisation = ctx.mart("mart_investment_realisation")
    if not realisation.empty:
        last = realisation.sort_values(["year", "quarter"]).iloc[-1]
        if pd.notna(last["realisation_pct"]):
            section.lead += f" Capaian terhadap target tahunan: {_fmt(float(last['realisation_pct']))}%."
    section.notes.append(
        "Hanya laporan LKPM berstatus Disetujui. PMA (ribu US$) dikonversi ke rupiah dengan asumsi kurs APBN "
        "tahun yang sama, bukan kurs pasar."
    )
    return section


def _data_quality(ctx: _Context) -> Section:
    section = Section("kualitas-data", "Kualitas dan ketepatan waktu data per OPD")
    df = ctx.mart("mart_data_quality")
    if df.empty:
        section.empty = True
        return section
    timeliness = df["submission_status"].fillna("no_schedule").astype(str)
    df = df.assign(
        status_label=timeliness.map(STATUS_LABELS).fillna(timeliness), agency=df["agency"].fillna("-")
    )
    counts = df.groupby(["agency", "status_label"], as_index=False).size()
    rejected = df.groupby("agency", as_index=False)["rows_rejected"].sum()
    agencies = sorted(df["agency"].astype(str).unique())
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        column_widths=[0.6, 0.4],
        horizontal_spacing=0.04,
        subplot_titles=("Kiriman menurut ketepatan waktu", "Baris ditolak"),
    )
    for status in STATUS_COLOURS:
        rows = counts[counts["status_label"] == status]
        if not rows.empty:
            fig.add_bar(
                x=rows["size"],
                y=rows["agency"],
                orientation="h",
                name=status,
                marker_color=STATUS_COLOURS[status],
                row=1,
                col=1,
            )
    fig.add_bar(
        x=rejected["rows_rejected"],
        y=rejected["agency"],
        orientation="h",
        name="Baris ditolak",
        marker_color="#6a1b9a",
        row=1,
        col=2,
    )
    fig.update_layout(
        title="Kiriman data per OPD", barmode="stack", height=max(320, 40 * len(agencies) + 160)
    )
    fig.update_yaxes(automargin=True, categoryorder="array", categoryarray=agencies)
    section.figures.append(_figure_html(fig, "chart-data-quality"))
    late = int(timeliness.isin(["late", "missing"]).sum())
    quarantined = int((df["status"] == "quarantined").sum())
    section.lead = (
        f"{late} kiriman terlambat atau belum dikirim; {quarantined} berkas dikarantina; "
        f"{_fmt(int(df['rows_rejected'].fillna(0).sum()), 0)} baris ditolak dari "
        f"{_fmt(int(df['rows_read'].fillna(0).sum()), 0)} baris yang dibaca."
    )
    return section


#: The scorecard's components: (score column, weight column, chart label, colour).
PRIORITY_COMPONENTS = [
    ("stunting_score", "weight_stunting", "Stunting", "#d32f2f"),
    ("poverty_score", "weight_poverty", "Kemiskinan (desil 1-4)", "#ef6c00"),
    ("service_gap_score", "weight_service_gap", "Kesenjangan layanan", "#1565c0"),
]
PRIORITY_TABLE_COLUMNS = [
    "priority_rank",
    "region_name",
    "district_name",
    "need_score",
    "stunting_pct",
    "poor_share_pct",
    "service_gap_pct",
    "components_available",
]
PRIORITY_TOP = 20


def _scorecard(ctx: _Context) -> Section:
    section = Section("prioritas-kelurahan", "Skor prioritas kelurahan (program Rp1 miliar per kelurahan)")
    df = ctx.mart("mart_kelurahan_priority")
    if df.empty:
        section.empty = True
        return section
    df = df.sort_values("priority_rank")
    top = df.head(PRIORITY_TOP)
    # Each bar is split into what each component contributes to need_score (weights renormalised over
    # the components the kelurahan has data for, exactly as the mart computes it).
    available_weight = sum(
        top[weight].where(top[score].notna(), 0) for score, weight, _, _ in PRIORITY_COMPONENTS
    )
    fig = go.Figure()
    for score, weight, label, colour in PRIORITY_COMPONENTS:
        contribution = (
            top[score].fillna(0) * top[weight] / available_weight.replace(0, float("nan"))
        ).fillna(0)
        fig.add_bar(
            x=contribution,
            y=top["region_name"],
            orientation="h",
            name=label,
            marker_color=colour,
            customdata=top[[score]].to_numpy(),
            hovertemplate=f"%{{y}}<br>{label}: skor %{{customdata[0]:.1f}}, sumbangan %{{x:.1f}}<extra></extra>",
        )
    fig.update_layout(
        title=f"{PRIORITY_TOP} kelurahan dengan kebutuhan tertinggi: skor kebutuhan (0-100) per komponen",
        barmode="stack",
        yaxis={"autorange": "reversed", "automargin": True},
        xaxis_title="Skor kebutuhan (0-100, makin tinggi makin diprioritaskan)",
        height=620,
    )
    section.figures.append(_figure_html(fig, "chart-priority"))

    doc = ctx.docs.get("mart_kelurahan_priority")
    table = top[[c for c in PRIORITY_TABLE_COLUMNS if c in top]].copy()
    for column in table.columns:
        if column.endswith(("_pct", "_score")):
            table[column] = table[column].map(lambda v: "-" if pd.isna(v) else _fmt(float(v)))
    section.table = _table_html(table.rename(columns=doc.column_label if doc else str))

    first = df.iloc[0]
    section.lead = (
        f"{len(df)} kelurahan diperingkat; kebutuhan tertinggi: {first['region_name']} "
        f"(Kec. {first['district_name']}, skor {_fmt(float(first['need_score']))})."
    )
    weights = ", ".join(
        f"{label} {_fmt(float(first[weight]), 2)}" for _, weight, label, _ in PRIORITY_COMPONENTS
    )
    section.notes.append(
        "Metode: tiga komponen kebutuhan per kelurahan, masing-masing diskalakan min-maks menjadi skor 0-100 "
        "antar kelurahan (0 = kebutuhan terkecil): prevalensi stunting bulan terakhir; persentase penduduk "
        "desil 1-4 registri terhadap penduduk Dukcapil; kesenjangan layanan (rata-rata kesenjangan cakupan "
        "penimbangan dan persentase keluarga desil 1-4 tanpa PKH, BPNT maupun PBI JKN). Skor kebutuhan = rata-rata "
        f"tertimbang skor yang tersedia (bobot: {weights}; bobot dinormalkan ulang bila satu komponen tidak ada "
        "datanya). Peringkat 1 = kebutuhan terbesar; kelurahan tanpa data sama sekali di urutan terakhir. "
        "Bobot diatur di dbt_project.yml (vars priority_weight_*)."
    )
    return section


SECTION_BUILDERS: list[Callable[[_Context], Section]] = [
    _stunting,
    _spm,
    _poverty,
    _investment,
    _data_quality,
    _scorecard,
]


def _safe_build(builder: Callable[[_Context], Section], ctx: _Context) -> Section:
    """A mart with unexpected content must cost one section, never the whole brief."""
    try:
        return builder(ctx)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        log.warning("bagian brief %s gagal dibuat: %s", builder.__name__, exc, exc_info=True)
        section = Section(builder.__name__.strip("_").replace("_", "-"), builder.__name__.strip("_"))
        section.empty = True
        section.notes.append(
            f"Bagian ini tidak dapat dibuat dari data saat ini ({type(exc).__name__}: {exc})."
        )
        return section


def _region_names(conn: duckdb.DuckDBPyConnection, marts: list[str]) -> dict[str, str]:
    if "dim_region" not in marts:
        return {}
    rows = conn.execute("SELECT region_code, region_name FROM main.dim_region").fetchall()
    return {code: name for code, name in rows if name}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("gudang.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )


def build_sections(settings: Settings, project_dir: Path = DBT_PROJECT_DIR) -> tuple[list[Section], str, str]:
    """Sections of the brief from the published marts; returns (sections, period, region name)."""
    published = settings.published
    if not published.exists():
        marts, names, period = {}, {}, dt.date.today().isoformat()
    else:
        conn = duckdb.connect(str(published), read_only=True)
        try:
            tables = list_marts(conn)
            marts = {t: read_mart(conn, t) for t in tables if t.startswith("mart_")}
            names = _region_names(conn, tables)
            period = latest_period(conn)
        finally:
            conn.close()
    ctx = _Context(marts=marts, region_names=names, docs=mart_docs(project_dir), project_dir=project_dir)
    return [_safe_build(b, ctx) for b in SECTION_BUILDERS], period, ctx.name_of(settings.region)


def render_brief(settings: Settings, run_id: str, *, project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """Write ``$GUDANG_HOME/reports/brief.html`` (and a copy in the period's export folder)."""
    sections, period, region_name = build_sections(settings, project_dir)
    html = (
        _environment()
        .get_template("brief.html.j2")
        .render(
            sections=sections,
            period=period,
            region_name=region_name,
            run_id=run_id,
            generated_at=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            plotly_js=Markup(get_plotlyjs()),  # inlined once for the whole page: works offline
            no_data=NO_DATA,
        )
    )
    settings.reports.mkdir(parents=True, exist_ok=True)
    brief = settings.reports / "brief.html"
    partial = brief.with_suffix(".html.part")
    partial.write_text(html, encoding="utf-8")
    partial.replace(brief)
    period_copy = settings.reports / "exports" / safe_period(period) / "brief.html"
    period_copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(brief, period_copy)
    return brief
