"""Every attack states what the parties see and what Eve gets (tools/attack_table.py,
fast version: two seeds, 30 s synthetic passes)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import attack_table  # noqa: E402

SEEDS, SECONDS = 2, 30


@pytest.fixture(scope="module")
def table():
    return {(r.attack, r.setting): r for r in attack_table.rows(SEEDS, SECONDS, full=False)}


def test_honest_passes_hold_nothing(table):
    for run in table[("none", "honest pass")].runs:
        assert run["secret_bits"] > 0 and run["eve_known_bits"] == 0
        assert run["security"] == "secure"


def test_blinding_is_compromised_on_every_seed(table):
    runs = table[("blinding", "Lydersen 2010")].runs
    assert all(r["qber"] == 0.0 for r in runs)  # nothing to see for Alice and Bob
    assert all(r["security"] == "compromised" and r["eve_known_bits"] == r["secret_bits"]
               for r in runs)


def test_intercept_resend_everything_aborts(table):
    assert all(r["secret_bits"] == 0 and r["security"] == "aborted"
               for r in table[("intercept-resend", "f = 1")].runs)
    for proto in ("bbm92", "e91"):
        runs = table[(proto, "intercept-resend on B, f = 1")].runs
        assert all(r["security"] == "aborted" for r in runs)
        # her per-photon record: half of B's key bits measured in his basis (the rest in
        # the other one, or noise), right but for B's 1 % misalignment
        assert all(0.4 < r["eve_sifted_share"] < 0.55 for r in runs)
        assert all(r["eve_sifted_agreement"] > 0.97 for r in runs)


def test_pns_with_decoys_claims_nothing(table):
    assert all(r["secret_bits"] == 0 for r in table[("PNS", "with decoys (Lim14)")].runs)


def test_trojan_horse(table):
    """Undetected and undeclared at 0 dB: compromised. Declared 120 dB: the Lucamarini
    correction shrinks the key below the honest one (same seeds) and Eve,
    whose probe returns ~1e-8 photons per pulse, holds nothing of it."""
    bare = table[("Trojan horse", "alice, 1924 nm, 0 dB (not declared)")].runs
    assert all(r["security"] == "compromised" for r in bare)
    bob = table[("Trojan horse", "bob, 1924 nm, 0 dB (not declared)")].runs
    assert all(r["security"] == "compromised" for r in bob)
    iso = table[("Trojan horse", "alice, 1924 nm, 120 dB (declared)")].runs
    honest = table[("none", "honest pass")].runs
    for r, h in zip(iso, honest):
        assert r["security"] == "secure" and r["eve_known_bits"] == 0
        assert 0 < r["secret_bits"] < h["secret_bits"]


def test_report_shows_compromised_passes_in_red(tmp_path):
    import pandas as pd

    from satqkd.report.mission_report import _Alert, _render, _security_verdicts

    table = pd.DataFrame({"pass_id": ["a", "b"], "station": ["X", "X"], "secret_bits": [100, 50],
                          "eve_known_bits": [100, 0], "eve_key_agreement": [1.0, 0.5],
                          "security": ["compromised", "secure"]})
    parts = _security_verdicts(table)
    assert isinstance(parts[0], _Alert) and "1 of 2 passes" in parts[0]
    md, page = _render("t", [("Compromised keys", parts)], tmp_path)
    assert '<p class="alert">' in page and page.count('<tr class="compromised">') == 1
    assert "**Warning:**" in md
    assert _security_verdicts(table.assign(security="secure")) == []
