"""Optical turbulence of a slant path: profile, Fried parameter, scintillation, seeing.

References: L. C. Andrews & R. L. Phillips, *Laser Beam Propagation through Random
Media*, 2nd ed., SPIE Press (2005), ch. 12 (satellite links; "A&P" below), and ch. 9-10
for the strong-fluctuation scintillation index; D. L. Fried, J. Opt. Soc. Am. 56, 1372
(1966) for the seeing.

Heights: ``h`` in the Hufnagel-Valley formula is height above sea level by default
and path integrals run from the station altitude h0 upwards, as in A&P ch. 12
(``Turbulence.heights_above_ground`` shifts the profile to start at the station). The
profile is negligible above 30 km, where the integrals stop.

Downlink (plane wave at the ground, A&P section 12.4):

    r0      = [0.423 k^2 sec(z) int Cn2(h) dh]^(-3/5)
    sigma_R^2 = 2.25 k^(7/6) sec^(11/6)(z) int Cn2(h) (h - h0)^(5/6) dh

For HV5/7 at sea level these give r0 = 4.9 cm at 500 nm and sigma_R^2 = 0.126 at
850 nm at zenith, the "about 5 cm" and "about 0.13" figures usually quoted.

Aperture averaging (downlink, weak fluctuations, A&P section 12.4; Andrews, Phillips &
Hopen, *Laser Beam Scintillation with Applications*, 2001, ch. 7):

    sigma_I^2(D) = 8.70 k^(7/6) sec^(11/6)(z) Re int Cn2(h) {[k D^2 cos(z)/16 + i (h-h0)]^(5/6)
                                                       - [k D^2 cos(z)/16]^(5/6)} dh

(D -> 0 recovers sigma_R^2). Strong fluctuations: the plane-wave scintillation index
with aperture averaging of A&P (ch. 10 and section 12.4, zero inner scale)

    sigma_lnX^2 = 0.49 sigma_R^2 / (1 + 0.18 d^2 + 0.56 sigma_R^(12/5))^(7/6)
    sigma_lnY^2 = 0.51 sigma_R^2 (1 + 0.69 sigma_R^(12/5))^(-5/6) / (1 + 0.90 d^2 + 0.62 d^2 sigma_R^(12/5))
    sigma_I^2   = exp(sigma_lnX^2 + sigma_lnY^2) - 1

is used with d = d_eq, the value for which its weak limit equals the exact slant-path
weak-fluctuation aperture average above; this keeps the slant geometry exact in weak
turbulence and Andrews' saturation behaviour in strong turbulence.

The uplink (beam spread, wander, scintillation of a beam leaving the ground) is
``satqkd.channel.uplink``.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from numpy.typing import ArrayLike

from satqkd.channel.params import Turbulence

_TOP_M = 30_000.0
# Offsets above the station: log-spaced to resolve the 100 m ground layer and 10 km peak.
_X_M = np.concatenate([[0.0], np.geomspace(0.05, _TOP_M, 900)])


def hufnagel_valley_cn2(height_m: ArrayLike, ground_cn2: float = 1.7e-14, rms_wind_m_s: float = 21.0) -> np.ndarray:
    """Hufnagel-Valley Cn2(h) (m^-2/3), A&P section 12.2 form:

    Cn2 = 0.00594 (v/27)^2 (1e-5 h)^10 exp(-h/1000) + 2.7e-16 exp(-h/1500) + A exp(-h/100).
    HV5/7: v = 21 m/s, A = 1.7e-14 m^-2/3.
    """
    h = np.maximum(np.asarray(height_m, float), 0.0)
    return (
        0.00594 * (rms_wind_m_s / 27.0) ** 2 * (1e-5 * h) ** 10 * np.exp(-h / 1000.0)
        + 2.7e-16 * np.exp(-h / 1500.0)
        + ground_cn2 * np.exp(-h / 100.0)
    )


def slc_day_cn2(height_m: ArrayLike) -> np.ndarray:
    """SLC daytime Cn2(h) (m^-2/3), h above ground (Miller & Zieske 1976, the Submarine Laser
    Communication model from Maui measurements; A&P section 12.2.1):

    1.70e-14 (h < 19 m); 4.008e-13 h^-1.054 (19-230 m); 1.300e-15 (230-850 m);
    6.352e-7 h^-2.966 (850-7000 m); 6.209e-16 h^-0.6229 (7-20 km); 0 above.
    The pieces join continuously; r0 = 4.6 cm at 500 nm at zenith.
    """
    h = np.maximum(np.asarray(height_m, float), 0.0)
    hs = np.maximum(h, 1.0)  # the power laws are only evaluated where they apply
    return np.select(
        [h < 19.0, h < 230.0, h < 850.0, h < 7000.0, h < 20000.0],
        [np.full_like(h, 1.70e-14), 4.008e-13 * hs**-1.054, np.full_like(h, 1.300e-15),
         6.352e-7 * hs**-2.966, 6.209e-16 * hs**-0.6229],
        0.0,
    )


def path_profile(station_alt_m: float, turbulence: Turbulence) -> tuple[np.ndarray, np.ndarray]:
    """(x, Cn2) on the integration grid, x = h - h0 >= 0 the height above the station (m)."""
    return _path_profile(float(station_alt_m), turbulence)


@functools.lru_cache(maxsize=256)
def _path_profile(station_alt_m: float, turbulence: Turbulence) -> tuple[np.ndarray, np.ndarray]:
    # a link's profile, computed once per process (read-only: shared by its passes)
    if turbulence.profile == "slc-day":  # a boundary-layer model: heights above the ground
        cn2 = slc_day_cn2(_X_M)
    else:
        base = 0.0 if turbulence.heights_above_ground else station_alt_m
        cn2 = hufnagel_valley_cn2(_X_M + base, turbulence.ground_cn2, turbulence.rms_wind_m_s)
    cn2.flags.writeable = False
    return _X_M, cn2


@functools.lru_cache(maxsize=256)
def _profile_integral(station_alt_m: float, turbulence: Turbulence, power: float) -> float:
    """int Cn2 x^power dx over the link's path (power 0: int Cn2 dh), once per link."""
    x, cn2 = _path_profile(station_alt_m, turbulence)
    return _integrate(cn2 if power == 0.0 else cn2 * x ** power, x)


def daytime_turbulence(turbulence: Turbulence) -> Turbulence:
    """The profile of a downlink while the Sun is up (``Turbulence.day_profile``)."""
    if turbulence.day_profile == "night":
        return turbulence
    if turbulence.day_profile == "slc-day":
        return dataclasses.replace(turbulence, profile="slc-day")
    return dataclasses.replace(turbulence, profile="hv", ground_cn2=turbulence.day_ground_cn2)


def _integrate(y: np.ndarray, x: np.ndarray = _X_M) -> np.ndarray:
    return np.trapezoid(y, x, axis=-1)


def wavenumber(wavelength_nm: ArrayLike) -> np.ndarray:
    return 2.0 * np.pi / (np.asarray(wavelength_nm, float) * 1e-9)


def _sec(zenith_deg: ArrayLike) -> np.ndarray:
    return 1.0 / np.cos(np.radians(np.clip(np.asarray(zenith_deg, float), 0.0, 89.0)))


def fried_parameter_m(
    wavelength_nm: float, zenith_deg: ArrayLike, station_alt_m: float, turbulence: Turbulence
) -> np.ndarray:
    """Plane-wave Fried parameter r0 = [0.423 k^2 sec z int Cn2 dh]^(-3/5) (A&P section 12.2; Fried 1966)."""
    mu0 = _profile_integral(float(station_alt_m), turbulence, 0.0)
    return (0.423 * wavenumber(wavelength_nm) ** 2 * _sec(zenith_deg) * mu0) ** -0.6


def rytov_variance_downlink(
    wavelength_nm: float, zenith_deg: ArrayLike, station_alt_m: float, turbulence: Turbulence
) -> np.ndarray:
    """Plane-wave Rytov variance of a downlink: 2.25 k^(7/6) sec^(11/6) z int Cn2 (h-h0)^(5/6) dh."""
    x, cn2 = path_profile(station_alt_m, turbulence)
    mu = _integrate(cn2 * x ** (5.0 / 6.0), x)
    return 2.25 * wavenumber(wavelength_nm) ** (7.0 / 6.0) * _sec(zenith_deg) ** (11.0 / 6.0) * mu


def scintillation_weak_downlink(
    wavelength_nm: float,
    zenith_deg: ArrayLike,
    aperture_m: float,
    station_alt_m: float,
    turbulence: Turbulence,
) -> np.ndarray:
    """Aperture-averaged weak-fluctuation scintillation index of a downlink (see module doc)."""
    x, cn2 = path_profile(station_alt_m, turbulence)
    k = wavenumber(wavelength_nm)
    z = np.atleast_1d(np.asarray(zenith_deg, float))
    sec = _sec(z)
    a = (k * aperture_m**2 / 16.0 / sec)[:, None]
    bracket = (a + 1j * x[None, :]) ** (5.0 / 6.0) - a ** (5.0 / 6.0)
    out = 8.70 * k ** (7.0 / 6.0) * sec ** (11.0 / 6.0) * _integrate(cn2 * bracket.real, x)
    return out.reshape(np.shape(zenith_deg))


def _andrews_log_variances(rytov: np.ndarray, d2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s125 = rytov ** 1.2
    lnx = 0.49 * rytov / (1.0 + 0.18 * d2 + 0.56 * s125) ** (7.0 / 6.0)
    lny = 0.51 * rytov * (1.0 + 0.69 * s125) ** (-5.0 / 6.0) / (1.0 + 0.90 * d2 + 0.62 * d2 * s125)
    return lnx, lny


def _weak_averaging_factor(d2: np.ndarray) -> np.ndarray:
    return 0.49 / (1.0 + 0.18 * d2) ** (7.0 / 6.0) + 0.51 / (1.0 + 0.90 * d2)


def equivalent_d2(aperture_factor: ArrayLike) -> np.ndarray:
    """d^2 whose Andrews weak-limit averaging factor equals ``aperture_factor`` (in (0, 1])."""
    target = np.clip(np.asarray(aperture_factor, float), 1e-12, 1.0)
    lo = np.full(target.shape, -12.0)
    hi = np.full(target.shape, 12.0)
    for _ in range(60):  # bisection in log10(d^2); the factor decreases monotonically
        mid = 0.5 * (lo + hi)
        above = _weak_averaging_factor(10.0**mid) > target
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return np.where(target >= 1.0, 0.0, 10.0 ** (0.5 * (lo + hi)))


def scintillation_downlink(
    wavelength_nm: float,
    zenith_deg: ArrayLike,
    aperture_m: float,
    station_alt_m: float,
    turbulence: Turbulence,
) -> dict[str, np.ndarray]:
    """Rytov variance, aperture averaging factor, log-variances and scintillation index of a downlink."""
    z = np.asarray(zenith_deg, float)
    rytov = rytov_variance_downlink(wavelength_nm, z, station_alt_m, turbulence)
    weak = scintillation_weak_downlink(wavelength_nm, z, aperture_m, station_alt_m, turbulence)
    factor = np.where(rytov > 0, weak / np.where(rytov > 0, rytov, 1.0), 1.0)
    d2 = equivalent_d2(factor)
    lnx, lny = _andrews_log_variances(rytov, d2)
    return {
        "rytov_variance": rytov,
        "aperture_averaging": factor,
        "sigma2_lnx": lnx,
        "sigma2_lny": lny,
        "scintillation_index": np.expm1(lnx + lny),
    }


def seeing_coupling(
    wavelength_nm: float, fried_m: ArrayLike, aperture_m: float, fov_urad: float
) -> np.ndarray:
    """Fraction of a long-exposure star image inside a circular field stop of full angle ``fov_urad``.

    The long-exposure PSF is taken Gaussian with FWHM^2 = (0.98 lambda/r0)^2 + (1.03 lambda/D)^2
    (seeing of Fried 1966 and the Airy core, added in quadrature): eta = 1 - exp(-theta_f^2 / (2 s^2)),
    theta_f = fov/2, s = FWHM / 2.3548.
    """
    lam = wavelength_nm * 1e-9
    fwhm = np.hypot(0.98 * lam / np.asarray(fried_m, float), 1.03 * lam / aperture_m)
    s = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    return -np.expm1(-((0.5 * fov_urad * 1e-6) ** 2) / (2.0 * s**2))


def scintillation_weighted_height_m(station_alt_m: float, turbulence: Turbulence) -> float:
    """Height above the station of the layers weighting the downlink scintillation, int Cn2 x^(11/6) / int Cn2 x^(5/6)."""
    alt = float(station_alt_m)
    return float(_profile_integral(alt, turbulence, 11.0 / 6.0)
                 / _profile_integral(alt, turbulence, 5.0 / 6.0))
