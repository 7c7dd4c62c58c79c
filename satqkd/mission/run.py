"""Run a mission: passes, per-second geometry, outputs (``satqkd run``)."""

from __future__ import annotations

import functools
import json
import math
import shutil
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import xarray as xr

import satqkd
from satqkd import config, notices
from satqkd.channel.clouds import monthly_clear_probability
from satqkd.channel.link_budget import link_budget
from satqkd.mission.entangled import physical_loss_db
from satqkd.errors import InputError
from satqkd.engine.decoy import simulate_decoy_bb84
from satqkd.engine.events import empty_events
from satqkd.engine.params import channel_transmittance
from satqkd.keys.eve import eve_codes
from satqkd.keys.postprocess import (process_sifted, reconcile_sifted, remove_keys,
                                     single_photon_trials, write_keys)
from satqkd.keys.sifting import concatenate_sifted, sift
from satqkd.mission import blocks, cf, guard, parameters, store
from satqkd.mission.seeds import aos_seconds as _aos_seconds
from satqkd.mission.seeds import pass_seed
from satqkd.mission.execute import open_executor, tune_allocator
from satqkd.mission.fidelity import counts_level_pass
from satqkd.mission.io import atomic_path, write_json_atomic
from satqkd.mission.setup import build_satellites, build_stations
from satqkd.orbit.passes import Pass, find_passes, pass_geometry, pass_table
from satqkd.orbit.satellite import Satellite
from satqkd.paths import child, slug
from satqkd.orbit.stations import GroundStation
from satqkd.ragged import pass_from_ragged

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
                 progress: Progress | None = None) -> MissionPlan:
    """Read a mission (file or mapping, with ``section.key=value`` overrides) and find
    every pass of every satellite over every station (stage ``orbit`` of ``progress``)."""
    path = Path(config.DICT_SOURCE) if isinstance(source, Mapping) else Path(source)
    t0 = time.perf_counter()
    cfg = config.load_mission(source, overrides)
    _check_station_weather(cfg, path)
    sats = build_satellites(cfg, path)
    stations = build_stations(cfg)
    start, end = cfg.mission.start.timestamp(), cfg.mission.end.timestamp()
    passes: list[Pass] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k, (sat, sat_cfg) in enumerate(sats):
            if progress:
                progress("orbit", k, len(sats))
            try:
                passes.extend(find_passes(sat, stations, start, end,
                                          cfg.mission.min_elevation_deg))
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


def _expected_cost(task, daylight_ok: bool) -> float:
    """A cheap proxy of a pass's simulation cost: operating seconds weighted by elevation."""
    geo = task.geometry if hasattr(task, "geometry") else task.geometry_a
    if geo.sizes["time"] == 0:
        return 0.0
    on = np.ones(geo.sizes["time"], bool) if daylight_ok else geo["night"].values.astype(bool)
    return float(np.sum(np.sin(np.radians(np.clip(geo["elevation"].values[on], 0.0, 90.0)))))


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


def passes_csv_table(plan: "MissionPlan") -> pd.DataFrame:
    """The ``passes.csv`` columns known after the orbit stage."""
    table = pass_table(plan.passes, plan.stations)
    return table[[c for c in PASSES_CSV_COLUMNS if c in table.columns]]


def default_out_dir(cfg: config.MissionConfig) -> Path:
    return Path("outputs") / cfg.mission.name


@dataclass(frozen=True)
class PassTask:
    """Everything one pass needs, picklable for a worker process."""

    geometry: xr.Dataset  # per-pass geometry, dim "time", pass scalars as attrs
    cfg: config.MissionConfig
    satellite_index: int  # into cfg.satellites
    station_index: int  # into cfg.stations


@dataclass
class PassOutput:
    """One simulated pass: the per-second dataset (scalars in attrs) and the final keys."""

    dataset: xr.Dataset
    alice_key: np.ndarray  # np.packbits of the final key
    bob_key: np.ndarray
    key_bits: int
    reconciled: bytes | None = None  # pooled block: the pass's reconciled keys (blocks.py)


_COUNT_DIMS = ("intensity", "alice_basis", "bob_basis", "error")


@dataclass
class EncodedPass:
    """A pass as a worker hands it back: its checkpoint bytes and its keys.

    Encoding in the worker keeps the main process, which only writes files, light.
    """

    pass_id: str
    checkpoint: bytes
    alice_key: np.ndarray
    bob_key: np.ndarray
    key_bits: int
    reconciled: bytes | None = None


def simulate_encoded(simulate: Callable, config_sha256: str, task) -> EncodedPass:
    """``simulate(task)``, with the result encoded as its checkpoint file."""
    r = simulate(task)
    pid = r.dataset.attrs.get("pass_id", getattr(task, "window_id", ""))
    return EncodedPass(pid, store.encode_checkpoint(r.dataset, config_sha256),
                       r.alice_key, r.bob_key, r.key_bits, r.reconciled)


def _channel_stage(task: PassTask) -> tuple[xr.Dataset, tuple[np.random.SeedSequence, ...]]:
    """The pass's per-second link budget, and the seeds left for the engine and keys."""
    cfg = task.cfg
    station = cfg.stations[task.station_index]
    geo = task.geometry
    seed = pass_seed(cfg.mission.seed, geo.attrs["norad_id"], geo.attrs["station"],
                     _aos_seconds(geo.attrs["aos"]))
    channel_seed, engine_seed, keys_seed = seed.spawn(3)
    link = parameters.link_parameters(cfg, cfg.satellites[task.satellite_index], station)
    fading_slot_s = cfg.channel.fading_slot_ms / 1000.0 if cfg.channel.fading_slot_ms else None
    ds = link_budget(geo, link, np.random.default_rng(channel_seed),
                     cloud_series=station.clouds.file, fading_slot_s=fading_slot_s,
                     # one weather chain per station over the mission (same on every worker)
                     cloud_chain=(cfg.mission.seed, cfg.mission.start.timestamp(),
                                  cfg.mission.end.timestamp()))
    ds.attrs.update(geo.attrs)
    return ds, (engine_seed, keys_seed)


def pass_link_budget(task: PassTask) -> xr.Dataset:
    """The channel stage of :func:`simulate_pass` alone (same random stream)."""
    return _channel_stage(task)[0]


def simulate_pass(task: PassTask) -> PassOutput:
    """Run one pass through the stages after the orbit.

    Channel (per-second link budget, sub-second fading if asked), the photon-level
    decoy-BB84 engine on every slot, then sifting, finite-key bounds, error correction,
    verification and privacy amplification on the simulated bits.
    """
    cfg = task.cfg
    sat = cfg.satellites[task.satellite_index]
    station = cfg.stations[task.station_index]
    ds, (engine_seed, keys_seed) = _channel_stage(task)
    n = ds.sizes["time"]
    var = ds.variables  # plain arrays: DataArray construction costs more than this stage
    total_loss = physical_loss_db(ds)
    ds.attrs["min_loss_db"] = float(total_loss.min()) if n else np.nan
    ds.attrs["max_loss_db"] = float(total_loss.max()) if n else np.nan
    ds.attrs["clear_fraction"] = float(np.mean(var["cloud_clear"].values)) if n else np.nan

    source = parameters.decoy_source(sat)
    receiver = parameters.engine_receiver(station)
    eta = channel_transmittance(var["transmittance"].values, receiver)
    operating_s = var["operating"].values
    # Seconds the link does not operate (daylight at night-only operation): detectors off.
    noise = np.where(operating_s, var["noise_probability"].values, 0.0)
    step = cfg.mission.step_s
    if "fading" in ds:  # sub-second slots: the engine sees every fading sample
        sub = ds.sizes["subslot"]
        eta = (eta[:, None] * var["fading"].values).ravel()
        noise = np.repeat(noise, sub)
        slot_s = step / sub
    else:
        sub, slot_s = 1, step
    kp = parameters.key_parameters(cfg, station, sat)
    eve = parameters.eavesdropper(cfg, sat, station)
    pooled = cfg.keys.block != "pass"
    reconciled = None
    operating = operating_s & (var["cloud_clear"].values > 0)
    if not operating.any():
        # Nobody runs QKD in daylight (night-only operation) or under full overcast.
        reason = ("too_short" if n == 0 else
                  "daylight" if not operating_s.any() else "overcast")
        counts = np.zeros((n, len(source.intensities), 2, 2, 2), dtype=np.int64)
        doubles = np.zeros((n, len(source.intensities)), dtype=np.int64)
        keys = process_sifted(sift(empty_events(), len(source.intensities)), source.intensities, source.probabilities,
                              source.p_z, kp, np.random.default_rng(keys_seed))
        scalars = {**keys.scalars(), "abort_reason": reason}
    elif cfg.mission.fidelity == "counts":  # tallies from the exact law, no bits, no key
        counts, doubles, scalars = counts_level_pass(eta, noise, slot_s, source, receiver, kp,
                                                     engine_seed)
        counts = counts.reshape((n, sub) + counts.shape[1:]).sum(axis=1)
        doubles = doubles.reshape((n, sub, -1)).sum(axis=1)
        keys = None
    else:
        counts, doubles, sifted_key, pulses = _run_engine(
            eta, noise, slot_s, source, receiver, eve, engine_seed)
        counts = counts.reshape((n, sub) + counts.shape[1:]).sum(axis=1)
        doubles = doubles.reshape((n, sub, -1)).sum(axis=1)
        if pooled:  # error correction now; parameter estimation and PA when the block closes
            part = reconcile_sifted(sifted_key, kp, np.random.default_rng(keys_seed),
                                    single_photon_trials(source.intensities,
                                                         source.probabilities, source.p_z,
                                                         kp, pulses))
            scalars = {**blocks.pooled_scalars(part), **blocks.pooled_eve_scalars(eve is not None, 0)}
            reconciled = blocks.encode_reconciled(part)
            keys = None
        else:
            keys = process_sifted(sifted_key, source.intensities, source.probabilities,
                                  source.p_z, kp, np.random.default_rng(keys_seed),
                                  pulses_sent=pulses)
            scalars = keys.scalars()
    sifted = counts[:, :, [0, 1], [0, 1], :]  # (time, intensity, basis, error)
    attrs = dict(ds.attrs)
    ds = ds.assign({  # one merge: each separate assignment costs ~1 ms
        "counts": (("time",) + _COUNT_DIMS, counts, {
            "units": "1", "long_name": "detections by intensity, Alice basis, Bob basis, error"}),
        "double_clicks": (("time", "intensity"), doubles, {
            "units": "1", "long_name": "double clicks (squashed to a random bit)"}),
        "sifted_counts": ("time", sifted.sum(axis=(1, 2, 3)), {
            "units": "1", "long_name": "sifted detections (bases agree), both bases"}),
        "sifted_errors": ("time", sifted[..., 1].sum(axis=(1, 2)), {
            "units": "1", "long_name": "sifted detections with an error, both bases"}),
        "key_counts": ("time", sifted[:, :, 0, :].sum(axis=(1, 2)), {
            "units": "1", "long_name": "sifted Z-basis (key) detections"}),
    })
    ds.attrs = attrs
    ds.attrs.update(scalars)
    ds.attrs["detections"] = int(counts.sum())
    ds.attrs["qber"] = scalars["qber_z"] if np.isfinite(scalars["qber_z"]) else scalars["qber_x"]
    if keys is None:
        empty = np.zeros(0, np.uint8)
        return PassOutput(ds, empty, empty, 0, reconciled)
    return PassOutput(ds, keys.alice_key, keys.bob_key, keys.secret_bits)


#: Detections the engine generates at once; a pass with more is simulated and sifted a
#: stretch of slots at a time, so memory stays bounded whatever the link.
ENGINE_CHUNK_DETECTIONS = 4_000_000


def _run_engine(eta, noise, slot_s, source, receiver, eve, seed: np.random.SeedSequence):
    """Engine + sifting over the pass, in stretches of at most ~ENGINE_CHUNK_DETECTIONS.

    Stretch boundaries follow from the expected click count (a function of the channel
    only), and each stretch has its own child seed, so a pass is reproducible. Dead time
    and afterpulsing do not carry across a boundary (nanoseconds against seconds).
    """
    mean_mu = float(np.dot(source.intensities, source.probabilities))
    expected = source.rate_hz * slot_s * (mean_mu * eta * receiver.mean_efficiency + 4 * noise)
    edges = [0]
    acc = peak = 0.0
    for i, e in enumerate(expected):
        if acc > 0 and acc + e > ENGINE_CHUNK_DETECTIONS:
            edges.append(i)
            acc = 0.0
        acc += e
        peak = max(peak, acc)
    edges.append(eta.size)
    seeds = seed.spawn(len(edges) - 1)
    # PNS: Eve's knowledge needs each event's photon number (only under that attack)
    record_n = eve is not None and eve.kind == "pns"
    # One events buffer for every stretch: a fresh one each time costs page faults and
    # kernel zero-filling. Its pages are mapped lazily, so the slack costs no memory.
    buf = empty_events(int(1.25 * peak + 10.0 * math.sqrt(peak) + 4096))
    counts, doubles, parts, pulses = [], [], [], 0
    for (a, b), s in zip(zip(edges[:-1], edges[1:]), seeds):
        r = simulate_decoy_bb84(eta[a:b], noise[a:b], slot_s, source, receiver,
                                np.random.default_rng(s), eavesdropper=eve, events_out=buf,
                                record_photon_number=record_n)
        counts.append(r.counts)
        doubles.append(r.double_clicks)
        codes = eve_codes(r.eve_bit, r.eve_knows) if r.eve_bit is not None else None
        parts.append(sift(r.events, len(source.intensities), codes))
        pulses += int(r.n_pulses.sum())
        del r
    del buf  # before the pass's key arrays are joined: a lower peak of memory
    return (np.concatenate(counts), np.concatenate(doubles), concatenate_sifted(parts), pulses)


def warm_up(cfg: config.MissionConfig) -> None:
    """Run a few seconds of a synthetic pass through every stage, in this process.

    Loads the compiled (cached) numba kernels before the first real pass, so a worker
    does it while the main process is still computing the orbit stage. Never raises:
    it only saves time.
    """
    from satqkd.channel.synthetic import synthetic_pass

    tune_allocator()
    try:
        st = cfg.stations[0]
        geo = synthetic_pass(min_range_km=1150.0, max_range_km=1200.0, station=st.name,
                             station_alt_m=st.alt_m)
        geo.attrs.update(norad_id=0, station=st.name, pass_id="warm-up",
                         aos=str(geo["time"].values[0]) + "Z")
        simulate_pass(PassTask(geo, cfg, 0, 0))  # the channel stage (weather may stop here)
        if cfg.mission.fidelity == "counts":
            return  # no numba kernel to load
        # ~2e6 detections straight into the engine and keys stages, whatever the weather
        source = parameters.decoy_source(cfg.satellites[0])
        _, _, sifted, pulses = _run_engine(
            np.full(20, 2e-2), np.full(20, 1e-6), 0.1, source, parameters.engine_receiver(st),
            parameters.eavesdropper(cfg, cfg.satellites[0], st), np.random.SeedSequence(0))
        process_sifted(sifted, source.intensities, source.probabilities, source.p_z,
                       parameters.key_parameters(cfg), np.random.default_rng(0), pulses_sent=pulses)
    except Exception:  # noqa: BLE001 - a failed warm-up costs only the time it saves
        pass


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
    plan = mission if isinstance(mission, MissionPlan) else plan_mission(mission)
    out = Path(out_dir) if out_dir is not None else default_out_dir(plan.cfg)
    with guard.out_dir_lock(out, "run"):  # one run per folder (satqkd.mission.guard)
        return _run_locked(plan, out, progress, workers, scheduler, resume,
                           keep_checkpoints, force)


def _run_locked(plan: MissionPlan, out: Path, progress: Progress | None, workers: int,
                scheduler: str | None, resume: bool, keep_checkpoints: bool,
                force: bool) -> Path:
    """:func:`run_mission` once the output folder is held."""
    cfg = plan.cfg
    store.claim_out_dir(out, cfg.mission.name, force)
    out.mkdir(parents=True, exist_ok=True)
    sha = config.config_hash(cfg)
    if resume:
        guard.check_resume(out, sha)

    tune_allocator()  # this process simulates the passes when there are no workers
    # Workers start and load their compiled kernels while the orbit stage runs here.
    warm = functools.partial(warm_up, cfg) if cfg.mission.protocol == "decoy-bb84" else None
    with open_executor(workers, scheduler, warm_up=warm) as executor:
        t0 = time.perf_counter()
        if progress:
            progress("geometry", 0, 1)
        geometry = pass_geometry(plan.passes, plan.stations, cfg.mission.step_s,
                                 cfg.mission.night_sun_elevation_deg)
        plan.timings_s["geometry"] = time.perf_counter() - t0
        if progress:
            progress("geometry", 1, 1)

        store.remove_stale_temporaries(out)
        done = store.finished_passes(out, sha) if resume else set()
        if not resume and (out / store.CHECKPOINT_DIR).is_dir():
            shutil.rmtree(out / store.CHECKPOINT_DIR)
        # no key file (nor index row) of an earlier run survives: only the resumed passes'
        remove_keys(out / "keys", keep=done if resume else None)
        shutil.rmtree(out / "relay_keys", ignore_errors=True)  # a relay rewrites them
        sat_index = {sat.name: i for i, (sat, _) in enumerate(plan.satellites)}
        cfg_sat_index = {id(c): i for i, c in enumerate(cfg.satellites)}
        station_index = {s.name: i for i, s in enumerate(cfg.stations)}
        if cfg.mission.protocol == "decoy-bb84":
            simulate = simulate_pass
            all_tasks = [(p.pass_id, i, p) for i, p in enumerate(plan.passes)]
            tasks = [PassTask(pass_from_ragged(geometry, i), cfg,
                              cfg_sat_index[id(plan.satellites[sat_index[p.satellite]][1])],
                              station_index[p.station])
                     for pid, i, p in all_tasks if pid not in done]
            ids = [pid for pid, _, _ in all_tasks]
        else:
            from satqkd.mission.entangled import simulate_window, window_tasks

            simulate = simulate_window
            by_sat = {sat.name: cfg_sat_index[id(c)] for sat, c in plan.satellites}
            windows = window_tasks(plan, geometry, by_sat, station_index)
            ids = [w.window_id for w in windows]
            tasks = [w for w in windows if w.window_id not in done]
        n_total = len(ids)
        n_done = n_total - len(tasks)
        if progress:
            progress("passes", n_done, n_total)

        t0 = time.perf_counter()

        def finished(result: EncodedPass) -> None:
            nonlocal n_done
            if result.reconciled is not None:  # before the checkpoint: resume needs both
                blocks.write_reconciled(out, result.pass_id, result.reconciled)
            if cfg.keys.write_keys and result.key_bits > 0:
                write_keys(out / "keys", result.pass_id, result.alice_key, result.bob_key,
                           result.key_bits)
            store.write_checkpoint_bytes(out, result.pass_id, result.checkpoint)
            n_done += 1
            if progress:
                progress("passes", n_done, n_total)

        # Heaviest passes first (long night passes high in the sky), so that workers
        # finish together; the order does not change any result (each pass has its seed).
        costs = [_expected_cost(t, cfg.channel.operate_in_daylight) for t in tasks]
        if workers > 1 or scheduler is not None:
            order = sorted(range(len(tasks)), key=lambda i: -costs[i])
            tasks, costs = [tasks[i] for i in order], [costs[i] for i in order]
        executor.run(functools.partial(simulate_encoded, simulate, sha), tasks, finished,
                     costs=costs)
        plan.timings_s["passes_simulated"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    overrides = None
    if cfg.mission.protocol == "decoy-bb84":
        overrides = blocks.close_blocks(out, cfg, ids, save_keys=cfg.keys.write_keys)
        plan.timings_s["blocks"] = time.perf_counter() - t0
    rows = store.merge_checkpoints(out, ids, out / "passes.nc", {
        "title": f"satqkd mission {cfg.mission.name}",
        "source": f"satqkd {satqkd.__version__}",
        "history": f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} satqkd "
                   f"{satqkd.__version__}: run {plan.path.name}",
        "mission": cfg.mission.name,
        "config_sha256": sha,
        "step_s": cfg.mission.step_s,
        "finite_key_block": str(cfg.keys.block),
        "fidelity": cfg.mission.fidelity,
    }, intensities=[list(s.source.intensities) for s in cfg.satellites],
        progress=(lambda done, total: progress("merge", done, total)) if progress else None,
        overrides=overrides)
    table = pd.DataFrame(rows, columns=list(rows[0]) if rows else PASSES_CSV_COLUMNS)
    with atomic_path(out / "passes.csv") as tmp:
        table[[c for c in PASSES_CSV_COLUMNS if c in table.columns]].to_csv(tmp, index=False)
    plan.timings_s["write"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    from satqkd.report.link_budget import plot_link_budget

    # From passes.nc, not the checkpoints (removed below): only the plotted passes' rows.
    n_plots = min(cfg.report.pass_plots, len(ids))
    with xr.open_dataset(out / "passes.nc", engine="h5netcdf") as merged:
        rows = int(merged["row_size"].values[:n_plots].sum())
        head = merged.isel({"pass": slice(0, n_plots), "sample": slice(0, rows)}).load()
    for i, pid in enumerate(ids[:n_plots]):
        if progress:
            progress("plots", i, n_plots)
        ds = pass_from_ragged(head, i)
        if ds.sizes["time"]:
            plot_link_budget(ds, child(out / "plots", f"{slug(pid)}_link_budget.png"))
    if progress and n_plots:
        progress("plots", n_plots, n_plots)
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
        from satqkd.report.mission_report import mission_summary, write_reports

        if progress:
            progress("report", 0, 2)
        write_reports(out)
        if progress:
            progress("report", 1, 2)
        with atomic_path(out / "summary.nc") as tmp:
            cf.encode_summary(mission_summary(out), history=f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} "
                              f"satqkd {satqkd.__version__}: run {plan.path.name}"
                              ).to_netcdf(tmp, engine="h5netcdf")
        timings = {**plan.timings_s, "report": time.perf_counter() - t0}
        run_json = json.loads((out / "run.json").read_text())
        run_json["timings_s"] = {k: round(v, 4) for k, v in timings.items()}
        write_json_atomic(out / "run.json", run_json)
        if progress:
            progress("report", 2, 2)
    if not keep_checkpoints:  # the run is complete: passes.nc holds every pass
        shutil.rmtree(out / store.CHECKPOINT_DIR, ignore_errors=True)
    return out


__all__ = ["MissionPlan", "PassTask", "pass_seed", "plan_mission", "passes_csv_table",
           "run_mission", "simulate_pass", "pass_link_budget", "PassOutput"]
