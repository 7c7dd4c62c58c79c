"""Before/after table of the two-way (Cascade) accounting on shipped missions.

Runs each mission (decoy BB84, both tail bounds), then evaluates, from every pass's own
counts and measured leakage, the key length of Lim et al. (2014) eq. 1 with only Alice's
parities charged (the accounting before Tupkary & Lutkenhaus 2023) beside the certified
length satqkd now reports (docs/keys.md, "Two-way reconciliation").

    python tools/keys_accounting_table.py [MISSION.toml ...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from satqkd.config import load_mission
from satqkd.keys.finite_key import finite_key_length
from satqkd.keys.sifting import DecoyCounts
from satqkd.mission.run import run_mission

REPO = Path(__file__).resolve().parent.parent
DEFAULT = [REPO / "missions" / "micius-2016-12-19.toml",
           REPO / "missions" / "jinan1-south-africa-2025.toml"]


def table(mission: Path, tail: str) -> pd.DataFrame:
    cfg = load_mission(mission)
    src = cfg.satellites[0].source
    text = mission.read_text().replace('tle = "tle/', f'tle = "{REPO}/tle/')
    text += f'\n[keys]\ntail_bound = "{tail}"\n' if "[keys]" not in text else ""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / mission.name
        path.write_text(text)
        out = run_mission(path, Path(tmp) / "out")
        with xr.open_dataset(out / "passes.nc") as ds:
            rows = []
            for i in range(ds.sizes["pass"]):
                if int(ds["sifted_bits"][i]) == 0 or str(ds["abort_reason"].values[i]) in (
                        "daylight", "overcast", "too_short"):
                    continue
                c = DecoyCounts(*(np.array([int(ds[f"{n}_{k}"][i]) for k in range(3)])
                                  for n in ("n_z", "n_x", "m_x")), np.zeros(3, np.int64))
                lam = float(ds["ec_leaked_bits"][i])
                old = finite_key_length(c, src.intensities, src.probabilities, lam, tail=tail)
                rows.append({"mission": cfg.mission.name, "pass_id": str(ds["pass_id"].values[i]),
                             "tail": tail, "max_el_deg": float(ds["max_elevation_deg"][i]),
                             "sifted": int(ds["sifted_bits"][i]), "lambda_A": int(lam),
                             "s_z0": old.s_z0, "before": old.length,
                             "after": int(ds["secret_bits"][i])})
    return pd.DataFrame(rows)


def main(paths: list[str]) -> None:
    missions = [Path(p) for p in paths] or DEFAULT
    frames = [table(m, tail) for m in missions for tail in ("hoeffding", "chernoff")]
    t = pd.concat(frames, ignore_index=True)
    t["change"] = np.where(t["before"] > 0, t["after"] / t["before"].clip(lower=1) - 1, np.nan)
    print("| mission | pass | tail | max el (deg) | sifted | lambda_A | s_Z0 | before | after | change |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in t.itertuples():
        ch = f"{100 * r.change:+.1f} %" if np.isfinite(r.change) else "-"
        print(f"| {r.mission} | {r.pass_id} | {r.tail} | {r.max_el_deg:.1f} | {r.sifted:,} | "
              f"{r.lambda_A:,} | {r.s_z0:,.0f} | {r.before:,} | {r.after:,} | {ch} |")


if __name__ == "__main__":
    main(sys.argv[1:])
