"""CHSH / E91 and BBM92 sifting on simulated passes: S = 2 sqrt(2) V on a clean channel,
S <= 2 under intercept-resend, the Bell test fails closed, and the BBM92 QBER equals
(1 - V)/2 plus the accidental contribution. Fixed seeds; 5-sigma tolerances from the
binomial errors stated at each check."""

import math

import numpy as np
import pytest

from satqkd.engine.pairs import (
    KIND_TRUE,
    PairEavesdropper,
    PairSource,
    bbm92_flips,
    bbm92_receiver,
    bell_test_passed,
    chsh,
    chsh_receivers,
    chsh_signs,
    correlation_matrix,
    correlators,
    dual_downlink_pass,
    e91_receivers,
    expected_rates,
    ideal_correlations,
    sift_bbm92,
)

N = 10
ETA = np.full(N, 2e-2)  # 590 true coincidences/s at eff 0.5


def run(source, a, b, seed, eve=None, noise=(10.0, 10.0), eta=ETA):
    return dual_downlink_pass(eta, eta, noise[0], noise[1], 1.0, source, a, b,
                              np.random.default_rng(seed), eavesdropper=eve)


def expected_s(source, a, b, eve=None, noise=(10.0, 10.0), eta=ETA, sa=(0, 1), sb=(0, 1)):
    """sum sign E over the CHSH pairs with accidentals (E = 0) diluting each correlator."""
    e = ideal_correlations(source, a, b, eve)
    ex = expected_rates(eta, eta, noise[0], noise[1], source, a, b, eavesdropper=eve)
    t = ex["true_by_setting"].sum(0)
    acc = ex["accidental_by_setting"].sum(0)
    dil = t / (t + acc)
    sub = np.ix_(list(sa), list(sb))
    return e[sub], dil[sub]


@pytest.mark.parametrize("state", ["phi+", "psi-"])
def test_chsh_clean_channel_is_2sqrt2_v(state):
    # accidentals / true = R tau when pair photons dominate the singles: 1e6 pairs/s in a
    # 2.5 ns window leave 0.25 % accidentals ("clean"); at 5.9e6 it would be 1.5 %
    v = 0.9
    src = PairSource(pair_rate_hz=1e6, visibility=v, visibility_diagonal=None, bell_state=state)
    a, b = chsh_receivers()
    eta = np.full(N, 0.05)
    r = run(src, a, b, seed=21, eta=eta)
    signs = chsh_signs(ideal_correlations(src, a, b))
    c = chsh(r.counts.sum(0), (0, 1), (0, 1), signs)
    e, dil = expected_s(src, a, b, eta=eta)
    s_exp = float(np.sum(signs * e * dil))
    assert s_exp == pytest.approx(2 * math.sqrt(2) * v, rel=4e-3)
    # sigma_S from four binomial correlators, ~0.01 with ~6000 coincidences
    assert abs(c.s - s_exp) < 5 * c.sigma, (c.s, s_exp, c.sigma)
    assert c.passed(3.0)
    assert c.s > 2.4


def test_chsh_uses_the_standard_combination():
    src = PairSource(visibility=1.0, visibility_diagonal=None)
    a, b = chsh_receivers()  # Alice 0, 45; Bob 22.5, 67.5 -> E = cos 2(a - b)
    e = ideal_correlations(src, a, b)
    assert np.allclose(e, [[math.cos(math.pi / 4), math.cos(3 * math.pi / 4)],
                           [math.cos(math.pi / 4), math.cos(math.pi / 4)]])
    assert np.array_equal(chsh_signs(e), [[1, -1], [1, 1]])  # S = E00 - E01 + E10 + E11
    assert np.sum(chsh_signs(e) * e) == pytest.approx(2 * math.sqrt(2))


def test_intercept_resend_on_bob_gives_s_below_2():
    """Eve measures Bob's photon at 0 or 45 deg and resends: C -> C M with M = I/2,
    S = sqrt(2) V = 1.34 < 2; the Bell test must fail."""
    v = 0.95
    src = PairSource(visibility=v, visibility_diagonal=None)
    a, b = chsh_receivers()
    eve = PairEavesdropper(target="b")
    assert np.allclose(correlation_matrix(src, eve), v / 2 * np.eye(2))
    r = run(src, a, b, seed=22, eve=eve)
    signs = chsh_signs(ideal_correlations(src, a, b))
    c = chsh(r.counts.sum(0), (0, 1), (0, 1), signs)
    assert abs(c.s - math.sqrt(2) * v) < 5 * c.sigma, (c.s, c.sigma)
    assert c.s < 2.0 and not c.passed(3.0)
    # on both photons: S = sqrt(2) V / 2
    r = run(src, a, b, seed=23, eve=PairEavesdropper(target="both"))
    c = chsh(r.counts.sum(0), (0, 1), (0, 1), signs)
    assert abs(c.s - math.sqrt(2) * v / 2) < 5 * c.sigma
    assert not c.passed()


def test_bell_test_fails_closed():
    assert not bell_test_passed(float("nan"), 0.1)
    assert not bell_test_passed(2.5, float("nan"))
    assert not bell_test_passed(2.25, 0.09, 3.0)  # 2.25 - 0.27 < 2
    assert bell_test_passed(2.37, 0.09, 3.0)
    # a genuine violation with too few coincidences is not accepted
    src = PairSource(visibility=0.93, visibility_diagonal=None)
    a, b = chsh_receivers()
    r = run(src, a, b, seed=24, eta=np.full(2, 1e-3))
    signs = chsh_signs(ideal_correlations(src, a, b))
    c = chsh(r.counts.sum(0), (0, 1), (0, 1), signs)
    assert r.coincidences.shape[0] < 40
    assert not c.passed(3.0)
    empty = chsh(np.zeros((2, 2, 2, 2)), (0, 1), (0, 1), signs)
    assert math.isnan(empty.s) and not empty.passed()


def test_correlator_errors_binomial():
    counts = np.array([[[[40, 10], [10, 40]]]])
    e, n, s = correlators(counts)
    assert e[0, 0] == pytest.approx(0.6) and n[0, 0] == 100
    assert s[0, 0] == pytest.approx(math.sqrt((1 - 0.36) / 100))


def test_e91_settings_chsh_and_key_pairs():
    """Alice 0, 22.5, 45; Bob 0, 22.5, -22.5: CHSH from A{0,2} x B{1,2} gives 2 sqrt2 V,
    the matching pairs (0,0) and (1,1) have QBER (1 - V)/2."""
    v = 0.92
    src = PairSource(visibility=v, visibility_diagonal=None)
    a, b = e91_receivers()
    r = run(src, a, b, seed=25)
    signs = chsh_signs(ideal_correlations(src, a, b)[np.ix_([0, 2], [1, 2])])
    assert np.array_equal(signs, [[1, 1], [1, -1]])  # E(0,b1)+E(0,b2)+E(a2,b1)-E(a2,b2)
    c = chsh(r.counts.sum(0), (0, 2), (1, 2), signs)
    assert abs(c.s - 2 * math.sqrt(2) * v) < 5 * c.sigma + 0.01
    for k in (0, 1):
        q = r.qber(k, k)
        n = r.counts[:, k, k].sum()
        assert abs(q - (1 - v) / 2) < 5 * math.sqrt(0.04 * 0.96 / n) + 0.002


def test_bbm92_qber_is_visibility_plus_accidentals():
    """QBER = [C (1 - V)/2 + A/2] / (C + A) with A = S_A S_B tau. Heavy background
    (2e4 counts/s per detector) makes the accidental term ~1.2 % absolute, far more than
    the 5-sigma binomial tolerance (~0.5 %), so a model without it fails here."""
    v = 0.96
    src = PairSource(visibility=v, visibility_diagonal=None)
    a, b = bbm92_receiver(), bbm92_receiver()
    noise = (2e4, 2e4)
    r = run(src, a, b, seed=26, noise=noise)
    ex = expected_rates(ETA, ETA, *noise, src, a, b)
    sp = sift_bbm92(r.coincidences)
    for bits_a, bits_b, (i, j) in ((sp.key_a, sp.key_b, (0, 0)), (sp.test_a, sp.test_b, (1, 1))):
        n = bits_a.size
        q = float(np.mean(bits_a != bits_b))
        q_exp = ex["qber"][i, j]
        tol = 5 * math.sqrt(q_exp * (1 - q_exp) / n)
        assert abs(q - q_exp) < tol, (q, q_exp, tol)
        assert q_exp - (1 - v) / 2 > tol  # the accidental term is resolved
    assert ex["qber"][0, 1] == pytest.approx(0.5)


def test_bbm92_psi_minus_flips_and_intercept_resend_25_percent():
    v = 0.98
    src = PairSource(visibility=v, visibility_diagonal=None, bell_state="psi-")
    a, b = bbm92_receiver(), bbm92_receiver()
    fk, ft = bbm92_flips(src, a, b)
    assert fk and ft
    r = run(src, a, b, seed=27)
    sp = sift_bbm92(r.coincidences, flip_key=fk, flip_test=ft)
    assert sp.qber_key < 0.02 and sp.qber_test < 0.02
    # Eve on Bob's photon in Z/X: QBER = (1 - V/2)/2 = 25.5 % in both bases
    r = run(src, a, b, seed=28, eve=PairEavesdropper())
    sp = sift_bbm92(r.coincidences, flip_key=fk, flip_test=ft)
    q_exp = (1 - v / 2) / 2
    for q, n in ((sp.qber_key, sp.key_a.size), (sp.qber_test, sp.test_a.size)):
        assert abs(q - q_exp) < 5 * math.sqrt(0.25 * 0.75 / n) + 0.002
    # multi-pair accidentals are R tau = 1.5 % of the true coincidences
    assert r.kinds[:, KIND_TRUE].sum() > 0.97 * r.coincidences.shape[0]


def test_basis_dependent_visibility():
    """V = 0.91 (H/V), V_D = 0.94 (D/A): QBER_Z = 4.5 %, QBER_X = 3 %, S = sqrt2 (V + V_D)."""
    src = PairSource(visibility=0.91, visibility_diagonal=0.94)
    a, b = bbm92_receiver(), bbm92_receiver()
    e = ideal_correlations(src, a, b)
    assert e[0, 0] == pytest.approx(0.91) and e[1, 1] == pytest.approx(0.94)
    ca, cb = chsh_receivers()
    e = ideal_correlations(src, ca, cb)
    assert np.sum(chsh_signs(e) * e) == pytest.approx(math.sqrt(2) * (0.91 + 0.94))
