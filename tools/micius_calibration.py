"""Calibrate on the high half of the Micius 2016-12-19 pass, predict the low half (docs/validation.md).

Measured series: the published link-efficiency figures of Liao et al., Nature 549, 43
(2017) as digitised in docs/validation.md (detectors excluded): 29.8 dB at 645 km and
39.0 dB at 1200 km (the middle of the digitised 38-40 dB). Only these two values are
published here, so the CSV joins them linearly in log(range), one point per 5 km from
645 to 1200 km (the approaching half of the pass). That interpolation is our
construction, not data: the hold-out test below measures how well c0 + c1 (AM - 1)
carries the high-elevation deficit to low elevation, against that curve.

Usage: python tools/micius_calibration.py  (writes missions/data/micius-2016-12-19-loss.csv
and prints the table of docs/validation.md)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from satqkd.channel.calibration import fit_excess_loss
from satqkd.mission.calibrate import calibrate, match_measured, modelled_pass

REPO = Path(__file__).resolve().parent.parent
MISSION = REPO / "missions" / "micius-2016-12-19.toml"
CSV = REPO / "missions" / "data" / "micius-2016-12-19-loss.csv"


def measured_series() -> pd.DataFrame:
    r = np.arange(645.0, 1200.1, 5.0)
    loss = 29.8 + (39.0 - 29.8) * np.log(r / 645.0) / np.log(1200.0 / 645.0)
    return pd.DataFrame({"range": r, "loss_db": np.round(loss, 3)})


def main() -> None:
    df = measured_series()
    CSV.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(CSV, index=False)
    times, rng_km, elev, loss = modelled_pass(MISSION, exclude_detector=True)
    approach = rng_km[: int(np.argmin(rng_km)) + 1]
    df = df[(df["range"] <= approach.max()) & (df["range"] >= approach.min())].reset_index(drop=True)
    el, model, meas = match_measured(df, times, rng_km, elev, loss)
    high = el >= np.median(el)
    fit = fit_excess_loss(el[high], (meas - model)[high])
    pred = model + fit.predict_db(el)
    err = pred - meas
    s0, s1 = fit.sigma
    print(f"fit on {high.sum()} points, elevation {el[high].min():.1f}-{el[high].max():.1f} deg: "
          f"c0 = {fit.constant_db:.2f} +- {s0:.2f} dB, c1 = {fit.airmass_db:.2f} +- {s1:.2f} dB, "
          f"rms {fit.residual_rms_db:.3f} dB")
    low = ~high
    print(f"low half ({low.sum()} points, elevation {el[low].min():.1f}-{el[low].max():.1f} deg): "
          f"prediction error mean {err[low].mean():+.2f} dB, max |err| {np.abs(err[low]).max():.2f} dB")
    for r_km in (650.0, 800.0, 900.0, 1000.0, 1100.0, 1195.0):
        i = int(np.argmin(np.abs(df["range"].values - r_km)))
        print(f"| {r_km:.0f} | {el[i]:.1f} | {meas[i]:.2f} | {model[i]:.2f} | {pred[i]:.2f} | {err[i]:+.2f} | "
              f"{'fit' if high[i] else 'predicted'} |")
    # the whole-pass calibration through the CLI path, for the record
    with tempfile.TemporaryDirectory() as tmp:
        full, _ = calibrate(CSV, MISSION, Path(tmp) / "m.toml", exclude_detector=True)
    print(f"whole pass: c0 = {full.constant_db:.2f} +- {full.sigma[0]:.2f} dB, "
          f"c1 = {full.airmass_db:.2f} +- {full.sigma[1]:.2f} dB, rms {full.residual_rms_db:.3f} dB")


if __name__ == "__main__":
    main()
