"""The event-driven engine is exact: it matches the analytic outcome table of the model,
the naive per-pulse reference kernel, and Ma et al.'s formulas where they apply.

Tolerances: chi-square tests pass when p > 1e-4 (a false alarm 1 in 10^4 per test for a
correct engine; seeds are fixed, so the outcome is deterministic); z-tests pass within
5 sigma of the binomial standard deviation.
"""

from __future__ import annotations

import numpy as np
import pytest

from satqkd.engine import DecoySource, Receiver, simulate_decoy_bb84
from satqkd.engine.analytic import (
    expected_gain_qber,
    ma_gain_qber,
    outcome_table,
    photon_number_given_click,
)
from satqkd.engine.events import EVENT_DTYPE
from satqkd.engine.reference import reference_decoy_bb84
from satqkd.engine.stats import binomial_z, chi2_goodness_of_fit, chi2_homogeneity

P_MIN = 1e-4  # chi-square p-value threshold
Z_MAX = 5.0  # z-test threshold (sigma)
SOURCE = DecoySource()  # Micius: 1e8 Hz, 0.8/0.1/0.0 with 0.5/0.25/0.25
RECEIVER = Receiver()  # eff 0.5 x4, q_z 0.5, e_d 1 %
NOISE = 1e-4  # large enough that vacuum-decoy cells are well populated
N_SLOTS = 10
SLOT_S = 0.1  # 10 x 0.1 s x 1e8 Hz = 1e8 pulses per engine run
REF_PULSES = {1e-2: 3_000_000, 0.5: 1_000_000}  # per slot, 10 slots (3e7 and 1e7 pulses)


def _cells(counts: np.ndarray, n_pulses: np.ndarray) -> np.ndarray:
    """Outcome cells (k, a, b, e) plus one no-click cell per intensity, summed over slots."""
    c = counts.sum(axis=0)
    no_click = n_pulses.sum(axis=(0, 2)) - c.sum(axis=(1, 2, 3))
    return np.concatenate([c.ravel(), no_click])


@pytest.fixture(scope="module", params=[1e-2, 0.5], ids=["eta1e-2", "eta0.5"])
def runs(request):
    eta = request.param
    trans = np.full(N_SLOTS, eta)
    # fast path (no photon numbers) for the outcome tables, and a run recording photon numbers
    eng = simulate_decoy_bb84(trans, NOISE, SLOT_S, SOURCE, RECEIVER, np.random.default_rng(20240101))
    eng_n = simulate_decoy_bb84(trans, NOISE, SLOT_S, SOURCE, RECEIVER, np.random.default_rng(20240102),
                                record_photon_number=True)
    ref = reference_decoy_bb84(trans, NOISE, SLOT_S, SOURCE, RECEIVER, np.random.default_rng(7),
                               pulses_per_slot=REF_PULSES[eta])
    table = outcome_table(eta, NOISE, SOURCE, RECEIVER)
    return eta, eng, ref, table, eng_n


def test_engine_runs_at_least_1e8_pulses(runs):
    _, eng, _, _, _ = runs
    assert eng.n_pulses.sum() == 100_000_000


def test_outcome_table_matches_analytic(runs):
    eta, eng, _, t, _ = runs
    probs = np.concatenate([t.table.ravel(), t.no_click.ravel()])
    stat, dof, p = chi2_goodness_of_fit(_cells(eng.counts, eng.n_pulses), probs)
    assert p > P_MIN, (eta, stat, dof, p)


def test_engine_and_reference_are_homogeneous(runs):
    eta, eng, ref, _, _ = runs
    stat, dof, p = chi2_homogeneity(_cells(eng.counts, eng.n_pulses), _cells(ref.counts, ref.n_pulses))
    assert dof >= 20
    assert p > P_MIN, (eta, stat, dof, p)


def test_reference_matches_analytic(runs):
    eta, _, ref, t, _ = runs
    probs = np.concatenate([t.table.ravel(), t.no_click.ravel()])
    stat, dof, p = chi2_goodness_of_fit(_cells(ref.counts, ref.n_pulses), probs)
    assert p > P_MIN, (eta, stat, dof, p)


@pytest.mark.parametrize("which", ["engine", "engine-photon-number", "reference"])
def test_z_per_intensity(runs, which):
    eta, eng, ref, t, eng_n = runs
    r = {"engine": eng, "engine-photon-number": eng_n, "reference": ref}[which]
    c = r.counts.sum(axis=0)
    n_k = r.n_pulses.sum(axis=(0, 2))
    pk = np.asarray(SOURCE.probabilities)
    # detection probability
    z = binomial_z(c.sum(axis=(1, 2, 3)), n_k, t.click)
    assert np.all(np.abs(z) < Z_MAX), z
    # sifted QBER per intensity (both bases)
    sift_err = c[:, 0, 0, 1] + c[:, 1, 1, 1]
    sift = c[:, 0, 0, :].sum(-1) + c[:, 1, 1, :].sum(-1)
    t_err = t.table[:, 0, 0, 1] + t.table[:, 1, 1, 1]
    t_sift = t.table[:, 0, 0, :].sum(-1) + t.table[:, 1, 1, :].sum(-1)
    z = binomial_z(sift_err, sift, t_err / t_sift)
    assert np.all(np.abs(z) < Z_MAX), z
    # double clicks (vacuum: only noise, p ~ NOISE^2 -> skip the k with tiny expectation)
    p_dc = t.double / pk
    ok = n_k * p_dc > 25
    z = binomial_z(r.double_clicks.sum(axis=0)[ok], n_k[ok], p_dc[ok])
    assert np.all(np.abs(z) < Z_MAX), z
    if eta == 0.5:
        assert ok[0] and ok[1]  # the multi-photon stress really exercises double clicks


def test_photon_number_of_clicks(runs):
    eta, _, ref, _, eng = runs
    n_max = 20
    expected = photon_number_given_click(eta, NOISE, SOURCE, RECEIVER, n_max=60)
    ev = eng.events
    assert np.all(ev["photon_number"] >= 0)
    for k in range(len(SOURCE.intensities)):
        n = ev["photon_number"][ev["intensity"] == k]
        obs = np.bincount(np.minimum(n, n_max), minlength=n_max + 1)
        exp = np.concatenate([expected[k, :n_max], [expected[k, n_max:].sum()]])
        stat, dof, p = chi2_goodness_of_fit(obs, exp)
        assert p > P_MIN, (eta, k, stat, dof, p)
        # the reference kernel's photon-number histogram obeys the same law
        stat, dof, p = chi2_goodness_of_fit(ref.photon_clicks[k], exp)
        assert p > P_MIN, ("reference", eta, k, stat, dof, p)


def test_ma_et_al_gain_and_qber():
    """Ma, Qi, Zhao, Lo (2005): Q = Y0 + 1 - e^{-eta mu}, E Q = Y0/2 + e_d (1 - e^{-eta mu}).

    Approximation: the formulas neglect signal-noise overlap (~Y0 eta mu) and use a
    per-pulse misalignment; at eta mu ~ 1e-3 both corrections are far below the 5 sigma
    statistical tolerance of 1e8 pulses.
    """
    total = 1e-3
    noise = 1e-6
    eta_ch = np.full(N_SLOTS, total / RECEIVER.mean_efficiency)
    r = simulate_decoy_bb84(eta_ch, noise, SLOT_S, SOURCE, RECEIVER, np.random.default_rng(99))
    y0 = 1.0 - (1.0 - noise) ** 4
    q_ma, e_ma = ma_gain_qber(np.asarray(SOURCE.intensities), total, y0, RECEIVER.misalignment)
    c = r.counts.sum(axis=0)
    n_k = r.n_pulses.sum(axis=(0, 2))
    assert np.all(np.abs(binomial_z(c.sum(axis=(1, 2, 3)), n_k, q_ma)) < Z_MAX)
    sift_err = c[:, 0, 0, 1] + c[:, 1, 1, 1]
    sift = c[:, 0, 0, :].sum(-1) + c[:, 1, 1, :].sum(-1)
    assert np.all(np.abs(binomial_z(sift_err, sift, e_ma)) < Z_MAX)
    # and the QBER is of the Micius size, 1-2 % for the signal
    assert 0.005 < sift_err[0] / sift[0] < 0.02


def test_per_slot_counts_follow_transmittance():
    """Slots with different transmittance: per-slot clicks are independent binomials, so
    sum_s z_s^2 is chi-square with n_slots degrees of freedom."""
    eta = np.geomspace(1e-4, 3e-2, 40)
    r = simulate_decoy_bb84(eta, 1e-6, 0.025, SOURCE, RECEIVER, np.random.default_rng(3))
    gain, _, _, _ = expected_gain_qber(eta, 1e-6, SOURCE, RECEIVER)
    p_click = gain @ np.asarray(SOURCE.probabilities)
    n_s = r.n_pulses.sum(axis=(1, 2))
    z = binomial_z(r.counts.sum(axis=(1, 2, 3, 4)), n_s, p_click)
    from scipy.stats import chi2

    assert chi2.sf(np.sum(z**2), eta.size) > P_MIN


def test_dead_time_and_afterpulsing_match_reference():
    """Dead time 50 ns (5 windows) and 10 % afterpulsing (100 ns traps) at eta = 0.5,
    where they change the statistics by many sigma: engine and reference agree."""
    rx = Receiver(dead_time_s=50e-9, afterpulse_probability=0.1, afterpulse_time_s=100e-9)
    trans = np.full(N_SLOTS, 0.5)
    eng = simulate_decoy_bb84(trans, NOISE, SLOT_S, SOURCE, rx, np.random.default_rng(11),
                              record_photon_number=True)
    ref = reference_decoy_bb84(trans, NOISE, SLOT_S, SOURCE, rx, np.random.default_rng(12),
                               pulses_per_slot=1_000_000)
    a, b = _cells(eng.counts, eng.n_pulses), _cells(ref.counts, ref.n_pulses)
    stat, dof, p = chi2_homogeneity(a, b)
    assert p > P_MIN, (stat, dof, p)
    z = binomial_z(eng.double_clicks.sum(), eng.n_pulses.sum(), ref.double_clicks.sum() / ref.n_pulses.sum())
    assert abs(z) < Z_MAX * np.sqrt(1 + eng.n_pulses.sum() / ref.n_pulses.sum())
    # the imperfections matter here: the ideal-detector table is rejected outright
    t = outcome_table(0.5, NOISE, SOURCE, RECEIVER)
    _, _, p_ideal = chi2_goodness_of_fit(a, np.concatenate([t.table.ravel(), t.no_click.ravel()]))
    assert p_ideal < 1e-12
    # no detector clicks twice within its dead time: single clicks on one detector
    ev = eng.events
    single = ~ev["double_click"]
    det = 2 * ev["bob_basis"][single].astype(np.int64) + ev["bob_bit"][single]
    for j in range(4):
        idx = ev["pulse_index"][single][det == j]
        assert np.diff(idx).min() > 5
    # afterpulse-only events exist (photon numbers drawn given no primary click) and the
    # vacuum decoy's clicks never carry photons
    assert np.all(ev["photon_number"][ev["intensity"] == 2] == 0)
    assert np.all(ev["photon_number"] >= 0)
    assert np.all(np.diff(ev["pulse_index"]) > 0)


def test_same_seed_same_events_and_invariants():
    eta = np.linspace(1e-3, 2e-2, 5)
    a = simulate_decoy_bb84(eta, 1e-5, 0.01, SOURCE, RECEIVER, np.random.default_rng(5))
    b = simulate_decoy_bb84(eta, 1e-5, 0.01, SOURCE, RECEIVER, np.random.default_rng(5))
    c = simulate_decoy_bb84(eta, 1e-5, 0.01, SOURCE, RECEIVER, np.random.default_rng(6))
    assert a.events.dtype == EVENT_DTYPE
    assert np.array_equal(a.events, b.events) and np.array_equal(a.counts, b.counts)
    assert np.array_equal(a.n_pulses, b.n_pulses)
    assert not np.array_equal(a.events[:100], c.events[:100])
    ev = a.events
    per_slot = int(SOURCE.rate_hz * 0.01)
    assert np.all(np.diff(ev["pulse_index"]) > 0)  # sorted, no pulse twice
    assert np.array_equal(ev["slot"], ev["pulse_index"] // per_slot)
    assert np.all(a.n_pulses.sum(axis=(1, 2)) == per_slot)
    # counts are exactly the events' tally
    counts = np.zeros_like(a.counts)
    np.add.at(counts, (ev["slot"], ev["intensity"], ev["alice_basis"], ev["bob_basis"],
                       (ev["bob_bit"] != ev["alice_bit"]).astype(int)), 1)
    assert np.array_equal(counts, a.counts)
    dbl = np.zeros_like(a.double_clicks)
    np.add.at(dbl, (ev["slot"], ev["intensity"]), ev["double_click"].astype(int))
    assert np.array_equal(dbl, a.double_clicks)
    assert np.all(ev["photon_number"] == -1)


def test_full_micius_pass_is_event_driven():
    """3e10 pulses (100 MHz x 300 s) at a transmittance giving ~2e4 clicks: memory and
    work are O(detections); the click count is within 5 sigma of the expectation."""
    eta = np.full(300, 2e-6)
    r = simulate_decoy_bb84(eta, 1e-8, 1.0, SOURCE, RECEIVER, np.random.default_rng(8))
    assert r.n_pulses.sum() == 30_000_000_000
    gain, _, _, _ = expected_gain_qber(2e-6, 1e-8, SOURCE, RECEIVER)
    p = float(gain @ np.asarray(SOURCE.probabilities))
    assert abs(binomial_z(r.events.size, 3e10, p)) < Z_MAX
    buffer = r.events.base if r.events.base is not None else r.events
    assert buffer.nbytes < (1.1 * r.events.size + 1000) * EVENT_DTYPE.itemsize


def test_biased_bases_asymmetric_detectors_per_detector_noise():
    """p_z = 0.8, q_z = 0.7, unequal efficiencies and per-detector noise at eta = 0.2."""
    src = DecoySource(intensities=(0.6, 0.2, 0.0), probabilities=(0.7, 0.2, 0.1), p_z=0.8)
    rx = Receiver(detector_efficiency=(0.6, 0.45, 0.5, 0.4), q_z=0.7, misalignment=0.03)
    noise = np.array([1e-4, 3e-4, 2e-4, 5e-5])
    trans = np.full(N_SLOTS, 0.2)
    noise_slots = np.tile(noise, (N_SLOTS, 1))
    eng = simulate_decoy_bb84(trans, noise_slots, SLOT_S, src, rx, np.random.default_rng(31))
    t = outcome_table(0.2, noise, src, rx, per_detector_noise=True)
    probs = np.concatenate([t.table.ravel(), t.no_click.ravel()])
    stat, dof, p = chi2_goodness_of_fit(_cells(eng.counts, eng.n_pulses), probs)
    assert p > P_MIN, (stat, dof, p)
    ref = reference_decoy_bb84(trans, noise_slots, SLOT_S, src, rx, np.random.default_rng(32),
                               pulses_per_slot=300_000)
    stat, dof, p = chi2_homogeneity(_cells(eng.counts, eng.n_pulses), _cells(ref.counts, ref.n_pulses))
    assert p > P_MIN, (stat, dof, p)
    # Alice's basis/intensity split of all pulses is the source's
    n_ka = eng.n_pulses.sum(axis=0)
    expected = np.outer(src.probabilities, [src.p_z, 1 - src.p_z]).ravel()
    _, _, p = chi2_goodness_of_fit(n_ka.ravel(), expected)
    assert p > P_MIN


def test_bad_inputs_rejected():
    with pytest.raises(ValueError):
        simulate_decoy_bb84(np.full(3, 1.5), 1e-6, 1.0, SOURCE, RECEIVER, np.random.default_rng(0))
    with pytest.raises(ValueError):
        simulate_decoy_bb84(np.full(3, 1e-3), np.full(4, 1e-6), 1.0, SOURCE, RECEIVER, np.random.default_rng(0))
