"""Eve's per-photon record in the entangled-pair engine (intercept-resend on B's photon),
and her knowledge of BBM92/E91 keys (satqkd.engine.pairs, satqkd.keys.bbm92)."""

import math

import numpy as np
import pytest

from satqkd.engine.pairs import (
    KIND_TRUE,
    PairEavesdropper,
    PairReceiver,
    PairSource,
    bbm92_flips,
    dual_downlink_pass,
    e91_receivers,
    eve_joint_probabilities,
    joint_detector_probabilities,
    sift_bbm92,
)
from satqkd.engine.params import EVE_GUESS_BOB, EVE_NONE, EVE_SURE_BOB
from satqkd.keys.bbm92 import BBM92Parameters, process_bbm92


@pytest.mark.parametrize("state", ["phi+", "psi-"])
@pytest.mark.parametrize("angles", [(0.0, 45.0), (0.0, 22.5, 45.0)])
def test_record_law_sums_to_the_engine_law(state, angles):
    """Summed over Eve's record, J(dA, dB, v) is the joint law the engine draws from."""
    src = PairSource(bell_state=state)
    for ra, rb in ((PairReceiver((0.0, 45.0), (0.5, 0.5), 0.5, 0.02),
                    PairReceiver((0.0, 45.0), (0.3, 0.7), 0.5, 0.01)), e91_receivers(misalignment=0.03)):
        for f in (0.2, 1.0):
            eve = PairEavesdropper(fraction=f, angles_deg=angles)
            j = eve_joint_probabilities(src, ra, rb, eve)
            assert np.all(j >= 0)
            assert np.allclose(j.sum(axis=2), joint_detector_probabilities(src, ra, rb, eve),
                               atol=1e-15)
            assert np.allclose(j[:, :, 0].sum(), 1 - f)


def _run(misalignment, fraction, seed, seconds=40):
    src = PairSource()
    rx = PairReceiver((0.0, 45.0), (0.5, 0.5), 0.5, misalignment, 350.0)
    eta = np.full(seconds, 3e-2)
    eve = PairEavesdropper(fraction=fraction)
    return src, rx, dual_downlink_pass(eta, eta, 300.0, 300.0, 1.0, src, rx, rx,
                                       np.random.default_rng(seed), eavesdropper=eve)


def test_record_statistics():
    """No misalignment: where Eve measured in B's key basis she knows B's outcome exactly
    (a single click); she measured half the intercepted photons in it, so on true key
    coincidences her share is f/2, and her bit agrees with A's with (1 + V) / 2.
    Tolerances: 5 binomial standard deviations."""
    f = 0.6
    src, rx, r = _run(0.0, f, 11)
    co = r.coincidences
    bit, knows = r.eve_record
    assert bit.shape == knows.shape == co.shape
    sure = knows == EVE_SURE_BOB
    assert np.all(bit[sure] == co["outcome_b"][sure])
    assert not np.any((knows == EVE_GUESS_BOB) & ((co["multi"] & 2) == 0))
    key = (co["setting_a"] == 0) & (co["setting_b"] == 0) & (co["kind"] == KIND_TRUE)
    n = int(key.sum())
    share = np.mean(sure[key])
    assert abs(share - f / 2) < 5 * math.sqrt(f / 2 * (1 - f / 2) / n)
    held = key & sure
    agree_a = np.mean(bit[held] == co["outcome_a"][held])
    p = (1 + src.visibility) / 2
    assert abs(agree_a - p) < 5 * math.sqrt(p * (1 - p) / held.sum())
    # in the X basis it is her 45-degree measurements that count: the same share
    x = (co["setting_a"] == 1) & (co["setting_b"] == 1) & (co["kind"] == KIND_TRUE)
    assert abs(np.mean(sure[x]) - f / 2) < 5 * math.sqrt(f / 2 * (1 - f / 2) / x.sum())
    assert np.all(bit[x & sure] == co["outcome_b"][x & sure])


def test_misalignment_makes_guesses():
    """With B's misalignment e, her resent state is found flipped with probability e:
    a guess, right 1 - e of the time."""
    e = 0.05
    _, _, r = _run(e, 1.0, 12, seconds=20)
    bit, knows = r.eve_record
    co = r.coincidences
    assert not np.any(knows == EVE_SURE_BOB)
    g = (knows == EVE_GUESS_BOB) & ((co["multi"] & 2) == 0)
    right = np.mean(bit[g] == co["outcome_b"][g])
    assert abs(right - (1 - e)) < 5 * math.sqrt(e * (1 - e) / g.sum())


def test_sift_keeps_the_record_of_the_key_bits():
    src = PairSource(bell_state="psi-")  # anti-correlated: B flips his key bits
    rx = PairReceiver((0.0, 45.0), (0.5, 0.5), 0.5, 0.0, 350.0)
    eta = np.full(10, 3e-2)
    r = dual_downlink_pass(eta, eta, 300.0, 300.0, 1.0, src, rx, rx, np.random.default_rng(4),
                           eavesdropper=PairEavesdropper(fraction=1.0))
    fk, ft = bbm92_flips(src, rx, rx)
    assert fk
    sp = sift_bbm92(r.coincidences, (0, 0), (1, 1), fk, ft, eve=r.eve_record)
    sure = sp.eve_knows == EVE_SURE_BOB
    assert sure.any() and np.all(sp.eve_bit[sure] == sp.key_b[sure])
    assert sift_bbm92(r.coincidences, (0, 0), (1, 1), fk, ft).eve_key is None
    honest = dual_downlink_pass(eta, eta, 300.0, 300.0, 1.0, src, rx, rx,
                                np.random.default_rng(4))
    assert honest.eve_record is None


def _keys(n, qber, share, rng, **kw):
    """Synthetic BBM92 bits: Eve knows B's key bits on a random share."""
    a = rng.integers(0, 2, n).astype(np.uint8)
    b = a ^ (rng.random(n) < qber).astype(np.uint8)
    ta = rng.integers(0, 2, n // 2).astype(np.uint8)
    tb = ta ^ (rng.random(n // 2) < qber).astype(np.uint8)
    held = rng.random(n) < share
    bit = np.where(held, b, -1).astype(np.int8)
    knows = np.where(held, EVE_SURE_BOB, EVE_NONE).astype(np.int8)
    return process_bbm92(a, b, ta, tb, BBM92Parameters(**kw), np.random.default_rng(7),
                         eve=(bit, knows))


def test_bbm92_key_held_by_eve_is_compromised():
    """Eve holding every one of B's key bits (the entangled analogue of blinding): once
    Cascade's replies make the errors public she holds Alice's key, and all of the final
    key. The same bits with one-way LDPC: the errors stay private, she holds no bit of
    Alice's for certain, yet her guesses give her (almost) the whole key in information."""
    rng = np.random.default_rng(1)
    k = _keys(60_000, 0.02, 1.0, rng)
    assert k.secret_bits > 0
    s = k.scalars()
    assert s["security"] == "compromised" and s["eve_known_bits"] == k.secret_bits
    assert s["eve_key_agreement"] == 1.0
    ldpc = _keys(60_000, 0.02, 1.0, np.random.default_rng(1), error_correction="ldpc")
    assert ldpc.secret_bits > 0
    sl = ldpc.scalars()
    assert sl["eve_known_bits"] == 0 and sl["security"] == "compromised"
    assert sl["eve_information_bits"] > 0.5 * ldpc.secret_bits


def test_bbm92_small_share_is_hashed_away():
    """2 % of B's bits known: privacy amplification leaves her nothing of the key."""
    k = _keys(60_000, 0.02, 0.02, np.random.default_rng(2))
    s = k.scalars()
    assert k.secret_bits > 0 and s["security"] == "secure" and s["eve_known_bits"] == 0
    assert s["eve_knowledge_method"] in ("exact", "seed-bound")
    honest = process_bbm92(*(np.zeros(10, np.uint8),) * 4, BBM92Parameters(),
                           np.random.default_rng(0))
    assert honest.eve is None and honest.scalars()["eve_knowledge_method"] == "none"


def test_bbm92_mission_window_under_a_light_attack(tmp_path):
    """A dual-downlink BBM92 window with Eve on 1 % of the photons to Nanshan: the window
    still claims a (short) key, and reports what she holds of it, counted exactly."""
    import pandas as pd

    from satqkd.mission.run import run_mission
    from test_entanglement_mission import _mission

    path = _mission(tmp_path, "micius-bbm92-2020.toml",
                    ("start = 2021-04-27T12:00:00Z", "start = 2021-04-27T17:30:00Z"),
                    ("end = 2021-05-04T00:00:00Z", "end = 2021-04-27T19:00:00Z"),
                    ("[mission]", '[eavesdropper]\nkind = "intercept-resend"\nfraction = 0.01\n'
                                  '\n[mission]'))
    row = pd.read_csv(run_mission(path, tmp_path / "eve") / "passes.csv",
                      keep_default_na=False).iloc[0]
    assert int(row["secret_bits"]) > 0
    assert row["eve_knowledge_method"] == "exact"
    assert row["security"] == "secure" and int(row["eve_known_bits"]) == 0
