"""The Control Room: OAuth connections (Shared and User-specific tokens), their token
broker, and the server. On one machine the same code runs embedded, on a SQLite database
next to the Credential Vault (:class:`ConnectionStore`); runners of a team reach a server
(:class:`RemoteControlRoom`).

Example::

    from m365bot.controlroom import ConnectionStore
    ConnectionStore(vault).status("Microsoft Entra", "ops", token_type="shared")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from m365bot.controlroom.connections import OAuthConnection
    from m365bot.controlroom.remote import RemoteControlRoom
    from m365bot.controlroom.store import ConnectionStore

_WHERE = {"ConnectionStore": "store", "OAuthConnection": "connections",
          "RemoteControlRoom": "remote"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"m365bot.controlroom.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'm365bot.controlroom' has no attribute {name!r}")


__all__ = ["ConnectionStore", "OAuthConnection", "RemoteControlRoom"]
