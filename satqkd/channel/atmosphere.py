"""Clear-sky atmospheric extinction.

Slant transmittance T(z) = T_zenith ** AM(z) with the Kasten & Young (1989) air mass
(Appl. Opt. 28, 4735, eq. 3):

    AM(z) = 1 / (cos z + 0.50572 (96.07995 - z_deg) ** -1.6364).

The zenith transmittance comes, in this order of precedence, from

1. a user value (``Atmosphere.zenith_transmittance``);
2. a visibility: aerosol extinction at the station from the Kim, McArthur & Korevaar
   law (Proc. SPIE 4214, 26 (2001)), beta(lambda) = 3.912 / V (lambda/550 nm)^-q,
   integrated over an exponential aerosol profile of scale height H_a (zenith optical
   depth beta H_a), plus Rayleigh scattering;
3. the MODTRAN clear-sky sea-level zenith transmittances quoted by Bourgoin et al.,
   New J. Phys. 15, 023006 (2013): 0.876 at 785 nm, 0.895 at 850 nm, 0.960 at
   1550 nm. Their optical depth is split into Rayleigh (Hansen & Travis 1974) and the
   rest (aerosol and molecular absorption); the rest is interpolated between the
   table wavelengths as a power law in wavelength (Angstrom law; approximate away
   from the table points, molecular absorption bands are not represented).

Altitude scaling: the Rayleigh part scales with the surface pressure of the ISO 2533
standard atmosphere, the rest with exp(-h / H_a) (aerosols, H_a = 1.2 km by default,
and water vapour, scale height ~2 km, are both concentrated in the boundary layer).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from satqkd.channel.params import Atmosphere

#: MODTRAN clear-sky zenith transmittance at sea level, as quoted by Bourgoin et al. (2013).
MODTRAN_ZENITH_TRANSMITTANCE_SEA_LEVEL: dict[float, float] = {785.0: 0.876, 850.0: 0.895, 1550.0: 0.960}

#: Meteorological visibility presets (km) for ``Atmosphere.visibility_km``. Standard
#: MODTRAN aerosol model visibilities: rural 23 km, urban 5 km; "clear" 50 km is the
#: Kim law's q = 1.6 regime; "desert_high_altitude" 100 km for dry mountain sites.
VISIBILITY_PRESETS: dict[str, float] = {
    "desert_high_altitude": 100.0,
    "clear": 50.0,
    "rural": 23.0,
    "hazy": 10.0,
    "urban": 5.0,
}


def kasten_young_airmass(zenith_deg: ArrayLike) -> np.ndarray:
    """Relative optical air mass, Kasten & Young (1989) eq. 3; zenith clipped to 90 deg (AM 38)."""
    z = np.clip(np.asarray(zenith_deg, float), 0.0, 90.0)
    return 1.0 / (np.cos(np.radians(z)) + 0.50572 * (96.07995 - z) ** -1.6364)


def slant_transmittance(zenith_transmittance: ArrayLike, zenith_deg: ArrayLike) -> np.ndarray:
    """T(z) = T_zenith ** AM(z)."""
    return np.asarray(zenith_transmittance, float) ** kasten_young_airmass(zenith_deg)


def pressure_ratio(altitude_m: ArrayLike) -> np.ndarray:
    """p(h)/p0 of the ISO 2533 standard troposphere: (1 - 2.25577e-5 h)^5.25588."""
    return (1.0 - 2.25577e-5 * np.asarray(altitude_m, float)) ** 5.25588


def rayleigh_optical_depth(wavelength_nm: ArrayLike, altitude_m: ArrayLike = 0.0) -> np.ndarray:
    """Zenith Rayleigh optical depth above a station.

    Hansen & Travis, Space Sci. Rev. 16, 527 (1974):
    tau_R = 0.008569 lambda^-4 (1 + 0.0113 lambda^-2 + 0.00013 lambda^-4), lambda in um,
    scaled by the surface pressure ratio.
    """
    lam = np.asarray(wavelength_nm, float) * 1e-3
    tau0 = 0.008569 * lam**-4 * (1.0 + 0.0113 * lam**-2 + 0.00013 * lam**-4)
    return tau0 * pressure_ratio(altitude_m)


def kim_size_exponent(visibility_km: ArrayLike) -> np.ndarray:
    """Wavelength exponent q of the aerosol extinction, Kim et al. (2001) eq. 3."""
    v = np.asarray(visibility_km, float)
    return np.select(
        [v > 50.0, v > 6.0, v > 1.0, v > 0.5],
        [1.6, 1.3, 0.16 * v + 0.34, v - 0.5],
        0.0,
    )


def aerosol_extinction_per_km(wavelength_nm: ArrayLike, visibility_km: ArrayLike) -> np.ndarray:
    """Ground aerosol extinction beta = 3.912 / V (lambda / 550 nm)^-q (km^-1), Kim et al. (2001)."""
    v = np.asarray(visibility_km, float)
    return 3.912 / v * (np.asarray(wavelength_nm, float) / 550.0) ** -kim_size_exponent(v)


def _table_rest_sea_level(wavelength_nm: float) -> float:
    """Non-Rayleigh zenith optical depth at sea level from the MODTRAN table (power-law interpolation)."""
    lam = np.array(sorted(MODTRAN_ZENITH_TRANSMITTANCE_SEA_LEVEL))
    t = np.array([MODTRAN_ZENITH_TRANSMITTANCE_SEA_LEVEL[x] for x in lam])
    rest = -np.log(t) - rayleigh_optical_depth(lam)
    i = int(np.clip(np.searchsorted(lam, wavelength_nm) - 1, 0, len(lam) - 2))
    slope = np.log(rest[i + 1] / rest[i]) / np.log(lam[i + 1] / lam[i])
    return float(rest[i] * (wavelength_nm / lam[i]) ** slope)


def optical_depths(wavelength_nm: float, altitude_m: float, atmosphere: Atmosphere) -> tuple[float, float]:
    """Zenith optical depths (Rayleigh, rest) above a station; see module docstring for the sources."""
    tau_r = float(rayleigh_optical_depth(wavelength_nm, altitude_m))
    if atmosphere.zenith_transmittance is not None:
        return tau_r, max(-np.log(atmosphere.zenith_transmittance) - tau_r, 0.0)
    if atmosphere.visibility_km is not None:
        beta = float(aerosol_extinction_per_km(wavelength_nm, atmosphere.visibility_km))
        return tau_r, beta * atmosphere.aerosol_scale_height_m * 1e-3
    rest = _table_rest_sea_level(wavelength_nm) * np.exp(-altitude_m / atmosphere.aerosol_scale_height_m)
    return tau_r, float(rest)


def zenith_transmittance(wavelength_nm: float, altitude_m: float, atmosphere: Atmosphere) -> float:
    """Clear-sky zenith transmittance exp(-(tau_R + tau_rest)) above a station."""
    tau_r, tau_a = optical_depths(wavelength_nm, altitude_m, atmosphere)
    return float(np.exp(-(tau_r + tau_a)))
