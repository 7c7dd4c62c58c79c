"""Sub-second scintillation fading with an exact marginal and a physical correlation time.

Marginal (mean 1, scintillation index sigma_I^2 = Var(I)/<I>^2):

* weak fluctuations (Rytov variance below ``Turbulence.weak_rytov_limit``, A&P ch. 5):
  log-normal, I = exp(s Z - s^2/2), s^2 = ln(1 + sigma_I^2);
* moderate to strong: gamma-gamma (Al-Habash, Andrews & Phillips, Opt. Eng. 40, 1554
  (2001)), I = X Y with X ~ Gamma(alpha, 1/alpha), Y ~ Gamma(beta, 1/beta) independent,
  alpha = 1/(exp(sigma_lnX^2) - 1), beta = 1/(exp(sigma_lnY^2) - 1), so that
  sigma_I^2 = 1/alpha + 1/beta + 1/(alpha beta).

Time correlation: each Gaussian driver is a stationary AR(1) (sampled Ornstein-Uhlenbeck)
process with rho = exp(-dt / tau_c), mapped through the marginal's quantile function
(X = F^-1(Phi(Z))), so the marginal is exact whatever tau_c. tau_c follows Taylor's
frozen-turbulence hypothesis, tau_c = rho_c / v_perp (A&P section 8; Tatarskii 1971):
rho_c the irradiance correlation width (the receiver aperture when it averages, else
the Fresnel scale sqrt(L/k)), v_perp the transverse speed of the line of sight through
the turbulent layers (wind and satellite slew).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from satqkd.channel._kernels import ar1_gaussian


def gamma_gamma_parameters(sigma2_lnx: ArrayLike, sigma2_lny: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """alpha = 1/(exp(sigma_lnX^2) - 1), beta = 1/(exp(sigma_lnY^2) - 1) (Al-Habash et al. 2001)."""
    return 1.0 / np.expm1(np.asarray(sigma2_lnx, float)), 1.0 / np.expm1(np.asarray(sigma2_lny, float))


def _gamma_unit_mean(shape: np.ndarray, z: np.ndarray) -> np.ndarray:
    # Upper tail through the complementary functions keeps precision for z >> 0.
    upper = special.gammainccinv(shape, special.ndtr(-np.abs(z)))
    lower = special.gammaincinv(shape, special.ndtr(-np.abs(z)))
    return np.where(z > 0, upper, lower) / shape


def correlation_time_s(correlation_width_m: ArrayLike, transverse_speed_m_s: ArrayLike) -> np.ndarray:
    """Taylor frozen flow: tau_c = rho_c / v_perp."""
    return np.asarray(correlation_width_m, float) / np.maximum(np.asarray(transverse_speed_m_s, float), 1e-6)


def sample_fading(
    rng: np.random.Generator,
    slot_s: float,
    n_subslots: int,
    correlation_time_s: ArrayLike,
    sigma2_lnx: ArrayLike,
    sigma2_lny: ArrayLike,
    log_normal: ArrayLike,
) -> np.ndarray:
    """Fading factors of shape (n_seconds, n_subslots), mean 1, one row per second.

    Per-second inputs (length n_seconds): the correlation time, the large- and
    small-scale log-irradiance variances, and whether that second uses the log-normal
    (True) or gamma-gamma (False) marginal. The AR(1) drivers run continuously across
    seconds, so fades straddle second boundaries.
    """
    tau = np.asarray(correlation_time_s, float)
    n_sec = tau.shape[0]
    lnx = np.asarray(sigma2_lnx, float)
    lny = np.asarray(sigma2_lny, float)
    lognormal = np.asarray(log_normal, bool)
    rho = np.repeat(np.exp(-slot_s / tau), n_subslots)
    z1 = ar1_gaussian(rng.standard_normal(n_sec * n_subslots), rho).reshape(n_sec, n_subslots)
    z2 = ar1_gaussian(rng.standard_normal(n_sec * n_subslots), rho).reshape(n_sec, n_subslots)
    out = np.ones((n_sec, n_subslots))
    total = (lnx + lny)[:, None]
    # log-normal: sigma_lnI^2 = ln(1 + sigma_I^2) = sigma_lnX^2 + sigma_lnY^2
    ln_rows = lognormal & (total[:, 0] > 0)
    if ln_rows.any():
        s2 = total[ln_rows]
        out[ln_rows] = np.exp(np.sqrt(s2) * z1[ln_rows] - 0.5 * s2)
    gg_rows = ~lognormal & (total[:, 0] > 0)
    if gg_rows.any():
        alpha, beta = gamma_gamma_parameters(lnx[gg_rows], lny[gg_rows])
        out[gg_rows] = _gamma_unit_mean(alpha[:, None], z1[gg_rows]) * _gamma_unit_mean(beta[:, None], z2[gg_rows])
    return out


# --- pointing fades -------------------------------------------------------------------------
#
# The residual pointing error of the tracking loop moves the beam centre across the receiver
# by (b + sigma x(t), sigma y(t)) (bias b, per-axis jitter sigma, both at the receiver); x, y
# are independent unit Ornstein-Uhlenbeck processes with the correlation time of a
# first-order tracking loop of bandwidth B, tau_p = 1 / (2 pi B). For a receiver small
# compared with the beam the collected power follows h = exp(-2 r^2 / w^2), whose mean and
# second moment over the Gaussian error are (per-axis variance s^2)
#
#     <h>   = w^2 / (w^2 + 4 s^2) exp(-2 b^2 / (w^2 + 4 s^2)),
#     <h^2> = w^2 / (w^2 + 8 s^2) exp(-4 b^2 / (w^2 + 8 s^2)),
#
# so the normalised variance ("pointing scintillation index") without bias is
#
#     sigma_p^2 = <h^2>/<h>^2 - 1 = 16 s^4 / (w^2 (w^2 + 8 s^2)),
#
# the jitter term of Andrews & Phillips (2005) ch. 12 (beam wander / pointing jitter, their
# <r_c^2> = 2 s^2), here a function of the jitter-to-beam ratio s/w = sigma_urad / theta_half
# alone. Micius (1.2 urad per axis, theta_half = 5 urad): 0.036. The fading factor h / <h>
# has mean 1: the mean pointing loss stays in ``loss_pointing``.


def _pointing_moment(order: int, jitter_m: np.ndarray, bias_m: np.ndarray, w_m: np.ndarray) -> np.ndarray:
    d = w_m**2 + 4.0 * order * jitter_m**2
    return w_m**2 / d * np.exp(-2.0 * order * bias_m**2 / d)


def pointing_fade_variance(jitter_m: ArrayLike, bias_m: ArrayLike, beam_radius_m: ArrayLike) -> np.ndarray:
    """Normalised variance <h^2>/<h>^2 - 1 of the collected power under Gaussian jitter (see above)."""
    s, b, w = (np.asarray(x, float) for x in (jitter_m, bias_m, beam_radius_m))
    return _pointing_moment(2, s, b, w) / _pointing_moment(1, s, b, w) ** 2 - 1.0


def tracking_correlation_time_s(bandwidth_hz: float) -> float:
    """Correlation time of the residual error of a first-order loop of bandwidth B: 1 / (2 pi B)."""
    return 1.0 / (2.0 * np.pi * bandwidth_hz)


def sample_pointing_fading(
    rng: np.random.Generator,
    slot_s: float,
    n_subslots: int,
    correlation_time_s: float,
    jitter_m: ArrayLike,
    bias_m: ArrayLike,
    beam_radius_m: ArrayLike,
) -> np.ndarray:
    """Mean-one pointing fading factors h / <h>, shape (n_seconds, n_subslots)."""
    s, b, w = (np.asarray(x, float) for x in (jitter_m, bias_m, beam_radius_m))
    n_sec = s.shape[0]
    rho = np.full(n_sec * n_subslots, np.exp(-slot_s / correlation_time_s))
    x = ar1_gaussian(rng.standard_normal(n_sec * n_subslots), rho).reshape(n_sec, n_subslots)
    y = ar1_gaussian(rng.standard_normal(n_sec * n_subslots), rho).reshape(n_sec, n_subslots)
    r2 = (b[:, None] + s[:, None] * x) ** 2 + (s[:, None] * y) ** 2
    return np.exp(-2.0 * r2 / w[:, None] ** 2) / _pointing_moment(1, s, b, w)[:, None]
