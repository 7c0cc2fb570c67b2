"""Token providers for the Connect action's msal-based modes: client credentials (secret or
certificate) and authorization code with PKCE.

Every provider keeps msal's cache encrypted in the vault and refreshes under a
cross-process lock: take the lock, reload the cache, use a still-valid token or get a new
one, write if it changed, release. A token request whose answer was lost is retried once
after re-reading the cache; a refused refresh (``invalid_grant``) raises
:class:`~m365bot.errors.ReauthRequired` and is not retried for a minute.

Example::

    from m365bot.auth.modes import ClientCredentials, SecretCredential
    provider = ClientCredentials(cloud=Cloud.GLOBAL, tenant=tid, client_id=cid,
        credential=SecretCredential(Secret(value)), settings=settings, store=vault)
    token = provider.get_token()
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from m365bot.auth.advice import IdentityUnavailable, error_from_result, reauth_required
from m365bot.auth.cache import (
    CREDENTIAL_MARK_KIND,
    INVALID_GRANT_BACKOFF,
    TOKEN_CACHE_KIND,
    BlobStore,
    ConnectionLock,
    FailureMarker,
    PersistentCache,
    credential_mark,
    mark_matches,
)
from m365bot.auth.credentials import CertificateCredential, SecretCredential
from m365bot.auth.http import LazyHttpClient, MsalHttpClient, import_msal, pause_before_retry
from m365bot.auth.tokens import REFRESH_MARGIN, AccessToken, make_access_token
from m365bot.clouds import Cloud
from m365bot.config import Settings
from m365bot.errors import AuthError, ConfigError, ReauthRequired, TransportError
from m365bot.net import HttpFactory
from m365bot.values import Secret

if TYPE_CHECKING:
    from m365bot.auth.signin import SignInOptions

log = logging.getLogger(__name__)

DEFAULT_DELEGATED = ("User.Read", "Mail.ReadWrite", "Mail.Send", "Mail.ReadWrite.Shared",
                     "Mail.Send.Shared", "Calendars.ReadWrite")


class _MsalProvider(LazyHttpClient):
    """Shared machinery: cache, lock, failure marker, retry-once, error mapping."""

    kind = "msal"
    scopes: list[str] = []

    def __init__(
        self,
        *,
        cloud: Cloud | str,
        tenant: str,
        client_id: str,
        user: str,
        settings: Settings,
        store: BlobStore,
        clock: Callable[[], float] = time.time,
        http_client: MsalHttpClient | None = None,
    ) -> None:
        if not tenant or not tenant.strip():
            raise ConfigError("tenant_id is empty", field="tenant_id",
                              advice="give the Directory (tenant) ID from the Azure portal")
        if not client_id or not client_id.strip():
            raise ConfigError("client_id is empty", field="client_id",
                              advice="give the Application (client) ID from the Azure portal")
        self.cloud = Cloud.parse(cloud)
        self.tenant = tenant.strip()
        self.client_id = client_id.strip()
        self.user = user.strip().lower()
        self.http_factory = HttpFactory(settings)  # holds the proxy (and its password) masked
        self.store = store
        self.clock = clock
        self.cache_key = "|".join((self.cloud.key, self.tenant.lower(), self.client_id.lower(),
                                   self.user))
        self.http_key = f"{self.cloud.key}|{self.tenant.lower()}"
        self.lock = ConnectionLock(settings.data_dir, self.cache_key)
        self.failure = FailureMarker(settings.data_dir, self.cache_key)
        self._http = http_client
        self._mem: AccessToken | None = None

    @property
    def authority(self) -> str:
        return self.cloud.authority(self.tenant)

    def load_cache(self) -> PersistentCache:
        """This connection's persisted token cache, freshly read."""
        return PersistentCache(self.store, self.cache_key, self.http_key).load()

    def _msal_app(self, cache: PersistentCache, *, credential: Any = None) -> Any:
        """msal's client on our cache and HTTP client: confidential with ``credential``
        (secret or certificate), public without; msal's ValueError → our error."""
        msal = import_msal()
        common: dict[str, Any] = {
            "authority": self.authority,
            "token_cache": cache.token_cache,
            "http_cache": cache.http_cache,
            "http_client": self.http_client,
            "instance_discovery": False,
        }
        try:
            if credential is None:
                return msal.PublicClientApplication(self.client_id, **common)
            return msal.ConfidentialClientApplication(self.client_id,
                                                      client_credential=credential, **common)
        except ValueError as exc:
            raise _construction_error(exc, self) from None

    # subclasses ---------------------------------------------------------------------------------
    def _build(self, cache: PersistentCache) -> Any:
        raise NotImplementedError

    def _acquire(self, app: Any, *, force: bool) -> dict[str, Any] | None:
        raise NotImplementedError

    def _no_token(self, reason: ReauthRequired | None) -> AccessToken:
        raise reason or reauth_required("no cached sign-in for this connection")

    def _cache_usable(self) -> bool:
        """False if the persisted tokens must not be used by this provider."""
        return True

    # the flow -----------------------------------------------------------------------------------
    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        """A valid access token: from memory, the shared cache, or the identity platform.

        ``force_refresh`` (after a 401) gets a new one, unless another process already did.
        """
        mem = self._mem
        if not force_refresh and mem is not None and mem.expires_in(self.clock()) > REFRESH_MARGIN:
            return mem
        if not force_refresh:
            fast = self._from_stored_cache()
            if fast is not None:
                self._mem = fast
                return fast
        stale = mem.token if (force_refresh and mem is not None) else None
        try:
            with self.lock:
                return self._locked(force_refresh, stale)
        except ReauthRequired as exc:
            return self._no_token(exc)

    def _from_stored_cache(self) -> AccessToken | None:
        """A still-valid access token read straight from the persisted cache, without
        importing msal (a fresh process with a valid token needs nothing else)."""
        import json

        data = self.store.get_blob(TOKEN_CACHE_KIND, self.cache_key)
        if not data or not self._cache_usable():
            return None
        try:
            entries = json.loads(data).get("AccessToken", {}).values()
        except (ValueError, AttributeError):
            return None
        now = self.clock()
        wanted = {s.lower() for s in self.scopes}
        for e in entries:
            try:
                target = set(str(e.get("target", "")).lower().split())
                left = int(e["expires_on"]) - time.time()
                if (e.get("client_id", "").lower() != self.client_id.lower()
                        or e.get("environment") != self.cloud.login_host
                        or not wanted <= target or left <= REFRESH_MARGIN):
                    continue
                return make_access_token(str(e["secret"]), left, "cache", now=now)
            except (KeyError, TypeError, ValueError):
                continue
        return None

    def _locked(self, force: bool, stale: Secret | None) -> AccessToken:
        result: dict[str, Any] | None = None
        for attempt in (1, 2):
            cache = self.load_cache()
            try:
                app = self._build(cache)
                result = self._acquire(app, force=force and stale is None)
                if stale is not None and result and result.get("access_token") and (
                    Secret(result["access_token"]) == stale
                ):
                    result = self._acquire(app, force=True)
            except (TransportError, IdentityUnavailable) as exc:
                cache.save()
                if attempt == 2:
                    raise
                log.info("token request for %s failed (%s); re-reading the cache and "
                         "retrying once", self.cloud.key, type(exc).__name__)
                pause_before_retry(exc)
                continue
            cache.save()
            break
        return self._finish(result)

    def _finish(self, result: dict[str, Any] | None) -> AccessToken:
        if result is None:
            raise reauth_required("no cached sign-in for this connection")
        if "error" in result:
            err = error_from_result(result, cloud=self.cloud, tenant=self.tenant,
                                    client_id=self.client_id)
            if isinstance(err, ReauthRequired):
                self.failure.record(now=self.clock(), code=err.code, message=err.message)
            raise err
        source = "cache" if result.get("token_source") == "cache" else "identity_provider"
        tok = make_access_token(result["access_token"], result.get("expires_in"), source,
                                now=self.clock())
        if source != "cache":
            self.failure.clear()
        self._mem = tok
        log.info("%s token for %s (%s) from %s, %d s left", self.kind, tok.identity or "?",
                 self.cloud.key, source, int(tok.expires_in(self.clock())))
        return tok

    def _check_backoff(self) -> None:
        recent = self.failure.recent(now=self.clock(), window=INVALID_GRANT_BACKOFF)
        if recent is not None:
            age = int(self.clock() - float(recent["time"]))
            raise reauth_required(
                f"the sign-in for {self.user or self.client_id} was refused {age} s ago "
                f"({recent.get('code') or 'invalid_grant'}); not retrying for a minute",
                code=str(recent.get("code") or "invalid_grant"),
            )


class ClientCredentials(_MsalProvider):
    """App-only tokens (client credentials) with a secret or a certificate.

    App tokens are not per user: the Connect action's Username (the mailbox) is not part of
    the cache key (it ends in ``app``), so every mailbox of one app shares one token.

    Example::

        ClientCredentials(cloud="global", tenant=tid, client_id=cid,
                          credential=SecretCredential(Secret(v)), settings=s, store=vault)
    """

    kind = "app"

    def __init__(
        self,
        *,
        cloud: Cloud | str,
        tenant: str,
        client_id: str,
        credential: SecretCredential | CertificateCredential,
        settings: Settings,
        store: BlobStore,
        clock: Callable[[], float] = time.time,
        http_client: MsalHttpClient | None = None,
    ) -> None:
        super().__init__(cloud=cloud, tenant=tenant, client_id=client_id, user="app",
                         settings=settings, store=store, clock=clock, http_client=http_client)
        self.credential = credential
        self.scopes = [self.cloud.graph_scope]
        self._new_mark = False

    def _cache_usable(self) -> bool:
        """The cached app token was obtained with this very credential (a wrong or rotated
        secret must go to the identity platform, never ride on another secret's token)."""
        mark = self.store.get_blob(CREDENTIAL_MARK_KIND, self.cache_key)
        return mark_matches(mark, self.credential.material())

    def _finish(self, result: dict[str, Any] | None) -> AccessToken:
        tok = super()._finish(result)
        if self._new_mark:
            self._new_mark = False
            self.store.put_blob(CREDENTIAL_MARK_KIND, self.cache_key,
                                credential_mark(self.credential.material()))
        return tok

    def _build(self, cache: PersistentCache) -> Any:
        return self._msal_app(cache, credential=self.credential.for_msal())

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        """An app-only token; AuthError if it carries no application permissions (roles)."""
        tok = super().get_token(force_refresh=force_refresh)
        if tok.claims and not tok.roles:
            raise AuthError(
                "the app's token carries no application permissions (roles): none were "
                "granted admin consent", code="no_roles",
                advice="add Microsoft Graph application permissions (Mail.ReadWrite, Mail.Send) "
                "and grant admin consent: open "
                f"https://{self.cloud.login_host}/{self.tenant}/adminconsent?client_id="
                f"{self.client_id} or use API permissions > Grant admin consent",
            )
        return tok

    def _acquire(self, app: Any, *, force: bool) -> dict[str, Any] | None:
        same = self._cache_usable()
        if force or not same:
            app.remove_tokens_for_client()
        try:
            result: dict[str, Any] = app.acquire_token_for_client(self.scopes)
        except BaseException:
            if not same:  # keep the tokens of the credential that obtained them
                app.token_cache.has_state_changed = False
            raise
        if result.get("access_token") and result.get("token_source") != "cache":
            self._new_mark = True
        elif not same:
            app.token_cache.has_state_changed = False
        return result


def _construction_error(exc: ValueError, p: _MsalProvider) -> AuthError | ConfigError:
    text = str(exc)
    if "authority configuration" in text or "OIDC Discovery" in text:
        return AuthError(
            f"tenant {p.tenant!r} was not found on {p.cloud.login_host} ({p.cloud.label})",
            code="90002",
            advice="check the Tenant ID and the Azure cloud setting (GCC High tenants live on "
            "login.microsoftonline.us, Azure Global tenants on login.microsoftonline.com)",
        )
    if "private" in text.lower() or "key" in text.lower() or "pfx" in text.lower():
        return ConfigError("the certificate could not be loaded (wrong passphrase or format?)",
                           field="certificate",
                           advice="check the certificate files and their passphrase")
    return AuthError(f"msal refused the configuration: {type(exc).__name__}",
                     code="configuration", advice="check the Tenant ID and Azure cloud")


class AuthCodePkce(_MsalProvider):
    """Delegated tokens for ``username`` via authorization code + PKCE (S256).

    The first run is attended (:mod:`m365bot.auth.signin`): with ``signin="browser"`` a
    browser opens (``open_browser``, ``Settings.browser`` or the system browser), the
    loopback listener on ``redirect_url`` receives the code, ``state`` is checked before any
    token request, and the code is exchanged with the verifier; ``signin="url"`` shows the
    URL (``prompt``, default stderr) instead of opening it; ``signin="device-code"`` shows a
    code to enter on another device. ``signin_timeout`` is how long to wait for the person.
    Later runs are unattended, from the persisted refresh token. Unattended
    (``interactive=False``, or no TTY when ``interactive`` is None), a needed sign-in raises
    ReauthRequired at once.

    Example::

        AuthCodePkce(cloud="global", tenant=tid, client_id=cid, username="alice@contoso.com",
                     redirect_url="http://localhost:8400", settings=s, store=vault)
    """

    kind = "delegated"

    def __init__(
        self,
        *,
        cloud: Cloud | str,
        tenant: str,
        client_id: str,
        username: str,
        redirect_url: str,
        settings: Settings,
        store: BlobStore,
        scopes: list[str] | tuple[str, ...] | None = None,
        interactive: bool | None = None,
        signin: str = "browser",
        signin_timeout: float = 300.0,
        open_browser: Callable[[str], None] | None = None,
        prompt: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        http_client: MsalHttpClient | None = None,
    ) -> None:
        if not username or "@" not in username:
            raise ConfigError("username must be the mailbox user's email address",
                              field="username", advice="give e.g. alice@contoso.com")
        # the attended sign-in's modules load with the first auth-code provider only: an
        # unattended client-credentials bot never imports them
        from m365bot.auth.loopback import parse_redirect
        from m365bot.auth.signin import SignInOptions

        parse_redirect(redirect_url)
        self.signin: SignInOptions = SignInOptions(method=signin, timeout=signin_timeout,
                                    open_browser=open_browser, prompt=prompt)
        super().__init__(cloud=cloud, tenant=tenant, client_id=client_id, user=username,
                         settings=settings, store=store, clock=clock, http_client=http_client)
        self.username = username.strip()
        self.redirect_url = redirect_url
        # msal adds openid, profile and offline_access itself and refuses them as input.
        wanted = [x for x in (scopes or DEFAULT_DELEGATED)
                  if x not in ("openid", "profile", "offline_access")]
        self.scopes = self.cloud.delegated_scopes(wanted)
        self.interactive = interactive
        self.browser = settings.browser  # the command that opens the sign-in URL

    # the public interface the attended sign-in (m365bot.auth.signin) uses ----------------------
    def public_app(self, cache: PersistentCache) -> Any:
        """msal's PublicClientApplication on ``cache`` and m365bot's HTTP client."""
        return self._msal_app(cache)

    def accept(self, result: dict[str, Any]) -> AccessToken:
        """The token of a successful sign-in's answer (kept in memory, failures cleared)."""
        return self._finish(result)

    def _build(self, cache: PersistentCache) -> Any:
        return self.public_app(cache)

    def _acquire(self, app: Any, *, force: bool) -> dict[str, Any] | None:
        accounts = app.get_accounts(username=self.username)
        if not accounts:
            return None
        if self.failure.recent(now=self.clock(), window=INVALID_GRANT_BACKOFF) is not None:
            cached = self._cached_only(app, accounts[0]) if not force else None
            if cached is not None:
                return cached
            self._check_backoff()
        result: dict[str, Any] | None = app.acquire_token_silent_with_error(
            self.scopes, accounts[0], force_refresh=force)
        return result

    def _cached_only(self, app: Any, account: dict[str, Any]) -> dict[str, Any] | None:
        now = time.time()
        for entry in app.token_cache.search(
            app.token_cache.CredentialType.ACCESS_TOKEN,
            query={"client_id": self.client_id, "home_account_id": account["home_account_id"]},
        ):
            left = int(entry["expires_on"]) - now
            if left > REFRESH_MARGIN:
                return {"access_token": entry["secret"], "expires_in": left,
                        "token_source": "cache"}
        return None

    def _is_interactive(self) -> bool:
        if self.interactive is not None:
            return self.interactive
        try:
            return sys.stdin.isatty() and sys.stdout.isatty()
        except (AttributeError, ValueError):
            return False

    def _no_token(self, reason: ReauthRequired | None) -> AccessToken:
        if not self._is_interactive():
            raise reason or reauth_required(
                f"{self.username} has not signed in on this machine yet (an unattended run "
                "cannot open a browser)")
        return self.sign_in()

    def sign_in(self) -> AccessToken:
        """Run the attended sign-in now (``signin``: browser, url or device-code) and persist
        the result."""
        from m365bot.auth.signin import sign_in

        return sign_in(self, self.signin)


__all__ = [
    "DEFAULT_DELEGATED",
    "AuthCodePkce",
    "CertificateCredential",
    "ClientCredentials",
    "SecretCredential",
]
