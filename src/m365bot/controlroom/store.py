"""The embedded store of Control Room OAuth connections: the Control Room's own OAuth code
(:mod:`m365bot.controlroom.oauth_repo`, :mod:`m365bot.controlroom.broker`) on a SQLite
database next to the Credential Vault (``controlroom.db`` beside ``vault.db``), for one
machine. Client secrets and tokens are sealed with a key kept in the vault.

A connection is what an administrator creates under Manage > OAuth connections: provider type,
connection name, grant type, client id, client secret, authorization URL, token URL and
scopes. Each connection has one Shared token slot and one User-specific slot per user, each
Active, Expired or Not connected.

Example::

    store = ConnectionStore(vault)
    store.add(OAuthConnection("Microsoft Entra", "ops", client_id=cid, client_secret=Secret(s),
              authorization_url=".../authorize", token_url=".../token",
              scopes=["offline_access", "https://graph.microsoft.com/Mail.ReadWrite"]))
    store.login("Microsoft Entra", "ops", token_type="user", user="alice@contoso.com",
                settings=settings)
    store.status("Microsoft Entra", "ops", token_type="user", user="alice@contoso.com")
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from m365bot.config import Settings
from m365bot.controlroom.connections import (
    NOT_CONNECTED,
    SHARED,
    USER,
    OAuthConnection,
    post_token,
    slot_status,
    token_type,
)
from m365bot.errors import AuthError, ConfigError
from m365bot.protocols import BlobStore

if TYPE_CHECKING:
    from m365bot.auth.signin import SignInOptions
    from m365bot.auth.tokens import TokenProvider
    from m365bot.controlroom.db import Database
    from m365bot.controlroom.oauth_repo import StoredConnection
    from m365bot.controlroom.sealing import TokenSealer
    from m365bot.net import HttpFactory

log = logging.getLogger(__name__)

DB_NAME = "controlroom.db"


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


def _owner(tt: str, user: str) -> str:
    return "" if tt == SHARED else user.lower()


def beside_vault(vault: BlobStore) -> Path:
    """Where the embedded Control Room database lives: ``controlroom.db`` next to the vault
    file (``m365bot controlroom serve`` finds it there too by default)."""
    path = getattr(vault, "path", None)
    if not isinstance(path, str | os.PathLike):
        raise ConfigError("the vault is not a file, so the embedded Control Room database has "
                          "no default place", field="db",
                          advice="pass ConnectionStore(vault, db=PATH_OR_URL), or set "
                          "M365BOT_CONTROLROOM_URL to use a Control Room server")
    return Path(path).with_name(DB_NAME)


class ConnectionStore:
    """Control Room OAuth connections and their tokens, on this machine (embedded).

    Example::

        ConnectionStore(vault).status("Microsoft Entra", "ops")    # 'Not connected'
    """

    def __init__(self, vault: BlobStore | None, *,
                 db: Database | str | os.PathLike[str] | None = None,
                 sealer: TokenSealer | None = None) -> None:
        from m365bot.controlroom.db import Database
        from m365bot.controlroom.oauth_repo import OAuthRepo
        from m365bot.controlroom.sealing import TokenSealer

        if vault is None and (db is None or sealer is None):
            raise ConfigError("the embedded Control Room needs the Credential Vault",
                              field="vault", advice="pass ConnectionStore(vault)")
        self.vault = vault
        where = beside_vault(vault) if db is None else db  # type: ignore[arg-type]
        self.db = where if isinstance(where, Database) else Database.open(where)
        self.repo = OAuthRepo(self.db, sealer or TokenSealer.from_vault(vault))  # type: ignore[arg-type]

    def add(self, conn: OAuthConnection) -> None:
        """Create or replace a connection (its tokens are kept)."""
        self.repo.save(conn, actor=getattr(self.vault, "actor", "") or "")
        log.info("Control Room connection %s/%s saved", conn.provider_type, conn.name)

    def _stored(self, provider_type: str, name: str) -> StoredConnection:
        return self.repo.get(provider_type, name)

    def get(self, provider_type: str, name: str) -> OAuthConnection:
        """A connection by provider type and name; ConfigError naming it if unknown."""
        return self._stored(provider_type, name).conn

    def list(self) -> list[OAuthConnection]:
        """Every connection, by name."""
        return [self.repo.get_by_id(s.id).conn for s in self.repo.find()]

    def status(self, provider_type: str, name: str, *, token_type: str = "shared",
               user: str = "", now: float | None = None) -> str:
        """``Active``, ``Expired`` or ``Not connected``, as My settings > OAuth connections
        shows: from the stored token and its last renewal."""
        stored = self._stored(provider_type, name)
        return self.repo.status(stored, _owner(_tt(token_type), user), now=now)

    def save_tokens(self, conn: OAuthConnection, token_type: str, user: str,
                    result: dict[str, Any]) -> None:
        """Store a token answer (access token, expiry, refresh token) in a slot."""
        stored = self._stored(conn.provider_type, conn.name)
        self.repo.save_tokens(stored.id, _owner(_tt(token_type), user), result)

    def token_source(self, provider_type: str, name: str, *, token_type: str, user: str,
                     settings: Settings) -> TokenProvider:
        """The token provider Connect uses in Control Room managed mode."""
        from m365bot.controlroom.broker import BrokerTokenSource, TokenBroker
        from m365bot.net import HttpFactory

        stored = self._stored(provider_type, name)
        tt = _tt(token_type)
        owner = _owner(tt, user)
        if self.repo.status(stored, owner) == NOT_CONNECTED:
            from m365bot.controlroom.broker import EMBEDDED_HINTS

            who = "the Shared token" if tt == SHARED else f"{user}'s User-specific token"
            raise AuthError(
                f"connection {stored.conn.provider_type}/{stored.conn.name} has no token: "
                f"{who} is Not connected", code="token_missing",
                advice="log in: " + EMBEDDED_HINTS.login(stored.conn, tt, user))
        return BrokerTokenSource(TokenBroker(self.repo, HttpFactory(settings)), stored, owner)

    def login(self, provider_type: str, name: str, *, token_type: str = "user", user: str = "",
              settings: Settings, open_browser: Callable[[str], None] | None = None,
              redirect_url: str = "http://localhost:0", timeout: float = 300.0) -> str:
        """Run the authorization-code flow (PKCE S256, state checked before the token
        request), or the client-credentials grant, and store the token in the slot; returns
        the new status."""
        # a client secret from the Credential Vault: only a Control Room server reads it
        conn = self.repo.with_client_secret(self._stored(provider_type, name)).conn
        tt = _tt(token_type)
        if tt == USER and "@" not in user:
            raise ConfigError("a User-specific login needs the user's email address",
                              field="user", advice="give --user alice@contoso.com")
        from m365bot.auth.signin import SignInOptions

        def keep(result: dict[str, Any]) -> None:
            if tt == USER:
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
        from m365bot.controlroom.pkce import PkceFlow

        with LoopbackListener.open(redirect_url) as listener:
            flow = PkceFlow.start(conn, redirect_uri=listener.redirect_uri, login_hint=user)
            watch = None
            if options.open_browser is not None:
                options.open_browser(flow.url)
            else:
                watch = browser_watch(open_url(flow.url, settings.browser))
            callback = listener.receive(timeout=options.timeout, poll=watch)
        callback.settle(lambda params: keep(flow.redeem(settings, params)))

    @staticmethod
    def post_token(conn: OAuthConnection, settings: Settings | HttpFactory,
                   data: dict[str, str]) -> dict[str, Any]:
        """POST to the connection's token URL; the answer, or the AuthError it means."""
        return post_token(conn, settings, data)


def _tt(value: str) -> str:
    return token_type(value)


__all__ = ["ConnectionStore", "OAuthConnection", "beside_vault", "slot_status"]
