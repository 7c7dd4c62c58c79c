"""Entanglement-based passes (protocols ``bbm92`` and ``e91``) of a mission.

A dual downlink runs during each common-visibility window of a station pair: the link
budget of each station's pass is cut to the window, the pair engine
(:mod:`satqkd.engine.pairs`) draws both stations' time tags and finds coincidences,
then CHSH (E91), BBM92 sifting and the keys stage's Cascade, verification and Toeplitz
privacy amplification run on the coincidence bits (:mod:`satqkd.keys.bbm92`). A single
downlink runs on every pass of every station, the partner photon measured on board.
The pair source is on the satellite, so these protocols run on downlinks only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from satqkd import config
from satqkd.paths import slug
from satqkd.engine.pairs import (
    PairEavesdropper,
    PairReceiver,
    PairSource,
    bbm92_flips,
    chsh,
    chsh_signs,
    dual_downlink_pass,
    ideal_correlations,
    sift_bbm92,
    single_downlink_pass,
)
from satqkd.keys.bbm92 import BBM92Parameters, process_bbm92
from satqkd.mission.links import Link, idle_reason, link_for, pass_epoch_s, physical_loss_db
from satqkd.mission.parameters import Ends
from satqkd.mission.protocols.base import Protocol, satellite_indices, station_indices
from satqkd.mission.seeds import aos_seconds, pass_seed
from satqkd.mission.tasks import PassOutput, expected_cost
from satqkd.orbit.passes import Pass, common_windows, iso_utc, to_datetime64
from satqkd.ragged import PassCutter

__all__ = ["Entangled", "WindowTask", "window_tasks", "simulate_window"]

#: Analyser angles (deg) per protocol and side: BBM92 Z/X; Ekert's three settings
#: (Ekert, PRL 67, 661 (1991), polariser form); the two-setting CHSH test.
SETTINGS = {
    "bbm92": ((0.0, 45.0), (0.0, 45.0)),
    "e91": ((0.0, 22.5, 45.0), (0.0, 22.5, -22.5)),
    "chsh": ((0.0, 45.0), (22.5, 67.5)),
}
#: Settings pairs (side A, side B) giving key, test bits, and the CHSH combination.
KEY, TEST = (0, 0), (1, 1)
CHSH_SETTINGS = {"e91": ((0, 2), (1, 2)), "chsh": ((0, 1), (0, 1))}
ABORT_BELL_ONLY = "bell_test_only"  # CHSH settings: a Bell test, no key

_KEEP = ("elevation", "azimuth", "range", "loss_geometric", "loss_pointing", "loss_atmosphere",
         "loss_turbulence", "loss_cloud", "loss_receiver", "loss_implementation", "transmittance", "background_rate",
         "cloud_clear", "operating", "night")


@dataclass(frozen=True)
class WindowTask:
    """One entangled pass: a dual-downlink window (two stations) or a single downlink."""

    window_id: str
    geometry_a: xr.Dataset
    geometry_b: xr.Dataset | None  # None: single downlink, partner photon on board
    cfg: config.MissionConfig
    satellite_index: int
    station_a_index: int
    station_b_index: int | None


def window_tasks(plan, geometry: xr.Dataset, sat_cfg_index: dict, station_index: dict
                 ) -> list[WindowTask]:
    """The entangled passes of a mission plan, in time order."""
    cfg = plan.cfg
    index_of = {id(p): i for i, p in enumerate(plan.passes)}
    cut = PassCutter(geometry)  # the bookkeeping once, not once per pass
    tasks = []
    if cfg.entanglement.mode == "single-downlink":
        for i, p in enumerate(plan.passes):
            g = cut.dataset(i)
            tasks.append(WindowTask(p.pass_id, g, None, cfg, sat_cfg_index[p.satellite],
                                    station_index[p.station], None))
        return tasks
    for a, b in cfg.entanglement.pairs:
        pa = [p for p in plan.passes if p.station == a]
        pb = [p for p in plan.passes if p.station == b]
        for pass_a, pass_b, t0, t1 in common_windows(pa, pb):
            ga = _cut(cut.dataset(index_of[id(pass_a)]), t0, t1)
            gb = _cut(cut.dataset(index_of[id(pass_b)]), t0, t1)
            if ga.sizes["time"] == 0:
                continue
            stamp = str(to_datetime64(math.floor(t0)).astype("datetime64[s]"))
            # a safe file name: "a+b" as satqkd.paths.slug spells it ("+" is not one)
            wid = f"{pass_a.norad_id}_{slug(a + '+' + b)}_{stamp.replace('-', '').replace(':', '')}"
            ga.attrs.update(_window_attrs(pass_a, pass_b, a, b, t0, t1, ga))
            tasks.append(WindowTask(wid, ga, gb, cfg, sat_cfg_index[pass_a.satellite],
                                    station_index[a], station_index[b]))
    tasks.sort(key=lambda t: t.geometry_a.attrs["aos"])
    return tasks


def _cut(ds: xr.Dataset, t0: float, t1: float) -> xr.Dataset:
    t = ds["time"].values.astype("datetime64[ns]").astype(np.int64) / 1e9
    out = ds.isel(time=np.flatnonzero((t >= t0) & (t <= t1)))
    out.attrs = dict(ds.attrs)
    return out


def _window_attrs(pa: Pass, pb: Pass, a: str, b: str, t0: float, t1: float,
                  ga: xr.Dataset) -> dict:
    return {
        "satellite": pa.satellite, "norad_id": pa.norad_id, "station": f"{a}+{b}",
        "station_a": a, "station_b": b,
        "aos": iso_utc(t0), "tca": iso_utc(0.5 * (t0 + t1)), "los": iso_utc(t1),
        "max_elevation_deg": round(min(pa.max_elevation_deg, pb.max_elevation_deg), 3),
        "duration_s": round(t1 - t0, 3),
    }


def _receiver(angles: tuple[float, ...], ends: Ends, jitter_ps: float) -> PairReceiver:
    n = len(angles)
    return PairReceiver(angles, tuple([1.0 / n] * n), float(np.mean(ends.detector.efficiencies)),
                        ends.receiver.misalignment, jitter_ps)


class Entangled(Protocol):
    """BBM92 and E91 on a satellite's pair source: one task per window (dual downlink)
    or per pass (single downlink)."""

    names = ("bbm92", "e91")
    directions = ("downlink",)

    def tasks(self, plan, geometry: xr.Dataset, done: set[str]
              ) -> tuple[list[str], list[WindowTask]]:
        windows = window_tasks(plan, geometry, satellite_indices(plan),
                               station_indices(plan.cfg))
        return [w.window_id for w in windows], [w for w in windows if w.window_id not in done]

    def cost(self, task: WindowTask) -> float:
        return expected_cost(task.geometry_a, task.cfg.channel.operate_in_daylight)

    def simulate(self, task: WindowTask) -> PassOutput:
        return simulate_window(task, self.link)


def simulate_window(task: WindowTask, link: Link | None = None) -> PassOutput:
    """Run one entangled pass on ``link`` (default: the mission's)."""
    link = link if link is not None else link_for(task.cfg)
    cfg = task.cfg
    ent = cfg.entanglement
    sat = cfg.satellites[task.satellite_index]
    st_a = cfg.stations[task.station_a_index]
    st_b = cfg.stations[task.station_b_index] if task.station_b_index is not None else None
    geo = task.geometry_a
    name = geo.attrs["station"]
    seed = pass_seed(cfg.mission.seed, geo.attrs["norad_id"], name, aos_seconds(geo.attrs["aos"]))
    s_link_a, s_link_b, s_engine, s_keys = seed.spawn(4)

    link_a = link.budget(cfg, sat, st_a, geo, np.random.default_rng(s_link_a))
    link_b = (link.budget(cfg, sat, st_b, task.geometry_b, np.random.default_rng(s_link_b))
              if st_b is not None else None)
    ends_a = link.ends(sat, st_a, pass_epoch_s(geo))
    ends_b = link.ends(sat, st_b, pass_epoch_s(geo)) if st_b is not None else None
    ps = sat.pair_source
    source = PairSource(pair_rate_hz=ps.pair_rate_hz, visibility=ps.visibility,
                        visibility_diagonal=ps.visibility_diagonal, bell_state=ps.bell_state,
                        wavelength_nm=ends_a.transmitter.wavelength_nm,
                        filter_bandwidth_nm=ps.filter_bandwidth_nm)
    protocol = "chsh" if (cfg.mission.protocol == "e91" and ent.settings == "chsh") \
        else cfg.mission.protocol
    angles_a, angles_b = SETTINGS[protocol]
    step = cfg.mission.step_s
    window_s = ent.coincidence_window_ns * 1e-9

    def engine_inputs(budget: xr.Dataset, ends: Ends):
        on = budget["operating"].values & (budget["cloud_clear"].values > 0)
        eta = budget["transmittance"].values / float(np.mean(ends.detector.efficiencies))
        return np.where(on, eta, 0.0), np.where(on, budget["background_rate"].values, 0.0), on

    eta_a, noise_a, on_a = engine_inputs(link_a, ends_a)
    rng_engine = np.random.default_rng(s_engine)
    # Intercept-resend on the photons sent to the ground station B (the only attack
    # [eavesdropper] offers for pairs; the mission file rejects the others).
    eve = (PairEavesdropper(kind="intercept-resend", target="b",
                            fraction=cfg.eavesdropper.fraction)
           if cfg.eavesdropper.kind == "intercept-resend" else None)
    if st_b is None:  # single downlink: side A is on board, the ground station is side B
        ra = PairReceiver(angles_a, tuple([1.0 / len(angles_a)] * len(angles_a)),
                          ent.onboard_detector_efficiency, 0.0, ent.timing_jitter_ps)
        rb = _receiver(angles_b, ends_a, ent.timing_jitter_ps)
        on = on_a
        result = single_downlink_pass(eta_a, noise_a, step, source, ra, rb, rng_engine,
                                      onboard_dark_rate=ent.onboard_dark_count_rate,
                                      coincidence_window_s=window_s, eavesdropper=eve)
    else:
        eta_b, noise_b, on_b = engine_inputs(link_b, ends_b)
        ra = _receiver(angles_a, ends_a, ent.timing_jitter_ps)
        rb = _receiver(angles_b, ends_b, ent.timing_jitter_ps)
        on = on_a & on_b
        result = dual_downlink_pass(np.where(on, eta_a, 0.0), np.where(on, eta_b, 0.0),
                                    np.where(on, noise_a, 0.0), np.where(on, noise_b, 0.0),
                                    step, source, ra, rb, rng_engine,
                                    coincidence_window_s=window_s, eavesdropper=eve)

    chsh_s = chsh_sigma = float("nan")
    if protocol in CHSH_SETTINGS:
        sa, sb = CHSH_SETTINGS[protocol]
        signs = chsh_signs(ideal_correlations(source, ra, rb)[np.ix_(sa, sb)])
        res = chsh(result.counts.sum(axis=0), sa, sb, signs)
        chsh_s, chsh_sigma = res.s, res.sigma
    kc = cfg.keys
    # Key and test bases: Z/X for BBM92; 0 and 22.5 deg for E91, whose overlap
    # c = cos^2(22.5 deg) sets the preparation quality q = log2(1/c) (Tomamichel et al.).
    quality = 1.0 if protocol == "bbm92" else -math.log2(math.cos(math.radians(22.5)) ** 2)
    params = BBM92Parameters(eps_sec=kc.eps_sec, eps_cor=kc.eps_cor,
                             qber_threshold=kc.qber_threshold, preparation_quality=quality,
                             cascade_frame_bits=kc.cascade_frame_bits,
                             cascade_passes=kc.cascade_passes,
                             require_bell_test=protocol == "e91",
                             bell_k_sigma=ent.bell_k_sigma, keep_keys=kc.write_keys,
                             error_correction=kc.error_correction,
                             detector_mismatch=ends_a.detector.mismatched or (
                                 ends_b is not None and ends_b.detector.mismatched))
    flip_key, flip_test = bbm92_flips(source, ra, rb, KEY, TEST)
    sifted = sift_bbm92(result.coincidences, KEY, TEST, flip_key, flip_test,
                        eve=result.eve_record)  # Eve's per-photon record (None: no attack)
    keys = process_bbm92(sifted.key_a, sifted.key_b, sifted.test_a, sifted.test_b, params,
                         np.random.default_rng(s_keys), chsh_s=chsh_s, chsh_sigma=chsh_sigma,
                         eve=sifted.eve_key)
    scalars = keys.scalars()
    if protocol == "chsh":  # no matching bases: no key, no QBER
        scalars.update(secret_bits=0, abort_reason=ABORT_BELL_ONLY, sifted_bits=0,
                       qber_z=float("nan"), qber_x=float("nan"))
    if not on.any():
        scalars["abort_reason"] = (idle_reason(link_a) if not link_a["operating"].values.any()
                                   else "overcast")

    ds = xr.Dataset(coords={"time": geo["time"]})
    for var in ("lat", "lon", "altitude"):  # the sub-satellite track: CF coordinates of passes.nc
        if var in geo:
            ds[var] = geo[var].variable.copy()
    for side, budget in (("a", link_a), ("b", link_b)):
        if budget is None:
            continue
        for var in _KEEP:
            if var in budget:
                ds[f"{var}_{side}"] = budget[var].variable.copy()
                ds[f"{var}_{side}"].attrs["long_name"] = (
                    f"{budget[var].attrs.get('long_name', var)} (station {side.upper()})")
    n = ds.sizes["time"]
    ds["coincidences"] = ("time", result.counts.reshape(n, -1).sum(axis=1),
                          {"units": "1", "long_name": "coincidences (all settings)"})
    ds["coincidence_kinds"] = (("time", "kind"), result.kinds, {
        "units": "1", "long_name": "coincidences by origin: true, multi-pair, noise "
                                   "(simulator diagnostic)"})
    ds["pairs_emitted"] = ("time", result.pairs_emitted, {
        "units": "1", "long_name": "pairs emitted by the source"})
    if link_b is not None:
        ds["summed_loss_db"] = ("time", -10 * np.log10(np.maximum(
            link_a["transmittance"].values * link_b["transmittance"].values, 1e-300)),
            {"units": "dB", "long_name": "two-downlink loss, detectors included"})
    ds.attrs.update(geo.attrs)
    ds.attrs.update(scalars)
    ds.attrs["pass_id"] = task.window_id
    ds.attrs["protocol"] = protocol
    ds.attrs["chsh_s"] = chsh_s
    ds.attrs["chsh_sigma"] = chsh_sigma
    ds.attrs["bell_test_passed"] = int(np.isfinite(chsh_s) and
                                       chsh_s - ent.bell_k_sigma * chsh_sigma > 2.0)
    ds.attrs["detections"] = int(result.counts.sum())
    ds.attrs["coincidence_rate_hz"] = float(result.counts.sum() / max(on.sum() * step, step))
    ds.attrs["qber"] = scalars["qber_z"] if np.isfinite(scalars["qber_z"]) else scalars["qber_x"]
    total = physical_loss_db(link_a)
    ds.attrs["min_loss_db"] = float(total.min()) if n else np.nan
    ds.attrs["max_loss_db"] = float(total.max()) if n else np.nan
    ds.attrs["clear_fraction"] = float(np.mean(on)) if n else np.nan
    return PassOutput(ds, keys.alice_key, keys.bob_key, keys.secret_bits)
