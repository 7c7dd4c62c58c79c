"""A local certificate authority for the key managers and their SAEs (``--make-certs``).

Writes ``ca.pem`` (and ``ca-key.pem``, kept to issue more certificates later),
``kme.pem`` / ``kme-key.pem`` (server; valid for ``localhost`` and ``127.0.0.1``) and,
for every SAE, ``<SAE_ID>.pem`` / ``<SAE_ID>-key.pem`` (client; the SAE ID is the
certificate's common name and its only DNS name).  ECDSA P-256 keys, private keys
written 0600, every file written atomically.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from satqkd.errors import InputError

__all__ = ["make_certs", "KME_FILES"]

KME_FILES = ("ca.pem", "kme.pem", "kme-key.pem")
_VALID = dt.timedelta(days=825)


def _write(path: Path, data: bytes, private: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "satqkd serve"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(cn: str, ca_key, ca_name: x509.Name | None, *, ca: bool = False,
           server: bool = False, sans: Iterable[x509.GeneralName] = ()):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(cn))
               .issuer_name(ca_name or _name(cn))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + _VALID)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None),
                              critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    cert = builder.sign(ca_key or key, hashes.SHA256())
    return key, cert


def make_certs(directory: str | Path, saes: Iterable[str]) -> list[Path]:
    """Create the CA, the KME's certificate and one client certificate per SAE."""
    saes = sorted(set(saes))
    clash = [s for s in saes if s.lower() in ("ca", "kme")]
    if clash:
        raise InputError(f"SAE {clash[0]!r}: its certificate would overwrite {clash[0]}.pem; "
                         "rename the station or satellite")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _issue("satqkd serve local CA", None, None, ca=True)
    written = []

    def save(stem: str, key, cert) -> None:
        _write(d / f"{stem}.pem", cert.public_bytes(serialization.Encoding.PEM))
        _write(d / f"{stem}-key.pem", _key_pem(key), private=True)
        written.extend([d / f"{stem}.pem", d / f"{stem}-key.pem"])

    save("ca", ca_key, ca_cert)
    kme_key, kme_cert = _issue("satqkd KME", ca_key, ca_cert.subject, server=True, sans=[
        x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    save("kme", kme_key, kme_cert)
    for sae in saes:
        key, cert = _issue(sae, ca_key, ca_cert.subject, sans=[x509.DNSName(sae)])
        save(sae, key, cert)
    return written
