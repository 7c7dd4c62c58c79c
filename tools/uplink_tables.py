"""Uplink tables of docs/link_budget.md: uplink against downlink for the same hardware, and the
per-pass cost of both budgets.

Usage: PYTHONPATH=. python tools/uplink_tables.py
"""

from __future__ import annotations

import time

import numpy as np

from satqkd.channel import Clouds, LinkParameters, Transmitter, link_budget
from satqkd.channel.synthetic import synthetic_pass
from satqkd.channel.uplink_budget import uplink_budget

ELEVATIONS = (90.0, 60.0, 40.0, 30.0, 20.0, 10.0)
HARDWARE = {
    "Micius terminal (0.30 m, 10 urad, 1.2 urad jitter) to a 1.0 m telescope": Transmitter(),
    "diffraction-limited 0.30 m (w0 = 0.134 m, 4 urad) to a 1.0 m telescope": Transmitter(waist_m=0.134),
}


def _db(x: np.ndarray) -> np.ndarray:
    return -10 * np.log10(x)


def comparison() -> None:
    # a zenith pass from 500 km over Xinglong (960 m): every elevation from 10 to 90 deg
    g = synthetic_pass(min_range_km=499.1, max_range_km=1800.0)
    el = g["elevation"].values
    first_half = np.arange(int(np.argmax(el)) + 1)
    rows = [int(first_half[np.argmin(np.abs(el[first_half] - e))]) for e in ELEVATIONS]
    for label, tx in HARDWARE.items():
        base = LinkParameters(transmitter=tx, clouds=Clouds(model="clear"))
        tt = LinkParameters(transmitter=Transmitter(**{**tx.__dict__, "tip_tilt": True}), clouds=Clouds(model="clear"))
        down = link_budget(g, base, np.random.default_rng(0))
        up = uplink_budget(g, base, np.random.default_rng(0))
        up_tt = uplink_budget(g, tt, np.random.default_rng(0))
        print(f"\n{label}; HV5/7, LOWTRAN7 mid-latitude winter, clear sky")
        print("| elevation (deg) | range (km) | downlink total (dB) | uplink total (dB) | uplink - downlink | "
              "uplink turbulence term | with tip-tilt: total | tip-tilt gain | point-ahead (urad) | "
              "r0 (cm) | sigma_Bu^2 | scintillation index |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for i in rows:
            d, u, t = (float(_db(x["transmittance"].values[i])) for x in (down, up, up_tt))
            print(f"| {el[i]:.1f} | {g['range'].values[i]:.0f} | {d:.2f} | {u:.2f} | {u - d:+.2f} | "
                  f"{up['loss_turbulence'].values[i]:.2f} | {t:.2f} | {u - t:.2f} | "
                  f"{up['point_ahead_angle'].values[i]:.1f} | {100 * up['fried_parameter'].values[i]:.1f} | "
                  f"{up['rytov_variance'].values[i]:.3f} | {up['scintillation_index'].values[i]:.3f} |")
        print(f"tilt isoplanatic angle at zenith: {up_tt.attrs['tilt_isoplanatic_angle_zenith_urad']:.0f} urad")


def timing(repeats: int = 40) -> None:
    g = synthetic_pass()
    p = LinkParameters()
    p_tt = LinkParameters(transmitter=Transmitter(tip_tilt=True))
    cases = {
        "downlink": lambda: link_budget(g, p, np.random.default_rng(1)),
        "uplink": lambda: uplink_budget(g, p, np.random.default_rng(1)),
        "uplink, tip-tilt": lambda: uplink_budget(g, p_tt, np.random.default_rng(1)),
        "downlink, 1 ms fading": lambda: link_budget(g, p, np.random.default_rng(1), fading_slot_s=1e-3),
        "uplink, tip-tilt, 1 ms fading": lambda: uplink_budget(g, p_tt, np.random.default_rng(1), fading_slot_s=1e-3),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for f in cases.values():  # per-link tables built once, as in a mission
        f()
    for _ in range(repeats):  # interleaved, so machine load hits every case alike
        for k, f in cases.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    print(f"\nper-pass cost, {g.sizes['time']} s pass, warm tables, {repeats} interleaved repeats")
    print("| budget | median (ms) | min (ms) |")
    print("|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {1e3 * np.median(v):.1f} | {1e3 * np.min(v):.1f} |")


if __name__ == "__main__":
    comparison()
    timing()
