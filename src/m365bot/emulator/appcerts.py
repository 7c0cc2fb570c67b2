"""Certificate credentials for scenario apps: RSA key, self-signed certificate and PFX files.

Files go to ``<data dir>/apps/<client id>/``: ``<name>.pem`` (certificate), ``<name>.key.pem``
(private key, mode 0600) and ``<name>.pfx`` (both, no password). Existing files are reused,
so a harness's configuration stays valid across restarts.

Example::

    cert = ensure_certificate(Path("/tmp/emu/apps/cid"), "demo", "m365bot-demo", 365)
    cert.cert_file, cert.x5t
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from m365bot.emulator.state import AppCertificate

log = logging.getLogger(__name__)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def key_file_of(cert_file: str) -> str:
    """The private key file that sits next to a certificate file."""
    return (
        cert_file[: -len(".pem")] + ".key.pem" if cert_file.endswith(".pem") else cert_file + ".key"
    )


def thumbprints(cert: x509.Certificate) -> tuple[str, str]:
    """(SHA-1 hex, SHA-256 hex) thumbprints, upper case as the Entra portal shows them."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()


def _describe(cert: x509.Certificate, cert_file: Path, pfx_file: Path) -> AppCertificate:
    der = cert.public_bytes(serialization.Encoding.DER)
    return AppCertificate(
        x5t=_b64url(hashlib.sha1(der).digest()),
        x5t_s256=_b64url(hashlib.sha256(der).digest()),
        public_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        expires=cert.not_valid_after_utc.timestamp(),
        cert_file=str(cert_file),
        pfx_file=str(pfx_file),
    )


def ensure_certificate(directory: Path, name: str, subject: str, days: int) -> AppCertificate:
    """Load or create the certificate ``name`` in ``directory`` (see module example)."""
    cert_file = directory / f"{name}.pem"
    key_file = Path(key_file_of(str(cert_file)))
    pfx_file = directory / f"{name}.pfx"
    if cert_file.exists() and key_file.exists() and pfx_file.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
            return _describe(cert, cert_file, pfx_file)
        except ValueError:
            log.warning("replacing unreadable certificate %s", cert_file)
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cn = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{subject} ({name})")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(cn)
        .issuer_name(cn)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pfx = pkcs12.serialize_key_and_certificates(
        name.encode(), key, cert, None, serialization.NoEncryption()
    )
    for path, data, mode in (
        (key_file, key_pem, 0o600),
        (pfx_file, pfx, 0o600),
        (cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644),
    ):
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    log.info("created app certificate %s", cert_file)
    return _describe(cert, cert_file, pfx_file)
