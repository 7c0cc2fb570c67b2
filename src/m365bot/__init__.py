"""m365bot: Microsoft 365 Outlook automation for bots.

Importing the package is cheap: heavy dependencies (msal, httpx, cryptography,
SQLAlchemy) load only when the feature that needs them is first used; ``connect``,
``disconnect`` and the session types load on first access.

Example::

    import m365bot
    print(m365bot.__version__)
    s = m365bot.connect(cloud="global", mode="client-credentials", ...,
                        session=m365bot.LocalSession("mail"))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from m365bot._version import __version__

if TYPE_CHECKING:
    from m365bot.connection import connect, disconnect, get_session, reconnect
    from m365bot.outlook.session import OutlookSession
    from m365bot.sessions import GlobalSession, LocalSession, Session

_LAZY = {
    "connect": "m365bot.connection",
    "disconnect": "m365bot.connection",
    "reconnect": "m365bot.connection",
    "LocalSession": "m365bot.sessions",
    "GlobalSession": "m365bot.sessions",
    "Session": "m365bot.sessions",
    "OutlookSession": "m365bot.outlook.session",
    "get_session": "m365bot.connection",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'm365bot' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["GlobalSession", "LocalSession", "OutlookSession", "Session", "__version__", "connect",
           "disconnect", "get_session", "reconnect"]
