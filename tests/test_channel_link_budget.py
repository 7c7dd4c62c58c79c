"""The per-second link budget of synthetic passes (Micius-like downlink, uplink, daylight, clouds)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from satqkd.channel import Background, Clouds, LinkParameters, Transmitter, link_budget
from satqkd.channel import beam
from satqkd.channel.synthetic import synthetic_pass
from satqkd.errors import InputError
from satqkd.report.link_budget import plot_link_budget

LOSSES = ["loss_geometric", "loss_pointing", "loss_atmosphere", "loss_turbulence", "loss_cloud", "loss_receiver"]
CLEAR = LinkParameters(clouds=Clouds(model="clear"))


@pytest.fixture(scope="module")
def micius():
    return link_budget(synthetic_pass(), CLEAR, np.random.default_rng(20161219))


def test_outputs_and_cf_attrs(micius):
    for name in LOSSES + ["transmittance", "background_rate", "noise_probability", "cloud_clear", "operating"]:
        assert name in micius and micius[name].dims == ("time",)
        assert "units" in micius[name].attrs and "long_name" in micius[name].attrs
    for name in LOSSES:
        assert micius[name].attrs["units"] == "dB"
        assert np.all(micius[name].values >= 0)
    assert micius.attrs["detector_efficiency"] == 0.5 and micius.attrs["detection_window_ns"] == 2.0
    # the geometry is carried through unchanged
    assert np.array_equal(micius["range"].values, synthetic_pass()["range"].values)


def test_total_is_product_of_terms(micius):
    total_db = sum(micius[name].values for name in LOSSES)
    assert np.allclose(micius["transmittance"].values, 10 ** (-total_db / 10), rtol=1e-10)


def test_loss_lowest_at_culmination(micius):
    total = -10 * np.log10(micius["transmittance"].values)
    i = int(np.argmin(micius["range"].values))
    assert abs(int(np.argmin(total)) - i) <= 1
    assert np.isclose(micius["range"].values[i], 645.0, atol=0.5)
    assert np.isclose(micius["range"].values[0], 1200.0, atol=3.0)
    # geometric term at 645 km is the closed form (13.3 dB) up to the 0.30 m aperture's hard edge
    # (a/w0 = 2.8: +0.004 dB of wider far field); ~5.3 dB more at 1200 km
    w = beam.beam_radius_m(645e3, 848.62, beam.waist_from_divergence_m(848.62, 10.0))
    assert np.isclose(micius["loss_geometric"].values[i], -10 * np.log10(1 - np.exp(-0.5 / w**2)), atol=5e-3)
    assert 5.0 < micius["loss_geometric"].values[0] - micius["loss_geometric"].values[i] < 5.6
    assert total[0] - total[i] > 5.0


def test_same_seed_same_budget():
    g = synthetic_pass()
    a = link_budget(g, LinkParameters(), np.random.default_rng(3), fading_slot_s=0.01)
    b = link_budget(g, LinkParameters(), np.random.default_rng(3), fading_slot_s=0.01)
    xr.testing.assert_identical(a, b)


def test_daylight_flag_and_background():
    day = synthetic_pass(sun_elevation_deg=30.0, sun_separation_deg=60.0)
    off = link_budget(day, CLEAR, np.random.default_rng(0))
    assert not off["operating"].any() and np.all(off["transmittance"].values == 0)
    on = link_budget(day, LinkParameters(clouds=Clouds(model="clear"), background=Background(operate_in_daylight=True)),
                     np.random.default_rng(0))
    night = link_budget(synthetic_pass(), CLEAR, np.random.default_rng(0))
    assert np.all(on["transmittance"].values > 0)
    assert np.all(on["background_rate"].values > 1e3 * (night["background_rate"].values - 25.0))
    assert np.all(on["noise_probability"].values > night["noise_probability"].values)


def test_overcast_pass():
    ds = link_budget(synthetic_pass(), LinkParameters(clouds=Clouds(clear_probability=0.0, optical_depth=3.0)),
                     np.random.default_rng(1))
    assert not ds["cloud_clear"].any()
    from satqkd.channel.atmosphere import kasten_young_airmass
    am = kasten_young_airmass(90 - ds["elevation"].values)
    assert np.allclose(ds["loss_cloud"].values, 10 * np.log10(np.e) * 3.0 * am)


def test_cloud_series_csv(tmp_path):
    g = synthetic_pass()
    path = tmp_path / "tcc.csv"
    pd.DataFrame({"time": ["2016-12-19T16:00:00Z", "2016-12-19T18:00:00Z"], "cloud_fraction": [1.0, 1.0]}).to_csv(
        path, index=False)
    ds = link_budget(g, LinkParameters(), np.random.default_rng(1), cloud_series=path)
    assert not ds["cloud_clear"].any()
    with pytest.raises(InputError):
        link_budget(g, LinkParameters(clouds=Clouds(model="series")), np.random.default_rng(1))


def test_uplink():
    params = LinkParameters(transmitter=Transmitter(divergence_urad=20.0, pointing_jitter_urad=2.0),
                            clouds=Clouds(model="clear"))
    ds = link_budget(synthetic_pass(), params, np.random.default_rng(2), direction="uplink")
    i = int(np.argmin(ds["range"].values))
    assert np.all(ds["loss_turbulence"].values > 0)  # beam spread and wander
    assert ds["loss_turbulence"].values[0] > ds["loss_turbulence"].values[i]
    assert np.all(ds["beam_radius"].values >= beam.beam_radius_m(ds["range"].values * 1e3, 848.62,
                                                                  beam.waist_from_divergence_m(848.62, 20.0)))
    with pytest.raises(InputError):
        link_budget(synthetic_pass(), params, np.random.default_rng(2), direction="sideways")


def test_fading_output(micius):
    ds = link_budget(synthetic_pass(), CLEAR, np.random.default_rng(9), fading_slot_s=1e-3)
    assert ds["fading"].dims == ("time", "subslot") and ds["fading"].shape == (ds.sizes["time"], 1000)
    f = ds["fading"].values
    # a 1 m aperture averages the scintillation: index ~1e-3, so the pass mean is 1 to ~1e-3
    assert abs(f.mean() - 1) < 0.01
    assert np.all(ds["fading_correlation_time"].values > 1e-3)
    # pointing fades: the tracking loop's own correlation time (100 Hz -> 1.6 ms)
    assert np.allclose(ds["pointing_correlation_time"].values, 1 / (2 * np.pi * 100.0))
    xr.testing.assert_identical(ds.drop_vars(["fading", "fading_correlation_time", "pointing_correlation_time",
                                              "subslot"]).drop_attrs(),
                                micius.drop_attrs())


def test_plot(micius, tmp_path):
    out = plot_link_budget(micius, tmp_path / "lb.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_implementation_loss_scales_transmittance_only():
    """implementation_loss_db is a pure factor 10^(-L/10) on the transmittance, reported as
    its own loss term; the background and every modelled term are unchanged."""
    import dataclasses

    import xarray as xr

    from satqkd.channel.link_budget import link_budget
    from satqkd.channel.params import LinkParameters, Transmitter

    n = 5
    t = np.datetime64("2016-12-19T16:50:00") + np.arange(n) * np.timedelta64(1, "s")
    geo = xr.Dataset(
        {"elevation": ("time", np.linspace(30, 40, n)), "azimuth": ("time", np.full(n, 10.0)),
         "range": ("time", np.linspace(900, 800, n)), "sun_elevation": ("time", np.full(n, -40.0)),
         "sun_separation": ("time", np.full(n, 120.0)), "moon_elevation": ("time", np.full(n, -30.0)),
         "moon_separation": ("time", np.full(n, 120.0)), "moon_illumination": ("time", np.zeros(n))},
        coords={"time": t}, attrs={"station": "Xinglong", "station_alt_m": 960.0})
    base = LinkParameters()
    lossy = dataclasses.replace(base, transmitter=Transmitter(implementation_loss_db=12.0))
    a = link_budget(geo, base, np.random.default_rng(1))
    b = link_budget(geo, lossy, np.random.default_rng(1))
    np.testing.assert_allclose(b["transmittance"] / a["transmittance"], 10 ** -1.2, rtol=1e-12)
    np.testing.assert_array_equal(b["loss_implementation"], 12.0)
    np.testing.assert_array_equal(a["loss_implementation"], 0.0)
    for v in ("loss_geometric", "loss_pointing", "loss_atmosphere", "background_rate"):
        np.testing.assert_array_equal(a[v], b[v])
    assert b["loss_implementation"].attrs["units"] == "dB"
