"""Fading samples: exact marginal (mean 1, scintillation index) and AR(1) time correlation."""

import math

import numpy as np
import pytest

from satqkd.channel.fading import gamma_gamma_parameters, sample_fading


def _gg_moment(n: int, a: float, b: float) -> float:
    return math.gamma(a + n) * math.gamma(b + n) / (math.gamma(a) * math.gamma(b) * (a * b) ** n)


@pytest.mark.parametrize("lognormal,lnx,lny", [(True, 0.05, 0.04), (False, 0.35, 0.45), (False, 0.15, 0.6)])
def test_mean_one_and_scintillation_index(lognormal, lnx, lny):
    n_sec, n_sub, slot = 200, 1000, 1e-3
    tau = slot / 3.0  # rho = exp(-3) = 0.05: nearly independent samples
    rng = np.random.default_rng(2024)
    f = sample_fading(rng, slot, n_sub, np.full(n_sec, tau), np.full(n_sec, lnx), np.full(n_sec, lny),
                      np.full(n_sec, lognormal))
    assert f.shape == (n_sec, n_sub)
    n = f.size
    rho = math.exp(-3.0)
    inflation = (1 + rho) / (1 - rho)  # variance inflation of means of a lag-1 correlated series
    s2 = math.expm1(lnx + lny)
    if lognormal:
        m2, m4 = math.exp(lnx + lny), math.exp(6 * (lnx + lny))
    else:
        a, b = gamma_gamma_parameters(lnx, lny)
        m2, m4 = _gg_moment(2, a, b), _gg_moment(4, a, b)
        assert np.isclose(m2 - 1, s2)  # 1/a + 1/b + 1/(ab) = exp(lnx + lny) - 1
    # 5 sigma of the sample mean and of the sample second moment
    assert abs(f.mean() - 1) < 5 * math.sqrt(s2 * inflation / n)
    assert abs((f**2).mean() - m2) < 5 * math.sqrt((m4 - m2**2) * inflation / n)


def test_time_correlation_of_log_irradiance():
    n_sec, n_sub, slot = 200, 1000, 1e-3
    tau = 5 * slot
    rng = np.random.default_rng(7)
    f = sample_fading(rng, slot, n_sub, np.full(n_sec, tau), np.full(n_sec, 0.02), np.full(n_sec, 0.02),
                      np.ones(n_sec, bool))
    x = np.log(f.ravel())
    x = x - x.mean()
    lag1 = np.dot(x[:-1], x[1:]) / np.dot(x, x)
    rho = math.exp(-slot / tau)
    # sd of the lag-1 sample autocorrelation of an AR(1): sqrt((1 - rho^2) / N)
    assert abs(lag1 - rho) < 5 * math.sqrt((1 - rho**2) / x.size)


def test_same_seed_same_fading():
    args = (1e-3, 100, np.full(5, 0.01), np.full(5, 0.3), np.full(5, 0.3), np.zeros(5, bool))
    a = sample_fading(np.random.default_rng(1), *args)
    b = sample_fading(np.random.default_rng(1), *args)
    assert np.array_equal(a, b)


def test_pointing_fades_variance_and_correlation():
    from satqkd.channel import fading as fd

    # Micius: 1.2 urad per axis against a 5 urad half-angle beam -> ~0.04
    v = fd.pointing_fade_variance(1.2e-6, 0.0, 5e-6)
    assert np.isclose(v, 16 * 0.24**4 / (1 + 8 * 0.24**2), rtol=1e-12) and 0.03 < v < 0.045
    rng = np.random.default_rng(3)
    n_sec, n_sub = 40, 1000
    tau = fd.tracking_correlation_time_s(100.0)  # 1.6 ms
    h = fd.sample_pointing_fading(rng, 1e-3, n_sub, tau, np.full(n_sec, 1.2), np.full(n_sec, 0.5),
                                  np.full(n_sec, 5.0))
    assert abs(h.mean() - 1.0) < 0.01
    assert abs(h.var() / fd.pointing_fade_variance(1.2, 0.5, 5.0) - 1.0) < 0.1
    x = h.ravel() - h.mean()
    lag1 = np.dot(x[:-1], x[1:]) / np.dot(x, x)
    # drivers: OU with rho = exp(-0.63) = 0.53; h ~ r^2 correlates as ~rho^2 = 0.28 (more with the bias)
    assert 0.2 < lag1 < 0.45
