"""Calibration of the link budget to flight data: the excess loss and its uncertainty.

A measured loss series L_meas(t) (dB) is compared with the modelled loss of the same
pass, L_model(t) (every term of the budget with the implementation loss at 0). The
excess e = L_meas - L_model is fitted by ordinary least squares to

    e = c0 + c1 (AM(z) - 1),

AM the Kasten-Young air mass at the apparent zenith angle z: c0 is the excess at zenith
(``[satellites.transmitter] implementation_loss_db``), c1 its growth per unit air mass
(``implementation_loss_airmass_db``; an elevation-dependent deficit such as a heavier
aerosol or tracking degraded at low elevation). Covariance: s^2 (X^T X)^-1 with the
residual variance s^2 = RSS / (n - 2) (Draper & Smith, *Applied Regression Analysis*,
ch. 2), or with the given per-point sigma, (X^T W X)^-1 (W = 1/sigma^2). Consecutive
seconds of one pass are not independent measurements: the formal errors understate
the real uncertainty, which the hold-out check of docs/validation.md shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from satqkd.channel.atmosphere import kasten_young_airmass
from satqkd.errors import InputError


@dataclass(frozen=True)
class ExcessLossFit:
    """c0 + c1 (AM - 1) with its covariance (dB, dB^2)."""

    constant_db: float
    airmass_db: float
    covariance: np.ndarray
    residual_rms_db: float
    n_points: int

    @property
    def sigma(self) -> tuple[float, float]:
        return float(np.sqrt(self.covariance[0, 0])), float(np.sqrt(self.covariance[1, 1]))

    def predict_db(self, elevation_deg: ArrayLike) -> np.ndarray:
        return self.constant_db + self.airmass_db * (kasten_young_airmass(90.0 - np.asarray(elevation_deg, float)) - 1.0)


def fit_excess_loss(elevation_deg: ArrayLike, excess_db: ArrayLike, sigma_db: ArrayLike | None = None) -> ExcessLossFit:
    """Least-squares fit of the excess loss (see module docstring)."""
    el = np.asarray(elevation_deg, float)
    e = np.asarray(excess_db, float)
    ok = np.isfinite(el) & np.isfinite(e)
    el, e = el[ok], e[ok]
    if e.size < 3:
        raise InputError(f"calibrate: need at least 3 measured points on the pass, got {e.size}")
    x = np.column_stack([np.ones_like(el), kasten_young_airmass(90.0 - el) - 1.0])
    if np.ptp(x[:, 1]) < 1e-3:
        raise InputError("calibrate: the measured points span no range of elevation; cannot separate the terms")
    if sigma_db is None:
        w = np.ones_like(e)
    else:
        w = 1.0 / np.asarray(sigma_db, float)[ok] ** 2
    xtwx = x.T @ (w[:, None] * x)
    coef = np.linalg.solve(xtwx, x.T @ (w * e))
    resid = e - x @ coef
    inv = np.linalg.inv(xtwx)
    cov = inv * (np.sum(resid**2) / (e.size - 2)) if sigma_db is None else inv
    return ExcessLossFit(float(coef[0]), float(coef[1]), cov, float(np.sqrt(np.mean(resid**2))), int(e.size))
