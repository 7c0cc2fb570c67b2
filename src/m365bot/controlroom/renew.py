"""The Shared (or User-specific) token of a client-credentials OAuth connection.

A client-credentials connection has no refresh token: its token is re-acquired with the
connection's client secret whenever the stored one is about to expire, single-flight across
processes under the connection lock. A refused secret is recorded in the slot, so ``status``
says Expired from then on (until the next successful login).

Example::

    source = ClientCredentialsSource(store, conn, key, settings)
    source.get_token().expires_on
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from m365bot.auth.cache import ConnectionLock
from m365bot.auth.refresh import REFUSED, VaultTokenState
from m365bot.auth.tokens import REFRESH_MARGIN, AccessToken, make_access_token
from m365bot.config import Settings
from m365bot.errors import AuthError
from m365bot.net import HttpFactory

if TYPE_CHECKING:
    from m365bot.controlroom.store import ConnectionStore, OAuthConnection

log = logging.getLogger(__name__)


class ClientCredentialsSource:
    """A token provider that renews a client-credentials connection's token with its secret.

    Example::

        ClientCredentialsSource(store, conn, key, settings).get_token()
    """

    kind = "connection"

    def __init__(self, store: ConnectionStore, conn: OAuthConnection, key: str,
                 settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._conn = conn
        self._state = VaultTokenState(store.vault, key)
        # the factory, not the Settings: it keeps the proxy URL (and its password) masked
        self.http_factory = HttpFactory(settings)
        self._clock = clock
        self._lock = ConnectionLock(settings.data_dir, "cc|" + key)
        self._mem: AccessToken | None = None

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        """A valid access token: the stored one, or a new one from the token endpoint."""
        mem = self._mem
        if not force_refresh and mem is not None and mem.expires_in(self._clock()) > REFRESH_MARGIN:
            return mem
        stale = mem.token.reveal() if (force_refresh and mem is not None) else None
        with self._lock:
            st = self._state.load() or {}
            at, exp = st.get("access_token"), float(st.get("expires_on") or 0)
            usable = exp - self._clock() > REFRESH_MARGIN
            if at and usable and (not force_refresh or (stale is not None and at != stale)):
                self._mem = make_access_token(str(at), exp - self._clock(), "cache",
                                              now=self._clock())
                return self._mem
            self._mem = self._acquire()
            return self._mem

    def _acquire(self) -> AccessToken:
        conn = self._conn
        try:
            result = self._store.post_token(conn, self.http_factory,
                                            {"grant_type": "client_credentials"})
        except AuthError as exc:
            # the secret no longer works (expired, rotated, app deleted): say so in status
            self._state.save({REFUSED: exc.code or "refused", "refused_at": self._clock()})
            raise AuthError(
                f"connection {conn.provider_type}/{conn.name}: a new token could not be "
                f"obtained with its client secret ({exc.message})", code=exc.code,
                advice="give the connection its current client secret (m365bot controlroom "
                "connection add ... --client-secret-stdin), then run 'm365bot controlroom "
                "connection login' for it") from None
        now = self._clock()
        tok = make_access_token(str(result["access_token"]), result.get("expires_in"),
                                "identity_provider", now=now)
        self._state.save({"access_token": str(result["access_token"]),
                          "expires_on": tok.expires_on})
        log.info("connection %s/%s: token renewed with its client secret, %d s left",
                 conn.provider_type, conn.name, int(tok.expires_in(now)))
        return tok

    def close(self) -> None:
        """Nothing stays open between token requests."""

    def __repr__(self) -> str:
        return f"<ClientCredentialsSource {self._conn.provider_type}/{self._conn.name}>"


__all__ = ["ClientCredentialsSource"]
