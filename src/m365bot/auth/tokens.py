"""Access tokens and the :class:`TokenProvider` protocol the Graph transport uses.

The transport does "401 → one ``get_token(force_refresh=True)`` → one retry; a second 401 →
AuthError". Claims are decoded without verification (Graph tokens are opaque to clients;
this is for display and checks like "which roles were granted").

Example::

    tok = provider.get_token()
    headers = {"Authorization": f"Bearer {tok.token.reveal()}"}
    tok.claims.get("roles"), tok.expires_on
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from m365bot.values import Secret

REFRESH_MARGIN = 300.0  # msal treats a token with under 5 minutes left as expired
CLAIM_NAMES = ("aud", "tid", "oid", "appid", "azp", "app_displayname", "idtyp", "roles", "scp",
               "upn", "unique_name", "preferred_username", "exp", "iat", "nbf", "iss", "ver")


def decode_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified, limited to :data:`CLAIM_NAMES` ({} if not a JWT).

    Example::

        decode_claims(tok.token.reveal())["roles"]
    """
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        pad = "=" * (-len(parts[1]) % 4)
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + pad))
    except (ValueError, TypeError):
        return {}
    if not isinstance(payload, dict):
        return {}
    return {k: payload[k] for k in CLAIM_NAMES if k in payload}


@dataclass(frozen=True)
class AccessToken:
    """A bearer token for Graph. ``token`` is a :class:`Secret`; ``expires_on`` is epoch
    seconds; ``claims`` the decoded (unverified) payload; ``source`` ``cache`` or
    ``identity_provider``.

    Example::

        tok.expires_in(), tok.roles, tok.scopes
    """

    token: Secret
    expires_on: float
    claims: dict[str, Any] = field(default_factory=dict)
    source: str = "identity_provider"

    def expires_in(self, now: float | None = None) -> float:
        """Seconds left (negative once expired)."""
        return self.expires_on - (time.time() if now is None else now)

    @property
    def roles(self) -> list[str]:
        """Application permissions (app-only tokens)."""
        roles = self.claims.get("roles") or []
        return [str(r) for r in roles] if isinstance(roles, list) else []

    @property
    def scopes(self) -> list[str]:
        """Delegated permissions (user tokens)."""
        return str(self.claims.get("scp") or "").split()

    @property
    def identity(self) -> str:
        """The user (upn) or the app (display name / app id) the token speaks for."""
        c = self.claims
        return str(c.get("upn") or c.get("unique_name") or c.get("preferred_username")
                   or c.get("app_displayname") or c.get("appid") or c.get("azp") or "")

    def __repr__(self) -> str:
        return (f"AccessToken(token=Secret('********'), expires_on={self.expires_on:.0f}, "
                f"identity={self.identity!r}, source={self.source!r})")


def make_access_token(raw: str, expires_in: float | int | str | None, source: str,
                      *, now: float | None = None) -> AccessToken:
    """An :class:`AccessToken` from a raw token string and its ``expires_in``."""
    claims = decode_claims(raw)
    t = time.time() if now is None else now
    try:
        expires_on = t + float(expires_in) if expires_in is not None else None
    except (TypeError, ValueError):
        expires_on = None
    if expires_on is None:
        exp = claims.get("exp")
        expires_on = float(exp) if isinstance(exp, int | float) else t + 600
    return AccessToken(Secret(raw), expires_on, claims, source)


@runtime_checkable
class TokenProvider(Protocol):
    """Something that hands out Graph access tokens.

    Example::

        def call(provider: TokenProvider): provider.get_token(force_refresh=True)
    """

    def get_token(self, *, force_refresh: bool = False) -> AccessToken: ...


__all__ = ["CLAIM_NAMES", "REFRESH_MARGIN", "AccessToken", "TokenProvider", "decode_claims",
           "make_access_token"]
