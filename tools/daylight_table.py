"""Tables of docs/link_budget.md, "Daylight and fibre coupling".

1. Coupling loss against D/r0 and elevation for a 1550 nm, 0.8 m receiver: a narrow
   free-space field stop mimicking a fibre, the single-mode fibre without adaptive optics,
   and with N corrected Zernike modes (night HV5/7 and daytime SLC profiles).
2. The key of missions/eagle1-daylight-1550.toml pass by pass, day against night, for the
   mission's receiver (fibre + AO) and for the same receiver with a 100 urad free-space
   field stop or with the fibre but no adaptive optics.

Usage: PYTHONPATH=. python tools/daylight_table.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import satqkd
from satqkd.channel import fibre_coupling as fc
from satqkd.channel import turbulence
from satqkd.channel.params import Turbulence

MISSION = Path(__file__).resolve().parent.parent / "missions" / "eagle1-daylight-1550.toml"
LAMBDA_NM, D_M, ALT_M = 1550.0, 0.8, 590.0


def _db(x: np.ndarray) -> np.ndarray:
    return -10.0 * np.log10(x) + 0.0  # + 0.0: no "-0.00 dB"


def coupling_table() -> None:
    night = Turbulence()
    day = turbulence.daytime_turbulence(night)
    beta = fc.optimal_beta()
    print(f"Coupling loss (dB), {LAMBDA_NM:g} nm, D = {D_M} m, station {ALT_M:g} m; night HV5/7, "
          "day SLC; free-space stops: seeing in a Gaussian long-exposure image (turbulence.seeing_coupling);"
          " AO bandwidth 500 Hz, Greenwood frequency without slew")
    print("| sky | elevation (deg) | r0 (cm) | D/r0 | f_G (Hz) | free-space 100 urad | free-space 10 urad "
          "| fibre, no AO | fibre, tip-tilt (N=2) | fibre, N=14 | fibre, N=35 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, turb in (("night", night), ("day", day)):
        for el in (90.0, 60.0, 40.0, 20.0):
            z = 90.0 - el
            r0 = float(turbulence.fried_parameter_m(LAMBDA_NM, z, ALT_M, turb))
            f_g = float(fc.greenwood_frequency_hz(LAMBDA_NM, z, ALT_M, turb))
            stop = [float(_db(turbulence.seeing_coupling(LAMBDA_NM, r0, D_M, fov))) for fov in (100.0, 10.0)]
            fib = [float(_db(fc.fibre_coupling_efficiency(D_M, r0, beta, 0.0, n, f_g, 500.0)["efficiency"]))
                   for n in (0, 2, 14, 35)]
            print(f"| {label} | {el:.0f} | {100 * r0:.1f} | {D_M / r0:.1f} | {f_g:.0f} | "
                  + " | ".join(f"{v:.2f}" for v in stop + fib) + " |")
    print(f"(fibre without turbulence: {float(_db(fc.coupling_no_turbulence(beta))):.2f} dB = eta_0 0.8145; "
          f"single-mode field of view {fc.single_mode_fov_urad(LAMBDA_NM, D_M):.2f} urad)")


RECEIVERS = (
    ("fibre + AO (N = 35)", ()),
    ("fibre, no AO", ("stations.0.receiver.ao_corrected_modes=0",)),
    ("free-space, 100 urad stop", ("stations.0.receiver.coupling=free-space",
                                   "stations.0.receiver.ao_corrected_modes=0",
                                   "stations.0.receiver.fov_urad=100.0")),
)


def key_table() -> None:
    print(f"\nKey of {MISSION.name} per pass (counts level), by receiver")
    rows = {}
    for label, overrides in RECEIVERS:
        m = satqkd.load_mission(MISSION, overrides)
        for i in range(len(m.plan.passes)):
            ds = m.simulate(i)
            tca = int(np.argmin(ds["range"].values))
            rows.setdefault(i, {"tca": str(ds["time"].values[tca])[:16].replace("T", " "),
                                "sun": float(ds["sun_elevation"].values[tca]),
                                "sep": float(ds["sun_separation"].values.min()),
                                "el": float(ds["elevation"].values.max())})
            rows[i][label] = (int(ds.attrs["secret_bits"]), float(ds.attrs["qber"]),
                              float(np.median(ds["background_rate"].values)),
                              float(ds["loss_turbulence"].values[tca]))
    print("| pass (UTC TCA) | Sun elevation (deg) | closest to the Sun (deg) | max elevation (deg) | "
          + " | ".join(f"{label}: secret bits (QBER, loss_turbulence at TCA dB)" for label, _ in RECEIVERS)
          + " | background, fibre / free-space (counts/s per detector) |")
    print("|---|---|---|---|" + "---|" * len(RECEIVERS) + "---|")
    for i, r in rows.items():
        cells = []
        for label, _ in RECEIVERS:
            bits, q, _, lt = r[label]
            cells.append(f"{bits:,} ({100 * q:.1f} %, {lt:.1f})" if np.isfinite(q) else f"{bits:,} (-, {lt:.1f})")
        print(f"| {r['tca']} | {r['sun']:.0f} | {r['sep']:.0f} | {r['el']:.0f} | " + " | ".join(cells)
              + f" | {r[RECEIVERS[0][0]][2]:.3g} / {r[RECEIVERS[2][0]][2]:.3g} |")
    print("\nTotals: | receiver | day passes | day secret bits | night passes | night secret bits |")
    print("|---|---|---|---|---|")
    for label, _ in RECEIVERS:
        day = [r[label][0] for r in rows.values() if r["sun"] > 0]
        night = [r[label][0] for r in rows.values() if r["sun"] <= 0]
        print(f"| {label} | {len(day)} | {sum(day):,} | {len(night)} | {sum(night):,} |")


if __name__ == "__main__":
    coupling_table()
    key_table()
