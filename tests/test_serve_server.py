"""`satqkd serve` as a real server process on loopback, over mutual TLS.

A synthetic output folder (random keys written by the real key writer, five stations
under one satellite) is served by ``python -m satqkd.cli serve``; clients are httpx and
curl with client certificates.  Every delivered key is checked bit for bit against
Alice's and Bob's key files, and the store (SQLite) against what the clients received.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import uuid
from base64 import b64decode
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from satqkd import cli
from satqkd.serve.catalog import load_catalog
from satqkd.serve.certs import make_certs
from satqkd.serve.synthetic import write_synthetic_output

REPO = Path(__file__).resolve().parent.parent
T0 = 1_577_836_800.0  # 2020-01-01T00:00:00Z
STATIONS = ("Graz", "Matera", "Tenerife", "Wettzell", "Xinglong")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    passes = []
    for i, st in enumerate(STATIONS):
        passes.append(("SAT", st, T0 + 600 * i, T0 + 600 * i + 300, 400_000 + 8 * i))
        passes.append(("SAT", st, T0 + 40_000 + 600 * i, T0 + 40_300 + 600 * i, 80_000))
    out = write_synthetic_output(d / "out", passes, T0, T0 + 86_400)
    make_certs(d / "certs", load_catalog(out).saes)
    make_certs(d / "foreign", ["SAT"])  # same names, another CA
    return SimpleNamespace(dir=d, out=out, certs=d / "certs", foreign=d / "foreign")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``satqkd serve`` in a subprocess; ready once it accepts TCP connections."""

    def __init__(self, world, store: Path, *args: str, http: str | None = None):
        self.port = _free_port()
        self.log = open(store.with_suffix(".log"), "ab")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        if http:
            env["SATQKD_SERVE_HTTP"] = http
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "satqkd.cli", "serve", str(world.out), "--certs",
             str(world.certs), "--port", str(self.port), "--store", str(store), *args],
            env=env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {store.with_suffix('.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/api/v1/keys"

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.log.close()


@pytest.fixture
def server(world, tmp_path):
    started = []

    def start(*args: str, store: Path | None = None, http: str | None = None) -> Server:
        s = Server(world, store or tmp_path / "ks.sqlite", *args, http=http)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def _ctx(world, sae: str | None, certs: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(world.certs / "ca.pem"))
    if sae is not None:
        d = certs or world.certs
        ctx.load_cert_chain(d / f"{sae}.pem", d / f"{sae}-key.pem")
    return ctx


def _key_file(world, source: str, sae: str) -> bytes:
    side = "alice" if sae == "SAT" else "bob"  # the satellite is Alice in a pass key
    return (world.out / "keys" / f"{source}.{side}.bin").read_bytes()


def _check_bits(world, keys: list[dict], sae: str, size: int) -> None:
    """Each key is ``sae``'s own key file from its first bit, ``size`` bits long."""
    for k in keys:
        ext = k["key_ID_extension"]
        lo = ext["first_bit"] // 8
        assert b64decode(k["key"]) == _key_file(world, ext["source"], sae)[lo: lo + size // 8]


def _store_rows(path: Path) -> tuple[list, list]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return (db.execute("SELECT * FROM sources ORDER BY source_id").fetchall(),
                db.execute("SELECT * FROM keys ORDER BY key_id").fetchall())
    finally:
        db.close()


def _assert_disjoint(ranges: list[tuple[str, int, int]]) -> None:
    """No bit of any source is in two keys."""
    ranges = sorted(ranges)
    for (s1, a1, n1), (s2, a2, _) in zip(ranges, ranges[1:]):
        assert s1 != s2 or a1 + n1 <= a2, "a bit range was served twice"


# --------------------------------------------------------------------------- walk-through
@pytest.mark.parametrize("http", ["auto", "h11"])
def test_curl_walkthrough_with_client_certificates(world, server, tmp_path, http):
    srv = server("--clock", "instant", http=http)  # httptools if installed, and h11

    def curl(sae: str | None, *args: str) -> tuple[int, dict | None]:
        cmd = ["curl", "-sS", "--max-time", "20", "--cacert", str(world.certs / "ca.pem"),
               "-w", "\n%{http_code}"]
        if sae:
            cmd += ["--cert", str(world.certs / f"{sae}.pem"),
                    "--key", str(world.certs / f"{sae}-key.pem")]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True)
        if p.returncode != 0:
            return -p.returncode, None
        body, _, code = p.stdout.rpartition("\n")
        return int(code), json.loads(body)

    code, st = curl("Graz", f"{srv.url}/SAT/status")
    assert code == 200 and st["master_SAE_ID"] == "Graz" and st["slave_SAE_ID"] == "SAT"
    assert st["key_size"] == 256 and st["stored_key_count"] == (400_000 // 256 + 80_000 // 256)
    code, enc = curl("Graz", "-H", "Content-Type: application/json",
                     "-d", '{"number": 3, "size": 512}', f"{srv.url}/SAT/enc_keys")
    assert code == 200 and len(enc["keys"]) == 3
    _check_bits(world, enc["keys"], "Graz", 512)
    ids = [k["key_ID"] for k in enc["keys"]]
    assert all(str(uuid.UUID(i)) == i for i in ids)
    code, dec = curl("SAT", "-H", "Content-Type: application/json", "-d",
                     json.dumps({"key_IDs": [{"key_ID": i} for i in ids[:2]]}),
                     f"{srv.url}/Graz/dec_keys")
    assert code == 200 and [k["key_ID"] for k in dec["keys"]] == ids[:2]
    _check_bits(world, dec["keys"], "SAT", 512)
    assert [k["key"] for k in dec["keys"]] == [k["key"] for k in enc["keys"][:2]]
    code, dec = curl("SAT", f"{srv.url}/Graz/dec_keys?key_ID={ids[2]}")  # GET form
    assert code == 200 and dec["keys"][0]["key"] == enc["keys"][2]["key"]
    code, again = curl("SAT", f"{srv.url}/Graz/dec_keys?key_ID={ids[0]}")
    assert code == 400 and again["message"] == "Bad request format"
    code, enc = curl("SAT", f"{srv.url}/Matera/enc_keys?number=2")  # GET form
    assert code == 200 and len(enc["keys"]) == 2
    _check_bits(world, enc["keys"], "SAT", 256)
    code, _ = curl(None, f"{srv.url}/SAT/status")  # no client certificate: no HTTP at all
    assert code < 0


# --------------------------------------------------------------------------- bad input
BAD_REQUESTS = [
    # (SAE, method, path, body, status, words in the reason)
    ("Graz", "POST", "SAT/enc_keys", b'{"number": 2,', 400, "not valid JSON"),
    ("Graz", "POST", "SAT/enc_keys", b"[1, 2]", 400, "JSON object"),
    ("Graz", "POST", "SAT/enc_keys", b"[" * 60_000, 400, "not valid JSON"),
    ("Graz", "POST", "SAT/enc_keys", json.dumps({"number": 1, "pad": "x" * 200_000}).encode(),
     400, "larger than"),
    ("Graz", "POST", "Nowhere/enc_keys", b"{}", 400, "unknown SAE"),
    ("Graz", "POST", "Matera/enc_keys", b"{}", 401, "shares no key"),
    ("Graz", "GET", "Matera/status", None, 401, "shares no key"),
    ("Graz", "POST", "Graz/enc_keys", b"{}", 400, "with itself"),
    ("Graz", "POST", "SAT/enc_keys", b'{"number": 0}', 400, "number"),
    ("Graz", "POST", "SAT/enc_keys", b'{"number": "two"}', 400, "number"),
    ("Graz", "POST", "SAT/enc_keys", b'{"number": 100000}', 400, "number"),
    ("Graz", "POST", "SAT/enc_keys", b'{"size": 100}', 400, "multiple of 8"),
    ("Graz", "POST", "SAT/enc_keys", b'{"size": 1e9}', 400, "size"),
    ("Graz", "POST", "SAT/enc_keys", b'{"numbr": 1}', 400, "numbr"),
    ("Graz", "POST", "SAT/enc_keys", b'{"additional_slave_SAE_IDs": ["Matera"]}', 400,
     "multicast"),
    ("Graz", "POST", "SAT/enc_keys", b'{"extension_mandatory": [{"route": 1}]}', 400, "route"),
    ("Graz", "GET", "SAT/enc_keys?number=1&colour=red", None, 400, "colour"),
    ("SAT", "POST", "Graz/dec_keys", b'{"key_IDs": []}', 400, "non-empty"),
    ("SAT", "POST", "Graz/dec_keys", b'{"key_IDs": [{"key_ID": "not-a-uuid"}]}', 400, "UUID"),
    ("SAT", "POST", "Graz/dec_keys",
     json.dumps({"key_IDs": [{"key_ID": str(uuid.uuid4())}]}).encode(), 400, "not a key"),
    ("SAT", "GET", "Graz/dec_keys", None, 400, "key_ID is required"),
    ("SAT", "GET", "../../nothing", None, 400, "Not Found"),
]


def test_bad_input_gets_the_right_status_and_leaves_the_store_unchanged(world, server, tmp_path):
    store = tmp_path / "ks.sqlite"
    srv = server("--clock", "instant", store=store)
    with httpx.Client(verify=_ctx(world, "Graz"), timeout=20) as graz:
        r = graz.post(f"{srv.url}/SAT/enc_keys", json={"number": 4})
        assert r.status_code == 200
        issued = r.json()["keys"]
    before = _store_rows(store)
    clients = {sae: httpx.Client(verify=_ctx(world, sae), timeout=20) for sae in ("Graz", "SAT")}
    try:
        for sae, method, path, body, status, words in BAD_REQUESTS:
            r = clients[sae].request(method, f"{srv.url}/{path}", content=body,
                                     headers={"Content-Type": "application/json"})
            assert r.status_code == status, (path, body, r.text)
            err = r.json()
            assert set(err) == {"message", "details"}, err
            assert err["message"] == {400: "Bad request format", 401: "Unauthorized"}[status]
            assert words in err["details"][0]["reason"], (words, err)
        # oversized headers stop at the HTTP layer (h11): 400, plain text
        r = clients["Graz"].get(f"{srv.url}/SAT/status", headers={"X-Pad": "a" * 300_000})
        assert r.status_code == 400
        # a slave asking for another pairing's key, by its ID
        r = httpx.Client(verify=_ctx(world, "Matera"), timeout=20).post(
            f"{srv.url}/SAT/dec_keys", json={"key_IDs": [{"key_ID": issued[0]["key_ID"]}]})
        assert r.status_code == 400
        # no client certificate, or one from another CA: the handshake is refused
        for ctx in (_ctx(world, None), _ctx(world, "SAT", world.foreign)):
            with pytest.raises(httpx.TransportError):
                httpx.Client(verify=ctx, timeout=20).get(f"{srv.url}/Graz/status")
        assert _store_rows(store) == before  # nothing taken, nothing redeemed
        # and nothing broke: the slave still gets its keys, the master new ones
        r = clients["SAT"].post(f"{srv.url}/Graz/dec_keys",
                                json={"key_IDs": [{"key_ID": k["key_ID"]} for k in issued]})
        assert r.status_code == 200
        _check_bits(world, r.json()["keys"], "SAT", 256)
        assert clients["Graz"].get(f"{srv.url}/SAT/enc_keys").status_code == 200
    finally:
        for c in clients.values():
            c.close()


def test_command_line_errors_are_one_line_exit_2(world, tmp_path, capsys):
    def run(*argv: str) -> tuple[int, str]:
        old = sys.argv
        sys.argv = ["satqkd", "serve", *argv]
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            sys.argv = old
        return code, capsys.readouterr().err

    out = str(world.out)
    for argv, words in [
        ((out,), "--certs DIR is required"),
        ((out, "--certs", str(tmp_path)), "no ca.pem"),
        ((out, "--certs", str(world.certs), "--clock", "fast"), "--clock"),
        ((out, "--certs", str(world.certs), "--speed", "0"), "--speed"),
        ((out, "--certs", str(world.certs), "--clock", "replay", "--start", "noon"), "--start"),
        ((str(tmp_path),), "not a satqkd output folder"),
    ]:
        code, err = run(*argv)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, (argv, err)
    code, err = run("--make-certs", str(tmp_path / "c"), out)
    assert code == 0
    names = {p.name for p in (tmp_path / "c").iterdir()}
    assert {"ca.pem", "kme.pem", "kme-key.pem", "SAT.pem", "SAT-key.pem", "Graz.pem",
            "Xinglong-key.pem"} <= names


# --------------------------------------------------------------------------- mission clock
def test_beyond_the_available_key_503_then_the_key_arrives_with_the_clock(world, server):
    # Graz's first key exists at T0+300, its second at T0+40300: start just after the
    # first pass, at 8000 mission seconds per second the second arrives ~5 s later.
    srv = server("--clock", "replay", "--speed", "8000", "--start", "2020-01-01T00:05:05Z")
    with httpx.Client(verify=_ctx(world, "SAT"), timeout=20) as sat:
        st = sat.get(f"{srv.url}/Graz/status").json()
        n = st["stored_key_count"]
        assert n == 400_000 // 256 and st["status_extension"]["next_key_mission_time"] \
            == "2020-01-01T11:11:40.000Z"
        taken = 0
        while taken < n:
            r = sat.post(f"{srv.url}/Graz/enc_keys", json={"number": min(1024, n - taken)})
            assert r.status_code == 200
            taken += len(r.json()["keys"])
        r = sat.post(f"{srv.url}/Graz/enc_keys", json={"number": 1})
        assert r.status_code == 503
        err = r.json()
        assert err["message"] == "Error of server side"
        assert err["details"][0]["next_key_mission_time"] == "2020-01-01T11:11:40.000Z"
        deadline = time.monotonic() + 30
        while r.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.25)
            r = sat.post(f"{srv.url}/Graz/enc_keys", json={"number": 1})
        assert r.status_code == 200
        key = r.json()["keys"][0]
        assert key["key_ID_extension"]["first_bit"] == 0
        assert key["key_ID_extension"]["source"].endswith("20200101T110640")
        _check_bits(world, [key], "SAT", 256)


# --------------------------------------------------------------------------- load and faults
async def _load(world, url: str, clients: int, seconds: float, received: dict,
                max_number: int = 4) -> None:
    """``clients`` concurrent clients, half masters, half slaves, for ``seconds``.

    Masters take keys (random number, 256 or 512 bits, either end as master) and hand
    the IDs to a slave of the same pairing; ``received`` collects every key by side.
    """
    pairs = [(a, b) for st in STATIONS for a, b in (("SAT", st), (st, "SAT"))]
    queues = {p: asyncio.Queue() for p in pairs}
    ctxs = {sae: _ctx(world, sae) for sae in ("SAT", *STATIONS)}
    stop = time.monotonic() + seconds
    rng = random.Random(19)
    masters_left = [clients // 2]

    async def master(i: int) -> None:
        try:
            await master_loop(i)
        finally:
            masters_left[0] -= 1

    async def master_loop(i: int) -> None:
        m, s = pairs[i % len(pairs)]
        async with httpx.AsyncClient(verify=ctxs[m], timeout=30) as c:
            first = True  # every master makes at least one request, however slow the start
            while first or time.monotonic() < stop:
                first = False
                size = rng.choice((256, 512))
                try:
                    r = await c.post(f"{url}/{s}/enc_keys",
                                     json={"number": rng.randint(1, max_number), "size": size})
                except httpx.TransportError:
                    return  # the server was killed
                if r.status_code == 503:
                    await asyncio.sleep(0.05)
                    continue
                assert r.status_code == 200, r.text
                keys = r.json()["keys"]
                for k in keys:
                    received["enc"][k["key_ID"]] = (m, s, size, k)
                await queues[(m, s)].put([k["key_ID"] for k in keys])

    async def slave(i: int) -> None:
        m, s = pairs[i % len(pairs)]
        q = queues[(m, s)]
        async with httpx.AsyncClient(verify=ctxs[s], timeout=30) as c:
            while masters_left[0] > 0 or not q.empty():
                try:
                    ids = await asyncio.wait_for(q.get(), 0.2)
                except asyncio.TimeoutError:
                    continue
                try:
                    r = await c.post(f"{url}/{m}/dec_keys",
                                     json={"key_IDs": [{"key_ID": k} for k in ids]})
                except httpx.TransportError:
                    received["unredeemed"].extend(ids)
                    continue
                assert r.status_code == 200, r.text
                for k in r.json()["keys"]:
                    received["dec"][k["key_ID"]] = (m, s, k)

    half = clients // 2
    await asyncio.gather(*(master(i) for i in range(half)), *(slave(i) for i in range(half)))


def _verify(world, received: dict) -> list[tuple[str, int, int]]:
    """Bits of every received key against the key files; returns the bit ranges."""
    ranges = []
    for kid, (m, s, size, k) in received["enc"].items():
        _check_bits(world, [k], m, size)
        ext = k["key_ID_extension"]
        ranges.append((ext["source"], ext["first_bit"], size))
        if kid in received["dec"]:
            dm, ds, dk = received["dec"][kid]
            assert (dm, ds) == (m, s) and dk["key"] == k["key"]
            _check_bits(world, [dk], s, size)
    _assert_disjoint(ranges)
    return ranges


def test_100_concurrent_clients_every_key_once_bit_for_bit(world, server, tmp_path):
    store = tmp_path / "ks.sqlite"
    srv = server("--clock", "instant", store=store)
    received = {"enc": {}, "dec": {}, "unredeemed": []}
    asyncio.run(_load(world, srv.url, 100, 3.0, received))
    assert len(received["enc"]) >= 50  # 50 masters, one request at least, 1-4 keys each
    assert set(received["dec"]) == set(received["enc"])  # every slave got every key, once
    ranges = _verify(world, received)
    sources, keys = _store_rows(store)
    assert {k[0] for k in keys} == set(received["enc"])  # the store issued exactly these
    assert all(k[7] is not None for k in keys)  # ... and saw every one redeemed
    used = {}
    for source, _, size in ranges:
        used[source] = used.get(source, 0) + size
    # next_bit - start_bit: the bits handed out of each source
    assert {s[0]: s[7] - s[5] for s in sources if s[7] > s[5]} == used


def test_kill_9_mid_load_then_restart_loses_nothing_serves_nothing_twice(world, server, tmp_path):
    store = tmp_path / "ks.sqlite"
    srv = server("--clock", "instant", store=store)
    received = {"enc": {}, "dec": {}, "unredeemed": []}

    async def load_and_kill():
        async def killer():
            await asyncio.sleep(2.0)
            srv.kill9()
        await asyncio.gather(_load(world, srv.url, 20, 30.0, received), killer())

    asyncio.run(load_and_kill())
    assert srv.proc.returncode == -signal.SIGKILL and len(received["enc"]) > 0
    sources, keys = _store_rows(store)
    issued = {k[0] for k in keys}
    assert set(received["enc"]) <= issued  # every key a master received is in the store
    in_flight = issued - set(received["enc"])  # committed, response lost in the kill
    assert len(in_flight) <= 10 * 4  # at most the masters' requests under way
    redeemed = {k[0] for k in keys if k[7] is not None}
    assert set(received["dec"]) <= redeemed

    srv2 = server("--clock", "instant", store=store)
    pending = [kid for kid in received["enc"] if kid not in redeemed]
    with httpx.Client(verify=_ctx(world, "SAT"), timeout=20) as sat, \
            httpx.Client(verify=_ctx(world, "Graz"), timeout=20) as graz:
        clients = {"SAT": sat, "Graz": graz}
        # no key lost: every key a master received before the kill reaches its slave now
        for kid in pending:
            m, s, size, k = received["enc"][kid]
            c = clients.get(s) or httpx.Client(verify=_ctx(world, s), timeout=20)
            r = c.post(f"{srv2.url}/{m}/dec_keys", json={"key_IDs": [{"key_ID": kid}]})
            assert r.status_code == 200, r.text
            assert r.json()["keys"][0]["key"] == k["key"]
            received["dec"][kid] = (m, s, r.json()["keys"][0])
        # none served twice: redeemed keys stay redeemed, new keys use new bits
        for kid in list(received["dec"])[:20]:
            m, s, _ = received["dec"][kid]
            c = clients.get(s) or httpx.Client(verify=_ctx(world, s), timeout=20)
            r = c.post(f"{srv2.url}/{m}/dec_keys", json={"key_IDs": [{"key_ID": kid}]})
            assert r.status_code == 400
        for st in STATIONS:
            r = sat.post(f"{srv2.url}/{st}/enc_keys", json={"number": 8, "size": 512})
            assert r.status_code == 200
            for k in r.json()["keys"]:
                received["enc"][k["key_ID"]] = ("SAT", st, 512, k)
    ranges = _verify(world, received)
    # the in-flight keys are recorded as issued: their bits are never handed out again
    _, keys = _store_rows(store)
    all_ranges = ranges + [(k[1], k[2], k[3]) for k in keys if k[0] in in_flight]
    _assert_disjoint(all_ranges)


def test_certificates_are_valid_for_localhost_and_the_sae_names(world):
    from cryptography import x509

    kme = x509.load_pem_x509_certificate((world.certs / "kme.pem").read_bytes())
    san = kme.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    sae = x509.load_pem_x509_certificate((world.certs / "Graz.pem").read_bytes())
    assert sae.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "Graz"
    assert oct((world.certs / "Graz-key.pem").stat().st_mode & 0o777) == "0o600"
    assert shutil.which("curl")
