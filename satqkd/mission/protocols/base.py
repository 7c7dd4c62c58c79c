"""The protocol seam of the mission stage.

A protocol turns a mission's passes into tasks, simulates one task on a link (the
link's transmittance and noise in, counts and keys out) and finishes the mission's
passes once all are simulated. :mod:`satqkd.mission.run` composes one protocol with
one link (:mod:`satqkd.mission.links`) and never asks which they are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import xarray as xr

from satqkd import config
from satqkd.mission.links import Link
from satqkd.mission.tasks import PassOutput

__all__ = ["Protocol", "satellite_indices", "station_indices"]


class Protocol(ABC):
    """A QKD protocol run over one link direction.

    Instances are sent to worker processes with their tasks (``simulate``), so they
    hold nothing but the link.
    """

    #: the ``[mission] protocol`` values it runs
    names: ClassVar[tuple[str, ...]]
    #: the link directions it runs on
    directions: ClassVar[tuple[str, ...]] = ("downlink", "uplink")

    def __init__(self, link: Link) -> None:
        self.link = link

    @abstractmethod
    def tasks(self, plan: Any, geometry: xr.Dataset, done: set[str]
              ) -> tuple[list[str], list[Any]]:
        """Every pass id of the mission in order, and the tasks of those not in ``done``
        (``plan``: a :class:`satqkd.mission.run.MissionPlan`; ``geometry``: the ragged
        per-second geometry of its passes)."""

    @abstractmethod
    def simulate(self, task: Any) -> PassOutput:
        """Simulate one task (runs in a worker; its random streams are the pass's own)."""

    @abstractmethod
    def cost(self, task: Any) -> float:
        """A cheap proxy of the task's simulation cost (orders the work, nothing else)."""

    def layout(self, plan: Any) -> tuple[list[str], list[int]] | None:
        """Every id of the mission in order and its per-second sample count, when both
        are known before any geometry is computed (None: not known). ``passes.nc`` is
        then written while the passes are simulated; a wrong count is caught, and the
        file written afresh at the end."""
        return None

    def warm_up(self, cfg: config.MissionConfig) -> Callable[[], None] | None:
        """What each worker runs on start to load compiled kernels (None: nothing)."""
        return None

    def close(self, out_dir: Path, cfg: config.MissionConfig, pass_ids: Sequence[str]
              ) -> dict[str, dict] | None:
        """After every pass is checkpointed: overrides of the passes' scalars (e.g.
        finite-key blocks closed across passes), or None."""
        return None


def satellite_indices(plan: Any) -> dict[str, int]:
    """Satellite name -> index of its entry in ``plan.cfg.satellites`` (a Walker entry
    expands into many satellites of one entry)."""
    entry = {id(c): i for i, c in enumerate(plan.cfg.satellites)}
    return {sat.name: entry[id(c)] for sat, c in plan.satellites}


def station_indices(cfg: config.MissionConfig) -> dict[str, int]:
    """Station name -> index in ``cfg.stations``."""
    return {s.name: i for i, s in enumerate(cfg.stations)}
