"""Plots of a mission's passes and of the whole mission (matplotlib Agg canvases, no pyplot).

Per pass (:func:`plot_pass`): one figure, five panels sharing the time axis:
elevation and slant range; the stacked loss terms (dB); sifted counts and errors per
second; the QBER per second with Wilson score intervals and a pooled moving estimate;
the cumulative sifted key and the secret key.

The secret key is a property of the whole pass (finite-key privacy amplification acts on
the pass's block of sifted bits), so it has no per-second value. The cumulative secret
curve is an *apportionment*: the pass's final ``secret_bits`` spread over the seconds in
proportion to the Z-basis sifted counts, ``S(t) = secret_bits * K(t) / K(end)`` with
``K(t)`` the cumulative ``key_counts``; only its end point is a result of the simulation.

Per mission (:func:`plot_mission`): secret key per pass against the maximum elevation,
secret key per month and station, availability per month and station, key accumulated
over time, and the world map of ground tracks (:mod:`satqkd.report.worldmap`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib
import matplotlib.dates as mdates
import matplotlib.ticker
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from satqkd.mission.io import atomic_path
from satqkd.paths import child, slug
from satqkd.ragged import PassCutter, pass_from_ragged
from satqkd.report.mission_report import (
    is_usable,
    open_mission_output,
    summarize,
)
from satqkd.report.render import Job

LOSS_TERMS = (
    ("loss_geometric", "geometric"),
    ("loss_pointing", "pointing"),
    ("loss_atmosphere", "atmosphere"),
    ("loss_turbulence", "turbulence"),
    ("loss_cloud", "cloud"),
    ("loss_receiver", "receiver + detector"),
    ("loss_implementation", "implementation"),
)

#: Seconds pooled by the moving QBER estimate of the pass plot, and the fewest sifted
#: counts in that window for the estimate to be drawn (its 68 % Wilson band is then
#: narrower than about +-5 points of QBER at 1-10 %).
QBER_WINDOW_S = 15
QBER_MIN_POOLED_COUNTS = 30
#: The loss axis ends this far above the clear-sky total when cloud loss is larger.
LOSS_AXIS_CLOUD_DB = 30.0
#: Protocols of entangled-photon missions (their own report and plots).
ENTANGLED_PROTOCOLS = ("bbm92", "e91", "chsh")


# --------------------------------------------------------------------------- helpers
def new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure with its own Agg canvas (no pyplot registry, safe in threads and workers)."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Save a figure as PNG atomically (temporary file, then rename).

    A figure with a layout engine (constrained layout) is laid out here, once, at the
    saving resolution, and then drawn once: ``savefig`` would lay it out in a first,
    unrendered draw of every artist. The pixels are the same.
    """
    path = Path(path)
    engine = fig.get_layout_engine()
    if engine is not None and fig.axes:
        fig.set_dpi(dpi)
        engine.execute(fig)
        fig.set_layout_engine(None)  # laid out: savefig draws once
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def station_colors(names: Iterable[str]) -> dict[str, tuple]:
    """A stable colour per station (tab10, then tab20 beyond ten stations)."""
    names = list(dict.fromkeys(names))
    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def bits_scale(max_bits: float) -> tuple[float, str]:
    """Divisor and unit label so that ``max_bits`` reads as a number below 1000."""
    for div, unit in ((1e9, "Gbit"), (1e6, "Mbit"), (1e3, "kbit")):
        if max_bits >= div:
            return div, unit
    return 1.0, "bit"


def wilson_interval(errors: np.ndarray, n: np.ndarray, z: float = 1.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (Wilson, JASA 22, 209 (1927)).

    ``(k + z^2/2) / (n + z^2) -+ z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4)``; z = 1
    gives the 68 % interval. Well behaved at k = 0 and small n, unlike k/n +- sqrt.
    NaN where n = 0.
    """
    k = np.asarray(errors, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = (k + z * z / 2) / (n + z * z)
        half = z / (n + z * z) * np.sqrt(k * (n - k) / n + z * z / 4)
    lo, hi = centre - half, centre + half
    bad = n <= 0
    lo[bad], hi[bad] = np.nan, np.nan
    return lo, hi


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges [start, stop) of the True runs of a boolean array."""
    m = np.concatenate(([False], np.asarray(mask, bool), [False])).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]))


def _seconds(time: np.ndarray) -> np.ndarray:
    t = np.asarray(time, dtype="datetime64[ns]")
    return (t - t[0]).astype("timedelta64[ns]").astype(np.int64) / 1e9 if t.size else np.zeros(0)


def _var(ds: xr.Dataset, name: str, default: float = np.nan) -> np.ndarray:
    return ds[name].values if name in ds else np.full(ds.sizes.get("time", 0), default)


# --------------------------------------------------------------------------- per pass
def plot_pass(ds_pass: xr.Dataset, path: str | Path) -> Path:
    """Write the five-panel PNG of one pass (dataset with dim ``time``, scalars in attrs).

    ``ds_pass`` is what :func:`satqkd.ragged.pass_from_ragged` returns (or a checkpoint
    read by :func:`satqkd.mission.store.read_checkpoint`). Panels: elevation (deg) and slant range (km); stacked loss
    terms (dB); sifted detections and errors per second; QBER per second (both bases:
    ``sifted_errors / sifted_counts``) with 68 % Wilson intervals and a pooled
    ``QBER_WINDOW_S``-second moving estimate; cumulative sifted key (Z basis) and the
    apportioned secret key (see the module docstring). Seconds with cloud in the line
    of sight, or with the link not operating (daylight), are shaded.
    """
    a = ds_pass.attrs
    t = _seconds(ds_pass["time"].values)
    n = t.size
    fig = new_figure((10.5, 13.5))
    axes = fig.subplots(5, 1, sharex=True, height_ratios=[1, 1.2, 1, 1, 1])

    cloudy = ~_var(ds_pass, "cloud_clear", True).astype(bool)
    idle = ~_var(ds_pass, "operating", True).astype(bool)
    for ax in axes:
        for i0, i1 in _runs(idle):
            ax.axvspan(t[i0] - 0.5, t[i1 - 1] + 0.5, color="0.55", alpha=0.25, lw=0, zorder=0)
        for i0, i1 in _runs(cloudy & ~idle):
            ax.axvspan(t[i0] - 0.5, t[i1 - 1] + 0.5, color="#6a8caf", alpha=0.22, lw=0, zorder=0)
    shade = []
    if idle.any():
        shade.append(Patch(color="0.55", alpha=0.25, label="link not operating"))
    if (cloudy & ~idle).any():
        shade.append(Patch(color="#6a8caf", alpha=0.22, label="cloud in line of sight"))

    def legend(ax, extra=()):
        h, lab = ax.get_legend_handles_labels()
        if not h and not extra:
            return
        ax.legend(handles=list(h) + list(extra), labels=list(lab) + [p.get_label() for p in extra],
                  loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)

    # 1. geometry
    ax = axes[0]
    c_el, c_rg = "tab:blue", "tab:orange"
    ax.plot(t, _var(ds_pass, "elevation"), color=c_el, lw=1.8)
    ax.set_ylabel("elevation (deg)", color=c_el)
    ax.tick_params(axis="y", colors=c_el)
    ax.set_ylim(0, 90)
    ax2 = ax.twinx()
    ax2.plot(t, _var(ds_pass, "range"), color=c_rg, lw=1.8, ls="--")
    ax2.set_ylabel("slant range (km)", color=c_rg)
    ax2.tick_params(axis="y", colors=c_rg)
    ax.grid(alpha=0.3)
    ax.set_title("geometry: elevation (solid, left), slant range (dashed, right)", fontsize=10)

    # 2. loss terms
    ax = axes[1]
    terms = [(v, lab) for v, lab in LOSS_TERMS if v in ds_pass]
    if terms and n:
        stack = np.array([np.clip(np.nan_to_num(ds_pass[v].values), 0, None) for v, _ in terms])
        colors = matplotlib.colormaps["tab10"].colors
        ax.stackplot(t, stack, labels=[lab for _, lab in terms], colors=colors[: len(terms)],
                     alpha=0.85)
        total = stack.sum(axis=0)
        ax.plot(t, total, color="black", lw=1.2, label="total")
        # thick cloud (tens to hundreds of dB) would flatten the clear-sky terms: cap the
        # axis LOSS_AXIS_CLOUD_DB above the clear-sky total and say where the curve goes
        clear_total = total - (stack[[v for v, _ in terms].index("loss_cloud")]
                               if "loss_cloud" in ds_pass else 0.0)
        top = max(1.0, float(total.max()) * 1.08)
        cap = float(clear_total.max()) + LOSS_AXIS_CLOUD_DB
        if top > cap:
            top = cap
            ax.text(0.99, 0.96, f"total loss up to {total.max():.0f} dB (off scale)",
                    transform=ax.transAxes, ha="right", va="top", fontsize=8,
                    bbox={"fc": "white", "ec": "none", "alpha": 0.8})
        ax.set_ylim(0, top)
    ax.set_ylabel("loss (dB)")
    ax.grid(alpha=0.3)
    ax.set_title("link budget: loss terms, stacked", fontsize=10)
    legend(ax, shade)

    # 3. counts per second
    ax = axes[2]
    sifted = _var(ds_pass, "sifted_counts", 0).astype(float)
    errors = _var(ds_pass, "sifted_errors", 0).astype(float)
    key = _var(ds_pass, "key_counts", 0).astype(float)
    ax.plot(t, sifted, color="tab:green", lw=1.3, label="sifted (both bases)")
    if "key_counts" in ds_pass:
        ax.plot(t, key, color="tab:blue", lw=1.0, label="sifted Z basis (key)")
    ax.plot(t, errors, color="tab:red", lw=1.0, label="sifted errors")
    if np.nanmax(np.concatenate([sifted, [0]])) >= 50:
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.8)
    else:  # a handful of counts reads better on a linear axis
        ax.set_ylim(0, max(2.0, 1.1 * float(np.nanmax(np.concatenate([sifted, [0]])))))
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("counts per second")
    ax.grid(alpha=0.3, which="both")
    ax.set_title("detections after sifting", fontsize=10)
    legend(ax)

    # 4. QBER per second
    ax = axes[3]
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(sifted > 0, errors / sifted, np.nan)
    lo, hi = wilson_interval(errors, sifted)
    ok = sifted > 0
    if ok.any():
        ax.errorbar(t[ok], q[ok], yerr=[q[ok] - lo[ok], hi[ok] - q[ok]], fmt="o", ms=2,
                    color="0.45", ecolor="0.75", elinewidth=0.6, label="per second, 68 % Wilson")
        w = np.ones(QBER_WINDOW_S)
        ns, ks = np.convolve(sifted, w, "same"), np.convolve(errors, w, "same")
        enough = ns >= QBER_MIN_POOLED_COUNTS
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = np.where(enough, ks / ns, np.nan)
        plo, phi = wilson_interval(ks, ns)
        plo[~enough], phi[~enough] = np.nan, np.nan
        if enough.any():
            ax.fill_between(t, plo, phi, color="tab:purple", alpha=0.25, lw=0)
            ax.plot(t, pooled, color="tab:purple", lw=1.6,
                    label=f"pooled {QBER_WINDOW_S} s window, 68 % band\n"
                          f"(where >= {QBER_MIN_POOLED_COUNTS} sifted counts)")
            top = float(np.clip(1.5 * np.nanmax(phi), 0.05, 1.02))
        else:
            top = 1.02
        ax.set_ylim(0, top)
    else:
        ax.set_ylim(0, 0.1)
        ax.text(0.5, 0.5, "no sifted detections", transform=ax.transAxes, ha="center",
                va="center", color="0.3")
        off = ok & (q > top)
        if off.any():
            ax.text(0.99, 0.96, f"{off.sum()} per-second values above {100 * top:.0f} % "
                    "(off scale)", transform=ax.transAxes, ha="right", va="top", fontsize=8,
                    bbox={"fc": "white", "ec": "none", "alpha": 0.8})
    qz = a.get("qber", a.get("qber_z", np.nan))
    if np.isfinite(_float(qz)):
        ax.axhline(_float(qz), color="black", ls="--", lw=1.0,
                   label=f"pass QBER (Z basis) {100 * _float(qz):.2f} %")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("QBER")
    ax.grid(alpha=0.3)
    ax.set_title("quantum bit error rate", fontsize=10)
    legend(ax)

    # 5. cumulative key
    ax = axes[4]
    kc = np.cumsum(key if "key_counts" in ds_pass else sifted)
    secret = int(_float(a.get("secret_bits", 0)) or 0)
    top = max(kc[-1] if n else 0, secret, 1)
    div, unit = bits_scale(top)
    ax.plot(t, kc / div, color="tab:blue", lw=1.6, label="sifted key (Z basis)")
    if n and kc[-1] > 0 and secret > 0:
        ax.plot(t, secret * kc / kc[-1] / div, color="tab:red", lw=1.6, ls="--",
                label="secret key, apportioned\nby sifted counts")
    if n:
        ax.plot([t[-1]], [secret / div], marker="*", ms=12, color="tab:red", ls="none",
                clip_on=False, zorder=5,
                label=f"final secret key: {secret:,} bit")
    ax.set_ylabel(f"cumulative key ({unit})")
    ax.set_ylim(0, max(ax.get_ylim()[1], 2.0 / div))
    ax.grid(alpha=0.3)
    reason = str(a.get("abort_reason", "") or "")
    ax.set_title("key" + (f" (pass aborted: {reason})" if reason else ""), fontsize=10)
    legend(ax)
    aos = np.datetime_as_string(ds_pass["time"].values[0], unit="s") if n else "?"
    ax.set_xlabel(f"time since {aos.replace('T', ' ')} UTC (s)")
    if n:
        ax.set_xlim(t[0], t[-1] if t[-1] > t[0] else t[0] + 1)

    qtxt = f"{100 * _float(qz):.2f} %" if np.isfinite(_float(qz)) else "–"
    fig.suptitle(
        f"{a.get('satellite', '')} -> {a.get('station', '')}, AOS {a.get('aos', aos)!s}, "
        f"max elevation {_float(a.get('max_elevation_deg', np.nan)):.1f} deg\n"
        f"sifted {int(_float(a.get('sifted_bits', 0)) or 0):,} bit, QBER {qtxt}, "
        f"secret {secret:,} bit" + (f", aborted: {reason}" if reason else ""), fontsize=11)
    return save_figure(fig, path)


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def plot_passes(dir_or_ds: xr.Dataset | Path | str, plots_dir: Path | str,
                passes: Sequence[int] | None = None) -> list[Path]:
    """Draw :func:`plot_pass` for the given pass indices (all when ``None``).

    Files: ``plots_dir/<pass_id>_pass.png``. Indices are those of ``passes.csv`` rows
    (0-based); an index out of range raises ``IndexError``.
    """
    out = []
    with open_mission_output(dir_or_ds) as (ds, _table, _):
        if ds is None:
            raise FileNotFoundError("per-pass plots need passes.nc")
        n = ds.sizes.get("pass", 0)
        cut = PassCutter(ds, load=False)  # reads each plotted pass's rows only
        for i in range(n) if passes is None else passes:
            if not -n <= i < n:
                raise IndexError(f"pass {i} out of range (the mission has {n} passes)")
            p = cut.dataset(i % n)
            if p.sizes.get("time", 0) == 0:
                continue
            pid = str(p.attrs.get("pass_id", f"pass{i % n}"))
            out.append(plot_pass(p, child(Path(plots_dir), f"{slug(str(pid))}_pass.png")))
    return out


# --------------------------------------------------------------------------- per mission
def plot_key_vs_elevation(table: pd.DataFrame, path: str | Path) -> Path:
    """Secret key of every pass against its maximum elevation, coloured by station."""
    colors = station_colors(sorted(set(table["station"])))
    div, unit = bits_scale(float(table["secret_bits"].max()) if len(table) else 0.0)
    fig = new_figure((8.5, 5.2))
    ax = fig.add_subplot()
    # log axis: keys span decades between low and high passes; passes without key sit
    # on the floor of the axis (a factor 3 below the smallest key)
    keyed = table["secret_bits"].to_numpy(float)
    keyed = keyed[keyed > 0] / div
    top = float(keyed.max()) if keyed.size else 1.0
    floor = float(keyed.min()) / 3.0 if keyed.size else 0.1
    for name, c in colors.items():
        sub = table[table["station"] == name]
        u = sub["usable"].to_numpy(bool) & (sub["secret_bits"].to_numpy(float) > 0)
        ax.scatter(sub["max_elevation_deg"][u], sub["secret_bits"][u] / div, color=c, s=26,
                   edgecolor="black", linewidth=0.4, label=f"{name} ({u.sum()}/{len(sub)})",
                   zorder=3)
        ax.scatter(sub["max_elevation_deg"][~u], np.full((~u).sum(), floor), color=c,
                   marker="x", s=22, linewidth=1.0, zorder=2, clip_on=False)
    ax.set_xlabel("maximum elevation of the pass (deg)")
    ax.set_ylabel(f"secret key per pass ({unit}, log scale)")
    ax.set_xlim(0, 90)
    ax.set_yscale("log")
    ax.set_ylim(floor / 1.5, top * 3.0)
    ax.grid(alpha=0.3, which="both")
    h, lab = ax.get_legend_handles_labels()
    h.append(Line2D([], [], color="0.3", marker="x", ls="none", label="pass without key"))
    lab.append("pass without key (on the axis floor)")
    ax.legend(h, lab, title="station (usable/passes)", fontsize=8, title_fontsize=8,
              loc="upper left", frameon=True, framealpha=0.85)
    ax.set_title("Secret key per pass against maximum elevation")
    return save_figure(fig, path)


def _grouped_bars(ax, summary: xr.Dataset, values: np.ndarray, colors: dict) -> np.ndarray:
    months = summary["month"].values
    stations = list(summary["station"].values)
    x = np.arange(len(months))
    width = 0.8 / max(1, len(stations))
    for k, s in enumerate(stations):
        ax.bar(x - 0.4 + width * (k + 0.5), values[k], width=width, color=colors[s], label=s,
               edgecolor="black", linewidth=0.3)
    ax.set_xticks(x)
    ax.set_xticklabels(months, rotation=45 if len(months) > 6 else 0,
                       ha="right" if len(months) > 6 else "center")
    ax.set_xlim(-0.6, len(months) - 0.4)
    ax.set_xlabel("month (UTC, by AOS)")
    return x


def plot_monthly_key(summary: xr.Dataset, path: str | Path) -> Path:
    """Secret key per month and station (grouped bars)."""
    colors = station_colors(summary["station"].values)
    vals = summary["secret_bits"].values.astype(float)
    div, unit = bits_scale(float(vals.max()) if vals.size else 0.0)
    fig = new_figure((max(7.0, 1.0 + 0.75 * summary.sizes["month"] * max(1, len(colors)) ** 0.5), 5))
    ax = fig.add_subplot()
    _grouped_bars(ax, summary, vals / div, colors)
    ax.set_ylabel(f"secret key ({unit})")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(title="station", fontsize=8, title_fontsize=8, loc="center left",
              bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_title("Secret key per month and station")
    return save_figure(fig, path)


def plot_availability(summary: xr.Dataset, path: str | Path) -> Path:
    """Availability (usable / passes) per month and station; below it the clear-sky fraction."""
    colors = station_colors(summary["station"].values)
    width_in = max(7.0, 1.0 + 0.75 * summary.sizes["month"] * max(1, len(colors)) ** 0.5)
    fig = new_figure((width_in, 7.0))
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[1.4, 1])
    avail = np.nan_to_num(summary["availability"].values.astype(float))
    x = _grouped_bars(ax, summary, avail, colors)
    ax.set_xlabel("")
    width = 0.8 / max(1, len(colors))
    if summary.sizes["month"] * len(colors) <= 24:
        for k in range(len(colors)):
            for j in range(len(x)):
                n = int(summary["passes"].values[k, j])
                ax.annotate(f"{int(summary['usable_passes'].values[k, j])}/{n}",
                            (x[j] - 0.4 + width * (k + 0.5), avail[k, j]), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7)
        ax.text(0.01, 0.97, "labels: usable passes / passes", transform=ax.transAxes,
                fontsize=8, va="top", color="0.3")
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("availability\n(usable / passes)")
    ax.set_title("Availability per month and station")
    clear = np.nan_to_num(summary["clear_fraction"].values.astype(float))
    _grouped_bars(ax2, summary, clear, colors)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("clear-sky fraction\nof pass time")
    for a in (ax, ax2):
        a.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        a.grid(alpha=0.3, axis="y")
    ax.legend(title="station", fontsize=8, title_fontsize=8, loc="center left",
              bbox_to_anchor=(1.01, 0.5), frameon=False)
    return save_figure(fig, path)


def plot_cumulative_key(table: pd.DataFrame, path: str | Path) -> Path:
    """Secret key accumulated over the mission, per station and in total (at each LOS)."""
    colors = station_colors(sorted(set(table["station"])))
    t = table.sort_values("los_time")
    total = float(t["secret_bits"].sum())
    div, unit = bits_scale(total)
    fig = new_figure((9, 5))
    ax = fig.add_subplot()
    if len(t):
        start = t["aos_time"].min()
        for name, c in colors.items():
            sub = t[t["station"] == name]
            x = pd.concat([pd.Series([start]), sub["los_time"], pd.Series([t["los_time"].max()])])
            y = np.concatenate(([0.0], np.cumsum(sub["secret_bits"].to_numpy(float)),
                                [sub["secret_bits"].sum()])) / div
            ax.step(x.to_numpy(), y, where="post", color=c, lw=1.6, label=name, zorder=2)
        x = pd.concat([pd.Series([start]), t["los_time"]]).to_numpy()
        y = np.concatenate(([0.0], np.cumsum(t["secret_bits"].to_numpy(float)))) / div
        # drawn wide and pale under the stations, which it equals when one station gives key
        ax.step(x, y, where="post", color="0.2", lw=4.0, alpha=0.35, label="all stations",
                zorder=1)
        loc = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    ax.set_ylim(bottom=0)
    ax.set_ylabel(f"accumulated secret key ({unit})")
    ax.set_xlabel("time (UTC)")
    ax.grid(alpha=0.3)
    ax.legend(title="station", fontsize=8, title_fontsize=8, loc="upper left", frameon=True,
              framealpha=0.85)
    ax.set_title("Secret key accumulated over the mission")
    return save_figure(fig, path)


def plot_pass_key(table: pd.DataFrame, path: str | Path) -> Path:
    """Per-pass view (a mission of one pass): secret and sifted key of each pass, bars."""
    colors = station_colors(sorted(set(table["station"])))
    vals = np.maximum(table["sifted_bits"].to_numpy(float), table["secret_bits"].to_numpy(float))
    div, unit = bits_scale(float(vals.max()) if vals.size else 0.0)
    fig = new_figure((max(6.0, 2.5 + 1.2 * len(table)), 4.6))
    ax = fig.add_subplot()
    x = np.arange(len(table))
    for k, r in enumerate(table.itertuples(index=False)):
        c = colors.get(r.station, "0.5")
        ax.bar(k - 0.2, r.sifted_bits / div, width=0.4, color=c, alpha=0.35, edgecolor="black",
               linewidth=0.3)
        ax.bar(k + 0.2, r.secret_bits / div, width=0.4, color=c, edgecolor="black", linewidth=0.3)
        if r.secret_bits <= 0:
            ax.annotate(f"no key: {r.abort_reason or 'zero length'}", (k + 0.2, 0),
                        xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8,
                        rotation=90, va="bottom")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{r.station}\n{str(r.aos)[:16]}" for r in table.itertuples(index=False)],
                       fontsize=8)
    ax.set_ylabel(f"key ({unit})")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(handles=[Patch(color="0.5", alpha=0.35, label="sifted (Z basis)"),
                       Patch(color="0.5", label="secret")], fontsize=8, loc="upper right")
    ax.set_title("Key of each pass")
    return save_figure(fig, path)


def plot_entanglement_windows(windows: pd.DataFrame, path: str | Path) -> Path:
    """Per window: CHSH S with its error bar and pass/fail, coincidence rate, summed loss.

    ``windows`` is :func:`satqkd.report.mission_report.entanglement_windows_table`.
    """
    fig = new_figure((max(7.5, 2.0 + 0.6 * len(windows)), 9.0))
    ax_s, ax_c, ax_l = fig.subplots(3, 1, sharex=True)
    x = np.arange(len(windows))
    s = windows["chsh_s"].to_numpy(float)
    sig = windows["chsh_sigma"].to_numpy(float)
    ok = windows["bell_test_passed"].to_numpy(bool)
    for m, col, lab in ((ok, "#1b7f3b", "Bell test passed"), (~ok, "#b00000", "failed")):
        if m.any():
            ax_s.errorbar(x[m], s[m], yerr=sig[m], fmt="o", color=col, capsize=4, label=lab)
    ax_s.axhline(2.0, color="k", lw=1, ls="--", label="local bound S = 2")
    ax_s.axhline(2 * np.sqrt(2), color="0.5", lw=1, ls=":", label="Tsirelson 2 sqrt 2")
    ax_s.set_ylabel("CHSH S (+- 1 sigma)")
    ax_s.legend(fontsize=8, loc="lower right")
    ax_s.grid(alpha=0.3)
    ax_c.bar(x, windows["coincidence_rate_hz"].to_numpy(float), color="#4c72b0", width=0.6)
    ax_c.set_ylabel("coincidences per second\n(while both links operate)")
    ax_c.grid(alpha=0.3, axis="y")
    lo, hi = windows["summed_loss_min_db"].to_numpy(float), windows["summed_loss_max_db"].to_numpy(float)
    ax_l.vlines(x, lo, hi, color="#8c564b", lw=6)
    ax_l.set_ylabel("two-downlink loss (dB)\nmin-max over the window")
    ax_l.grid(alpha=0.3)
    ax_l.set_xlim(-1.0, len(x))
    ax_l.set_xticks(x)
    ax_l.set_xticklabels([str(a)[:16] for a in windows["aos"]], rotation=45 if len(x) > 4 else 0,
                         ha="right" if len(x) > 4 else "center", fontsize=8)
    ax_l.set_xlabel("window (AOS, UTC)")
    ax_s.set_title("Entanglement windows: Bell test, coincidences, summed loss")
    return save_figure(fig, path)


def plot_entanglement_window(ds_pass: xr.Dataset, path: str | Path) -> Path:
    """One dual-downlink window per second: elevations, summed loss, coincidences."""
    t = _seconds(ds_pass["time"].values)
    fig = new_figure((10.0, 8.0))
    ax_e, ax_l, ax_c = fig.subplots(3, 1, sharex=True)
    sa, sb = ds_pass.attrs.get("station_a", "A"), ds_pass.attrs.get("station_b", "B")
    for v, lab in (("elevation_a", sa), ("elevation_b", sb)):
        if v in ds_pass:
            ax_e.plot(t, ds_pass[v].values, label=str(lab))
    ax_e.set_ylabel("elevation (deg)")
    ax_e.legend(fontsize=8)
    for v, lab in (("summed_loss_db", "summed (both downlinks)"),):
        if v in ds_pass:
            ax_l.plot(t, ds_pass[v].values, color="#8c564b", label=lab)
    ax_l.set_ylabel("loss (dB)")
    ax_l.legend(fontsize=8)
    if "coincidences" in ds_pass:
        ax_c.step(t, ds_pass["coincidences"].values, where="mid", color="#4c72b0")
    ax_c.set_ylabel("coincidences per second")
    ax_c.set_xlabel("time since AOS (s)")
    for ax in (ax_e, ax_l, ax_c):
        ax.grid(alpha=0.3)
    s, sig = _float(ds_pass.attrs.get("chsh_s")), _float(ds_pass.attrs.get("chsh_sigma"))
    ax_e.set_title(f"Window {ds_pass.attrs.get('pass_id', '')}: S = {s:.3f} +- {sig:.3f}")
    return save_figure(fig, path)


def _best_pass(table: pd.DataFrame) -> int:
    """The pass with the most secret key (else the highest), for the executive summary."""
    if (table["secret_bits"] > 0).any():
        return int(np.argmax(table["secret_bits"].to_numpy()))
    el = table["max_elevation_deg"].to_numpy(float)
    return int(np.nanargmax(el)) if np.isfinite(el).any() else 0


def mission_plot_jobs(dir_or_ds: xr.Dataset | Path | str, plots_dir: Path | str) -> list[Job]:
    """The mission plots of :func:`plot_mission` as :class:`satqkd.report.render.Job` s, in
    report order, their inputs read into memory (each job returns its PNG's path)."""
    from satqkd.report.mission_report import (
        entanglement_windows_table,
        mission_protocol,
    )
    from satqkd.report.worldmap import draw_world_map, world_map_data

    plots_dir = Path(plots_dir)

    def job(fn, data, name: str, cost: float = 1.0) -> Job:  # draws plots_dir/name
        return Job(fn, (data, plots_dir / name), cost=cost, output=plots_dir / name)

    jobs: list[Job] = []
    with open_mission_output(dir_or_ds) as (ds, table, info):
        if len(table) == 0:  # nothing to draw; the report says there were no passes
            return jobs
        sites = {s["name"]: (float(s["lat_deg"]), float(s["lon_deg"]))
                 for s in info.get("stations", []) if isinstance(s, dict) and "lat_deg" in s}
        # costs: relative drawing times (the map's thousands of tracks and the five-panel
        # pass are the heavy ones), so those start first
        world = (job(draw_world_map, world_map_data(ds, sites), "world_map.png", cost=4.0)
                 if ds is not None else None)
        best = _best_pass(table)
        if mission_protocol(table, info) in ENTANGLED_PROTOCOLS:
            windows = entanglement_windows_table(ds, table)
            jobs.append(job(plot_entanglement_windows, windows, "entanglement_windows.png",
                            cost=2.0))
            if ds is not None:
                k = int(np.nanargmax(((windows["chsh_s"] - 2) / windows["chsh_sigma"]).fillna(-1e9)
                                     .to_numpy()))
                p = pass_from_ragged(ds, k)
                if p.sizes.get("time", 0):
                    jobs.append(job(plot_entanglement_window, p, "entanglement_window.png",
                                    cost=2.0))
            if (table["secret_bits"] > 0).any():
                jobs.append(job(plot_key_vs_elevation, table, "key_vs_elevation.png"))
            return jobs + ([world] if world else [])
        summary = summarize(table, info)
        if ds is not None:
            p = pass_from_ragged(ds, best)
            if p.sizes.get("time", 0):
                jobs.append(job(plot_pass, p, "executive_pass.png", cost=3.0))
        jobs.append(job(plot_key_vs_elevation, table, "key_vs_elevation.png"))
        if len(table) == 1:  # monthly bars of one pass say nothing: a per-pass view
            jobs.append(job(plot_pass_key, table, "pass_key.png"))
        else:
            jobs += [job(plot_monthly_key, summary, "monthly_key.png"),
                     job(plot_availability, summary, "availability.png")]
        jobs.append(job(plot_cumulative_key, table, "cumulative_key.png"))
    return jobs + ([world] if world else [])


def plot_mission(dir_or_ds: xr.Dataset | Path | str, plots_dir: Path | str,
                 workers: int | None = None) -> list[Path]:
    """Draw the mission plots into ``plots_dir``; return their paths (none without passes).

    Key distribution: ``executive_pass.png`` (the five panels of the best pass, when
    ``passes.nc`` is there), ``key_vs_elevation.png`` (log axis), ``monthly_key.png`` and
    ``availability.png`` (a mission of one pass: ``pass_key.png`` instead),
    ``cumulative_key.png`` and ``world_map.png``. Entangled protocols (bbm92, e91, chsh):
    ``entanglement_windows.png``, ``entanglement_window.png`` (the best window per second),
    ``key_vs_elevation.png`` for bbm92, and the map with both stations of each window.
    The plots are drawn by ``workers`` processes at once (default: one per CPU, see
    :func:`satqkd.report.render.figure_workers`).
    """
    from satqkd.report.render import draw_all

    return draw_all(mission_plot_jobs(dir_or_ds, plots_dir), workers)


__all__ = [
    "LOSS_TERMS",
    "QBER_WINDOW_S",
    "bits_scale",
    "is_usable",
    "mission_plot_jobs",
    "new_figure",
    "plot_availability",
    "plot_cumulative_key",
    "plot_entanglement_window",
    "plot_entanglement_windows",
    "plot_key_vs_elevation",
    "plot_mission",
    "plot_monthly_key",
    "plot_pass",
    "plot_pass_key",
    "plot_passes",
    "save_figure",
    "station_colors",
    "wilson_interval",
]
