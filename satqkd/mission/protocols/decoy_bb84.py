"""Decoy-state BB84 on one link: the photon-level engine, then the keys stage.

Each pass: the link's per-second budget (sub-second fading if asked), the decoy-BB84
engine on every slot (:mod:`satqkd.engine.decoy`), then sifting, finite-key bounds,
error correction, verification and privacy amplification on the simulated bits
(:mod:`satqkd.keys`), or the counts-level law (``fidelity = "counts"``). With pooled
finite-key blocks the pass stops after error correction and the block is closed once
every pass is done (:mod:`satqkd.mission.blocks`). The link decides which end sends:
its source, and the other end's analyser and detectors, are the engine's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from satqkd import config
from satqkd.datasets import extend_dataset
from satqkd.engine.decoy import simulate_decoy_bb84
from satqkd.engine.events import empty_events
from satqkd.engine.params import channel_transmittance
from satqkd.keys.eve import eve_codes
from satqkd.keys.postprocess import process_sifted, reconcile_sifted, single_photon_trials
from satqkd.keys.sifting import concatenate_sifted, sift
from satqkd.mission import blocks, parameters
from satqkd.mission.execute import tune_allocator
from satqkd.mission.fidelity import counts_level_pass
from satqkd.mission.links import Link, idle_reason, link_for, pass_epoch_s, physical_loss_db
from satqkd.mission.protocols.base import Protocol, satellite_indices, station_indices
from satqkd.mission.seeds import aos_seconds, pass_seed
from satqkd.mission.tasks import PassOutput, PassTask, expected_cost
from satqkd.orbit.passes import sample_times
from satqkd.ragged import PassCutter

__all__ = ["DecoyBB84", "simulate_pass", "pass_link_budget", "ENGINE_CHUNK_DETECTIONS"]

_COUNT_DIMS = ("intensity", "alice_basis", "bob_basis", "error")

#: Detections the engine generates at once; a pass with more is simulated and sifted a
#: stretch of slots at a time, so memory stays bounded whatever the link.
ENGINE_CHUNK_DETECTIONS = 4_000_000


class DecoyBB84(Protocol):
    """Decoy-state BB84 (Lim et al. 2014 finite key), one task per pass."""

    names = ("decoy-bb84",)

    def tasks(self, plan, geometry: xr.Dataset, done: set[str]) -> tuple[list[str], list[PassTask]]:
        cfg = plan.cfg
        by_sat, by_station = satellite_indices(plan), station_indices(cfg)
        ids = [p.pass_id for p in plan.passes]
        cut = PassCutter(geometry)  # plain arrays: the Datasets are built in the workers
        tasks = [PassTask(cut.state(i), cfg, by_sat[p.satellite], by_station[p.station])
                 for i, p in enumerate(plan.passes) if p.pass_id not in done]
        return ids, tasks

    def layout(self, plan) -> tuple[list[str], list[int]]:
        # one task per pass, on the pass's own time axis (satqkd.orbit.passes.sample_times)
        step = plan.cfg.mission.step_s
        return ([p.pass_id for p in plan.passes],
                [sample_times(p, step).size for p in plan.passes])

    def cost(self, task: PassTask) -> float:
        return expected_cost(task, task.cfg.channel.operate_in_daylight)

    def warm_up(self, cfg: config.MissionConfig) -> Callable[[], None]:
        return functools.partial(warm_up, cfg, self.link)

    def close(self, out_dir: Path, cfg: config.MissionConfig, pass_ids: Sequence[str]
              ) -> dict[str, dict]:
        return blocks.close_blocks(out_dir, cfg, pass_ids, save_keys=cfg.keys.write_keys,
                                   link=self.link)

    def channel_stage(self, task: PassTask
                      ) -> tuple[xr.Dataset, tuple[np.random.SeedSequence, ...]]:
        """The pass's per-second link budget, and the seeds left for the engine and keys."""
        cfg = task.cfg
        station = cfg.stations[task.station_index]
        geo = task.geometry
        seed = pass_seed(cfg.mission.seed, geo.attrs["norad_id"], geo.attrs["station"],
                         aos_seconds(geo.attrs["aos"]))
        channel_seed, engine_seed, keys_seed = seed.spawn(3)
        fading_slot_s = cfg.channel.fading_slot_ms / 1000.0 if cfg.channel.fading_slot_ms else None
        ds = self.link.budget(cfg, cfg.satellites[task.satellite_index], station, geo,
                              np.random.default_rng(channel_seed), fading_slot_s=fading_slot_s)
        ds.attrs.update(geo.attrs)
        return ds, (engine_seed, keys_seed)

    def simulate(self, task: PassTask, per_second: bool = True) -> PassOutput:
        """Run one pass through the stages after the orbit (see the module docstring).

        ``per_second`` False: the result's dataset is the link budget alone (no counts per
        second), with the same pass scalars in its attrs: what a sweep keeps of a pass.
        """
        cfg = task.cfg
        sat = cfg.satellites[task.satellite_index]
        station = cfg.stations[task.station_index]
        ds, (engine_seed, keys_seed) = self.channel_stage(task)
        ends = self.link.ends(sat, station, pass_epoch_s(task.geometry))
        n = ds.sizes["time"]
        var = ds.variables  # plain arrays: DataArray construction costs more than this stage
        total_loss = physical_loss_db(ds)
        ds.attrs["min_loss_db"] = float(total_loss.min()) if n else np.nan
        ds.attrs["max_loss_db"] = float(total_loss.max()) if n else np.nan
        ds.attrs["clear_fraction"] = float(np.mean(var["cloud_clear"].values)) if n else np.nan

        source = parameters.decoy_source(sat, ends)
        receiver = parameters.engine_receiver(station, ends)
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
        kp = parameters.key_parameters(cfg, station, sat, ends)
        eve = parameters.eavesdropper(cfg, sat, station, ends)
        pooled = cfg.keys.block != "pass"
        reconciled = None
        operating = operating_s & (var["cloud_clear"].values > 0)
        if not operating.any():
            # Nobody runs QKD in daylight (night-only operation), while the satellite is
            # sunlit (shadow-only operation) or under full overcast.
            reason = ("too_short" if n == 0 else
                      idle_reason(ds) if not operating_s.any() else "overcast")
            counts = np.zeros((n, len(source.intensities), 2, 2, 2), dtype=np.int64)
            doubles = np.zeros((n, len(source.intensities)), dtype=np.int64)
            keys = process_sifted(sift(empty_events(), len(source.intensities)), source.intensities,
                                  source.probabilities, source.p_z, kp,
                                  np.random.default_rng(keys_seed))
            scalars = {**keys.scalars(), "abort_reason": reason}
        elif cfg.mission.fidelity == "counts":  # tallies from the exact law, no bits, no key
            counts, doubles, scalars, part = counts_level_pass(eta, noise, slot_s, source,
                                                               receiver, kp, engine_seed, pooled)
            if part is not None:  # the block's bound once every pass is done
                reconciled = blocks.encode_reconciled(part)
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
                scalars = {**blocks.pooled_scalars(part),
                           **blocks.pooled_eve_scalars(eve is not None, 0)}
                reconciled = blocks.encode_reconciled(part)
                keys = None
            else:
                keys = process_sifted(sifted_key, source.intensities, source.probabilities,
                                      source.p_z, kp, np.random.default_rng(keys_seed),
                                      pulses_sent=pulses)
                scalars = keys.scalars()
        sifted = counts[:, :, [0, 1], [0, 1], :]  # (time, intensity, basis, error)
        ds = ds if not per_second else extend_dataset(ds, {  # no merge: one time axis
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
        }, copy=False)  # the link budget's dataset is this pass's own
        ds.attrs.update(scalars)
        ds.attrs["detections"] = int(counts.sum())
        ds.attrs["qber"] = scalars["qber_z"] if np.isfinite(scalars["qber_z"]) else scalars["qber_x"]
        if keys is None:
            empty = np.zeros(0, np.uint8)
            return PassOutput(ds, empty, empty, 0, reconciled)
        return PassOutput(ds, keys.alice_key, keys.bob_key, keys.secret_bits)


def simulate_pass(task: PassTask, per_second: bool = True) -> PassOutput:
    """Run one decoy-BB84 pass on the mission's link (:meth:`DecoyBB84.simulate`)."""
    return DecoyBB84(link_for(task.cfg)).simulate(task, per_second)


def pass_link_budget(task: PassTask) -> xr.Dataset:
    """The channel stage of :func:`simulate_pass` alone (same random stream)."""
    return DecoyBB84(link_for(task.cfg)).channel_stage(task)[0]


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


def warm_up(cfg: config.MissionConfig, link: Link | None = None) -> None:
    """Run a few seconds of a synthetic pass through every stage, in this process.

    Loads the compiled (cached) numba kernels before the first real pass, so a worker
    does it while the main process is still computing the orbit stage. Never raises:
    it only saves time.
    """
    from satqkd.channel.synthetic import synthetic_pass

    tune_allocator()
    try:
        link = link if link is not None else link_for(cfg)
        st, sat = cfg.stations[0], cfg.satellites[0]
        geo = synthetic_pass(min_range_km=1150.0, max_range_km=1200.0, station=st.name,
                             station_alt_m=st.alt_m)
        geo.attrs.update(norad_id=0, station=st.name, pass_id="warm-up",
                         aos=str(geo["time"].values[0]) + "Z")
        # the channel stage (weather may stop here)
        DecoyBB84(link).simulate(PassTask(geo, cfg, 0, 0))
        if cfg.mission.fidelity == "counts":
            return  # no numba kernel to load
        # ~2e6 detections straight into the engine and keys stages, whatever the weather
        ends = link.ends(sat, st)
        source = parameters.decoy_source(sat, ends)
        _, _, sifted, pulses = _run_engine(
            np.full(20, 2e-2), np.full(20, 1e-6), 0.1, source,
            parameters.engine_receiver(st, ends), parameters.eavesdropper(cfg, sat, st, ends),
            np.random.SeedSequence(0))
        process_sifted(sifted, source.intensities, source.probabilities, source.p_z,
                       parameters.key_parameters(cfg), np.random.default_rng(0), pulses_sent=pulses)
    except Exception:  # noqa: BLE001 - a failed warm-up costs only the time it saves
        pass
