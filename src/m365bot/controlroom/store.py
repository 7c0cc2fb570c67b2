"""The local (embedded) store of Control Room OAuth connections.

A connection is what an administrator creates under Manage > OAuth connections: provider type
("Microsoft Entra" or "Custom"), connection name, grant type, client id, client secret,
authorization URL, token URL and scopes. Everything is kept in the Credential Vault's
encrypted blob store (the client secret and tokens included). Each connection has one Shared
token slot and one User-specific slot per user, each Active, Expired or Missing.

Example::

    store = ConnectionStore(vault)
    store.add(OAuthConnection("Microsoft Entra", "ops", client_id=cid, client_secret=Secret(s),
              authorization_url=".../authorize", token_url=".../token",
              scopes=["offline_access", "https://graph.microsoft.com/Mail.ReadWrite"]))
    store.login("Microsoft Entra", "ops", token_type="user", user="alice@contoso.com",
                settings=settings)
    store.status("Microsoft Entra", "ops", user="alice@contoso.com")   # 'Active'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from m365bot.config import Settings
from m365bot.errors import AuthError, ConfigError
from m365bot.protocols import BlobStore
from m365bot.values import Secret

if TYPE_CHECKING:
    from m365bot.auth.signin import SignInOptions
    from m365bot.auth.tokens import TokenProvider
    from m365bot.net import HttpFactory

log = logging.getLogger(__name__)

CONNECTION_KIND = "controlroom_connection"
INDEX_KIND = "controlroom_index"
PROVIDERS = ("Microsoft Entra", "Custom")
GRANTS = ("authorization_code", "client_credentials")


@dataclass(frozen=True)
class OAuthConnection:
    """One Control Room OAuth connection (the client secret is a :class:`Secret`).

    Example::

        OAuthConnection("Custom", "ops", client_id="...", authorization_url=a, token_url=t)
    """

    provider_type: str
    name: str
    client_id: str
    token_url: str
    authorization_url: str = ""
    grant_type: str = "authorization_code"
    client_secret: Secret | None = None
    scopes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.provider_type not in PROVIDERS:
            raise ConfigError(f"provider type {self.provider_type!r} is not known",
                              field="provider_type", advice="use 'Microsoft Entra' or 'Custom'")
        if not self.name.strip() or "|" in self.name:
            raise ConfigError("the connection name is empty or has '|'", field="connection_name",
                              advice="give a name like 'ops-mail'")
        if self.grant_type not in GRANTS:
            raise ConfigError(f"grant type {self.grant_type!r} is not supported",
                              field="grant_type",
                              advice="use authorization_code or client_credentials")
        for fname in ("token_url", "authorization_url"):
            url = getattr(self, fname)
            if (url or fname == "token_url") and not url.startswith("https://"):
                raise ConfigError(f"{fname} must be an https URL", field=fname,
                                  advice="copy it from the provider, e.g. https://login."
                                  "microsoftonline.com/TENANT/oauth2/v2.0/token")
        if self.grant_type == "authorization_code" and not self.authorization_url:
            raise ConfigError("authorization_url is empty", field="authorization_url",
                              advice="give the provider's authorize URL")
        if not self.client_id.strip():
            raise ConfigError("client_id is empty", field="client_id",
                              advice="give the app's client id")
        if self.grant_type == "client_credentials" and not self.client_secret:
            raise ConfigError("a client_credentials connection needs its client secret",
                              field="client_secret",
                              advice="give the secret on stdin with --client-secret-stdin")

    @property
    def key(self) -> str:
        return f"{self.provider_type.lower()}|{self.name.lower()}"

    def public(self) -> dict[str, Any]:
        """Everything but the secret (for listings)."""
        return {"provider_type": self.provider_type, "name": self.name,
                "grant_type": self.grant_type, "client_id": self.client_id,
                "authorization_url": self.authorization_url, "token_url": self.token_url,
                "scopes": list(self.scopes), "has_client_secret": self.client_secret is not None}

    def __repr__(self) -> str:
        return f"<OAuthConnection {self.provider_type}/{self.name} {self.grant_type}>"


def _state_key(conn: OAuthConnection, token_type: str, user: str) -> str:
    if token_type == "shared":
        return f"controlroom|{conn.key}|shared"
    return f"controlroom|{conn.key}|user|{user.lower()}"


def _slot_name(conn: OAuthConnection, token_type: str, user: str) -> str:
    """How a person knows a token slot, e.g. "connection Microsoft Entra/ops (Shared token)"."""
    which = "Shared token" if token_type == "shared" else f"{user}'s User-specific token"
    return f"connection {conn.provider_type}/{conn.name} ({which})"


def _login_command(conn: OAuthConnection, token_type: str, user: str) -> str:
    """The command that logs a token slot in (again)."""
    return (f"m365bot controlroom connection login --provider '{conn.provider_type}' "
            f"--name '{conn.name}' --token-type {token_type}"
            + (f" --user {user}" if token_type == "user" else ""))


def slot_status(state: dict[str, Any] | None, conn: OAuthConnection, now: float) -> str:
    """A token slot's status, from its token and its last renewal:

    * ``Missing`` before the first login;
    * ``Expired`` once a renewal was refused (an ``invalid_grant``, a refused client
      secret), or when no token can be obtained (the access token expired and there is
      neither a refresh token nor a client secret to get another);
    * ``Active`` otherwise: a refresh token (or a client-credentials connection's secret)
      renews the access token when it expires.
    """
    from m365bot.auth.refresh import REFUSED

    if not state:
        return "Missing"
    if state.get(REFUSED):
        return "Expired"
    renewable = state.get("refresh_token") or (
        conn.grant_type == "client_credentials" and conn.client_secret is not None)
    if renewable:
        return "Active"
    if not state.get("access_token"):
        return "Missing"
    return "Active" if float(state.get("expires_on") or 0) > now else "Expired"


def _token_type(value: str) -> str:
    norm = value.lower().replace("-", "").replace("_", "").replace(" ", "")
    if norm in ("shared", "global"):
        return "shared"
    if norm in ("user", "userspecific"):
        return "user"
    raise ConfigError(f"token type {value!r} is not Shared or User-specific", field="token_type",
                      advice="use shared or user")


def _check_account(result: dict[str, Any], user: str) -> None:
    """A User-specific token must be the user's own: nothing is stored otherwise."""
    from m365bot.auth.tokens import decode_claims

    claims = decode_claims(str(result.get("access_token") or ""))
    who = str(claims.get("upn") or claims.get("unique_name")
              or claims.get("preferred_username") or "")
    if who and who.lower() != user.lower():
        raise AuthError(f"the browser signed in as {who}, but the User-specific token is for "
                        f"{user}; nothing was stored", code="wrong_account",
                        advice=f"sign in as {user} (use a private window or sign out first)")


class ConnectionStore:
    """Control Room OAuth connections and their tokens, in the vault's blob store."""

    def __init__(self, vault: BlobStore) -> None:
        self.vault = vault

    def _index(self) -> list[str]:
        raw = self.vault.get_blob(INDEX_KIND, "connections")
        return list(json.loads(raw)) if raw else []

    def add(self, conn: OAuthConnection) -> None:
        """Create or replace a connection."""
        record = conn.public()
        record["client_secret"] = conn.client_secret.reveal() if conn.client_secret else None
        self.vault.put_blob(CONNECTION_KIND, conn.key, json.dumps(record).encode())
        index = self._index()
        if conn.key not in index:
            index.append(conn.key)
            self.vault.put_blob(INDEX_KIND, "connections", json.dumps(index).encode())
        log.info("Control Room connection %s/%s saved", conn.provider_type, conn.name)

    def get(self, provider_type: str, name: str) -> OAuthConnection:
        """A connection by provider type and name; ConfigError naming it if unknown."""
        raw = self.vault.get_blob(CONNECTION_KIND, f"{provider_type.lower()}|{name.lower()}")
        if raw is None:
            raise ConfigError(f"there is no {provider_type} OAuth connection named {name!r}",
                              field="connection",
                              advice="create it with 'm365bot controlroom connection add' or "
                              "check the provider type and name")
        d = json.loads(raw)
        secret = d.pop("client_secret", None)
        d.pop("has_client_secret", None)
        return OAuthConnection(**d, client_secret=Secret(secret) if secret else None)

    def list(self) -> list[OAuthConnection]:
        out = []
        for key in self._index():
            _p, _n = key.split("|", 1)
            raw = self.vault.get_blob(CONNECTION_KIND, key)
            if raw is not None:
                d = json.loads(raw)
                out.append(self.get(d["provider_type"], d["name"]))
        return out

    def status(self, provider_type: str, name: str, *, token_type: str = "shared",
               user: str = "", now: float | None = None) -> str:
        """``Active``, ``Expired`` or ``Missing``, as My settings > OAuth connections shows:
        from the stored token and its last renewal (:func:`slot_status`)."""
        from m365bot.auth.refresh import VaultTokenState

        conn = self.get(provider_type, name)
        st = VaultTokenState(self.vault, _state_key(conn, _token_type(token_type), user)).load()
        return slot_status(st, conn, time.time() if now is None else now)

    def save_tokens(self, conn: OAuthConnection, token_type: str, user: str,
                    result: dict[str, Any]) -> None:
        """Store a token answer (access token, expiry, refresh token) in a slot."""
        from m365bot.auth.refresh import VaultTokenState

        state = {"access_token": result.get("access_token"),
                 "expires_on": time.time() + float(result.get("expires_in") or 0),
                 "refresh_token": result.get("refresh_token")}
        VaultTokenState(self.vault, _state_key(conn, _token_type(token_type), user)).save(state)

    def token_source(self, provider_type: str, name: str, *, token_type: str, user: str,
                     settings: Settings) -> TokenProvider:
        """The token provider Connect uses in Control Room managed mode."""
        from m365bot.auth.refresh import RefreshTokenSource, VaultTokenState

        conn = self.get(provider_type, name)
        tt = _token_type(token_type)
        key = _state_key(conn, tt, user)
        if self.status(provider_type, name, token_type=tt, user=user) == "Missing":
            who = "the Shared token" if tt == "shared" else f"{user}'s User-specific token"
            raise AuthError(
                f"connection {conn.provider_type}/{conn.name} has no token: {who} is Missing",
                code="token_missing",
                advice="log in: " + _login_command(conn, tt, user))
        if conn.grant_type == "client_credentials":
            from m365bot.controlroom.renew import ClientCredentialsSource

            return ClientCredentialsSource(self, conn, key, settings)
        return RefreshTokenSource(key=key, client_id=conn.client_id,
                                  client_secret=conn.client_secret, token_url=conn.token_url,
                                  scopes=conn.scopes, state=VaultTokenState(self.vault, key),
                                  settings=settings, name=_slot_name(conn, tt, user),
                                  relogin_advice="log in again: " + _login_command(conn, tt, user))

    def login(self, provider_type: str, name: str, *, token_type: str = "user", user: str = "",
              settings: Settings, open_browser: Callable[[str], None] | None = None,
              redirect_url: str = "http://localhost:0", timeout: float = 300.0) -> str:
        """Run the authorization-code flow (PKCE S256, state checked before the token
        request) and store the token in the slot; returns the new status."""
        conn = self.get(provider_type, name)
        tt = _token_type(token_type)
        if tt == "user" and "@" not in user:
            raise ConfigError("a User-specific login needs the user's email address",
                              field="user", advice="give --user alice@contoso.com")
        from m365bot.auth.signin import SignInOptions

        def keep(result: dict[str, Any]) -> None:
            if tt == "user":
                _check_account(result, user)
            self.save_tokens(conn, tt, user, result)

        if conn.grant_type == "client_credentials":
            keep(self.post_token(conn, settings, {"grant_type": "client_credentials"}))
        else:
            self._auth_code(conn, user, settings, keep,
                            SignInOptions(timeout=timeout, open_browser=open_browser),
                            redirect_url)
        log.info("Control Room connection %s/%s: %s token stored", conn.provider_type,
                 conn.name, tt)
        return self.status(provider_type, name, token_type=tt, user=user)

    def _auth_code(self, conn: OAuthConnection, user: str, settings: Settings,
                   keep: Callable[[dict[str, Any]], None], options: SignInOptions,
                   redirect_url: str) -> None:
        """The browser sign-in: the browser is answered only once the token is kept ("Sign-in
        finished"), or refused (a page saying what is wrong); a browser command that exits
        non-zero ends the wait at once."""
        from m365bot.auth.loopback import LoopbackListener
        from m365bot.auth.signin import browser_watch, open_url

        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        state = secrets.token_urlsafe(24)
        with LoopbackListener.open(redirect_url) as listener:
            query = {"client_id": conn.client_id, "response_type": "code",
                     "redirect_uri": listener.redirect_uri, "scope": " ".join(conn.scopes),
                     "state": state, "code_challenge": challenge.decode().rstrip("="),
                     "code_challenge_method": "S256", "prompt": "select_account"}
            if user:
                query["login_hint"] = user
            url = conn.authorization_url + "?" + urlencode(query)
            watch = None
            if options.open_browser is not None:
                options.open_browser(url)
            else:
                watch = browser_watch(open_url(url, settings.browser))
            callback = listener.receive(timeout=options.timeout, poll=watch)
        callback.settle(lambda params: keep(self._redeem(
            conn, settings, params, state=state, verifier=verifier,
            redirect_uri=listener.redirect_uri)))

    def _redeem(self, conn: OAuthConnection, settings: Settings, params: dict[str, str], *,
                state: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        """Check the callback's state (before any token request), then exchange its code."""
        if not hmac.compare_digest(params.get("state", "").encode(), state.encode()):
            raise AuthError("the sign-in answer did not carry this sign-in's state; no token "
                            "was requested", code="state_mismatch",
                            advice="start the login again")
        if "error" in params or not params.get("code"):
            raise AuthError(f"the sign-in failed: {params.get('error', 'no code')}",
                            code=params.get("error", "no_code"),
                            advice="log in again and accept the permissions")
        return self.post_token(conn, settings, {"grant_type": "authorization_code",
                                                "code": params["code"],
                                                "redirect_uri": redirect_uri,
                                                "code_verifier": verifier})

    def post_token(self, conn: OAuthConnection, settings: Settings | HttpFactory,
                   data: dict[str, str]) -> dict[str, Any]:
        """POST to the connection's token URL (through the settings' or the factory's proxy
        and CAs); the answer, or the AuthError it means."""
        from m365bot.auth.advice import error_from_result
        from m365bot.auth.http import MsalHttpClient

        data = {**data, "client_id": conn.client_id}
        if conn.scopes:
            data["scope"] = " ".join(conn.scopes)
        if conn.client_secret is not None:
            data["client_secret"] = conn.client_secret.reveal()
        http = MsalHttpClient(settings)
        try:
            resp = http.post(conn.token_url, data=data, headers={"Accept": "application/json"})
        finally:
            http.close()
        try:
            body = json.loads(resp.text)
        except ValueError:
            body = {"error": f"HTTP {resp.status_code}"}
        if not isinstance(body, dict) or "error" in body or "access_token" not in body:
            raise error_from_result(body if isinstance(body, dict) else {"error": "bad_answer"})
        return body


__all__ = ["CONNECTION_KIND", "ConnectionStore", "OAuthConnection", "slot_status"]
