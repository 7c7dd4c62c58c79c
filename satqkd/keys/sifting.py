"""Basis sifting and decoy statistics of decoy-state BB84 detection events.

Convention (Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), with X and Z
swapped): the **key** basis is Z (Alice chooses it with probability ``p_z``), the **test**
basis is X.  After sifting (``alice_basis == bob_basis``) the statistics per intensity k are

* ``n_z[k]``, ``n_x[k]``: sifted detections in each basis,
* ``m_x[k]``: bit errors in the test basis (all X-basis sifted bits are disclosed; the
  phase-error bound of Lim et al. needs only these).

The Z-basis bits of *all* intensities form the raw key, as in Lim et al. (2014).  No Z bit
is disclosed to estimate the key-basis QBER: Cascade's block sizes are set from the X-basis
QBER, and the key-basis QBER reported after error correction is the exact number of errors
Cascade corrected (confirmed by the verification hash) divided by the sifted length.
``m_z_true`` counts the Z errors from both sides' bits as a simulator-only diagnostic; it
never enters a security bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from satqkd.engine.events import BASIS_X, BASIS_Z, EVENT_DTYPE


@dataclass(frozen=True)
class DecoyCounts:
    """Sifted statistics per intensity (arrays of length n_intensities, source order)."""

    n_z: np.ndarray
    n_x: np.ndarray
    m_x: np.ndarray
    m_z_true: np.ndarray  # diagnostic only (needs both sides' key bits)

    def __add__(self, other: "DecoyCounts") -> "DecoyCounts":
        """Accumulate several passes into one finite-key block."""
        return DecoyCounts(self.n_z + other.n_z, self.n_x + other.n_x,
                           self.m_x + other.m_x, self.m_z_true + other.m_z_true)

    @property
    def qber_x(self) -> float:
        """Observed test-basis QBER (NaN without test events)."""
        n = int(self.n_x.sum())
        return float(self.m_x.sum()) / n if n else float("nan")

    @classmethod
    def zeros(cls, n_intensities: int = 3) -> "DecoyCounts":
        z = np.zeros(n_intensities, dtype=np.int64)
        return cls(z.copy(), z.copy(), z.copy(), z.copy())


def accumulate_counts(counts: list[DecoyCounts]) -> DecoyCounts:
    """Sum the statistics of several passes (one finite-key block over all of them)."""
    total = DecoyCounts.zeros(len(counts[0].n_z)) if counts else DecoyCounts.zeros()
    for c in counts:
        total = total + c
    return total


@dataclass(frozen=True)
class SiftedKey:
    """Result of sifting one pass."""

    counts: DecoyCounts
    alice_z: np.ndarray  # uint8 raw key bits (Z basis, all intensities), detection order
    bob_z: np.ndarray  # uint8 Bob's raw key bits, same positions
    intensity_z: np.ndarray  # int8 intensity index of each raw key bit
    detections: np.ndarray | None = None  # all clicks per intensity (sifted or not)
    #: simulator only: Eve's knowledge of each raw key bit (satqkd.keys.eve codes), or None
    eve_z: np.ndarray | None = None

    @property
    def sifted_bits(self) -> int:
        return int(self.alice_z.size)


def concatenate_sifted(parts: list[SiftedKey]) -> SiftedKey:
    """Join the sifted keys of consecutive stretches of one pass, in time order.

    Lets a long pass be simulated and sifted a stretch at a time, so that the detection
    events of the whole pass never need to be held at once.
    """
    if not parts:
        return sift(np.zeros(0, dtype=EVENT_DTYPE))
    counts = accumulate_counts([p.counts for p in parts])
    dets = [p.detections for p in parts]
    eves = [p.eve_z for p in parts]
    return SiftedKey(
        counts,
        np.concatenate([p.alice_z for p in parts]),
        np.concatenate([p.bob_z for p in parts]),
        np.concatenate([p.intensity_z for p in parts]),
        None if any(d is None for d in dets) else np.sum(dets, axis=0),
        None if any(e is None for e in eves) else np.concatenate(eves),
    )


@numba.njit(cache=True)
def _sift_kernel(events, n_k):
    """One pass over the event records: tallies per intensity and the Z-basis raw key bits.

    Reads the structured array in place (no field copies) and has no data-dependent
    branch: each event's bits are written at the next key position, which only advances
    for Z-sifted events, and its tally cell is hist[k, 4 a + 2 b + error].
    """
    n = events.shape[0]
    hist = np.zeros((n_k, 8), dtype=np.int64)
    key_a = np.empty(n, dtype=np.uint8)
    key_b = np.empty(n, dtype=np.uint8)
    key_k = np.empty(n, dtype=np.int8)
    m = 0
    for i in range(n):
        ev = events[i]
        k = ev.intensity
        x_a = ev.alice_basis != BASIS_Z
        x_b = ev.bob_basis != BASIS_Z
        hist[k, 4 * x_a + 2 * x_b + (ev.alice_bit != ev.bob_bit)] += 1
        key_a[m] = ev.alice_bit
        key_b[m] = ev.bob_bit
        key_k[m] = k
        m += not (x_a or x_b)
    return hist, key_a[:m].copy(), key_b[:m].copy(), key_k[:m].copy()


def sift(events: np.ndarray, n_intensities: int = 3, eve_codes: np.ndarray | None = None
         ) -> SiftedKey:
    """Sift detection events (``EVENT_DTYPE``) into the Z raw key and per-intensity counts.

    ``eve_codes`` (simulator only): Eve's knowledge per event (:func:`satqkd.keys.eve.eve_codes`),
    kept for the raw key bits as ``eve_z``.
    """
    if eve_codes is not None:
        sk = sift(events, n_intensities)
        z = (events["alice_basis"] == BASIS_Z) & (events["bob_basis"] == BASIS_Z)
        return SiftedKey(sk.counts, sk.alice_z, sk.bob_z, sk.intensity_z, sk.detections,
                         np.asarray(eve_codes, dtype=np.int8)[z])
    if events.dtype != EVENT_DTYPE:
        raise TypeError(f"events must have satqkd.engine.events.EVENT_DTYPE, got {events.dtype}")
    if events.size:
        h, ka, kb, kk = _sift_kernel(events, n_intensities)
        # h[k, 4 a + 2 b + e]: cells 0/1 are Z-sifted without/with error, 6/7 X-sifted
        counts = DecoyCounts(h[:, 0] + h[:, 1], h[:, 6] + h[:, 7], h[:, 7].copy(), h[:, 1].copy())
        return SiftedKey(counts, ka, kb, kk, h.sum(axis=1))
    ab = events["alice_basis"]
    match = ab == events["bob_basis"]
    k = events["intensity"].astype(np.int64)
    err = events["alice_bit"] != events["bob_bit"]
    is_z = match & (ab == BASIS_Z)
    is_x = match & (ab == BASIS_X)
    n_z = np.bincount(k[is_z], minlength=n_intensities)
    n_x = np.bincount(k[is_x], minlength=n_intensities)
    m_x = np.bincount(k[is_x & err], minlength=n_intensities)
    m_z = np.bincount(k[is_z & err], minlength=n_intensities)
    counts = DecoyCounts(n_z.astype(np.int64), n_x.astype(np.int64), m_x.astype(np.int64),
                         m_z.astype(np.int64))
    return SiftedKey(counts,
                     events["alice_bit"][is_z].astype(np.uint8),
                     events["bob_bit"][is_z].astype(np.uint8),
                     events["intensity"][is_z].astype(np.int8),
                     np.bincount(k, minlength=n_intensities).astype(np.int64))
