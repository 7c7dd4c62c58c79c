"""Pointing jitter and bias averaged over the collected power.

Model: the beam centre at the receiver plane is displaced from the aperture centre by
a bias b plus a random error with two independent Gaussian axes of standard deviation
sigma (so the radial error is Rician, Rayleigh when b = 0). The displacement at range
L is the angular error times L. Averaging the collected power over the error is
averaging the intensity first (the collection is linear in intensity): a Gaussian
beam of radius w, whose photons land with per-axis spread w/2, convolved with the
jitter is again Gaussian with

    w_eff^2 = w^2 + 4 sigma^2,   centred at the bias,

so the mean collected fraction of an annulus (radii r_in < r_out) is exactly

    <eta> = F(r_out) - F(r_in),   F(r) = P(chi'^2_2(lambda = b^2/s^2) <= r^2/s^2),
    s = w_eff / 2,

the non-central chi-square CDF with 2 degrees of freedom (Marcum Q function). With
b = 0, F(r) = 1 - exp(-2 r^2 / w_eff^2).

In the small-aperture limit this is the result of Farid & Hranilovic, J. Lightwave
Technol. 25, 1702 (2007), eq. (9)-(12): <h> = A0 w_eq^2 / (w_eq^2 + 4 sigma^2) (see
``farid_hranilovic_mean_fraction``); the exact form above also holds when the
aperture is not small compared with the beam and when there is a bias.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special


def _fraction_inside(radius_m: np.ndarray, s_m: np.ndarray, bias_m: np.ndarray) -> np.ndarray:
    x = (radius_m / s_m) ** 2
    nc = (bias_m / s_m) ** 2
    # chndtr is the non-central chi-square CDF; for nc = 0 it reduces to 1 - exp(-x/2).
    # It is evaluated only where there is a bias: without one (the usual case) it was
    # most of a pass's pointing term.
    biased = nc > 0
    centred = -np.expm1(-0.5 * x)
    if not np.any(biased):
        return np.where(biased, 0.0, centred)
    return np.where(biased, special.chndtr(x, 2.0, nc), centred)


def mean_collected_fraction(
    beam_radius_m: ArrayLike,
    outer_diameter_m: ArrayLike,
    inner_diameter_m: ArrayLike = 0.0,
    jitter_m: ArrayLike = 0.0,
    bias_m: ArrayLike = 0.0,
) -> np.ndarray:
    """Mean fraction of the beam power collected by an annular aperture under jitter.

    beam_radius_m: 1/e^2 radius w at the receiver; jitter_m: per-axis rms beam-centre
    displacement sigma; bias_m: constant displacement b. Exact for a Gaussian beam and
    Gaussian jitter (see module docstring).
    """
    w = np.asarray(beam_radius_m, float)
    sigma = np.asarray(jitter_m, float)
    s = 0.5 * np.sqrt(w**2 + 4.0 * sigma**2)
    b = np.broadcast_to(np.asarray(bias_m, float), np.broadcast_shapes(np.shape(s), np.shape(bias_m)))
    out = _fraction_inside(0.5 * np.asarray(outer_diameter_m, float), s, b)
    inner = 0.5 * np.asarray(inner_diameter_m, float)
    if not np.any(inner > 0):  # no obscuration: nothing to take away
        return out - np.where(inner > 0, 1.0, 0.0)
    return out - np.where(inner > 0, _fraction_inside(np.maximum(inner, 1e-300), s, b), 0.0)


def pointing_efficiency(
    beam_radius_m: ArrayLike,
    outer_diameter_m: ArrayLike,
    inner_diameter_m: ArrayLike = 0.0,
    jitter_m: ArrayLike = 0.0,
    bias_m: ArrayLike = 0.0,
) -> np.ndarray:
    """Mean collected fraction with jitter and bias over the perfectly pointed one."""
    ideal = mean_collected_fraction(beam_radius_m, outer_diameter_m, inner_diameter_m)
    return mean_collected_fraction(beam_radius_m, outer_diameter_m, inner_diameter_m, jitter_m, bias_m) / ideal


def farid_hranilovic_mean_fraction(
    beam_radius_m: ArrayLike, aperture_diameter_m: ArrayLike, jitter_m: ArrayLike
) -> np.ndarray:
    """Small-aperture approximation of Farid & Hranilovic (2007), Rayleigh jitter.

    v = sqrt(pi) a / (sqrt(2) w), A0 = erf(v)^2,
    w_eq^2 = w^2 sqrt(pi) erf(v) / (2 v exp(-v^2)),
    <h> = A0 w_eq^2 / (w_eq^2 + 4 sigma^2).
    Kept as the published cross-check of ``mean_collected_fraction``.
    """
    w = np.asarray(beam_radius_m, float)
    a = 0.5 * np.asarray(aperture_diameter_m, float)
    v = np.sqrt(np.pi) * a / (np.sqrt(2.0) * w)
    a0 = special.erf(v) ** 2
    w_eq2 = w**2 * np.sqrt(np.pi) * special.erf(v) / (2.0 * v * np.exp(-(v**2)))
    return a0 * w_eq2 / (w_eq2 + 4.0 * np.asarray(jitter_m, float) ** 2)
