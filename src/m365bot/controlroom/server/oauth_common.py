"""What the OAuth pages and the token broker API share: the connection repository and the
broker of this server, built once per process on the server's database and sealed with a
key derived from the server's vault master key.

Example::

    parts = oauth_parts(request)
    parts.repo.find(search="ops")
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

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


@dataclass(frozen=True)
class OAuthParts:
    """The repository, the broker and the HTTP factory of this server process."""

    repo: OAuthRepo
    broker: TokenBroker
    http: HttpFactory


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

    with _BUILD:
        parts = st.extras.get("oauth")
        if parts is None:
            http = HttpFactory(st.config.settings)
            repo = OAuthRepo(st.db, TokenSealer.from_master(st.config.vault_key))
            parts = OAuthParts(repo, TokenBroker(repo, http, hints=SERVER_HINTS), http)
            st.extras["oauth"] = parts
    return parts


__all__ = ["OAuthParts", "VaultLocked", "oauth_parts"]
