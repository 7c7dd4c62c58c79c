"""Gaussian beam propagation and collection by a telescope.

The transmitted beam is a TEM00 Gaussian beam (Siegman, *Lasers*, 1986, ch. 17):

    w(z) = w0 sqrt(1 + (z / zR)^2),    zR = pi w0^2 / lambda,

with far-field half-angle divergence theta = lambda / (pi w0) at the 1/e^2 intensity
radius. Its intensity I(r) = 2P / (pi w^2) exp(-2 r^2 / w^2), so the fraction of
the power inside an annulus of radii b < a centred on the beam is

    eta = exp(-2 b^2 / w^2) - exp(-2 a^2 / w^2).

This is the collection efficiency used in the standard LEO analysis of Bourgoin et
al., New J. Phys. 15, 023006 (2013), eq. (1)-(3) (there without obscuration).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def waist_from_divergence_m(wavelength_nm: ArrayLike, divergence_urad: ArrayLike) -> np.ndarray:
    """Waist w0 of the ideal Gaussian beam with a given full 1/e^2 divergence.

    w0 = lambda / (pi theta_half), theta_half = divergence / 2 (Siegman 1986, ch. 17).
    """
    lam = np.asarray(wavelength_nm, float) * 1e-9
    return lam / (np.pi * 0.5 * np.asarray(divergence_urad, float) * 1e-6)


def divergence_from_waist_urad(wavelength_nm: ArrayLike, waist_m: ArrayLike) -> np.ndarray:
    """Full 1/e^2 far-field divergence 2 lambda / (pi w0) of a Gaussian beam (urad)."""
    lam = np.asarray(wavelength_nm, float) * 1e-9
    return 2.0 * lam / (np.pi * np.asarray(waist_m, float)) * 1e6


def rayleigh_range_m(wavelength_nm: ArrayLike, waist_m: ArrayLike) -> np.ndarray:
    """zR = pi w0^2 / lambda."""
    return np.pi * np.asarray(waist_m, float) ** 2 / (np.asarray(wavelength_nm, float) * 1e-9)


def beam_radius_m(range_m: ArrayLike, wavelength_nm: ArrayLike, waist_m: ArrayLike) -> np.ndarray:
    """1/e^2 intensity radius w(z) = w0 sqrt(1 + (z/zR)^2) at distance z from the waist."""
    z_r = rayleigh_range_m(wavelength_nm, waist_m)
    return np.asarray(waist_m, float) * np.sqrt(1.0 + (np.asarray(range_m, float) / z_r) ** 2)


def aperture_transmission(aperture_diameter_m: ArrayLike, beam_radius_m: ArrayLike) -> np.ndarray:
    """Fraction of a centred Gaussian beam passing a circular aperture: 1 - exp(-2 (D/2)^2 / w^2).

    Used for the truncation of the beam by the transmit aperture (the diffraction
    ripple added by a hard edge is neglected; it matters only when this fraction
    is well below 0.99, i.e. D < 1.5 w0).
    """
    a = 0.5 * np.asarray(aperture_diameter_m, float)
    return -np.expm1(-2.0 * a**2 / np.asarray(beam_radius_m, float) ** 2)


def annular_collection(
    beam_radius_m: ArrayLike, outer_diameter_m: ArrayLike, inner_diameter_m: ArrayLike = 0.0
) -> np.ndarray:
    """Fraction of a centred Gaussian beam collected by an annular aperture.

    eta = exp(-2 b^2 / w^2) - exp(-2 a^2 / w^2), a = D/2, b = D_obscuration/2.
    """
    w2 = np.asarray(beam_radius_m, float) ** 2
    a = 0.5 * np.asarray(outer_diameter_m, float)
    b = 0.5 * np.asarray(inner_diameter_m, float)
    return np.exp(-2.0 * b**2 / w2) - np.exp(-2.0 * a**2 / w2)
