"""Trusted-relay ledger on real key bits (satqkd.network.ledger)."""

from __future__ import annotations

import numpy as np
import pytest

from satqkd.network.ledger import PassKey, RelayLedger, extract_bits, recover_partner_key


def _key(rng, pid, sat, st, t, n):
    bits = rng.integers(0, 2, n, dtype=np.uint8)
    return PassKey(pid, sat, st, t, t + 300.0, np.packbits(bits), n), bits


def _station_copy(k: PassKey) -> PassKey:
    """The ground station's own copy of the pass key (same bits, separate memory)."""
    return PassKey(k.pass_id, k.satellite, k.station, k.aos_s, k.los_s, k.key.copy(), k.n_bits)


def test_xor_relay_gives_identical_keys():
    rng = np.random.default_rng(20180119)
    ka, _ = _key(rng, "xinglong-1", "MICIUS", "Xinglong", 0.0, 10_003)
    kb, bits_b = _key(rng, "graz-1", "MICIUS", "Graz", 3600.0, 7_777)
    led = RelayLedger()
    led.deposit(ka)
    led.deposit(kb)
    rec = led.relay("MICIUS", "Xinglong", "Graz", time_s=4000.0)
    assert rec.n_bits == min(10_003, 7_777)
    # Xinglong holds its own K_A; with the public K_A xor K_B it recovers K_B
    at_a = recover_partner_key({"xinglong-1": _station_copy(ka)}, rec.ranges_a, rec.published, rec.n_bits)
    at_b = extract_bits({"graz-1": _station_copy(kb)}, rec.ranges_b)
    assert np.array_equal(at_a, at_b)
    assert np.array_equal(at_b, bits_b[: rec.n_bits])
    # the public message is not the key (equal by chance with probability 2^-7777)
    assert not np.array_equal(np.unpackbits(rec.published)[: rec.n_bits], at_b)
    led.check()
    assert led.stock_bits("MICIUS", "Xinglong") == 10_003 - 7_777
    assert led.stock_bits("MICIUS", "Graz") == 0


def test_partial_relays_use_disjoint_bits():
    rng = np.random.default_rng(7)
    led = RelayLedger()
    keys = {}
    for i, (st, n) in enumerate([("A", 5000), ("B", 1234), ("A", 333), ("B", 4321), ("C", 2500)]):
        k, _ = _key(rng, f"p{i}", "S", st, 100.0 * i, n)
        keys[k.pass_id] = k
        led.deposit(k)
    r1 = led.relay("S", "A", "B", 1000, time_s=1000.0)
    r2 = led.relay("S", "A", "C", 2000, time_s=1001.0)
    r3 = led.relay("S", "B", "A", None, time_s=1002.0)
    led.check()
    for rec in (r1, r2, r3):
        mine = {k: _station_copy(v) for k, v in keys.items()}
        assert np.array_equal(
            recover_partner_key(mine, rec.ranges_a, rec.published, rec.n_bits), extract_bits(mine, rec.ranges_b)
        )
    # oldest first: the first relay took the first 1000 bits of A's first pass
    assert r1.ranges_a[0].pass_id == "p0" and r1.ranges_a[0].start == 0 and r1.ranges_a[0].stop == 1000
    # A had 5333 bits: 1000 + 2000 used, B's 5555 - 1000 left; the third relay takes min
    assert r3.n_bits == min(5555 - 1000, 5333 - 3000)


@pytest.mark.parametrize("overflow", ["drop_oldest", "drop_newest"])
def test_random_operations_conserve_key(overflow):
    rng = np.random.default_rng(123)
    cap = {"S1": 20_000, "S2": 12_000}
    led = RelayLedger(cap, overflow=overflow)
    stations = ["A", "B", "C"]
    generated = 0
    t = 0.0
    for i in range(120):
        t += 100.0
        sat = str(rng.choice(["S1", "S2"]))
        op = rng.integers(0, 3)
        if op == 0:
            n = int(rng.integers(0, 9000))
            k, _ = _key(rng, f"p{i}", sat, str(rng.choice(stations)), t, n)
            led.deposit(k, time_s=t + 300.0)
            generated += n
        elif op == 1:
            a, b = rng.choice(stations, 2, replace=False)
            before = (led.stock_bits(sat, str(a)), led.stock_bits(sat, str(b)))
            rec = led.relay(sat, str(a), str(b), int(rng.integers(1, 6000)), time_s=t)
            assert rec.n_bits <= min(before)
        else:
            led.discard(sat, str(rng.choice(stations)), int(rng.integers(0, 3000)), t)
        led.check()  # disjoint in-range use, stock + used == generated, storage bound
        for s in cap:
            assert 0 <= led.stored_bits(s) <= cap[s]
    assert all(e.stock_bits >= 0 for e in led.events)
    assert led.generated_bits == generated
    # a relayed bit uses one stored bit at each station: never more relayed than generated
    stock = sum(led.stock_bits(s, st) for s in cap for st in stations)
    assert 2 * led.relayed_bits + led.discarded_bits + stock == generated
    # every relay's published string recovers the partner key from the station's copy
    keys = led.keys
    for rec in led.records:
        assert np.array_equal(
            recover_partner_key(keys, rec.ranges_a, rec.published, rec.n_bits), extract_bits(keys, rec.ranges_b)
        )


def test_overflow_policies():
    rng = np.random.default_rng(1)
    k1, _ = _key(rng, "old", "S", "A", 0.0, 6000)
    k2, _ = _key(rng, "new", "S", "B", 1000.0, 6000)
    led = RelayLedger(10_000, overflow="drop_oldest")
    led.deposit(k1)
    dropped = led.deposit(k2)
    assert [(r.pass_id, r.start, r.stop) for r in dropped] == [("old", 0, 2000)]
    assert led.stock_bits("S", "A") == 4000 and led.stock_bits("S", "B") == 6000
    led.check()
    led = RelayLedger(10_000, overflow="drop_newest")
    led.deposit(k1)
    dropped = led.deposit(k2)
    assert [(r.pass_id, r.start, r.stop) for r in dropped] == [("new", 4000, 6000)]
    assert led.stock_bits("S", "A") == 6000 and led.stock_bits("S", "B") == 4000
    led.check()


def test_satellites_hold_separate_stocks():
    rng = np.random.default_rng(2)
    led = RelayLedger()
    led.deposit(_key(rng, "a1", "S1", "A", 0.0, 1000)[0])
    led.deposit(_key(rng, "b2", "S2", "B", 10.0, 1000)[0])
    # no inter-satellite link: neither satellite holds keys with both stations
    assert led.relay("S1", "A", "B").n_bits == 0
    assert led.relay("S2", "A", "B").n_bits == 0
    led.deposit(_key(rng, "b1", "S1", "B", 20.0, 400)[0])
    assert led.relay("S1", "A", "B").n_bits == 400
    assert led.stock_bits("S2", "B") == 1000
    led.check()


def test_deposit_twice_rejected():
    rng = np.random.default_rng(3)
    k, _ = _key(rng, "p", "S", "A", 0.0, 10)
    led = RelayLedger()
    led.deposit(k)
    with pytest.raises(ValueError):
        led.deposit(k)
