"""A refresh-token based token source, for Control Room managed OAuth connections.

Given a client id, an optional client secret, a token URL and a place to keep the token state
(:class:`TokenState`), it refreshes single-flight across processes under the connection lock:
re-read the state, use a still-valid access token, or redeem the refresh token and persist the
rotated one before returning. A lost answer is retried once (after re-reading the state); a
refused refresh raises :class:`~m365bot.errors.ReauthRequired` and is not tried again for a
minute.

Example::

    state = VaultTokenState(vault, "controlroom|microsoft|ops-shared")
    state.save({"refresh_token": rt})            # when the connection is created
    source = RefreshTokenSource(key="controlroom|microsoft|ops-shared", client_id=cid,
        client_secret=Secret(s), token_url=url, scopes=["https://graph.microsoft.com/.default"],
        state=state, settings=settings)
    source.get_token()
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from m365bot.auth.advice import IdentityUnavailable, error_from_result, reauth_required
from m365bot.auth.cache import INVALID_GRANT_BACKOFF, ConnectionLock, FailureMarker
from m365bot.auth.http import LazyHttpClient, MsalHttpClient, pause_before_retry
from m365bot.auth.tokens import REFRESH_MARGIN, AccessToken, make_access_token
from m365bot.config import Settings
from m365bot.errors import AuthError, ConfigError, ReauthRequired, TransportError
from m365bot.net import HttpFactory
from m365bot.values import Secret

log = logging.getLogger(__name__)

STATE_KIND = "oauth_token"
# the state's marker of a refused renewal (invalid_grant, a refused client secret): the
# connection's status is Expired until the next login replaces the state
REFUSED = "refused"


class TokenState(Protocol):
    """Where a connection's tokens live: a dict with ``refresh_token``, ``access_token``,
    ``expires_on`` (strings/float). Implementations must encrypt at rest."""

    def load(self) -> dict[str, Any] | None: ...

    def save(self, state: dict[str, Any]) -> None: ...


class VaultTokenState:
    """:class:`TokenState` in the vault's encrypted blob store (kind ``oauth_token``).

    Example::

        VaultTokenState(vault, "controlroom|microsoft|ops-shared").load()
    """

    def __init__(self, vault: Any, key: str) -> None:
        self.vault = vault
        self.key = key

    def load(self) -> dict[str, Any] | None:
        data = self.vault.get_blob(STATE_KIND, self.key)
        if not data:
            return None
        loaded = json.loads(data)
        return loaded if isinstance(loaded, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        self.vault.put_blob(STATE_KIND, self.key, json.dumps(state).encode())

    def __repr__(self) -> str:
        return f"<VaultTokenState {self.key!r}>"


class RefreshTokenSource(LazyHttpClient):
    """A :class:`~m365bot.auth.tokens.TokenProvider` from a stored refresh token.

    Example::

        tok = RefreshTokenSource(key=k, client_id=cid, client_secret=None, token_url=u,
                                 scopes=[...], state=st, settings=s).get_token()
    """

    kind = "connection"

    def __init__(
        self,
        *,
        key: str,
        client_id: str,
        token_url: str,
        state: TokenState,
        settings: Settings,
        client_secret: Secret | None = None,
        scopes: list[str] | None = None,
        clock: Callable[[], float] = time.time,
        http_client: MsalHttpClient | None = None,
        name: str = "",
        relogin_advice: str = "",
    ) -> None:
        if not token_url.startswith("https://"):
            raise ConfigError("the token URL must be https", field="token_url",
                              advice="use the provider's https token endpoint")
        self.key = key
        # how a person knows the connection, and how to log it in again (messages never show
        # the storage key)
        self.name = name or f"the OAuth connection of app {client_id}"
        self.relogin_advice = relogin_advice
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_url = token_url
        self.scopes = list(scopes or [])
        self.state = state
        self.http_factory = HttpFactory(settings)  # holds the proxy (and its password) masked
        self.clock = clock
        self.lock = ConnectionLock(settings.data_dir, "rt|" + key)
        self.failure = FailureMarker(settings.data_dir, "rt|" + key)
        self._http = http_client
        self._mem: AccessToken | None = None

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        """A valid access token; refreshes at most once across processes."""
        mem = self._mem
        now = self.clock()
        if not force_refresh and mem is not None and mem.expires_in(now) > REFRESH_MARGIN:
            return mem
        stale = mem.token.reveal() if (force_refresh and mem is not None) else None
        with self.lock:
            for attempt in (1, 2):
                st = self.state.load() or {}
                at = st.get("access_token")
                exp = float(st.get("expires_on") or 0)
                if at and exp - self.clock() > REFRESH_MARGIN and (
                    not force_refresh or (stale is not None and at != stale)
                ):
                    return self._keep(make_access_token(at, exp - self.clock(), "cache",
                                                        now=self.clock()))
                rt = st.get("refresh_token")
                if not rt:
                    raise self._reauth(f"{self.name} has no refresh token to renew its "
                                       "expired access token")
                self._check_backoff()
                try:
                    result = self._redeem(str(rt))
                except (TransportError, IdentityUnavailable) as exc:
                    if attempt == 2:
                        raise
                    log.info("refresh of %s failed (%s); re-reading and retrying once",
                             self.name, type(exc).__name__)
                    pause_before_retry(exc)
                    continue
                return self._store(st, result)
        raise AssertionError("unreachable")

    def _check_backoff(self) -> None:
        recent = self.failure.recent(now=self.clock(), window=INVALID_GRANT_BACKOFF)
        if recent is not None:
            age = int(self.clock() - float(recent["time"]))
            raise self._reauth(
                f"the refresh token of {self.name} was refused {age} s ago; not retrying for "
                "a minute", code=str(recent.get("code") or "invalid_grant"))

    def _reauth(self, reason: str, *, code: str = "interaction_required") -> ReauthRequired:
        if self.relogin_advice:
            return ReauthRequired(reason, code=code, advice=self.relogin_advice)
        return reauth_required(reason, code=code)

    def _redeem(self, refresh_token: str) -> dict[str, Any]:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token,
                "client_id": self.client_id}
        if self.scopes:
            data["scope"] = " ".join(self.scopes)
        if self.client_secret is not None:
            data["client_secret"] = self.client_secret.reveal()
        resp = self.http_client.post(self.token_url, data=data,
                                     headers={"Accept": "application/json"})
        try:
            body = json.loads(resp.text)
        except ValueError:
            body = None
        if not isinstance(body, dict):  # (a 5xx was raised by the HTTP client already)
            raise AuthError(f"the token endpoint answered HTTP {resp.status_code} without "
                            "JSON", code=str(resp.status_code),
                            advice="check the connection's token URL")
        return body

    def _store(self, st: dict[str, Any], result: dict[str, Any]) -> AccessToken:
        if "error" in result or "access_token" not in result:
            err = error_from_result(result if "error" in result else {"error": "invalid_response"})
            if isinstance(err, ReauthRequired):
                self.failure.record(now=self.clock(), code=err.code, message=err.message)
                self.state.save({**st, REFUSED: err.code or "invalid_grant",
                                 "refused_at": self.clock()})
                if self.relogin_advice:
                    raise self._reauth(f"{self.name} could not be renewed: {err.message}",
                                       code=err.code or "invalid_grant") from None
            raise err
        tok = make_access_token(str(result["access_token"]), result.get("expires_in"),
                                "identity_provider", now=self.clock())
        new = {k: v for k, v in st.items() if k not in (REFUSED, "refused_at")}
        new["access_token"] = str(result["access_token"])
        new["expires_on"] = tok.expires_on
        if result.get("refresh_token"):
            new["refresh_token"] = str(result["refresh_token"])
        self.state.save(new)  # the rotated refresh token is durable before we return
        self.failure.clear()
        log.info("%s refreshed, %d s left", self.name, int(tok.expires_in(self.clock())))
        return self._keep(tok)

    def _keep(self, tok: AccessToken) -> AccessToken:
        self._mem = tok
        return tok

    def __repr__(self) -> str:
        return f"<RefreshTokenSource {self.key!r}>"


__all__ = ["REFUSED", "STATE_KIND", "RefreshTokenSource", "TokenState", "VaultTokenState"]
