"""Random streams of a mission: one per pass, keyed by what the pass is, not where it runs."""

from __future__ import annotations

import math
import zlib

import numpy as np


def pass_seed(mission_seed: int, norad_id: int, station: str, aos_s: float) -> np.random.SeedSequence:
    """The pass's own random stream: keyed by (satellite, station, pass start).

    Any pass can be re-run alone, and results do not depend on how passes are
    distributed over workers (DESIGN.md section 3).
    """
    return np.random.SeedSequence(
        entropy=mission_seed,
        spawn_key=(int(norad_id), zlib.crc32(station.encode("utf-8")), int(math.floor(aos_s))),
    )


def aos_seconds(iso: str) -> float:
    return float(np.datetime64(iso.rstrip("Z"), "ns").astype(np.int64)) / 1e9
