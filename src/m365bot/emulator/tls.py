"""The emulator's local certificate authority and its HTTPS server certificate.

Both live in the data folder (``ca.pem``, ``ca-key.pem``, ``server.pem``, ``server-key.pem``)
and are reused across restarts, so a client that trusts ``ca.pem`` once keeps trusting the
emulator. The server certificate names every host in :data:`hosts.HOSTS` plus ``localhost``
and ``127.0.0.1``; it is re-issued when that list changes or it nears expiry.

Keys are ECDSA P-256: fast to generate and accepted by OpenSSL, curl, httpx and Chromium.

Example::

    ca = LocalCA.open(Path("/tmp/emu"))
    ssl_ctx = ca.server_context()
    print(ca.ca_file)   # give this to clients as their CA bundle
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from m365bot.emulator import hosts

log = logging.getLogger(__name__)

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"
_RENEW_BEFORE = dt.timedelta(days=30)


def server_names() -> list[str]:
    """DNS names the server certificate must carry."""
    return sorted({*hosts.HOSTS, "localhost"})


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class LocalCA:
    """Paths of the CA and server certificate files in ``directory``."""

    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / CA_FILE

    @property
    def server_cert_file(self) -> Path:
        return self.directory / SERVER_FILE

    @property
    def server_key_file(self) -> Path:
        return self.directory / SERVER_KEY_FILE

    @classmethod
    def open(cls, directory: Path | str) -> LocalCA:
        """Load the CA and server certificate from ``directory``, creating what is missing.

        Example::

            LocalCA.open("/tmp/emu").ca_file  # PathLike to ca.pem
        """
        ca = cls(Path(directory))
        ca.directory.mkdir(parents=True, exist_ok=True)
        ca_key, ca_cert = ca._ensure_ca()
        ca._ensure_server(ca_key, ca_cert)
        return ca

    def _ensure_ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key_path = self.directory / CA_KEY_FILE
        if self.ca_file.exists() and key_path.exists():
            cert = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if (
                isinstance(key, ec.EllipticCurvePrivateKey)
                and cert.not_valid_after_utc - _RENEW_BEFORE > _now()
            ):
                return key, cert
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "m365bot emulator"),
                x509.NameAttribute(NameOID.COMMON_NAME, "m365bot emulator local CA"),
            ]
        )
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(key_path, _key_pem(key))
        _write_public(self.ca_file, cert.public_bytes(serialization.Encoding.PEM))
        # A new CA invalidates any server certificate signed by an old one.
        self.server_cert_file.unlink(missing_ok=True)
        log.info("created emulator CA %s", self.ca_file)
        return key, cert

    def _server_is_current(self, ca_cert: x509.Certificate) -> bool:
        if not (self.server_cert_file.exists() and self.server_key_file.exists()):
            return False
        try:
            cert = x509.load_pem_x509_certificate(self.server_cert_file.read_bytes())
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (ValueError, x509.ExtensionNotFound):
            return False
        names = sorted(sans.get_values_for_type(x509.DNSName))
        return (
            cert.issuer == ca_cert.subject
            and names == server_names()
            and cert.not_valid_after_utc - _RENEW_BEFORE > _now()
        )

    def _ensure_server(self, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate) -> None:
        if self._server_is_current(ca_cert):
            return
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        alt: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names()]
        alt.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "m365bot emulator")]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=397))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(self.server_key_file, _key_pem(key))
        _write_public(self.server_cert_file, cert.public_bytes(serialization.Encoding.PEM))
        log.info("issued emulator server certificate %s", self.server_cert_file)

    def server_context(self) -> ssl.SSLContext:
        """An SSL context serving the emulator's certificate, offering HTTP/2 and HTTP/1.1
        (ALPN ``h2``, ``http/1.1``) as Graph does."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.server_cert_file, self.server_key_file)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts only this CA (for tests and the bench)."""
        return ssl.create_default_context(cafile=str(self.ca_file))
