"""Relay keys written for `satqkd serve`: each end's copy, from its own pass keys."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from satqkd.keys.postprocess import read_key_index, read_keys
from satqkd.network.execution import Delivery
from satqkd.network.ledger import PassKey, RelayLedger
from satqkd.network.relay_keys import write_relay_keys
from satqkd.serve.catalog import load_catalog
from satqkd.serve.store import KeyStore
from satqkd.serve.synthetic import write_synthetic_output

T0 = 1_577_836_800.0


def test_relay_keys_are_k_b_at_both_ends_and_served_between_the_endpoints(tmp_path):
    out = write_synthetic_output(tmp_path / "out", [
        ("SAT", "Graz", T0 + 100, T0 + 400, 3000),
        ("SAT", "Xinglong", T0 + 5000, T0 + 5300, 2000),
        ("SAT", "Xinglong", T0 + 9000, T0 + 9300, 1500),
    ], T0, T0 + 86400)
    ledger = RelayLedger()
    for s in load_catalog(out).sources:  # the satellite's copies, deposited at LOS
        alice, _ = read_keys(out / "keys", s.source_id)
        ledger.deposit(PassKey(s.source_id, s.sae_a, s.sae_b, s.available_s - 300,
                               s.available_s, np.packbits(alice), s.bits))
    first = ledger.relay("SAT", "Graz", "Xinglong", 2500, time_s=T0 + 9400, label="Vienna-Beijing")
    second = ledger.relay("SAT", "Graz", "Xinglong", 400, time_s=T0 + 9500, label="Vienna-Beijing")
    assert first.n_bits == 2500 and second.n_bits == 400  # the first spans both Xinglong keys
    demand = SimpleNamespace(a="Vienna", b="Beijing", label="Vienna-Beijing")
    execution = SimpleNamespace(
        ledger=ledger, relay_records=(first, second),
        problem=SimpleNamespace(demands=[demand]),
        deliveries=(Delivery(0, T0 + 9400, T0 + 9460, 2500, "relay", "SAT", ()),
                    Delivery(0, T0 + 9450, 2.0, 100, "entanglement", "SAT", ("w",)),
                    Delivery(0, T0 + 9500, math.inf, 400, "relay", "SAT", ())))
    directory = write_relay_keys(out, execution)
    rows = read_key_index(directory)
    assert [r["bits"] for r in rows] == [2500]  # the second never reaches the city: not written
    end_a, end_b = read_keys(directory, rows[0]["pass_id"])
    # B's copy is K_B, its own key bits; A recovered the same bits from K_A xor P
    xing = [read_keys(out / "keys", r.pass_id)[1][r.start:r.stop] for r in first.ranges_b]
    assert np.array_equal(end_b, np.concatenate(xing))
    assert np.array_equal(end_a, end_b)

    cat = load_catalog(out)
    # the pass keys' bits used by the relays are not served again as pass keys
    segments = {(s.name, s.start_bit, s.stop_bit) for s in cat.sources if s.kind == "pass"}
    graz, _, xing2 = sorted((r["pass_id"] for r in read_key_index(out / "keys")),
                            key=lambda n: n.split("_")[2])  # in time order
    # Graz: 2500 + 400 bits relayed, the rest from the next byte; the first Xinglong key
    # is used up, the second one's first 500 + 400 bits too
    assert segments == {(graz, 2904, 3000), (xing2, 904, 1500)}
    relay = [s for s in cat.sources if s.kind == "relay"]
    assert [(s.sae_a, s.sae_b, s.available_s, s.bits) for s in relay] == \
        [("Vienna", "Beijing", T0 + 9460, 2500)]
    assert set(cat.saes) == {"SAT", "Graz", "Xinglong", "Vienna", "Beijing"}
    store = KeyStore(tmp_path / "ks.sqlite", cat)
    keys, job = store.reserve("Beijing", "Vienna", 2, 1248, math.inf)
    store.commit_sync(job)
    got, job = store.redeem("Vienna", "Beijing", [k.key_id for k in keys])
    store.commit_sync(job)
    for k, g in zip(keys, got):
        assert store.key_bits(k, "Beijing") == store.key_bits(g, "Vienna")
        assert store.key_bits(k, "Beijing") == np.packbits(end_b)[k.start_bit // 8:
                                                                  (k.start_bit + 1248) // 8].tobytes()
    store.close()


def test_entangled_deliveries_are_written_and_served_from_the_window_keys(tmp_path):
    """The trust-free path: each delivery is the next bits of its window's key, end A's
    copy from the window station that reaches A (here the window's second station)."""
    from satqkd.network.model import EntanglementWindow

    out = write_synthetic_output(tmp_path / "out", [("SAT", "Graz", T0 + 100, T0 + 400, 64)],
                                 T0, T0 + 86400)
    rng = np.random.default_rng(7)
    key_graz = rng.integers(0, 2, 3000, dtype=np.uint8)
    key_xing = key_graz.copy()  # the window's keys agree (verified in the simulation)
    window = EntanglementWindow("w1", "SAT", "Xinglong", "Graz", T0 + 1000, T0 + 1200, 3000.0)
    stations = {"Vienna": "Graz", "Beijing": "Xinglong"}
    demand = SimpleNamespace(a="Vienna", b="Beijing", label="Vienna-Beijing")
    execution = SimpleNamespace(
        ledger=RelayLedger(), relay_records=(),
        problem=SimpleNamespace(demands=[demand], windows=(window,),
                                endpoint_station=stations.__getitem__),
        deliveries=(Delivery(0, T0 + 1200, T0 + 1260, 1000, "entanglement", "SAT", ("w1",)),
                    Delivery(0, T0 + 1200, math.inf, 500, "entanglement", "SAT", ("w1",)),
                    Delivery(0, T0 + 1200, T0 + 1300, 1200, "entanglement", "SAT", ("w1",))))
    directory = write_relay_keys(out, execution,
                                 {"w1": (np.packbits(key_xing), np.packbits(key_graz))})
    rows = read_key_index(directory)
    assert [r["bits"] for r in rows] == [1000, 1200]  # the one that never arrives: not written
    a0, b0 = read_keys(directory, rows[0]["pass_id"])
    a1, b1 = read_keys(directory, rows[1]["pass_id"])
    assert np.array_equal(a0, key_graz[:1000]) and np.array_equal(b0, key_xing[:1000])
    assert np.array_equal(a1, key_graz[1500:2700]) and np.array_equal(b1, key_xing[1500:2700])
    cat = load_catalog(out)
    ent = [s for s in cat.sources if s.kind == "relay"]
    assert [(s.sae_a, s.sae_b, s.available_s, s.bits) for s in ent] == \
        [("Vienna", "Beijing", T0 + 1260, 1000), ("Vienna", "Beijing", T0 + 1300, 1200)]
    sessions = (directory / "sessions.csv").read_text().splitlines()
    assert sessions[0].startswith("relay_id,path,") and all(",entanglement," in r
                                                            for r in sessions[1:])


def test_a_ledger_on_unpacked_keys_is_caught(tmp_path):
    import pytest

    out = write_synthetic_output(tmp_path / "out", [
        ("SAT", "Graz", T0 + 100, T0 + 400, 512), ("SAT", "Matera", T0 + 900, T0 + 1000, 512),
    ], T0, T0 + 86400)
    ledger = RelayLedger()
    for s in load_catalog(out).sources:
        alice, _ = read_keys(out / "keys", s.source_id)  # unpacked: the relay_run bug fixed
        ledger.deposit(PassKey(s.source_id, "SAT", s.sae_b, s.available_s - 300, s.available_s,
                               alice, s.bits))
    rec = ledger.relay("SAT", "Graz", "Matera", 512, time_s=T0 + 1000)
    execution = SimpleNamespace(
        ledger=ledger, relay_records=(rec,),
        problem=SimpleNamespace(demands=[SimpleNamespace(a="Graz", b="Matera", label="")]),
        deliveries=(Delivery(0, T0 + 1000, T0 + 1000, 512, "relay", "SAT", ()),))
    with pytest.raises(ValueError, match="copies differ"):
        write_relay_keys(out, execution)
