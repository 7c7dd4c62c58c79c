"""Protocol-parameter optimisation of decoy-state BB84 (satqkd.keys.optimise)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from satqkd.engine import DecoySource, Receiver, simulate_decoy_bb84
from satqkd.engine.analytic import outcome_table
from satqkd.keys.finite_key import binary_entropy, finite_key_bounds
from satqkd.keys.optimise import (
    MICIUS_PARAMETERS,
    DecoyParameters,
    OptimiserSettings,
    PassChannel,
    _box,
    _decode,
    _encode,
    evaluate_parameters,
    expected_counts,
    expected_key,
    optimise_decoy_parameters,
)
from satqkd.keys.postprocess import KeyParameters

RATE = 1e8


def micius_like(peak=1.5e-3, low=1e-4, n_slots=300, duration_s=300.0, noise=1e-6):
    """Transmittance parabola low -> peak -> low over the pass (engine convention)."""
    t = (np.arange(n_slots) + 0.5) * duration_s / n_slots
    half = duration_s / 2
    eta = low + (peak - low) * (1.0 - ((t - half) / half) ** 2)
    return PassChannel(eta, noise, duration_s / n_slots)


MICIUS_PASS = micius_like()
RECEIVER = Receiver()  # efficiencies 0.5, e_d = 1 %, q_z = 0.5
KEY = KeyParameters()  # eps_sec 1e-9, eps_cor 1e-15, Hoeffding (Lim et al. 2014)


@pytest.fixture(scope="module")
def micius_opt():
    return optimise_decoy_parameters([MICIUS_PASS], RECEIVER, RATE, KEY, starts=8, seed=0)


# --------------------------------------------------------------------------- expected counts
def test_closed_form_counts_equal_outcome_table():
    """The vectorised closed form equals the engine's 16-pattern outcome table (float eps)."""
    params = DecoyParameters((0.6, 0.2, 0.01), (0.6, 0.3, 0.1), 0.8, 0.7)
    rec = Receiver(detector_efficiency=(0.5, 0.45, 0.55, 0.4), q_z=0.7, misalignment=0.02)
    rng = np.random.default_rng(1)
    eta = rng.uniform(1e-5, 3e-2, 40)
    noise = rng.uniform(0, 1e-4, (40, 4))  # per-detector noise
    passes = [PassChannel(eta[:15], noise[:15], 0.3), PassChannel(eta[15:], noise[15:], 0.7)]
    c = expected_counts(params, passes, rec, RATE)
    src = DecoySource(RATE, params.intensities, params.probabilities, params.p_z)
    for i, p in enumerate(passes):
        tab = outcome_table(p.transmittance, p.noise_probability, src, rec,
                            per_detector_noise=True).table
        n = p.pulses(RATE)[:, None]
        np.testing.assert_allclose(c.n_z[i], (n * tab[:, :, 0, 0, :].sum(-1)).sum(0), rtol=1e-11)
        np.testing.assert_allclose(c.m_z[i], (n * tab[:, :, 0, 0, 1]).sum(0), rtol=1e-11)
        np.testing.assert_allclose(c.n_x[i], (n * tab[:, :, 1, 1, :].sum(-1)).sum(0), rtol=1e-11)
        np.testing.assert_allclose(c.m_x[i], (n * tab[:, :, 1, 1, 1]).sum(0), rtol=1e-11)
        assert c.pulses[i] == round(p.transmittance.size * p.slot_duration_s * RATE)


def test_expected_counts_match_engine_run():
    """Expected counts vs one simulate_decoy_bb84 run with biased bases (seed 2024).

    Each count is a sum of independent Bernoulli trials with small success probability, so
    its variance is at most its mean: tolerance 5 sqrt(mean) (5 sigma; 12 comparisons give
    a false-alarm probability below 1e-5).
    """
    params = DecoyParameters((0.7, 0.15, 0.0), (0.6, 0.25, 0.15), 0.8, 0.7)
    rec = Receiver(detector_efficiency=(0.5, 0.45, 0.55, 0.4), misalignment=0.02)
    eta = np.linspace(2e-3, 2e-2, 20)
    channel = PassChannel(eta, 2e-5, 0.05)  # 1e8 pulses
    exp = expected_counts(params, [channel], rec, RATE)
    src = DecoySource(RATE, params.intensities, params.probabilities, params.p_z)
    res = simulate_decoy_bb84(eta, 2e-5, 0.05, src, Receiver(
        detector_efficiency=rec.detector_efficiency, q_z=params.q_z,
        misalignment=rec.misalignment), np.random.default_rng(2024))
    cnt = res.counts.sum(0)  # [intensity, alice_basis, bob_basis, error]
    observed = {"n_z": cnt[:, 0, 0, :].sum(-1), "m_z": cnt[:, 0, 0, 1],
                "n_x": cnt[:, 1, 1, :].sum(-1), "m_x": cnt[:, 1, 1, 1]}
    for name, obs in observed.items():
        mean = getattr(exp, name)[0]
        assert np.all(mean > 20), (name, mean)
        assert np.all(np.abs(obs - mean) < 5 * np.sqrt(mean)), (name, obs, mean)


def test_leak_model_and_callable_f():
    """lambda_EC = f n_Z h(E_Z) per pass; a callable f(qber, n) is honoured."""
    ev = evaluate_parameters(MICIUS_PARAMETERS, [MICIUS_PASS], RECEIVER, RATE, KEY)
    assert ev.leaked_ec_bits == pytest.approx(1.1 * ev.sifted_bits * binary_entropy(ev.qber_z),
                                              rel=1e-12)
    s = OptimiserSettings(f_ec=lambda e, n: 1.0 + 0.0 * e)
    ev1 = evaluate_parameters(MICIUS_PARAMETERS, [MICIUS_PASS], RECEIVER, RATE, KEY, settings=s)
    assert ev1.leaked_ec_bits == pytest.approx(ev.leaked_ec_bits / 1.1, rel=1e-12)
    # the key is Lim et al. eq. 1 on the expected counts, floored, with Cascade's replies
    # (one per parity) charged by the two-way rule as the optimiser does
    b = finite_key_bounds(ev.n_z, ev.n_x, ev.m_x, MICIUS_PARAMETERS.intensities,
                          MICIUS_PARAMETERS.probabilities, ev.leaked_ec_bits,
                          reply_bits=ev.leaked_ec_bits)
    assert ev.secret_bits == math.floor(float(b["length_raw"])) > 0
    assert ev1.secret_bits > ev.secret_bits


# --------------------------------------------------------------------------- optimiser
def test_optimum_beats_micius_hand_choice(micius_opt):
    r = micius_opt
    assert r.success and r.status == "optimal"
    base = evaluate_parameters(MICIUS_PARAMETERS, [MICIUS_PASS], RECEIVER, RATE, KEY)
    assert r.baseline.secret_bits == base.secret_bits > 0
    assert r.secret_bits > base.secret_bits
    assert expected_key(r.params, [MICIUS_PASS], RECEIVER, RATE, KEY) == r.secret_bits
    m1, m2, m3 = r.params.intensities
    assert m3 == 0.0 and m1 > m2 + m3 and m2 > m3
    assert sum(r.params.probabilities) == pytest.approx(1.0, abs=1e-12)


def test_optimum_is_not_degenerate(micius_opt):
    r = micius_opt
    s = OptimiserSettings()
    opt = r.optimum
    assert not opt.degenerate and opt.reason == ""
    assert r.params.p_z <= 1 - s.basis_delta and r.params.q_z <= 1 - s.basis_delta
    assert np.all(opt.n_x[:2] >= s.min_test_events)
    assert opt.bounds["s_x1"] > 0 and opt.bounds["s_z1"] > 0 and opt.bounds["phi_z"] < 0.5
    assert r.feasible_starts >= 1


def test_optimum_is_a_local_maximum(micius_opt):
    """No feasible +-2 % step of any single parameter improves the expected key by > 1e-6."""
    p = micius_opt.params
    best = micius_opt.optimum.objective_raw
    mu, pr = list(p.intensities), list(p.probabilities)
    trials = []
    for f in (0.98, 1.02):
        trials.append(DecoyParameters((mu[0] * f, mu[1], 0.0), tuple(pr), p.p_z, p.q_z))
        trials.append(DecoyParameters((mu[0], mu[1] * f, 0.0), tuple(pr), p.p_z, p.q_z))
        for i, j in ((0, 1), (0, 2), (1, 2)):
            q = list(pr)
            d = q[i] * (f - 1.0)
            q[i] += d
            q[j] -= d
            trials.append(DecoyParameters(tuple(mu), tuple(q), p.p_z, p.q_z))
        trials.append(DecoyParameters(tuple(mu), tuple(pr), p.p_z * f, p.q_z))
        trials.append(DecoyParameters(tuple(mu), tuple(pr), p.p_z, p.q_z * f))
    for t in trials:
        ev = evaluate_parameters(t, [MICIUS_PASS], RECEIVER, RATE, KEY)
        assert ev.objective_raw <= best * (1 + 1e-6), t


def test_guard_binds_and_is_respected():
    """Tight guards (p_Z, q_Z <= 0.8; >= 1e5 test events) hold exactly at the optimum."""
    s = OptimiserSettings(basis_delta=0.2, min_test_events=1e5)
    r = optimise_decoy_parameters([MICIUS_PASS], RECEIVER, RATE, KEY, starts=3, seed=0,
                                  settings=s)
    free = optimise_decoy_parameters([MICIUS_PASS], RECEIVER, RATE, KEY, starts=3, seed=0)
    assert r.success
    assert max(r.params.p_z, r.params.q_z) <= 0.8 + 1e-12
    assert np.all(r.optimum.n_x[:2] >= 1e5)
    # the unconstrained optimum violates the tight guards, so they are active ...
    assert free.params.p_z > 0.8 or np.any(free.optimum.n_x[:2] < 1e5)
    # ... and cost key, but the constrained optimum still beats the hand choice
    assert free.secret_bits > r.secret_bits > r.baseline.secret_bits


def test_deterministic_with_seed():
    a = optimise_decoy_parameters([MICIUS_PASS], RECEIVER, RATE, KEY, starts=3, seed=7,
                                  tie_bases=True)
    b = optimise_decoy_parameters([MICIUS_PASS], RECEIVER, RATE, KEY, starts=3, seed=7,
                                  tie_bases=True)
    assert a.params == b.params and a.start_objectives == b.start_objectives
    assert a.params.p_z == a.params.q_z  # tied bases


def test_free_weak_decoy():
    r = optimise_decoy_parameters([MICIUS_PASS], RECEIVER, RATE, KEY, starts=2, seed=1,
                                  fix_vacuum=False)
    m1, m2, m3 = r.params.intensities
    assert r.success and 0.0 <= m3 < m2 and m1 > m2 + m3
    assert r.secret_bits > r.baseline.secret_bits


def test_mission_block_beats_per_pass_keys():
    """One block over three passes >= sum of the per-pass optima (overhead paid once, tighter
    deviations), and the block optimum >= the mission-sum optimum evaluated as one block."""
    passes = [micius_like(1.5e-3, n_slots=60), micius_like(6e-4, n_slots=60),
              micius_like(3e-4, 5e-5, n_slots=60)]
    block = optimise_decoy_parameters(passes, RECEIVER, RATE, KEY, mode="mission-block",
                                      starts=3)
    summed = optimise_decoy_parameters(passes, RECEIVER, RATE, KEY, mode="mission-sum",
                                       starts=3)
    per_pass = [optimise_decoy_parameters([p], RECEIVER, RATE, KEY, starts=3) for p in passes]
    assert block.success and summed.success
    assert block.secret_bits >= sum(r.secret_bits for r in per_pass)
    assert block.secret_bits >= expected_key(summed.params, passes, RECEIVER, RATE, KEY,
                                             mode="mission-block")
    assert summed.secret_bits == summed.optimum.secret_bits_per_pass.sum()
    assert block.secret_bits > block.baseline.secret_bits
    assert per_pass[2].secret_bits == 0  # the weakest pass alone gives nothing


def test_reports_no_positive_key():
    r = optimise_decoy_parameters([micius_like(1e-7, 1e-7, n_slots=30)], RECEIVER, RATE, KEY,
                                  starts=3)
    assert not r.success and r.status == "no_positive_key"
    assert r.secret_bits == 0 and r.baseline.secret_bits == 0
    assert "no positive expected key" in r.message


def test_bad_inputs():
    with pytest.raises(ValueError):
        optimise_decoy_parameters([MICIUS_PASS, MICIUS_PASS], RECEIVER, RATE, KEY,
                                  mode="per-pass")
    with pytest.raises(ValueError):
        optimise_decoy_parameters([MICIUS_PASS], RECEIVER, RATE, KEY, mode="block")
    with pytest.raises(ValueError):
        DecoyParameters((0.5, 0.3, 0.25), (0.5, 0.25, 0.25), 0.5, 0.5)  # mu1 <= mu2 + mu3
    with pytest.raises(ValueError):
        PassChannel(np.array([1e-3, 2.0]), 1e-6)


@hsettings(max_examples=60, deadline=None)
@given(st.data(), st.booleans(), st.booleans())
def test_reparametrisation_covers_only_valid_points(data, fix_vacuum, tie_bases):
    s = OptimiserSettings()
    box = _box(s, fix_vacuum, tie_bases)
    x = np.array([data.draw(st.floats(lo, hi)) for lo, hi in box])
    p = _decode(x, s, fix_vacuum, tie_bases)  # DecoyParameters validates the constraints
    assert min(p.probabilities) >= s.p_min - 1e-12
    assert 0.5 <= p.p_z <= 1 - s.basis_delta + 1e-12
    # encode is a right inverse (x itself is not unique at stick-breaking corners)
    back = _decode(_encode(p, s, fix_vacuum, tie_bases), s, fix_vacuum, tie_bases)
    np.testing.assert_allclose(back.intensities, p.intensities, atol=1e-12)
    np.testing.assert_allclose(back.probabilities, p.probabilities, atol=1e-12)
    assert back.p_z == pytest.approx(p.p_z, abs=1e-12) and back.q_z == pytest.approx(p.q_z, abs=1e-12)
