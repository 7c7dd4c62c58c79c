"""Run a mission: passes, per-second geometry, outputs (``satqkd run``)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import shutil
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd
import xarray as xr

import satqkd
from satqkd import config, notices
from satqkd.channel.clouds import monthly_clear_probability
from satqkd.errors import InputError
from satqkd.mission import blocks, cf, guard, links, parameters, protocols, store
from satqkd.mission.execute import ForkExecutor, fork_available, open_executor, tune_allocator
from satqkd.keys.postprocess import remove_keys, write_keys
from satqkd.mission.io import atomic_path, write_json_atomic
from satqkd.mission.protocols.decoy_bb84 import pass_link_budget, simulate_pass
from satqkd.mission.seeds import pass_seed
from satqkd.mission.setup import build_satellites, build_stations
from satqkd.mission.tasks import EncodedPass, PassOutput, PassTask, simulate_encoded
from satqkd.orbit.passes import (Pass, find_passes, independent_chunks, pass_geometry,
                                 pass_table)
from satqkd.orbit.satellite import Satellite
from satqkd.orbit.stations import GroundStation

Progress = Callable[[str, int, int], None]


@dataclass
class MissionPlan:
    """A validated mission with its satellites, stations and passes."""

    path: Path
    cfg: config.MissionConfig
    satellites: list[tuple[Satellite, config.Satellite]]
    stations: list[GroundStation]
    passes: list[Pass]
    warnings: list[str] = field(default_factory=list)  # one line per kind of warning
    # per kind: count, worst case, a few examples (satqkd.notices.summarize); run.json
    warning_summary: list[dict] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)


def plan_mission(source: Path | str | Mapping, overrides: Sequence[str] = (),
                 progress: Progress | None = None, workers: int = 1) -> MissionPlan:
    """Read a mission (file or mapping, with ``section.key=value`` overrides) and find
    every pass of every satellite over every station (stage ``orbit`` of ``progress``).

    ``workers`` > 1: the pass search runs on that many forked processes where fork is
    available (Linux); the passes are the same bit for bit (:func:`find_passes`).
    """
    path = Path(config.DICT_SOURCE) if isinstance(source, Mapping) else Path(source)
    t0 = time.perf_counter()
    cfg = config.load_mission(source, overrides)
    _check_station_weather(cfg, path)
    sats = build_satellites(cfg, path)
    stations = build_stations(cfg)
    start, end = cfg.mission.start.timestamp(), cfg.mission.end.timestamp()
    map_fn = ForkExecutor(workers).map if workers > 1 and fork_available() else None
    passes: list[Pass] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k, (sat, sat_cfg) in enumerate(sats):
            if progress:
                progress("orbit", k, len(sats))
            try:
                passes.extend(find_passes(sat, stations, start, end,
                                          cfg.mission.min_elevation_deg, map_fn=map_fn))
            except InputError as exc:  # no usable orbit: name the mission file's entry
                i = next(j for j, c in enumerate(cfg.satellites) if c is sat_cfg)
                raise InputError(f"{path}: satellites[{i}]: {exc}") from None
        if progress:
            progress("orbit", len(sats), len(sats))
    passes.sort(key=lambda p: (p.aos_s, p.station, p.norad_id))
    summary = notices.summarize(notices.from_warnings(caught))
    plan = MissionPlan(path, cfg, sats, stations, passes,
                       warnings=notices.summary_lines(summary), warning_summary=summary)
    plan.timings_s["passes"] = time.perf_counter() - t0
    return plan


#: Columns of ``passes.csv``, in order (those a stage has not produced are left out).
PASSES_CSV_COLUMNS = [
    "pass_id", "satellite", "norad_id", "station", "aos", "tca", "los", "max_elevation_deg",
    "duration_s", "tle_epoch", "min_loss_db", "max_loss_db", "clear_fraction", "detections",
    "sifted_bits", "qber", "qber_z", "qber_x", "secret_bits", "leaked_bits", "ec_efficiency",
    "abort_reason", "block_id", "eps_sec", "eps_cor", "chsh_s", "chsh_sigma",
    "coincidence_rate_hz", "eve_known_bits", "eve_information_bits", "eve_key_agreement",
    "eve_knowledge_method", "security",
]


def _check_station_weather(cfg: config.MissionConfig, path: Path) -> None:
    """Fail before any work when a station has no cloud climatology to draw from."""
    for i, station in enumerate(cfg.stations):
        clouds_cfg = parameters.link_parameters(cfg, cfg.satellites[0], station).clouds
        if clouds_cfg.model != "climatology":
            continue
        try:
            monthly_clear_probability(station.name, clouds_cfg)
        except InputError:
            raise InputError(
                f"{path}: stations[{i}].clouds: no clear-sky climatology for {station.name!r}; "
                "give clear_probability (0..1), monthly_clear_probability (12 values 0..1), "
                'model = "clear", or a weather file (model = "csv" or "era5")'
            ) from None


#: Runs of passes per local worker: a run costs a pass_geometry call (~7 ms more than
#: its share of one call over all passes), and the last runs to finish set the tail.
_RUNS_PER_WORKER = 16


def _simulate_run(plan: MissionPlan, protocol, done: set[str], simulate: Callable,
                  indexed_run: tuple[int, list[int]]) -> tuple[int, list[str], list, float]:
    """One run of passes (:func:`independent_chunks`): its geometry, its tasks, each
    task simulated. Returns the run's index, its ids (all, resumed ones included), the
    results, and the seconds the geometry took."""
    k, members = indexed_run
    t0 = time.perf_counter()
    sub = dataclasses.replace(plan, passes=[plan.passes[i] for i in members])
    cfg = plan.cfg
    geometry = pass_geometry(sub.passes, plan.stations, cfg.mission.step_s,
                             cfg.mission.night_sun_elevation_deg)
    ids, tasks = protocol.tasks(sub, geometry, done)
    del geometry
    seconds = time.perf_counter() - t0
    return k, ids, [simulate(t) for t in tasks], seconds


def passes_csv_table(plan: "MissionPlan") -> pd.DataFrame:
    """The ``passes.csv`` columns known after the orbit stage."""
    table = pass_table(plan.passes, plan.stations)
    return table[[c for c in PASSES_CSV_COLUMNS if c in table.columns]]


def default_out_dir(cfg: config.MissionConfig) -> Path:
    return Path("outputs") / cfg.mission.name


def run_mission(
    mission: Path | str | MissionPlan,
    out_dir: Path | str | None = None,
    progress: Progress | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    keep_checkpoints: bool = False,
    force: bool = False,
) -> Path:
    """Run a mission (file path or plan); write its outputs; return the output folder.

    Each pass is checkpointed as soon as it finishes; ``resume=True`` keeps the
    checkpoints made with the same configuration and computes only the rest. Once
    ``passes.nc`` holds every pass the checkpoints are deleted (they duplicate it),
    unless ``keep_checkpoints``. A folder holding another mission's run is refused
    (:class:`InputError`) unless ``force``, which clears that run's outputs first.
    The calling process (and every worker) keeps freed memory for reuse afterwards
    (:func:`satqkd.mission.execute.tune_allocator`, glibc only).
    """
    plan = (mission if isinstance(mission, MissionPlan)
            else plan_mission(mission, workers=workers if scheduler is None else 1))
    out = Path(out_dir) if out_dir is not None else default_out_dir(plan.cfg)
    # one run per folder (satqkd.mission.guard); what is left open is closed on any exit
    with guard.out_dir_lock(out, "run"), contextlib.ExitStack() as exit_stack:
        return _run_locked(plan, out, progress, workers, scheduler, resume,
                           keep_checkpoints, force, exit_stack)


def _run_locked(plan: MissionPlan, out: Path, progress: Progress | None, workers: int,
                scheduler: str | None, resume: bool, keep_checkpoints: bool,
                force: bool, exit_stack: contextlib.ExitStack) -> Path:
    """:func:`run_mission` once the output folder is held."""
    cfg = plan.cfg
    store.claim_out_dir(out, cfg.mission.name, force)
    out.mkdir(parents=True, exist_ok=True)
    sha = config.config_hash(cfg)
    if resume:
        guard.check_resume(out, sha)

    tune_allocator()  # this process simulates the passes when there are no workers
    # The mission stage's two seams: the link (geometry -> transmittance and noise) and
    # the protocol (transmittance and noise -> counts and keys), composed here.
    link = links.link_for(cfg)
    protocol = protocols.protocol_for(cfg, link)
    # Workers start and load their compiled kernels while the orbit stage runs here.
    with open_executor(workers, scheduler, warm_up=protocol.warm_up(cfg)) as executor:
        store.remove_stale_temporaries(out)
        done = store.finished_passes(out, sha) if resume else set()
        if not resume and (out / store.CHECKPOINT_DIR).is_dir():
            store.forget_records(out)
            shutil.rmtree(out / store.CHECKPOINT_DIR)
        journal = store.new_journal()  # this run's checkpoint journals (one per process)
        # no key file (nor index row) of an earlier run survives: only the resumed passes'
        remove_keys(out / "keys", keep=done if resume else None)
        shutil.rmtree(out / "relay_keys", ignore_errors=True)  # a relay rewrites them
        n_done = 0
        n_total = len(plan.passes)  # a first estimate: one task per pass
        nc_attrs = {
            "title": f"satqkd mission {cfg.mission.name}",
            "source": f"satqkd {satqkd.__version__}",
            "history": f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} satqkd "
                       f"{satqkd.__version__}: run {plan.path.name}",
            "mission": cfg.mission.name,
            "config_sha256": sha,
            "step_s": cfg.mission.step_s,
            "finite_key_block": str(cfg.keys.block),
            "fidelity": cfg.mission.fidelity,
        }
        intensities = [list(link.ends(sat, st).source.intensities)  # the sending ends' sources
                       for sat in cfg.satellites for st in cfg.stations]
        merge_progress = (lambda d, t: progress("merge", d, t)) if progress else None
        # passes.nc written while the passes run, when the protocol knows its layout
        layout = protocol.layout(plan)
        writer = (store.PassesWriter(out, out / "passes.nc", layout[0], nc_attrs, layout[1],
                                     intensities, merge_progress)
                  if layout is not None else None)
        exit_stack.callback(lambda: writer.close() if writer is not None else None)
        if writer is not None and done:
            for pid, rec in store.checkpoint_index(out).items():
                if pid in done:
                    writer.add(pid, rec)

        def finished(result: EncodedPass) -> None:
            nonlocal n_done
            if result.reconciled is not None:  # before the checkpoint: resume needs both
                blocks.write_reconciled(out, result.pass_id, result.reconciled)
            if cfg.keys.write_keys and result.key_bits > 0:
                write_keys(out / "keys", result.pass_id, result.alice_key, result.bob_key,
                           result.key_bits)
            record = None
            if result.checkpoint is not None:  # else the worker appended it
                record = store.write_checkpoint_bytes(out, result.pass_id, result.checkpoint,
                                                      journal, result.header)
            elif result.location is not None:  # closing and merging need not read it again
                record = store.remember_checkpoint(*result.location, *result.header)
            if writer is not None and record is not None:
                writer.add(result.pass_id, record)
            n_done += 1
            if progress:
                progress("passes", min(n_done, max(n_total - 1, 0)), n_total)

        simulate = functools.partial(simulate_encoded, protocol.simulate, sha,
                                     out_dir=str(out) if executor.local else None,
                                     keep_keys=cfg.keys.write_keys, journal=journal)
        t0 = time.perf_counter()
        if progress:
            progress("passes", 0, n_total)
        if executor.client is None:
            # This machine (serially, or on forked workers): each worker takes a run of
            # passes, computes their geometry (exactly that of all passes at once:
            # independent_chunks), makes their tasks and simulates them; runs are handed
            # out as workers free up, so they finish together.
            runs = independent_chunks(plan.passes, _RUNS_PER_WORKER * executor.n_workers)
            job = functools.partial(_simulate_run, plan, protocol, done, simulate)
            run_ids: list[list[str]] = [[] for _ in runs]
            geometry_s = 0.0
            if progress:
                progress("geometry", 0, len(runs))
            for n, (k, r_ids, results, seconds) in enumerate(
                    executor.imap_unordered(job, list(enumerate(runs)))):
                run_ids[k] = r_ids
                geometry_s += seconds
                if progress:
                    progress("geometry", n + 1, len(runs))
                n_done += len(r_ids) - len(results)  # resumed passes
                for result in results:
                    finished(result)
                if writer is not None:
                    writer.advance()  # the merge overlaps the simulation
            ids = [i for r in run_ids for i in r]
            plan.timings_s["geometry_in_workers"] = geometry_s
        else:
            # A Dask cluster: the geometry here, tasks shipped as packed arrays (an
            # element set does not travel), heaviest passes first.
            if progress:
                progress("geometry", 0, 1)
            geometry = pass_geometry(plan.passes, plan.stations, cfg.mission.step_s,
                                     cfg.mission.night_sun_elevation_deg)
            if progress:
                progress("geometry", 1, 1)
            ids, tasks = protocol.tasks(plan, geometry, done)
            del geometry
            n_total, n_done = len(ids), len(ids) - len(tasks)
            plan.timings_s["geometry"] = time.perf_counter() - t0
            costs = [protocol.cost(t) for t in tasks]
            order = sorted(range(len(tasks)), key=lambda i: -costs[i])
            executor.run(simulate, [tasks[i] for i in order], finished,
                         costs=[costs[i] for i in order])
        if progress:
            progress("passes", len(ids), len(ids))
        plan.timings_s["passes_simulated"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    overrides = protocol.close(out, cfg, ids)  # e.g. finite-key blocks across passes
    plan.timings_s["close"] = time.perf_counter() - t0
    if writer is None or writer.ids != ids:  # no layout known in advance (or another)
        if writer is not None:
            writer.close()
        writer = store.PassesWriter(out, out / "passes.nc", ids, nc_attrs,
                                    intensities=intensities, progress=merge_progress)
    rows = writer.finish(overrides)
    table = pd.DataFrame(rows, columns=list(rows[0]) if rows else PASSES_CSV_COLUMNS)
    with atomic_path(out / "passes.csv") as tmp:
        table[[c for c in PASSES_CSV_COLUMNS if c in table.columns]].to_csv(tmp, index=False)
    plan.timings_s["write"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    # From passes.nc, not the checkpoints (removed below): only the plotted passes' rows.
    # Forked processes draw them while the report is written (see satqkd.report.render).
    n_plots = min(cfg.report.pass_plots, len(ids))
    link_plots = None
    if n_plots:
        from satqkd.report.link_budget import link_budget_jobs
        from satqkd.report.render import Drawing

        if progress:
            progress("plots", 0, n_plots)
        with xr.open_dataset(out / "passes.nc", engine="h5netcdf") as merged:
            rows = int(merged["row_size"].values[:n_plots].sum())
            head = merged.isel({"pass": slice(0, n_plots), "sample": slice(0, rows)}).load()
        link_plots = Drawing(link_budget_jobs(head, ids[:n_plots], out / "plots"))
    plan.timings_s["plots"] = time.perf_counter() - t0

    epochs = {}
    for sat, _ in plan.satellites:
        used = sorted({p.element_set.source for p in plan.passes if p.norad_id == sat.norad_id})
        epochs[sat.name] = [
            {"epoch": es.epoch.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "source": es.source}
            for es in sat.element_sets if es.source in used
        ]
    write_json_atomic(out / "run.json", {
        "satqkd_version": satqkd.__version__,
        "mission": cfg.mission.name,
        "start": cfg.mission.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": cfg.mission.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "protocol": cfg.mission.protocol,
        "direction": link.direction,
        "fidelity": cfg.mission.fidelity,
        "satellites": [sat.name for sat, _ in plan.satellites],
        "stations": [{"name": s.name, "lat_deg": s.lat_deg, "lon_deg": s.lon_deg,
                      "alt_m": s.alt_m, "aperture_m": s.aperture_m} for s in cfg.stations],
        "mission_file": str(plan.path),
        "config_sha256": sha,
        "seed": cfg.mission.seed,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "n_passes": len(ids),
        "n_passes_resumed": len(done & set(ids)),
        "workers": workers if scheduler is None else scheduler,
        "tle_epochs_used": epochs,
        "warnings": plan.warning_summary,
        "security": blocks.security_totals(table, cfg),
        "timings_s": {k: round(v, 4) for k, v in plan.timings_s.items()},
    })
    if cfg.report.mission_report:
        t0 = time.perf_counter()
        from satqkd.report.mission_report import (
            OpenedOutput,
            mission_summary,
            open_mission_output,
            write_reports,
        )

        if progress:
            progress("report", 0, 2)
        with open_mission_output(out) as opened:  # passes.nc opened once for both
            opened = OpenedOutput(*opened)
            write_reports(out, opened=opened)
            if progress:
                progress("report", 1, 2)
            summary = mission_summary(opened)
        with atomic_path(out / "summary.nc") as tmp:
            cf.encode_summary(summary, history=f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} "
                              f"satqkd {satqkd.__version__}: run {plan.path.name}"
                              ).to_netcdf(tmp, engine="h5netcdf")
        link_plots = _finish_plots(link_plots, n_plots, progress)
        timings = {**plan.timings_s, "report": time.perf_counter() - t0}
        run_json = json.loads((out / "run.json").read_text())
        run_json["timings_s"] = {k: round(v, 4) for k, v in timings.items()}
        write_json_atomic(out / "run.json", run_json)
        if progress:
            progress("report", 2, 2)
    _finish_plots(link_plots, n_plots, progress)
    if not keep_checkpoints:  # the run is complete: passes.nc holds every pass
        store.forget_records(out)
        shutil.rmtree(out / store.CHECKPOINT_DIR, ignore_errors=True)
    return out


def _finish_plots(drawing, n_plots: int, progress: Progress | None) -> None:
    """Wait for the link-budget plots drawn in the background (if any); returns None, the
    drawing that is left to wait for."""
    if drawing is not None:
        drawing.results()
        if progress:
            progress("plots", n_plots, n_plots)


__all__ = ["MissionPlan", "PassTask", "pass_seed", "plan_mission", "passes_csv_table",
           "run_mission", "simulate_pass", "pass_link_budget", "PassOutput", "EncodedPass"]
