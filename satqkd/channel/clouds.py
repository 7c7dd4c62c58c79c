"""Cloud cover along a pass: climatology + Markov persistence, or a user time series.

State model: each second the line of sight is clear or blocked by cloud. The state
is a two-state Markov chain (a discretised telegraph process) with clear-sky
probability p(t) and correlation time tau (``Clouds.persistence_s``):

    q = 1 - exp(-dt / tau),
    P(clear -> clear)  = 1 - (1 - p) q,      P(cloudy -> clear) = p q,

whose stationary clear fraction is p and whose autocorrelation is exp(-t / tau); the
mean clear spell lasts tau / (1 - p) and the mean cloudy spell tau / p (for dt << tau).
The initial state is drawn from p (the stationary distribution), so with a
persistence of hours a 5-min pass is almost always all clear or all cloudy, rarely
broken. Random numbers come from the pass's own ``numpy.random.Generator``.

p(t) is the station's monthly clear-sky probability (``CLEAR_SKY_CLIMATOLOGY``, sourced
per station in ``CLIMATOLOGY_SOURCES``; stations without a published value need user values),
user values, or 1 - cloud fraction from a user series: a CSV of ``time, cloud_fraction``
or an ERA5 NetCDF with total cloud cover ``tcc`` (Hersbach et al., Q. J. R. Meteorol.
Soc. 146, 1999 (2020)), nearest grid cell, linear in time.

A cloudy second attenuates by exp(-tau_c AM(z)) (optical depth tau_c, Kasten-Young
air mass), i.e. ``loss_cloud`` = 10 log10(e) tau_c AM(z) dB.

Weather that persists (``Clouds.chain = "station"``, the default in missions): one chain
per station over the whole mission instead of one per pass. The continuous-time version
of the chain above is an alternating sequence of clear and cloudy spells with exponential
durations of means tau / (1 - p) and tau / p (p taken at the start of each spell). The
spells are drawn once per station from a station-level seed (mission seed, station name)
starting at the mission start, so every pass, on whichever worker, reads the same weather:
the state at any time is a lookup in the spell table. The default persistence, 7 h, is the
integral time scale of the cloud-presence indicator in the ITU-R P.1853-1 (2012) cloud
time-series model (two low-pass filtered Gaussian components, 1/beta = 23 min and 13.8 h,
thresholded): matching it gives the chain the same variance of long-run clear fractions,
so monthly totals and relay storage see the model's spell statistics (mean spells
tau/(1-p) and tau/p, with an exponential tail of multi-day spells). Station observations
give 5-40 h (Jones, J. Appl. Meteorol. 31, 732 (1992)); use the site's value or an ERA5
series for a site study.
ERA5/CSV series keep the per-pass chain with p(t) from the series.

Thin cirrus (``cirrus_probability``, ``cirrus_optical_depth``): a second, independent
chain of the same persistence, present a fraction c of the time; it does not block the
link but attenuates by exp(-tau_ci AM(z)) (thin cirrus: 0.03 < tau < 0.3, Sassen & Cho,
J. Appl. Meteorol. 31, 1275 (1992); default tau_ci = 0.1).
"""

from __future__ import annotations

import functools
import zlib
from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

from satqkd.channel._kernels import markov_two_state
from satqkd.channel.atmosphere import kasten_young_airmass
from satqkd.channel.params import Clouds
from satqkd.errors import InputError

# Conversions to a clear-line-of-sight probability p (one value per month, Jan..Dec):
#   (a) site-testing papers: p = fraction of nights that are clear/usable, as published;
#   (b) night cloud cover c (fraction of sky): p = 1 - c;
#   (c) meteorological sunshine duration S (h): p ~ S / N, the relative sunshine duration,
#       N = astronomical day length (sunrise/sunset at a solar altitude of -0.833 deg, on the
#       15th of each month; annual N = 4430-4450 h at the latitudes used here). Relative
#       sunshine is a *daytime* proxy for 1 - cloud fraction; it is not a night statistic;
#   (d) "clear days" per year / 365.
# Where a source gives only an annual value, that value is used for all 12 months (no
# seasonal cycle is invented). Stations for which no published statistic was found have
# ``monthly = None``: ``monthly_clear_probability`` then raises ``InputError`` asking for
# user values or a cloud series, rather than using an unsourced guess.
# Each entry's "source" names the publication, the quantity and the conversion;
# CLIMATOLOGY_SOURCES (below) is the same text keyed by station.

#: Monthly (Jan..Dec) probability of a clear line of sight, with provenance.
CLEAR_SKY_CLIMATOLOGY: dict[str, dict] = {
    "xinglong": {
        "monthly": (0.63,) * 12,
        "source": "Zhang J.-C. et al., 'Astronomical Observing Conditions at Xinglong Observatory from "
                  "2007 to 2014', PASP 127, 1292 (2015), arXiv:1601.08114: spectroscopic (usable) nights "
                  "63% per year (photometric nights 32%). Conversion (a). ANNUAL value used for all months: "
                  "the paper reports a strong seasonal cycle (worst in summer; Yao S. et al., RAA 12(7) (2012), "
                  "doi:10.1088/1674-4527/12/7/005: about 8 operable hours per night in December, 1-2 h in July-August) but monthly "
                  "fractions were not available here, so summer is overestimated and winter underestimated.",
        "quantity": "fraction of spectroscopic (usable) nights, annual",
        "strength": "moderate (site-specific, annual only)",
    },
    "nanshan": {
        "monthly": None,
        "source": "NO PUBLISHED VALUE FOUND for the XAO Nanshan station (searched: site-testing and "
                  "NOWT papers). Supply clouds.clear_probability / monthly_clear_probability or an ERA5 "
                  "'tcc' series.",
        "quantity": "none",
        "strength": "unsourced",
    },
    "delingha": {
        "monthly": None,
        "source": "NO PUBLISHED VALUE RETRIEVED for PMO Delingha. Tian J.-F. et al., 'Optical Observing "
                  "Conditions at Delingha Station' (arXiv:1602.00838) and the SONG-China site page "
                  "(song.bao.ac.cn, 'Delingha site quality') give clear-night statistics, but their numbers "
                  "were not accessible here. Supply user values or an ERA5 'tcc' series.",
        "quantity": "none",
        "strength": "unsourced",
    },
    "lijiang": {
        "monthly": (0.70,) * 12,
        "source": "Xinhua / Beijing Review (2001-06-14, 'Largest Astronomical Base to Be Built', china.org.cn): "
                  "Gaomeigu has 254 clear days in an average year. Conversion (d): 254/365 = 0.70. ANNUAL value "
                  "used for all months although the site has a strong monsoon cycle (dry Nov-Apr, wet Jun-Sep); "
                  "a press figure of clear DAYS, not a night statistic. Monthly statistics exist in Xin Y.-X. "
                  "et al., RAA 20(9) (2020) (site monitoring, 2019) but were not accessible here.",
        "quantity": "clear days per year / 365 (press release)",
        "strength": "weak",
    },
    "ngari": {
        "monthly": (0.90, 0.90, 0.80, 0.80, 0.80, 0.50, 0.50, 0.50, 0.90, 0.90, 0.90, 0.90),
        "source": "Qian X., Yao Y. et al., 'Statistics of cloud cover above the Ali Observatory, Tibet', "
                  "MNRAS (2024), doi:10.1093/mnras/stae582 (meso-scale model + all-sky cameras, 2016-2018): "
                  "night cloud cover at the Ali site below 10% in winter and autumn, below 20% in spring, "
                  "above 50% in summer (regional mean; worst in July-August); annual about 20%. Conversion "
                  "(b) p = 1 - c with the seasonal bounds as published: DJF 0.90, MAM 0.80, JJA 0.50, SON 0.90 "
                  "(annual mean 0.78, consistent with the ~20% annual cover; Ye Q.-Z. et al., MNRAS Letters "
                  "(2016), arXiv:1512.01099: 57% photometric nights from CFSR).",
        "quantity": "1 - seasonal mean night cloud cover",
        "strength": "moderate (seasonal bounds, not monthly values)",
    },
    "graz": {
        "monthly": (0.42,) * 12,
        "source": "ZAMG climate normals for Graz-Universitaet as given in the climate table of the Graz "
                  "Wikipedia article: 1,890 h bright sunshine per year. Conversion (c): 1890 h / 4448 h "
                  "(possible at 47.07 N) = 0.42. ANNUAL value used for all months; Graz has a strong "
                  "seasonal cycle (autumn/winter fog and stratus) which is not represented. Daytime proxy.",
        "quantity": "annual relative sunshine duration",
        "strength": "weak (annual, daytime proxy)",
    },
    "jinan": {
        "monthly": (0.42,) * 12,
        "source": "Jinan climate summaries (e.g. 'Climatic characteristics of Jinan', lfasc.com, quoting "
                  "the city's meteorological data): annual sunshine 1,870.9 h (year 2009). Conversion (c): "
                  "1870.9 h / 4435 h (possible at 36.7 N) = 0.42. ANNUAL value of a single year from a "
                  "secondary source, used for all months; daytime proxy; no monsoon cycle represented.",
        "quantity": "annual relative sunshine duration (one year)",
        "strength": "weak",
    },
    "hefei": {
        "monthly": (0.44,) * 12,
        "source": "Hefei Meteorological Bureau / China Meteorological Administration climate certification, "
                  "reported in Hefei Daily (english.anhuinews.com, 2023-02-09): annual sunshine 1,929.2 h. "
                  "Conversion (c): 1929.2 h / 4432 h (possible at 31.8 N) = 0.44. ANNUAL value used for all "
                  "months (Meiyu June-July not represented); daytime proxy.",
        "quantity": "annual relative sunshine duration",
        "strength": "weak-moderate (official annual value, daytime proxy)",
    },
    "stellenbosch": {
        "monthly": (0.78, 0.75, 0.81, 0.71, 0.67, 0.61, 0.59, 0.64, 0.67, 0.69, 0.72, 0.76),
        "source": "UK Met Office holiday-weather climate averages for Cape Town (metoffice.gov.uk): average "
                  "daily sunshine 11, 10, 10, 8, 7, 6, 6, 7, 8, 9, 10, 11 h (Jan..Dec). Conversion (c): "
                  "divided by the day length at 33.9 S (14.2 ... 9.9 h). Cape Town, ~40 km from "
                  "Stellenbosch; whole-hour rounding of the source gives about +-0.05 per month; daytime proxy.",
        "quantity": "monthly relative sunshine duration (Cape Town)",
        "strength": "moderate (monthly, nearby city, daytime proxy)",
    },
    "matera": {
        "monthly": None,
        "source": "NO PUBLISHED VALUE FOUND for Matera (MLRO) or a nearby normals station. Supply user "
                  "values or an ERA5 'tcc' series.",
        "quantity": "none",
        "strength": "unsourced",
    },
    "tenerife": {
        "monthly": (0.69,) * 12,
        "source": "Cavazzani S. & Zitelli V., 'Satellite characterization of four interesting sites for "
                  "astronomical instrumentation', MNRAS (2013), arXiv:1211.1520: 68.6% cloud-free nights at "
                  "Izana from GOES-12, 2008-2009 (62.6% 'stable'). Conversion (a): 0.69. ANNUAL value used "
                  "for all months (two years of data; seasonal values not retrieved).",
        "quantity": "fraction of cloud-free nights (satellite), annual",
        "strength": "moderate (site-specific, annual, 2 years)",
    },
    "wettzell": {
        "monthly": None,
        "source": "NO PUBLISHED VALUE FOUND for Wettzell (DWD normals for a nearby station, e.g. Bad "
                  "Koetzting or Regensburg, were not accessible here). Supply user values or an ERA5 'tcc' "
                  "series.",
        "quantity": "none",
        "strength": "unsourced",
    },
    "stromlo": {
        "monthly": (0.63,) * 12,
        "source": "Bureau of Meteorology data for Canberra Airport as reported by the ACT Commissioner for "
                  "Sustainability and the Environment, 'ACT State of the Environment 2003', indicator "
                  "Weather/Sunshine: long-term mean (1978-90) 7.6 h sunshine per day. Conversion (c): "
                  "7.6 h / 12.14 h mean day length at 35.3 S = 0.63. ANNUAL value used for all months; "
                  "daytime proxy at the airport (~10 km from Mt Stromlo, 230 m lower). For comparison "
                  "BoM-derived tourist summaries give ~72 'clear days' (mean cloud <= 2 oktas) per year "
                  "(0.20), a much stricter definition.",
        "quantity": "annual relative sunshine duration (Canberra Airport)",
        "strength": "weak-moderate (official annual value, daytime proxy)",
    },
}

#: Station -> source string (publication, quantity, conversion) of its CLEAR_SKY_CLIMATOLOGY entry.
CLIMATOLOGY_SOURCES: dict[str, str] = {k: v["source"] for k, v in CLEAR_SKY_CLIMATOLOGY.items()}

_ALIASES = {"ali": "ngari", "esa ogs": "tenerife", "ogs": "tenerife", "izana": "tenerife",
            "teide": "tenerife", "lustbuehel": "graz", "lustbühel": "graz", "gaomeigu": "lijiang",
            "wlrs": "wettzell", "mount stromlo": "stromlo", "mt stromlo": "stromlo", "canberra": "stromlo"}


def _key(station: str) -> str | None:
    s = station.strip().lower()
    for name in CLEAR_SKY_CLIMATOLOGY:
        if s == name or s.startswith(name):
            return name
    for alias, name in _ALIASES.items():
        if alias in s:
            return name
    return None


def monthly_clear_probability(station: str, clouds: Clouds) -> np.ndarray:
    """The 12 monthly clear probabilities used for a station (user values first)."""
    if clouds.clear_probability is not None:
        return np.full(12, clouds.clear_probability)
    if clouds.monthly_clear_probability is not None:
        return np.asarray(clouds.monthly_clear_probability, float)
    key = _key(station)
    if key is None:
        raise InputError(
            f"clouds: no clear-sky climatology for station {station!r}; set clouds.clear_probability, "
            f"clouds.monthly_clear_probability or pass a cloud series (known: {', '.join(CLEAR_SKY_CLIMATOLOGY)})"
        )
    monthly = CLEAR_SKY_CLIMATOLOGY[key]["monthly"]
    if monthly is None:
        raise InputError(
            f"clouds: no published clear-sky climatology for station {station!r} "
            f"({CLEAR_SKY_CLIMATOLOGY[key]['source']}); set clouds.clear_probability, "
            "clouds.monthly_clear_probability or pass a cloud series"
        )
    return np.asarray(monthly, float)


def clear_probability_at(times: np.ndarray, station: str, clouds: Clouds) -> np.ndarray:
    """Clear probability per time stamp from the month of each time stamp."""
    months = np.asarray(times, "datetime64[M]").astype(int) % 12
    return monthly_clear_probability(station, clouds)[months]


def markov_clear(
    clear_probability: ArrayLike, persistence_s: float, step_s: float, rng: np.random.Generator
) -> np.ndarray:
    """Clear (True) / cloudy per time step from the two-state chain of the module docstring."""
    p = np.clip(np.asarray(clear_probability, float), 0.0, 1.0)
    q = -np.expm1(-step_s / persistence_s)
    u = rng.random(p.shape[0])
    initial = bool(u[0] < p[0]) if p.shape[0] else True
    return markov_two_state(u, 1.0 - (1.0 - p) * q, p * q, initial)


def cloud_transmittance(optical_depth: float, zenith_deg: ArrayLike) -> np.ndarray:
    """exp(-tau_c AM(z))."""
    return np.exp(-optical_depth * kasten_young_airmass(zenith_deg))


def read_cloud_csv(path: str | Path) -> xr.DataArray:
    """CSV with columns ``time`` (ISO 8601, UTC) and ``cloud_fraction`` (0..1) -> DataArray over time."""
    import pandas as pd

    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read cloud CSV ({exc})") from None
    missing = {"time", "cloud_fraction"} - set(df.columns)
    if missing:
        raise InputError(f"{path}: cloud CSV needs columns time, cloud_fraction (missing {', '.join(sorted(missing))})")
    times = pd.to_datetime(df["time"], utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
    frac = df["cloud_fraction"].to_numpy(float)
    if np.any(~np.isfinite(frac)) or frac.min() < 0 or frac.max() > 1:
        raise InputError(f"{path}: cloud_fraction must be within 0..1")
    return _series(times, frac, str(path))


def _series(times: np.ndarray, frac: np.ndarray, source: str) -> xr.DataArray:
    order = np.argsort(times)
    return xr.DataArray(frac[order], coords={"time": times[order]}, dims="time", name="cloud_fraction",
                        attrs={"units": "1", "long_name": "cloud fraction", "source": source})


def read_era5_tcc(path: str | Path, lat_deg: float, lon_deg: float) -> xr.DataArray:
    """ERA5 total cloud cover at the grid cell nearest a station, as a DataArray over time.

    Accepts the time dimension ``time`` or ``valid_time`` (CDS files since 2024), latitude/
    longitude named ``latitude``/``longitude`` or ``lat``/``lon`` (0..360 or -180..180), or no
    spatial dims (a point series). Any other dimension (``expver``, ``number``) is reduced by
    taking the first non-missing value.
    """
    path = Path(path)
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot open ERA5 NetCDF ({exc})") from None
    with ds:
        if "tcc" not in ds:
            raise InputError(f"{path}: no variable 'tcc' (ERA5 total cloud cover)")
        da = ds["tcc"].load()
    tdim = "valid_time" if "valid_time" in da.dims else "time"
    if tdim not in da.dims:
        raise InputError(f"{path}: tcc has no time dimension ('time' or 'valid_time'), dims {da.dims}")
    for lat_name, lon_name in (("latitude", "longitude"), ("lat", "lon")):
        if lat_name in da.dims and lon_name in da.dims:
            i = int(np.abs(da[lat_name].values - lat_deg).argmin())
            dlon = (da[lon_name].values - lon_deg + 180.0) % 360.0 - 180.0
            j = int(np.abs(dlon).argmin())
            da = da.isel({lat_name: i, lon_name: j})
            break
    extra = [d for d in da.dims if d != tdim]
    arr = da.transpose(tdim, *extra).values.astype(float).reshape(da.sizes[tdim], -1)
    # first non-missing member along the extra dims (ERA5 / ERA5T expver rows are disjoint)
    first = np.argmax(np.isfinite(arr), axis=1)
    frac = np.clip(arr[np.arange(arr.shape[0]), first], 0.0, 1.0)
    good = np.isfinite(frac)
    return _series(da[tdim].values.astype("datetime64[ns]")[good], frac[good], str(path))


def load_cloud_series(source, lat_deg: float, lon_deg: float) -> xr.DataArray:
    """A DataArray over ``time`` as it is, or a path: ``.csv`` -> CSV, anything else -> ERA5 NetCDF."""
    if isinstance(source, xr.DataArray):
        return source
    path = Path(source)
    if path.suffix.lower() == ".csv":
        return read_cloud_csv(path)
    return read_era5_tcc(path, lat_deg, lon_deg)


def cloud_fraction_at(series: xr.DataArray, times: np.ndarray) -> np.ndarray:
    """Cloud fraction linearly interpolated to ``times``; a pass outside the series is an input error."""
    t = np.asarray(times, "datetime64[ns]")
    st = series["time"].values.astype("datetime64[ns]")
    if st.size == 0:
        raise InputError(f"{series.attrs.get('source', 'cloud series')}: empty cloud series")
    if t.size and (t.min() < st.min() or t.max() > st.max()):
        raise InputError(
            f"{series.attrs.get('source', 'cloud series')}: pass {t.min()}..{t.max()} outside the cloud "
            f"series {st.min()}..{st.max()}"
        )
    x = (t - st[0]).astype("timedelta64[ns]").astype(float)
    xp = (st - st[0]).astype("timedelta64[ns]").astype(float)
    return np.interp(x, xp, series.values.astype(float))


def station_seed(mission_seed: int, station: str) -> np.random.SeedSequence:
    """The station's own weather stream: keyed by the mission seed and the station name only."""
    return np.random.SeedSequence(entropy=int(mission_seed),
                                  spawn_key=(zlib.crc32(station.encode("utf-8")), 0xC10D))


def _spells(rng: np.random.Generator, start_s: float, end_s: float, tau_s: float, p_at) -> tuple[np.ndarray, np.ndarray]:
    """Alternating exponential spells from ``start_s`` to beyond ``end_s``: (spell starts, state)."""
    starts, states = [], []
    t = start_s
    p0 = float(p_at(t))
    state = bool(rng.random() < p0)
    while t <= end_s:
        p = float(np.clip(p_at(t), 0.0, 1.0))
        starts.append(t)
        states.append(state)
        leave = (1.0 - p) if state else p  # rate of leaving the state, in units of 1/tau
        t += rng.exponential(tau_s / leave) if leave > 0 else (end_s - t + 1.0)
        state = not state
    return np.asarray(starts), np.asarray(states, bool)


@functools.lru_cache(maxsize=64)
def station_spells(mission_seed: int, station: str, start_s: float, end_s: float,
                   clouds: Clouds) -> dict[str, np.ndarray]:
    """The station's clear/cloudy and cirrus spells over the mission (computed once per process)."""
    rng = np.random.default_rng(station_seed(mission_seed, station))
    monthly = monthly_clear_probability(station, clouds) if clouds.model == "climatology" else np.ones(12)

    def p_at(t: float) -> float:
        return monthly[int(np.asarray(np.datetime64(int(t), "s"), "datetime64[M]").astype(int) % 12)]

    clear_t, clear_s = _spells(rng, start_s, end_s, clouds.persistence_s, p_at)
    c = clouds.cirrus_probability
    cirrus_t, cirrus_s = _spells(rng, start_s, end_s, clouds.persistence_s, lambda t: c)
    return {"clear_start_s": clear_t, "clear": clear_s, "cirrus_start_s": cirrus_t, "cirrus": cirrus_s}


def station_sky_state(times: np.ndarray, station: str, clouds: Clouds, mission_seed: int,
                      start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(clear, cirrus) at ``times`` from the station's persistent chain (see module docstring)."""
    t = np.asarray(times, "datetime64[ns]").astype(np.int64) * 1e-9
    if t.size:
        start_s, end_s = min(start_s, float(t.min())), max(end_s, float(t.max()))
    sp = station_spells(int(mission_seed), station, float(np.floor(start_s)), float(np.ceil(end_s)), clouds)

    def at(starts: np.ndarray, states: np.ndarray) -> np.ndarray:
        return states[np.clip(np.searchsorted(starts, t, side="right") - 1, 0, states.size - 1)]

    return at(sp["clear_start_s"], sp["clear"]), at(sp["cirrus_start_s"], sp["cirrus"])
