"""The Outlook actions on a session: ``session.folders``, ``session.mail``,
``session.calendar``, ``session.attachments``, and their async twins under ``session.aio``.

Each resource is one module under ``outlook/`` holding a sync class and its async twin, built
on the session's first use of it (and kept for the session's life). The data they return are
the frozen objects of :mod:`m365bot.outlook.models`; the logic is written once as plans
(:mod:`m365bot.outlook.plans`) and run by both classes.

**Adding a resource** is one line in :data:`RESOURCES`: ``name -> (module, sync class, async
class)``. The sync class is built as ``Sync(session)``, the async one as
``Async(session, sync_twin)`` so that both share state (a cache, a cursor). Then give the
session property a precise return type in ``sessions.py`` (it is ``Any`` until the module
exists).

Example::

    session.folders.create("Inbox/Sales/2026")
    await session.aio.folders.exists("Inbox/Sales")
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from m365bot.outlook.calendar import AsyncCalendar
    from m365bot.outlook.folders import AsyncFolders
    from m365bot.sessions import Session

RESOURCES: dict[str, tuple[str, str, str]] = {
    "folders": ("m365bot.outlook.folders", "Folders", "AsyncFolders"),
    "mail": ("m365bot.outlook.mail", "Mail", "AsyncMail"),
    "attachments": ("m365bot.outlook.attachments", "Attachments", "AsyncAttachments"),
    "calendar": ("m365bot.outlook.calendar", "Calendar", "AsyncCalendar"),
}

_LOCK = threading.RLock()


def resource(session: Session, name: str, *, is_async: bool = False) -> Any:
    """The session's ``name`` resource (sync, or its async twin), built on first use.

    Example::

        resource(session, "folders").exists("Inbox")
    """
    session._require_open()
    key = f"aio.{name}" if is_async else name
    with _LOCK:
        found = session._outlook.get(key)
        if found is not None:
            return found
        module_name, sync_name, async_name = RESOURCES[name]
        module = importlib.import_module(module_name)
        if is_async:
            built = getattr(module, async_name)(session, resource(session, name))
        else:
            built = getattr(module, sync_name)(session)
        session._outlook[key] = built
        return built


class AsyncOutlook:
    """``session.aio``: the async twins of the session's resources.

    Example::

        folder = await session.aio.folders.create("Inbox/Sales")
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def folders(self) -> AsyncFolders:
        from m365bot.outlook.folders import AsyncFolders

        found: AsyncFolders = resource(self._session, "folders", is_async=True)
        assert isinstance(found, AsyncFolders)
        return found

    @property
    def mail(self) -> Any:
        return resource(self._session, "mail", is_async=True)

    @property
    def attachments(self) -> Any:
        return resource(self._session, "attachments", is_async=True)

    @property
    def calendar(self) -> AsyncCalendar:
        found: AsyncCalendar = resource(self._session, "calendar", is_async=True)
        return found


__all__ = ["RESOURCES", "AsyncOutlook", "resource"]
