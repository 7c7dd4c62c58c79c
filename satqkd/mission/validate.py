"""Validation: our figures beside the published ones (``satqkd validate``).

Each validation runs a shipped mission file through the same code as ``satqkd run``
and reads off the quantities a paper reports. Nothing is fitted: the mission files
carry the published hardware and the stated assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from satqkd.errors import InputError
from satqkd.mission.run import PassTask, plan_mission, simulate_pass
from satqkd.orbit.passes import pass_geometry
from satqkd.ragged import pass_from_ragged
from satqkd.resources import data_path

# Shipped missions: package data when installed, the repository's missions/ otherwise.
MICIUS_DECOY_MISSION = data_path("missions/micius-2016-12-19.toml")


@dataclass(frozen=True)
class Figure:
    """One published quantity and ours."""

    experiment: str
    quantity: str
    unit: str
    published: float
    ours: float
    source: str
    verdict: str = ""
    reason: str = ""

    @property
    def ratio(self) -> float:
        """ours / published; NaN for dB values (a ratio of logarithms means nothing)."""
        if self.is_db or not self.published:
            return float("nan")
        return self.ours / self.published

    @property
    def is_db(self) -> bool:
        return self.unit == "dB"

    @property
    def comparison(self) -> str:
        """How ours compares: the difference for dB values, the ratio otherwise."""
        if self.is_db:
            return f"{self.ours - self.published:+.1f} dB"
        return "n/a" if np.isnan(self.ratio) else f"x {self.ratio:.2f}"


#: The documented link gap (docs/validation.md): the ideal budget of Micius's published
#: hardware is about 12 dB more transparent than the link Micius flew.
LINK_GAP_DB = 12.0
LINK_GAP = ("link gap{each}: our ideal budget of the published hardware is ~12 dB more "
            "transparent than the link Micius flew (docs/validation.md)")


def _gap_verdict(ratio_or_db: float, *, db: bool = False, per_link: int = 1,
                 tol_db: float = 6.0) -> tuple[str, str]:
    """Verdict for a loss-driven figure: explained by the documented gap, or not."""
    gap = -LINK_GAP_DB * per_link if db else LINK_GAP_DB * per_link
    excess = ratio_or_db if db else 10.0 * np.log10(max(ratio_or_db, 1e-30))
    if abs(excess - gap) <= tol_db * per_link:
        what = f"{abs(excess):.1f} dB {'lower' if db else 'more signal'}"
        each = f" of each of the {per_link} downlinks" if per_link > 1 else ""
        return "explained", f"{what}; {LINK_GAP.format(each=each)}"
    return "differs", f"{excess:+.1f} dB against a documented gap of {gap:+.0f} dB"


def micius_decoy_bb84(mission: Path | str = MICIUS_DECOY_MISSION,
                      key_window_range_km: float = 1200.0) -> list[Figure]:
    """Micius decoy-BB84 downlink to Xinglong, 2016-12-19 (Liao et al., Nature 549, 43).

    The published key exchange ran while the slant range was below about 1200 km
    (1196 km -> 645 km -> 1189 km, 273 s); the pass is cut to that window. Sifted rates
    (both bases, all intensities) are read at the shortest range (mean over the seconds
    within 5 km of it) and near 1200 km (the seconds beyond 1180 km).
    """
    plan = plan_mission(mission)
    if len(plan.passes) != 1:
        raise InputError(f"{mission}: expected exactly one pass, found {len(plan.passes)}")
    p = plan.passes[0]
    geo = pass_from_ragged(pass_geometry(plan.passes, plan.stations, plan.cfg.mission.step_s,
                                         plan.cfg.mission.night_sun_elevation_deg), 0)
    window = geo.isel(time=np.flatnonzero(geo["range"].values <= key_window_range_km))
    window.attrs.update(geo.attrs)
    cfg = plan.cfg
    sat_i = next(i for i, s in enumerate(cfg.satellites) if s.name == p.satellite)
    st_i = next(i for i, s in enumerate(cfg.stations) if s.name == p.station)
    out = simulate_pass(PassTask(window, cfg, sat_i, st_i)).dataset
    step = cfg.mission.step_s
    rng_km = out["range"].values
    sifted_rate = out["sifted_counts"].values / step
    near = rng_km <= rng_km.min() + 5.0
    far = rng_km >= key_window_range_km - 20.0
    src = "Liao et al., Nature 549, 43 (2017)"
    name = "Micius -> Xinglong decoy BB84"
    window_s = float(out.sizes["time"] * step)
    near_rate = float(sifted_rate[near].mean())
    far_rate = float(sifted_rate[far].mean())
    qber = 100.0 * float(out.attrs["qber"])
    key = float(out.attrs["secret_bits"])
    ok_window = abs(window_s - 273.0) <= 2 * step
    return [
        Figure(name, "key-exchange window", "s", 273.0, window_s, src,
               "agrees" if ok_window else "differs",
               "same pass geometry, cut at 1200 km" if ok_window else
               "the pass geometry differs from the published one"),
        Figure(name, f"sifted key rate at {rng_km.min():.0f} km", "bit/s", 12e3, near_rate, src,
               *_gap_verdict(near_rate / 12e3)),
        Figure(name, "sifted key rate near 1200 km", "bit/s", 1e3, far_rate, src,
               *_gap_verdict(far_rate / 1e3)),
        Figure(name, "QBER (published 1-2 %)", "%", 1.5, qber, src,
               *(("agrees", "within the published 1-2 %") if 0.95 <= qber <= 2.05 else
                 ("differs", "outside the published 1-2 %"))),
        Figure(name, "final key of the pass (published about 300 kbit)", "bit", 300e3, key, src,
               *_gap_verdict(key / 300e3)),
    ]


MICIUS_ENTANGLEMENT_MISSION = data_path("missions/micius-entanglement-2017.toml")


def micius_entanglement(mission: Path | str = MICIUS_ENTANGLEMENT_MISSION,
                        out_dir: Path | str | None = None) -> list[Figure]:
    """Micius dual downlink to Delingha and Lijiang (Yin et al., Science 356, 1140 (2017)).

    Every night window of the mission is run; S is the inverse-variance mean of the
    windows' CHSH values, the coincidence rate the mean over operating seconds.
    """
    import tempfile

    import pandas as pd
    import xarray as xr

    from satqkd.mission.run import run_mission

    with tempfile.TemporaryDirectory() as tmp:
        out = run_mission(mission, out_dir or Path(tmp) / "out")
        table = pd.read_csv(out / "passes.csv", keep_default_na=False)
        with xr.open_dataset(out / "passes.nc") as ds:
            loss = ds["summed_loss_db"].values
            on = ds["operating_a"].values.astype(bool) & ds["operating_b"].values.astype(bool)
            loss_on = loss[on]
            coinc = float(ds["coincidences"].values[on].sum())
    night = table[pd.to_numeric(table["chsh_s"], errors="coerce").notna()]
    if night.empty:
        raise InputError(f"{mission}: no night-time common window to validate against")
    s = night["chsh_s"].astype(float).to_numpy()
    w = 1.0 / night["chsh_sigma"].astype(float).to_numpy() ** 2
    src = "Yin et al., Science 356, 1140 (2017)"
    name = "Micius -> Delingha + Lijiang entanglement (CHSH)"
    s_mean = float(np.sum(w * s) / w.sum())
    s_sigma = float(np.sqrt(1.0 / w.sum()))
    dist = abs(s_mean - 2.37) / np.hypot(0.09, s_sigma)
    if dist <= 1.0:
        s_verdict = ("agrees", f"within the published error bar ({dist:.1f} sigma)")
    elif s_mean > 2.37:
        s_verdict = ("explained", (f"{dist:.1f} sigma above 2.37 +- 0.09: with ~12 dB per "
                                   "link more signal accidentals are negligible and S nears the "
                                   "source limit 2.62 (docs/validation.md)"))
    else:
        s_verdict = ("differs", f"{dist:.1f} sigma below 2.37 +- 0.09")
    rate = coinc / max(on.sum(), 1)
    lo, hi = float(loss_on.min()), float(loss_on.max())
    return [
        Figure(name, "CHSH S (published 2.37 +- 0.09)", "1", 2.37, s_mean, src, *s_verdict),
        Figure(name, "coincidence rate", "1/s", 1.1, rate, src,
               *_gap_verdict(rate / 1.1, per_link=2)),
        Figure(name, "summed two-downlink loss, lowest", "dB", 64.0, lo, src,
               *_gap_verdict(lo - 64.0, db=True, per_link=2)),
        Figure(name, "summed two-downlink loss, highest", "dB", 82.0, hi, src,
               *_gap_verdict(hi - 82.0, db=True, per_link=2)),
    ]


def run_validations(progress=None) -> list[Figure]:  # noqa: ANN001 - progress(stage, done, total)
    """Every shipped validation (stage ``validate`` of ``progress``, one step each)."""
    steps = (micius_decoy_bb84, micius_entanglement)
    figures: list[Figure] = []
    for k, step in enumerate(steps):
        if progress:
            progress("validate", k, len(steps))
        figures += step()
    if progress:
        progress("validate", len(steps), len(steps))
    return figures
