"""Engine and sifting fast paths: reused event buffers, in-place sifting, unchanged draws.

The pinned digests were recorded with the engine before its buffers and tallies were
reworked: they fail if any random draw moves, is added or is dropped. A deliberate change
of the sampling must update them (and say so).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from satqkd.engine import DecoySource, Eavesdropper, Receiver, simulate_decoy_bb84
from satqkd.engine.events import EVENT_DTYPE
from satqkd.keys.sifting import sift
from satqkd.mission.protocols import decoy_bb84 as run

SOURCE = DecoySource()
# few clicks (binary-search draws), many clicks (alias draws), many multi-clicks
ETA = np.array([1e-6, 1e-2, 0.5, 2e-3])
SLOT_S = 1e-3  # 1e5 pulses per slot
NOISE = 1e-3

CASES = {
    "plain": (Receiver(), None, False),
    "photon_number": (Receiver(), None, True),
    "dead_time_afterpulse": (
        Receiver(dead_time_s=50e-9, afterpulse_probability=0.1, afterpulse_time_s=100e-9), None, False),
    "intercept_resend": (Receiver(), Eavesdropper(kind="intercept-resend", fraction=0.5), False),
}
PINNED = {
    "plain": "bba96613aaa588e8",
    "photon_number": "2f2960c1fe3d2222",
    "dead_time_afterpulse": "fcbfd2be849eae3f",
    "intercept_resend": "3bb21eb034afca9e",
}
PINNED_RUN_ENGINE = "27cb4028ddfdae27"


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _run(case, events_out=None):
    rx, eve, record_n = CASES[case]
    return simulate_decoy_bb84(ETA, NOISE, SLOT_S, SOURCE, rx, np.random.default_rng(99),
                               eavesdropper=eve, record_photon_number=record_n,
                               events_out=events_out)


def _result_digest(r) -> str:
    return _digest(r.events, r.counts, r.double_clicks, r.n_pulses, r.eve_bit)


@pytest.mark.parametrize("case", list(CASES))
def test_draws_unchanged(case):
    assert _result_digest(_run(case)) == PINNED[case]


@pytest.mark.parametrize("case", list(CASES))
def test_events_out_changes_nothing(case):
    ref = _run(case)
    big = np.empty(ref.events.size * 3 + 100, dtype=EVENT_DTYPE)
    small = np.empty(10, dtype=EVENT_DTYPE)
    for buf in (big, small):
        r = _run(case, events_out=buf)
        assert _result_digest(r) == _result_digest(ref)
        assert np.shares_memory(r.events, buf) == (buf is big)


def test_events_out_must_be_event_records():
    with pytest.raises(ValueError):
        _run("plain", events_out=np.empty(10**6, dtype=np.int64))
    with pytest.raises(ValueError):
        _run("plain", events_out=np.empty(2 * 10**6, dtype=EVENT_DTYPE)[::2])


def _sift_reference(ev, n_k=3):
    """Sifting spelled out with numpy masks."""
    k = ev["intensity"].astype(np.int64)
    z = (ev["alice_basis"] == 0) & (ev["bob_basis"] == 0)
    x = (ev["alice_basis"] == 1) & (ev["bob_basis"] == 1)
    err = ev["alice_bit"] != ev["bob_bit"]
    tally = [np.bincount(k[m], minlength=n_k) for m in (z, x, x & err, z & err, np.ones_like(z))]
    return tally, ev["alice_bit"][z], ev["bob_bit"][z], ev["intensity"][z]


def test_sift_reads_records_in_place():
    rng = np.random.default_rng(3)
    ev = np.zeros(100_003, dtype=EVENT_DTYPE)
    for f in ("alice_basis", "bob_basis", "alice_bit", "bob_bit"):
        ev[f] = rng.integers(0, 2, ev.size)
    ev["intensity"] = rng.integers(0, 3, ev.size)
    for e in (ev, ev[::3], ev[:1], _run("plain").events):  # contiguous, strided, one, engine's
        s = sift(e)
        tally, a, b, k = _sift_reference(e)
        c = s.counts
        for got, want in zip((c.n_z, c.n_x, c.m_x, c.m_z_true, s.detections), tally):
            assert got.dtype == np.int64 and np.array_equal(got, want)
        assert s.alice_z.dtype == np.uint8 and np.array_equal(s.alice_z, a)
        assert s.bob_z.dtype == np.uint8 and np.array_equal(s.bob_z, b)
        assert s.intensity_z.dtype == np.int8 and np.array_equal(s.intensity_z, k)


def test_run_engine_reuses_its_buffer(monkeypatch):
    """A pass in many stretches of different sizes, one of them a single slot above the
    stretch size: every stretch writes into the one buffer, and the bits are unchanged."""
    monkeypatch.setattr(run, "ENGINE_CHUNK_DETECTIONS", 3000)
    reused = []

    def engine(*args, **kwargs):
        r = simulate_decoy_bb84(*args, **kwargs)
        reused.append(np.shares_memory(r.events, kwargs["events_out"]))
        return r

    monkeypatch.setattr(run, "simulate_decoy_bb84", engine)
    eta = np.concatenate([np.full(20, 1e-3), np.full(5, 2e-2), np.full(20, 1e-4)])
    noise = np.full(eta.size, 1e-6)
    counts, doubles, key, pulses = run._run_engine(eta, noise, 1e-2, SOURCE, Receiver(), None,
                                                   np.random.SeedSequence(7))
    c = key.counts
    assert pulses == eta.size * 1_000_000
    assert len(reused) > 5 and all(reused)
    assert _digest(counts, doubles, key.alice_z, key.bob_z, key.intensity_z, key.detections,
                   c.n_z, c.n_x, c.m_x, c.m_z_true) == PINNED_RUN_ENGINE
