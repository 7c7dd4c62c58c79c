"""A synthetic output folder for tests, benchmarks and the walk-through (not a simulation).

:func:`write_synthetic_output` writes what ``satqkd run`` writes for key delivery, through
the real writers: ``keys/`` with :func:`satqkd.keys.postprocess.write_keys`, and
``passes.csv`` and ``run.json`` with the columns the run writes.  The key bits are random
(seeded); Alice's and Bob's copies agree, as final keys do.  A pass is
``(satellite, station, aos, los, bits)``, times as UTC seconds.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from satqkd.keys.postprocess import write_keys

__all__ = ["write_synthetic_output", "iso"]

COLUMNS = ("pass_id", "satellite", "norad_id", "station", "aos", "tca", "los",
           "secret_bits", "block_id")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_synthetic_output(outdir: str | Path, passes: Iterable[tuple[str, str, float, float, int]],
                           start_s: float, end_s: float, seed: int = 1) -> Path:
    """Write ``passes`` (with random keys) as an output folder; returns ``outdir``."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    norad = {}
    rows = []
    for sat, station, aos, los, bits in sorted(passes, key=lambda p: p[2]):
        nid = norad.setdefault(sat, 90000 + len(norad))
        pid = f"{nid}_{station}_{datetime.fromtimestamp(aos, timezone.utc):%Y%m%dT%H%M%S}"
        rows.append({"pass_id": pid, "satellite": sat, "norad_id": nid, "station": station,
                     "aos": iso(aos), "tca": iso(0.5 * (aos + los)), "los": iso(los),
                     "secret_bits": bits, "block_id": len(rows) if bits > 0 else -1})
        if bits > 0:
            packed = np.packbits(rng.integers(0, 2, bits, dtype=np.uint8))
            write_keys(out / "keys", pid, packed, packed.copy(), bits)
    with open(out / "passes.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    (out / "run.json").write_text(json.dumps({
        "mission": "synthetic", "start": iso(start_s)[:19] + "Z", "end": iso(end_s)[:19] + "Z",
        "satellites": sorted(norad), "n_passes": len(rows)}, indent=2) + "\n")
    return out
