"""``satqkd serve``: the mission's keys behind ETSI GS QKD 014 key managers, on its timeline.

Modules (each small, one job):

* :mod:`~satqkd.serve.catalog`: what an output folder holds: every pass (or pooled
  block, or relay session) key, its two ends (the SAE IDs), its length and the mission
  time at which it exists at both ends.
* :mod:`~satqkd.serve.store`: the SQLite (WAL) key store: how far each key has been
  handed out, every issued key ID, which side received it; a group-commit writer.
* :mod:`~satqkd.serve.clock`: mission time from wall time (``instant`` or ``replay``).
* :mod:`~satqkd.serve.certs`: a local CA, the KME's and every SAE's certificate.
* :mod:`~satqkd.serve.api`: the ETSI GS QKD 014 V1.1.1 REST API (FastAPI).
* :mod:`~satqkd.serve.server`: uvicorn over mutual TLS, the client certificate exposed
  to the app as the ASGI TLS extension.

Only :mod:`catalog`, :mod:`store` and :mod:`clock` are importable without the
``[serve]`` extra (FastAPI, uvicorn, cryptography).
"""
