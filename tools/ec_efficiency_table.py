"""Measure the error-correction efficiency curve f(QBER, n) shipped with satqkd.

``python tools/ec_efficiency_table.py [--method cascade ...] [--frame-bits 65536]
[--passes 14] [--bits-per-point 4e6] [--out satqkd/data/ec_efficiency.csv]``

For every (QBER, n) of the grid it runs the real reconciliation
(:func:`satqkd.keys.reconcile.reconcile`, the code the bits level runs) on
``ceil(bits_per_point / n)`` (at least 8) random keys of n bits, Bob's key with i.i.d.
bit errors of probability QBER, the code's QBER estimate equal to QBER; it records the
mean efficiency f = sum(lambda_A) / sum(n h(Q_run)) (Q_run the realised error fraction),
its run-to-run standard deviation, the leak per bit and lambda_B / lambda_A. LDPC
(``satqkd/keys/ldpc.py``) is measured too when that module exists. Rows of other
settings already in the output file are kept, so settings accumulate.

Seeds: ``SeedSequence(20250618, spawn_key=(method index, i_qber, i_n))``; the test
``tests/test_counts_level.py::test_leakage_table_remeasured`` re-measures points with
other seeds.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from satqkd.keys.finite_key import binary_entropy  # noqa: E402
from satqkd.keys.leakage_curve import TABLE_FIELDS, TABLE_PATH  # noqa: E402
from satqkd.keys.reconcile import reconcile  # noqa: E402



def qber_grid(lo: float = 0.002, hi: float = 0.12) -> tuple[float, ...]:
    """Q points: the two ends and the middle of every piece of Cascade's block schedule.

    Cascade's first block is 2^ceil(alpha), its second 2^ceil((alpha + 12) / 2), alpha =
    log2(1/Q) - 1/2 (:func:`satqkd.keys.cascade.cascade_block_sizes`): the schedule, and
    with it f, jumps where alpha is an integer, Q = 2^-(m + 1/2). Interpolation stays
    inside a piece (:class:`satqkd.keys.leakage_curve.EfficiencyCurve`), so each piece
    is measured at its ends (0.1 % inside) and at three geometric quarter points.
    """
    edges = [2.0 ** -(m + 0.5) for m in range(1, 12)]
    edges = sorted([lo, hi] + [e for e in edges if lo < e < hi])
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        inner = [a * (b / a) ** t for t in (0.25, 0.5, 0.75)]
        out += [a * 1.001 if a != lo else a, *inner, b * 0.999 if b != hi else b]
    return tuple(round(q, 7) for q in out)


QBERS = qber_grid()
SIZES = (1000, 3000, 10000, 30000, 65536, 200000, 1000000)
METHODS = ("cascade", "ldpc")


def measure(method: str, qber: float, n: int, runs: int, seed: np.random.SeedSequence,
            frame_bits: int, passes: int) -> dict:
    """Run the code ``runs`` times on random n-bit keys with i.i.d. errors at ``qber``."""
    rng = np.random.default_rng(seed)
    leak = reply = h_sum = 0.0
    fs = []
    for _ in range(runs):
        a = rng.integers(0, 2, n, dtype=np.uint8)
        e = (rng.random(n) < qber).astype(np.uint8)
        b = a ^ e
        q = float(e.mean())
        r = reconcile(a, b, qber, rng, method, cascade_frame_bits=frame_bits,
                      cascade_passes=passes)
        leak += r.leaked_bits
        reply += r.reply_bits
        h = n * binary_entropy(q)
        h_sum += h
        if h > 0:
            fs.append(r.leaked_bits / h)
    return {"method": method, "frame_bits": frame_bits if method == "cascade" else 0,
            "passes": passes if method == "cascade" else 0, "qber": qber, "n": n, "runs": runs,
            "f": round(leak / h_sum, 5), "f_sd": round(float(np.std(fs, ddof=1)), 5),
            "leak_per_bit": round(leak / (runs * n), 7),
            "reply_per_leak": round(reply / leak, 5) if leak else 0.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", action="append", choices=METHODS)
    ap.add_argument("--frame-bits", type=int, default=65536)
    ap.add_argument("--passes", type=int, default=14)
    ap.add_argument("--bits-per-point", type=float, default=4e6)
    ap.add_argument("--out", type=Path, default=TABLE_PATH)
    args = ap.parse_args(argv)
    methods = args.method or [m for m in METHODS if m == "cascade"
                              or importlib.util.find_spec(f"satqkd.keys.{m}") is not None]
    rows: list[dict] = []
    for mi, method in enumerate(methods):
        t0 = time.perf_counter()
        for iq, q in enumerate(QBERS):
            for jn, n in enumerate(SIZES):
                runs = max(8, math.ceil(args.bits_per_point / n))
                seed = np.random.SeedSequence(20250618, spawn_key=(METHODS.index(method), iq, jn))
                rows.append(measure(method, q, n, runs, seed, args.frame_bits, args.passes))
        print(f"{method}: {len(QBERS) * len(SIZES)} points in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
    keep = []
    if args.out.exists():  # other settings already measured stay in the table
        with open(args.out, newline="") as fh:
            old = list(csv.DictReader(line for line in fh if not line.startswith("#")))
        new = {(r["method"], str(r["frame_bits"]), str(r["passes"])) for r in rows}
        keep = [r for r in old if (r["method"], r["frame_bits"], r["passes"]) not in new]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        fh.write("# satqkd error-correction efficiency f = lambda_A / (n h(Q)), measured by "
                 "tools/ec_efficiency_table.py\n")
        w = csv.DictWriter(fh, fieldnames=TABLE_FIELDS)
        w.writeheader()
        for r in keep + rows:
            w.writerow({k: r[k] for k in TABLE_FIELDS})
    print(f"wrote {args.out} ({len(keep) + len(rows)} rows)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
