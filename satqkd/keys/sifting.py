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
    return SiftedKey(
        counts,
        np.concatenate([p.alice_z for p in parts]),
        np.concatenate([p.bob_z for p in parts]),
        np.concatenate([p.intensity_z for p in parts]),
        None if any(d is None for d in dets) else np.sum(dets, axis=0),
    )


@numba.njit(cache=True)
def _sift_kernel(intensity, alice_basis, bob_basis, alice_bit, bob_bit, n_k):
    """One pass over the events: counts per intensity and the Z-basis raw key bits."""
    n = intensity.size
    counts = np.zeros((5, n_k), dtype=np.int64)  # detections, n_z, n_x, m_x, m_z
    key_a = np.empty(n, dtype=np.uint8)
    key_b = np.empty(n, dtype=np.uint8)
    key_k = np.empty(n, dtype=np.int8)
    m = 0
    for i in range(n):
        k = intensity[i]
        counts[0, k] += 1
        if alice_basis[i] != bob_basis[i]:
            continue
        err = alice_bit[i] != bob_bit[i]
        if alice_basis[i] == 0:  # BASIS_Z
            counts[1, k] += 1
            counts[4, k] += err
            key_a[m] = alice_bit[i]
            key_b[m] = bob_bit[i]
            key_k[m] = k
            m += 1
        else:
            counts[2, k] += 1
            counts[3, k] += err
    return counts, key_a[:m].copy(), key_b[:m].copy(), key_k[:m].copy()


def sift(events: np.ndarray, n_intensities: int = 3) -> SiftedKey:
    """Sift detection events (``EVENT_DTYPE``) into the Z raw key and per-intensity counts."""
    if events.dtype != EVENT_DTYPE:
        raise TypeError(f"events must have satqkd.engine.events.EVENT_DTYPE, got {events.dtype}")
    if events.size:
        c, ka, kb, kk = _sift_kernel(
            np.ascontiguousarray(events["intensity"]), np.ascontiguousarray(events["alice_basis"]),
            np.ascontiguousarray(events["bob_basis"]), np.ascontiguousarray(events["alice_bit"]),
            np.ascontiguousarray(events["bob_bit"]), n_intensities)
        return SiftedKey(DecoyCounts(c[1], c[2], c[3], c[4]), ka, kb, kk, c[0])
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
