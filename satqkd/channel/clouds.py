"""Cloud cover along a pass: climatology + Markov persistence, or a user time series.

State model: each second the line of sight is clear or blocked by cloud. The state
is a two-state Markov chain (a discretised telegraph process) with clear-sky
probability p(t) and correlation time tau (``Clouds.persistence_s``):

    q = 1 - exp(-dt / tau),
    P(clear -> clear)  = 1 - (1 - p) q,      P(cloudy -> clear) = p q,

whose stationary clear fraction is p and whose autocorrelation is exp(-t / tau); the
mean clear spell lasts tau / (1 - p) and the mean cloudy spell tau / p (for dt << tau).
The initial state is drawn from p (the stationary distribution), so with a
persistence of 30 min a 5-min pass is mostly all clear or all cloudy, sometimes
broken. Random numbers come from the pass's own ``numpy.random.Generator``.

p(t) is the station's monthly clear-sky probability (``CLEAR_SKY_CLIMATOLOGY``, or
user values), or 1 - cloud fraction from a user series: a CSV of ``time, cloud_fraction``
or an ERA5 NetCDF with total cloud cover ``tcc`` (Hersbach et al., Q. J. R. Meteorol.
Soc. 146, 1999 (2020)), nearest grid cell, linear in time.

A cloudy second attenuates by exp(-tau_c AM(z)) (optical depth tau_c, Kasten-Young
air mass), i.e. ``loss_cloud`` = 10 log10(e) tau_c AM(z) dB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

from satqkd.channel._kernels import markov_two_state
from satqkd.channel.atmosphere import kasten_young_airmass
from satqkd.channel.params import Clouds
from satqkd.errors import InputError

_CLIMATOLOGY_NOTE = (
    "Rough estimates (uncertainty about +-0.15 per month) written for this module from the "
    "seasonal pattern of each site's climate (East-Asian summer monsoon, Mediterranean dry "
    "summers, trade-wind inversion) and the qualitative statements of the site-testing "
    "literature cited per station; NOT digitised from a cloud dataset. For quantitative "
    "availability studies pass an ERA5 'tcc' series or the site's own statistics."
)

#: Monthly (Jan..Dec) probability of a clear line of sight at night, with provenance.
CLEAR_SKY_CLIMATOLOGY: dict[str, dict] = {
    "xinglong": {
        "monthly": (0.75, 0.70, 0.65, 0.60, 0.55, 0.40, 0.30, 0.35, 0.55, 0.65, 0.70, 0.75),
        "source": "NAOC Xinglong site reports (e.g. Zhang et al., PASP 127, 1292 (2015)): dry clear "
                  "winters, monsoon-cloudy July-August. " + _CLIMATOLOGY_NOTE,
    },
    "nanshan": {
        "monthly": (0.60, 0.60, 0.55, 0.55, 0.55, 0.60, 0.60, 0.65, 0.70, 0.70, 0.60, 0.55),
        "source": "XAO Nanshan (Urumqi) site statements: continental, weak seasonality, best in "
                  "autumn. " + _CLIMATOLOGY_NOTE,
    },
    "delingha": {
        "monthly": (0.80, 0.75, 0.65, 0.60, 0.55, 0.45, 0.45, 0.45, 0.55, 0.75, 0.80, 0.80),
        "source": "PMO Delingha (Qinghai, 3200 m) arid plateau climate, summer-monsoon edge. "
                  + _CLIMATOLOGY_NOTE,
    },
    "lijiang": {
        "monthly": (0.80, 0.80, 0.75, 0.65, 0.45, 0.20, 0.15, 0.15, 0.25, 0.50, 0.75, 0.85),
        "source": "YNAO Gaomeigu/Lijiang site testing: clear dry season Nov-Apr, South-Asian "
                  "monsoon June-September. " + _CLIMATOLOGY_NOTE,
    },
    "ngari": {
        "monthly": (0.85, 0.80, 0.80, 0.80, 0.80, 0.70, 0.45, 0.45, 0.70, 0.90, 0.90, 0.85),
        "source": "Ngari (Ali, 5100 m) site-testing reports: very dry, monsoon surges July-August. "
                  + _CLIMATOLOGY_NOTE,
    },
    "graz": {
        "monthly": (0.25, 0.30, 0.35, 0.35, 0.35, 0.40, 0.45, 0.45, 0.45, 0.35, 0.20, 0.20),
        "source": "Graz-Lustbuehel SLR station, Central-European climate with winter fog/stratus. "
                  + _CLIMATOLOGY_NOTE,
    },
    "jinan": {
        "monthly": (0.55, 0.50, 0.50, 0.50, 0.50, 0.40, 0.25, 0.30, 0.45, 0.55, 0.50, 0.55),
        "source": "North China Plain climate (haze, July-August monsoon rain). " + _CLIMATOLOGY_NOTE,
    },
    "hefei": {
        "monthly": (0.35, 0.30, 0.30, 0.35, 0.35, 0.25, 0.35, 0.40, 0.45, 0.50, 0.45, 0.40),
        "source": "Yangtze valley climate (Meiyu June-July, overcast winters). " + _CLIMATOLOGY_NOTE,
    },
    "stellenbosch": {
        "monthly": (0.75, 0.75, 0.70, 0.60, 0.50, 0.40, 0.40, 0.45, 0.55, 0.60, 0.65, 0.75),
        "source": "Western Cape Mediterranean climate (winter rain May-August). " + _CLIMATOLOGY_NOTE,
    },
    "matera": {
        "monthly": (0.40, 0.40, 0.45, 0.50, 0.60, 0.70, 0.80, 0.80, 0.65, 0.55, 0.40, 0.40),
        "source": "ASI Matera (MLRO) Mediterranean climate, dry clear summers. " + _CLIMATOLOGY_NOTE,
    },
    "tenerife": {
        "monthly": (0.70, 0.70, 0.75, 0.80, 0.85, 0.90, 0.90, 0.85, 0.85, 0.80, 0.70, 0.70),
        "source": "ESA OGS, Izana (2400 m), above the trade-wind inversion; Teide/IAC site statistics. "
                  + _CLIMATOLOGY_NOTE,
    },
}

_ALIASES = {"ali": "ngari", "esa ogs": "tenerife", "ogs": "tenerife", "izana": "tenerife",
            "teide": "tenerife", "lustbuehel": "graz", "lustbühel": "graz", "gaomeigu": "lijiang"}


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
    return np.asarray(CLEAR_SKY_CLIMATOLOGY[key]["monthly"], float)


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
