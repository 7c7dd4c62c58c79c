"""Counts fidelity: exact per-slot law, agreement with the photon-level engine and the bits
level, the measured leakage table, refusals.

Tolerances (fixed seeds): chi-square tests pass at p > 1e-4 (the engine tests' rule);
the key agreement is 5 standard errors of the difference of two sample means plus the
leakage curve's stated tolerance (|delta f| <= 0.02, times n h(Q)).
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from satqkd.engine import DecoySource, Eavesdropper, Receiver
from satqkd.engine.analytic import outcome_table
from satqkd.engine.counts import simulate_counts, slot_outcome_law
from satqkd.engine.decoy import simulate_decoy_bb84
from satqkd.engine.stats import chi2_goodness_of_fit, chi2_homogeneity
from satqkd.errors import InputError
from satqkd.keys.counts_keys import decoy_counts, keys_from_counts
from satqkd.keys.finite_key import binary_entropy
from satqkd.keys.leakage_curve import efficiency_curve
from satqkd.keys.postprocess import KeyParameters, process_pass
from satqkd.keys.reconcile import reconcile

SOURCE = DecoySource(p_z=0.7)
RECEIVER = Receiver(detector_efficiency=(0.5, 0.45, 0.5, 0.4), q_z=0.6)
ETA = np.geomspace(1e-4, 0.3, 30)  # up to multi-photon double clicks
NOISE = 1e-4
SLOT_S = 0.01  # 1e6 pulses per slot


def test_slot_law_is_the_outcome_table():
    """The joint (k, a, b, e, d) law sums to the independent numpy table of analytic.py."""
    noise = np.column_stack([np.full(ETA.size, 1e-5), np.full(ETA.size, 2e-5),
                             np.full(ETA.size, 1e-6), np.full(ETA.size, 3e-5)])
    click, silent = slot_outcome_law(ETA, noise, SOURCE, RECEIVER)
    t = outcome_table(ETA, noise, SOURCE, RECEIVER, per_detector_noise=True)
    assert np.allclose(click.sum(-1), t.table, rtol=1e-11, atol=1e-18)
    assert np.allclose(click[..., 1].sum(axis=(2, 3, 4)), t.double, rtol=1e-11, atol=1e-18)
    assert np.allclose(silent.sum(-1), t.no_click, rtol=1e-12)
    assert np.allclose(click.sum(axis=(1, 2, 3, 4, 5)) + silent.sum(axis=(1, 2)), 1.0, atol=1e-13)


def _engine(seed: int, receiver: Receiver = RECEIVER):
    return simulate_decoy_bb84(ETA, NOISE, SLOT_S, SOURCE, receiver, np.random.default_rng(seed))


def test_per_slot_counts_agree_with_the_engine_by_chi_square():
    """Per-slot counts, double clicks and pulses of the two levels: homogeneity chi-square
    over every (slot, cell); and the counts level against the exact expectation."""
    eng = _engine(1)
    cnt = simulate_counts(ETA, NOISE, SLOT_S, SOURCE, RECEIVER, np.random.default_rng(2))
    assert cnt.n_pulses.sum(axis=(1, 2)).tolist() == eng.n_pulses.sum(axis=(1, 2)).tolist()
    for a, b in ((eng.counts, cnt.counts), (eng.double_clicks, cnt.double_clicks),
                 (eng.n_pulses, cnt.n_pulses)):
        _, dof, p = chi2_homogeneity(a, b)
        assert dof >= 5 and p > 1e-4
    click, _ = slot_outcome_law(ETA, NOISE, SOURCE, RECEIVER)
    for s in (0, 15, 29):  # slot-wise goodness of fit, clicks and no-click pulses
        probs = np.concatenate([click[s].sum(-1).ravel(), [1 - click[s].sum()]])
        obs = np.concatenate([cnt.counts[s].ravel(), [1_000_000 - cnt.counts[s].sum()]])
        assert chi2_goodness_of_fit(obs, probs)[2] > 1e-4
    # power: a 2 % misalignment instead of 1 % is rejected on the same slots
    wrong = simulate_counts(ETA, NOISE, SLOT_S, SOURCE,
                            Receiver(RECEIVER.detector_efficiency, RECEIVER.q_z, 0.02),
                            np.random.default_rng(2))
    assert chi2_homogeneity(eng.counts, wrong.counts)[2] < 1e-6


def test_counts_level_is_reproducible_and_refuses_what_it_cannot_model():
    a = simulate_counts(ETA, NOISE, SLOT_S, SOURCE, RECEIVER, np.random.default_rng(5))
    b = simulate_counts(ETA, NOISE, SLOT_S, SOURCE, RECEIVER, np.random.default_rng(5))
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.n_pulses, b.n_pulses)
    for receiver, eve in ((Receiver(dead_time_s=50e-9), None),
                          (Receiver(afterpulse_probability=0.01), None),
                          (Receiver(), Eavesdropper(kind="intercept-resend"))):
        with pytest.raises(ValueError, match="counts level not applicable"):
            simulate_counts(ETA, NOISE, SLOT_S, SOURCE, receiver, np.random.default_rng(0),
                            eavesdropper=eve)


def test_leakage_table_remeasured():
    """Three grid points of the shipped Cascade table, re-measured with other seeds: the
    mean f agrees within 5 standard errors of the difference (run-to-run sd from the table)."""
    curve = efficiency_curve("cascade", 65536, 14)
    rng = np.random.default_rng(99)
    for q, n, runs in ((0.0078125, 65536, 12), (0.0221192, 200000, 6), (0.0625, 30000, 30)):
        i, j = int(np.argmin(abs(curve.qber - q))), int(np.argmin(abs(curve.n - n)))
        leak = hsum = 0.0
        for _ in range(runs):
            a = rng.integers(0, 2, n, dtype=np.uint8)
            e = (rng.random(n) < q).astype(np.uint8)
            r = reconcile(a, a ^ e, q, rng, "cascade")
            leak += r.leaked_bits
            hsum += n * binary_entropy(e.mean())
            assert r.reply_bits == r.leaked_bits  # Cascade: one reply per parity
        sd = curve.f_sd[i, j]
        tol = 5.0 * sd * math.sqrt(1.0 / runs + 1.0 / curve.runs[i, j])
        assert abs(leak / hsum - curve.f[i, j]) <= tol, (q, n, leak / hsum, curve.f[i, j], tol)
    assert curve.reply_per_leak == 1.0


def test_missing_curve_refuses_with_one_line():
    with pytest.raises(InputError, match="tools/ec_efficiency_table.py"):
        efficiency_curve("cascade", 16384, 14)


def test_secret_key_agrees_with_the_bits_level():
    """Same pass, independent seeds: mean secret key of the counts level within 5 standard
    errors of the difference plus the curve's tolerance of the bits level's mean."""
    eta = np.full(200, 2e-3)
    source, receiver = DecoySource(), Receiver()
    kp = KeyParameters(keep_keys=False)
    bits, cnts = [], []
    for seed in range(6):
        r = simulate_decoy_bb84(eta, 1e-7, 1.0, source, receiver, np.random.default_rng(seed))
        k = process_pass(r.events, source.intensities, source.probabilities, source.p_z, kp,
                         np.random.default_rng(1000 + seed))
        bits.append((k.secret_bits, k.ec_leaked_bits, k.sifted_bits, k.qber_z))
        c = simulate_counts(eta, 1e-7, 1.0, source, receiver, np.random.default_rng(50 + seed))
        kc = keys_from_counts(c.counts, source.intensities, source.probabilities, source.p_z, kp)
        assert kc.abort_reason == "" and kc.alice_key.size == 0
        assert kc.ec_reply_bits == kc.ec_leaked_bits  # the two-way rule, as for Cascade
        cnts.append((kc.secret_bits, kc.ec_leaked_bits, kc.sifted_bits, kc.qber_z))
    b, c = np.array(bits, float), np.array(cnts, float)
    se = math.sqrt(b[:, 0].var(ddof=1) / len(b) + c[:, 0].var(ddof=1) / len(c))
    curve_tol = 0.02 * b[:, 2].mean() * binary_entropy(b[:, 3].mean())
    assert abs(c[:, 0].mean() - b[:, 0].mean()) <= 5 * se + curve_tol
    # and the leak alone, which is where the levels differ by construction
    assert abs(c[:, 1].mean() - b[:, 1].mean()) <= 5 * math.sqrt(
        b[:, 1].var(ddof=1) / len(b) + c[:, 1].var(ddof=1) / len(c)) + curve_tol


def test_decoy_counts_equal_sifting_the_events():
    from satqkd.keys.sifting import sift

    r = _engine(3)
    a, b = decoy_counts(r.counts), sift(r.events, 3).counts
    for name in ("n_z", "n_x", "m_x", "m_z_true"):
        assert np.array_equal(getattr(a, name), getattr(b, name))


def test_mission_at_counts_fidelity(write_mission, tmp_path):
    """The Micius pass at the counts level: key length, no key files, fidelity recorded;
    key-needing settings refuse with one line."""
    from satqkd.config import load_mission
    from satqkd.mission.run import run_mission

    path = write_mission(("protocol = \"decoy-bb84\"",
                          "protocol = \"decoy-bb84\"\nfidelity = \"counts\""))
    out = run_mission(path, tmp_path / "counts")
    row = next(csv.DictReader(open(out / "passes.csv")))
    assert int(row["secret_bits"]) > 0 and row["abort_reason"] == ""
    assert not (out / "keys").exists()
    assert json.loads((out / "run.json").read_text())["fidelity"] == "counts"

    bad = write_mission(("protocol = \"decoy-bb84\"",
                         "protocol = \"decoy-bb84\"\nfidelity = \"counts\"\n\n[keys]\n"
                         "write_keys = true\n[mission_]"), name="bad.toml")
    bad.write_text(bad.read_text().replace("[mission_]", ""))
    with pytest.raises(InputError, match="write_keys.*fidelity = \"bits\""):
        load_mission(bad)
    dead = write_mission(("protocol = \"decoy-bb84\"",
                          "protocol = \"decoy-bb84\"\nfidelity = \"counts\""),
                         ("[stations.detector]", "[stations.detector]\ndead_time_ns = 50.0"),
                         name="dead.toml")
    with pytest.raises(InputError, match="dead_time_ns"):
        load_mission(dead)


def test_relay_refuses_at_counts_fidelity(repo, tmp_path):
    from satqkd.network.relay_run import run_relay

    text = (repo / "missions" / "china-austria-2017.toml").read_text()
    text = text.replace('protocol = "decoy-bb84"', 'protocol = "decoy-bb84"\nfidelity = "counts"')
    text = text.replace('tle = "tle/', f'tle = "{repo}/tle/')
    path = tmp_path / "relay.toml"
    path.write_text(text)
    with pytest.raises(InputError, match="satqkd relay needs keys"):
        run_relay(path, tmp_path / "out")


def test_pooled_blocks_agree_with_the_bits_level():
    """Pooled finite-key blocks of four marginal passes (each alone gives a few kbit).

    Theory: both levels evaluate the same block bound (block_bound) on counts of the same
    law, so their block keys have the same expectation up to the leakage, where the
    counts level charges the measured curve instead of running Cascade on each pass
    (|delta f| <= 0.02, i.e. |delta lambda| <= 0.02 sum_i n_i h(Q_i)). Tolerance: 5
    standard errors of the difference of the two sample means (8 seeds each) plus that.
    On the same counts, pooling never loses key on such passes: the block key is at least
    the sum of the passes' own keys.
    """
    from satqkd.keys.counts_keys import finish_counts_block, reconcile_counts
    from satqkd.keys.postprocess import finish_block, reconcile_sifted, single_photon_trials
    from satqkd.keys.sifting import sift

    source, receiver = DecoySource(), Receiver()
    kp = KeyParameters(keep_keys=False)
    etas = [np.full(50, 3e-4 * f) for f in (0.6, 0.8, 1.0, 1.2)]
    bits, cnts, tol = [], [], []
    for seed in range(8):
        parts_b, parts_c, single = [], [], 0
        for i, eta in enumerate(etas):
            r = simulate_decoy_bb84(eta, 1e-7, 1.0, source, receiver,
                                    np.random.default_rng([seed, i]))
            trials = single_photon_trials(source.intensities, source.probabilities, source.p_z,
                                          kp, int(r.n_pulses.sum()))
            parts_b.append(reconcile_sifted(sift(r.events, 3), kp,
                                            np.random.default_rng([seed, i, 1]), trials))
            c = simulate_counts(eta, 1e-7, 1.0, source, receiver,
                                np.random.default_rng([seed, i, 2]))
            args = (c.counts, source.intensities, source.probabilities, source.p_z, kp)
            part = reconcile_counts(*args, pulses_sent=int(c.n_pulses.sum()))
            assert part.verified and part.sifted_bits > 0
            parts_c.append(part)
            single += keys_from_counts(*args, pulses_sent=int(c.n_pulses.sum())).secret_bits
        kb = finish_block(parts_b, source.intensities, source.probabilities, kp,
                          np.random.default_rng([seed, 9]))
        kc = finish_counts_block(parts_c, source.intensities, source.probabilities, kp)
        assert kb.abort_reason == "" and kc.abort_reason == "" and kc.alice_key.size == 0
        assert kc.verification_tag_bits == kb.verification_tag_bits  # one tag per pass
        assert kc.secret_bits >= single  # pooling the marginal passes gains key
        bits.append(kb.secret_bits)
        cnts.append(kc.secret_bits)
        tol.append(0.02 * sum(p.sifted_bits * binary_entropy(p.qber_z) for p in parts_b))
    b, c = np.array(bits, float), np.array(cnts, float)
    se = math.sqrt(b.var(ddof=1) / len(b) + c.var(ddof=1) / len(c))
    assert abs(c.mean() - b.mean()) <= 5 * se + np.mean(tol)


def test_pooled_blocks_in_a_counts_mission(repo, tmp_path):
    """[keys] block = "day" at the counts level: each block's key on its closing pass, the
    other passes "pooled", no more refusal; and the days give at least the passes' keys."""
    import pandas as pd

    from satqkd.mission.run import plan_mission, run_mission

    mission = repo / "missions" / "year-4-stations.toml"
    base = ['mission.end=2025-01-05T00:00:00Z', 'mission.fidelity="counts"']
    per_pass = run_mission(plan_mission(mission, base), tmp_path / "pass")
    day = run_mission(plan_mission(mission, base + ['keys.block="day"']), tmp_path / "day")
    p = pd.read_csv(per_pass / "passes.csv", keep_default_na=False)
    d = pd.read_csv(day / "passes.csv", keep_default_na=False)
    assert (d["abort_reason"] == "pooled").any()
    ran = d["block_id"] >= 0
    for _, block in d[ran].groupby("block_id"):
        assert (block["secret_bits"].iloc[:-1] == 0).all()  # reported on the closing pass
        assert (block["abort_reason"].iloc[:-1] == "pooled").all()
    # the same counts per pass whatever the block (each pass keeps its own random stream)
    assert d["sifted_bits"].tolist() == p["sifted_bits"].tolist()
    assert int(d["secret_bits"].sum()) >= int(p["secret_bits"].sum())
