"""The key store, catalog and clock of `satqkd serve`, without a server (fast)."""

from __future__ import annotations

import asyncio
import math
import sqlite3

import numpy as np
import pytest

from satqkd.errors import InputError
from satqkd.keys.postprocess import read_keys
from satqkd.serve.catalog import load_catalog
from satqkd.serve.clock import MissionClock
from satqkd.serve.store import KeyStore, NotEnoughKey, StoreError
from satqkd.serve.synthetic import write_synthetic_output

T0 = 1_577_836_800.0  # 2020-01-01T00:00:00Z


@pytest.fixture
def outdir(tmp_path):
    return write_synthetic_output(tmp_path / "out", [
        ("SAT", "Graz", T0 + 100, T0 + 400, 4096),
        ("SAT", "Matera", T0 + 1000, T0 + 1300, 2000),
        ("SAT", "Graz", T0 + 5000, T0 + 5300, 1024),
        ("SAT", "Matera", T0 + 6000, T0 + 6300, 0),  # a pass without key
    ], T0, T0 + 86400)


def test_catalog_reads_ends_times_and_files(outdir):
    cat = load_catalog(outdir)
    assert cat.saes == ["Graz", "Matera", "SAT"]
    assert [s.bits for s in cat.sources] == [4096, 2000, 1024]
    first = cat.sources[0]
    assert (first.sae_a, first.sae_b, first.available_s) == ("SAT", "Graz", T0 + 400)
    assert cat.start_s == T0 and cat.end_s == T0 + 86400
    alice, bob = read_keys(outdir / "keys", first.source_id)
    assert np.array_equal(np.unpackbits(np.frombuffer(first.load("SAT"), np.uint8))[:4096], alice)
    assert np.array_equal(np.unpackbits(np.frombuffer(first.load("Graz"), np.uint8))[:4096], bob)


def test_catalog_refuses_folders_without_keys(tmp_path):
    with pytest.raises(InputError, match="no passes.csv"):
        load_catalog(tmp_path)
    out = write_synthetic_output(tmp_path / "o", [("SAT", "Graz", T0, T0 + 1, 0)], T0, T0 + 10)
    with pytest.raises(InputError, match="write_keys = true"):
        load_catalog(out)


@pytest.mark.parametrize("name", ["../secret.bin", "/etc/passwd", "sub/x.bin", "x.txt",
                                  ".hidden.bin", "link.bin"])
def test_catalog_reads_only_key_files_inside_the_folder(outdir, name):
    """An edited index.csv cannot make the server read another file as key."""
    (outdir / "secret.bin").write_bytes(b"not a key")
    (outdir / "keys" / "link.bin").symlink_to(outdir / "secret.bin")
    index = outdir / "keys" / "index.csv"
    rows = index.read_text().splitlines()
    first = rows[1].split(",")
    col = rows[0].split(",").index("alice_file")
    first[col] = name
    index.write_text("\n".join([rows[0], ",".join(first), *rows[2:]]) + "\n")
    with pytest.raises(InputError, match="plain \\*.bin name"):
        load_catalog(outdir)


def test_catalog_refuses_negative_or_garbled_bit_counts(outdir):
    index = outdir / "keys" / "index.csv"
    rows = index.read_text().splitlines()
    col = rows[0].split(",").index("bits")
    first = rows[1].split(",")
    first[col] = "-8"
    index.write_text("\n".join([rows[0], ",".join(first), *rows[2:]]) + "\n")
    with pytest.raises(InputError, match="integer >= 0"):
        load_catalog(outdir)


def test_clock_replay_and_instant():
    c = MissionClock("replay", speed=60.0, anchor_wall=1000.0, anchor_mission=T0)
    assert c.now(1010.0) == T0 + 600
    assert c.wall_at(T0 + 600) == pytest.approx(1010.0)
    assert MissionClock("instant").now() == math.inf
    with pytest.raises(ValueError):
        MissionClock("replay", speed=0.0)


def test_reserve_redeem_all_or_nothing_and_durable(outdir, tmp_path):
    path = tmp_path / "ks.sqlite"
    store = KeyStore(path, load_catalog(outdir))
    now = T0 + 2000  # the first Graz and the Matera keys exist, the second Graz key not yet
    assert store.key_count("SAT", "Graz", 256, now) == 16
    keys, job = store.reserve("SAT", "Graz", 3, 256, now)
    store.commit_sync(job)
    assert [k.start_bit for k in keys] == [0, 256, 512]
    with pytest.raises(NotEnoughKey) as exc:
        store.reserve("SAT", "Graz", 14, 256, now)  # 13 left: nothing taken
    assert exc.value.details["next_key_mission_time"] == T0 + 5300
    assert store.key_count("SAT", "Graz", 256, now) == 13
    with pytest.raises(StoreError, match="multiple of 8"):
        store.reserve("SAT", "Graz", 1, 12, now)
    # the slave redeems each ID once, only for its own pairing
    with pytest.raises(StoreError):
        store.redeem("Matera", "SAT", [keys[0].key_id])
    got, job = store.redeem("Graz", "SAT", [k.key_id for k in keys[:2]])
    store.commit_sync(job)
    assert store.key_bits(got[0], "Graz") == store.key_bits(keys[0], "SAT")
    with pytest.raises(StoreError, match="already been delivered"):
        store.redeem("Graz", "SAT", [keys[0].key_id, keys[2].key_id])
    store.close()
    # a restart sees exactly what was committed
    store = KeyStore(path, load_catalog(outdir))
    assert store.key_count("SAT", "Graz", 256, now) == 13
    got, job = store.redeem("Graz", "SAT", [keys[2].key_id])
    store.commit_sync(job)
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT count(*) FROM keys WHERE dec_wall IS NOT NULL").fetchone()[0] == 3


def test_keys_never_span_sources_and_use_the_oldest_first(outdir, tmp_path):
    store = KeyStore(tmp_path / "ks.sqlite", load_catalog(outdir))
    keys, _ = store.reserve("Graz", "SAT", 2, 2048, math.inf)
    assert [k.source.available_s for k in keys] == [T0 + 400, T0 + 400]
    small, _ = store.reserve("Graz", "SAT", 1, 1024, math.inf)
    assert small[0].source.available_s == T0 + 5300 and small[0].start_bit == 0
    with pytest.raises(NotEnoughKey):
        store.reserve("Graz", "SAT", 1, 8, math.inf)
    store.close()


def test_one_server_per_store_and_one_folder_per_store(outdir, tmp_path):
    path = tmp_path / "ks.sqlite"
    store = KeyStore(path, load_catalog(outdir))
    with pytest.raises(InputError, match="another `satqkd serve`"):
        KeyStore(path, load_catalog(outdir))
    store.close()
    other = write_synthetic_output(tmp_path / "other", [("SAT", "Graz", T0, T0 + 1, 64)],
                                   T0, T0 + 10, seed=7)
    with pytest.raises(InputError, match="belongs to other keys"):
        KeyStore(path, load_catalog(other))


def test_group_commit_from_the_event_loop(outdir, tmp_path):
    store = KeyStore(tmp_path / "ks.sqlite", load_catalog(outdir))

    async def many():
        jobs = [store.reserve("SAT", "Matera", 1, 64, math.inf)[1] for _ in range(20)]
        await asyncio.gather(*(store.commit(j) for j in jobs))

    asyncio.run(many())
    store.close()
    db = sqlite3.connect(tmp_path / "ks.sqlite")
    assert db.execute("SELECT next_bit FROM sources WHERE sae_b='Matera'").fetchone()[0] == 1280
    assert db.execute("SELECT count(*) FROM keys").fetchone()[0] == 20


def test_replay_clock_continues_the_stored_timeline(outdir, tmp_path):
    path = tmp_path / "ks.sqlite"
    store = KeyStore(path, load_catalog(outdir))
    first = store.clock("replay", 10.0)
    assert first.anchor_mission == T0
    store.close()
    store = KeyStore(path, load_catalog(outdir))
    again = store.clock("replay", 10.0)
    assert again == first  # a restart does not rewind the mission
    faster = store.clock("replay", 100.0)
    assert faster.speed == 100.0 and faster.anchor_mission >= T0
    store.close()


def test_timeline_steps_up_at_los_and_down_when_keys_are_taken(outdir, tmp_path):
    from satqkd.serve.timeline import store_timeline

    path = tmp_path / "ks.sqlite"
    cat = load_catalog(outdir)
    store = KeyStore(path, cat)
    clock = store.clock("replay", 1.0, T0 + 2000)
    keys, job = store.reserve("SAT", "Graz", 4, 256, clock.now())
    store.commit_sync(job)
    store.close()
    series = store_timeline(cat, path)
    t, bits = series[("Graz", "SAT")]
    assert list(bits) == [0, 4096, 3840, 3584, 3328, 3072, 4096, 4096]  # one step a key
    assert t[1] == T0 + 400 and all(T0 + 2000 <= x < T0 + 2100 for x in t[2:6])
    assert t[6] == T0 + 5300
    t, bits = store_timeline(cat)[("Matera", "SAT")]  # no store: arrivals only
    assert list(bits) == [0, 2000, 2000]
