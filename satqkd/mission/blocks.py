"""Finite-key blocks of a decoy-BB84 mission: which passes pool, and closing them.

``[keys] block`` (Sidhu et al., "Finite key effects in satellite quantum key
distribution", npj Quantum Inf. 8, 18 (2022), who pool the passes of a link to beat the
finite-size terms):

* ``"pass"``: every pass is its own block (the keys stage ran completely in the pass);
* ``"day"``: the passes of one satellite-station link that end on the same UTC day;
* ``"mission"``: every pass of the link;
* an integer N: N consecutive passes of the link that ran QKD.

Only passes that ran the protocol join a block (``daylight``, ``overcast`` and
``too_short`` passes keep their reason and ``block_id = -1``).  In a pooled block each
pass was reconciled and verified on its own (:func:`satqkd.keys.postprocess.reconcile_sifted`);
here the statistics are summed, Lim et al.'s bound is evaluated once and one Toeplitz hash
runs over the concatenated keys (:func:`satqkd.keys.postprocess.finish_block`).  The key
exists when the block's last pass ends: it is reported on that pass (``secret_bits``,
``eps_sec``, ``eps_cor``, the bounds), and the other passes of the block report 0 with
``abort_reason = "pooled"``, so that the ``secret_bits`` column still sums to the key.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from satqkd import config
from satqkd.keys.finite_key import (ABORT_DAYLIGHT, ABORT_OVERCAST, ABORT_POOLED, ABORT_SUNLIT,
                                    ABORT_TOO_SHORT)
from satqkd.keys.counts_keys import ReconciledCounts, finish_counts_block
from satqkd.keys.eve import EveRecord, honest_knowledge
from satqkd.keys.postprocess import ReconciledPass, finish_block, write_keys
from satqkd.keys.sifting import DecoyCounts
from satqkd.mission import parameters, store
from satqkd.mission.io import atomic_path
from satqkd.mission.links import link_for
from satqkd.mission.seeds import aos_seconds, pass_seed

#: Passes in which no QKD ran: they belong to no block.
NO_QKD = (ABORT_DAYLIGHT, ABORT_OVERCAST, ABORT_SUNLIT, ABORT_TOO_SHORT)
RECONCILED_SUFFIX = ".rkey"


# --------------------------------------------------------------------------- pass side
def pooled_scalars(part: ReconciledPass) -> dict:
    """A pooled pass's scalars before its block closes (no key of its own)."""
    out = {
        "sifted_bits": part.sifted_bits, "qber_z": part.qber_z, "qber_x": part.counts.qber_x,
        "qber_z_true": (float(part.counts.m_z_true.sum() / part.sifted_bits)
                        if part.sifted_bits else float("nan")),
        "secret_bits": 0, "ec_leaked_bits": part.leaked_bits, "ec_reply_bits": part.reply_bits,
        "verification_tag_bits": 0, "leaked_bits": part.leaked_bits + part.reply_bits,
        "ec_efficiency": part.ec_efficiency, "abort_reason": ABORT_POOLED,
        "asymptotic_secret_bits": float("nan"), "eps_sec": 0.0, "eps_cor": 0.0,
        "vacuum_credited": False, "reconciliation_disclosed": bool(part.disclosed),
        "reconciliation_verified": bool(part.verified),
    }
    for name in ("n_z", "n_x", "m_x"):
        for k, v in enumerate(getattr(part.counts, name)):
            out[f"{name}_{k}"] = int(v)
    for name in ("s_z0", "s_z1", "s_x1", "v_x1", "phi_z"):
        out[name] = float("nan")
    return out


def pooled_eve_scalars(attacked: bool, secret_bits: int) -> dict:
    """Eve's columns for a pass of a pooled block before it closes: it claims no key of its
    own (her knowledge of the block's key is reported on the closing pass)."""
    if not attacked:
        return honest_knowledge(secret_bits).scalars()
    return {"eve_known_bits": 0, "eve_information_bits": 0.0,
            "eve_key_agreement": float("nan"), "eve_knowledge_method": "pooled",
            "security": "aborted"}


def encode_reconciled(part: ReconciledPass | ReconciledCounts) -> bytes:
    """The pass's reconciled keys and statistics as bytes (packed bits, npz); at the counts
    level the statistics alone."""
    buf = io.BytesIO()
    c = part.counts
    keys = ({} if isinstance(part, ReconciledCounts)
            else {"alice": np.packbits(part.alice), "bob": np.packbits(part.bob)})
    np.savez(buf, **keys, bits=np.int64(part.sifted_bits),
             counts=np.stack([c.n_z, c.n_x, c.m_x, c.m_z_true]).astype(np.int64),
             ints=np.array([part.leaked_bits, part.reply_bits, part.verified, part.disclosed],
                           np.int64),
             floats=np.array([part.qber_z, part.ec_efficiency,
                              np.nan if part.single_photon_trials is None
                              else part.single_photon_trials]),
             **(part.eve.to_arrays() if part.eve is not None else {}))
    return buf.getvalue()


def decode_reconciled(data: bytes) -> ReconciledPass | ReconciledCounts:
    z = np.load(io.BytesIO(data))
    n = int(z["bits"])
    c = z["counts"]
    lam_a, lam_b, verified, disclosed = (int(v) for v in z["ints"])
    qz, eff, trials = (float(v) for v in z["floats"])
    if "alice" not in z:  # counts level: no key bits
        return ReconciledCounts(DecoyCounts(c[0], c[1], c[2], c[3]), n, lam_a, lam_b,
                                bool(verified), bool(disclosed), qz, eff,
                                None if np.isnan(trials) else trials)
    return ReconciledPass(DecoyCounts(c[0], c[1], c[2], c[3]),
                          np.unpackbits(z["alice"])[:n], np.unpackbits(z["bob"])[:n],
                          lam_a, lam_b, bool(verified), bool(disclosed), qz, eff,
                          None if np.isnan(trials) else trials,
                          EveRecord.from_arrays(z) if "eve_codes" in z else None)


def reconciled_path(out_dir: Path, pass_id: str) -> Path:
    from satqkd.paths import child

    return child(Path(out_dir) / store.CHECKPOINT_DIR, f"{pass_id}{RECONCILED_SUFFIX}")


def write_reconciled(out_dir: Path, pass_id: str, data: bytes) -> None:
    path = reconciled_path(out_dir, pass_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


# --------------------------------------------------------------------------- blocks
def assign_blocks(rows: Sequence[dict], block: str | int) -> list[list[int]]:
    """Group pass rows (``satellite``, ``station``, ``los``, ``abort_reason``; in mission
    order) into finite-key blocks: lists of row indices, each in time order."""
    links: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        if r.get("abort_reason") in NO_QKD:
            continue
        links.setdefault((str(r["satellite"]), str(r["station"])), []).append(i)
    groups: list[list[int]] = []
    for members in links.values():
        members.sort(key=lambda i: str(rows[i]["los"]))
        if block == "pass":
            groups.extend([i] for i in members)
        elif block == "mission":
            groups.append(members)
        elif block == "day":
            by_day: dict[str, list[int]] = {}
            for i in members:
                by_day.setdefault(str(rows[i]["los"])[:10], []).append(i)
            groups.extend(by_day.values())
        else:
            n = int(block)
            groups.extend(members[k:k + n] for k in range(0, len(members), n))
    groups.sort(key=lambda g: (str(rows[g[-1]]["los"]), g[-1]))
    return groups


def _block_rng(cfg: config.MissionConfig, first: dict) -> np.random.Generator:
    """The block's public randomness: a fourth child of its first pass's seed (the pass
    itself uses the first three), so a block is reproducible and worker-independent."""
    seed = pass_seed(cfg.mission.seed, first["norad_id"], str(first["station"]),
                     aos_seconds(str(first["aos"])))
    return np.random.default_rng(seed.spawn(4)[3])


def close_blocks(out_dir: Path, cfg: config.MissionConfig, pass_ids: Sequence[str], *,
                 save_keys: bool = False, link=None) -> dict[str, dict]:
    """Every pass's ``block_id``; in pooled mode, also each block's key on its closing pass.

    ``link`` (a :class:`satqkd.mission.links.Link`; default: the mission's) says which
    end's source and detectors the block's bounds use. Returns overrides of the passes'
    scalars for :func:`satqkd.mission.store.merge_checkpoints`.
    """
    link = link if link is not None else link_for(cfg)
    out_dir = Path(out_dir)
    rows = store.read_checkpoints(out_dir, pass_ids)
    groups = assign_blocks(rows, cfg.keys.block)
    overrides: dict[str, dict] = {pid: {"block_id": -1} for pid in pass_ids}
    pooled = cfg.keys.block != "pass"
    station_cfg = {s.name: s for s in cfg.stations}
    sat_cfg = {s.name: s for s in cfg.satellites}
    for b, group in enumerate(groups):
        for i in group:
            overrides[pass_ids[i]]["block_id"] = b
        if not pooled:
            continue
        first, last = rows[group[0]], rows[group[-1]]
        sat = sat_cfg.get(str(last["satellite"]), cfg.satellites[0])
        station = station_cfg[str(last["station"])]
        ends = link.ends(sat, station)
        source = parameters.decoy_source(sat, ends)
        kp = parameters.key_parameters(cfg, station, sat, ends)
        parts = [decode_reconciled(reconciled_path(out_dir, pass_ids[i]).read_bytes())
                 for i in group]
        if cfg.mission.fidelity == "counts":  # the same bound, no key (counts_keys)
            keys = finish_counts_block(parts, source.intensities, source.probabilities, kp)
        else:
            keys = finish_block(parts, source.intensities, source.probabilities, kp,
                                _block_rng(cfg, first))
        closing = pass_ids[group[-1]]
        s = keys.scalars()
        overrides[closing].update({
            k: s[k] for k in ("secret_bits", "abort_reason", "eps_sec", "eps_cor",
                              "vacuum_credited", "s_z0", "s_z1", "s_x1", "v_x1", "phi_z")})
        overrides[closing].update(  # Eve's knowledge of the block's key (keys.eve)
            {k: s[k] for k in ("eve_known_bits", "eve_information_bits", "eve_key_agreement",
                               "eve_knowledge_method", "security")})
        overrides[closing].update(block_passes=len(group), block_sifted_bits=keys.sifted_bits,
                                  block_leaked_bits=keys.leaked_bits,
                                  block_qber_x=keys.qber_x)
        if save_keys and keys.secret_bits > 0:
            write_keys(out_dir / "keys", closing, keys.alice_key, keys.bob_key,
                       keys.secret_bits)
    return overrides


def security_totals(table: pd.DataFrame, cfg: config.MissionConfig) -> dict:
    """The mission's composed failure probabilities: the sum over every run of the
    protocol (each pass, or each pooled block) of its eps_sec and eps_cor.  Composable
    security (Ben-Or et al., TCC 2005; Portmann & Renner, Rev. Mod. Phys. 94, 025008
    (2022)) bounds the distance of all the mission's keys from ideal ones by this sum."""
    def total(col: str) -> float:
        return float(pd.to_numeric(table[col], errors="coerce").fillna(0).sum()) \
            if col in table else 0.0

    with_key = int((pd.to_numeric(table.get("secret_bits", 0), errors="coerce") > 0).sum()) \
        if len(table) else 0
    runs = int((pd.to_numeric(table["eps_sec"], errors="coerce") > 0).sum()) \
        if "eps_sec" in table else 0
    return {
        "finite_key_block": str(cfg.keys.block),
        "error_correction": cfg.keys.error_correction,
        "eps_sec_per_run": cfg.keys.eps_sec, "eps_cor_per_run": cfg.keys.eps_cor,
        "runs": runs, "keys": with_key,
        "eps_sec_total": total("eps_sec"), "eps_cor_total": total("eps_cor"),
        "eps_total": total("eps_sec") + total("eps_cor"),
    }


__all__ = ["assign_blocks", "close_blocks", "security_totals", "pooled_scalars",
           "encode_reconciled", "decode_reconciled", "write_reconciled"]
