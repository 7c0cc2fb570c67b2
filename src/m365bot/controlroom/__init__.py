"""Control Room OAuth connections, kept locally (embedded) for this issue: the connection
store, Shared and User-specific tokens, and the login flow.

Example::

    from m365bot.controlroom import ConnectionStore
    ConnectionStore(vault).status("Microsoft Entra", "ops", token_type="shared")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from m365bot.controlroom.store import ConnectionStore, OAuthConnection


def __getattr__(name: str) -> Any:
    if name in ("ConnectionStore", "OAuthConnection"):
        from m365bot.controlroom import store

        return getattr(store, name)
    raise AttributeError(f"module 'm365bot.controlroom' has no attribute {name!r}")


__all__ = ["ConnectionStore", "OAuthConnection"]
