"""What the OAuth pages and the token broker API share: the connection repository and the
broker of this server, built once per process on the server's database and sealed with a
key derived from the server's vault master key; client secrets kept in the Credential Vault
are read from the server's vault at each token request.

Example::

    parts = oauth_parts(request)
    parts.repo.find(search="ops")
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from starlette.requests import Request

from m365bot.controlroom.broker import SERVER_HINTS, TokenBroker
from m365bot.controlroom.oauth_repo import OAuthRepo
from m365bot.controlroom.server.security import state
from m365bot.errors import M365BotError
from m365bot.net import HttpFactory

_BUILD = threading.Lock()


class VaultLocked(M365BotError):
    """503: the server runs without its vault key, so no secret or token can be opened."""

    status = 503


class AuditedTokens:
    """Which (runner key, slot, token, address) this process has written a ``token.issued``
    entry for: a runner asking again for the token it was already given is not written
    twice by the same process (another process writes its own first entry). Bounded; only
    saves writes, decides nothing.

    Example::

        if audited.first(item): audit.record(...)
    """

    LIMIT = 10_000

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[object, ...], None] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, item: tuple[object, ...]) -> bool:
        """True the first time ``item`` is seen (and remembers it)."""
        with self._lock:
            if item in self._seen:
                self._seen.move_to_end(item)
                return False
            self._seen[item] = None
            if len(self._seen) > self.LIMIT:
                self._seen.popitem(last=False)
            return True

    def forget(self, item: tuple[object, ...]) -> None:
        """Forget ``item`` (its audit entry could not be written)."""
        with self._lock:
            self._seen.pop(item, None)


@dataclass(frozen=True)
class OAuthParts:
    """The repository, the broker and the HTTP factory of this server process."""

    repo: OAuthRepo
    broker: TokenBroker
    http: HttpFactory
    audited: AuditedTokens = field(default_factory=AuditedTokens)


def oauth_parts(request: Request) -> OAuthParts:
    """This server's OAuth parts (built on first use; nothing per user is kept)."""
    st = state(request)
    parts: OAuthParts | None = st.extras.get("oauth")
    if parts is not None:
        return parts
    if st.config.vault_key is None:
        raise VaultLocked("the Control Room's Credential Vault is locked, so OAuth client "
                          "secrets and tokens cannot be opened",
                          advice="start the server with the vault key (--vault-key-file or "
                          "M365BOT_VAULT_KEY)")
    from m365bot.controlroom.sealing import TokenSealer
    from m365bot.controlroom.secret_refs import VaultSecrets

    with _BUILD:
        parts = st.extras.get("oauth")
        if parts is None:
            http = HttpFactory(st.config.settings)
            # client secrets kept in the Credential Vault: read by the server itself
            repo = OAuthRepo(st.db, TokenSealer.from_master(st.config.vault_key),
                             vault_secrets=VaultSecrets(st.vault))
            parts = OAuthParts(repo, TokenBroker(repo, http, hints=SERVER_HINTS), http)
            st.extras["oauth"] = parts
    return parts


__all__ = ["AuditedTokens", "OAuthParts", "VaultLocked", "oauth_parts"]
