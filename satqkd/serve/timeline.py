"""The key store over mission time: key available to each SAE pair, as steps.

Key arrives in bursts, when a pass (pooled block, relay session) ends; it leaves when a
master takes it.  With a replay store, the time each key was issued is mapped back onto
mission time through the stored clock anchor; an ``instant`` store (or none) shows the
arrivals alone: the key a pairing could have drawn by each moment of the mission.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from satqkd.serve.catalog import Catalog
from satqkd.serve.store import pair_of

__all__ = ["store_timeline"]


def _issued(store: Path) -> list[tuple[str, str, float, int]] | None:
    """(sae, sae, mission time, bits) of every issued key of a replay store, else None."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE key='clock'").fetchone()
        if row is None:
            return None
        clock = json.loads(row[0])
        return [(m, s, clock["anchor_mission"] + (w - clock["anchor_wall"]) * clock["speed"], n)
                for m, s, w, n in db.execute("SELECT master, slave, enc_wall, size FROM keys")]
    finally:
        db.close()


def store_timeline(catalog: Catalog, store: str | Path | None = None
                   ) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """Per SAE pair: step times (UTC s, from the mission start) and bits available after."""
    events: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for s in catalog.sources:
        events.setdefault(pair_of(s.sae_a, s.sae_b), []).append((s.available_s, s.bits))
    issued = _issued(Path(store)) if store is not None and Path(store).exists() else None
    for m, s, t, n in issued or ():
        events.setdefault(pair_of(m, s), []).append((t, -n))
    out = {}
    for pair, ev in sorted(events.items()):
        ev.sort()
        end = max(catalog.end_s, ev[-1][0])  # a replay may run past the mission's end
        times = np.array([catalog.start_s] + [t for t, _ in ev] + [end])
        bits = np.cumsum([0] + [b for _, b in ev] + [0])
        out[pair] = (times, bits)
    return out
