"""Client authentication at the token endpoint: secrets (post or HTTP Basic) and certificate
assertions (RS256 + ``x5t``, PS256 + ``x5t#S256``), and the public-client rule.

Example::

    appidacr = authenticate_client(ctx, app, form, required=True)  # "0", "1" or "2"
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from m365bot.emulator.entra import errors
from m365bot.emulator.state import App, AppCertificate
from m365bot.emulator.tokens import SIGNATURE_ONLY

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = 300


@dataclass(frozen=True)
class ClientCredentials:
    """What the request presented (values never logged)."""

    secret: str | None
    assertion: str | None
    assertion_type: str | None


def presented(form: Mapping[str, str], authorization: str | None) -> ClientCredentials:
    """Collect the secret (body or ``Authorization: Basic``) and the assertion."""
    secret = form.get("client_secret")
    if not secret and authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input
            raise errors.malformed(
                "The Authorization header is not valid Basic credentials."
            ) from None
        _, sep, pw = decoded.partition(":")
        if not sep:
            raise errors.malformed("The Authorization header is not valid Basic credentials.")
        secret = unquote_plus(pw)
    return ClientCredentials(
        secret=secret or None,
        assertion=form.get("client_assertion") or None,
        assertion_type=form.get("client_assertion_type") or None,
    )


def authenticate_client(
    app: App,
    creds: ClientCredentials,
    *,
    now: float,
    audiences: set[str],
    required: bool,
) -> str:
    """Check the client's credential; return ``appidacr`` ("0" none, "1" secret, "2" cert)."""
    if app.public_client:
        if creds.secret or creds.assertion:
            raise errors.public_client_secret()
        return "0"
    if creds.assertion or creds.assertion_type:
        if creds.assertion_type != JWT_BEARER:
            raise (
                errors.malformed(f"client_assertion_type must be '{JWT_BEARER}'.")
                if creds.assertion_type
                else errors.missing_parameter("client_assertion_type")
            )
        if not creds.assertion:
            raise errors.missing_parameter("client_assertion")
        _verify_assertion(app, creds.assertion, now=now, audiences=audiences)
        return "2"
    if creds.secret:
        _verify_secret(app, creds.secret, now=now)
        return "1"
    if required:
        raise errors.no_credential()
    return "0"


def _verify_secret(app: App, secret: str, *, now: float) -> None:
    given = secret.encode("utf-8")
    for s in app.secrets:
        if hmac.compare_digest(given, s.value.encode("utf-8")):
            if s.expires and s.expires <= now:
                raise errors.expired_secret(app.client_id, s.id)
            return
    # Wrong value, or the secret's ID sent instead of its value: both are 7000215.
    raise errors.invalid_secret(app.client_id)


def _same(registered: str, presented: str) -> bool:
    """Thumbprints compare as base64url without padding (msal pads them)."""

    def norm(v: str) -> str:
        return v.replace("+", "-").replace("/", "_").rstrip("=")

    return bool(registered) and norm(registered) == norm(presented)


def _public_key(cert: AppCertificate) -> rsa.RSAPublicKey:
    pem = cert.public_pem.encode("ascii")
    key: object
    if b"BEGIN CERTIFICATE" in pem:
        key = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise errors.bad_assertion("The key is not an RSA key.")
    return key


def _verify_assertion(app: App, assertion: str, *, now: float, audiences: set[str]) -> None:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise errors.malformed("The client_assertion is not a JWT.") from None
    alg = header.get("alg")
    if alg not in ("RS256", "PS256"):
        raise errors.bad_assertion(f"The algorithm '{alg}' is not supported.")
    cert = None
    if isinstance(header.get("x5t#S256"), str):
        thumb = header["x5t#S256"]
        cert = next((c for c in app.certificates if _same(c.x5t_s256, thumb)), None)
    elif isinstance(header.get("x5t"), str):
        thumb = header["x5t"]
        cert = next((c for c in app.certificates if _same(c.x5t, thumb)), None)
    else:
        thumb = ""
    if cert is None:
        raise errors.bad_assertion(
            f"The key was not found., Thumbprint of key used by client: '{thumb}'"
        )
    try:
        claims = jwt.decode(
            assertion,
            _public_key(cert),
            algorithms=[alg],
            options=SIGNATURE_ONLY,
        )
    except jwt.PyJWTError:
        raise errors.bad_assertion(
            "The signature does not match the registered certificate."
        ) from None
    if cert.expires and cert.expires <= now:
        raise errors.bad_assertion("The certificate used to sign the assertion has expired.")
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise errors.EntraError(
            700021,
            "invalid_client",
            "Client assertion application identifier doesn't match 'client_id' parameter. "
            "The iss and sub claims must both be the client id.",
            status=401,
        )
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a.rstrip("/") in audiences for a in auds):
        raise errors.EntraError(
            700027,
            "invalid_client",
            "Client assertion failed signature validation. [Reason - The audience of the "
            "assertion is not this token endpoint.]",
            status=401,
        )
    exp = claims.get("exp")
    nbf = claims.get("nbf")
    if (
        not isinstance(exp, int | float)
        or exp + CLOCK_SKEW < now
        or (isinstance(nbf, int | float) and nbf - CLOCK_SKEW > now)
    ):
        raise errors.EntraError(
            700024,
            "invalid_client",
            "Client assertion is not within its valid time range.",
            status=401,
        )
