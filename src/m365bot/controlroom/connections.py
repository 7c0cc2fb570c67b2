"""Control Room OAuth connections as data: the connection an administrator creates under
Manage > OAuth connections, its provider type, and the status of a token slot.

Provider types:

* ``Microsoft 365 Outlook``: the built-in provider. Pick the Azure cloud (Global, GCC,
  GCC High, DoD, China) and the tenant; the authorization and token URLs are filled in
  (:func:`outlook_urls`) and must stay on that cloud's login host;
* ``Microsoft Entra``: the identity platform with its URLs given by hand (what
  ``m365bot controlroom connection add`` has always created);
* ``Custom``: any OAuth 2.0 provider: authorization URL, token URL, scopes, client id and
  client secret.

Grant types: ``authorization_code`` (with PKCE S256) and ``client_credentials``.

Example::

    conn = OAuthConnection.outlook("ops", cloud="gcchigh", tenant=tid, client_id=cid)
    conn.token_url    # 'https://login.microsoftonline.us/<tid>/oauth2/v2.0/token'
    slot_status({"access_token": at, "expires_on": t, "refresh_token": rt}, conn, now)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from m365bot.clouds import Cloud
from m365bot.config import Settings
from m365bot.errors import AuthError, ConfigError
from m365bot.values import CredentialRef, Secret

if TYPE_CHECKING:
    from m365bot.auth.tokens import AccessToken
    from m365bot.net import HttpFactory

OUTLOOK = "Microsoft 365 Outlook"
ENTRA = "Microsoft Entra"
CUSTOM = "Custom"
PROVIDERS = (OUTLOOK, ENTRA, CUSTOM)
GRANTS = ("authorization_code", "client_credentials")
GRANT_LABELS = {"authorization_code": "Authorization code with PKCE",
                "client_credentials": "Client credentials"}
# the statuses My settings > OAuth connections shows
ACTIVE, EXPIRED, NOT_CONNECTED = "Active", "Expired", "Not connected"
SHARED, USER = "shared", "user"
# the delegated permissions the Microsoft 365 Outlook package needs (reference §1.1)
OUTLOOK_DELEGATED = ("offline_access", "openid", "profile", "User.Read", "Mail.ReadWrite",
                     "Mail.Send")


def outlook_urls(cloud: Cloud | str, tenant: str) -> tuple[str, str]:
    """The built-in provider's authorization and token URLs for a cloud and tenant.

    Example::

        outlook_urls("gcchigh", "fabrikam.onmicrosoft.us")[1]
        # 'https://login.microsoftonline.us/fabrikam.onmicrosoft.us/oauth2/v2.0/token'
    """
    cl = Cloud.parse(cloud, field="cloud")
    tenant = tenant.strip()
    if not tenant or "/" in tenant or "?" in tenant or " " in tenant:
        raise ConfigError("the tenant is empty or not a tenant id or domain", field="tenant",
                          advice="give the tenant id (a GUID) or its domain, e.g. "
                          "contoso.onmicrosoft.com")
    base = f"{cl.authority(tenant)}/oauth2/v2.0"
    return base + "/authorize", base + "/token"


def outlook_scopes(cloud: Cloud | str, grant_type: str) -> list[str]:
    """The built-in provider's default scopes: the package's delegated permissions for an
    authorization code connection, the cloud's ``.default`` for client credentials."""
    cl = Cloud.parse(cloud, field="cloud")
    if grant_type == "client_credentials":
        return [cl.graph_scope]
    return cl.delegated_scopes(OUTLOOK_DELEGATED)


def split_scopes(text: str) -> list[str]:
    """Scopes typed comma- or space-separated (as the platform's Scope field takes them)."""
    return [s for s in text.replace(",", " ").split() if s]


def ref_text(ref: CredentialRef) -> str:
    """How pages and errors show a Credential Vault reference: ``locker/credential/attribute``
    (names only; a reference never carries a value)."""
    return f"{ref.locker}/{ref.credential}/{ref.attribute}"


@dataclass(frozen=True)
class OAuthConnection:
    """One Control Room OAuth connection. The client secret is a :class:`Secret` typed in
    (kept sealed), or ``client_secret_ref``: a Credential Vault reference the Control Room
    reads at each token request (:mod:`m365bot.controlroom.secret_refs`), so a secret
    rotated in the vault is used without editing the connection.

    Example::

        OAuthConnection("Custom", "ops", client_id="...", authorization_url=a, token_url=t)
        OAuthConnection("Custom", "app", client_id="...", token_url=t,
                        grant_type="client_credentials",
                        client_secret_ref=CredentialRef("apps", "ops", "client_secret"))
    """

    provider_type: str
    name: str
    client_id: str
    token_url: str
    authorization_url: str = ""
    grant_type: str = "authorization_code"
    client_secret: Secret | None = None
    scopes: list[str] = field(default_factory=list)
    cloud: str = ""
    client_secret_ref: CredentialRef | None = None

    @classmethod
    def outlook(cls, name: str, *, cloud: Cloud | str, tenant: str, client_id: str,
                grant_type: str = "authorization_code", client_secret: Secret | None = None,
                scopes: list[str] | None = None,
                client_secret_ref: CredentialRef | None = None) -> OAuthConnection:
        """A connection of the built-in Microsoft 365 Outlook provider, URLs filled in.

        Example::

            OAuthConnection.outlook("ops", cloud="gcchigh", tenant=tid, client_id=cid)
        """
        cl = Cloud.parse(cloud, field="cloud")
        authorize, token = outlook_urls(cl, tenant)
        return cls(OUTLOOK, name, client_id=client_id, token_url=token,
                   authorization_url=authorize if grant_type == "authorization_code" else "",
                   grant_type=grant_type, client_secret=client_secret,
                   scopes=list(scopes) if scopes else outlook_scopes(cl, grant_type),
                   cloud=cl.key, client_secret_ref=client_secret_ref)

    def __post_init__(self) -> None:
        if self.provider_type not in PROVIDERS:
            raise ConfigError(f"provider type {self.provider_type!r} is not known",
                              field="provider_type",
                              advice="use 'Microsoft 365 Outlook', 'Microsoft Entra' or "
                              "'Custom'")
        if not self.name.strip() or "|" in self.name or len(self.name) > 200:
            raise ConfigError("the connection name is empty, too long or has '|'",
                              field="connection_name", advice="give a name like 'ops-mail'")
        if self.grant_type not in GRANTS:
            raise ConfigError(f"grant type {self.grant_type!r} is not supported",
                              field="grant_type",
                              advice="use authorization_code or client_credentials")
        for fname in ("token_url", "authorization_url"):
            url = getattr(self, fname)
            if (url or fname == "token_url") and not _https_url(url):
                raise ConfigError(f"{fname} must be an https URL", field=fname,
                                  advice="copy it from the provider, e.g. https://login."
                                  "microsoftonline.com/TENANT/oauth2/v2.0/token")
        if self.grant_type == "authorization_code" and not self.authorization_url:
            raise ConfigError("authorization_url is empty", field="authorization_url",
                              advice="give the provider's authorize URL")
        if not self.client_id.strip() or len(self.client_id) > 200:
            raise ConfigError("client_id is empty or too long", field="client_id",
                              advice="give the app's client id")
        if self.grant_type == "client_credentials" and not self.client_secret \
                and self.client_secret_ref is None:
            raise ConfigError("a client_credentials connection needs its client secret",
                              field="client_secret",
                              advice="give the secret on stdin with --client-secret-stdin")
        if self.provider_type == OUTLOOK:
            self._check_cloud()

    def _check_cloud(self) -> None:
        cl = Cloud.parse(self.cloud or "", field="cloud")
        object.__setattr__(self, "cloud", cl.key)
        for fname in ("token_url", "authorization_url"):
            url = getattr(self, fname)
            if url and urlsplit(url).hostname != cl.login_host:
                raise ConfigError(f"{fname} is not on {cl.label}'s login host {cl.login_host}",
                                  field=fname, advice="leave the URLs to the Microsoft 365 "
                                  "Outlook provider, or pick the Custom provider")

    @property
    def key(self) -> str:
        """Provider type and name, in lower case: what makes a connection unique."""
        return f"{self.provider_type.lower()}|{self.name.lower()}"

    def public(self) -> dict[str, Any]:
        """Everything but the secret (for listings)."""
        out: dict[str, Any] = {
            "provider_type": self.provider_type, "name": self.name,
            "grant_type": self.grant_type, "client_id": self.client_id,
            "authorization_url": self.authorization_url, "token_url": self.token_url,
            "scopes": list(self.scopes),
            "has_client_secret": self.client_secret is not None
            or self.client_secret_ref is not None}
        if self.client_secret_ref is not None:
            out["client_secret_ref"] = ref_text(self.client_secret_ref)
        if self.cloud:
            out["cloud"] = self.cloud
        return out

    def __repr__(self) -> str:
        return f"<OAuthConnection {self.provider_type}/{self.name} {self.grant_type}>"


def _https_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and " " not in url \
        and len(url) <= 2000


def token_type(value: str) -> str:
    """``shared`` or ``user`` from "Shared", "User-specific", "user"..."""
    norm = str(value).lower().replace("-", "").replace("_", "").replace(" ", "")
    if norm in ("shared", "global"):
        return SHARED
    if norm in ("user", "userspecific"):
        return USER
    raise ConfigError(f"token type {value!r} is not Shared or User-specific", field="token_type",
                      advice="use shared or user")


def slot_name(conn: OAuthConnection, tt: str, user: str) -> str:
    """How a person knows a token slot, e.g. "connection Microsoft Entra/ops (Shared token)"."""
    which = "Shared token" if tt == SHARED else f"{user}'s User-specific token"
    return f"connection {conn.provider_type}/{conn.name} ({which})"


def slot_status(state: dict[str, Any] | None, conn: OAuthConnection, now: float) -> str:
    """A token slot's status, from its token and its last renewal:

    * ``Not connected`` before the first login;
    * ``Expired`` once a renewal was refused (an ``invalid_grant``, a refused client
      secret), or when no token can be obtained (the access token expired and there is
      neither a refresh token nor a client secret to get another);
    * ``Active`` otherwise: a refresh token (or a client-credentials connection's secret)
      renews the access token when it expires.

    Example::

        slot_status(None, conn, time.time())   # 'Not connected'
    """
    from m365bot.auth.refresh import REFUSED

    if not state:
        return NOT_CONNECTED
    if state.get(REFUSED):
        return EXPIRED
    renewable = state.get("refresh_token") or state.get("renewable") or (
        conn.grant_type == "client_credentials"
        and (conn.client_secret is not None or conn.client_secret_ref is not None))
    if renewable:
        return ACTIVE
    if not state.get("access_token") and not state.get("expires_on"):
        return NOT_CONNECTED
    return ACTIVE if float(state.get("expires_on") or 0) > now else EXPIRED


def token_fingerprint(access_token: str) -> str:
    """What a runner sends to say "this token was refused": never the token itself."""
    return hashlib.sha256(access_token.encode()).hexdigest()[:32]


class HeldTokenSource:
    """A token provider that holds the access token it was given until it nears expiry, and
    after Graph refused it asks again with its fingerprint (``stale``), so whoever renews
    does so only if the slot still holds that token. Subclasses say where tokens come from
    (:meth:`fetch`): the broker in process, or a Control Room server.

    Example::

        class Source(HeldTokenSource):
            def fetch(self, stale: str) -> AccessToken: ...
    """

    kind = "connection"
    _held: AccessToken | None = None

    def fetch(self, stale: str) -> AccessToken:
        """A token from the source (``stale``: the fingerprint of a refused one, or "")."""
        raise NotImplementedError

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        """A valid access token; ``force_refresh`` after Graph refused the one given."""
        from m365bot.auth.tokens import REFRESH_MARGIN

        held = self._held
        if not force_refresh and held is not None and held.expires_in() > REFRESH_MARGIN:
            return held
        stale = token_fingerprint(held.token.reveal()) if force_refresh and held else ""
        self._held = self.fetch(stale)
        return self._held

    def close(self) -> None:
        """Nothing stays open between token requests."""


def post_token(conn: OAuthConnection, settings: Settings | HttpFactory,
               data: dict[str, str]) -> dict[str, Any]:
    """POST to the connection's token URL (through the settings' or the factory's proxy and
    CAs); the answer, or the AuthError it means.

    Example::

        post_token(conn, settings, {"grant_type": "client_credentials"})["access_token"]
    """
    from m365bot.auth.advice import error_from_result
    from m365bot.auth.http import MsalHttpClient

    data = {**data, "client_id": conn.client_id}
    if conn.scopes:
        data["scope"] = " ".join(conn.scopes)
    if conn.client_secret is None and conn.client_secret_ref is not None:
        # the caller forgot to read it (OAuthRepo.with_client_secret): never ask without it
        raise AuthError(f"connection {conn.provider_type}/{conn.name}: its client secret from "
                        f"the Credential Vault ({ref_text(conn.client_secret_ref)}) was not "
                        "read, so no token was requested", code="client_secret_unavailable",
                        advice="report this to the Control Room's administrators")
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


__all__ = [
    "ACTIVE",
    "CUSTOM",
    "ENTRA",
    "EXPIRED",
    "GRANTS",
    "GRANT_LABELS",
    "NOT_CONNECTED",
    "OUTLOOK",
    "PROVIDERS",
    "SHARED",
    "USER",
    "HeldTokenSource",
    "OAuthConnection",
    "outlook_scopes",
    "outlook_urls",
    "post_token",
    "ref_text",
    "slot_name",
    "slot_status",
    "split_scopes",
    "token_fingerprint",
    "token_type",
]
