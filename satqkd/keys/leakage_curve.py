"""Error-correction leakage from a measured efficiency curve f(QBER, n) (counts level).

The counts level (``[mission] fidelity = "counts"``) has no bits to reconcile, so it
charges the leakage the chosen code *would* disclose, from its measured efficiency

    lambda_A = f(Q, n) n h(Q),   lambda_B = r lambda_A,

with Q the key-basis error rate (errors Cascade would correct, / n), n the sifted key
length, h the binary entropy, f the code's mean efficiency at (Q, n) and r the code's
ratio of Bob's replies to Alice's disclosures (Cascade: exactly 1, one reply per parity;
Tupkary & Lutkenhaus, Phys. Rev. Applied 20, 064040 (2023)). The curve is *measured* by
running the real reconciliation (:func:`satqkd.keys.reconcile.reconcile`) on random keys
with i.i.d. errors: ``tools/ec_efficiency_table.py`` writes the table shipped as
``satqkd/data/ec_efficiency.csv`` (one row per code, frame length, passes, Q and n).

Interpolation: bilinear in (ln Q, ln n) on f, *inside one piece of the code's schedule*.
Cascade's block sizes (:func:`satqkd.keys.cascade.cascade_block_sizes`) are set from the
QBER estimate and jump where alpha = log2(1/Q) - 1/2 is an integer; f jumps with them
(by up to 0.05), so the table measures each piece at both ends and at three points inside, and the
piece is chosen, as in the bits level, by the estimate (the test-basis QBER), while f is
read at the key's error rate clamped to that piece. Outside the grid: n is clamped to the
table's range (above ~1e6 bits f is the per-frame value of a long key); below the
smallest tabulated Q the leak per bit of that smallest Q is charged (a code's parity cost
does not vanish with the errors: conservative); above the largest, f of the largest Q.
This is the counts level's only approximation (docs/keys.md, "Counts level").
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from satqkd.errors import InputError
from satqkd.keys.finite_key import binary_entropy

__all__ = ["TABLE_PATH", "TABLE_FIELDS", "EfficiencyCurve", "efficiency_curve", "modelled_leakage"]

TABLE_PATH = Path(__file__).resolve().parent.parent / "data" / "ec_efficiency.csv"
TABLE_FIELDS = ("method", "frame_bits", "passes", "qber", "n", "runs", "f", "f_sd",
                "leak_per_bit", "reply_per_leak")


@dataclass(frozen=True)
class EfficiencyCurve:
    """f(Q, n) of one code setting on a (Q, n) grid (``f[i, j]`` at ``qber[i]``, ``n[j]``)."""

    method: str
    frame_bits: int
    passes: int
    qber: np.ndarray
    n: np.ndarray
    f: np.ndarray
    f_sd: np.ndarray  # run-to-run standard deviation of f at each grid point
    runs: np.ndarray
    reply_per_leak: float

    def piece(self, qber: float) -> int:
        """Index of the code's schedule piece at this QBER estimate (Cascade: ceil(alpha))."""
        if self.method != "cascade":
            return 0
        return math.ceil(math.log2(1.0 / min(max(qber, 1e-6), 0.5)) - 0.5)

    def efficiency(self, qber: float, n: float, estimate: float | None = None) -> float:
        """Interpolated f at (qber, n), in the schedule piece of ``estimate`` (default qber).

        Bilinear in (ln Q, ln n) between grid points of that piece; Q is clamped to the
        piece's tabulated range, n to the table's.
        """
        est = qber if estimate is None else estimate
        est = min(max(est, float(self.qber[0])), float(self.qber[-1]))
        rows = np.flatnonzero(np.array([self.piece(q) for q in self.qber]) == self.piece(est))
        xq = np.log(self.qber[rows])
        lq = min(max(math.log(max(qber, 1e-12)), xq[0]), xq[-1])
        ln = math.log(min(max(n, self.n[0]), self.n[-1]))
        xn = np.log(self.n)
        j = int(np.clip(np.searchsorted(xn, ln) - 1, 0, xn.size - 2))
        tn = (ln - xn[j]) / (xn[j + 1] - xn[j])
        f_n = (1 - tn) * self.f[rows, j] + tn * self.f[rows, j + 1]  # f along Q in the piece
        return float(np.interp(lq, xq, f_n))

    def leaked_bits(self, qber: float, n: int, estimate: float | None = None
                    ) -> tuple[int, int]:
        """(lambda_A, lambda_B) modelled for n sifted bits at key error rate ``qber``,
        the code's parameters set from ``estimate`` (default ``qber``)."""
        if n <= 0:
            return 0, 0
        q = max(qber, float(self.qber[0]))  # below the grid: the leak per bit of its floor
        lam_a = int(math.ceil(self.efficiency(q, n, estimate) * n * binary_entropy(q)))
        return lam_a, int(math.ceil(self.reply_per_leak * lam_a))


def _read_table(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


@functools.lru_cache(maxsize=16)
def efficiency_curve(method: str = "cascade", frame_bits: int = 65536, passes: int = 14,
                     path: str | None = None) -> EfficiencyCurve:
    """The measured curve of ``method`` at this frame length and pass count.

    Raises :class:`InputError` (one line) when the table has no such setting: the counts
    level then cannot price the leakage, and the generator script says how to add it.
    """
    p = Path(path) if path else TABLE_PATH
    # Cascade's curve depends on its frame and passes; other codes use their own defaults.
    rows = [r for r in _read_table(p) if r["method"] == method
            and (method != "cascade" or (int(r["frame_bits"]) == frame_bits
                                         and int(r["passes"]) == passes))]
    if not rows:
        raise InputError(
            f"counts fidelity: no measured efficiency curve for error_correction = {method!r}"
            + (f" (cascade_frame_bits = {frame_bits}, cascade_passes = {passes})"
               if method == "cascade" else "")
            + f" in {p.name}; add it with `python tools/ec_efficiency_table.py --method {method}"
            + (f" --frame-bits {frame_bits} --passes {passes}" if method == "cascade" else "")
            + "`, or use fidelity = \"bits\"")
    qs = np.array(sorted({float(r["qber"]) for r in rows}))
    ns = np.array(sorted({float(r["n"]) for r in rows}))
    f = np.full((qs.size, ns.size), np.nan)
    sd = np.full_like(f, np.nan)
    runs = np.zeros(f.shape, dtype=np.int64)
    reply = []
    for r in rows:
        i, j = int(np.searchsorted(qs, float(r["qber"]))), int(np.searchsorted(ns, float(r["n"])))
        f[i, j], sd[i, j], runs[i, j] = float(r["f"]), float(r["f_sd"]), int(r["runs"])
        reply.append(float(r["reply_per_leak"]))
    if np.isnan(f).any():
        raise InputError(f"{p}: the {method} curve is not a full (qber, n) grid")
    return EfficiencyCurve(method, frame_bits, passes, qs, ns, f, sd, runs,
                           float(np.mean(reply)))


def modelled_leakage(qber: float, n: int, estimate: float | None = None,
                     method: str = "cascade", frame_bits: int = 65536,
                     passes: int = 14) -> tuple[int, int]:
    """(lambda_A, lambda_B) of ``method`` for n sifted bits at key error rate ``qber``."""
    return efficiency_curve(method, frame_bits, passes).leaked_bits(qber, n, estimate)
