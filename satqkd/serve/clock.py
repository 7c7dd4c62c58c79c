"""Mission time seen by the key managers: everything at once, or the mission replayed.

``replay`` maps wall time onto mission time, ``mission = anchor_mission + (wall -
anchor_wall) * speed``.  The anchor is kept in the key store, so a restarted server
continues the same timeline instead of rewinding the mission (a restart in the field
does not bring back the night that has passed).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

__all__ = ["MissionClock", "CLOCKS"]

CLOCKS = ("instant", "replay")


@dataclass(frozen=True)
class MissionClock:
    mode: str  # "instant" or "replay"
    speed: float = 1.0
    anchor_wall: float = 0.0  # wall time (UNIX s) at which ...
    anchor_mission: float = 0.0  # ... the mission was at this time (UTC s)

    def __post_init__(self) -> None:
        if self.mode not in CLOCKS:
            raise ValueError(f"clock must be one of {CLOCKS}, got {self.mode!r}")
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError(f"speed must be a positive number, got {self.speed}")

    def now(self, wall: float | None = None) -> float:
        """Mission time now (UTC seconds); ``inf`` for the instant clock."""
        if self.mode == "instant":
            return math.inf
        wall = time.time() if wall is None else wall
        return self.anchor_mission + (wall - self.anchor_wall) * self.speed

    def wall_at(self, mission_s: float) -> float:
        """Wall time (UNIX s) at which the mission reaches ``mission_s``."""
        if self.mode == "instant":
            return -math.inf
        return self.anchor_wall + (mission_s - self.anchor_mission) / self.speed
