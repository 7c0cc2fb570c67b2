"""The token broker: a valid access token for a connection's Shared or User-specific token
slot, renewed centrally and at most once however many runners and server processes ask.

A token still valid for over five minutes is read without a lock. Otherwise the broker takes
the slot's lock (PostgreSQL ``SELECT ... FOR UPDATE`` on the slot's row; SQLite
``BEGIN IMMEDIATE``), reads the slot again (someone may have renewed it meanwhile) and only
then asks the provider: with the refresh token (authorization code connections) or the
client secret (client credentials). A client secret kept in the Credential Vault is read
then, so a rotated one is used at once; if it cannot be read the error names the reference
and what to fix (:mod:`m365bot.controlroom.secret_refs`), and the slot is not marked
refused: the next request reads the vault again. The rotated refresh token is stored before
the lock is released. A refused renewal marks the slot (status Expired) and is not tried again until
the next login; the error says how to log in again.

A runner whose token Graph refused (the provider's clock ran ahead) sends its fingerprint
as ``stale``: the broker renews only if the slot still holds that token.

Example::

    broker = TokenBroker(repo, HttpFactory(settings), hints=EMBEDDED_HINTS)
    tok = broker.issue(repo.get("Microsoft Entra", "ops"), owner="")
    tok.expires_on
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from m365bot.auth.advice import IdentityUnavailable
from m365bot.auth.http import pause_before_retry
from m365bot.auth.tokens import REFRESH_MARGIN, AccessToken, make_access_token
from m365bot.controlroom.connections import (
    SHARED,
    USER,
    HeldTokenSource,
    OAuthConnection,
    post_token,
    ref_text,
    slot_name,
    token_fingerprint,
)
from m365bot.controlroom.oauth_repo import OAuthRepo, StoredConnection
from m365bot.errors import AuthError, ReauthRequired, TransportError
from m365bot.net import HttpFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hints:
    """What an error tells the person to do: log a slot in (again), fix a client secret."""

    login: Callable[[OAuthConnection, str, str], str]
    fix_secret: Callable[[OAuthConnection], str]


def _cli_login(conn: OAuthConnection, tt: str, user: str) -> str:
    return (f"m365bot controlroom connection login --provider '{conn.provider_type}' "
            f"--name '{conn.name}' --token-type {tt}"
            + (f" --user {user}" if tt == USER else ""))


EMBEDDED_HINTS = Hints(
    login=_cli_login,
    fix_secret=lambda conn: "give the connection its current client secret (m365bot "
    "controlroom connection add ... --client-secret-stdin), then run 'm365bot controlroom "
    "connection login' for it")


def _server_login(conn: OAuthConnection, tt: str, user: str) -> str:
    if tt == USER:
        return (f"{user} logs in again in the Control Room: My settings > OAuth connections, "
                f"Login on connection {conn.name!r}")
    return (f"an administrator logs the Shared token in again: Manage > OAuth connections, "
            f"{conn.name!r}, Save changes and test connection")


def _server_fix_secret(conn: OAuthConnection) -> str:
    if conn.client_secret_ref is not None:
        return (f"put the app's current client secret in the Credential Vault at "
                f"{ref_text(conn.client_secret_ref)} (the connection reads it from there), "
                f"then an administrator clicks Save changes and test connection under Manage "
                f"> OAuth connections ({conn.name!r})")
    return ("an administrator gives the connection its current client secret under Manage > "
            f"OAuth connections ({conn.name!r}) and clicks Save changes and test connection")


SERVER_HINTS = Hints(login=_server_login, fix_secret=_server_fix_secret)


_UNREAD: Any = object()


class _Refused(Exception):
    def __init__(self, error: AuthError) -> None:
        self.error = error


class TokenBroker:
    """Issues access tokens from the Control Room's token slots.

    Example::

        TokenBroker(repo, factory, hints=SERVER_HINTS).issue(stored, owner="alice")
    """

    def __init__(self, repo: OAuthRepo, http: HttpFactory, *, hints: Hints = EMBEDDED_HINTS,
                 clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.http = http
        self.hints = hints
        self.clock = clock

    def issue(self, stored: StoredConnection, owner: str, *, stale: str = "",
              row: Any = _UNREAD) -> AccessToken:
        """A valid access token for the slot (``owner`` ``""``: the Shared token). ``row``:
        the slot's row if the caller has just read it."""
        owner = owner.lower()
        if row is _UNREAD:
            with self.repo.db.read() as c:
                row = self.repo.slot_row(c, stored.id, owner)
        tok = self._usable(stored, owner, row, stale)
        if tok is not None:
            return tok
        # renewing needs the secret: opened from the row, or read from the Credential Vault
        # now (outside the slot's lock: the vault has its own transaction)
        stored = self.repo.with_client_secret(stored)
        refused: AuthError | None = None
        with self.repo.db.write() as c:
            row = self.repo.slot_row(c, stored.id, owner, lock=True)
            tok = self._usable(stored, owner, row, stale)
            if tok is not None:
                return tok
            state = self.repo.unseal(row)
            try:
                result = self._renew(stored, owner, state)
            except _Refused as r:
                self.repo.write_slot(c, stored.id, owner, state,
                                     refused=r.error.code or "refused", now=self.clock())
                refused = r.error
            else:
                now = self.clock()
                tok = make_access_token(str(result["access_token"]), result.get("expires_in"),
                                        "identity_provider", now=now)
                new = {"access_token": str(result["access_token"]),
                       "expires_on": tok.expires_on,
                       "refresh_token": result.get("refresh_token")
                       or state.get("refresh_token")}
                self.repo.write_slot(c, stored.id, owner, new, now=now)
        if refused is not None:
            raise refused
        assert tok is not None
        log.info("%s renewed, %d s left", self._name(stored, owner), int(tok.expires_in()))
        return tok

    def _name(self, stored: StoredConnection, owner: str) -> str:
        return slot_name(stored.conn, SHARED if not owner else USER, owner)

    def _login_advice(self, stored: StoredConnection, owner: str, again: bool) -> str:
        tt = SHARED if not owner else USER
        return ("log in again: " if again else "log in: ") + self.hints.login(stored.conn, tt,
                                                                              owner)

    def _usable(self, stored: StoredConnection, owner: str, row: Any,
                stale: str) -> AccessToken | None:
        """The slot's access token if still good; raises for a slot that cannot give one."""
        if row is None:
            raise AuthError(f"{self._name(stored, owner)} is Not connected",
                            code="token_missing", advice=self._login_advice(stored, owner, False))
        if row.refused:
            raise ReauthRequired(
                f"{self._name(stored, owner)} is Expired: its last renewal was refused "
                f"({row.refused})", code=row.refused,
                advice=(self.hints.fix_secret(stored.conn)
                        if stored.conn.grant_type == "client_credentials"
                        else self._login_advice(stored, owner, True)))
        now = self.clock()
        if row.expires_on - now <= REFRESH_MARGIN:
            return None
        state = self.repo.unseal(row)
        at = str(state.get("access_token") or "")
        if not at or (stale and token_fingerprint(at) == stale):
            return None
        return make_access_token(at, row.expires_on - now, "cache", now=now)

    def _renew(self, stored: StoredConnection, owner: str,
               state: dict[str, Any]) -> dict[str, Any]:
        conn = stored.conn
        name = self._name(stored, owner)
        if conn.grant_type == "client_credentials":
            data = {"grant_type": "client_credentials"}
        else:
            rt = state.get("refresh_token")
            if not rt:
                raise ReauthRequired(f"{name} has no refresh token to renew its expired access "
                                     "token", code="interaction_required",
                                     advice=self._login_advice(stored, owner, True))
            data = {"grant_type": "refresh_token", "refresh_token": str(rt)}
        for attempt in (1, 2):
            try:
                return post_token(conn, self.http, data)
            except (TransportError, IdentityUnavailable) as exc:
                if attempt == 2:
                    raise
                log.info("renewal of %s failed (%s); retrying once", name, type(exc).__name__)
                pause_before_retry(exc)
            except ReauthRequired as exc:
                raise _Refused(ReauthRequired(f"{name} could not be renewed: {exc.message}",
                                              code=exc.code or "invalid_grant",
                                              advice=self._login_advice(stored, owner, True))
                               ) from None
            except AuthError as exc:
                if conn.grant_type != "client_credentials":
                    raise
                # the secret no longer works (expired, rotated, app deleted): say so in status
                raise _Refused(AuthError(
                    f"connection {conn.provider_type}/{conn.name}: a new token could not be "
                    f"obtained with its client secret ({exc.message})", code=exc.code,
                    advice=self.hints.fix_secret(conn))) from None
        raise AssertionError("unreachable")


class BrokerTokenSource(HeldTokenSource):
    """The token provider Connect uses for a Control Room connection on this machine: it asks
    the broker (in process) and keeps the token until it nears expiry.

    Example::

        BrokerTokenSource(broker, stored, owner="").get_token().expires_on
    """

    def __init__(self, broker: TokenBroker, stored: StoredConnection, owner: str) -> None:
        self._broker = broker
        self._stored = stored
        self._owner = owner
        self.http_factory = broker.http  # the masked proxy: never the Settings' text

    def fetch(self, stale: str) -> AccessToken:
        """The broker's token for this slot."""
        return self._broker.issue(self._stored, self._owner, stale=stale)

    def __repr__(self) -> str:
        c = self._stored.conn
        return f"<BrokerTokenSource {c.provider_type}/{c.name}>"


__all__ = ["EMBEDDED_HINTS", "SERVER_HINTS", "BrokerTokenSource", "Hints", "TokenBroker"]
