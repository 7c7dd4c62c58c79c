"""satqkd.engine stage: photon-level, event-driven decoy-state BB84 engine.

Public API: :func:`simulate_decoy_bb84` -> :class:`EngineResult`; parameters
:class:`DecoySource`, :class:`Receiver`, :class:`Eavesdropper`; analytic expectations in
:mod:`satqkd.engine.analytic`; the naive per-pulse reference kernel in
:mod:`satqkd.engine.reference`.
"""

from .decoy import EngineResult, simulate_decoy_bb84
from .events import BASIS_X, BASIS_Z, EVENT_DTYPE, PHOTON_NUMBER_UNKNOWN, empty_events
from .pairs import (
    PairEavesdropper,
    PairReceiver,
    PairResult,
    PairSource,
    bbm92_receiver,
    chsh,
    chsh_receivers,
    dual_downlink_pass,
    e91_receivers,
    expected_rates,
    single_downlink_pass,
)
from .params import DecoySource, Eavesdropper, Receiver, channel_transmittance

__all__ = [
    "BASIS_X",
    "BASIS_Z",
    "EVENT_DTYPE",
    "PHOTON_NUMBER_UNKNOWN",
    "DecoySource",
    "Eavesdropper",
    "EngineResult",
    "Receiver",
    "channel_transmittance",
    "empty_events",
    "simulate_decoy_bb84",
    "PairEavesdropper",
    "PairReceiver",
    "PairResult",
    "PairSource",
    "bbm92_receiver",
    "chsh",
    "chsh_receivers",
    "dual_downlink_pass",
    "e91_receivers",
    "expected_rates",
    "single_downlink_pass",
]
