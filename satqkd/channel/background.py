"""Background light: sky radiance (day, twilight, moonlit and moonless night) and counts.

Sky radiance L (W m^-2 sr^-1 nm^-1) seen by a ground receiver looking at elevation e:

* Sun and Moon light scattered once by a plane-parallel atmosphere of Rayleigh optical
  depth tau_R and aerosol optical depth tau_a (Chandrasekhar, *Radiative Transfer*,
  1960, ch. 1; Liou, *An Introduction to Atmospheric Radiation*, 2002, ch. 6):

      L = E0 / (4 pi) [tau_R P_R(Theta) + w_a tau_a P_HG(Theta)] / tau
            * m_v / (m_s - m_v) [exp(-tau m_v) - exp(-tau m_s)],

  m_v, m_s the Kasten-Young air masses of the view and source directions, Theta the
  scattering angle (the source-line-of-sight separation), P_R = 3/4 (1 + cos^2 Theta),
  P_HG the Henyey-Greenstein phase function (asymmetry g), tau = tau_R + tau_a and
  E0 the exo-atmospheric irradiance of the source. Single scattering underestimates
  the sky by a factor ~1 + tau (multiple scattering), i.e. by < 15 % in the near
  infrared where tau < 0.15, more in the blue.
* The Sun's spectral irradiance is a 5772 K blackbody scaled to the total solar
  irradiance 1361 W m^-2 (within ~10 % of ASTM E-490 between 0.5 and 1.7 um).
* The Moon's irradiance is the Sun's times 10^(-0.4 (m_moon - m_sun)), with the lunar
  V magnitude versus phase angle alpha of Krisciunas & Schaefer, PASP 103, 1033
  (1991), eq. 9: m_moon = -12.73 + 0.026 |alpha| + 4e-9 alpha^4, m_sun = -26.74, and
  alpha = arccos(2 k - 1) from the illuminated fraction k. Their sky model is this
  same single-scattering picture with empirical V-band phase functions; here the
  wavelength dependence comes from tau_R(lambda) and tau_a(lambda).
* Twilight (Sun below the horizon): the sky at Sun elevation 0 times
  10^(-0.4 s |h_sun|), s ~ 1 mag/deg (zenith twilight decline, Patat et al. 2006).
* Moonless night: dark-site zenith sky surface brightness (mag/arcsec^2) in V, R, I
  (Benn & Ellison, La Palma technical note 115, 1998: 21.9, 21.0, 20.0) and J, H
  (Mauna Kea, Gemini Observatory sky background: 16.6, 14.4; OH airglow dominates
  beyond 1 um), converted with the Bessell, Castelli & Plez (1998, A&A 333, 231)
  zero points and interpolated log-linearly in wavelength; times
  ``light_pollution_factor``. At 850 nm this is 4.7e-9 W m^-2 sr^-1 nm^-1.

Counts (Miao et al., New J. Phys. 7, 215 (2005), eq. 1; Bourgoin et al. 2013):

    N = L Omega_fov A_rx dlambda eta_optics eta_det / (h c / lambda)       [counts/s]

with Omega_fov = pi (fov/2)^2 and A_rx the unobscured collecting area; unpolarised
background splits equally over the n detectors of the receiver, so each detector sees
N / n plus its dark counts. Noise probability per detection window tau_w:
p = 1 - exp(-rate tau_w).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from satqkd.channel.atmosphere import kasten_young_airmass

H_PLANCK = 6.62607015e-34
C_LIGHT = 299792458.0
K_BOLTZMANN = 1.380649e-23
SUN_TEMPERATURE_K = 5772.0
SOLAR_CONSTANT_W_M2 = 1361.0
SUN_V_MAG = -26.74
ARCSEC2_PER_SR = (180.0 / np.pi * 3600.0) ** 2

#: Dark-site zenith sky brightness (mag/arcsec^2), band centre (nm), zero point (W m^-2 nm^-1).
DARK_SKY_BANDS: tuple[tuple[str, float, float, float], ...] = (
    ("V", 551.0, 21.9, 3.631e-11),
    ("R", 658.0, 21.0, 2.177e-11),
    ("I", 806.0, 20.0, 1.126e-11),
    ("J", 1220.0, 16.6, 3.147e-12),
    ("H", 1630.0, 14.4, 1.138e-12),
)


def photon_energy_j(wavelength_nm: ArrayLike) -> np.ndarray:
    return H_PLANCK * C_LIGHT / (np.asarray(wavelength_nm, float) * 1e-9)


def solar_spectral_irradiance(wavelength_nm: ArrayLike) -> np.ndarray:
    """Exo-atmospheric solar spectral irradiance (W m^-2 nm^-1): 5772 K blackbody scaled to 1361 W m^-2."""
    lam = np.asarray(wavelength_nm, float) * 1e-9
    planck = 2 * H_PLANCK * C_LIGHT**2 / lam**5 / np.expm1(H_PLANCK * C_LIGHT / (lam * K_BOLTZMANN * SUN_TEMPERATURE_K))
    # pi B integrates to sigma T^4; the dilution factor makes the integral the solar constant.
    dilution = SOLAR_CONSTANT_W_M2 / (5.670374419e-8 * SUN_TEMPERATURE_K**4)
    return np.pi * planck * dilution * 1e-9


def moon_phase_angle_deg(illuminated_fraction: ArrayLike) -> np.ndarray:
    """Phase angle alpha = arccos(2 k - 1) (deg), 0 at full Moon."""
    return np.degrees(np.arccos(np.clip(2.0 * np.asarray(illuminated_fraction, float) - 1.0, -1.0, 1.0)))


def moon_spectral_irradiance(wavelength_nm: ArrayLike, illuminated_fraction: ArrayLike) -> np.ndarray:
    """Exo-atmospheric lunar irradiance: Sun x 10^(-0.4 (m_moon(alpha) - m_sun)), Krisciunas & Schaefer (1991) eq. 9."""
    alpha = moon_phase_angle_deg(illuminated_fraction)
    m_moon = -12.73 + 0.026 * alpha + 4e-9 * alpha**4
    return solar_spectral_irradiance(wavelength_nm) * 10.0 ** (-0.4 * (m_moon - SUN_V_MAG))


def rayleigh_phase(scattering_angle_deg: ArrayLike) -> np.ndarray:
    """P_R = 3/4 (1 + cos^2 Theta), normalised to 4 pi over the sphere."""
    return 0.75 * (1.0 + np.cos(np.radians(scattering_angle_deg)) ** 2)


def henyey_greenstein_phase(scattering_angle_deg: ArrayLike, g: float) -> np.ndarray:
    """P_HG = (1 - g^2) / (1 + g^2 - 2 g cos Theta)^(3/2), normalised to 4 pi."""
    c = np.cos(np.radians(scattering_angle_deg))
    return (1.0 - g**2) / (1.0 + g**2 - 2.0 * g * c) ** 1.5


def single_scattering_radiance(
    source_irradiance: ArrayLike,
    view_elevation_deg: ArrayLike,
    source_elevation_deg: ArrayLike,
    separation_deg: ArrayLike,
    tau_rayleigh: float,
    tau_aerosol: float,
    asymmetry: float = 0.7,
    aerosol_albedo: float = 0.9,
) -> np.ndarray:
    """Single-scattered sky radiance from a source above the horizon (module docstring formula)."""
    m_v = kasten_young_airmass(90.0 - np.asarray(view_elevation_deg, float))
    m_s = kasten_young_airmass(90.0 - np.clip(np.asarray(source_elevation_deg, float), 0.0, 90.0))
    tau = tau_rayleigh + tau_aerosol
    # phase function per unit extinction optical depth (single-scattering albedo included)
    phase = (tau_rayleigh * rayleigh_phase(separation_deg)
             + aerosol_albedo * tau_aerosol * henyey_greenstein_phase(separation_deg, asymmetry)) / tau
    dm = m_s - m_v
    close = np.abs(dm) < 1e-6
    # [exp(-tau m_v) - exp(-tau m_s)] / (m_s - m_v) -> tau exp(-tau m) as m_s -> m_v
    path = np.where(close, tau * np.exp(-tau * m_v),
                    (np.exp(-tau * m_v) - np.exp(-tau * m_s)) / np.where(close, 1.0, dm))
    return np.asarray(source_irradiance, float) / (4 * np.pi) * phase * m_v * path


def dark_night_sky_radiance(wavelength_nm: ArrayLike) -> np.ndarray:
    """Moonless dark-site night-sky radiance (W m^-2 sr^-1 nm^-1), see ``DARK_SKY_BANDS``."""
    lam = np.array([b[1] for b in DARK_SKY_BANDS])
    radiance = np.array([b[3] * 10 ** (-0.4 * b[2]) * ARCSEC2_PER_SR for b in DARK_SKY_BANDS])
    return np.exp(np.interp(np.asarray(wavelength_nm, float), lam, np.log(radiance)))


def twilight_factor(sun_elevation_deg: ArrayLike, mag_per_deg: float = 1.0) -> np.ndarray:
    """10^(-0.4 s |h|) below the horizon, 1 above."""
    h = np.asarray(sun_elevation_deg, float)
    return np.where(h >= 0.0, 1.0, 10.0 ** (-0.4 * mag_per_deg * np.abs(np.minimum(h, 0.0))))


def sky_radiance(
    wavelength_nm: float,
    view_elevation_deg: ArrayLike,
    sun_elevation_deg: ArrayLike,
    sun_separation_deg: ArrayLike,
    moon_elevation_deg: ArrayLike,
    moon_separation_deg: ArrayLike,
    moon_illumination: ArrayLike,
    tau_rayleigh: float,
    tau_aerosol: float,
    *,
    asymmetry: float = 0.7,
    aerosol_albedo: float = 0.9,
    night_sky_radiance: float | None = None,
    light_pollution_factor: float = 1.0,
    twilight_mag_per_deg: float = 1.0,
    include_moon: bool = True,
) -> dict[str, np.ndarray]:
    """Sky spectral radiance seen from the ground: {'sun', 'moon', 'night', 'total'}."""
    kw = dict(tau_rayleigh=tau_rayleigh, tau_aerosol=tau_aerosol, asymmetry=asymmetry, aerosol_albedo=aerosol_albedo)
    sun_el = np.asarray(sun_elevation_deg, float)
    sun = single_scattering_radiance(solar_spectral_irradiance(wavelength_nm), view_elevation_deg,
                                     np.maximum(sun_el, 0.0), sun_separation_deg, **kw)
    sun = sun * twilight_factor(sun_el, twilight_mag_per_deg)
    moon = np.zeros_like(sun)
    if include_moon:
        moon_el = np.asarray(moon_elevation_deg, float)
        e_moon = moon_spectral_irradiance(wavelength_nm, moon_illumination)
        moon = np.where(moon_el > 0.0,
                        single_scattering_radiance(e_moon, view_elevation_deg, moon_el, moon_separation_deg, **kw),
                        0.0)
    night_value = dark_night_sky_radiance(wavelength_nm) * light_pollution_factor \
        if night_sky_radiance is None else night_sky_radiance
    night = np.full_like(sun, night_value)
    return {"sun": sun, "moon": moon, "night": night, "total": sun + moon + night}


def background_rate_per_detector(
    radiance: ArrayLike,
    wavelength_nm: float,
    fov_urad: float,
    aperture_m: float,
    obscuration_m: float,
    filter_bandwidth_nm: float,
    optics_efficiency: float,
    detector_efficiency: float,
    n_detectors: int,
) -> np.ndarray:
    """Background counts/s per detector: L Omega A dlambda eta_o eta_d / (h c / lambda) / n."""
    omega = np.pi * (0.5 * fov_urad * 1e-6) ** 2
    area = 0.25 * np.pi * (aperture_m**2 - obscuration_m**2)
    power = np.asarray(radiance, float) * omega * area * filter_bandwidth_nm
    return power * optics_efficiency * detector_efficiency / photon_energy_j(wavelength_nm) / n_detectors


def noise_probability(rate_hz: ArrayLike, window_ns: float) -> np.ndarray:
    """Probability of at least one noise count in a detection window: 1 - exp(-rate tau_w)."""
    return -np.expm1(-np.asarray(rate_hz, float) * window_ns * 1e-9)
