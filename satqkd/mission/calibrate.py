"""``satqkd calibrate``: fit the excess loss of flight data and write it into a mission copy.

The measured CSV has a column ``time`` (ISO 8601 UTC) or ``range`` (km), and ``loss_db``
(optionally ``sigma_db``). The modelled loss is the sum of the link-budget terms of the
mission's pass (clear sky, implementation loss 0; with ``exclude_detector`` the detector
efficiency is left out, as in published link-efficiency curves). A ``range`` column is
matched on the approaching half of the pass (AOS to culmination). The excess is fitted
by :func:`satqkd.channel.calibration.fit_excess_loss` and written, with its uncertainty
as a comment, into ``[satellites.transmitter]`` of a copy of the mission file
(``implementation_loss_db``, ``implementation_loss_airmass_db``), which is then
schema-validated.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd

from satqkd import config
from satqkd.channel.calibration import ExcessLossFit, fit_excess_loss
from satqkd.channel.link_budget import link_budget
from satqkd.errors import InputError
from satqkd.mission import parameters
from satqkd.mission.run import plan_mission
from satqkd.orbit.passes import pass_geometry
from satqkd.ragged import pass_from_ragged


def read_measured(path: Path | str) -> pd.DataFrame:
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read measured CSV ({exc})") from None
    if "loss_db" not in df.columns or not ({"time", "range"} & set(df.columns)):
        raise InputError(f"{path}: measured CSV needs columns (time or range) and loss_db")
    return df


def modelled_pass(mission: Path | str, exclude_detector: bool = False, pass_index: int = 0):
    """(times, range km, apparent elevation deg, modelled loss dB) of a mission pass, clear sky."""
    plan = plan_mission(mission)
    if plan.cfg.mission.direction != "downlink":
        # the fit is written into [satellites.transmitter], the downlink's sending end
        raise InputError(f"{mission}: mission.direction: satqkd calibrate fits a downlink's "
                         f"excess loss; this mission is an {plan.cfg.mission.direction}")
    if not plan.passes:
        raise InputError(f"{mission}: no pass to calibrate against")
    cfg = plan.cfg
    geo = pass_from_ragged(pass_geometry(plan.passes, plan.stations, cfg.mission.step_s,
                                         cfg.mission.night_sun_elevation_deg), pass_index)
    p = plan.passes[pass_index]
    sat = next(s for s in cfg.satellites if s.name == p.satellite)
    st = next(s for s in cfg.stations if s.name == p.station)
    link = parameters.link_parameters(cfg, sat, st)
    link = dataclasses.replace(
        link, clouds=dataclasses.replace(link.clouds, model="clear"),
        transmitter=dataclasses.replace(link.transmitter, implementation_loss_db=0.0,
                                        implementation_loss_airmass_db=0.0))
    ds = link_budget(geo, link, np.random.default_rng(0))
    loss = sum(ds[v].values for v in ds.data_vars if str(v).startswith("loss_"))
    if exclude_detector:
        loss = loss + 10.0 * np.log10(link.receiver.detector_efficiency)
    return ds["time"].values, ds["range"].values, ds["elevation"].values, np.asarray(loss, float)


def match_measured(df: pd.DataFrame, times, range_km, elevation, loss) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(elevation, modelled loss, measured loss) at the measured points."""
    meas = df["loss_db"].to_numpy(float)
    if "time" in df.columns:
        t = pd.to_datetime(df["time"], utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
        x = (t - times[0]).astype("timedelta64[ns]").astype(float)
        xp = (times - times[0]).astype("timedelta64[ns]").astype(float)
        inside = (x >= xp[0]) & (x <= xp[-1])
        if not inside.any():
            raise InputError("calibrate: no measured time falls inside the mission's pass")
        return (np.interp(x[inside], xp, elevation), np.interp(x[inside], xp, loss), meas[inside])
    half = slice(0, int(np.argmin(range_km)) + 1)  # approaching half: range decreasing
    r, order = range_km[half], np.argsort(range_km[half])
    rq = df["range"].to_numpy(float)
    inside = (rq >= r.min()) & (rq <= r.max())
    if not inside.any():
        raise InputError("calibrate: no measured range falls inside the pass's ranges")
    return (np.interp(rq[inside], r[order], elevation[half][order]),
            np.interp(rq[inside], r[order], loss[half][order]), meas[inside])


def write_calibrated_copy(mission: Path | str, fit: ExcessLossFit, out: Path | str, note: str) -> Path:
    """Copy of the mission with the fit in every ``[satellites.transmitter]`` (validated)."""
    text = Path(mission).read_text()
    s0, s1 = fit.sigma
    block = (f"# satqkd calibrate ({note}): excess = c0 + c1 (AM - 1), n = {fit.n_points}, "
             f"rms residual {fit.residual_rms_db:.2f} dB\n"
             f"# c0 = {fit.constant_db:.3f} +- {s0:.3f} dB, c1 = {fit.airmass_db:.3f} +- {s1:.3f} dB, "
             f"corr = {fit.covariance[0, 1] / (s0 * s1):.3f}\n"
             f"implementation_loss_db = {fit.constant_db:.4f}\n"
             f"implementation_loss_airmass_db = {fit.airmass_db:.4f}\n")
    # drop earlier values (and calibrate comments) inside transmitter sections
    lines, out_lines, in_tx = text.splitlines(keepends=True), [], False
    for line in lines:
        head = re.match(r"\s*\[\[?([^\]]+)\]\]?", line)
        if head:
            in_tx = head.group(1).strip() == "satellites.transmitter"
            out_lines.append(line)
            if in_tx:
                out_lines.append(block)
            continue
        if in_tx and re.match(r"\s*(implementation_loss_db|implementation_loss_airmass_db)\s*=|\s*# satqkd calibrate|"
                              r"\s*# c0 = ", line):
            continue
        out_lines.append(line)
    if not any(re.match(r"\s*\[satellites\.transmitter\]", x) for x in lines):
        # no transmitter table: add one after the first [[satellites]] table's keys
        i = next(i for i, x in enumerate(out_lines) if re.match(r"\s*\[\[satellites\]\]", x))
        j = next((k for k in range(i + 1, len(out_lines)) if re.match(r"\s*\[", out_lines[k])), len(out_lines))
        out_lines[j:j] = ["[satellites.transmitter]\n", block]
    out = Path(out)
    out.write_text("".join(out_lines))
    config.load_mission(out)  # schema check of the written copy
    return out


def calibrate(measured: Path | str, mission: Path | str, out: Path | str | None = None,
              exclude_detector: bool = False) -> tuple[ExcessLossFit, Path]:
    """Fit the measured excess loss and write the calibrated copy (default MISSION.calibrated.toml)."""
    df = read_measured(measured)
    el, model, meas = match_measured(df, *modelled_pass(mission, exclude_detector))
    sigma = df["sigma_db"].to_numpy(float)[: meas.size] if "sigma_db" in df.columns else None
    fit = fit_excess_loss(el, meas - model, sigma)
    if fit.constant_db < 0:
        raise InputError(f"calibrate: the fitted excess at zenith is negative ({fit.constant_db:.2f} dB): the "
                         "measured link is better than the model; check the mission's hardware")
    mission = Path(mission)
    out = Path(out) if out is not None else mission.with_name(mission.stem + ".calibrated.toml")
    return fit, write_calibrated_copy(mission, fit, out, f"from {Path(measured).name}")
