"""The detection-event record shared by the photon-level engines and the keys stage.

One record per pulse that made Bob's apparatus click (any detector). Timestamps are
real: ``pulse_index / rate_hz`` is the emission time from the start of the pass.
"""

import numpy as np

#: Basis codes used throughout the engine and the keys stage.
BASIS_Z = 0
BASIS_X = 1

#: Photon number not recorded (the engine was not asked for it).
PHOTON_NUMBER_UNKNOWN = -1

EVENT_DTYPE = np.dtype(
    [
        ("pulse_index", np.int64),  # pulse counter since the start of the pass
        ("slot", np.int32),  # index of the channel slot (1 s or finer) it fell in
        ("intensity", np.int8),  # index into the source's intensity list
        ("alice_basis", np.int8),  # BASIS_Z or BASIS_X
        ("alice_bit", np.int8),
        ("bob_basis", np.int8),  # Bob's (passive) measurement basis
        ("bob_bit", np.int8),  # after squashing: double clicks get a random bit
        ("double_click", np.bool_),  # both detectors of Bob's basis fired
        ("photon_number", np.int16),  # emitted photon number, or PHOTON_NUMBER_UNKNOWN
    ]
)


def empty_events(n: int = 0) -> np.ndarray:
    """Return a zero-filled event array of length ``n`` with :data:`EVENT_DTYPE`."""
    return np.zeros(n, dtype=EVENT_DTYPE)
