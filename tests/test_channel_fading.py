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
