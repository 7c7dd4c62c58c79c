"""``satqkd`` command line: thin wrappers that parse, call the library and print.

Exit status 0 on success, 2 on bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import typer
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
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


class Interrupted(Exception):
    """Ctrl-C in a command: ``main`` prints the message as one line, exit status 130."""


#: What a Ctrl-C says, set by the command running (``--resume`` continues a run).
_on_interrupt = ["interrupted"]

def _interruptible(command: Callable) -> Callable:
    """Turn Ctrl-C in a command into :class:`Interrupted` (click would print "Aborted!")."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        _on_interrupt[0] = "interrupted"
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            raise Interrupted(_on_interrupt[0]) from None

    return wrapper


SET_HELP = ("Override one value of the mission file, validated like the file: SECTION.KEY="
            "VALUE (TOML value; list entries by index: stations.0.aperture_m=1.2). Repeatable.")
QUIET_HELP = "Print only errors and, at the end, the output folder."
VERBOSE_HELP = "Also print each stage's time and the run's provenance."


def _stdout_console() -> Console:
    """stdout for tables: a pipe gets full-width rows (never truncated or wrapped)."""
    return out if out.is_terminal else Console(width=100_000, no_color=True, highlight=False)


class StageProgress:
    """Progress of the long stages: rich bars with ETA on a terminal, plain log lines
    (stage start, every 10 %, end) when stdout or stderr is not one, nothing when quiet."""

    def __init__(self, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet, self.verbose = quiet, verbose
        self.rich = not quiet and out.is_terminal and err.is_terminal
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self._last: dict[str, int] = {}
        self._bar: Progress | None = None
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> "StageProgress":
        if self.rich:
            self._bar = Progress(TextColumn("{task.description:<9}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), console=err, transient=True)
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        first = stage not in self.started
        if first:
            self.started[stage] = now
        if done >= total:
            self.seconds[stage] = now - self.started[stage]
        if self.quiet:
            return
        if self._bar is not None:
            if stage not in self._tasks:
                self._tasks[stage] = self._bar.add_task(stage, total=total)
            self._bar.update(self._tasks[stage], completed=done, total=total)
            return
        tenth = int(10 * done / total) if total else 10
        if not first and done < total and tenth <= self._last.get(stage, -1):
            return
        if stage in self._last and self._last[stage] >= 10:
            return  # this stage already said it finished
        self._last[stage] = tenth
        elapsed = now - self.started[stage]
        eta = ""
        if 0 < done < total:
            eta = f", ETA {elapsed * (total - done) / done:.0f} s"
        err.print(f"{stage}: {done}/{total} ({100 * done / max(total, 1):.0f} %), "
                  f"{elapsed:.1f} s{eta}", highlight=False, markup=False, soft_wrap=True)


@app.command()
@_interruptible
def passes(
    mission: Path = typer.Argument(..., help="Mission file (TOML)."),
    csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table."),
    set_: list[str] = typer.Option([], "--set", metavar="SECTION.KEY=VALUE", help=SET_HELP),
) -> None:
    """List every pass of every satellite over every station."""
    from satqkd.mission.run import passes_csv_table, plan_mission

    plan = plan_mission(mission, set_)
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
    _stdout_console().print(t)


@app.command()
@_interruptible
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
    keep_checkpoints: bool = typer.Option(False, "--keep-checkpoints", help="Keep the "
                                          "per-pass checkpoints (passes/) after the merge."),
    force: bool = typer.Option(False, "--force", help="Write into a folder holding another "
                               "mission's run (its outputs are replaced)."),
    set_: list[str] = typer.Option([], "--set", metavar="SECTION.KEY=VALUE", help=SET_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=VERBOSE_HELP),
) -> None:
    """Run a mission: passes.csv, passes.nc, summary.nc, run.json, report.html; then a summary."""
    from satqkd.mission.run import default_out_dir, plan_mission, run_mission

    t0 = time.perf_counter()
    with StageProgress(quiet, verbose) as progress:
        plan = plan_mission(mission, set_, progress=progress,  # bad input: before any work
                            workers=workers if scheduler is None else 1)
        if scheduler is not None:
            from satqkd.mission.execute import check_scheduler

            check_scheduler(scheduler)
        if not quiet:
            _print_warnings(plan.warnings)
        folder = out_dir if out_dir is not None else default_out_dir(plan.cfg)
        _on_interrupt[0] = _resume_hint("run", mission, out_dir, set_, workers)
        folder = run_mission(plan, folder, progress=progress, workers=workers,
                             scheduler=scheduler, resume=resume,
                             keep_checkpoints=keep_checkpoints, force=force)
    _closing_summary(folder, time.perf_counter() - t0, quiet, verbose)


def _resume_hint(command: str, mission: Path, out_dir: Optional[Path], sets: list[str],
                 workers: int) -> str:
    args = [f"satqkd {command} {mission}"]
    args += [f"--out {out_dir}"] if out_dir is not None else []
    args += [f"--set {s}" for s in sets]
    args += [f"--workers {workers}"] if workers > 1 else []
    return (f"interrupted: finished passes are checkpointed; `{' '.join(args)} --resume` "
            "continues" + (" (then plans the relay)" if command == "relay" else ""))


def _closing_summary(folder: Path, wall_s: float, quiet: bool, verbose: bool) -> None:
    """Passes, usable passes, secret bits per station, pooled QBER, wall time, report."""
    import json

    import numpy as np
    import pandas as pd

    from satqkd.report.mission_report import mission_totals, pass_table

    if quiet:
        print(folder)
        return
    # The report's definitions (docs/reports.md): usable = not aborted with key; the
    # pooled QBER is errors / sifted bits over the usable passes.
    table = pass_table(pd.read_csv(folder / "passes.csv", keep_default_na=False))
    tot = mission_totals(table)
    lines = [f"passes          {tot['passes']} ({tot['usable_passes']} usable)"]
    per_station = table.groupby("station", sort=True)["secret_bits"].sum()
    for k, (station, bits) in enumerate(per_station.items()):
        label = "secret bits" if k == 0 else ""
        lines.append(f"{label:<15} {int(bits):>14,} {station}")
    if np.isfinite(tot["qber_usable"]):
        usable_sifted = int(table.loc[table["usable"], "sifted_bits"].sum())
        lines.append(f"pooled QBER     {100 * tot['qber_usable']:.2f} % over {usable_sifted:,} "
                     "sifted bits of the usable passes")
    else:
        lines.append("pooled QBER     - (no usable pass)")
    lines.append(f"wall time       {wall_s:.1f} s")
    if verbose:
        run_info = json.loads((folder / "run.json").read_text())
        for stage, seconds in run_info.get("timings_s", {}).items():
            lines.append(f"  {stage:<13} {seconds:.2f} s")
        lines.append(f"seed            {run_info.get('seed')}")
        lines.append(f"config sha256   {run_info.get('config_sha256')}")
    report = folder / "report.html"
    if report.exists() and report.stat().st_mtime >= time.time() - wall_s - 1.0:  # this run's
        lines.append(f"report          {report}")
    lines.append(f"wrote {folder}")
    for line in lines:
        out.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command()
def stations(
    csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table."),
) -> None:
    """The ground-station catalogue (missions/stations.toml), with the source of each entry."""
    import pandas as pd

    from satqkd.config import DEFAULT_CATALOGUE, load_catalogue

    rows = list(load_catalogue().values())
    cols = ["name", "lat_deg", "lon_deg", "alt_m", "aperture_m", "full_name", "source", "note"]
    if csv:
        sys.stdout.write(pd.DataFrame(rows).reindex(columns=cols).to_csv(index=False))
        return
    t = Table(title=f"{len(rows)} ground stations ({DEFAULT_CATALOGUE.name}; "
                    "a mission names them in [[stations]] name = ...)",
              box=box.SIMPLE_HEAD, pad_edge=False, show_lines=out.is_terminal)
    for col, justify in (("name", "left"), ("lat deg", "right"), ("lon deg", "right"),
                         ("alt m", "right"), ("aperture m", "right"), ("site", "left"),
                         ("source", "left")):
        t.add_column(col, justify=justify, no_wrap=col in ("name", "lat deg", "lon deg"))
    for r in rows:
        t.add_row(r["name"], f"{r['lat_deg']:.4f}", f"{r['lon_deg']:.4f}", f"{r['alt_m']:g}",
                  f"{r['aperture_m']:g}", r.get("full_name", ""), r.get("source", ""))
    _stdout_console().print(t)


@app.command()
def init(
    name: str = typer.Argument(..., help="Mission name: writes NAME.toml."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Write a starter mission file NAME.toml, every section explained (it runs as it is)."""
    from satqkd.mission.starter import write_starter

    path = write_starter(name, force=force)
    out.print(f"wrote {path}; run it with: satqkd run {path}", highlight=False, markup=False,
              soft_wrap=True)


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
    from satqkd.network.sweep_relay import run_sweep  # with the relay figures

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
@_interruptible
def relay(
    mission: Path = typer.Argument(..., help="Mission file (TOML) with [relay] demands."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Output folder "
                                           "(default outputs/<mission name>)."),
    workers: int = typer.Option(1, "--workers", min=1, max=512,
                                help="Local worker processes (Dask) for the passes."),
    resume: bool = typer.Option(False, "--resume", help="Keep the passes a killed run "
                                "finished; compute only the rest."),
    keep_checkpoints: bool = typer.Option(False, "--keep-checkpoints", help="Keep the "
                                          "per-pass checkpoints (passes/) after the merge."),
    force: bool = typer.Option(False, "--force", help="Write into a folder holding another "
                               "mission's run (its outputs are replaced)."),
    set_: list[str] = typer.Option([], "--set", metavar="SECTION.KEY=VALUE", help=SET_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=VERBOSE_HELP),
) -> None:
    """Run the mission, plan the trusted relay (MILP and greedy), execute it on the keys."""
    from satqkd.network.relay_run import run_relay

    t0 = time.perf_counter()
    _on_interrupt[0] = _resume_hint("relay", mission, out_dir, set_, workers)
    with StageProgress(quiet, verbose) as progress:
        folder = run_relay(mission, out_dir, progress=progress, workers=workers,
                           overrides=set_, resume=resume, keep_checkpoints=keep_checkpoints,
                           force=force)
    if quiet:
        print(folder)
        return
    _closing_summary(folder, time.perf_counter() - t0, quiet, verbose)
    out.print(f"wrote {folder / 'network.nc'} and {folder / 'network_report.md'}")


@app.command()
def serve(
    folder: Path = typer.Argument(..., help="Output folder of `satqkd run` or `satqkd relay` "
                                            "written with [keys] write_keys = true."),
    make_certs: Optional[Path] = typer.Option(None, "--make-certs", help="Create a local CA, "
                                              "the KME's and every SAE's certificate in DIR, "
                                              "then exit."),
    certs: Optional[Path] = typer.Option(None, "--certs", help="Folder with ca.pem, kme.pem, "
                                         "kme-key.pem."),
    port: int = typer.Option(8443, "--port", min=1, max=65535),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    clock: str = typer.Option("instant", "--clock", help="instant: every key at once; "
                              "replay: each key when its pass (or relay) ends in mission time."),
    speed: float = typer.Option(1.0, "--speed", help="Replay: mission seconds per wall second."),
    start: Optional[str] = typer.Option(None, "--start", help="Replay: mission time (UTC, "
                                        "e.g. 2016-12-19T16:50:00Z) to start from, "
                                        "instead of continuing the stored timeline."),
    store: Optional[Path] = typer.Option(None, "--store", help="Key store (SQLite; default "
                                         "FOLDER/serve/keystore.sqlite)."),
) -> None:
    """Serve the keys through ETSI GS QKD 014 key managers over mutual TLS, on the mission's timeline."""
    try:
        from satqkd.serve.catalog import iso_seconds, load_catalog
    except ImportError as exc:  # pragma: no cover - the [serve] extra is missing
        raise InputError(f"satqkd serve needs the [serve] extra: pip install 'satqkd[serve]' ({exc})")
    folder = _output_dir(folder)
    if make_certs is not None:
        from satqkd.serve.certs import make_certs as write_certs

        paths = write_certs(make_certs, load_catalog(folder).saes)
        out.print(f"wrote {len(paths)} files to {make_certs}")
        return
    if clock not in ("instant", "replay"):
        raise InputError(f"--clock {clock!r}: choose instant or replay")
    if not speed > 0 or speed == float("inf"):
        raise InputError(f"--speed {speed}: must be a positive number")
    if certs is None:
        raise InputError("--certs DIR is required (create it with `satqkd serve --make-certs DIR "
                         f"{folder}`)")
    try:
        start_s = None if start is None else iso_seconds(start)
    except ValueError:
        raise InputError(f"--start {start!r}: not a UTC time like 2016-12-19T16:50:00Z")
    from satqkd.serve.server import serve as run_server

    run_server(folder, certs, port, clock, speed, host, store, start_s)


@app.command()
@_interruptible
def validate(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, only the tables."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print the wall time."),
) -> None:
    """Run the validation missions and print our figures beside the published ones."""
    from satqkd.mission.validate import run_validations

    t0 = time.perf_counter()
    with StageProgress(quiet, verbose) as progress:
        figures = run_validations(progress=progress)
    for experiment in dict.fromkeys(f.experiment for f in figures):
        rows = [f for f in figures if f.experiment == experiment]
        t = Table(title=experiment, box=box.SIMPLE_HEAD, title_justify="left")
        for col, justify in (("quantity", "left"), ("unit", "left"), ("published", "right"),
                             ("satqkd", "right"), ("ours vs published", "right"),
                             ("verdict", "left"), ("reason", "left")):
            t.add_column(col, justify=justify)
        for f in rows:  # dB values: a difference, never a ratio of logarithms
            t.add_row(f.quantity, f.unit, f"{f.published:.4g}", f"{f.ours:.4g}", f.comparison,
                      f.verdict, f.reason)
        out.print(t)
        for source in dict.fromkeys(f.source for f in rows):
            out.print(f"  source: {source}", highlight=False)
    if verbose:
        out.print(f"wall time {time.perf_counter() - t0:.1f} s", highlight=False)


@app.command()
def calibrate(
    measured: Path = typer.Argument(..., help="CSV with time (ISO UTC) or range (km), and loss_db "
                                    "(optional sigma_db)."),
    mission: Path = typer.Argument(..., help="Mission file (TOML) whose pass was measured."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Calibrated copy "
                                            "(default MISSION.calibrated.toml beside it)."),
    exclude_detector: bool = typer.Option(False, "--exclude-detector",
                                          help="The measured loss excludes the detector efficiency."),
) -> None:
    """Fit excess loss = c0 + c1 (air mass - 1) to flight data; write it into a mission copy."""
    from satqkd.mission.calibrate import calibrate as run_calibration

    fit, path = run_calibration(measured, mission, out_file, exclude_detector)
    s0, s1 = fit.sigma
    out.print(f"implementation_loss_db         = {fit.constant_db:7.3f} +- {s0:.3f} dB", highlight=False)
    out.print(f"implementation_loss_airmass_db = {fit.airmass_db:7.3f} +- {s1:.3f} dB "
              f"(per unit air mass beyond 1)", highlight=False)
    out.print(f"{fit.n_points} points, rms residual {fit.residual_rms_db:.3f} dB", highlight=False)
    out.print(f"wrote {path}")


def _error_line(message: str) -> None:
    from satqkd.errors import one_line

    err.print(f"satqkd: error: {one_line(message)}", highlight=False, markup=False,
              soft_wrap=True)
    sys.exit(2)


def _os_error_text(exc: OSError) -> str:
    """An operating-system error as the file and what went wrong."""
    import errno

    from satqkd.errors import shown

    what = exc.strerror or str(exc) or type(exc).__name__
    hint = {errno.ENOSPC: "; free some space and rerun with --resume",
            errno.EDQUOT: "; free some space and rerun with --resume",
            errno.EROFS: "; give a writable --out folder",
            errno.EACCES: "; give a writable --out folder",
            errno.EEXIST: " (a file is in the way of a folder)",
            errno.ENOTDIR: " (a file is in the way of a folder)"}.get(exc.errno, "")
    where = f"{exc.filename}: " if exc.filename else ""
    if exc.filename is not None and len(str(exc.filename)) > 300:
        where = f"{shown(str(exc.filename))}: "
    return f"{where}{what}{hint}"


def main() -> None:
    """Entry point: run the app, turning bad input into one line and exit status 2."""
    from satqkd.orbit.ephemeris import configure_astropy_offline

    configure_astropy_offline()
    try:
        app(standalone_mode=True)
    except InputError as exc:
        _error_line(str(exc))
    except OSError as exc:  # disk full, read-only, permissions, --out a file: one line
        _error_line(_os_error_text(exc))
    except RecursionError:
        _error_line("input nested too deeply to process")
    except MemoryError:
        _error_line("out of memory; make the mission smaller (shorter span, fewer "
                    "stations, lower rate_hz)")
    except Interrupted as exc:
        err.print(f"satqkd: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
