"""``satqkd`` command line: thin wrappers that parse, call the library and print.

Exit status 0 on success, 2 on bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import satqkd
from satqkd.errors import InputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Satellite QKD mission simulator: orbits, channel, photon-level engine, keys.",
)
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"satqkd {satqkd.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Satellite QKD mission simulator."""


def _print_warnings(messages: list[str]) -> None:
    for m in messages:
        err.print(f"[yellow]warning:[/yellow] {m}", highlight=False, soft_wrap=True)


@app.command()
def passes(
    mission: Path = typer.Argument(..., help="Mission file (TOML)."),
    csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table."),
) -> None:
    """List every pass of every satellite over every station."""
    from satqkd.mission.run import passes_csv_table, plan_mission

    plan = plan_mission(mission)
    _print_warnings(plan.warnings)
    table = passes_csv_table(plan).drop(columns=["pass_id"])
    if csv:
        sys.stdout.write(table.to_csv(index=False))
        return
    t = Table(title=f"{plan.cfg.mission.name}: {len(table)} passes above "
                    f"{plan.cfg.mission.min_elevation_deg:g} deg (times UTC)",
              box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col, justify in (("satellite", "left"), ("station", "left"), ("date", "left"),
                         ("AOS", "left"), ("TCA", "left"), ("LOS", "left"),
                         ("max el", "right"), ("dur s", "right")):
        t.add_column(col, justify=justify, no_wrap=True)
    for row in table.itertuples(index=False):
        t.add_row(row.satellite, row.station, row.aos[:10], row.aos[11:19], row.tca[11:19],
                  row.los[11:19], f"{row.max_elevation_deg:.1f}", f"{row.duration_s:.0f}")
    out.print(t)


@app.command()
def run(
    mission: Path = typer.Argument(..., help="Mission file (TOML)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Output folder "
                                           "(default outputs/<mission name>)."),
    workers: int = typer.Option(1, "--workers", min=1, max=512,
                                help="Local worker processes (Dask) for the passes."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                            help="Address of a running Dask scheduler, "
                                                 "e.g. tcp://10.0.0.5:8786."),
    resume: bool = typer.Option(False, "--resume", help="Keep the passes a killed run "
                                "finished; compute only the rest."),
) -> None:
    """Run a mission and write passes.csv, passes.nc, run.json (and per-pass checkpoints)."""
    from satqkd.mission.run import plan_mission, run_mission

    plan = plan_mission(mission)  # bad input is reported before anything is drawn
    if scheduler is not None:
        from satqkd.mission.execute import check_scheduler

        check_scheduler(scheduler)
    _print_warnings(plan.warnings)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
            "{task.completed}/{task.total}"), TimeElapsedColumn(), console=err,
            transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        folder = run_mission(plan, out_dir, progress=progress, workers=workers,
                             scheduler=scheduler, resume=resume)
    out.print(f"wrote {folder}")


@app.command()
def sweep(
    mission: Path = typer.Argument(..., help="Mission file (TOML), with or without [sweep]."),
    grid: Optional[list[str]] = typer.Option(
        None, "--grid", help="FIELD=V1,V2,... (repeatable), e.g. "
        "satellites.0.transmitter.aperture_m=0.1,0.2,0.3; replaces the file's [sweep]."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Output folder "
                                           "(default outputs/<mission name>-sweep)."),
    workers: int = typer.Option(1, "--workers", min=1, max=512,
                                help="Local worker processes (Dask)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                            help="Address of a running Dask scheduler."),
    resume: bool = typer.Option(False, "--resume", help="Keep the finished sweep points."),
) -> None:
    """Run a grid of mission variants; write sweep.nc, plots and sweep_report.md."""
    from satqkd.mission.sweep import run_sweep

    if scheduler is not None:
        from satqkd.mission.execute import check_scheduler

        check_scheduler(scheduler)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
            "{task.completed}/{task.total}"), TimeElapsedColumn(), console=err,
            transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        folder = run_sweep(mission, grid, out_dir, workers=workers, scheduler=scheduler,
                           resume=resume, progress=progress)
    out.print(f"wrote {folder / 'sweep.nc'} and {folder / 'sweep_report.md'}")


def _output_dir(folder: Path) -> Path:
    if not (folder / "passes.csv").exists():
        raise InputError(f"{folder}: not a satqkd output folder (no passes.csv); "
                         "give the folder `satqkd run` wrote")
    return folder


@app.command()
def report(folder: Path = typer.Argument(..., help="Output folder of `satqkd run`.")) -> None:
    """Rebuild report.md and report.html (with the mission plots) from the datasets."""
    from satqkd.report.mission_report import write_reports

    md, html = write_reports(_output_dir(folder))
    out.print(f"wrote {md} and {html}")


@app.command()
def plot(
    folder: Path = typer.Argument(..., help="Output folder of `satqkd run`."),
    pass_index: Optional[int] = typer.Option(None, "--pass", min=0,
                                             help="Also draw pass N (0-based, passes.csv order)."),
) -> None:
    """Draw the mission plots (and one pass) into DIR/plots."""
    import pandas as pd

    from satqkd.report.plots import plot_mission, plot_passes

    folder = _output_dir(folder)
    paths = plot_mission(folder, folder / "plots")
    if pass_index is not None:
        n = len(pd.read_csv(folder / "passes.csv"))
        if pass_index >= n:
            raise InputError(f"--pass {pass_index}: the mission has {n} passes (0..{n - 1})")
        paths += plot_passes(folder, folder / "plots", [pass_index])
    for p in paths:
        out.print(f"wrote {p}")


@app.command()
def relay(
    mission: Path = typer.Argument(..., help="Mission file (TOML) with [relay] demands."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Output folder "
                                           "(default outputs/<mission name>)."),
    workers: int = typer.Option(1, "--workers", min=1, max=512,
                                help="Local worker processes (Dask) for the passes."),
) -> None:
    """Run the mission, plan the trusted relay (MILP and greedy), execute it on the keys."""
    from satqkd.network.relay_run import run_relay

    folder = run_relay(mission, out_dir, workers=workers)
    out.print(f"wrote {folder / 'network.nc'} and {folder / 'network_report.md'}")


@app.command()
def validate() -> None:
    """Run the validation missions and print our figures beside the published ones."""
    from satqkd.mission.validate import run_validations

    figures = run_validations()
    for experiment in dict.fromkeys(f.experiment for f in figures):
        rows = [f for f in figures if f.experiment == experiment]
        t = Table(title=experiment, box=box.SIMPLE_HEAD, title_justify="left")
        for col, justify in (("quantity", "left"), ("unit", "left"), ("published", "right"),
                             ("satqkd", "right"), ("ratio", "right")):
            t.add_column(col, justify=justify)
        for f in rows:
            t.add_row(f.quantity, f.unit, f"{f.published:.4g}", f"{f.ours:.4g}", f"{f.ratio:.2f}")
        out.print(t)
        for source in dict.fromkeys(f.source for f in rows):
            out.print(f"  source: {source}", highlight=False)


def main() -> None:
    """Entry point: run the app, turning bad input into one line and exit status 2."""
    from satqkd.orbit.ephemeris import configure_astropy_offline

    configure_astropy_offline()
    try:
        app(standalone_mode=True)
    except InputError as exc:
        err.print(f"satqkd: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
