"""Client credentials for confidential apps: a secret (its value), or a certificate (PEM key +
certificate, whose SHA-1 thumbprint is computed, or a PFX file).

Example::

    SecretCredential(Secret(value))
    CertificateCredential.from_pem("app.key", "app.crt")
    CertificateCredential.from_pfx("app.pfx")
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m365bot.errors import ConfigError
from m365bot.values import Secret


@dataclass(frozen=True)
class SecretCredential:
    """A client secret (its *value*, not its ID)."""

    secret: Secret

    def for_msal(self) -> Any:
        return self.secret.reveal()

    def material(self) -> bytes:
        """The bytes that identify this credential (only ever fed to a keyed fingerprint)."""
        return b"secret:" + self.secret.reveal().encode()


@dataclass(frozen=True)
class CertificateCredential:
    """A certificate credential: PEM key + PEM certificate, or a PFX file (with passphrase).

    Example::

        CertificateCredential.from_pem("app.key", "app.crt")
        CertificateCredential.from_pfx("app.pfx", Secret("pw"))
    """

    private_key: Secret | None = None
    thumbprint: str = ""
    pfx_path: str | None = None
    passphrase: Secret | None = None

    @classmethod
    def from_pem(cls, key_file: str | Path, cert_file: str | Path,
                 passphrase: Secret | None = None) -> CertificateCredential:
        """Read the key and compute the certificate's SHA-1 thumbprint (as Entra shows it)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        try:
            key = Path(key_file).read_text()
            cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        except (OSError, ValueError):
            raise ConfigError(
                "the certificate or its key could not be read as PEM", field="certificate",
                advice="give a PEM private key file and a PEM certificate file (or a PFX)",
            ) from None
        der = cert.public_bytes(serialization.Encoding.DER)
        return cls(private_key=Secret(key), thumbprint=hashlib.sha1(der).hexdigest(),
                   passphrase=passphrase)

    @classmethod
    def from_pfx(cls, pfx_file: str | Path, passphrase: Secret | None = None
                 ) -> CertificateCredential:
        """A PKCS#12 file; msal signs PS256 with ``x5t#S256``."""
        if not Path(pfx_file).is_file():
            raise ConfigError("the PFX file does not exist", field="certificate",
                              advice="give the path of the .pfx file")
        return cls(pfx_path=str(pfx_file), passphrase=passphrase)

    def for_msal(self) -> Any:
        if self.pfx_path:
            cred: dict[str, Any] = {"private_key_pfx_path": self.pfx_path}
        else:
            assert self.private_key is not None
            cred = {"private_key": self.private_key.reveal(), "thumbprint": self.thumbprint}
        if self.passphrase is not None:
            cred["passphrase"] = self.passphrase.reveal()
        return cred

    def material(self) -> bytes:
        """The bytes that identify this credential: key, thumbprint, passphrase and the PFX
        file's content (only ever fed to a keyed fingerprint)."""
        import json

        data = json.dumps(self.for_msal(), sort_keys=True).encode()
        if self.pfx_path:
            with contextlib.suppress(OSError):
                data += Path(self.pfx_path).read_bytes()
        return b"certificate:" + data

    def __repr__(self) -> str:
        return f"CertificateCredential(thumbprint={self.thumbprint!r}, pfx={bool(self.pfx_path)})"


__all__ = ["CertificateCredential", "SecretCredential"]
