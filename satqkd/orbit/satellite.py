"""A satellite: one or more epochs of SGP4 elements, each used nearest its own epoch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from satqkd.orbit.tle import ElementSet

#: Element sets further than this from a pass get a warning (SGP4 errors grow by
#: roughly a kilometre per day in LEO; Vallado et al. 2006, section I).
STALE_EPOCH_DAYS = 14.0


@dataclass(frozen=True)
class Satellite:
    """A satellite known by one or more element sets, sorted by epoch."""

    name: str
    norad_id: int
    element_sets: tuple[ElementSet, ...]

    def __post_init__(self) -> None:
        if not self.element_sets:
            raise ValueError(f"satellite {self.name} has no element sets")
        ordered = tuple(sorted(self.element_sets, key=lambda e: e.epoch))
        object.__setattr__(self, "element_sets", ordered)

    @property
    def epochs_unix_s(self) -> np.ndarray:
        return np.array([e.epoch.timestamp() for e in self.element_sets])

    def nearest_index(self, unix_s: np.ndarray | float) -> np.ndarray:
        """Index of the element set whose epoch is nearest each time (seconds since 1970)."""
        epochs = self.epochs_unix_s
        if len(epochs) == 1:
            return np.zeros(np.shape(unix_s), dtype=int)
        midpoints = 0.5 * (epochs[1:] + epochs[:-1])
        return np.searchsorted(midpoints, unix_s)

    def nearest(self, unix_s: float) -> ElementSet:
        """The element set whose epoch is nearest the given time."""
        return self.element_sets[int(self.nearest_index(unix_s))]
