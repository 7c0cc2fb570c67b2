"""The authorization code flow with PKCE (S256) for a Control Room OAuth connection: the
sign-in URL, and the redemption of the answer (state checked before any token request).
Used by ``m365bot controlroom connection login`` (loopback redirect) and by the server's
Login button (the Control Room's callback).

Example::

    flow = PkceFlow.start(conn, redirect_uri="https://cr.corp/oauth/callback", login_hint=u)
    browser.open(flow.url)
    result = flow.redeem(factory, {"state": ..., "code": ...})
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from m365bot.config import Settings
from m365bot.controlroom.connections import OAuthConnection, post_token
from m365bot.errors import AuthError
from m365bot.net import HttpFactory


def challenge_of(verifier: str) -> str:
    """The S256 code challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class PkceFlow:
    """One sign-in: its state, verifier, redirect URI and the URL to open.

    Example::

        PkceFlow.start(conn, redirect_uri="http://127.0.0.1:53100").url
    """

    conn: OAuthConnection
    state: str
    verifier: str
    redirect_uri: str
    url: str

    @classmethod
    def start(cls, conn: OAuthConnection, *, redirect_uri: str, login_hint: str = "",
              state: str = "", verifier: str = "") -> PkceFlow:
        """A new sign-in (fresh state and verifier unless given, e.g. kept server-side)."""
        state = state or secrets.token_urlsafe(24)
        verifier = verifier or secrets.token_urlsafe(48)
        query = {"client_id": conn.client_id, "response_type": "code",
                 "redirect_uri": redirect_uri, "scope": " ".join(conn.scopes),
                 "state": state, "code_challenge": challenge_of(verifier),
                 "code_challenge_method": "S256", "prompt": "select_account"}
        if login_hint:
            query["login_hint"] = login_hint
        return cls(conn, state, verifier, redirect_uri,
                   conn.authorization_url + "?" + urlencode(query))

    def redeem(self, http: Settings | HttpFactory, params: dict[str, str]) -> dict[str, Any]:
        """Check the callback's state (before any token request), then exchange its code."""
        if not hmac.compare_digest(params.get("state", "").encode(), self.state.encode()):
            raise AuthError("the sign-in answer did not carry this sign-in's state; no token "
                            "was requested", code="state_mismatch",
                            advice="start the login again")
        if "error" in params or not params.get("code"):
            raise AuthError(f"the sign-in failed: {params.get('error', 'no code')}",
                            code=params.get("error", "no_code"),
                            advice="log in again and accept the permissions")
        return post_token(self.conn, http, {"grant_type": "authorization_code",
                                            "code": params["code"],
                                            "redirect_uri": self.redirect_uri,
                                            "code_verifier": self.verifier})

    def __repr__(self) -> str:
        return f"<PkceFlow {self.conn.provider_type}/{self.conn.name}>"


__all__ = ["PkceFlow", "challenge_of"]
