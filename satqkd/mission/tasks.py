"""What one pass is to the mission stage: the task a worker runs and what it hands back.

Shared by every protocol (:mod:`satqkd.mission.protocols`) and by the runner
(:mod:`satqkd.mission.run`); it imports neither. A pass's random stream comes from
:func:`satqkd.mission.seeds.pass_seed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import xarray as xr

from satqkd import config
from satqkd.mission import store
from satqkd.mission.seeds import pass_seed

__all__ = ["PassTask", "PassOutput", "EncodedPass", "simulate_encoded", "expected_cost",
           "pass_seed"]


@dataclass(frozen=True)
class PassTask:
    """Everything one pass needs, picklable for a worker process."""

    geometry: xr.Dataset  # per-pass geometry, dim "time", pass scalars as attrs
    cfg: config.MissionConfig
    satellite_index: int  # into cfg.satellites
    station_index: int  # into cfg.stations


@dataclass
class PassOutput:
    """One simulated pass: the per-second dataset (scalars in attrs) and the final keys."""

    dataset: xr.Dataset
    alice_key: np.ndarray  # np.packbits of the final key
    bob_key: np.ndarray
    key_bits: int
    reconciled: bytes | None = None  # pooled block: the pass's reconciled keys (blocks.py)


@dataclass
class EncodedPass:
    """A pass as a worker hands it back: its checkpoint bytes and its keys.

    Encoding in the worker keeps the main process, which only writes files, light.
    """

    pass_id: str
    checkpoint: bytes
    alice_key: np.ndarray
    bob_key: np.ndarray
    key_bits: int
    reconciled: bytes | None = None


def simulate_encoded(simulate: Callable, config_sha256: str, task) -> EncodedPass:
    """``simulate(task)``, with the result encoded as its checkpoint file."""
    r = simulate(task)
    pid = r.dataset.attrs.get("pass_id", getattr(task, "window_id", ""))
    return EncodedPass(pid, store.encode_checkpoint(r.dataset, config_sha256),
                       r.alice_key, r.bob_key, r.key_bits, r.reconciled)


def expected_cost(geometry: xr.Dataset, daylight_ok: bool) -> float:
    """A cheap proxy of a pass's simulation cost: operating seconds weighted by elevation.

    It only orders the passes on workers (heaviest first); no result depends on it.
    """
    if geometry.sizes["time"] == 0:
        return 0.0
    on = (np.ones(geometry.sizes["time"], bool) if daylight_ok
          else geometry["night"].values.astype(bool))
    return float(np.sum(np.sin(np.radians(np.clip(geometry["elevation"].values[on], 0.0, 90.0)))))
