"""Uplink channel physics: a beam launched from the ground through the turbulence to a satellite.

In an uplink the turbulence sits next to the transmitter, so the beam is spread and
steered before it has diffracted: the satellite sees a beam that wanders and is wider
than the diffraction beam, and an intensity that scintillates as a (small) point
receiver. The formulas are those of L. C. Andrews & R. L. Phillips, *Laser Beam
Propagation through Random Media*, 2nd ed., SPIE Press (2005), ch. 12 ("A&P" below;
equation numbers of that chapter), and of Andrews, Phillips, Sasiela & Parenti, Opt.
Eng. 45, 076001 (2006) ("APSP 2006") for the beam-wander-induced scintillation.

Geometry (A&P sec. 12.3): station altitude h0, satellite altitude H, zenith angle z,
slant range L = (H - h0) sec z (flat layers), wavenumber k = 2 pi / lambda, collimated
Gaussian beam of 1/e^2 radius W0 at the transmit aperture:

    Lambda0 = 2 L / (k W0^2),  Theta = 1 / (1 + Lambda0^2),  Lambda = Lambda0 / (1 + Lambda0^2),
    W = W0 sqrt(1 + Lambda0^2)                                               (A&P eq. 12.9)
    xi = 1 - (h - h0) / (H - h0)                                             (A&P eq. 12.14)

Mean beam (A&P sec. 12.5):

    W_LT = W [1 + (D0 / r0)^(5/3)]^(3/5),  D0 = sqrt(8) W0                  (A&P eq. 12.48)
    <r_c^2> = 0.54 (H - h0)^2 sec^2 z (lambda / 2 W0)^2 (2 W0 / r0)^(5/3)   (beam wander; A&P sec. 12.5,
                                                                             APSP 2006, infinite outer scale)
    sigma_pe^2 = <r_c^2> [1 - ((C_r W0/r0)^2 / (1 + (C_r W0/r0)^2))^(1/6)]  (A&P eq. 12.53)

with r0 the plane-wave Fried parameter of the path (A&P eq. 12.23). W_LT is valid in all
fluctuation regimes; in weak turbulence it agrees with A&P's weak-fluctuation form
W^2 [1 + 4.35 mu_2u Lambda^(5/6) k^(7/6) (H-h0)^(5/6) sec^(11/6) z] to ~15 %. Here <r_c^2>
is the mean-square radial displacement of the beam centre (per-axis variance
<r_c^2>/2). A Gaussian beam of radius W_ST whose centre wanders so has the mean profile
W_ST^2 + 2 <r_c^2>; keeping W_LT as the mean beam gives W_ST^2 = W_LT^2 - 2 <r_c^2>
(A&P write W_LT^2 - <r_c^2>; their <r_c^2> and W_LT come from one spectral split, ours keep
the mean beam exact). When the wander exceeds the turbulent spread (2 W0 < ~2.4 r0) the
short-term beam is the diffraction beam and the wander is what is left,
(W_LT^2 - W^2) / 2.

Point-ahead (aberration): the beacon arrives from where the satellite was a light time
L/c ago, and the uplink must reach where the satellite will be L/c later, so it is
launched 2 v_perp / c ahead of the beacon's direction, v_perp the satellite's speed across
the line of sight (~50 urad in LEO). v_perp = omega L, omega the angular rate of the line of
sight from the per-second geometry (Earth-fixed frame: the Earth's rotation adds
|Omega x L| <= 90 m/s, ~1 %, not included).

Tip-tilt pre-compensation: a fast-steering mirror applies the tilt measured on the
satellite's downlink beacon to the uplink. The beam's own tilt (centroid of the far field
= intensity-weighted mean phase gradient over the launched beam) and the beacon's
(G-tilt over the sensor aperture D_b) come from the same layers, but along directions
separated by the point-ahead angle theta, so at the height h their paths are
theta (h - h0) sec z apart. With Kolmogorov turbulence (phase spectrum 2 pi k^2 0.033 Cn2
kappa^(-11/3) per unit path) and Gaussian filters (beam intensity exp(-2 r^2/W0^2): filter
exp(-kappa^2 W0^2/8); uniform aperture 2 J1(x)/x ~ exp(-x^2/8), x = kappa D_b/2, its low-order
expansion), the two-axis tilt covariance of filters a, b at separation d is (Gradshteyn &
Ryzhik 6.631.1)

    C_ab(d) = 4 pi^2 0.033 sec z int Cn2(h) dh int kappa^(-2/3) G_a G_b J0(kappa d) dkappa
            = 4 pi^2 0.033 sec z int Cn2(h) Gamma(1/6) / (2 s_ab^(1/6)) 1F1(1/6; 1; -d^2/(4 s_ab)) dh,

s_ab = (w_a^2 + w_b^2)/8 with w_u = W0 and w_b = D_b/2 (filter-function method of Sasiela,
*Electromagnetic Wave Propagation in Turbulence*, 1994; tilt anisoplanatism: Fried, Proc. SPIE
75, 20 (1976)). The residual wander of the pre-compensated beam is the wander times

    f(theta) = [C_uu + C_bb - 2 C_ub(theta)] / C_uu

(0 for a perfect, isoplanatic reference; 2 when beacon and beam tilts are uncorrelated:
correcting with an unrelated tilt doubles the wander). f depends on theta sec z alone and
is tabulated once per link. The tilt isoplanatic angle theta_TA is where f = 1: beyond it
the correction no longer helps. The loop's own error (sensor noise, bandwidth, mount) is the
transmitter's ``pointing_jitter_urad``.

Scintillation at the satellite (a point receiver: the irradiance correlation width at
orbit is metres, larger than the receive aperture):

    sigma_Bu^2 = 8.70 mu_3u k^(7/6) (H - h0)^(5/6) sec^(11/6) z                (A&P eq. 12.58)
    mu_3u = Re int Cn2 {xi^(5/6) [Lambda xi + i (1 - (1 - Theta) xi)]^(5/6) - Lambda^(5/6) xi^(5/3)} dh
                                                                              (A&P eq. 12.55)
    sigma_lnX^2 = 0.49 sigma_Bu^2 / [1 + 0.56 (1 + Theta) sigma_Bu^(12/5)]^(7/6)
    sigma_lnY^2 = 0.51 sigma_Bu^2 / [1 + 0.69 sigma_Bu^(12/5)]^(5/6)            (A&P eq. 12.60)

(tracked beam, all fluctuation regimes; its weak limit is exp(sigma_Bu^2) - 1 ~ sigma_Bu^2,
the Rytov result) plus the wander / pointing-error (off-axis) term of APSP 2006,

    sigma_I,pe^2 = 5.95 (2 W0 / r0)^(5/3) [((r - sigma_pe)/W)^2 U(r - sigma_pe) + (sigma_pe / W)^2],

r the pointing offset of the beam centre at the satellite, U the unit step.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from satqkd.channel import atmosphere as atm
from satqkd.channel import background as bkg
from satqkd.channel import turbulence
from satqkd.channel.params import Turbulence

C_LIGHT_M_S = 299792458.0
#: C_r of A&P eq. 12.53, a scaling constant A&P put between 1 and 2 pi; the upper end is taken
#: (an assumption, not fitted to anything here).
POINTING_ERROR_SCALE = 2.0 * np.pi


def _sec(zenith_deg: ArrayLike) -> np.ndarray:
    return 1.0 / np.cos(np.radians(np.clip(np.asarray(zenith_deg, float), 0.0, 89.0)))


# --- beam ------------------------------------------------------------------------------------


def gaussian_beam_parameters(wavelength_nm: float, range_m: ArrayLike, waist_m: float) -> dict[str, np.ndarray]:
    """Theta, Lambda and the diffraction radius W at range L of a collimated beam of waist W0 (A&P eq. 12.9)."""
    k = turbulence.wavenumber(wavelength_nm)
    lam0 = 2.0 * np.asarray(range_m, float) / (k * waist_m**2)
    return {"theta": 1.0 / (1.0 + lam0**2), "lambda": lam0 / (1.0 + lam0**2),
            "radius_m": waist_m * np.sqrt(1.0 + lam0**2)}


def long_term_beam_radius_m(diffraction_radius_m: ArrayLike, waist_m: float, fried_m: ArrayLike) -> np.ndarray:
    """Long-term (mean) beam radius W_LT = W [1 + (sqrt(8) W0 / r0)^(5/3)]^(3/5) (A&P eq. 12.48)."""
    d0 = np.sqrt(8.0) * waist_m
    return np.asarray(diffraction_radius_m, float) * (1.0 + (d0 / np.asarray(fried_m, float)) ** (5.0 / 3.0)) ** 0.6


def beam_wander_variance_m2(wavelength_nm: float, range_m: ArrayLike, waist_m: float, fried_m: ArrayLike) -> np.ndarray:
    """Mean-square radial wander of the beam centre at the satellite, <r_c^2> (m^2).

    0.54 L^2 (lambda / 2 W0)^2 (2 W0 / r0)^(5/3), L = (H - h0) sec z (A&P sec. 12.5; APSP 2006),
    infinite outer scale.
    """
    lam = wavelength_nm * 1e-9
    L = np.asarray(range_m, float)
    return 0.54 * L**2 * (lam / (2.0 * waist_m)) ** 2 * (2.0 * waist_m / np.asarray(fried_m, float)) ** (5.0 / 3.0)


def pointing_error_variance_m2(wander_m2: ArrayLike, waist_m: float, fried_m: ArrayLike,
                               scale: float = POINTING_ERROR_SCALE) -> np.ndarray:
    """Beam-wander pointing-error variance sigma_pe^2 (A&P eq. 12.53): the wander filtered to the large scales."""
    a = (scale * waist_m / np.asarray(fried_m, float)) ** 2
    return np.asarray(wander_m2, float) * (1.0 - (a / (1.0 + a)) ** (1.0 / 6.0))


def short_term_beam(long_term_m: ArrayLike, wander_m2: ArrayLike,
                    diffraction_radius_m: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Short-term radius W_ST and the wander consistent with the mean beam: W_LT^2 = W_ST^2 + 2 <r_c^2>, W_ST >= W.

    Returns (W_ST, wander actually attributed); see the module docstring for the convention.
    """
    w_lt2 = np.asarray(long_term_m, float) ** 2
    w_st2 = np.maximum(w_lt2 - 2.0 * np.asarray(wander_m2, float), np.asarray(diffraction_radius_m, float) ** 2)
    return np.sqrt(w_st2), 0.5 * (w_lt2 - w_st2)


def mean_beam_radius_m(short_term_m: ArrayLike, wander_m2: ArrayLike) -> np.ndarray:
    """Radius of the mean profile of a beam W_ST whose centre wanders by <r_c^2> (radial): sqrt(W_ST^2 + 2 <r_c^2>)."""
    return np.sqrt(np.asarray(short_term_m, float) ** 2 + 2.0 * np.asarray(wander_m2, float))


# --- point-ahead ---------------------------------------------------------------------------


def transverse_speed_m_s(line_of_sight_rate_rad_s: ArrayLike, range_m: ArrayLike) -> np.ndarray:
    """Speed of the satellite across the line of sight, omega L (m/s)."""
    return np.asarray(line_of_sight_rate_rad_s, float) * np.asarray(range_m, float)


def point_ahead_angle_rad(transverse_speed: ArrayLike) -> np.ndarray:
    """Point-ahead angle 2 v_perp / c (rad): aberration of the beacon plus the lead of the uplink."""
    return 2.0 * np.asarray(transverse_speed, float) / C_LIGHT_M_S


# --- tip-tilt pre-compensation --------------------------------------------------------------

#: theta sec z grid (rad) of the per-link anisoplanatism table.
_ANGLE_GRID_RAD = np.concatenate([[0.0], np.geomspace(1e-8, 1e-2, 121)])


def tilt_covariance(separation_rad: ArrayLike, filter_a_m: float, filter_b_m: float,
                    station_alt_m: float, turb: Turbulence) -> np.ndarray:
    """Two-axis tilt covariance of two Gaussian-filtered paths from the station (arbitrary common unit).

    ``separation_rad`` is theta sec z (the paths are theta (h - h0) sec z apart at height h);
    ``filter_a_m``, ``filter_b_m`` the filter radii w (exp(-kappa^2 w^2 / 8)). The common factor
    4 pi^2 0.033 sec z Gamma(1/6)/2 is left out: only ratios are used (module docstring).
    """
    x, cn2 = turbulence.path_profile(station_alt_m, turb)
    s = (filter_a_m**2 + filter_b_m**2) / 8.0
    u = np.atleast_1d(np.asarray(separation_rad, float))
    arg = -((u[:, None] * x[None, :]) ** 2) / (4.0 * s)
    out = np.trapezoid(cn2[None, :] * special.hyp1f1(1.0 / 6.0, 1.0, arg), x, axis=-1) * s ** (-1.0 / 6.0)
    return out.reshape(np.shape(separation_rad))


@functools.lru_cache(maxsize=128)
def _anisoplanatism_table(waist_m: float, sensor_aperture_m: float, station_alt_m: float,
                          turb: Turbulence) -> np.ndarray:
    c_uu = tilt_covariance(0.0, waist_m, waist_m, station_alt_m, turb)
    c_bb = tilt_covariance(0.0, 0.5 * sensor_aperture_m, 0.5 * sensor_aperture_m, station_alt_m, turb)
    c_ub = tilt_covariance(_ANGLE_GRID_RAD, waist_m, 0.5 * sensor_aperture_m, station_alt_m, turb)
    return (c_uu + c_bb - 2.0 * c_ub) / c_uu


def tilt_residual_factor(point_ahead_rad: ArrayLike, zenith_deg: ArrayLike, waist_m: float,
                         sensor_aperture_m: float, station_alt_m: float, turb: Turbulence) -> np.ndarray:
    """f(theta): residual wander of the beacon-tracked beam over the untracked wander (module docstring)."""
    tab = _anisoplanatism_table(float(waist_m), float(sensor_aperture_m), float(station_alt_m), turb)
    u = np.asarray(point_ahead_rad, float) * _sec(zenith_deg)
    return np.interp(np.clip(u, 0.0, _ANGLE_GRID_RAD[-1]), _ANGLE_GRID_RAD, tab)


def tilt_isoplanatic_angle_rad(zenith_deg: ArrayLike, waist_m: float, sensor_aperture_m: float,
                               station_alt_m: float, turb: Turbulence) -> np.ndarray:
    """Point-ahead angle at which the tracked wander equals the untracked one (f = 1); inf if never."""
    tab = _anisoplanatism_table(float(waist_m), float(sensor_aperture_m), float(station_alt_m), turb)
    above = np.nonzero(tab >= 1.0)[0]
    if above.size == 0 or above[0] == 0:
        u_ta = np.inf if above.size == 0 else 0.0
    else:  # f grows monotonically with the separation: interpolate in log angle
        i = above[0]
        lo, hi = _ANGLE_GRID_RAD[i - 1], _ANGLE_GRID_RAD[i]
        t = (1.0 - tab[i - 1]) / (tab[i] - tab[i - 1])
        u_ta = lo + t * (hi - lo) if lo == 0 else float(np.exp(np.log(lo) + t * np.log(hi / lo)))
    return u_ta / _sec(zenith_deg)


# --- scintillation --------------------------------------------------------------------------


#: Every third node of the turbulence path grid: the uplink moments to < 0.03 %, at a third of the cost.
_MOMENT_NODES = slice(None, None, 3)


def path_moments(wavelength_nm: float, zenith_deg: ArrayLike, range_m: ArrayLike, waist_m: float,
                 station_alt_m: float, turb: Turbulence) -> dict[str, np.ndarray]:
    """mu_2u = int Cn2 xi^(5/3) dh and mu_3u (A&P eq. 12.55) along the uplink path."""
    x, cn2 = turbulence.path_profile(station_alt_m, turb)
    x, cn2 = np.append(x[_MOMENT_NODES], x[-1]), np.append(cn2[_MOMENT_NODES], cn2[-1])
    z = np.atleast_1d(np.asarray(zenith_deg, float))
    L = np.broadcast_to(np.asarray(range_m, float), z.shape)
    hh = L / _sec(z)  # H - h0
    bp = gaussian_beam_parameters(wavelength_nm, L, waist_m)
    xi = np.clip(1.0 - x[None, :] / hh[:, None], 0.0, 1.0)
    lam, theta_bar = bp["lambda"][:, None], (1.0 - bp["theta"])[:, None]
    # Re{xi^(5/6) [a + i b]^(5/6)} in polar form (complex powers are slow)
    a, b = lam * xi, 1.0 - theta_bar * xi
    bracket = ((xi * np.hypot(a, b)) ** (5.0 / 6.0) * np.cos(5.0 / 6.0 * np.arctan2(b, a))
               - lam ** (5.0 / 6.0) * xi ** (5.0 / 3.0))
    shape = np.shape(zenith_deg)
    return {"mu2u": np.trapezoid(cn2 * xi ** (5.0 / 3.0), x, axis=-1).reshape(shape),
            "mu3u": np.trapezoid(cn2 * bracket, x, axis=-1).reshape(shape)}


#: Grid of the per-link mu_3u table: zenith angle (deg) and log slant range (m), LEO to GEO.
_TABLE_ZENITH_DEG = np.linspace(0.0, 89.0, 90)
_TABLE_RANGE_M = np.geomspace(1.5e5, 4.5e7, 49)


@functools.lru_cache(maxsize=128)
def _mu3u_table(wavelength_nm: float, waist_m: float, station_alt_m: float, turb: Turbulence) -> np.ndarray:
    z, L = np.meshgrid(_TABLE_ZENITH_DEG, _TABLE_RANGE_M, indexing="ij")
    mu3u = path_moments(wavelength_nm, z.ravel(), L.ravel(), waist_m, station_alt_m, turb)["mu3u"]
    return np.log(np.maximum(mu3u, 1e-300)).reshape(z.shape)


def mu3u_link(wavelength_nm: float, zenith_deg: ArrayLike, range_m: ArrayLike, waist_m: float,
              station_alt_m: float, turb: Turbulence) -> np.ndarray:
    """``path_moments``' mu_3u from a per-link table, bilinear in (zenith, log range) of log mu_3u (< 0.5 %)."""
    tab = _mu3u_table(float(wavelength_nm), float(waist_m), float(station_alt_m), turb)
    z, lr = np.broadcast_arrays(np.asarray(zenith_deg, float), np.log(np.asarray(range_m, float)))
    gz, gl = _TABLE_ZENITH_DEG, np.log(_TABLE_RANGE_M)
    fz = np.clip((z - gz[0]) / (gz[1] - gz[0]), 0.0, gz.size - 1.0)  # both grids uniform
    fl = np.clip((lr - gl[0]) / (gl[1] - gl[0]), 0.0, gl.size - 1.0)
    iz, il = np.minimum(fz.astype(int), gz.size - 2), np.minimum(fl.astype(int), gl.size - 2)
    tz, tl = fz - iz, fl - il
    v = ((1 - tz) * ((1 - tl) * tab[iz, il] + tl * tab[iz, il + 1])
         + tz * ((1 - tl) * tab[iz + 1, il] + tl * tab[iz + 1, il + 1]))
    return np.exp(v)


def on_axis_scintillation_weak(wavelength_nm: float, zenith_deg: ArrayLike, range_m: ArrayLike,
                               mu3u: ArrayLike) -> np.ndarray:
    """sigma_Bu^2 = 8.70 mu_3u k^(7/6) (H - h0)^(5/6) sec^(11/6) z (A&P eq. 12.58): the uplink's Rytov index."""
    sec = _sec(zenith_deg)
    hh = np.asarray(range_m, float) / sec
    return 8.70 * np.asarray(mu3u, float) * turbulence.wavenumber(wavelength_nm) ** (7.0 / 6.0) \
        * hh ** (5.0 / 6.0) * sec ** (11.0 / 6.0)


def tracked_log_variances(sigma2_bu: ArrayLike, theta: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Large- and small-scale log-irradiance variances of the tracked beam, all regimes (A&P eq. 12.60)."""
    s2 = np.asarray(sigma2_bu, float)
    s125 = s2**1.2
    lnx = 0.49 * s2 / (1.0 + 0.56 * (1.0 + np.asarray(theta, float)) * s125) ** (7.0 / 6.0)
    lny = 0.51 * s2 / (1.0 + 0.69 * s125) ** (5.0 / 6.0)
    return lnx, lny


def pointing_scintillation(offset_m: ArrayLike, pointing_error_m2: ArrayLike, beam_radius_m: ArrayLike,
                           waist_m: float, fried_m: ArrayLike) -> np.ndarray:
    """Scintillation added by beam wander and an off-axis receiver (APSP 2006):

    5.95 (2 W0/r0)^(5/3) [((r - sigma_pe)/W)^2 U(r - sigma_pe) + (sigma_pe/W)^2].
    """
    r = np.asarray(offset_m, float)
    s_pe = np.sqrt(np.asarray(pointing_error_m2, float))
    w = np.asarray(beam_radius_m, float)
    off = np.maximum(r - s_pe, 0.0)
    return 5.95 * (2.0 * waist_m / np.asarray(fried_m, float)) ** (5.0 / 3.0) * ((off / w) ** 2 + (s_pe / w) ** 2)


def fading_log_variances(sigma2_lnx: ArrayLike, sigma2_lny: ArrayLike,
                         extra_index: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Log variances of the total fading law, sigma_I^2 = exp(lnX + lnY) - 1 + extra.

    The extra (wander) index is slow, large-scale fading: it enters the large-scale part,
    lnX' = ln(exp(lnX + lnY) + extra) - lnY, so the product X Y keeps mean one and the total index.
    """
    lny = np.asarray(sigma2_lny, float)
    lnx = np.log(np.exp(np.asarray(sigma2_lnx, float) + lny) + np.asarray(extra_index, float)) - lny
    return lnx, lny


def turbulence_mean_height_m(station_alt_m: float, turb: Turbulence) -> float:
    """Cn2-weighted mean height above the station, int Cn2 x dx / int Cn2 dx: where the uplink beam is steered."""
    x, cn2 = turbulence.path_profile(station_alt_m, turb)
    return float(np.trapezoid(cn2 * x, x) / np.trapezoid(cn2, x))


# --- background seen from orbit -------------------------------------------------------------

#: The VIIRS Day/Night Band's nominal pass band, 500-900 nm (Liang et al., IEEE Trans. Geosci.
#: Remote Sens. 52, 6964 (2014)).
VIIRS_DNB_BANDWIDTH_NM = 400.0


def viirs_dnb_spectral_radiance(radiance_nw_cm2_sr: ArrayLike) -> np.ndarray:
    """A VIIRS DNB radiance (nW cm^-2 sr^-1, the unit of the night-light maps) as W m^-2 sr^-1 nm^-1.

    Assumes a flat spectrum over the 400 nm band (an assumption: sodium lamps put much of their
    near-infrared light in the 819 nm doublet, white LEDs little beyond 700 nm).
    """
    return np.asarray(radiance_nw_cm2_sr, float) * 1e-9 / 1e-4 / VIIRS_DNB_BANDWIDTH_NM


def night_sky_from_orbit(
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
    albedo: float = 0.3,
    city_light_radiance: ArrayLike = 0.0,
    night_sky_radiance: float | None = None,
    asymmetry: float = 0.7,
    aerosol_albedo: float = 0.9,
    twilight_mag_per_deg: float = 1.0,
    include_moon: bool = True,
) -> dict[str, np.ndarray]:
    """Spectral radiance (W m^-2 sr^-1 nm^-1) of the station's surroundings seen by a satellite receiver.

    The satellite looks down along the line of sight (view zenith z_v = 90 - view elevation at
    the station). With optical depth tau = tau_R + tau_a and Kasten-Young air masses m:

    * ground: a Lambertian surface of albedo rho lit by the direct source, E0 e^(-tau m_s) sin h_s,
      and by the sky, pi L_sky(zenith) (isotropic sky), seen through the atmosphere:
      rho / pi (E_direct + E_sky) e^(-tau m_v) (Bourgoin et al., New J. Phys. 15, 023006 (2013),
      sec. 5, for uplink QKD);
    * path: light of the source scattered once by the atmosphere towards the satellite,
      E0/(4 pi) [tau_R P_R + w_a tau_a P_HG](Theta)/tau m_v/(m_v + m_s) [1 - e^(-tau (m_v + m_s))],
      Theta = 180 deg - (source - line of sight separation) (Liou, *An Introduction to Atmospheric
      Radiation*, 2002, sec. 6.3, single scattering from above);
    * city: artificial light as a satellite looking straight down measures it (a VIIRS DNB map
      value, see ``viirs_dnb_spectral_radiance``), carried to the slant view by e^(-tau (m_v - 1));
    * natural night: the airglow layer (85-100 km) lies below the satellite and emits up as
      much as down, so the satellite sees the moonless zenith sky radiance L_n
      (``background.dark_night_sky_radiance``, or ``night_sky_radiance``; an upper bound, as it
      also holds zodiacal light and starlight, which airglow dominates in the near infrared,
      Leinert et al., A&AS 127, 1 (1998)), plus the ground lit by that sky, rho L_n e^(-tau m_v).

    Sun and Moon as in ``background.sky_radiance`` (the Moon by Krisciunas & Schaefer 1991);
    with the Sun below the horizon the sky and path terms take the Sun at the horizon dimmed by
    ``twilight_mag_per_deg`` per degree of depression. Returns {'ground', 'path', 'city',
    'airglow', 'total'} ('ground' includes the night-sky-lit ground).
    """
    view_el = np.asarray(view_elevation_deg, float)
    tau = tau_rayleigh + tau_aerosol
    m_v = atm.kasten_young_airmass(90.0 - view_el)
    t_view = np.exp(-tau * m_v)
    kw = dict(tau_rayleigh=tau_rayleigh, tau_aerosol=tau_aerosol, asymmetry=asymmetry, aerosol_albedo=aerosol_albedo)

    def lit(irradiance, elevation, separation, dim):
        elev = np.clip(np.asarray(elevation, float), 0.0, 90.0)
        m_s = atm.kasten_young_airmass(90.0 - elev)
        direct = np.where(np.asarray(elevation, float) > 0, irradiance * np.exp(-tau * m_s)
                          * np.sin(np.radians(elev)), 0.0)
        sky = np.pi * bkg.single_scattering_radiance(irradiance, 90.0, elev, 90.0 - elev, **kw) * dim
        theta = 180.0 - np.asarray(separation, float)
        phase = (tau_rayleigh * bkg.rayleigh_phase(theta)
                 + aerosol_albedo * tau_aerosol * bkg.henyey_greenstein_phase(theta, asymmetry)) / tau
        path = (irradiance / (4.0 * np.pi) * phase * m_v / (m_v + m_s) * -np.expm1(-tau * (m_v + m_s))) * dim
        return direct + sky, path

    sun_el = np.asarray(sun_elevation_deg, float)
    e_sun, path = lit(bkg.solar_spectral_irradiance(wavelength_nm), sun_el, sun_separation_deg,
                      bkg.twilight_factor(sun_el, twilight_mag_per_deg))
    moon_el = np.asarray(moon_elevation_deg, float)
    if include_moon and np.any(moon_el > 0):  # below the horizon its terms are exactly 0
        e_moon, p_moon = lit(bkg.moon_spectral_irradiance(wavelength_nm, moon_illumination), moon_el,
                             moon_separation_deg, (moon_el > 0).astype(float))
        e_sun, path = e_sun + e_moon, path + p_moon
    night = bkg.dark_night_sky_radiance(wavelength_nm) if night_sky_radiance is None else night_sky_radiance
    ground = albedo / np.pi * (e_sun + np.pi * night) * t_view
    city = np.asarray(city_light_radiance, float) * np.exp(-tau * (m_v - 1.0)) * np.ones_like(ground)
    airglow = np.full_like(ground, night)
    return {"ground": ground, "path": path, "city": city, "airglow": airglow,
            "total": ground + path + city + airglow}
