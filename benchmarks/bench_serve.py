"""`satqkd serve` benchmarks: keys delivered per second to concurrent mutual-TLS clients.

A synthetic output folder (one satellite, eight stations, random keys through the real
key writer) is served by ``python -m satqkd.cli serve --clock instant`` on loopback.
Sixteen clients (httpx, asyncio, one keep-alive TLS connection each, in this process):
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


async def _drive(port: int, certs: Path, number: int, warmup_s: float, measure_s: float):
    import httpx

    url = f"https://127.0.0.1:{port}/api/v1/keys"
    pairs = [(st, "SAT") if i % 2 == 0 else ("SAT", st) for i, st in enumerate(STATIONS)]
    ctxs = {}
    for sae in ("SAT", *STATIONS):
        ctxs[sae] = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        ctxs[sae].load_cert_chain(certs / f"{sae}.pem", certs / f"{sae}-key.pem")
    t_start = time.perf_counter()
    t_measure, t_end = t_start + warmup_s, t_start + warmup_s + measure_s
    latencies: list[float] = []
    delivered = [0]

    async def couple(master: str, slave: str) -> None:
        async with httpx.AsyncClient(verify=ctxs[master], timeout=30) as m, \
                httpx.AsyncClient(verify=ctxs[slave], timeout=30) as s:
            q: asyncio.Queue = asyncio.Queue(maxsize=4)

            async def run_master():
                while time.perf_counter() < t_end:
                    t0 = time.perf_counter()
                    r = await m.post(f"{url}/{slave}/enc_keys", json={"number": number})
                    t1 = time.perf_counter()
                    r.raise_for_status()
                    if t0 >= t_measure:
                        latencies.append(t1 - t0)
                    await q.put(([k["key_ID"] for k in r.json()["keys"]], t0 >= t_measure))
                await q.put(None)

            async def run_slave():
                while (item := await q.get()) is not None:
                    ids, counted = item
                    t0 = time.perf_counter()
                    r = await s.post(f"{url}/{master}/dec_keys",
                                     json={"key_IDs": [{"key_ID": k} for k in ids]})
                    t1 = time.perf_counter()
                    r.raise_for_status()
                    if counted and t1 <= t_end:
                        latencies.append(t1 - t0)
                        delivered[0] += len(r.json()["keys"])

            await asyncio.gather(run_master(), run_slave())

    await asyncio.gather(*(couple(m, s) for m, s in pairs))
    lat_ms = np.array(latencies) * 1e3
    return delivered[0] / measure_s, float(np.percentile(lat_ms, 99)), \
        float(np.percentile(lat_ms, 50)), len(latencies)


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
                rate, p99, p50, n = asyncio.run(_drive(port, certs, number, 1.0, seconds))
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
