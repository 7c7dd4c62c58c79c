"""Where an element set's SGP4 propagation can be used, and where it cannot.

SGP4 reports trouble through an error code per propagated instant (0 = fine; Vallado
et al., AIAA 2006-6753): 1 and 3 eccentricity out of range, 2 negative mean motion,
4 negative semi-latus rectum, 6 orbit radius below one Earth radius (decayed). A code
is not enough on its own: past a decay, SGP4's drag polynomial turns the semi-major
axis back up, and propagation returns error-free nonsense. Micius's 2025-09-22
elements are flagged as decayed from 2026-05-18, then give error-free orbits of
20,000 to 300,000 km from 2027-09 on (thousands of "passes" a week). So an element
set is valid on one interval around its epoch: from its epoch outwards up to the
first instant SGP4 flags, in each direction; every instant beyond is invalid, and so
is every flagged instant inside.

Before the first element set of a catalogue satellite there may be no satellite at
all: a mission may start at most :data:`PRE_EPOCH_MARGIN_DAYS` before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from sgp4.api import Satrec

from satqkd.orbit.satellite import STALE_EPOCH_DAYS, Satellite
from satqkd.orbit.tle import ElementSet

#: A mission may start at most this long before the earliest element set of a
#: catalogue (TLE/OMM) satellite. Backward propagation is as accurate as forward
#: propagation over the same span, so the limit is the one beyond which a pass's
#: element set is already called stale (:data:`STALE_EPOCH_DAYS`); before the first
#: epoch staleness is worse than inaccuracy, since the satellite may not have been
#: launched yet (Micius: launched 2016-08-16, first element set in tle/micius.tle
#: 2016-12-18), hence an error rather than a warning. 14 days also covers the shipped
#: China-Austria mission, which starts 6.9 days before that first epoch.
PRE_EPOCH_MARGIN_DAYS = STALE_EPOCH_DAYS

#: Step of the scan from an element set's epoch out to the mission window (s). The
#: first flagged sample is then refined to the second.
SCAN_STEP_S = 600.0

_REASONS = {
    1: ("mean eccentricity out of range", "outside 0..1"),
    2: ("negative mean motion", "nm < 0"),
    3: ("perturbed eccentricity out of range", "outside 0..1"),
    4: ("negative semi-latus rectum", "p < 0"),
    5: ("the satellite is below the surface", "error 5"),
    6: ("the satellite has decayed", "orbit radius below one Earth radius"),
}


def sgp4_reason(code: int) -> str:
    """Plain-words reason of an SGP4 error code, e.g. ``the satellite has decayed (SGP4
    error 6: orbit radius below one Earth radius)``."""
    what, detail = _REASONS.get(int(code), ("SGP4 failed", "unknown code"))
    return f"{what} (SGP4 error {int(code)}: {detail})"


def utc_text(unix_s: float) -> str:
    """``2026-05-17 23:10 UTC`` (minutes are enough to locate a day's passes)."""
    return datetime.fromtimestamp(unix_s, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def sgp4_errors(satrec: Satrec, unix_s: np.ndarray) -> np.ndarray:
    """SGP4 error codes only (no frame rotation): 0 where propagation is fine."""
    unix_s = np.asarray(unix_s, dtype=float)
    days = np.floor(unix_s / 86400.0)
    err, _, _ = satrec.sgp4_array(2440587.5 + days, (unix_s - days * 86400.0) / 86400.0)
    return err


@dataclass(frozen=True)
class ValidSpan:
    """The interval (lo_s, hi_s) around an epoch free of SGP4 flags (open at the ends).

    ``lo_code`` / ``hi_code`` are the error codes that end it (0: not ended within the
    scanned range, and the bound is infinite).
    """

    lo_s: float = -math.inf
    hi_s: float = math.inf
    lo_code: int = 0
    hi_code: int = 0

    def contains(self, unix_s: np.ndarray) -> np.ndarray:
        return (np.asarray(unix_s) > self.lo_s) & (np.asarray(unix_s) < self.hi_s)


def _first_flag(satrec: Satrec, epoch_s: float, limit_s: float,
                step_s: float) -> tuple[float, int]:
    """First flagged instant from the epoch towards ``limit_s`` (to the second), or inf."""
    sign = 1.0 if limit_s >= epoch_s else -1.0
    span = abs(limit_s - epoch_s)
    t = epoch_s + sign * np.append(np.arange(0.0, span, step_s), span)
    err = sgp4_errors(satrec, t)
    bad = np.flatnonzero(err)
    if bad.size == 0:
        return sign * math.inf, 0
    i = int(bad[0])
    # Refine within the step before it, a second at a time.
    fine = t[max(i - 1, 0)] + sign * np.arange(0.0, step_s + 1.0, 1.0)
    fine = np.append(fine[(fine - t[i]) * sign < 0], t[i])
    err_fine = sgp4_errors(satrec, fine)
    j = int(np.flatnonzero(err_fine)[0])  # the last one, t[i], is flagged
    return float(fine[j]), int(err_fine[j])


def valid_span(es: ElementSet, start_s: float, end_s: float,
               step_s: float = SCAN_STEP_S) -> ValidSpan:
    """The flag-free interval around ``es``'s epoch, scanned out to [start_s, end_s]."""
    epoch = es.epoch.timestamp()
    lo, lo_code, hi, hi_code = -math.inf, 0, math.inf, 0
    if start_s < epoch:
        lo, lo_code = _first_flag(es.satrec, epoch, start_s, step_s)
    if end_s > epoch:
        hi, hi_code = _first_flag(es.satrec, epoch, end_s, step_s)
    return ValidSpan(lo, hi, lo_code, hi_code)


def satellite_spans(satellite: Satellite, start_s: float, end_s: float,
                    pad_s: float = 3600.0) -> list[ValidSpan]:
    """:func:`valid_span` of every element set, over the part of the window it serves.

    An element set serves the times nearest its epoch (between the midpoints to its
    neighbours); the scan reaches ``pad_s`` beyond, for refinements near a boundary.
    Sets that serve no part of the window get an unbounded span (never used).
    """
    epochs = satellite.epochs_unix_s
    mids = 0.5 * (epochs[1:] + epochs[:-1])
    lows = np.r_[-np.inf, mids]
    highs = np.r_[mids, np.inf]
    spans = []
    for es, a, b in zip(satellite.element_sets, lows, highs):
        a, b = max(a, start_s) - pad_s, min(b, end_s) + pad_s
        spans.append(valid_span(es, a, b) if a <= b else ValidSpan())
    return spans


def check_start(satellite: Satellite, start_s: float, end_s: float) -> None:
    """Refuse a catalogue satellite's mission that starts long before its first epoch.

    Raises :class:`satqkd.errors.InputError` (one line: satellite, dates, reason).
    Satellites by orbital elements (a design) may be propagated before their epoch.
    """
    from satqkd.errors import InputError

    first = satellite.element_sets[0]
    if first.design:
        return
    ahead_days = (first.epoch.timestamp() - start_s) / 86400.0
    if ahead_days > PRE_EPOCH_MARGIN_DAYS:
        raise InputError(
            f"{satellite.name}: the mission starts {utc_text(start_s)}, {ahead_days:.0f} days "
            f"before its first element set (epoch {utc_text(first.epoch.timestamp())}, "
            f"{first.source}); the satellite may not have been in orbit then (allowed: at "
            f"most {PRE_EPOCH_MARGIN_DAYS:g} days before the first epoch; add an earlier "
            f"element set or start later)"
        )


__all__ = ["PRE_EPOCH_MARGIN_DAYS", "SCAN_STEP_S", "ValidSpan", "check_start",
           "satellite_spans", "sgp4_errors", "sgp4_reason", "utc_text", "valid_span"]
