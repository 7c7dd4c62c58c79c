"""`satqkd serve` benchmarks: keys delivered per second to concurrent mutual-TLS clients.

A synthetic output folder (one satellite, eight stations, random keys through the real
key writer) is served by ``python -m satqkd.cli serve --clock instant`` on loopback.
Sixteen clients (asyncio, one keep-alive TLS connection each, in four processes; see
``_LeanClient`` for why not httpx):
eight masters take 256-bit keys with ``enc_keys`` and hand the key IDs to eight slaves,
which fetch the same keys with ``dec_keys`` (one master-slave couple per SAE pairing,
each station master for half of them, the satellite for the other half).  A key counts
once delivered to *both* ends.

* ``serve.keys_per_s`` (1/s): 256-bit keys delivered per second, ``number`` keys per
  request (``KEYS_PER_REQUEST``, as an encryptor refilling its key buffer asks for);
  target >= 2000.
* ``serve.p99_latency_ms`` (ms): 99th percentile of request latency (enc and dec) in the
  same run; target <= 50.
* ``serve.keys_per_s_single`` (1/s): the same with one key per request (the HTTP/TLS
  round trip dominates), with its own p99.

Server and clients share the machine's cores; ``load_avg_1min`` is the load before the run.
Because a shared machine starves both, each figure also gives the server's CPU time per
request and ``keys_per_server_cpu_s`` (keys delivered per CPU-second of the server, from
``/proc/<pid>/stat``), which the other users of the machine do not change.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
T0 = 1_577_836_800.0
STATIONS = [f"S{i}" for i in range(8)]
KEYS_PER_REQUEST = 16
CLIENTS = 16
CLIENT_PROCESSES = 4


def _world(d: Path):
    from satqkd.serve.catalog import load_catalog
    from satqkd.serve.certs import make_certs
    from satqkd.serve.synthetic import write_synthetic_output

    passes = [("SAT", st, T0 + 600 * i, T0 + 600 * i + 300, 8_000_000)
              for i, st in enumerate(STATIONS)]
    out = write_synthetic_output(d / "out", passes, T0, T0 + 86_400)
    make_certs(d / "certs", load_catalog(out).saes)
    return out, d / "certs"


def _start(out: Path, certs: Path, store: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "satqkd.cli", "serve", str(out), "--certs",
                             str(certs), "--port", str(port), "--store", str(store)],
                            env=dict(os.environ, PYTHONPATH=str(REPO)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the server did not start")


class _LeanClient:
    """One keep-alive mutual-TLS HTTP/1.1 connection, requests written by hand.

    The load generator shares the machine's two cores with the server: httpx spends
    about as much CPU per request as the server does, and its event loop's queueing then
    shows up as server latency.  This client does the least a client can (one write,
    read the head, read Content-Length bytes), so the figures are the server's.  Set
    ``SATQKD_BENCH_SERVE_CLIENT=httpx`` for the httpx client.
    """

    def __init__(self, port: int, ctx: ssl.SSLContext):
        self.port, self.ctx = port, ctx
        self.reader = self.writer = None

    async def __aenter__(self) -> "_LeanClient":
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.ctx, server_hostname="127.0.0.1")
        return self

    async def __aexit__(self, *exc) -> None:
        self.writer.close()

    async def post(self, url: str, json: dict) -> "_Response":
        import json as _json

        body = _json.dumps(json).encode()
        path = url.split("127.0.0.1:", 1)[1].split("/", 1)[1]
        self.writer.write(b"POST /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                          b"application/json\r\nContent-Length: %d\r\n\r\n%s"
                          % (path.encode(), len(body), body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return _Response(status, await self.reader.readexactly(length))


class _Response:
    def __init__(self, status: int, body: bytes):
        self.status_code, self.body = status, body

    def raise_for_status(self) -> None:
        if self.status_code != 200:
            raise RuntimeError(f"HTTP {self.status_code}: {self.body[:200]!r}")

    def json(self):
        import json

        return json.loads(self.body)


async def _drive(port: int, certs: Path, number: int, t_measure: float, t_end: float,
                 pairs: list[tuple[str, str]]) -> tuple[int, list[float]]:
    """Couples of ``pairs`` until wall time ``t_end``; counts from ``t_measure``."""
    url = f"https://127.0.0.1:{port}/api/v1/keys"
    ctxs = {}
    for sae in ("SAT", *STATIONS):
        ctxs[sae] = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        ctxs[sae].load_cert_chain(certs / f"{sae}.pem", certs / f"{sae}-key.pem")
    latencies: list[float] = []
    delivered = [0]
    if os.environ.get("SATQKD_BENCH_SERVE_CLIENT") == "httpx":
        import httpx

        def client(ctx):
            return httpx.AsyncClient(verify=ctx, timeout=30)
    else:
        def client(ctx):
            return _LeanClient(port, ctx)

    async def couple(master: str, slave: str) -> None:
        async with client(ctxs[master]) as m, client(ctxs[slave]) as s:
            q: asyncio.Queue = asyncio.Queue(maxsize=4)

            async def run_master():
                while time.time() < t_end:
                    t0 = time.time()
                    r = await m.post(f"{url}/{slave}/enc_keys", json={"number": number})
                    t1 = time.time()
                    r.raise_for_status()
                    if t0 >= t_measure:
                        latencies.append(t1 - t0)
                    await q.put(([k["key_ID"] for k in r.json()["keys"]], t0 >= t_measure))
                await q.put(None)

            async def run_slave():
                while (item := await q.get()) is not None:
                    ids, counted = item
                    t0 = time.time()
                    r = await s.post(f"{url}/{master}/dec_keys",
                                     json={"key_IDs": [{"key_ID": k} for k in ids]})
                    t1 = time.time()
                    r.raise_for_status()
                    if counted and t1 <= t_end:
                        latencies.append(t1 - t0)
                        delivered[0] += len(r.json()["keys"])

            await asyncio.gather(run_master(), run_slave())

    await asyncio.gather(*(couple(m, s) for m, s in pairs))
    return delivered[0], latencies


def _client_process(args) -> tuple[int, list[float]]:
    return asyncio.run(_drive(*args))


def _load(port: int, certs: Path, number: int, warmup_s: float, measure_s: float):
    """The 16 clients in ``CLIENT_PROCESSES`` processes (one Python event loop would be
    the bottleneck, and its queueing would show as latency); rate, p99, p50, requests."""
    pairs = [(st, "SAT") if i % 2 == 0 else ("SAT", st) for i, st in enumerate(STATIONS)]
    t_measure = time.time() + 1.0 + warmup_s  # a second for the processes to start
    t_end = t_measure + measure_s
    jobs = [(port, certs, number, t_measure, t_end, pairs[i::CLIENT_PROCESSES])
            for i in range(CLIENT_PROCESSES)]
    with multiprocessing.get_context("fork").Pool(CLIENT_PROCESSES) as pool:
        results = pool.map(_client_process, jobs)
    lat_ms = np.concatenate([np.array(r[1]) for r in results]) * 1e3
    return sum(r[0] for r in results) / measure_s, float(np.percentile(lat_ms, 99)), \
        float(np.percentile(lat_ms, 50)), len(lat_ms)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def run():
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="satqkd-bench-serve-") as tmp:
        d = Path(tmp)
        out, certs = _world(d)
        for number, name, seconds in ((KEYS_PER_REQUEST, "serve.keys_per_s", 8.0),
                                      (1, "serve.keys_per_s_single", 5.0)):
            proc, port = _start(out, certs, d / f"ks-{number}.sqlite")
            try:
                cpu0, t0 = _cpu_s(proc.pid), time.perf_counter()
                rate, p99, p50, n = _load(port, certs, number, 1.0, seconds)
                # CPU over the whole drive (warm-up included), so scale to all its requests
                cpu = (_cpu_s(proc.pid) - cpu0) * seconds / (time.perf_counter() - t0)
            finally:
                proc.terminate()
                proc.wait(30)
            common = {"clients": CLIENTS, "keys_per_request": number, "key_bits": 256,
                      "requests": n, "p50_latency_ms": round(p50, 2),
                      "server_cpu_ms_per_request": round(1e3 * cpu / n, 3),
                      "keys_per_server_cpu_s": round(rate * seconds / cpu, 1),
                      "load_avg_1min": round(load, 2), "cpu_count": os.cpu_count()}
            yield {"name": name, "value": round(rate, 1), "unit": "1/s",
                   **({"target": 2000} if number > 1 else {}), "p99_latency_ms": round(p99, 2),
                   **common}
            if number > 1:
                yield {"name": "serve.p99_latency_ms", "value": round(p99, 2), "unit": "ms",
                       "target": 50, **common}


if __name__ == "__main__":
    import json

    for fig in run():
        print(json.dumps(fig))
