"""uvicorn over mutual TLS, with the client certificate given to the app.

uvicorn (0.55) verifies client certificates (``ssl_cert_reqs=CERT_REQUIRED``) but does
not pass them to the application: it does not implement the ASGI TLS extension
(``scope["extensions"]["tls"]``).  The SAE identity must come from the certificate, so
:class:`TLSH11Protocol` subclasses uvicorn's own h11 protocol (or its httptools protocol,
if installed: :func:`protocol_class`) and, once per connection
(asyncio calls ``connection_made`` after the handshake), reads the verified peer
certificate from ``transport.get_extra_info("ssl_object")`` and adds the extension to
every request's scope.  Everything else (parsing, keep-alive, flow control, shutdown)
stays uvicorn's; the subclass is passed as ``http=`` (a supported configuration).
A connection without a certificate, or with one from another CA, fails the handshake
and never reaches the app.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from satqkd.errors import InputError
from satqkd.serve.api import create_app
from satqkd.serve.catalog import load_catalog
from satqkd.serve.certs import KME_FILES
from satqkd.serve.store import KeyStore, default_store_path

__all__ = ["TLSH11Protocol", "tls_extension", "serve"]

MAX_HEADER_BYTES = 16 * 1024  # h11: largest incomplete request head
# httptools: bytes read while a head is incomplete (a read may also carry body bytes, so
# this is looser than the h11 bound, but it is a bound)
MAX_HEAD_BYTES = 256 * 1024


def tls_extension(transport) -> dict | None:
    """The ASGI TLS extension of a connection (``None`` for plain TCP)."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    peer = ssl_object.getpeercert()  # only filled for a verified certificate
    der = ssl_object.getpeercert(binary_form=True)
    name = None
    if peer:
        rdns = [f"{attr_name(k)}={v}" for rdn in peer.get("subject", ()) for k, v in rdn]
        name = ",".join(reversed(rdns))  # RFC 4514: most specific first
    return {"server_cert": None,
            "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
            "client_cert_name": name, "client_cert_error": None,
            "tls_version": None, "cipher_suite": None}


def attr_name(key: str) -> str:
    return {"commonName": "CN", "organizationName": "O", "countryName": "C",
            "organizationalUnitName": "OU", "localityName": "L"}.get(key, key)


class _WithTLSExtension:
    """Adds ``scope["extensions"]["tls"]`` to a uvicorn HTTP protocol (see the module doc)."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        tls = tls_extension(transport)
        if tls is None:
            return
        app = self.app

        async def app_with_tls(scope, receive, send):
            scope.setdefault("extensions", {})["tls"] = tls
            await app(scope, receive, send)

        self.app = app_with_tls

    def shutdown(self) -> None:
        super().shutdown()  # type: ignore[misc]
        # An idle TLS connection closes by waiting for the peer's close_notify (up to
        # 30 s); a client that is not reading would hold up the shutdown.  Drop it.
        if self.transport.is_closing():
            self.transport.abort()


class TLSH11Protocol(_WithTLSExtension, H11Protocol):
    """uvicorn's h11 protocol plus ``scope["extensions"]["tls"]``."""


def protocol_class() -> type:
    """uvicorn's httptools protocol if httptools is installed (uvicorn's own choice for
    ``http="auto"``; a third less CPU a request), else its h11 protocol; with the TLS
    extension.  ``SATQKD_SERVE_HTTP=h11`` forces h11 (tests cover both)."""
    if os.environ.get("SATQKD_SERVE_HTTP") == "h11":
        return TLSH11Protocol
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return TLSH11Protocol

    class TLSHttpToolsProtocol(_WithTLSExtension, HttpToolsProtocol):
        """uvicorn's httptools protocol plus the TLS extension and a bound on request heads.

        h11 refuses a request head that does not fit its buffer; httptools buffers header
        values without limit.  Bytes received while a head is being read are counted and
        past ``MAX_HEAD_BYTES`` the request gets uvicorn's own 400 and the connection closes.
        """

        _head_bytes = 0
        _reading_head = True

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():
                return
            if self._reading_head:
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES:
                    self.send_400_response("Request head too large.")
                    return
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._reading_head, self._head_bytes = False, 0
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._reading_head = True
            super().on_message_complete()

    return TLSHttpToolsProtocol


def check_certs(certs: Path) -> None:
    missing = [f for f in KME_FILES if not (Path(certs) / f).is_file()]
    if missing:
        raise InputError(f"--certs {certs}: no {missing[0]} (create the certificates with "
                         "`satqkd serve --make-certs DIR OUTDIR`)")


def _check_port(host: str, port: int) -> None:
    """Fail with one line, before anything is opened, when the address is taken."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        raise InputError(f"--host {host} --port {port}: cannot listen there ({exc.strerror})")


def serve(outdir: Path, certs: Path, port: int, clock: str = "instant", speed: float = 1.0,
          host: str = "127.0.0.1", store_path: Path | None = None,
          start_s: float | None = None) -> None:
    """Serve ``outdir``'s keys until interrupted (SIGINT/SIGTERM end it cleanly)."""
    check_certs(certs)
    _check_port(host, port)
    catalog = load_catalog(outdir)
    store = KeyStore(store_path or default_store_path(outdir), catalog)
    try:
        mission_clock = store.clock(clock, speed, start_s)
        app = create_app(store, mission_clock)
        config = uvicorn.Config(
            app, host=host, port=port, http=protocol_class(), lifespan="off",
            ssl_certfile=str(Path(certs) / "kme.pem"), ssl_keyfile=str(Path(certs) / "kme-key.pem"),
            ssl_ca_certs=str(Path(certs) / "ca.pem"), ssl_cert_reqs=ssl.CERT_REQUIRED,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES, access_log=False,
            log_level="warning", timeout_keep_alive=30, backlog=512,
            timeout_graceful_shutdown=5)
        server = uvicorn.Server(config)
        print(f"satqkd serve: {len(catalog.sources)} keys, {len(store.saes())} SAEs, "
              f"clock {clock}" + (f" x{speed:g}" if clock == "replay" else "")
              + f", https://{host}:{port}", file=sys.stderr, flush=True)
        server.run()
    finally:
        store.close()
