"""Slant-path transmittance from LOWTRAN7 tables (plain numpy at run time).

LOWTRAN7: Kneizys F. X. et al., "Users guide to LOWTRAN 7", AFGL-TR-88-0177 (1988): band
model of the molecular absorption at 20 cm-1 resolution, Rayleigh scattering, and the
Shettle & Fenn (1979) rural / urban / maritime and desert aerosol models, whose
boundary-layer extinction follows the meteorological visibility, over the AFGL model
atmospheres (tropical, mid-latitude summer/winter, subarctic summer/winter).

The tables (``satqkd/data/lowtran7_slant.npz``) were generated offline by
``tools/make_lowtran_tables.py`` (which compiles the LOWTRAN7 Fortran; gfortran is never
needed at run time): slant path from the station altitude (GNDALT) to space (ITYPE 3),
for altitudes 0-5.5 km and zenith angles 0-85 deg,

    T = exp(-(tau_mol + tau_aer)),

tau_mol at LOWTRAN's native 20 cm-1 spacing for each model atmosphere, tau_aer
(total / molecular) on a 25 nm grid for each model atmosphere, aerosol model and
visibility (5, 10, 23, 50 km). Interpolation: linear in wavenumber (wavelength for the
aerosol), altitude and 1/visibility (the boundary-layer extinction is ~3.9/V), and
linear in Kasten-Young air mass for the zenith angle (tau is nearly proportional to
it); beyond 85 deg tau(85) is scaled by the air mass ratio. Visibilities outside
5-50 km are clamped.

``auto_model_atmosphere`` picks the model atmosphere from the station latitude and the
month: tropical within 23.5 deg of the equator, subarctic beyond 60 deg, mid-latitude
between; summer = April-September in the north, October-March in the south.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from satqkd.errors import InputError

DATA = Path(__file__).resolve().parent.parent / "data" / "lowtran7_slant.npz"
MODEL_ATMOSPHERES = ("tropical", "mid_latitude_summer", "mid_latitude_winter", "subarctic_summer",
                     "subarctic_winter")
AEROSOL_MODELS = ("rural", "maritime", "urban", "desert")


@functools.cache
def tables() -> dict[str, np.ndarray]:
    """The LOWTRAN7 tables (loaded once per process)."""
    with np.load(DATA) as z:
        return {k: z[k] for k in z.files}


def _kasten_young(zenith_deg: np.ndarray) -> np.ndarray:
    z = np.clip(zenith_deg, 0.0, 90.0)
    return 1.0 / (np.cos(np.radians(z)) + 0.50572 * (96.07995 - z) ** -1.6364)


def _bracket(grid: np.ndarray, x: float) -> tuple[int, float]:
    """Index i and weight f such that x ~ (1-f) grid[i] + f grid[i+1] (clamped)."""
    x = float(np.clip(x, grid[0], grid[-1]))
    i = int(np.clip(np.searchsorted(grid, x) - 1, 0, grid.size - 2))
    return i, (x - grid[i]) / (grid[i + 1] - grid[i])


def _interp_axis(values: np.ndarray, grid: np.ndarray, x: float, axis: int) -> np.ndarray:
    i, f = _bracket(grid, x)
    return (1 - f) * np.take(values, i, axis=axis) + f * np.take(values, i + 1, axis=axis)


def _zenith_interp(tau_z: np.ndarray, zenith_grid: np.ndarray, zenith_deg: np.ndarray,
                   am_grid: np.ndarray | None = None) -> np.ndarray:
    """tau on the zenith grid -> tau at ``zenith_deg``, linear in air mass, scaled beyond the grid."""
    am_grid = _kasten_young(zenith_grid) if am_grid is None else am_grid
    am = _kasten_young(zenith_deg)
    inside = np.interp(np.minimum(am, am_grid[-1]), am_grid, tau_z)
    return np.where(am > am_grid[-1], tau_z[-1] * am / am_grid[-1], inside)


def optical_depths(
    wavelength_nm: float,
    altitude_m: float,
    zenith_deg: ArrayLike,
    model_atmosphere: str = "mid_latitude_summer",
    aerosol_model: str = "rural",
    visibility_km: float = 23.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Slant (molecular, aerosol) optical depths, -ln T, from the station to space."""
    if model_atmosphere not in MODEL_ATMOSPHERES:
        raise InputError(f"atmosphere: unknown model atmosphere {model_atmosphere!r} "
                         f"(choose from {', '.join(MODEL_ATMOSPHERES)})")
    if aerosol_model not in AEROSOL_MODELS:
        raise InputError(f"atmosphere: unknown aerosol model {aerosol_model!r} "
                         f"(choose from {', '.join(AEROSOL_MODELS)})")
    if not 400.0 <= wavelength_nm <= 2500.0:
        raise InputError(f"atmosphere: LOWTRAN7 tables cover 400-2500 nm, got {wavelength_nm} nm")
    mol, aer, zen_grid, am_grid = _zenith_profiles(float(wavelength_nm), float(altitude_m),
                                                   model_atmosphere, aerosol_model,
                                                   float(visibility_km))
    z = np.asarray(zenith_deg, float)
    return _zenith_interp(mol, zen_grid, z, am_grid), _zenith_interp(aer, zen_grid, z, am_grid)


@functools.lru_cache(maxsize=256)
def _zenith_profiles(wavelength_nm: float, altitude_m: float, model_atmosphere: str,
                     aerosol_model: str, visibility_km: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(molecular, aerosol) optical depths on the tables' zenith grid, the grid and its
    air masses.

    They depend on the link (wavelength, station altitude, atmosphere) alone, so they are
    interpolated once per link and process; each pass then only reads them at its zenith
    angles.
    """
    t = tables()
    m = MODEL_ATMOSPHERES.index(model_atmosphere)
    a = AEROSOL_MODELS.index(aerosol_model)
    alt_km = np.asarray(t["altitude_km"], float)
    zen_grid = np.asarray(t["zenith_deg"], float)
    h = altitude_m * 1e-3
    # molecular: (alt, zen, wavenumber) -> wavenumber then altitude
    wn = np.asarray(t["wavenumber_cm"], float)
    order = np.argsort(wn)
    mol = t["molecular_tau"][m][..., order].astype(float)
    mol = _interp_axis(mol, wn[order], 1e7 / wavelength_nm, axis=2)        # (alt, zen)
    mol = _interp_axis(mol, alt_km, h, axis=0)                             # (zen,)
    # aerosol: (vis, alt, zen, wavelength)
    aer = t["aerosol_tau"][m, a].astype(float)
    aer = _interp_axis(aer, np.asarray(t["aerosol_wavelength_nm"], float), wavelength_nm, axis=3)
    inv_vis = 1.0 / np.asarray(t["visibility_km"], float)                  # decreasing
    aer = _interp_axis(aer[::-1], inv_vis[::-1], 1.0 / visibility_km, axis=0)
    aer = _interp_axis(aer, alt_km, h, axis=0)
    out = (mol, np.maximum(aer, 0.0), zen_grid.copy(), _kasten_young(zen_grid))
    for arr in out:
        arr.flags.writeable = False  # shared by every pass of the link
    return out


def slant_transmittance(
    wavelength_nm: float,
    altitude_m: float,
    zenith_deg: ArrayLike,
    model_atmosphere: str = "mid_latitude_summer",
    aerosol_model: str = "rural",
    visibility_km: float = 23.0,
) -> np.ndarray:
    """LOWTRAN7 clear-sky transmittance from the station to space at the given zenith angles."""
    mol, aer = optical_depths(wavelength_nm, altitude_m, zenith_deg, model_atmosphere, aerosol_model,
                              visibility_km)
    return np.exp(-(mol + aer))


def auto_model_atmosphere(lat_deg: float, month: int) -> str:
    """Model atmosphere from the latitude and the month (1-12); see the module docstring."""
    if abs(lat_deg) < 23.5:
        return "tropical"
    northern_summer = 4 <= month <= 9
    summer = northern_summer if lat_deg >= 0 else not northern_summer
    zone = "subarctic" if abs(lat_deg) >= 60.0 else "mid_latitude"
    return f"{zone}_{'summer' if summer else 'winter'}"
