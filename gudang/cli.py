"""The `gudang` console command."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="gudang: planning data warehouse")


@app.command()
def sample(
    region: str = typer.Option("33.74", help="Kemendagri code of the kab/kota (or province with --scale)"),
    out: Path = typer.Option(None, help="output folder (default: $GUDANG_HOME/inbox)"),
    seed: int = typer.Option(42, help="random seed; the same seed gives the same files"),
    scale: str = typer.Option("kota", help="kota (one kab/kota) or province (every kab/kota of --region)"),
) -> None:
    """Generate realistic, messy agency files and a ground-truth manifest."""
    from gudang.sample import generate
    from gudang.settings import get_settings

    generate(region=region, out=out or get_settings().inbox, seed=seed, scale=scale)


@app.command()
def run() -> None:
    """Process whatever is in $GUDANG_HOME/inbox through the Airflow DAGs, then print a summary."""
    from gudang.pipeline import run_all

    raise typer.Exit(run_all())


@app.command()
def status() -> None:
    """Last runs, late submissions and where the reports are (read-only; never waits for a running pipeline).

    Exit code 1 when the last run did not publish or a submission is late, so cron/monitoring can alert.
    """
    from gudang.reports.status import show_status

    raise typer.Exit(show_status())


if __name__ == "__main__":
    app()
