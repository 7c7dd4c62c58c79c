"""Which fidelity a mission runs at, and what the counts level refuses.

``[mission] fidelity``:

* ``"bits"`` (default): the photon-level engine draws every detection event; sifting,
  Cascade (or LDPC), verification and Toeplitz privacy amplification run on the bits.
  Keys exist (``[keys] write_keys``, ``satqkd relay``, a key server).
* ``"counts"``: every slot's tallies are drawn from the engine's exact law
  (:mod:`satqkd.engine.counts`); the finite key comes from the counts with the code's
  measured leakage curve (:mod:`satqkd.keys.counts_keys`). No bits and no keys: what
  needs keys refuses (:func:`require_keys`).

The counts level is exact in distribution for every count the keys stage uses only where
the engine's slots are multinomials of independent pulses, so it refuses dead time,
afterpulsing and eavesdroppers (:func:`satqkd.engine.counts.counts_level_refusal`), and
the entangled protocols, which it does not model.
"""

from __future__ import annotations

from typing import Any

from satqkd.errors import InputError

FIDELITIES = ("bits", "counts")


def counts_refusal(cfg: Any) -> str | None:
    """Why a mission cannot run at ``fidelity = "counts"`` (one line), or None."""
    fix = '; use [mission] fidelity = "bits"'
    if cfg.mission.protocol != "decoy-bb84":
        return (f"mission.fidelity: counts is decoy-BB84 only (protocol = "
                f"{cfg.mission.protocol!r})" + fix)
    # the receiving detectors: the stations' on a downlink, the satellites' on an uplink
    receivers = (("satellites", cfg.satellites) if cfg.mission.direction == "uplink"
                 else ("stations", cfg.stations))
    for i, end in enumerate(receivers[1]):
        det = end.detector
        if det.dead_time_ns > 0:
            return (f"{receivers[0]}[{i}].detector.dead_time_ns: the counts level cannot model "
                    "dead time (it couples consecutive pulses, so a slot is no multinomial)" + fix)
        if det.afterpulse_probability > 0:
            return (f"{receivers[0]}[{i}].detector.afterpulse_probability: the counts level "
                    "cannot model afterpulsing (it couples consecutive pulses)" + fix)
    if cfg.eavesdropper.kind != "none":
        return (f"eavesdropper.kind: {cfg.eavesdropper.kind!r} needs the events (Eve's "
                "knowledge of each bit); the counts level models the honest channel" + fix)
    if cfg.keys.write_keys:
        return ("keys.write_keys: the counts level computes key lengths and holds no keys"
                + fix)
    return None


def require_keys(cfg: Any, what: str) -> None:
    """Refuse, with one line, a command that needs key material at the counts level."""
    if cfg.mission.fidelity == "counts":
        raise InputError(f"{what} needs keys, and mission {cfg.mission.name!r} runs at "
                         'fidelity = "counts" (key lengths only, no keys); set [mission] '
                         'fidelity = "bits"')


__all__ = ["FIDELITIES", "counts_refusal", "require_keys", "counts_level_pass"]


def counts_level_pass(eta, noise, slot_s: float, source, receiver, key_params,
                      seed, pooled: bool = False) -> tuple:
    """Engine and keys stages of one pass at the counts level.

    ``seed``: the pass's engine SeedSequence (the one the bits level spawns its stretches
    from). Returns ``(counts, double_clicks, scalars, part)`` with the engine's per-slot
    layout and the keys stage's per-pass scalars
    (:meth:`satqkd.keys.postprocess.PassKeys.scalars`); ``part`` is None, or with
    ``pooled`` the pass's :class:`satqkd.keys.counts_keys.ReconciledCounts` (its scalars
    then those of a pass waiting for its block, :func:`satqkd.mission.blocks.pooled_scalars`).
    """
    import numpy as np

    from satqkd.engine.counts import simulate_counts
    from satqkd.keys.counts_keys import keys_from_counts, reconcile_counts

    r = simulate_counts(eta, noise, slot_s, source, receiver, np.random.default_rng(seed))
    args = (r.counts, source.intensities, source.probabilities, source.p_z, key_params)
    if pooled:
        from satqkd.mission.blocks import pooled_eve_scalars, pooled_scalars

        part = reconcile_counts(*args, pulses_sent=int(r.n_pulses.sum()))
        return (r.counts, r.double_clicks,
                {**pooled_scalars(part), **pooled_eve_scalars(False, 0)}, part)
    keys = keys_from_counts(*args, pulses_sent=int(r.n_pulses.sum()))
    return r.counts, r.double_clicks, keys.scalars(), None
