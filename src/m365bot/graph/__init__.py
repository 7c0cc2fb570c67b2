"""A minimal Microsoft Graph transport: request building and error parsing without I/O
(:mod:`m365bot.graph.core`) and a thin sync shell on httpx (:mod:`m365bot.graph.client`).

Example::

    from m365bot.graph import GraphClient
    GraphClient(cloud.graph_url, provider, settings).get("/users/a@b.com/mailFolders/inbox")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from m365bot.graph.client import GraphClient, GraphResponse


def __getattr__(name: str) -> Any:
    if name in ("GraphClient", "GraphResponse"):
        from m365bot.graph import client

        return getattr(client, name)
    raise AttributeError(f"module 'm365bot.graph' has no attribute {name!r}")


__all__ = ["GraphClient", "GraphResponse"]
