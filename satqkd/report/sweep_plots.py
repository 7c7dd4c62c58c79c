"""Plots and the markdown report of a sweep (``sweep.nc``, :mod:`satqkd.mission.sweep`).

* one swept dimension: lines of secret bits per year (and availability) against it;
* two or more: a heat map of secret bits per year over the first two dimensions (one per
  value of the others, at most 6), and the "slide plot": secret bits per year against the
  first dimension, one line per value of the second. A dimension that sweeps a Walker
  pattern is drawn against its number of satellites.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import xarray as xr

from satqkd.report.plots import new_figure, save_figure


def _axis_values(ds: xr.Dataset, dim: str) -> tuple[np.ndarray, str, bool]:
    """x values of a dimension: numbers, the satellite count of a Walker axis, or labels."""
    field = ds[dim].attrs.get("mission_field", dim)
    vals = ds[dim].values
    if field.endswith("walker") and "satellites" in ds:
        other = [d for d in ds["satellites"].dims if d != dim]
        n = ds["satellites"].isel({d: 0 for d in other}).values
        return n.astype(float), "satellites", True
    if vals.dtype.kind in "fiu":
        return vals.astype(float), field, True
    return np.arange(vals.size, dtype=float), field, False


def _label(ds: xr.Dataset, dim: str, i: int) -> str:
    v = ds[dim].values[i]
    return f"{dim} = {v:g}" if isinstance(v, (float, np.floating)) else f"{dim} = {v}"


def plot_sweep(ds: xr.Dataset, folder: Path | str) -> list[Path]:
    """Draw the sweep plots into ``folder``; return their paths."""
    folder = Path(folder)
    dims = [d for d in ds["total_secret_bits"].dims]
    paths: list[Path] = []
    y = ds["secret_bits_per_year"]
    if len(dims) == 1:
        d = dims[0]
        x, xl, numeric = _axis_values(ds, d)
        fig = new_figure((6.4, 4.0))
        ax = fig.add_subplot(111)
        ax.plot(x, y.values, "o-", label="secret bits per year")
        ax.set_xlabel(xl)
        ax.set_ylabel("secret bits per year")
        if not numeric:
            ax.set_xticks(x, [str(v) for v in ds[d].values], rotation=20)
        ax2 = ax.twinx()
        ax2.plot(x, ds["total_availability"].values, "s--", color="tab:orange")
        ax2.set_ylabel("availability (usable / passes)", color="tab:orange")
        ax.grid(alpha=0.3)
        paths.append(save_figure(fig, folder / "sweep_lines.png"))
        return paths
    d0, d1, rest = dims[0], dims[1], dims[2:]
    combos = list(itertools.product(*[range(ds.sizes[r]) for r in rest]))[:6]
    for combo in combos:
        sel = dict(zip(rest, combo))
        z = y.isel(sel).transpose(d1, d0).values
        fig = new_figure((6.4, 4.6))
        ax = fig.add_subplot(111)
        positive = z[np.isfinite(z) & (z > 0)]
        zmin = positive.min() if positive.size else 1.0
        im = ax.imshow(np.log10(np.maximum(z, zmin)), origin="lower", aspect="auto",
                       cmap="viridis")
        for (i, j), val in np.ndenumerate(z):
            ax.text(j, i, f"{val:.2g}", ha="center", va="center", color="white", fontsize=8)
        ax.set_xticks(range(ds.sizes[d0]), [str(v) for v in ds[d0].values], rotation=20)
        ax.set_yticks(range(ds.sizes[d1]), [str(v) for v in ds[d1].values])
        ax.set_xlabel(ds[d0].attrs.get("mission_field", d0))
        ax.set_ylabel(ds[d1].attrs.get("mission_field", d1))
        cb = fig.colorbar(im, ax=ax)
        cb.set_label("log10 secret bits per year")
        title = ", ".join(_label(ds, r, i) for r, i in sel.items())
        ax.set_title(title or "secret bits per year", fontsize=9)
        suffix = "".join(f"_{r}{i}" for r, i in sel.items())
        paths.append(save_figure(fig, folder / f"sweep_heatmap{suffix}.png"))
    # the slide plot: y against the first dimension, one line per value of the second
    x, xl, numeric = _axis_values(ds, d0)
    fig = new_figure((6.4, 4.2))
    ax = fig.add_subplot(111)
    base = {r: 0 for r in rest}
    for j in range(ds.sizes[d1]):
        ax.plot(x, y.isel({**base, d1: j}).values, "o-", label=_label(ds, d1, j))
    ax.set_xlabel(xl)
    ax.set_ylabel("secret bits per year (all stations)")
    if positive_any(y.values):
        ax.set_yscale("log")
    if not numeric:
        ax.set_xticks(x, [str(v) for v in ds[d0].values], rotation=20)
    elif xl == "satellites":
        ax.set_xticks(x)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, folder / "sweep_lines.png"))
    return paths


def positive_any(a: np.ndarray) -> bool:
    return bool(np.any(np.isfinite(a) & (a > 0)))


def _fmt(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return "–"
    return f"{f:,.0f}" if abs(f) >= 100 else f"{f:.3g}"


def sweep_report(ds: xr.Dataset, plots: list[Path], out: Path, timings: dict,
                 stats: dict) -> str:
    """``sweep_report.md``: the grid, one row per point, the best point, the plots."""
    dims = list(ds["total_secret_bits"].dims)
    lines = [f"# Sweep of {ds.attrs['mission']}", "",
             f"Period {ds.attrs['start']} to {ds.attrs['end']} "
             f"({ds.attrs['mission_years']:.2f} years), fidelity `{ds.attrs['fidelity']}`, "
             f"{ds.sizes['station']} stations, {int(np.prod([ds.sizes[d] for d in dims]))} "
             f"points. Passes: {stats.get('passes', 0):,} run in this invocation "
             f"({stats.get('geometry_passes', 0):,} outside certain daylight); "
             f"simulation {timings.get('simulated', float('nan')):.1f} s, workers "
             f"{ds.attrs.get('workers', '1')}.", "", "| dimension | mission field | values |",
             "|---|---|---|"]
    for d in dims:
        lines.append(f"| `{d}` | `{ds[d].attrs.get('mission_field', d)}` | "
                     + ", ".join(str(v) for v in ds[d].values) + " |")
    lines += ["", "| " + " | ".join(dims) + " | satellites | secret bits / year | usable passes "
              "| availability | QBER |", "|" + "---|" * (len(dims) + 5)]
    for idx in np.ndindex(*[ds.sizes[d] for d in dims]):
        sel = dict(zip(dims, idx))
        p = ds.isel(sel)
        lines.append("| " + " | ".join(str(ds[d].values[i]) for d, i in sel.items()) + " | "
                     + " | ".join([_fmt(p["satellites"].values), _fmt(p["secret_bits_per_year"].values),
                                   _fmt(p["total_usable_passes"].values),
                                   f"{100 * float(p['total_availability']):.1f} %",
                                   f"{100 * float(p['total_qber']):.2f} %"
                                   if math.isfinite(float(p["total_qber"])) else "–"]) + " |")
    best = ds["secret_bits_per_year"].argmax(...)
    bsel = {d: int(best[d]) for d in dims}
    lines += ["", "Most key: " + ", ".join(_label(ds, d, i) for d, i in bsel.items())
              + f": {_fmt(ds['secret_bits_per_year'].isel(bsel).values)} secret bits per year.",
              "", "Per station, secret bits over the period at that point:", "",
              "| station | secret bits | usable passes | passes | QBER |", "|---|---|---|---|---|"]
    ps = ds.isel(bsel)
    for j, st in enumerate(ds["station"].values):
        q = float(ps["qber"].values[j])
        lines.append(f"| {st} | {_fmt(ps['secret_bits'].values[j])} | "
                     f"{_fmt(ps['usable_passes'].values[j])} | {_fmt(ps['passes'].values[j])} | "
                     + (f"{100 * q:.2f} %" if math.isfinite(q) else "–") + " |")
    if "relay_delivered_bits" in ds:
        lines += _relay_lines(ds, dims)
    elif ds.attrs.get("relay_figures"):
        lines += ["", f"Relay figures {ds.attrs['relay_figures']}."]
    lines += [""] + [f"![{p.stem}]({p.relative_to(out)})" for p in plots] + [""]
    return "\n".join(lines)


def _relay_lines(ds: xr.Dataset, dims: list[str]) -> list[str]:
    """The relay section: per point, pair and planner, the key delivered, the share of
    the demand met and the latency."""
    def dur(s: float) -> str:
        if not math.isfinite(s):
            return "–"
        return f"{s / 3600:.1f} h" if s >= 3600 else f"{s:.0f} s"

    lines = ["", "## Trusted relay", "",
             "Each point's passes with key are planned as `satqkd relay` plans them "
             "(greedy baseline and exact MILP, `[relay]` settings of the mission); the plan "
             "is carried out on the point's key lengths. Share met: delivered / requested; "
             "latency: from request to key held by both endpoints, mean (largest).", "",
             "| " + " | ".join(dims) + " | pair | planner | requested | delivered | share met "
             "| latency | status |", "|" + "---|" * (len(dims) + 7)]
    for idx in np.ndindex(*[ds.sizes[d] for d in dims]):
        sel = dict(zip(dims, idx))
        p = ds.isel(sel)
        for i, pair in enumerate(ds["pair"].values):
            for j, planner in enumerate(ds["planner"].values):
                met = float(p["relay_met_fraction"].values[j, i])
                lines.append(
                    "| " + " | ".join(str(ds[d].values[k]) for d, k in sel.items())
                    + f" | {pair} | {planner} | {_fmt(p['relay_requested_bits'].values[i])} | "
                    f"{_fmt(p['relay_delivered_bits'].values[j, i])} | "
                    + (f"{100 * met:.1f} %" if math.isfinite(met) else "–") + " | "
                    + f"{dur(float(p['relay_latency_mean_s'].values[j, i]))} "
                    f"({dur(float(p['relay_latency_max_s'].values[j, i]))}) | "
                    f"{p['relay_plan_status'].values[j]} |")
    return lines
