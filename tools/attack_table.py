"""The attack table of docs/attacks.md: what Alice and Bob see, and what Eve gets.

Every row runs short synthetic passes (constant transmittance, no orbit) through the
photon-level engine and the keys stage for several seeds, and reports what the parties
observe (QBER, decoy statistics, CHSH S), whether a key is claimed, what the simulated
eavesdropper truly knows of it (:mod:`satqkd.keys.eve`) and the verdict.

    python tools/attack_table.py [--seeds 10] [--seconds 60] [--out docs/attacks_table.md]
    python tools/attack_table.py --only "^(bbm92|e91) " --splice docs/attacks.md

``--only`` keeps the rows whose "attack | setting" matches a regular expression;
``--splice`` writes them into the table of a markdown file in place of the rows with the
same attack and setting (a new row goes after the last of its attack).
``rows(seeds, seconds)`` returns the raw per-row results (the test runs a fast version).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from satqkd.engine import DecoySource, Eavesdropper, Receiver, simulate_decoy_bb84
from satqkd.engine.pairs import (
    PairEavesdropper,
    PairReceiver,
    PairSource,
    bbm92_flips,
    chsh,
    chsh_signs,
    dual_downlink_pass,
    ideal_correlations,
    sift_bbm92,
)
from satqkd.keys.bbm92 import BBM92Parameters, process_bbm92
from satqkd.keys.eve import EVE_CODE_BOB, eve_codes, honest_knowledge
from satqkd.keys.finite_key import binary_entropy, security_overhead_bits, trojan_coin_imbalance
from satqkd.keys.postprocess import KeyParameters, process_sifted
from satqkd.keys.privacy_amplification import privacy_amplification, toeplitz_seed
from satqkd.keys.reconcile import reconcile
from satqkd.keys.sifting import sift
from satqkd.keys.verification import verify_keys

#: the synthetic link: total transmittance 1e-3 (30 dB, a Micius pass near zenith has
#: ~ 25-35 dB), noise 1e-6 per detector and window, 1e8 pulses/s, 1 s slots
ETA_ENGINE = 2e-3  # detector efficiency 0.5 excluded (engine convention)
NOISE = 1e-6
SOURCE = DecoySource(rate_hz=1e8)
RECEIVER = Receiver()
PROBE_PHOTONS_MAX = 1e6  # what a declared isolation is rated against (keys stage)


@dataclass
class Row:
    """One line of the table: a label and the per-seed results."""

    attack: str
    setting: str
    runs: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        r = self.runs
        keyed = [x for x in r if x["secret_bits"] > 0]
        mean = lambda k, xs=r: float(np.nanmean([x[k] for x in xs])) if xs else float("nan")  # noqa: E731
        verdicts = Counter(x["security"] for x in r)
        return {"attack": self.attack, "setting": self.setting, "seeds": len(r),
                "qber": mean("qber"), "decoy": mean("decoy"), "s": mean("s"),
                "keys": len(keyed), "key_bits": mean("secret_bits", keyed),
                "aborts": Counter(x["abort_reason"] for x in r if x["secret_bits"] <= 0),
                "eve_known": mean("eve_known_bits", keyed), "eve_info": mean("eve_information_bits", keyed),
                "eve_agree": mean("eve_key_agreement", keyed), "verdicts": verdicts,
                "sifted_share": mean("eve_sifted_share"), "sifted_agree": mean("eve_sifted_agreement")}


def _bb84(eve: Eavesdropper | None, seconds: int, seed: int, receiver: Receiver = RECEIVER,
          leak_delta: float = 0.0, naive: bool = False) -> dict:
    slot_s = 1.0
    if eve is not None and eve.kind == "trojan-horse" and eve.target == "bob":
        mu_det = eve.probe_photons * 10 ** (-eve.isolation_db / 20) * eve.detector_response / 4
        if mu_det > 1e-3:
            # the probe floods Bob's detectors (every window clicks): a few ms show it,
            # a full pass would be billions of events
            seconds, slot_s = 5, 1e-3
    eta = np.full(seconds, ETA_ENGINE)
    r = simulate_decoy_bb84(eta, NOISE, slot_s, SOURCE, receiver, np.random.default_rng(seed),
                            eavesdropper=eve, record_photon_number=eve is not None and eve.kind == "pns")
    codes = eve_codes(r.eve_bit, r.eve_knows) if r.eve_bit is not None else None
    sk = sift(r.events, len(SOURCE.intensities), codes)
    pulses = int(r.n_pulses.sum())
    kp = KeyParameters(leak_delta=leak_delta, receiver_q_z=receiver.q_z)
    c = sk.counts
    gains = r.gain()
    decoy = float(gains[1] / gains[0]) if gains[0] > 0 else float("nan")  # Q_mu2 / Q_mu1
    sifted = _sifted_knowledge(sk)
    if naive:
        return {**_naive_no_decoy(sk, kp, seed, decoy), **sifted}
    keys = process_sifted(sk, SOURCE.intensities, SOURCE.probabilities, SOURCE.p_z, kp,
                          np.random.default_rng(seed + 1000), pulses_sent=pulses)
    s = keys.scalars()
    return {"qber": c.qber_x, "decoy": decoy, "s": float("nan"), "secret_bits": keys.secret_bits,
            "abort_reason": keys.abort_reason, "eve_known_bits": s["eve_known_bits"],
            "eve_information_bits": s["eve_information_bits"],
            "eve_key_agreement": s["eve_key_agreement"], "security": s["security"], **sifted}


def _sifted_knowledge(sk) -> dict:
    """Share of the sifted key Eve holds (sure or guessed) and how often it is right."""
    if sk.eve_z is None or not sk.sifted_bits:
        return {"eve_sifted_share": 0.0, "eve_sifted_agreement": float("nan")}
    has = sk.eve_z >= 0
    # her bit is of Alice's key, or of Bob's (codes >= EVE_CODE_BOB: time shift)
    ref = np.where(sk.eve_z >= EVE_CODE_BOB, sk.bob_z, sk.alice_z)
    right = (sk.eve_z[has] & 1) == ref[has]
    return {"eve_sifted_share": float(has.mean()),
            "eve_sifted_agreement": float(right.mean()) if has.any() else float("nan")}


def _naive_no_decoy(sk, kp: KeyParameters, seed: int, decoy: float) -> dict:
    """The same bits under an analysis without decoy states that takes every detection
    for a single photon: ell = n_Z (1 - h(e_X)) - lambda_EC - overhead (what a
    no-decoy implementation that ignores multi-photon pulses would claim)."""
    rng = np.random.default_rng(seed + 1000)
    c = sk.counts
    n = sk.sifted_bits
    e_x = c.qber_x
    base = {"qber": e_x, "decoy": decoy, "s": float("nan"), "eve_known_bits": 0,
            "eve_information_bits": 0.0, "eve_key_agreement": float("nan")}
    if not n or not np.isfinite(e_x) or e_x > kp.qber_threshold:
        return {**base, "secret_bits": 0, "abort_reason": "qber_above_threshold", "security": "aborted"}
    ec = reconcile(sk.alice_z, sk.bob_z, max(e_x, 1e-3), rng, transcript=True)
    ver = verify_keys(sk.alice_z, ec.bob_corrected, rng)
    ell = int(n * (1 - binary_entropy(e_x)) - ec.leaked_bits - ec.reply_bits
              - security_overhead_bits(kp.eps_sec, kp.eps_cor))
    if ell <= 0 or not ver.ok:
        return {**base, "secret_bits": 0, "abort_reason": "non_positive_length", "security": "aborted"}
    seed_bits = toeplitz_seed(n, ell, rng)
    final = privacy_amplification(sk.alice_z, ell, seed_bits)
    from satqkd.keys.postprocess import _eve_knowledge

    k = _eve_knowledge(sk, ec, ver, final, seed_bits, kp, rng)
    if k is None:  # no eavesdropper
        k = honest_knowledge(ell)
    return {**base, "secret_bits": ell, "abort_reason": "", "eve_known_bits": k.known_bits,
            "eve_information_bits": k.information_bits, "eve_key_agreement": k.agreement,
            "security": k.security}


def _pairs(protocol: str, fraction: float, seconds: int, seed: int) -> dict:
    """Dual downlink, intercept-resend on the photon to station B (one arm)."""
    src = PairSource()
    if protocol == "bbm92":
        angles = ((0.0, 45.0), (0.0, 45.0))
    else:
        angles = ((0.0, 22.5, 45.0), (0.0, 22.5, -22.5))
    ra, rb = (PairReceiver(a, tuple([1.0 / len(a)] * len(a)), 0.5, 0.01, 350.0) for a in angles)
    eta = np.full(seconds, 3e-2)
    eve = PairEavesdropper(fraction=fraction) if fraction > 0 else None
    res = dual_downlink_pass(eta, eta, 300.0, 300.0, 1.0, src, ra, rb, np.random.default_rng(seed),
                             eavesdropper=eve)
    s = float("nan")
    sigma = float("nan")
    if protocol == "e91":
        sa, sb = (0, 2), (1, 2)
        signs = chsh_signs(ideal_correlations(src, ra, rb)[np.ix_(sa, sb)])
        ch = chsh(res.counts.sum(axis=0), sa, sb, signs)
        s, sigma = ch.s, ch.sigma
    fk, ft = bbm92_flips(src, ra, rb, (0, 0), (1, 1))
    sp = sift_bbm92(res.coincidences, (0, 0), (1, 1), fk, ft, eve=res.eve_record)
    quality = 1.0 if protocol == "bbm92" else -math.log2(math.cos(math.radians(22.5)) ** 2)
    keys = process_bbm92(sp.key_a, sp.key_b, sp.test_a, sp.test_b,
                         BBM92Parameters(preparation_quality=quality,
                                         require_bell_test=protocol == "e91"),
                         np.random.default_rng(seed + 1000), chsh_s=s, chsh_sigma=sigma,
                         eve=sp.eve_key)
    qber = float(np.mean(sp.test_a != sp.test_b)) if sp.test_a.size else float("nan")
    k = keys.scalars()
    held = {"eve_sifted_share": 0.0, "eve_sifted_agreement": float("nan")}
    if sp.eve_bit is not None and sp.key_b.size:  # her record is of B's bits
        has = sp.eve_bit >= 0
        held = {"eve_sifted_share": float(has.mean()),
                "eve_sifted_agreement": (float(np.mean(sp.eve_bit[has] == sp.key_b[has]))
                                         if has.any() else float("nan"))}
    return {"qber": qber, "decoy": float("nan"), "s": s, "secret_bits": keys.secret_bits,
            "abort_reason": keys.abort_reason, "eve_known_bits": k["eve_known_bits"],
            "eve_information_bits": k["eve_information_bits"],
            "eve_key_agreement": k["eve_key_agreement"], "security": k["security"], **held}


def row_specs(full: bool = True) -> list[tuple[str, str, callable]]:
    """(attack, setting, run(seconds, seed)) for every row of the table."""
    specs = [("none", "honest pass", lambda t, s: _bb84(None, t, s))]
    for f in ((0.05, 0.1, 0.25, 0.5, 1.0) if full else (1.0,)):
        specs.append(("intercept-resend", f"f = {f:g}",
                      lambda t, s, f=f: _bb84(Eavesdropper(kind="intercept-resend", fraction=f), t, s)))
    specs.append(("PNS", "with decoys (Lim14)", lambda t, s: _bb84(Eavesdropper(kind="pns"), t, s)))
    if full:
        specs.append(("PNS", "without decoys (naive)",
                      lambda t, s: _bb84(Eavesdropper(kind="pns"), t, s, naive=True)))
        specs.append(("none", "honest, without decoys (naive)", lambda t, s: _bb84(None, t, s, naive=True)))
    specs.append(("blinding", "Lydersen 2010", lambda t, s: _bb84(Eavesdropper(kind="blinding"), t, s)))
    specs.append(("time-shift", "efficiency mismatch 0.5/0.05",
                  lambda t, s: _bb84(Eavesdropper(kind="efficiency-mismatch"), t, s)))
    isos = (0, 40, 80, 120) if full else (0, 120)
    for target in ("alice", "bob"):
        for wl in ((1550.0, 1924.0) if full else (1924.0,)):
            for iso in isos:
                for declared in ((False, True) if target == "alice" and wl == 1924.0 else (False,)):
                    if not full and declared != (iso == 120):
                        continue
                    specs.append(_trojan(target, wl, iso, declared))
    for proto in ("bbm92", "e91"):
        fractions = (0.0, 0.05, 0.5, 1.0) if proto == "bbm92" else (0.0, 0.5, 1.0)
        for f in (fractions if full else (1.0,)):
            specs.append((proto, f"intercept-resend on B, f = {f:g}",
                          lambda t, s, p=proto, f=f: _pairs(p, f, t, s)))
    return specs


def _trojan(target: str, wl: float, iso: float, declared: bool):
    # Bob: an active basis choice; InGaAs detectors (a 1550 nm link) respond to 1550 nm
    # (efficiency 0.5) but not 1924 nm. Alice's probe never reaches Bob's detectors.
    rx = Receiver(basis_choice="active") if target == "bob" else RECEIVER
    response = 0.5 if (target == "bob" and wl <= 1700.0) else 0.0
    eve = Eavesdropper(kind="trojan-horse", target=target, probe_wavelength_nm=wl,
                       probe_photons=1e6, isolation_db=float(iso), reflectivity=1e-2,
                       detector_response=response)
    delta = trojan_coin_imbalance(PROBE_PHOTONS_MAX * 10 ** (-iso / 10)) if declared else 0.0
    setting = (f"{target}, {wl:.0f} nm, {iso:g} dB" + (" (declared)" if declared else " (not declared)"))
    return ("Trojan horse", setting, lambda t, s: _bb84(eve, t, s, receiver=rx, leak_delta=delta))


def rows(seeds: int = 10, seconds: int = 60, full: bool = True,
         only: str | None = None) -> list[Row]:
    """Every row's runs; ``only``: a regular expression on "attack | setting"."""
    out = []
    for attack, setting, run in row_specs(full):
        if only is not None and not re.search(only, f"{attack} | {setting}"):
            continue
        row = Row(attack, setting)
        for seed in range(seeds):  # every row sees the same seeds
            row.runs.append(run(seconds, seed))
        out.append(row)
    return out


def _fmt(x, spec="{:.3g}") -> str:
    return "—" if x is None or (isinstance(x, float) and not np.isfinite(x)) else spec.format(x)


def markdown(table: list[Row]) -> str:
    head = ("| attack | setting | QBER (X) | decoy Q_mu2/Q_mu1 | S | key or abort | "
            "Eve on sifted key: held (right) | Eve knows (bits of final key) | "
            "Eve's agreement (final key) | verdict |\n"
            "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |")
    lines = [head]
    for row in table:
        s = row.summary()
        n = s["seeds"]
        if s["keys"]:
            key = f"key {s['keys']}/{n} ({_fmt(s['key_bits'], '{:,.0f}')} bit)"
        else:
            key = ""
        if s["aborts"]:
            ab = ", ".join(f"{k or 'no key'} {v}/{n}" for k, v in s["aborts"].most_common())
            key = f"{key}; {ab}" if key else ab
        if s["keys"]:
            eve = f"{_fmt(s['eve_known'], '{:,.0f}')} (info >= {_fmt(s['eve_info'], '{:,.0f}')})"
        else:
            eve = "— (no key)"
        verdict_txt = ", ".join(f"{k} {v}/{n}" for k, v in s["verdicts"].most_common())
        held = (f"{_fmt(s['sifted_share'], '{:.1%}')} ({_fmt(s['sifted_agree'], '{:.1%}')})"
                if np.isfinite(s["sifted_share"]) else "not recorded")
        lines.append(f"| {s['attack']} | {s['setting']} | {_fmt(s['qber'], '{:.2%}')} | "
                     f"{_fmt(s['decoy'], '{:.4f}')} | {_fmt(s['s'], '{:.2f}')} | {key} | {held} | {eve} | "
                     f"{_fmt(s['eve_agree'], '{:.3f}')} | {verdict_txt} |")
    return "\n".join(lines)


def splice(document: str, table: str) -> str:
    """``document`` with the rows of ``table`` (markdown, header first) in place of its
    rows of the same attack and setting; a new row goes after the row made before it, or
    after the last of its attack."""
    lines = document.split("\n")
    prev = None
    for row in table.split("\n")[2:]:
        cells = row.split(" | ")
        key = f"{cells[0]} | {cells[1]} |"
        hit = [i for i, line in enumerate(lines) if line.startswith(key)]
        if hit:
            lines[hit[0]] = row
            prev = hit[0]
            continue
        same = [i for i, line in enumerate(lines) if line.startswith(f"{cells[0]} | ")]
        if prev is None and not same:
            raise ValueError(f"no row of {cells[0][2:]!r} in the document to place {row!r}")
        prev = (prev if prev is not None else same[-1]) + 1
        lines.insert(prev, row)
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--only", default=None, help='regular expression on "attack | setting"')
    ap.add_argument("--splice", type=Path, default=None,
                    help="markdown file whose table rows to replace by the ones made")
    a = ap.parse_args(argv)
    text = markdown(rows(a.seeds, a.seconds, only=a.only))
    if a.out:
        a.out.write_text(text + "\n")
    if a.splice:
        a.splice.write_text(splice(a.splice.read_text(), text))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
