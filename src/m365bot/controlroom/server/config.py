"""The Control Room server's settings, built once at the edge (the CLI) and passed down.

Example::

    ServerConfig(db="/srv/cr/controlroom.db", tls=True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from starlette.templating import Jinja2Templates

from m365bot.config import Settings
from m365bot.controlroom.accounts import Lockout
from m365bot.controlroom.db import Database
from m365bot.vault.keys import MasterKeySource


@dataclass(frozen=True)
class ServerConfig:
    """What the server needs.

    * ``db``: the database path or URL (``postgresql+psycopg://...`` for teams);
    * ``tls``: the server answers HTTPS (cookies get ``Secure`` and the ``__Host-`` name);
    * ``public_url``: the server's URL as browsers reach it (OAuth redirect URIs), e.g.
      ``https://cr.corp:8443``; empty: taken from each request;
    * ``vault_key``: the master key of the Credential Vault kept in the same database
      (None: the vault pages say the vault is locked);
    * ``settings``: network settings (proxy, CA bundle) for outgoing calls;
    * ``session_idle``/``session_max``: seconds a web session lasts idle / at most;
    * ``lockout``: failed sign-in lockout with backoff.
    """

    db: str
    tls: bool = False
    public_url: str = ""
    vault_key: MasterKeySource | None = None
    settings: Settings = field(default_factory=Settings)
    session_idle: int = 30 * 60
    session_max: int = 12 * 3600
    lockout: Lockout = field(default_factory=Lockout)

    def __repr__(self) -> str:
        return (f"ServerConfig(db={_mask_db(self.db)!r}, tls={self.tls}, "
                f"public_url={self.public_url!r}, vault_key={'set' if self.vault_key else None})")


@dataclass
class ServerState:
    """What every request handler shares: ``request.app.state.cr``.

    ``extras`` is free for a part of the server to keep its own shared objects (keyed by
    its module name); nothing kept there may be per-user state, since several server
    processes serve one user.
    """

    config: ServerConfig
    db: Database
    templates: Jinja2Templates
    vault: Any = None  # m365bot.vault.Vault, unlocked, or None (see pages_vault)
    extras: dict[str, Any] = field(default_factory=dict)


def _mask_db(db: str | os.PathLike[str]) -> str:
    """The database URL with any password masked."""
    text = os.fspath(db)
    if "://" in text and "@" in text:
        scheme, _, rest = text.partition("://")
        userinfo, _, host = rest.rpartition("@")
        return f"{scheme}://{userinfo.split(':', 1)[0]}:****@{host}" if ":" in userinfo \
            else text
    return text


__all__ = ["ServerConfig", "ServerState"]
