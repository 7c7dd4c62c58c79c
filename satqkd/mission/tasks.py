"""What one pass is to the mission stage: the task a worker runs and what it hands back.

Shared by every protocol (:mod:`satqkd.mission.protocols`) and by the runner
(:mod:`satqkd.mission.run`); it imports neither. A pass's random stream comes from
:func:`satqkd.mission.seeds.pass_seed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import xarray as xr

from satqkd import config
from satqkd.datasets import dataset_from_state, dataset_state, pack_state, unpack_state
from satqkd.mission import store
from satqkd.mission.seeds import pass_seed

__all__ = ["PassTask", "PassOutput", "EncodedPass", "simulate_encoded", "expected_cost",
           "pass_seed"]


class PassTask:
    """Everything one pass needs, picklable for a worker process.

    ``geometry``: the pass's per-second geometry (dim ``time``, pass scalars as attrs), a
    Dataset or its :func:`satqkd.datasets.dataset_state`. The main process makes a
    year's thousands of tasks from states (:class:`satqkd.ragged.PassCutter`) and ships
    them as plain arrays; the Dataset is built where it is first used, in the worker.
    """

    __slots__ = ("_geometry", "_state", "cfg", "satellite_index", "station_index")

    def __init__(self, geometry: xr.Dataset | tuple, cfg: config.MissionConfig,
                 satellite_index: int, station_index: int) -> None:
        self._geometry, self._state = ((geometry, None) if isinstance(geometry, xr.Dataset)
                                       else (None, geometry))
        self.cfg = cfg
        self.satellite_index = satellite_index  # into cfg.satellites
        self.station_index = station_index  # into cfg.stations

    @property
    def geometry(self) -> xr.Dataset:
        if self._geometry is None:
            self._geometry, self._state = dataset_from_state(self._state), None
        return self._geometry

    def values(self, name: str) -> np.ndarray:
        """One geometry variable's values, without building the Dataset."""
        if self._geometry is not None:
            return self._geometry.variables[name].values
        return next(v[2] for v in self._state[0] if v[0] == name)

    @property
    def n_samples(self) -> int:
        return int(self.values("time").shape[0])

    def __reduce__(self):
        # plain arrays travel to the workers: pickling the Dataset's objects cost more
        # than simulating a pass in daylight at the counts level
        state = self._state if self._state is not None else dataset_state(self._geometry)
        return (_unpickle_task, (pack_state(state), self.cfg, self.satellite_index,
                                 self.station_index))

    def __repr__(self) -> str:
        return (f"PassTask(satellite_index={self.satellite_index}, "
                f"station_index={self.station_index}, samples={self.n_samples})")


def _unpickle_task(packed: tuple, cfg: config.MissionConfig, satellite_index: int,
                   station_index: int) -> PassTask:
    return PassTask(unpack_state(packed), cfg, satellite_index, station_index)


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
    ``checkpoint`` is None when the worker has written the checkpoint file itself.
    """

    pass_id: str
    checkpoint: bytes | None
    alice_key: np.ndarray
    bob_key: np.ndarray
    key_bits: int
    reconciled: bytes | None = None
    header: tuple[dict, int] | None = None  # the checkpoint's header and body offset
    #: where the worker appended the checkpoint record (journal, first byte, end), if it did
    location: tuple[str, int, int] | None = None


_NO_KEY = np.zeros(0, np.uint8)


def simulate_encoded(simulate: Callable, config_sha256: str, task, out_dir: str | None = None,
                     keep_keys: bool = True, journal: str = "manual") -> EncodedPass:
    """``simulate(task)``, with the result encoded as its checkpoint record.

    ``out_dir``: the run's folder when this process can write there (serial runs, local
    workers). A pass whose checkpoint is its only output (no pooled-block file, no key
    file to write before it) is then appended here to this process's ``journal``
    (:func:`satqkd.mission.store.write_checkpoint_bytes`), so its bytes never travel to
    the main process. ``keep_keys`` False: the final keys are not needed (no key files),
    and are not sent back either.
    """
    r = simulate(task)
    pid = r.dataset.attrs.get("pass_id", getattr(task, "window_id", ""))
    data, meta, offset = store.encode_checkpoint_meta(r.dataset, config_sha256, pid)
    alice, bob = (r.alice_key, r.bob_key) if keep_keys else (_NO_KEY, _NO_KEY)
    location = None
    if out_dir is not None and r.reconciled is None and not (keep_keys and r.key_bits > 0):
        rec = store.write_checkpoint_bytes(Path(out_dir), pid, data, journal, (meta, offset))
        data, location = None, (rec.path, rec.start, rec.end)
    return EncodedPass(pid, data, alice, bob, r.key_bits, r.reconciled, (meta, offset),
                       location)


def expected_cost(geometry: xr.Dataset | PassTask, daylight_ok: bool) -> float:
    """A cheap proxy of a pass's simulation cost: operating seconds weighted by elevation.

    It only orders the passes on workers (heaviest first); no result depends on it.
    """
    values = (geometry.values if isinstance(geometry, PassTask)
              else lambda name: geometry.variables[name].values)
    elevation = values("elevation")
    if elevation.shape[0] == 0:
        return 0.0
    on = (np.ones(elevation.shape[0], bool) if daylight_ok
          else values("night").astype(bool))
    return float(np.sum(np.sin(np.radians(np.clip(elevation[on], 0.0, 90.0)))))
