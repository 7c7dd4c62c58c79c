"""Clouds: Markov chain statistics, climatology lookup, CSV and ERA5 readers."""

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from satqkd.channel import clouds
from satqkd.channel.params import Clouds
from satqkd.errors import InputError


def test_markov_stationary_fraction_and_persistence():
    p, tau, n = 0.6, 100.0, 2_000_000
    s = clouds.markov_clear(np.full(n, p), tau, 1.0, np.random.default_rng(5))
    rho = math.exp(-1.0 / tau)
    # sd of the mean of a two-state chain with lag correlation rho^k: sqrt(p(1-p)(1+rho)/(1-rho)/n)
    assert abs(s.mean() - p) < 5 * math.sqrt(p * (1 - p) * (1 + rho) / (1 - rho) / n)
    # spells: clear spells are geometric with mean 1 / ((1-p) q), q = 1 - exp(-dt/tau)
    edges = np.flatnonzero(np.diff(s.astype(np.int8))) + 1
    runs = np.diff(np.concatenate([[0], edges, [n]]))
    states = s[np.concatenate([[0], edges])]
    clear_runs = runs[states][1:-1]  # drop the censored end spells
    q = 1 - rho
    mean_theory = 1 / ((1 - p) * q)
    sd_mean = math.sqrt(1 - (1 - p) * q) / ((1 - p) * q) / math.sqrt(clear_runs.size)  # geometric sd / sqrt(N)
    assert abs(clear_runs.mean() - mean_theory) < 5 * sd_mean
    # lag-tau autocorrelation exp(-1)
    x = s - s.mean()
    lag = int(tau)
    ac = np.dot(x[:-lag], x[lag:]) / np.dot(x, x)
    assert abs(ac - math.exp(-1)) < 0.05  # ~5 sd for 2e4 correlation times


def test_initial_state_follows_probability():
    starts = [clouds.markov_clear(np.full(3, 0.3), 1800.0, 1.0, np.random.default_rng(i))[0] for i in range(2000)]
    # binomial(2000, 0.3): sd 0.0102
    assert abs(np.mean(starts) - 0.3) < 5 * math.sqrt(0.3 * 0.7 / 2000)


def test_climatology_lookup_and_user_values():
    sourced = ["Xinglong", "Lijiang", "Ngari", "Graz", "Jinan", "Hefei", "Stellenbosch", "Tenerife", "Stromlo"]
    unsourced = ["Nanshan", "Delingha", "Matera", "Wettzell"]
    for name in sourced + unsourced:
        assert clouds.CLEAR_SKY_CLIMATOLOGY[name.lower()]["source"]
        assert clouds.CLIMATOLOGY_SOURCES[name.lower()] == clouds.CLEAR_SKY_CLIMATOLOGY[name.lower()]["source"]
    for name in sourced:
        m = clouds.monthly_clear_probability(name, Clouds())
        assert m.shape == (12,) and np.all((m > 0) & (m < 1))
    for name in unsourced:  # no published value: user values or a series are required
        with pytest.raises(InputError):
            clouds.monthly_clear_probability(name, Clouds())
        assert np.all(clouds.monthly_clear_probability(name, Clouds(clear_probability=0.5)) == 0.5)
    table = clouds.CLEAR_SKY_CLIMATOLOGY
    assert np.array_equal(clouds.monthly_clear_probability("ESA OGS Izana", Clouds()), table["tenerife"]["monthly"])
    assert np.array_equal(clouds.monthly_clear_probability("Mount Stromlo", Clouds()), table["stromlo"]["monthly"])
    times = np.array(["2016-01-15", "2016-07-15"], "datetime64[ns]")
    p = clouds.clear_probability_at(times, "Ngari", Clouds())
    assert p[0] > p[1]  # Qian et al. 2024: clear winters, cloudy summer monsoon
    assert np.all(clouds.clear_probability_at(times, "Nowhere", Clouds(clear_probability=0.42)) == 0.42)
    with pytest.raises(InputError):
        clouds.monthly_clear_probability("Nowhere", Clouds())


def test_cloud_transmittance():
    assert np.isclose(clouds.cloud_transmittance(10.0, 0.0), math.exp(-10 * 0.99971), rtol=1e-4)


def test_csv_reader_and_interpolation(tmp_path):
    path = tmp_path / "clouds.csv"
    pd.DataFrame({"time": ["2016-12-19T16:00:00Z", "2016-12-19T18:00:00Z"],
                  "cloud_fraction": [0.0, 1.0]}).to_csv(path, index=False)
    series = clouds.read_cloud_csv(path)
    f = clouds.cloud_fraction_at(series, np.array(["2016-12-19T17:00:00"], "datetime64[ns]"))
    assert np.isclose(f[0], 0.5)
    with pytest.raises(InputError):
        clouds.cloud_fraction_at(series, np.array(["2016-12-20T17:00:00"], "datetime64[ns]"))
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"time": ["2016-12-19T16:00:00Z"], "cloud_fraction": [40.0]}).to_csv(bad, index=False)
    with pytest.raises(InputError):
        clouds.read_cloud_csv(bad)


@pytest.mark.parametrize("time_name", ["valid_time", "time"])
def test_era5_reader_nearest_cell(tmp_path, time_name):
    times = pd.date_range("2017-06-01", periods=4, freq="h").to_numpy("datetime64[ns]")
    lat = np.arange(30.0, 26.0, -0.25)  # ERA5 order: north to south
    lon = np.arange(340.0, 345.0, 0.25)  # 0..360 convention
    tcc = np.zeros((4, lat.size, lon.size))
    i, j = int(np.argmin(abs(lat - 28.3))), int(np.argmin(abs(lon - (360 - 16.51))))
    tcc[:, i, j] = [0.1, 0.2, 0.3, 0.4]
    ds = xr.Dataset({"tcc": ((time_name, "latitude", "longitude"), tcc, {"units": "(0 - 1)"})},
                    coords={time_name: times, "latitude": lat, "longitude": lon})
    if time_name == "time":  # older CDS files: an expver dimension with a missing first member
        ds = xr.concat([ds.where(False), ds], dim="expver").assign_coords(expver=[1, 5])
    path = tmp_path / "era5.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    series = clouds.read_era5_tcc(path, 28.3, -16.51)  # Tenerife OGS, lon given as -16.51
    assert np.allclose(series.values, [0.1, 0.2, 0.3, 0.4])
    f = clouds.cloud_fraction_at(series, np.array([times[1] + np.timedelta64(30, "m")]))
    assert np.isclose(f[0], 0.25)
    missing = tmp_path / "no_tcc.nc"
    ds.rename({"tcc": "cc"}).to_netcdf(missing, engine="h5netcdf")
    with pytest.raises(InputError):
        clouds.read_era5_tcc(missing, 28.3, -16.51)


def test_station_chain_is_persistent_and_deterministic():
    from satqkd.channel.params import Clouds as C

    cl = C(clear_probability=0.6, persistence_s=86400.0, cirrus_probability=0.2)
    start = float(np.datetime64("2025-01-01T00:00:00", "s").astype(np.int64))
    end = start + 365 * 86400.0
    # the whole year, hourly: stationary fraction p, mean clear spell tau/(1-p) = 2.5 days
    t = (np.datetime64("2025-01-01T00:00:00", "ns") + np.arange(0, 365 * 24) * np.timedelta64(3600, "s"))
    clear, cirrus = clouds.station_sky_state(t, "Somewhere", cl, 7, start, end)
    assert abs(clear.mean() - 0.6) < 0.12 and abs(cirrus.mean() - 0.2) < 0.1
    runs = np.diff(np.flatnonzero(np.diff(clear.astype(int)) != 0))
    assert np.mean(runs) > 24  # spells of days, not minutes
    # any pass, evaluated alone (another worker), reads the same weather
    sub = t[1000:1010]
    again, _ = clouds.station_sky_state(sub, "Somewhere", cl, 7, start, end)
    assert np.array_equal(again, clear[1000:1010])
    # another station or seed: other weather
    other, _ = clouds.station_sky_state(t, "Elsewhere", cl, 7, start, end)
    assert not np.array_equal(other, clear)


def _p1853_indicator_timescale_h(p_clear: float) -> float:
    """Integral time scale (h) of the clear/cloudy indicator of the ITU-R P.1853-1 cloud model.

    Annex 1 of P.1853-1 (2012): cloud is present while G = g1 X1 + g2 X2 exceeds a threshold,
    X1, X2 unit-variance AR(1) filters (beta1 = 7.17e-4 /s, beta2 = 2.01e-5 /s) of the same
    white noise, g1 = 0.349, g2 = 0.830. The indicator covariance is the bivariate-normal
    orthant probability at the correlation of G, minus p^2.
    """
    from scipy import integrate, stats

    b1, b2, g1, g2 = 7.17e-4, 2.01e-5, 0.349, 0.830
    c12 = 2.0 * math.sqrt(b1 * b2) / (b1 + b2)  # cross-covariance of the two filters at lag 0

    def rho(t: float) -> float:
        return (g1**2 * math.exp(-b1 * t) + g2**2 * math.exp(-b2 * t)
                + g1 * g2 * c12 * (math.exp(-b1 * t) + math.exp(-b2 * t)))

    assert abs(rho(0.0) - 1.0) < 1e-3  # the weights give var G = 1
    a = stats.norm.ppf(p_clear)

    def corr(t: float) -> float:
        r = min(rho(t), 1.0 - 1e-9)
        if p_clear == 0.5:  # Sheppard: P(both below the median) = 1/4 + arcsin(r)/(2 pi)
            return 2.0 / math.pi * math.asin(r)
        both = stats.multivariate_normal(cov=[[1.0, r], [r, 1.0]]).cdf([a, a])
        return (both - p_clear**2) / (p_clear * (1.0 - p_clear))

    fast, _ = integrate.quad(corr, 0.0, 4 * 3600.0, limit=200)
    slow, _ = integrate.quad(corr, 4 * 3600.0, 30 * 86400.0, limit=200)
    return (fast + slow) / 3600.0


def test_default_persistence_is_the_p1853_cloud_timescale():
    """The default persistence matches the integral time scale of P.1853-1's cloud indicator.

    A telegraph chain's integral time scale is its persistence, so this equality gives the
    chain the same variance of long-run clear fractions as the ITU-R model. The default is
    7 h, the scale is 7.3 h at p = 0.5 and 6.9 h at p = 0.3 (symmetric in p): the default must
    lie within 7 % of both.
    """
    tau_h = Clouds().persistence_s / 3600.0
    for p in (0.5, 0.3):
        scale = _p1853_indicator_timescale_h(p)
        assert 6.5 < scale < 7.6
        assert abs(tau_h - scale) < 0.07 * scale
    # and inside the observed 5-40 h range of station cloud-cover half-lives (Jones 1992)
    assert 5.0 <= tau_h <= 40.0
