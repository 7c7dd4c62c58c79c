"""ETSI GS QKD 014 V1.1.1 key delivery API over the key store (FastAPI).

Endpoints (``{SAE}`` is the *other* end of the pairing; the caller is identified by its
client certificate, never by anything it sends):

``GET  /api/v1/keys/{slave_SAE_ID}/status``     the pairing's status
``POST|GET /api/v1/keys/{slave_SAE_ID}/enc_keys``  new keys for the master (the caller)
``POST|GET /api/v1/keys/{master_SAE_ID}/dec_keys`` the slave's keys, by ``key_ID``

One process stands in for every KME of the mission (one per SAE, ``KME-<SAE_ID>``); the
key relay between KMEs is the simulated QKD itself, so each end is served its own copy of
the key from its own key file.  Errors are ``{"message", "details"}`` with status 400
(``Bad request format``), 401 (``Unauthorized``) or 503 (``Error of server side``), the
status texts of the specification; ``details`` says what exactly was wrong.
"""

from __future__ import annotations

import base64
import json
import math
import re
from datetime import datetime, timezone

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from satqkd.serve.clock import MissionClock
from satqkd.serve.store import KeyStore, StoreError

__all__ = ["create_app", "DEFAULT_KEY_SIZE", "MAX_BODY_BYTES", "MESSAGES", "sae_from_tls"]

DEFAULT_KEY_SIZE = 256
MIN_KEY_SIZE = 8
MAX_KEY_SIZE = 65536
MAX_KEYS_PER_REQUEST = 1024
MAX_BODY_BYTES = 64 * 1024  # a full dec_keys request of 1024 IDs is ~60 kB

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MESSAGES = {400: "Bad request format", 401: "Unauthorized", 503: "Error of server side"}


def _iso(t: float) -> str | None:
    if not math.isfinite(t):
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def error(status: int, reason: str, **details) -> Response:
    body = {"message": MESSAGES[status], "details": [{"reason": reason, **{
        k: (_iso(v) if k.endswith("_time") and isinstance(v, float) else v)
        for k, v in details.items()}}]}
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def ok(body: dict) -> Response:
    return Response(json.dumps(body), media_type="application/json")


def sae_from_tls(scope: dict) -> str | None:
    """The client certificate's common name, from the ASGI TLS extension."""
    tls = scope.get("extensions", {}).get("tls") or {}
    name = tls.get("client_cert_name")
    if not name:
        return None
    # RFC 4514; SAE IDs hold no escaped characters, so a plain split suffices
    for part in name.split(","):
        attr, _, value = part.partition("=")
        if attr.strip().upper() == "CN":
            return value.strip()
    return None


class _Refused(Exception):
    def __init__(self, response: Response):
        self.response = response


def _int(value, name: str, lo: int, hi: int) -> int:
    if isinstance(value, str):
        try:
            value = int(value, 10)
        except ValueError:
            raise _Refused(error(400, f"{name} must be an integer, got {value!r}"))
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Refused(error(400, f"{name} must be an integer"))
    if not lo <= value <= hi:
        raise _Refused(error(400, f"{name} must be in {lo}..{hi}, got {value}"))
    return value


async def _json_body(request: Request) -> dict:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise _Refused(error(400, f"request body larger than {MAX_BODY_BYTES} bytes"))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Refused(error(400, f"request body larger than {MAX_BODY_BYTES} bytes"))
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refused(error(400, f"request body is not valid JSON: {exc}"))
    except RecursionError:  # 64 kB of "[[[[..." nests deeper than the parser goes
        raise _Refused(error(400, "request body is not valid JSON: nested too deeply"))
    if not isinstance(body, dict):
        raise _Refused(error(400, "request body must be a JSON object"))
    return body


def _only(fields: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(fields) - allowed)
    if extra:
        raise _Refused(error(400, f"unknown {where} {extra[0]!r}; allowed: {', '.join(sorted(allowed))}"))


def create_app(store: KeyStore, clock: MissionClock) -> FastAPI:
    """The KME API over ``store`` with mission time from ``clock``."""
    app = FastAPI(title="satqkd KME (ETSI GS QKD 014)", docs_url=None, redoc_url=None,
                  openapi_url=None)
    saes = store.saes()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # unknown paths and methods: still the spec's error format
        status = 400 if exc.status_code < 500 else 503
        return error(status, f"{request.method} {request.url.path}: {exc.detail}")

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error(400, "invalid request")

    def caller_and_peer(request: Request, peer: str) -> tuple[str, str]:
        caller = sae_from_tls(request.scope)
        if caller is None or caller not in saes:
            raise _Refused(error(401, "the client certificate names no SAE of this mission",
                                 certificate=caller))
        if peer not in saes:
            raise _Refused(error(400, f"unknown SAE {peer!r}"))
        if peer == caller:
            raise _Refused(error(400, f"{caller} asks for keys with itself"))
        if peer not in store.partners(caller):
            raise _Refused(error(401, f"{caller} shares no key with {peer}"))
        return caller, peer

    def status_body(master: str, slave: str) -> dict:
        now = clock.now()
        return {
            "source_KME_ID": f"KME-{master}",
            "target_KME_ID": f"KME-{slave}",
            "master_SAE_ID": master,
            "slave_SAE_ID": slave,
            "key_size": DEFAULT_KEY_SIZE,
            "stored_key_count": store.key_count(master, slave, DEFAULT_KEY_SIZE, now),
            "max_key_count": store.total_key_count(master, slave, DEFAULT_KEY_SIZE),
            "max_key_per_request": MAX_KEYS_PER_REQUEST,
            "max_key_size": MAX_KEY_SIZE,
            "min_key_size": MIN_KEY_SIZE,
            "max_SAE_ID_count": 0,
            "status_extension": {
                "clock": clock.mode,
                "mission_time": _iso(now) if clock.mode == "replay" else None,
                "next_key_mission_time": _iso(store.next_arrival(master, slave,
                                                                 DEFAULT_KEY_SIZE, now)),
            },
        }

    def keys_body(issued, sae: str) -> dict:
        return {"keys": [{"key_ID": k.key_id,
                          "key": base64.b64encode(store.key_bits(k, sae)).decode(),
                          "key_ID_extension": {"source": k.source.name,
                                               "first_bit": k.start_bit}}
                         for k in issued]}

    @app.get("/api/v1/keys/{slave_SAE_ID}/status")
    async def status(request: Request, slave_SAE_ID: str) -> Response:
        try:
            master, slave = caller_and_peer(request, slave_SAE_ID)
            _only(dict(request.query_params), set(), "query parameter")
        except _Refused as r:
            return r.response
        return ok(status_body(master, slave))

    @app.api_route("/api/v1/keys/{slave_SAE_ID}/enc_keys", methods=["GET", "POST"])
    async def enc_keys(request: Request, slave_SAE_ID: str) -> Response:
        try:
            master, slave = caller_and_peer(request, slave_SAE_ID)
            if request.method == "POST":
                body = await _json_body(request)
                _only(body, {"number", "size", "additional_slave_SAE_IDs",
                             "extension_mandatory", "extension_optional"}, "field")
            else:
                body = dict(request.query_params)
                _only(body, {"number", "size"}, "query parameter")
            number = _int(body.get("number", 1), "number", 1, MAX_KEYS_PER_REQUEST)
            size = _int(body.get("size", DEFAULT_KEY_SIZE), "size", MIN_KEY_SIZE, MAX_KEY_SIZE)
            extra = body.get("additional_slave_SAE_IDs", [])
            if not isinstance(extra, list) or not all(isinstance(x, str) for x in extra):
                raise _Refused(error(400, "additional_slave_SAE_IDs must be an array of strings"))
            if extra:  # a satellite key has exactly two ends
                raise _Refused(error(400, "key multicast is not supported (max_SAE_ID_count 0)",
                                     additional_slave_SAE_IDs=extra))
            for name in ("extension_mandatory", "extension_optional"):
                ext = body.get(name, [])
                if not isinstance(ext, list) or not all(isinstance(x, dict) for x in ext):
                    raise _Refused(error(400, f"{name} must be an array of objects"))
            mandatory = [k for x in body.get("extension_mandatory", []) for k in x]
            if mandatory:
                raise _Refused(error(400, f"mandatory extension {mandatory[0]!r} is not supported",
                                     extension=mandatory[0]))
            issued, job = store.reserve(master, slave, number, size, clock.now())
        except _Refused as r:
            return r.response
        except StoreError as e:
            return error(e.status, e.reason, **e.details)
        await store.commit(job)  # durable before anything is sent
        return ok(keys_body(issued, master))

    @app.api_route("/api/v1/keys/{master_SAE_ID}/dec_keys", methods=["GET", "POST"])
    async def dec_keys(request: Request, master_SAE_ID: str) -> Response:
        try:
            slave, master = caller_and_peer(request, master_SAE_ID)
            if request.method == "POST":
                body = await _json_body(request)
                _only(body, {"key_IDs", "key_IDs_extension"}, "field")
                refs = body.get("key_IDs")
                if not isinstance(refs, list) or not refs or not all(
                        isinstance(r, dict) and "key_ID" in r for r in refs):
                    raise _Refused(error(400, "key_IDs must be a non-empty array of "
                                              "{\"key_ID\": ...} objects"))
                ids = [r["key_ID"] for r in refs]
            else:
                query = request.query_params
                _only(dict(query), {"key_ID"}, "query parameter")
                if "key_ID" not in query:
                    raise _Refused(error(400, "key_ID is required"))
                ids = query.getlist("key_ID")
            if len(ids) > MAX_KEYS_PER_REQUEST:
                raise _Refused(error(400, f"at most {MAX_KEYS_PER_REQUEST} key_IDs per request"))
            for kid in ids:
                if not isinstance(kid, str) or not _UUID.match(kid):
                    raise _Refused(error(400, f"key_ID {kid!r} is not a UUID"))
            found, job = store.redeem(slave, master, [k.lower() for k in ids])
        except _Refused as r:
            return r.response
        except StoreError as e:
            return error(e.status, e.reason, **e.details)
        await store.commit(job)
        return ok(keys_body(found, slave))

    return app
