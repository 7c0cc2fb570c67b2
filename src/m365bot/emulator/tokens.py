"""The emulator's signing key, and the JWTs it issues: Graph access tokens and ID tokens.

One RSA-2048 key signs everything. With a data folder (``--state DIR`` or the emulator's
data dir) the key is kept there as ``signing-key.pem`` (mode 0600), so tokens issued before
a restart still verify after it. Without one the key lives in memory only.

Access tokens are v1-format, like real Graph tokens (identity-and-graph-facts.md §1.6):
``aud`` is the cloud's Graph resource, ``iss`` is ``https://sts.windows.net/{tid}/``.
ID tokens are v2-format, issued by ``https://{login host}/{tid}/v2.0``.

Example::

    tokens = Tokens.open(Path("/tmp/emu"), clock)
    jwt = tokens.issue_access_token(tenant_id=tid, cloud="global", client_id=cid,
                                    app_name="demo", roles=["Mail.Read"], oid=sp_id)
    claims = tokens.decode_access_token(jwt)   # signature checked, expiry not
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.types import Options

from m365bot.emulator.errors import EmulatorError
from m365bot.emulator.hosts import GRAPH_RESOURCE, Cloud

if TYPE_CHECKING:
    from m365bot.emulator.clock import Clock

log = logging.getLogger(__name__)

KEY_FILE = "signing-key.pem"
ACCESS_TOKEN_LIFETIME = 3599
ID_TOKEN_LIFETIME = 3600
# jwt.decode options that check the signature only: times, audience and issuer are checked by
# the caller against the emulator's clock and its own rules (with Graph's or Entra's errors).
SIGNATURE_ONLY: Options = {"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                  "verify_aud": False, "verify_iss": False}


_VERIFIED_KEPT = 1024  # tokens whose verified claims are kept


class TokenError(EmulatorError):
    """A token the emulator did not issue, or one that was tampered with."""


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JOSE uses it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def pairwise_sub(object_id: str, client_id: str) -> str:
    """The per-app ``sub`` Entra puts in tokens: stable for one user and one app."""
    digest = hashlib.sha256(f"{object_id}|{client_id}".encode()).digest()
    return b64url(digest)[:43]


class Tokens:
    """Signing key plus issue/verify helpers. Build with :meth:`open`."""

    def __init__(self, key: rsa.RSAPrivateKey, clock: Clock) -> None:
        self._key = key
        self._public = key.public_key()
        # tokens whose signature checked out, with their claims (a $batch of 20 is checked
        # 21 times); the times are the caller's to check, on every use
        self._verified: dict[str, dict[str, Any]] = {}
        self.clock = clock
        der = self._public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # Entra's kid and x5t are the same base64url SHA-1 thumbprint; ours is of the key.
        self.kid = b64url(hashlib.sha1(der).digest())

    @classmethod
    def open(cls, directory: Path | str | None, clock: Clock) -> Tokens:
        """Load the key from ``directory`` (creating it there on first use), or make one in memory.

        Example::

            tokens = Tokens.open(None, Clock())  # in-memory key
        """
        if directory is None:
            return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), clock)
        path = Path(directory) / KEY_FILE
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise TokenError(f"{path} does not hold an RSA private key")
            return cls(loaded, clock)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        log.info("created emulator signing key %s (kid %s)", path, cls(key, clock).kid)
        return cls(key, clock)

    # -- JWKS ---------------------------------------------------------------------------------

    def jwks(self, issuer: str | None = None) -> dict[str, Any]:
        """The JWKS document served at ``/{tenant}/discovery/v2.0/keys``."""
        numbers = self._public.public_numbers()
        key: dict[str, Any] = {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _int_b64(numbers.n),
            "e": _int_b64(numbers.e),
        }
        if issuer:
            key["issuer"] = issuer
        return {"keys": [key]}

    def public_pem(self) -> str:
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    # -- issuing ------------------------------------------------------------------------------

    def _sign(self, claims: dict[str, Any]) -> str:
        headers = {"typ": "JWT", "kid": self.kid, "x5t": self.kid}
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    def issue_access_token(
        self,
        *,
        tenant_id: str,
        cloud: Cloud,
        client_id: str,
        app_name: str,
        oid: str,
        roles: list[str] | None = None,
        scp: list[str] | None = None,
        upn: str | None = None,
        name: str | None = None,
        appidacr: str = "1",
        lifetime: int = ACCESS_TOKEN_LIFETIME,
    ) -> str:
        """A Graph access token: app-only (``roles``) when ``upn`` is None, else delegated.

        Example::

            tokens.issue_access_token(tenant_id=t, cloud="global", client_id=c, app_name="x",
                                      oid=user_id, scp=["Mail.Read"], upn="alice@contoso.com")
        """
        now = int(self.clock.now())
        claims: dict[str, Any] = {
            "aud": GRAPH_RESOURCE[cloud],
            "iss": f"https://sts.windows.net/{tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "app_displayname": app_name,
            "appid": client_id,
            "appidacr": appidacr,
            "azp": client_id,
            "azpacr": appidacr,
            "idp": f"https://sts.windows.net/{tenant_id}/",
            "oid": oid,
            "sub": oid if upn is None else pairwise_sub(oid, client_id),
            "tid": tenant_id,
            "uti": b64url(uuid.uuid4().bytes)[:22],
            "ver": "1.0",
        }
        if upn is None:
            claims["idtyp"] = "app"
            if roles:
                claims["roles"] = list(roles)
        else:
            claims["idtyp"] = "user"
            claims["scp"] = " ".join(scp or [])
            claims["upn"] = upn
            claims["unique_name"] = upn
            claims["name"] = name or upn
        return self._sign(claims)

    def issue_id_token(
        self,
        *,
        issuer: str,
        client_id: str,
        tenant_id: str,
        oid: str,
        upn: str,
        name: str,
        nonce: str | None = None,
        email: str | None = None,
        lifetime: int = ID_TOKEN_LIFETIME,
    ) -> str:
        """A v2.0 ID token for ``client_id``; echoes ``nonce`` when the sign-in carried one."""
        now = int(self.clock.now())
        claims: dict[str, Any] = {
            "aud": client_id,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "name": name,
            "oid": oid,
            "preferred_username": upn,
            "sub": pairwise_sub(oid, client_id),
            "tid": tenant_id,
            "uti": b64url(uuid.uuid4().bytes)[:22],
            "ver": "2.0",
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if email:
            claims["email"] = email
        return self._sign(claims)

    # -- verifying ----------------------------------------------------------------------------

    def decode_access_token(self, token: str) -> dict[str, Any]:
        """Claims of a token this emulator signed. Checks the signature only, not the times.

        Raises :class:`TokenError` for anything else (garbage, another key, tampering).

        Example::

            claims = tokens.decode_access_token(bearer)
            expired = claims["exp"] <= clock.now()
        """
        known = self._verified.get(token)
        if known is not None:  # its signature was checked: a token is sent again and again
            return dict(known)
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256":
                raise TokenError("unexpected algorithm")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=["RS256"],
                options=SIGNATURE_ONLY,
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"token rejected: {type(exc).__name__}") from None
        if len(self._verified) >= _VERIFIED_KEPT:
            self._verified.clear()
        self._verified[token] = dict(claims)
        return claims

    def thumbprint(self) -> str:
        """SHA-256 of the public key, hex: shown in the info file for humans."""
        der = self._public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        h = hashes.Hash(hashes.SHA256())
        h.update(der)
        return h.finalize().hex()
