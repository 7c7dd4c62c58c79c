"""Entangled-pair engine: coincidence statistics against the analytic rates, time tags,
window sampling of a bright side, reproducibility and input checks.

Every statistical check uses a fixed seed and a 5-sigma tolerance of the Poisson count it
tests (sigma = sqrt(expected)), plus, where stated, a bound on the model's own O(S tau)
approximation."""

import math

import numpy as np
import pytest

from satqkd.engine import pairs_kernels as pk
from satqkd.engine.pairs import (
    KIND_MULTIPAIR,
    KIND_NOISE,
    KIND_TRUE,
    ORIGIN_PAIR,
    PairReceiver,
    PairSource,
    bbm92_receiver,
    capture_fraction,
    chsh_receivers,
    dual_downlink_pass,
    expected_rates,
    single_downlink_pass,
)

SRC = PairSource(pair_rate_hz=5.9e6, visibility=0.93, visibility_diagonal=None)


def within(observed, expected, k=5.0, extra=0.0):
    """|observed - expected| <= k sqrt(expected) + extra (Poisson count)."""
    return abs(observed - expected) <= k * math.sqrt(max(expected, 1.0)) + extra


def test_true_coincidences_singles_and_pairs_match_analytic():
    n = 10
    eta = np.full(n, 2e-2)
    a, b = bbm92_receiver(), bbm92_receiver()
    r = dual_downlink_pass(eta, eta, 200.0, 300.0, 1.0, SRC, a, b, np.random.default_rng(1))
    ex = expected_rates(eta, eta, 200.0, 300.0, SRC, a, b)
    true = r.kinds[:, KIND_TRUE].sum()
    assert within(true, ex["true"].sum()), (true, ex["true"].sum())  # ~5900 expected
    assert within(r.singles_a.sum(), ex["singles_a"].sum())
    assert within(r.singles_b.sum(), ex["singles_b"].sum())
    # four detectors share the singles equally (uniform marginals, equal efficiencies)
    per_det = r.singles_a.sum(0)
    assert all(within(x, ex["singles_a"].sum() / 4) for x in per_det)
    assert within(r.pairs_emitted.sum(), SRC.pair_rate_hz * n)
    assert r.counts.sum() == r.coincidences.shape[0] == r.kinds.sum()


def test_jitter_capture_fraction():
    """Large jitter (1 ns rms per side) in a 2.5 ns window keeps erf(0.625) = 62 % of the pairs."""
    n = 10
    eta = np.full(n, 2e-2)
    a = bbm92_receiver(timing_jitter_ps=1000.0)
    r = dual_downlink_pass(eta, eta, 10.0, 10.0, 1.0, SRC, a, a, np.random.default_rng(2))
    cap = capture_fraction(2.5e-9, 1000.0, 1000.0)
    assert cap == pytest.approx(math.erf(0.625))
    ex = expected_rates(eta, eta, 10.0, 10.0, SRC, a, a)
    assert ex["capture_fraction"] == cap
    assert within(r.kinds[:, KIND_TRUE].sum(), ex["true"].sum())
    # and it is a real reduction: more than 5 sigma below the uncaptured rate
    assert ex["true"].sum() / cap - r.kinds[:, KIND_TRUE].sum() > 5 * math.sqrt(ex["true"].sum() / cap)


def test_accidentals_of_uncorrelated_noise_equal_sa_sb_tau():
    """No pairs, 5e5 counts/s per side, tau = 4 ns: S_A S_B tau = 1000 /s.

    The sorted merge lets each tag into one coincidence; that removes O(S tau) = 0.2 % of
    the pairs of tags (20 of 1e4), added to the 5-sigma Poisson tolerance."""
    n = 10
    src = PairSource(pair_rate_hz=0.0)
    a = bbm92_receiver()
    eta = np.zeros(n)
    r = dual_downlink_pass(eta, eta, 1.25e5, 1.25e5, 1.0, src, a, a, np.random.default_rng(3),
                           coincidence_window_s=4e-9)
    ex = expected_rates(eta, eta, 1.25e5, 1.25e5, src, a, a, coincidence_window_s=4e-9)
    assert ex["accidental"].sum() == pytest.approx(1e4)
    got = r.kinds[:, KIND_NOISE].sum()
    assert r.kinds[:, KIND_TRUE].sum() == 0 and r.kinds[:, KIND_MULTIPAIR].sum() == 0
    assert within(got, 1e4, extra=2 * 2e-3 * 1e4), got
    # accidentals carry no correlation: E = 0 within 5 sigma of a binomial mean
    c = r.counts.sum(axis=(0, 1, 2))
    e = (c[0, 0] + c[1, 1] - c[0, 1] - c[1, 0]) / c.sum()
    assert abs(e) < 5 / math.sqrt(c.sum())


def test_multipair_accidentals_bright_source():
    """Bright links (eta eff = 2.5 %): photons of different pairs meet in the window at
    (S_A - C)(S_B - C) tau (pairs are Poisson in time, so no excess over independent
    singles); the noise-free run has only true and multi-pair coincidences."""
    n = 20
    eta = np.full(n, 0.05)
    a = bbm92_receiver()
    r = dual_downlink_pass(eta, eta, 0.0, 0.0, 1.0, SRC, a, a, np.random.default_rng(4))
    ex = expected_rates(eta, eta, 0.0, 0.0, SRC, a, a)
    assert r.kinds[:, KIND_NOISE].sum() == 0
    mp = r.kinds[:, KIND_MULTIPAIR].sum()
    assert within(mp, ex["accidental_separate"].sum()), (mp, ex["accidental_separate"].sum())
    assert within(r.kinds[:, KIND_TRUE].sum(), ex["true"].sum())


def test_window_sampled_bright_side_is_exact_for_coincidences():
    """Single downlink: 1.5e6 on-board singles/s are drawn only near ground tags; the
    coincidences and the on-board singles still follow the analytic rates."""
    n = 10
    eta = np.full(n, 1e-2)
    a, b = chsh_receivers()
    r = single_downlink_pass(eta, 300.0, 1.0, SRC, a, b, np.random.default_rng(5),
                             onboard_transmittance=0.5, onboard_dark_rate=100.0, keep_tags=True)
    ex = expected_rates(np.full(n, 0.5), eta, 100.0, 300.0, SRC, a, b)
    assert within(r.kinds[:, KIND_TRUE].sum(), ex["true"].sum())
    acc = r.kinds[:, KIND_MULTIPAIR].sum() + r.kinds[:, KIND_NOISE].sum()
    # O(S tau) = 4e-3 relative merge effect on ~2.3e3 accidentals: 10 counts
    assert within(acc, ex["accidental_separate"].sum(), extra=10.0), (acc, ex["accidental_separate"].sum())
    assert within(r.singles_a.sum(), ex["singles_a"].sum())
    # memory: the kept on-board tags are a small fraction of the on-board singles
    assert r.tags_a.shape[0] < 0.1 * r.singles_a.sum()
    assert within(r.pairs_emitted.sum(), SRC.pair_rate_hz * n)


def test_tags_sorted_paired_and_reproducible():
    n = 5
    eta = np.linspace(1e-3, 3e-3, n)
    a = bbm92_receiver()
    kw = {"keep_tags": True}
    r1 = dual_downlink_pass(eta, eta[::-1], 500.0, 800.0, 1.0, SRC, a, a, np.random.default_rng(9), **kw)
    r2 = dual_downlink_pass(eta, eta[::-1], 500.0, 800.0, 1.0, SRC, a, a, np.random.default_rng(9), **kw)
    assert np.array_equal(r1.coincidences, r2.coincidences)
    assert np.array_equal(r1.tags_a, r2.tags_a)
    for tags, singles in ((r1.tags_a, r1.singles_a), (r1.tags_b, r1.singles_b)):
        assert np.all(np.diff(tags["time_s"]) >= 0)
        assert tags.shape[0] == singles.sum()  # O(detections): one record per click
        assert np.all((tags["pair"] >= 0) == (tags["origin"] == ORIGIN_PAIR))
    pa = np.sort(r1.tags_a["pair"][r1.tags_a["pair"] >= 0])
    pb = np.sort(r1.tags_b["pair"][r1.tags_b["pair"] >= 0])
    assert np.array_equal(pa, pb)
    r3 = dual_downlink_pass(eta, eta[::-1], 500.0, 800.0, 1.0, SRC, a, a, np.random.default_rng(10))
    assert not np.array_equal(r1.coincidences["time_s"][:5], r3.coincidences["time_s"][:5])


def test_per_slot_transmittance_follows_the_slots():
    """Slot 1 is dark on side B: no true coincidences there, all in slot 0."""
    a = bbm92_receiver()
    r = dual_downlink_pass(np.array([1e-2, 1e-2]), np.array([1e-2, 0.0]), 0.0, 0.0, 1.0, SRC, a, a,
                           np.random.default_rng(11))
    assert r.kinds[1].sum() == 0 and r.kinds[0, KIND_TRUE] > 100
    assert r.singles_b[1].sum() == 0 and r.singles_a[1].sum() > 1000


def test_squash_multi_clicks():
    g = np.random.Generator(np.random.PCG64(1))
    assert pk.squash(g, 0b0001, 2) == (0, 0, False)
    assert pk.squash(g, 0b1000, 2) == (1, 1, False)
    outs = [pk.squash(g, 0b0011, 2) for _ in range(2000)]  # double click in Z: random bit
    assert all(s == 0 and m for s, _, m in outs)
    ones = sum(o for _, o, _ in outs)
    assert abs(ones - 1000) < 5 * math.sqrt(500)
    outs = [pk.squash(g, 0b0101, 2) for _ in range(2000)]  # cross click: random setting
    z = sum(1 for s, _, _ in outs if s == 0)
    assert abs(z - 1000) < 5 * math.sqrt(500) and all(m for *_, m in outs)
    assert pk.squash(g, 0b100000, 3) == (2, 1, False)


def test_input_validation():
    a = bbm92_receiver()
    ok = np.full(3, 1e-3)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        dual_downlink_pass(np.full(3, 1.5), ok, 0.0, 0.0, 1.0, SRC, a, a, rng)
    with pytest.raises(ValueError):
        dual_downlink_pass(ok, np.full(4, 1e-3), 0.0, 0.0, 1.0, SRC, a, a, rng)
    with pytest.raises(ValueError):
        dual_downlink_pass(ok, ok, -1.0, 0.0, 1.0, SRC, a, a, rng)
    with pytest.raises(ValueError):
        dual_downlink_pass(ok, ok, np.zeros((3, 5)), 0.0, 1.0, SRC, a, a, rng)
    with pytest.raises(ValueError):
        dual_downlink_pass(ok, ok, 0.0, 0.0, 0.0, SRC, a, a, rng)
    with pytest.raises(ValueError):
        PairSource(visibility=1.2)
    with pytest.raises(ValueError):
        PairSource(bell_state="ghz")
    with pytest.raises(ValueError):
        PairReceiver((0.0, 45.0), (0.7, 0.7))
    with pytest.raises(ValueError):
        PairReceiver((0.0, 45.0), (0.5, 0.5), detector_efficiency=(0.5, 0.5, 0.5))


def test_poisson_emission_is_justified_for_micius_filters():
    """A 2.5 ns window holds thousands of ~1 ps modes at 3 nm: g2 = 1 + 1/M ~ 1."""
    src = PairSource(filter_bandwidth_nm=3.0)
    assert src.coherence_time_s() == pytest.approx((810e-9) ** 2 / (299792458.0 * 3e-9))
    assert src.modes_per_window(2.5e-9) > 1000
