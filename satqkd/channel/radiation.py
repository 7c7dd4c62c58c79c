"""Radiation damage of single-photon detectors in orbit: the dark-count rate they reach.

Trapped protons (mostly in the South Atlantic Anomaly for a low orbit) displace atoms
of a silicon avalanche photodiode's lattice; the defects generate carriers thermally,
and the dark-count rate rises with the displacement damage dose (Anisimova et al., EPJ
Quantum Technol. 4, 10 (2017): proton doses equivalent to 0.6 to 24 months in a low
polar orbit raised every APD's rate by orders of magnitude unless deeply cooled). In a
given orbit the dose grows linearly in time; we take the rate linear in it, as the
in-orbit record of Yang et al. (2019) shows over nearly three years. Annealing
(Anisimova et al.) is not modelled.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dark_count_rate_in_orbit_hz"]


def dark_count_rate_in_orbit_hz(initial_rate_hz: float, growth_hz_per_day: float,
                                days_in_orbit: float | np.ndarray) -> float | np.ndarray:
    """Dark-count rate (counts/s per detector) after ``days_in_orbit`` days in orbit.

    R(t) = R_0 + g t: linear in the displacement damage dose, hence in time in orbit.
    g = 0.54 counts/s per day is the in-orbit increment measured on Micius's shielded,
    multistage-cooled silicon APDs over 1029 days (Yang et al., Opt. Express 27, 36114
    (2019), abstract); the same authors expected about 219 counts/s per day without
    their shielding and cooling.
    """
    days = np.asarray(days_in_orbit, dtype=float)
    if np.any(days < 0) or initial_rate_hz < 0 or growth_hz_per_day < 0:
        raise ValueError("dark_count_rate_in_orbit_hz: rates and days in orbit must be >= 0")
    rate = initial_rate_hz + growth_hz_per_day * days
    return float(rate) if rate.ndim == 0 else rate
