"""The `gudang` console command."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help="gudang: planning data warehouse")
_state = {"debug": False}


class Scale(enum.StrEnum):
    kota = "kota"
    province = "province"


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="show the full traceback on errors")] = False,
) -> None:
    _state["debug"] = debug


def _run(action: Callable[[], int | None]) -> None:
    """Run a command; an unexpected error becomes one clear line (the traceback only with --debug)."""
    try:
        code = action()
    except (typer.Exit, KeyboardInterrupt):
        raise
    except Exception as exc:
        if _state["debug"]:
            raise
        Console(stderr=True).print(f"[bold red]gagal:[/] {type(exc).__name__}: {exc}  (ulang dengan --debug)")
        sys.exit(2)
    raise typer.Exit(code or 0)


@app.command()
def sample(
    region: Annotated[
        str, typer.Option(help="Kemendagri code of the kab/kota (or province with --scale)")
    ] = "33.74",
    out: Annotated[Path | None, typer.Option(help="output folder (default: $GUDANG_HOME/inbox)")] = None,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same files")] = 42,
    scale: Annotated[Scale, typer.Option(help="one kab/kota, or every kab/kota of --region")] = Scale.kota,
) -> None:
    """Generate realistic, messy agency files and a ground-truth manifest."""
    from gudang.sample import generate
    from gudang.settings import get_settings

    def generate_into_inbox() -> None:
        generate(region=region, out=out or get_settings().inbox, seed=seed, scale=scale.value)

    _run(generate_into_inbox)


@app.command()
def run(
    full_build: Annotated[
        bool,
        typer.Option(
            "--full-build",
            help="rebuild every dbt model, not only those downstream of the raw tables that changed",
        ),
    ] = False,
) -> None:
    """Process whatever is in $GUDANG_HOME/inbox through the Airflow DAGs, then print a summary."""
    import os

    from gudang.dbt_state import FULL_BUILD_VARIABLE
    from gudang.pipeline import run_all

    if full_build:
        os.environ[FULL_BUILD_VARIABLE] = "1"
    _run(run_all)


@app.command()
def status() -> None:
    """Last runs, late submissions and where the reports are (read-only; never waits for a running pipeline).

    Exit code 1 when the last run did not publish or a submission is late, so cron/monitoring can alert.
    """
    from gudang.reports.status import show_status

    _run(show_status)


if __name__ == "__main__":
    app()
